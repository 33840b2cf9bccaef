#pragma once
// The collector's merged view of its newest sample, shared by collector.cpp (JSON, history)
// and prometheus.cpp. Internal to dlb_stats.

#include "agent/stats/collector.hpp"

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace dlb::agent::stats {

inline constexpr std::size_t kLocalStatuses = kLocalStatusMax - kLocalStatusMin + 1;

// Every worker's counters added up (cumulative since start).
struct WorkerTotals {
    uint64_t connections_accepted = 0;
    uint64_t connections_open = 0;
    uint64_t requests = 0;
    uint64_t requests_finished = 0;
    std::array<uint64_t, 4> responses{}; // 2xx, 3xx, 4xx, 5xx
    uint64_t retries = 0;
    uint64_t probes_sent = 0;
    uint64_t probes_failed = 0;
    std::array<uint64_t, kErrorKinds> errors{};
    std::array<uint64_t, kLocalStatuses> local_answers{};
    HistogramData latency;

    void addWorker(const WorkerCounters& w);
};

struct ReplicaTotals {
    uint64_t requests = 0;
    uint64_t completed = 0;
    uint64_t responses = 0;
    std::array<uint64_t, kErrorKinds> errors{};
    uint64_t probes_sent = 0;
    uint64_t probes_failed = 0;
    HistogramData latency;

    uint64_t errorSum() const;
};

struct ReplicaNow {
    ReplicaView view;
    ReplicaTotals cum;  // as of the newest sample
    ReplicaTotals prev; // as of the one before
    HistogramData interval; // latency samples of the last interval
    std::string state;
    uint64_t in_flight = 0;
    double rif = -1;       // freshest reported RIF; -1: none reported
    double rif_age_s = -1;
    unsigned hot = 0, cold = 0; // workers whose probe pool holds it hot / cold
    double requests_per_s = 0;
    double errors_per_s = 0;
    double share = 0; // of its pool's requests in the last interval

    const char* standing() const { return hot > cold ? "hot" : cold > 0 ? "cold" : "none"; }
};

struct PoolNow {
    PoolView view; // replicas moved into `replicas`
    uint64_t probe_pool_size = 0; // summed over workers
    double hot_threshold = -1;    // mean over workers with a finite one; -1: none
    uint64_t no_replica = 0;
    uint64_t probes_sent = 0, probes_failed = 0;
    uint64_t requests = 0; // replicas' attempts, cumulative
    double requests_per_s = 0;
    std::vector<ReplicaNow> replicas;
};

// The names of a topology's pools and replicas, in order; shared by every history point taken
// under that topology.
struct PoolKeys {
    std::string name;
    bool prequal = false;
    std::vector<std::string> replica_ids;
};

struct WorkerNow {
    uint64_t requests = 0;
    uint64_t in_flight = 0;
    uint64_t connections_open = 0;
    double requests_per_s = 0;
};

struct Collector::State {
    uint64_t id = 0;
    double time = 0;       // unix seconds
    double interval_s = 0; // since the sample before (0 for the first)
    double uptime_s = 0;
    uint64_t generation = 0;
    WorkerTotals cum, prev;
    HistogramData interval; // client-visible latency of the last interval
    double requests_per_s = 0, responses_per_s = 0, errors_per_s = 0, upstream_errors_per_s = 0;
    std::vector<WorkerNow> workers;
    std::vector<uint64_t> worker_prev_requests;
    std::vector<PoolNow> pools;
    std::shared_ptr<const std::vector<PoolKeys>> keys;
};

// Appends the Prometheus text of `s` to `out` (prometheus.cpp).
void renderPrometheus(const Collector::State& s, std::string& out);

} // namespace dlb::agent::stats
