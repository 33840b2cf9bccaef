// Prequal as a pure algorithm: probing, the pool's four removal rules, the hot threshold and
// HCL selection, checked against PREQUAL.md (shared/) and the seed's tables 2 and 3.
// Time is a fake clock passed in ctx.now_ns; probes go to a recording sink and are answered by
// hand, so every case states exactly what the pool holds.

#include "agent/balance/prequal.hpp"
#include "count_allocations.hpp"
#include "prequal_harness.hpp"

#include <QtTest>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <vector>

using namespace dlb::agent::balance;

using namespace dlb::test::prequal;

class TestPrequal : public QObject {
    Q_OBJECT

private slots:
    // Probing: how many, to whom, how often.
    void probeCountPerRequest_data();
    void probeCountPerRequest();
    void probeTargetsWithoutReplacement();
    void probeTargetsCoverAllWhenRateExceedsReplicas();
    void probeTargetsOnlyUsable();
    void probeCeilingRespected();
    void probeCeilingDrawsOtherTargets();
    void probeCeilingBurstBound();
    void idleProbing();
    void idleProbingQuietWhileRequestsProbe();
    void idleProbeRateAbove100Honoured();
    void freshAnswerSkipsProbe();
    void synchronousProbeFailureDuringDraw();
    void noSinkNoProbes();
    // Probe cost (issue 7: probes that wait for a slot like a request).
    void probeRateFollowsProbeCost_data();
    void probeRateFollowsProbeCost();
    void timedOutProbeCostsAtLeastARequest();
    void answerOfUnknownRoundTripCountsAsAnswered();
    void timedOutProbesCutTheRate();
    void hungVerdictForgetsTheProbeCost();
    void dearProbeAnswersSteerOnePick();
    void idleProbingWaitsWhileRequestsFlowWhenProbesDear();
    void stopSummaryCountsPicks();

    // The reuse budget.
    void reuseBudgetFormula_data();
    void reuseBudgetFormula();
    void reuseBudgetFollowsUsableCount();
    void reuseBudgetRoundingKeepsExpectation_data();
    void reuseBudgetRoundingKeepsExpectation();

    // The hot threshold.
    void hotThresholdQuantile_data();
    void hotThresholdQuantile();
    void hotThresholdUsesRecentWindow();
    void hotThresholdMatchesBruteForce();
    void hotThresholdWindowAgesOutByTime();

    // The pool's removal rules.
    void removalByAge();
    void removalByFullPoolEvictsOldest();
    void newerAnswerReplacesSameReplica();
    void removalByReuseBudget();
    void removeRateAlternatesOldestAndColdWorst();
    void removeRateAlternatesOldestAndHotWorst();
    void removeRateFractional();
    void rifIncrementOnReuse();
    void rifIncrementOnRandomFallback();
    void rifIncrementTakenBackWhenRequestEnds();

    // Selection.
    void fallbackRandomWithZeroProbes();
    void fallbackRandomWithOneProbe();
    void hclColdLowestLatencyWins();
    void hclAllHotLowestRif();
    void hclProbeAtThresholdIsCold();
    void hclLatencyToleranceTiesGoToLowerRif();
    void unusableNeverPicked();
    void unusableWithoutEventIsPurged();
    void excludeHonoured();
    void excludeHonouredInFallback();
    void errorPenaltyDemotesFastFailingReplica();
    void errorPenaltyAppliesWhenAllHot();
    void fallbackAvoidsFailingReplica();
    void fallbackLeastInFlightTimesLatency();
    void fallbackKeepsSlowReplicaForOverflow();
    void staleSlowReplicaExplored();

    // The seed's table 2 (probing module) and table 3 (Prequal module).
    void seedTable2ProbeStored();
    void seedTable2FailedProbeClearsReplica();
    void seedTable2AgedProbeRemoved();
    void seedTable2UsedProbeRemoved();
    void seedTable3EmptyPoolRandom();
    void seedTable3FewerThanTwoReplicas();
    void seedTable3SeveralColdLowestLatency();
    void seedTable3OneColdChosen();
    void seedTable3NoColdLowestRif();

    // Wiring.
    void factoryReadsConfig();
    void hotPathAllocatesNothing();
};

// ---------------------------------------------------------------------------------------------

void TestPrequal::probeCountPerRequest_data()
{
    QTest::addColumn<double>("rate");
    QTest::addColumn<QList<int>>("first");
    QTest::addColumn<int>("total");
    QTest::newRow("3") << 3.0 << QList<int>{3, 3, 3, 3} << 3000;
    QTest::newRow("0.5") << 0.5 << QList<int>{0, 1, 0, 1} << 500;
    QTest::newRow("1.5") << 1.5 << QList<int>{1, 2, 1, 2} << 1500;
    QTest::newRow("0.1") << 0.1 << QList<int>{0, 0, 0, 0} << 100;
    QTest::newRow("2.7") << 2.7 << QList<int>{2, 3, 3, 2} << 2700;
}

// Each request sends ⌊r_probe⌋ or ⌈r_probe⌉ probes; 1000 requests send exactly 1000 r_probe.
void TestPrequal::probeCountPerRequest()
{
    QFETCH(double, rate);
    QFETCH(QList<int>, first);
    QFETCH(int, total);
    PrequalParams p = quiet();
    p.probe_rate = rate;
    Harness h(20, p);
    QList<int> counts;
    for (int i = 0; i < 1000; ++i) {
        const std::size_t before = h.sink.sent.size();
        h.pick(static_cast<uint64_t>(i) * kMs);
        const int sent = static_cast<int>(h.sink.sent.size() - before);
        QVERIFY(sent == static_cast<int>(std::floor(rate))
                || sent == static_cast<int>(std::ceil(rate)));
        counts.push_back(sent);
    }
    QCOMPARE(counts.mid(0, 4), first);
    QCOMPARE(static_cast<int>(h.sink.sent.size()), total);
}

// The probes of one request go to distinct replicas, and every replica is drawn about equally.
void TestPrequal::probeTargetsWithoutReplacement()
{
    PrequalParams p = quiet();
    p.probe_rate = 3;
    Harness h(5, p);
    std::vector<int> per_replica(5, 0);
    for (int i = 0; i < 2000; ++i) {
        const std::size_t before = h.sink.sent.size();
        h.pick(static_cast<uint64_t>(i) * kMs);
        QCOMPARE(h.sink.sent.size() - before, std::size_t{3});
        const std::set<int> distinct(h.sink.sent.begin() + static_cast<std::ptrdiff_t>(before),
                                     h.sink.sent.end());
        QCOMPARE(distinct.size(), std::size_t{3});
        for (int r : distinct)
            ++per_replica[static_cast<std::size_t>(r)];
    }
    // Each replica is in a batch with probability 3/5: 1200 of 2000, binomial sd ≈ 22.
    for (int count : per_replica)
        QVERIFY2(count > 1100 && count < 1300, qPrintable(QString::number(count)));
}

// With r_probe above the replica count, a request probes every replica exactly once.
void TestPrequal::probeTargetsCoverAllWhenRateExceedsReplicas()
{
    PrequalParams p = quiet();
    p.probe_rate = 8;
    Harness h(5, p);
    for (int i = 0; i < 50; ++i) {
        const std::size_t before = h.sink.sent.size();
        h.pick(static_cast<uint64_t>(i) * kMs);
        std::vector<int> batch(h.sink.sent.begin() + static_cast<std::ptrdiff_t>(before),
                               h.sink.sent.end());
        std::sort(batch.begin(), batch.end());
        QCOMPARE(batch, (std::vector<int>{0, 1, 2, 3, 4}));
    }
}

// Probes go only to usable replicas.
void TestPrequal::probeTargetsOnlyUsable()
{
    PrequalParams p = quiet();
    p.probe_rate = 3;
    Harness h(5, p);
    h.setUsable(2, false);
    QCOMPARE(h.lb->usableCount(), std::size_t{4});
    for (int i = 0; i < 500; ++i)
        h.pick(static_cast<uint64_t>(i) * kMs);
    QCOMPARE(h.sink.sent.size(), std::size_t{1500});
    QCOMPARE(std::count(h.sink.sent.begin(), h.sink.sent.end(), 2), 0);
}

