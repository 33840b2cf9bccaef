#pragma once
// The dlb-agent process: loads the config, opens the listeners, runs the workers and, on the
// main thread's loop, the health checks and the signals (SIGTERM/SIGINT drain and exit,
// SIGHUP reloads the config and reopens the access log).

#include "agent/discovery/discovery.hpp"
#include "agent/proxy/access_log.hpp"
#include "agent/proxy/drainer.hpp"
#include "agent/proxy/health_checker.hpp"
#include "agent/proxy/snapshot.hpp"
#include "agent/proxy/worker.hpp"
#include "agent/stats/collector.hpp"

#include <uv.h>

#include <functional>
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
common::ConfigResult loadStartableConfig(const std::string& path, std::string* text_out = nullptr);

// What the stats collector reads of a snapshot: pools, replicas, their counters and health.
stats::Topology statsTopology(const Snapshot& snapshot);

// Top-level keys whose change a reload cannot apply (they need a restart), in config order:
// "workers", "listeners", "control", "access_log". Empty when none differs.
std::vector<std::string> restartOnlyChanges(const common::Config& running, const common::Config& next);

class Agent;

// What runs beside the data plane on the main loop and steers it: the control API server
// (agent/control), which links against this library, so the agent knows it only through this
// interface. Main thread only.
class ControlPlane {
public:
    virtual ~ControlPlane() = default;
    // Opens its sockets; called once, after the listeners are bound and before the workers start.
    // False with `why` set stops the start.
    virtual bool start(std::string* why) = 0;
    // The agent is stopping: close every handle, so that the loop can end.
    virtual void stop() = 0;
};
using ControlFactory = std::function<std::unique_ptr<ControlPlane>(Agent&)>;

// A replica that a change adds: it takes no traffic until its first passing health check.
struct AddedReplica {
    std::string pool;
    std::string id;
};

class Agent {
public:
    // `control` (may be empty) builds the control plane at start when the config has a control
    // section with a socket or an address.
    explicit Agent(std::string config_path, ControlFactory control = {});
    ~Agent();
    Agent(const Agent&) = delete;
    Agent& operator=(const Agent&) = delete;

    // Runs until SIGTERM/SIGINT; returns the process exit code.
    int run();

    // For the control plane; main thread only.
    uv_loop_t* loop() { return &loop_; }
    const std::string& configPath() const { return config_path_; }
    const std::shared_ptr<const Snapshot>& snapshot() const { return snapshot_; }
    // The config the process started with (what restart-only keys, control included, run with).
    const common::Config& startedConfig() const { return started_; }
    // "host:port" of each listener as bound (a port 0 replaced by the kernel's choice).
    const std::vector<std::string>& boundListeners() const { return bound_listeners_; }
    size_t workerCount() const { return workers_.size(); }
    // Every worker's loop runs and the agent is not stopping.
    bool ready() const;
    bool stopping() const { return stopping_; }
    // The smallest snapshot generation the workers have ticked on (see Worker::tickedGeneration).
    uint64_t workersTickedGeneration() const;
    uint64_t startedAtNs() const { return started_at_ns_; }
    HealthChecker& health() { return *health_; }
    // Replicas removed while requests to them may be in flight (control API, DNS discovery).
    Drainer& drainer() { return *drainer_; }
    // The stats collector; null until start() has started the workers (before any request).
    stats::Collector* statsCollector() { return stats_.get(); }
    // Applying an already validated config, as a reload does, in two steps so that the caller
    // can write the file in between: prepareConfig() builds the next snapshot (generation + 1)
    // and changes nothing (null with `why` set when it cannot be built); commitConfig() hands it
    // to every worker and the health checker, the `added` replicas pending. Nothing else may
    // run on the main loop between the two. Replicas found by discovery are kept through both:
    // a change of the config neither drains nor re-adds them.
    std::shared_ptr<const Snapshot> prepareConfig(const common::Config& next, std::string* why) const;
    void commitConfig(std::shared_ptr<const Snapshot> next, const std::vector<AddedReplica>& added);
    // The config file's bytes as the agent last read them (start, a reload it applied) or wrote
    // them (a control API change). The API writes the file back only while it still holds
    // these: otherwise an operator's edits, not reloaded yet, would be overwritten.
    const std::string& configFileText() const { return config_file_text_; }
    void setConfigFileText(std::string text) { config_file_text_ = std::move(text); }

private:
    bool start(std::string* why);
    void reload();
    void shutdown();
    void publish(std::shared_ptr<const Snapshot> next);
    // discovered_ without the pools and entries `config` no longer has.
    DiscoveredReplicas discoveredFor(const common::Config& config) const;
    // A discovery entry's new set of replicas: those new to the pool are added pending their
    // first health check, those gone drain (publish()).
    void onDiscovered(const std::string& pool, const std::string& url, std::vector<common::ReplicaConfig> replicas);
    // The replicas of the entry's current set that leave with `answer` but stay serving: while
    // no other replica of the pool is healthy, the healthy ones leaving are kept (a whole set
    // swapped in one answer would otherwise leave the pool empty until a newcomer's first
    // check passed: 503s while replicas accept connections).
    std::vector<common::ReplicaConfig> lingering(const std::string& pool, const std::string& url,
                                                 const std::vector<common::ReplicaConfig>& answer) const;
    static void onLingerCheck(uv_timer_t* t);
    // Reads every signal waiting in signal_fd_ and acts on each (onSignal).
    static void onSignalReadable(uv_poll_t* h, int status, int events);
    void onSignal(int signum);
    static void onReadyCheck(uv_timer_t* t);

    // How often the main loop looks whether every worker runs, until it does (then systemd
    // hears READY=1, agent/systemd_notify.hpp).
    static constexpr uint64_t kReadyCheckMs = 1;
    // While replicas linger (lingering()), how often the entries' last answers are applied
    // again: a newcomer's first passing check ends the linger within this.
    static constexpr uint64_t kLingerCheckMs = 50;

    std::string config_path_;
    std::string config_file_text_;
    ControlFactory control_factory_;
    std::unique_ptr<ControlPlane> control_;
    std::vector<std::string> bound_listeners_;
    uint64_t started_at_ns_ = 0;
    uv_loop_t loop_;
    int loop_error_ = 0; // from uv_loop_init: start() reports it (out of descriptors)
    // SIGTERM, SIGINT and SIGHUP are blocked in every thread and read from this signalfd by
    // the main loop (start() says why).
    int signal_fd_ = -1;
    uv_poll_t signal_poll_;
    uv_timer_t ready_timer_; // from start() until every worker runs
    std::shared_ptr<const Snapshot> snapshot_;
    // The config the process started with: what restart-only keys are running with, whatever
    // later reloads said.
    common::Config started_;
    std::vector<std::unique_ptr<Worker>> workers_;
    std::unique_ptr<HealthChecker> health_;
    std::unique_ptr<Drainer> drainer_;
    DiscoveredReplicas discovered_;
    DiscoveredReplicas answered_; // each entry's last answer, as DNS gave it (no lingerers)
    uv_timer_t linger_timer_;     // runs while discovered_ holds lingerers
    std::unique_ptr<discovery::Discovery> discovery_;
    std::unique_ptr<stats::Collector> stats_; // merges the workers' counters once a second
    AccessLog access_log_;
    bool stopping_ = false;
};

} // namespace dlb::agent::proxy
