// An adversarial review of a6a38b7 (Prequal::onComplete: a request that has ended takes its RIF
// increment back from its replica's probe-pool entry) and c4bdf47 (Prober: a probe endpoint is
// judged hung after kProbeTimeoutsForHungVerdict = 3 timeouts more than answers, not 8), against
// a real dlb-agent. Each test says whether it is a guard (what must hold, and held) or a
// finding (fails on the code it was written against), and what it observed.

#include "control_fixture.hpp"
#include "harness.hpp"
#include "hung_probe_fixture.hpp"
#include "prequal_load.hpp"
#include "scripted_replica.hpp"

#include <QElapsedTimer>
#include <QSemaphore>
#include <QtTest>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <functional>
#include <memory>

using namespace dlb::test;

namespace {

const QString kPool = QStringLiteral("0");
constexpr int kVerdictWaitMs = 20000;


const Answer& probeAnswer()
{
    static const Answer a = ok(R"({"rif": 0, "latency_ms": 1})");
    return a;
}

// A replica whose probes answer at once (RIF 0, 1 ms) and whose requests name it (X-Replica).
ScriptedReplica::Script answeringProbes(const QByteArray& name)
{
    return [name](const QByteArray& path) {
        if (path == "/ping")
            return probeAnswer();
        return ok(name, "X-Replica: " + name + "\r\n");
    };
}

// Closed-loop keep-alive load on `connections` threads, each request timed: how many answers
// each replica gave, and how many took longer than `slowMs`.
struct TimedLoad {
    struct Result {
        int status = 0;
        QByteArray replica;
        qint64 ms = 0;
    };
    TimedLoad(quint16 port, int connections, int perConnection)
    {
        for (int i = 0; i < connections; ++i)
            threads.emplace_back(QThread::create([this, port, perConnection] {
                HttpClient client;
                if (!client.connectTo(port)) {
                    record({0, {}, 0});
                    return;
                }
                for (int k = 0; k < perConnection; ++k) {
                    QElapsedTimer t;
                    t.start();
                    std::optional<Response> r;
                    if (client.send(getRequest("/work")))
                        r = client.read();
                    if (!r) {
                        record({0, {}, t.elapsed()});
                        return;
                    }
                    record({r->status, r->header("X-Replica"), t.elapsed()});
                }
            }));
        for (auto& t : threads)
            t->start();
    }
    ~TimedLoad()
    {
        for (auto& t : threads)
            t->wait();
    }
    bool wait(int timeoutMs)
    {
        QDeadlineTimer deadline(timeoutMs);
        for (auto& t : threads)
            if (!t->wait(deadline))
                return false;
        return true;
    }
    void record(Result r)
    {
        QMutexLocker lock(&mutex);
        results.append(std::move(r));
    }

    std::vector<std::unique_ptr<QThread>> threads;
    QMutex mutex;
    QList<Result> results;
};

} // namespace

class TestAttackS13 : public QObject {
    Q_OBJECT

private slots:
    void concurrentRequestsSpreadWithoutQueueing();
    void replicaPausedOnce_data();
    void replicaPausedOnce();
    void probeEndpointAnsweringSomeProbes_data();
    void probeEndpointAnsweringSomeProbes();
    void agentFrozenWhileProbesAreAnswered();
    void everyProbeEndpointHungBeforeTraffic();
    void agentFrozenWithAProbeOutKeepsItsProbeRate();
};

