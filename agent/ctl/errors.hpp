#pragma once
// dlbctl's exit codes, which scripts rely on (docs/dlbctl.md, `dlbctl --help`), and the one
// error type that carries a message and the code to exit with.

#include <stdexcept>
#include <string>

namespace dlb::ctl {

enum ExitCode : int {
    kExitOk = 0,
    kExitRefused = 1,     // the agent refused the request (4xx other than 401/403)
    kExitUsage = 2,       // bad command line, unreadable token file, unknown algorithm in `params`
    kExitUnreachable = 3, // cannot connect, TLS failed, no answer in time
    kExitAuth = 4,        // 401 or 403
    kExitAgentError = 5,  // 5xx, or an answer that is not HTTP or not the JSON the API promises
};

class CtlError : public std::runtime_error {
public:
    CtlError(int exit_code, const std::string& message) : std::runtime_error(message), exit_code_(exit_code) {}
    int exitCode() const { return exit_code_; }

private:
    int exit_code_;
};

} // namespace dlb::ctl
