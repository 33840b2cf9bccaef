#pragma once
// dlb-replica's server: the listening socket, the connections, the Service, the slow-factor
// schedule and the signals that stop it. One libuv loop runs all of it.
//
// Ownership: Server owns every Connection (freed in their close callbacks) and the Service.
// stop() closes every handle; run() returns once the loop has nothing left, and only then are
// jobs still in service freed.

#include "tools/replica/options.hpp"
#include "tools/replica/service.hpp"

#include <uv.h>

#include <string>
#include <string_view>
#include <unordered_set>

namespace dlb::tools::replica {

class Connection;

class Server {
public:
    Server(uv_loop_t* loop, Options options);
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Binds and listens; on failure returns false with `why` set. Fills in the name and port.
    bool start(std::string* why);
    int port() const { return port_; }
    // Runs until SIGTERM/SIGINT.
    void run();
    void stop();

    uv_loop_t* loop() const { return loop_; }
    Service& service() { return service_; }
    const std::string& name() const { return options_.name; }
    bool probesQueue() const { return options_.probes_queue; }
    uint64_t pingDelayNs() const { return static_cast<uint64_t>(options_.ping_delay_ms * 1e6); }
    // "X-Replica: <name>\r\n", written into every answer.
    const std::string& replicaHeader() const { return replica_header_; }
    // The answer to a plain keep-alive HTTP/1.1 request without a body, prebuilt once because it
    // is the answer throughput benchmarks measure: the head up to X-Replica, then (after the
    // X-Load line, when on) the rest.
    const std::string& plainHead() const { return plain_head_; }
    const std::string& plainTail() const { return plain_tail_; }
    std::string pingBody();
    // Appends "X-Load: rif=N, latency_ms=M\r\n" (docs/load-reports.md) unless --no-load-header.
    void appendLoadHeader(std::string& out);
    // Counted for the exit summary, so tests can measure what probing costs a replica.
    void countAnswer(bool probe) { ++(probe ? probes_answered_ : requests_answered_); }

    void forget(Connection* conn) { connections_.erase(conn); }

private:
    static void onConnection(uv_stream_t* listener, int status);
    static void onSignal(uv_signal_t* handle, int signum);
    static void onSlowStep(uv_timer_t* handle);
    void armSlowStep();

    uv_loop_t* loop_;
    Options options_;
    Service service_;
    uv_tcp_t listener_{};
    uv_signal_t sigint_{};
    uv_signal_t sigterm_{};
    uv_timer_t slow_timer_{};
    uint64_t started_ms_ = 0;
    size_t next_slow_step_ = 0;
    int port_ = 0;
    bool listener_open_ = false; // initialised: closed by stop()
    bool started_ = false;       // signals and the schedule timer initialised too
    bool stopping_ = false;
    std::string replica_header_;
    std::string plain_head_;
    std::string plain_tail_;
    // The latency estimate X-Load reports, refreshed at most every kLoadLatencyRefreshNs: the
    // estimate sorts up to 256 samples, too dear for every answer at benchmark rates.
    double load_latency_ms_ = 0;
    uint64_t load_latency_at_ns_ = 0;
    bool load_latency_valid_ = false;
    uint64_t requests_answered_ = 0;
    uint64_t probes_answered_ = 0;
    std::unordered_set<Connection*> connections_;
};

} // namespace dlb::tools::replica
