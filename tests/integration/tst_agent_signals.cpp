// The agent's signals: SIGHUP reloads the config (a bad file is refused and the running config
// stays), SIGTERM drains requests in flight (bounded by timeouts.drain_ms) and exits 0.

#include "harness.hpp"

#include <QDeadlineTimer>
#include <QElapsedTimer>
#include <QFile>
#include <QJsonDocument>
#include <QtTest>

#include <csignal>
#include <functional>

using namespace dlb::test;

class TestAgentSignals : public QObject {
    Q_OBJECT

private slots:
    void init();
    void cleanup();

    void cleanupReportsAnAgentThatDied();
    void sighupWithInvalidJsonKeepsServing();
    void sighupWithInvalidValueKeepsServing();
    void sighupAppliesNewReplicaSet();
    void sighupNamesKeysThatNeedARestart();
    void reloadLetsRequestsInFlightFinish();
    void sighupReopensAccessLog();
    void sigtermFinishesRequestInFlight();
    void sigtermClosesIdleConnectionsAndExitsPromptly();
    void sigtermDrainIsBoundedByDrainTimeout();
    void sighupDuringDrainDoesNotKill();
    void signalRightAfterListeningIsHandled_data();
    void signalRightAfterListeningIsHandled();
    void everySighupToABusyAgentIsHeard();

private:
    // Waits until the replica on `port` reports `rif` requests in flight on its probe endpoint.
    static bool replicaHasInFlight(quint16 port, int rif);
    // Starts a replica "slow" answering after `service_ms`, the agent in front of it (its config
    // first passed to `tweak`), and leaves `client` with a request to `path` in service there.
    // Returns an empty string, or what went wrong.
    QString startSlowRequest(HttpClient& client, int service_ms, const QByteArray& path,
                             const std::function<void(QJsonObject&)>& tweak = {});
    bool servedBy(const QByteArray& name);
    std::unique_ptr<Cluster> c_;
};

void TestAgentSignals::init()
{
    c_ = std::make_unique<Cluster>();
}

void TestAgentSignals::cleanup()
{
    // Stopped first so that its whole stderr is read before a failure prints it.
    const int exitCode = c_->stopAgent(); // also when it already died: see Cluster::stopAgent
    checkAgentExit(*c_, exitCode);
}

bool TestAgentSignals::replicaHasInFlight(quint16 port, int rif)
{
    const auto r = fetch(port, getRequest("/ping"));
    return r && r->status == 200 && QJsonDocument::fromJson(r->body).object().value(QStringLiteral("rif")).toInt() == rif;
}

QString TestAgentSignals::startSlowRequest(HttpClient& client, int service_ms, const QByteArray& path,
                                           const std::function<void(QJsonObject&)>& tweak)
{
    const quint16 slow = c_->startReplica(QStringLiteral("slow"), {QStringLiteral("--service-ms"), QString::number(service_ms),
                                                                   QStringLiteral("--dist"), QStringLiteral("fixed")});
    if (!slow)
        return c_->error();
    QJsonObject cfg = c_->config({slow});
    if (tweak)
        tweak(cfg);
    if (!c_->startAgent(cfg))
        return c_->error();
    if (!client.connectTo(c_->port()) || !client.send(getRequest(path)))
        return client.error();
    if (!QTest::qWaitFor([&] { return replicaHasInFlight(slow, 1); }, kWaitMs))
        return QStringLiteral("the request never reached the slow replica");
    return {};
}

bool TestAgentSignals::servedBy(const QByteArray& name)
{
    const auto r = fetch(c_->port(), getRequest("/who"));
    return r && r->status == 200 && r->header("X-Replica") == name;
}

// An agent that ends in the middle of a test (a sanitizer report with halt_on_error, a crash)
// fails the test in cleanup(), which used to read 0 for any agent no longer running.
void TestAgentSignals::cleanupReportsAnAgentThatDied()
{
    StubBackend& stub = c_->addStub("s1");
    QVERIFY2(c_->startAgent(c_->config({stub.port()})), qPrintable(c_->error()));
    c_->agent().signal(SIGKILL);
    QVERIFY(QTest::qWaitFor([&] { return !c_->agent().running(); }, kWaitMs));
    // cleanup()'s check must fail; if it passes, QtTest reports XPASS, a failure.
    QEXPECT_FAIL("", "the agent was killed: cleanup() must see a non-zero exit", Abort);
    cleanup();
    c_ = std::make_unique<Cluster>(); // so the cleanup() QtTest runs next has nothing to report
}

