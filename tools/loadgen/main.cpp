// dlb-loadgen: an HTTP load generator, open loop (fixed rate, coordinated omission avoided) or
// closed loop (N requests, C concurrent). See docs/tools.md.

#include "agent/net/listener.hpp"
#include "tools/loadgen/options.hpp"
#include "tools/loadgen/results.hpp"
#include "tools/loadgen/runner.hpp"
#include "tools/common/cli_support.hpp"

#include <uv.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>

namespace {
constexpr int kExitUsage = 2;
constexpr int kExitFailed = 1;
} // namespace

int main(int argc, char** argv)
{
    using namespace dlb::tools::loadgen;
    const ParsedArgs args = parseArgs(argc, argv);
    if (const auto code = dlb::tools::finishArgs(args, "dlb-loadgen", usage()))
        return *code;
    const Options& o = args.options;
    std::string why;
    const auto addr = dlb::agent::net::resolve(dlb::common::Endpoint{o.target.host, o.target.port}, &why);
    if (!addr) {
        std::fprintf(stderr, "dlb-loadgen: --url: %s\n", why.c_str());
        return kExitUsage;
    }
    // Opened now so that a bad path fails before the run, not after it.
    std::ofstream json;
    if (!o.json_path.empty()) {
        json.open(o.json_path, std::ios::out | std::ios::trunc);
        if (!json) {
            std::fprintf(stderr, "dlb-loadgen: --json: cannot write %s: %s\n", o.json_path.c_str(), std::strerror(errno));
            return kExitUsage;
        }
    }
    std::signal(SIGPIPE, SIG_IGN);
    dlb::agent::net::raiseOpenFileLimit();

    uv_loop_t loop;
    uv_loop_init(&loop);
    int rc = 0;
    {
        Runner runner(&loop, o, *addr);
        if (runner.start(&why)) {
            runner.run();
            std::fputs(humanReport(o, runner.results()).c_str(), stdout);
            if (json.is_open()) {
                json << jsonReport(o, runner.results());
                json.close();
                if (!json) {
                    std::fprintf(stderr, "dlb-loadgen: --json: writing %s failed\n", o.json_path.c_str());
                    rc = kExitFailed;
                }
            }
        } else {
            std::fprintf(stderr, "dlb-loadgen: %s\n", why.c_str());
            rc = kExitFailed;
        }
    }
    uv_run(&loop, UV_RUN_DEFAULT); // close callbacks of a failed start
    uv_loop_close(&loop);
    return rc;
}
