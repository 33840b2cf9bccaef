#include "agent/control/auth.hpp"

#include "agent/http/parser.hpp"
#include "agent/http/path.hpp"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <algorithm>
#include <optional>

namespace dlb::agent::control {

namespace {

bool fromHex(std::string_view hex, unsigned char out[32])
{
    if (hex.size() != 64)
        return false;
    for (size_t i = 0; i < 32; ++i) {
        const int hi = http::hexDigitValue(hex[2 * i]);
        const int lo = http::hexDigitValue(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = static_cast<unsigned char>(hi * 16 + lo);
    }
    return true;
}

} // namespace

std::string sha256Hex(std::string_view token)
{
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), digest);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (unsigned char b : digest) {
        out.push_back(kHex[b >> 4]);
        out.push_back(kHex[b & 15]);
    }
    return out;
}

TokenAuth::TokenAuth(const std::vector<common::ControlToken>& tokens)
{
    for (const auto& t : tokens) {
        Entry e;
        e.name = t.name;
        e.role = t.role == "admin" ? Role::Admin : Role::Viewer;
        if (fromHex(t.sha256, e.digest)) // validated by the config: always true
            entries_.push_back(std::move(e));
    }
}

std::optional<Identity> TokenAuth::check(std::string_view authorization) const
{
    // RFC 6750 2.1: "Bearer" (any case), 1*SP, the token (token68 characters).
    constexpr std::string_view kScheme = "bearer ";
    if (authorization.size() <= kScheme.size() || !http::iequals(authorization.substr(0, kScheme.size()), kScheme))
        return std::nullopt;
    std::string_view token = authorization.substr(kScheme.size());
    while (!token.empty() && token.front() == ' ')
        token.remove_prefix(1);
    if (token.empty())
        return std::nullopt;
    const bool token68 = std::all_of(token.begin(), token.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' || c == '~' ||
               c == '+' || c == '/' || c == '=';
    });
    if (!token68)
        return std::nullopt;
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), digest);
    const Entry* found = nullptr;
    for (const auto& e : entries_) {
        const bool same = CRYPTO_memcmp(digest, e.digest, sizeof digest) == 0;
        // No early exit: every entry is compared whichever matches.
        found = same ? &e : found;
    }
    if (!found)
        return std::nullopt;
    return Identity{found->name, found->role};
}

void FailureLimiter::prune(std::deque<uint64_t>& list, uint64_t now_ms) const
{
    while (!list.empty() && now_ms - list.front() >= kFailureWindowMs)
        list.pop_front();
}

size_t FailureLimiter::failures(const std::string& peer, uint64_t now_ms)
{
    auto it = peers_.find(peer);
    if (it == peers_.end())
        return 0;
    prune(it->second, now_ms);
    return it->second.size();
}

uint64_t FailureLimiter::fail(const std::string& peer, uint64_t now_ms)
{
    auto it = peers_.find(peer);
    if (it == peers_.end()) {
        if (peers_.size() >= kMaxTrackedPeers) {
            auto oldest = peers_.begin();
            for (auto p = peers_.begin(); p != peers_.end(); ++p) {
                const uint64_t last = p->second.empty() ? 0 : p->second.back();
                const uint64_t best = oldest->second.empty() ? 0 : oldest->second.back();
                if (last < best)
                    oldest = p;
            }
            peers_.erase(oldest);
        }
        it = peers_.emplace(peer, std::deque<uint64_t>{}).first;
    }
    auto& list = it->second;
    prune(list, now_ms);
    list.push_back(now_ms);
    // The window holds at most this many: a longer list would only say "slow" again.
    constexpr size_t kKept = kFreeFailures + 32;
    while (list.size() > kKept)
        list.pop_front();
    if (list.size() <= kFreeFailures)
        return 0;
    const size_t over = list.size() - kFreeFailures - 1; // 0 for the first delayed failure
    uint64_t delay = kFirstFailureDelayMs;
    for (size_t i = 0; i < over && delay < kMaxFailureDelayMs; ++i)
        delay *= 2;
    return std::min(delay, kMaxFailureDelayMs);
}

} // namespace dlb::agent::control
