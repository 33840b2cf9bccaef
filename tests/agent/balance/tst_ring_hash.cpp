#include "agent/balance/ring_hash.hpp"
#include "fixture.hpp"

#include <QtTest>

#include <algorithm>
#include <set>

using namespace dlb::agent::balance;
using namespace dlb::agent::balance::test;
using dlb::common::HashKey;

namespace {
constexpr uint64_t kMinRing = 1024;
constexpr uint64_t kMaxRing = 8 * 1024 * 1024;
} // namespace

class TestRingHash : public QObject {
    Q_OBJECT

private slots:
    // Envoy's sizing: the lightest replica gets a whole number of nodes, at least min_ring_size
    // in all, at most max_ring_size.
    void ringSize_data()
    {
        QTest::addColumn<std::vector<unsigned>>("weights");
        QTest::addColumn<uint64_t>("minSize");
        QTest::addColumn<uint64_t>("maxSize");
        QTest::addColumn<qulonglong>("expected");
        const std::vector<unsigned> ten(10, 1);
        QTest::newRow("10 equal: 103 each") << ten << kMinRing << kMaxRing << 1030ULL;
        QTest::newRow("weights 1,2: 342 + 684") << std::vector<unsigned>{1, 2} << kMinRing << kMaxRing << 1026ULL;
        QTest::newRow("capped by max") << ten << kMinRing << uint64_t{100} << 100ULL;
        QTest::newRow("one replica") << std::vector<unsigned>{4} << kMinRing << kMaxRing << 1024ULL;
    }
    void ringSize()
    {
        QFETCH(std::vector<unsigned>, weights);
        QFETCH(uint64_t, minSize);
        QFETCH(uint64_t, maxSize);
        QFETCH(qulonglong, expected);
        auto replicas = makeReplicas(weights.size());
        for (std::size_t i = 0; i < weights.size(); ++i)
            replicas[i].weight = weights[i];
        RingHash ring(replicas, kSeed, HashKey{}, minSize, maxSize);
        QCOMPARE(static_cast<qulonglong>(ring.ringSize()), expected);
        QCOMPARE(static_cast<qulonglong>(ring.usableSize()), expected);
    }

    // Workers over the same replicas share one ring (it reaches 8 Mi nodes with uneven weights;
    // one per worker took 535 MB and seconds of each worker's time); other replicas or weights
    // get their own, and one replica going down in one worker changes nothing in another.
    void ringIsSharedAcrossBalancers()
    {
        auto workerA = makeReplicas(3);
        auto workerB = makeReplicas(3);
        RingHash a(workerA, kSeed, HashKey{}, kMinRing, kMaxRing);
        RingHash b(workerB, kSeed + 1, HashKey{}, kMinRing, kMaxRing);
        QVERIFY(a.sharesRingWith(b));
        auto heavier = makeReplicas(3);
        heavier[2].weight = 5;
        RingHash c(heavier, kSeed, HashKey{}, kMinRing, kMaxRing);
        QVERIFY(!a.sharesRingWith(c));
        RingHash d(workerA, kSeed, HashKey{}, kMinRing, kMaxRing / 2);
        QVERIFY(!a.sharesRingWith(d));

        const auto clients = clientAddresses(300);
        const auto before = assign(b, clients);
        setUsable(workerA, a, 0, false);
        QCOMPARE(assign(b, clients), before);
        QCOMPARE(b.usableSize(), b.ringSize());
        QVERIFY(a.usableSize() < a.ringSize());
        for (const int replica : assign(a, clients))
            QVERIFY(replica == 1 || replica == 2);
    }

    // Eight clients over four replicas, pinned: workers and restarts must agree.
    void exactMapping()
    {
        const auto replicas = makeReplicas(4);
        RingHash ring(replicas, kSeed, HashKey{}, kMinRing, kMaxRing);
        verifyPinnedMapping(ring, {1, 1, 3, 0, 0, 3, 1, 3});
    }

    // A key always lands on the same replica, whatever the balancer's seed.
    void sticky()
    {
        const auto replicas = makeReplicas(5);
        RingHash a(replicas, 1, HashKey{}, kMinRing, kMaxRing);
        RingHash b(replicas, 2, HashKey{}, kMinRing, kMaxRing);
        verifySticky(a, b);
    }

    // 10000 keys over weights 1,3: the heavy replica's share within 0.05 of 0.75; over 10 equal
    // replicas every share within 0.05 of 0.1.
    void weightsHonoured()
    {
        const auto clients = clientAddresses(10000);
        const auto weighted = makeReplicas({1, 3});
        RingHash heavy(weighted, kSeed, HashKey{}, kMinRing, kMaxRing);
        const auto counts = loads(assign(heavy, clients), 2);
        QVERIFY2(qAbs(counts[1] / 10000.0 - 0.75) < 0.05, qPrintable(QString::number(counts[1])));

        const auto even = makeReplicas(10);
        RingHash ring(even, kSeed, HashKey{}, kMinRing, kMaxRing);
        for (const int count : loads(assign(ring, clients), 10))
            QVERIFY2(qAbs(count / 10000.0 - 0.1) < 0.05, qPrintable(QString::number(count)));
    }

