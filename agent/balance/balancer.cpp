#include "balancer.hpp"

namespace dlb::agent::balance {

namespace {
// Blind draws tried before the exact scan. In a mostly healthy pool the first draw nearly always
// lands, so the common case is O(1); a pool that is mostly down costs one O(n) scan instead.
constexpr int kRejectionDraws = 4;
} // namespace

int Balancer::randomUsable(const PickContext& ctx)
{
    const auto n = static_cast<uint32_t>(replicas_.size());
    if (n == 0)
        return kNoReplica;

    // Rejection sampling: the first eligible draw is uniform over the eligible replicas.
    for (int draw = 0; draw < kRejectionDraws; ++draw) {
        const int i = static_cast<int>(rng_.below(n));
        if (eligible(i, ctx))
            return i;
    }

    // Reservoir sampling (size one) over the span: uniform too, so the mixture of both paths
    // stays uniform, and it allocates nothing.
    int chosen = kNoReplica;
    uint32_t seen = 0;
    for (uint32_t i = 0; i < n; ++i) {
        if (!eligible(static_cast<int>(i), ctx))
            continue;
        ++seen;
        if (rng_.below(seen) == 0)
            chosen = static_cast<int>(i);
    }
    return chosen;
}

} // namespace dlb::agent::balance
