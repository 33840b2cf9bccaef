#include "prequal.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string_view>

namespace dlb::agent::balance {

namespace {

// A value that is an integer in exact arithmetic (0.7 · 10, 0.1 + … + 0.1) may land a hair
// below or above it in floating point; this tolerance keeps floor/ceil on the intended side.
constexpr double kEpsilon = 1e-9;

// When some drawn probe targets are at their probe ceiling, a request draws up to this many
// more so it still sends its probes; bounded so pick() stays cheap when every replica is capped.
constexpr std::size_t kExtraTargetDraws = 4;

double paramValue(const common::AlgorithmConfig& config, std::string_view key, double fallback)
{
    double value = fallback;
    if (auto it = config.params.find(key); it != config.params.end()) {
        value = it->second;
    } else if (const auto* algo = common::findAlgorithm("prequal")) {
        if (const auto* spec = common::findParam(*algo, key))
            value = spec->def;
    }
    return std::isfinite(value) ? value : fallback;
}

// The number of events a fractional per-request rate yields this time: the running sum is
// floored, so over k requests the total is within one of k · rate (the paper: fractional rates
// are rounded deterministically so the long-run mean is exact).
std::size_t takeWhole(double& accumulator, double rate)
{
    accumulator += rate;
    const double whole = std::floor(accumulator + kEpsilon);
    accumulator -= whole;
    return static_cast<std::size_t>(whole);
}

// Nanoseconds between events at `per_second` (> 0) events a second; at least 1.
uint64_t intervalNs(double per_second)
{
    return std::max<uint64_t>(1, static_cast<uint64_t>(std::llround(1e9 / per_second)));
}

} // namespace

PrequalParams PrequalParams::fromConfig(const common::AlgorithmConfig& config)
{
    const PrequalParams d;
    PrequalParams p;
    p.probe_rate = std::clamp(paramValue(config, "probe_rate", d.probe_rate), 0.0, 1e6);
    p.pool_size = static_cast<uint32_t>(
        std::clamp(std::llround(paramValue(config, "pool_size", d.pool_size)), 1LL, 4096LL));
    p.q_rif = std::clamp(paramValue(config, "q_rif", d.q_rif), 0.0, 1.0);
    const double default_age_ms = static_cast<double>(d.max_age_ns) / 1e6;
    const double age_ms = std::clamp(paramValue(config, "max_age_ms", default_age_ms), 0.0, 1e9);
    p.max_age_ns = static_cast<uint64_t>(age_ms * 1e6);
    p.remove_rate = std::clamp(paramValue(config, "remove_rate", d.remove_rate), 0.0, 1e6);
    p.delta = std::max(0.0, paramValue(config, "delta", d.delta));
    p.idle_probe_rate =
        std::clamp(paramValue(config, "idle_probe_rate", d.idle_probe_rate), 0.0, 1e6);
    p.max_probes_per_replica_s = std::clamp(
        paramValue(config, "max_probes_per_replica_s", d.max_probes_per_replica_s), 0.0, 1e9);
    p.error_penalty = std::max(0.0, paramValue(config, "error_penalty", d.error_penalty));
    const double default_fresh_ms = static_cast<double>(d.probe_fresh_ns) / 1e6;
    const double fresh_ms =
        std::clamp(paramValue(config, "probe_fresh_ms", default_fresh_ms), 0.0, 1e9);
    p.probe_fresh_ns = static_cast<uint64_t>(fresh_ms * 1e6);
    p.probe_cost_budget =
        std::clamp(paramValue(config, "probe_cost_budget", d.probe_cost_budget), 0.0, 1e6);
    p.latency_tolerance =
        std::clamp(paramValue(config, "latency_tolerance", d.latency_tolerance), 0.0, 1e6);
    return p;
}

Prequal::Prequal(const PrequalParams& params, const BalancerDeps& deps)
    : Balancer(deps.replicas, deps.seed)
    , params_(params)
    , probes_(deps.probes)
    , hot_threshold_(std::numeric_limits<double>::infinity())
{
    params_.pool_size = std::max<uint32_t>(1, params_.pool_size);
    pool_.reserve(params_.pool_size);
    usable_.reserve(replicas_.size());
    probe_tat_.assign(replicas_.size(), 0);
    last_sent_ns_.assign(replicas_.size(), 0);
    sent_before_entry_.assign(replicas_.size(), 0);
    if (params_.max_probes_per_replica_s > 0) {
        const double rate = params_.max_probes_per_replica_s;
        probe_interval_ns_ = intervalNs(rate);
        const double burst = std::max(1.0, std::floor(rate * kProbeBurstSeconds + kEpsilon));
        probe_burst_ns_ = static_cast<uint64_t>(burst - 1) * probe_interval_ns_;
    }
    if (params_.idle_probe_rate > 0)
        idle_interval_ns_ = intervalNs(params_.idle_probe_rate);
    rebuildUsable();
}

double Prequal::reuseBudgetFor(double m, double n, double r_probe, double r_remove, double delta)
{
    // The formula models a pool drawing fresh answers from replicas it does not yet hold
    // (1 − m/n of the probes) faster than r_remove takes them out. When n <= m, or when that
    // net inflow is <= 0, it has no meaning, and as the denominator falls to 0 from above the
    // budget grows without bound; both sides meet at one cap. Unlimited reuse (until max_age)
    // would let a single answer steer every request for a whole second when probes are scarce;
    // 16, the paper's pool size, bounds one answer to about a pool's worth of requests, and a
    // probe's RIF rises by one per reuse, so an overused answer turns hot well before that.
    if (n <= m)
        return kReuseBudgetCap;
    const double denominator = (1.0 - m / n) * r_probe - r_remove;
    if (!(denominator > 0))
        return kReuseBudgetCap;
    return std::clamp((1.0 + delta) / denominator, 1.0, kReuseBudgetCap);
}

double Prequal::reuseBudget() const
{
    return reuse_budget_;
}

double Prequal::hotThreshold() const
{
    return hot_threshold_;
}

void Prequal::onProbeRoundTrip(int /*replica*/, double round_trip_ms, bool timed_out, uint64_t /*now_ns*/)
{
    cost_.onRoundTrip(round_trip_ms, timed_out);
}

void Prequal::onProbeEndpointHung(int /*replica*/, uint64_t /*now_ns*/)
{
    // The timeouts that found it were most of what cut the rate (1 hung replica of 2 at 100
    // requests/s: 18 probes in 40 s, 2 to the other): with it unprobed, no new sample came to
    // lift the averages, and the pool stayed cut for good. A pool whose every replica hangs
    // gets each its verdict, after at most kProbeTimeoutsForHungVerdict probes each.
    cost_.forgetProbes();
}

void Prequal::onComplete(int replica, bool ok, double latency_ms, uint64_t /*now_ns*/)
{
    cost_.onRequest(ok, latency_ms);
    // The paper adds one to a probe's RIF per request sent on it; a request that has ended is no
    // longer in the replica's queue, so it is taken back here (down to the answered RIF, never
    // below). Kept, an answered request left a fast replica's probe "hot" to a client that sends
    // one request at a time, and HCL sent the next requests to the cold entry of a replica that
    // took 300 ms (tst_attack_s11: 9 of 30 lost once its probe path was judged hung and its
    // stand-in entry, this worker's own measurement with nothing in flight, entered the pool).
    // Only a request sent on the entry gives back: the requests that were in flight when the
    // answer came are taken to end first (tst_attack_prequal_s13: three older requests ending
    // took back the increments of three newer ones still in flight, and the entry read RIF 0).
    if (replica < 0 || static_cast<std::size_t>(replica) >= replicas_.size())
        return;
    uint32_t& older = sent_before_entry_[static_cast<std::size_t>(replica)];
    if (older > 0) {
        --older;
        return;
    }
    for (ProbeEntry& e : pool_) {
        if (e.replica == replica && e.added > 0) {
            --e.added;
            --e.rif;
            break; // at most one entry per replica (onProbeResult)
        }
    }
}

std::string Prequal::stopSummary() const
{
    // The cost is unknown (negative) before the first answer, and again after a hung-endpoint
    // verdict forgot it: "-1.000 requests' worth" read like a measurement.
    char cost[48];
    if (probeCost() < 0)
        std::snprintf(cost, sizeof cost, "unknown");
    else
        std::snprintf(cost, sizeof cost, "%.3f requests' worth", probeCost());
    char line[256];
    std::snprintf(line, sizeof line,
                  "prequal: %llu picks by HCL, %llu by fallback, %llu exploring; probe cost %s, %.0f%% "
                  "answered in time, rate %.3f per request",
                  static_cast<unsigned long long>(pool_picks_),
                  static_cast<unsigned long long>(fallback_picks_),
                  static_cast<unsigned long long>(explore_picks_), cost, 100 * cost_.answeredShare(),
                  effectiveProbeRate());
    return line;
}

double Prequal::effectiveRif(const ProbeEntry& entry) const
{
    // Sinkholing: a replica that fails fast answers with a low RIF and a low latency, and would
    // draw ever more traffic. Counting its recent errors as RIF makes it hot instead.
    const ReplicaState& replica = replicas_[static_cast<std::size_t>(entry.replica)];
    return entry.rif + params_.error_penalty * replica.recent_errors;
}

void Prequal::rebuildUsable()
{
    usable_.clear(); // capacity stays: replicas_.size() was reserved
    for (std::size_t i = 0; i < replicas_.size(); ++i) {
        if (replicas_[i].usable)
            usable_.push_back(static_cast<int>(i));
    }
    // n in the b_reuse formula is the number of usable replicas; it changes only here.
    reuse_budget_ = reuseBudgetFor(params_.pool_size, static_cast<double>(usable_.size()),
                                   params_.probe_rate, params_.remove_rate, params_.delta);
}

void Prequal::onUsableChanged(int replica)
{
    if (sending_)
        usable_stale_ = true; // sendProbes() rebuilds once its draw is over
    else
        rebuildUsable();
    if (replica >= 0 && static_cast<std::size_t>(replica) < replicas_.size()
        && !replicas_[static_cast<std::size_t>(replica)].usable)
        eraseReplica(replica);
}

bool Prequal::probeAllowed(int replica, uint64_t now_ns)
{
    if (probe_interval_ns_ == 0)
        return true;
    uint64_t& tat = probe_tat_[static_cast<std::size_t>(replica)];
    if (tat > now_ns + probe_burst_ns_)
        return false;
    tat = std::max(tat, now_ns) + probe_interval_ns_;
    return true;
}

bool Prequal::hasFreshEntry(int replica, uint64_t now_ns) const
{
    if (params_.probe_fresh_ns == 0)
        return false;
    for (const ProbeEntry& e : pool_) {
        if (e.replica == replica)
            return now_ns < e.received_ns + params_.probe_fresh_ns;
    }
    return false;
}

void Prequal::sendProbes(std::size_t count, uint64_t now_ns)
{
    if (probes_ == nullptr || count == 0 || sending_)
        return;
    // Targets uniformly at random without replacement (the paper): a partial Fisher–Yates
    // shuffle of usable_. Any permutation left by earlier draws is as good a start as another.
    const std::size_t n = usable_.size();
    const std::size_t max_draws = std::min(n, count + kExtraTargetDraws);
    std::size_t sent = 0;
    for (std::size_t drawn = 0; drawn < max_draws && sent < count; ++drawn) {
        const std::size_t j = drawn + rng_.below(static_cast<uint32_t>(n - drawn));
        std::swap(usable_[drawn], usable_[j]);
        const int target = usable_[drawn];
        if (!replicas_[static_cast<std::size_t>(target)].usable)
            continue;
        // Adaptive probing: an answer this fresh (from a probe or a load report) is what the
        // probe would bring back, and a probe costs the replica a request's worth on some
        // servers. The draw counts as this request's probe, so the rate falls as reports rise.
        if (hasFreshEntry(target, now_ns)) {
            ++skipped_fresh_;
            ++sent;
            continue;
        }
        if (!probeAllowed(target, now_ns))
            continue;
        // The sink may fail the probe synchronously and flip usable flags: onUsableChanged()
        // then defers its rebuild of usable_, which this loop is permuting.
        sending_ = true;
        probes_->sendProbe(target);
        sending_ = false;
        ++sent;
        last_probe_ns_ = now_ns;
        probed_yet_ = true;
    }
    if (usable_stale_) {
        usable_stale_ = false;
        rebuildUsable();
    }
}

void Prequal::onTick(uint64_t now_ns)
{
    // Idle probing (the paper's optional minimum probing rate) keeps the pool warm when no
    // request triggers probes, so the first request after a lull is balanced on fresh answers.
    expireRif(now_ns);
    if (idle_interval_ns_ == 0)
        return;
    if (!probed_yet_) {
        last_probe_ns_ = now_ns - std::min(now_ns, idle_interval_ns_);
        probed_yet_ = true;
    }
    if (now_ns < last_probe_ns_ + idle_interval_ns_)
        return;
    // Where probes are dear and requests flow, their rate is the one chosen for what probes
    // cost; idle probes on top (the floor of 10/s per worker) were most of the probes the asyncio
    // replicas of the matrix served at 90% load. Idle probing is for a pool without requests.
    if (probeCostLimited() && now_ns < last_pick_ns_ + idle_interval_ns_) {
        last_probe_ns_ = now_ns;
        return;
    }
    // The worker ticks about every 10 ms; a rate above 100/s owes several probes per tick.
    const uint64_t due = (now_ns - last_probe_ns_) / idle_interval_ns_;
    const std::size_t count = static_cast<std::size_t>(std::min<uint64_t>(due, kMaxIdleProbesPerTick));
    // Draws are without replacement within one call: more probes than replicas take rounds.
    for (std::size_t left = count; left > 0;) {
        const std::size_t round = std::min(left, std::max<std::size_t>(1, usable_.size()));
        sendProbes(round, now_ns);
        left -= round;
    }
    // The credit is spent whether or not a probe could go (no usable replica, fresh answers):
    // idle probing is a floor on the rate, not a debt to pay later in a burst.
    last_probe_ns_ = now_ns;
}

void Prequal::expireRif(uint64_t now_ns)
{
    // The oldest answers leave the window once older than max_age, as they leave the pool.
    if (rif_window_.expire(now_ns, params_.max_age_ns))
        updateHotThreshold();
}

void Prequal::recordRif(uint32_t rif, uint64_t now_ns)
{
    rif_window_.record(rif, now_ns, params_.max_age_ns);
    updateHotThreshold();
}

void Prequal::updateHotThreshold()
{
    // Hot means above the Q_RIF quantile of the RIF distribution across replicas, estimated
    // from recent answers (not from the pool, which HCL and "remove worst" bias towards idle
    // replicas). Rank 0 (q = 0) makes every probe hot, which is RIF-only selection, and q = 1
    // makes none hot (latency only); with no recent answer nothing is hot.
    hot_threshold_ = rif_window_.quantile(params_.q_rif);
}

void Prequal::onProbeResult(int replica, const ProbeResult& result, uint64_t now_ns)
{
    // An answer from a replica the worker has meanwhile marked unusable, or a garbled latency,
    // must not enter the pool (the seed's defect: probe errors used anyway).
    if (replica < 0 || static_cast<std::size_t>(replica) >= replicas_.size()
        || !replicas_[static_cast<std::size_t>(replica)].usable || !std::isfinite(result.latency_ms)
        || result.latency_ms < 0)
        return;
    recordRif(result.rif, now_ns);
    // At most one probe per replica: the newer answer supersedes the older one, which would
    // only be a staler copy (and would miss the RIF increments of requests sent on the new one).
    eraseReplica(replica);
    sent_before_entry_[static_cast<std::size_t>(replica)] = replicas_[static_cast<std::size_t>(replica)].in_flight;
    if (pool_.size() >= params_.pool_size) // pool full: evict the oldest (the paper's first rule)
        pool_.erase(pool_.begin() + static_cast<std::ptrdiff_t>(oldestIndex()));
    pool_.push_back(
        ProbeEntry{replica, result.rif, result.latency_ms, now_ns, 0, drawReuseBudget()});
}

void Prequal::onProbeFailed(int replica, uint64_t /*now_ns*/)
{
    // Seed, table 2: a probe to a replica that is down clears its probes from the pool. Its
    // health state is the worker's business.
    eraseReplica(replica);
}

uint32_t Prequal::drawReuseBudget()
{
    // A probe bought at a request's price arrives once every tens of requests, and the pool then
    // holds few, old answers: reused up to kReuseBudgetCap times, the lowest-latency one drew
    // bursts of requests onto one replica while its RIF climbed to hot (the asyncio cells of the
    // matrix: p50 51 ms against 31 ms with no probes at all). Where the cost cuts the probe rate,
    // each answer steers one request; the fallback, on what this worker sees, takes the rest.
    if (probeCostLimited())
        return 1;
    // The paper: a fractional b_reuse is rounded up or down at random, keeping its expectation.
    const double budget = reuse_budget_;
    const double whole = std::floor(budget);
    const double fraction = budget - whole;
    const bool up = fraction > 0 && rng_.uniform() < fraction;
    return static_cast<uint32_t>(whole) + (up ? 1U : 0U);
}

void Prequal::addRequest(ProbeEntry& entry)
{
    // Saturating: an answer of 2^32 - 1 (a broken or hostile counter) wrapped to 0 on the next
    // request, turning the most loaded replica into the coldest.
    if (entry.rif < std::numeric_limits<uint32_t>::max()) {
        ++entry.rif;
        ++entry.added;
    }
}

void Prequal::eraseReplica(int replica)
{
    std::erase_if(pool_, [replica](const ProbeEntry& e) { return e.replica == replica; });
}

void Prequal::purge(uint64_t now_ns)
{
    expireRif(now_ns);
    // Probes older than max_age leave (the paper's third removal rule); so do probes of replicas
    // that stopped being usable, whether or not the event reached us yet.
    const uint64_t max_age = params_.max_age_ns;
    std::erase_if(pool_, [&](const ProbeEntry& e) {
        const bool too_old = now_ns > e.received_ns && now_ns - e.received_ns > max_age;
        return too_old || !replicas_[static_cast<std::size_t>(e.replica)].usable;
    });
}

std::size_t Prequal::oldestIndex() const
{
    std::size_t oldest = 0;
    for (std::size_t i = 1; i < pool_.size(); ++i) {
        if (pool_[i].received_ns < pool_[oldest].received_ns)
            oldest = i;
    }
    return oldest;
}

std::size_t Prequal::worstIndex() const
{
    // The worst probe: the highest-RIF hot probe if any probe is hot, else the highest-latency
    // cold one. Ties go to the older entry (earlier in the pool).
    std::size_t worst_hot = pool_.size();
    std::size_t worst_cold = pool_.size();
    double hot_rif = 0;
    double cold_latency = 0;
    for (std::size_t i = 0; i < pool_.size(); ++i) {
        const double rif = effectiveRif(pool_[i]);
        if (rif > hot_threshold_) {
            if (worst_hot == pool_.size() || rif > hot_rif) {
                worst_hot = i;
                hot_rif = rif;
            }
        } else if (worst_cold == pool_.size() || pool_[i].latency_ms > cold_latency) {
            worst_cold = i;
            cold_latency = pool_[i].latency_ms;
        }
    }
    return worst_hot != pool_.size() ? worst_hot : worst_cold;
}

void Prequal::removeOne()
{
    // r_remove alternates between the oldest and the worst probe, so the pool neither ages nor
    // drifts towards busy replicas.
    const std::size_t victim = remove_worst_next_ ? worstIndex() : oldestIndex();
    pool_.erase(pool_.begin() + static_cast<std::ptrdiff_t>(victim));
    remove_worst_next_ = !remove_worst_next_;
}

int Prequal::selectHcl(int exclude) const
{
    // Hot-cold lexicographic: some probe cold → among the cold ones whose latency is within
    // (1 + latency_tolerance) × the lowest cold latency, the lowest RIF (ties: lower latency);
    // all hot → the lowest RIF (ties: lower latency). Remaining ties go to the older entry.
    // Tolerance 0 is the paper's rule (the lowest latency). The band: a replica's latency is a
    // median of a few recent samples, and the lowest of a dozen such noisy medians is chosen for
    // its noise more than for its speed, while the RIF that tells a replica with free slots from
    // one with a queue is left unread.
    int best_hot = -1;
    double hot_latency = 0;
    double hot_rif = 0;
    double min_cold_latency = std::numeric_limits<double>::infinity();
    std::size_t candidates = 0;
    for (std::size_t i = 0; i < pool_.size(); ++i) {
        const ProbeEntry& e = pool_[i];
        if (e.replica == exclude)
            continue;
        ++candidates;
        const double rif = effectiveRif(e);
        if (rif > hot_threshold_) {
            if (best_hot < 0 || rif < hot_rif || (rif == hot_rif && e.latency_ms < hot_latency)) {
                best_hot = static_cast<int>(i);
                hot_rif = rif;
                hot_latency = e.latency_ms;
            }
        } else {
            min_cold_latency = std::min(min_cold_latency, e.latency_ms);
        }
    }
    // Fewer than 2 probes: the paper (and the seed) pick uniformly at random instead.
    if (candidates < 2)
        return -1;
    if (!std::isfinite(min_cold_latency))
        return best_hot;
    const double limit = min_cold_latency * (1.0 + params_.latency_tolerance);
    int best_cold = -1;
    double cold_latency = 0;
    double cold_rif = 0;
    for (std::size_t i = 0; i < pool_.size(); ++i) {
        const ProbeEntry& e = pool_[i];
        if (e.replica == exclude || e.latency_ms > limit)
            continue;
        const double rif = effectiveRif(e);
        if (rif > hot_threshold_)
            continue;
        if (best_cold < 0 || rif < cold_rif || (rif == cold_rif && e.latency_ms < cold_latency)) {
            best_cold = static_cast<int>(i);
            cold_rif = rif;
            cold_latency = e.latency_ms;
        }
    }
    return best_cold;
}

int Prequal::pick(const PickContext& ctx)
{
    last_pick_ns_ = ctx.now_ns;
    purge(ctx.now_ns);
    const std::size_t removals = takeWhole(remove_accumulator_, params_.remove_rate);
    // Removal keeps the pool from drifting towards busy replicas; taking it below two probes
    // would only turn the next picks into random ones (with few replicas and bursts of
    // requests between probe answers, that was most picks).
    for (std::size_t k = 0; k < removals && pool_.size() > kMinPoolAfterRemoval; ++k)
        removeOne();

    int chosen = kNoReplica;
    int index = exploreIndex(ctx);
    if (index >= 0) {
        ++explore_picks_;
    } else {
        index = selectHcl(ctx.exclude);
        if (index >= 0)
            ++pool_picks_;
    }
    if (index >= 0) {
        ProbeEntry& e = pool_[static_cast<std::size_t>(index)];
        chosen = e.replica;
        // The paper: a request sent on a probe increments that probe's RIF (latency unchanged),
        // and a probe used b_reuse times leaves.
        addRequest(e);
        if (++e.uses >= e.reuse_budget)
            pool_.erase(pool_.begin() + index);
    } else {
        ++fallback_picks_;
        chosen = fallbackPick(ctx);
        for (ProbeEntry& e : pool_) {
            if (e.replica == chosen)
                addRequest(e);
        }
    }
    if (chosen != kNoReplica)
        last_sent_ns_[static_cast<std::size_t>(chosen)] = ctx.now_ns;

    // Probing is asynchronous: this request's probes only help later requests. Sent last, so a
    // sink that answered synchronously could not disturb the choice above.
    sendProbes(takeWhole(probe_accumulator_, effectiveProbeRate()), ctx.now_ns);
    return chosen;
}

std::unique_ptr<Balancer> makePrequal(const common::AlgorithmConfig& config,
                                      const BalancerDeps& deps)
{
    return std::make_unique<Prequal>(PrequalParams::fromConfig(config), deps);
}

} // namespace dlb::agent::balance
