#pragma once
// Active health checks, run on the control thread's loop: every health_check.interval_ms each
// replica gets `GET <path>` on a fresh connection; `rise` successes in a row mark it healthy,
// `fall` failures mark it down. The verdict goes to the replica's ReplicaHealth atomics, which
// workers read on their tick. A 2xx or 3xx answer within timeout_ms is a success.

#include "agent/proxy/snapshot.hpp"

#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace dlb::agent::proxy {

// The outcome of one check, for a check asked for now (the control API).
struct CheckResult {
    std::string id;
    bool ok = false;
    int status = 0;     // the HTTP status answered; 0 when none
    std::string reason; // empty when ok
};

class HealthChecker {
public:
    using Logger = std::function<void(const std::string&)>;
    using CheckDone = std::function<void(std::vector<CheckResult>)>;
    HealthChecker(uv_loop_t* loop, Logger log);
    ~HealthChecker();
    HealthChecker(const HealthChecker&) = delete;
    HealthChecker& operator=(const HealthChecker&) = delete;

    // Starts checking the replicas of `snapshot`, replacing the previous set. Pools with
    // health_check.enabled false are checked only while a replica is pending (until its first
    // passing check), or when asked to by checkNow(); their verdicts change nothing else.
    void apply(const std::shared_ptr<const Snapshot>& snapshot);
    void stop();
    // Checks every replica of pool `pool` now (a check already under way counts) and calls
    // `done` once all have answered or timed out, in replica order: on this loop, maybe later,
    // or at once for a pool without replicas. A check cut short by apply() or stop() reports a
    // failure that says so. False (and `done` never called) when no pool has that name.
    bool checkNow(const std::string& pool, CheckDone done);

    struct Target;

private:
    friend struct Target;
    uv_loop_t* loop_;
    Logger log_;
    std::vector<Target*> targets_;
    std::vector<std::string> pools_; // names, of the snapshot last applied
};

} // namespace dlb::agent::proxy
