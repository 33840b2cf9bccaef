#include "agent/proxy/upstream.hpp"

#include "agent/proxy/pool_runtime.hpp"
#include "agent/proxy/worker.hpp"

namespace dlb::agent::proxy {

UpstreamConn::UpstreamConn(uv_loop_t* loop, std::shared_ptr<PoolRuntime> pool, int replica, const http::ParserLimits& limits)
    : conn_(loop, this), parser_(http::Kind::Response, *this, responseLimits(limits)), pool_(std::move(pool)),
      replica_(replica)
{
}

http::ParserLimits UpstreamConn::responseLimits(http::ParserLimits limits)
{
    limits.max_body_bytes = 0; // limits.max_body_bytes is for what clients send, not for answers
    return limits;
}

int UpstreamConn::connect()
{
    conn_.holdWrites(true);
    if (const int rc = pool_->secure(conn_, replica_); rc != 0)
        return rc;
    return conn_.connect(pool_->replicaAddr(replica_));
}

void UpstreamConn::attach(UpstreamUser* user)
{
    user_ = user;
    saw_bytes_ = false;
    reusable_ = false;
    head_request_ = false;
    parser_.reset();
    if (connected_)
        conn_.startReading();
}

void UpstreamConn::detach()
{
    user_ = nullptr;
    ++uses_;
}

void UpstreamConn::markIdle(uint64_t now_ns)
{
    idle_since_ns_ = now_ns;
    conn_.releaseWriteBuffers(); // a large request body sent on it is not kept while idle
    // Keep reading while idle: a replica closing the connection is noticed at once.
    conn_.startReading();
}

void UpstreamConn::close()
{
    user_ = nullptr;
    conn_.close();
}

void UpstreamConn::onConnected(int status)
{
    if (status != 0) {
        if (!conn_.tlsError().empty()) // the 502's reason, for the operator
            pool_->worker().logError("replica " + pool_->spec().replicas[static_cast<size_t>(replica_)].url +
                                     ": TLS: " + conn_.tlsError());
        fail(UpstreamFailure::Connect, status);
        return;
    }
    connected_ = true;
    conn_.setNoDelay();
    conn_.holdWrites(false);
    conn_.startReading();
    if (user_)
        user_->onUpstreamConnected();
}

void UpstreamConn::onRead(const char* data, size_t len)
{
    if (!user_) {
        // Bytes on an idle connection: the replica broke the protocol; drop the connection.
        pool_->forgetIdle(this);
        close();
        return;
    }
    saw_bytes_ = true;
    UpstreamUser* user = user_;
    const auto r = parser_.execute(data, len);
    if (r.status == http::Parser::Status::Paused && r.consumed < len) {
        // Bytes after a complete answer: the replica and we no longer agree on where its
        // messages end, so this connection must not carry another request.
        reusable_ = false;
    }
    if (r.status == http::Parser::Status::Error && user_ == user) {
        fail(UpstreamFailure::Malformed, 0);
        return; // the user has handled the failure (a retry may already use another connection)
    }
    if (user_ == user)
        user->onUpstreamReadDone();
}

void UpstreamConn::onEof()
{
    if (!user_) {
        pool_->forgetIdle(this);
        close();
        return;
    }
    if (saw_bytes_ && parser_.inMessage() && parser_.finish() == http::Parser::Status::Ok) {
        // A read-until-close body ended; onMessageComplete already ran.
        reusable_ = false;
        UpstreamUser* user = user_;
        user->onUpstreamReadDone();
        return;
    }
    fail(saw_bytes_ ? UpstreamFailure::Truncated : UpstreamFailure::Reset, UV_EOF);
}

void UpstreamConn::onReadError(int status)
{
    if (!user_) {
        pool_->forgetIdle(this);
        close();
        return;
    }
    fail(saw_bytes_ ? UpstreamFailure::Truncated : UpstreamFailure::Reset, status);
}

void UpstreamConn::onWriteError(int status)
{
    if (!user_) {
        close();
        return;
    }
    fail(saw_bytes_ ? UpstreamFailure::Truncated : UpstreamFailure::Reset, status);
}

void UpstreamConn::onDrained()
{
    if (user_)
        user_->onUpstreamDrained();
}

void UpstreamConn::onClosed()
{
    pool_->onConnClosed(this); // frees this
}

void UpstreamConn::fail(UpstreamFailure failure, int status)
{
    UpstreamUser* user = user_;
    user_ = nullptr;
    conn_.close();
    if (user)
        user->onUpstreamFailed(failure, status);
}

http::ParserHandler::HeadersAction UpstreamConn::onHeaders(const http::Message& msg)
{
    interim_ = msg.status() >= 100 && msg.status() < 200;
    const auto action = user_ ? user_->onUpstreamHeaders(msg) : HeadersAction::Abort;
    if (action == HeadersAction::Abort)
        return action;
    return head_request_ ? HeadersAction::SkipBody : action;
}

bool UpstreamConn::onBody(std::string_view data)
{
    if (user_)
        user_->onUpstreamBody(data);
    return user_ != nullptr;
}

bool UpstreamConn::onMessageComplete()
{
    if (interim_) {
        interim_ = false;
        return true; // the final response follows on the same exchange
    }
    reusable_ = parser_.message().keepAlive();
    UpstreamUser* user = user_;
    if (user)
        user->onUpstreamComplete();
    return false; // stop: anything after the response is a protocol error on an idle conn
}

} // namespace dlb::agent::proxy