// A ceiling of 10 probes/s per replica (burst 1) lets exactly 10 probes a second through.
void TestPrequal::probeCeilingRespected()
{
    PrequalParams p = quiet();
    p.probe_rate = 2;
    p.max_probes_per_replica_s = 10;
    Harness h(2, p);
    std::vector<uint64_t> sent_at;
    for (uint64_t t = 0; t < 1000; ++t) {
        const std::size_t before = h.sink.sent.size();
        h.pick(t * kMs);
        for (std::size_t k = before; k < h.sink.sent.size(); ++k)
            sent_at.push_back(t);
    }
    QCOMPARE(std::count(h.sink.sent.begin(), h.sink.sent.end(), 0), 10);
    QCOMPARE(std::count(h.sink.sent.begin(), h.sink.sent.end(), 1), 10);
    QCOMPARE(sent_at.front(), uint64_t{0});
    QCOMPARE(sent_at.back(), uint64_t{900});
}

// When a drawn target is at its ceiling, the request probes another one instead.
void TestPrequal::probeCeilingDrawsOtherTargets()
{
    PrequalParams p = quiet();
    p.probe_rate = 1;
    p.max_probes_per_replica_s = 10;
    Harness h(3, p);
    for (uint64_t t = 0; t < 3; ++t)
        h.pick(t * kMs);
    std::vector<int> first = h.sink.sent;
    std::sort(first.begin(), first.end());
    QCOMPARE(first, (std::vector<int>{0, 1, 2})); // each request found a replica below its ceiling
    for (uint64_t t = 3; t < 100; ++t)
        h.pick(t * kMs);
    QCOMPARE(h.sink.sent.size(), std::size_t{3}); // all three capped until t = 100 ms
    for (uint64_t t = 100; t < 1000; ++t)
        h.pick(t * kMs);
    for (int r = 0; r < 3; ++r)
        QCOMPARE(std::count(h.sink.sent.begin(), h.sink.sent.end(), r), 10);
}

// At 200/s (burst 0.05 s = 10), a replica gets at most burst + rate·elapsed probes.
void TestPrequal::probeCeilingBurstBound()
{
    PrequalParams p = quiet();
    p.probe_rate = 2;
    p.max_probes_per_replica_s = 200;
    Harness h(2, p);
    for (uint64_t t = 0; t < 2000; ++t)
        h.pick(t * kMs);
    for (int r = 0; r < 2; ++r) {
        const auto count = std::count(h.sink.sent.begin(), h.sink.sent.end(), r);
        QVERIFY2(count <= 10 + 400 && count >= 400, qPrintable(QString::number(count)));
    }
}

// With no requests, onTick sends one probe per 1/idle_probe_rate seconds to a usable replica.
void TestPrequal::idleProbing()
{
    PrequalParams p = quiet();
    p.idle_probe_rate = 10;
    Harness h(4, p);
    h.setUsable(0, false);
    QList<int> ticks_with_probe;
    for (int i = 0; i < 100; ++i) {
        const std::size_t before = h.sink.sent.size();
        h.lb->onTick(1000 * kMs + static_cast<uint64_t>(i) * 10 * kMs);
        if (h.sink.sent.size() != before)
            ticks_with_probe.push_back(i);
    }
    QCOMPARE(ticks_with_probe, (QList<int>{0, 10, 20, 30, 40, 50, 60, 70, 80, 90}));
    QCOMPARE(std::count(h.sink.sent.begin(), h.sink.sent.end(), 0), 0);

    PrequalParams off = quiet();
    off.idle_probe_rate = 0;
    Harness h_off(4, off);
    for (int i = 0; i < 100; ++i)
        h_off.lb->onTick(static_cast<uint64_t>(i) * 10 * kMs);
    QVERIFY(h_off.sink.sent.empty());
}

// Requests that send probes keep idle probing silent.
void TestPrequal::idleProbingQuietWhileRequestsProbe()
{
    PrequalParams p = quiet();
    p.idle_probe_rate = 10;
    p.probe_rate = 1;
    Harness h(4, p);
    for (int i = 0; i < 100; ++i) {
        const uint64_t now = static_cast<uint64_t>(i) * 10 * kMs;
        h.pick(now);
        h.lb->onTick(now);
    }
    QCOMPARE(h.sink.sent.size(), std::size_t{100});
}

// Idle probing above 100/s: the worker ticks every 10 ms, and each tick sends what the rate
// owes (issue 7: one probe per tick capped every rate at 100/s).
void TestPrequal::idleProbeRateAbove100Honoured()
{
    PrequalParams p = quiet();
    p.idle_probe_rate = 1000;
    Harness h(200, p);
    for (int i = 0; i < 100; ++i) // one second of ticks
        h.lb->onTick(1000 * kMs + static_cast<uint64_t>(i) * 10 * kMs);
    // The first tick owes one probe, each later one ten.
    QCOMPARE(h.sink.sent.size(), std::size_t{991});
}

// Adaptive probing: a target whose answer in the pool is younger than probe_fresh_ms is not
// probed again (the draw still counts), so the rate falls to what the pool needs.
void TestPrequal::freshAnswerSkipsProbe()
{
    PrequalParams p = quiet();
    p.probe_rate = 3;
    p.probe_fresh_ns = 20 * kMs;
    Harness h(3, p);
    for (int r = 0; r < 3; ++r)
        h.answer(r, 1, 5, 0);
    h.pick(5 * kMs);
    QVERIFY2(h.sink.sent.empty(), "every replica has a fresh answer: no probe is useful");
    QCOMPARE(h.lb->probesSkippedFresh(), uint64_t{3});
    h.answer(1, 1, 5, 10 * kMs); // replica 1 answered again: fresh until 30 ms
    h.pick(25 * kMs);
    std::vector<int> sent = h.sink.sent;
    std::sort(sent.begin(), sent.end());
    QCOMPARE(sent, (std::vector<int>{0, 2}));

    PrequalParams never = p;
    never.probe_fresh_ns = 0; // 0: the paper's fixed r_probe
    Harness h_never(3, never);
    for (int r = 0; r < 3; ++r)
        h_never.answer(r, 1, 5, 0);
    h_never.pick(5 * kMs);
    QCOMPARE(h_never.sink.sent.size(), std::size_t{3});
}

// A sink that fails a probe synchronously and flips the target's usable flag while pick() is
// still drawing targets from usable_ (review of issue 7): the draw must stay a draw without
// replacement over the replicas usable when it started, and usable_ must come out whole.
void TestPrequal::synchronousProbeFailureDuringDraw()
{
    struct FailingSink : ProbeSink {
        std::vector<ReplicaState>* replicas = nullptr;
        Prequal* lb = nullptr;
        std::vector<int> sent;
        bool fail_next = true;
        void sendProbe(int replica) override
        {
            sent.push_back(replica);
            if (fail_next) { // refused at once: the worker benches it, inside sendProbe()
                fail_next = false;
                (*replicas)[static_cast<std::size_t>(replica)].usable = false;
                lb->onUsableChanged(replica);
            }
        }
    };
    for (uint64_t seed = 1; seed <= 50; ++seed) {
        std::vector<ReplicaState> replicas(10);
        FailingSink sink;
        PrequalParams p = quiet();
        p.probe_rate = 3;
        p.probe_fresh_ns = 0;
        Prequal lb(p, BalancerDeps{replicas, seed, &sink});
        sink.replicas = &replicas;
        sink.lb = &lb;
        PickContext ctx;
        lb.pick(ctx);
        QCOMPARE(sink.sent.size(), std::size_t{3});
        QCOMPARE(std::set<int>(sink.sent.begin(), sink.sent.end()).size(), std::size_t{3});
        QCOMPARE(lb.usableCount(), std::size_t{9});
        const int failed = sink.sent.front();
        // Afterwards every usable replica, and only those, is still drawn.
        sink.sent.clear();
        for (int i = 0; i < 200; ++i)
            lb.pick(ctx);
        std::set<int> probed(sink.sent.begin(), sink.sent.end());
        QVERIFY2(!probed.contains(failed), qPrintable(QStringLiteral("seed %1").arg(seed)));
        QVERIFY2(probed.size() == 9, qPrintable(QStringLiteral("seed %1: %2 replicas probed").arg(seed).arg(probed.size())));
    }
}

