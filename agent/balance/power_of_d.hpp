#pragma once
// Power of d choices (Mitzenmacher): sample d distinct eligible replicas, send to the one with
// the fewest requests in flight; ties go to the lower latency average, then to the first sampled.
// Unlike least_request, the samples are distinct, so d >= the pool size is a full scan.

#include "balancer.hpp"

#include <vector>

namespace dlb::agent::balance {

class PowerOfD final : public Balancer {
public:
    PowerOfD(std::span<const ReplicaState> replicas, uint64_t seed, uint32_t d);

    int pick(const PickContext& ctx) override;

private:
    bool better(int a, int b) const;

    uint32_t d_;
    // A permutation of the replica indexes. Each pick runs a partial Fisher-Yates shuffle over it
    // in place: the prefix it shuffles is a uniform sample whatever order it starts in, so the
    // permutation is kept across picks instead of being rebuilt (no allocation per pick).
    std::vector<int> order_;
};

} // namespace dlb::agent::balance
