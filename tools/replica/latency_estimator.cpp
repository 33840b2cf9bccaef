#include "tools/replica/latency_estimator.hpp"

#include <algorithm>

namespace dlb::tools::replica {

namespace {
constexpr double kNanosPerMilli = 1e6;
}

void LatencyEstimator::record(uint32_t rif_at_arrival, uint64_t latency_ns, uint64_t now_ns)
{
    ring_[next_] = {now_ns, latency_ns, rif_at_arrival};
    next_ = (next_ + 1) % kMaxSamples;
    count_ = std::min(count_ + 1, kMaxSamples);
}

double LatencyEstimator::estimateMs(uint32_t current_rif, uint64_t now_ns) const
{
    scratch_.clear();
    for (size_t i = 0; i < count_; ++i) {
        const Sample& s = ring_[i];
        if (now_ns - s.finished_ns > kMaxSampleAgeNs)
            continue;
        const uint32_t distance = s.rif > current_rif ? s.rif - current_rif : current_rif - s.rif;
        scratch_.emplace_back(distance, s.latency_ns);
    }
    if (count_ == 0)
        return prior_ms_;
    if (scratch_.size() < kMinNearSamples) {
        // Too few recent samples: the newest ones, whatever their age, say more than nothing.
        scratch_.clear();
        const size_t take = std::min(kMinNearSamples, count_);
        for (size_t k = 1; k <= take; ++k) {
            const Sample& s = ring_[(next_ + kMaxSamples - k) % kMaxSamples];
            const uint32_t distance = s.rif > current_rif ? s.rif - current_rif : current_rif - s.rif;
            scratch_.emplace_back(distance, s.latency_ns);
        }
    }
    // Keep the nearest RIF levels until they hold kMinNearSamples; ties at the last level stay.
    std::sort(scratch_.begin(), scratch_.end());
    size_t keep = std::min(kMinNearSamples, scratch_.size());
    const uint32_t cutoff = scratch_[keep - 1].first;
    while (keep < scratch_.size() && scratch_[keep].first == cutoff)
        ++keep;
    // Median of the kept latencies (mean of the middle two for an even count).
    std::vector<uint64_t>& latencies = nearest_;
    latencies.clear();
    for (size_t i = 0; i < keep; ++i)
        latencies.push_back(scratch_[i].second);
    const size_t mid = keep / 2;
    std::nth_element(latencies.begin(), latencies.begin() + static_cast<std::ptrdiff_t>(mid), latencies.end());
    double median = static_cast<double>(latencies[mid]);
    if (keep % 2 == 0) {
        const uint64_t lower = *std::max_element(latencies.begin(), latencies.begin() + static_cast<std::ptrdiff_t>(mid));
        median = (median + static_cast<double>(lower)) / 2;
    }
    return median / kNanosPerMilli;
}

} // namespace dlb::tools::replica