// The probe rate is probe_rate, or probe_cost_budget over a probe's cost where that is less:
// a probe that waits like a request (round trip = request latency) on a replica is paid for at a
// request's price, and at r_probe = 3 the asyncio replicas of the matrix were overloaded at 90%.
void TestPrequal::probeRateFollowsProbeCost_data()
{
    QTest::addColumn<double>("budget");
    QTest::addColumn<double>("round_trip_ms");
    QTest::addColumn<double>("cost");
    QTest::addColumn<int>("probes"); // over 1000 requests
    QTest::newRow("probe costs a request") << 0.02 << 20.0 << 1.0 << 20;
    QTest::newRow("probe costs half a request") << 0.02 << 10.0 << 0.5 << 40;
    QTest::newRow("probe nearly free: probe_rate") << 0.02 << 0.1 << 0.005 << 3000;
    QTest::newRow("budget 0: the paper's fixed rate") << 0.0 << 20.0 << 1.0 << 3000;
}

void TestPrequal::probeRateFollowsProbeCost()
{
    QFETCH(double, budget);
    QFETCH(double, round_trip_ms);
    QFETCH(double, cost);
    QFETCH(int, probes);
    PrequalParams p = quiet();
    p.probe_rate = 3;
    p.probe_fresh_ns = 0;
    p.probe_cost_budget = budget;
    Harness h(2000, p);
    QCOMPARE(h.lb->probeCost(), -1.0);
    QCOMPARE(h.lb->effectiveProbeRate(), 3.0); // unknown cost: the paper's rate
    h.lb->onComplete(0, true, 20, 0);
    h.lb->onProbeRoundTrip(0, round_trip_ms, false, 0);
    QCOMPARE(h.lb->probeCost(), cost);
    QCOMPARE(h.lb->probeCostLimited(), probes < 1000); // below 1 per request
    for (int i = 0; i < 1000; ++i)
        h.pick(kMs);
    QCOMPARE(static_cast<int>(h.sink.sent.size()), probes);
    if (round_trip_ms == 0.1) { // cost 0.01 on a busy box: rate 2, the paper's pool rules stay
        h.lb->onProbeRoundTrip(0, 2.1, false, 0); // 0.005 + 0.05 x (2.1 / 20 - 0.005) = 0.01
        QCOMPARE(h.lb->effectiveProbeRate(), 2.0);
        QVERIFY(!h.lb->probeCostLimited());
    }
}

// A probe still unanswered at its timeout is censored: its round trip is a lower bound. It
// counts at least a request's worth, or a 50 ms timeout would read a probe queued behind 100 ms
// requests as half of one (the agent measured 0.23-0.49 on replicas where it is 1).
void TestPrequal::timedOutProbeCostsAtLeastARequest()
{
    Harness h(3, quiet());
    h.lb->onComplete(0, true, 100, 0);
    h.lb->onComplete(1, false, 1, 0); // a failure's latency is not a request's cost
    h.lb->onProbeRoundTrip(1, 50, true, 0);
    QCOMPARE(h.lb->probeCost(), 1.0);
    // Its round trip is the timeout, not what it cost: 300 ms over 100 ms requests is still one
    // request's worth (a timeout over 1 ms requests read 50, attack-s9).
    h.lb->onProbeRoundTrip(1, 300, true, 0);
    QCOMPARE(h.lb->probeCost(), 1.0);
}

// An answer read after the worker stalled (kRoundTripUnknown, Prober) is answered and no cost
// sample: the share comes back, the cost stays (tst_attack_s14: the share had counted only the
// timeouts of a loop that stalled every tick).
void TestPrequal::answerOfUnknownRoundTripCountsAsAnswered()
{
    PrequalParams p = quiet();
    p.probe_rate = 3;
    Harness h(3, p);
    h.lb->onComplete(0, true, 20, 0);
    h.lb->onProbeRoundTrip(0, 10, false, 0);
    QCOMPARE(h.lb->probeCost(), 0.5);
    for (int i = 0; i < 20; ++i)
        h.lb->onProbeRoundTrip(0, 20, true, 0);
    const double cost = h.lb->probeCost();
    const double cut = h.lb->effectiveProbeRate();
    for (int i = 0; i < 200; ++i)
        h.lb->onProbeRoundTrip(0, kRoundTripUnknown, false, 0);
    QCOMPARE(h.lb->probeCost(), cost);
    QVERIFY2(h.lb->effectiveProbeRate() > 2 * cut, qPrintable(QString::number(h.lb->effectiveProbeRate())));
    h.lb->onProbeRoundTrip(0, kRoundTripUnknown, true, 0); // not a timeout's measure either
    QCOMPARE(h.lb->probeCost(), cost);
}

// A probe that times out brings no answer for its request's worth: the rate is cut by the share
// answered in time, down to kMinAnsweredShare, and comes back as answers do.
void TestPrequal::timedOutProbesCutTheRate()
{
    PrequalParams p = quiet();
    p.probe_rate = 3;
    Harness h(3, p);
    QCOMPARE(h.lb->effectiveProbeRate(), 3.0);
    h.lb->onComplete(0, true, 20, 0);
    h.lb->onProbeRoundTrip(0, 20, false, 0); // cost 1, answered: 0.02
    QCOMPARE(h.lb->effectiveProbeRate(), 0.02);
    for (int i = 0; i < 400; ++i)
        h.lb->onProbeRoundTrip(0, 20, true, 0); // every probe times out, at a request's cost
    QCOMPARE(h.lb->probeCost(), 1.0);
    QCOMPARE(h.lb->effectiveProbeRate(), 0.02 * ProbeCost::kMinAnsweredShare);
    QVERIFY(h.lb->effectiveProbeRate() > 0); // still probing: recovery is seen
    for (int i = 0; i < 400; ++i)
        h.lb->onProbeRoundTrip(0, 20, false, 0);
    QVERIFY(std::abs(h.lb->effectiveProbeRate() - 0.02) < 1e-6);
    // Cheap probes that answer keep the paper's rate; their timeouts cut it like any.
    PrequalParams c = quiet();
    c.probe_rate = 3;
    Harness cheap(3, c);
    cheap.lb->onComplete(0, true, 20, 0);
    cheap.lb->onProbeRoundTrip(0, 0.1, false, 0);
    QCOMPARE(cheap.lb->effectiveProbeRate(), 3.0);
}

// The stop line says the share of probes answered in time. A hung-endpoint verdict
// (onProbeEndpointHung) forgets the cost and the share its timeouts made: the paper's rate until
// answers measure them again, and the stop line says the cost is unknown, not -1.
void TestPrequal::hungVerdictForgetsTheProbeCost()
{
    PrequalParams p = quiet();
    p.probe_rate = 3;
    Harness h(3, p);
    h.lb->onComplete(0, true, 20, 0);
    for (int i = 0; i < 400; ++i)
        h.lb->onProbeRoundTrip(0, 20, true, 0);
    QCOMPARE(h.lb->effectiveProbeRate(), 0.02 * ProbeCost::kMinAnsweredShare);
    std::string line = h.lb->stopSummary();
    QVERIFY2(line.find("probe cost 1.000 requests' worth, 0% answered in time") != std::string::npos, line.c_str());
    h.lb->onProbeEndpointHung(0, 0);
    QCOMPARE(h.lb->probeCost(), -1.0);
    QCOMPARE(h.lb->effectiveProbeRate(), 3.0);
    line = h.lb->stopSummary();
    QVERIFY2(line.find("probe cost unknown, 100% answered in time, rate 3.000") != std::string::npos, line.c_str());
    // The request latency is kept: the next answer is weighed at once (cost 1 again).
    h.lb->onProbeRoundTrip(1, 20, false, 0);
    QCOMPARE(h.lb->probeCost(), 1.0);
}

// Where the cost cuts the rate, an answer steers one pick (b_reuse = 1), not up to
// kReuseBudgetCap: a scarce, old answer reused 16 times drew bursts onto one replica.
void TestPrequal::dearProbeAnswersSteerOnePick()
{
    Harness h(4, quiet()); // n <= m: b_reuse is the cap, 16
    QCOMPARE(h.lb->reuseBudget(), Prequal::kReuseBudgetCap);
    h.answer(0, 0, 1, 0);
    QCOMPARE(h.entryOf(0)->reuse_budget, 16U);
    h.lb->onComplete(0, true, 20, 0);
    h.lb->onProbeRoundTrip(0, 20, false, 0); // cost 1: quiet()'s r_probe = 0 is not above it...
    QVERIFY(!h.lb->probeCostLimited());
    PrequalParams p = quiet();
    p.probe_rate = 1;
    Harness d(4, p);
    d.lb->onComplete(0, true, 20, 0);
    d.lb->onProbeRoundTrip(0, 20, false, 0); // ...but r_probe = 1 is cut to 0.02
    QVERIFY(d.lb->probeCostLimited());
    d.answer(0, 0, 1, 0);
    d.answer(1, 0, 5, 0);
    QCOMPARE(d.entryOf(0)->reuse_budget, 1U);
    QCOMPARE(d.pick(kMs), 0);
    QVERIFY(d.entryOf(0) == nullptr); // used once: gone
}

