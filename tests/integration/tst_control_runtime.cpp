// The control API's changes at runtime against a real agent: add, switch and remove under load,
// the write-back to the config file across a SIGHUP and a restart, the control socket's creation
// (mode, stale and live sockets) and the TCP control listener with TLS.

#include "control_fixture.hpp"
#include "prequal_load.hpp"
#include "test_certs.hpp"

#include <QElapsedTimer>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QLocalServer>
#include <QtTest>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <csignal>
#include <cstring>

using namespace dlb::test;

class TestControlRuntime : public QObject {
    Q_OBJECT

private slots:
    void init();
    void cleanup();

    void addSwitchRemoveUnderLoad();
    void writeBackSurvivesSighupAndRestart();
    void unreloadedEditsAreNotOverwritten();
    void unreadableFileIsNamedAsSuch();
    void socketIsCreatedWithMode0660();
    void staleSocketIsReplaced();
    void liveSocketIsRefused();
    void nonSocketFileIsLeftAlone();
    void tcpControlSpeaksTls();

private:
    QString socketPath() const { return controlSocket(*c_); }
    QJsonObject controlConfig(const QList<quint16>& ports) const { return dlb::test::controlConfig(*c_, ports); }
    bool start(const QList<quint16>& ports) { return c_->startAgent(controlConfig(ports)); }
    std::optional<Response> call(const QByteArray& method, const QByteArray& path, const QByteArray& token = kAdmin,
                                 const QByteArray& body = {}, const QByteArray& extra = {})
    {
        return controlCall(*c_, method, path, token, body, extra);
    }
    std::unique_ptr<Cluster> c_;
};

void TestControlRuntime::init()
{
    c_ = std::make_unique<Cluster>();
}

void TestControlRuntime::cleanup()
{
    const int exitCode = c_->agent().running() ? c_->stopAgent() : 0;
    checkAgentExit(*c_, exitCode);
    c_.reset();
}

