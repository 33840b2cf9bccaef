#pragma once
// Smooth weighted round robin, exactly as nginx's ngx_http_upstream_get_peer: every eligible
// replica's current weight grows by its effective weight, the largest wins and gives back the
// total. Weights 5,1,1 give a a b a c a a: interleaved, not a burst of five a's.

#include "balancer.hpp"

#include <vector>

namespace dlb::agent::balance {

class WeightedRoundRobin final : public Balancer {
public:
    WeightedRoundRobin(std::span<const ReplicaState> replicas, uint64_t seed);

    int pick(const PickContext& ctx) override;
    // A failed request lowers the replica's effective weight, which then regrows by one per
    // pick (nginx with max_fails=1), so a replica that starts failing sheds traffic before the
    // health checker marks it down.
    void onComplete(int replica, bool ok, double latency_ms, uint64_t now_ns) override;

private:
    // Sized once in the constructor; pick() only updates them in place.
    std::vector<int64_t> current_;   // nginx's current_weight
    std::vector<int64_t> effective_; // nginx's effective_weight, in [0, weight]
};

} // namespace dlb::agent::balance
