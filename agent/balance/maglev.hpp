#pragma once
// Maglev hashing (Eisenbud et al., NSDI 2016), with Envoy's weighting: a lookup table of a prime
// number of slots, filled by letting the replicas take turns claiming the next free slot of their
// own permutation (offset + j * skip); a heavier replica takes more turns. A request goes to
// table[hash % size]: one array read, and the table is evenly shared (equal weights: slot counts
// differ by at most one).
//
// The table is rebuilt over the usable replicas when one changes. Maglev trades a little
// stability for that evenness: besides the ~1/n keys of a replica that goes down, a small
// fraction of other keys moves too. A slot whose replica is excluded (or went down before
// onUsableChanged arrived) is left by rehashing the key with a salt a bounded number of times,
// then by a random eligible replica.

#include "balancer.hpp"
#include "common/algorithm_params.hpp"

#include <vector>

namespace dlb::agent::balance {

class Maglev final : public Balancer {
public:
    // A table_size that is not prime is raised to the next prime: with a composite size a skip
    // sharing a factor with it would not visit every slot, and the build would never finish.
    Maglev(std::span<const ReplicaState> replicas, uint64_t seed, common::HashKey key, uint64_t table_size);

    int pick(const PickContext& ctx) override;
    void onUsableChanged(int replica) override;

    uint64_t tableSize() const { return size_; }
    // Slot → replica; empty when no replica is usable.
    std::span<const int> table() const { return table_; }

    static bool isPrime(uint64_t n);

private:
    void build();

    common::HashKey key_;
    uint64_t size_;
    // Each replica's permutation, from two independent hashes of its id (fixed per replica, so a
    // rebuild after a change only re-runs the filling).
    std::vector<uint64_t> offset_;
    std::vector<uint64_t> skip_;
    std::vector<int> table_;
};

} // namespace dlb::agent::balance
