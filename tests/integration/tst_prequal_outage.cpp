// Prequal must never turn load into an outage (issue 7): each failure the issue lists, rebuilt
// with dlb-replica --probes-queue (a probe queues for a service slot and costs a request, like
// the issue's asyncio replicas) or the README's own setup. Every test asserts no 503 while a
// replica accepts connections, and the busy ones log what probing cost (probes per request, from
// the agent's exit lines and the replicas').

#include "harness.hpp"
#include "prequal_load.hpp"

#include <QRegularExpression>
#include <QtTest>

#include <csignal>

using namespace dlb::test;

namespace {

// The issue's pool: 8 slots, 2 ms of fixed service, probes served like requests.
QStringList costlyProbes()
{
    return fixedService(8, 2) + QStringList{QStringLiteral("--probes-queue")};
}

// Prequal with every default, probe.timeout_ms 50 included (the issue's setup).
void useDefaultPrequal(QJsonObject& cfg, int workers)
{
    setJson(cfg, {QStringLiteral("pools"), QStringLiteral("0"), QStringLiteral("algorithm")},
            QJsonObject{{QStringLiteral("name"), QStringLiteral("prequal")}});
    setJson(cfg, {QStringLiteral("workers")}, workers);
}

// The README's pool: probe_rate 3, pool 16, q_rif 0.84, probe timeout 50 ms, health checks
// every 2 s (rise 2, fall 3).
void useReadmePool(QJsonObject& cfg)
{
    const QString pool = QStringLiteral("0");
    setJson(cfg, {QStringLiteral("pools"), pool, QStringLiteral("algorithm")},
            QJsonObject{{QStringLiteral("name"), QStringLiteral("prequal")},
                        {QStringLiteral("probe_rate"), 3},
                        {QStringLiteral("pool_size"), 16},
                        {QStringLiteral("q_rif"), 0.84}});
    setJson(cfg, {QStringLiteral("pools"), pool, QStringLiteral("probe")},
            QJsonObject{{QStringLiteral("path"), QStringLiteral("/ping")}, {QStringLiteral("timeout_ms"), 50}});
    setJson(cfg, {QStringLiteral("pools"), pool, QStringLiteral("health_check")},
            QJsonObject{{QStringLiteral("path"), QStringLiteral("/healthz")},
                        {QStringLiteral("interval_ms"), 2000},
                        {QStringLiteral("timeout_ms"), 1000},
                        {QStringLiteral("rise"), 2},
                        {QStringLiteral("fall"), 3}});
}

int count503(const QList<Outcome>& outcomes)
{
    int n = 0;
    for (const Outcome& o : outcomes)
        n += o.status == 503 ? 1 : 0;
    return n;
}

// Sums the agent's exit lines "N requests, P probes sent (...), L load reports".
struct ProbeCost {
    qint64 requests = 0;
    qint64 probes = 0;
    qint64 reports = 0;
    double perRequest() const { return requests ? double(probes) / double(requests) : 0; }
};
ProbeCost agentProbeCost(const QByteArray& log)
{
    static const QRegularExpression re(QStringLiteral(R"((\d+) requests, (\d+) probes sent \([^)]*\), (\d+) load reports)"));
    ProbeCost cost;
    auto it = re.globalMatch(QString::fromUtf8(log));
    while (it.hasNext()) {
        const auto m = it.next();
        cost.requests += m.captured(1).toLongLong();
        cost.probes += m.captured(2).toLongLong();
        cost.reports += m.captured(3).toLongLong();
    }
    return cost;
}

// Sums the replicas' exit lines "answered R requests and P probes/health checks".
std::pair<qint64, qint64> replicaCounts(Cluster& c, size_t replicas)
{
    static const QRegularExpression re(QStringLiteral(R"(answered (\d+) requests and (\d+) probes)"));
    qint64 requests = 0;
    qint64 probes = 0;
    for (size_t i = 0; i < replicas; ++i) {
        ChildProcess& r = c.replica(i);
        if (r.running())
            r.terminate();
        const auto m = re.match(QString::fromUtf8(r.log()));
        if (m.hasMatch()) {
            requests += m.captured(1).toLongLong();
            probes += m.captured(2).toLongLong();
        }
    }
    return {requests, probes};
}

} // namespace

