#pragma once
// The immutable, resolved form of a config that workers run on. The main thread builds a new
// Snapshot on every change (SIGHUP, later the control API) and publishes it; each worker swaps
// it in on its own loop, and requests in flight finish on the snapshot they started with.

#include "agent/net/listener.hpp"
#include "agent/net/tcp_conn.hpp"
#include "agent/stats/counters.hpp"
#include "agent/tls/context.hpp"
#include "common/config.hpp"

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace dlb::agent::proxy {

// Written by the health checker (control thread), read by workers: one relaxed atomic, no lock.
// Kept across reloads for a replica that stays (same pool, same id), so a reload does not
// forget who is down.
struct ReplicaHealth {
    std::atomic<bool> healthy{true};
    // Added through the control API and not yet passed a health check: takes no traffic, and
    // does not count towards the panic threshold. Cleared by the first passing check.
    std::atomic<bool> pending{false};
    std::atomic<uint32_t> successes{0};
    std::atomic<uint32_t> failures{0};
    std::atomic<int> last_status{0};
};

struct ReplicaSpec {
    std::string id;
    std::string url;
    std::string host_header;
    net::SockAddr addr;
    unsigned weight = 1;
    std::shared_ptr<ReplicaHealth> health;
    // Its counters, one block per worker; kept across reloads as `health` is.
    std::shared_ptr<stats::ReplicaStats> stats;
    bool https = false;
    std::string host; // as in the URL: SNI and the name checked against its certificate
    // Empty for a replica of the config (file or control API); else the pools[].discovery URL
    // that found it ("dns://replicas.example.svc:8080"). Shown by GET /v1/pools as "source".
    std::string source;
};

// Replicas found by discovery (agent/discovery), by pool name and then by the discovery URL
// that found them. They live beside the config, never in it: the file keeps the discovery entry.
using DiscoveredReplicas = std::map<std::string, std::map<std::string, std::vector<common::ReplicaConfig>>>;

struct PoolSpec {
    common::PoolConfig config;
    std::vector<ReplicaSpec> replicas;
    std::shared_ptr<stats::PoolStats> stats; // kept across reloads while the pool's name stays
    std::shared_ptr<const tls::ClientContext> tls; // set when the pool has https:// replicas
    uint64_t tls_handshake_ms = common::kDefaultTlsHandshakeTimeoutMs;
    // Puts TLS on a connection about to be made to `replica` when it is https:// (resuming
    // from `cache` when given). 0, or a UV error when OpenSSL cannot allocate.
    int secure(net::TcpConn& conn, size_t replica, std::shared_ptr<tls::SessionCache> cache) const;
    // Same replicas and algorithm: a worker keeps its runtime (probe pool, idle connections).
    bool sameRuntimeAs(const PoolSpec& other) const;
};

struct Route {
    std::string prefix;
    size_t pool; // index into Snapshot::pools
};

struct Snapshot {
    common::Config config;
    std::vector<std::shared_ptr<const PoolSpec>> pools;
    std::vector<Route> routes; // longest prefix first
    // Server contexts by listener index (null: plain HTTP). Built anew on every load, so a
    // SIGHUP rereads certificates; connections keep the contexts they started with.
    std::vector<std::shared_ptr<const tls::ServerContext>> listener_tls;
    uint64_t generation = 0;
    // Worker blocks in every stats object: the worker count at start (a restart-only key), so a
    // reload that changes `workers` in the file does not resize them. Also the running worker
    // count, for whoever needs it on the data path.
    std::size_t stats_slots = 1;

    // Longest-prefix match; nullptr when no route matches.
    const Route* route(std::string_view path) const;
};

// The number of worker threads `config` asks for (0 in the file: one per core).
unsigned configuredWorkers(const common::Config& config);

// Resolves addresses, loads TLS certificates and builds routes. `previous` lends its
// ReplicaHealth objects to replicas that stay. Returns null with `why` set when an address
// cannot be resolved or a certificate, key or CA file cannot be loaded. `discovered` adds, after
// each pool's configured replicas, the ones its discovery entries found (in entry order; an id
// taken already, by the config or an earlier entry, is left out); entries the config no longer
// has are ignored.
std::shared_ptr<const Snapshot> buildSnapshot(const common::Config& config, const Snapshot* previous, std::string* why,
                                              const DiscoveredReplicas* discovered = nullptr);

} // namespace dlb::agent::proxy