// Under closed-loop load: a replica added takes traffic only after its first passing health
// check; an algorithm switch and a removal lose no request; the removed replica drains and
// gets nothing after.
void TestControlRuntime::addSwitchRemoveUnderLoad()
{
    const quint16 p1 = c_->startReplica(QStringLiteral("r1"));
    const quint16 p2 = c_->startReplica(QStringLiteral("r2"));
    QVERIFY(p1 && p2);
    StubBackend& stub = c_->addStub("s3");
    stub.answerPath("/healthz", 503, "not yet");
    QJsonObject cfg = controlConfig({p1, p2});
    setJson(cfg, {QStringLiteral("workers")}, 2);
    setJson(cfg, {QStringLiteral("pools"), QStringLiteral("0"), QStringLiteral("health_check")},
            QJsonObject{{QStringLiteral("enabled"), true}, {QStringLiteral("interval_ms"), 200},
                        {QStringLiteral("timeout_ms"), 100}});
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));

    Load load(c_->port(), 4, -1);
    QTRY_VERIFY_WITH_TIMEOUT(load.completed() > 100, kWaitMs);

    const QByteArray stubId = "127.0.0.1:" + QByteArray::number(stub.port());
    auto r = call("POST", "/v1/pools/web/replicas",
                  kAdmin, R"({"url":"http://)" + stubId + R"(","weight":1})");
    QVERIFY(r);
    QVERIFY2(r->status == 201, r->body.constData());
    QCOMPARE(jsonBody(*r)["replica"].toObject()["state"].toString(), QStringLiteral("pending"));
    QCOMPARE(r->header("Location"), "/v1/pools/web/replicas/" + stubId);

    // Failing its checks, it stays pending and gets none of the load.
    const auto checks = [&] {
        int n = 0;
        for (const auto& req : stub.requests())
            n += req.path == "/healthz";
        return n;
    };
    QTRY_VERIFY_WITH_TIMEOUT(checks() >= 3, kWaitMs);
    const int before_pass = load.completed();
    QTRY_VERIFY_WITH_TIMEOUT(load.completed() > before_pass + 200, kWaitMs);
    r = call("GET", "/v1/pools");
    QVERIFY(r);
    QJsonArray reps = jsonBody(*r)["pools"].toArray()[0].toObject()["replicas"].toArray();
    QCOMPARE(reps.size(), 3);
    QCOMPARE(reps[2].toObject()["state"].toString(), QStringLiteral("pending"));

    const qsizetype mark = stub.requests().size();
    const qsizetype logMark = c_->agent().logMark();
    stub.answerPath("/healthz", 200, "ok");
    QVERIFY(c_->agent().waitForLog("passed its first health check", logMark));
    QTRY_VERIFY_WITH_TIMEOUT(shares(load.outcomes()).value("s3") > 20, kWaitMs);
    const auto seen = stub.requests();
    for (qsizetype i = 0; i < seen.size(); ++i)
        QVERIFY2(seen[i].path != "/load" || i >= mark,
                 qPrintable(QStringLiteral("request %1 reached the pending replica before its check passed").arg(i)));

    // Switch the algorithm under load.
    r = call("PUT", "/v1/pools/web/algorithm", kAdmin, R"({"name":"least_request"})");
    QVERIFY(r);
    QVERIFY2(r->status == 200, r->body.constData());
    QCOMPARE(jsonBody(*r)["algorithm"].toObject()["name"].toString(), QStringLiteral("least_request"));
    const int after_switch = load.completed();
    QTRY_VERIFY_WITH_TIMEOUT(load.completed() > after_switch + 200, kWaitMs);

    // Remove r1 under load: it drains, then leaves the list.
    r = call("DELETE", "/v1/pools/web/replicas/127.0.0.1:" + QByteArray::number(p1));
    QVERIFY(r);
    QVERIFY2(r->status == 202, r->body.constData());
    QCOMPARE(jsonBody(*r)["replica"].toObject()["state"].toString(), QStringLiteral("draining"));
    const auto listed = [&] {
        const auto pools = call("GET", "/v1/pools");
        if (!pools)
            return -1;
        return static_cast<int>(jsonBody(*pools)["pools"].toArray()[0].toObject()["replicas"].toArray().size());
    };
    QTRY_COMPARE_WITH_TIMEOUT(listed(), 2, kWaitMs);
    QVERIFY(c_->agent().waitForLog("drained (its last request ended) and removed"));
    const int r1_at_removal = shares(load.outcomes()).value("r1");
    const int after_remove = load.completed();
    QTRY_VERIFY_WITH_TIMEOUT(load.completed() > after_remove + 300, kWaitMs);
    load.stop();
    QVERIFY(load.wait(kWaitMs));

    // Answers the agent had finished before the drain completed may be read by a client
    // thread just after: at most one per connection.
    const auto counts = shares(load.outcomes());
    QVERIFY2(counts.value("r1") - r1_at_removal <= 4, qPrintable(describe(counts)));
    QVERIFY2(load.failures().isEmpty(), qPrintable(load.failures().join('\n')));
    for (const Outcome& o : load.outcomes())
        QVERIFY2(o.status == 200, qPrintable(QStringLiteral("status %1 from %2").arg(o.status).arg(QString(o.replica))));
}

