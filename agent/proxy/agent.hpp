#pragma once
// The dlb-agent process: loads the config, opens the listeners, runs the workers and, on the
// main thread's loop, the health checks and the signals (SIGTERM/SIGINT drain and exit,
// SIGHUP reloads the config and reopens the access log).

#include "agent/proxy/access_log.hpp"
#include "agent/proxy/health_checker.hpp"
#include "agent/proxy/snapshot.hpp"
#include "agent/proxy/worker.hpp"

#include <uv.h>

#include <memory>
#include <string>
#include <vector>

namespace dlb::agent::proxy {

class Agent {
public:
    explicit Agent(std::string config_path);
    ~Agent();
    Agent(const Agent&) = delete;
    Agent& operator=(const Agent&) = delete;

    // Runs until SIGTERM/SIGINT; returns the process exit code.
    int run();

private:
    bool start(std::string* why);
    void reload();
    void shutdown();
    static void onSignal(uv_signal_t* h, int signum);

    std::string config_path_;
    uv_loop_t loop_;
    uv_signal_t sigterm_, sigint_, sighup_;
    std::shared_ptr<const Snapshot> snapshot_;
    std::vector<std::unique_ptr<Worker>> workers_;
    std::unique_ptr<HealthChecker> health_;
    AccessLog access_log_;
    bool stopping_ = false;
};

} // namespace dlb::agent::proxy
