#include "agent/control/connection.hpp"

#include "agent/control/server.hpp"
#include "agent/control/unix_socket.hpp"
#include "agent/http/parser.hpp"
#include "agent/net/tcp_conn.hpp"
#include "agent/proxy/log.hpp"
#include "agent/tls/engine.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <optional>

namespace dlb::agent::control {

namespace {

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
constexpr std::string_view kWwwAuthenticate = "Bearer realm=\"dlb\"";

uint64_t nowMs()
{
    return uv_hrtime() / 1'000'000ULL;
}

std::string lower(std::string_view s)
{
    std::string out(s);
    for (char& c : out)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

// Whether the query names a token: credentials in a URL end up in logs and shell histories.
bool queryCarriesToken(std::string_view query)
{
    while (!query.empty()) {
        const size_t amp = query.find('&');
        std::string_view pair = query.substr(0, amp);
        std::string key;
        if (!percentDecode(pair.substr(0, pair.find('=')), &key))
            key = std::string(pair.substr(0, pair.find('=')));
        key = lower(key);
        if (key == "token" || key == "access_token")
            return true;
        if (amp == std::string_view::npos)
            break;
        query.remove_prefix(amp + 1);
    }
    return false;
}

} // namespace

class ReplyImpl;

// One accepted control connection: reads requests, answers them in order.
class ConnectionImpl final : public Connection, public net::TcpConn::Handler, public http::ParserHandler {
public:
    ConnectionImpl(Server& server, bool unix_socket, const common::Config& config)
        : server_(server), conn_(server.agent().loop(), this,
                                 unix_socket ? net::TcpConn::Transport::Pipe : net::TcpConn::Transport::Tcp),
          parser_(http::Kind::Request, *this,
                  http::ParserLimits{config.limits.max_header_bytes, config.limits.max_headers, kMaxRequestBodyBytes}),
          unix_socket_(unix_socket), header_ms_(config.timeouts.header_ms), idle_ms_(config.timeouts.idle_ms),
          send_ms_(config.timeouts.send_ms)
    {
        uv_timer_init(server.agent().loop(), &deadline_);
        deadline_.data = this;
        uv_timer_init(server.agent().loop(), &delay_);
        delay_.data = this;
    }

    int start(uv_stream_t* listener, const std::shared_ptr<const tls::ServerContext>& tls, uint64_t handshake_ms) override
    {
        if (tls) {
            std::string why;
            auto engine = tls::Engine::server(tls, &why);
            if (!engine) {
                proxy::logLine("control: " + why);
                return UV_ENOMEM;
            }
            conn_.enableTls(std::move(engine), handshake_ms);
        }
        const int rc = conn_.accept(listener);
        if (rc != 0)
            return rc;
        if (unix_socket_) {
            uid_t uid = 0;
            peer_ = peerUid(conn_.fd(), &uid) ? "uid:" + std::to_string(uid) : "uid:unknown";
        } else {
            conn_.setNoDelay();
            peer_ = "ip:" + conn_.peerIp();
        }
        arm(idle_ms_);
        return conn_.startReading();
    }

    const std::string& peer() const override { return peer_; }
    bool unixSocket() const override { return unix_socket_; }

    void close() override
    {
        if (closing_)
            return;
        closing_ = true;
        detachReply();
        uv_timer_stop(&deadline_);
        uv_timer_stop(&delay_);
        if (!conn_.closing())
            conn_.close();
        uv_close(reinterpret_cast<uv_handle_t*>(&deadline_), &ConnectionImpl::onHandleClosed);
        uv_close(reinterpret_cast<uv_handle_t*>(&delay_), &ConnectionImpl::onHandleClosed);
    }

    // ReplyImpl's side.
    void send(Response r);
    void beginStream(int status, std::string_view content_type, const HeaderFields& headers);
    void streamWrite(std::string_view data);
    void streamEnd() { conn_.closeAfterWrite(); }
    size_t pendingBytes() const { return conn_.pendingBytes(); }

private:
    friend class ReplyImpl;

    // net::TcpConn::Handler
    void onRead(const char* data, size_t len) override
    {
        if (closing_)
            return;
        if (streaming_)
            return; // a stream's client has nothing more to say; its bytes are dropped
        in_.append(data, len);
        // While a request is being answered, what follows waits here; past a bound, the socket
        // waits instead.
        if (busy_ && in_.size() > kMaxRequestBodyBytes + parserLimitHead())
            conn_.stopReading();
        if (!busy_)
            process();
    }
    void onEof() override
    {
        peer_eof_ = true;
        if (streaming_) {
            close();
            return;
        }
        // A half-close ends the requests, not the answers: what is complete is answered, and
        // process() closes once the answers are written (never close() here: it would drop
        // answers still queued for the peer).
        if (!busy_)
            process();
    }
    void onReadError(int) override { close(); }
    void onWriteError(int) override { close(); }
    void onDrained() override
    {
        // Called from inside a write too, where nothing may be written: the next request is
        // taken from the loop (onDelay).
        if (write_wait_ && !closing_)
            uv_timer_start(&delay_, &ConnectionImpl::onDelay, 0, 0);
    }
    void onClosed() override
    {
        close(); // the stream closed itself (TLS failure): the timers go too
        handleClosed();
    }

