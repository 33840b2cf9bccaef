#pragma once
// The latency a probe reports, as Prequal's replicas compute it (PREQUAL.md, "What a replica
// reports"): each answered request leaves a sample (its latency from receipt to answer, queueing
// included) tagged with the RIF it found on arrival; a probe gets the median latency of recent
// samples whose tag is nearest the current RIF, i.e. "what a request arriving now should expect".
//
// "Recent" is the last kMaxSamples answers that are at most kMaxSampleAge old. "Nearest" means
// the samples at the smallest RIF distances that together hold at least kMinNearSamples (all
// samples at the deciding distance are included, so the estimate does not depend on order).
// With fewer recent samples than that (a replica that had no request for a while), the newest
// kMinNearSamples samples stand in, however old: what the replica last knew of itself. Reporting
// 0 there made an idle replica look like the fastest in the pool and drew a burst onto it. With
// no sample ever, the prior (the configured mean service time) is reported.
// Threading: the replica's single loop thread.

#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace dlb::tools::replica {

class LatencyEstimator {
public:
    static constexpr size_t kMaxSamples = 256;
    static constexpr uint64_t kMaxSampleAgeNs = 5'000'000'000; // 5 s
    static constexpr size_t kMinNearSamples = 8;

    explicit LatencyEstimator(double prior_ms = 0) : prior_ms_(prior_ms) {}

    void record(uint32_t rif_at_arrival, uint64_t latency_ns, uint64_t now_ns);
    // Milliseconds; the prior when there has never been a sample.
    double estimateMs(uint32_t current_rif, uint64_t now_ns) const;
    size_t size() const { return count_; }

private:
    struct Sample {
        uint64_t finished_ns;
        uint64_t latency_ns;
        uint32_t rif;
    };
    std::array<Sample, kMaxSamples> ring_{};
    size_t next_ = 0;
    size_t count_ = 0;
    double prior_ms_;
    // Scratch space for estimateMs(), kept to avoid an allocation per probe.
    mutable std::vector<std::pair<uint32_t, uint64_t>> scratch_; // (RIF distance, latency)
    mutable std::vector<uint64_t> nearest_;
};

} // namespace dlb::tools::replica
