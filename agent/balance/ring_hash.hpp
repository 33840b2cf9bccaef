#pragma once
// Ring hash (ketama), as Envoy's RingHashLoadBalancer: every replica owns virtual nodes on a
// 64-bit ring in proportion to its weight, and a request goes to the first node at or after the
// hash of its key.
//
// The ring is built once over all replicas, with Envoy's sizing: the lightest replica gets a
// whole number of nodes and the ring has at least min_ring_size and at most max_ring_size nodes.
// When replicas become unusable, the ring pick() searches is that full ring with their nodes
// left out, not a re-sized new ring (Envoy rebuilds and re-sizes): so when one replica of n goes
// down exactly its ~1/n of the keys move, and every other key stays where it was.

#include "balancer.hpp"
#include "common/algorithm_params.hpp"

#include <vector>

namespace dlb::agent::balance {

class RingHash final : public Balancer {
public:
    RingHash(std::span<const ReplicaState> replicas, uint64_t seed, common::HashKey key, uint64_t min_ring_size,
             uint64_t max_ring_size);

    int pick(const PickContext& ctx) override;
    void onUsableChanged(int replica) override;

    std::size_t ringSize() const { return full_.size(); }  // nodes of all replicas
    std::size_t usableSize() const { return ring_.size(); } // nodes of the usable ones

private:
    struct Node {
        uint64_t hash;
        int replica;
    };

    void rebuild();

    common::HashKey key_;
    std::vector<Node> full_; // sorted by hash; fixed after the constructor
    std::vector<Node> ring_; // full_ without unusable replicas' nodes; capacity reserved up front
};

} // namespace dlb::agent::balance
