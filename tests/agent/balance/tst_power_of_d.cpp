#include "agent/balance/power_of_d.hpp"
#include "fixture.hpp"

#include <QtTest>

using namespace dlb::agent::balance;
using namespace dlb::agent::balance::test;

class TestPowerOfD : public QObject {
    Q_OBJECT

private slots:
    // d=2 over in flight 3,0,1,2 with seed 42: this exact sequence.
    void exactSequence()
    {
        auto replicas = makeReplicas(4);
        const uint32_t in_flight[] = {3, 0, 1, 2};
        for (std::size_t i = 0; i < 4; ++i)
            replicas[i].in_flight = in_flight[i];
        PowerOfD pod(replicas, kSeed, 2);
        const std::vector<int> expected{2, 1, 1, 3, 1, 2, 2, 1, 2, 1, 1, 3};
        const auto got = picks(pod, 12);
        QVERIFY2(got == expected, qPrintable(toText(got)));
    }

    // d=2 distinct samples over in flight 0,1,2,3: the busiest never wins (it is always sampled
    // with a less busy one), and the idlest wins whenever sampled: P = 1 - C(3,2)/C(4,2) = 1/2.
    // Shares within 0.01 over 100000 picks: 1/2, 1/3, 1/6, 0.
    void distinctSamples()
    {
        auto replicas = makeReplicas(4);
        for (std::size_t i = 0; i < 4; ++i)
            replicas[i].in_flight = static_cast<uint32_t>(i);
        PowerOfD pod(replicas, kSeed, 2);
        const int total = 100000;
        const Tally t = tally(pod, total);
        QCOMPARE(t.counts[3], 0);
        QVERIFY(qAbs(t.share(0, total) - 1.0 / 2) < 0.01);
        QVERIFY(qAbs(t.share(1, total) - 1.0 / 3) < 0.01);
        QVERIFY(qAbs(t.share(2, total) - 1.0 / 6) < 0.01);
    }

    // Equal in flight: the lower latency average wins (d = n, so every pick sees all three).
    void tieGoesToLowerLatency()
    {
        auto replicas = makeReplicas(3);
        const double latency[] = {5.0, 1.0, 9.0};
        for (std::size_t i = 0; i < 3; ++i) {
            replicas[i].in_flight = 2;
            replicas[i].ewma_latency_ms = latency[i];
        }
        PowerOfD pod(replicas, kSeed, 3);
        QCOMPARE(tally(pod, 1000).counts[1], 1000);
        // Fewer in flight still beats lower latency.
        replicas[2].in_flight = 1;
        QCOMPARE(tally(pod, 1000).counts[2], 1000);
    }

    // A full tie goes to the first sampled, which is uniform: each within 0.01 of 1/3.
    void fullTieIsUniform()
    {
        const auto replicas = makeReplicas(3);
        PowerOfD pod(replicas, kSeed, 3);
        const int total = 90000;
        const Tally t = tally(pod, total);
        for (int i = 0; i < 3; ++i)
            QVERIFY(qAbs(t.share(i, total) - 1.0 / 3) < 0.01);
    }

    // d larger than the pool samples every replica: always the idlest.
    void dLargerThanPool()
    {
        auto replicas = makeReplicas(3);
        replicas[0].in_flight = 2;
        replicas[2].in_flight = 1;
        PowerOfD pod(replicas, kSeed, 5);
        QCOMPARE(tally(pod, 1000).counts[1], 1000);
    }

    // Unusable replicas are never sampled, so never picked, even the idlest; d eligible samples
    // are still drawn, so with d=2 over the 2 usable ones the less busy always wins.
    void skipsUnusable()
    {
        auto replicas = makeReplicas(4);
        for (std::size_t i = 0; i < 4; ++i)
            replicas[i].in_flight = static_cast<uint32_t>(i);
        PowerOfD pod(replicas, kSeed, 2);
        setUsable(replicas, pod, 0, false);
        setUsable(replicas, pod, 1, false);
        QCOMPARE(tally(pod, 1000).counts[2], 1000);
    }

    // The excluded replica is never returned even when it is the idlest.
    void honoursExclude()
    {
        auto replicas = makeReplicas(3);
        replicas[1].in_flight = 4;
        replicas[2].in_flight = 4;
        PowerOfD pod(replicas, kSeed, 2);
        PickContext ctx;
        ctx.exclude = 0;
        const Tally t = tally(pod, 3000, ctx);
        QCOMPARE(t.counts[0], 0);
        QCOMPARE(t.counts[1] + t.counts[2], 3000);
    }

    // No usable replica, or only the excluded one: kNoReplica.
    void noneUsable()
    {
        auto replicas = makeReplicas(3);
        PowerOfD pod(replicas, kSeed, 2);
        for (int i = 0; i < 3; ++i)
            setUsable(replicas, pod, i, false);
        QCOMPARE(pod.pick({}), kNoReplica);
        setUsable(replicas, pod, 0, true);
        PickContext ctx;
        ctx.exclude = 0;
        QCOMPARE(pod.pick(ctx), kNoReplica);
        QCOMPARE(pod.pick({}), 0);
        PowerOfD empty({}, kSeed, 2);
        QCOMPARE(empty.pick({}), kNoReplica);
    }
};

QTEST_APPLESS_MAIN(TestPowerOfD)
#include "tst_power_of_d.moc"
