#pragma once
// A worker's live state for one pool: the replica states its balancer reads, the balancer,
// the idle keep-alive connections per replica and the prober. Threading: one worker thread.
// Sessions hold a shared_ptr to the runtime they started on, so a runtime replaced by a reload
// lives until its last request finishes ("retired": it then closes connections instead of
// keeping them).

#include "agent/balance/balancer.hpp"
#include "agent/balance/prequal.hpp"
#include "agent/http/parser.hpp"
#include "agent/proxy/prober.hpp"
#include "agent/proxy/snapshot.hpp"
#include "agent/stats/counters.hpp"

#include <uv.h>

#include <memory>
#include <vector>

namespace dlb::agent::proxy {

class UpstreamConn;
class Worker;

// How often a worker publishes its Prequal pool's hot/cold standing for the stats collector.
inline constexpr uint64_t kStandingPublishNs = 250'000'000;

// Whether a connect error is this process's (out of descriptors, memory or local ports) rather
// than the replica's: such a failure never counts against a replica.
bool isLocalConnectError(int uv_status);

class PoolRuntime : public std::enable_shared_from_this<PoolRuntime> {
public:
    PoolRuntime(Worker& worker, std::shared_ptr<const PoolSpec> spec, uint64_t seed);
    ~PoolRuntime();
    PoolRuntime(const PoolRuntime&) = delete;
    PoolRuntime& operator=(const PoolRuntime&) = delete;

    // Must be called once after construction (needs shared_from_this).
    void start();

    const PoolSpec& spec() const { return *spec_; }
    balance::Balancer& balancer() { return *balancer_; }
    std::vector<balance::ReplicaState>& states() { return states_; }
    const sockaddr* replicaAddr(int replica) const { return spec_->replicas[static_cast<size_t>(replica)].addr.get(); }
    Worker& worker() { return worker_; }
    // TLS for a connection about to be made to an https:// replica, resuming this worker's
    // last session with it (see PoolSpec::secure).
    int secure(net::TcpConn& conn, int replica)
    {
        return spec_->secure(conn, static_cast<size_t>(replica), sessions_[static_cast<size_t>(replica)]);
    }

    // An idle connection to `replica`, or a new one (connecting). Null when connect fails
    // synchronously (uv error in *err).
    UpstreamConn* acquire(int replica, bool* reused, int* err);
    // Returns a connection after an exchange: kept idle when reusable, else closed.
    void release(UpstreamConn* conn, bool reusable);
    void forgetIdle(UpstreamConn* conn);
    void onConnClosed(UpstreamConn* conn);

    // Request accounting, feeding the balancer and the replica's signals.
    void dispatched(int replica, uint64_t now_ns);
    void completed(int replica, bool ok, double latency_ms, uint64_t now_ns);
    // A request that ends without the replica's answer: the client went away or stalled, or
    // this process failed before a packet left. In flight drops; no error. `waited_ms`: the time
    // since the request was dispatched, as a response time is measured, when the replica had
    // all of it and answered no head (kNoLatencySample when it owed nothing: the body never
    // came, or nothing left; a slow upload counts, as in a response time). Not a response time,
    // only a floor of one, so it is a sample only where it says more than the average does: above it.
    // Below it says nothing (a client that leaves after 50 ms a replica that takes 200 ms must
    // not make it look faster). Above it, it must count: a replica that accepts requests and
    // never answers (a deadlock, a stopped process), or answers only after the clients gave up,
    // would otherwise never be measured, and Prequal's fallback scores an unmeasured replica 0
    // and sent it nearly every request (tst_attack_s11).
    void abandoned(int replica, uint64_t now_ns, double waited_ms = kNoLatencySample);
    // completed()'s latency that takes no sample (abandoned()).
    static constexpr double kNoLatencySample = -1;
    // A connection to the replica was refused (or reset before it was up): passive health, the
    // replica sits out a while (kPassiveDownNs) on this worker, unless that would take the pool
    // below health_check.panic_threshold (then every replica is balanced over).
    void sitOut(int replica, uint64_t now_ns);
    // A connect to the replica failed with `uv_status`: sitOut() unless the failure is local.
    void connectFailed(int replica, int uv_status, uint64_t now_ns);
    // A response head from `replica`: an endpoint-load-metrics or X-Load header in it enters the
    // balancer as a free probe answer (docs/load-reports.md). Allocation-free; a call per response.
    void responseHead(int replica, const http::Message& head, uint64_t now_ns);
    // What this worker measures of `replica`, in a probe answer's units (docs/load-reports.md):
    // false while it has no latency sample yet (no answer beats a made-up fast one).
    bool ownMeasurement(int replica, balance::ProbeResult* out) const;
    // Stats (agent/stats): what happened to requests and probes, in this worker's blocks.
    // A replica answered `status` after `latency_ns` (a 5xx also counts as its error).
    void answered(int replica, int status, uint64_t latency_ns);
    void countError(int replica, stats::ErrorKind kind);
    void countNoReplica() { pool_stats_->no_replica.add(); }
    void countProbe(int replica);
    void countProbeFailed(int replica);
    // A probe answer or a load report: the RIF the replica says it has.
    void reportedRif(int replica, uint32_t rif, uint64_t now_ns);

    void tick(uint64_t now_ns);
    void retire();
    bool retired() const { return retired_; }
    // Upstream and probe connections still open (a retired runtime is freed only at zero).
    size_t liveConnections() const { return live_conns_ + (prober_ ? prober_->openConnections() : 0); }

private:
    void refreshUsable(uint64_t now_ns);
    void publishStanding(uint64_t now_ns);
    // Hands the balancer's per-replica latency averages to this worker's stats blocks.
    void publishLatency();

    Worker& worker_;
    std::shared_ptr<const PoolSpec> spec_;
    std::vector<balance::ReplicaState> states_;
    std::vector<uint64_t> down_until_ns_;
    std::vector<std::vector<UpstreamConn*>> idle_;
    std::vector<std::shared_ptr<tls::SessionCache>> sessions_; // per replica, this worker's
    std::unique_ptr<Prober> prober_;
    std::unique_ptr<balance::Balancer> balancer_;
    uint64_t seed_;
    uint64_t last_tick_ns_ = 0;
    size_t live_conns_ = 0;
    bool retired_ = false;
    bool panic_ = false;
    // Probe cost, logged when the runtime retires: probes sent per request dispatched.
    uint64_t requests_ = 0;
    uint64_t probes_sent_ = 0;
    uint64_t load_reports_ = 0;
    // This worker's stats blocks: one per replica (same order as states_) and the pool's.
    std::vector<stats::ReplicaCounters*> replica_stats_;
    stats::PoolCounters* pool_stats_ = nullptr;
    // The balancer when it is Prequal: its probe pool's hot/cold standing is published.
    const balance::Prequal* prequal_ = nullptr;
    uint64_t last_publish_ns_ = 0;
    std::vector<stats::Standing> standing_; // scratch for publishStanding(), sized once
};

} // namespace dlb::agent::proxy
