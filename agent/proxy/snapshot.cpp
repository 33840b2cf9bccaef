#include "agent/proxy/snapshot.hpp"

#include "agent/tls/engine.hpp"

#include <uv.h>

#include <algorithm>
#include <thread>

namespace dlb::agent::proxy {

bool PoolSpec::sameRuntimeAs(const PoolSpec& other) const
{
    if (config.name != other.config.name || replicas.size() != other.replicas.size())
        return false;
    const auto& a = config.algorithm;
    const auto& b = other.config.algorithm;
    if (a.name != b.name || a.params != b.params || common::toString(a.hash_key) != common::toString(b.hash_key))
        return false;
    if (config.tls != other.config.tls)
        return false;
    if (config.probe.path != other.config.probe.path || config.probe.timeout_ms != other.config.probe.timeout_ms)
        return false;
    // The runtime reads its panic threshold from the spec it was built with.
    if (config.health_check.panic_threshold != other.config.health_check.panic_threshold)
        return false;
    for (size_t i = 0; i < replicas.size(); ++i)
        if (replicas[i].id != other.replicas[i].id || replicas[i].url != other.replicas[i].url ||
            replicas[i].weight != other.replicas[i].weight)
            return false;
    return true;
}

int PoolSpec::secure(net::TcpConn& conn, size_t replica, std::shared_ptr<tls::SessionCache> cache) const
{
    const ReplicaSpec& r = replicas[replica];
    if (!r.https)
        return 0;
    std::string why;
    auto engine = tls ? tls::Engine::client(tls, r.host, std::move(cache), &why) : nullptr;
    if (!engine)
        return UV_ENOMEM;
    conn.enableTls(std::move(engine), tls_handshake_ms);
    return 0;
}

const Route* Snapshot::route(std::string_view path) const
{
    for (const auto& r : routes)
        if (path.substr(0, r.prefix.size()) == r.prefix)
            return &r;
    return nullptr;
}

unsigned configuredWorkers(const common::Config& config)
{
    return config.workers != 0 ? config.workers : std::max(1U, std::thread::hardware_concurrency());
}

std::shared_ptr<const Snapshot> buildSnapshot(const common::Config& config, const Snapshot* previous, std::string* why,
                                              const DiscoveredReplicas* discovered)
{
    auto snap = std::make_shared<Snapshot>();
    snap->config = config;
    snap->generation = previous ? previous->generation + 1 : 1;
    snap->stats_slots = previous ? previous->stats_slots : configuredWorkers(config);
    tls::Contexts contexts;
    if (const auto errors = tls::loadContexts(config, &contexts); !errors.empty()) {
        if (why) {
            *why = errors.front().toString();
            for (size_t i = 1; i < errors.size(); ++i)
                *why += "\n  " + errors[i].toString();
        }
        return nullptr;
    }
    snap->listener_tls = std::move(contexts.listeners);
    for (const auto& pc : config.pools) {
        auto pool = std::make_shared<PoolSpec>();
        pool->config = pc;
        pool->tls = contexts.pools[snap->pools.size()];
        pool->tls_handshake_ms = config.timeouts.tls_handshake_ms;
        const PoolSpec* old = nullptr;
        if (previous)
            for (const auto& p : previous->pools)
                if (p->config.name == pc.name)
                    old = p.get();
        pool->stats = old ? old->stats : std::make_shared<stats::PoolStats>(snap->stats_slots);
        // The configured replicas, then the discovered ones (source: the entry's URL).
        std::vector<std::pair<const common::ReplicaConfig*, const std::string*>> all;
        for (const auto& rc : pc.replicas)
            all.emplace_back(&rc, nullptr);
        const auto found = discovered ? discovered->find(pc.name) : DiscoveredReplicas::const_iterator{};
        if (discovered && found != discovered->end())
            for (const auto& d : pc.discovery)
                if (const auto it = found->second.find(d.url); it != found->second.end())
                    for (const auto& rc : it->second)
                        if (std::none_of(all.begin(), all.end(), [&](const auto& a) { return a.first->id == rc.id; }))
                            all.emplace_back(&rc, &it->first);
        for (const auto& [rcp, source] : all) {
            const common::ReplicaConfig& rc = *rcp;
            ReplicaSpec r;
            if (source)
                r.source = *source;
            r.id = rc.id;
            r.url = rc.url;
            r.host_header = rc.host_header;
            r.weight = rc.weight;
            r.https = rc.https;
            r.host = rc.endpoint.host;
            std::string err;
            auto addr = net::resolve(rc.endpoint, &err);
            if (!addr) {
                if (why)
                    *why = "pool " + pc.name + ", replica " + rc.url + ": " + err;
                return nullptr;
            }
            r.addr = *addr;
            if (old)
                for (const auto& o : old->replicas)
                    if (o.id == r.id) {
                        r.health = o.health;
                        r.stats = o.stats;
                    }
            if (!r.health)
                r.health = std::make_shared<ReplicaHealth>();
            if (!r.stats)
                r.stats = std::make_shared<stats::ReplicaStats>(snap->stats_slots);
            pool->replicas.push_back(std::move(r));
        }
        snap->pools.push_back(std::move(pool));
    }
    for (const auto& rc : config.routes) {
        for (size_t i = 0; i < config.pools.size(); ++i)
            if (config.pools[i].name == rc.pool)
                snap->routes.push_back({rc.path_prefix, i});
    }
    if (snap->routes.empty() && config.pools.size() == 1)
        snap->routes.push_back({"/", 0});
    std::stable_sort(snap->routes.begin(), snap->routes.end(),
                     [](const Route& a, const Route& b) { return a.prefix.size() > b.prefix.size(); });
    return snap;
}

} // namespace dlb::agent::proxy