// Idle probing is for a pool without requests. Where probes are dear and requests flow, the
// cost-cut rate is the probe rate (the 10/s idle floor was most of the asyncio pings at 90%).
void TestPrequal::idleProbingWaitsWhileRequestsFlowWhenProbesDear()
{
    PrequalParams p = quiet();
    p.idle_probe_rate = 10;
    p.probe_rate = 1;
    Harness h(4, p);
    h.lb->onComplete(0, true, 20, 0);
    h.lb->onProbeRoundTrip(0, 20, false, 0); // cost 1: 0.02 probes per request
    for (int i = 0; i < 100; ++i) { // one second, a request every 10 ms
        const uint64_t now = 1000 * kMs + static_cast<uint64_t>(i) * 10 * kMs;
        h.pick(now);
        h.lb->onTick(now);
    }
    QCOMPARE(h.sink.sent.size(), std::size_t{2}); // 100 requests x 0.02
    for (int i = 1; i <= 100; ++i) // then a second without requests: idle probing resumes
        h.lb->onTick(1990 * kMs + static_cast<uint64_t>(i) * 10 * kMs);
    QCOMPARE(h.sink.sent.size(), std::size_t{2 + 10});
}

// The worker's stop report says how the picks were made and what a probe cost.
void TestPrequal::stopSummaryCountsPicks()
{
    Harness h(3, quiet());
    h.answer(0, 0, 1, 0);
    h.answer(1, 0, 2, 0);
    h.pick(kMs);
    h.pick(kMs);
    h.pick(kMs);
    QCOMPARE(h.lb->poolPicks() + h.lb->fallbackPicks(), uint64_t{3});
    const std::string line = h.lb->stopSummary();
    QVERIFY2(line.find("picks by HCL") != std::string::npos, line.c_str());
    QVERIFY2(line.find("probe cost") != std::string::npos, line.c_str());
    // No probe came back yet: the cost is not a number.
    QVERIFY2(line.find("probe cost unknown") != std::string::npos, line.c_str());
}

// Without a probe sink, picks still work (on the random fallback) and nothing is sent.
void TestPrequal::noSinkNoProbes()
{
    PrequalParams p = quiet();
    p.probe_rate = 3;
    p.idle_probe_rate = 10;
    Harness h(4, p, 42, false);
    for (int i = 0; i < 100; ++i) {
        const int r = h.pick(static_cast<uint64_t>(i) * kMs);
        QVERIFY(r >= 0 && r < 4);
        h.lb->onTick(static_cast<uint64_t>(i) * kMs);
    }
    QVERIFY(h.sink.sent.empty());
}

// ---------------------------------------------------------------------------------------------

void TestPrequal::reuseBudgetFormula_data()
{
    QTest::addColumn<double>("m");
    QTest::addColumn<double>("n");
    QTest::addColumn<double>("r_probe");
    QTest::addColumn<double>("r_remove");
    QTest::addColumn<double>("delta");
    QTest::addColumn<double>("expected");
    // 2 / ((1 − 0.16)·3 − 1) = 2 / 1.52
    QTest::newRow("paper example") << 16.0 << 100.0 << 3.0 << 1.0 << 1.0 << 2.0 / 1.52;
    // 3 / (0.75·3 − 1) = 3 / 1.25
    QTest::newRow("m16 n64 delta2") << 16.0 << 64.0 << 3.0 << 1.0 << 2.0 << 2.4;
    // 2 / (0.5·4 − 0.5) = 2 / 1.5
    QTest::newRow("m10 n20") << 10.0 << 20.0 << 4.0 << 0.5 << 1.0 << 4.0 / 3.0;
    // 1.1 / (0.84·10 − 1) = 0.149 → max(1, ·)
    QTest::newRow("floor at one") << 16.0 << 100.0 << 10.0 << 1.0 << 0.1 << 1.0;
    const double cap = Prequal::kReuseBudgetCap;
    QTest::newRow("n equals m: cap") << 16.0 << 16.0 << 3.0 << 1.0 << 1.0 << cap;
    QTest::newRow("n below m: cap") << 16.0 << 4.0 << 3.0 << 1.0 << 1.0 << cap;
    // (0.5·2 − 1) = 0
    QTest::newRow("zero denominator: cap") << 16.0 << 32.0 << 2.0 << 1.0 << 1.0 << cap;
    // (0.2·1 − 1) = −0.8
    QTest::newRow("negative denominator: cap") << 16.0 << 20.0 << 1.0 << 1.0 << 1.0 << cap;
    // 2 / (0.84·1.2 − 1) = 2 / 0.008 = 250 → cap
    QTest::newRow("tiny denominator: cap") << 16.0 << 100.0 << 1.2 << 1.0 << 1.0 << cap;
}

// b_reuse = max(1, (1+δ)/((1−m/n)·r_probe − r_remove)), capped, against hand-computed values.
void TestPrequal::reuseBudgetFormula()
{
    QFETCH(double, m);
    QFETCH(double, n);
    QFETCH(double, r_probe);
    QFETCH(double, r_remove);
    QFETCH(double, delta);
    QFETCH(double, expected);
    const double got = Prequal::reuseBudgetFor(m, n, r_probe, r_remove, delta);
    QVERIFY2(std::abs(got - expected) < 1e-12, qPrintable(QString::number(got, 'g', 17)));
}

// The instance's b_reuse uses the current number of usable replicas (1.3158 at n = 100).
void TestPrequal::reuseBudgetFollowsUsableCount()
{
    Harness h(100, PrequalParams{});
    QVERIFY(std::abs(h.lb->reuseBudget() - 1.3157894736842106) < 1e-12);
    QVERIFY(std::abs(h.lb->reuseBudget() - 1.3158) < 1e-4);
    for (int i = 10; i < 100; ++i)
        h.replicas[static_cast<std::size_t>(i)].usable = false;
    h.lb->onUsableChanged(99);
    QCOMPARE(h.lb->usableCount(), std::size_t{10});
    QCOMPARE(h.lb->reuseBudget(), Prequal::kReuseBudgetCap);
}

void TestPrequal::reuseBudgetRoundingKeepsExpectation_data()
{
    QTest::addColumn<int>("replicas");
    QTest::addColumn<double>("delta");
    QTest::addColumn<double>("expected");
    QTest::addColumn<uint>("low");
    QTest::newRow("paper example") << 100 << 1.0 << 2.0 / 1.52 << 1U;
    QTest::newRow("2.4") << 64 << 2.0 << 2.4 << 2U;
    QTest::newRow("cap, whole") << 8 << 1.0 << Prequal::kReuseBudgetCap << 16U;
}

// Each probe's budget is ⌊b⌋ or ⌈b⌉, and over 100000 probes the mean is b.
void TestPrequal::reuseBudgetRoundingKeepsExpectation()
{
    QFETCH(int, replicas);
    QFETCH(double, delta);
    QFETCH(double, expected);
    QFETCH(uint, low);
    PrequalParams p;
    p.delta = delta;
    p.idle_probe_rate = 0;
    Harness h(replicas, p);
    double sum = 0;
    const int draws = 100000;
    for (int i = 0; i < draws; ++i) {
        h.answer(i % replicas, 0, 1, static_cast<uint64_t>(i));
        const uint32_t budget = h.lb->pool().back().reuse_budget;
        QVERIFY(budget == low || (std::floor(expected) != expected && budget == low + 1));
        sum += budget;
    }
    // The sd of the mean of 100000 Bernoulli(0.32) draws is 0.0015.
    QVERIFY2(std::abs(sum / draws - expected) < 0.006, qPrintable(QString::number(sum / draws)));
}

// ---------------------------------------------------------------------------------------------

void TestPrequal::hotThresholdQuantile_data()
{
    QTest::addColumn<double>("q");
    QTest::addColumn<double>("threshold");
    // Answers 1..10: the quantile is the value of rank ⌈q·10⌉.
    QTest::newRow("0.84: rank 9") << 0.84 << 9.0;
    QTest::newRow("0.7 (seed): rank 7") << 0.7 << 7.0;
    QTest::newRow("0.5: rank 5") << 0.5 << 5.0;
    QTest::newRow("1: none hot") << 1.0 << 10.0;
    QTest::newRow("0: all hot") << 0.0 << -1.0;
}

