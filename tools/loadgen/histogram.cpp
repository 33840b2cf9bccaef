#include "tools/loadgen/histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace dlb::tools::loadgen {

size_t Histogram::indexOf(uint64_t v)
{
    if (v < 2 * kSubBuckets)
        return static_cast<size_t>(v);
    // v in [2^e, 2^(e+1)) is split into kSubBuckets buckets of width 2^(e - kSubBucketBits).
    const unsigned e = static_cast<unsigned>(std::bit_width(v)) - 1;
    const unsigned shift = e - kSubBucketBits;
    const uint64_t top = v >> shift; // in [kSubBuckets, 2 * kSubBuckets)
    return static_cast<size_t>(2 * kSubBuckets + (shift - 1) * kSubBuckets + (top - kSubBuckets));
}

uint64_t Histogram::lowerBound(size_t index)
{
    if (index < 2 * kSubBuckets)
        return index;
    const uint64_t shift = (index - 2 * kSubBuckets) / kSubBuckets + 1;
    const uint64_t top = (index - 2 * kSubBuckets) % kSubBuckets + kSubBuckets;
    return top << shift;
}

uint64_t Histogram::width(size_t index)
{
    if (index < 2 * kSubBuckets)
        return 1;
    return uint64_t{1} << ((index - 2 * kSubBuckets) / kSubBuckets + 1);
}

void Histogram::record(uint64_t value_ns)
{
    const uint64_t v = std::min(value_ns, kMaxValueNs);
    ++counts_[indexOf(v)];
    ++count_;
    max_ = std::max(max_, v);
    sum_ += static_cast<long double>(v);
}

double Histogram::percentileNs(double percent) const
{
    if (count_ == 0)
        return 0;
    const double wanted = std::ceil(std::clamp(percent, 0.0, 100.0) / 100.0 * static_cast<double>(count_));
    const uint64_t rank = std::max<uint64_t>(1, static_cast<uint64_t>(wanted));
    uint64_t seen = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
        seen += counts_[i];
        if (seen >= rank) {
            const double mid = static_cast<double>(lowerBound(i)) + static_cast<double>(width(i) - 1) / 2;
            return std::min(mid, static_cast<double>(max_)); // the top bucket holds the max itself
        }
    }
    return static_cast<double>(max_);
}

double Histogram::meanNs() const
{
    return count_ == 0 ? 0 : static_cast<double>(sum_ / static_cast<long double>(count_));
}

} // namespace dlb::tools::loadgen