// SIGHUP with a file that is not JSON: "reload rejected" is logged and requests still succeed.
void TestAgentSignals::sighupWithInvalidJsonKeepsServing()
{
    const quint16 r1 = c_->startReplica(QStringLiteral("r1"));
    QVERIFY2(r1, qPrintable(c_->error()));
    QVERIFY2(c_->startAgent(c_->config({r1})), qPrintable(c_->error()));
    QVERIFY(servedBy("r1"));

    QFile f(c_->configPath());
    QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
    f.write("{\"workers\": 1, \"listeners\": [");
    f.close();
    const qsizetype mark = c_->agent().logMark();
    c_->agent().signal(SIGHUP);
    QVERIFY2(c_->agent().waitForLog("reload rejected", mark), c_->agentLog().constData());
    for (int i = 0; i < 5; ++i)
        QVERIFY(servedBy("r1"));
}

// SIGHUP with valid JSON but an out-of-range value: rejected naming the JSON path; still serving.
void TestAgentSignals::sighupWithInvalidValueKeepsServing()
{
    const quint16 r1 = c_->startReplica(QStringLiteral("r1"));
    QVERIFY2(r1, qPrintable(c_->error()));
    QJsonObject cfg = c_->config({r1});
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));

    setJson(cfg, {QStringLiteral("pools"), QStringLiteral("0"), QStringLiteral("algorithm")},
            QJsonObject{{QStringLiteral("name"), QStringLiteral("prequal")}, {QStringLiteral("q_rif"), 1.7}});
    QVERIFY(c_->writeConfig(cfg));
    const qsizetype mark = c_->agent().logMark();
    c_->agent().signal(SIGHUP);
    QVERIFY2(c_->agent().waitForLog("reload rejected", mark), c_->agentLog().constData());
    QVERIFY2(c_->agent().waitForLog("pools[0].algorithm.q_rif", mark), c_->agentLog().constData());
    for (int i = 0; i < 5; ++i)
        QVERIFY(servedBy("r1"));
}

// After a rejected reload, a valid file with a different replica is applied: requests reach the
// new replica, and only it, from then on.
void TestAgentSignals::sighupAppliesNewReplicaSet()
{
    const quint16 r1 = c_->startReplica(QStringLiteral("r1"));
    const quint16 r2 = c_->startReplica(QStringLiteral("r2"));
    QVERIFY2(r1 && r2, qPrintable(c_->error()));
    QVERIFY2(c_->startAgent(c_->config({r1})), qPrintable(c_->error()));
    QVERIFY(servedBy("r1"));

    QFile f(c_->configPath());
    QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
    f.write("not json");
    f.close();
    qsizetype mark = c_->agent().logMark();
    c_->agent().signal(SIGHUP);
    QVERIFY2(c_->agent().waitForLog("reload rejected", mark), c_->agentLog().constData());
    QVERIFY(servedBy("r1"));

    QVERIFY(c_->writeConfig(c_->config({r2})));
    mark = c_->agent().logMark();
    c_->agent().signal(SIGHUP);
    QVERIFY2(c_->agent().waitForLog("config reloaded", mark), c_->agentLog().constData());
    // Workers take the new snapshot on their own loop, a moment after the log line.
    QTRY_VERIFY_WITH_TIMEOUT(servedBy("r2"), kWaitMs);
    for (int i = 0; i < 5; ++i)
        QVERIFY(servedBy("r2"));
}

