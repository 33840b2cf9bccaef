#include "tools/replica/service.hpp"

#include "tools/replica/connection.hpp"

#include <unistd.h>

#include <cmath>

namespace dlb::tools::replica {

namespace {
constexpr double kNanosPerMilli = 1e6;
// A slot due within this much of now is finished in the same wake-up rather than re-arming
// the timer for a few microseconds.
constexpr uint64_t kDueSlackNs = 20'000;
// Normal service times use this coefficient of variation (sd = mean / 4).
constexpr double kNormalSdOverMean = 0.25;
} // namespace

Service::Service(uv_loop_t* loop, const Options& options)
    : options_(options),
      slow_(options.slow),
      slots_(options.workers, nullptr),
      estimator_(options.service_ms * options.slow),
      rng_(options.seed_given ? options.seed : (uv_hrtime() ^ (static_cast<uint64_t>(getpid()) << 32))),
      timer_(loop, [this] { onTimer(); })
{
    free_slots_.reserve(options.workers);
    for (size_t i = options.workers; i-- > 0;)
        free_slots_.push_back(i);
}

uint64_t Service::drawServiceNs()
{
    const double mean = options_.service_ms * slow_;
    double ms = 0;
    switch (options_.distribution) {
    case Distribution::Exponential:
        if (mean > 0)
            ms = std::exponential_distribution<double>(1.0 / mean)(rng_);
        break;
    case Distribution::Fixed:
        ms = mean;
        break;
    case Distribution::Normal:
        if (mean > 0)
            ms = std::max(0.0, std::normal_distribution<double>(mean, mean * kNormalSdOverMean)(rng_));
        break;
    case Distribution::Uniform: {
        const double lo = options_.uniform_min_ms * slow_;
        const double hi = options_.uniform_max_ms * slow_;
        ms = lo + (hi - lo) * unit_(rng_);
        break;
    }
    }
    return static_cast<uint64_t>(std::llround(ms * kNanosPerMilli));
}

void Service::submit(Job* job)
{
    const uint64_t now = job->received_ns;
    // The tag is the RIF this job found: what a request arriving at that RIF experienced.
    job->rif_at_arrival = rif_;
    ++rif_;
    if (options_.fail_rate > 0 && unit_(rng_) < options_.fail_rate) {
        job->status = 500;
        finish(job, now);
        return;
    }
    // FIFO: a free slot goes to the head of the queue first.
    if (queue_.empty() && !free_slots_.empty()) {
        const size_t slot = free_slots_.back();
        free_slots_.pop_back();
        if (!occupy(slot, job, now))
            free_slots_.push_back(slot);
        rearm();
        return;
    }
    if (options_.max_queue != 0 && queue_.size() >= options_.max_queue) {
        job->status = 503;
        finish(job, now);
        return;
    }
    queue_.push_back(job);
}

bool Service::occupy(size_t slot, Job* job, uint64_t now_ns)
{
    const uint64_t service = drawServiceNs() + job->extra_service_ns;
    if (service == 0) {
        finish(job, now_ns);
        return false;
    }
    slots_[slot] = job;
    due_.emplace(now_ns + service, slot);
    return true;
}

void Service::onTimer()
{
    uint64_t now = uv_hrtime();
    while (!due_.empty() && due_.top().first <= now + kDueSlackNs) {
        const size_t slot = due_.top().second;
        due_.pop();
        Job* job = slots_[slot];
        slots_[slot] = nullptr;
        free_slots_.push_back(slot);
        finish(job, now);
        // finish() may write to a socket: keep the clock honest for the next one.
        now = uv_hrtime();
    }
    startQueued(now);
    rearm();
}

void Service::startQueued(uint64_t now_ns)
{
    while (!queue_.empty() && !free_slots_.empty()) {
        Job* job = queue_.front();
        queue_.pop_front();
        const size_t slot = free_slots_.back();
        free_slots_.pop_back();
        if (!occupy(slot, job, now_ns))
            free_slots_.push_back(slot);
    }
}

void Service::rearm()
{
    if (due_.empty()) {
        timer_.disarm();
        return;
    }
    const uint64_t next = due_.top().first;
    if (!timer_.armed() || timer_.deadline() != next)
        timer_.armAt(next);
}

void Service::finish(Job* job, uint64_t now_ns)
{
    --rif_;
    // Only served answers are samples: a replica failing fast must not look fast to probes.
    if (job->status == 200)
        estimator_.record(job->rif_at_arrival, now_ns - job->received_ns, now_ns);
    job->done = true;
    if (job->conn)
        job->conn->onJobDone(*job);
    else
        delete job;
}

void Service::close()
{
    timer_.close();
}

void Service::releaseAll()
{
    // Called after the loop stopped: every connection has closed and detached its jobs.
    for (Job*& job : slots_) {
        delete job;
        job = nullptr;
    }
    for (Job* job : queue_)
        delete job;
    queue_.clear();
}

} // namespace dlb::tools::replica
