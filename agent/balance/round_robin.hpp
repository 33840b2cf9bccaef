#pragma once
// Round robin: each eligible replica in turn, weights ignored.

#include "balancer.hpp"

#include <cstddef>

namespace dlb::agent::balance {

class RoundRobin final : public Balancer {
public:
    RoundRobin(std::span<const ReplicaState> replicas, uint64_t seed);

    int pick(const PickContext& ctx) override;

private:
    std::size_t next_; // the replica the next pick looks at first
};

} // namespace dlb::agent::balance
