#include "weighted_round_robin.hpp"

namespace dlb::agent::balance {

namespace {
// nginx's default max_fails: one failure takes weight/max_fails off the effective weight.
constexpr int64_t kMaxFails = 1;
} // namespace

// Deliberately unseeded: the sequence is nginx's, and workers interleaving their own copies of it
// still honour the weights.
WeightedRoundRobin::WeightedRoundRobin(std::span<const ReplicaState> replicas, uint64_t seed)
    : Balancer(replicas, seed), current_(replicas.size(), 0), effective_(replicas.size(), 0)
{
    for (std::size_t i = 0; i < replicas.size(); ++i)
        effective_[i] = weightOf(replicas[i]);
}

int WeightedRoundRobin::pick(const PickContext& ctx)
{
    int best = kNoReplica;
    int64_t total = 0;
    for (int i = 0; i < replicaCount(); ++i) {
        if (!eligible(i, ctx))
            continue;
        const auto at = static_cast<std::size_t>(i);
        current_[at] += effective_[at];
        total += effective_[at];
        if (effective_[at] < weightOf(replicas_[at]))
            ++effective_[at];
        // Strictly greater: on a tie the first replica wins, as in nginx.
        if (best == kNoReplica || current_[at] > current_[static_cast<std::size_t>(best)])
            best = i;
    }
    if (best != kNoReplica)
        current_[static_cast<std::size_t>(best)] -= total;
    return best;
}

void WeightedRoundRobin::onComplete(int replica, bool ok, double /*latency_ms*/, uint64_t /*now_ns*/)
{
    if (ok || replica < 0 || replica >= replicaCount())
        return;
    const auto at = static_cast<std::size_t>(replica);
    effective_[at] -= weightOf(replicas_[at]) / kMaxFails;
    if (effective_[at] < 0)
        effective_[at] = 0;
}

} // namespace dlb::agent::balance