// Guard (a6a38b7, "the increments must still count while requests are in flight"): 12 closed-
// loop connections over 3 replicas of 4 service slots each, 100 ms per request: the pool's
// capacity is exactly the 12 in flight, so a balancer that counts each worker's requests in
// flight spreads them 4/4/4 and none waits for a slot; one that loses the increments of requests
// still in flight (herding) sends a 5th, 6th ... to one replica and they wait 100 ms more. Each
// connection sends 15 requests (180 in all, ~2.5 s). Read: every answer a 200, each replica 40
// to 80 of 180, and at most 25% of the requests slower than 170 ms (queued behind another; a
// loose bound, for gross herding only: see the numbers).
// Observed (requests slower than 170 ms, of 180): on c4bdf47 24, 28, 23, 24, 34, 24, 23, 30, 26,
// 16 (shares 50-67 each);
// the same build with onComplete's take-back removed (86e136f's behaviour) 35, 24, 35;
// least_request 8 and 13; round_robin 0 (12 connections rotate evenly). So no herding, and the
// take-back lowered the queueing; Prequal still queues 2-3x as often as least_request here,
// because an entry never goes below its answered RIF, which is stale by the time it is read.
void TestAttackS13::concurrentRequestsSpreadWithoutQueueing()
{
    Cluster c;
    QList<quint16> ports;
    for (const char* name : {"a", "b", "c"}) {
        const quint16 p = c.startReplica(QString::fromLatin1(name),
                                         fixedService(4, 100) + QStringList{QStringLiteral("--no-load-header")});
        QVERIFY2(p, qPrintable(c.error()));
        ports.append(p);
    }
    QJsonObject cfg = c.config(ports);
    prequalDefaults(cfg);
    QVERIFY2(c.startAgent(cfg), qPrintable(c.error()));
    // Warm: one request to each (the fallback tries replicas never measured first) and the
    // probes those ask for.
    Traffic warm(c.port());
    warm.send(6);
    QVERIFY2(warm.answered == 6, warm.summary().constData());

    TimedLoad load(c.port(), 12, 15);
    QVERIFY(load.wait(30000));
    QMap<QByteArray, int> per;
    int slow = 0;
    int failed = 0;
    QList<qint64> ms;
    for (const auto& r : load.results) {
        if (r.status != 200) {
            ++failed;
            continue;
        }
        ++per[r.replica];
        ms.append(r.ms);
        slow += r.ms > 170 ? 1 : 0;
    }
    std::sort(ms.begin(), ms.end());
    const qint64 p50 = ms.isEmpty() ? -1 : ms.at(ms.size() / 2);
    const qint64 p90 = ms.isEmpty() ? -1 : ms.at(ms.size() * 9 / 10);
    const QString what = QStringLiteral("%1; %2 slower than 170 ms, p50 %3 ms, p90 %4 ms, %5 failed")
                             .arg(describe(per))
                             .arg(slow)
                             .arg(p50)
                             .arg(p90)
                             .arg(failed);
    qInfo().noquote() << what;
    QCOMPARE(failed, 0);
    QCOMPARE(load.results.size(), qsizetype(180));
    for (const char* name : {"a", "b", "c"})
        QVERIFY2(per.value(name) >= 40 && per.value(name) <= 80, qPrintable(what));
    QVERIFY2(slow <= 45, qPrintable(what));
    QCOMPARE(c.stopAgent(), 0);
}

void TestAttackS13::replicaPausedOnce_data()
{
    QTest::addColumn<int>("pauseMs");
    QTest::addColumn<int>("workers");
    QTest::addColumn<bool>("fixedRate"); // probe_cost_budget 0: the paper's fixed probe rate
    QTest::newRow("150 ms, 1 worker") << 150 << 1 << false;
    QTest::newRow("300 ms, 1 worker") << 300 << 1 << false;
    QTest::newRow("300 ms, 2 workers") << 300 << 2 << false;
    QTest::newRow("150 ms, 1 worker, fixed probe rate") << 150 << 1 << true;
    QTest::newRow("300 ms, 2 workers, fixed probe rate") << 300 << 2 << true;
}

