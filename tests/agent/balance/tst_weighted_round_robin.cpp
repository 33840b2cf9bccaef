#include "agent/balance/weighted_round_robin.hpp"
#include "fixture.hpp"

#include <QtTest>

using namespace dlb::agent::balance;
using namespace dlb::agent::balance::test;

class TestWeightedRoundRobin : public QObject {
    Q_OBJECT

private slots:
    // nginx's documented sequence for weights a=5, b=1, c=1: a a b a c a a, then again.
    void nginxSequence()
    {
        const auto replicas = makeReplicas({5, 1, 1});
        WeightedRoundRobin wrr(replicas, kSeed);
        const std::vector<int> expected{0, 0, 1, 0, 2, 0, 0, 0, 0, 1, 0, 2, 0, 0};
        const auto got = picks(wrr, 14);
        QVERIFY2(got == expected, qPrintable(toText(got)));
    }

    // Equal weights degrade to plain round robin; ties go to the lowest index.
    void equalWeightsAreRoundRobin()
    {
        const auto replicas = makeReplicas({2, 2, 2});
        WeightedRoundRobin wrr(replicas, kSeed);
        const std::vector<int> expected{0, 1, 2, 0, 1, 2};
        const auto got = picks(wrr, 6);
        QVERIFY2(got == expected, qPrintable(toText(got)));
    }

    // Weights 3,2,1 are honoured exactly over whole cycles: 100002 picks are 16667 cycles of 6.
    void weightsExact()
    {
        const auto replicas = makeReplicas({3, 2, 1});
        WeightedRoundRobin wrr(replicas, kSeed);
        const Tally t = tally(wrr, 100002);
        QCOMPARE(t.counts, (std::vector<int>{50001, 33334, 16667}));
    }

    // An unusable replica takes no turns; the others share by their weights (b, c alternate).
    void skipsUnusable()
    {
        auto replicas = makeReplicas({5, 1, 1});
        WeightedRoundRobin wrr(replicas, kSeed);
        setUsable(replicas, wrr, 0, false);
        const std::vector<int> expected{1, 2, 1, 2};
        const auto got = picks(wrr, 4);
        QVERIFY2(got == expected, qPrintable(toText(got)));
    }

    // The excluded replica is skipped for that pick only (nginx's "tried" peers).
    void honoursExclude()
    {
        const auto replicas = makeReplicas({5, 1, 1});
        WeightedRoundRobin wrr(replicas, kSeed);
        PickContext ctx;
        ctx.exclude = 0;
        QCOMPARE(wrr.pick(ctx), 1); // b and c only: b wins the tie
        const Tally t = tally(wrr, 700, ctx);
        QCOMPARE(t.counts[0], 0);
        QCOMPARE(t.counts[1], 350);
        QCOMPARE(t.counts[2], 350);
    }

    // A failure takes the replica's effective weight to 0 (nginx, max_fails=1); it regrows by one
    // per pick, so the failed replica loses its next turn: a b a b becomes b a b a.
    void failureLowersEffectiveWeight()
    {
        const auto replicas = makeReplicas({1, 1});
        WeightedRoundRobin healthy(replicas, kSeed);
        QCOMPARE(picks(healthy, 4), (std::vector<int>{0, 1, 0, 1}));

        WeightedRoundRobin failing(replicas, kSeed);
        failing.onComplete(0, false, 0, 0);
        QCOMPARE(picks(failing, 4), (std::vector<int>{1, 0, 1, 0}));

        // Successes leave the weights alone.
        WeightedRoundRobin fine(replicas, kSeed);
        fine.onComplete(0, true, 0, 0);
        QCOMPARE(picks(fine, 4), (std::vector<int>{0, 1, 0, 1}));
    }

    // After a failure the heavy replica of 5,1,1 gets fewer than its 5 of the next 7 picks, and
    // its full share again once its effective weight has regrown.
    void failureRecovers()
    {
        const auto replicas = makeReplicas({5, 1, 1});
        WeightedRoundRobin wrr(replicas, kSeed);
        wrr.onComplete(0, false, 0, 0);
        const Tally first = tally(wrr, 7);
        QVERIFY2(first.counts[0] < 5, qPrintable(QString::number(first.counts[0])));
        const Tally later = tally(wrr, 7000);
        QVERIFY(qAbs(later.counts[0] - 5000) <= 5);
    }

    // No usable replica, or only the excluded one: kNoReplica.
    void noneUsable()
    {
        auto replicas = makeReplicas({5, 1, 1});
        WeightedRoundRobin wrr(replicas, kSeed);
        for (int i = 0; i < 3; ++i)
            setUsable(replicas, wrr, i, false);
        QCOMPARE(wrr.pick({}), kNoReplica);
        setUsable(replicas, wrr, 2, true);
        PickContext ctx;
        ctx.exclude = 2;
        QCOMPARE(wrr.pick(ctx), kNoReplica);
        QCOMPARE(wrr.pick({}), 2);
        WeightedRoundRobin empty({}, kSeed);
        QCOMPARE(empty.pick({}), kNoReplica);
    }
};

QTEST_APPLESS_MAIN(TestWeightedRoundRobin)
#include "tst_weighted_round_robin.moc"
