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
//
// One ring serves every worker: it depends only on the replicas' ids and weights and the two
// sizes, and with uneven weights it reaches max_ring_size (8 Mi nodes, 128 MiB). Built by each
// worker, and copied again on every usable change, it stalled each worker for 0.7-3.7 s and took
// 535 MB with two workers (attack8). Now the first balancer to need a ring builds it, the others
// share it (immutable), and pick() walks past unusable replicas' nodes instead of a filtered copy.

#include "balancer.hpp"
#include "common/algorithm_params.hpp"

#include <memory>
#include <vector>

namespace dlb::agent::balance {

class RingHash final : public Balancer {
public:
    RingHash(std::span<const ReplicaState> replicas, uint64_t seed, common::HashKey key, uint64_t min_ring_size,
             uint64_t max_ring_size);

    int pick(const PickContext& ctx) override;
    void onUsableChanged(int replica) override;

    std::size_t ringSize() const;                           // nodes of all replicas
    std::size_t usableSize() const { return usable_nodes_; } // nodes of the usable ones
    // Whether `other` uses the very same ring (shared, not an equal copy).
    bool sharesRingWith(const RingHash& other) const { return ring_ == other.ring_; }

    struct Node {
        uint64_t hash;
        int replica;
    };
    struct Ring {
        std::vector<Node> nodes;          // sorted by hash
        std::vector<std::size_t> owned;   // nodes per replica
    };

private:
    void countUsable();

    common::HashKey key_;
    std::shared_ptr<const Ring> ring_; // null when there are no replicas
    std::size_t usable_nodes_ = 0;
    int usable_replicas_ = 0;
};

} // namespace dlb::agent::balance
