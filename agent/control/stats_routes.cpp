#include "agent/control/stats_routes.hpp"

#include "agent/control/server.hpp"
#include "agent/stats/collector.hpp"
#include "agent/stats/prometheus.hpp"
#include "agent/stats/sse.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace dlb::agent::control {

static_assert(stats::kMaxSseReplayBytes * 2 <= kMaxPendingWriteBytes,
              "a stream's opening replay must fit well inside what a control connection may queue");

StatsRoutes::StatsRoutes(Router& router, proxy::Agent& agent)
    : agent_(agent),
      every_samples_(std::max<uint64_t>(1, agent.startedConfig().control.stats_interval_ms / stats::kSampleIntervalMs))
{
    router.add(HTTP_GET, "/v1/stats", Role::Viewer, [this](const Request& q, const ReplyPtr& r) { stats(q, r); });
    router.add(HTTP_GET, "/v1/stats/history", Role::Viewer, [this](const Request& q, const ReplyPtr& r) { history(q, r); });
    router.add(HTTP_GET, "/v1/stats/stream", Role::Viewer, [this](const Request& q, const ReplyPtr& r) { stream(q, r); });
    router.add(HTTP_GET, "/metrics", Role::Viewer, [this](const Request& q, const ReplyPtr& r) { metrics(q, r); });
}

StatsRoutes::~StatsRoutes()
{
    stop();
}

void StatsRoutes::stop()
{
    if (stopped_)
        return;
    stopped_ = true;
    if (hooked_ && agent_.statsCollector())
        agent_.statsCollector()->onSample({});
    auto streams = std::move(streams_);
    streams_.clear();
    for (auto& s : streams)
        s.reply->end();
}

bool StatsRoutes::parseHistoryQuery(std::string_view query, int* seconds, std::string* why)
{
    *seconds = static_cast<int>(stats::kHistoryPoints);
    if (query.empty())
        return true;
    constexpr std::string_view kKey = "seconds=";
    const std::string range = "[1, " + std::to_string(stats::kHistoryPoints) + "]";
    if (!query.starts_with(kKey)) {
        *why = "the only query parameter is seconds=N, N in " + range + "; got \"" + std::string(query) + "\"";
        return false;
    }
    const std::string_view value = query.substr(kKey.size());
    int n = 0;
    // At most 4 digits: anything longer is out of range anyway, and cannot overflow here.
    const bool digits = !value.empty() && value.size() <= 4 &&
                        std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (digits)
        for (const char c : value)
            n = n * 10 + (c - '0');
    if (!digits || n < 1 || static_cast<size_t>(n) > stats::kHistoryPoints) {
        *why = "seconds must be a whole number in " + range + " (the history holds " +
               std::to_string(stats::kHistoryPoints) + " one-second points); got \"" + std::string(value) + "\"";
        return false;
    }
    *seconds = n;
    return true;
}

void StatsRoutes::stats(const Request&, const ReplyPtr& reply)
{
    reply->send(Response::json(200, agent_.statsCollector()->statsJson()));
}

void StatsRoutes::history(const Request& req, const ReplyPtr& reply)
{
    int seconds = 0;
    std::string why;
    if (!parseHistoryQuery(req.query, &seconds, &why)) {
        reply->send(Response::error(400, "invalid_query", why, "seconds"));
        return;
    }
    reply->send(Response::json(200, agent_.statsCollector()->historyJson(seconds)));
}

void StatsRoutes::metrics(const Request&, const ReplyPtr& reply)
{
    Response r;
    r.status = 200;
    r.content_type = std::string(stats::kPrometheusContentType);
    r.body = agent_.statsCollector()->prometheusText();
    reply->send(std::move(r));
}

void StatsRoutes::stream(const Request& req, const ReplyPtr& reply)
{
    if (stopped_) {
        reply->send(Response::error(503, "stopping", "the agent is stopping"));
        return;
    }
    if (streams_.size() >= kMaxStatsStreams) {
        reply->send(Response::error(503, "too_many_streams",
                                    "already " + std::to_string(kMaxStatsStreams) +
                                        " stats streams open; close one, or poll GET /v1/stats"));
        return;
    }
    stats::Collector& collector = *agent_.statsCollector();
    if (!hooked_) {
        // The collector is built after the control plane starts; by the first request it exists.
        collector.onSample([this] { onSample(); });
        hooked_ = true;
    }
    reply->beginStream(200, stats::kSseContentType, {});
    reply->write(stats::sseOpening(collector, req.header("last-event-id")));
    // The client may be gone already (it closed right after asking, or the opening overflowed
    // what may wait for it): its connection closed inside the calls above, before onClose()
    // below could see it, and a stream kept now would hold one of the slots for good.
    if (!reply->open())
        return;
    streams_.push_back({reply, collector.lastId()});
    Reply* raw = reply.get();
    reply->onClose([this, raw] {
        std::erase_if(streams_, [raw](const Stream& s) { return s.reply.get() == raw; });
    });
}

void StatsRoutes::onSample()
{
    if (++samples_ % every_samples_ != 0 || streams_.empty())
        return;
    stats::Collector& collector = *agent_.statsCollector();
    const auto event = collector.latestEvent(); // one serialisation for every stream
    if (!event)
        return;
    // A write can close its connection (its client stopped reading), which runs the onClose
    // callback and edits streams_: walk a copy.
    const auto streams = streams_;
    for (const Stream& s : streams) {
        if (!s.reply->open() || s.last_id >= collector.lastId())
            continue;
        if (s.reply->pendingBytes() > kMaxStreamBacklogBytes)
            continue;
        s.reply->write(*event);
    }
    for (Stream& s : streams_)
        s.last_id = collector.lastId();
}

} // namespace dlb::agent::control
