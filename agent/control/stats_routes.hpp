#pragma once
// The control API's stats endpoints (docs/control-api.md, "Stats"), answered from the agent's
// stats collector (agent/stats/collector.hpp):
//   GET /v1/stats                       the newest sample in full
//   GET /v1/stats/history?seconds=N     the last N one-second points, N in [1, 900] (default 900)
//   GET /v1/stats/stream                Server-Sent Events (agent/stats/sse.hpp for the rules)
//   GET /metrics                        Prometheus text exposition 0.0.4
// Streams: one `stats` event every control.stats_interval_ms, serialised once per sample and the
// same bytes written to every stream. Threading: main loop only.

#include "agent/control/router.hpp"
#include "agent/proxy/agent.hpp"

#include <memory>
#include <vector>

namespace dlb::agent::control {

// Stats streams open at once; more are answered 503 (ten consoles is the design load).
inline constexpr size_t kMaxStatsStreams = 32;
// A stream whose client has this much unread is skipped for an event (it can fill the gap from
// /v1/stats/history; the ids say what it missed) rather than buffered without end.
inline constexpr size_t kMaxStreamBacklogBytes = 256 * 1024;

class StatsRoutes {
public:
    StatsRoutes(Router& router, proxy::Agent& agent);
    ~StatsRoutes();
    StatsRoutes(const StatsRoutes&) = delete;
    StatsRoutes& operator=(const StatsRoutes&) = delete;
    // The agent stops: every stream ends, and the collector no longer calls us.
    void stop();

    // Parses a /v1/stats/history query ("seconds=N", or empty for every point). False with
    // `why` set when it is anything else.
    static bool parseHistoryQuery(std::string_view query, int* seconds, std::string* why);

private:
    using ReplyPtr = std::shared_ptr<Reply>;
    void stats(const Request& req, const ReplyPtr& reply);
    void history(const Request& req, const ReplyPtr& reply);
    void stream(const Request& req, const ReplyPtr& reply);
    void metrics(const Request& req, const ReplyPtr& reply);
    void onSample();

    struct Stream {
        ReplyPtr reply;
        uint64_t last_id = 0;
    };
    proxy::Agent& agent_;
    uint64_t every_samples_; // control.stats_interval_ms in samples
    uint64_t samples_ = 0;
    std::vector<Stream> streams_;
    bool hooked_ = false;
    bool stopped_ = false;
};

} // namespace dlb::agent::control
