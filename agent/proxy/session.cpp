#include "agent/proxy/session.hpp"

#include "agent/net/listener.hpp"
#include "agent/http/path.hpp"
#include "agent/proxy/pool_runtime.hpp"
#include "agent/proxy/worker.hpp"

#include <cstdio>

namespace dlb::agent::proxy {

namespace {
bool idempotent(llhttp_method_t m)
{
    switch (m) {
    case HTTP_GET:
    case HTTP_HEAD:
    case HTTP_PUT:
    case HTTP_DELETE:
    case HTTP_OPTIONS:
    case HTTP_TRACE:
        return true;
    default:
        return false;
    }
}
} // namespace

std::string_view abortName(Abort a)
{
    switch (a) {
    case Abort::None: return {};
    case Abort::ClientClosed: return "client_closed";
    case Abort::SendTimeout: return "send_timeout";
    case Abort::Shutdown: return "shutdown";
    case Abort::UpstreamFailed: return "upstream_failed";
    }
    return {};
}

Session::Session(Worker& worker, std::string_view proto)
    : worker_(worker), client_(worker.loop(), this), parser_(http::Kind::Request, *this, worker.parserLimits()),
      proto_(proto)
{
    uv_timer_init(worker.loop(), &timer_);
    timer_.data = this;
}

int Session::accept(int fd)
{
    const int rc = client_.open(fd);
    if (rc != 0)
        return rc;
    client_.setNoDelay();
    client_ip_ = client_.peerIp();
    armTimer(Phase::Idle, worker_.snapshot().config.timeouts.header_ms);
    return client_.startReading();
}

void Session::armTimer(Phase phase, uint64_t ms)
{
    if (closing_ && phase != Phase::Closing)
        return;
    phase_ = phase;
    uv_timer_start(&timer_, &Session::onTimer, ms, 0);
}

// The timer of the exchange in progress, from its state (one timer, the most urgent wait).
void Session::armExchangeTimer()
{
    if (closing_ || !in_exchange_)
        return;
    const auto& t = worker_.snapshot().config.timeouts;
    if (upstream_paused_)
        armTimer(Phase::Send, t.send_ms); // the client is slow, not the replica
    else if (up_ && !up_->connected())
        armTimer(Phase::Upstream, t.connect_ms);
    else if (!req_complete_)
        armTimer(Phase::Body, t.body_ms); // a slow upload cannot hold a replica forever
    else if (up_)
        armTimer(Phase::Upstream, t.response_ms);
}

// ---- client side ---------------------------------------------------------------------------

void Session::onRead(const char* data, size_t len)
{
    if (closing_)
        return;
    if ((in_exchange_ && req_complete_) || inbuf_off_ < inbuf_.size() || (phase_ == Phase::Send && !in_exchange_)) {
        // Pipelined bytes: their turn comes after this answer. Reading goes on (so a client
        // that gives up is noticed at once) until a bounded amount waits.
        queueReadAhead(data, len);
        return;
    }
    parse(data, len, false);
}

void Session::queueReadAhead(const char* data, size_t len)
{
    if (inbuf_off_ > 0) {
        // Compact once per read, not once per request: the buffer is consumed by an offset.
        inbuf_.erase(0, inbuf_off_);
        inbuf_off_ = 0;
    }
    inbuf_.append(data, len);
    if (inbuf_.size() >= kMaxPipelinedBytes)
        client_.stopReading();
}

// An idle keep-alive connection keeps no read-ahead buffer: thousands of them that once
// pipelined must not each hold up to kMaxPipelinedBytes.
void Session::releaseReadAhead()
{
    inbuf_off_ = 0;
    if (inbuf_.capacity() > kKeptReadAheadBytes)
        std::string().swap(inbuf_);
    else
        inbuf_.clear();
}

void Session::parse(const char* data, size_t len, bool from_buffer)
{
    if (!in_exchange_ && !parser_.inMessage() && len > 0) {
        // The first byte of a request: its clock and its header deadline start here.
        t_start_ns_ = Worker::nowNs();
        armTimer(Phase::Head, worker_.snapshot().config.timeouts.header_ms);
    }
    in_parse_ = true;
    const auto r = parser_.execute(data, len);
    in_parse_ = false;
    if (closing_)
        return;
    if (from_buffer)
        inbuf_off_ += r.consumed;
    if (up_)
        up_->stream().flush(); // may fail at once: onUpstreamFailed has run when it returns
    if (closing_)
        return;
    switch (r.status) {
    case http::Parser::Status::Ok:
        armExchangeTimer();
        maybeFinish();
        return;
    case http::Parser::Status::Paused:
        if (!from_buffer) {
            inbuf_.assign(data + r.consumed, len - r.consumed);
            inbuf_off_ = 0;
            if (inbuf_.size() >= kMaxPipelinedBytes)
                client_.stopReading();
        }
        armExchangeTimer();
        maybeFinish();
        return;
    case http::Parser::Status::Error:
        parseFailed();
        return;
    }
}

void Session::parseFailed()
{
    keep_alive_ = false;
    client_.stopReading();
    inbuf_.clear();
    inbuf_off_ = 0;
    if (parser_.error() == http::ParseError::Aborted) {
        // A handler gave up on the stream (a body too long to discard): end after the answer.
        if (resp_complete_)
            finishExchange();
        else
            closeNow(Abort::None);
        return;
    }
    if (resp_head_sent_) {
        closeNow(Abort::UpstreamFailed); // an answer is under way: the stream cannot be framed
        return;
    }
    // Malformed or over a limit: answer and close (the stream can no longer be framed).
    const int status = http::requestErrorStatus(parser_.error());
    in_exchange_ = true;
    req_complete_ = true; // nothing more will be read
    if (status == 400)
        answerLocally(status, std::string("malformed request: ") + std::string(parser_.errorReason()));
    else
        answerLocally(status, parser_.errorReason());
    if (closing_)
        return;
    if (up_) {
        pool_->abandoned(replica_, Worker::nowNs());
        releaseUpstream(false);
    }
    finishExchange();
}

void Session::parseBuffered()
{
    // One request per turn: when it finishes at once (a local answer), finishExchange() decides
    // whether the next may go now or must wait for the client to read (Send).
    if (!closing_ && !in_exchange_ && inbuf_off_ < inbuf_.size())
        parse(inbuf_.data() + inbuf_off_, inbuf_.size() - inbuf_off_, true);
    if (closing_ || phase_ == Phase::Send || phase_ == Phase::Resume)
        return; // waiting for the client, or the next request's turn is already scheduled
    if (inbuf_off_ >= inbuf_.size())
        releaseReadAhead();
    if (inbuf_.size() - inbuf_off_ < kMaxPipelinedBytes && !client_paused_)
        client_.startReading();
    if (!in_exchange_ && !parser_.inMessage())
        armTimer(Phase::Idle, worker_.snapshot().config.timeouts.idle_ms);
}

void Session::onEof()
{
    if (closing_)
        return;
    client_eof_ = true;
    if (in_exchange_ && !resp_complete_) {
        // A client that closes while its answer is pending has given up (a timeout, a user who
        // went away): abort, as nginx and HAProxy do by default, so the connection to the
        // replica and this socket are freed now rather than when the replica gets to it.
        closeNow(Abort::ClientClosed);
        return;
    }
    if (in_exchange_) {
        keep_alive_ = false; // the answer is complete and still being written
        finishExchange();
        return;
    }
    closeGracefully(); // between requests: an answer may still be on its way out
}

void Session::onReadError(int /*status*/)
{
    if (!closing_)
        closeNow(Abort::ClientClosed);
}

void Session::onWriteError(int /*status*/)
{
    if (!closing_)
        closeNow(Abort::ClientClosed);
}

void Session::onDrained()
{
    // May run inside client_.flush(): only resume reading and re-arm here.
    if (closing_)
        return;
    unread_answers_ = 0;
    if (upstream_paused_ && up_) {
        upstream_paused_ = false;
        up_->stream().startReading();
        armExchangeTimer();
    } else if (phase_ == Phase::Send && !in_exchange_) {
        scheduleNext(); // the client took its answers: the next pipelined request may go
    } else if (!in_exchange_) {
        client_.releaseWriteBuffers(); // the last answer is out: keep nothing of it
    }
}

// ---- the request ---------------------------------------------------------------------------

http::ParserHandler::HeadersAction Session::onHeaders(const http::Message& req)
{
    if (closing_)
        return HeadersAction::Abort;
    worker_.stats().requests.add();
    in_exchange_ = true;
    head_parsed_ = true;
    ++requests_;
    head_request_ = req.method() == HTTP_HEAD;
    const unsigned max_requests = worker_.snapshot().config.limits.max_requests_per_connection;
    keep_alive_ = req.keepAlive() && !worker_.draining() && (max_requests == 0 || requests_ < max_requests);
    req_framing_ = http::requestFraming(req);
    client_http10_ = req.versionMajor() == 1 && req.versionMinor() == 0;
    std::string_view why;
    if (!http::normalizeTarget(http::originForm(req.url()), target_, &why)) {
        keep_alive_ = false;
        answerLocally(400, std::string("malformed request: ") + std::string(why));
        return closing_ ? HeadersAction::Abort : HeadersAction::Continue;
    }
    const Snapshot& snap = worker_.snapshot();
    const Route* route = snap.route(target_);
    if (!route) {
        answerLocally(404, "no route for this path; add a route whose path_prefix matches it");
        return closing_ ? HeadersAction::Abort : HeadersAction::Continue;
    }
    pool_ = worker_.runtime(route->pool);
    replay_.clear();
    replayable_ = true;
    http::appendUpstreamRequestHead(replay_, req, req_framing_, {client_ip_, proto_, target_});
    if (!dispatch(balance::kNoReplica)) {
        pool_->countNoReplica();
        answerLocally(503, "no healthy replica in pool " + pool_->spec().config.name);
    }
    return closing_ ? HeadersAction::Abort : HeadersAction::Continue;
}

bool Session::dispatch(int exclude)
{
    PoolRuntime& pool = *pool_;
    const http::Message& req = parser_.message();
    balance::PickContext ctx;
    ctx.now_ns = Worker::nowNs();
    ctx.client_addr = client_ip_;
    ctx.path = target_;
    ctx.exclude = exclude;
    ctx.header = [&req](std::string_view name) { return req.header(name); };
    const int replica = pool.balancer().pick(ctx);
    if (replica == balance::kNoReplica)
        return false;
    replica_ = replica;
    ++attempts_;
    bool reused = false;
    int err = 0;
    up_ = pool.acquire(replica, &reused, &err);
    pool.dispatched(replica, ctx.now_ns);
    t_upstream_ns_ = ctx.now_ns;
    if (!up_) {
        // Failing before a packet left is this process's trouble (out of descriptors or
        // memory), not the replica's: it must not count against the replica.
        pool.abandoned(replica, ctx.now_ns);
        worker_.logError(std::string("cannot open a connection to a replica: ") + uv_strerror(err) +
                         (err == UV_EMFILE || err == UV_ENFILE ? std::string("; ") + net::kRaiseOpenFileLimit : std::string()));
        answerLocally(503, std::string("the agent cannot open a connection right now (") + uv_err_name(err) + "); see its log");
        maybeFinish();
        return true;
    }
    up_->attach(this);
    up_->expectHeadResponse(head_request_);
    armExchangeTimer();
    // Last: a reused connection that turns out to be reset fails inside this write, and
    // onUpstreamFailed (a retry, or the 502) has run by the time it returns.
    up_->stream().write(replay_);
    return true;
}

void Session::sendToUpstream(std::string_view data)
{
    if (replayable_) {
        if (replay_.size() + data.size() <= kMaxReplayBytes) {
            replay_.append(data);
        } else {
            replayable_ = false;
            replay_.clear();
            replay_.shrink_to_fit();
        }
    }
    if (!up_)
        return; // between a failure and its retry, or answered locally
    up_->stream().append(data);
    if (up_->stream().pendingBytes() > kHighWaterBytes && !client_paused_) {
        client_paused_ = true;
        client_.stopReading();
    }
}

bool Session::onBody(std::string_view data)
{
    if (closing_)
        return false;
    if (local_answer_) {
        // Answered without a replica: read and drop the body, up to a bound.
        discarded_ += data.size();
        return discarded_ <= kMaxDiscardBodyBytes;
    }
    if (req_framing_ == http::BodyFraming::Chunked) {
        char size_line[24];
        const int n = std::snprintf(size_line, sizeof size_line, "%zx\r\n", data.size());
        sendToUpstream({size_line, static_cast<size_t>(n)});
        sendToUpstream(data);
        sendToUpstream("\r\n");
    } else {
        sendToUpstream(data);
    }
    return true;
}

bool Session::onMessageComplete()
{
    req_complete_ = true;
    if (!local_answer_ && req_framing_ == http::BodyFraming::Chunked)
        sendToUpstream(http::kLastChunk);
    return false; // pause: the next pipelined request waits for this answer
}

// ---- the response --------------------------------------------------------------------------

void Session::onUpstreamConnected()
{
    armExchangeTimer();
}

http::ParserHandler::HeadersAction Session::onUpstreamHeaders(const http::Message& resp)
{
    if (closing_)
        return HeadersAction::Abort;
    if (resp.status() >= 100 && resp.status() < 200) {
        armExchangeTimer();
        const http::Message& req = parser_.message();
        if (req.versionMajor() == 1 && req.versionMinor() >= 1 && resp.status() != 101) {
            std::string& out = client_.pendingBuffer();
            http::appendInterimResponseHead(out, resp);
            client_.flush();
        }
        return closing_ ? HeadersAction::Abort : HeadersAction::Continue;
    }
    status_ = resp.status();
    pool_->responseHead(replica_, resp, Worker::nowNs()); // load reports: free probe answers
    resp_framing_ = http::responseFraming(resp, head_request_, parser_.message());
    keep_alive_ = keep_alive_ && !worker_.draining() && resp_framing_ != http::BodyFraming::UntilClose;
    std::string& out = client_.pendingBuffer();
    const size_t before = out.size();
    http::appendClientResponseHead(out, resp, resp_framing_, keep_alive_, client_http10_);
    bytes_sent_ += out.size() - before;
    resp_head_sent_ = true;
    armExchangeTimer();
    return HeadersAction::Continue;
}

void Session::onUpstreamBody(std::string_view data)
{
    if (closing_)
        return;
    if (resp_framing_ == http::BodyFraming::Chunked) {
        std::string& out = client_.pendingBuffer();
        const size_t before = out.size();
        http::appendChunk(out, data);
        bytes_sent_ += out.size() - before;
    } else {
        bytes_sent_ += data.size();
        client_.append(data);
    }
    if (up_ && !upstream_paused_ && client_.pendingBytes() > kHighWaterBytes) {
        upstream_paused_ = true;
        up_->stream().stopReading();
    }
    // timeouts.response_ms bounds silence, not the length of an answer that keeps flowing.
    armExchangeTimer();
}

void Session::onUpstreamComplete()
{
    if (closing_)
        return;
    uv_timer_stop(&timer_);
    if (resp_framing_ == http::BodyFraming::Chunked) {
        client_.append(http::kLastChunk);
        bytes_sent_ += http::kLastChunk.size();
    }
    const uint64_t now = Worker::nowNs();
    pool_->completed(replica_, status_ < 500, msSince(t_upstream_ns_, now), now);
    pool_->answered(replica_, status_, now - t_upstream_ns_);
    // The connection is reusable only if our side of the exchange is complete too (and, seen
    // when the read is done, nothing followed the answer).
    up_reusable_ = req_complete_;
    resp_complete_ = true;
    if (!req_complete_) {
        // The replica answered before the whole body arrived: the rest of it cannot be framed
        // for a next request cheaply, so this connection ends after the answer.
        keep_alive_ = false;
        local_answer_ = true; // discard what still comes
    }
    // Releasing the connection and starting the next request wait for onUpstreamReadDone():
    // we are inside the upstream parser's callback here.
}

void Session::onUpstreamFailed(UpstreamFailure failure, int uv_status)
{
    if (closing_)
        return;
    const uint64_t now = Worker::nowNs();
    const bool was_reused = up_ && up_->reused();
    up_ = nullptr; // UpstreamConn closed itself
    upstream_paused_ = false;
    pool_->completed(replica_, false, msSince(t_upstream_ns_, now), now);
    pool_->countError(replica_, failure == UpstreamFailure::Connect     ? stats::ErrorKind::Connect
                                : failure == UpstreamFailure::Malformed ? stats::ErrorKind::Malformed
                                                                        : stats::ErrorKind::Reset);
    if (failure == UpstreamFailure::Connect) {
        worker_.stats().upstream_connect_errors.add();
        pool_->connectFailed(replica_, uv_status, now);
    }
    // A refused connection never reached the replica: always safe to send elsewhere. A reset
    // after sending may have reached it, so only idempotent requests go again (as nginx does).
    const bool retryable = (failure == UpstreamFailure::Connect ||
                            (failure == UpstreamFailure::Reset && idempotent(parser_.message().method()))) &&
                           !resp_head_sent_ && replayable_;
    if (retryable && attempts_ < kMaxAttempts) {
        worker_.stats().retries.add();
        const int failed = replica_;
        if (dispatch(failed))
            return;
        // No other replica: a stale keep-alive connection may be all that failed.
        if (was_reused && dispatch(balance::kNoReplica))
            return;
    }
    const std::string& id = pool_->spec().replicas[static_cast<size_t>(replica_)].id;
    const char* what = failure == UpstreamFailure::Connect ? "could not be reached"
                       : failure == UpstreamFailure::Malformed ? "sent a malformed response"
                                                               : "closed the connection before answering";
    // A malformed answer carries no libuv error (status 0), and uv_err_name() of an unknown code
    // allocates a string it never frees (found by the session fuzzer under LeakSanitizer).
    std::string why = "replica " + id + " " + what;
    if (uv_status < 0)
        why += std::string(" (") + uv_err_name(uv_status) + ")";
    upstreamGaveUp(why, 502);
}

void Session::upstreamGaveUp(std::string_view why, int status)
{
    if (resp_head_sent_) {
        closeNow(Abort::UpstreamFailed); // the answer is cut short: the client must see it end
        return;
    }
    if (!req_complete_)
        keep_alive_ = false;
    answerLocally(status, why);
    maybeFinish();
}

void Session::onUpstreamReadDone()
{
    if (closing_)
        return;
    if (resp_complete_ && up_)
        releaseUpstream(up_reusable_ && up_->reusable());
    client_.flush();
    maybeFinish();
}

void Session::onUpstreamDrained()
{
    if (closing_)
        return;
    if (client_paused_ && !req_complete_) {
        client_paused_ = false;
        client_.startReading();
    }
}

} // namespace dlb::agent::proxy