    // http::ParserHandler
    HeadersAction onHeaders(const http::Message& m) override
    {
        body_.clear();
        expect_failed_ = false;
        if (m.hasHeader("expect")) {
            const std::string_view expect = m.header("expect");
            if (!http::iequals(expect, "100-continue") || m.countHeader("expect") != 1)
                expect_failed_ = true;
            else if (m.chunked() || (m.hasContentLength() && m.contentLength() > 0))
                conn_.write(kContinue);
        }
        return HeadersAction::Continue;
    }
    bool onBody(std::string_view data) override
    {
        body_.append(data);
        return true;
    }
    bool onMessageComplete() override { return false; } // one request at a time: pause

    uint64_t parserLimitHead() const { return server_.agent().snapshot()->config.limits.max_header_bytes; }

    void arm(uint64_t ms)
    {
        uv_timer_start(&deadline_, &ConnectionImpl::onDeadline, ms, 0);
    }

    static void onDeadline(uv_timer_t* t)
    {
        auto* self = static_cast<ConnectionImpl*>(t->data);
        if (self->closing_)
            return;
        if (self->write_wait_) {
            self->close(); // timeouts.send_ms passed and the peer has not taken its answers
            return;
        }
        if (self->busy_)
            return;
        if (!self->receiving_) {
            self->close(); // idle keep-alive connection
            return;
        }
        self->fail(408, "request_timeout",
                   "the request was not received within timeouts.header_ms (" + std::to_string(self->header_ms_) +
                       " ms)");
    }

    // Answers a request that cannot be parsed (or came too slowly) and closes: what follows it
    // on the connection cannot be trusted to start a request.
    void fail(int status, std::string_view code, const std::string& message)
    {
        busy_ = true;
        close_after_ = true;
        send(Response::error(status, code, message));
    }

    void process()
    {
        while (!busy_ && !closing_ && !in_.empty()) {
            if (!receiving_) {
                receiving_ = true;
                arm(header_ms_);
            }
            const auto r = parser_.execute(in_.data(), in_.size());
            in_.erase(0, r.consumed);
            if (r.status == http::Parser::Status::Error) {
                parseFailed();
                return;
            }
            if (r.status == http::Parser::Status::Paused) {
                dispatch();
                continue;
            }
        }
        // The peer closed its side and every request it sent is answered: close once the
        // answers are written.
        if (peer_eof_ && !busy_ && !closing_) {
            busy_ = true;
            closeAfterAnswers();
        }
    }

    // The connection ends after what is queued; a peer that does not take it within
    // timeouts.send_ms is cut off (onDeadline).
    void closeAfterAnswers()
    {
        write_wait_ = true;
        arm(send_ms_);
        conn_.closeAfterWrite();
    }

    void parseFailed()
    {
        const int status = http::requestErrorStatus(parser_.error());
        switch (status) {
        case 413:
            fail(413, "body_too_large", "a control request body may be at most " +
                                            std::to_string(kMaxRequestBodyBytes) + " bytes");
            break;
        case 431:
            fail(431, "headers_too_large", std::string(parser_.errorReason()));
            break;
        default:
            fail(status, status == 400 ? "bad_request" : "unsupported",
                 "malformed HTTP request: " + std::string(parser_.errorReason()));
        }
    }

    void dispatch();
    void finishRequest();
    void takeNext();
    void detachReply();
    void hold(Response r, uint64_t delay_ms)
    {
        held_ = std::move(r);
        uv_timer_start(&delay_, &ConnectionImpl::onDelay, delay_ms, 0);
    }
    static void onDelay(uv_timer_t* t)
    {
        auto* self = static_cast<ConnectionImpl*>(t->data);
        if (self->closing_)
            return;
        if (self->write_wait_) {
            self->takeNext(); // the peer took its answers (onDrained)
            return;
        }
        self->send(std::move(self->held_));
    }

    static void onHandleClosed(uv_handle_t* h) { static_cast<ConnectionImpl*>(h->data)->handleClosed(); }
    // Three handles: the stream and two timers. The last one closed frees the connection.
    void handleClosed()
    {
        if (--open_handles_ == 0)
            server_.connectionClosed(this);
    }

