#pragma once
// Drives a run on one libuv loop: the open-loop schedule or the closed loop, the connection
// table, timeouts, and the Results.
//
// Open loop: request k is due at its intended time (uniform or Poisson spacing) whatever the
// server does; it goes out on an idle connection, or on a new one while fewer than
// --connections exist, or else waits in the backlog, and its latency is counted from the
// intended time, so a slow server cannot hide its queueing by slowing the generator down
// (coordinated omission). Closed loop: each of C connections sends its next request when the
// previous one is answered, N in all; latency counts from the actual send.
// A request older than --timeout-ms (from its intended time) fails as "timeout".
// Ownership: Runner owns every ClientConn; it lives until run() returns.

#include "agent/net/listener.hpp"
#include "tools/loadgen/client_conn.hpp"
#include "tools/loadgen/options.hpp"
#include "tools/loadgen/results.hpp"
#include "tools/common/deadline_timer.hpp"

#include <uv.h>

#include <deque>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace dlb::tools::loadgen {

class Runner {
public:
    Runner(uv_loop_t* loop, const Options& options, const agent::net::SockAddr& addr);
    Runner(const Runner&) = delete;
    Runner& operator=(const Runner&) = delete;

    bool start(std::string* why);
    // Returns when the run is over and every handle is closed.
    void run();
    const Results& results() const { return results_; }

    // ClientConn's reports.
    const std::string& requestBytes() const { return request_bytes_; }
    void onAnswer(const Request& req, int status, const std::string* replica);
    void onFailed(const Request& req, std::string_view kind);
    void onIdle(ClientConn& conn);
    void onClosed(ClientConn& conn);

private:
    struct Deadline {
        uint64_t at_ns;
        size_t slot;
        uint64_t id;
    };

    void onDispatch();
    static void onSweep(uv_timer_t* handle);
    static void onSignal(uv_signal_t* handle, int signum);
    void pump();
    ClientConn* acquire();
    void expireBacklog(uint64_t now_ns);
    void advanceSchedule();
    void countDone(const Request& req, uint64_t now_ns);
    void maybeFinish();
    void finish(bool interrupted);

    uv_loop_t* loop_;
    Options options_;
    agent::net::SockAddr addr_;
    std::string request_bytes_;
    uint64_t timeout_ns_;
    size_t max_connections_;

    std::vector<std::unique_ptr<ClientConn>> conns_; // by slot
    std::vector<size_t> free_slots_;
    std::vector<ClientConn*> idle_;
    size_t live_ = 0;

    std::deque<Request> backlog_;     // open loop: due, waiting for a connection
    std::deque<Deadline> deadlines_;  // requests on connections, in deadline order
    uint64_t next_id_ = 1;
    uint64_t issued_ = 0;
    uint64_t inflight_ = 0;

    uint64_t start_ns_ = 0;
    uint64_t measure_start_ns_ = 0;
    uint64_t schedule_end_ns_ = 0;
    double next_due_ = 0;             // open loop: next intended time (ns, exact)
    uint64_t schedule_index_ = 0;
    bool schedule_done_ = false;
    uint64_t last_done_ns_ = 0;
    bool finished_ = false;

    std::mt19937_64 rng_;
    DeadlineTimer dispatch_timer_;
    uv_timer_t sweep_timer_{};
    uv_signal_t sigint_{};
    uv_signal_t sigterm_{};
    Results results_;
};

} // namespace dlb::tools::loadgen
