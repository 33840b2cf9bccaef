#pragma once
// Access log as JSON lines. Each worker formats into its own buffer (no lock on the request
// path) and writes whole buffers with one write(2) to a shared O_APPEND descriptor. Reopening
// (SIGHUP, for log rotation) dup2()s a fresh file onto the same descriptor number, so workers
// never see a closed or reused descriptor.

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

namespace dlb::agent::proxy {

class AccessLog {
public:
    AccessLog() = default;
    ~AccessLog();
    AccessLog(const AccessLog&) = delete;
    AccessLog& operator=(const AccessLog&) = delete;

    // "" disables, "-" is standard output. Returns false with `why` when the file cannot open.
    bool open(const std::string& path, std::string* why);
    bool reopen(std::string* why);
    bool enabled() const { return fd_.load(std::memory_order_relaxed) >= 0; }
    void writeBuffer(std::string& buf); // writes and clears

private:
    std::string path_;
    std::atomic<int> fd_{-1};
    bool owns_fd_ = false;
};

struct AccessRecord {
    double time_unix = 0;
    std::string_view client;
    std::string_view method; // "" (logged as null): the request line did not parse
    std::string_view path;   // "" (logged as null): likewise
    int status = 0;
    uint64_t bytes_sent = 0;
    std::string_view replica; // "" when the proxy answered itself
    double upstream_ms = -1;  // -1: no upstream exchange
    double total_ms = 0;
    uint32_t attempts = 0;
    std::string_view abort; // "" (null): the exchange ended normally; else why it was cut off
};

// Appends one JSON line, escaping strings as JSON requires.
void appendAccessRecord(std::string& out, const AccessRecord& r);

} // namespace dlb::agent::proxy
