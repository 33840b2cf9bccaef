#include "agent/stats/collector.hpp"

#include "agent/stats/collector_state.hpp"
#include "agent/stats/sse.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace dlb::agent::stats {

namespace {

// Rates and milliseconds are rounded to this many decimals in JSON: nobody reads the 12th
// digit, and every SSE event carries them.
constexpr double kJsonRounding = 1000;

double rounded(double v) { return std::round(v * kJsonRounding) / kJsonRounding; }
double perSecond(uint64_t delta, double dt) { return dt > 0 ? static_cast<double>(delta) / dt : 0; }
uint64_t minus(uint64_t a, uint64_t b) { return a >= b ? a - b : 0; }

nlohmann::json percentilesJson(const HistogramData& h)
{
    const uint64_t n = h.count();
    if (n == 0)
        return {{"count", 0}, {"mean", nullptr}, {"p50", nullptr}, {"p90", nullptr}, {"p99", nullptr}, {"p999", nullptr}};
    return {{"count", n},
            {"mean", rounded(static_cast<double>(h.sumUs()) / static_cast<double>(n) / 1000.0)},
            {"p50", rounded(h.percentileUs(0.5) / 1000.0)},
            {"p90", rounded(h.percentileUs(0.9) / 1000.0)},
            {"p99", rounded(h.percentileUs(0.99) / 1000.0)},
            {"p999", rounded(h.percentileUs(0.999) / 1000.0)}};
}

nlohmann::json errorsJson(const std::array<uint64_t, kErrorKinds>& e)
{
    nlohmann::json j = nlohmann::json::object();
    uint64_t total = 0;
    for (std::size_t k = 0; k < kErrorKinds; ++k) {
        j[kErrorKindNames[k]] = e[k];
        total += e[k];
    }
    j["total"] = total;
    return j;
}

nlohmann::json nullIfNegative(double v) { return v < 0 ? nlohmann::json(nullptr) : nlohmann::json(rounded(v)); }

} // namespace

// ---- reading the workers' blocks ----------------------------------------------------------

void WorkerTotals::addWorker(const WorkerCounters& w)
{
    connections_accepted += w.connections_accepted.load();
    connections_open += w.connections_open.load();
    // Finished first: read after it, `requests` is never behind it (in flight never negative).
    requests_finished += w.requests_finished.load();
    requests += w.requests.load();
    responses[0] += w.responses_2xx.load();
    responses[1] += w.responses_3xx.load();
    responses[2] += w.responses_4xx.load();
    responses[3] += w.responses_5xx.load();
    retries += w.retries.load();
    probes_sent += w.probes_sent.load();
    probes_failed += w.probes_failed.load();
    for (std::size_t k = 0; k < kErrorKinds; ++k)
        errors[k] += w.upstream_errors[k].load();
    for (std::size_t s = 0; s < kLocalStatuses; ++s)
        local_answers[s] += w.local_answers[s].load();
    w.latency.addTo(latency);
}

uint64_t ReplicaTotals::errorSum() const
{
    uint64_t n = 0;
    for (const uint64_t e : errors)
        n += e;
    return n;
}

// The point of one sample kept in the history ring.
struct ReplicaPoint {
    double requests_per_s = 0, errors_per_s = 0, share = 0, rif = -1, p50 = -1, p99 = -1;
    uint64_t in_flight = 0;
    const char* standing = "none";
};
struct Collector::Point {
    uint64_t id = 0;
    double time = 0;
    double requests_per_s = 0, errors_per_s = 0;
    double p50 = -1, p90 = -1, p99 = -1, p999 = -1;
    uint64_t in_flight = 0;
    std::shared_ptr<const std::vector<PoolKeys>> keys; // names for `replicas`, pool by pool
    std::vector<ReplicaPoint> replicas;
};

namespace {
std::shared_ptr<const std::vector<PoolKeys>> keysOf(const std::vector<PoolNow>& pools)
{
    auto keys = std::make_shared<std::vector<PoolKeys>>();
    for (const auto& p : pools) {
        PoolKeys k{p.view.name, p.view.prequal, {}};
        for (const auto& r : p.replicas)
            k.replica_ids.push_back(r.view.id);
        keys->push_back(std::move(k));
    }
    return keys;
}
} // namespace

Collector::Collector(std::vector<const WorkerCounters*> workers)
    : workers_(std::move(workers)), state_(std::make_unique<State>()), ring_(kHistoryPoints)
{
    state_->workers.resize(workers_.size());
    state_->worker_prev_requests.resize(workers_.size());
}

