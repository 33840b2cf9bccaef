#pragma once
// Per-worker counters. Only the worker's thread writes them (relaxed atomics: no lock, and
// another thread may read a consistent-enough value for /v1/stats and /metrics).

#include <atomic>
#include <cstdint>

namespace dlb::agent::proxy {

struct WorkerStats {
    std::atomic<uint64_t> connections_accepted{0};
    std::atomic<uint64_t> connections_open{0};
    std::atomic<uint64_t> requests{0};
    std::atomic<uint64_t> responses_2xx{0};
    std::atomic<uint64_t> responses_3xx{0};
    std::atomic<uint64_t> responses_4xx{0};
    std::atomic<uint64_t> responses_5xx{0};
    std::atomic<uint64_t> retries{0};
    std::atomic<uint64_t> upstream_connect_errors{0};
    std::atomic<uint64_t> probes_sent{0};
    std::atomic<uint64_t> probes_failed{0};

    static void add(std::atomic<uint64_t>& c, uint64_t n = 1) { c.fetch_add(n, std::memory_order_relaxed); }
};

} // namespace dlb::agent::proxy
