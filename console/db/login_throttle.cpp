#include "db/login_throttle.hpp"

#include <algorithm>

namespace dlb::console {

std::chrono::milliseconds LoginThrottle::delayAfter(int failures)
{
    if (failures <= 0)
        return std::chrono::milliseconds{0};
    auto delay = kLoginFirstDelay;
    // Doubling stops at the cap, so large counts cannot overflow.
    for (int i = 1; i < failures && delay < kLoginMaxDelay; ++i)
        delay *= 2;
    return std::min(delay, kLoginMaxDelay);
}

void LoginThrottle::failed(Clock::time_point now)
{
    ++failures_;
    next_ = now + delayAfter(failures_);
}

void LoginThrottle::succeeded()
{
    failures_ = 0;
    next_ = {};
}

std::chrono::milliseconds LoginThrottle::wait(Clock::time_point now) const
{
    if (now >= next_)
        return std::chrono::milliseconds{0};
    return std::chrono::ceil<std::chrono::milliseconds>(next_ - now);
}

} // namespace dlb::console
