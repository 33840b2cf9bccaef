#include "maglev.hpp"

#include "hashing.hpp"

#include <algorithm>
#include <utility>

namespace dlb::agent::balance {

namespace {
// Rehashes tried before falling back to a random replica: with one replica of n excluded, each
// try lands elsewhere with probability (n-1)/n, so a few suffice.
constexpr int kMaxRehash = 8;
constexpr uint64_t kRehashSalt = 0x9e3779b97f4a7c15ULL;

uint64_t nextPrime(uint64_t n)
{
    while (!Maglev::isPrime(n))
        ++n;
    return n;
}
} // namespace

bool Maglev::isPrime(uint64_t n)
{
    if (n < 2)
        return false;
    for (uint64_t d = 2; d * d <= n; ++d) {
        if (n % d == 0)
            return false;
    }
    return true;
}

Maglev::Maglev(std::span<const ReplicaState> replicas, uint64_t seed, common::HashKey key, uint64_t table_size)
    : Balancer(replicas, seed), key_(std::move(key)), size_(nextPrime(std::max<uint64_t>(table_size, 2)))
{
    // As in the paper and Envoy: offset in [0, M), skip in [1, M).
    for (const auto& replica : replicas) {
        offset_.push_back(hash64(replica.id, 0) % size_);
        skip_.push_back(hash64(replica.id, 1) % (size_ - 1) + 1);
    }
    build();
}

void Maglev::build()
{
    struct Builder {
        int replica;
        uint64_t weight;
        uint64_t target = 0; // Envoy's target_weight: when this replica may take its next turn
        uint64_t slot;       // the next slot of its permutation to try
    };
    std::vector<Builder> builders;
    uint64_t max_weight = 0;
    for (int i = 0; i < replicaCount(); ++i) {
        const auto at = static_cast<std::size_t>(i);
        if (!replicas_[at].usable)
            continue;
        builders.push_back({i, weightOf(replicas_[at]), 0, offset_[at]});
        max_weight = std::max<uint64_t>(max_weight, weightOf(replicas_[at]));
    }
    table_.clear();
    if (builders.empty())
        return;
    table_.assign(size_, kNoReplica);

    // Envoy's weighted filling, in integers: a replica of the heaviest weight takes a turn every
    // round, one of a third of that weight every third round.
    uint64_t filled = 0;
    for (uint64_t round = 1; filled < size_; ++round) {
        for (Builder& builder : builders) {
            if (filled == size_)
                break;
            if (round * builder.weight < builder.target)
                continue;
            builder.target += max_weight;
            const uint64_t skip = skip_[static_cast<std::size_t>(builder.replica)];
            while (table_[builder.slot] != kNoReplica)
                builder.slot = (builder.slot + skip) % size_;
            table_[builder.slot] = builder.replica;
            builder.slot = (builder.slot + skip) % size_;
            ++filled;
        }
    }
}

void Maglev::onUsableChanged(int /*replica*/)
{
    build();
}

int Maglev::pick(const PickContext& ctx)
{
    const auto hash = requestHash(key_, ctx);
    if (!hash || table_.empty())
        return randomUsable(ctx);
    uint64_t probe = *hash;
    for (int attempt = 0; attempt <= kMaxRehash; ++attempt) {
        const int replica = table_[probe % size_];
        if (eligible(replica, ctx))
            return replica;
        probe = mix64(probe + kRehashSalt);
    }
    return randomUsable(ctx);
}

} // namespace dlb::agent::balance