class TestPrequalOutage : public QObject {
    Q_OBJECT

private slots:
    void init();
    void cleanup();

    void idleProbesReachReplicas();
    void busyPoolWithCostlyProbes_data();
    void busyPoolWithCostlyProbes();
    void replicaKilledAndRestartedUnderLoad();
    void readmeExampleAfterIdle();
    void oneOfTwoDownAfterIdle();
    void burstOfConnectionsAfterIdle();
    void failingHealthChecksDoNotEmptyThePool_data();
    void failingHealthChecksDoNotEmptyThePool();
    void loadReportsAreReadAndStripped();

private:
    // Stops the agent and the replicas, logs what probing cost, and returns the requests and
    // probes (health checks included) the replicas say they answered.
    std::pair<qint64, qint64> stopAndReport(size_t replicas);
    std::unique_ptr<Cluster> c_;
};

void TestPrequalOutage::init()
{
    c_ = std::make_unique<Cluster>();
}

void TestPrequalOutage::cleanup()
{
    const int exitCode = c_->agent().running() ? c_->stopAgent() : 0;
    checkAgentExit(*c_, exitCode);
    c_.reset();
}

std::pair<qint64, qint64> TestPrequalOutage::stopAndReport(size_t replicas)
{
    const int exitCode = c_->stopAgent();
    const ProbeCost cost = agentProbeCost(c_->agentLog());
    const auto [served, probes] = replicaCounts(*c_, replicas);
    qInfo().noquote() << QStringLiteral("agent: %1 requests, %2 probes sent (%3 per request), %4 load reports; "
                                        "replicas: %5 requests, %6 probes and health checks answered")
                             .arg(cost.requests)
                             .arg(cost.probes)
                             .arg(cost.perRequest(), 0, 'f', 3)
                             .arg(cost.reports)
                             .arg(served)
                             .arg(probes);
    if (exitCode != 0)
        qWarning().noquote() << "agent exit code" << exitCode;
    return {served, probes};
}

// Idle probing runs: with idle_probe_rate 10/s and no request at all, probes reach the
// replicas. Before issue 7 each idle probe was timed out in the tick that sent it (an unsigned
// wrap), never written, and three in a row benched the replica.
void TestPrequalOutage::idleProbesReachReplicas()
{
    StubBackend& s1 = c_->addStub("s1");
    StubBackend& s2 = c_->addStub("s2");
    for (StubBackend* s : {&s1, &s2})
        s->answerPath("/ping", 200, R"({"rif":0,"latency_ms":1})");
    QJsonObject cfg = c_->config({s1.port(), s2.port()});
    useDefaultPrequal(cfg, 1);
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));
    auto pings = [&] { return int(s1.requests().size() + s2.requests().size()); };
    // 10/s: ten probes take about a second.
    QTRY_VERIFY2_WITH_TIMEOUT(pings() >= 10, qPrintable(QStringLiteral("%1 probes arrived").arg(pings())), kWaitMs);
}

void TestPrequalOutage::busyPoolWithCostlyProbes_data()
{
    QTest::addColumn<bool>("loadHeader");
    QTest::addColumn<int>("pingDelayMs");
    QTest::newRow("with X-Load") << true << 0;
    QTest::newRow("probes only") << false << 0;
    // The issue's replicas answered probes later than probe.timeout_ms (50) when busy; dlb-
    // replica's FIFO is too quick for that at this load, so here every probe holds its slot
    // 60 ms more: every probe answers late, the mechanism that benched the issue's replicas.
    QTest::newRow("every probe later than the timeout") << false << 60;
}

