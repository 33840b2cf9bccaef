// An adversarial review of the probe path, the health checks and Prequal's robustness: replicas
// written here, over raw sockets, that answer /ping and health checks in every way HTTP/1.1
// allows and a few it does not. Each test is a finding that failed before its fix.

#include "control_fixture.hpp"
#include "harness.hpp"
#include "prequal_load.hpp"
#include "scripted_replica.hpp"

#include <QElapsedTimer>
#include <QJsonArray>
#include <QRegularExpression>
#include <QtTest>

#include <atomic>
#include <csignal>
#include <memory>

using namespace dlb::test;

namespace {

const QString kPool = QStringLiteral("0");

// Health checks on /healthz every 100 ms (the least allowed), one failure takes a replica down.
void strictHealthChecks(QJsonObject& cfg)
{
    setJson(cfg, {QStringLiteral("pools"), kPool, QStringLiteral("health_check")},
            QJsonObject{{QStringLiteral("enabled"), true},
                        {QStringLiteral("path"), QStringLiteral("/healthz")},
                        {QStringLiteral("interval_ms"), 100},
                        {QStringLiteral("timeout_ms"), 90},
                        {QStringLiteral("rise"), 1},
                        {QStringLiteral("fall"), 1}});
}

void usePrequalOnPing(QJsonObject& cfg)
{
    setJson(cfg, {QStringLiteral("pools"), kPool, QStringLiteral("algorithm")},
            QJsonObject{{QStringLiteral("name"), QStringLiteral("prequal")}});
    setJson(cfg, {QStringLiteral("pools"), kPool, QStringLiteral("probe")},
            QJsonObject{{QStringLiteral("path"), QStringLiteral("/ping")}, {QStringLiteral("timeout_ms"), 1000}});
}

// Sends `n` GETs of `path` one after another on one keep-alive connection; each must be a 200.
// Returns how many carried X-Replica: `who`.
int answeredBy(quint16 port, int n, const QByteArray& who, QString* why)
{
    HttpClient c;
    if (!c.connectTo(port)) {
        *why = c.error();
        return -1;
    }
    int hits = 0;
    for (int i = 0; i < n; ++i) {
        if (!c.send(getRequest("/work"))) {
            *why = c.error();
            return -1;
        }
        const auto r = c.read();
        if (!r || r->status != 200) {
            *why = r ? QStringLiteral("status %1: %2").arg(r->status).arg(QString::fromUtf8(r->body)) : c.error();
            return -1;
        }
        hits += r->header("X-Replica") == who ? 1 : 0;
    }
    return hits;
}

// A replica named `name` that answers /work (every path) with 200 and X-Replica: `name`, but
// `special` (a probe or health path), when given, with `answer`.
ScriptedReplica::Script answering(const QByteArray& name, const QByteArray& special = {}, const Answer& answer = {})
{
    return [name, special, answer](const QByteArray& path) {
        if (!special.isEmpty() && path == special)
            return answer;
        return ok(name, "X-Replica: " + name + "\r\n");
    };
}

// The Prequal findings' measure: an agent over a and b with Prequal probing /ping, once a has
// answered `probesOfA` probes and b two, is sent `n` requests on one connection and stopped (it
// must exit 0). `toA` is how many reached a; `aProbesSent` and `aProbesFailed` are the agent's
// own count of probes to a (GET /v1/stats, read once its sample holds at least `probesOfA`);
// `log` is the agent's log, its stop report included. All -1 when a step failed, which has
// failed the test.
struct PrequalRun {
    int toA = -1;
    qint64 aProbesSent = -1;
    qint64 aProbesFailed = -1;
    QByteArray log;
};

// a's per-replica Prequal counters from the newest stats sample, or false.
bool probeCountsOfA(const Cluster& c, quint16 portOfA, qint64* sent, qint64* failed)
{
    const auto r = controlCall(c, "GET", "/v1/stats", kViewer);
    if (!r || r->status != 200)
        return false;
    const QString id = QStringLiteral("127.0.0.1:%1").arg(portOfA);
    for (const auto pool : jsonBody(*r)[QStringLiteral("pools")].toArray())
        for (const auto replica : pool.toObject()[QStringLiteral("replicas")].toArray()) {
            const QJsonObject o = replica.toObject();
            if (o[QStringLiteral("id")].toString() != id)
                continue;
            const QJsonObject p = o[QStringLiteral("prequal")].toObject();
            *sent = p[QStringLiteral("probes_sent")].toInteger(-1);
            *failed = p[QStringLiteral("probes_failed")].toInteger(-1);
            return *sent >= 0 && *failed >= 0;
        }
    return false;
}

PrequalRun prequalRun(const ScriptedReplica& a, const ScriptedReplica& b, int probesOfA, int n)
{
    Cluster c;
    QJsonObject cfg = controlConfig(c, {a.port(), b.port()});
    usePrequalOnPing(cfg);
    PrequalRun run;
    [&] {
        QVERIFY2(c.startAgent(cfg), qPrintable(c.error()));
        QTRY_VERIFY_WITH_TIMEOUT(a.count("/ping") >= probesOfA && b.count("/ping") >= 2, kWaitMs);
        QString why;
        const int toA = answeredBy(c.port(), n, "a", &why);
        QVERIFY2(toA >= 0, qPrintable(why));
        qint64 sent = -1;
        qint64 failed = -1;
        // The stats sample is taken once a second: wait for one that has seen a's probes.
        QTRY_VERIFY_WITH_TIMEOUT(probeCountsOfA(c, a.port(), &sent, &failed) && sent >= probesOfA, kWaitMs);
        QCOMPARE(c.stopAgent(), 0);
        run.toA = toA;
        run.aProbesSent = sent;
        run.aProbesFailed = failed;
        run.log = c.agentLog();
    }();
    if (QTest::currentTestFailed())
        return PrequalRun{};
    return run;
}

int prequalShareOfA(const ScriptedReplica& a, const ScriptedReplica& b, int probesOfA, int n, QByteArray* log)
{
    const PrequalRun run = prequalRun(a, b, probesOfA, n);
    *log = run.log;
    return run.toA;
}

// b in the Prequal findings: it says on /ping that it is loaded and slow.
const QByteArray kLoadedProbeAnswer = R"({"rif": 40, "latency_ms": 200})";

} // namespace

