// The end of an exchange and of a connection: the access-log line, the next pipelined
// request, the timers of every state, and closing (gracefully or at once). The exchange
// itself (request and response) is in session.cpp.
#include "agent/proxy/session.hpp"

#include "agent/proxy/pool_runtime.hpp"
#include "agent/proxy/worker.hpp"

#include <chrono>

namespace dlb::agent::proxy {

namespace {
double unixNow()
{
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}
} // namespace

// ---- finishing -----------------------------------------------------------------------------

void Session::answerLocally(int status, std::string_view why)
{
    if (closing_)
        return;
    local_answer_ = true;
    status_ = status;
    worker_.stats().countLocalAnswer(status);
    resp_complete_ = true;
    resp_head_sent_ = true;
    const http::Message& req = parser_.message();
    if (!req_complete_ && req_framing_ == http::BodyFraming::ContentLength && req.contentLength() > kMaxDiscardBodyBytes)
        keep_alive_ = false; // too much to read and drop: the connection ends after the answer
    std::string& out = client_.pendingBuffer();
    const size_t before = out.size();
    http::appendSimpleResponse(out, status, why, keep_alive_ && !worker_.draining(), client_http10_,
                               head_request_ && head_parsed_);
    bytes_sent_ += out.size() - before;
    client_.flush(); // may fail at once: closing_ is set then
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
    if (closing_ || in_parse_ || !in_exchange_ || !resp_complete_)
        return;
    const http::Message& req = parser_.message();
    const bool discardable = req_framing_ == http::BodyFraming::Chunked ||
                             (req_framing_ == http::BodyFraming::ContentLength && req.contentLength() <= kMaxDiscardBodyBytes);
    if (!req_complete_ && discardable && parser_.error() == http::ParseError::None && !client_eof_) {
        // The answer is out; the rest of the body is read and dropped (bounded by
        // kMaxDiscardBodyBytes and timeouts.body_ms) so the client gets the answer, not a reset.
        armTimer(Phase::Body, worker_.snapshot().config.timeouts.body_ms);
        return;
    }
    finishExchange();
}

void Session::finishExchange()
{
    finishRecord();
    const bool keep = keep_alive_ && !worker_.draining() && !client_eof_;
    resetExchange();
    if (!keep) {
        closeGracefully();
        return;
    }
    parser_.resume();
    if (client_.pendingBytes() > 0)
        ++unread_answers_;
    if (client_.pendingBytes() > kHighWaterBytes || unread_answers_ >= kMaxPipelineDepth) {
        // A client that does not read its answers is not read either, and nothing more is
        // parsed for it, until it takes them (or timeouts.send_ms passes).
        client_.stopReading();
        armTimer(Phase::Send, worker_.snapshot().config.timeouts.send_ms);
        return;
    }
    scheduleNext();
}

// The next request: pipelined bytes are parsed from the timer (a later loop turn, out of
// whatever callback finished the last exchange); otherwise wait for the client.
void Session::scheduleNext()
{
    if (closing_)
        return;
    if (inbuf_off_ < inbuf_.size()) {
        armTimer(Phase::Resume, 0);
        return;
    }
    releaseReadAhead();
    client_.releaseWriteBuffers(); // what is still being written stays until onDrained()
    armTimer(Phase::Idle, worker_.snapshot().config.timeouts.idle_ms);
    client_.startReading();
}

void Session::finishRecord()
{
    if (recorded_)
        return;
    recorded_ = true;
    const uint64_t now = Worker::nowNs();
    const http::Message& req = parser_.message();
    AccessRecord rec;
    rec.time_unix = unixNow();
    rec.client = client_ip_;
    if (head_parsed_) { // a request line that did not parse has no method or path to log
        rec.method = req.methodName();
        rec.path = req.url();
    }
    rec.status = status_;
    rec.bytes_sent = bytes_sent_;
    if (replica_ >= 0 && pool_ && attempts_ > 0)
        rec.replica = pool_->spec().replicas[static_cast<size_t>(replica_)].id;
    rec.upstream_ms = attempts_ > 0 ? msSince(t_upstream_ns_, now) : -1;
    rec.total_ms = msSince(t_start_ns_, now);
    rec.attempts = attempts_;
    rec.abort = abortName(abort_);
    worker_.log(rec);
    auto& st = worker_.stats();
    if (head_parsed_)
        st.requests_finished.add(); // pairs with `requests` (counted when the head parsed)
    if (status_ == 0)
        return; // nothing was answered (cut off by shutdown)
    (status_ >= 500   ? st.responses_5xx
     : status_ >= 400 ? st.responses_4xx
     : status_ >= 300 ? st.responses_3xx
                      : st.responses_2xx)
        .add();
    st.latency.recordNs(now - t_start_ns_);
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
    discarded_ = 0;
    abort_ = Abort::None;
    in_exchange_ = req_complete_ = resp_complete_ = resp_head_sent_ = local_answer_ = false;
    head_parsed_ = recorded_ = false;
    replayable_ = true;
    head_request_ = false;
    client_paused_ = false;
    upstream_paused_ = false;
    up_reusable_ = false;
    if (replay_.capacity() > kMaxReplayBytes)
        std::string().swap(replay_);
}

// ---- timers and closing --------------------------------------------------------------------

void Session::onTimer(uv_timer_t* t)
{
    auto* self = static_cast<Session*>(t->data);
    if (self->closing_ && self->phase_ != Phase::Closing)
        return;
    const auto& timeouts = self->worker_.snapshot().config.timeouts;
    switch (self->phase_) {
    case Phase::Idle:
        if (self->client_.pendingBytes() > 0) {
            // Not idle: the last answer is still being written. Give the client send_ms.
            self->armTimer(Phase::Send, timeouts.send_ms);
            break;
        }
        self->closeNow(Abort::None); // a quiet keep-alive connection: nothing to answer
        break;
    case Phase::Head:
        self->keep_alive_ = false;
        self->in_exchange_ = true;
        self->req_complete_ = true;
        self->answerLocally(408, "request headers not received within timeouts.header_ms");
        if (!self->closing_)
            self->finishExchange();
        break;
    case Phase::Body:
        self->keep_alive_ = false;
        if (self->resp_complete_) {
            self->finishExchange(); // answered; the body we were dropping stopped coming
            break;
        }
        if (self->up_) {
            // The client's fault, not the replica's.
            self->pool_->abandoned(self->replica_, Worker::nowNs());
            self->releaseUpstream(false);
        }
        self->answerLocally(408, "request body not received within timeouts.body_ms");
        if (!self->closing_)
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
            self->onUpstreamFailed(UpstreamFailure::Connect, UV_ETIMEDOUT);
            break;
        }
        const uint64_t now = Worker::nowNs();
        self->pool_->completed(self->replica_, false, msSince(self->t_upstream_ns_, now), now);
        self->pool_->countError(self->replica_, stats::ErrorKind::Timeout);
        const std::string& id = self->pool_->spec().replicas[static_cast<size_t>(self->replica_)].id;
        self->upstreamGaveUp("replica " + id + " did not answer within timeouts.response_ms", 504);
        break;
    }
    case Phase::Send:
        self->closeNow(Abort::SendTimeout); // a client that does not read its answer
        break;
    case Phase::Resume:
        self->parseBuffered();
        break;
    case Phase::Closing:
        self->closeNow(Abort::SendTimeout); // the final answer was not taken within send_ms
        break;
    }
}