// The issue's first failure: 3 replicas x 8 slots x 2 ms whose probes cost a request, an agent
// with 2 workers, 16 closed-loop connections without a rate limit. Before: 25-35% answered 503
// (probe timeouts benched busy replicas until none was left). Now: every request answered 200.
void TestPrequalOutage::busyPoolWithCostlyProbes()
{
    QFETCH(bool, loadHeader);
    QFETCH(int, pingDelayMs);
    QList<quint16> ports;
    for (const char* name : {"r1", "r2", "r3"}) {
        QStringList extra = costlyProbes();
        if (!loadHeader)
            extra += QStringLiteral("--no-load-header");
        extra += {QStringLiteral("--ping-delay-ms"), QString::number(pingDelayMs)};
        ports.append(c_->startReplica(QString::fromLatin1(name), extra));
        QVERIFY2(ports.back(), qPrintable(c_->error()));
    }
    QJsonObject cfg = c_->config(ports);
    useDefaultPrequal(cfg, 2);
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));

    constexpr int kRequests = 6000;
    Load load(c_->port(), 16, kRequests);
    QVERIFY2(load.wait(60000), "the load did not finish");
    const QList<Outcome> outcomes = load.outcomes();
    QVERIFY2(load.failures().isEmpty(), qPrintable(load.failures().join(QLatin1Char('\n'))));
    const QStringList bad = non200(outcomes);
    QVERIFY2(bad.isEmpty(), qPrintable(QStringLiteral("%1 of %2 not 200, first: %3")
                                           .arg(bad.size())
                                           .arg(outcomes.size())
                                           .arg(bad.mid(0, 5).join(QLatin1Char('\n')))));
    QCOMPARE(outcomes.size(), kRequests);
    const QMap<QByteArray, int> counts = shares(outcomes);
    qInfo().noquote() << kRequests << "requests in" << load.elapsedMs() << "ms:" << describe(counts);
    QCOMPARE(counts.size(), 3);
    const auto [served, probes] = stopAndReport(3);
    QCOMPARE(served, qint64{kRequests});
    // What the replicas paid, counted by them: the paper's r_probe (3) is the ceiling, and
    // skipping probes that a fresh answer makes useless keeps the real rate far below it.
    const double perRequest = double(probes) / double(served);
    QVERIFY2(perRequest < 1.0, qPrintable(QStringLiteral("%1 probes per request").arg(perRequest)));
}

// The issue's second failure: one replica killed and restarted under load. Before: ~28% 503.
// Now: no 503 (these are GETs, retried after a reset), no connection lost, and the restarted
// replica takes traffic again.
void TestPrequalOutage::replicaKilledAndRestartedUnderLoad()
{
    QList<quint16> ports;
    for (const char* name : {"r1", "r2", "victim"}) {
        ports.append(c_->startReplica(QString::fromLatin1(name), costlyProbes()));
        QVERIFY2(ports.back(), qPrintable(c_->error()));
    }
    QJsonObject cfg = c_->config(ports);
    useDefaultPrequal(cfg, 2);
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));

    Load load(c_->port(), 16, -1);
    QTRY_VERIFY_WITH_TIMEOUT(shares(load.outcomes()).value("victim") >= 50, kWaitMs);
    // Twice: killed, load on two replicas, restarted on its port, taking traffic again.
    size_t victim = 2;
    for (int round = 0; round < 2; ++round) {
        c_->replica(victim).signal(SIGKILL);
        QCOMPARE(c_->replica(victim).waitForExit(), -1);
        const int atKill = load.completed();
        QTRY_VERIFY_WITH_TIMEOUT(load.completed() >= atKill + 1000, kWaitMs);
        const qint64 restartedAt = load.elapsedMs();
        QStringList args = costlyProbes();
        args += {QStringLiteral("--listen"), QStringLiteral("127.0.0.1:%1").arg(ports[2])};
        QCOMPARE(c_->startReplica(QStringLiteral("victim"), args), ports[2]);
        victim = 3 + size_t(round);
        auto victimSinceRestart = [&] {
            int n = 0;
            for (const Outcome& o : load.outcomes())
                n += o.atMs >= restartedAt && o.replica == "victim" ? 1 : 0;
            return n;
        };
        QTRY_VERIFY_WITH_TIMEOUT(victimSinceRestart() >= 50, 10000);
    }
    load.stop();
    QVERIFY2(load.wait(kWaitMs), "the load did not stop");

    const QList<Outcome> outcomes = load.outcomes();
    QVERIFY2(load.failures().isEmpty(), qPrintable(load.failures().join(QLatin1Char('\n'))));
    const QStringList bad = non200(outcomes);
    qInfo().noquote() << outcomes.size() << "requests:" << describe(shares(outcomes)) << "; not 200:" << bad.size();
    QCOMPARE(count503(outcomes), 0);
    QVERIFY2(bad.isEmpty(), qPrintable(bad.mid(0, 5).join(QLatin1Char('\n'))));
    stopAndReport(5);
}

