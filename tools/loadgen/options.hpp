#pragma once
// dlb-loadgen's command line: the target, the loop (open: a rate for a duration; closed: N
// requests by C concurrent connections) and the output.

#include "tools/common/cli_support.hpp"
#include <cstdint>
#include <string>

namespace dlb::tools::loadgen {

enum class Mode { Open, Closed };
enum class Arrivals { Uniform, Poisson };

struct Target {
    std::string host;      // without brackets
    uint16_t port = 80;
    std::string authority; // for Host: as written in the URL
    std::string path = "/";
};

struct Options {
    std::string url;
    Target target;
    Mode mode = Mode::Open;
    // open loop
    double rate = 0;          // requests per second
    double duration_s = 10;
    double warmup_s = 0;
    unsigned connections = 256;
    Arrivals arrivals = Arrivals::Uniform;
    // closed loop
    uint64_t requests = 0;
    unsigned concurrency = 1;
    // both
    uint64_t timeout_ms = 5000;
    std::string json_path;
    uint64_t seed = 0;
    bool seed_given = false;
};

using ParsedArgs = dlb::tools::ParsedArgs<Options>;

ParsedArgs parseArgs(int argc, char** argv);
const char* usage();

} // namespace dlb::tools::loadgen
