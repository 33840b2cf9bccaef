#pragma once
// One Prequal worker under test, with no loop, no clock and no sockets: tst_prequal and
// tst_attack_prequal_s9 drive it through the same helpers.

#include "agent/balance/prequal.hpp"

#include <QList>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace dlb::test::prequal {

using namespace dlb::agent::balance;

inline constexpr uint64_t kMs = 1'000'000;

struct RecordingSink : ProbeSink {
    std::vector<int> sent;
    void sendProbe(int replica) override { sent.push_back(replica); }
};

// Parameters under which nothing happens behind a test's back: no probes sent, no removal per
// request, no idle probing, a long max age. Reuse budgets are then the cap (r_probe = 0 makes
// the formula's denominator negative). HCL is the paper's (lowest cold latency, no tolerance
// band) unless `latency_tolerance` says otherwise.
inline PrequalParams quiet(double latency_tolerance = 0)
{
    PrequalParams p;
    p.latency_tolerance = latency_tolerance;
    p.probe_rate = 0;
    p.remove_rate = 0;
    p.idle_probe_rate = 0;
    p.max_age_ns = 3600'000 * kMs;
    p.max_probes_per_replica_s = 100000;
    return p;
}

struct Harness {
    std::vector<ReplicaState> replicas;
    RecordingSink sink;
    std::unique_ptr<Prequal> lb;

    Harness(int n, const PrequalParams& params, uint64_t seed = 42, bool with_sink = true)
        : replicas(static_cast<std::size_t>(n))
    {
        for (int i = 0; i < n; ++i)
            replicas[static_cast<std::size_t>(i)].id = "r" + std::to_string(i);
        lb = std::make_unique<Prequal>(
            params, BalancerDeps{replicas, seed, with_sink ? &sink : nullptr});
    }

    int pick(uint64_t now, int exclude = kNoReplica)
    {
        PickContext ctx;
        ctx.now_ns = now;
        ctx.exclude = exclude;
        return lb->pick(ctx);
    }

    void answer(int replica, uint32_t rif, double latency_ms, uint64_t now = 0)
    {
        lb->onProbeResult(replica, ProbeResult{rif, latency_ms}, now);
    }

    // Fills the RIF window with `count` answers of value `rif` from `replica`, then drops that
    // replica's probe: the hot threshold is set, the pool is left as it was.
    void warmDistribution(int replica, uint32_t rif, int count = 64)
    {
        for (int i = 0; i < count; ++i)
            answer(replica, rif, 1, 0);
        lb->onProbeFailed(replica, 0);
    }

    QList<int> poolReplicas() const
    {
        QList<int> out;
        for (const ProbeEntry& e : lb->pool())
            out.push_back(e.replica);
        return out;
    }

    const ProbeEntry* entryOf(int replica) const
    {
        for (const ProbeEntry& e : lb->pool()) {
            if (e.replica == replica)
                return &e;
        }
        return nullptr;
    }

    void setUsable(int replica, bool usable)
    {
        replicas[static_cast<std::size_t>(replica)].usable = usable;
        lb->onUsableChanged(replica);
    }
};

} // namespace dlb::test::prequal
