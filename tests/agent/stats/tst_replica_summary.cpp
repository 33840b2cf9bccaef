// stats::summarize: what GET /v1/pools and the drain check read of a replica, summed over the
// workers' blocks.
#include "agent/stats/counters.hpp"

#include <QtTest>

using namespace dlb::agent::stats;

class TstReplicaSummary : public QObject {
    Q_OBJECT
private slots:
    // A replica nothing was sent to: zeros, no latency, no RIF.
    void untouchedReplica()
    {
        const ReplicaStats stats(3);
        const ReplicaSummary s = summarize(stats);
        QCOMPARE(s.requests, uint64_t{0});
        QCOMPARE(s.errors, uint64_t{0});
        QCOMPARE(s.in_flight, uint64_t{0});
        QCOMPARE(s.latency_ms, 0.0);
        QVERIFY(!s.has_rif);
    }

    // Requests, errors and in flight are sums; latency the mean of the workers that have one;
    // the RIF the newest report of any worker.
    void sumsOverWorkers()
    {
        ReplicaStats stats(3);
        stats.slot(0).requests.add(5);
        stats.slot(0).completed.add(5);
        stats.slot(0).countError(ErrorKind::Timeout);
        stats.slot(0).latency_ewma_ms.set(10.0);
        stats.slot(0).reported_rif.set(7);
        stats.slot(0).reported_rif_ns.set(2000);
        stats.slot(1).requests.add(4);
        stats.slot(1).completed.add(1);
        stats.slot(1).countError(ErrorKind::Connect);
        stats.slot(1).countError(ErrorKind::Status5xx);
        stats.slot(1).reported_rif.set(3);
        stats.slot(1).reported_rif_ns.set(1000);
        stats.slot(2).latency_ewma_ms.set(20.0); // no request counted yet: a latency all the same
        const ReplicaSummary s = summarize(stats);
        QCOMPARE(s.requests, uint64_t{9});
        QCOMPARE(s.errors, uint64_t{3});
        QCOMPARE(s.in_flight, uint64_t{3});
        QCOMPARE(s.latency_ms, 15.0);
        QVERIFY(s.has_rif);
        QCOMPARE(s.rif, uint32_t{7});
    }
};

QTEST_APPLESS_MAIN(TstReplicaSummary)
#include "tst_replica_summary.moc"
