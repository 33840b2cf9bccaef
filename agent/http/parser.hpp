#pragma once
// The one wrapper over llhttp, for requests (downstream) and responses (upstream, probes).
//
// llhttp's C callbacks reach the Parser through one static trampoline each. Header bytes are
// copied once into the Message's own buffer (reserved to the header limit, so it does not grow
// on the hot path) because a head may span several reads; body bytes are never copied here:
// onBody() sees them in the caller's read buffer. Every limit is a named constant with a config
// key (limits.max_header_bytes, limits.max_headers). llhttp's lenient flags all stay off.

#include <llhttp.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dlb::agent::http {

enum class Kind { Request, Response };

struct ParserLimits {
    uint32_t max_header_bytes = 16384; // start line + all header names and values
    uint32_t max_headers = 100;
    uint64_t max_body_bytes = 0;       // 0: unlimited
};

bool iequals(std::string_view a, std::string_view b);

// One parsed message head. Views stay valid until the next message starts on this parser.
class Message {
public:
    // Requests
    llhttp_method_t method() const { return method_; }
    std::string_view methodName() const { return llhttp_method_name(method_); }
    std::string_view url() const { return view(url_off_, url_len_); }
    // Responses
    int status() const { return status_; }
    std::string_view reason() const { return view(url_off_, url_len_); }

    unsigned versionMajor() const { return major_; }
    unsigned versionMinor() const { return minor_; }
    bool keepAlive() const { return keep_alive_; }  // per HTTP version and Connection header
    bool chunked() const { return chunked_; }
    bool hasContentLength() const { return has_content_length_; }
    uint64_t contentLength() const { return content_length_; }
    bool upgrade() const { return upgrade_; }

    size_t headerCount() const { return headers_.size(); }
    std::string_view headerName(size_t i) const { return view(headers_[i].name_off, headers_[i].name_len); }
    std::string_view headerValue(size_t i) const { return view(headers_[i].value_off, headers_[i].value_len); }
    // First header with this name (case-insensitive), or an empty view.
    std::string_view header(std::string_view name) const;
    bool hasHeader(std::string_view name) const;
    size_t countHeader(std::string_view name) const;
    // The value of the one header with this name; empty when absent or repeated (repeated
    // fields combine into one list, RFC 9110 5.3, which a single-valued field must not be).
    std::string_view soleHeader(std::string_view name) const;

private:
    friend class Parser;
    struct HeaderRef {
        uint32_t name_off, name_len, value_off, value_len;
    };
    std::string_view view(uint32_t off, uint32_t len) const { return {buf_.data() + off, len}; }
    void clear();

    std::string buf_;
    std::vector<HeaderRef> headers_;
    uint32_t url_off_ = 0, url_len_ = 0;
    llhttp_method_t method_ = HTTP_GET;
    int status_ = 0;
    uint8_t major_ = 1, minor_ = 1;
    bool keep_alive_ = false, chunked_ = false, has_content_length_ = false, upgrade_ = false;
    uint64_t content_length_ = 0;
};

enum class ParseError {
    None,
    Malformed,           // 400 for requests, 502 for responses
    HeadersTooLarge,     // 431
    TooManyHeaders,      // 431
    BodyTooLarge,        // 413
    NotImplemented,      // 501: a transfer coding other than chunked
    VersionNotSupported, // 505: a request that is not HTTP/1.0 or HTTP/1.1
    MethodNotAllowed,    // 405: CONNECT (a proxy that does not tunnel)
    Aborted,             // a handler callback returned false or Abort
};

// The status a proxy answers a request that failed to parse with `error`.
int requestErrorStatus(ParseError error);

class ParserHandler {
public:
    virtual ~ParserHandler() = default;
    enum class HeadersAction { Continue, SkipBody /* responses to HEAD */, Abort };
    // The head is complete. Return Continue, SkipBody, or Abort (execute() then fails with
    // ParseError::Aborted: the handler closed or gave up on the stream).
    virtual HeadersAction onHeaders(const Message& msg) = 0;
    // A slice of the (de-chunked) body. Return false to abort parsing.
    virtual bool onBody(std::string_view data) = 0;
    // The message is complete. Return true to keep parsing the bytes that follow (pipelining),
    // false to pause: execute() then returns Paused with `consumed` just past this message.
    virtual bool onMessageComplete() = 0;
};

class Parser {
public:
    Parser(Kind kind, ParserHandler& handler, const ParserLimits& limits);
    Parser(const Parser&) = delete;
    Parser& operator=(const Parser&) = delete;

    enum class Status { Ok, Paused, Error };
    struct Result {
        Status status;
        size_t consumed; // bytes of `data` processed (up to the pause or the error)
    };
    // Request heads are checked as strictly as nginx does before onHeaders() sees them:
    // HTTP/1.1 needs exactly one Host (HTTP/1.0 at most one) whose value is a host (an
    // absolute-form target's authority too), versions other than 1.0/1.1 are 505, obs-fold is
    // 400, CONNECT is 405, a Transfer-Encoding other than one `chunked` is 501. Responses: a
    // status outside 100-599 or a Transfer-Encoding not ending in chunked is Malformed.
    Result execute(const char* data, size_t len);
    // Continue after a pause; feed the remaining bytes with execute().
    void resume();
    // The peer closed: completes a read-until-close response; Error if a message was cut short.
    Status finish();
    // Forget any partial message (a new upstream connection or request).
    void reset();

    const Message& message() const { return msg_; }
    ParseError error() const { return error_; }
    std::string_view errorReason() const { return error_reason_; }
    // True between the first byte of a message and its completion.
    bool inMessage() const { return in_message_; }

private:
    static int onMessageBegin(llhttp_t* p);
    static int onUrl(llhttp_t* p, const char* at, size_t len);
    static int onStatus(llhttp_t* p, const char* at, size_t len);
    static int onHeaderField(llhttp_t* p, const char* at, size_t len);
    static int onHeaderValue(llhttp_t* p, const char* at, size_t len);
    static int onHeadersComplete(llhttp_t* p);
    static int onBodyCb(llhttp_t* p, const char* at, size_t len);
    static int onMessageCompleteCb(llhttp_t* p);
    static const llhttp_settings_t* settings();

    int fail(ParseError error, const char* reason);
    int checkRequestHead();
    int checkResponseHead(unsigned llhttp_flags);
    bool appendHeadBytes(const char* at, size_t len);

    llhttp_t parser_;
    ParserHandler& handler_;
    ParserLimits limits_;
    Message msg_;
    Kind kind_;
    ParseError error_ = ParseError::None;
    std::string error_reason_;
    enum class HeaderState : uint8_t { None, Field, Value } hstate_ = HeaderState::None;
    bool headers_done_ = false;
    bool in_message_ = false;
    bool paused_by_us_ = false;
    uint64_t body_bytes_ = 0;
    // To tell obs-fold from a value split across reads: where the bytes of the execute() in
    // progress start, and the last byte of the one before.
    const char* exec_begin_ = nullptr;
    char prev_last_byte_ = 0;
};

} // namespace dlb::agent::http
