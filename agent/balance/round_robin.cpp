#include "round_robin.hpp"

namespace dlb::agent::balance {

// Workers are seeded differently, so each starts its cycle at a different replica: otherwise
// every worker would send its first request to replica 0 after each snapshot swap, in lock step.
RoundRobin::RoundRobin(std::span<const ReplicaState> replicas, uint64_t seed)
    : Balancer(replicas, seed), next_(replicas.empty() ? 0 : seed % replicas.size())
{
}

int RoundRobin::pick(const PickContext& ctx)
{
    const std::size_t n = replicas_.size();
    // The cursor moves past skipped replicas too: O(1) while the pool is healthy, at most one
    // lap when it is not.
    for (std::size_t step = 0; step < n; ++step) {
        const auto i = static_cast<int>(next_);
        next_ = next_ + 1 == n ? 0 : next_ + 1;
        if (eligible(i, ctx))
            return i;
    }
    return kNoReplica;
}

} // namespace dlb::agent::balance
