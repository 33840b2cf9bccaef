#include "agent/http/parser.hpp"

#include "agent/http/headers.hpp"

#include <algorithm>
#include <cstring>

namespace dlb::agent::http {

namespace {
constexpr size_t kInitialHeadBytes = 1024;
char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c; }
Parser* self(llhttp_t* p) { return static_cast<Parser*>(p->data); }
} // namespace

bool iequals(std::string_view a, std::string_view b)
{
    if (a.size() != b.size())
        return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i]))
            return false;
    return true;
}

std::string_view Message::header(std::string_view name) const
{
    for (const auto& h : headers_)
        if (iequals(view(h.name_off, h.name_len), name))
            return view(h.value_off, h.value_len);
    return {};
}

bool Message::hasHeader(std::string_view name) const
{
    for (const auto& h : headers_)
        if (iequals(view(h.name_off, h.name_len), name))
            return true;
    return false;
}

size_t Message::countHeader(std::string_view name) const
{
    size_t n = 0;
    for (const auto& h : headers_)
        n += iequals(view(h.name_off, h.name_len), name) ? 1 : 0;
    return n;
}

std::string_view Message::soleHeader(std::string_view name) const
{
    std::string_view found;
    bool seen = false;
    for (const auto& h : headers_) {
        if (!iequals(view(h.name_off, h.name_len), name))
            continue;
        if (seen)
            return {};
        seen = true;
        found = view(h.value_off, h.value_len);
    }
    return found;
}

int requestErrorStatus(ParseError error)
{
    switch (error) {
    case ParseError::HeadersTooLarge:
    case ParseError::TooManyHeaders:
        return 431;
    case ParseError::BodyTooLarge:
        return 413;
    case ParseError::NotImplemented:
        return 501;
    case ParseError::VersionNotSupported:
        return 505;
    case ParseError::MethodNotAllowed:
        return 405;
    case ParseError::None:
    case ParseError::Malformed:
    case ParseError::Aborted:
        break;
    }
    return 400;
}

void Message::clear()
{
    buf_.clear();
    headers_.clear();
    url_off_ = url_len_ = 0;
    status_ = 0;
    method_ = HTTP_GET;
    major_ = 1;
    minor_ = 1;
    keep_alive_ = chunked_ = has_content_length_ = upgrade_ = false;
    content_length_ = 0;
}

const llhttp_settings_t* Parser::settings()
{
    static const llhttp_settings_t s = [] {
        llhttp_settings_t st;
        llhttp_settings_init(&st);
        st.on_message_begin = &Parser::onMessageBegin;
        st.on_url = &Parser::onUrl;
        st.on_status = &Parser::onStatus;
        st.on_header_field = &Parser::onHeaderField;
        st.on_header_value = &Parser::onHeaderValue;
        st.on_headers_complete = &Parser::onHeadersComplete;
        st.on_body = &Parser::onBodyCb;
        st.on_message_complete = &Parser::onMessageCompleteCb;
        return st;
    }();
    return &s;
}

Parser::Parser(Kind kind, ParserHandler& handler, const ParserLimits& limits)
    : handler_(handler), limits_(limits), kind_(kind)
{
    llhttp_init(&parser_, kind == Kind::Request ? HTTP_REQUEST : HTTP_RESPONSE, settings());
    parser_.data = this;
    // Most heads are small: start with a little and grow (up to the limit) only when needed,
    // so thousands of idle keep-alive connections cost little memory.
    msg_.buf_.reserve(std::min<size_t>(limits.max_header_bytes, kInitialHeadBytes));
    msg_.headers_.reserve(32);
}

void Parser::reset()
{
    llhttp_reset(&parser_);
    parser_.data = this;
    msg_.clear();
    error_ = ParseError::None;
    error_reason_.clear();
    hstate_ = HeaderState::None;
    headers_done_ = in_message_ = paused_by_us_ = false;
    body_bytes_ = 0;
    exec_begin_ = nullptr;
    prev_last_byte_ = 0;
}

int Parser::fail(ParseError error, const char* reason)
{
    error_ = error;
    error_reason_ = reason;
    return HPE_USER;
}