class TestAttackProbe : public QObject {
    Q_OBJECT

private slots:
    void healthAnswerDelimitedByCloseKeepsReplica_data();
    void healthAnswerDelimitedByCloseKeepsReplica();
    void probeAnswerIsRead_data();
    void probeAnswerIsRead();
    void probePathWithoutProbeAnswer_data();
    void probePathWithoutProbeAnswer();
    void repeatedLoadReportIsNotRead_data();
    void repeatedLoadReportIsNotRead();
    void loadReportOnErrorDoesNotDrawTraffic();
    void replicasTakingTurnsNeverFail_data();
    void replicasTakingTurnsNeverFail();
    void reloadsSwitchingAlgorithmUnderLoad();
    void hungProbeEndpointIsLeftAlone();
    void hungVerdictExpires();
    void stillHungAfterRetryCostsOneProbe();
};

void TestAttackProbe::healthAnswerDelimitedByCloseKeepsReplica_data()
{
    QTest::addColumn<QByteArray>("answer");
    QTest::addColumn<bool>("close");
    // HTTP/1.0 servers and many HTTP/1.1 ones answer a "Connection: close" request this way: no
    // length, the body ends with the connection (RFC 9112 6.3, rule 8).
    QTest::newRow("delimited by close") << QByteArray("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhealthy") << true;
    QTest::newRow("HTTP/1.0, delimited by close") << QByteArray("HTTP/1.0 200 OK\r\n\r\nhealthy") << true;
    // An interim answer (103 Early Hints) before the final one: a client must skip it (RFC 9110 15.2).
    QTest::newRow("103 before 200") << QByteArray("HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
                                                  "HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\nhealthy")
                                    << true;
}

