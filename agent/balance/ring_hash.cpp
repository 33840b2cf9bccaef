#include "ring_hash.hpp"

#include "hashing.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

namespace dlb::agent::balance {

RingHash::RingHash(std::span<const ReplicaState> replicas, uint64_t seed, common::HashKey key, uint64_t min_ring_size,
                   uint64_t max_ring_size)
    : Balancer(replicas, seed), key_(std::move(key))
{
    if (replicas.empty())
        return;
    double total = 0;
    unsigned lightest = weightOf(replicas.front());
    for (const auto& replica : replicas) {
        total += weightOf(replica);
        lightest = std::min(lightest, weightOf(replica));
    }
    // Envoy's scale: enough nodes per unit of normalised weight that the lightest replica gets a
    // whole number of them, capped by max_ring_size.
    const double min_normalized = lightest / total;
    const auto min_size = static_cast<double>(std::max<uint64_t>(min_ring_size, 1));
    const auto max_size = static_cast<double>(std::max<uint64_t>(max_ring_size, 1));
    const double scale = std::min(std::ceil(min_normalized * min_size) / min_normalized, max_size);
    full_.reserve(static_cast<std::size_t>(std::ceil(scale)));

    // Running sums keep the total at the scale even though each replica's share is fractional.
    double current = 0;
    double target = 0;
    std::string node_key;
    for (int i = 0; i < replicaCount(); ++i) {
        const ReplicaState& replica = replicas_[static_cast<std::size_t>(i)];
        target += scale * weightOf(replica) / total;
        for (uint64_t k = 0; current < target; ++k, ++current) {
            node_key = replica.id;
            node_key += '_';
            node_key += std::to_string(k);
            full_.push_back({hash64(node_key), i});
        }
    }
    // The replica index breaks hash ties so the ring does not depend on sort stability.
    std::sort(full_.begin(), full_.end(), [](const Node& a, const Node& b) {
        return a.hash != b.hash ? a.hash < b.hash : a.replica < b.replica;
    });
    ring_.reserve(full_.size());
    rebuild();
}

void RingHash::rebuild()
{
    ring_.clear();
    for (const Node& node : full_) {
        if (replicas_[static_cast<std::size_t>(node.replica)].usable)
            ring_.push_back(node);
    }
}

void RingHash::onUsableChanged(int /*replica*/)
{
    rebuild();
}

int RingHash::pick(const PickContext& ctx)
{
    const auto hash = requestHash(key_, ctx);
    if (!hash || ring_.empty())
        return randomUsable(ctx);
    const auto it = std::lower_bound(ring_.begin(), ring_.end(), *hash,
                                     [](const Node& node, uint64_t value) { return node.hash < value; });
    const std::size_t start = it == ring_.end() ? 0 : static_cast<std::size_t>(it - ring_.begin());
    // Clockwise past the excluded replica (or one whose usable flag dropped before
    // onUsableChanged arrived), as a ketama client walks past a dead server.
    for (std::size_t step = 0; step < ring_.size(); ++step) {
        const int replica = ring_[(start + step) % ring_.size()].replica;
        if (eligible(replica, ctx))
            return replica;
    }
    return randomUsable(ctx);
}

} // namespace dlb::agent::balance