bool Parser::appendHeadBytes(const char* at, size_t len)
{
    if (msg_.buf_.size() + len > limits_.max_header_bytes)
        return false;
    msg_.buf_.append(at, len);
    return true;
}

int Parser::onMessageBegin(llhttp_t* p)
{
    Parser* s = self(p);
    s->msg_.clear();
    s->hstate_ = HeaderState::None;
    s->headers_done_ = false;
    s->in_message_ = true;
    s->body_bytes_ = 0;
    return 0;
}

int Parser::onUrl(llhttp_t* p, const char* at, size_t len)
{
    Parser* s = self(p);
    if (s->msg_.url_len_ == 0)
        s->msg_.url_off_ = static_cast<uint32_t>(s->msg_.buf_.size());
    if (!s->appendHeadBytes(at, len))
        return s->fail(ParseError::HeadersTooLarge, "request line and headers exceed limits.max_header_bytes");
    s->msg_.url_len_ += static_cast<uint32_t>(len);
    return 0;
}

int Parser::onStatus(llhttp_t* p, const char* at, size_t len)
{
    return onUrl(p, at, len); // the reason phrase lives where a request keeps its URL
}

int Parser::onHeaderField(llhttp_t* p, const char* at, size_t len)
{
    Parser* s = self(p);
    if (s->headers_done_)
        return 0; // trailer fields: not forwarded
    auto& hs = s->msg_.headers_;
    if (s->hstate_ != HeaderState::Field) {
        if (hs.size() >= s->limits_.max_headers)
            return s->fail(ParseError::TooManyHeaders, "more header fields than limits.max_headers");
        const auto off = static_cast<uint32_t>(s->msg_.buf_.size());
        hs.push_back({off, 0, off, 0});
        s->hstate_ = HeaderState::Field;
    }
    if (!s->appendHeadBytes(at, len))
        return s->fail(ParseError::HeadersTooLarge, "request line and headers exceed limits.max_header_bytes");
    hs.back().name_len += static_cast<uint32_t>(len);
    return 0;
}

int Parser::onHeaderValue(llhttp_t* p, const char* at, size_t len)
{
    Parser* s = self(p);
    if (s->headers_done_)
        return 0;
    auto& h = s->msg_.headers_.back();
    if (s->hstate_ != HeaderState::Value && h.name_len == 0)
        return s->fail(ParseError::Malformed, "empty header field name");
    // llhttp accepts obs-fold (a line starting with SP/HTAB continues the value before it) and
    // hands the continuation over as more value bytes. A value byte never follows a line end
    // otherwise, so that is how it shows. nginx rejects obs-fold; so do we (RFC 9112 5.2).
    if (len > 0) {
        const char before = at > s->exec_begin_ ? at[-1] : s->prev_last_byte_;
        if (before == '\n')
            return s->fail(ParseError::Malformed, "obs-fold (a header line that starts with a space or tab)");
    }
    if (s->hstate_ != HeaderState::Value) {
        h.value_off = static_cast<uint32_t>(s->msg_.buf_.size());
        s->hstate_ = HeaderState::Value;
    }
    if (!s->appendHeadBytes(at, len))
        return s->fail(ParseError::HeadersTooLarge, "request line and headers exceed limits.max_header_bytes");
    h.value_len += static_cast<uint32_t>(len);
    return 0;
}

