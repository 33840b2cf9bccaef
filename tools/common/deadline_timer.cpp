#include "tools/common/deadline_timer.hpp"

#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace dlb::tools {

namespace {
constexpr uint64_t kNanosPerSecond = 1'000'000'000;
}

DeadlineTimer::DeadlineTimer(uv_loop_t* loop, std::function<void()> on_fire) : on_fire_(std::move(on_fire))
{
    fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (fd_ < 0) {
        init_error_ = errno;
        return;
    }
    uv_poll_init(loop, &poll_, fd_);
    poll_.data = this;
    uv_poll_start(&poll_, UV_READABLE, &DeadlineTimer::pollCb);
}

bool DeadlineTimer::ok(std::string* why) const
{
    if (fd_ >= 0)
        return true;
    if (why)
        *why = std::string("timerfd_create: ") + std::strerror(init_error_);
    return false;
}

void DeadlineTimer::armAt(uint64_t deadline_ns)
{
    if (fd_ < 0 || closing_)
        return;
    // An all-zero it_value would disarm the timer instead of firing it.
    if (deadline_ns == 0)
        deadline_ns = 1;
    itimerspec spec{};
    spec.it_value.tv_sec = static_cast<time_t>(deadline_ns / kNanosPerSecond);
    spec.it_value.tv_nsec = static_cast<long>(deadline_ns % kNanosPerSecond);
    timerfd_settime(fd_, TFD_TIMER_ABSTIME, &spec, nullptr);
    deadline_ = deadline_ns;
    armed_ = true;
}

void DeadlineTimer::disarm()
{
    if (fd_ < 0 || closing_ || !armed_)
        return;
    itimerspec spec{};
    timerfd_settime(fd_, 0, &spec, nullptr);
    armed_ = false;
}

void DeadlineTimer::close()
{
    if (closing_)
        return;
    closing_ = true;
    armed_ = false;
    if (fd_ >= 0)
        uv_close(reinterpret_cast<uv_handle_t*>(&poll_), &DeadlineTimer::closeCb);
}

void DeadlineTimer::pollCb(uv_poll_t* handle, int /*status*/, int /*events*/)
{
    auto* self = static_cast<DeadlineTimer*>(handle->data);
    uint64_t expirations = 0;
    if (read(self->fd_, &expirations, sizeof expirations) != static_cast<ssize_t>(sizeof expirations))
        return; // spurious wake-up (EAGAIN): not expired yet
    self->armed_ = false;
    if (!self->closing_)
        self->on_fire_();
}

void DeadlineTimer::closeCb(uv_handle_t* handle)
{
    // uv_poll_t does not own the descriptor: it is closed only once libuv has let go of it.
    auto* self = static_cast<DeadlineTimer*>(handle->data);
    ::close(self->fd_);
    self->fd_ = -1;
}

} // namespace dlb::tools
