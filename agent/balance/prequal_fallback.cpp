// Prequal's picks that do not come from HCL: the fallback when fewer than two probes qualify,
// and exploration of a cold replica this worker has left alone (prequal.hpp says when each runs).
#include "prequal.hpp"

namespace dlb::agent::balance {

int Prequal::fallbackPick(const PickContext& ctx)
{
    // The paper's rule is a uniform pick, which sends each slow replica 1/n of these requests
    // whatever it can serve; with probes cut to a few percent of requests (probe cost) this is
    // most picks, and it overloaded the 8x replica of the issue 7 matrix. What this client knows
    // for free and now: its own requests in flight per replica and the latency it measured. The
    // pick is the replica where a request should finish first, (in flight + 1) x latency (the
    // cost of Finagle's and Linkerd's peak-EWMA balancers): least-connection among equally fast
    // replicas, and a replica k times slower only once the others have about k times its queue.
    // A replica never measured scores 0, so it gets tried; ties go at random, so the workers
    // (and agents) do not move in lock step. A replica that is failing requests must not get
    // its share through this door (sinkholing): only replicas without recent errors, all only
    // when every one has them.
    int chosen = kNoReplica;
    double best_score = 0;
    uint32_t ties = 0;
    for (int pass = 0; pass < 2 && chosen == kNoReplica; ++pass) {
        for (std::size_t i = 0; i < replicas_.size(); ++i) {
            const auto& r = replicas_[i];
            if (!r.usable || static_cast<int>(i) == ctx.exclude
                || (pass == 0 && r.recent_errors >= kErrorFreeBelow))
                continue;
            const double score = (r.in_flight + 1.0) * r.ewma_latency_ms;
            if (chosen != kNoReplica) {
                if (score > best_score)
                    continue;
                if (score == best_score) {
                    if (rng_.below(++ties) == 0)
                        chosen = static_cast<int>(i);
                    continue;
                }
            }
            chosen = static_cast<int>(i);
            best_score = score;
            ties = 1;
        }
    }
    return chosen;
}

int Prequal::exploreIndex(const PickContext& ctx) const
{
    // HCL trusts a cold probe's latency, and a replica's latency comes from the requests it
    // served. One that was slow and then got nothing keeps answering with its slow past (a
    // replica's estimator has nothing newer; dlb-replica reports its last samples however old),
    // so HCL never picks it and it never gets the requests that would correct it: in D30-2x-90
    // three replicas slow in the first half got 3, 47 and 87 requests of 12,000 once fast again,
    // and the others ran above capacity. So a cold answer from a replica this worker has sent
    // nothing for max_age (the age past which no answer is trusted) gets one request. A replica
    // that is really slow pays one request per max_age per worker for it.
    for (std::size_t i = 0; i < pool_.size(); ++i) {
        const ProbeEntry& e = pool_[i];
        if (e.replica == ctx.exclude || isHot(e))
            continue;
        const uint64_t last = last_sent_ns_[static_cast<std::size_t>(e.replica)];
        if (ctx.now_ns > last && ctx.now_ns - last > params_.max_age_ns)
            return static_cast<int>(i);
    }
    return -1;
}

} // namespace dlb::agent::balance
