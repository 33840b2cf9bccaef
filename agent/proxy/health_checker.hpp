#pragma once
// Active health checks, run on the control thread's loop: every health_check.interval_ms each
// replica gets `GET <path>` on a fresh connection; `rise` successes in a row mark it healthy,
// `fall` failures mark it down. The verdict goes to the replica's ReplicaHealth atomics, which
// workers read on their tick. A 2xx or 3xx answer within timeout_ms is a success.

#include "agent/proxy/snapshot.hpp"

#include <uv.h>

#include <functional>
#include <memory>
#include <vector>

namespace dlb::agent::proxy {

class HealthChecker {
public:
    using Logger = std::function<void(const std::string&)>;
    HealthChecker(uv_loop_t* loop, Logger log);
    ~HealthChecker();
    HealthChecker(const HealthChecker&) = delete;
    HealthChecker& operator=(const HealthChecker&) = delete;

    // Starts checking the replicas of `snapshot`, replacing the previous set.
    void apply(const std::shared_ptr<const Snapshot>& snapshot);
    void stop();

    struct Target;

private:
    friend struct Target;
    uv_loop_t* loop_;
    Logger log_;
    std::vector<Target*> targets_;
};

} // namespace dlb::agent::proxy
