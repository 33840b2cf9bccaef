#pragma once
// A one-shot timer at an absolute uv_hrtime() deadline, precise to tens of microseconds.
//
// Why not uv_timer_t: libuv 1.44 counts timers in whole milliseconds of a loop clock that is
// updated once per iteration, so a 1 ms simulated service time would come out anywhere between
// 0 and 2 ms, and an open-loop load generator would send up to 1 ms late. A timerfd armed with
// TFD_TIMER_ABSTIME on CLOCK_MONOTONIC (the clock uv_hrtime() reads) and watched by a uv_poll_t
// wakes the loop at the nanosecond deadline instead.
//
// Ownership: a member of its owner; the owner calls close() before it goes away and keeps
// living until the loop has run the close callback (the tools close everything, then let
// uv_run() return). Threading: the loop's thread only.

#include <uv.h>

#include <cstdint>
#include <functional>
#include <string>

namespace dlb::tools {

class DeadlineTimer {
public:
    DeadlineTimer(uv_loop_t* loop, std::function<void()> on_fire);
    DeadlineTimer(const DeadlineTimer&) = delete;
    DeadlineTimer& operator=(const DeadlineTimer&) = delete;

    // False (with the reason) when the timerfd could not be created.
    bool ok(std::string* why = nullptr) const;
    // Fires once at `deadline_ns` (uv_hrtime() clock); a deadline in the past fires at once.
    // Re-arming replaces the previous deadline.
    void armAt(uint64_t deadline_ns);
    void disarm();
    bool armed() const { return armed_; }
    uint64_t deadline() const { return deadline_; }
    void close();

private:
    static void pollCb(uv_poll_t* handle, int status, int events);
    static void closeCb(uv_handle_t* handle);

    uv_poll_t poll_{};
    int fd_ = -1;
    int init_error_ = 0;
    std::function<void()> on_fire_;
    uint64_t deadline_ = 0;
    bool armed_ = false;
    bool closing_ = false;
};

} // namespace dlb::tools
