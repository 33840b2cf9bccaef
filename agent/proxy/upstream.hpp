#pragma once
// One keep-alive connection to a replica, owned by a worker's PoolRuntime: either idle in the
// pool's list or lent to one user (a downstream session) for one request at a time.

#include "agent/http/parser.hpp"
#include "agent/net/tcp_conn.hpp"

#include <cstdint>
#include <memory>

namespace dlb::agent::proxy {

class PoolRuntime;

enum class UpstreamFailure {
    Connect,   // could not connect (refused, unreachable, connect timeout)
    Reset,     // closed or reset before any response byte: safe to retry
    Truncated, // closed or reset in the middle of a response
    Malformed, // the response did not parse
};

class UpstreamUser {
public:
    virtual ~UpstreamUser() = default;
    virtual void onUpstreamConnected() = 0;
    virtual http::ParserHandler::HeadersAction onUpstreamHeaders(const http::Message& resp) = 0;
    virtual void onUpstreamBody(std::string_view data) = 0;
    virtual void onUpstreamComplete() = 0;
    virtual void onUpstreamFailed(UpstreamFailure failure, int uv_status) = 0;
    virtual void onUpstreamDrained() = 0;
    // One read from the replica has been parsed: flush what it produced.
    virtual void onUpstreamReadDone() = 0;
};

class UpstreamConn final : public net::TcpConn::Handler, public http::ParserHandler {
public:
    UpstreamConn(uv_loop_t* loop, std::shared_ptr<PoolRuntime> pool, int replica, const http::ParserLimits& limits);

    int replica() const { return replica_; }
    PoolRuntime& pool() { return *pool_; }
    bool connected() const { return connected_; }
    bool reused() const { return uses_ > 0; }
    // Reusable after the response completed: the replica keeps the connection alive and
    // nothing of the exchange is left half-done.
    bool reusable() const { return reusable_; }
    uint64_t idleSinceNs() const { return idle_since_ns_; }

    // Starts connecting (a fresh connection). Returns a UV error code, 0 on success.
    int connect();
    // Lends the connection to a user for one exchange.
    void attach(UpstreamUser* user);
    // The user is done; the connection goes back idle or is closed.
    void detach();
    void markIdle(uint64_t now_ns);
    net::TcpConn& stream() { return conn_; }
    // Tells the response parser that the request is HEAD (the response has no body).
    void expectHeadResponse(bool head) { head_request_ = head; }
    void close();

private:
    // net::TcpConn::Handler
    void onConnected(int status) override;
    void onRead(const char* data, size_t len) override;
    void onEof() override;
    void onReadError(int status) override;
    void onWriteError(int status) override;
    void onDrained() override;
    void onClosed() override;
    // http::ParserHandler
    HeadersAction onHeaders(const http::Message& msg) override;
    bool onBody(std::string_view data) override;
    bool onMessageComplete() override;

    void fail(UpstreamFailure failure, int status);
    static http::ParserLimits responseLimits(http::ParserLimits limits);

    net::TcpConn conn_;
    http::Parser parser_;
    std::shared_ptr<PoolRuntime> pool_;
    UpstreamUser* user_ = nullptr;
    int replica_;
    uint32_t uses_ = 0;
    uint64_t idle_since_ns_ = 0;
    bool connected_ = false;
    bool saw_bytes_ = false;
    bool reusable_ = false;
    bool head_request_ = false;
    bool interim_ = false;
};

} // namespace dlb::agent::proxy
