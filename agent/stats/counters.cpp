#include "agent/stats/counters.hpp"

namespace dlb::agent::stats {

ReplicaSummary summarize(const ReplicaStats& stats) noexcept
{
    ReplicaSummary s;
    uint64_t completed = 0;
    uint64_t newest_rif_ns = 0;
    double latency_sum = 0;
    unsigned latencies = 0;
    for (std::size_t w = 0; w < stats.workers(); ++w) {
        const ReplicaCounters& c = stats.slot(w);
        // Completed before requests (the worker adds them in the other order): in flight is
        // never read below what it is, so a drain never ends early.
        completed += c.completed.load();
        s.requests += c.requests.load();
        for (const Counter& e : c.errors)
            s.errors += e.load();
        if (const double l = c.latency_ewma_ms.load(); l > 0) {
            latency_sum += l;
            ++latencies;
        }
        if (const uint64_t at = c.reported_rif_ns.load(); at != 0 && at >= newest_rif_ns) {
            newest_rif_ns = at;
            s.rif = static_cast<uint32_t>(c.reported_rif.load());
            s.has_rif = true;
        }
    }
    s.in_flight = s.requests > completed ? s.requests - completed : 0;
    s.latency_ms = latencies == 0 ? 0 : latency_sum / latencies;
    return s;
}

} // namespace dlb::agent::stats