Collector::~Collector()
{
    if (timer_) {
        // Not stopped (a test, or an agent that failed to start): the loop still frees it.
        timer_->data = nullptr;
        if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(timer_)))
            uv_close(reinterpret_cast<uv_handle_t*>(timer_), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
    }
}

void Collector::setTopology(Topology topology)
{
    if (last_id_ == 0)
        applyTopology(std::move(topology)); // nothing sampled yet: nothing to keep consistent
    else
        pending_topology_ = std::move(topology);
}

void Collector::applyTopology(Topology topology)
{
    State& s = *state_;
    std::vector<PoolNow> pools;
    for (auto& pv : topology.pools) {
        PoolNow p;
        // A pool that stays (same counters) keeps its last reading, so its rates go on.
        for (auto& old : s.pools)
            if (old.view.stats == pv.stats) {
                p.probe_pool_size = old.probe_pool_size;
                p.hot_threshold = old.hot_threshold;
                p.no_replica = old.no_replica;
                p.probes_sent = old.probes_sent;
                p.probes_failed = old.probes_failed;
            }
        for (auto& rv : pv.replicas) {
            ReplicaNow r;
            for (const auto& old : s.pools)
                for (const auto& o : old.replicas)
                    if (o.view.stats == rv.stats) {
                        r.cum = o.cum;
                        r.prev = o.prev;
                        r.interval = o.interval;
                    }
            r.view = std::move(rv);
            p.replicas.push_back(std::move(r));
        }
        pv.replicas.clear();
        p.view = std::move(pv);
        pools.push_back(std::move(p));
    }
    s.pools = std::move(pools);
    s.generation = topology.generation;
    s.keys = keysOf(s.pools);
}

void Collector::start(uv_loop_t* loop)
{
    if (timer_)
        return;
    timer_ = new uv_timer_t;
    uv_timer_init(loop, timer_);
    timer_->data = this;
    // The first sample is the baseline the next one's rates are measured from.
    uv_timer_start(timer_, &Collector::onTimer, 0, kSampleIntervalMs);
}

