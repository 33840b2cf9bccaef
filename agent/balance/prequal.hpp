#pragma once
// Prequal (Wydrowski et al., NSDI 2024): asynchronous probing, a small pool of recent probe
// answers, and hot-cold lexicographic (HCL) selection. the project's PREQUAL.md (shared/) is the spec
// this follows; the comments in prequal.cpp name the paper's rule each step implements.
//
// What pick() does, in order: drop probes older than max_age and probes of unusable replicas;
// remove ⌊r_remove⌋ or ⌈r_remove⌉ probes, alternating oldest and worst; a cold probe of a replica
// this worker has sent nothing for max_age goes first (exploreIndex(): a stale slow latency must
// not starve a replica that has become fast); else, with fewer than 2 probes left (ctx.exclude's
// not counted), the fallback on this worker's own counts (below); else HCL (some cold → the cold
// one of lowest latency, latencies within latency_tolerance of the lowest tying on RIF; all hot
// → the lowest RIF). A chosen probe's RIF and uses rise by 1 (it
// leaves at its b_reuse). Last, ask for this request's ⌊r⌋ or ⌈r⌉ probes, to distinct random
// usable replicas under a per-replica ceiling, skipping (and counting as sent) a target whose pool
// entry is younger than probe_fresh_ms: the probe rate follows what the pool lacks. r is r_probe,
// or less where probes are dear (below).
//
// Probe cost (issue 7): the paper's replicas answer a probe from a counter, for nothing. Many
// servers answer it on their serving path, where it waits for a slot like a request: at 90% load
// r_probe = 3 (or the 0.2 probes per request that fresh-answer skipping left) was then load the
// replicas could not carry, and their queues grew until requests timed out. So the rate is cut to
// probe_cost_budget over the measured cost of one probe (the mean probe round trip over the mean
// request latency: about 1 for a probe that waits like a request, near 0 for one answered from a
// counter). With so few probes most picks find fewer than 2 probes in the pool; the fallback
// then is not the paper's uniform draw, which sends a slow replica 1/n of those requests, but
// what this client knows for free: the usable replica with the fewest of its requests in flight,
// ties to the lower latency it measured (least-connection, as the peers balance).
//
// Threading: one Prequal per worker (each worker is one Prequal client, as each client is in the
// paper). It is a pure algorithm: no lock, no I/O, no clock of its own. Time comes from
// ctx.now_ns / the now_ns arguments; probes leave through BalancerDeps::probes and their
// answers come back through onProbeResult()/onProbeFailed(), always on the owning worker's loop.
//
// Hot path: pick() allocates nothing (every array is sized at construction) and never waits for
// a probe: the probes a request triggers are only *asked for* (ProbeSink::sendProbe) and help
// later requests.
//
// Replicas without a probe endpoint: the worker may answer such a replica's probes itself, by
// calling onProbeResult() with its own measurements in a probe answer's units (see
// PoolRuntime::ownMeasurement()). Load reports on responses arrive the same way. The pool treats
// them like any other answer.
//
// Health: the worker owns health. A failed probe only drops that replica's probes from the pool
// (seed, table 2); entries of replicas whose usable flag is false are purged on the next pick.
// The worker must call onUsableChanged() when a usable flag flips, because the probe-target
// list (the replicas probes are drawn from) is rebuilt on that event, not polled.

#include "balancer.hpp"
#include "probe_cost.hpp"
#include "rif_window.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace dlb::agent::balance {

// The algorithm's parameters, read from common::AlgorithmConfig (names as in the config).
struct PrequalParams {
    double probe_rate = 3;          // r_probe: probes per request, fractional allowed
    uint32_t pool_size = 16;        // m
    double q_rif = 0.84;            // Q_RIF: hot iff RIF above this quantile
    uint64_t max_age_ns = 1'000'000'000; // max_age_ms
    double remove_rate = 1;         // r_remove: removals per request, fractional allowed
    double delta = 1;               // δ: net accumulation rate in the b_reuse formula
    double idle_probe_rate = 10;    // probes per second while no request triggers any; 0: off
    double max_probes_per_replica_s = 1000; // per-replica probe ceiling; <= 0: no ceiling
    double error_penalty = 4;       // RIF one unit of ReplicaState::recent_errors counts as
    // A probe to a replica whose pool entry is younger than this is skipped (0: never skip).
    uint64_t probe_fresh_ns = 20'000'000;
    // Replica time, in requests' worth, that the probes of one request may cost: the probe rate
    // is cut to this over the measured cost of a probe (its round trip over a request's
    // latency), never above probe_rate. 0: the cost is not looked at (the paper's fixed rate).
    double probe_cost_budget = 0.02;
    // HCL among cold probes: latencies within this fraction of the lowest cold latency count as
    // equal, and the lowest RIF among them wins (0: the paper's rule, the lowest latency).
    double latency_tolerance = 1;

