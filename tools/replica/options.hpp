#pragma once
// dlb-replica's command line: what a run simulates, validated before anything is bound.

#include "tools/common/cli_support.hpp"
#include <cstdint>
#include <string>
#include <vector>

namespace dlb::tools::replica {

enum class Distribution { Exponential, Fixed, Normal, Uniform };

// At `at_s` seconds after start the slow factor becomes `factor`.
struct SlowStep {
    double at_s = 0;
    double factor = 1;
};

struct Options {
    std::string host = "127.0.0.1";
    uint16_t port = 9001;
    std::string name;                  // empty: "replica-<port>" once bound
    unsigned workers = 8;
    double service_ms = 10;            // mean service time before the slow factor
    Distribution distribution = Distribution::Exponential;
    double uniform_min_ms = 0;         // --dist uniform:MIN:MAX
    double uniform_max_ms = 0;
    double slow = 1;
    double fail_rate = 0;
    uint64_t seed = 0;
    bool seed_given = false;
    std::vector<SlowStep> slow_schedule; // sorted by time
    uint64_t max_queue = 0;            // 0: unbounded
    // X-Load: rif=N, latency_ms=M on every answer (the agent reads it as a free probe).
    bool load_header = true;
    // /ping and /healthz queue for a service slot and take a service time like any request:
    // a replica whose probes are served by the same busy loop (the failing setup of issue 7).
    bool probes_queue = false;
    // A probe holds its slot this much longer than a request (implies probes_queue): a replica
    // whose probes answer late when busy, as a lagging event loop does.
    double ping_delay_ms = 0;
};

using ParsedArgs = dlb::tools::ParsedArgs<Options>;

ParsedArgs parseArgs(int argc, char** argv);
const char* usage();
const char* distributionName(Distribution d);

} // namespace dlb::tools::replica
