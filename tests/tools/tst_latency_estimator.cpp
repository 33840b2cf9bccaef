// dlb-replica's latency estimator (latency_estimator.hpp): the median latency of recent samples
// at the RIF nearest the current one, and what it reports when its short window is empty.

#include "tools/replica/latency_estimator.hpp"

#include <QtTest>

using dlb::tools::replica::LatencyEstimator;

namespace {
constexpr uint64_t kMs = 1'000'000;
}

class TestLatencyEstimator : public QObject {
    Q_OBJECT

private slots:
    void medianAtNearestRif();
    void idleReplicaKeepsItsLastLatency();
    void priorBeforeAnySample();
    void oldSamplesLeaveOnceFreshOnesArrive();
};

// Busy: the samples at the current RIF decide, not the ones taken at another load.
void TestLatencyEstimator::medianAtNearestRif()
{
    LatencyEstimator e;
    for (int i = 0; i < 8; ++i)
        e.record(0, 2 * kMs, 100 * kMs);
    for (int i = 0; i < 8; ++i)
        e.record(6, 20 * kMs, 100 * kMs);
    QCOMPARE(e.estimateMs(0, 101 * kMs), 2.0);
    QCOMPARE(e.estimateMs(6, 101 * kMs), 20.0);
}

// Issue 7: a replica without a request for longer than the window reported 0 ms and looked
// like the fastest replica in the pool. It now reports what its newest samples said.
void TestLatencyEstimator::idleReplicaKeepsItsLastLatency()
{
    LatencyEstimator e;
    for (int i = 0; i < 8; ++i)
        e.record(1, 40 * kMs, 1000 * kMs);
    const uint64_t later = 1000 * kMs + LatencyEstimator::kMaxSampleAgeNs + 1000 * kMs;
    QCOMPARE(e.estimateMs(0, later), 40.0);
}

void TestLatencyEstimator::priorBeforeAnySample()
{
    QCOMPARE(LatencyEstimator(5).estimateMs(0, 0), 5.0);
    QCOMPARE(LatencyEstimator().estimateMs(0, 0), 0.0); // no prior given: 0, as before
}

// The window stays short: once fresh samples exist, stale ones no longer count.
void TestLatencyEstimator::oldSamplesLeaveOnceFreshOnesArrive()
{
    LatencyEstimator e;
    for (int i = 0; i < 8; ++i)
        e.record(0, 40 * kMs, 0);
    const uint64_t later = LatencyEstimator::kMaxSampleAgeNs + 1000 * kMs;
    for (int i = 0; i < 8; ++i)
        e.record(0, 3 * kMs, later);
    QCOMPARE(e.estimateMs(0, later), 3.0);
}

QTEST_APPLESS_MAIN(TestLatencyEstimator)
#include "tst_latency_estimator.moc"
