#pragma once
// One control-API request and its answer, over a Connection, parsed by the agent's own HTTP
// parser (agent/http). Each request uses a connection of its own with `Connection: close`:
// dlbctl makes one or two requests per run, so keep-alive would buy nothing.

#include "agent/ctl/connection.hpp"

#include <nlohmann/json.hpp>

#include <functional>
#include <string>

namespace dlb::ctl {

// An answer larger than this is refused (exit 5): a /v1/config or /v1/stats of a big
// deployment is a few hundred KiB; a peer sending more is not the agent we expect.
inline constexpr size_t kMaxAnswerBytes = 8 * 1024 * 1024;
// The answer's head: the agent's own limits (limits.max_header_bytes, limits.max_headers).
inline constexpr uint32_t kMaxAnswerHeaderBytes = 16384;
inline constexpr uint32_t kMaxAnswerHeaders = 100;

struct Request {
    std::string method = "GET";
    std::string path;
    std::string body;     // JSON, sent with Content-Type: application/json when not empty
    std::string token;    // Authorization: Bearer; empty: none
    std::string if_match; // If-Match; empty: none
};

struct Answer {
    int status = 0;
    std::string content_type;
    std::string body;
};

// Sends `req` and reads the whole answer (bounded by kMaxAnswerBytes, --timeout-ms).
// Throws CtlError on transport failures (3) and malformed answers (5); any status is returned.
Answer call(const Target& target, const Request& req);

// Opens an event stream: `req` is sent, a 200 text/event-stream head expected (any other
// answer is returned, whole, for the caller to report), then `on_event(event, data)` is called
// for every event until the stream ends (throws kExitUnreachable), the stop flag is set (returns
// a 200 answer) or on_event returns false. `idle_ms` bounds the wait for each next event.
Answer stream(const Target& target, const Request& req, unsigned idle_ms,
              const std::function<bool(const std::string& event, const std::string& data)>& on_event);

// The exit code for an HTTP status: 2xx 0, 401/403 4, other 4xx 1, anything else 5.
int exitCodeFor(int status);

// The message to print for an answer that is not 2xx: the agent's error object as
// "<message> (<code> at <path>)", or what was wrong with the answer.
std::string errorMessage(const Answer& answer);

// The answer's body as JSON, or CtlError(kExitAgentError) saying it is not.
nlohmann::json parseJson(const Answer& answer);

// `segment` %-escaped as one path segment (RFC 3986 pchar): a replica id "[::1]:9001" is
// "%5B::1%5D:9001", as the agent's Location headers write it.
std::string escapeSegment(std::string_view segment);

} // namespace dlb::ctl
