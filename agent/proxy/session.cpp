#include "agent/proxy/session.hpp"

#include "agent/proxy/pool_runtime.hpp"
#include "agent/proxy/worker.hpp"

#include <chrono>
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
double msSince(uint64_t start_ns, uint64_t now_ns) { return static_cast<double>(now_ns - start_ns) / 1e6; }
double unixNow()
{
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}
} // namespace

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
    phase_ = phase;
    uv_timer_start(&timer_, &Session::onTimer, ms, 0);
}

// ---- client side ---------------------------------------------------------------------------

void Session::onRead(const char* data, size_t len)
{
    if (in_exchange_ && req_complete_) {
        // Pipelined bytes: their turn comes after this answer. Reading goes on (so a client
        // that gives up is noticed at once) until a bounded amount waits.
        leftover_.append(data, len);
        if (leftover_.size() >= kMaxPipelinedBytes)
            client_.stopReading();
        return;
    }
    feed(data, len);
}

void Session::feed(const char* data, size_t len)
{
    if (!in_exchange_ && phase_ == Phase::Idle)
        armTimer(Phase::Head, worker_.snapshot().config.timeouts.header_ms);
    const auto r = parser_.execute(data, len);
    if (up_)
        up_->stream().flush();
    if (r.status == http::Parser::Status::Ok)
        return;
    if (r.status == http::Parser::Status::Paused) {
        leftover_.append(data + r.consumed, len - r.consumed);
        if (leftover_.size() >= kMaxPipelinedBytes)
            client_.stopReading();
        maybeFinish();
        return;
    }
    // Malformed or over a limit: answer and close (the stream can no longer be framed).
    keep_alive_ = false;
    switch (parser_.error()) {
    case http::ParseError::HeadersTooLarge:
    case http::ParseError::TooManyHeaders:
        answerLocally(431, parser_.errorReason());
        break;
    case http::ParseError::BodyTooLarge:
        answerLocally(413, parser_.errorReason());
        break;
    default:
        if (resp_head_sent_) {
            close();
            return;
        }
        answerLocally(400, std::string("malformed request: ") + std::string(parser_.errorReason()));
        break;
    }
    client_.stopReading();
    if (up_) {
        pool_->completed(replica_, true, msSince(t_upstream_ns_, Worker::nowNs()), Worker::nowNs());
        releaseUpstream(false);
    }
    finishExchange();
}

void Session::onEof()
{
    // A client that closes while its answer is pending has given up (a timeout, a user who
    // went away): abort, as nginx and HAProxy do by default, so the connection to the replica
    // and this socket are freed now rather than when the replica gets to the request.
    client_eof_ = true;
    close();
}

void Session::onReadError(int /*status*/) { close(); }
void Session::onWriteError(int /*status*/) { close(); }

void Session::onDrained()
{
    if (upstream_paused_ && up_) {
        upstream_paused_ = false;
        up_->stream().startReading();
        armTimer(Phase::Upstream, worker_.snapshot().config.timeouts.response_ms);
    }
}

// ---- the request ---------------------------------------------------------------------------

http::ParserHandler::HeadersAction Session::onHeaders(const http::Message& req)
{
    WorkerStats::add(worker_.stats().requests);
    in_exchange_ = true;
    t_start_ns_ = Worker::nowNs();
    uv_timer_stop(&timer_);
    head_request_ = req.method() == HTTP_HEAD;
    keep_alive_ = req.keepAlive() && !worker_.draining();
    req_framing_ = http::requestFraming(req);

    client_http10_ = req.versionMajor() == 1 && req.versionMinor() == 0;
    target_ = http::originForm(req.url());
    const Snapshot& snap = worker_.snapshot();
    const Route* route = snap.route(target_);
    if (!route) {
        answerLocally(404, "no route for this path; add a route whose path_prefix matches it");
        return HeadersAction::Continue;
    }
    pool_ = worker_.runtime(route->pool);
    replay_.clear();
    replayable_ = true;
    http::appendUpstreamRequestHead(replay_, req, req_framing_, {client_ip_, proto_, target_});
    if (!dispatch(balance::kNoReplica)) {
        answerLocally(503, "no healthy replica in pool " + pool_->spec().config.name);
        return HeadersAction::Continue;
    }
    return HeadersAction::Continue;
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
        pool.completed(replica, true, 0, ctx.now_ns);
        worker_.logError(std::string("cannot open a connection to a replica: ") + uv_strerror(err) +
                         (err == UV_EMFILE || err == UV_ENFILE ? "; raise the open-file limit (ulimit -n, LimitNOFILE)" : ""));
        answerLocally(503, std::string("the agent cannot open a connection right now (") + uv_err_name(err) + "); see its log");
        if (req_complete_)
            maybeFinish();
        return true;
    }
    up_->attach(this);
    up_->expectHeadResponse(head_request_);
    up_->stream().write(replay_);
    const auto& t = worker_.snapshot().config.timeouts;
    armTimer(Phase::Upstream, up_->connected() ? t.response_ms : t.connect_ms);
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
    if (local_answer_)
        return true; // discarded: we answered without a replica
    // The replica is receiving: the wait for its answer starts when the body ends.
    if (up_ && up_->connected())
        armTimer(Phase::Upstream, worker_.snapshot().config.timeouts.response_ms);
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
    armTimer(Phase::Upstream, worker_.snapshot().config.timeouts.response_ms);
}

