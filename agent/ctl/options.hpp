#pragma once
// dlbctl's command line: global options (where the agent is, how to authenticate, output),
// the command and its arguments. Options may come before or after the command; `--` ends them.

#include "agent/ctl/connection.hpp"

#include <optional>
#include <string>
#include <vector>

namespace dlb::ctl {

// The packaged agent's control socket (DESIGN.md's example config, systemd's
// RuntimeDirectory=dlb); DLB_SOCKET overrides it, --socket overrides both.
inline constexpr const char* kDefaultSocket = "/run/dlb/control.sock";
inline constexpr unsigned kDefaultTimeoutMs = 5000;
inline constexpr unsigned kMaxTimeoutMs = 3600 * 1000;
// A bearer token is a line of at most a few hundred bytes; a bigger file is the wrong file.
inline constexpr size_t kMaxTokenFileBytes = 4096;

struct Options {
    std::optional<std::string> socket;
    std::optional<std::string> url;
    std::optional<std::string> token_file;
    std::optional<std::string> cacert;
    std::string if_match;
    unsigned timeout_ms = kDefaultTimeoutMs;
    bool json = false;
    bool help = false;
    bool version = false;
    // Command options: --weight N and --id ID (add), --watch (stats).
    std::optional<std::string> weight;
    std::optional<std::string> id;
    bool watch = false;

    std::string command;
    std::vector<std::string> args;
};

// Throws CtlError(kExitUsage) saying what is wrong.
Options parseOptions(int argc, char** argv);

// The target from --socket/--url/--cacert/--timeout-ms and DLB_SOCKET. Throws on a bad URL.
Target resolveTarget(const Options& options);

// The token from --token-file or DLB_TOKEN_FILE (one trailing newline stripped); empty when
// neither is given. Throws CtlError(kExitUsage) for an unreadable, empty or malformed file.
std::string loadToken(const Options& options);
std::string readTokenFile(const std::string& path);

} // namespace dlb::ctl