void Collector::stop()
{
    if (!timer_)
        return;
    uv_timer_stop(timer_);
    uv_close(reinterpret_cast<uv_handle_t*>(timer_), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
    timer_ = nullptr;
}

void Collector::onTimer(uv_timer_t* t)
{
    auto* self = static_cast<Collector*>(t->data);
    if (!self)
        return;
    uv_timeval64_t tv{};
    uv_gettimeofday(&tv);
    self->sample(uv_hrtime(), static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6);
}

void Collector::sample(uint64_t now_ns, double unix_time_s)
{
    if (pending_topology_) {
        applyTopology(std::move(*pending_topology_));
        pending_topology_.reset();
    }
    State& s = *state_;
    const double dt = last_ns_ != 0 && now_ns > last_ns_ ? static_cast<double>(now_ns - last_ns_) / 1e9 : 0;
    if (start_ns_ == 0)
        start_ns_ = now_ns;
    last_ns_ = now_ns;
    s.id = ++last_id_;
    s.time = unix_time_s;
    s.interval_s = dt;
    s.uptime_s = static_cast<double>(now_ns - start_ns_) / 1e9;

    // Workers.
    s.prev = std::move(s.cum);
    s.cum = WorkerTotals{};
    for (std::size_t i = 0; i < workers_.size(); ++i) {
        const WorkerCounters& w = *workers_[i];
        WorkerTotals one;
        one.addWorker(w);
        WorkerNow& wn = s.workers[i];
        wn.requests = one.requests;
        wn.in_flight = minus(one.requests, one.requests_finished);
        wn.connections_open = one.connections_open;
        wn.requests_per_s = perSecond(minus(one.requests, s.worker_prev_requests[i]), dt);
        s.worker_prev_requests[i] = one.requests;
        s.cum.addWorker(w);
    }
    s.interval = s.cum.latency;
    s.interval.subtract(s.prev.latency);
    s.requests_per_s = perSecond(minus(s.cum.requests, s.prev.requests), dt);
    uint64_t responses = 0, prev_responses = 0, errors = 0, prev_errors = 0;
    for (std::size_t c = 0; c < 4; ++c) {
        responses += s.cum.responses[c];
        prev_responses += s.prev.responses[c];
    }
    for (std::size_t k = 0; k < kErrorKinds; ++k) {
        errors += s.cum.errors[k];
        prev_errors += s.prev.errors[k];
    }
    s.responses_per_s = perSecond(minus(responses, prev_responses), dt);
    s.errors_per_s = perSecond(minus(s.cum.responses[3], s.prev.responses[3]), dt);
    s.upstream_errors_per_s = perSecond(minus(errors, prev_errors), dt);

    // Pools and replicas.
    for (PoolNow& p : s.pools) {
        p.probe_pool_size = p.no_replica = p.probes_sent = p.probes_failed = 0;
        double threshold_sum = 0;
        unsigned thresholds = 0;
        if (p.view.stats) {
            for (std::size_t w = 0; w < p.view.stats->workers(); ++w) {
                const PoolCounters& c = p.view.stats->slot(w);
                p.probe_pool_size += c.probe_pool_size.load();
                p.no_replica += c.no_replica.load();
                p.probes_sent += c.probes_sent.load();
                p.probes_failed += c.probes_failed.load();
                const double t = c.hot_threshold.load();
                if (std::isfinite(t) && t >= 0) {
                    threshold_sum += t;
                    ++thresholds;
                }
            }
        }
        p.hot_threshold = thresholds > 0 ? threshold_sum / thresholds : -1;
        uint64_t pool_delta = 0;
        p.requests = 0;
        for (ReplicaNow& r : p.replicas) {
            r.prev = std::move(r.cum);
            r.cum = ReplicaTotals{};
            r.hot = r.cold = 0;
            r.rif = r.rif_age_s = -1;
            uint64_t freshest_ns = 0;
            if (r.view.stats) {
                for (std::size_t w = 0; w < r.view.stats->workers(); ++w) {
                    const ReplicaCounters& c = r.view.stats->slot(w);
                    r.cum.completed += c.completed.load(); // before requests: in flight never negative
                    r.cum.requests += c.requests.load();
                    r.cum.responses += c.responses.load();
                    for (std::size_t k = 0; k < kErrorKinds; ++k)
                        r.cum.errors[k] += c.errors[k].load();
                    r.cum.probes_sent += c.probes_sent.load();
                    r.cum.probes_failed += c.probes_failed.load();
                    c.latency.addTo(r.cum.latency);
                    const uint64_t at = c.reported_rif_ns.load();
                    if (at != 0 && at >= freshest_ns) {
                        freshest_ns = at;
                        r.rif = static_cast<double>(c.reported_rif.load());
                    }
                    const auto standing = static_cast<Standing>(c.standing.load());
                    r.hot += standing == Standing::Hot;
                    r.cold += standing == Standing::Cold;
                }
            }
            if (freshest_ns != 0)
                r.rif_age_s = now_ns > freshest_ns ? static_cast<double>(now_ns - freshest_ns) / 1e9 : 0;
            r.in_flight = minus(r.cum.requests, r.cum.completed);
            r.interval = r.cum.latency;
            r.interval.subtract(r.prev.latency);
            const uint64_t delta = minus(r.cum.requests, r.prev.requests);
            pool_delta += delta;
            p.requests += r.cum.requests;
            r.requests_per_s = perSecond(delta, dt);
            r.errors_per_s = perSecond(minus(r.cum.errorSum(), r.prev.errorSum()), dt);
            r.state = r.view.state ? r.view.state() : std::string("unknown");
        }
        p.requests_per_s = perSecond(pool_delta, dt);
        for (ReplicaNow& r : p.replicas)
            r.share = pool_delta > 0 ? static_cast<double>(minus(r.cum.requests, r.prev.requests)) / static_cast<double>(pool_delta) : 0;
    }

    // The history point, in the ring slot of the oldest (its replica array's capacity is reused).
    Point& pt = ring_[ring_next_];
    ring_next_ = (ring_next_ + 1) % ring_.size();
    ring_size_ = std::min(ring_size_ + 1, ring_.size());
    pt.id = s.id;
    pt.time = s.time;
    pt.requests_per_s = s.requests_per_s;
    pt.errors_per_s = s.errors_per_s;
    const bool any = s.interval.count() > 0;
    pt.p50 = any ? s.interval.percentileUs(0.5) / 1000.0 : -1;
    pt.p90 = any ? s.interval.percentileUs(0.9) / 1000.0 : -1;
    pt.p99 = any ? s.interval.percentileUs(0.99) / 1000.0 : -1;
    pt.p999 = any ? s.interval.percentileUs(0.999) / 1000.0 : -1;
    pt.in_flight = minus(s.cum.requests, s.cum.requests_finished);
    pt.keys = s.keys;
    pt.replicas.clear();
    for (const PoolNow& p : s.pools) {
        for (const ReplicaNow& r : p.replicas) {
            ReplicaPoint rp;
            rp.requests_per_s = r.requests_per_s;
            rp.errors_per_s = r.errors_per_s;
            rp.share = r.share;
            rp.rif = r.rif;
            rp.in_flight = r.in_flight;
            const bool has = r.interval.count() > 0;
            rp.p50 = has ? r.interval.percentileUs(0.5) / 1000.0 : -1;
            rp.p99 = has ? r.interval.percentileUs(0.99) / 1000.0 : -1;
            rp.standing = r.standing();
            pt.replicas.push_back(rp);
        }
    }
    event_.reset();
    if (on_sample_)
        on_sample_();
}

// ---- answers ------------------------------------------------------------------------------

nlohmann::json Collector::statsJson() const
{
    const State& s = *state_;
    nlohmann::json local = nlohmann::json::object();
    for (std::size_t i = 0; i < kLocalStatuses; ++i)
        if (s.cum.local_answers[i] != 0)
            local[std::to_string(kLocalStatusMin + static_cast<int>(i))] = s.cum.local_answers[i];
    nlohmann::json totals = {
        {"requests", s.cum.requests},
        {"responses", {{"2xx", s.cum.responses[0]}, {"3xx", s.cum.responses[1]}, {"4xx", s.cum.responses[2]}, {"5xx", s.cum.responses[3]}}},
        {"errors", errorsJson(s.cum.errors)},
        {"local_answers", std::move(local)},
        {"retries", s.cum.retries},
        {"connections_accepted", s.cum.connections_accepted},
        {"probes_sent", s.cum.probes_sent},
        {"probes_failed", s.cum.probes_failed},
        {"latency_ms", percentilesJson(s.cum.latency)},
    };
    nlohmann::json workers = nlohmann::json::array();
    for (std::size_t i = 0; i < s.workers.size(); ++i) {
        const WorkerNow& w = s.workers[i];
        workers.push_back({{"index", i}, {"requests", w.requests}, {"requests_per_s", rounded(w.requests_per_s)},
                           {"in_flight", w.in_flight}, {"connections_open", w.connections_open}});
    }
    nlohmann::json pools = nlohmann::json::array();
    for (const PoolNow& p : s.pools) {
        nlohmann::json replicas = nlohmann::json::array();
        for (const ReplicaNow& r : p.replicas) {
            nlohmann::json rj = {
                {"id", r.view.id},
                {"url", r.view.url},
                {"state", r.state},
                {"weight", r.view.weight},
                {"in_flight", r.in_flight},
                {"rif", nullIfNegative(r.rif)},
                {"rif_age_s", nullIfNegative(r.rif_age_s)},
                {"latency_ms", percentilesJson(r.interval)},
                {"requests", r.cum.requests},
                {"responses", r.cum.responses},
                {"requests_per_s", rounded(r.requests_per_s)},
                {"errors", errorsJson(r.cum.errors)},
                {"errors_per_s", rounded(r.errors_per_s)},
                {"share", rounded(r.share)},
            };
            if (p.view.prequal)
                rj["prequal"] = {{"standing", r.standing()},
                                 {"pool_entries", r.hot + r.cold},
                                 {"probes_sent", r.cum.probes_sent},
                                 {"probes_failed", r.cum.probes_failed}};
            replicas.push_back(std::move(rj));
        }
        nlohmann::json pj = {{"name", p.view.name},
                             {"algorithm", p.view.algorithm},
                             {"requests", p.requests},
                             {"requests_per_s", rounded(p.requests_per_s)},
                             {"no_replica", p.no_replica},
                             {"replicas", std::move(replicas)}};
        if (p.view.prequal)
            pj["prequal"] = {{"pool_size", p.probe_pool_size},
                             {"pool_capacity", uint64_t{p.view.probe_pool_capacity} * s.workers.size()},
                             {"hot_threshold", nullIfNegative(p.hot_threshold)},
                             {"probes_sent", p.probes_sent},
                             {"probes_failed", p.probes_failed}};
        pools.push_back(std::move(pj));
    }
    return {
        {"id", s.id},
        {"time", s.time},
        {"interval_s", rounded(s.interval_s)},
        {"uptime_s", rounded(s.uptime_s)},
        {"generation", s.generation},
        {"totals", std::move(totals)},
        {"rates",
         {{"requests_per_s", rounded(s.requests_per_s)},
          {"responses_per_s", rounded(s.responses_per_s)},
          {"errors_per_s", rounded(s.errors_per_s)},
          {"upstream_errors_per_s", rounded(s.upstream_errors_per_s)}}},
        {"latency_ms", percentilesJson(s.interval)},
        {"in_flight", minus(s.cum.requests, s.cum.requests_finished)},
        {"connections_open", s.cum.connections_open},
        {"workers", std::move(workers)},
        {"pools", std::move(pools)},
    };
}

nlohmann::json Collector::pointJson(std::size_t ring_index) const
{
    const Point& pt = ring_[ring_index];
    nlohmann::json pools = nlohmann::json::array();
    std::size_t at = 0;
    if (pt.keys) {
        for (const PoolKeys& k : *pt.keys) {
            nlohmann::json replicas = nlohmann::json::array();
            for (const std::string& id : k.replica_ids) {
                const ReplicaPoint& rp = pt.replicas[at++];
                nlohmann::json rj = {{"id", id},
                                     {"requests_per_s", rounded(rp.requests_per_s)},
                                     {"errors_per_s", rounded(rp.errors_per_s)},
                                     {"in_flight", rp.in_flight},
                                     {"rif", nullIfNegative(rp.rif)},
                                     {"latency_ms", {{"p50", nullIfNegative(rp.p50)}, {"p99", nullIfNegative(rp.p99)}}},
                                     {"share", rounded(rp.share)}};
                if (k.prequal)
                    rj["prequal"] = {{"standing", rp.standing}};
                replicas.push_back(std::move(rj));
            }
            pools.push_back({{"name", k.name}, {"replicas", std::move(replicas)}});
        }
    }
    return {{"id", pt.id},
            {"time", pt.time},
            {"rates", {{"requests_per_s", rounded(pt.requests_per_s)}, {"errors_per_s", rounded(pt.errors_per_s)}}},
            {"latency_ms",
             {{"p50", nullIfNegative(pt.p50)}, {"p90", nullIfNegative(pt.p90)}, {"p99", nullIfNegative(pt.p99)}, {"p999", nullIfNegative(pt.p999)}}},
            {"in_flight", pt.in_flight},
            {"pools", std::move(pools)}};
}

nlohmann::json Collector::historyJson(int seconds) const
{
    const std::size_t want = static_cast<std::size_t>(std::clamp(seconds, 1, static_cast<int>(kHistoryPoints)));
    const std::size_t n = std::min(want, ring_size_);
    nlohmann::json points = nlohmann::json::array();
    for (std::size_t i = 0; i < n; ++i)
        points.push_back(pointJson((ring_next_ + ring_.size() - n + i) % ring_.size()));
    return {{"interval_ms", kSampleIntervalMs}, {"seconds", want}, {"points", std::move(points)}};
}

std::string Collector::prometheusText() const
{
    std::string out;
    renderPrometheus(*state_, out);
    return out;
}

std::shared_ptr<const std::string> Collector::latestEvent()
{
    if (last_id_ == 0)
        return nullptr;
    if (!event_ || event_id_ != last_id_) {
        event_ = std::make_shared<const std::string>(sseEvent(last_id_, statsJson()));
        event_id_ = last_id_;
    }
    return event_;
}

std::string Collector::eventsSince(uint64_t last_id, std::size_t max_bytes) const
{
    // Newest first, until the budget is spent; then written oldest first.
    std::vector<std::string> events;
    std::size_t total = 0;
    for (std::size_t i = ring_size_; i-- > 0;) {
        const std::size_t at = (ring_next_ + ring_.size() - ring_size_ + i) % ring_.size();
        if (ring_[at].id <= last_id)
            break;
        std::string event = sseEvent(ring_[at].id, pointJson(at));
        if (total + event.size() > max_bytes)
            break;
        total += event.size();
        events.push_back(std::move(event));
    }
    std::string out;
    out.reserve(total);
    for (auto it = events.rbegin(); it != events.rend(); ++it)
        out += *it;
    return out;
}

} // namespace dlb::agent::stats
