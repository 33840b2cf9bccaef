#pragma once
// Replicas that left a pool (DELETE or .../drain through the control API, or gone from a DNS
// answer) while requests to them may still be in flight. They take no new request from the
// moment the snapshot without them is published; the drainer watches their counters and forgets
// each once every worker runs on that snapshot and its last request has ended. Until then
// GET /v1/pools lists it as "draining". Threading: the agent's main loop only.

#include "agent/proxy/snapshot.hpp"

#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace dlb::agent::proxy {

// How often draining replicas are looked at for their last request to end.
inline constexpr uint64_t kDrainPollMs = 100;

struct Draining {
    std::string pool;
    std::string id;
    std::string url;
    unsigned weight = 1;
    std::string source; // as ReplicaSpec::source
    std::shared_ptr<ReplicaHealth> health;
    std::shared_ptr<stats::ReplicaStats> stats; // its in_flight says when it has drained
    uint64_t generation = 0; // the first snapshot without it
};

class Drainer {
public:
    using Logger = std::function<void(const std::string&)>;
    // `ticked`: the smallest snapshot generation every worker has ticked on.
    Drainer(uv_loop_t* loop, std::function<uint64_t()> ticked, Logger log);
    ~Drainer();
    Drainer(const Drainer&) = delete;
    Drainer& operator=(const Drainer&) = delete;

    // `r` of `pool` left the pool in snapshot `generation`. `prefix` ("control: ") begins the
    // line logged when it has drained.
    void watch(const std::string& pool, const ReplicaSpec& r, uint64_t generation, std::string prefix);
    // The replica is back (a DNS answer names it again): no longer draining.
    void forget(const std::string& pool, const std::string& id);
    bool draining(const std::string& pool, const std::string& id) const;
    const std::vector<Draining>& list() const { return draining_; }
    void stop();

private:
    static void onPoll(uv_timer_t* t);

    std::function<uint64_t()> ticked_;
    Logger log_;
    std::vector<Draining> draining_;
    std::vector<std::string> prefix_; // beside draining_
    uv_timer_t timer_{};
    bool stopped_ = false;
};

} // namespace dlb::agent::proxy
