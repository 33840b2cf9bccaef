// The Kubernetes manifests of packaging/kubernetes/: every document has what Kubernetes needs,
// the documents agree with each other and with the agent (manifest_check.hpp), and the agent's
// config, rendered as the init container renders it, passes `dlb-agent --check`.

#include "manifest_check.hpp"

#include <QCryptographicHash>
#include <QDir>
#include <QFile>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

using dlb::test::AgentFacts;
using dlb::test::ManifestReport;

namespace {

const QString kManifestDir = QStringLiteral(DLB_SOURCE_DIR "/packaging/kubernetes");
const QString kAgent = QStringLiteral(DLB_BIN_DIR "/dlb-agent");
// A well-formed token of the length `openssl rand -base64 32 | tr -d '=+/'` gives.
const QByteArray kToken = "k8sTestToken0123456789abcdefghijklmnopqrstu";
constexpr int kProcessTimeoutMs = 30000;

struct Run {
    int exitCode = -1;
    QString output; // stdout and stderr
};

Run run(const QString& program, const QStringList& args, const QProcessEnvironment& env = QProcessEnvironment::systemEnvironment())
{
    QProcess p;
    p.setProcessEnvironment(env);
    p.setProcessChannelMode(QProcess::MergedChannels);
    p.start(program, args);
    Run r;
    if (!p.waitForFinished(kProcessTimeoutMs)) {
        p.kill();
        p.waitForFinished();
        r.output = program + " did not finish: " + p.errorString();
        return r;
    }
    r.exitCode = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
    r.output = QString::fromUtf8(p.readAll());
    return r;
}

bool writeFile(const QString& path, const QByteArray& data)
{
    QFile f(path);
    return f.open(QIODevice::WriteOnly | QIODevice::Truncate) && f.write(data) == data.size();
}

} // namespace

class TestKubernetesManifests : public QObject {
    Q_OBJECT

private:
    AgentFacts facts_;
    ManifestReport shipped_;

    // Runs the shipped render-config.sh as the init container does, in dir, with this token.
    Run render(const QString& dir, const QByteArray* token)
    {
        const QString script = dir + "/render-config.sh";
        const QString tokenFile = dir + "/token";
        writeFile(dir + "/agent.json.template", shipped_.agentConfigText.toUtf8());
        writeFile(script, shipped_.renderScript.toUtf8());
        QFile::remove(tokenFile);
        if (token)
            writeFile(tokenFile, *token);
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert("DLB_TEMPLATE", dir + "/agent.json.template");
        env.insert("DLB_TOKEN_FILE", tokenFile);
        env.insert("DLB_CONFIG", dir + "/agent.json");
        env.insert("DLB_AGENT", kAgent);
        return run("/bin/sh", {script}, env);
    }

private slots:
    void initTestCase()
    {
        QString error;
        facts_ = dlb::test::agentFactsFromSource(DLB_SOURCE_DIR, &error);
        QVERIFY2(error.isEmpty(), qPrintable(error));
        QVERIFY2(QFile::exists(kAgent), qPrintable(kAgent + " is not built"));
        shipped_ = dlb::test::checkManifests(kManifestDir, facts_);
    }

    // Every document has apiVersion, kind and a name; selectors, port names, probes, Secrets
    // and ConfigMaps, the headless Service and the discovery URL agree; the containers are
    // locked down (non-root, read-only root, no capabilities) and have resources.
    void shippedManifestsAreValid()
    {
        QVERIFY2(shipped_.problems.isEmpty(), qPrintable("\n" + shipped_.problems.join('\n')));
        QVERIFY(!shipped_.agentConfig.isEmpty());
        QVERIFY(!shipped_.renderScript.isEmpty());
    }

