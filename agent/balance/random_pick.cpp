#include "random_pick.hpp"

namespace dlb::agent::balance {

RandomPick::RandomPick(std::span<const ReplicaState> replicas, uint64_t seed) : Balancer(replicas, seed) {}

int RandomPick::pick(const PickContext& ctx)
{
    return randomUsable(ctx);
}

} // namespace dlb::agent::balance
