#pragma once
// One accepted control connection (the Unix socket's or the TCP listener's, TLS or not): reads
// requests with the agent's parser, authenticates them, calls the route's handler and writes the
// answers in order. It frees itself, through Server::connectionClosed(), once its handles closed.
// Main loop only.

#include "agent/tls/context.hpp"
#include "common/config.hpp"

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>

namespace dlb::agent::control {

class Server;

class Connection {
public:
    static Connection* create(Server& server, bool unix_socket, const common::Config& config);
    virtual ~Connection() = default;
    // Accepts from `listener` (TLS through `tls` when given); a UV error, or 0.
    virtual int start(uv_stream_t* listener, const std::shared_ptr<const tls::ServerContext>& tls,
                      uint64_t handshake_ms) = 0;
    virtual void close() = 0;
    // Who is at the other end, once start() succeeded: "uid:N" on the Unix socket, "ip:ADDR"
    // on TCP (the key of the failed-authentication limiter and of the per-peer cap).
    virtual const std::string& peer() const = 0;
    virtual bool unixSocket() const = 0;
};

} // namespace dlb::agent::control
