#pragma once
// Command-line plumbing shared by dlb-replica and dlb-loadgen: one way to read flags, numbers
// and host:port, so both tools accept and reject arguments alike.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dlb::tools {

// Walks argv accepting both `--flag value` and `--flag=value`.
class ArgCursor {
public:
    ArgCursor(int argc, char** argv) : argc_(argc), argv_(argv) {}
    // Moves to the next argument; false at the end.
    bool next();
    // The current argument up to any '=' ("--rate").
    std::string_view flag() const { return flag_; }
    // The value: after '=', else the following argument (consumed). nullopt when there is none.
    std::optional<std::string_view> value();

private:
    int argc_;
    char** argv_;
    int index_ = 0;
    std::string_view flag_;
    std::optional<std::string_view> inline_value_;
};

struct HostPort {
    std::string host; // without brackets for IPv6
    uint16_t port = 0;
};

// "127.0.0.1:9001", "[::1]:9001", "localhost:80"; port 0 is accepted (bind any).
std::optional<HostPort> parseHostPort(std::string_view text, std::string* why);

// Whole-string numbers: "12x", "", "nan" and out-of-range values are rejected.
std::optional<double> parseDouble(std::string_view text);
std::optional<uint64_t> parseUnsigned(std::string_view text);

// Raises the soft open-files limit to the hard one: both tools hold thousands of sockets.
void raiseFileLimit();

} // namespace dlb::tools