// Hot means RIF above the Q_RIF quantile of the recent answers.
void TestPrequal::hotThresholdQuantile()
{
    QFETCH(double, q);
    QFETCH(double, threshold);
    PrequalParams p = quiet();
    p.q_rif = q;
    Harness h(10, p);
    QCOMPARE(h.lb->hotThreshold(), std::numeric_limits<double>::infinity());
    for (int i = 0; i < 10; ++i)
        h.answer(i, static_cast<uint32_t>(i + 1), 1, 0);
    QCOMPARE(h.lb->hotThreshold(), threshold);
    for (const ProbeEntry& e : h.lb->pool())
        QCOMPARE(h.lb->isHot(e), e.rif > threshold);
}

// The distribution is the last 64 answers: older ones stop counting.
void TestPrequal::hotThresholdUsesRecentWindow()
{
    Harness h(2, quiet());
    for (int i = 0; i < 200; ++i)
        h.answer(0, 1000, 1, 0);
    for (int i = 0; i < 64; ++i)
        h.answer(0, 1, 1, 0);
    QCOMPARE(h.lb->hotThreshold(), 1.0); // all 1000s have left the window
    for (int i = 0; i < 10; ++i)
        h.answer(0, 100, 1, 0);
    QCOMPARE(h.lb->hotThreshold(), 1.0); // 54 ones, 10 hundreds: rank ⌈0.84·64⌉ = 54 is a 1
    h.answer(0, 100, 1, 0);
    QCOMPARE(h.lb->hotThreshold(), 100.0); // 53 ones, 11 hundreds
}

// Over 5000 random answers, the threshold always equals the quantile of the last 64 recomputed
// from scratch.
// The RIF window forgets answers older than max_age: after a lull, the threshold of a busy
// minute must not make every new answer look cold (issue 7 review).
void TestPrequal::hotThresholdWindowAgesOutByTime()
{
    PrequalParams p = quiet();
    p.max_age_ns = 1000 * kMs;
    Harness h(2, p);
    for (int i = 0; i < 64; ++i)
        h.answer(0, 10, 1, 0);
    QCOMPARE(h.lb->hotThreshold(), 10.0);
    h.answer(1, 2, 1, 2000 * kMs); // the old answers are two seconds old now
    QCOMPARE(h.lb->hotThreshold(), 2.0);
    QCOMPARE(h.lb->rifWindowCount(), std::size_t{1});
    h.lb->onTick(4000 * kMs); // and with no answer at all, no threshold
    QCOMPARE(h.lb->rifWindowCount(), std::size_t{0});
    QVERIFY(std::isinf(h.lb->hotThreshold()));
}

void TestPrequal::hotThresholdMatchesBruteForce()
{
    Harness h(2, quiet());
    Rng rng(9);
    std::vector<uint32_t> history;
    for (int i = 0; i < 5000; ++i) {
        const uint32_t rif = rng.below(i % 3 == 0 ? 1000 : 12);
        history.push_back(rif);
        h.answer(0, rif, 1, 0);
        const std::size_t k = std::min<std::size_t>(history.size(), Prequal::kRifWindow);
        std::vector<uint32_t> window(history.end() - static_cast<std::ptrdiff_t>(k), history.end());
        std::sort(window.begin(), window.end());
        const auto rank = static_cast<std::size_t>(std::ceil(0.84 * static_cast<double>(k) - 1e-9));
        QCOMPARE(h.lb->hotThreshold(), static_cast<double>(window[rank - 1]));
    }
}

// ---------------------------------------------------------------------------------------------

// A probe older than max_age leaves at the next pick; one exactly max_age old stays.
void TestPrequal::removalByAge()
{
    PrequalParams p = quiet();
    p.max_age_ns = 1000 * kMs;
    Harness h(3, p);
    h.answer(0, 0, 1, 0);
    h.answer(1, 0, 2, 0);
    h.answer(2, 0, 3, 5 * kMs);
    QCOMPARE(h.pick(1000 * kMs), 0);
    QCOMPARE(h.lb->poolSize(), std::size_t{3});
    h.pick(1000 * kMs + 1);
    QCOMPARE(h.poolReplicas(), QList<int>{2});
}

// Inserting into a full pool evicts the oldest probe.
void TestPrequal::removalByFullPoolEvictsOldest()
{
    PrequalParams p = quiet();
    p.pool_size = 4;
    Harness h(10, p);
    for (int r = 0; r < 4; ++r)
        h.answer(r, 0, 1, static_cast<uint64_t>(r + 1) * kMs);
    QCOMPARE(h.poolReplicas(), (QList<int>{0, 1, 2, 3}));
    h.answer(4, 0, 1, 5 * kMs);
    QCOMPARE(h.poolReplicas(), (QList<int>{1, 2, 3, 4}));
    h.answer(5, 0, 1, 6 * kMs);
    QCOMPARE(h.poolReplicas(), (QList<int>{2, 3, 4, 5}));
}

// A newer answer from a replica replaces its older probe instead of evicting another.
void TestPrequal::newerAnswerReplacesSameReplica()
{
    PrequalParams p = quiet();
    p.pool_size = 4;
    Harness h(10, p);
    for (int r = 0; r < 4; ++r)
        h.answer(r, 0, 1, static_cast<uint64_t>(r + 1) * kMs);
    h.answer(1, 7, 9, 10 * kMs);
    QCOMPARE(h.poolReplicas(), (QList<int>{0, 2, 3, 1}));
    QCOMPARE(h.entryOf(1)->rif, 7U);
    QCOMPARE(h.entryOf(1)->latency_ms, 9.0);
    QCOMPARE(h.entryOf(1)->received_ns, 10 * kMs);
}

// A probe chosen b_reuse times leaves the pool (b = 2 exactly: m 16, n 64, r_probe 1, δ 0.5).
void TestPrequal::removalByReuseBudget()
{
    PrequalParams p = quiet();
    p.probe_rate = 1;
    p.delta = 0.5;
    Harness h(64, p);
    QCOMPARE(h.lb->reuseBudget(), 2.0);
    h.warmDistribution(7, 100); // nothing below RIF 100 is hot
    h.answer(5, 0, 1, 0);
    h.answer(6, 0, 50, 0);
    QCOMPARE(h.entryOf(5)->reuse_budget, 2U);
    QCOMPARE(h.entryOf(6)->reuse_budget, 2U);
    QCOMPARE(h.pick(kMs), 5);
    QCOMPARE(h.entryOf(5)->uses, 1U);
    QCOMPARE(h.pick(kMs), 5);
    QCOMPARE(h.poolReplicas(), QList<int>{6});
}

// r_remove = 1 alternates: oldest, worst (all cold: the highest latency), oldest, worst.
void TestPrequal::removeRateAlternatesOldestAndColdWorst()
{
    PrequalParams p = quiet();
    p.remove_rate = 1;
    Harness h(5, p);
    h.warmDistribution(0, 100); // nothing is hot
    h.answer(0, 0, 5, 1 * kMs);
    h.answer(1, 0, 10, 2 * kMs);
    h.answer(2, 0, 40, 3 * kMs);
    h.answer(3, 0, 20, 4 * kMs);
    h.answer(4, 0, 30, 5 * kMs);
    QCOMPARE(h.pick(10 * kMs), 1); // removes 0 (oldest), then picks the lowest latency
    QCOMPARE(h.poolReplicas(), (QList<int>{1, 2, 3, 4}));
    QCOMPARE(h.pick(10 * kMs), 1); // removes 2 (worst: latency 40), not the oldest 1
    QCOMPARE(h.poolReplicas(), (QList<int>{1, 3, 4}));
    QCOMPARE(h.pick(10 * kMs), 3); // removes 1 (oldest)
    QCOMPARE(h.poolReplicas(), (QList<int>{3, 4}));
    // Removal stops at two probes (kMinPoolAfterRemoval): nothing leaves, 3 is picked again.
    QCOMPARE(h.pick(10 * kMs), 3);
    QCOMPARE(h.poolReplicas(), (QList<int>{3, 4}));
}

