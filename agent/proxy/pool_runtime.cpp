#include "agent/proxy/pool_runtime.hpp"

#include "agent/balance/load_report.hpp"
#include "agent/proxy/log.hpp"
#include "agent/proxy/upstream.hpp"
#include "agent/proxy/worker.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace dlb::agent::proxy {

namespace {
// After a connection to a replica fails, this worker leaves it out for this long (passive
// health); the active health check decides for longer.
constexpr uint64_t kPassiveDownNs = 1'000'000'000ULL;
// Weight of the newest sample in the per-replica latency average.
constexpr double kLatencyEwmaAlpha = 0.2;
// recent_errors halves every this many ns, so old failures stop counting against a replica.
constexpr double kErrorHalfLifeNs = 2e9;
} // namespace

bool isLocalConnectError(int uv_status)
{
    switch (uv_status) {
    case UV_EMFILE:
    case UV_ENFILE:
    case UV_ENOBUFS:
    case UV_ENOMEM:
    case UV_EADDRNOTAVAIL: // no local port left
    case UV_EAGAIN:        // the same, on some kernels
        return true;
    default:
        return false;
    }
}

PoolRuntime::PoolRuntime(Worker& worker, std::shared_ptr<const PoolSpec> spec, uint64_t seed)
    : worker_(worker), spec_(std::move(spec)), seed_(seed)
{
    const size_t n = spec_->replicas.size();
    states_.resize(n);
    down_until_ns_.assign(n, 0);
    idle_.resize(n);
    for (size_t i = 0; i < n; ++i)
        sessions_.push_back(spec_->replicas[i].https ? std::make_shared<tls::SessionCache>() : nullptr);
    for (size_t i = 0; i < n; ++i) {
        states_[i].id = spec_->replicas[i].id;
        states_[i].weight = spec_->replicas[i].weight;
        const ReplicaHealth& h = *spec_->replicas[i].health;
        states_[i].usable = h.healthy.load(std::memory_order_relaxed) && !h.pending.load(std::memory_order_relaxed);
        replica_stats_.push_back(&spec_->replicas[i].stats->slot(worker.index()));
    }
    pool_stats_ = &spec_->stats->slot(worker.index());
    standing_.resize(n);
}

PoolRuntime::~PoolRuntime() = default;

void PoolRuntime::start()
{
    prober_ = std::make_unique<Prober>(worker_.loop(), *this);
    balance::BalancerDeps deps;
    deps.replicas = states_;
    deps.seed = seed_;
    deps.probes = prober_.get();
    balancer_ = balance::makeBalancer(spec_->config.algorithm, deps);
    prequal_ = dynamic_cast<const balance::Prequal*>(balancer_.get());
    pool_stats_->hot_threshold.set(-1);
    last_tick_ns_ = Worker::nowNs();
}

UpstreamConn* PoolRuntime::acquire(int replica, bool* reused, int* err)
{
    auto& list = idle_[static_cast<size_t>(replica)];
    // Most recently used first: its connection is the least likely to have timed out.
    while (!list.empty()) {
        UpstreamConn* c = list.back();
        list.pop_back();
        if (c->stream().closing())
            continue;
        *reused = true;
        return c;
    }
    *reused = false;
    auto* c = new UpstreamConn(worker_.loop(), shared_from_this(), replica, worker_.parserLimits());
    ++live_conns_;
    const int rc = c->connect();
    if (rc != 0) {
        *err = rc;
        c->close(); // freed in its close callback
        return nullptr;
    }
    return c;
}

void PoolRuntime::release(UpstreamConn* conn, bool reusable)
{
    auto& list = idle_[static_cast<size_t>(conn->replica())];
    if (!reusable || retired_ || list.size() >= worker_.snapshot().config.limits.max_idle_upstream_per_replica) {
        conn->close();
        return;
    }
    conn->markIdle(Worker::nowNs());
    list.push_back(conn);
}

void PoolRuntime::forgetIdle(UpstreamConn* conn)
{
    auto& list = idle_[static_cast<size_t>(conn->replica())];
    list.erase(std::remove(list.begin(), list.end(), conn), list.end());
}

void PoolRuntime::onConnClosed(UpstreamConn* conn)
{
    forgetIdle(conn);
    --live_conns_;
    // The connection holds a shared_ptr to this runtime: keep us alive until we return.
    auto keep = shared_from_this();
    delete conn;
}

void PoolRuntime::dispatched(int replica, uint64_t now_ns)
{
    ++requests_;
    replica_stats_[static_cast<size_t>(replica)]->requests.add();
    ++states_[static_cast<size_t>(replica)].in_flight;
    balancer_->onDispatch(replica, now_ns);
}