    // Values absent from the config take the spec default of common::algorithms(), or the
    // defaults above for parameters the spec table does not list. Out-of-range values (configs
    // are validated before they get here) are clamped, so the algorithm never misbehaves.
    static PrequalParams fromConfig(const common::AlgorithmConfig& config);
};

// One probe answer held in the pool. The pool holds at most one per replica: a newer answer
// replaces the older one.
struct ProbeEntry {
    int replica = kNoReplica;
    uint32_t rif = 0;          // answered RIF, plus one per request sent on this probe and not yet ended
    double latency_ms = 0;
    uint64_t received_ns = 0;  // receipt time on our clock (the paper: no clock-skew issues)
    uint32_t uses = 0;         // times HCL chose this probe
    uint32_t reuse_budget = 1; // b_reuse drawn at insert; the probe leaves when uses reaches it
    uint32_t added = 0;        // what rif holds above the answer: requests sent on it, not yet ended
};

class Prequal : public Balancer {
public:
    // The largest reuse budget, and the budget where the formula has no meaning; the reasons
    // are in reuseBudgetFor() (prequal.cpp).
    static constexpr double kReuseBudgetCap = 16;
    // How many recent probe answers the hot threshold is read from (rif_window.hpp).
    static constexpr std::size_t kRifWindow = RifWindow::kCapacity;
    // Burst the per-replica probe ceiling allows, as seconds' worth of its rate (50 probes at
    // the default 1000/s), so a burst of requests after a lull still probes freely.
    static constexpr double kProbeBurstSeconds = 0.05;
    // Per-request removals stop at this many probes (see pick()).
    static constexpr std::size_t kMinPoolAfterRemoval = 2;
    // A replica whose decaying error count is below this counts as error-free in the
    // fallback (one failure decays below it within a couple of seconds).
    static constexpr double kErrorFreeBelow = 0.5;
    // Most idle probes one onTick() sends: a tick that came late (a busy loop) must not turn
    // into a burst of probes.
    static constexpr std::size_t kMaxIdleProbesPerTick = 64;
    // Weight of the newest sample in the probe cost's averages (probe_cost.hpp).
    static constexpr double kCostEwmaAlpha = ProbeCost::kEwmaAlpha;

    Prequal(const PrequalParams& params, const BalancerDeps& deps);

    int pick(const PickContext& ctx) override;
    void onUsableChanged(int replica) override;
    void onProbeResult(int replica, const ProbeResult& result, uint64_t now_ns) override;
    void onProbeFailed(int replica, uint64_t now_ns) override;
    void onProbeRoundTrip(int replica, double round_trip_ms, bool timed_out, uint64_t now_ns) override;
    void onProbeEndpointHung(int replica, uint64_t now_ns) override;
    void onComplete(int replica, bool ok, double latency_ms, uint64_t now_ns) override;
    void onTick(uint64_t now_ns) override;
    std::string stopSummary() const override;

    // b_reuse = max(1, (1 + δ) / ((1 − m/n)·r_probe − r_remove)), capped at kReuseBudgetCap,
    // which is also the value when n <= m or the denominator is <= 0.
    static double reuseBudgetFor(double m, double n, double r_probe, double r_remove, double delta);