// A reload that changes workers, listeners, control and the access log names each of them as
// needing a restart and applies the rest (a new replica); the running listener stays. A reload
// that changes only what it can apply says nothing about a restart.
void TestAgentSignals::sighupNamesKeysThatNeedARestart()
{
    const quint16 r1 = c_->startReplica(QStringLiteral("r1"));
    const quint16 r2 = c_->startReplica(QStringLiteral("r2"));
    QVERIFY2(r1 && r2, qPrintable(c_->error()));
    QVERIFY2(c_->startAgent(c_->config({r1})), qPrintable(c_->error()));
    QVERIFY(servedBy("r1"));

    QJsonObject cfg = c_->config({r2});
    setJson(cfg, {QStringLiteral("timeouts"), QStringLiteral("idle_ms")}, 30000);
    QVERIFY(c_->writeConfig(cfg));
    qsizetype mark = c_->agent().logMark();
    c_->agent().signal(SIGHUP);
    QVERIFY2(c_->agent().waitForLog("config reloaded", mark), c_->agentLog().constData());
    QVERIFY2(!c_->agentLog().mid(mark).contains("restart"), c_->agentLog().mid(mark).constData());
    QTRY_VERIFY_WITH_TIMEOUT(servedBy("r2"), kWaitMs);

    cfg = c_->config({r1});
    setJson(cfg, {QStringLiteral("workers")}, 2);
    setJson(cfg, {QStringLiteral("listeners"), QStringLiteral("1"), QStringLiteral("address")}, QStringLiteral("127.0.0.1:0"));
    setJson(cfg, {QStringLiteral("listeners"), QStringLiteral("0"), QStringLiteral("address")},
            QStringLiteral("127.0.0.2:0"));
    setJson(cfg, {QStringLiteral("control"), QStringLiteral("unix_socket")}, c_->path(QStringLiteral("control.sock")));
    setJson(cfg, {QStringLiteral("access_log"), QStringLiteral("path")}, c_->path(QStringLiteral("other.log")));
    QVERIFY(c_->writeConfig(cfg));
    mark = c_->agent().logMark();
    c_->agent().signal(SIGHUP);
    QVERIFY2(c_->agent().waitForLog("config reloaded", mark), c_->agentLog().constData());
    const QByteArray log = c_->agentLog().mid(mark);
    QVERIFY2(log.contains("reload: workers, listeners, control, access_log changed in " + QFile::encodeName(c_->configPath()) +
                          " but only a restart applies them"),
             log.constData());
    // The rest is applied, and the running listener still answers.
    QTRY_VERIFY_WITH_TIMEOUT(servedBy("r1"), kWaitMs);
    for (int i = 0; i < 5; ++i)
        QVERIFY(servedBy("r1"));

    // Still asked for and still not applied: the next reload says so again.
    mark = c_->agent().logMark();
    c_->agent().signal(SIGHUP);
    QVERIFY2(c_->agent().waitForLog("config reloaded", mark), c_->agentLog().constData());
    QVERIFY2(c_->agentLog().mid(mark).contains("reload: workers, listeners, control, access_log changed"),
             c_->agentLog().mid(mark).constData());
}

// A reload that replaces the replica set while a request is in flight on the old one: that
// request completes on the old replica, new requests go to the new one.
void TestAgentSignals::reloadLetsRequestsInFlightFinish()
{
    HttpClient client;
    const QString failed = startSlowRequest(client, 800, "/in-flight");
    QVERIFY2(failed.isEmpty(), qPrintable(failed));
    const quint16 r2 = c_->startReplica(QStringLiteral("r2"));
    QVERIFY2(r2, qPrintable(c_->error()));

    QVERIFY(c_->writeConfig(c_->config({r2})));
    const qsizetype mark = c_->agent().logMark();
    c_->agent().signal(SIGHUP);
    QVERIFY2(c_->agent().waitForLog("config reloaded", mark), c_->agentLog().constData());
    QTRY_VERIFY_WITH_TIMEOUT(servedBy("r2"), kWaitMs);

    const auto r = client.read();
    QVERIFY2(r, qPrintable(client.error()));
    QCOMPARE(r->status, 200);
    QCOMPARE(r->header("X-Replica"), QByteArray("slow"));
}