int Parser::onHeadersComplete(llhttp_t* p)
{
    Parser* s = self(p);
    Message& m = s->msg_;
    s->headers_done_ = true;
    // RFC 9112 5: field-line = field-name ":" OWS field-value OWS. llhttp hands the trailing OWS
    // over with the value; it is not part of it ("Bearer tok " carries the token "tok").
    for (auto& h : m.headers_) {
        const char* v = m.buf_.data() + h.value_off;
        while (h.value_len > 0 && (v[h.value_len - 1] == ' ' || v[h.value_len - 1] == '\t'))
            --h.value_len;
    }
    m.method_ = static_cast<llhttp_method_t>(p->method);
    m.status_ = p->status_code;
    m.major_ = p->http_major;
    m.minor_ = p->http_minor;
    m.keep_alive_ = llhttp_should_keep_alive(p) != 0;
    // RFC 9112 6.1: an HTTP/1.0 message with Transfer-Encoding is framed in a way an HTTP/1.0
    // hop may not know (one in front would read its chunked body as the next request), so the
    // connection closes after it, whatever Connection says.
    if ((p->flags & F_TRANSFER_ENCODING) != 0 && m.major_ == 1 && m.minor_ == 0)
        m.keep_alive_ = false;
    m.chunked_ = (p->flags & F_CHUNKED) != 0;
    m.has_content_length_ = (p->flags & F_CONTENT_LENGTH) != 0;
    m.content_length_ = m.has_content_length_ ? p->content_length : 0;
    m.upgrade_ = p->upgrade != 0;
    if (s->kind_ == Kind::Request) {
        if (const int rc = s->checkRequestHead(); rc != 0)
            return rc;
    } else if (const int rc = s->checkResponseHead(p->flags); rc != 0) {
        return rc;
    }
    // RFC 9112 6.3: 1xx, 204 and 304 end at the blank line whatever their fields say.
    const bool no_body = s->kind_ == Kind::Response && (m.status_ / 100 == 1 || m.status_ == 204 || m.status_ == 304);
    const bool over = s->limits_.max_body_bytes != 0 && m.has_content_length_ && m.content_length_ > s->limits_.max_body_bytes;
    if (over && s->kind_ == Kind::Request)
        return s->fail(ParseError::BodyTooLarge, "body exceeds limits.max_body_bytes");
    const auto action = s->handler_.onHeaders(m);
    if (action == ParserHandler::HeadersAction::Abort)
        return s->fail(ParseError::Aborted, "aborted");
    if (no_body || action == ParserHandler::HeadersAction::SkipBody) {
        p->upgrade = 0;
        m.upgrade_ = false;
        return 1;
    }
    if (over)
        return s->fail(ParseError::BodyTooLarge, "body exceeds limits.max_body_bytes");
    switch (action) {
    case ParserHandler::HeadersAction::Continue:
        // An upgrade we do not perform (Upgrade is hop-by-hop and stripped): parse on as HTTP.
        if (m.upgrade_) {
            p->upgrade = 0;
            m.upgrade_ = false;
        }
        return 0;
    case ParserHandler::HeadersAction::SkipBody:
    case ParserHandler::HeadersAction::Abort:
        return 1;
    }
    return 0;
}

int Parser::checkRequestHead()
{
    const Message& m = msg_;
    if (m.major_ != 1 || m.minor_ > 1)
        return fail(ParseError::VersionNotSupported, "only HTTP/1.0 and HTTP/1.1 are supported");
    const size_t hosts = m.countHeader("host");
    if (hosts > 1)
        return fail(ParseError::Malformed, "more than one Host header");
    if (hosts == 0 && m.minor_ == 1)
        return fail(ParseError::Malformed, "HTTP/1.1 request without a Host header");
    // RFC 9112 3.2: a Host that is not a host is 400, as nginx refuses one with a path in it;
    // a replica that builds links from Host is never handed "a.example/admin" or user@.
    if (hosts == 1 && !validHost(m.header("host")))
        return fail(ParseError::Malformed, "the Host header is not a host name or address with an optional port");
    // An absolute-form target's authority becomes the Host sent upstream (headers.hpp): the
    // same rules, and no user information (RFC 9110 4.2.4).
    if (const auto authority = targetAuthority(m.url()); authority && (authority->empty() || !validHost(*authority)))
        return fail(ParseError::Malformed, "the request target's authority is not a host name or address with an optional port");
    if (m.method_ == HTTP_CONNECT)
        return fail(ParseError::MethodNotAllowed, "CONNECT is not supported: this proxy does not tunnel");
    // llhttp lets "gzip, chunked" through as chunked; only a bare `chunked` is forwarded (as
    // nginx does), so a replica never has to agree with us on a coding it may not know.
    const size_t tes = m.countHeader("transfer-encoding");
    if (tes > 1)
        return fail(ParseError::Malformed, "more than one Transfer-Encoding header");
    if (tes == 1) {
        std::string_view te = m.header("transfer-encoding");
        while (!te.empty() && (te.front() == ' ' || te.front() == '\t'))
            te.remove_prefix(1);
        while (!te.empty() && (te.back() == ' ' || te.back() == '\t'))
            te.remove_suffix(1);
        if (!iequals(te, "chunked"))
            return fail(ParseError::NotImplemented, "a Transfer-Encoding other than chunked is not supported");
    }
    return 0;
}