    // Read-only views, for tests and the control API.
    const PrequalParams& params() const { return params_; }
    std::span<const ProbeEntry> pool() const { return pool_; }
    std::size_t poolSize() const { return pool_.size(); }
    std::size_t usableCount() const { return usable_.size(); }
    // Probes skipped because the pool held a fresh answer for their target.
    uint64_t probesSkippedFresh() const { return skipped_fresh_; }
    // What one probe costs the replicas, in requests' worth: the mean over probes of their round
    // trip over the mean request latency (a timed-out probe counts 1); -1 until a probe
    // came back after a request did.
    double probeCost() const { return cost_.cost(); }
    // Probes per request right now: probe_rate, or less where probes are dear.
    double effectiveProbeRate() const { return cost_.rate(params_.probe_rate, params_.probe_cost_budget); }
    // Whether the probe cost holds the rate below one probe per request (and below probe_rate):
    // then each answer serves one pick and idle probing waits for a pool without requests.
    bool probeCostLimited() const { return cost_.limits(params_.probe_rate, params_.probe_cost_budget); }
    // Picks made by HCL from the pool, and by the fallback (fewer than 2 probes in the pool).
    uint64_t poolPicks() const { return pool_picks_; }
    uint64_t fallbackPicks() const { return fallback_picks_; }
    // Picks that went to a cold probe of a replica this worker had sent nothing for max_age.
    uint64_t explorePicks() const { return explore_picks_; }
    // Answers the hot threshold is taken from right now (at most kRifWindow, none older than
    // max_age).
    std::size_t rifWindowCount() const { return rif_window_.size(); }
    double reuseBudget() const; // b_reuse for the current number of usable replicas
    // RIF above which a probe is hot: the Q_RIF quantile of the recent answers; -1 when
    // Q_RIF = 0 (every probe hot: RIF-only), +infinity before any answer arrived.
    double hotThreshold() const;
    // The RIF HCL compares: the probe's RIF plus error_penalty per recent error of its replica.
    double effectiveRif(const ProbeEntry& entry) const;
    bool isHot(const ProbeEntry& entry) const { return effectiveRif(entry) > hot_threshold_; }

private:
    void rebuildUsable();
    // Where too few probes are in the pool, and a cold replica this worker has left alone
    // (prequal_fallback.cpp).
    int fallbackPick(const PickContext& ctx);
    int exploreIndex(const PickContext& ctx) const; // pool index, or -1
    bool probeAllowed(int replica, uint64_t now_ns);
    void sendProbes(std::size_t count, uint64_t now_ns);
    void recordRif(uint32_t rif, uint64_t now_ns);
    void expireRif(uint64_t now_ns);
    void updateHotThreshold();
    bool hasFreshEntry(int replica, uint64_t now_ns) const;
    void purge(uint64_t now_ns);
    void removeOne();
    std::size_t oldestIndex() const;
    std::size_t worstIndex() const;
    int selectHcl(int exclude) const; // pool index, or -1 when fewer than 2 probes qualify
    void eraseReplica(int replica);
    static void addRequest(ProbeEntry& entry); // a request sent on this answer: RIF + 1
    uint32_t drawReuseBudget();

    PrequalParams params_;
    ProbeSink* probes_;

    std::vector<ProbeEntry> pool_; // capacity pool_size, reserved once; insertion (age) order
    std::vector<int> usable_;      // usable replica ids, permuted in place by the target draw

    // Per-replica probe ceiling as a GCRA (a token bucket kept as one integer time): a probe is
    // allowed when now >= tat - burst; each probe pushes tat one interval further.
    std::vector<uint64_t> probe_tat_;
    uint64_t probe_interval_ns_ = 0; // 0: no ceiling
    uint64_t probe_burst_ns_ = 0;

    double probe_accumulator_ = 0;
    double remove_accumulator_ = 0;
    bool remove_worst_next_ = false; // r_remove alternates oldest, worst, oldest, ...
    uint64_t last_probe_ns_ = 0;
    uint64_t last_pick_ns_ = 0;
    bool probed_yet_ = false;
    uint64_t idle_interval_ns_ = 0; // 0: no idle probing
    uint64_t skipped_fresh_ = 0;
    // sendProbes() draws from usable_ in place; a sink that fails a probe synchronously may
    // flip a usable flag under it. The rebuild then waits until the draw is over.
    bool sending_ = false;
    bool usable_stale_ = false;

    ProbeCost cost_; // behind probeCost() and the probe rate
    uint64_t pool_picks_ = 0;
    uint64_t fallback_picks_ = 0;
    uint64_t explore_picks_ = 0;
    // Per replica: when this worker last sent it a request (exploreIndex()).
    std::vector<uint64_t> last_sent_ns_;
    // Per replica: this worker's requests to it that were in flight when its current entry was
    // answered, less those that have ended since (their ends take nothing back from that entry).
    std::vector<uint32_t> sent_before_entry_;

    RifWindow rif_window_;
    double hot_threshold_;
    double reuse_budget_ = kReuseBudgetCap; // b_reuse for the current usable count
};

std::unique_ptr<Balancer> makePrequal(const common::AlgorithmConfig& config,
                                      const BalancerDeps& deps);

} // namespace dlb::agent::balance