    // Each broken manifest is caught, with a message that names the fault: the checks are not
    // vacuous.
    void brokenManifestIsCaught_data()
    {
        QTest::addColumn<QString>("file");
        QTest::addColumn<QString>("from");
        QTest::addColumn<QString>("to");
        QTest::addColumn<QString>("expected");
        QTest::newRow("not YAML") << "40-replicas.yaml" << "  replicas: 3" << "  replicas: [3" << "not valid YAML";
        QTest::newRow("no apiVersion") << "00-namespace.yaml" << "apiVersion: v1\n" << "" << "apiVersion is missing";
        QTest::newRow("wrong apiVersion") << "30-agent.yaml" << "apiVersion: apps/v1" << "apiVersion: v1"
                                          << "Deployment is apps/v1";
        QTest::newRow("no name") << "20-secret.yaml" << "  name: dlb-control-token\n" << "" << "metadata.name is missing";
        QTest::newRow("selector") << "30-agent.yaml" << "    matchLabels:\n      app.kubernetes.io/name: dlb-agent"
                                  << "    matchLabels:\n      app.kubernetes.io/name: dlb-agents" << "spec.selector";
        QTest::newRow("readiness path") << "30-agent.yaml" << "path: /readyz" << "path: /ready" << "the agent answers /readyz";
        QTest::newRow("liveness path") << "30-agent.yaml" << "path: /healthz" << "path: /health" << "the agent answers /healthz";
        QTest::newRow("probe port name") << "30-agent.yaml" << "port: control" << "port: ctrl" << "no container port named 'ctrl'";
        QTest::newRow("probe on the data port") << "30-agent.yaml" << "port: control" << "port: http"
                                                << "the control API listens on 9090";
        QTest::newRow("port without name") << "40-replicas.yaml" << "- name: http\n              containerPort: 8080"
                                           << "- containerPort: 8080" << "a name of 1-15";
        QTest::newRow("service targetPort") << "30-agent.yaml" << "targetPort: http" << "targetPort: web" << "targetPort web";
        QTest::newRow("not headless") << "40-replicas.yaml" << "clusterIP: None" << "type: ClusterIP" << "is not headless";
        QTest::newRow("discovery names another service") << "10-config.yaml" << "dns://dlb-replicas.dlb" << "dns://replicas.dlb"
                                                         << "names a Service that is not in these manifests";
        QTest::newRow("discovery port") << "10-config.yaml" << "cluster.local:8080" << "cluster.local:80"
                                        << "discovery url port 80";
        QTest::newRow("missing secret") << "30-agent.yaml" << "secretName: dlb-control-token" << "secretName: dlb-token"
                                        << "Secret dlb-token, which is in no manifest here";
        QTest::newRow("missing configmap") << "30-agent.yaml" << "name: dlb-agent-config" << "name: dlb-config"
                                           << "ConfigMap dlb-config, which is in no manifest here";
        QTest::newRow("missing configmap key") << "30-agent.yaml" << "- key: render-config.sh" << "- key: render.sh"
                                               << "has no key render.sh";
        QTest::newRow("literal hash") << "10-config.yaml" << "@CONTROL_TOKEN_SHA256@\"}"
                                      << QString(64, 'a') + "\"}" << "not a value of its own";
        QTest::newRow("root allowed") << "40-replicas.yaml" << "readOnlyRootFilesystem: true\n            runAsNonRoot: true"
                                      << "readOnlyRootFilesystem: true\n            runAsNonRoot: false"
                                      << "runAsNonRoot must be true";
        QTest::newRow("writable root") << "30-agent.yaml" << "readOnlyRootFilesystem: true" << "readOnlyRootFilesystem: false"
                                       << "readOnlyRootFilesystem must be true";
        QTest::newRow("capabilities kept") << "30-agent.yaml" << "drop: [\"ALL\"]" << "drop: [\"NET_RAW\"]" << "drop must hold ALL";
        QTest::newRow("no limits") << "40-replicas.yaml" << "            limits:\n              cpu: \"1\"\n"
                                   << "            limits:\n" << "resources.limits.cpu is missing";
        QTest::newRow("volume not defined") << "30-agent.yaml" << "- name: run\n              mountPath"
                                            << "- name: runtime\n              mountPath" << "mounts volume runtime";
        QTest::newRow("namespace") << "40-replicas.yaml" << "namespace: dlb" << "namespace: default" << "metadata.namespace default";
    }