int Parser::checkResponseHead(unsigned flags)
{
    // RFC 9110 15: every valid status is in 100-599. "000" would reach the client as "0", a
    // status line no client parses (and count as a success here).
    if (msg_.status_ < 100 || msg_.status_ > 599)
        return fail(ParseError::Malformed, "a status code outside 100-599");
    // A coding that does not end in chunked is delimited by the close and would be re-chunked
    // under the replica's own name ("gzip"), desynchronising the client. We never send TE, so
    // a replica may not apply such a coding (RFC 9112 7.4); nginx answers 502 to it too.
    if ((flags & F_TRANSFER_ENCODING) != 0 && (flags & F_CHUNKED) == 0)
        return fail(ParseError::Malformed, "a Transfer-Encoding that does not end in chunked");
    return 0;
}

int Parser::onBodyCb(llhttp_t* p, const char* at, size_t len)
{
    Parser* s = self(p);
    s->body_bytes_ += len;
    if (s->limits_.max_body_bytes != 0 && s->body_bytes_ > s->limits_.max_body_bytes)
        return s->fail(ParseError::BodyTooLarge, "body exceeds limits.max_body_bytes");
    if (!s->handler_.onBody({at, len}))
        return s->fail(ParseError::Aborted, "aborted");
    return 0;
}

int Parser::onMessageCompleteCb(llhttp_t* p)
{
    Parser* s = self(p);
    s->in_message_ = false;
    if (!s->handler_.onMessageComplete()) {
        s->paused_by_us_ = true;
        return HPE_PAUSED;
    }
    return 0;
}

Parser::Result Parser::execute(const char* data, size_t len)
{
    if (error_ != ParseError::None)
        return {Status::Error, 0};
    exec_begin_ = data;
    const llhttp_errno_t err = llhttp_execute(&parser_, data, len);
    exec_begin_ = nullptr;
    if (len > 0)
        prev_last_byte_ = data[len - 1];
    if (err == HPE_OK)
        return {Status::Ok, len};
    const char* pos = llhttp_get_error_pos(&parser_);
    size_t consumed = pos ? static_cast<size_t>(pos - data) : 0;
    if (consumed > len)
        consumed = len;
    if (err == HPE_PAUSED && paused_by_us_)
        return {Status::Paused, consumed};
    if (error_ == ParseError::None) {
        error_ = ParseError::Malformed;
        const char* reason = llhttp_get_error_reason(&parser_);
        error_reason_ = reason ? reason : llhttp_errno_name(err);
        // A coding llhttp does not end with chunked ("gzip"): not ours to understand, so 501;
        // a malformed Transfer-Encoding stays 400.
        if (kind_ == Kind::Request && err == HPE_INVALID_VERSION)
            error_ = ParseError::VersionNotSupported;
        else if (kind_ == Kind::Request && err == HPE_INVALID_TRANSFER_ENCODING &&
                 error_reason_.starts_with("Request has invalid"))
            error_ = ParseError::NotImplemented;
    }
    return {Status::Error, consumed};
}

void Parser::resume()
{
    if (paused_by_us_) {
        paused_by_us_ = false;
        llhttp_resume(&parser_);
    }
}

Parser::Status Parser::finish()
{
    if (error_ != ParseError::None)
        return Status::Error;
    const llhttp_errno_t err = llhttp_finish(&parser_);
    if (err == HPE_OK || (err == HPE_PAUSED && paused_by_us_))
        return Status::Ok;
    error_ = ParseError::Malformed;
    const char* reason = llhttp_get_error_reason(&parser_);
    error_reason_ = reason ? reason : "connection closed in the middle of a message";
    return Status::Error;
}

} // namespace dlb::agent::http
