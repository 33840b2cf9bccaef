#include "power_of_d.hpp"

#include <algorithm>
#include <numeric>
#include <utility>

namespace dlb::agent::balance {

PowerOfD::PowerOfD(std::span<const ReplicaState> replicas, uint64_t seed, uint32_t d)
    : Balancer(replicas, seed), d_(std::max<uint32_t>(d, 1)), order_(replicas.size())
{
    std::iota(order_.begin(), order_.end(), 0);
}

int PowerOfD::pick(const PickContext& ctx)
{
    const auto n = static_cast<uint32_t>(order_.size());
    int best = kNoReplica;
    uint32_t sampled = 0;
    // Ineligible replicas are shuffled past without counting, so d eligible ones are sampled
    // whenever that many exist.
    for (uint32_t j = 0; j < n && sampled < d_; ++j) {
        std::swap(order_[j], order_[j + rng_.below(n - j)]);
        const int candidate = order_[j];
        if (!eligible(candidate, ctx))
            continue;
        ++sampled;
        if (best == kNoReplica || better(candidate, best))
            best = candidate;
    }
    return best;
}

// Strict, so that on a full tie the replica sampled first stays.
bool PowerOfD::better(int a, int b) const
{
    const ReplicaState& ra = replicas_[static_cast<std::size_t>(a)];
    const ReplicaState& rb = replicas_[static_cast<std::size_t>(b)];
    if (ra.in_flight != rb.in_flight)
        return ra.in_flight < rb.in_flight;
    return ra.ewma_latency_ms < rb.ewma_latency_ms;
}

} // namespace dlb::agent::balance
