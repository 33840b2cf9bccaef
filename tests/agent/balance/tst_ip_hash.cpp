#include "agent/balance/ip_hash.hpp"
#include "fixture.hpp"

#include <QtTest>

#include <algorithm>

using namespace dlb::agent::balance;
using namespace dlb::agent::balance::test;

class TestIpHash : public QObject {
    Q_OBJECT

private slots:
    // The mapping of eight clients over four replicas, pinned: workers and restarts must agree.
    void exactMapping()
    {
        const auto replicas = makeReplicas(4);
        IpHash ip(replicas, kSeed);
        verifyPinnedMapping(ip, {3, 2, 0, 0, 1, 0, 2, 2});
    }

    // A client always lands on the same replica, whatever the balancer's seed.
    void sticky()
    {
        const auto replicas = makeReplicas(5);
        IpHash a(replicas, 1);
        IpHash b(replicas, 2);
        verifySticky(a, b);
    }

    // 10000 clients over weights 1,1,1,1 and 3,1: shares within 0.03 of weight / total.
    void weightsHonoured()
    {
        const auto clients = clientAddresses(10000);
        const auto even = makeReplicas(4);
        IpHash ip(even, kSeed);
        for (const int count : loads(assign(ip, clients), 4))
            QVERIFY2(qAbs(count / 10000.0 - 0.25) < 0.03, qPrintable(QString::number(count)));

        const auto weighted = makeReplicas({3, 1});
        IpHash heavy(weighted, kSeed);
        const auto counts = loads(assign(heavy, clients), 2);
        QVERIFY2(qAbs(counts[0] / 10000.0 - 0.75) < 0.03, qPrintable(QString::number(counts[0])));
    }

    // One of 10 replicas down: only its clients move, spread over the others by rehashing (not
    // piled onto a neighbour); they return when it comes back.
    void removalMovesOnlyItsClients()
    {
        auto replicas = makeReplicas(10);
        IpHash ip(replicas, kSeed);
        const auto clients = clientAddresses(10000);
        const auto before = assign(ip, clients);
        setUsable(replicas, ip, 3, false);
        const auto after = assign(ip, clients);
        const Movement m = movement(before, after, 3, 10);
        QCOMPARE(m.onRemoved, 0);
        QCOMPARE(m.movedOthers, 0);
        QVERIFY2(m.moved <= 1500, qPrintable(QString::number(m.moved)));
        for (int i = 0; i < 10; ++i) {
            if (i != 3)
                QVERIFY2(m.to[static_cast<std::size_t>(i)] > 0, qPrintable(QString::number(i)));
        }
        setUsable(replicas, ip, 3, true);
        QCOMPARE(assign(ip, clients), before);
    }

    // A retry that excludes a client's replica goes where a failover would: the same
    // deterministic second choice, never the excluded one.
    void excludeMatchesFailover()
    {
        auto replicas = makeReplicas(6);
        IpHash ip(replicas, kSeed);
        const auto clients = clientAddresses(600);
        const auto home = assign(ip, clients);
        for (int r = 0; r < 6; ++r) {
            const std::vector<std::string> mine = keysAssignedTo(clients, home, r);
            const auto retried = assign(ip, mine, KeyField::Client, r);
            QVERIFY(std::find(retried.begin(), retried.end(), r) == retried.end());
            QCOMPARE(assign(ip, mine, KeyField::Client, r), retried);
            setUsable(replicas, ip, r, false);
            QCOMPARE(assign(ip, mine), retried);
            setUsable(replicas, ip, r, true);
        }
    }

    // With most replicas down the bounded rehash gives up and the walk still finds the one left.
    void lastReplicaStanding()
    {
        auto replicas = makeReplicas(50);
        IpHash ip(replicas, kSeed);
        for (int i = 0; i < 50; ++i)
            setUsable(replicas, ip, i, i == 37);
        for (const int replica : assign(ip, clientAddresses(500)))
            QCOMPARE(replica, 37);
    }

    // No client address (a Unix socket): a random usable replica.
    void noAddressIsRandom()
    {
        auto replicas = makeReplicas(3);
        IpHash ip(replicas, kSeed);
        setUsable(replicas, ip, 0, false);
        const Tally t = tally(ip, 3000);
        QCOMPARE(t.counts[0], 0);
        QVERIFY(t.counts[1] > 1200 && t.counts[2] > 1200);
    }

    // No usable replica, or only the excluded one: kNoReplica.
    void noneUsable()
    {
        auto replicas = makeReplicas(3);
        IpHash ip(replicas, kSeed);
        for (int i = 0; i < 3; ++i)
            setUsable(replicas, ip, i, false);
        const auto clients = clientAddresses(100);
        for (const int replica : assign(ip, clients))
            QCOMPARE(replica, kNoReplica);
        setUsable(replicas, ip, 2, true);
        for (const int replica : assign(ip, clients, KeyField::Client, 2))
            QCOMPARE(replica, kNoReplica);
        IpHash empty({}, kSeed);
        QCOMPARE(assign(empty, clients).front(), kNoReplica);
    }
};

QTEST_APPLESS_MAIN(TestIpHash)
#include "tst_ip_hash.moc"
