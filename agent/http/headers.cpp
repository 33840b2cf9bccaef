#include "agent/http/headers.hpp"

#include <array>
#include <charconv>
#include <initializer_list>

namespace dlb::agent::http {

namespace {

constexpr std::array<std::string_view, 9> kHopByHop = {
    "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
    "te", "trailer", "transfer-encoding", "upgrade",
};

std::string_view trim(std::string_view s)
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

void appendNumber(std::string& out, uint64_t v)
{
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

void appendHeader(std::string& out, std::string_view name, std::string_view value)
{
    out.append(name);
    out.append(": ");
    out.append(value);
    out.append("\r\n");
}

// Fields that a Connection header may never make hop-by-hop: removing them would change how
// the next hop frames the message or which site it is for (request smuggling otherwise:
// "Connection: Content-Length" used to strip the length the body was framed by).
bool protectedFromConnection(std::string_view name)
{
    return iequals(name, "content-length") || iequals(name, "transfer-encoding") || iequals(name, "host");
}

// True when any of the message's Connection headers names `name` (a field may repeat, and
// each occurrence counts: RFC 9110 5.3).
bool namedByConnection(const Message& m, std::string_view name)
{
    for (size_t i = 0; i < m.headerCount(); ++i)
        if (iequals(m.headerName(i), "connection") && isHopByHop(name, m.headerValue(i)))
            return true;
    return false;
}

// Copies the end-to-end headers; skips hop-by-hop ones, the `skip` ones (rewritten by the
// caller) and, when `skip_length` is set, Content-Length (the framing is written by the caller
// from what the parser decided, never copied).
void appendEndToEnd(std::string& out, const Message& m, bool skip_length,
                    std::initializer_list<std::string_view> skip = {})
{
    const bool any_connection = m.hasHeader("connection"); // most heads have none: skip the scan
    for (size_t i = 0; i < m.headerCount(); ++i) {
        const std::string_view name = m.headerName(i);
        if (iequals(name, "content-length")) {
            if (!skip_length)
                appendHeader(out, name, m.headerValue(i));
            continue;
        }
        if (isHopByHop(name, {}) || (any_connection && namedByConnection(m, name)))
            continue;
        bool skipped = false;
        for (const auto s : skip)
            skipped = skipped || iequals(name, s);
        if (!skipped)
            appendHeader(out, name, m.headerValue(i));
    }
}

void appendContentLength(std::string& out, uint64_t length)
{
    out.append("Content-Length: ");
    appendNumber(out, length);
    out.append("\r\n");
}

// Transfer-Encoding for a response body we re-chunk: the replica's codings are kept (a proxy
// passes on codings it does not apply, such as gzip), from every Transfer-Encoding field in
// order, and chunked always ends the list: a close-delimited answer with `Transfer-Encoding:
// gzip` that we re-chunk must say `gzip, chunked`, or the client reads chunk sizes as body.
void appendChunkedFraming(std::string& out, const Message& m)
{
    out.append("Transfer-Encoding: ");
    bool any = false;
    for (size_t i = 0; i < m.headerCount(); ++i) {
        if (!iequals(m.headerName(i), "transfer-encoding"))
            continue;
        std::string_view list = m.headerValue(i);
        while (!list.empty()) {
            const size_t comma = list.find(',');
            const std::string_view coding = trim(list.substr(0, comma));
            list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
            if (coding.empty() || iequals(coding, "chunked"))
                continue; // ours is appended once, last
            if (any)
                out.append(", ");
            out.append(coding);
            any = true;
        }
    }
    out.append(any ? ", chunked\r\n" : "chunked\r\n");
}

// Via (RFC 9110 7.6.3): the protocol version this hop received, and our pseudonym. Earlier
// Via fields were copied as end-to-end fields; this line adds ours after them.
void appendVia(std::string& out, const Message& received)
{
    out.append("Via: ");
    appendNumber(out, received.versionMajor());
    out.push_back('.');
    appendNumber(out, received.versionMinor());
    out.push_back(' ');
    out.append(kViaPseudonym);
    out.append("\r\n");
}

} // namespace

std::string_view originForm(std::string_view target)
{
    size_t skip = 0;
    if (target.size() > 7 && iequals(target.substr(0, 7), "http://"))
        skip = 7;
    else if (target.size() > 8 && iequals(target.substr(0, 8), "https://"))
        skip = 8;
    if (skip == 0)
        return target;
    // "http://h?q" gives "?q" (llhttp accepts that form): normalizeTarget refuses it as not a
    // path, so the client gets 400 and nothing reaches a replica. Strict, as chosen for every
    // unusual target; tests/fuzz/regressions/request/absolute_form_query_without_path.
    const size_t slash = target.find_first_of("/?", skip);
    return slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
}

std::optional<std::string_view> targetAuthority(std::string_view target)
{
    size_t skip = 0;
    if (target.size() > 7 && iequals(target.substr(0, 7), "http://"))
        skip = 7;
    else if (target.size() > 8 && iequals(target.substr(0, 8), "https://"))
        skip = 8;
    if (skip == 0)
        return std::nullopt;
    const size_t end = target.find_first_of("/?#", skip);
    return target.substr(skip, end == std::string_view::npos ? std::string_view::npos : end - skip);
}

bool validHost(std::string_view value)
{
    const auto unreservedOrSubDelim = [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               std::string_view("-._~!$&'()*+,;=").find(c) != std::string_view::npos;
    };
    const auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); };
    std::string_view port;
    if (!value.empty() && value.front() == '[') {
        // IP-literal: an IPv6 address (a zone as %25...) or IPvFuture; their characters only.
        const size_t close = value.find(']');
        if (close == std::string_view::npos || close == 1)
            return false;
        for (const char c : value.substr(1, close - 1))
            if (!unreservedOrSubDelim(c) && c != ':' && c != '%')
                return false;
        const std::string_view rest = value.substr(close + 1);
        if (!rest.empty() && rest.front() != ':')
            return false;
        port = rest.empty() ? rest : rest.substr(1);
    } else {
        const size_t colon = value.find(':');
        const std::string_view host = value.substr(0, colon);
        port = colon == std::string_view::npos ? std::string_view() : value.substr(colon + 1);
        for (size_t i = 0; i < host.size(); ++i) {
            if (host[i] == '%') {
                if (i + 2 >= host.size() || !hex(host[i + 1]) || !hex(host[i + 2]))
                    return false;
                i += 2;
            } else if (!unreservedOrSubDelim(host[i])) {
                return false;
            }
        }
    }
    for (const char c : port)
        if (c < '0' || c > '9')
            return false;
    return true;
}

