#include "agent/balance/round_robin.hpp"
#include "fixture.hpp"

#include <QtTest>

using namespace dlb::agent::balance;
using namespace dlb::agent::balance::test;

class TestRoundRobin : public QObject {
    Q_OBJECT

private slots:
    // Seed 0 starts at replica 0 and cycles in index order.
    void cyclesInOrder()
    {
        const auto replicas = makeReplicas(3);
        RoundRobin rr(replicas, 0);
        const std::vector<int> expected{0, 1, 2, 0, 1, 2};
        const auto got = picks(rr, 6);
        QVERIFY2(got == expected, qPrintable(toText(got)));
    }

    // The seed picks the starting replica (seed % n), so workers do not start in lock step.
    void seedChoosesStart()
    {
        const auto replicas = makeReplicas(3);
        RoundRobin rr(replicas, 4);
        const std::vector<int> expected{1, 2, 0, 1, 2, 0};
        const auto got = picks(rr, 6);
        QVERIFY2(got == expected, qPrintable(toText(got)));
    }

    // Equal shares over 100000 picks: exact, since 99999 is three whole cycles of 33333.
    void evenShares()
    {
        const auto replicas = makeReplicas(3);
        RoundRobin rr(replicas, kSeed);
        const Tally t = tally(rr, 99999);
        QCOMPARE(t.counts, (std::vector<int>{33333, 33333, 33333}));
        QCOMPARE(t.none, 0);
    }

    // An unusable replica is skipped; the others keep alternating.
    void skipsUnusable()
    {
        auto replicas = makeReplicas(3);
        RoundRobin rr(replicas, 0);
        setUsable(replicas, rr, 1, false);
        const std::vector<int> expected{0, 2, 0, 2, 0, 2};
        const auto got = picks(rr, 6);
        QVERIFY2(got == expected, qPrintable(toText(got)));
    }

    // A replica that comes back rejoins the cycle at its turn.
    void rejoinsWhenUsableAgain()
    {
        auto replicas = makeReplicas(3);
        RoundRobin rr(replicas, 0);
        setUsable(replicas, rr, 1, false);
        QCOMPARE(rr.pick({}), 0);
        QCOMPARE(rr.pick({}), 2);
        setUsable(replicas, rr, 1, true);
        const std::vector<int> expected{0, 1, 2};
        const auto got = picks(rr, 3);
        QVERIFY2(got == expected, qPrintable(toText(got)));
    }

    // The excluded replica is never returned, even when it is its turn.
    void honoursExclude()
    {
        const auto replicas = makeReplicas(3);
        RoundRobin rr(replicas, 0);
        PickContext ctx;
        ctx.exclude = 1;
        const std::vector<int> expected{0, 2, 0, 2};
        const auto got = picks(rr, 4, ctx);
        QVERIFY2(got == expected, qPrintable(toText(got)));
    }

    // No usable replica, an empty pool, or only the excluded one usable: kNoReplica.
    void noneUsable()
    {
        auto replicas = makeReplicas(3);
        RoundRobin rr(replicas, 0);
        for (int i = 0; i < 3; ++i)
            setUsable(replicas, rr, i, false);
        QCOMPARE(rr.pick({}), kNoReplica);

        setUsable(replicas, rr, 2, true);
        PickContext ctx;
        ctx.exclude = 2;
        QCOMPARE(rr.pick(ctx), kNoReplica);
        QCOMPARE(rr.pick({}), 2);

        RoundRobin empty({}, 0);
        QCOMPARE(empty.pick({}), kNoReplica);
    }
};

QTEST_APPLESS_MAIN(TestRoundRobin)
#include "tst_round_robin.moc"
