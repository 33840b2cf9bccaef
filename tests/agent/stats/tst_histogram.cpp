// The log-linear latency histogram: its bucket layout, its accuracy against the exact
// percentiles of a sorted sample (seeded), merging and differencing.
#include "agent/stats/histogram.hpp"

#include <QtTest>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <vector>

using namespace dlb::agent::stats;

namespace {

// The exact value at rank ceil(q * n) of a sorted sample, as HistogramData defines percentiles.
double exactPercentile(const std::vector<uint64_t>& sorted, double q)
{
    auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
    rank = std::max<std::size_t>(rank, 1);
    return static_cast<double>(sorted[rank - 1]);
}

// What a bucket's midpoint may be off by: half a bucket, i.e. 1/64 of the value above the
// linear range, half a microsecond below it.
double allowedError(double exact)
{
    return std::max(0.5, exact / (2.0 * static_cast<double>(kLinearBuckets)));
}

HistogramData read(const LatencyHistogram& h)
{
    HistogramData d;
    h.addTo(d);
    return d;
}

} // namespace

class TstHistogram : public QObject {
    Q_OBJECT
private slots:
    void layoutIsContiguous();
    void accuracy_data();
    void accuracy();
    void clampsAtSixtySeconds();
    void mergeEqualsOneHistogram();
    void subtractGivesTheInterval();
    void countBelowIsExactAtPowersOfTwo();
    void emptyHistogram();
};

// Buckets tile [0, kMaxValueUs] without gaps or overlaps, and none is wider than 1/32 of its
// lower bound past the linear range (the accuracy promise).
void TstHistogram::layoutIsContiguous()
{
    QCOMPARE(bucketLowerUs(0), uint64_t{0});
    for (std::size_t i = 0; i < kBucketCount; ++i) {
        QVERIFY2(bucketUpperUs(i) > bucketLowerUs(i), qPrintable(QString("bucket %1").arg(i)));
        if (i + 1 < kBucketCount)
            QCOMPARE(bucketUpperUs(i), bucketLowerUs(i + 1));
        QCOMPARE(bucketIndex(bucketLowerUs(i)), i);
        QCOMPARE(bucketIndex(bucketUpperUs(i) - 1), i);
        if (i >= kLinearBuckets)
            QVERIFY(bucketUpperUs(i) - bucketLowerUs(i) <= bucketLowerUs(i) / kLinearBuckets);
    }
    QVERIFY(bucketUpperUs(kBucketCount - 1) > kMaxValueUs);
    QCOMPARE(bucketIndex(kMaxValueUs), kBucketCount - 1);
    QVERIFY(kBucketCount < 1024); // a few KiB per histogram
}

void TstHistogram::accuracy_data()
{
    QTest::addColumn<int>("distribution");
    QTest::addColumn<quint64>("seed");
    QTest::newRow("log-uniform 1us..10s") << 0 << quint64{1};
    QTest::newRow("log-uniform, other seed") << 0 << quint64{77};
    QTest::newRow("exponential, mean 10 ms") << 1 << quint64{2};
    QTest::newRow("normal 200us sd 30us") << 2 << quint64{3};
    QTest::newRow("bimodal 1 ms / 900 ms") << 3 << quint64{4};
}