// Changes reach the file: a SIGHUP rereads it and keeps them (the generation moves on), and so
// does a restart.
void TestControlRuntime::writeBackSurvivesSighupAndRestart()
{
    const quint16 p1 = c_->startReplica(QStringLiteral("r1"));
    const quint16 p2 = c_->startReplica(QStringLiteral("r2"));
    QVERIFY(p1 && p2);
    QVERIFY2(start({p1}), qPrintable(c_->error()));
    const QByteArray id2 = "127.0.0.1:" + QByteArray::number(p2);
    auto r = call("POST", "/v1/pools/web/replicas", kAdmin, R"({"url":"http://)" + id2 + R"(","weight":3})",
                  "If-Match: 1\r\n");
    QVERIFY(r);
    QVERIFY2(r->status == 201, r->body.constData());
    QCOMPARE(jsonBody(*r)["generation"].toInt(), 2);
    r = call("PUT", "/v1/pools/web/algorithm", kAdmin, R"({"name":"power_of_d","params":{"d":3}})", "If-Match: 2\r\n");
    QVERIFY(r);
    QVERIFY2(r->status == 200, r->body.constData());
    QCOMPARE(jsonBody(*r)["generation"].toInt(), 3);

    const auto check = [&](int generation) -> QString {
        const auto pools = call("GET", "/v1/pools");
        if (!pools || pools->status != 200)
            return QStringLiteral("GET /v1/pools failed");
        const QJsonObject body = jsonBody(*pools);
        if (body["generation"].toInt() != generation)
            return QStringLiteral("generation %1, expected %2").arg(body["generation"].toInt()).arg(generation);
        const QJsonObject pool = body["pools"].toArray()[0].toObject();
        const QJsonObject algo = pool["algorithm"].toObject();
        if (algo["name"].toString() != QLatin1String("power_of_d") || algo["params"].toObject()["d"].toInt() != 3)
            return QStringLiteral("algorithm: ") + QString::fromUtf8(QJsonDocument(algo).toJson(QJsonDocument::Compact));
        const QJsonArray reps = pool["replicas"].toArray();
        if (reps.size() != 2 || reps[1].toObject()["id"].toString() != QString::fromLatin1(id2) ||
            reps[1].toObject()["weight"].toInt() != 3)
            return QStringLiteral("replicas: ") + QString::fromUtf8(QJsonDocument(reps).toJson(QJsonDocument::Compact));
        return {};
    };
    QString why = check(3);
    QVERIFY2(why.isEmpty(), qPrintable(why));

    // The file is valid for --check and readable: pretty-printed.
    QFile f(c_->configPath());
    QVERIFY(f.open(QIODevice::ReadOnly));
    const QByteArray text = f.readAll();
    QVERIFY(text.contains("\n  \"pools\": ["));
    QVERIFY(text.contains(id2));

    const qsizetype mark = c_->agent().logMark();
    c_->agent().signal(SIGHUP);
    QVERIFY(c_->agent().waitForLog("config reloaded", mark));
    why = check(4);
    QVERIFY2(why.isEmpty(), qPrintable(why));

    QCOMPARE(c_->stopAgent(), 0);
    QVERIFY(!QFile::exists(socketPath())); // removed at exit
    const QJsonObject saved = QJsonDocument::fromJson(text).object();
    QVERIFY2(c_->startAgent(saved), qPrintable(c_->error()));
    why = check(1);
    QVERIFY2(why.isEmpty(), qPrintable(why));
}