// The README's example as a new user tries it: two dlb-replica --service-ms 5, one worker. The
// issue: after 8 s idle the first 10 of 40 requests answered 503. The mechanism was idle probes
// timing out in the tick that sent them; three in a row bench a replica for a second, and at
// 10 probes/s over two replicas that happens within about 0.6 s and then over and over: two
// seconds of idle show it as surely as eight. Three rounds, since each round found both
// replicas benched at once only about half of the time.
void TestPrequalOutage::readmeExampleAfterIdle()
{
    QList<quint16> ports;
    for (const char* name : {"r1", "r2"}) {
        ports.append(c_->startReplica(QString::fromLatin1(name),
                                      {QStringLiteral("--service-ms"), QStringLiteral("5")}));
        QVERIFY2(ports.back(), qPrintable(c_->error()));
    }
    QJsonObject cfg = c_->config(ports);
    useReadmePool(cfg);
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));
    {
        Load warm(c_->port(), 1, 40);
        QVERIFY2(warm.wait(kWaitMs), "warm-up did not finish");
        QVERIFY(non200(warm.outcomes()).isEmpty());
    }
    for (int round = 0; round < 3; ++round) {
        QTest::qWait(1500); // idle: nothing to wait for, the idle time is the test
        Load load(c_->port(), 1, 40);
        QVERIFY2(load.wait(kWaitMs), "the load did not finish");
        const QStringList bad = non200(load.outcomes());
        QVERIFY2(bad.isEmpty(), qPrintable(QStringLiteral("round %1: %2").arg(round).arg(bad.join(QLatin1Char('\n')))));
        QCOMPARE(load.outcomes().size(), 40);
    }
    stopAndReport(2);
}

// The README example with one of the two replicas down (its port refuses). The issue: 30-75%
// of requests answered 503 for at least 30 s, "attempts: 0" (the live replica benched by the
// idle-probe timeouts). Now every request reaches the live replica.
void TestPrequalOutage::oneOfTwoDownAfterIdle()
{
    const quint16 live = c_->startReplica(QStringLiteral("live"), {QStringLiteral("--service-ms"), QStringLiteral("5")});
    QVERIFY2(live, qPrintable(c_->error()));
    QJsonObject cfg = c_->config({live, refusedPort()});
    useReadmePool(cfg);
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));
    QTest::qWait(2000); // idle, as above
    // Then a user's pace: 40 requests 50 ms apart, so idle probing keeps running between them.
    QList<Outcome> outcomes;
    HttpClient client;
    QVERIFY2(client.connectTo(c_->port()), qPrintable(client.error()));
    for (int i = 0; i < 40; ++i) {
        QVERIFY2(client.send(getRequest("/paced")), qPrintable(client.error()));
        const auto r = client.read();
        QVERIFY2(r, qPrintable(client.error()));
        outcomes.append({i, r->status, r->header("X-Replica"), {}});
        QTest::qWait(50); // the pace is the scenario, not a wait for an event
    }
    const QStringList bad = non200(outcomes);
    QVERIFY2(bad.isEmpty(), qPrintable(QStringLiteral("%1 of %2 not 200: %3")
                                           .arg(bad.size())
                                           .arg(outcomes.size())
                                           .arg(bad.mid(0, 5).join(QLatin1Char('\n')))));
    QCOMPARE(shares(outcomes).value("live"), 40);
    stopAndReport(1);
}

