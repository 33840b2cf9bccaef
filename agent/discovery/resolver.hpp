#pragma once
// One c-ares channel driven by a libuv loop: c-ares' sockets are watched with uv_poll, its
// timeouts with a uv_timer, and every event goes to ares_process_fd. Nothing here blocks: a
// lookup returns at once and its answer arrives later on the same loop. Threading: the loop's
// thread only (the agent's main loop; workers never see c-ares).

#include "common/config.hpp"

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

struct ares_channeldata;

namespace dlb::agent::discovery {

// The most addresses one answer contributes, and the most SRV targets one answer has looked up
// (each is a getaddrinfo: two queries); the rest, in order, are left out and the cut is logged.
// A hostile or mistaken answer must not turn into thousands of queries, replicas, health checks
// and connections.
inline constexpr std::size_t kMaxAddressesPerAnswer = 256;

// An address a name resolved to, with the port (and weight) its replica gets.
struct Address {
    std::string ip;     // numeric, IPv6 without brackets
    uint16_t port = 0;
    unsigned weight = 1;
    std::string name;   // the name it came from: the dns:// name or the SRV target
    auto operator<=>(const Address&) const = default;
};

struct Answer {
    bool ok = false;
    std::string error;               // when !ok: what failed, in c-ares' words ("Domain name not found")
    std::vector<Address> addresses;  // sorted, no duplicates, at most kMaxAddressesPerAnswer (the
                                     // first in address order); may be empty: a name without records
    std::size_t total = 0;           // the addresses the answer had before that cut (one that
                                     // two SRV targets both name after the cut counts twice)
    uint32_t ttl_s = UINT32_MAX;     // the smallest TTL of the records used; UINT32_MAX: none seen
    std::vector<std::string> skipped; // SRV targets that did not resolve, with why
    std::set<std::string> unusable;  // addresses left out, with why ("0.0.0.0 (unspecified)")
    std::size_t srv_targets = 0;     // SRV: the usable targets the answer named (at most
                                     // kMaxAddressesPerAnswer of them, by name, were looked up)
};

class Resolver {
public:
    using Done = std::function<void(Answer)>;
    // `servers` empty: the system's resolvers and search list (/etc/resolv.conf, /etc/hosts) as
    // c-ares reads them; else only those servers, and names are queried as written.
    static std::unique_ptr<Resolver, void (*)(Resolver*)> create(uv_loop_t* loop,
                                                                 const std::vector<common::Endpoint>& servers,
                                                                 std::string* why);

    // Looks `entry` up (A and AAAA of a dns:// name; SRV, then the targets' A and AAAA, of an
    // srv:// one) and calls `done` once on this loop, unless the resolver is freed first. The
    // resolver must not be freed from inside `done` (c-ares is still on the stack): defer it.
    void lookup(const common::DiscoveryConfig& entry, Done done);

    struct Poll;
    struct Lookup;

private:
    Resolver() = default;
    ~Resolver();
    // Cancels every lookup (their `done` is never called) and frees the resolver once its
    // handles have closed: the unique_ptr's deleter.
    static void close(Resolver* self);
    static void onSockState(void* data, int fd, int readable, int writable);
    static void onTimer(uv_timer_t* t);
    void armTimer();

    uv_loop_t* loop_ = nullptr;
    ares_channeldata* channel_ = nullptr;
    uv_timer_t timer_{};
    std::vector<Poll*> polls_;
    bool closing_ = false;
    friend struct Lookup;
};

using ResolverPtr = std::unique_ptr<Resolver, void (*)(Resolver*)>;

} // namespace dlb::agent::discovery
