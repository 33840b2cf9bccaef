#include "tools/loadgen/results.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <vector>

namespace dlb::tools::loadgen {

namespace {

constexpr double kNanosPerMilli = 1e6;

struct Percentiles {
    double p50, p90, p99, p999, max, mean; // ms
};

Percentiles percentiles(const Histogram& h)
{
    return {h.percentileNs(50) / kNanosPerMilli,   h.percentileNs(90) / kNanosPerMilli,
            h.percentileNs(99) / kNanosPerMilli,   h.percentileNs(99.9) / kNanosPerMilli,
            static_cast<double>(h.maxNs()) / kNanosPerMilli, h.meanNs() / kNanosPerMilli};
}

// Rounded to the microsecond: the histogram is not more precise than that anyway.
double roundMicros(double ms)
{
    return static_cast<double>(static_cast<int64_t>(ms * 1000 + 0.5)) / 1000;
}

[[gnu::format(printf, 1, 2)]] std::string format(const char* fmt, ...)
{
    char buf[512];
    va_list args;
    va_start(args, fmt);
    std::vsnprintf(buf, sizeof buf, fmt, args);
    va_end(args);
    return buf;
}

} // namespace

void Results::addError(std::string_view kind)
{
    auto it = errors.find(kind);
    if (it == errors.end())
        errors.emplace(std::string(kind), 1);
    else
        ++it->second;
}

void Results::addReplica(std::string_view name)
{
    auto it = replicas.find(name);
    if (it == replicas.end())
        replicas.emplace(std::string(name), 1);
    else
        ++it->second;
}

uint64_t Results::errorCount() const
{
    uint64_t n = 0;
    for (const auto& [kind, count] : errors)
        n += count;
    return n;
}

std::string humanReport(const Options& o, const Results& r)
{
    std::string out;
    if (o.mode == Mode::Open)
        out += format("dlb-loadgen open loop: %s  %g req/s %s, %g s after %g s warm-up, up to %u connections\n",
                      o.url.c_str(), o.rate, o.arrivals == Arrivals::Poisson ? "poisson" : "uniform", o.duration_s,
                      o.warmup_s, o.connections);
    else
        out += format("dlb-loadgen closed loop: %s  %llu requests, %u concurrent\n", o.url.c_str(),
                      static_cast<unsigned long long>(o.requests), o.concurrency);
    if (r.interrupted)
        out += "  (interrupted: partial results)\n";
    out += format("  requests   %-10llu answered %-10llu errors %llu\n", static_cast<unsigned long long>(r.requests),
                  static_cast<unsigned long long>(r.responses), static_cast<unsigned long long>(r.errorCount()));
    out += format("  duration   %-10.3f rate     %.1f req/s   connections opened %llu\n", r.duration_s, r.rate(),
                  static_cast<unsigned long long>(r.connections_opened));
    if (o.mode == Mode::Open && r.waited_for_connection > 0)
        out += format("  waited     %llu requests found no free connection (their wait is in the latency)\n",
                      static_cast<unsigned long long>(r.waited_for_connection));
    const Percentiles p = percentiles(r.latency);
    out += "  latency ms p50        p90        p99        p99.9      max        mean\n";
    out += format("             %-10.3f %-10.3f %-10.3f %-10.3f %-10.3f %-10.3f\n", p.p50, p.p90, p.p99, p.p999, p.max,
                  p.mean);
    if (!r.errors.empty()) {
        out += "  errors    ";
        bool first = true;
        for (const auto& [kind, count] : r.errors) {
            out += format("%s %s %llu", first ? "" : ",", kind.c_str(), static_cast<unsigned long long>(count));
            first = false;
        }
        out += "\n";
    }
    std::vector<std::pair<std::string, uint64_t>> shares(r.replicas.begin(), r.replicas.end());
    if (r.without_replica > 0)
        shares.emplace_back("(no X-Replica)", r.without_replica);
    std::stable_sort(shares.begin(), shares.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    const char* label = "  replicas   ";
    for (const auto& [name, count] : shares) {
        const double pct = r.responses ? 100.0 * static_cast<double>(count) / static_cast<double>(r.responses) : 0;
        out += format("%s%-20s %10llu %6.1f%%\n", label, name.c_str(), static_cast<unsigned long long>(count), pct);
        label = "             ";
    }
    return out;
}

std::string jsonReport(const Options& o, const Results& r)
{
    using nlohmann::json;
    const Percentiles p = percentiles(r.latency);
    json j;
    j["mode"] = o.mode == Mode::Open ? "open" : "closed";
    j["url"] = o.url;
    if (o.mode == Mode::Open) {
        j["target_rate"] = o.rate;
        j["arrivals"] = o.arrivals == Arrivals::Poisson ? "poisson" : "uniform";
        j["warmup_s"] = o.warmup_s;
        j["connections"] = o.connections;
        j["waited_for_connection"] = r.waited_for_connection;
    } else {
        j["concurrency"] = o.concurrency;
    }
    j["timeout_ms"] = o.timeout_ms;
    j["requests"] = r.requests;
    j["responses"] = r.responses;
    j["duration_s"] = r.duration_s;
    j["rate"] = r.rate();
    j["latency_ms"] = {{"p50", roundMicros(p.p50)},   {"p90", roundMicros(p.p90)}, {"p99", roundMicros(p.p99)},
                       {"p999", roundMicros(p.p999)}, {"max", roundMicros(p.max)}, {"mean", roundMicros(p.mean)}};
    j["errors"] = json::object();
    for (const auto& [kind, count] : r.errors)
        j["errors"][kind] = count;
    j["replicas"] = json::object();
    for (const auto& [name, count] : r.replicas)
        j["replicas"][name] = count;
    j["without_replica_header"] = r.without_replica;
    j["connections_opened"] = r.connections_opened;
    j["interrupted"] = r.interrupted;
    return j.dump(2) + "\n";
}

} // namespace dlb::tools::loadgen
