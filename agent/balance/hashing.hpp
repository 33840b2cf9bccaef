#pragma once
// Hashing shared by ip_hash, ring_hash and maglev: one 64-bit string hash, and the request key a
// pool is configured to hash.

#include "balancer.hpp"
#include "common/algorithm_params.hpp"

#include <cstdint>
#include <optional>
#include <string_view>

namespace dlb::agent::balance {

// MurmurHash3's 64-bit finalizer: a bijection in which every input bit affects every output
// bit. Also used on its own to rehash a hash deterministically.
constexpr uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

// FNV-1a over the bytes, finished by mix64: FNV alone avalanches poorly (keys differing in their
// last byte land close together), which would cluster a ring's virtual nodes. `seed` gives
// independent hashes of the same bytes (Maglev needs two per replica).
uint64_t hash64(std::string_view data, uint64_t seed = 0);

// The hash of the request's key: its client address, its path (the whole request target, query
// included, as Envoy hashes :path) or one header. nullopt when that key is empty or absent:
// callers then pick at random, as Envoy does, rather than send every keyless request to the one
// replica that owns the hash of "".
std::optional<uint64_t> requestHash(const common::HashKey& key, const PickContext& ctx);

} // namespace dlb::agent::balance
