#pragma once
// Repeated failed logins slow down: after the n-th consecutive failure the next attempt waits
// kLoginFirstDelay * 2^(n-1), at most kLoginMaxDelay. A success resets it. This is the console's
// own brake; a server that must resist other clients too needs PostgreSQL's auth_delay module
// (docs/console.md).

#include <chrono>

namespace dlb::console {

constexpr std::chrono::milliseconds kLoginFirstDelay{1000};
constexpr std::chrono::milliseconds kLoginMaxDelay{30000};

class LoginThrottle {
public:
    using Clock = std::chrono::steady_clock;

    void failed(Clock::time_point now = Clock::now());
    void succeeded();
    // How long until the next attempt is allowed; zero when it is allowed now.
    std::chrono::milliseconds wait(Clock::time_point now = Clock::now()) const;
    int failures() const { return failures_; }
    // The delay that the n-th consecutive failure imposes.
    static std::chrono::milliseconds delayAfter(int failures);
    // A wait as the whole seconds a person is shown: rounded up, so "0 s" never means "wait".
    static long long seconds(std::chrono::milliseconds wait)
    {
        return std::chrono::ceil<std::chrono::seconds>(wait).count();
    }

private:
    int failures_ = 0;
    Clock::time_point next_{};
};

} // namespace dlb::console
