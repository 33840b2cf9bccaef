#include "tools/loadgen/client_conn.hpp"

#include "tools/loadgen/runner.hpp"

namespace dlb::tools::loadgen {

namespace {

namespace http = agent::http;

// Answers are only counted, never kept, so only the head is bounded.
constexpr uint32_t kMaxResponseHeaderBytes = 64 * 1024;
constexpr uint32_t kMaxResponseHeaders = 256;

http::ParserLimits responseLimits()
{
    http::ParserLimits limits;
    limits.max_header_bytes = kMaxResponseHeaderBytes;
    limits.max_headers = kMaxResponseHeaders;
    return limits;
}

} // namespace

ClientConn::ClientConn(Runner& runner, uv_loop_t* loop, size_t slot)
    : runner_(runner), tcp_(loop, this), parser_(http::Kind::Response, *this, responseLimits()), slot_(slot)
{
}

void ClientConn::connect(const sockaddr* addr)
{
    // A synchronous failure is reported like an asynchronous one, when the request is sent.
    connect_error_ = tcp_.connect(addr);
}

void ClientConn::send(const Request& req)
{
    request_ = req;
    has_request_ = true;
    if (connect_error_ != 0) {
        fail("connect");
        return;
    }
    if (state_ == State::Idle)
        writeRequest();
}

void ClientConn::writeRequest()
{
    state_ = State::Busy;
    status_ = 0;
    has_replica_ = false;
    tcp_.write(runner_.requestBytes());
}

void ClientConn::abandon()
{
    fail(state_ == State::Connecting ? "connect" : "timeout");
}

void ClientConn::fail(std::string_view kind)
{
    if (has_request_) {
        has_request_ = false;
        state_ = State::Closing;
        runner_.onFailed(request_, kind);
    }
    close();
}

void ClientConn::close()
{
    state_ = State::Closing;
    tcp_.close();
}

void ClientConn::onConnected(int status)
{
    if (state_ == State::Closing)
        return;
    if (status != 0) {
        fail("connect");
        return;
    }
    tcp_.setNoDelay();
    tcp_.startReading();
    if (has_request_) {
        writeRequest();
    } else {
        state_ = State::Idle;
        runner_.onIdle(*this);
    }
}

void ClientConn::onRead(const char* data, size_t len)
{
    if (state_ == State::Closing)
        return;
    const auto r = parser_.execute(data, len);
    if (r.status == http::Parser::Status::Error && state_ != State::Closing) {
        if (state_ == State::Busy)
            fail("other"); // a malformed answer
        else
            close();
    }
}

void ClientConn::onEof()
{
    if (state_ == State::Busy) {
        parser_.finish(); // completes an answer delimited by the close, if that is what it was
        if (state_ == State::Busy)
            fail("reset");
    }
    if (state_ != State::Closing)
        close(); // an idle keep-alive connection the server closed: not an error
}

void ClientConn::onReadError(int status)
{
    if (state_ == State::Busy)
        fail(status == UV_ECONNRESET || status == UV_EPIPE ? "reset" : "other");
    else
        close();
}

void ClientConn::onWriteError(int /*status*/)
{
    if (state_ == State::Busy)
        fail("reset");
    else
        close();
}

void ClientConn::onClosed()
{
    runner_.onClosed(*this); // frees this
}

http::ParserHandler::HeadersAction ClientConn::onHeaders(const http::Message& msg)
{
    status_ = msg.status();
    keep_alive_ = msg.keepAlive();
    has_replica_ = msg.hasHeader("x-replica");
    if (has_replica_)
        replica_.assign(msg.header("x-replica"));
    return HeadersAction::Continue;
}

bool ClientConn::onBody(std::string_view /*data*/)
{
    return true;
}

bool ClientConn::onMessageComplete()
{
    if (state_ != State::Busy) {
        if (state_ != State::Closing)
            close(); // an answer nobody asked for
        return true;
    }
    if (status_ >= 100 && status_ < 200)
        return true; // interim answer: the final one follows
    const Request done = request_;
    has_request_ = false;
    const bool keep_alive = keep_alive_;
    state_ = State::Idle;
    runner_.onAnswer(done, status_, has_replica_ ? &replica_ : nullptr);
    if (!keep_alive) {
        if (state_ != State::Closing)
            close();
    } else if (state_ == State::Idle) {
        runner_.onIdle(*this); // may send the next request from here
    }
    return true;
}

} // namespace dlb::tools::loadgen