    Server& server_;
    net::TcpConn conn_;
    http::Parser parser_;
    uv_timer_t deadline_;
    uv_timer_t delay_;
    bool unix_socket_;
    uint64_t header_ms_;
    uint64_t idle_ms_;
    uint64_t send_ms_;
    std::string peer_;
    std::string in_;
    std::string body_;
    Response held_;
    std::shared_ptr<ReplyImpl> reply_;
    int open_handles_ = 3;
    bool closing_ = false;
    bool busy_ = false;       // a request is being answered
    bool receiving_ = false;  // bytes of the next request have arrived
    bool dispatching_ = false;
    bool close_after_ = false;
    bool keep_alive_ = true;
    bool peer_eof_ = false;
    bool streaming_ = false;
    bool expect_failed_ = false;
    bool write_wait_ = false; // nothing more is taken until the peer has taken the answers queued
};

class ReplyImpl final : public Reply {
public:
    explicit ReplyImpl(ConnectionImpl* c) : conn_(c) {}
    bool open() const override { return conn_ != nullptr; }
    void send(Response response) override
    {
        if (!conn_ || done_)
            return;
        done_ = true;
        conn_->send(std::move(response));
    }
    void beginStream(int status, std::string_view content_type, const HeaderFields& headers) override
    {
        if (!conn_ || done_)
            return;
        done_ = true;
        conn_->beginStream(status, content_type, headers);
    }
    void write(std::string_view data) override
    {
        if (conn_)
            conn_->streamWrite(data);
    }
    size_t pendingBytes() const override { return conn_ ? conn_->pendingBytes() : 0; }
    void end() override
    {
        if (conn_)
            conn_->streamEnd();
    }
    void onClose(std::function<void()> callback) override { on_close_.push_back(std::move(callback)); }

