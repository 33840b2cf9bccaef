#pragma once
// One downstream (client) connection and the requests on it, one at a time: pipelined
// requests wait, unparsed, until the response before them is done, so answers come back in
// order. Bodies stream in both directions with backpressure: when the receiving side has more
// than kHighWaterBytes queued, the sending side stops being read until it drains.
//
// Lifetime: one closing state (closing_), set by every path that ends the connection and
// checked at the top of every entry point and after every call that may close (a write can
// fail synchronously). The object is freed only from the close callbacks of its two handles,
// after the callback stack has unwound. A closing session never starts another exchange.
//
// Every state has a timer: Idle (idle_ms), Head (header_ms, 408), Body (body_ms between two
// reads of a request body, 408), Upstream (connect_ms, then response_ms of silence, 504), Send
// (send_ms for a client to take what is queued for it), Closing (send_ms for a final answer).
//
// Pipelining is bounded: read-ahead bytes wait in one buffer consumed by an offset (never
// copied per request) up to kMaxPipelinedBytes; the next request is not parsed while more than
// kHighWaterBytes, or kMaxPipelineDepth answers, wait in the agent for the client (it is not
// read either); limits.max_requests_per_connection can end a connection after N requests.

#include "agent/http/headers.hpp"
#include "agent/http/parser.hpp"
#include "agent/net/tcp_conn.hpp"
#include "agent/proxy/upstream.hpp"

#include <uv.h>

#include <memory>
#include <string>

namespace dlb::agent::proxy {

class PoolRuntime;
class Worker;

inline constexpr size_t kHighWaterBytes = 256 * 1024;
// A request whose head and body so far fit in this many bytes can be sent again to another
// replica when the first one fails before answering; a larger one is streamed and not retried.
inline constexpr size_t kMaxReplayBytes = 64 * 1024;
inline constexpr uint32_t kMaxAttempts = 2; // the first try and one retry (the seed's rule)
// Pipelined bytes read ahead of their turn; past this the client is no longer read until then.
inline constexpr size_t kMaxPipelinedBytes = 64 * 1024;
// Answers that may wait in the agent's own buffer for a client that does not read them (many
// tiny answers stay under kHighWaterBytes); past it the pipeline waits for the client.
inline constexpr uint32_t kMaxPipelineDepth = 1024;
// Read-ahead capacity an idle connection may keep (the rest is freed when it empties).
inline constexpr size_t kKeptReadAheadBytes = 4096;
// A body that follows a request answered without it (404, 503, an early answer) is read and
// discarded up to this many bytes, so the connection can be kept and the client is not reset
// before it reads the answer (nginx's discard_body); a longer one ends the connection.
inline constexpr uint64_t kMaxDiscardBodyBytes = 1024 * 1024;
// Logged for a request whose client closed before the answer (nginx's convention).
inline constexpr int kStatusClientClosed = 499;

inline double msSince(uint64_t start_ns, uint64_t now_ns) { return static_cast<double>(now_ns - start_ns) / 1e6; }

// Why an exchange ended before its answer was complete: the access log's "abort" field.
enum class Abort { None, ClientClosed, SendTimeout, Shutdown, UpstreamFailed };
std::string_view abortName(Abort a);

class Session final : public net::TcpConn::Handler, public http::ParserHandler, public UpstreamUser {
public:
    Session(Worker& worker, std::string_view proto);
    // Takes over an accepted, non-blocking client socket (the worker accepts: worker.hpp).
    int accept(int fd);
    // The client connection (a TLS listener enables TLS on it before accept()).
    net::TcpConn& client() { return client_; }
    // Graceful shutdown: closes when idle (between requests; an answer still being written is
    // written first); a busy session closes after its current response.
    void closeIfIdle();
    // The worker ends this session now (the drain deadline, a failed accept).
    void close();

private:
    enum class Phase { Idle, Head, Body, Upstream, Send, Resume, Closing };

