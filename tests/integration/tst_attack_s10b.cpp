// An adversarial review of session 10's "a request whose client leaves is no latency sample"
// (PoolRuntime::completed(..., kNoLatencySample)): clients that leave at every point of an
// exchange. Whatever the client does, the replica's in_flight (GET /v1/pools) must come back to
// 0 and its requests must all be completed exactly once.

#include "control_fixture.hpp"
#include "harness.hpp"
#include "scripted_replica.hpp"

#include <QDeadlineTimer>
#include <QFile>
#include <QtTest>

#include <csignal>

using namespace dlb::test;

namespace {

// 4 MiB: well over the agent's high-water mark, so a client that does not read stops the
// replica's side (the slow reader).
constexpr int kBigBody = 4 << 20;

// /half: a head that promises 100 bytes and 10 of them, then nothing (the answer is under way
// when the client leaves). /big: 4 MiB. Anything else: a short 200.
Answer script(const QByteArray& path)
{
    if (path == "/half")
        return Answer{"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789", false};
    if (path == "/big")
        return ok(QByteArray(kBigBody, 'x'));
    return ok("fine");
}

// A replica named `name` that answers every path with 200 and X-Replica: `name`, and never
// answers /ping (a hung probe endpoint).
ScriptedReplica::Script hungOnPing(const QByteArray& name)
{
    return [name](const QByteArray& path) {
        if (path == "/ping")
            return Answer{};
        return ok(name, "X-Replica: " + name + "\r\n");
    };
}

// Prequal probing /ping with a 50 ms timeout, on `workers` workers.
void prequalOnPing(QJsonObject& cfg, int workers)
{
    const QString pool = QStringLiteral("0");
    setJson(cfg, {QStringLiteral("workers")}, workers);
    setJson(cfg, {QStringLiteral("pools"), pool, QStringLiteral("algorithm")},
            QJsonObject{{QStringLiteral("name"), QStringLiteral("prequal")}});
    setJson(cfg, {QStringLiteral("pools"), pool, QStringLiteral("probe")},
            QJsonObject{{QStringLiteral("path"), QStringLiteral("/ping")}, {QStringLiteral("timeout_ms"), 50}});
}

// `n` GETs of /work, each on a new connection (so both workers take some); the answers that
// were not 200, described.
QStringList notAnswered(quint16 port, int n)
{
    QStringList out;
    for (int i = 0; i < n; ++i) {
        QString why;
        const auto r = fetch(port, getRequest("/work"), false, &why);
        if (!r || r->status != 200)
            out << (r ? QStringLiteral("%1 %2").arg(r->status).arg(QString::fromUtf8(r->body).trimmed()) : why);
    }
    return out;
}

} // namespace

class TestAttackS10b : public QObject {
    Q_OBJECT

private slots:
    void init();
    void cleanup();
    void clientLeavesAtEveryPointLeavesNothingInFlight();
    void everyProbeEndpointHungStillAnswers();
    void signalBurstDuringRefusedReloadStops();
    void clientResetDuringRetryLeavesNothingInFlight();

private:
    std::unique_ptr<Cluster> c_;
};

void TestAttackS10b::init()
{
    c_ = std::make_unique<Cluster>();
}

void TestAttackS10b::cleanup()
{
    const int exitCode = c_->stopAgent();
    checkAgentExit(*c_, exitCode);
}

