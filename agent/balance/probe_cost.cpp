#include "probe_cost.hpp"

#include <algorithm>
#include <cmath>

namespace dlb::agent::balance {

void ProbeCost::onRequest(bool ok, double latency_ms)
{
    // A failed request's latency says how fast it failed, not what a request costs.
    if (!ok || !std::isfinite(latency_ms) || latency_ms <= 0)
        return;
    latency_ewma_ms_ = latency_ewma_ms_ <= 0 ? latency_ms : latency_ewma_ms_ + kEwmaAlpha * (latency_ms - latency_ewma_ms_);
}

void ProbeCost::onRoundTrip(double round_trip_ms, bool timed_out)
{
    // Each probe is weighed against the request latency of its time; averaging round trips and
    // latencies apart made the timeout's cut of the round trips (requests have no such cut)
    // read a probe that waits like a request as a quarter of one.
    if (round_trip_ms < 0 || (timed_out && !std::isfinite(round_trip_ms)))
        return;
    answered_ewma_ += kEwmaAlpha * ((timed_out ? 0.0 : 1.0) - answered_ewma_);
    // An answer whose round trip is unknown (NaN: the worker stalled while it was out) counts as
    // answered and is no cost sample: leaving it out of the share while the timeouts still
    // counted drove the share down under a loop that stalled every tick (tst_attack_s14).
    if (!std::isfinite(round_trip_ms) || latency_ewma_ms_ <= 0)
        return;
    // A probe still unanswered at the timeout waited in a queue, or the replica is overloaded or
    // its probe endpoint hangs: it costs a request's worth. Not its round trip over the request
    // latency: that is the timeout over it, 50 with 1 ms requests, and one stall then held the
    // rate near zero for minutes after the replicas were back.
    const double sample = timed_out ? 1.0 : round_trip_ms / latency_ewma_ms_;
    cost_ewma_ = cost_ewma_ < 0 ? sample : cost_ewma_ + kEwmaAlpha * (sample - cost_ewma_);
}

double ProbeCost::rate(double probe_rate, double budget) const
{
    if (budget <= 0 || cost_ewma_ <= 0)
        return probe_rate; // unknown cost: the paper's rate until the first answers
    return std::min(probe_rate,
                    budget * std::max(kMinAnsweredShare, answered_ewma_) / cost_ewma_);
}

bool ProbeCost::limits(double probe_rate, double budget) const
{
    // The paper finds its pool insensitive to the probe rate down to about one probe per
    // request: a cut that stays above (probes from a counter on a busy box measure ~0.01, rate
    // 2) leaves the paper's pool rules alone.
    return rate(probe_rate, budget) < std::min(1.0, probe_rate);
}

} // namespace dlb::agent::balance