// Finding: the health checker read a close-delimited answer, or a 1xx before the 200, as a failed
// check, and benched a healthy replica that answers that way.
void TestAttackProbe::healthAnswerDelimitedByCloseKeepsReplica()
{
    QFETCH(QByteArray, answer);
    QFETCH(bool, close);
    ScriptedReplica a(answering("a", "/healthz", {answer, close}));
    ScriptedReplica b(answering("b"));
    Cluster c;
    QJsonObject cfg = c.config({a.port(), b.port()});
    strictHealthChecks(cfg);
    QVERIFY2(c.startAgent(cfg), qPrintable(c.error()));
    // Several checks of a have been answered: with fall 1, a wrong verdict has taken it down.
    QTRY_VERIFY_WITH_TIMEOUT(a.count("/healthz") >= 3 && b.count("/healthz") >= 3, kWaitMs);
    QString why;
    const int toA = answeredBy(c.port(), 20, "a", &why);
    QVERIFY2(toA >= 0, qPrintable(why));
    // Round robin over two healthy replicas: half each.
    QVERIFY2(toA == 10, qPrintable(QStringLiteral("%1 of 20 requests reached a; agent log:\n%2")
                                       .arg(toA)
                                       .arg(QString::fromUtf8(c.agentLog()))));
    QCOMPARE(c.stopAgent(), 0);
}

void TestAttackProbe::probeAnswerIsRead_data()
{
    QTest::addColumn<QByteArray>("answer");
    QTest::addColumn<bool>("close");
    const QByteArray idle = R"({"rif": 0, "latency_ms": 1})";
    QTest::newRow("delimited by close") << "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + idle << true;
    QTest::newRow("100 before 200") << "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: " +
                                           QByteArray::number(idle.size()) + "\r\n\r\n" + idle
                                    << false;
    QTest::newRow("103 before 200") << "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: " +
                                           QByteArray::number(idle.size()) + "\r\n\r\n" + idle
                                    << false;
}

// Finding: the prober read a close-delimited probe answer, or a 1xx before the 200, as a failed
// probe: the replica that said it was idle never entered Prequal's pool.
void TestAttackProbe::probeAnswerIsRead()
{
    QFETCH(QByteArray, answer);
    QFETCH(bool, close);
    // a says it is idle and fast, b that it is loaded and slow. The finding was that a's answers
    // were not read: each counted as a failed probe, so a never entered the pool. The agent's
    // own count says whether they were read. (The share of requests a gets is no measure since
    // the latency-weighted fallback of prequal7: a sequential run can stick to whichever replica
    // it measured first, and one in five runs did.)
    ScriptedReplica a(answering("a", "/ping", {answer, close}));
    ScriptedReplica b(answering("b", "/ping", ok(kLoadedProbeAnswer)));
    const PrequalRun run = prequalRun(a, b, 2, 60);
    if (run.toA < 0)
        return;
    qInfo("%d of 60 requests reached the idle replica; %lld probes to it, %lld failed", run.toA, run.aProbesSent,
          run.aProbesFailed);
    QVERIFY2(run.aProbesFailed == 0,
             qPrintable(QStringLiteral("%1 of %2 probe answers from the idle replica were not read; agent log:\n%3")
                            .arg(run.aProbesFailed)
                            .arg(run.aProbesSent)
                            .arg(QString::fromUtf8(run.log))));
    QVERIFY(run.toA > 0);
}

