#include "agent/proxy/log.hpp"

#include <unistd.h>

#include <chrono>
#include <ctime>

namespace dlb::agent::proxy {

void logLine(const std::string& message)
{
    const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm tm{};
    gmtime_r(&t, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    const std::string out = std::string(stamp) + " dlb-agent: " + message + "\n";
    const ssize_t n = ::write(STDERR_FILENO, out.data(), out.size());
    (void)n;
}

} // namespace dlb::agent::proxy