http::ParserHandler::HeadersAction Session::onUpstreamHeaders(const http::Message& resp)
{
    const auto& t = worker_.snapshot().config.timeouts;
    armTimer(Phase::Upstream, t.response_ms);
    if (resp.status() >= 100 && resp.status() < 200) {
        const http::Message& req = parser_.message();
        if (req.versionMajor() == 1 && req.versionMinor() >= 1 && resp.status() != 101) {
            std::string& out = client_.pendingBuffer();
            http::appendInterimResponseHead(out, resp);
            client_.flush();
        }
        return HeadersAction::Continue;
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
    return HeadersAction::Continue;
}

void Session::onUpstreamBody(std::string_view data)
{
    // timeouts.response_ms bounds silence, not the length of an answer that keeps flowing.
    if (!upstream_paused_)
        armTimer(Phase::Upstream, worker_.snapshot().config.timeouts.response_ms);
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
        // The client is slow, not the replica: give it timeouts.idle_ms to read on.
        armTimer(Phase::Upstream, worker_.snapshot().config.timeouts.idle_ms);
    }
}

void Session::onUpstreamComplete()
{
    uv_timer_stop(&timer_);
    if (resp_framing_ == http::BodyFraming::Chunked) {
        client_.append(http::kLastChunk);
        bytes_sent_ += http::kLastChunk.size();
    }
    const uint64_t now = Worker::nowNs();
    pool_->completed(replica_, status_ < 500, msSince(t_upstream_ns_, now), now);
    // The connection is reusable only if our side of the exchange is complete too.
    up_reusable_ = up_->reusable() && req_complete_;
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
    const uint64_t now = Worker::nowNs();
    const bool was_reused = up_ && up_->reused();
    up_ = nullptr; // UpstreamConn closed itself
    upstream_paused_ = false;
    pool_->completed(replica_, false, msSince(t_upstream_ns_, now), now);
    if (failure == UpstreamFailure::Connect) {
        WorkerStats::add(worker_.stats().upstream_connect_errors);
        pool_->connectFailed(replica_, uv_status, now);
    }
    // A refused connection never reached the replica: always safe to send elsewhere. A reset
    // after sending may have reached it, so only idempotent requests go again (as nginx does).
    const bool retryable = (failure == UpstreamFailure::Connect ||
                            (failure == UpstreamFailure::Reset && idempotent(parser_.message().method()))) &&
                           !resp_head_sent_ && replayable_;
    if (retryable && attempts_ < kMaxAttempts) {
        WorkerStats::add(worker_.stats().retries);
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
    upstreamGaveUp("replica " + id + " " + what + " (" + uv_err_name(uv_status) + ")", 502);
}

void Session::upstreamGaveUp(std::string_view why, int status)
{
    if (resp_head_sent_) {
        close(); // the answer is cut short: the client must see the connection end
        return;
    }
    if (!req_complete_)
        keep_alive_ = false;
    answerLocally(status, why);
    maybeFinish();
}

void Session::onUpstreamReadDone()
{
    if (resp_complete_ && up_)
        releaseUpstream(up_reusable_);
    client_.flush();
    maybeFinish();
}

void Session::onUpstreamDrained()
{
    if (client_paused_ && !req_complete_) {
        client_paused_ = false;
        client_.startReading();
    }
}

// ---- finishing -----------------------------------------------------------------------------

void Session::answerLocally(int status, std::string_view why)
{
    local_answer_ = true;
    status_ = status;
    resp_complete_ = true;
    resp_head_sent_ = true;
    if (!req_complete_ && req_framing_ != http::BodyFraming::None && parser_.error() == http::ParseError::None) {
        // Reading (and discarding) a body we will not forward is not worth it: close after.
        keep_alive_ = false;
    }
    std::string& out = client_.pendingBuffer();
    const size_t before = out.size();
    http::appendSimpleResponse(out, status, why, keep_alive_ && !worker_.draining(), client_http10_);
    bytes_sent_ += out.size() - before;
    client_.flush();
}

void Session::releaseUpstream(bool reusable)
{
    if (!up_)
        return;
    UpstreamConn* up = up_;
    up_ = nullptr;
    if (upstream_paused_) {
        upstream_paused_ = false;
        up->stream().startReading();
    }
    up->detach();
    up->pool().release(up, reusable);
}

void Session::maybeFinish()
{
    if (!in_exchange_ || !resp_complete_)
        return;
    if (!req_complete_ && keep_alive_)
        return; // the body is still arriving
    finishExchange();
}

void Session::finishExchange()
{
    finishRecord();
    const bool keep = keep_alive_ && !worker_.draining() && !client_eof_;
    resetExchange();
    if (!keep) {
        phase_ = Phase::Closing;
        uv_timer_stop(&timer_);
        client_.stopReading();
        client_.closeAfterWrite();
        return;
    }
    parser_.resume();
    armTimer(Phase::Idle, worker_.snapshot().config.timeouts.idle_ms);
    if (!leftover_.empty()) {
        std::string pending;
        pending.swap(leftover_);
        feed(pending.data(), pending.size());
        if (in_exchange_)
            return; // a pipelined request is being served
    }
    if (!in_exchange_ && phase_ != Phase::Closing)
        client_.startReading();
}

void Session::finishRecord()
{
    const uint64_t now = Worker::nowNs();
    const http::Message& req = parser_.message();
    AccessRecord rec;
    rec.time_unix = unixNow();
    rec.client = client_ip_;
    rec.method = req.methodName();
    rec.path = req.url();
    rec.status = status_;
    rec.bytes_sent = bytes_sent_;
    if (replica_ >= 0 && pool_ && attempts_ > 0)
        rec.replica = pool_->spec().replicas[static_cast<size_t>(replica_)].id;
    rec.upstream_ms = attempts_ > 0 ? msSince(t_upstream_ns_, now) : -1;
    rec.total_ms = msSince(t_start_ns_, now);
    rec.attempts = attempts_;
    worker_.log(rec);
    auto& st = worker_.stats();
    WorkerStats::add(status_ >= 500 ? st.responses_5xx
                     : status_ >= 400 ? st.responses_4xx
                     : status_ >= 300 ? st.responses_3xx
                                      : st.responses_2xx);
}

void Session::resetExchange()
{
    if (up_)
        releaseUpstream(false);
    pool_.reset();
    replica_ = -1;
    attempts_ = 0;
    req_framing_ = resp_framing_ = http::BodyFraming::None;
    status_ = 0;
    bytes_sent_ = 0;
    in_exchange_ = req_complete_ = resp_complete_ = resp_head_sent_ = local_answer_ = false;
    replayable_ = true;
    head_request_ = false;
    client_paused_ = false;
    up_reusable_ = false;
    if (replay_.capacity() > kMaxReplayBytes)
        std::string().swap(replay_);
}

// ---- timers and closing --------------------------------------------------------------------

void Session::onTimer(uv_timer_t* t)
{
    auto* self = static_cast<Session*>(t->data);
    switch (self->phase_) {
    case Phase::Idle:
        self->close(); // a quiet keep-alive connection: nothing to answer
        break;
    case Phase::Head:
        self->keep_alive_ = false;
        self->in_exchange_ = true;
        self->req_complete_ = true;
        self->answerLocally(408, "request headers not received within timeouts.header_ms");
        self->finishExchange();
        break;
    case Phase::Upstream: {
        if (!self->up_)
            break;
        const bool connecting = !self->up_->connected();
        UpstreamConn* up = self->up_;
        self->up_ = nullptr;
        up->close();
        if (connecting) {
            self->up_ = nullptr;
            self->onUpstreamFailed(UpstreamFailure::Connect, UV_ETIMEDOUT);
            break;
        }
        const uint64_t now = Worker::nowNs();
        self->pool_->completed(self->replica_, false, msSince(self->t_upstream_ns_, now), now);
        const std::string& id = self->pool_->spec().replicas[static_cast<size_t>(self->replica_)].id;
        self->upstreamGaveUp("replica " + id + " did not answer within timeouts.response_ms", 504);
        break;
    }
    case Phase::Closing:
        break;
    }
}

void Session::closeIfIdle()
{
    if (!in_exchange_)
        close();
    else
        keep_alive_ = false;
}

void Session::close()
{
    if (in_exchange_ && !resp_complete_ && phase_ != Phase::Closing) {
        if (!resp_head_sent_)
            status_ = kStatusClientClosed;
        finishRecord();
    }
    phase_ = Phase::Closing;
    if (up_) {
        // The client went away: the replica's answer is not wanted, and not its fault.
        pool_->completed(replica_, true, msSince(t_upstream_ns_, Worker::nowNs()), Worker::nowNs());
        releaseUpstream(false);
    }
    if (!client_.closing())
        client_.close();
    if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&timer_)))
        uv_close(reinterpret_cast<uv_handle_t*>(&timer_), &Session::onTimerClosed);
}

void Session::onClosed()
{
    // The client socket closed (possibly after closeAfterWrite): close the timer too.
    if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&timer_)))
        close();
    handleClosed();
}

void Session::onTimerClosed(uv_handle_t* h)
{
    static_cast<Session*>(h->data)->handleClosed();
}

void Session::handleClosed()
{
    if (--open_handles_ == 0)
        worker_.sessionClosed(this); // frees this
}

} // namespace dlb::agent::proxy
