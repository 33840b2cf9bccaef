#pragma once
// The dlb-agent process: loads the config, opens the listeners, runs the workers and, on the
// main thread's loop, the health checks and the signals (SIGTERM/SIGINT drain and exit,
// SIGHUP reloads the config and reopens the access log).

#include "agent/proxy/access_log.hpp"
#include "agent/proxy/health_checker.hpp"
#include "agent/proxy/snapshot.hpp"
#include "agent/proxy/worker.hpp"
#include "agent/stats/collector.hpp"

#include <uv.h>

#include <memory>
#include <string>
#include <vector>

namespace dlb::agent::proxy {

// What the agent refuses at start beyond the config rules that loadConfigFile applies: what this
// build cannot do (TLS listeners, until TLS lands), an access log whose file cannot be written
// or whose folder does not exist, listener and replica hosts that do not resolve. Errors name
// the JSON path as the config rules do. Whether a listener address can be bound is not checked:
// it depends on the moment (the running agent that --check is often run beside holds it), so
// only start reports that.
std::vector<common::ConfigError> startupErrors(const common::Config& config);

// loadConfigFile plus startupErrors: the one path by which `dlb-agent --check`, start and
// SIGHUP read a config file, so --check refuses exactly what start would.
common::ConfigResult loadStartableConfig(const std::string& path);

// What the stats collector reads of a snapshot: pools, replicas, their counters and health.
stats::Topology statsTopology(const Snapshot& snapshot);

// Top-level keys whose change a reload cannot apply (they need a restart), in config order:
// "workers", "listeners", "control", "access_log". Empty when none differs.
std::vector<std::string> restartOnlyChanges(const common::Config& running, const common::Config& next);

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
    // The config the process started with: what restart-only keys are running with, whatever
    // later reloads said.
    common::Config started_;
    std::vector<std::unique_ptr<Worker>> workers_;
    std::unique_ptr<HealthChecker> health_;
    std::unique_ptr<stats::Collector> stats_; // merges the workers' counters once a second
    AccessLog access_log_;
    bool stopping_ = false;
};

} // namespace dlb::agent::proxy