    // net::TcpConn::Handler (the client side)
    void onRead(const char* data, size_t len) override;
    void onEof() override;
    void onReadError(int status) override;
    void onWriteError(int status) override;
    void onDrained() override;
    void onClosed() override;
    // http::ParserHandler (the request)
    HeadersAction onHeaders(const http::Message& req) override;
    bool onBody(std::string_view data) override;
    bool onMessageComplete() override;
    // UpstreamUser
    void onUpstreamConnected() override;
    HeadersAction onUpstreamHeaders(const http::Message& resp) override;
    void onUpstreamBody(std::string_view data) override;
    void onUpstreamComplete() override;
    void onUpstreamFailed(UpstreamFailure failure, int uv_status) override;
    void onUpstreamDrained() override;
    void onUpstreamReadDone() override;

    static void onTimer(uv_timer_t* t);
    static void onTimerClosed(uv_handle_t* h);

    void parse(const char* data, size_t len, bool from_buffer);
    void parseBuffered();
    void queueReadAhead(const char* data, size_t len);
    void releaseReadAhead();
    void parseFailed();
    void scheduleNext();
    void armExchangeTimer();
    void closeGracefully();
    void closeNow(Abort why);
    // The client leaves during the exchange: its replica is released without an answer
    // (PoolRuntime::abandoned, with how long it had the whole request unanswered).
    void abandonUpstream();
    bool dispatch(int exclude);
    void sendToUpstream(std::string_view data);
    void answerLocally(int status, std::string_view why);
    void upstreamGaveUp(std::string_view why, int status);
    void maybeFinish();
    void finishExchange();
    void finishRecord(); // the access-log line and counters of the exchange in progress
    void resetExchange();
    void armTimer(Phase phase, uint64_t ms);
    void releaseUpstream(bool reusable);
    void handleClosed();

    Worker& worker_;
    net::TcpConn client_;
    uv_timer_t timer_;
    http::Parser parser_;
    std::string client_ip_;
    std::string_view proto_;
    std::string target_;  // the normalised request target (http/path.hpp), routed and forwarded
    std::string inbuf_;   // bytes read ahead of their turn (pipelining), consumed from inbuf_off_
    size_t inbuf_off_ = 0;
    std::string replay_;  // what was sent upstream, while it can still be sent again
    int open_handles_ = 2;
    Phase phase_ = Phase::Idle;
    bool closing_ = false;  // no new exchange, every entry point returns
    bool in_parse_ = false; // inside parser_.execute(): finishing waits until it returns
    uint32_t requests_ = 0; // on this connection
    uint32_t unread_answers_ = 0; // answers queued since the client last took everything

    // The exchange in progress
    std::shared_ptr<PoolRuntime> pool_;
    UpstreamConn* up_ = nullptr;
    int replica_ = -1;
    uint32_t attempts_ = 0;
    http::BodyFraming req_framing_ = http::BodyFraming::None;
    http::BodyFraming resp_framing_ = http::BodyFraming::None;
    int status_ = 0;
    uint64_t bytes_sent_ = 0;
    uint64_t t_start_ns_ = 0;
    uint64_t t_upstream_ns_ = 0;
    uint64_t discarded_ = 0;
    Abort abort_ = Abort::None;
    bool in_exchange_ = false;
    bool head_parsed_ = false;
    bool recorded_ = false;
    bool req_complete_ = false;
    bool resp_complete_ = false;
    bool resp_head_sent_ = false;
    bool local_answer_ = false;
    bool replayable_ = true;
    bool head_request_ = false;
    bool keep_alive_ = true;
    bool client_paused_ = false;   // client reads stopped: upstream is slow
    bool upstream_paused_ = false; // upstream reads stopped: client is slow
    bool client_eof_ = false;
    bool up_reusable_ = false;
    bool client_http10_ = false;
};

} // namespace dlb::agent::proxy
