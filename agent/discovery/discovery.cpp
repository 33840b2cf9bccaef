#include "agent/discovery/discovery.hpp"

#include <algorithm>

namespace dlb::agent::discovery {

namespace {

// A log line names at most this many of the addresses it is about.
constexpr std::size_t kMaxLoggedAddresses = 8;

std::string hostPort(const std::string& host, uint16_t port)
{
    const bool v6 = host.find(':') != std::string::npos;
    return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string seconds(uint64_t ms)
{
    return ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms";
}

} // namespace

common::ReplicaConfig replicaFor(const Address& a, bool https)
{
    common::ReplicaConfig r;
    r.id = hostPort(a.ip, a.port);
    r.url = (https ? "https://" : "http://") + r.id;
    r.endpoint = {a.ip, a.port};
    std::string name = a.name;
    if (name.ends_with('.'))
        name.pop_back();
    r.host_header = hostPort(name.empty() ? a.ip : name, a.port);
    r.weight = std::clamp(a.weight, common::kMinReplicaWeight, common::kMaxReplicaWeight);
    r.https = https;
    return r;
}

// One discovery entry of one pool: a resolver, a timer for the next lookup, and what the last
// good answer gave. Frees itself once stopped and its timer has closed.
struct Discovery::Entry {
    Discovery& owner;
    std::string pool;
    common::DiscoveryConfig cfg;
    std::vector<common::Endpoint> servers; // the entry's resolvers, else the top-level ones
    ResolverPtr resolver{nullptr, nullptr};
    uv_timer_t timer{};
    bool busy = false;                  // a lookup is under way
    bool reported = false;              // a good set was reported once
    std::vector<common::ReplicaConfig> last; // the set last reported
    std::string failure;                // the failure last logged; empty while answers are good
    std::size_t cut_from = 0;           // the answer size last logged as cut; 0: not cut
    std::size_t targets_cut_from = 0;   // the SRV target count last logged as cut; 0: not cut
    std::set<std::string> unusable;     // the unusable addresses last logged

    Entry(Discovery& o, std::string p, common::DiscoveryConfig c, std::vector<common::Endpoint> s)
        : owner(o), pool(std::move(p)), cfg(std::move(c)), servers(std::move(s))
    {
        uv_timer_init(owner.loop_, &timer);
        timer.data = this;
        uv_timer_start(&timer, &Entry::onTimer, 0, 0);
    }

    std::string label() const { return "discovery: pool " + pool + ": " + cfg.url; }

    void stop()
    {
        resolver.reset(); // cancels a lookup under way: its callback never comes
        uv_close(reinterpret_cast<uv_handle_t*>(&timer), [](uv_handle_t* h) { delete static_cast<Entry*>(h->data); });
    }

    void schedule(uint64_t ms) { uv_timer_start(&timer, &Entry::onTimer, ms, 0); }

    uint64_t retryMs() const
    {
        return std::max<uint64_t>(common::kMinDiscoveryIntervalMs, std::min<uint64_t>(cfg.interval_ms, kRetryMs));
    }

    static void onTimer(uv_timer_t* t)
    {
        auto* self = static_cast<Entry*>(t->data);
        if (self->busy)
            return;
        if (!self->resolver) {
            std::string why;
            self->resolver = Resolver::create(self->owner.loop_, self->servers, &why);
            if (!self->resolver) {
                self->fail(why);
                return;
            }
        }
        self->busy = true;
        self->resolver->lookup(self->cfg, [self](Answer a) { self->onAnswer(std::move(a)); });
    }

    void fail(const std::string& why)
    {
        if (why != failure) {
            failure = why;
            owner.log_(label() + ": lookup failed (" + why + "); " +
                       (reported ? "keeping the last " + std::to_string(last.size()) + " replica(s)"
                                 : std::string("no replica found yet")) +
                       "; asking again every " + seconds(retryMs()) + " until it answers");
        }
        schedule(retryMs());
    }