// c4bdf47's "false verdicts on healthy probe endpoints under a short stall": replicas a and b,
// alike (8 slots, 20 ms per request, /ping answered from a counter, no load reports), under 6
// closed-loop connections; a stops once for pauseMs (SIGSTOP: a GC pause, a VM steal), then
// serves as before. 3 timeouts of 50 ms more than answers is a verdict; a pause of 150 to 300 ms
// meets it whenever probes flow to a during it. What must hold, verdict or not: no request
// fails, and once a is back its share of the traffic comes back: from 1 s to 6 s after the
// pause a serves at least 25% (the replicas are equal: 41% to 60% in the second before).
// What a verdict means here: for 10 s this worker balances a on its own measurements, whose
// latency (an EWMA of a's response times) holds the pause's samples, against b's probe answers.
// Observed on c4bdf47, 8 runs: 150 ms: no verdict in any row; 300 ms: a verdict in 17 of 23
// rows (1 line, or 2 with 2 workers), i.e. a false verdict on a healthy probe endpoint after one
// 300 ms pause, but a's share from 1 s to 6 s after was 0.39 to 0.55 with or without it (0.32
// once, in a 150 ms row with no verdict): the verdict cost nothing measurable here.
// No request failed in any run (~2,200 answers each).
void TestAttackS13::replicaPausedOnce()
{
    QFETCH(int, pauseMs);
    QFETCH(int, workers);
    QFETCH(bool, fixedRate);
    Cluster c;
    const QStringList opts = fixedService(8, 20) + QStringList{QStringLiteral("--no-load-header")};
    const quint16 a = c.startReplica(QStringLiteral("a"), opts);
    QVERIFY2(a, qPrintable(c.error()));
    const quint16 b = c.startReplica(QStringLiteral("b"), opts);
    QVERIFY2(b, qPrintable(c.error()));
    QJsonObject cfg = c.config({a, b});
    cfg[QStringLiteral("workers")] = workers;
    prequalDefaults(cfg);
    if (fixedRate)
        setJson(cfg, {QStringLiteral("pools"), kPool, QStringLiteral("algorithm"), QStringLiteral("probe_cost_budget")}, 0);
    QVERIFY2(c.startAgent(cfg), qPrintable(c.error()));

    Load load(c.port(), 6, -1, "/work");
    QVERIFY(QTest::qWaitFor([&] { return load.completed() >= 400; }, 15000));
    const qsizetype mark = freshLog(c).size();
    const qint64 pausedAt = load.elapsedMs();
    c.replica(0).signal(SIGSTOP);
    QThread::msleep(static_cast<unsigned long>(pauseMs)); // the pause itself, not a wait for an event
    c.replica(0).signal(SIGCONT);
    const qint64 resumedAt = load.elapsedMs();
    QVERIFY(QTest::qWaitFor([&] { return load.elapsedMs() >= resumedAt + 6000; }, 15000));
    load.stop();
    QVERIFY(load.wait(15000));

    const QList<Outcome> all = load.outcomes();
    QList<Outcome> before, after;
    for (const Outcome& o : all) {
        if (o.atMs >= pausedAt - 1000 && o.atMs < pausedAt)
            before.append(o);
        if (o.atMs >= resumedAt + 1000 && o.atMs < resumedAt + 6000)
            after.append(o);
    }
    const auto shareOfA = [](const QList<Outcome>& os) {
        const auto s = shares(os);
        const int total = s.value("a") + s.value("b");
        return total == 0 ? 0.0 : static_cast<double>(s.value("a")) / total;
    };
    const QByteArray log = freshLog(c).mid(mark);
    const bool verdict = log.contains(verdictOf(a));
    const qsizetype lines = log.count(verdictOf(a)) + log.count(renewalOf(a));
    const QString what = QStringLiteral("pause %1 ms, %2 worker(s): verdict on a %3 (%4 lines); share of a: %5 in "
                                        "the second before the pause (%6), %7 from 1 s to 6 s after it (%8); "
                                        "%9 answers in all")
                             .arg(pauseMs)
                             .arg(workers)
                             .arg(verdict ? QStringLiteral("yes") : QStringLiteral("no"))
                             .arg(lines)
                             .arg(shareOfA(before), 0, 'f', 2)
                             .arg(describe(shares(before)))
                             .arg(shareOfA(after), 0, 'f', 2)
                             .arg(describe(shares(after)))
                             .arg(all.size());
    qInfo().noquote() << what;
    QVERIFY2(load.failures().isEmpty(), qPrintable(load.failures().join('\n')));
    QVERIFY2(non200(all).isEmpty(), qPrintable(non200(all).join('\n')));
    QVERIFY2(lines <= workers, qPrintable(what)); // one verdict per worker at most, no renewal yet
    QVERIFY2(after.size() >= 500, qPrintable(what));
    QVERIFY2(shareOfA(after) >= 0.25, qPrintable(what));
    QCOMPARE(c.stopAgent(), 0);
}

