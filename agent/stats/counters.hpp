#pragma once
// What the data plane counts, in blocks that one worker thread writes and the collector (main
// thread) reads (histogram.hpp says how: single-writer relaxed atomics, no lock). A block per
// worker, or per worker and replica, or per worker and pool; blocks of different workers sit
// on different cache lines so two workers never write the same line.
//
// ReplicaStats and PoolStats live in the config snapshot beside the replica (as its health
// does) and are handed on to the next snapshot while the replica (same pool, same id) or the
// pool (same name) stays, so a reload does not reset counters or rates.

#include "agent/stats/histogram.hpp"

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>

namespace dlb::agent::stats {

// Why a request sent to a replica got no usable answer from it.
enum class ErrorKind : uint8_t {
    Connect,   // refused, unreachable, or the connect timed out
    Timeout,   // connected, but no answer within timeouts.response_ms
    Reset,     // closed or reset before the answer was complete
    Malformed, // the answer did not parse
    Status5xx, // the replica answered 5xx
};
inline constexpr std::size_t kErrorKinds = 5;
// The names used in JSON and as Prometheus label values.
inline constexpr std::array<const char*, kErrorKinds> kErrorKindNames = {"connect", "timeout", "reset", "malformed", "5xx"};

// Answers the agent makes itself are counted by status, for statuses in this range.
inline constexpr int kLocalStatusMin = 400;
inline constexpr int kLocalStatusMax = 599;

// A gauge holding a double (stored as its bits).
class DoubleGauge {
public:
    void set(double v) noexcept { bits_.set(std::bit_cast<uint64_t>(v)); }
    double load() const noexcept { return std::bit_cast<double>(bits_.load()); }

private:
    Counter bits_{};
};

struct alignas(64) WorkerCounters {
    Counter connections_accepted;
    Counter connections_open; // a gauge: the worker adds and subtracts
    Counter requests;         // request heads parsed
    Counter requests_finished; // of those, finished (answered, or ended without an answer)
    Counter responses_2xx, responses_3xx, responses_4xx, responses_5xx;
    Counter retries;
    Counter upstream_connect_errors;
    Counter probes_sent, probes_failed;
    std::array<Counter, kErrorKinds> upstream_errors{};
    // Answers the agent made itself (400, 404, 408, 413, 431, 502, 503, 504 ...), by status.
    std::array<Counter, kLocalStatusMax - kLocalStatusMin + 1> local_answers{};
    // From a request's first byte to its answer's end, as the client sees it.
    LatencyHistogram latency;

    void countError(ErrorKind k) noexcept { upstream_errors[static_cast<std::size_t>(k)].add(); }
    void countLocalAnswer(int status) noexcept
    {
        if (status >= kLocalStatusMin && status <= kLocalStatusMax)
            local_answers[static_cast<std::size_t>(status - kLocalStatusMin)].add();
    }
};

// Where a replica stands in one worker's Prequal probe pool.
enum class Standing : uint8_t { None = 0, Cold = 1, Hot = 2 };

// One worker's view of one replica.
struct alignas(64) ReplicaCounters {
    Counter requests;  // attempts sent to the replica (a retry counts again, at its replica)
    Counter completed; // attempts over (answered, failed, or abandoned): in flight = requests - completed
    Counter responses; // answers received from the replica (any status)
    std::array<Counter, kErrorKinds> errors{};
    Counter probes_sent, probes_failed;
    Counter reported_rif;    // the last RIF the replica reported (probe answer or load report)
    Counter reported_rif_ns; // when (monotonic ns); 0: never
    Counter standing;        // a Standing, published by the worker a few times a second
    // The worker's moving average of response time (ms) as its balancer keeps it, published on
    // the worker's tick; 0 before its first answer.
    DoubleGauge latency_ewma_ms;
    LatencyHistogram latency; // from sending the request to the answer's end

    void countError(ErrorKind k) noexcept { errors[static_cast<std::size_t>(k)].add(); }
};

// One worker's view of one pool (Prequal's probe pool; zero for other algorithms).
struct alignas(64) PoolCounters {
    Counter probe_pool_size;  // entries in this worker's probe pool
    Counter no_replica;       // requests answered 503: no usable replica
    DoubleGauge hot_threshold; // RIF above which a probe is hot; +inf before any answer
    Counter probes_sent, probes_failed;
};

// Per-worker blocks of one replica or pool: slot(w) belongs to worker w.
template <typename Block>
class PerWorker {
public:
    explicit PerWorker(std::size_t workers) : n_(workers == 0 ? 1 : workers), slots_(std::make_unique<Block[]>(n_)) {}
    std::size_t workers() const noexcept { return n_; }
    Block& slot(std::size_t w) noexcept { return slots_[w < n_ ? w : n_ - 1]; }
    const Block& slot(std::size_t w) const noexcept { return slots_[w < n_ ? w : n_ - 1]; }

private:
    std::size_t n_;
    std::unique_ptr<Block[]> slots_;
};

using ReplicaStats = PerWorker<ReplicaCounters>;
using PoolStats = PerWorker<PoolCounters>;

// One replica's counters summed over the workers, as a reader on another thread sees them now
// (the control API's GET /v1/pools and its drain check).
struct ReplicaSummary {
    uint64_t requests = 0;  // attempts sent
    uint64_t errors = 0;    // of every kind
    uint64_t in_flight = 0; // attempts sent and not yet over
    double latency_ms = 0;  // mean of the workers' moving averages that have one; 0: none has
    bool has_rif = false;
    uint32_t rif = 0; // the newest RIF the replica reported (probe answer or load report)
};
ReplicaSummary summarize(const ReplicaStats& stats) noexcept;

} // namespace dlb::agent::stats