// With hot probes present, the "worst" removed is the highest-RIF hot probe, not the slowest.
void TestPrequal::removeRateAlternatesOldestAndHotWorst()
{
    PrequalParams p = quiet();
    p.remove_rate = 1;
    Harness h(5, p);
    h.warmDistribution(0, 5); // with the five answers below, the 0.84 quantile is 5
    h.answer(0, 1, 5, 1 * kMs);
    h.answer(1, 0, 30, 2 * kMs);
    h.answer(2, 9, 1, 3 * kMs);
    h.answer(3, 7, 2, 4 * kMs);
    h.answer(4, 2, 3, 5 * kMs);
    QCOMPARE(h.lb->hotThreshold(), 5.0);
    QCOMPARE(h.pick(10 * kMs), 4); // removes 0 (oldest); cold 1 and 4: the lower latency
    QCOMPARE(h.poolReplicas(), (QList<int>{1, 2, 3, 4}));
    QCOMPARE(h.pick(10 * kMs), 4); // removes 2 (hot, RIF 9), not the cold 1 of latency 30
    QCOMPARE(h.poolReplicas(), (QList<int>{1, 3, 4}));
    QCOMPARE(h.pick(10 * kMs), 4); // removes 1 (oldest)
    QCOMPARE(h.poolReplicas(), (QList<int>{3, 4}));
    QCOMPARE(h.entryOf(4)->rif, 5U); // 2 + three requests: still cold (not above 5)
    // Removal stops at two probes (kMinPoolAfterRemoval): the hot 3 stays, cold 4 is picked.
    QCOMPARE(h.pick(10 * kMs), 4);
    QCOMPARE(h.poolReplicas(), (QList<int>{3, 4}));
}

// r_remove = 0.5 removes one probe every second request.
void TestPrequal::removeRateFractional()
{
    PrequalParams p = quiet();
    p.remove_rate = 0.5;
    Harness h(10, p);
    h.warmDistribution(0, 100);
    for (int r = 0; r < 10; ++r)
        h.answer(r, 0, 1 + r, static_cast<uint64_t>(r) * kMs);
    QList<int> sizes;
    for (int i = 0; i < 6; ++i) {
        h.pick(20 * kMs);
        sizes.push_back(static_cast<int>(h.lb->poolSize()));
    }
    QCOMPARE(sizes, (QList<int>{10, 9, 9, 8, 8, 7}));
}

// A request sent on a probe adds one to that probe's RIF and leaves its latency alone.
void TestPrequal::rifIncrementOnReuse()
{
    Harness h(3, quiet());
    h.warmDistribution(2, 100);
    h.answer(0, 2, 1, 0);
    h.answer(1, 3, 10, 0);
    QCOMPARE(h.pick(kMs), 0);
    QCOMPARE(h.entryOf(0)->rif, 3U);
    QCOMPARE(h.entryOf(0)->uses, 1U);
    QCOMPARE(h.entryOf(0)->latency_ms, 1.0);
    QCOMPARE(h.entryOf(1)->rif, 3U);
    QCOMPARE(h.pick(kMs), 0);
    QCOMPARE(h.entryOf(0)->rif, 4U);
    QCOMPARE(h.entryOf(0)->uses, 2U);
    QCOMPARE(h.entryOf(1)->uses, 0U);
}

// A random fallback pick onto a replica the pool holds a probe for raises that probe's RIF too.
void TestPrequal::rifIncrementOnRandomFallback()
{
    Harness h(2, quiet());
    h.setUsable(1, false);
    h.answer(0, 2, 1, 0);
    QCOMPARE(h.pick(kMs), 0);
    QCOMPARE(h.entryOf(0)->rif, 3U);
    QCOMPARE(h.entryOf(0)->uses, 0U);
}

// A request that has ended takes its increment back: the probe's RIF returns to what the replica
// answered, never below it (a request sent before the probe was counted in the answer). Before,
// a client sending one request at a time left the only fast replica's probe "hot" after two
// answered requests, and HCL sent the next ones to a cold entry at 300 ms (tst_attack_s11).
void TestPrequal::rifIncrementTakenBackWhenRequestEnds()
{
    Harness h(3, quiet());
    h.warmDistribution(2, 100);
    h.answer(0, 2, 1, 0);
    h.answer(1, 3, 10, 0);
    QCOMPARE(h.pick(kMs), 0);
    QCOMPARE(h.pick(kMs), 0);
    QCOMPARE(h.entryOf(0)->rif, 4U);
    h.lb->onComplete(0, true, 1, kMs);
    QCOMPARE(h.entryOf(0)->rif, 3U);
    h.lb->onComplete(0, false, 1, kMs); // a failed request has left the queue too
    QCOMPARE(h.entryOf(0)->rif, 2U);
    h.lb->onComplete(0, true, 1, kMs); // one from before the probe: the answer counted it
    QCOMPARE(h.entryOf(0)->rif, 2U);
    h.lb->onComplete(1, true, 10, kMs); // nothing was sent on replica 1's probe
    QCOMPARE(h.entryOf(1)->rif, 3U);
    QCOMPARE(h.entryOf(0)->uses, 2U); // the reuse budget still counts every use
}

// ---------------------------------------------------------------------------------------------

// An empty pool and nothing measured by this worker (every score 0): uniformly at random.
void TestPrequal::fallbackRandomWithZeroProbes()
{
    Harness h(4, quiet());
    std::vector<int> counts(4, 0);
    for (int i = 0; i < 4000; ++i) {
        const int r = h.pick(static_cast<uint64_t>(i) * kMs);
        QVERIFY(r >= 0 && r < 4);
        ++counts[static_cast<std::size_t>(r)];
    }
    for (int c : counts)
        QVERIFY2(c > 850 && c < 1150, qPrintable(QString::number(c))); // mean 1000, sd 27
}

// One probe in the pool is not enough for HCL: the fallback, uniform when nothing is measured,
// not the probed one.
void TestPrequal::fallbackRandomWithOneProbe()
{
    Harness h(4, quiet());
    h.answer(2, 0, 1, 0);
    std::vector<int> counts(4, 0);
    for (int i = 0; i < 4000; ++i)
        ++counts[static_cast<std::size_t>(h.pick(kMs))];
    for (int c : counts)
        QVERIFY2(c > 850 && c < 1150, qPrintable(QString::number(c)));
    QCOMPARE(h.lb->poolSize(), std::size_t{1});
}

// The cold probe with the lowest latency wins over a cold one with lower RIF and a hot one
// with lower latency (the seed's defect was min-RIF among cold probes).
void TestPrequal::hclColdLowestLatencyWins()
{
    Harness h(3, quiet());
    h.warmDistribution(0, 5);
    h.answer(0, 1, 50, 0);
    h.answer(1, 0, 80, 0);
    h.answer(2, 9, 1, 0);
    QVERIFY(!h.lb->isHot(*h.entryOf(0)));
    QVERIFY(!h.lb->isHot(*h.entryOf(1)));
    QVERIFY(h.lb->isHot(*h.entryOf(2)));
    QCOMPARE(h.pick(kMs), 0);
}

// All hot: the lowest RIF, ties broken by lower latency.
void TestPrequal::hclAllHotLowestRif()
{
    Harness h(3, quiet());
    h.warmDistribution(0, 0);
    h.answer(0, 5, 1, 0);
    h.answer(1, 3, 90, 0);
    h.answer(2, 4, 2, 0);
    QCOMPARE(h.lb->hotThreshold(), 0.0);
    QCOMPARE(h.pick(kMs), 1);
    QCOMPARE(h.pick(kMs), 2); // 1 is now at RIF 4 too; 2 has the lower latency
    QCOMPARE(h.pick(kMs), 1); // RIFs now 5, 4, 5
}

// Hot is strictly above the quantile: a probe exactly at it is cold and competes on latency.
void TestPrequal::hclProbeAtThresholdIsCold()
{
    Harness h(3, quiet());
    h.warmDistribution(0, 2);
    h.answer(0, 2, 5, 0);
    h.answer(1, 0, 50, 0);
    h.answer(2, 8, 1, 0);
    QCOMPARE(h.lb->hotThreshold(), 2.0);
    QCOMPARE(h.pick(kMs), 0);
}

