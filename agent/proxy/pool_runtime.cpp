#include "agent/proxy/pool_runtime.hpp"

#include "agent/proxy/upstream.hpp"
#include "agent/proxy/worker.hpp"

#include <algorithm>
#include <cmath>

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
        states_[i].usable = spec_->replicas[i].health->healthy.load(std::memory_order_relaxed);
    }
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
    ++states_[static_cast<size_t>(replica)].in_flight;
    balancer_->onDispatch(replica, now_ns);
}

void PoolRuntime::completed(int replica, bool ok, double latency_ms, uint64_t now_ns)
{
    auto& s = states_[static_cast<size_t>(replica)];
    if (s.in_flight > 0)
        --s.in_flight;
    if (ok)
        s.ewma_latency_ms = s.ewma_latency_ms == 0 ? latency_ms
                                                   : s.ewma_latency_ms + kLatencyEwmaAlpha * (latency_ms - s.ewma_latency_ms);
    else
        s.recent_errors += 1;
    balancer_->onComplete(replica, ok, latency_ms, now_ns);
}

void PoolRuntime::sitOut(int replica, uint64_t now_ns)
{
    down_until_ns_[static_cast<size_t>(replica)] = now_ns + kPassiveDownNs;
    refreshUsable(now_ns);
}

void PoolRuntime::refreshUsable(uint64_t now_ns)
{
    for (size_t i = 0; i < states_.size(); ++i) {
        const bool usable = spec_->replicas[i].health->healthy.load(std::memory_order_relaxed) && now_ns >= down_until_ns_[i];
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
    if (!retired_)
        balancer_->onTick(now_ns);
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

void PoolRuntime::retire()
{
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