    void onAnswer(Answer a)
    {
        busy = false;
        if (a.srv_targets > kMaxAddressesPerAnswer) {
            if (targets_cut_from != a.srv_targets)
                owner.log_(label() + ": the SRV answer names " + std::to_string(a.srv_targets) +
                           " targets; only the first " + std::to_string(kMaxAddressesPerAnswer) +
                           " by name are looked up");
            targets_cut_from = a.srv_targets;
        } else {
            targets_cut_from = 0;
        }
        if (a.unusable != unusable && !a.unusable.empty()) {
            std::string list;
            std::size_t listed = 0;
            for (const auto& u : a.unusable)
                if (listed++ < kMaxLoggedAddresses)
                    list += (list.empty() ? "" : ", ") + u;
            if (listed > kMaxLoggedAddresses)
                list += " and " + std::to_string(listed - kMaxLoggedAddresses) + " more";
            owner.log_(label() + ": the answer's addresses " + list + " cannot be replicas; left out");
        }
        unusable = std::move(a.unusable);
        if (!a.ok) {
            fail(a.error);
            return;
        }
        if (a.addresses.empty()) {
            fail(cfg.srv ? "no SRV record with a target" : "the name has no A or AAAA record");
            return;
        }
        const std::size_t total = std::max(a.total, a.addresses.size());
        if (total > kMaxAddressesPerAnswer) {
            if (cut_from != total)
                owner.log_(label() + ": the answer has " + std::to_string(total) + " addresses; only the first " +
                           std::to_string(kMaxAddressesPerAnswer) + " in address order are used");
            if (a.addresses.size() > kMaxAddressesPerAnswer)
                a.addresses.resize(kMaxAddressesPerAnswer);
            cut_from = total;
        } else {
            cut_from = 0;
        }
        if (!failure.empty())
            owner.log_(label() + ": answers again (" + std::to_string(total) + " address(es))");
        failure.clear();
        std::vector<common::ReplicaConfig> replicas;
        for (const Address& address : a.addresses) {
            auto r = replicaFor(address, cfg.https);
            // One address may come from two SRV targets: the first (lowest name) counts.
            if (std::none_of(replicas.begin(), replicas.end(), [&](const auto& x) { return x.id == r.id; }))
                replicas.push_back(std::move(r));
        }
        uint64_t next = cfg.interval_ms;
        if (a.ttl_s != UINT32_MAX)
            next = std::min<uint64_t>(next, uint64_t{a.ttl_s} * 1000);
        next = std::max<uint64_t>(next, common::kMinDiscoveryIntervalMs);
        schedule(next);
        if (reported && replicas == last)
            return;
        reported = true;
        last = replicas;
        owner.update_(pool, cfg.url, std::move(replicas));
    }
};

Discovery::Discovery(uv_loop_t* loop, Logger log, Update update)
    : loop_(loop), log_(std::move(log)), update_(std::move(update))
{
}

Discovery::~Discovery()
{
    stop();
}

void Discovery::apply(const common::Config& config)
{
    std::vector<Entry*> keep;
    for (const auto& pool : config.pools)
        for (const auto& d : pool.discovery) {
            const auto& servers = d.resolvers.empty() ? config.resolvers : d.resolvers;
            auto it = std::find_if(entries_.begin(), entries_.end(), [&](const Entry* e) {
                return e && e->pool == pool.name && e->cfg == d && e->servers == servers;
            });
            if (it != entries_.end()) {
                keep.push_back(*it);
                *it = nullptr;
            } else {
                keep.push_back(new Entry(*this, pool.name, d, servers));
            }
        }
    for (Entry* e : entries_)
        if (e)
            e->stop();
    entries_ = std::move(keep);
}

void Discovery::stop()
{
    for (Entry* e : entries_)
        e->stop();
    entries_.clear();
}

} // namespace dlb::agent::discovery