void TestAttackS10b::clientLeavesAtEveryPointLeavesNothingInFlight()
{
    ScriptedReplica replica(&script);
    QVERIFY2(c_->startAgent(controlConfig(*c_, {replica.port()})), qPrintable(c_->error()));
    const QString id = QStringLiteral("127.0.0.1:%1").arg(replica.port());
    const auto field = [&](const char* name) { return webReplicas(*c_).value(id).value(QLatin1String(name)).toInteger(-1); };
    int sent = 0;

    // 1. The answer's head arrived, its body never ends: the client leaves mid-answer.
    {
        HttpClient c;
        QVERIFY2(c.connectTo(c_->port()), qPrintable(c.error()));
        QVERIFY(c.send(getRequest("/half")));
        ++sent;
        QTRY_VERIFY_WITH_TIMEOUT(c.socket().bytesAvailable() > 0 || c.socket().waitForReadyRead(50), kWaitMs);
        c.socket().abort();
    }
    QTRY_COMPARE_WITH_TIMEOUT(field("in_flight"), 0, kWaitMs);

    // 2. Three pipelined requests; the client closes after the first answer.
    {
        HttpClient c;
        QVERIFY2(c.connectTo(c_->port()), qPrintable(c.error()));
        QVERIFY(c.send(getRequest("/p1") + getRequest("/p2") + getRequest("/half")));
        const auto r = c.read();
        QVERIFY2(r && r->status == 200, qPrintable(c.error()));
        c.socket().abort();
    }
    QTRY_COMPARE_WITH_TIMEOUT(field("in_flight"), 0, kWaitMs);

    // 3. A slow reader: the answer is larger than the agent buffers; the client never reads
    // and leaves with most of it unsent.
    {
        HttpClient c;
        QVERIFY2(c.connectTo(c_->port()), qPrintable(c.error()));
        c.socket().setReadBufferSize(1);
        QVERIFY(c.send(getRequest("/big")));
        ++sent;
        QTRY_VERIFY_WITH_TIMEOUT(replica.count("/big") == 1, kWaitMs);
        c.socket().abort();
    }
    QTRY_COMPARE_WITH_TIMEOUT(field("in_flight"), 0, kWaitMs);

    // Every request the replica was sent is completed once: none twice, none never.
    const qint64 requests = field("requests");
    QVERIFY2(requests >= sent, qPrintable(QString::number(requests)));
    const auto answered = fetch(c_->port(), getRequest("/after"));
    QVERIFY(answered);
    QCOMPARE(answered->status, 200);
    QTRY_COMPARE_WITH_TIMEOUT(field("in_flight"), 0, kWaitMs);
    const qint64 after = field("requests");
    QCOMPARE(after, requests + 1);

    // in_flight is requests less completed, floored at 0: a completion counted twice would
    // hide the next request in flight. One held request must show as exactly 1.
    const int halves = replica.count("/half");
    HttpClient held;
    QVERIFY2(held.connectTo(c_->port()), qPrintable(held.error()));
    QVERIFY(held.send(getRequest("/half")));
    QTRY_COMPARE_WITH_TIMEOUT(replica.count("/half"), halves + 1, kWaitMs);
    QTRY_COMPARE_WITH_TIMEOUT(field("in_flight"), 1, kWaitMs);
    held.socket().abort();
    QTRY_COMPARE_WITH_TIMEOUT(field("in_flight"), 0, kWaitMs);
}

// Every replica's probe endpoint hangs, on two workers: each gets its hung verdict (the log
// says so) and every request is still answered 200 by a replica. Then a reload removes one
// replica while its verdict holds: still every request is answered, by the other.
void TestAttackS10b::everyProbeEndpointHungStillAnswers()
{
    ScriptedReplica a(hungOnPing("a"));
    ScriptedReplica b(hungOnPing("b"));
    QJsonObject cfg = c_->config({a.port(), b.port()});
    prequalOnPing(cfg, 2);
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));

    QStringList failures;
    QDeadlineTimer deadline(20000);
    const QByteArray verdict = "more probes timed out than were answered";
    const auto verdicts = [&] {
        // Reads what the agent wrote since (QProcess reads its pipe only while waiting).
        c_->agent().waitForLog(verdict, c_->agent().logMark(), 10);
        return c_->agentLog().count(verdict);
    };
    while (verdicts() < 4) { // two replicas on each of two workers
        QVERIFY2(!deadline.hasExpired(),
                 qPrintable(QStringLiteral("%1 verdicts; log:\n%2").arg(verdicts()).arg(QString::fromUtf8(c_->agentLog()))));
        failures << notAnswered(c_->port(), 20);
    }
    failures << notAnswered(c_->port(), 200);
    QVERIFY2(failures.isEmpty(), qPrintable(failures.join(u'\n')));

    // b leaves by a reload while the verdicts hold (10 s).
    QVERIFY(c_->writeConfig([&] {
        QJsonObject next = c_->config({a.port()});
        prequalOnPing(next, 2);
        return next;
    }()));
    const qsizetype mark = c_->agent().logMark();
    c_->agent().signal(SIGHUP);
    QVERIFY(c_->agent().waitForLog("config reloaded", mark));
    const int bBefore = b.count("/work");
    failures << notAnswered(c_->port(), 200);
    QVERIFY2(failures.isEmpty(), qPrintable(failures.join(u'\n')));
    QCOMPARE(b.count("/work"), bBefore);
}

