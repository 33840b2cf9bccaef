#pragma once
// The interface every balancing algorithm implements.
//
// Threading: a Balancer belongs to exactly one worker thread (its event loop) and is never
// shared; it takes no lock. The worker owns the ReplicaState array the balancer reads, and
// tells the balancer about changes through the on*() events (HAProxy's style: state changes are
// events the algorithm reacts to, not something it polls).
//
// Health: the worker keeps ReplicaState::usable up to date (active health checks, passive
// failures, draining). pick() must never return a replica whose usable flag is false, and must
// never return ctx.exclude (the replica a retry is moving away from).

#include "common/algorithm_params.hpp"
#include "random.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace dlb::agent::balance {

inline constexpr int kNoReplica = -1;
// Balancer::onProbeRoundTrip's round trip for a probe answered while its time was the worker's.
inline constexpr double kRoundTripUnknown = std::numeric_limits<double>::quiet_NaN();

// What the worker knows of one replica, live. Indexes into this array are the replica ids
// balancers deal in.
struct ReplicaState {
    std::string id;         // "127.0.0.1:9001"
    unsigned weight = 1;
    bool usable = true;     // healthy and not draining
    uint32_t in_flight = 0; // requests this worker has sent and not finished
    double ewma_latency_ms = 0; // this worker's decaying average of response time (0: none yet)
    double recent_errors = 0;   // decaying count of failed requests (connect errors, resets, 5xx)
};

struct PickContext {
    uint64_t now_ns = 0;            // monotonic clock, supplied so tests control time
    std::string_view client_addr;   // textual client IP, "127.0.0.1"
    std::string_view path;          // request target, "/a/b?c"
    // Looks up a request header by lower-case name; empty when absent or not supplied.
    std::function<std::string_view(std::string_view)> header;
    int exclude = kNoReplica;       // replica to avoid (a retry after this one failed)
};

// Probes a balancer asks the worker to send. The worker sends them asynchronously, off the
// request path, and reports each outcome through onProbeResult()/onProbeFailed().
class ProbeSink {
public:
    virtual ~ProbeSink() = default;
    virtual void sendProbe(int replica) = 0;
};

struct ProbeResult {
    uint32_t rif = 0;
    double latency_ms = 0;
};

class Balancer {
public:
    virtual ~Balancer() = default;
    Balancer(const Balancer&) = delete;
    Balancer& operator=(const Balancer&) = delete;

    // Chooses a replica for one request, or kNoReplica when none is usable.
    virtual int pick(const PickContext& ctx) = 0;

    // A replica's usable flag changed (the worker has already updated the state array).
    virtual void onUsableChanged(int /*replica*/) {}
    // A request was sent to `replica` (after pick, once the worker commits to it).
    virtual void onDispatch(int /*replica*/, uint64_t /*now_ns*/) {}
    // A request to `replica` finished; `ok` false for connect errors, resets, timeouts, 5xx.
    // `latency_ms` is negative (PoolRuntime::kNoLatencySample) when the request says nothing of
    // the replica's speed (the client left first, or it never left this process): no sample.
    virtual void onComplete(int /*replica*/, bool /*ok*/, double /*latency_ms*/, uint64_t /*now_ns*/) {}
    // Probe answers (Prequal); other algorithms ignore them.
    virtual void onProbeResult(int /*replica*/, const ProbeResult& /*result*/, uint64_t /*now_ns*/) {}
    virtual void onProbeFailed(int /*replica*/, uint64_t /*now_ns*/) {}
    // How long a probe to `replica` took, from sending it to its answer, or to its timeout
    // (`timed_out`: then a lower bound); kRoundTripUnknown for an answer whose round trip is not
    // the replica's (the worker stalled meanwhile): it was answered, its time says nothing. Load
    // reports and the worker's own measurements are not probes and do not come here. Prequal
    // reads what a probe costs the replicas from it.
    virtual void onProbeRoundTrip(int /*replica*/, double /*round_trip_ms*/, bool /*timed_out*/,
                                  uint64_t /*now_ns*/)
    {
    }
    // `replica`'s probe endpoint was found to hang (its timeouts outnumbered its answers by
    // kProbeTimeoutsForHungVerdict): it gets no probe for a while, so what its timeouts taught
    // about the pool's probe cost no longer applies to the probes that are still sent.
    virtual void onProbeEndpointHung(int /*replica*/, uint64_t /*now_ns*/) {}
    // Called by the worker's timer (about every 10 ms) for idle-time work such as idle probing.
    virtual void onTick(uint64_t /*now_ns*/) {}
    // One line on what the algorithm did, for the worker's stop report ("" when nothing to say).
    virtual std::string stopSummary() const { return {}; }

    std::span<const ReplicaState> replicas() const { return replicas_; }

protected:
    Balancer(std::span<const ReplicaState> replicas, uint64_t seed) : replicas_(replicas), rng_(seed) {}

    // A usable replica chosen uniformly at random (respecting ctx.exclude), or kNoReplica.
    int randomUsable(const PickContext& ctx);

    // Whether pick() may return replica i right now: usable and not the one a retry leaves.
    bool eligible(int i, const PickContext& ctx) const
    {
        return i != ctx.exclude && replicas_[static_cast<std::size_t>(i)].usable;
    }

    // The weight the weighted algorithms use. Config validation rejects 0, but a 0 that slips
    // through must neither divide by zero nor stall a table build, so it counts as 1.
    static unsigned weightOf(const ReplicaState& replica) { return replica.weight == 0 ? 1U : replica.weight; }

    int replicaCount() const { return static_cast<int>(replicas_.size()); }

    std::span<const ReplicaState> replicas_;
    Rng rng_;
};

struct BalancerDeps {
    std::span<const ReplicaState> replicas;
    uint64_t seed = 0;
    ProbeSink* probes = nullptr; // may be null (tests, algorithms that do not probe)
};

using BalancerFactory = std::function<std::unique_ptr<Balancer>(const common::AlgorithmConfig&, const BalancerDeps&)>;

// The name→factory registry. Every name of common::algorithms() is registered; makeBalancer
// returns null for an unknown name (configs are validated before they get here).
std::unique_ptr<Balancer> makeBalancer(const common::AlgorithmConfig& config, const BalancerDeps& deps);

} // namespace dlb::agent::balance