// latency_tolerance: cold latencies within (1 + t) x the lowest cold latency tie, and the lowest
// RIF among them wins; a cold probe outside the band, or a hot one, still loses. t = 0 is the
// paper's rule (the lowest latency, whatever its RIF).
void TestPrequal::hclLatencyToleranceTiesGoToLowerRif()
{
    for (const double tolerance : {0.0, 0.5}) {
        PrequalParams p = quiet();
        p.latency_tolerance = tolerance;
        Harness h(4, p);
        h.warmDistribution(0, 5);
        h.answer(0, 3, 40, 0); // the lowest latency, a queue behind it
        h.answer(1, 1, 55, 0); // 1.375x the lowest: inside a 0.5 band
        h.answer(2, 0, 61, 0); // 1.525x: outside it, though idle
        h.answer(3, 9, 1, 0);  // hot: never in the band, however fast
        QVERIFY(h.lb->isHot(*h.entryOf(3)));
        QCOMPARE(h.pick(kMs), tolerance == 0 ? 0 : 1);
    }
    // At exactly (1 + t) x the lowest a latency is inside the band.
    PrequalParams p = quiet();
    p.latency_tolerance = 1;
    Harness h(2, p);
    h.warmDistribution(0, 5);
    h.answer(0, 2, 30, 0);
    h.answer(1, 1, 60, 0);
    QCOMPARE(h.pick(kMs), 1);
}

// A replica marked unusable is never picked nor kept in the pool, even if it has the best probe.
void TestPrequal::unusableNeverPicked()
{
    PrequalParams p = quiet();
    p.probe_rate = 3;
    Harness h(5, p);
    h.warmDistribution(1, 100);
    for (int r = 0; r < 5; ++r)
        h.answer(r, 0, 1 + r, 0);
    h.setUsable(0, false);
    QVERIFY(h.entryOf(0) == nullptr);
    h.answer(0, 0, 0.1, 0); // a late answer from it is ignored
    QVERIFY(h.entryOf(0) == nullptr);
    const std::size_t sent_before = h.sink.sent.size();
    for (int i = 0; i < 2000; ++i)
        QVERIFY(h.pick(static_cast<uint64_t>(i) * kMs) != 0);
    const auto later = h.sink.sent.begin() + static_cast<std::ptrdiff_t>(sent_before);
    QCOMPARE(std::count(later, h.sink.sent.end(), 0), 0);
}

// A usable flag cleared before the event arrives still keeps its probe from being chosen.
void TestPrequal::unusableWithoutEventIsPurged()
{
    Harness h(3, quiet());
    h.warmDistribution(2, 100);
    h.answer(0, 0, 1, 0);
    h.answer(1, 0, 5, 0);
    h.answer(2, 0, 9, 0);
    h.replicas[0].usable = false;
    QCOMPARE(h.pick(kMs), 1);
    QVERIFY(h.entryOf(0) == nullptr);
}

// ctx.exclude is never returned; its probe stays in the pool untouched.
void TestPrequal::excludeHonoured()
{
    Harness h(3, quiet());
    h.warmDistribution(2, 100);
    h.answer(0, 0, 1, 0);
    h.answer(1, 0, 5, 0);
    h.answer(2, 0, 9, 0);
    QCOMPARE(h.pick(kMs, 0), 1);
    QCOMPARE(h.entryOf(0)->uses, 0U);
    QCOMPARE(h.entryOf(0)->rif, 0U);
    QCOMPARE(h.pick(kMs), 0);
}

// Excluding one of two probes leaves one: the random fallback, which also avoids exclude.
void TestPrequal::excludeHonouredInFallback()
{
    Harness h(2, quiet());
    h.answer(0, 0, 1, 0);
    h.answer(1, 0, 5, 0);
    for (int i = 0; i < 200; ++i)
        QCOMPARE(h.pick(kMs, 1), 0);
}

// A replica failing fast (low RIF, low latency) is hot once its errors count as RIF.
void TestPrequal::errorPenaltyDemotesFastFailingReplica()
{
    Harness h(3, quiet());
    h.warmDistribution(2, 5);
    h.answer(0, 0, 1, 0);
    h.answer(1, 2, 10, 0);
    h.answer(2, 3, 20, 0);
    QCOMPARE(h.pick(kMs), 0);
    h.replicas[0].recent_errors = 2;
    QCOMPARE(h.lb->effectiveRif(*h.entryOf(0)), 1 + 4 * 2.0);
    QVERIFY(h.lb->isHot(*h.entryOf(0)));
    QCOMPARE(h.pick(kMs), 1);
}

// Among hot probes too, errors count as RIF: a lower raw RIF with errors loses.
void TestPrequal::errorPenaltyAppliesWhenAllHot()
{
    Harness h(2, quiet());
    h.warmDistribution(0, 0);
    h.answer(0, 6, 1, 0);
    h.answer(1, 8, 50, 0);
    h.replicas[0].recent_errors = 1; // 6 + 4 = 10 > 8
    QCOMPARE(h.pick(kMs), 1);
}

// With fewer than 2 probes, the random fallback still avoids a replica with recent errors
// (sinkholing through the fallback); with errors everywhere it draws among all.
void TestPrequal::fallbackAvoidsFailingReplica()
{
    Harness h(3, quiet());
    h.replicas[1].recent_errors = 3;
    int to_failing = 0;
    for (int i = 0; i < 300; ++i)
        to_failing += h.pick(kMs) == 1 ? 1 : 0;
    QCOMPARE(to_failing, 0);
    h.replicas[0].recent_errors = 3;
    h.replicas[2].recent_errors = 3;
    int counts[3] = {0, 0, 0};
    for (int i = 0; i < 3000; ++i)
        ++counts[h.pick(kMs)];
    for (int c : counts)
        QVERIFY2(c > 800, "every replica gets a share when all have errors");
}

// With fewer than 2 probes the pick is the replica where a request should finish first by this
// worker's own counts: (in flight + 1) x measured latency (issue 7; the paper's uniform draw sent
// the 8x replica of the matrix 1/8 of the requests). Never measured counts as 0: tried first.
void TestPrequal::fallbackLeastInFlightTimesLatency()
{
    Harness h(4, quiet());
    h.replicas[0].in_flight = 0; // 1 x 160 = 160
    h.replicas[0].ewma_latency_ms = 160;
    h.replicas[1].in_flight = 2; // 3 x 20 = 60
    h.replicas[1].ewma_latency_ms = 20;
    h.replicas[2].in_flight = 5; // 6 x 20 = 120
    h.replicas[2].ewma_latency_ms = 20;
    h.replicas[3].in_flight = 1; // 2 x 40 = 80
    h.replicas[3].ewma_latency_ms = 40;
    for (int i = 0; i < 50; ++i)
        QCOMPARE(h.pick(kMs), 1);
    QCOMPARE(h.pick(kMs, 1), 3); // a retry moves to the next best
    h.replicas[2].ewma_latency_ms = 0; // not measured yet: gets tried
    QCOMPARE(h.pick(kMs), 2);
    QCOMPARE(h.lb->fallbackPicks(), uint64_t{52});
}

// A worker's requests completing as they would on four replicas, one of them 8x slower: the
// slow one gets a request only when the fast ones have a queue about 8x its own.
void TestPrequal::fallbackKeepsSlowReplicaForOverflow()
{
    Harness h(4, quiet());
    for (int r = 0; r < 3; ++r)
        h.replicas[static_cast<std::size_t>(r)].ewma_latency_ms = 20;
    h.replicas[3].ewma_latency_ms = 160;
    int to_slow = 0;
    for (int i = 0; i < 21; ++i) { // 21 requests in flight at once, none completes
        const int r = h.pick(kMs);
        ++h.replicas[static_cast<std::size_t>(r)].in_flight;
        to_slow += r == 3 ? 1 : 0;
    }
    QCOMPARE(to_slow, 0); // 7 each on the fast ones: (7 + 1) x 20 = 160, a tie at most
    for (int i = 0; i < 3; ++i) {
        const int r = h.pick(kMs);
        ++h.replicas[static_cast<std::size_t>(r)].in_flight;
        to_slow += r == 3 ? 1 : 0;
    }
    QVERIFY(to_slow >= 1); // past 8 each, the slow replica's 160 wins
}

