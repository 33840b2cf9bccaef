#include "agent/balance/maglev.hpp"
#include "fixture.hpp"

#include <QtTest>

#include <algorithm>

using namespace dlb::agent::balance;
using namespace dlb::agent::balance::test;
using dlb::common::HashKey;

namespace {
constexpr uint64_t kTableSize = 65537;

// Slots per replica in the lookup table.
std::vector<int> slotCounts(const Maglev& maglev)
{
    std::vector<int> counts(maglev.replicas().size(), 0);
    for (const int replica : maglev.table())
        ++counts[static_cast<std::size_t>(replica)];
    return counts;
}
} // namespace

class TestMaglev : public QObject {
    Q_OBJECT

private slots:
    // The table size is prime: a prime is kept, anything else is raised to the next prime.
    void tableSizeIsPrime()
    {
        const auto replicas = makeReplicas(3);
        QCOMPARE(Maglev(replicas, kSeed, HashKey{}, 65537).tableSize(), 65537ULL);
        QCOMPARE(Maglev(replicas, kSeed, HashKey{}, 1000).tableSize(), 1009ULL);
        QCOMPARE(Maglev(replicas, kSeed, HashKey{}, 7).tableSize(), 7ULL);
        QVERIFY(Maglev::isPrime(2) && Maglev::isPrime(65537) && !Maglev::isPrime(1) && !Maglev::isPrime(65535));
    }

    // Equal weights share the table evenly: as the paper proves, slot counts differ by at most one.
    void evenTable()
    {
        const auto replicas = makeReplicas(10);
        Maglev maglev(replicas, kSeed, HashKey{}, kTableSize);
        QCOMPARE(maglev.table().size(), std::size_t{kTableSize});
        for (const int count : slotCounts(maglev))
            QVERIFY2(count == 6553 || count == 6554, qPrintable(QString::number(count)));
    }

    // Weights 1,2,1 take turns in proportion: slot counts within 0.1% of a quarter and a half.
    void weightedTable()
    {
        const auto replicas = makeReplicas({1, 2, 1});
        Maglev maglev(replicas, kSeed, HashKey{}, kTableSize);
        const auto counts = slotCounts(maglev);
        QVERIFY(qAbs(counts[0] - kTableSize / 4.0) < kTableSize * 0.001);
        QVERIFY(qAbs(counts[1] - kTableSize / 2.0) < kTableSize * 0.001);
        QVERIFY(qAbs(counts[2] - kTableSize / 4.0) < kTableSize * 0.001);
    }

    // Eight clients over four replicas, pinned: workers and restarts must agree.
    void exactMapping()
    {
        const auto replicas = makeReplicas(4);
        Maglev maglev(replicas, kSeed, HashKey{}, kTableSize);
        verifyPinnedMapping(maglev, {1, 2, 0, 1, 1, 1, 2, 0});
    }

    // A key always lands on the same replica, whatever the balancer's seed.
    void sticky()
    {
        const auto replicas = makeReplicas(5);
        Maglev a(replicas, 1, HashKey{}, kTableSize);
        Maglev b(replicas, 2, HashKey{}, kTableSize);
        verifySticky(a, b);
    }

    // One of 10 replicas down: at most 0.15 of 10000 keys move; of the keys on other replicas at
    // most 100 (1%) move, Maglev's small price for an even table (26 with these keys); all
    // return when it comes back.
    void removalMovesFewKeys()
    {
        auto replicas = makeReplicas(10);
        Maglev maglev(replicas, kSeed, HashKey{}, kTableSize);
        const auto clients = clientAddresses(10000);
        const auto before = assign(maglev, clients);
        setUsable(replicas, maglev, 6, false);
        const auto after = assign(maglev, clients);
        const Movement m = movement(before, after, 6, 10);
        QCOMPARE(m.onRemoved, 0);
        QVERIFY2(m.moved <= 1500, qPrintable(QString::number(m.moved)));
        QVERIFY2(m.movedOthers <= 100, qPrintable(QString::number(m.movedOthers)));
        setUsable(replicas, maglev, 6, true);
        QCOMPARE(assign(maglev, clients), before);
    }

