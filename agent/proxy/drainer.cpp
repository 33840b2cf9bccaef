#include "agent/proxy/drainer.hpp"

#include "agent/stats/counters.hpp"

#include <algorithm>

namespace dlb::agent::proxy {

Drainer::Drainer(uv_loop_t* loop, std::function<uint64_t()> ticked, Logger log)
    : ticked_(std::move(ticked)), log_(std::move(log))
{
    uv_timer_init(loop, &timer_);
    timer_.data = this;
}

Drainer::~Drainer() = default;

void Drainer::stop()
{
    if (stopped_)
        return;
    stopped_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
}

void Drainer::watch(const std::string& pool, const ReplicaSpec& r, uint64_t generation, std::string prefix)
{
    forget(pool, r.id);
    draining_.push_back(Draining{pool, r.id, r.url, r.weight, r.source, r.health, r.stats, generation});
    prefix_.push_back(std::move(prefix));
    if (!stopped_ && !uv_is_active(reinterpret_cast<uv_handle_t*>(&timer_)))
        uv_timer_start(&timer_, &Drainer::onPoll, kDrainPollMs, kDrainPollMs);
}

void Drainer::forget(const std::string& pool, const std::string& id)
{
    for (size_t i = draining_.size(); i-- > 0;)
        if (draining_[i].pool == pool && draining_[i].id == id) {
            draining_.erase(draining_.begin() + static_cast<std::ptrdiff_t>(i));
            prefix_.erase(prefix_.begin() + static_cast<std::ptrdiff_t>(i));
        }
}

bool Drainer::draining(const std::string& pool, const std::string& id) const
{
    return std::any_of(draining_.begin(), draining_.end(),
                       [&](const Draining& d) { return d.pool == pool && d.id == id; });
}

void Drainer::onPoll(uv_timer_t* t)
{
    auto* self = static_cast<Drainer*>(t->data);
    // Once every worker has ticked on generation G or later, new requests take G's runtimes and
    // none reaches a replica G removed; its counters (written as requests start and end) then
    // say when the last one ended.
    const uint64_t ticked = self->ticked_();
    for (size_t i = self->draining_.size(); i-- > 0;) {
        const Draining& d = self->draining_[i];
        if (ticked < d.generation || stats::summarize(*d.stats).in_flight > 0)
            continue;
        self->log_(self->prefix_[i] + "pool " + d.pool + ": replica " + d.id +
                   " drained (its last request ended) and removed");
        self->draining_.erase(self->draining_.begin() + static_cast<std::ptrdiff_t>(i));
        self->prefix_.erase(self->prefix_.begin() + static_cast<std::ptrdiff_t>(i));
    }
    if (self->draining_.empty())
        uv_timer_stop(t);
}

} // namespace dlb::agent::proxy