// A replica whose answers keep a slow past (it got no request since) is not starved for good:
// a cold answer of a replica this worker sent nothing for max_age gets one request (D30-2x-90:
// replicas slow in the first half got 3-87 requests of 12,000 in the second). A hot one is not.
void TestPrequal::staleSlowReplicaExplored()
{
    PrequalParams p = quiet();
    p.max_age_ns = 1000 * kMs;
    Harness h(3, p);
    const uint64_t t0 = 5000 * kMs;
    for (int i = 0; i < 64; ++i) // hot above RIF 20 (answers of now: the window ages too)
        h.answer(2, 20, 1, t0);
    h.answer(0, 0, 1, t0);   // fast
    h.answer(1, 0, 50, t0);  // slow, from its past
    h.answer(2, 30, 1, t0);  // hot: not explored
    QCOMPARE(h.pick(t0), 0); // never sent: explored, in pool order
    QCOMPARE(h.pick(t0), 1);
    for (int i = 0; i < 10; ++i) // then HCL: the lowest latency
        QCOMPARE(h.pick(t0 + static_cast<uint64_t>(i) * 50 * kMs), 0);
    QCOMPARE(h.lb->explorePicks(), uint64_t{2});
    const uint64_t t1 = t0 + 1001 * kMs; // max_age since replica 1's last request
    for (int i = 0; i < 64; ++i)
        h.answer(2, 20, 1, t1);
    h.answer(2, 30, 1, t1);
    h.answer(0, 0, 1, t1);
    h.answer(1, 0, 50, t1);
    QCOMPARE(h.pick(t1), 1);
    QCOMPARE(h.pick(t1), 0);
    QCOMPARE(h.lb->explorePicks(), uint64_t{3});
    QVERIFY(h.entryOf(2) == nullptr || h.entryOf(2)->uses == 0);
}

// ---------------------------------------------------------------------------------------------

// Seed table 2, case 1: a probe answer is stored in the pool with its receipt time.
void TestPrequal::seedTable2ProbeStored()
{
    Harness h(3, quiet());
    h.answer(1, 7, 12.5, 123 * kMs);
    QCOMPARE(h.lb->poolSize(), std::size_t{1});
    const ProbeEntry& e = h.lb->pool().front();
    QCOMPARE(e.replica, 1);
    QCOMPARE(e.rif, 7U);
    QCOMPARE(e.latency_ms, 12.5);
    QCOMPARE(e.received_ns, 123 * kMs);
    QCOMPARE(e.uses, 0U);
    QCOMPARE(e.reuse_budget, 16U);
}

// Seed table 2, case 2: a failed probe clears that replica's probes, and only those.
void TestPrequal::seedTable2FailedProbeClearsReplica()
{
    Harness h(3, quiet());
    h.answer(0, 0, 1, 0);
    h.answer(1, 0, 2, 0);
    h.answer(2, 0, 3, 0);
    h.lb->onProbeFailed(1, kMs);
    QCOMPARE(h.poolReplicas(), (QList<int>{0, 2}));
}

// Seed table 2, case 3: a probe that has been in the pool past max_age is removed.
void TestPrequal::seedTable2AgedProbeRemoved()
{
    PrequalParams p = quiet();
    p.max_age_ns = 1000 * kMs;
    Harness h(3, p);
    h.answer(0, 0, 1, 0);
    h.answer(1, 0, 2, 600 * kMs);
    h.pick(1500 * kMs);
    QCOMPARE(h.poolReplicas(), QList<int>{1});
}

// Seed table 2, case 4: a probe used as often as its budget allows is removed.
void TestPrequal::seedTable2UsedProbeRemoved()
{
    Harness h(3, quiet());
    h.warmDistribution(2, 1000);
    h.answer(0, 0, 1, 0);
    h.answer(1, 0, 9, 0);
    for (int i = 0; i < 16; ++i)
        QCOMPARE(h.pick(kMs), 0);
    QCOMPARE(h.poolReplicas(), QList<int>{1});
}

// Seed table 3, case 1: empty pool → a randomly selected replica.
void TestPrequal::seedTable3EmptyPoolRandom()
{
    Harness h(3, quiet());
    std::set<int> seen;
    for (int i = 0; i < 300; ++i)
        seen.insert(h.pick(kMs));
    QCOMPARE(seen, (std::set<int>{0, 1, 2}));
}

// Seed table 3, case 2: fewer than two replicas → that one (random over one); none → none.
void TestPrequal::seedTable3FewerThanTwoReplicas()
{
    Harness h(1, quiet());
    h.answer(0, 3, 4, 0);
    for (int i = 0; i < 10; ++i)
        QCOMPARE(h.pick(kMs), 0);
    h.setUsable(0, false);
    QCOMPARE(h.pick(kMs), kNoReplica);
    Harness empty(0, quiet());
    QCOMPARE(empty.pick(kMs), kNoReplica);
}

// Seed table 3, case 3: several cold probes → the lowest latency.
void TestPrequal::seedTable3SeveralColdLowestLatency()
{
    Harness h(4, quiet());
    h.warmDistribution(3, 100);
    h.answer(0, 4, 30, 0);
    h.answer(1, 2, 20, 0);
    h.answer(2, 9, 10, 0);
    QCOMPARE(h.pick(kMs), 2);
}

// Seed table 3, case 4: exactly one cold probe → that one, though the hot ones are faster.
void TestPrequal::seedTable3OneColdChosen()
{
    Harness h(4, quiet());
    h.warmDistribution(3, 2);
    h.answer(0, 8, 1, 0);
    h.answer(1, 1, 70, 0);
    h.answer(2, 6, 2, 0);
    QCOMPARE(h.lb->hotThreshold(), 2.0);
    QCOMPARE(h.pick(kMs), 1);
}

// Seed table 3, case 5: no cold probe → the hot one with the lowest RIF.
void TestPrequal::seedTable3NoColdLowestRif()
{
    Harness h(4, quiet());
    h.warmDistribution(3, 1);
    h.answer(0, 8, 1, 0);
    h.answer(1, 3, 70, 0);
    h.answer(2, 6, 2, 0);
    QCOMPARE(h.pick(kMs), 1);
}

// ---------------------------------------------------------------------------------------------

// makePrequal reads the config's parameters and takes spec defaults for absent ones.
void TestPrequal::factoryReadsConfig()
{
    dlb::common::AlgorithmConfig config;
    config.name = "prequal";
    config.params["probe_rate"] = 1.5;
    config.params["pool_size"] = 8;
    config.params["max_age_ms"] = 250;
    std::vector<ReplicaState> replicas(4);
    const auto balancer = makePrequal(config, BalancerDeps{replicas, 1, nullptr});
    const auto* prequal = dynamic_cast<const Prequal*>(balancer.get());
    QVERIFY(prequal != nullptr);
    QCOMPARE(prequal->params().probe_rate, 1.5);
    QCOMPARE(prequal->params().pool_size, 8U);
    QCOMPARE(prequal->params().max_age_ns, 250 * kMs);
    QCOMPARE(prequal->params().q_rif, 0.84);
    QCOMPARE(prequal->params().remove_rate, 1.0);
    QCOMPARE(prequal->params().delta, 1.0);
    QCOMPARE(prequal->params().idle_probe_rate, 10.0);
    QCOMPARE(prequal->params().max_probes_per_replica_s, 1000.0);
    QCOMPARE(prequal->params().error_penalty, 4.0);
    QCOMPARE(prequal->params().probe_cost_budget, 0.02);
    QCOMPARE(prequal->params().latency_tolerance, 1.0);
    config.params["probe_cost_budget"] = 0;
    config.params["latency_tolerance"] = 0;
    const auto fixed = makePrequal(config, BalancerDeps{replicas, 1, nullptr});
    QCOMPARE(dynamic_cast<const Prequal*>(fixed.get())->params().probe_cost_budget, 0.0);
    QCOMPARE(dynamic_cast<const Prequal*>(fixed.get())->params().latency_tolerance, 0.0);
}

// Once constructed, pick(), onProbeResult() and onTick() allocate nothing.
void TestPrequal::hotPathAllocatesNothing()
{
    struct CountingSink : ProbeSink {
        std::array<int, 8> last{};
        std::size_t count = 0;
        void sendProbe(int replica) override { last[count++ % last.size()] = replica; }
    } sink;
    std::vector<ReplicaState> replicas(100);
    Prequal lb(PrequalParams{}, BalancerDeps{replicas, 7, &sink});
    PickContext ctx;
    const long before = g_allocations.load();
    for (uint64_t i = 0; i < 20000; ++i) {
        ctx.now_ns = i * 100'000;
        lb.pick(ctx);
        for (std::size_t k = 0; k < 3; ++k) {
            const ProbeResult answer{static_cast<uint32_t>(i % 7),
                                     1.0 + static_cast<double>(i % 13)};
            lb.onProbeResult(sink.last[k], answer, ctx.now_ns);
        }
        lb.onTick(ctx.now_ns);
    }
    QCOMPARE(g_allocations.load(), before);
    QVERIFY(sink.count > 0);
}

QTEST_APPLESS_MAIN(TestPrequal)
#include "tst_prequal.moc"