// The seed's table 5, scaled: replicas that wait 500-2000 ms became 4 that wait 50-200 ms (with
// slots for everyone: they wait, they do not queue), and `ab -c 1000` after idle became 1,000
// connections arriving at once after 2 s of idle, one request each. Before: 2 of 5 runs
// answered hundreds of 503. Now: every request answered 200.
void TestPrequalOutage::burstOfConnectionsAfterIdle()
{
    QList<quint16> ports;
    for (const char* name : {"r1", "r2", "r3", "r4"}) {
        ports.append(c_->startReplica(QString::fromLatin1(name),
                                      {QStringLiteral("--workers"), QStringLiteral("1000"), QStringLiteral("--dist"),
                                       QStringLiteral("uniform:50:200")}));
        QVERIFY2(ports.back(), qPrintable(c_->error()));
    }
    QJsonObject cfg = c_->config(ports);
    useDefaultPrequal(cfg, 2);
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));
    QTest::qWait(2000); // idle before the burst
    constexpr int kConnections = 1000;
    Load load(c_->port(), kConnections, kConnections);
    QVERIFY2(load.wait(60000), "the burst did not finish");
    const QList<Outcome> outcomes = load.outcomes();
    QVERIFY2(load.failures().isEmpty(), qPrintable(load.failures().mid(0, 5).join(QLatin1Char('\n'))));
    const QStringList bad = non200(outcomes);
    QVERIFY2(bad.isEmpty(), qPrintable(QStringLiteral("%1 of %2 not 200: %3")
                                           .arg(bad.size())
                                           .arg(outcomes.size())
                                           .arg(bad.mid(0, 5).join(QLatin1Char('\n')))));
    QCOMPARE(outcomes.size(), kConnections);
    qInfo().noquote() << "burst of" << kConnections << "in" << load.elapsedMs() << "ms:" << describe(shares(outcomes));
    stopAndReport(4);
}

void TestPrequalOutage::failingHealthChecksDoNotEmptyThePool_data()
{
    QTest::addColumn<int>("panicThreshold");
    QTest::addColumn<bool>("served");
    QTest::newRow("default threshold (50)") << 50 << true;
    QTest::newRow("threshold 0: the verdicts rule") << 0 << false;
}

