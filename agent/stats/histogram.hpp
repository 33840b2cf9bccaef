#pragma once
// A log-linear latency histogram (HdrHistogram's layout): values in whole microseconds, exact
// below kLinearBuckets µs, then kLinearBuckets buckets per power of two, so a bucket is at most
// 1/32 of its lower bound wide and a percentile read at a bucket's midpoint is within 1.6% of
// the true value. Values at or above kMaxValueUs (60 s) fall into the last bucket.
//
// Threading: LatencyHistogram has a single writer (one worker thread) and any number of readers.
// The writer adds with a relaxed load and store (a plain increment: no lock, no locked
// instruction, no allocation); a reader may see a bucket one increment behind, never a torn
// value. Readers copy it into a HistogramData, which merges and computes percentiles.

#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace dlb::agent::stats {

inline constexpr unsigned kSubBucketBits = 5;
inline constexpr uint64_t kLinearBuckets = uint64_t{1} << kSubBucketBits; // 32
// The largest latency told apart from larger ones: everything slower lands in the last bucket.
inline constexpr uint64_t kMaxValueUs = 60'000'000;

// Bucket index of a value in µs (clamped to kMaxValueUs).
constexpr std::size_t bucketIndex(uint64_t us)
{
    if (us > kMaxValueUs)
        us = kMaxValueUs;
    if (us < kLinearBuckets)
        return static_cast<std::size_t>(us);
    const unsigned e = 63U - static_cast<unsigned>(std::countl_zero(us)); // floor(log2(us)) >= 5
    return static_cast<std::size_t>((e - kSubBucketBits + 1) * kLinearBuckets + ((us >> (e - kSubBucketBits)) - kLinearBuckets));
}

inline constexpr std::size_t kBucketCount = bucketIndex(kMaxValueUs) + 1;

// Smallest value (µs) of bucket i, and the first value past it.
constexpr uint64_t bucketLowerUs(std::size_t i)
{
    if (i < kLinearBuckets)
        return i;
    const uint64_t octave = i / kLinearBuckets - 1; // 0 for [32, 64)
    return (kLinearBuckets + i % kLinearBuckets) << octave;
}
constexpr uint64_t bucketUpperUs(std::size_t i)
{
    return i < kLinearBuckets ? i + 1 : bucketLowerUs(i) + (uint64_t{1} << (i / kLinearBuckets - 1));
}

// A counter with one writing thread: add() is a relaxed load and store, which compiles to a
// plain add (a locked read-modify-write costs several times more, bench/micro/bench_stats_record).
class Counter {
public:
    void add(uint64_t n = 1) noexcept { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
    void sub(uint64_t n = 1) noexcept { v_.store(v_.load(std::memory_order_relaxed) - n, std::memory_order_relaxed); }
    void set(uint64_t v) noexcept { v_.store(v, std::memory_order_relaxed); }
    uint64_t load() const noexcept { return v_.load(std::memory_order_relaxed); }

private:
    std::atomic<uint64_t> v_{0};
};

class HistogramData;

class LatencyHistogram {
public:
    void recordUs(uint64_t us) noexcept
    {
        buckets_[bucketIndex(us)].add();
        sum_us_.add(us);
    }
    void recordNs(uint64_t ns) noexcept { recordUs(ns / 1000); }
    // Adds this histogram's counts to `out` (the reader's side).
    void addTo(HistogramData& out) const noexcept;

private:
    std::array<Counter, kBucketCount> buckets_{};
    Counter sum_us_;
};

// A plain copy of one or more histograms: merged by addition, differenced between two reads.
class HistogramData {
public:
    void clear() noexcept;
    void add(const HistogramData& other) noexcept;
    // this - older, bucket by bucket (counts only grow, so no bucket goes negative).
    void subtract(const HistogramData& older) noexcept;

    uint64_t count() const noexcept;
    uint64_t sumUs() const noexcept { return sum_us_; }
    // The value (µs) at quantile q in [0, 1]: the midpoint of the bucket holding the sample of
    // rank ceil(q * count) (at least 1). 0 when empty.
    double percentileUs(double q) const noexcept;
    // Samples below `us`, which must be a bucket boundary (Prometheus' cumulative buckets).
    uint64_t countBelowUs(uint64_t us) const noexcept;
    const std::array<uint64_t, kBucketCount>& buckets() const noexcept { return buckets_; }

private:
    friend class LatencyHistogram;
    std::array<uint64_t, kBucketCount> buckets_{};
    uint64_t sum_us_ = 0;
};

} // namespace dlb::agent::stats
