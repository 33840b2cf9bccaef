#pragma once
// Server-Sent Events for GET /v1/stats/stream (the WHATWG event-stream format).
//
// The stream's rules: the answer is `200`, `Content-Type: text/event-stream`,
// `Cache-Control: no-cache`; it opens with `retry: 2000` (a client that loses the stream
// reconnects after 2 s); then one `stats` event per interval, whose `id:` is the collector's
// sample id. A client that reconnects sends `Last-Event-ID: N`, and the stream first replays
// the history points newer than N still in the ring (their historyJson form), then goes on
// live; without it, the stream starts with the newest sample in full.

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dlb::agent::stats {

class Collector;

inline constexpr uint64_t kSseRetryMs = 2000;
inline constexpr std::string_view kSseEventName = "stats";
inline constexpr std::string_view kSseContentType = "text/event-stream";

// "id: <id>\nevent: stats\ndata: <json on one line>\n\n".
std::string sseEvent(uint64_t id, const nlohmann::json& data);
// A Last-Event-ID value: decimal digits only (no sign, no spaces), fitting in 64 bits.
std::optional<uint64_t> parseLastEventId(std::string_view value);
// What a new stream sends first: the retry field, then the replay after `last_event_id`
// (empty, unparsable, or newer than the newest sample, as from an agent that ran before this
// one: no replay, the newest sample instead).
std::string sseOpening(Collector& collector, std::string_view last_event_id);

} // namespace dlb::agent::stats
