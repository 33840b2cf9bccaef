#pragma once
// The stats collector: on the main thread, once a second (a uv timer), it merges what every
// worker counted (counters.hpp), computes rates and the interval's latency percentiles, keeps
// the last kHistoryPoints seconds in a fixed ring, and answers the control API's stats
// endpoints from that: statsJson() (GET /v1/stats), historyJson() (GET /v1/stats/history),
// prometheusText() (GET /metrics) and the SSE stream's events (sse.hpp).
//
// Threading: every member runs on the thread of the loop given to start() (the main thread);
// the only data shared with workers are the counter blocks, read without a lock.
// Memory: fixed after the first samples. The ring is allocated once; each of its points reuses
// its per-replica array (it grows only when the number of replicas does).

#include "agent/stats/counters.hpp"

#include <nlohmann/json.hpp>
#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace dlb::agent::stats {

// 15 minutes at one point per second.
inline constexpr std::size_t kHistoryPoints = 900;
inline constexpr uint64_t kSampleIntervalMs = 1000;

// What the collector reads, built by the agent from each config snapshot.
struct ReplicaView {
    std::string id;
    std::string url;
    unsigned weight = 1;
    std::shared_ptr<const ReplicaStats> stats;
    // "healthy", "unhealthy", ...: asked at every sample (health changes between snapshots).
    std::function<std::string()> state;
};
struct PoolView {
    std::string name;
    std::string algorithm;
    bool prequal = false;
    uint32_t probe_pool_capacity = 0; // Prequal's pool_size parameter (m)
    std::shared_ptr<const PoolStats> stats;
    std::vector<ReplicaView> replicas;
};
struct Topology {
    uint64_t generation = 0;
    std::vector<PoolView> pools;
};

class Collector {
public:
    // `workers` outlive the collector (the agent owns both); one block per worker thread.
    explicit Collector(std::vector<const WorkerCounters*> workers);
    ~Collector();
    Collector(const Collector&) = delete;
    Collector& operator=(const Collector&) = delete;

    // A new snapshot: replicas that stay keep their counters (matched by their stats block). It
    // takes effect at the next sample, so that every answer in between still describes one
    // consistent sample (its generation and its pools together).
    void setTopology(Topology topology);
    // Samples every kSampleIntervalMs on `loop` (a first sample at once); stop() closes the timer.
    void start(uv_loop_t* loop);
    void stop();

    // One sample: what the timer does; tests call it with their own clock.
    void sample(uint64_t now_ns, double unix_time_s);

    // The id of the newest sample (0 before the first); ids count samples from 1.
    uint64_t lastId() const { return last_id_; }
    // The newest sample in full (GET /v1/stats); {} fields zero before the first sample.
    nlohmann::json statsJson() const;
    // The last `seconds` points (1..kHistoryPoints), oldest first (GET /v1/stats/history).
    nlohmann::json historyJson(int seconds) const;
    // The newest sample as Prometheus text exposition 0.0.4 (GET /metrics).
    std::string prometheusText() const;
    // The newest sample as one SSE `stats` event, serialised once per sample and shared by every
    // stream (ten consoles cost one serialisation); null before the first sample.
    std::shared_ptr<const std::string> latestEvent();
    // Events for the history points newer than `last_id` still in the ring, oldest first (an
    // SSE client's Last-Event-ID): each point's historyJson form. At most `max_bytes`: when the
    // events do not all fit, the newest ones that do (a gap the client sees in the ids).
    std::string eventsSince(uint64_t last_id, std::size_t max_bytes = SIZE_MAX) const;

    // Called after every sample (the stream endpoint pushes latestEvent() from here).
    void onSample(std::function<void()> callback) { on_sample_ = std::move(callback); }

    struct State; // the merged view of the newest sample (collector.cpp)

private:
    static void onTimer(uv_timer_t* t);
    nlohmann::json pointJson(std::size_t ring_index) const;

    void applyTopology(Topology topology);

    std::vector<const WorkerCounters*> workers_;
    std::optional<Topology> pending_topology_;
    std::unique_ptr<State> state_;
    struct Point;
    std::vector<Point> ring_; // kHistoryPoints, allocated once
    std::size_t ring_next_ = 0;
    std::size_t ring_size_ = 0;
    uint64_t last_id_ = 0;
    uint64_t last_ns_ = 0;
    uint64_t start_ns_ = 0;
    std::shared_ptr<const std::string> event_;
    uint64_t event_id_ = 0;
    std::function<void()> on_sample_;
    uv_timer_t* timer_ = nullptr; // owned; freed in its close callback
};

} // namespace dlb::agent::stats
