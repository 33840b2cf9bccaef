// dlb-agent's command line: --check, --version, bad arguments, a bad config at startup.

#include "harness.hpp"

#include <QFile>
#include <QRegularExpression>
#include <QtTest>

using namespace dlb::test;

namespace {

struct Run {
    int exitCode = -1;
    QByteArray out;
    QByteArray err;
};

// Runs dlb-agent to completion with `args`.
Run runAgent(const QStringList& args)
{
    QProcess p;
    p.start(binPath(QStringLiteral("dlb-agent")), args);
    Run r;
    if (!p.waitForFinished(kWaitMs) || p.exitStatus() != QProcess::NormalExit) {
        p.kill();
        p.waitForFinished();
        return r;
    }
    r.exitCode = p.exitCode();
    r.out = p.readAllStandardOutput();
    r.err = p.readAllStandardError();
    return r;
}

} // namespace

class TestAgentCli : public QObject {
    Q_OBJECT

private slots:
    void init();

    void checkAcceptsValidFile();
    void checkRejectsOutOfRangeValueNamingPath();
    void checkRejectsMalformedJson();
    void versionPrintsVersion();
    void unknownArgumentIsAUsageError();
    void invalidConfigAtStartupExits1();

private:
    bool write(const QJsonObject& cfg) { return c_->writeConfig(cfg); }
    std::unique_ptr<Cluster> c_;
};

void TestAgentCli::init()
{
    c_ = std::make_unique<Cluster>();
}

// --check on a valid file exits 0 and says so.
void TestAgentCli::checkAcceptsValidFile()
{
    QVERIFY(write(c_->config({8080, 8081})));
    const Run r = runAgent({QStringLiteral("--check"), QStringLiteral("--config"), c_->configPath()});
    QVERIFY2(r.exitCode == 0, r.err.constData());
    QVERIFY2(r.out.contains("valid"), r.out.constData());
}

// --check on an out-of-range parameter exits 1 naming the JSON path, the rule and the value.
void TestAgentCli::checkRejectsOutOfRangeValueNamingPath()
{
    QJsonObject cfg = c_->config({8080});
    setJson(cfg, {QStringLiteral("pools"), QStringLiteral("0"), QStringLiteral("algorithm")},
            QJsonObject{{QStringLiteral("name"), QStringLiteral("prequal")}, {QStringLiteral("q_rif"), 1.7}});
    QVERIFY(write(cfg));
    const Run r = runAgent({QStringLiteral("--check"), QStringLiteral("--config"), c_->configPath()});
    QCOMPARE(r.exitCode, 1);
    QVERIFY2(r.err.contains("pools[0].algorithm.q_rif: must be in [0,1], got 1.7"), r.err.constData());
}

// --check on a file that is not JSON exits 1 with a message on stderr.
void TestAgentCli::checkRejectsMalformedJson()
{
    QFile f(c_->configPath());
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write("{\"workers\": 1,,}");
    f.close();
    const Run r = runAgent({QStringLiteral("--check"), QStringLiteral("--config"), c_->configPath()});
    QCOMPARE(r.exitCode, 1);
    QVERIFY(!r.err.trimmed().isEmpty());
    QVERIFY(r.out.isEmpty());
}

// --version prints "dlb-agent X.Y.Z" and exits 0.
void TestAgentCli::versionPrintsVersion()
{
    const Run r = runAgent({QStringLiteral("--version")});
    QCOMPARE(r.exitCode, 0);
    QVERIFY2(QRegularExpression(QStringLiteral("^dlb-agent \\d+\\.\\d+\\.\\d+\\s*$")).match(QString::fromUtf8(r.out)).hasMatch(),
             r.out.constData());
}

// An unknown argument exits 2 with the usage on stderr.
void TestAgentCli::unknownArgumentIsAUsageError()
{
    const Run r = runAgent({QStringLiteral("--frobnicate")});
    QCOMPARE(r.exitCode, 2);
    QVERIFY2(r.err.contains("--frobnicate"), r.err.constData());
    QVERIFY2(r.err.contains("usage"), r.err.constData());
}

// Starting with an invalid config exits 1 and names the problem, without listening.
void TestAgentCli::invalidConfigAtStartupExits1()
{
    QJsonObject cfg = c_->config({8080});
    setJson(cfg, {QStringLiteral("timeouts"), QStringLiteral("connect_ms")}, -5);
    QVERIFY(write(cfg));
    const Run r = runAgent({QStringLiteral("--config"), c_->configPath()});
    QCOMPARE(r.exitCode, 1);
    QVERIFY2(r.err.contains("timeouts.connect_ms"), r.err.constData());
    QVERIFY2(!r.out.contains("listening"), r.out.constData());
}

QTEST_GUILESS_MAIN(TestAgentCli)
#include "tst_agent_cli.moc"
