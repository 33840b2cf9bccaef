#pragma once
// The simulated server: `workers` service slots, a FIFO queue in front of them, a service-time
// distribution and a slow factor that may change over time. Tracks the replica's RIF and feeds
// the latency estimator that /ping reports.
//
// Service time is simulated with a deadline per busy slot on one DeadlineTimer (no CPU burnt),
// so a single loop serves any number of slots. A job whose drawn service time is 0 is answered
// on the spot, without a timer: that is the fast path of throughput benchmarks.
// Threading: the replica's single loop thread. Jobs are answered through
// Connection::onJobDone(), possibly from inside submit().

#include "tools/common/deadline_timer.hpp"
#include "tools/replica/job.hpp"
#include "tools/replica/latency_estimator.hpp"
#include "tools/replica/options.hpp"

#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <queue>
#include <random>
#include <utility>
#include <vector>

namespace dlb::tools::replica {

class Service {
public:
    Service(uv_loop_t* loop, const Options& options);
    Service(const Service&) = delete;
    Service& operator=(const Service&) = delete;

    bool ok(std::string* why) const { return timer_.ok(why); }

    // A job has been received in full: it counts in the RIF from now until it is answered.
    void submit(Job* job);

    uint32_t rif() const { return rif_; }
    size_t queued() const { return queue_.size(); }
    double latencyEstimateMs(uint64_t now_ns) const { return estimator_.estimateMs(rif_, now_ns); }
    double slowFactor() const { return slow_; }
    void setSlowFactor(double factor) { slow_ = factor; }

    // Shutdown: closes the timer. Jobs still held are freed by releaseAll() once the loop has
    // stopped (their connections are closed and have detached them by then).
    void close();
    void releaseAll();

private:
    using Due = std::pair<uint64_t, size_t>; // (deadline, slot)

    void onTimer();
    void startQueued(uint64_t now_ns);
    // Puts `job` in `slot` or, when its service time is 0, answers it at once (returns false).
    bool occupy(size_t slot, Job* job, uint64_t now_ns);
    void finish(Job* job, uint64_t now_ns);
    uint64_t drawServiceNs();
    void rearm();

    Options options_;
    double slow_;
    uint32_t rif_ = 0;
    std::vector<Job*> slots_;
    std::vector<size_t> free_slots_;
    std::priority_queue<Due, std::vector<Due>, std::greater<Due>> due_;
    std::deque<Job*> queue_;
    LatencyEstimator estimator_;
    std::mt19937_64 rng_;
    std::uniform_real_distribution<double> unit_{0.0, 1.0};
    DeadlineTimer timer_;
};

} // namespace dlb::tools::replica
