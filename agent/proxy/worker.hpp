#pragma once
// One event-loop thread: its own uv_loop_t, its own listening sockets (SO_REUSEPORT), its own
// pool runtimes (balancers, probe pools, upstream connections) and counters. The request path
// takes no lock: the only cross-thread traffic is a snapshot handed over through an async
// handle, and a stop request.

#include "agent/http/parser.hpp"
#include "agent/proxy/access_log.hpp"
#include "agent/proxy/snapshot.hpp"
#include "agent/proxy/stats.hpp"

#include <uv.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

namespace dlb::agent::proxy {

class PoolRuntime;
class Session;

// Period of the worker's housekeeping timer: health flags, idle probes, probe timeouts,
// idle upstream connections, access-log flushes.
inline constexpr uint64_t kTickMs = 10;
// Access-log lines are flushed when this many bytes wait, or on the next tick.
inline constexpr size_t kAccessLogFlushBytes = 32 * 1024;
// Connections accepted per readiness event of a listener before the loop serves the others.
inline constexpr unsigned kAcceptBatch = 64;
// Out of descriptors, a listener is not polled for this long after its queue was shed (as
// nginx disables accept events): no spinning on a queue that cannot be accepted from.
inline constexpr uint64_t kAcceptPauseMs = 100;
// What a connection shed for want of descriptors may have sent already is read and dropped,
// up to this much, so that closing it does not reset away the 503 written to it.
inline constexpr size_t kShedReadBytes = 16 * 1024;

class Worker {
public:
    Worker(unsigned index, std::shared_ptr<const Snapshot> snapshot, std::vector<int> listen_fds,
           AccessLog* access_log, uint64_t seed);
    ~Worker();
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    // 0, or the libuv error that left this worker without an event loop (out of descriptors):
    // then start() must not be called.
    int loopError() const { return loop_error_; }
    void start();
    // Any thread: hand over a new snapshot; the worker swaps it in on its loop.
    void publish(std::shared_ptr<const Snapshot> snapshot);
    // Any thread: stop accepting, let requests in flight finish (up to the drain timeout),
    // then end the loop.
    void stop();
    void join();
    // Any thread: whether the loop runs (false before start() and once it has ended), and the
    // generation of the snapshot in use at the worker's last tick: once it is G, this worker's
    // new requests take G's runtimes (none of them reaches a replica that G removed).
    bool running() const { return running_.load(std::memory_order_relaxed); }
    uint64_t tickedGeneration() const { return ticked_generation_.load(std::memory_order_acquire); }

    // Loop thread only.
    uv_loop_t* loop() { return &loop_; }
    unsigned index() const { return index_; }
    const Snapshot& snapshot() const { return *snapshot_; }
    const http::ParserLimits& parserLimits() const { return parser_limits_; }
    WorkerStats& stats() { return stats_; }
    bool draining() const { return draining_; }
    std::shared_ptr<PoolRuntime> runtime(size_t pool_index) { return runtimes_[pool_index]; }
    void sessionClosed(Session* s);
    void log(const AccessRecord& r);
    // An error worth an operator's attention, at most one line per second per worker.
    void logError(const std::string& message);
    static uint64_t nowNs() { return uv_hrtime(); }

private:
    // A listening socket: polled by the loop, accepted from by us (not uv_listen), so that
    // running out of descriptors is seen, logged and answered; libuv would shed silently.
    struct Listener {
        uv_poll_t poll;
        int fd = -1;
        Worker* worker = nullptr;
        size_t index = 0; // in the config's listener order
        uint64_t paused_until_ns = 0; // 0: polled
    };
    static void onListenReadable(uv_poll_t* h, int status, int events);
    void startSession(int fd, size_t listener);
    void shedConnections(Listener& l, int err);
    static void onAsync(uv_async_t* h);
    static void onTick(uv_timer_t* t);
    static void onDrainTimeout(uv_timer_t* t);
    void run();
    void applySnapshot(std::shared_ptr<const Snapshot> snapshot);
    void applyListenerTls(const Snapshot& snapshot);
    void beginDrain();
    void maybeFinishDrain();
    void closeEverything();

    unsigned index_;
    uv_loop_t loop_;
    int loop_error_ = 0;
    bool loop_open_ = false; // uv_loop_init succeeded: uv_loop_close is owed
    uv_async_t async_;
    uv_timer_t tick_;
    uv_timer_t drain_timer_;
    std::vector<std::unique_ptr<Listener>> listeners_;
    // Kept open so that one descriptor is free to accept into and answer 503 when the process
    // has none left (the "emfile trick" libuv also plays).
    int reserve_fd_ = -1;
    std::vector<int> listen_fds_;
    // Per running listener (the config's order at start): its address, whether it was opened
    // as TLS, and the server context new connections get. A reload brings new contexts
    // (certificates) for the same listener; turning TLS on or off takes a restart.
    struct ListenerTls {
        std::string address;
        bool tls = false;
        std::shared_ptr<const tls::ServerContext> ctx;
    };
    std::vector<ListenerTls> listener_tls_;
    std::thread thread_;
    std::shared_ptr<const Snapshot> snapshot_;
    std::vector<std::shared_ptr<PoolRuntime>> runtimes_;
    std::vector<std::shared_ptr<PoolRuntime>> retired_;
    std::unordered_set<Session*> sessions_;
    http::ParserLimits parser_limits_;
    WorkerStats stats_;
    AccessLog* access_log_;
    std::string log_buf_;
    uint64_t seed_;
    uint64_t last_error_log_ns_ = 0;
    uint64_t errors_suppressed_ = 0;
    bool draining_ = false;
    bool closed_ = false;

    std::mutex inbox_mutex_; // guards the two fields below: touched once per reload or stop
    std::shared_ptr<const Snapshot> inbox_;
    bool stop_requested_ = false;

    std::atomic<bool> running_{false};
    std::atomic<uint64_t> ticked_generation_{0};
};

} // namespace dlb::agent::proxy