// Every percentile the API reports is within half a bucket of the exact one.
void TstHistogram::accuracy()
{
    QFETCH(int, distribution);
    QFETCH(quint64, seed);
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> logu(0, std::log(10e6));
    std::exponential_distribution<double> expo(1.0 / 10'000);
    std::normal_distribution<double> normal(200, 30);
    std::bernoulli_distribution coin(0.9);
    constexpr int kSamples = 200'000;
    auto h = std::make_unique<LatencyHistogram>();
    std::vector<uint64_t> values;
    values.reserve(kSamples);
    for (int i = 0; i < kSamples; ++i) {
        double v = 0;
        switch (distribution) {
        case 0: v = std::exp(logu(rng)); break;
        case 1: v = expo(rng); break;
        case 2: v = std::max(0.0, normal(rng)); break;
        default: v = coin(rng) ? 1000 + expo(rng) / 100 : 900'000 + expo(rng); break;
        }
        const auto us = static_cast<uint64_t>(v);
        values.push_back(us);
        h->recordUs(us);
    }
    std::sort(values.begin(), values.end());
    const HistogramData d = read(*h);
    QCOMPARE(d.count(), uint64_t{kSamples});
    for (const double q : {0.5, 0.9, 0.99, 0.999, 0.0, 1.0}) {
        const double exact = exactPercentile(values, q);
        const double got = d.percentileUs(q);
        QVERIFY2(std::abs(got - exact) <= allowedError(exact),
                 qPrintable(QString("q=%1 exact %2 us, histogram %3 us").arg(q).arg(exact).arg(got)));
    }
    uint64_t sum = 0;
    for (const uint64_t v : values)
        sum += v;
    QCOMPARE(d.sumUs(), sum);
}

void TstHistogram::clampsAtSixtySeconds()
{
    LatencyHistogram h;
    h.recordUs(120'000'000);
    h.recordNs(uint64_t{3600} * 1'000'000'000);
    const HistogramData d = read(h);
    QCOMPARE(d.buckets()[kBucketCount - 1], uint64_t{2});
    QVERIFY(std::abs(d.percentileUs(0.5) - 60e6) < 60e6 / 64);
}

// Merging the histograms of two workers gives what one histogram of all samples gives.
void TstHistogram::mergeEqualsOneHistogram()
{
    std::mt19937_64 rng(5);
    std::exponential_distribution<double> expo(1.0 / 3000);
    LatencyHistogram a, b, all;
    for (int i = 0; i < 50'000; ++i) {
        const auto v = static_cast<uint64_t>(expo(rng));
        (i % 3 == 0 ? a : b).recordUs(v);
        all.recordUs(v);
    }
    HistogramData merged;
    a.addTo(merged);
    b.addTo(merged);
    const HistogramData one = read(all);
    QVERIFY(merged.buckets() == one.buckets());
    QCOMPARE(merged.sumUs(), one.sumUs());
    QCOMPARE(merged.percentileUs(0.99), one.percentileUs(0.99));
}

// Two reads a second apart differ by exactly that second's samples.
void TstHistogram::subtractGivesTheInterval()
{
    LatencyHistogram h;
    for (int i = 0; i < 1000; ++i)
        h.recordUs(100);
    const HistogramData before = read(h);
    for (int i = 0; i < 10; ++i)
        h.recordUs(5000);
    HistogramData interval = read(h);
    interval.subtract(before);
    QCOMPARE(interval.count(), uint64_t{10});
    QCOMPARE(interval.sumUs(), uint64_t{50'000});
    QVERIFY(std::abs(interval.percentileUs(0.5) - 5000) <= allowedError(5000));
}

// Prometheus' cumulative buckets at powers of two count exactly the samples below them.
void TstHistogram::countBelowIsExactAtPowersOfTwo()
{
    std::mt19937_64 rng(9);
    std::uniform_real_distribution<double> logu(0, std::log(70e6));
    LatencyHistogram h;
    std::vector<uint64_t> values;
    for (int i = 0; i < 20'000; ++i) {
        const auto v = static_cast<uint64_t>(std::exp(logu(rng)));
        values.push_back(std::min(v, kMaxValueUs)); // the histogram clamps; so does the count
        h.recordUs(v);
    }
    const HistogramData d = read(h);
    for (unsigned k = 5; k <= 26; ++k) {
        const uint64_t bound = uint64_t{1} << k;
        const auto exact = static_cast<uint64_t>(std::count_if(values.begin(), values.end(), [bound](uint64_t v) { return v < bound; }));
        QCOMPARE(d.countBelowUs(bound), exact);
    }
}

void TstHistogram::emptyHistogram()
{
    HistogramData d;
    QCOMPARE(d.count(), uint64_t{0});
    QCOMPARE(d.percentileUs(0.99), 0.0);
    QCOMPARE(d.countBelowUs(1024), uint64_t{0});
}

QTEST_APPLESS_MAIN(TstHistogram)
#include "tst_histogram.moc"