    void detach()
    {
        conn_ = nullptr;
        auto callbacks = std::move(on_close_);
        on_close_.clear();
        for (auto& cb : callbacks)
            cb();
    }

private:
    ConnectionImpl* conn_;
    bool done_ = false;
    std::vector<std::function<void()>> on_close_;
};

void ConnectionImpl::detachReply()
{
    if (reply_) {
        auto r = std::move(reply_);
        r->detach();
    }
}

void ConnectionImpl::dispatch()
{
    uv_timer_stop(&deadline_);
    busy_ = true;
    receiving_ = false;
    const http::Message& m = parser_.message();
    keep_alive_ = m.keepAlive();
    Request req;
    req.method = m.method();
    const std::string_view url = m.url();
    const size_t q = url.find('?');
    req.path = std::string(url.substr(0, q));
    if (q != std::string_view::npos)
        req.query = std::string(url.substr(q + 1));
    for (size_t i = 0; i < m.headerCount(); ++i)
        req.headers.emplace_back(lower(m.headerName(i)), std::string(m.headerValue(i)));
    req.body = std::move(body_);
    body_.clear();
    req.peer = peer_;
    reply_ = std::make_shared<ReplyImpl>(this);
    const std::shared_ptr<Reply> reply = reply_;
    dispatching_ = true;

    const auto answer = [&](Response r) { reply->send(std::move(r)); };
    if (expect_failed_) {
        answer(Response::error(417, "expectation_failed", "only \"Expect: 100-continue\" is understood"));
    } else if (queryCarriesToken(req.query)) {
        // Refused before anything else, so that no answer suggests the token was usable there.
        answer(Response::error(400, "token_in_query",
                               "a token in the URL is refused (URLs end up in logs and histories); send it in an "
                               "\"Authorization: Bearer <token>\" header",
                               "token"));
    } else {
        auto match = server_.router().match(req.method, req.path);
        const bool open_route = match.outcome == Router::Outcome::Found && match.route->role == Role::None;
        std::optional<Identity> who;
        // Two Authorization fields are no credentials: which one would count is a guess.
        const auto fields = std::count_if(req.headers.begin(), req.headers.end(),
                                          [](const auto& h) { return h.first == "authorization"; });
        if (!open_route && fields == 1)
            who = server_.auth().check(req.header("authorization"));
        if (!open_route && !who) {
            const bool presented = req.hasHeader("authorization");
            Response r = Response::error(401, "unauthorized",
                                         presented ? "the token is not valid for this agent"
                                                   : "this request needs an \"Authorization: Bearer <token>\" header");
            r.headers.emplace_back("WWW-Authenticate", presented ? std::string(kWwwAuthenticate) + ", error=\"invalid_token\""
                                                                 : std::string(kWwwAuthenticate));
            const uint64_t delay = server_.limiter().fail(peer_, nowMs());
            if (delay > 0) {
                const size_t n = server_.limiter().failures(peer_, nowMs());
                if (n == kFreeFailures + 1)
                    proxy::logLine("control: " + std::to_string(n) + " failed authentications from " + peer_ +
                                   " within " + std::to_string(kFailureWindowMs / 1000) +
                                   " s; its answers are delayed from now on");
                reply_.reset();
                hold(std::move(r), delay);
                dispatching_ = false;
                return;
            }
            answer(std::move(r));
        } else if (match.outcome == Router::Outcome::BadPath) {
            answer(Response::error(400, "bad_path", "the path has an empty segment or a malformed %-escape"));
        } else if (match.outcome == Router::Outcome::NotFound) {
            answer(Response::error(404, "not_found", "no such endpoint: " + req.path));
        } else if (match.outcome == Router::Outcome::MethodNotAllowed) {
            Response r = Response::error(405, "method_not_allowed",
                                         "use " + match.allow + " on " + req.path);
            r.headers.emplace_back("Allow", match.allow);
            answer(std::move(r));
        } else if (who && match.route->role == Role::Admin && who->role != Role::Admin) {
            answer(Response::error(403, "forbidden",
                                   "token \"" + who->name + "\" is a viewer token; this request needs an admin token"));
        } else {
            if (who) {
                req.token_name = who->name;
                req.role = who->role;
            }
            req.params = std::move(match.params);
            try {
                match.route->handler(req, reply);
            } catch (const std::exception& e) {
                proxy::logLine(std::string("control: ") + llhttp_method_name(req.method) + " " + req.path + ": " + e.what());
                answer(Response::error(500, "internal_error", std::string("the agent failed to answer: ") + e.what()));
            }
        }
    }
    // process(), which called us, goes on with what follows in the buffer.
    dispatching_ = false;
}

void ConnectionImpl::send(Response r)
{
    if (closing_)
        return;
    // After a half-close, the last answer closes: requests still buffered are answered first.
    const bool close = close_after_ || !keep_alive_ || server_.stopping() || (peer_eof_ && in_.empty());
    std::string& out = conn_.pendingBuffer();
    out.append("HTTP/1.1 ").append(std::to_string(r.status)).append(" ").append(reasonPhrase(r.status));
    out.append("\r\nContent-Type: ").append(r.content_type);
    out.append("\r\nContent-Length: ").append(std::to_string(r.body.size()));
    out.append("\r\nCache-Control: no-store\r\n");
    for (const auto& [k, v] : r.headers)
        out.append(k).append(": ").append(v).append("\r\n");
    if (close)
        out.append("Connection: close\r\n");
    out.append("\r\n").append(r.body);
    if (close) {
        reply_.reset();
        closeAfterAnswers();
        return;
    }
    conn_.flush();
    if (closing_)
        return;
    finishRequest();
}

void ConnectionImpl::finishRequest()
{
    reply_.reset();
    parser_.resume();
    // A peer that pipelines requests and does not read the answers would have them queued here
    // without end (an 80-byte request can ask for a 100 KB answer): past this bound nothing
    // more is read or answered until it has taken them (onDrained), within timeouts.send_ms.
    if (conn_.pendingBytes() > kMaxQueuedAnswerBytes) {
        write_wait_ = true;
        conn_.stopReading();
        arm(send_ms_);
        return; // busy_ stays set
    }
    takeNext();
}

void ConnectionImpl::takeNext()
{
    write_wait_ = false;
    busy_ = false;
    arm(idle_ms_);
    if (!conn_.reading() && !peer_eof_)
        conn_.startReading();
    if (!dispatching_)
        process();
}

void ConnectionImpl::beginStream(int status, std::string_view content_type, const HeaderFields& headers)
{
    if (closing_)
        return;
    streaming_ = true;
    in_.clear();
    std::string& out = conn_.pendingBuffer();
    out.append("HTTP/1.1 ").append(std::to_string(status)).append(" ").append(reasonPhrase(status));
    out.append("\r\nContent-Type: ").append(content_type);
    out.append("\r\nCache-Control: no-store\r\nConnection: close\r\n");
    for (const auto& [k, v] : headers)
        out.append(k).append(": ").append(v).append("\r\n");
    out.append("\r\n");
    conn_.flush();
}

void ConnectionImpl::streamWrite(std::string_view data)
{
    if (closing_ || !streaming_)
        return;
    if (conn_.pendingBytes() + data.size() > kMaxPendingWriteBytes) {
        close(); // the peer stopped reading
        return;
    }
    conn_.write(data);
}

Connection* Connection::create(Server& server, bool unix_socket, const common::Config& config)
{
    return new ConnectionImpl(server, unix_socket, config);
}

} // namespace dlb::agent::control
