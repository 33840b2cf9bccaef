#pragma once
// Header rules of a proxy (RFC 9110 §7.6.1): which fields are hop-by-hop, and how a forwarded
// head is written. Framing is decided here once for both directions.

#include "agent/http/parser.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace dlb::agent::http {

// Our pseudonym in the Via header added to forwarded requests and responses (RFC 9110 7.6.3).
inline constexpr std::string_view kViaPseudonym = "dlb";

// True for the fixed hop-by-hop fields and for any field that this Connection value names,
// except Content-Length and Host: framing and target are never dropped because Connection
// names them. A message's every Connection header counts when a head is forwarded.
bool isHopByHop(std::string_view name, std::string_view connection_value);

// How a forwarded body is framed on the outgoing side.
enum class BodyFraming {
    None,          // no body (GET without body, 204, 304, HEAD responses)
    ContentLength, // the length is known and kept
    Chunked,       // re-encoded as chunks as bytes arrive
    UntilClose,    // response to an HTTP/1.0 client with unknown length: close ends it
};

struct ForwardInfo {
    std::string_view client_ip;   // appended to X-Forwarded-For
    std::string_view proto;       // "http" or "https", X-Forwarded-Proto (replaces the client's)
    std::string_view target = {}; // request target to send; empty: the request's own
};

// The origin form ("/path?query") of a request target: an absolute-form target
// ("http://host/path", RFC 9112 §3.2.2) loses its scheme and authority; "*" and origin forms
// are returned as they are.
std::string_view originForm(std::string_view target);
// The authority of an absolute-form target ("http://a.example:8080/x" gives "a.example:8080");
// nullopt for the origin and asterisk forms.
std::optional<std::string_view> targetAuthority(std::string_view target);
// Whether `value` is a valid Host (RFC 9110 7.2: uri-host [":" port] of RFC 3986 3.2.2): a
// name, an IPv4 address or a bracketed IP literal, and digits after a colon; never user
// information, a path, spaces or a malformed %-escape. Empty is valid (a target without one).
bool validHost(std::string_view value);

// Does this request carry a body, and how is it framed to the upstream?
BodyFraming requestFraming(const Message& req);

// Appends the request head the proxy sends upstream: the request line (HTTP/1.1), the
// end-to-end headers (Host kept, or for an absolute-form target its authority, RFC 9112
// 3.2.2), X-Forwarded-For / X-Forwarded-Proto, Via, and the framing
// header written from the parser's decision (the client's Content-Length and
// Transfer-Encoding fields are never copied).
// The upstream connection is always kept alive from our side.
void appendUpstreamRequestHead(std::string& out, const Message& req, BodyFraming framing, const ForwardInfo& fwd);

// Framing of a response body towards the client.
BodyFraming responseFraming(const Message& resp, bool request_was_head, const Message& req);

// Appends the response head sent to the client; `keep_alive` false adds Connection: close,
// and an HTTP/1.0 client that keeps the connection is told Connection: keep-alive.
void appendClientResponseHead(std::string& out, const Message& resp, BodyFraming framing, bool keep_alive,
                              bool client_http10 = false);

// A 1xx interim response (100 Continue, 103 Early Hints) relayed as it is.
void appendInterimResponseHead(std::string& out, const Message& resp);

// The proxy's own answer: status line, a one-line text body saying why, Content-Length.
// `head`: the request was HEAD, so the same head goes out without the body.
void appendSimpleResponse(std::string& out, int status, std::string_view body, bool keep_alive,
                          bool client_http10 = false, bool head = false);
std::string_view statusReason(int status);

// Chunked encoding of one slice, and the last chunk.
void appendChunk(std::string& out, std::string_view data);
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

} // namespace dlb::agent::http