    // One of 10 replicas down: at most 0.15 of 10000 keys move, all of them its own; every other
    // key stays put, and all return when it comes back.
    void removalMovesOnlyItsKeys()
    {
        auto replicas = makeReplicas(10);
        RingHash ring(replicas, kSeed, HashKey{}, kMinRing, kMaxRing);
        const auto clients = clientAddresses(10000);
        const auto before = assign(ring, clients);
        setUsable(replicas, ring, 6, false);
        QVERIFY(ring.usableSize() < ring.ringSize());
        const auto after = assign(ring, clients);
        const Movement m = movement(before, after, 6, 10);
        QCOMPARE(m.onRemoved, 0);
        QCOMPARE(m.movedOthers, 0);
        QVERIFY2(m.moved > 0 && m.moved <= 1500, qPrintable(QString::number(m.moved)));
        setUsable(replicas, ring, 6, true);
        QCOMPARE(assign(ring, clients), before);
    }

    // Header and path keys hash the same way as client keys: the same strings carried in a
    // header or the path land on the same replicas (so the key really is read from there).
    void headerAndPathKeys()
    {
        const auto replicas = makeReplicas(10);
        const auto keys = clientAddresses(2000);
        RingHash byClient(replicas, kSeed, keyOf(HashKey::Kind::Client), kMinRing, kMaxRing);
        RingHash byHeader(replicas, kSeed, keyOf(HashKey::Kind::Header), kMinRing, kMaxRing);
        RingHash byPath(replicas, kSeed, keyOf(HashKey::Kind::Path), kMinRing, kMaxRing);
        const auto expected = assign(byClient, keys, KeyField::Client);
        QCOMPARE(assign(byHeader, keys, KeyField::Header), expected);
        QCOMPARE(assign(byPath, keys, KeyField::Path), expected);
        const auto used = loads(expected, 10);
        QVERIFY(std::count(used.begin(), used.end(), 0) == 0);
        // The key configured is the only one read: a header-keyed ring ignores the path.
        std::vector<int> ignored;
        for (int k = 0; k < 50; ++k) {
            PickContext ctx;
            ctx.path = keys[static_cast<std::size_t>(k)];
            ctx.header = [](std::string_view name) {
                return name == kKeyHeader ? std::string_view("alice") : std::string_view();
            };
            ignored.push_back(byHeader.pick(ctx));
        }
        QCOMPARE(std::set<int>(ignored.begin(), ignored.end()).size(), std::size_t{1});
    }

    // A request without the key (no such header) goes to a random usable replica.
    void absentKeyIsRandom()
    {
        auto replicas = makeReplicas(3);
        RingHash ring(replicas, kSeed, keyOf(HashKey::Kind::Header), kMinRing, kMaxRing);
        setUsable(replicas, ring, 2, false);
        const Tally t = tally(ring, 3000);
        QCOMPARE(t.counts[2], 0);
        QVERIFY(t.counts[0] > 1200 && t.counts[1] > 1200);
    }

    // A retry that excludes a key's replica walks clockwise to where a failover would send it.
    void excludeMatchesFailover()
    {
        auto replicas = makeReplicas(6);
        RingHash ring(replicas, kSeed, HashKey{}, kMinRing, kMaxRing);
        const auto clients = clientAddresses(600);
        const auto home = assign(ring, clients);
        for (int r = 0; r < 6; ++r) {
            const std::vector<std::string> mine = keysAssignedTo(clients, home, r);
            const auto retried = assign(ring, mine, KeyField::Client, r);
            QVERIFY(std::find(retried.begin(), retried.end(), r) == retried.end());
            setUsable(replicas, ring, r, false);
            QCOMPARE(assign(ring, mine), retried);
            setUsable(replicas, ring, r, true);
        }
    }

    // A usable flag that dropped before onUsableChanged arrived is still honoured, with the
    // same result the rebuilt ring gives.
    void staleRingNeverPicksUnusable()
    {
        auto replicas = makeReplicas(10);
        RingHash ring(replicas, kSeed, HashKey{}, kMinRing, kMaxRing);
        const auto clients = clientAddresses(3000);
        replicas[4].usable = false;
        const auto stale = assign(ring, clients);
        QCOMPARE(loads(stale, 10)[4], 0);
        ring.onUsableChanged(4);
        QCOMPARE(assign(ring, clients), stale);
    }

    // No usable replica, or only the excluded one: kNoReplica, notified or not.
    void noneUsable()
    {
        auto replicas = makeReplicas(3);
        RingHash ring(replicas, kSeed, HashKey{}, kMinRing, kMaxRing);
        const auto clients = clientAddresses(100);
        for (auto& replica : replicas)
            replica.usable = false;
        for (const int replica : assign(ring, clients))
            QCOMPARE(replica, kNoReplica);
        for (int i = 0; i < 3; ++i)
            ring.onUsableChanged(i);
        QCOMPARE(ring.usableSize(), std::size_t{0});
        for (const int replica : assign(ring, clients))
            QCOMPARE(replica, kNoReplica);
        setUsable(replicas, ring, 1, true);
        for (const int replica : assign(ring, clients, KeyField::Client, 1))
            QCOMPARE(replica, kNoReplica);
        RingHash empty({}, kSeed, HashKey{}, kMinRing, kMaxRing);
        QCOMPARE(assign(empty, clients).front(), kNoReplica);
    }
};

QTEST_APPLESS_MAIN(TestRingHash)
#include "tst_ring_hash.moc"
