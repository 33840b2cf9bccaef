#pragma once
// A latency histogram in the HDR style: log-linear buckets (each power of two split into
// kSubBuckets equal parts) over nanoseconds, exact below 256 ns, at most 1/128 wide above, so a
// percentile read at a bucket's midpoint is within 0.4% of the true value. Range up to
// kMaxValueNs (60 s, larger values are clamped); max and mean are kept exactly.
// Memory is fixed (a few thousand counters) and recording is O(1), so every answer is recorded.

#include <array>
#include <cstddef>
#include <cstdint>

namespace dlb::tools::loadgen {

class Histogram {
public:
    static constexpr unsigned kSubBucketBits = 7;
    static constexpr uint64_t kSubBuckets = uint64_t{1} << kSubBucketBits; // 128
    static constexpr uint64_t kMaxValueNs = 60'000'000'000;                 // 60 s

    void record(uint64_t value_ns);
    uint64_t count() const { return count_; }
    // The value at or below which `percent` % of the samples lie; 0 when empty.
    double percentileNs(double percent) const;
    uint64_t maxNs() const { return max_; }
    double meanNs() const;

    // Exposed for tests of the bucket layout.
    static size_t indexOf(uint64_t value_ns);
    static uint64_t lowerBound(size_t index);
    static uint64_t width(size_t index);

private:
    static constexpr size_t kBuckets = 2 * kSubBuckets + (36 - kSubBucketBits) * kSubBuckets; // up to 2^37 ns
    std::array<uint64_t, kBuckets> counts_{};
    uint64_t count_ = 0;
    uint64_t max_ = 0;
    long double sum_ = 0;
};

} // namespace dlb::tools::loadgen
