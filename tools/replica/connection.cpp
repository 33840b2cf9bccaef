#include "tools/replica/connection.hpp"

#include "agent/http/headers.hpp"
#include "tools/replica/server.hpp"

#include <charconv>

namespace dlb::tools::replica {

namespace {

namespace http = agent::http;

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
constexpr std::string_view kPingPath = "/ping";
constexpr std::string_view kHealthPath = "/healthz";
constexpr std::string_view kJsonType = "application/json";

http::ParserLimits requestLimits()
{
    http::ParserLimits limits;
    limits.max_header_bytes = Connection::kMaxHeaderBytes;
    limits.max_headers = Connection::kMaxHeaders;
    limits.max_body_bytes = Connection::kMaxEchoBodyBytes;
    return limits;
}

void appendNumber(std::string& out, uint64_t v)
{
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

} // namespace

Connection::Connection(Server& server)
    : server_(server), tcp_(server.loop(), this), parser_(http::Kind::Request, *this, requestLimits())
{
}

Connection::~Connection()
{
    delete current_;
    delete spare_;
}

int Connection::accept(uv_stream_t* listener)
{
    int rc = tcp_.accept(listener);
    if (rc == 0) {
        tcp_.setNoDelay();
        rc = tcp_.startReading();
    }
    return rc;
}

void Connection::close()
{
    closing_ = true;
    tcp_.close();
}

// ---- reading and parsing ----

void Connection::onRead(const char* data, size_t len)
{
    if (closing_ || no_more_requests_)
        return;
    feed(data, len);
}

void Connection::feed(const char* data, size_t len)
{
    in_feed_ = true;
    while (len > 0 && !closing_ && !no_more_requests_) {
        const auto r = parser_.execute(data, len);
        if (r.status == http::Parser::Status::Ok)
            break;
        if (r.status == http::Parser::Status::Error) {
            parseError();
            break;
        }
        // Paused after a complete request: by Connection: close or by the pipelining limit.
        parser_.resume();
        data += r.consumed;
        len -= r.consumed;
        if (no_more_requests_)
            break; // bytes after a last request are ignored
        if (jobs_.size() >= kMaxPipelinedRequests) {
            stash_.assign(data, len);
            stash_waiting_ = true;
            break;
        }
    }
    in_feed_ = false;
    flushOut();
}

void Connection::resumeStash()
{
    stash_waiting_ = false;
    const std::string bytes = std::move(stash_); // feed() may stash again
    stash_.clear();
    feed(bytes.data(), bytes.size());
}

http::ParserHandler::HeadersAction Connection::onHeaders(const http::Message& msg)
{
    Job* job = newJob();
    job->conn = this;
    job->head = msg.method() == HTTP_HEAD;
    job->keep_alive = msg.keepAlive();
    job->http10 = msg.versionMajor() == 1 && msg.versionMinor() == 0;

    std::string_view path = msg.url();
    if (const size_t q = path.find('?'); q != std::string_view::npos)
        path = path.substr(0, q);
    const bool probe_method = msg.method() == HTTP_GET || msg.method() == HTTP_HEAD;
    if (probe_method && path == kPingPath)
        target_ = Target::Ping;
    else if (probe_method && path == kHealthPath)
        target_ = Target::Health;
    else
        target_ = Target::Work;

    if (target_ == Target::Work && msg.hasContentLength())
        job->body.reserve(static_cast<size_t>(msg.contentLength())); // bounded by kMaxEchoBodyBytes
    // Only when nothing is answered ahead of it: a 100 must not overtake an earlier answer.
    // Otherwise the client sends the body after its own short wait.
    if (!job->http10 && jobs_.empty() && http::iequals(msg.header("expect"), "100-continue"))
        tcp_.pendingBuffer().append(kContinue);
    current_ = job;
    return HeadersAction::Continue;
}

bool Connection::onBody(std::string_view data)
{
    if (target_ == Target::Work)
        current_->body.append(data);
    return true;
}

bool Connection::onMessageComplete()
{
    Job* job = current_;
    current_ = nullptr;
    job->received_ns = uv_hrtime();
    const bool keep_alive = job->keep_alive; // `job` may be answered and recycled below
    jobs_.push_back(job);
    if (target_ != Target::Work)
        job->asks = target_ == Target::Ping ? Job::Asks::Ping : Job::Asks::Health;
    if (target_ == Target::Ping)
        job->extra_service_ns = server_.pingDelayNs();
    if (target_ == Target::Work || server_.probesQueue()) {
        server_.service().submit(job);
    } else {
        job->kind = Job::Kind::Ready;
        if (target_ == Target::Ping) {
            job->body = server_.pingBody();
            job->content_type = kJsonType;
        } else {
            job->body = "ok\n";
        }
        job->done = true;
        drain();
    }
    if (!keep_alive) {
        no_more_requests_ = true;
        return false;
    }
    return jobs_.size() < kMaxPipelinedRequests;
}

void Connection::parseError()
{
    int status = 400;
    switch (parser_.error()) {
    case http::ParseError::BodyTooLarge: status = 413; break;
    case http::ParseError::HeadersTooLarge:
    case http::ParseError::TooManyHeaders: status = 431; break;
    default: break;
    }
    if (current_) {
        recycle(current_);
        current_ = nullptr;
    }
    Job* job = newJob();
    job->conn = this;
    job->kind = Job::Kind::Ready;
    job->status = status;
    job->keep_alive = false;
    job->body = std::string(parser_.errorReason()) + "\n";
    job->done = true;
    jobs_.push_back(job);
    no_more_requests_ = true;
    drain();
}

// ---- answering ----

void Connection::onJobDone(Job& job)
{
    // A probe or health check that queued like a request answers as one once its turn is over
    // (--probes-queue); a 500 or 503 it drew stays what it is.
    if (job.asks != Job::Asks::Work && job.status == 200) {
        job.kind = Job::Kind::Ready;
        if (job.asks == Job::Asks::Ping) {
            job.body = server_.pingBody();
            job.content_type = kJsonType;
        } else {
            job.body = "ok\n";
        }
    }
    drain();
}

void Connection::drain()
{
    while (!jobs_.empty() && jobs_.front()->done) {
        Job* job = jobs_.front();
        jobs_.pop_front();
        if (!closing_ && !close_after_write_)
            appendAnswer(*job);
        if (!job->keep_alive)
            close_after_write_ = true;
        recycle(job);
    }
    if (in_feed_)
        return; // feed() flushes once the whole read is parsed
    flushOut();
    if (stash_waiting_ && !closing_ && jobs_.size() < kMaxPipelinedRequests)
        resumeStash();
}

void Connection::appendAnswer(const Job& job)
{
    std::string& out = tcp_.pendingBuffer();
    server_.countAnswer(job.asks != Job::Asks::Work);
    const bool plain = job.kind == Job::Kind::Work && job.status == 200 && job.body.empty();
    if (plain && !job.head && job.keep_alive && !job.http10) {
        out.append(server_.plainHead());
        server_.appendLoadHeader(out);
        out.append(server_.plainTail());
        return;
    }
    std::string_view body;
    std::string name_line;
    if (job.kind == Job::Kind::Ready || (job.status == 200 && !job.body.empty())) {
        body = job.body;
    } else if (job.status == 200) {
        name_line = server_.name() + "\n";
        body = name_line;
    } else if (job.status == 503) {
        body = "queue full\n";
    } else {
        body = "simulated failure\n";
    }
    out.append("HTTP/1.1 ");
    appendNumber(out, static_cast<uint64_t>(job.status));
    out.push_back(' ');
    out.append(http::statusReason(job.status));
    out.append("\r\nContent-Type: ");
    out.append(job.content_type);
    out.append("\r\n");
    out.append(server_.replicaHeader());
    server_.appendLoadHeader(out);
    out.append("Content-Length: ");
    appendNumber(out, body.size());
    out.append("\r\n");
    if (!job.keep_alive)
        out.append("Connection: close\r\n");
    else if (job.http10)
        out.append("Connection: keep-alive\r\n");
    out.append("\r\n");
    if (!job.head)
        out.append(body);
}

void Connection::flushOut()
{
    if (closing_)
        return;
    if (close_after_write_ || (peer_eof_ && jobs_.empty())) {
        closing_ = true;
        tcp_.closeAfterWrite();
        return;
    }
    tcp_.flush();
    updateReading();
}

void Connection::updateReading()
{
    const bool want = !closing_ && !no_more_requests_ && !peer_eof_ && !stash_waiting_ &&
                      tcp_.pendingBytes() <= kMaxBufferedWriteBytes;
    if (want && !tcp_.reading())
        tcp_.startReading();
    else if (!want && tcp_.reading())
        tcp_.stopReading();
}

// ---- connection events ----

void Connection::onEof()
{
    // A half-close after the last request is normal (`printf ... | nc`): answer, then close.
    peer_eof_ = true;
    flushOut();
}

void Connection::onReadError(int /*status*/)
{
    close();
}

void Connection::onWriteError(int /*status*/)
{
    close();
}

void Connection::onDrained()
{
    if (!in_feed_)
        updateReading();
}

void Connection::onClosed()
{
    for (Job* job : jobs_) {
        if (job->kind == Job::Kind::Work && !job->done)
            job->conn = nullptr; // still queued or in service: the Service frees it
        else
            delete job;
    }
    jobs_.clear();
    server_.forget(this);
    delete this;
}

// ---- job reuse ----

Job* Connection::newJob()
{
    if (!spare_)
        return new Job;
    Job* job = spare_;
    spare_ = nullptr;
    return job;
}

void Connection::recycle(Job* job)
{
    if (spare_) {
        delete job;
        return;
    }
    job->reset();
    spare_ = job;
}

} // namespace dlb::tools::replica
