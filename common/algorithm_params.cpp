#include "algorithm_params.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>

namespace dlb::common {
namespace {

// Columns: name, min, max, default, integer, min_exclusive, help, prime.
constexpr std::array kPrequal{
    ParamSpec{"probe_rate", 0, 16, 3, false, false,
              "probes sent per request (fractions are kept as a running credit)", false},
    ParamSpec{"pool_size", 1, 256, 16, true, false, "most probe results kept per worker", false},
    // 2^-0.25 rounded: the paper's quantile for telling hot replicas from cold ones.
    ParamSpec{"q_rif", 0, 1, 0.84, false, false,
              "RIF quantile above which a replica counts as hot", false},
    ParamSpec{"max_age_ms", 1, 60000, 1000, true, false,
              "probe results older than this are dropped", false},
    ParamSpec{"remove_rate", 0, 16, 1, false, false,
              "probe results removed per request, alternately the oldest and the worst", false},
    ParamSpec{"delta", 0, 100, 1, false, true,
              "net pool growth rate in the reuse budget (1+delta)/((1-m/n)*probe_rate-remove_rate)",
              false},
    ParamSpec{"idle_probe_rate", 0, 1000, 10, false, false,
              "probes per second per worker sent while idle, so a quiet pool stays fresh", false},
    ParamSpec{"max_probes_per_replica_s", 1, 100000, 1000, false, false,
              "ceiling on probes per second that one worker sends to one replica", false},
    ParamSpec{"error_penalty", 0, 1000, 4, false, false,
              "how many RIF one recent error counts as, so a failing replica is no sinkhole",
              false},
    ParamSpec{"probe_fresh_ms", 0, 60000, 20, false, false,
              "a probe is skipped when the pool holds an answer for its replica younger than "
              "this (0: never skip)",
              false},
    ParamSpec{"probe_cost_budget", 0, 16, 0.02, false, false,
              "replica time, in requests' worth, the probes of one request may cost; the probe "
              "rate is cut to this over a probe's measured cost (0: fixed probe_rate)",
              false},
    // 1: the lowest cold latency is a median of a few samples, as noisy as it is low (issue 7's
    // D30-2x-90: p99 568 ms at 0, 475 ms at 1; docs/algorithms.md).
    ParamSpec{"latency_tolerance", 0, 10, 1, false, false,
              "cold probes whose latency is within this fraction of the lowest count as "
              "equally fast; the lowest RIF among them wins (0: the paper's lowest latency)",
              false},
};

constexpr std::array kLeastRequest{
    ParamSpec{"choice_count", 2, 16, 2, true, false,
              "replicas sampled per pick (Envoy's choice_count)", false},
    ParamSpec{"active_request_bias", 0, 10, 1, false, false,
              "exponent on active requests when weights differ (0: plain weighted round robin)",
              false},
};

constexpr std::array kPowerOfD{
    ParamSpec{"d", 1, 64, 2, true, false,
              "replicas sampled per pick; the one with fewest requests in flight wins", false},
};

constexpr std::array kRingHash{
    ParamSpec{"min_ring_size", 64, 8388608, 1024, true, false,
              "fewest points on the hash ring", false},
    ParamSpec{"max_ring_size", 64, 8388608, 8388608, true, false,
              "most points on the hash ring (not below min_ring_size)", false},
};

constexpr std::array kMaglev{
    // Maglev's permutation only fills every slot when the table size is prime.
    ParamSpec{"table_size", 1, 65537, 65537, true, false,
              "lookup table entries; a prime well above the replica count", true},
};

constexpr std::array kAlgorithms{
    AlgorithmSpec{"prequal",
                  "probes replicas off the request path and picks by requests in flight and "
                  "latency (Prequal)",
                  kPrequal, false},
    AlgorithmSpec{"round_robin", "each replica in turn", {}, false},
    AlgorithmSpec{"weighted_round_robin", "each replica in turn, in proportion to its weight", {},
                  false},
    AlgorithmSpec{"least_request",
                  "the least loaded of a few sampled replicas, by requests this worker has "
                  "in flight",
                  kLeastRequest, false},
    AlgorithmSpec{"power_of_d", "the least loaded of d replicas sampled at random", kPowerOfD,
                  false},
    AlgorithmSpec{"random", "a replica chosen uniformly at random", {}, false},
    AlgorithmSpec{"ip_hash", "a replica chosen by a hash of the client address", {}, false},
    AlgorithmSpec{"ring_hash", "consistent hashing on a ring (Ketama) over the hash key",
                  kRingHash, true},
    AlgorithmSpec{"maglev", "Maglev consistent hashing over the hash key", kMaglev, true},
};

bool isPrime(double value) {
    const auto n = static_cast<uint64_t>(value);
    if (n < 2) {
        return false;
    }
    for (uint64_t d = 2; d * d <= n; ++d) {
        if (n % d == 0) {
            return false;
        }
    }
    return true;
}

// RFC 9110 tchar: the characters a header field name may contain.
bool isTokenChar(char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
        return true;
    }
    return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

} // namespace

std::span<const AlgorithmSpec> algorithms() { return kAlgorithms; }

const AlgorithmSpec* findAlgorithm(std::string_view name) {
    for (const AlgorithmSpec& algo : kAlgorithms) {
        if (algo.name == name) {
            return &algo;
        }
    }
    return nullptr;
}

const ParamSpec* findParam(const AlgorithmSpec& algo, std::string_view param) {
    for (const ParamSpec& spec : algo.params) {
        if (spec.name == param) {
            return &spec;
        }
    }
    return nullptr;
}

std::optional<HashKey> parseHashKey(std::string_view text) {
    if (text == "client") {
        return HashKey{HashKey::Kind::Client, {}};
    }
    if (text == "path") {
        return HashKey{HashKey::Kind::Path, {}};
    }
    constexpr std::string_view kHeader = "header:";
    if (!text.starts_with(kHeader) || text.size() == kHeader.size()) {
        return std::nullopt;
    }
    HashKey key{HashKey::Kind::Header, {}};
    for (char c : text.substr(kHeader.size())) {
        if (!isTokenChar(c)) {
            return std::nullopt;
        }
        // Header names compare case-insensitively; storing them lower-case makes that a plain ==.
        key.header += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    }
    return key;
}

std::string toString(const HashKey& key) {
    switch (key.kind) {
    case HashKey::Kind::Client:
        return "client";
    case HashKey::Kind::Path:
        return "path";
    case HashKey::Kind::Header:
        return "header:" + key.header;
    }
    return "client";
}

double AlgorithmConfig::param(std::string_view key) const {
    if (auto it = params.find(key); it != params.end()) {
        return it->second;
    }
    const AlgorithmSpec* algo = findAlgorithm(name);
    const ParamSpec* spec = algo ? findParam(*algo, key) : nullptr;
    return spec ? spec->def : 0;
}

std::optional<AlgorithmConfig> defaultAlgorithm(std::string_view name) {
    const AlgorithmSpec* algo = findAlgorithm(name);
    if (!algo) {
        return std::nullopt;
    }
    AlgorithmConfig config;
    config.name = std::string(algo->name);
    for (const ParamSpec& spec : algo->params) {
        config.params.emplace(std::string(spec.name), spec.def);
    }
    return config;
}

std::string formatNumber(double value) {
    // Below 2^53 every whole double is exact as an integer, so printing it as one loses nothing.
    if (std::isfinite(value) && value == std::trunc(value) && std::fabs(value) < 9007199254740992.0) {
        return std::to_string(static_cast<int64_t>(value));
    }
    char buf[64];
    const auto result = std::to_chars(buf, buf + sizeof buf, value);
    return std::string(buf, result.ptr);
}

std::string formatRange(const ParamSpec& spec) {
    return (spec.min_exclusive ? "(" : "[") + formatNumber(spec.min) + "," + formatNumber(spec.max) +
           "]";
}

std::string checkParam(const ParamSpec& spec, double value) {
    // Written so that NaN fails every comparison and lands in the range message.
    const bool above_min = spec.min_exclusive ? value > spec.min : value >= spec.min;
    if (!above_min || !(value <= spec.max)) {
        return "must be in " + formatRange(spec) + ", got " + formatNumber(value);
    }
    if (spec.integer && value != std::trunc(value)) {
        return "must be a whole number, got " + formatNumber(value);
    }
    if (spec.prime && !isPrime(value)) {
        return "must be a prime number, got " + formatNumber(value);
    }
    return {};
}

} // namespace dlb::common