bool isHopByHop(std::string_view name, std::string_view connection_value)
{
    for (auto h : kHopByHop)
        if (iequals(name, h))
            return true;
    if (protectedFromConnection(name))
        return false;
    // Connection: close, X-Foo  -> X-Foo is hop-by-hop too
    while (!connection_value.empty()) {
        const size_t comma = connection_value.find(',');
        const std::string_view token = trim(connection_value.substr(0, comma));
        if (!token.empty() && iequals(token, name))
            return true;
        if (comma == std::string_view::npos)
            break;
        connection_value.remove_prefix(comma + 1);
    }
    return false;
}

BodyFraming requestFraming(const Message& req)
{
    if (req.chunked())
        return BodyFraming::Chunked;
    // "Content-Length: 0" is forwarded as it came: some servers want it on a POST.
    if (req.hasContentLength())
        return BodyFraming::ContentLength;
    return BodyFraming::None;
}

void appendUpstreamRequestHead(std::string& out, const Message& req, BodyFraming framing, const ForwardInfo& fwd)
{
    out.append(req.methodName());
    out.push_back(' ');
    out.append(fwd.target.empty() ? req.url() : fwd.target);
    out.append(" HTTP/1.1\r\n");
    // The client's own X-Forwarded-Proto is not trusted: a plain-http client could claim https.
    // For an absolute-form target the Host is its authority, not the client's field (RFC 9112
    // 3.2.2): the replica must serve the site the request line names, as routing saw it.
    const std::optional<std::string_view> authority = targetAuthority(req.url());
    if (authority)
        appendEndToEnd(out, req, true, {"x-forwarded-for", "x-forwarded-proto", "host"});
    else
        appendEndToEnd(out, req, true, {"x-forwarded-for", "x-forwarded-proto"});
    // X-Forwarded-For: keep what earlier proxies wrote and add this client.
    out.append("X-Forwarded-For: ");
    for (size_t i = 0; i < req.headerCount(); ++i) {
        if (iequals(req.headerName(i), "x-forwarded-for") && !req.headerValue(i).empty()) {
            out.append(req.headerValue(i));
            out.append(", ");
        }
    }
    out.append(fwd.client_ip);
    out.append("\r\n");
    appendHeader(out, "X-Forwarded-Proto", fwd.proto);
    appendVia(out, req);
    // Framing from the parser's decision: the only coding a request may carry is chunked
    // (the parser answers 501 to any other), and a length is the number the parser counts.
    if (framing == BodyFraming::Chunked)
        out.append("Transfer-Encoding: chunked\r\n");
    else if (framing == BodyFraming::ContentLength)
        appendContentLength(out, req.contentLength());
    if (authority)
        appendHeader(out, "Host", *authority);
    else if (req.versionMajor() == 1 && req.versionMinor() == 0 && !req.hasHeader("host"))
        out.append("Host: \r\n"); // HTTP/1.1 requires the field; an HTTP/1.0 client may omit it
    out.append("\r\n");
}