// An operator saved an edit (or a broken file) and has not reloaded it: a change through the API
// is refused (409 config_file_changed), the running state and the file stay as they were, and
// once the file is reloaded, changes work again. Before, the write-back overwrote the edits.
void TestControlRuntime::unreloadedEditsAreNotOverwritten()
{
    const quint16 p1 = c_->startReplica(QStringLiteral("r1"));
    const quint16 p2 = c_->startReplica(QStringLiteral("r2"));
    QVERIFY(p1 && p2);
    QVERIFY2(start({p1}), qPrintable(c_->error()));
    const QByteArray id1 = "127.0.0.1:" + QByteArray::number(p1);
    const auto writeFile = [&](const QByteArray& text) {
        QFile f(c_->configPath());
        return f.open(QIODevice::WriteOnly | QIODevice::Truncate) && f.write(text) == text.size();
    };
    const auto readFile = [&] {
        QFile f(c_->configPath());
        return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
    };
    const QJsonObject before = controlState(*c_);

    // The edit: a second replica, saved but not reloaded.
    const QByteArray edited = QJsonDocument(controlConfig({p1, p2})).toJson();
    QVERIFY(writeFile(edited));
    auto r = call("PUT", "/v1/pools/web/replicas/" + id1 + "/weight", kAdmin, R"({"weight":4})");
    QVERIFY(r);
    QCOMPARE(r->status, 409);
    QCOMPARE(jsonBody(*r)["error"].toObject()["code"].toString(), QStringLiteral("config_file_changed"));
    QCOMPARE(readFile(), edited);
    QJsonObject now = controlState(*c_);
    now[QStringLiteral("file")] = before[QStringLiteral("file")]; // the file is the operator's edit
    QCOMPARE(now, before);

    // A broken edit is not overwritten either.
    QVERIFY(writeFile("{ \"pools\": "));
    r = call("PUT", "/v1/pools/web/replicas/" + id1 + "/weight", kAdmin, R"({"weight":4})");
    QVERIFY(r);
    QCOMPARE(r->status, 409);
    QCOMPARE(readFile(), QByteArray("{ \"pools\": "));

    // Reloaded, the edit runs, and the API writes again.
    QVERIFY(writeFile(edited));
    const qsizetype mark = c_->agent().logMark();
    c_->agent().signal(SIGHUP);
    QVERIFY(c_->agent().waitForLog("config reloaded", mark));
    r = call("PUT", "/v1/pools/web/replicas/" + id1 + "/weight", kAdmin, R"({"weight":4})");
    QVERIFY(r);
    QVERIFY2(r->status == 200, r->body.constData());
    const QByteArray written = readFile();
    QVERIFY(written.contains("127.0.0.1:" + QByteArray::number(p2)));
    QVERIFY(written.contains("\"weight\": 4"));
}

// The config path turned into something that cannot be read (here a directory): still refused,
// but the answer says it cannot be read and why. Before, it said the file "was edited" and to
// reload it, which fails the same way.
void TestControlRuntime::unreadableFileIsNamedAsSuch()
{
    const quint16 p1 = c_->startReplica(QStringLiteral("r1"));
    QVERIFY(p1);
    QVERIFY2(start({p1}), qPrintable(c_->error()));
    const QByteArray id1 = "127.0.0.1:" + QByteArray::number(p1);
    QVERIFY(QFile::remove(c_->configPath()));
    QVERIFY(QDir().mkdir(c_->configPath()));
    const auto r = call("PUT", "/v1/pools/web/replicas/" + id1 + "/weight", kAdmin, R"({"weight":4})");
    QVERIFY(r);
    QCOMPARE(r->status, 409);
    const QJsonObject error = jsonBody(*r)["error"].toObject();
    QCOMPARE(error["code"].toString(), QStringLiteral("config_file_changed"));
    const QString message = error["message"].toString();
    QVERIFY2(message.contains(QStringLiteral("cannot be read: cannot read file: Is a directory")), qPrintable(message));
    QVERIFY(QDir().rmdir(c_->configPath()));
}

void TestControlRuntime::socketIsCreatedWithMode0660()
{
    QVERIFY2(start({refusedPort()}), qPrintable(c_->error()));
    struct stat st {};
    QCOMPARE(::lstat(QFile::encodeName(socketPath()).constData(), &st), 0);
    QVERIFY(S_ISSOCK(st.st_mode));
    QCOMPARE(st.st_mode & 0777, mode_t(0660));
}

