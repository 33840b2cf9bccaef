#include "agent/stats/sse.hpp"

#include "agent/stats/collector.hpp"

#include <limits>

namespace dlb::agent::stats {

std::string sseEvent(uint64_t id, const nlohmann::json& data)
{
    // dump() escapes control characters inside strings, so the JSON is one line: one data field.
    std::string out = "id: " + std::to_string(id) + "\nevent: ";
    out += kSseEventName;
    out += "\ndata: ";
    out += data.dump();
    out += "\n\n";
    return out;
}

std::optional<uint64_t> parseLastEventId(std::string_view value)
{
    if (value.empty() || value.size() > std::numeric_limits<uint64_t>::digits10 + 1)
        return std::nullopt;
    uint64_t v = 0;
    for (const char c : value) {
        if (c < '0' || c > '9')
            return std::nullopt;
        const uint64_t digit = static_cast<uint64_t>(c - '0');
        if (v > (std::numeric_limits<uint64_t>::max() - digit) / 10)
            return std::nullopt;
        v = v * 10 + digit;
    }
    return v;
}

std::string sseOpening(Collector& collector, std::string_view last_event_id, std::size_t max_replay_bytes)
{
    std::string out = "retry: " + std::to_string(kSseRetryMs) + "\n\n";
    // An id newer than anything sampled comes from an agent that ran before this one (ids start
    // again at 1): that client is new here.
    if (const auto last = parseLastEventId(last_event_id); last && *last <= collector.lastId()) {
        out += collector.eventsSince(*last, max_replay_bytes);
        return out;
    }
    if (const auto latest = collector.latestEvent())
        out += *latest;
    return out;
}

} // namespace dlb::agent::stats
