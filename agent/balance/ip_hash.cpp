#include "ip_hash.hpp"

#include "hashing.hpp"

#include <algorithm>

namespace dlb::agent::balance {

namespace {
constexpr int kMaxRehash = 20; // nginx's ip_hash gives up after 20 tries
constexpr uint64_t kRehashSalt = 0x9e3779b97f4a7c15ULL;
} // namespace

IpHash::IpHash(std::span<const ReplicaState> replicas, uint64_t seed) : Balancer(replicas, seed)
{
    cumulative_.reserve(replicas.size());
    uint64_t total = 0;
    for (const auto& replica : replicas) {
        total += weightOf(replica);
        cumulative_.push_back(total);
    }
}

// The replica whose share of [0, total weight) the hash falls in.
int IpHash::owner(uint64_t hash) const
{
    const uint64_t point = hash % cumulative_.back();
    const auto it = std::upper_bound(cumulative_.begin(), cumulative_.end(), point);
    return static_cast<int>(it - cumulative_.begin());
}

int IpHash::pick(const PickContext& ctx)
{
    if (ctx.client_addr.empty() || cumulative_.empty())
        return randomUsable(ctx);
    uint64_t hash = hash64(ctx.client_addr);
    int candidate = owner(hash);
    for (int attempt = 0; attempt < kMaxRehash; ++attempt) {
        if (eligible(candidate, ctx))
            return candidate;
        hash = mix64(hash + kRehashSalt);
        candidate = owner(hash);
    }
    const int n = replicaCount();
    for (int step = 0; step < n; ++step) {
        const int i = (candidate + step) % n;
        if (eligible(i, ctx))
            return i;
    }
    return kNoReplica;
}

} // namespace dlb::agent::balance
