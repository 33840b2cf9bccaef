#pragma once
// The control API server: HTTP/1.1 + JSON on the control Unix socket and, optionally, on a TCP
// address (TLS when control.tls is set). It runs on the agent's main loop, never on a worker,
// over the agent's own stream layer (net::TcpConn) and request parser (http::Parser), with the
// data plane's header limits. Requests on one connection are answered in order (keep-alive,
// pipelining); every request but /healthz and /readyz needs a Bearer token (auth.hpp).
//
// Threading: main loop only. Lifetimes: each connection frees itself once its handles closed.

#include "agent/control/auth.hpp"
#include "agent/control/router.hpp"
#include "agent/control/unix_socket.hpp"
#include "agent/proxy/agent.hpp"

#include <uv.h>

#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace dlb::agent::control {

// A request body larger than this is answered 413: control requests are a few hundred bytes.
inline constexpr uint64_t kMaxRequestBodyBytes = 64 * 1024;
// Connections open at once; more are closed as they arrive (the console and a few scripts need
// a handful; a flood must not take descriptors from the data plane).
inline constexpr size_t kMaxConnections = 256;
// ... and at most this fraction (1/N) of the open-file limit, so that a low limit still leaves
// the data plane its descriptors (holding a control connection needs no token).
inline constexpr size_t kControlFdShare = 4;
// Of those, this many are kept for the Unix socket: a crowd on the TCP listener, which a stranger
// can reach with no token, never locks the local admin (dlbctl, systemd's ExecReload) out.
inline constexpr size_t kUnixReservedConnections = 16;
// TCP connections from one address at once: a console watching a few agents holds a handful;
// one host cannot take every TCP slot from the others.
inline constexpr size_t kMaxConnectionsPerPeer = 32;
// Connections closed for a cap are logged at most once per this interval, with their count:
// a flood must not turn into a log line per connection.
inline constexpr uint64_t kRefusalLogIntervalMs = 1000;
// Kernel accept queue of the control sockets.
inline constexpr int kControlBacklog = 64;
// A connection whose peer does not read its answers is closed once this much waits unwritten
// (a stream's writer sees pendingBytes() first and skips).
inline constexpr size_t kMaxPendingWriteBytes = 4 * 1024 * 1024;

// Answers queued for a peer that pipelines requests without reading them: past this many
// unwritten bytes a connection takes no further request until the peer has read them (and is
// closed when it has not within timeouts.send_ms), so such a peer costs bounded memory.
inline constexpr size_t kMaxQueuedAnswerBytes = 64 * 1024;

class Connection;
class Api;

class Server final : public proxy::ControlPlane {
public:
    explicit Server(proxy::Agent& agent);
    ~Server() override;

    bool start(std::string* why) override;
    void stop() override;

    Router& router() { return router_; }
    proxy::Agent& agent() { return agent_; }
    bool listening() const { return listening_; }

    // Connection's use.
    const TokenAuth& auth() const { return auth_; }
    FailureLimiter& limiter() { return limiter_; }
    void connectionClosed(Connection* c);
    bool stopping() const { return stopping_; }

private:
    static void onUnixConnection(uv_stream_t* server, int status);
    static void onTcpConnection(uv_stream_t* server, int status);
    void accept(uv_stream_t* server, bool unix_socket);
    // Why a connection that just started must be closed for a cap, or empty when it may stay.
    std::string overCap(const Connection& c, size_t cap) const;
    void logRefusal(const std::string& why);

    proxy::Agent& agent_;
    Router router_;
    TokenAuth auth_;
    FailureLimiter limiter_;
    std::unique_ptr<Api> api_;
    std::string unix_path_;
    UnixListenSocket unix_socket_;
    uv_pipe_t unix_server_{};
    uv_tcp_t tcp_server_{};
    bool unix_open_ = false;
    bool tcp_open_ = false;
    bool listening_ = false;
    bool stopping_ = false;
    std::shared_ptr<const tls::ServerContext> tls_;
    std::unordered_set<Connection*> connections_;
    // Open TCP connections that started, in all and per peer (Connection::peer()).
    std::unordered_set<const Connection*> tcp_counted_;
    std::unordered_map<std::string, size_t> tcp_per_peer_;
    uint64_t refusal_logged_ms_ = 0; // when the last refusal line was written (0: never)
    size_t refusals_unlogged_ = 0;   // connections closed for a cap since that line
};

// Builds the control plane for proxy::Agent (dlb-agent's main.cpp passes this).
std::unique_ptr<proxy::ControlPlane> makeServer(proxy::Agent& agent);

} // namespace dlb::agent::control