void TestAttackS13::probeEndpointAnsweringSomeProbes_data()
{
    QTest::addColumn<QByteArray>("pattern"); // a's /ping, probe after probe: A answers, T hangs
    QTest::addColumn<bool>("verdictExpected");
    QTest::newRow("1 of 2 (A T)") << QByteArray("AT") << false;
    QTest::newRow("1 of 2 (T A)") << QByteArray("TA") << false;
    QTest::newRow("2 of 3 (A A T)") << QByteArray("AAT") << false;
    QTest::newRow("2 of 3 (T T A A A A): bursts") << QByteArray("TTAAAA") << false;
    QTest::newRow("1 of 3 (A T T): the contrast") << QByteArray("ATT") << true;
}

// Guard (c4bdf47, "endpoints answering 1 of 2 or 2 of 3 in time"): each answer takes one
// timeout back, so an endpoint whose timeouts never run 3 ahead of its answers is never judged,
// however long it is probed (60 probes here, at 200 idle probes a second); "1 of 3" runs one
// ahead per cycle and is judged at its 6th probe (the contrast, showing the count is read). Two
// timeouts in a row then answers (T T A A A A) is as far as a burst may go. Requests all 200.
void TestAttackS13::probeEndpointAnsweringSomeProbes()
{
    QFETCH(QByteArray, pattern);
    QFETCH(bool, verdictExpected);
    auto n = std::make_shared<std::atomic<int>>(0);
    ScriptedReplica a([pattern, n](const QByteArray& path) {
        if (path == "/ping") {
            const int k = n->fetch_add(1);
            return pattern.at(k % pattern.size()) == 'A' ? probeAnswer() : Answer{};
        }
        return ok("a", "X-Replica: a\r\n");
    });
    ScriptedReplica b(answeringProbes("b"));
    Cluster c;
    QJsonObject cfg = c.config({a.port(), b.port()});
    prequalProbingFast(cfg);
    QVERIFY2(c.startAgent(cfg), qPrintable(c.error()));
    if (verdictExpected) {
        QVERIFY2(c.agent().waitForLog(verdictOf(a.port()), 0, kVerdictWaitMs), freshLog(c).constData());
        const int pings = a.count("/ping");
        qInfo() << "verdict after" << pings << "probes to a";
        QVERIFY2(pings <= 2 * kHungVerdictTimeouts + 2, qPrintable(QString::number(pings)));
    } else {
        QVERIFY2(QTest::qWaitFor([&] { return a.count("/ping") >= 60 || freshLog(c).contains(verdictOf(a.port())); },
                                 kVerdictWaitMs),
                 qPrintable(QString::number(a.count("/ping"))));
        const QByteArray log = freshLog(c);
        qInfo() << a.count("/ping") << "probes to a;" << (log.contains(verdictOf(a.port())) ? "verdict" : "no verdict");
        QVERIFY2(!log.contains(verdictOf(a.port())), log.constData());
    }
    Traffic t(c.port());
    t.send(40);
    QVERIFY2(t.answered == 40, t.summary().constData());
    QCOMPARE(c.stopAgent(), 0);
}

