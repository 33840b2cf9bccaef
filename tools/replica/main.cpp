// dlb-replica: a demo and benchmark backend with real queueing behaviour and a probe endpoint.
// See docs/tools.md.

#include "tools/common/cli_support.hpp"
#include "agent/net/listener.hpp"
#include "tools/replica/options.hpp"
#include "tools/replica/server.hpp"

#include <uv.h>

#include <csignal>
#include <cstdio>

namespace {
constexpr int kExitUsage = 2;
constexpr int kExitStartFailed = 1;
} // namespace

int main(int argc, char** argv)
{
    using namespace dlb::tools::replica;
    const ParsedArgs args = parseArgs(argc, argv);
    if (const auto code = dlb::tools::finishArgs(args, "dlb-replica", usage()))
        return *code;
    // A client that resets mid-answer must cost an EPIPE, not the process.
    std::signal(SIGPIPE, SIG_IGN);
    dlb::agent::net::raiseOpenFileLimit();

    uv_loop_t loop;
    uv_loop_init(&loop);
    Server server(&loop, args.options);
    std::string why;
    if (!server.start(&why)) {
        std::fprintf(stderr, "dlb-replica: %s\n", why.c_str());
        server.stop();
        server.run();
        uv_loop_close(&loop);
        return kExitStartFailed;
    }
    const Options& o = args.options;
    const std::string host = o.host.find(':') != std::string::npos ? "[" + o.host + "]" : o.host;
    std::printf("listening on %s:%d\n", host.c_str(), server.port());
    std::fflush(stdout);
    std::fprintf(stderr, "dlb-replica %s: %u workers, %s service %g ms, slow %g, fail-rate %g, max-queue %llu\n",
                 server.name().c_str(), o.workers, distributionName(o.distribution), o.service_ms, o.slow, o.fail_rate,
                 static_cast<unsigned long long>(o.max_queue));
    server.run();
    uv_loop_close(&loop);
    return 0;
}
