// dlb-agent: the headless proxy. A thin entry point over the agent's libraries.

#include "agent/control/server.hpp"
#include "agent/net/listener.hpp"
#include "agent/proxy/agent.hpp"
#include "common/config.hpp"

#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>

namespace {

void usage(FILE* out)
{
    std::fprintf(out,
                 "usage: dlb-agent --config FILE          run the proxy\n"
                 "       dlb-agent --check --config FILE  validate FILE as start would and exit (0 valid, 1 invalid)\n"
                 "       dlb-agent --version\n"
                 "signals: SIGTERM/SIGINT drain and exit 0; SIGHUP reloads FILE and reopens the access log\n");
}

} // namespace

int main(int argc, char** argv)
{
    std::string config;
    bool check = false;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--config" && i + 1 < argc) {
            config = argv[++i];
        } else if (arg.rfind("--config=", 0) == 0) {
            config = arg.substr(9);
        } else if (arg == "--check") {
            check = true;
        } else if (arg == "--version") {
            std::printf("dlb-agent %s\n", DLB_VERSION);
            return 0;
        } else if (arg == "--help" || arg == "-h") {
            usage(stdout);
            return 0;
        } else {
            std::fprintf(stderr, "dlb-agent: unknown argument '%s'\n", arg.c_str());
            usage(stderr);
            return 2;
        }
    }
    if (config.empty()) {
        std::fprintf(stderr, "dlb-agent: --config FILE is required\n");
        usage(stderr);
        return 2;
    }
    if (check) {
        // The same reading as start's, so --check refuses exactly what start would (except a
        // listener address that is taken: that depends on the moment, see startupErrors).
        const auto result = dlb::agent::proxy::loadStartableConfig(config);
        if (!result.config) {
            for (const auto& e : result.errors)
                std::fprintf(stderr, "%s: %s\n", config.c_str(), e.toString().c_str());
            return 1;
        }
        std::printf("%s: config is valid\n", config.c_str());
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    // Two descriptors per request in flight: take the whole hard limit, as nginx's
    // worker_rlimit_nofile would, instead of the 1024 soft default.
    dlb::agent::net::raiseOpenFileLimit();
    dlb::agent::proxy::Agent agent(config, &dlb::agent::control::makeServer);
    return agent.run();
}