// c4bdf47 at the agent's end: the agent, not the replica, stops (SIGSTOP then SIGCONT: a VM's
// steal, a container frozen and thawed, a debugger). Replica a answers every probe in 35 ms (in
// time: probe.timeout_ms is 50), b at once. Six times the agent is stopped for 100 ms and runs
// 20 ms: a's probe, sent on the tick after the thaw, is still out when the next freeze comes,
// its answer arrives 35 ms later into the agent's socket, and on the thaw the worker's tick
// (Worker::onTick -> Prober::tick, run by libuv before the poll that would read the answer:
// epoll_wait returns EINTR after a stop signal) finds it 100 ms old and times it out. Every
// probe a got was answered within 35 ms; a verdict says "a's probe path hangs".
// What must hold: no hung verdict for a (nor for b).
// Finding. Observed on c4bdf47 (4 of 4 runs): the verdict on a, after 2 probes sent during the
// freezes (the one outstanding at the first freeze and those 2: 3 timeouts, each a probe whose
// answer was already in the agent's socket). With kProbeTimeoutsForHungVerdict = 8 (c4bdf47
// rebuilt with 8, 3 of 3 runs): no verdict after these 6 freezes; after 14 freezes the verdict
// came too (2 of 2, after 7 probes + the outstanding one = 8 timeouts). So one freeze longer than
// probe.timeout_ms, with a probe out, is one timeout: the mechanism predates c4bdf47 (Prober::tick
// judges a probe before the loop has read what arrived while it was stopped), and the count of 3
// brings a false verdict from 8 such freezes to 3. Agent threads descheduled mid-iteration (CPU
// quota throttling of a busy agent, steal) get the same ordering: the next iteration's timers
// run before its poll.
void TestAttackS13::agentFrozenWhileProbesAreAnswered()
{
    ScriptedReplica a([](const QByteArray& path) {
        if (path == "/ping") {
            QThread::msleep(35); // a probe path that takes 35 ms, in time
            return probeAnswer();
        }
        return ok("a", "X-Replica: a\r\n");
    });
    ScriptedReplica b(answeringProbes("b"));
    Cluster c;
    QJsonObject cfg = c.config({a.port(), b.port()});
    prequalProbingFast(cfg);
    QVERIFY2(c.startAgent(cfg), qPrintable(c.error()));
    QVERIFY(QTest::qWaitFor([&] { return a.count("/ping") >= 20; }, kVerdictWaitMs));
    QVERIFY2(!freshLog(c).contains("more probes timed out than were answered"), freshLog(c).constData());
    const qsizetype mark = freshLog(c).size();
    const int pingsBefore = a.count("/ping");
    for (int i = 0; i < 6; ++i) {
        c.agent().signal(SIGSTOP);
        QThread::msleep(100); // the freeze itself
        c.agent().signal(SIGCONT);
        QThread::msleep(20); // the agent runs
    }
    const bool verdictA = c.agent().waitForLog(verdictOf(a.port()), mark, 1000);
    const QByteArray log = freshLog(c).mid(mark);
    qInfo() << "probes to a during the freezes:" << a.count("/ping") - pingsBefore << "; verdict on a:" << verdictA
            << "; on b:" << log.contains(verdictOf(b.port()));
    Traffic t(c.port());
    t.send(40);
    QVERIFY2(t.answered == 40, t.summary().constData());
    QVERIFY2(!verdictA, log.constData());
    QVERIFY2(!log.contains(verdictOf(b.port())), log.constData());
    QCOMPARE(c.stopAgent(), 0);
}

// Guard (c4bdf47, "nothing may fail; no 503 while a replica accepts connections"): with 3 the
// verdict comes sooner, so a fresh agent whose replicas all hang their /ping judges every one of
// them before the first request, when it has measured none of them (ownMeasurement() has
// nothing to stand in with: no entry at all). Requests must still go out, to every replica
// (the fallback tries a replica never measured first), and all be answered 200.
// Observed on c4bdf47 (4 runs): all 90 answered 200; spread r0/r1/r2 57/1/32, 25/64/1, 1/48/41,
// 53/36/1: one replica got 1 request of 90 each time (its first latency sample, a new connection,
// the highest; balanced on its own measurements against the others', outside the latency band
// until exploration gives it one request per max_age). Not from these commits (the same with a
// verdict after 8 timeouts, which a fresh agent also reaches before traffic); a side note.
void TestAttackS13::everyProbeEndpointHungBeforeTraffic()
{
    const auto hangingPing = [](const QByteArray& name) {
        return [name](const QByteArray& path) {
            if (path == "/ping")
                return Answer{};
            return ok(name, "X-Replica: " + name + "\r\n");
        };
    };
    ScriptedReplica r0(hangingPing("r0"));
    ScriptedReplica r1(hangingPing("r1"));
    ScriptedReplica r2(hangingPing("r2"));
    Cluster c;
    QJsonObject cfg = c.config({r0.port(), r1.port(), r2.port()});
    prequalProbingFast(cfg);
    QVERIFY2(c.startAgent(cfg), qPrintable(c.error()));
    for (const quint16 p : {r0.port(), r1.port(), r2.port()})
        QVERIFY2(c.agent().waitForLog(verdictOf(p), 0, kVerdictWaitMs), freshLog(c).constData());
    Traffic t(c.port());
    t.send(90);
    qInfo().noquote() << t.summary();
    QVERIFY2(t.answered == 90, t.summary().constData());
    for (const char* name : {"r0", "r1", "r2"})
        QVERIFY2(t.by.value(name) >= 1, t.summary().constData());
    QCOMPARE(c.stopAgent(), 0);
}

