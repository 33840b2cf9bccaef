#pragma once
// One blocking connection to the agent's control API: a Unix socket, TCP, or TLS over TCP (the
// agent's tls::Engine over memory BIOs). Every wait is a poll() bounded by a deadline, so a
// peer that never answers costs --timeout-ms, not forever; a signal (Ctrl-C on `stats --watch`)
// ends a wait when the stop flag is set.

#include "agent/tls/engine.hpp"

#include <chrono>
#include <csignal>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace dlb::ctl {

using Clock = std::chrono::steady_clock;

// Where the agent is and how to speak to it.
struct Target {
    std::string socket_path; // used when host is empty
    std::string host;        // TCP: a name or an address (no brackets)
    uint16_t port = 0;
    bool tls = false;
    std::string cacert; // https: the CA that signs the agent's certificate; empty: the system's
    unsigned timeout_ms = 5000;

    std::string describe() const; // "the socket /run/dlb/control.sock", "https://h:9090"
};

class Connection {
public:
    // Connects (and for TLS completes the handshake, the certificate verified) before
    // `deadline`. Throws CtlError(kExitUnreachable) with what to do.
    static std::unique_ptr<Connection> open(const Target& target, Clock::time_point deadline);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    void sendAll(std::string_view data, Clock::time_point deadline);
    // Up to `cap` bytes of plaintext; 0 when the peer closed. Throws on timeout (kExitUnreachable),
    // on a TLS error mid-stream (kExitAgentError), and when the stop flag is set (kExitOk).
    size_t readSome(char* out, size_t cap, Clock::time_point deadline);

    // A signal handler sets *flag; waits check it when poll() is interrupted.
    static void setStopFlag(const volatile std::sig_atomic_t* flag);

private:
    Connection(int fd, const Target& target) : fd_(fd), target_(target) {}
    void handshake(Clock::time_point deadline);
    // Waits for `events` on the socket; throws on timeout or stop.
    void wait(short events, Clock::time_point deadline);
    void writeRaw(std::string_view data, Clock::time_point deadline);
    size_t readRaw(char* out, size_t cap, Clock::time_point deadline);
    void flushTls(Clock::time_point deadline);

    int fd_;
    Target target_;
    std::unique_ptr<agent::tls::Engine> tls_;
    std::string cipher_out_;
};

} // namespace dlb::ctl