    // Header and path keys hash the same way as client keys: the same strings carried in a
    // header or the path land on the same replicas.
    void headerAndPathKeys()
    {
        const auto replicas = makeReplicas(10);
        const auto keys = clientAddresses(2000);
        Maglev byClient(replicas, kSeed, keyOf(HashKey::Kind::Client), kTableSize);
        Maglev byHeader(replicas, kSeed, keyOf(HashKey::Kind::Header), kTableSize);
        Maglev byPath(replicas, kSeed, keyOf(HashKey::Kind::Path), kTableSize);
        const auto expected = assign(byClient, keys, KeyField::Client);
        QCOMPARE(assign(byHeader, keys, KeyField::Header), expected);
        QCOMPARE(assign(byPath, keys, KeyField::Path), expected);
        const auto used = loads(expected, 10);
        QVERIFY(std::count(used.begin(), used.end(), 0) == 0);
    }

    // A request without the key goes to a random usable replica.
    void absentKeyIsRandom()
    {
        auto replicas = makeReplicas(3);
        Maglev maglev(replicas, kSeed, keyOf(HashKey::Kind::Header), kTableSize);
        setUsable(replicas, maglev, 2, false);
        const Tally t = tally(maglev, 3000);
        QCOMPARE(t.counts[2], 0);
        QVERIFY(t.counts[0] > 1200 && t.counts[1] > 1200);
    }

    // A retry that excludes a key's replica rehashes to another one, the same one every time.
    void excludeIsDeterministic()
    {
        const auto replicas = makeReplicas(6);
        Maglev maglev(replicas, kSeed, HashKey{}, kTableSize);
        const auto clients = clientAddresses(600);
        const auto home = assign(maglev, clients);
        for (int r = 0; r < 6; ++r) {
            const std::vector<std::string> mine = keysAssignedTo(clients, home, r);
            const auto retried = assign(maglev, mine, KeyField::Client, r);
            QVERIFY(std::find(retried.begin(), retried.end(), r) == retried.end());
            QVERIFY(std::find(retried.begin(), retried.end(), kNoReplica) == retried.end());
            QCOMPARE(assign(maglev, mine, KeyField::Client, r), retried);
        }
    }

    // A usable flag that dropped before onUsableChanged arrived is still honoured.
    void staleTableNeverPicksUnusable()
    {
        auto replicas = makeReplicas(10);
        Maglev maglev(replicas, kSeed, HashKey{}, kTableSize);
        replicas[4].usable = false;
        const auto stale = assign(maglev, clientAddresses(3000));
        QCOMPARE(loads(stale, 10)[4], 0);
        QCOMPARE(static_cast<int>(std::count(stale.begin(), stale.end(), kNoReplica)), 0);
    }

    // With only the excluded replica in the table's view the bounded rehash gives up and the
    // random fallback finds the one replica left.
    void fallbackFindsLastReplica()
    {
        auto replicas = makeReplicas(4);
        Maglev maglev(replicas, kSeed, HashKey{}, kTableSize);
        replicas[0].usable = false; // not yet notified: the table still maps to 0..3
        replicas[1].usable = false;
        replicas[2].usable = false;
        for (const int replica : assign(maglev, clientAddresses(200)))
            QCOMPARE(replica, 3);
    }

    // No usable replica, or only the excluded one: kNoReplica, notified or not.
    void noneUsable()
    {
        auto replicas = makeReplicas(3);
        Maglev maglev(replicas, kSeed, HashKey{}, kTableSize);
        const auto clients = clientAddresses(100);
        for (auto& replica : replicas)
            replica.usable = false;
        for (const int replica : assign(maglev, clients))
            QCOMPARE(replica, kNoReplica);
        for (int i = 0; i < 3; ++i)
            maglev.onUsableChanged(i);
        QVERIFY(maglev.table().empty());
        for (const int replica : assign(maglev, clients))
            QCOMPARE(replica, kNoReplica);
        setUsable(replicas, maglev, 1, true);
        for (const int replica : assign(maglev, clients, KeyField::Client, 1))
            QCOMPARE(replica, kNoReplica);
        Maglev empty({}, kSeed, HashKey{}, kTableSize);
        QCOMPARE(assign(empty, clients).front(), kNoReplica);
    }
};

QTEST_APPLESS_MAIN(TestMaglev)
#include "tst_maglev.moc"
