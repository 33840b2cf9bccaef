#include "agent/balance/random_pick.hpp"
#include "fixture.hpp"

#include <QtTest>

using namespace dlb::agent::balance;
using namespace dlb::agent::balance::test;

class TestRandomPick : public QObject {
    Q_OBJECT

private slots:
    // Seed 42 over 4 replicas gives this exact sequence (pins the Rng and randomUsable).
    void exactSequence()
    {
        const auto replicas = makeReplicas(4);
        RandomPick random(replicas, kSeed);
        const std::vector<int> expected{0, 1, 2, 3, 3, 3, 2, 3, 3, 2, 2, 1};
        const auto got = picks(random, 12);
        QVERIFY2(got == expected, qPrintable(toText(got)));
    }

    // The same seed repeats the sequence; another seed does not.
    void seedDetermines()
    {
        const auto replicas = makeReplicas(8);
        RandomPick a(replicas, 7);
        RandomPick b(replicas, 7);
        RandomPick c(replicas, 8);
        const auto first = picks(a, 32);
        QCOMPARE(picks(b, 32), first);
        QVERIFY(picks(c, 32) != first);
    }

    // Uniform over 4 replicas: each share within 0.01 of 0.25 over 100000 picks.
    void uniform()
    {
        const auto replicas = makeReplicas(4);
        RandomPick random(replicas, kSeed);
        const int total = 100000;
        const Tally t = tally(random, total);
        for (int i = 0; i < 4; ++i)
            QVERIFY2(qAbs(t.share(i, total) - 0.25) < 0.01, qPrintable(QString::number(t.share(i, total))));
    }

    // Unusable replicas are never picked, and the usable ones share evenly (within 0.01).
    void skipsUnusable()
    {
        auto replicas = makeReplicas(5);
        RandomPick random(replicas, kSeed);
        setUsable(replicas, random, 1, false);
        setUsable(replicas, random, 3, false);
        const int total = 90000;
        const Tally t = tally(random, total);
        QCOMPARE(t.counts[1], 0);
        QCOMPARE(t.counts[3], 0);
        for (const int i : {0, 2, 4})
            QVERIFY(qAbs(t.share(i, total) - 1.0 / 3) < 0.01);
    }

    // Mostly-down pool: the blind draws miss and the reservoir scan takes over; still uniform
    // over the two usable replicas, never one of the 98 others.
    void mostlyDownPool()
    {
        auto replicas = makeReplicas(100);
        for (auto& replica : replicas)
            replica.usable = false;
        replicas[17].usable = true;
        replicas[83].usable = true;
        RandomPick random(replicas, kSeed);
        const int total = 20000;
        const Tally t = tally(random, total);
        QCOMPARE(t.counts[17] + t.counts[83], total);
        QVERIFY(qAbs(t.share(17, total) - 0.5) < 0.02);
    }

    // The excluded replica is never returned.
    void honoursExclude()
    {
        const auto replicas = makeReplicas(3);
        RandomPick random(replicas, kSeed);
        PickContext ctx;
        ctx.exclude = 0;
        const Tally t = tally(random, 3000, ctx);
        QCOMPARE(t.counts[0], 0);
        QVERIFY(t.counts[1] > 0 && t.counts[2] > 0);
    }

    // No usable replica, or only the excluded one: kNoReplica.
    void noneUsable()
    {
        auto replicas = makeReplicas(3);
        RandomPick random(replicas, kSeed);
        for (int i = 0; i < 3; ++i)
            setUsable(replicas, random, i, false);
        QCOMPARE(tally(random, 100).none, 100);
        setUsable(replicas, random, 1, true);
        PickContext ctx;
        ctx.exclude = 1;
        QCOMPARE(random.pick(ctx), kNoReplica);
        QCOMPARE(random.pick({}), 1);
        RandomPick empty({}, kSeed);
        QCOMPARE(empty.pick({}), kNoReplica);
    }
};

QTEST_APPLESS_MAIN(TestRandomPick)
#include "tst_random_pick.moc"
