#include "agent/stats/histogram.hpp"

#include <algorithm>
#include <cmath>

namespace dlb::agent::stats {

static_assert(bucketIndex(kLinearBuckets - 1) == kLinearBuckets - 1);
static_assert(bucketIndex(kLinearBuckets) == kLinearBuckets);
static_assert(bucketLowerUs(bucketIndex(1000)) <= 1000 && 1000 < bucketUpperUs(bucketIndex(1000)));
static_assert(bucketUpperUs(kLinearBuckets * 2 - 1) == 2 * kLinearBuckets);

void LatencyHistogram::addTo(HistogramData& out) const noexcept
{
    for (std::size_t i = 0; i < kBucketCount; ++i)
        out.buckets_[i] += buckets_[i].load();
    out.sum_us_ += sum_us_.load();
}

void HistogramData::clear() noexcept
{
    buckets_.fill(0);
    sum_us_ = 0;
}

void HistogramData::add(const HistogramData& other) noexcept
{
    for (std::size_t i = 0; i < kBucketCount; ++i)
        buckets_[i] += other.buckets_[i];
    sum_us_ += other.sum_us_;
}

void HistogramData::subtract(const HistogramData& older) noexcept
{
    // A reader can see a bucket a step ahead of the sum (or the other way round): clamp at 0.
    for (std::size_t i = 0; i < kBucketCount; ++i)
        buckets_[i] = buckets_[i] >= older.buckets_[i] ? buckets_[i] - older.buckets_[i] : 0;
    sum_us_ = sum_us_ >= older.sum_us_ ? sum_us_ - older.sum_us_ : 0;
}

uint64_t HistogramData::count() const noexcept
{
    uint64_t n = 0;
    for (const uint64_t b : buckets_)
        n += b;
    return n;
}

double HistogramData::percentileUs(double q) const noexcept
{
    const uint64_t n = count();
    if (n == 0)
        return 0;
    q = std::clamp(q, 0.0, 1.0);
    uint64_t rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(n)));
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (std::size_t i = 0; i < kBucketCount; ++i) {
        seen += buckets_[i];
        if (seen >= rank)
            return static_cast<double>(bucketLowerUs(i) + bucketUpperUs(i)) / 2.0;
    }
    return static_cast<double>(kMaxValueUs);
}

uint64_t HistogramData::countBelowUs(uint64_t us) const noexcept
{
    uint64_t n = 0;
    for (std::size_t i = 0; i < kBucketCount && bucketUpperUs(i) <= us; ++i)
        n += buckets_[i];
    return n;
}

} // namespace dlb::agent::stats
