#pragma once
// Bearer tokens and the slowdown of peers that keep presenting wrong ones. The config holds only
// each token's SHA-256; a presented token is hashed and compared against every entry in constant
// time, so neither the comparison nor which entry matched leaks through timing.

#include "agent/control/router.hpp"
#include "common/config.hpp"

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace dlb::agent::control {

// Failures from one peer tolerated within kFailureWindowMs before its answers are delayed.
inline constexpr unsigned kFreeFailures = 5;
inline constexpr uint64_t kFailureWindowMs = 60'000;
// The delay of the first failure past kFreeFailures; it doubles with each further one, up to
// kMaxFailureDelayMs. A timer, never a blocked loop.
inline constexpr uint64_t kFirstFailureDelayMs = 500;
inline constexpr uint64_t kMaxFailureDelayMs = 8'000;
// Peers remembered at most; past it the one whose last failure is oldest is forgotten (a flood
// of addresses must not grow memory without bound).
inline constexpr size_t kMaxTrackedPeers = 4096;

struct Identity {
    std::string name; // the token's name in the config
    Role role = Role::None;
};

// The SHA-256 of `token`, lower-case hex.
std::string sha256Hex(std::string_view token);

class TokenAuth {
public:
    explicit TokenAuth(const std::vector<common::ControlToken>& tokens);
    // The identity of an "Authorization" field value, or nullopt for a missing, malformed or
    // unknown token. Every configured token is compared, whichever matches.
    std::optional<Identity> check(std::string_view authorization) const;

private:
    struct Entry {
        std::string name;
        Role role;
        unsigned char digest[32];
    };
    std::vector<Entry> entries_;
};

// Counts authentication failures per peer in a sliding window.
class FailureLimiter {
public:
    // Records a failure at `now_ms`; returns how long to hold its answer (0: none).
    uint64_t fail(const std::string& peer, uint64_t now_ms);
    // Failures of `peer` within the window ending at `now_ms`.
    size_t failures(const std::string& peer, uint64_t now_ms);

private:
    void prune(std::deque<uint64_t>& list, uint64_t now_ms) const;
    std::map<std::string, std::deque<uint64_t>, std::less<>> peers_;
};

} // namespace dlb::agent::control