BodyFraming responseFraming(const Message& resp, bool request_was_head, const Message& req)
{
    const int status = resp.status();
    if (request_was_head || status == 204 || status == 304 || (status >= 100 && status < 200))
        return BodyFraming::None;
    if (resp.hasContentLength())
        return BodyFraming::ContentLength;
    if (req.versionMajor() == 1 && req.versionMinor() >= 1)
        return BodyFraming::Chunked;
    return BodyFraming::UntilClose;
}

void appendClientResponseHead(std::string& out, const Message& resp, BodyFraming framing, bool keep_alive,
                              bool client_http10)
{
    out.append("HTTP/1.1 ");
    appendNumber(out, static_cast<uint64_t>(resp.status()));
    out.push_back(' ');
    out.append(resp.reason().empty() ? statusReason(resp.status()) : resp.reason());
    out.append("\r\n");
    // HEAD responses and 304 keep the Content-Length the origin sent: it describes the entity.
    // A 204 never carries one (RFC 9110 8.6): a client in front that honoured it would take
    // the next answer's bytes as this body. A replica's load report is for the agent
    // (docs/load-reports.md), not for clients.
    appendEndToEnd(out, resp, framing != BodyFraming::None || resp.status() == 204, {"endpoint-load-metrics", "x-load"});
    appendVia(out, resp);
    if (framing == BodyFraming::Chunked)
        appendChunkedFraming(out, resp);
    else if (framing == BodyFraming::ContentLength)
        appendContentLength(out, resp.contentLength());
    if (!keep_alive || framing == BodyFraming::UntilClose)
        out.append("Connection: close\r\n");
    else if (client_http10)
        out.append("Connection: keep-alive\r\n"); // HTTP/1.0 closes unless told otherwise
    out.append("\r\n");
}

void appendInterimResponseHead(std::string& out, const Message& resp)
{
    out.append("HTTP/1.1 ");
    appendNumber(out, static_cast<uint64_t>(resp.status()));
    out.push_back(' ');
    out.append(resp.reason().empty() ? statusReason(resp.status()) : resp.reason());
    out.append("\r\n");
    appendEndToEnd(out, resp, true); // a 1xx has no body and never a Content-Length (RFC 9110 8.6)
    out.append("\r\n");
}

std::string_view statusReason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 505: return "HTTP Version Not Supported";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Unknown";
    }
}

void appendSimpleResponse(std::string& out, int status, std::string_view body, bool keep_alive, bool client_http10,
                          bool head)
{
    out.append("HTTP/1.1 ");
    appendNumber(out, static_cast<uint64_t>(status));
    out.push_back(' ');
    out.append(statusReason(status));
    out.append("\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ");
    appendNumber(out, body.size() + 1);
    out.append(!keep_alive ? "\r\nConnection: close\r\n\r\n"
               : client_http10 ? "\r\nConnection: keep-alive\r\n\r\n"
                               : "\r\n\r\n");
    if (head)
        return; // the length says what a GET would get; a HEAD answer has no body (RFC 9110 9.3.2)
    out.append(body);
    out.push_back('\n');
}

void appendChunk(std::string& out, std::string_view data)
{
    if (data.empty())
        return; // an empty chunk would end the body
    char buf[20];
    auto r = std::to_chars(buf, buf + sizeof buf, data.size(), 16);
    out.append(buf, r.ptr);
    out.append("\r\n");
    out.append(data);
    out.append("\r\n");
}

} // namespace dlb::agent::http