// Health checks that fail on every replica while the replicas serve requests fine (a check that
// queues behind requests on a busy replica and times out): below health_check.panic_threshold
// the pool sets the verdicts aside and keeps serving. With the threshold at 0 the same setup
// answers 503, which shows the verdicts did take effect.
void TestPrequalOutage::failingHealthChecksDoNotEmptyThePool()
{
    QFETCH(int, panicThreshold);
    QFETCH(bool, served);
    StubBackend& s1 = c_->addStub("s1");
    StubBackend& s2 = c_->addStub("s2");
    for (StubBackend* s : {&s1, &s2}) {
        s->answerPath("/healthz", 500, "checks fail\n");
        s->answerPath("/ping", 200, R"({"rif":0,"latency_ms":1})");
    }
    QJsonObject cfg = c_->config({s1.port(), s2.port()});
    useDefaultPrequal(cfg, 1);
    setJson(cfg, {QStringLiteral("pools"), QStringLiteral("0"), QStringLiteral("health_check")},
            QJsonObject{{QStringLiteral("path"), QStringLiteral("/healthz")},
                        {QStringLiteral("interval_ms"), 100},
                        {QStringLiteral("timeout_ms"), 50},
                        {QStringLiteral("rise"), 1},
                        {QStringLiteral("fall"), 1},
                        {QStringLiteral("panic_threshold"), panicThreshold}});
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));
    // Both replicas have failed a check once the agent logs it.
    QVERIFY2(c_->agent().waitForLog("replica 127.0.0.1:" + QByteArray::number(s1.port()) + " of pool web is down"),
             c_->agentLog().constData());
    QVERIFY2(c_->agent().waitForLog("replica 127.0.0.1:" + QByteArray::number(s2.port()) + " of pool web is down"),
             c_->agentLog().constData());
    HttpClient client;
    QVERIFY2(client.connectTo(c_->port()), qPrintable(client.error()));
    // The workers read the verdicts on their 10 ms tick: give them a few.
    QTRY_VERIFY_WITH_TIMEOUT(([&] {
                                 client.send(getRequest("/probe-state"));
                                 const auto r = client.read();
                                 return r && r->status == (served ? 200 : 503);
                             }()),
                             kWaitMs);
    int wrong = 0;
    for (int i = 0; i < 50; ++i) {
        QVERIFY2(client.send(getRequest("/x")), qPrintable(client.error()));
        const auto r = client.read();
        QVERIFY2(r, qPrintable(client.error()));
        wrong += r->status == (served ? 200 : 503) ? 0 : 1;
    }
    QCOMPARE(wrong, 0);
    if (served)
        QVERIFY(c_->agent().waitForLog("below health_check.panic_threshold"));
}

// X-Load on dlb-replica's answers enters the pool as a free probe (the agent's count of load
// reports matches the requests), and no client ever sees the header.
void TestPrequalOutage::loadReportsAreReadAndStripped()
{
    QList<quint16> ports;
    for (const char* name : {"r1", "r2"}) {
        ports.append(c_->startReplica(QString::fromLatin1(name), fixedService(8, 1)));
        QVERIFY2(ports.back(), qPrintable(c_->error()));
    }
    {
        HttpClient direct; // the replica does send it
        QVERIFY2(direct.connectTo(ports[0]), qPrintable(direct.error()));
        QVERIFY(direct.send(getRequest("/direct")));
        const auto r = direct.read();
        QVERIFY2(r && r->hasHeader("X-Load"), "dlb-replica sent no X-Load");
    }
    QJsonObject cfg = c_->config(ports);
    useDefaultPrequal(cfg, 1);
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));
    HttpClient client;
    QVERIFY2(client.connectTo(c_->port()), qPrintable(client.error()));
    constexpr int kRequests = 100;
    for (int i = 0; i < kRequests; ++i) {
        QVERIFY2(client.send(getRequest("/via-agent")), qPrintable(client.error()));
        const auto r = client.read();
        QVERIFY2(r, qPrintable(client.error()));
        QCOMPARE(r->status, 200);
        QVERIFY2(!r->hasHeader("X-Load"), "the agent passed X-Load on to the client");
    }
    QCOMPARE(c_->stopAgent(), 0);
    const ProbeCost cost = agentProbeCost(c_->agentLog());
    QCOMPARE(cost.requests, qint64{kRequests});
    QCOMPARE(cost.reports, qint64{kRequests});
    qInfo().noquote() << QStringLiteral("%1 requests, %2 probes sent (%3 per request), %4 load reports")
                             .arg(cost.requests)
                             .arg(cost.probes)
                             .arg(cost.perRequest(), 0, 'f', 3)
                             .arg(cost.reports);
}

QTEST_GUILESS_MAIN(TestPrequalOutage)
#include "tst_prequal_outage.moc"
