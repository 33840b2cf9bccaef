#pragma once
// One keep-alive client connection of the load generator: sends one request at a time and
// parses the answer with the project's parser.
//
// Ownership: Runner owns it (a slot in its table) and frees it in Runner::onClosed(), called
// from the TcpConn close callback. Threading: the loop's thread. Every outcome of the request in
// flight is reported to the Runner exactly once: an answer, or a failure with its kind.

#include "agent/http/parser.hpp"
#include "agent/net/tcp_conn.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

namespace dlb::tools::loadgen {

class Runner;

struct Request {
    uint64_t id = 0;
    uint64_t intended_ns = 0; // latency counts from here (uv_hrtime clock)
    bool measured = false;    // false during warm-up
    bool waited = false;      // found no free connection at its intended time
};

class ClientConn final : public agent::net::TcpConn::Handler, public agent::http::ParserHandler {
public:
    ClientConn(Runner& runner, uv_loop_t* loop, size_t slot);
    ClientConn(const ClientConn&) = delete;
    ClientConn& operator=(const ClientConn&) = delete;

    void connect(const sockaddr* addr);
    // Sends now, or once connected.
    void send(const Request& req);
    // The request in flight is given up (timeout; "connect" while still connecting).
    void abandon();
    void close();
    bool busyWith(uint64_t id) const { return has_request_ && request_.id == id; }
    size_t slot() const { return slot_; }

    void onConnected(int status) override;
    void onRead(const char* data, size_t len) override;
    void onEof() override;
    void onReadError(int status) override;
    void onWriteError(int status) override;
    void onClosed() override;

    HeadersAction onHeaders(const agent::http::Message& msg) override;
    bool onBody(std::string_view data) override;
    bool onMessageComplete() override;

private:
    enum class State { Connecting, Idle, Busy, Closing };

    void writeRequest();
    void fail(std::string_view kind);

    Runner& runner_;
    agent::net::TcpConn tcp_;
    agent::http::Parser parser_;
    size_t slot_;
    State state_ = State::Connecting;
    int connect_error_ = 0;
    Request request_;
    bool has_request_ = false;
    int status_ = 0;
    bool keep_alive_ = true;
    bool has_replica_ = false;
    std::string replica_;
};

} // namespace dlb::tools::loadgen
