#include "agent/control/server.hpp"

#include "agent/control/api.hpp"
#include "agent/control/connection.hpp"
#include "agent/net/listener.hpp"
#include "agent/proxy/log.hpp"
#include "agent/tls/context.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <cstdio>

namespace dlb::agent::control {

Server::Server(proxy::Agent& agent) : agent_(agent), auth_(agent.startedConfig().control.tokens)
{
    api_ = std::make_unique<Api>(*this);
}

Server::~Server() = default;

std::unique_ptr<proxy::ControlPlane> makeServer(proxy::Agent& agent)
{
    return std::make_unique<Server>(agent);
}

bool Server::start(std::string* why)
{
    const common::ControlConfig& c = agent_.startedConfig().control;
    if (c.tokens.empty())
        proxy::logLine("control: no tokens in control.tokens: only /healthz and /readyz will answer (add a token, "
                       "docs/control-api.md says how)");
    if (!c.unix_socket.empty()) {
        bool stale = false;
        unix_socket_ = openUnixListener(c.unix_socket, kControlBacklog, &stale, why);
        if (unix_socket_.fd < 0)
            return false;
        if (stale)
            proxy::logLine("control: removed the stale socket " + c.unix_socket + " (nothing listened on it)");
        unix_path_ = c.unix_socket;
        uv_pipe_init(agent_.loop(), &unix_server_, 0);
        unix_server_.data = this;
        unix_open_ = true;
        int rc = uv_pipe_open(&unix_server_, unix_socket_.fd);
        if (rc == 0)
            rc = uv_listen(reinterpret_cast<uv_stream_t*>(&unix_server_), kControlBacklog, &Server::onUnixConnection);
        if (rc != 0) {
            *why = "control.unix_socket " + c.unix_socket + ": " + uv_strerror(rc);
            return false;
        }
        proxy::logLine("control: listening on " + c.unix_socket);
    }
    if (!c.address.empty()) {
        if (c.tls) {
            tls::Contexts contexts;
            const auto errors = tls::loadContexts(agent_.startedConfig(), &contexts);
            if (!errors.empty()) {
                *why = errors.front().toString();
                return false;
            }
            tls_ = contexts.control;
        }
        auto addr = net::resolve(c.endpoint, why);
        if (!addr)
            return false;
        uv_tcp_init(agent_.loop(), &tcp_server_);
        tcp_server_.data = this;
        tcp_open_ = true;
        int rc = uv_tcp_bind(&tcp_server_, addr->get(), 0);
        if (rc == 0)
            rc = uv_listen(reinterpret_cast<uv_stream_t*>(&tcp_server_), kControlBacklog, &Server::onTcpConnection);
        if (rc != 0) {
            *why = "control.address " + c.address + ": " + uv_strerror(rc);
            return false;
        }
        sockaddr_storage ss{};
        int len = sizeof ss;
        uv_tcp_getsockname(&tcp_server_, reinterpret_cast<sockaddr*>(&ss), &len);
        const int port = ntohs(ss.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                                                        : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
        // Printed like the data plane's listeners, so that scripts and tests can find port 0's.
        std::printf("dlb-agent: control listening on %s:%d%s\n", c.endpoint.host.c_str(), port, tls_ ? " (tls)" : "");
        proxy::logLine("control: listening on " + c.endpoint.host + ":" + std::to_string(port) + (tls_ ? " with TLS" : ""));
    }
    listening_ = true;
    return true;
}

void Server::stop()
{
    if (stopping_)
        return;
    stopping_ = true;
    listening_ = false;
    api_->stop();
    if (unix_open_) {
        uv_close(reinterpret_cast<uv_handle_t*>(&unix_server_), nullptr);
        removeUnixSocket(unix_path_, unix_socket_);
        unix_open_ = false;
    }
    if (tcp_open_) {
        uv_close(reinterpret_cast<uv_handle_t*>(&tcp_server_), nullptr);
        tcp_open_ = false;
    }
    const auto copy = connections_;
    for (auto* c : copy)
        c->close();
}

void Server::onUnixConnection(uv_stream_t* server, int status)
{
    if (status == 0)
        static_cast<Server*>(server->data)->accept(server, true);
}

void Server::onTcpConnection(uv_stream_t* server, int status)
{
    if (status == 0)
        static_cast<Server*>(server->data)->accept(server, false);
}

namespace {

// kMaxConnections, or 1/kControlFdShare of the open-file limit when that is less. Read at each
// accept: prlimit can lower the limit of a running agent.
size_t connectionCap()
{
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return kMaxConnections;
    return std::clamp<size_t>(static_cast<size_t>(rl.rlim_cur) / kControlFdShare, 1, kMaxConnections);
}

} // namespace

void Server::accept(uv_stream_t* server, bool unix_socket)
{
    if (stopping_)
        return;
    const auto& cfg = agent_.snapshot()->config;
    Connection* c = Connection::create(*this, unix_socket, cfg);
    connections_.insert(c);
    const int rc = c->start(server, unix_socket ? nullptr : tls_, cfg.timeouts.tls_handshake_ms);
    if (rc != 0) {
        c->close();
        return;
    }
    if (!c->unixSocket()) {
        tcp_counted_.insert(c);
        ++tcp_per_peer_[c->peer()];
    }
    const std::string why = overCap(*c, connectionCap());
    if (!why.empty()) {
        logRefusal(why);
        c->close();
    }
}

std::string Server::overCap(const Connection& c, size_t cap) const
{
    // Counts include `c`. The Unix socket may use every slot; TCP leaves kUnixReservedConnections
    // of them (half, when the open-file limit makes the cap small) to the Unix socket.
    if (connections_.size() > cap)
        return "more than " + std::to_string(cap) +
               " control connections (at most 256, and a quarter of the open-file limit)";
    if (c.unixSocket())
        return {};
    const size_t tcp_cap = cap - std::min(kUnixReservedConnections, cap / 2);
    if (tcp_counted_.size() > tcp_cap)
        return "more than " + std::to_string(tcp_cap) + " control connections over TCP (" +
               std::to_string(cap - tcp_cap) + " kept for the Unix socket)";
    const auto it = tcp_per_peer_.find(c.peer());
    if (it != tcp_per_peer_.end() && it->second > kMaxConnectionsPerPeer)
        return "more than " + std::to_string(kMaxConnectionsPerPeer) + " control connections from " + c.peer();
    return {};
}

void Server::logRefusal(const std::string& why)
{
    ++refusals_unlogged_;
    const uint64_t now = uv_now(agent_.loop());
    if (refusal_logged_ms_ != 0 && now - refusal_logged_ms_ < kRefusalLogIntervalMs)
        return;
    proxy::logLine("control: " + why + "; closing new ones (" + std::to_string(refusals_unlogged_) +
                   " closed since the last such line)");
    refusal_logged_ms_ = now == 0 ? 1 : now;
    refusals_unlogged_ = 0;
}

void Server::connectionClosed(Connection* c)
{
    connections_.erase(c);
    if (tcp_counted_.erase(c) != 0) {
        const auto it = tcp_per_peer_.find(c->peer());
        if (it != tcp_per_peer_.end() && --it->second == 0)
            tcp_per_peer_.erase(it);
    }
    delete c;
}

} // namespace dlb::agent::control