// Finding (session 14, what e53eb23 left alone): a probe whose answer came while this worker was
// stopped had the stop in its round trip, and the round trip is what the probe cost is measured
// from (its ratio to the request latency). One probe caught by a 100 ms stop, with requests of a
// fraction of a millisecond, is a sample of hundreds of requests' worth: the cost it left cut
// the probe rate far below probe_rate, and the few probes still allowed took seconds to wash it
// out. Here a's next probe is held until the agent is stopped (SIGSTOP), answered during the
// stop, and read after SIGCONT; four times, each followed by 100 requests. The budget (16
// requests' worth per request) leaves the rate at probe_rate (3) for these probes, which cost
// about a request each, so any cut is the stalls'. On e53eb23 (4 runs): probe cost 8.3-87.5
// requests' worth, rate 0.18-1.93 per request; with the fix 0.6-0.7 requests' worth, 3.000.
void TestAttackS13::agentFrozenWithAProbeOutKeepsItsProbeRate()
{
    constexpr int kStops = 4;
    auto armed = std::make_shared<std::atomic<bool>>(false);
    auto caught = std::make_shared<QSemaphore>();
    auto released = std::make_shared<QSemaphore>();
    ScriptedReplica a([armed, caught, released](const QByteArray& path) {
        if (path == "/ping") {
            if (armed->exchange(false)) {
                caught->release();
                released->tryAcquire(1, 5000); // until the agent is stopped
            }
            return probeAnswer();
        }
        return ok("a", "X-Replica: a\r\n");
    });
    ScriptedReplica b(answeringProbes("b"));
    Cluster c;
    QJsonObject cfg = c.config({a.port(), b.port()});
    setJson(cfg, {QStringLiteral("pools"), kPool, QStringLiteral("algorithm")},
            QJsonObject{{QStringLiteral("name"), QStringLiteral("prequal")}, {QStringLiteral("probe_cost_budget"), 16}});
    setJson(cfg, {QStringLiteral("pools"), kPool, QStringLiteral("probe")},
            QJsonObject{{QStringLiteral("path"), QStringLiteral("/ping")}, {QStringLiteral("timeout_ms"), 50}});
    QVERIFY2(c.startAgent(cfg), qPrintable(c.error()));
    Load load(c.port(), 2, -1);
    QVERIFY(QTest::qWaitFor([&] { return load.completed() >= 200; }, 10000));
    for (int i = 0; i < kStops; ++i) {
        armed->store(true);
        QVERIFY2(caught->tryAcquire(1, 10000), "no probe reached a in 10 s");
        c.agent().signal(SIGSTOP);
        // kill() returns before the stop reaches a thread running on the other core, which
        // could read the answer first: then there was no stall to measure.
        const qint64 pid = c.agent().process().processId();
        QVERIFY2(QTest::qWaitFor([&] { return allThreadsStopped(pid); }, 5000), "the agent did not stop");
        released->release();
        QThread::msleep(100); // the stop itself
        c.agent().signal(SIGCONT);
        const int mark = load.completed();
        QVERIFY(QTest::qWaitFor([&] { return load.completed() >= mark + 100; }, 10000));
    }
    load.stop();
    QVERIFY(load.wait(10000));
    QVERIFY2(load.failures().isEmpty(), qPrintable(load.failures().join(QLatin1Char('\n'))));
    QCOMPARE(c.stopAgent(), 0);
    const QByteArray log = c.agentLog();
    const QList<StopLine> lines = stopLines(log);
    QVERIFY2(lines.size() == 1, log.constData()); // one worker
    qInfo().noquote() << load.completed() << "requests; probe cost" << lines.front().cost << "; rate" << lines.front().rate;
    QVERIFY2(lines.front().rate >= 2.99, log.constData());
}

QTEST_GUILESS_MAIN(TestAttackS13)
#include "tst_attack_s13.moc"
