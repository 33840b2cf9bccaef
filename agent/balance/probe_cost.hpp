#pragma once
// What one probe costs the replicas, in requests' worth, and the probe rate that follows from it
// (issue 7; the "Probe cost" paragraph of prequal.hpp says why). Pool-wide, not per replica: a
// replica's probes and requests are served by the same code as its neighbours', and a
// per-replica average would starve on the replicas probed least. No allocation. Threading: the
// owning Prequal's.

namespace dlb::agent::balance {

class ProbeCost {
public:
    // Weight of the newest sample in the averages of request latencies and of probe costs: about
    // the last 20 samples count, so the rate follows a change within a fraction of a second at
    // the rates that matter.
    static constexpr double kEwmaAlpha = 0.05;
    // The rate is cut by the share of probes answered within the timeout, down to this share
    // (so a worker whose every probe times out still sends one per ~1,000 requests, and sees
    // the replicas recover).
    static constexpr double kMinAnsweredShare = 0.05;

    // A request ended; `ok` false when it failed.
    void onRequest(bool ok, double latency_ms);
    // A probe came back after `round_trip_ms`, or timed out then. A NaN round trip
    // (kRoundTripUnknown) is an answer that counts in the answered share and not in the cost.
    void onRoundTrip(double round_trip_ms, bool timed_out);
    // Back to "unknown" (the paper's rate until the next answers measure it again): the probes
    // that set the cost went to a replica that gets none any more. The request latency stays.
    void forgetProbes()
    {
        cost_ewma_ = -1;
        answered_ewma_ = 1;
    }

    // The mean over probes of their round trip over the mean request latency (a timed-out probe
    // counts 1); -1 until a probe came back after a request did.
    double cost() const { return cost_ewma_; }
    // The decaying share of probes answered before their timeout (1 until a probe came back).
    double answeredShare() const { return answered_ewma_; }
    // Probes per request: `probe_rate`, cut to `budget` × answeredShare() / cost() where probes
    // are dear (budget 0: neither is looked at). A probe that times out cost the replica a
    // request's worth and brought no answer: what the budget buys is answers, so it pays for
    // the probes that never answer too. At 130% load on the asyncio replicas nearly every probe
    // timed out; the 2% of capacity they took tipped the pool into timeouts, 2,500-3,800 failed
    // requests against 1,400-1,500 with no probes at all (docs/benchmarks.md, A3-2x-130).
    double rate(double probe_rate, double budget) const;
    // Whether the cost holds the rate below one probe per request (and below probe_rate).
    bool limits(double probe_rate, double budget) const;

private:
    // The mean request latency, and the mean of probe round trips over it at the time
    // (0 / negative: no sample yet).
    double latency_ewma_ms_ = 0;
    double cost_ewma_ = -1;
    double answered_ewma_ = 1;
};

} // namespace dlb::agent::balance
