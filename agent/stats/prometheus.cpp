#include "agent/stats/prometheus.hpp"

#include "agent/stats/collector_state.hpp"

#include <charconv>
#include <cmath>

namespace dlb::agent::stats {

std::string escapeLabelValue(std::string_view v)
{
    std::string out;
    out.reserve(v.size());
    for (const char c : v) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '"')
            out += "\\\"";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

std::string escapeHelp(std::string_view v)
{
    std::string out;
    for (const char c : v) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

std::string secondsFromUs(uint64_t us)
{
    std::string out = std::to_string(us / 1'000'000);
    uint64_t frac = us % 1'000'000;
    if (frac == 0)
        return out;
    std::string digits = std::to_string(frac);
    digits.insert(0, 6 - digits.size(), '0');
    while (digits.back() == '0')
        digits.pop_back();
    return out + "." + digits;
}

namespace {

// Writes families and their samples. A family is announced (HELP, TYPE) once, before its first
// sample; a family without samples is not written at all.
class Writer {
public:
    explicit Writer(std::string& out) : out_(out) {}

    void family(std::string_view name, std::string_view type, std::string_view help)
    {
        name_ = name;
        type_ = type;
        help_ = help;
        announced_ = false;
    }

    // labels: pre-rendered `a="x",b="y"` (escaped), or empty.
    void sample(std::string_view suffix, const std::string& labels, uint64_t v)
    {
        head(suffix, labels);
        out_ += std::to_string(v);
        out_ += '\n';
    }
    void sample(std::string_view suffix, const std::string& labels, double v)
    {
        head(suffix, labels);
        if (std::isnan(v)) {
            out_ += "NaN";
        } else if (std::isinf(v)) {
            out_ += v > 0 ? "+Inf" : "-Inf";
        } else {
            char buf[32];
            const auto r = std::to_chars(buf, buf + sizeof buf, v);
            out_.append(buf, r.ptr);
        }
        out_ += '\n';
    }

    void histogram(const std::string& labels, const HistogramData& h)
    {
        const std::string sep = labels.empty() ? "" : ",";
        for (unsigned k = kPromFirstBucketLog2; k <= kPromLastBucketLog2; ++k) {
            const uint64_t bound = uint64_t{1} << k;
            sample("_bucket", labels + sep + "le=\"" + secondsFromUs(bound) + "\"", h.countBelowUs(bound));
        }
        const uint64_t n = h.count();
        sample("_bucket", labels + sep + "le=\"+Inf\"", n);
        sample("_sum", labels, static_cast<double>(h.sumUs()) / 1e6);
        sample("_count", labels, n);
    }

private:
    void head(std::string_view suffix, const std::string& labels)
    {
        if (!announced_) {
            out_ += "# HELP ";
            out_ += name_;
            out_ += ' ';
            out_ += escapeHelp(help_);
            out_ += "\n# TYPE ";
            out_ += name_;
            out_ += ' ';
            out_ += type_;
            out_ += '\n';
            announced_ = true;
        }
        out_ += name_;
        out_ += suffix;
        if (!labels.empty()) {
            out_ += '{';
            out_ += labels;
            out_ += '}';
        }
        out_ += ' ';
    }

    std::string& out_;
    std::string_view name_, type_, help_;
    bool announced_ = false;
};

std::string label(std::string_view name, std::string_view value)
{
    return std::string(name) + "=\"" + escapeLabelValue(value) + "\"";
}

} // namespace

void renderPrometheus(const Collector::State& s, std::string& out)
{
    Writer w(out);
    const std::string none;

    w.family("dlb_requests_total", "counter", "Requests received from clients (request heads parsed).");
    w.sample("", none, s.cum.requests);
    w.family("dlb_responses_total", "counter", "Responses sent to clients, by status class.");
    static constexpr const char* kClasses[] = {"2xx", "3xx", "4xx", "5xx"};
    for (std::size_t c = 0; c < 4; ++c)
        w.sample("", label("class", kClasses[c]), s.cum.responses[c]);
    w.family("dlb_local_responses_total", "counter",
             "Answers the agent made itself instead of a replica (400, 404, 408, 413, 431, 502, 503, 504), by status.");
    for (std::size_t i = 0; i < kLocalStatuses; ++i)
        if (s.cum.local_answers[i] != 0)
            w.sample("", label("status", std::to_string(kLocalStatusMin + static_cast<int>(i))), s.cum.local_answers[i]);
    w.family("dlb_upstream_errors_total", "counter", "Requests to replicas that got no usable answer, by kind.");
    for (std::size_t k = 0; k < kErrorKinds; ++k)
        w.sample("", label("kind", kErrorKindNames[k]), s.cum.errors[k]);
    w.family("dlb_retries_total", "counter", "Requests sent again to another replica after a failure.");
    w.sample("", none, s.cum.retries);
    w.family("dlb_connections_accepted_total", "counter", "Client connections accepted.");
    w.sample("", none, s.cum.connections_accepted);
    w.family("dlb_connections_open", "gauge", "Client connections open.");
    w.sample("", none, s.cum.connections_open);
    w.family("dlb_requests_in_flight", "gauge", "Client requests received and not yet finished.");
    w.sample("", none, s.cum.requests >= s.cum.requests_finished ? s.cum.requests - s.cum.requests_finished : 0);
    w.family("dlb_probes_sent_total", "counter", "Prequal probes sent to replicas.");
    w.sample("", none, s.cum.probes_sent);
    w.family("dlb_probes_failed_total", "counter", "Prequal probes that failed (timeout, refused, reset, 5xx, malformed).");
    w.sample("", none, s.cum.probes_failed);
    w.family("dlb_request_duration_seconds", "histogram",
             "Time from a request's first byte to the end of its answer, as the client sees it.");
    w.histogram(none, s.cum.latency);

    // Per pool.
    w.family("dlb_pool_no_replica_total", "counter", "Requests answered 503 because the pool had no usable replica.");
    for (const PoolNow& p : s.pools)
        w.sample("", label("pool", p.view.name), p.no_replica);
    w.family("dlb_pool_probe_pool_size", "gauge", "Probe answers held in the Prequal probe pools, summed over workers.");
    for (const PoolNow& p : s.pools)
        if (p.view.prequal)
            w.sample("", label("pool", p.view.name), p.probe_pool_size);
    w.family("dlb_pool_hot_threshold", "gauge",
             "Prequal's hot threshold: RIF above which a probe answer is hot (mean over workers).");
    for (const PoolNow& p : s.pools)
        if (p.view.prequal && p.hot_threshold >= 0)
            w.sample("", label("pool", p.view.name), p.hot_threshold);

    // Per replica: each family's samples for every replica of every pool.
    const auto each = [&s](auto&& fn) {
        for (const PoolNow& p : s.pools)
            for (const ReplicaNow& r : p.replicas)
                fn(p, r, label("pool", p.view.name) + "," + label("replica", r.view.id));
    };
    w.family("dlb_replica_requests_total", "counter", "Requests sent to the replica (a retry counts at its own replica).");
    each([&](const PoolNow&, const ReplicaNow& r, const std::string& l) { w.sample("", l, r.cum.requests); });
    w.family("dlb_replica_responses_total", "counter", "Answers received from the replica, any status.");
    each([&](const PoolNow&, const ReplicaNow& r, const std::string& l) { w.sample("", l, r.cum.responses); });
    w.family("dlb_replica_errors_total", "counter", "Requests to the replica that got no usable answer, by kind.");
    each([&](const PoolNow&, const ReplicaNow& r, const std::string& l) {
        for (std::size_t k = 0; k < kErrorKinds; ++k)
            w.sample("", l + "," + label("kind", kErrorKindNames[k]), r.cum.errors[k]);
    });
    w.family("dlb_replica_in_flight", "gauge", "Requests sent to the replica and not yet finished.");
    each([&](const PoolNow&, const ReplicaNow& r, const std::string& l) { w.sample("", l, r.in_flight); });
    w.family("dlb_replica_reported_rif", "gauge", "The last requests-in-flight count the replica reported (probe or load report).");
    each([&](const PoolNow&, const ReplicaNow& r, const std::string& l) {
        if (r.rif >= 0)
            w.sample("", l, r.rif);
    });
    w.family("dlb_replica_weight", "gauge", "The replica's configured weight.");
    each([&](const PoolNow&, const ReplicaNow& r, const std::string& l) { w.sample("", l, uint64_t{r.view.weight}); });
    w.family("dlb_replica_state", "gauge", "1 for the replica's current state (healthy, unhealthy, ...).");
    each([&](const PoolNow&, const ReplicaNow& r, const std::string& l) { w.sample("", l + "," + label("state", r.state), uint64_t{1}); });
    w.family("dlb_replica_hot", "gauge",
             "Prequal standing: 1 hot, 0 cold, by most workers' probe pools; absent while no pool holds an answer from it.");
    each([&](const PoolNow& p, const ReplicaNow& r, const std::string& l) {
        if (p.view.prequal && r.hot + r.cold > 0)
            w.sample("", l, uint64_t{r.hot > r.cold ? 1U : 0U});
    });
    w.family("dlb_replica_probes_sent_total", "counter", "Prequal probes sent to the replica.");
    each([&](const PoolNow& p, const ReplicaNow& r, const std::string& l) {
        if (p.view.prequal)
            w.sample("", l, r.cum.probes_sent);
    });
    w.family("dlb_replica_probes_failed_total", "counter", "Prequal probes to the replica that failed.");
    each([&](const PoolNow& p, const ReplicaNow& r, const std::string& l) {
        if (p.view.prequal)
            w.sample("", l, r.cum.probes_failed);
    });
    w.family("dlb_replica_latency_seconds", "histogram", "Time from sending a request to the replica to the end of its answer.");
    each([&](const PoolNow&, const ReplicaNow& r, const std::string& l) { w.histogram(l, r.cum.latency); });
}

} // namespace dlb::agent::stats
