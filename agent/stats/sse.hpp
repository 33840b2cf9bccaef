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
// The most a stream's opening replays after a Last-Event-ID. The control server closes a client
// with more than 4 MiB of answers waiting (kMaxPendingWriteBytes); an unbounded 15-minute replay
// of a large pool went past that, so the stream closed at once, and the client reconnected with
// the same Last-Event-ID, for ever. Past this, the newest events that fit: a client that sees a
// gap in the ids reads GET /v1/stats/history for the rest.
inline constexpr std::size_t kMaxSseReplayBytes = 1024 * 1024;

// "id: <id>\nevent: stats\ndata: <json on one line>\n\n".
std::string sseEvent(uint64_t id, const nlohmann::json& data);
// A Last-Event-ID value: decimal digits only (no sign, no spaces), fitting in 64 bits.
std::optional<uint64_t> parseLastEventId(std::string_view value);
// What a new stream sends first: the retry field, then the replay after `last_event_id`
// (empty, unparsable, or newer than the newest sample, as from an agent that ran before this
// one: no replay, the newest sample instead). The replay is at most `max_replay_bytes`.
std::string sseOpening(Collector& collector, std::string_view last_event_id,
                       std::size_t max_replay_bytes = kMaxSseReplayBytes);

} // namespace dlb::agent::stats
