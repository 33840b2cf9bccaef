#include "least_request.hpp"

#include <algorithm>
#include <cmath>

namespace dlb::agent::balance {

LeastRequest::LeastRequest(std::span<const ReplicaState> replicas, uint64_t seed, uint32_t choice_count,
                           double active_request_bias)
    : Balancer(replicas, seed), weighted_(false), choice_count_(std::max<uint32_t>(choice_count, 1)),
      bias_(std::max(active_request_bias, 0.0))
{
    for (const auto& replica : replicas)
        weighted_ = weighted_ || weightOf(replica) != weightOf(replicas.front());
    if (!weighted_)
        return;
    heap_.reserve(replicas.size());
    // Each replica starts at a random point of its first period, so balancers in different
    // workers do not all begin with the same replica (Envoy seeds its EDF with random picks for
    // the same reason).
    for (int i = 0; i < replicaCount(); ++i) {
        if (!replicas_[static_cast<std::size_t>(i)].usable)
            continue;
        Entry entry{0, 0, i};
        schedule(entry, rng_.uniform());
        heap_.push_back(entry);
    }
    std::make_heap(heap_.begin(), heap_.end(), later);
}

// std heap algorithms build a max-heap; "later" as the ordering puts the earliest deadline on top.
bool LeastRequest::later(const Entry& a, const Entry& b)
{
    return a.deadline != b.deadline ? a.deadline > b.deadline : a.order > b.order;
}

int LeastRequest::pick(const PickContext& ctx)
{
    return weighted_ ? pickWeighted(ctx) : pickUnweighted(ctx);
}

int LeastRequest::pickUnweighted(const PickContext& ctx)
{
    int candidate = kNoReplica;
    for (uint32_t choice = 0; choice < choice_count_; ++choice) {
        const int sampled = randomUsable(ctx);
        if (sampled == kNoReplica)
            return kNoReplica;
        // Strictly fewer: on a tie the earlier sample stays, as in Envoy.
        if (candidate == kNoReplica
            || replicas_[static_cast<std::size_t>(sampled)].in_flight
                < replicas_[static_cast<std::size_t>(candidate)].in_flight)
            candidate = sampled;
    }
    return candidate;
}

int LeastRequest::pickWeighted(const PickContext& ctx)
{
    // Pop until an eligible replica comes up. Skipped entries (the excluded replica, or one whose
    // usable flag dropped before onUsableChanged arrived) wait past the end of the shrinking heap
    // and go back with their deadlines untouched.
    std::size_t live = heap_.size();
    int chosen = kNoReplica;
    while (live > 0) {
        std::pop_heap(heap_.begin(), heap_.begin() + static_cast<std::ptrdiff_t>(live), later);
        --live;
        Entry& top = heap_[live];
        if (eligible(top.replica, ctx)) {
            chosen = top.replica;
            now_ = top.deadline;
            schedule(top, 1.0);
            break;
        }
    }
    for (std::size_t end = live + 1; end <= heap_.size(); ++end)
        std::push_heap(heap_.begin(), heap_.begin() + static_cast<std::ptrdiff_t>(end), later);
    return chosen;
}

double LeastRequest::dynamicWeight(const ReplicaState& replica) const
{
    const double weight = weightOf(replica);
    const double load = replica.in_flight + 1.0;
    // The two common biases skip pow(), as Envoy does.
    if (bias_ == 1.0)
        return weight / load;
    if (bias_ == 0.0)
        return weight;
    return weight / std::pow(load, bias_);
}

// The next deadline is `periods` of this replica's current period away from now.
void LeastRequest::schedule(Entry& entry, double periods)
{
    entry.deadline = now_ + periods / dynamicWeight(replicas_[static_cast<std::size_t>(entry.replica)]);
    entry.order = order_++;
}

void LeastRequest::onUsableChanged(int replica)
{
    if (!weighted_ || replica < 0 || replica >= replicaCount())
        return;
    std::erase_if(heap_, [replica](const Entry& entry) { return entry.replica == replica; });
    if (replicas_[static_cast<std::size_t>(replica)].usable) {
        // A returning replica joins one period from now, like a fresh host in Envoy's scheduler.
        Entry entry{0, 0, replica};
        schedule(entry, 1.0);
        heap_.push_back(entry);
    }
    std::make_heap(heap_.begin(), heap_.end(), later);
}

} // namespace dlb::agent::balance