// SIGHUP reopens the access log: after the file is moved away (log rotation), new lines go to a
// new file at the configured path and the moved file keeps only the old ones.
void TestAgentSignals::sighupReopensAccessLog()
{
    StubBackend& stub = c_->addStub("s1");
    QVERIFY2(c_->startAgent(c_->config({stub.port()})), qPrintable(c_->error()));
    auto lineCount = [](const QString& path) {
        QFile f(path);
        return f.open(QIODevice::ReadOnly) ? f.readAll().count('\n') : -1;
    };

    QVERIFY(fetch(c_->port(), getRequest("/before-rotation")));
    QTRY_COMPARE_WITH_TIMEOUT(lineCount(c_->accessLogPath()), 1, kWaitMs);
    const QString rotated = c_->accessLogPath() + QStringLiteral(".1");
    QVERIFY(QFile::rename(c_->accessLogPath(), rotated));

    const qsizetype mark = c_->agent().logMark();
    c_->agent().signal(SIGHUP);
    QVERIFY2(c_->agent().waitForLog("config reloaded", mark), c_->agentLog().constData());
    QVERIFY(fetch(c_->port(), getRequest("/after-rotation")));
    QTRY_COMPARE_WITH_TIMEOUT(lineCount(c_->accessLogPath()), 1, kWaitMs);
    QCOMPARE(lineCount(rotated), 1);
    QFile fresh(c_->accessLogPath());
    QVERIFY(fresh.open(QIODevice::ReadOnly));
    QVERIFY(fresh.readAll().contains("/after-rotation"));
}

// SIGTERM while a slow request is in flight: the request still completes with 200, then the
// agent exits 0.
void TestAgentSignals::sigtermFinishesRequestInFlight()
{
    HttpClient client;
    const QString failed = startSlowRequest(client, 1000, "/slow");
    QVERIFY2(failed.isEmpty(), qPrintable(failed));
    const qsizetype mark = c_->agent().logMark();
    c_->agent().signal(SIGTERM);
    QVERIFY2(c_->agent().waitForLog("stopping", mark), c_->agentLog().constData());

    const auto r = client.read();
    QVERIFY2(r, qPrintable(client.error()));
    QCOMPARE(r->status, 200);
    QCOMPARE(r->body, QByteArray("slow\n"));
    QVERIFY(r->header("connection").toLower().contains("close"));
    QVERIFY2(client.waitForClose(), qPrintable(client.error()));
    QCOMPARE(c_->agent().waitForExit(), 0);
}

// SIGTERM with only idle keep-alive connections open: they are closed and the agent exits at
// once, not after timeouts.drain_ms.
void TestAgentSignals::sigtermClosesIdleConnectionsAndExitsPromptly()
{
    StubBackend& stub = c_->addStub("s1");
    QJsonObject cfg = c_->config({stub.port()});
    setJson(cfg, {QStringLiteral("timeouts"), QStringLiteral("drain_ms")}, 20000);
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));

    HttpClient client;
    QVERIFY2(client.connectTo(c_->port()), qPrintable(client.error()));
    QVERIFY(client.send(getRequest("/idle")));
    const auto r = client.read();
    QVERIFY2(r, qPrintable(client.error()));
    QCOMPARE(r->status, 200);

    QElapsedTimer t;
    t.start();
    c_->agent().signal(SIGTERM);
    QVERIFY2(client.waitForClose(), qPrintable(client.error()));
    QCOMPARE(c_->agent().waitForExit(), 0);
    QVERIFY2(t.elapsed() < 3000, qPrintable(QStringLiteral("exit took %1 ms").arg(t.elapsed())));
}

// A request slower than timeouts.drain_ms does not hold the exit: the agent closes it and exits 0.
void TestAgentSignals::sigtermDrainIsBoundedByDrainTimeout()
{
    HttpClient client;
    const QString failed = startSlowRequest(client, 10000, "/very-slow", [](QJsonObject& cfg) {
        setJson(cfg, {QStringLiteral("timeouts"), QStringLiteral("drain_ms")}, 300);
    });
    QVERIFY2(failed.isEmpty(), qPrintable(failed));

    QElapsedTimer t;
    t.start();
    c_->agent().signal(SIGTERM);
    QCOMPARE(c_->agent().waitForExit(), 0);
    QVERIFY2(t.elapsed() < 3000, qPrintable(QStringLiteral("exit took %1 ms").arg(t.elapsed())));
    QVERIFY2(client.waitForClose(), qPrintable(client.error()));
}

