#pragma once
// Random: a uniformly random eligible replica per request, weights ignored. The baseline the
// other algorithms are measured against.

#include "balancer.hpp"

namespace dlb::agent::balance {

class RandomPick final : public Balancer {
public:
    RandomPick(std::span<const ReplicaState> replicas, uint64_t seed);

    int pick(const PickContext& ctx) override;
};

} // namespace dlb::agent::balance
