#include "ring_hash.hpp"

#include "hashing.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace dlb::agent::balance {

namespace {

std::shared_ptr<const RingHash::Ring> buildRing(std::span<const ReplicaState> replicas, uint64_t min_ring_size,
                                                uint64_t max_ring_size, unsigned (*weight_of)(const ReplicaState&))
{
    auto ring = std::make_shared<RingHash::Ring>();
    ring->owned.assign(replicas.size(), 0);
    double total = 0;
    unsigned lightest = weight_of(replicas.front());
    for (const auto& replica : replicas) {
        total += weight_of(replica);
        lightest = std::min(lightest, weight_of(replica));
    }
    // Envoy's scale: enough nodes per unit of normalised weight that the lightest replica gets a
    // whole number of them, capped by max_ring_size.
    const double min_normalized = lightest / total;
    const auto min_size = static_cast<double>(std::max<uint64_t>(min_ring_size, 1));
    const auto max_size = static_cast<double>(std::max<uint64_t>(max_ring_size, 1));
    const double scale = std::min(std::ceil(min_normalized * min_size) / min_normalized, max_size);
    ring->nodes.reserve(static_cast<std::size_t>(std::ceil(scale)));

    // Running sums keep the total at the scale even though each replica's share is fractional.
    double current = 0;
    double target = 0;
    std::string node_key;
    for (std::size_t i = 0; i < replicas.size(); ++i) {
        target += scale * weight_of(replicas[i]) / total;
        for (uint64_t k = 0; current < target; ++k, ++current) {
            node_key = replicas[i].id;
            node_key += '_';
            node_key += std::to_string(k);
            ring->nodes.push_back({hash64(node_key), static_cast<int>(i)});
            ++ring->owned[i];
        }
    }
    // The replica index breaks hash ties so the ring does not depend on sort stability.
    std::sort(ring->nodes.begin(), ring->nodes.end(), [](const RingHash::Node& a, const RingHash::Node& b) {
        return a.hash != b.hash ? a.hash < b.hash : a.replica < b.replica;
    });
    return ring;
}

// Rings by what they are built from. Taken when a balancer is made (a worker starting, or a new
// snapshot), never per request; entries die with the last balancer using them.
std::mutex rings_mutex;
std::map<std::string, std::weak_ptr<const RingHash::Ring>, std::less<>> rings;

std::shared_ptr<const RingHash::Ring> sharedRing(std::span<const ReplicaState> replicas, uint64_t min_ring_size,
                                                 uint64_t max_ring_size, unsigned (*weight_of)(const ReplicaState&))
{
    std::string key = std::to_string(min_ring_size) + '/' + std::to_string(max_ring_size);
    for (const auto& replica : replicas) {
        key += '\n';
        key += replica.id;
        key += ' ';
        key += std::to_string(weight_of(replica));
    }
    const std::lock_guard lock(rings_mutex);
    if (const auto found = rings.find(key); found != rings.end())
        if (auto ring = found->second.lock())
            return ring;
    std::erase_if(rings, [](const auto& entry) { return entry.second.expired(); });
    // Built under the lock: a second worker waits for this ring rather than building its own.
    auto ring = buildRing(replicas, min_ring_size, max_ring_size, weight_of);
    rings[std::move(key)] = ring;
    return ring;
}

} // namespace

RingHash::RingHash(std::span<const ReplicaState> replicas, uint64_t seed, common::HashKey key, uint64_t min_ring_size,
                   uint64_t max_ring_size)
    : Balancer(replicas, seed), key_(std::move(key))
{
    if (replicas.empty())
        return;
    ring_ = sharedRing(replicas, min_ring_size, max_ring_size, &Balancer::weightOf);
    countUsable();
}

std::size_t RingHash::ringSize() const
{
    return ring_ ? ring_->nodes.size() : 0;
}

void RingHash::countUsable()
{
    usable_nodes_ = 0;
    usable_replicas_ = 0;
    if (!ring_)
        return;
    for (std::size_t i = 0; i < replicas_.size(); ++i) {
        if (replicas_[i].usable) {
            usable_nodes_ += ring_->owned[i];
            ++usable_replicas_;
        }
    }
}

void RingHash::onUsableChanged(int /*replica*/)
{
    countUsable();
}

int RingHash::pick(const PickContext& ctx)
{
    const auto hash = requestHash(key_, ctx);
    // No usable replica but the excluded one: the walk below would find none.
    const bool excluded_usable = ctx.exclude >= 0 && static_cast<std::size_t>(ctx.exclude) < replicas_.size()
        && replicas_[static_cast<std::size_t>(ctx.exclude)].usable;
    if (!hash || !ring_ || usable_replicas_ - (excluded_usable ? 1 : 0) <= 0)
        return randomUsable(ctx);
    const std::vector<Node>& nodes = ring_->nodes;
    const auto it = std::lower_bound(nodes.begin(), nodes.end(), *hash,
                                     [](const Node& node, uint64_t value) { return node.hash < value; });
    const std::size_t start = it == nodes.end() ? 0 : static_cast<std::size_t>(it - nodes.begin());
    // Clockwise past unusable and excluded replicas' nodes, as a ketama client walks past a dead
    // server: the keys of a replica that goes down move, no others.
    for (std::size_t step = 0; step < nodes.size(); ++step) {
        const int replica = nodes[(start + step) % nodes.size()].replica;
        if (eligible(replica, ctx))
            return replica;
    }
    return randomUsable(ctx);
}

} // namespace dlb::agent::balance