void TestAttackProbe::probePathWithoutProbeAnswer_data()
{
    QTest::addColumn<QByteArray>("answer");
    // A server that answers every path with its index page, larger than a probe answer may be.
    QTest::newRow("200, an 8 KiB page") << "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 8192\r\n\r\n" +
                                               QByteArray(8192, 'x');
    // /ping behind authentication, or moved.
    QTest::newRow("401") << QByteArray("HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic\r\nContent-Length: 0\r\n\r\n");
    QTest::newRow("403") << QByteArray("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
    QTest::newRow("404 (read right before)") << QByteArray("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    QTest::newRow("301") << QByteArray("HTTP/1.1 301 Moved Permanently\r\nLocation: /ping/\r\nContent-Length: 0\r\n\r\n");
}

// Finding: a replica that answers the probe path, but not with a probe answer, is balanced on
// the worker's own measurements only when that answer was a 404, 405, 501 or a small 2xx; a
// 401, 403, 3xx or a large page counted as a failed probe, every time, so the replica never
// entered Prequal's pool: starved beside replicas that do answer probes.
void TestAttackProbe::probePathWithoutProbeAnswer()
{
    QFETCH(QByteArray, answer);
    ScriptedReplica a(answering("a", "/ping", {answer, false}));
    // b says it is loaded and slow; a answers at once.
    ScriptedReplica b(answering("b", "/ping", ok(kLoadedProbeAnswer)));
    // One answer from a is all the verdict takes (then it is not asked again for 30 s). A probe
    // counted as failed is what starved a; the share is not asserted beyond "some" (see
    // probeAnswerIsRead: the fallback can stick to b in a sequential run).
    const PrequalRun run = prequalRun(a, b, 1, 100);
    if (run.toA < 0)
        return;
    qInfo("%d of 100 requests reached the replica without a probe endpoint; %lld probes to it, %lld failed", run.toA,
          run.aProbesSent, run.aProbesFailed);
    QVERIFY2(run.aProbesFailed == 0, qPrintable(QStringLiteral("%1 of %2 probes to a counted as failed")
                                                    .arg(run.aProbesFailed)
                                                    .arg(run.aProbesSent)));
    QVERIFY(run.toA > 0);
}

void TestAttackProbe::repeatedLoadReportIsNotRead_data()
{
    QTest::addColumn<QByteArray>("reports");
    QTest::newRow("X-Load twice") << QByteArray("X-Load: rif=0, latency_ms=0.1\r\nX-Load: rif=40, latency_ms=200\r\n");
    QTest::newRow("endpoint-load-metrics twice")
        << QByteArray("endpoint-load-metrics: TEXT rif=0, named_metrics.latency_ms=0.1\r\n"
                      "endpoint-load-metrics: TEXT rif=40, named_metrics.latency_ms=200\r\n");
}

// Finding: a response with two load reports (a replica and a middleware each adding one, or a
// lie) was read by its first one. Combined as RFC 9110 5.3 says fields are, two reports are one
// list with every key twice, which the strict parsers refuse: no report at all.
void TestAttackProbe::repeatedLoadReportIsNotRead()
{
    QFETCH(QByteArray, reports);
    // a never answers a probe (so only its reports can put it in the pool); its first report on
    // each response says it is idle, its second that it is loaded. What the agent read is
    // counted in its stop report ("N load reports" per worker and pool); the share of requests
    // a gets is not the measure: it depends on how Prequal picks without probes (a latency-
    // weighted fallback since the probe-cost change, which sticks to whichever replica answered
    // first in a sequential run). As a control, the same replica sending only the first of the
    // two reports must be read, or the count could not tell.
    const auto loadReportsRead = [](const QByteArray& extra, qint64* read) {
        *read = -1;
        ScriptedReplica a([extra](const QByteArray& path) -> Answer {
            if (path == "/ping")
                return {};
            return ok("a", extra + "X-Replica: a\r\n");
        });
        ScriptedReplica b(answering("b", "/ping", ok(R"({"rif": 5, "latency_ms": 5})")));
        QByteArray agentLog;
        if (prequalShareOfA(a, b, 1, 100, &agentLog) < 0)
            return;
        const QString log = QString::fromUtf8(agentLog);
        static const QRegularExpression count(QStringLiteral(", (\\d+) load reports"));
        qint64 total = 0;
        int lines = 0;
        for (auto it = count.globalMatch(log); it.hasNext(); ++lines)
            total += it.next().captured(1).toLongLong();
        QVERIFY2(lines > 0, qPrintable(QStringLiteral("no stop report in the agent's log:\n") + log));
        *read = total;
    };
    qint64 twice = -1;
    loadReportsRead(reports, &twice);
    if (QTest::currentTestFailed())
        return;
    qint64 once = -1;
    loadReportsRead(reports.left(reports.indexOf("\r\n") + 2), &once);
    if (QTest::currentTestFailed())
        return;
    qInfo("load reports read: %lld with the field twice, %lld with it once", twice, once);
    QCOMPARE(twice, qint64{0});
    QVERIFY2(once > 0, "the single report was not read either: the count cannot tell");
}

// Probe: a replica that fails every request fast (503) while its X-Load header says it is idle
// must not draw more traffic than round robin would give it (sinkholing).
void TestAttackProbe::loadReportOnErrorDoesNotDrawTraffic()
{
    ScriptedReplica a([](const QByteArray& path) -> Answer {
        if (path == "/ping")
            return {"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"};
        return {"HTTP/1.1 503 Service Unavailable\r\nX-Load: rif=0, latency_ms=0.1\r\nX-Replica: a\r\nContent-Length: 4\r\n\r\nsick"};
    });
    ScriptedReplica b([](const QByteArray& path) -> Answer {
        if (path == "/ping")
            return {"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"};
        return ok("b", "X-Load: rif=2, latency_ms=5\r\nX-Replica: b\r\n");
    });
    Cluster c;
    QJsonObject cfg = c.config({a.port(), b.port()});
    usePrequalOnPing(cfg);
    QVERIFY2(c.startAgent(cfg), qPrintable(c.error()));
    HttpClient client;
    QVERIFY(client.connectTo(c.port()));
    const int n = 100;
    int failed = 0;
    for (int i = 0; i < n; ++i) {
        QVERIFY(client.send(getRequest("/work")));
        const auto r = client.read();
        QVERIFY2(r, qPrintable(client.error()));
        failed += r->status == 503 ? 1 : 0;
    }
    qInfo("%d of %d requests reached the failing replica", failed, n);
    QVERIFY2(failed <= n / 4, qPrintable(QStringLiteral("%1 of %2 requests reached the failing replica").arg(failed).arg(n)));
    QCOMPARE(c.stopAgent(), 0);
}

// Probe: SIGHUP reloads that switch prequal <-> round_robin while 8 connections keep 2 workers
// busy and probes are in flight (one replica answers /ping slower than probe.timeout_ms, one
// refuses connections): no request may fail, and the agent must neither crash nor leak runtimes.
void TestAttackProbe::reloadsSwitchingAlgorithmUnderLoad()
{
    Cluster c;
    const quint16 r1 = c.startReplica(QStringLiteral("r1"), {QStringLiteral("--service-ms"), QStringLiteral("1")});
    const quint16 r2 = c.startReplica(QStringLiteral("r2"),
                                      {QStringLiteral("--service-ms"), QStringLiteral("1"), QStringLiteral("--ping-delay-ms"),
                                       QStringLiteral("80")});
    QVERIFY2(r1 && r2, qPrintable(c.error()));
    QJsonObject cfg = c.config({r1, r2, refusedPort()});
    setJson(cfg, {QStringLiteral("workers")}, 2);
    setJson(cfg, {QStringLiteral("pools"), kPool, QStringLiteral("probe")},
            QJsonObject{{QStringLiteral("path"), QStringLiteral("/ping")}, {QStringLiteral("timeout_ms"), 50}});
    const auto algorithm = [&cfg](const char* name) {
        setJson(cfg, {QStringLiteral("pools"), kPool, QStringLiteral("algorithm")},
                QJsonObject{{QStringLiteral("name"), QString::fromLatin1(name)}});
    };
    algorithm("prequal");
    QVERIFY2(c.startAgent(cfg), qPrintable(c.error()));
    {
        Load load(c.port(), 8, -1, "/work");
        for (int i = 0; i < 20; ++i) {
            algorithm(i % 2 == 0 ? "round_robin" : "prequal");
            QVERIFY2(c.writeConfig(cfg), qPrintable(c.error()));
            const qsizetype mark = c.agent().logMark();
            c.agent().signal(SIGHUP);
            QVERIFY2(c.agent().waitForLog("config reloaded", mark), c.agentLog().constData());
            // Some requests on the new runtime before the next switch.
            const int before = load.completed();
            QTRY_VERIFY_WITH_TIMEOUT(load.completed() >= before + 50, kWaitMs);
        }
        load.stop();
        QVERIFY(load.wait(kWaitMs));
        const QStringList failures = load.failures();
        QVERIFY2(failures.isEmpty(), qPrintable(failures.join(u'\n')));
        int non200 = 0;
        for (const Outcome& o : load.outcomes())
            non200 += o.status != 200 ? 1 : 0;
        qInfo("%d requests across 20 reloads, %d not 200", load.completed(), non200);
        QCOMPARE(non200, 0);
    }
    QCOMPARE(c.stopAgent(), 0);
}

void TestAttackProbe::replicasTakingTurnsNeverFail_data()
{
    QTest::addColumn<QString>("algorithm");
    QTest::newRow("round_robin") << QStringLiteral("round_robin");
    QTest::newRow("prequal") << QStringLiteral("prequal");
}

// Finding: two replicas that take turns being down (each 300 ms up, then 300 ms down, never both
// at once: a rolling restart) made 68% of requests fail, "503 no healthy replica", while one of
// them accepted: each had refused a connection within the last second, and sat out for it.
void TestAttackProbe::replicasTakingTurnsNeverFail()
{
    QFETCH(QString, algorithm);
    ScriptedReplica a(answering("a"));
    ScriptedReplica b(answering("b"));
    Cluster c;
    QJsonObject cfg = c.config({a.port(), b.port()});
    setJson(cfg, {QStringLiteral("pools"), kPool, QStringLiteral("algorithm")}, QJsonObject{{QStringLiteral("name"), algorithm}});
    QVERIFY2(c.startAgent(cfg), qPrintable(c.error()));
    HttpClient client;
    QVERIFY(client.connectTo(c.port()));
    int requests = 0;
    int refused503 = 0;
    QStringList failures;
    QElapsedTimer phase;
    for (int turn = 0; turn < 6; ++turn) {
        ScriptedReplica& down = turn % 2 == 0 ? a : b;
        ScriptedReplica& up = turn % 2 == 0 ? b : a;
        up.setListening(true);
        down.setListening(false);
        phase.start();
        while (phase.elapsed() < 300) {
            QVERIFY(client.send(getRequest("/work")));
            const auto r = client.read();
            QVERIFY2(r, qPrintable(client.error()));
            ++requests;
            if (r->status != 200) {
                ++refused503;
                if (failures.size() < 5)
                    failures.append(QStringLiteral("turn %1 at %2 ms: %3 %4").arg(turn).arg(phase.elapsed()).arg(r->status).arg(QString::fromUtf8(r->body.trimmed())));
            }
        }
    }
    qInfo("%d of %d requests failed while one replica accepted", refused503, requests);
    QVERIFY2(refused503 == 0, qPrintable(failures.join(u'\n')));
    QCOMPARE(c.stopAgent(), 0);
}

// Starts an agent over `a` (whose /ping hangs) and `b` with Prequal probing /ping (50 ms
// timeout), then sends requests (each asks for probes, a's time out one by one) until the agent
// logs the hung-endpoint verdict. False, with `why`, when it fails or no verdict comes in 20 s.
static bool runUntilHungVerdict(Cluster& c, const ScriptedReplica& a, const ScriptedReplica& b, QString* why)
{
    QJsonObject cfg = c.config({a.port(), b.port()});
    usePrequalOnPing(cfg);
    setJson(cfg, {QStringLiteral("pools"), kPool, QStringLiteral("probe"), QStringLiteral("timeout_ms")}, 50);
    if (!c.startAgent(cfg)) {
        *why = c.error();
        return false;
    }
    QDeadlineTimer deadline(20000);
    while (!c.agent().waitForLog("more probes timed out than were answered", 0, 10)) {
        if (deadline.hasExpired()) {
            *why = QStringLiteral("no verdict after %1 probes to a; log:\n%2")
                       .arg(a.count("/ping"))
                       .arg(QString::fromUtf8(c.agentLog()));
            return false;
        }
        if (answeredBy(c.port(), 20, "a", why) < 0)
            return false;
    }
    return true;
}

// A pool of `a`, whose probe endpoint never answers, and `b`, whose probes answer at once; the
// agent (`c`) stops before the replicas do.
struct HungProbePool {
    ScriptedReplica a{answering("a", "/ping", Answer{})};
    ScriptedReplica b{answering("b", "/ping", ok(R"({"rif": 0, "latency_ms": 1})"))};
    Cluster c;
};

// Finding (attack-s9): a replica whose probe endpoint never answers (it serves requests) had a
// probe sent every time one was drawn and its connection was free: one per probe.timeout_ms, each
// costing the replica a request's worth, and their timeouts cut the probe rate of the whole
// pool. After kProbeTimeoutsForHungVerdict (kHungVerdictTimeouts) timeouts more than answers, this worker balances it on its
// own measurements for 10 s, as a replica without a probe endpoint, and says so in its log.
void TestAttackProbe::hungProbeEndpointIsLeftAlone()
{
    HungProbePool p;
    auto& [a, b, c] = p;
    QString why;
    QVERIFY2(runUntilHungVerdict(c, a, b, &why), qPrintable(why));
    const int pingsAtVerdict = a.count("/ping");
    QVERIFY2(pingsAtVerdict >= kHungVerdictTimeouts, qPrintable(QString::number(pingsAtVerdict)));
    QVERIFY2(c.agentLog().contains(hungVerdictLine()), c.agentLog().constData());
    QVERIFY2(c.agentLog().contains("own measurements for 10 s"), c.agentLog().constData());

    // Then 400 more requests (3 probes asked for each), all answered 200: a gets no probe. Its
    // share is not the measure: on one sequential connection Prequal sticks to whichever of a's
    // own measurement and b's (made-up) answer looked faster (0 to 400 of 400 in five runs).
    const int toA = answeredBy(c.port(), 400, "a", &why);
    QVERIFY2(toA >= 0, qPrintable(why));
    QVERIFY2(a.count("/ping") <= pingsAtVerdict + 1,
             qPrintable(QStringLiteral("%1 probes to a after the verdict").arg(a.count("/ping") - pingsAtVerdict)));
    qInfo() << "a served" << toA << "of 400 after the verdict";
    QCOMPARE(c.stopAgent(), 0);
}

// The verdict is for kHungProbeEndpointRetryNs (10 s), not forever: an endpoint that hung during
// a deploy and answers again is probed again, and not before its time is up (each probe to an
// endpoint that still hangs costs the replica a request's worth).
void TestAttackProbe::hungVerdictExpires()
{
    auto hang = std::make_shared<std::atomic<bool>>(true);
    ScriptedReplica a([hang](const QByteArray& path) {
        if (path == "/ping")
            return hang->load() ? Answer{} : ok(R"({"rif": 0, "latency_ms": 1})");
        return ok("a", "X-Replica: a\r\n");
    });
    ScriptedReplica b(answering("b", "/ping", ok(R"({"rif": 0, "latency_ms": 1})")));
    Cluster c;
    QString why;
    QVERIFY2(runUntilHungVerdict(c, a, b, &why), qPrintable(why));
    QElapsedTimer sinceVerdict; // started after the verdict: it reads less than the verdict's age
    sinceVerdict.start();
    hang->store(false);
    // A probe that was already waiting when the verdict came may still arrive (the first one).
    const int pingsAtVerdict = a.count("/ping") + 1;
    // Requests, each asking for probes, until a is probed again.
    while (a.count("/ping") <= pingsAtVerdict) {
        QVERIFY2(sinceVerdict.elapsed() < 40000,
                 qPrintable(QStringLiteral("a not probed again 40 s after the verdict; log:\n%1")
                                .arg(QString::fromUtf8(c.agentLog()))));
        QVERIFY2(answeredBy(c.port(), 20, "a", &why) >= 0, qPrintable(why));
    }
    const qint64 retryMs = sinceVerdict.elapsed();
    qInfo() << "a probed again" << retryMs << "ms after the verdict was read";
    // 10 s after the verdict, less what passed before the test read it (a batch of requests at
    // most, well under 3 s even under a sanitizer).
    QVERIFY2(retryMs >= 7000, qPrintable(QStringLiteral("a probed again %1 ms after the verdict").arg(retryMs)));
    // The answer counts: no second verdict while a answers.
    QVERIFY2(answeredBy(c.port(), 100, "a", &why) >= 0, qPrintable(why));
    QCOMPARE(c.agentLog().count("more probes timed out than were answered"), 1);
    QCOMPARE(c.stopAgent(), 0);
}

// Found measuring A3-2x-130 (asyncio replicas past capacity, where every probe waits behind the
// queue): when the verdict's 10 s were up, an endpoint that still hung started from a fresh
// count and took kProbeTimeoutsForHungVerdict (8 then) more probes before the next verdict, each a
// request's worth to a replica that had none to spare. Now the retry is on probation: its first
// timeout renews the verdict, and says so in a line of its own (logged at the 1st, 2nd, 4th ...
// renewal, not every 10 s).
void TestAttackProbe::stillHungAfterRetryCostsOneProbe()
{
    HungProbePool p;
    auto& [a, b, c] = p;
    QString why;
    QVERIFY2(runUntilHungVerdict(c, a, b, &why), qPrintable(why));
    QElapsedTimer sinceVerdict;
    sinceVerdict.start();
    const int pingsAtVerdict = a.count("/ping");
    const qsizetype mark = c.agent().logMark();
    while (!c.agent().waitForLog(": its probe path still hangs (the probe after 10 s timed out too; renewal 1,", mark, 10)) {
        QVERIFY2(sinceVerdict.elapsed() < 40000,
                 qPrintable(QStringLiteral("no second verdict 40 s after the first; %1 probes to a since; log:\n%2")
                                .arg(a.count("/ping") - pingsAtVerdict)
                                .arg(QString::fromUtf8(c.agentLog()))));
        QVERIFY2(answeredBy(c.port(), 20, "a", &why) >= 0, qPrintable(why));
    }
    const int retryProbes = a.count("/ping") - pingsAtVerdict;
    qInfo() << "second verdict" << sinceVerdict.elapsed() << "ms after the first was read, after" << retryProbes
            << "probe(s) to a";
    QVERIFY2(sinceVerdict.elapsed() >= 7000, qPrintable(QString::number(sinceVerdict.elapsed())));
    // The retry's one probe (before probation: 8).
    QVERIFY2(retryProbes <= 1, qPrintable(QStringLiteral("%1 probes to a before the verdict was renewed").arg(retryProbes)));
    QCOMPARE(c.agentLog().count("more probes timed out than were answered"), 1);
    QCOMPARE(c.stopAgent(), 0);
}

QTEST_GUILESS_MAIN(TestAttackProbe)
#include "tst_attack_probe.moc"