// A SIGHUP arriving while the agent drains (say, log rotation during a stop) is ignored: the
// request in flight still completes and the agent exits 0, rather than dying by the signal.
void TestAgentSignals::sighupDuringDrainDoesNotKill()
{
    HttpClient client;
    const QString failed = startSlowRequest(client, 800, "/slow");
    QVERIFY2(failed.isEmpty(), qPrintable(failed));
    const qsizetype mark = c_->agent().logMark();
    c_->agent().signal(SIGTERM);
    QVERIFY2(c_->agent().waitForLog("stopping", mark), c_->agentLog().constData());
    // SIGHUP again and again, all through the drain, until the answer starts to arrive: the
    // whole window is covered, not just its first microseconds.
    QDeadlineTimer deadline(kWaitMs);
    while (client.socket().bytesAvailable() == 0 && client.connected() && !deadline.hasExpired()) {
        c_->agent().signal(SIGHUP);
        client.socket().waitForReadyRead(50);
    }
    const auto r = client.read();
    QVERIFY2(r, qPrintable(client.error()));
    QCOMPARE(r->status, 200);
    QCOMPARE(c_->agent().waitForExit(), 0);
}

void TestAgentSignals::signalRightAfterListeningIsHandled_data()
{
    QTest::addColumn<int>("signum");
    QTest::newRow("SIGTERM") << int{SIGTERM};
    QTest::newRow("SIGINT") << int{SIGINT}; // read from the same signalfd: drains like SIGTERM
    QTest::newRow("SIGHUP") << int{SIGHUP};
}

// A signal sent as soon as the agent printed its listening line (which is how scripts and
// these tests know it is up) is handled: SIGTERM drains and exits 0, SIGHUP reloads. It must
// not hit the default action (death by signal) because the handlers were not installed yet.
void TestAgentSignals::signalRightAfterListeningIsHandled()
{
    QFETCH(int, signum);
    StubBackend& stub = c_->addStub("s1");
    QVERIFY(c_->writeConfig(c_->config({stub.port()})));
    for (int i = 0; i < 10; ++i) {
        ChildProcess agent;
        const QByteArray port = agent.startAndReadLine(binPath(QStringLiteral("dlb-agent")),
                                                       {QStringLiteral("--config"), c_->configPath()},
                                                       "dlb-agent: listening on 127.0.0.1:");
        QVERIFY2(!port.isEmpty(), qPrintable(agent.error()));
        agent.signal(signum);
        if (signum == SIGHUP) {
            QVERIFY2(agent.waitForLog("config reloaded"),
                     qPrintable(QStringLiteral("run %1: %2").arg(i).arg(QString::fromUtf8(agent.log()))));
            QCOMPARE(agent.terminate(), 0);
        } else {
            const int code = agent.waitForExit();
            QVERIFY2(code == 0, qPrintable(QStringLiteral("run %1: %2 (exit %3, stderr: \"%4\")")
                                               .arg(i)
                                               .arg(agent.error())
                                               .arg(code)
                                               .arg(QString::fromUtf8(agent.log()))));
        }
    }
}

// Forty SIGHUPs, one after the other, to an agent with two worker threads serving requests:
// each is heard within kWaitMs, and requests are served between them. The main loop reads
// signals from a signalfd, drained on every wake-up; this is what holds it to one reload per
// signal. (libuv's handlers lost about one SIGHUP in a hundred under ThreadSanitizer, on a
// TLS reload right after start: too rare to catch here, see Agent::start.)
void TestAgentSignals::everySighupToABusyAgentIsHeard()
{
    constexpr int kReloads = 40;
    StubBackend& stub = c_->addStub("s1");
    QJsonObject cfg = c_->config({stub.port()});
    cfg[QStringLiteral("workers")] = 2;
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));
    for (int i = 0; i < kReloads; ++i) {
        const qsizetype mark = c_->agent().logMark();
        c_->agent().signal(SIGHUP);
        const auto r = fetch(c_->port(), getRequest("/busy"));
        QVERIFY(r);
        QCOMPARE(r->status, 200);
        QVERIFY2(c_->agent().waitForLog("config reloaded", mark),
                 qPrintable(QStringLiteral("SIGHUP %1 of %2 was not heard: %3")
                                .arg(i + 1)
                                .arg(kReloads)
                                .arg(QString::fromUtf8(c_->agentLog().mid(mark)))));
    }
}

QTEST_GUILESS_MAIN(TestAgentSignals)
#include "tst_agent_signals.moc"
