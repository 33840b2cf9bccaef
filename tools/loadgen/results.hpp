#pragma once
// What a run measured, and its two renderings: a short table for people and JSON for the
// benchmark scripts (keys: requests, duration_s, rate, latency_ms {p50,p90,p99,p999,max,mean},
// errors {kind: count}, replicas {name: count}, plus the run's parameters).

#include "tools/loadgen/histogram.hpp"
#include "tools/loadgen/options.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace dlb::tools::loadgen {

struct Results {
    uint64_t requests = 0;       // measured requests that ended (answered or failed)
    uint64_t responses = 0;      // of which got an HTTP answer (any status)
    double duration_s = 0;       // measurement window
    Histogram latency;           // of the answered ones; open loop: from the intended send time
    std::map<std::string, uint64_t, std::less<>> errors;   // connect, timeout, reset, status_<code>, other
    std::map<std::string, uint64_t, std::less<>> replicas; // by X-Replica
    uint64_t without_replica = 0; // answers without X-Replica
    uint64_t connections_opened = 0;
    uint64_t waited_for_connection = 0; // open loop: requests that found no free connection
    bool interrupted = false;

    void addError(std::string_view kind);
    void addReplica(std::string_view name);
    uint64_t errorCount() const;
    // Answers per second over the measurement window.
    double rate() const { return duration_s > 0 ? static_cast<double>(responses) / duration_s : 0; }
};

std::string humanReport(const Options& options, const Results& results);
std::string jsonReport(const Options& options, const Results& results);

} // namespace dlb::tools::loadgen