void PoolRuntime::completed(int replica, bool ok, double latency_ms, uint64_t now_ns)
{
    auto& s = states_[static_cast<size_t>(replica)];
    replica_stats_[static_cast<size_t>(replica)]->completed.add();
    if (s.in_flight > 0)
        --s.in_flight;
    if (!ok)
        s.recent_errors += 1;
    else if (latency_ms >= 0)
        s.ewma_latency_ms = s.ewma_latency_ms == 0 ? latency_ms
                                                   : s.ewma_latency_ms + kLatencyEwmaAlpha * (latency_ms - s.ewma_latency_ms);
    balancer_->onComplete(replica, ok, latency_ms, now_ns);
}

void PoolRuntime::abandoned(int replica, uint64_t now_ns, double waited_ms)
{
    const bool floor_above_average = waited_ms > states_[static_cast<size_t>(replica)].ewma_latency_ms;
    completed(replica, true, floor_above_average ? waited_ms : kNoLatencySample, now_ns);
}

void PoolRuntime::sitOut(int replica, uint64_t now_ns)
{
    down_until_ns_[static_cast<size_t>(replica)] = now_ns + kPassiveDownNs;
    refreshUsable(now_ns);
}

void PoolRuntime::connectFailed(int replica, int uv_status, uint64_t now_ns)
{
    if (!isLocalConnectError(uv_status))
        sitOut(replica, now_ns);
}

void PoolRuntime::responseHead(int replica, const http::Message& head, uint64_t now_ns)
{
    // A report repeated (two combined give every key twice, which no report grammar allows)
    // is read as none: reading the first alone would pick one claim at random.
    balance::ProbeResult r;
    const std::string_view orca = head.soleHeader(balance::kOrcaHeader);
    const bool ok = (!orca.empty() && balance::parseOrcaLoadMetrics(orca, &r)) ||
                    balance::parseXLoad(head.soleHeader(balance::kXLoadHeader), &r);
    if (!ok)
        return;
    ++load_reports_;
    reportedRif(replica, r.rif, now_ns);
    balancer_->onProbeResult(replica, r, now_ns);
}

void PoolRuntime::answered(int replica, int status, uint64_t latency_ns)
{
    auto& rs = *replica_stats_[static_cast<size_t>(replica)];
    rs.responses.add();
    rs.latency.recordNs(latency_ns);
    if (status >= 500)
        countError(replica, stats::ErrorKind::Status5xx);
}

void PoolRuntime::countError(int replica, stats::ErrorKind kind)
{
    replica_stats_[static_cast<size_t>(replica)]->countError(kind);
    worker_.stats().countError(kind);
}

void PoolRuntime::countProbe(int replica)
{
    ++probes_sent_;
    worker_.stats().probes_sent.add();
    pool_stats_->probes_sent.add();
    replica_stats_[static_cast<size_t>(replica)]->probes_sent.add();
}

void PoolRuntime::countProbeFailed(int replica)
{
    worker_.stats().probes_failed.add();
    pool_stats_->probes_failed.add();
    replica_stats_[static_cast<size_t>(replica)]->probes_failed.add();
}

void PoolRuntime::reportedRif(int replica, uint32_t rif, uint64_t now_ns)
{
    auto& rs = *replica_stats_[static_cast<size_t>(replica)];
    rs.reported_rif.set(rif);
    rs.reported_rif_ns.set(now_ns);
}

void PoolRuntime::publishStanding(uint64_t now_ns)
{
    if (!prequal_ || now_ns - last_publish_ns_ < kStandingPublishNs)
        return;
    last_publish_ns_ = now_ns;
    std::fill(standing_.begin(), standing_.end(), stats::Standing::None);
    for (const balance::ProbeEntry& e : prequal_->pool())
        if (e.replica >= 0 && static_cast<size_t>(e.replica) < standing_.size())
            standing_[static_cast<size_t>(e.replica)] = prequal_->isHot(e) ? stats::Standing::Hot : stats::Standing::Cold;
    for (size_t i = 0; i < standing_.size(); ++i)
        replica_stats_[i]->standing.set(static_cast<uint64_t>(standing_[i]));
    pool_stats_->probe_pool_size.set(prequal_->poolSize());
    const double threshold = prequal_->hotThreshold();
    pool_stats_->hot_threshold.set(std::isfinite(threshold) ? threshold : -1);
}

bool PoolRuntime::ownMeasurement(int replica, balance::ProbeResult* out) const
{
    const auto& s = states_[static_cast<size_t>(replica)];
    if (s.ewma_latency_ms <= 0)
        return false;
    // A probe answer's RIF counts the replica's requests from every client; this worker sees
    // only its own share. The other workers of this agent send it about as many (they balance
    // the same replicas on the same rule), so the share is scaled by the worker count: the
    // running one (`workers` is restart-only), read from the snapshot, as asking the system
    // for its cores costs three syscalls (openat/read/close, ~8 µs) and this runs per probe.
    const auto workers = static_cast<double>(worker_.snapshot().stats_slots);
    out->rif = static_cast<uint32_t>(std::min<double>(s.in_flight * workers, balance::kMaxReportedRif));
    out->latency_ms = s.ewma_latency_ms;
    return true;
}

