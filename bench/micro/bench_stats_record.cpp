// What recording stats costs a worker per request: one LatencyHistogram::recordNs() (the
// single-writer relaxed load+store the workers use), against the same histogram counted with
// atomic fetch_add, and everything a proxied request records (two histograms, ten counters).
//
//   bench_stats_record [records]     (default 50000000)
//
// Latencies are drawn beforehand (seeded, log-uniform 20 µs..2 s) so the timed loop measures
// the recording, not the random numbers; results in ns per record, best of five runs.

#include "agent/stats/counters.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <vector>

using namespace dlb::agent::stats;
using Clock = std::chrono::steady_clock;

namespace {

// The alternative the workers do not use: every increment a locked read-modify-write.
struct FetchAddHistogram {
    std::array<std::atomic<uint64_t>, kBucketCount> buckets{};
    std::atomic<uint64_t> sum{0};
    void recordNs(uint64_t ns)
    {
        const uint64_t us = ns / 1000;
        buckets[bucketIndex(us)].fetch_add(1, std::memory_order_relaxed);
        sum.fetch_add(us, std::memory_order_relaxed);
    }
};

template <typename Fn>
double bestNsPerOp(std::size_t ops, Fn&& fn)
{
    double best = 1e99;
    for (int run = 0; run < 5; ++run) {
        const auto t0 = Clock::now();
        fn();
        const double ns = std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
        best = std::min(best, ns / static_cast<double>(ops));
    }
    return best;
}

} // namespace

int main(int argc, char** argv)
{
    const std::size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 50'000'000;
    std::vector<uint64_t> lat(1 << 16);
    std::mt19937_64 rng(1);
    std::uniform_real_distribution<double> logu(std::log(20e3), std::log(2e9));
    for (auto& v : lat)
        v = static_cast<uint64_t>(std::exp(logu(rng)));
    const std::size_t mask = lat.size() - 1;

    auto h = std::make_unique<LatencyHistogram>();
    const double single = bestNsPerOp(n, [&] {
        for (std::size_t i = 0; i < n; ++i)
            h->recordNs(lat[i & mask]);
    });
    auto f = std::make_unique<FetchAddHistogram>();
    const double fetch = bestNsPerOp(n, [&] {
        for (std::size_t i = 0; i < n; ++i)
            f->recordNs(lat[i & mask]);
    });
    // A proxied request's recording: worker request/finished/2xx, replica requests/completed/
    // responses, and the two histograms (see Session and PoolRuntime).
    auto w = std::make_unique<WorkerCounters>();
    auto r = std::make_unique<ReplicaCounters>();
    const double request = bestNsPerOp(n, [&] {
        for (std::size_t i = 0; i < n; ++i) {
            const uint64_t ns = lat[i & mask];
            w->requests.add();
            r->requests.add();
            r->completed.add();
            r->responses.add();
            r->latency.recordNs(ns);
            w->requests_finished.add();
            w->responses_2xx.add();
            w->latency.recordNs(ns + 50'000);
        }
    });
    HistogramData d;
    h->addTo(d);
    std::printf("bench_stats_record: %zu records; histogram record %.2f ns (single-writer load+store), "
                "%.2f ns (fetch_add); a request's whole recording %.2f ns; (check %llu)\n",
                n, single, fetch, request, static_cast<unsigned long long>(d.count() + f->sum.load() % 2));
    return 0;
}