    void brokenManifestIsCaught()
    {
        QFETCH(QString, file);
        QFETCH(QString, from);
        QFETCH(QString, to);
        QFETCH(QString, expected);
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        for (const QString& f : QDir(kManifestDir).entryList(QDir::Files))
            QVERIFY(QFile::copy(kManifestDir + "/" + f, dir.filePath(f)));
        QFile in(dir.filePath(file));
        QVERIFY(in.open(QIODevice::ReadOnly));
        QString text = QString::fromUtf8(in.readAll());
        in.close();
        const int at = text.indexOf(from);
        QVERIFY2(at >= 0, qPrintable(file + " no longer contains \"" + from + "\"; update this row"));
        text.replace(at, from.size(), to); // the first occurrence only
        QVERIFY(writeFile(dir.filePath(file), text.toUtf8()));
        const ManifestReport broken = dlb::test::checkManifests(dir.path(), facts_);
        QVERIFY2(broken.problems.join('\n').contains(expected),
                 qPrintable("expected a problem containing \"" + expected + "\"; got:\n" + broken.problems.join('\n')));
    }

    // The ConfigMap's agent.json, rendered by its render-config.sh with a token (what the init
    // container does), is a config the agent accepts: the script's own `dlb-agent --check`
    // passes, and so does ours on the file it wrote, which holds the token's hash and not the
    // token.
    void embeddedConfigPassesCheck()
    {
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const Run rendered = render(dir.path(), &kToken);
        QVERIFY2(rendered.exitCode == 0, qPrintable("render-config.sh failed:\n" + rendered.output));
        const Run check = run(kAgent, {"--check", "--config", dir.filePath("agent.json")});
        QVERIFY2(check.exitCode == 0, qPrintable("dlb-agent --check failed:\n" + check.output));
        QFile out(dir.filePath("agent.json"));
        QVERIFY(out.open(QIODevice::ReadOnly));
        const QByteArray config = out.readAll();
        QVERIFY(config.contains(QCryptographicHash::hash(kToken, QCryptographicHash::Sha256).toHex()));
        QVERIFY(!config.contains(kToken));
        QVERIFY(!config.contains(dlb::test::kTokenHashPlaceholder));
    }

    // The init container refuses a token that would make the control API guessable or that
    // no client could present, and says how to make one; the Secret as shipped is refused.
    void renderRefusesBadToken_data()
    {
        QTest::addColumn<bool>("present");
        QTest::addColumn<QByteArray>("token");
        QTest::addColumn<QString>("expected");
        QTest::newRow("shipped placeholder") << true << QByteArray() << "still holds the placeholder";
        QTest::newRow("short") << true << QByteArray("abc123") << "fewer than 32";
        QTest::newRow("space") << true << QByteArray(kToken).insert(10, ' ') << "a character a bearer token cannot have";
        QTest::newRow("two lines") << true << kToken + "\n" + kToken << "a character a bearer token cannot have";
        QTest::newRow("no secret") << false << QByteArray() << "cannot read the control token";
    }

    void renderRefusesBadToken()
    {
        QFETCH(bool, present);
        QFETCH(QByteArray, token);
        QFETCH(QString, expected);
        if (present && token.isEmpty()) {
            QVERIFY(!shipped_.placeholderToken.isEmpty());
            token = shipped_.placeholderToken.toUtf8();
        }
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const Run r = render(dir.path(), present ? &token : nullptr);
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.output.contains(expected), qPrintable(r.output));
        QVERIFY2(!QFile::exists(dir.filePath("agent.json")), "a config was written despite the refusal");
    }
};

QTEST_GUILESS_MAIN(TestKubernetesManifests)
#include "tst_kubernetes_manifests.moc"