void Session::closeIfIdle()
{
    if (closing_)
        return;
    if (in_exchange_ || parser_.inMessage()) {
        keep_alive_ = false; // closes after the answer (a head in progress is refused keep-alive)
        return;
    }
    closeGracefully(); // an answer still being written goes out first
}

void Session::close()
{
    closeNow(Abort::Shutdown);
}

void Session::closeGracefully()
{
    if (closing_)
        return;
    closing_ = true;
    client_.stopReading();
    abandonUpstream();
    if (client_.pendingBytes() > 0)
        armTimer(Phase::Closing, worker_.snapshot().config.timeouts.send_ms);
    else {
        phase_ = Phase::Closing;
        uv_timer_stop(&timer_);
    }
    client_.closeAfterWrite();
}

void Session::abandonUpstream()
{
    if (!up_)
        return;
    // The replica's answer is not wanted, and the client's leaving is not the replica's fault.
    // Only a replica that had the whole request and sent no head owed an answer all this time.
    const uint64_t now = Worker::nowNs();
    const bool owed = req_complete_ && !resp_head_sent_;
    pool_->abandoned(replica_, now, owed ? msSince(t_upstream_ns_, now) : PoolRuntime::kNoLatencySample);
    releaseUpstream(false);
}

void Session::closeNow(Abort why)
{
    if (in_exchange_ && !recorded_) {
        if (!resp_complete_) {
            abort_ = why;
            if (why == Abort::ClientClosed && !resp_head_sent_)
                status_ = kStatusClientClosed;
        }
        finishRecord();
    }
    closing_ = true;
    phase_ = Phase::Closing;
    abandonUpstream();
    if (!client_.closing())
        client_.close();
    if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&timer_)))
        uv_close(reinterpret_cast<uv_handle_t*>(&timer_), &Session::onTimerClosed);
}

void Session::onClosed()
{
    // The client socket closed (possibly after closeAfterWrite): close the timer too.
    closeNow(Abort::None);
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