void PoolRuntime::refreshUsable(uint64_t now_ns)
{
    // A pending replica (added through the control API, not yet checked) is out of service by
    // decision, not by verdict: it neither takes traffic nor counts towards the panic threshold,
    // so adding one to a pool can never put the pool into panic and send it requests unchecked.
    size_t n = 0;
    size_t healthy_count = 0;
    size_t reachable_count = 0; // not refused a connection within kPassiveDownNs
    for (size_t i = 0; i < states_.size(); ++i) {
        const ReplicaHealth& h = *spec_->replicas[i].health;
        if (h.pending.load(std::memory_order_relaxed))
            continue;
        ++n;
        const bool reachable = now_ns >= down_until_ns_[i];
        reachable_count += reachable ? 1 : 0;
        if (reachable && h.healthy.load(std::memory_order_relaxed))
            ++healthy_count;
    }
    // Envoy's panic threshold: when too few replicas look usable, the verdicts are more likely
    // wrong (a health check that queued behind requests on a busy replica) or the pool is
    // overloaded, and answering 503 would turn load into an outage. Below the threshold the
    // active health verdicts are set aside; a connection refused within the last kPassiveDownNs
    // is a fact, not a verdict, and still counts, unless every replica has one: a refusal is
    // then up to kPassiveDownNs old, and replicas restarted in turn (a rolling deploy of two)
    // had each refused once while the other was down, so the pool answered 503 for most of a
    // second while one of them accepted (68% of requests failed in tst_attack_probe). With no
    // replica left to prefer, requests try them all again: a fresh refusal on every attempt
    // answers 502, any replica that accepts again serves at once.
    const bool panic = healthy_count * 100 < size_t{spec_->config.health_check.panic_threshold} * n;
    if (panic != panic_) {
        panic_ = panic;
        worker_.logError("pool " + spec_->config.name + ": " + std::to_string(healthy_count) + " of " +
                         std::to_string(n) + " replicas usable, " +
                         (panic ? "below health_check.panic_threshold: balancing over every replica that accepts "
                                  "connections"
                                : "back at or above health_check.panic_threshold"));
    }
    for (size_t i = 0; i < states_.size(); ++i) {
        const ReplicaHealth& h = *spec_->replicas[i].health;
        const bool reachable = now_ns >= down_until_ns_[i];
        bool usable = reachable && h.healthy.load(std::memory_order_relaxed);
        if (panic)
            usable = reachable || reachable_count == 0;
        if (h.pending.load(std::memory_order_relaxed))
            usable = false;
        if (usable != states_[i].usable) {
            states_[i].usable = usable;
            balancer_->onUsableChanged(static_cast<int>(i));
        }
    }
}

void PoolRuntime::tick(uint64_t now_ns)
{
    const double dt = static_cast<double>(now_ns - last_tick_ns_);
    last_tick_ns_ = now_ns;
    const double decay = std::exp2(-dt / kErrorHalfLifeNs);
    for (auto& s : states_)
        s.recent_errors = s.recent_errors < 0.01 ? 0 : s.recent_errors * decay;
    refreshUsable(now_ns);
    publishLatency();
    if (!retired_) {
        balancer_->onTick(now_ns);
        publishStanding(now_ns);
    }
    prober_->tick(now_ns);
    const uint64_t idle_limit = uint64_t{worker_.snapshot().config.timeouts.upstream_idle_ms} * 1'000'000ULL;
    for (auto& list : idle_) {
        for (size_t i = 0; i < list.size();) {
            if (now_ns - list[i]->idleSinceNs() > idle_limit) {
                UpstreamConn* c = list[i];
                list.erase(list.begin() + static_cast<long>(i));
                c->close();
            } else {
                ++i;
            }
        }
    }
}

void PoolRuntime::publishLatency()
{
    for (size_t i = 0; i < states_.size(); ++i)
        if (states_[i].ewma_latency_ms > 0)
            replica_stats_[i]->latency_ewma_ms.set(states_[i].ewma_latency_ms);
}

void PoolRuntime::retire()
{
    if (!retired_ && requests_ > 0) {
        // What probing cost: the number the paper's r_probe is a ceiling for.
        char ratio[32];
        std::snprintf(ratio, sizeof ratio, "%.3f", static_cast<double>(probes_sent_) / static_cast<double>(requests_));
        logLine("worker " + std::to_string(worker_.index()) + ", pool " + spec_->config.name + ": " +
                std::to_string(requests_) + " requests, " + std::to_string(probes_sent_) + " probes sent (" + ratio +
                " per request), " + std::to_string(load_reports_) + " load reports");
        if (const std::string summary = balancer_->stopSummary(); !summary.empty())
            logLine("worker " + std::to_string(worker_.index()) + ", pool " + spec_->config.name + ": " + summary);
    }
    retired_ = true;
    for (auto& list : idle_) {
        auto copy = list;
        list.clear();
        for (auto* c : copy)
            c->close();
    }
    if (prober_)
        prober_->closeAll();
}

} // namespace dlb::agent::proxy
