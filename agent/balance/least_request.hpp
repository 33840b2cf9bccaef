#pragma once
// Least request, as Envoy's LeastRequestLoadBalancer does it.
//
// Equal weights: sample choice_count replicas at random (with replacement, as Envoy does: O(1)
// and still the power of two choices) and take the one with the fewest requests in flight.
// Different weights: earliest-deadline-first over dynamic weights
// weight / (in_flight + 1)^active_request_bias, so idle replicas get traffic in proportion to
// their weight and busy ones proportionally less. A replica's weight is taken when it is
// scheduled, that is, right after it was picked; bias 0 makes it plain weighted round robin.

#include "balancer.hpp"

#include <vector>

namespace dlb::agent::balance {

class LeastRequest final : public Balancer {
public:
    LeastRequest(std::span<const ReplicaState> replicas, uint64_t seed, uint32_t choice_count,
                 double active_request_bias);

    int pick(const PickContext& ctx) override;
    void onUsableChanged(int replica) override;

    bool weighted() const { return weighted_; }

private:
    struct Entry {
        double deadline;
        uint64_t order; // insertion order: equal deadlines go first-in first-out, as in Envoy
        int replica;
    };

    static bool later(const Entry& a, const Entry& b);
    int pickUnweighted(const PickContext& ctx);
    int pickWeighted(const PickContext& ctx);
    double dynamicWeight(const ReplicaState& replica) const;
    void schedule(Entry& entry, double after);

    bool weighted_;
    uint32_t choice_count_;
    double bias_;
    // EDF state (weighted mode only). heap_ holds one entry per usable replica and never grows
    // past its reserved capacity, so pick() does not allocate.
    std::vector<Entry> heap_;
    double now_ = 0;
    uint64_t order_ = 0;
};

} // namespace dlb::agent::balance
