#pragma once
// One downstream (client) connection and the requests on it, one at a time: pipelined
// requests wait, unparsed, until the response before them is done, so answers come back in
// order. Bodies stream in both directions with backpressure: when the receiving side has more
// than kHighWaterBytes queued, the sending side stops being read until it drains.

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
// Logged for a request whose client closed before the answer (nginx's convention).
inline constexpr int kStatusClientClosed = 499;

class Session final : public net::TcpConn::Handler, public http::ParserHandler, public UpstreamUser {
public:
    Session(Worker& worker, std::string_view proto);
    // Takes over an accepted, non-blocking client socket (the worker accepts: worker.hpp).
    int accept(int fd);
    // The client connection (a TLS listener enables TLS on it before accept()).
    net::TcpConn& client() { return client_; }
    // Closes when idle (between requests); a busy session closes after its current response.
    void closeIfIdle();
    void close();

private:
    enum class Phase { Idle, Head, Upstream, Closing };

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

    void feed(const char* data, size_t len);
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
    std::string_view target_; // origin form of the request target (views the parser's buffer)
    std::string leftover_; // bytes after a pipelined request, parsed when its turn comes
    std::string replay_;   // what was sent upstream, while it can still be sent again
    int open_handles_ = 2;
    Phase phase_ = Phase::Idle;

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
    bool in_exchange_ = false;
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
