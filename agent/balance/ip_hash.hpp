#pragma once
// IP hash, after nginx's ip_hash: a client address always goes to the same replica, chosen in
// proportion to weight. When that replica is unusable or excluded the hash is rehashed, up to
// nginx's 20 times, so its clients spread over the others by weight instead of all landing on
// its neighbour; after that a deterministic walk takes the next eligible replica.
//
// The mapping is over all replicas and never rebuilt: when one goes down only its own clients
// move, and they come back when it does. Unlike nginx, the whole address is hashed (nginx keys
// IPv4 clients by their /24). A request without a client address (a Unix socket) goes to a
// random replica.

#include "balancer.hpp"

#include <vector>

namespace dlb::agent::balance {

class IpHash final : public Balancer {
public:
    IpHash(std::span<const ReplicaState> replicas, uint64_t seed);

    int pick(const PickContext& ctx) override;

private:
    int owner(uint64_t hash) const;

    std::vector<uint64_t> cumulative_; // running sums of the replicas' weights
};

} // namespace dlb::agent::balance