// A refused reload (the file is broken) with a burst of signals behind it: SIGHUPs and a
// SIGINT sent together, in the kernel at once (a signalfd reads them lowest number first, and
// a second SIGHUP pending merges with the first). The reload is refused, the SIGINT still
// stops the agent, cleanly.
void TestAttackS10b::signalBurstDuringRefusedReloadStops()
{
    ScriptedReplica replica(&script);
    QVERIFY2(c_->startAgent(c_->config({replica.port()})), qPrintable(c_->error()));
    QFile f(c_->configPath());
    QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
    f.write("{\"workers\": 1, \"listeners\": [");
    f.close();
    const qsizetype mark = c_->agent().logMark();
    for (const int sig : {SIGHUP, SIGINT, SIGHUP, SIGHUP})
        c_->agent().signal(sig);
    QVERIFY2(c_->agent().waitForLog("reload rejected", mark), c_->agentLog().constData());
    QCOMPARE(c_->agent().waitForExit(), 0);
    QVERIFY2(c_->agentLog().indexOf("stopped", mark) >= 0, c_->agentLog().constData());
}

// A GET whose first replica (a) closes without an answer is retried on b, which sends a head
// and part of a body; the client resets then. Neither replica keeps a request in flight.
void TestAttackS10b::clientResetDuringRetryLeavesNothingInFlight()
{
    ScriptedReplica a([](const QByteArray&) { return Answer{{}, true}; });
    ScriptedReplica b(&script);
    QVERIFY2(c_->startAgent(controlConfig(*c_, {a.port(), b.port()})), qPrintable(c_->error()));
    const auto inFlight = [&](quint16 port) {
        return webReplicas(*c_).value(QStringLiteral("127.0.0.1:%1").arg(port)).value("in_flight").toInteger(-1);
    };
    // Round robin: one of two requests starts on a, and is retried on b.
    for (int i = 0; i < 2; ++i) {
        const int before = b.count("/half");
        HttpClient c;
        QVERIFY2(c.connectTo(c_->port()), qPrintable(c.error()));
        QVERIFY(c.send(getRequest("/half")));
        QTRY_COMPARE_WITH_TIMEOUT(b.count("/half"), before + 1, kWaitMs);
        QTRY_VERIFY_WITH_TIMEOUT(c.socket().bytesAvailable() > 0 || c.socket().waitForReadyRead(50), kWaitMs);
        c.socket().abort();
        QTRY_COMPARE_WITH_TIMEOUT(inFlight(a.port()), 0, kWaitMs);
        QTRY_COMPARE_WITH_TIMEOUT(inFlight(b.port()), 0, kWaitMs);
    }
    QVERIFY2(a.count("/half") >= 1, "no request was retried");
    // And one held on b shows as exactly 1 (no completion counted twice before).
    const int before = b.count("/half");
    HttpClient held;
    QVERIFY2(held.connectTo(c_->port()), qPrintable(held.error()));
    QVERIFY(held.send(getRequest("/half")));
    QTRY_COMPARE_WITH_TIMEOUT(b.count("/half"), before + 1, kWaitMs);
    QTRY_COMPARE_WITH_TIMEOUT(inFlight(b.port()), 1, kWaitMs);
    held.socket().abort();
    QTRY_COMPARE_WITH_TIMEOUT(inFlight(b.port()), 0, kWaitMs);
}

QTEST_GUILESS_MAIN(TestAttackS10b)
#include "tst_attack_s10b.moc"