// A socket file nobody listens on (an agent that was killed) is replaced.
void TestControlRuntime::staleSocketIsReplaced()
{
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    QVERIFY(fd >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const QByteArray path = QFile::encodeName(socketPath());
    std::memcpy(addr.sun_path, path.constData(), static_cast<size_t>(path.size()) + 1);
    QCOMPARE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ::close(fd); // the file stays; nothing listens
    QVERIFY(QFile::exists(socketPath()));
    QVERIFY2(start({refusedPort()}), qPrintable(c_->error()));
    QVERIFY(c_->agentLog().contains("removed the stale socket"));
    const auto r = call("GET", "/healthz", {});
    QVERIFY(r);
    QCOMPARE(r->status, 200);
}

// A socket another process listens on is left to it, and the agent does not start.
void TestControlRuntime::liveSocketIsRefused()
{
    QLocalServer other;
    QVERIFY(other.listen(socketPath()));
    QVERIFY(!start({refusedPort()}));
    QCOMPARE(c_->agent().waitForExit(), 1);
    QVERIFY2(c_->agentLog().contains("a process is listening on " + QFile::encodeName(socketPath())),
             c_->agentLog().constData());
    ControlClient client(socketPath());
    QVERIFY(client.connect()); // still the other process's
    QVERIFY(other.waitForNewConnection(kWaitMs));
}

void TestControlRuntime::nonSocketFileIsLeftAlone()
{
    QFile f(socketPath());
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write("precious");
    f.close();
    QVERIFY(!start({refusedPort()}));
    QCOMPARE(c_->agent().waitForExit(), 1);
    QVERIFY2(c_->agentLog().contains("exists and is not a socket"), c_->agentLog().constData());
    QVERIFY(f.open(QIODevice::ReadOnly));
    QCOMPARE(f.readAll(), QByteArray("precious"));
}

// control.address with control.tls: curl, verifying the agent's certificate, gets answers with
// a token and 401 without; plain HTTP on that port gets no answer.
void TestControlRuntime::tcpControlSpeaksTls()
{
    TestCerts certs;
    QVERIFY2(certs.ok(), qPrintable(certs.error()));
    QJsonObject cfg = controlConfig({refusedPort()});
    QJsonObject control = cfg[QStringLiteral("control")].toObject();
    control[QStringLiteral("address")] = QStringLiteral("127.0.0.1:0");
    control[QStringLiteral("tls")] = QJsonObject{{QStringLiteral("certificate"), certs.path(QStringLiteral("server.pem"))},
                                                 {QStringLiteral("private_key"), certs.path(QStringLiteral("server.key"))}};
    cfg[QStringLiteral("control")] = control;
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));
    QProcess& agent = c_->agent().process();
    QByteArray line;
    QDeadlineTimer deadline(kWaitMs);
    while (!line.startsWith("dlb-agent: control listening on 127.0.0.1:") && !deadline.hasExpired()) {
        if (!agent.canReadLine())
            agent.waitForReadyRead(100);
        else
            line = agent.readLine().trimmed();
    }
    QVERIFY2(line.endsWith(" (tls)"), line.constData());
    const QByteArray port = line.mid(int(sizeof "dlb-agent: control listening on 127.0.0.1:") - 1).split(' ').first();
    QVERIFY(port.toUInt() > 0);

    const auto curl = [&](const QStringList& extra, QByteArray* out) {
        QProcess p;
        p.start(QStringLiteral("curl"), QStringList{"-sS", "--cacert", certs.path(QStringLiteral("ca.pem")), "--resolve",
                                                    QStringLiteral("localhost:%1:127.0.0.1").arg(QString(port)), "-w",
                                                    "\n%{http_code}"} +
                                            extra + QStringList{QStringLiteral("https://localhost:%1/v1/status").arg(QString(port))});
        if (!p.waitForFinished(30000))
            return -1;
        *out = p.readAllStandardOutput();
        return p.exitCode();
    };
    QByteArray out;
    QCOMPARE(curl({"-H", "Authorization: Bearer " + QString::fromLatin1(kViewer)}, &out), 0);
    QVERIFY2(out.endsWith("\n200"), out.constData());
    QVERIFY(out.contains("\"version\""));
    QCOMPARE(curl({}, &out), 0);
    QVERIFY2(out.endsWith("\n401"), out.constData());

    HttpClient plain;
    QVERIFY(plain.connectTo(static_cast<quint16>(port.toUInt())));
    QVERIFY(plain.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
    QVERIFY(!plain.read(false, 2000));
}

QTEST_GUILESS_MAIN(TestControlRuntime)
#include "tst_control_runtime.moc"
