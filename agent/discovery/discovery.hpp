#pragma once
// Which replicas exist, found by DNS (pools[].discovery): one entry per dns:// or srv:// URL,
// each looked up now and then again every interval_ms, sooner when the answer's TTL is shorter,
// never more often than common::kMinDiscoveryIntervalMs. It only reports sets of replicas;
// adding them (pending their first health check) and draining the ones that left is the
// agent's (agent/proxy/agent.hpp). A failed, NXDOMAIN, SERVFAIL, timed out or empty answer
// reports nothing: the last good set stays. Threading: the agent's main loop only.

#include "agent/discovery/resolver.hpp"
#include "common/config.hpp"

#include <uv.h>

#include <functional>
#include <string>
#include <vector>

namespace dlb::agent::discovery {

// After a failed or empty answer the entry asks again this soon (or at its interval_ms when
// that is shorter, but not below the floor).
inline constexpr uint64_t kRetryMs = 5000;

// The replica an address becomes: id and URL "ip:port" ("[v6]:port"), Host header
// "name:port" (the name that was looked up, or the SRV target).
common::ReplicaConfig replicaFor(const Address& address, bool https);

class Discovery {
public:
    using Logger = std::function<void(const std::string&)>;
    // A new, non-empty set of replicas for the entry `url` of pool `pool`, in address order;
    // called only when it differs from the last one reported for that entry. It runs inside a
    // c-ares callback: it must not call apply() or stop().
    using Update = std::function<void(const std::string& pool, const std::string& url,
                                      std::vector<common::ReplicaConfig> replicas)>;

    Discovery(uv_loop_t* loop, Logger log, Update update);
    ~Discovery();
    Discovery(const Discovery&) = delete;
    Discovery& operator=(const Discovery&) = delete;

    // Runs the entries of `config`: one whose pool, settings and resolvers are unchanged keeps
    // its state and schedule; a new one is looked up now; the others stop.
    void apply(const common::Config& config);
    void stop();

    struct Entry;

private:
    friend struct Entry;
    uv_loop_t* loop_;
    Logger log_;
    Update update_;
    std::vector<Entry*> entries_;
};

} // namespace dlb::agent::discovery
