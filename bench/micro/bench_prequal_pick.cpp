// How long one Prequal::pick() takes on a worker's hot path: 100 replicas, default parameters
// (r_probe 3, pool 16, r_remove 1), the pool kept full by answering every probe right after the
// pick that asked for it, as a busy worker's probe answers would.
//
//   bench_prequal_pick [picks]     (default 2000000)
//
// Each pick is timed on its own with steady_clock, less the clock's own cost measured in the
// same run; the whole request (pick plus its probe answers) is also timed as one loop.

#include "agent/balance/prequal.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

using namespace dlb::agent::balance;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kReplicas = 100;
// 5000 requests/s on this worker: 150 probes/s per replica, under the default ceiling of 200,
// so the ceiling never starves the pool.
constexpr uint64_t kStepNs = 200'000;

// Holds the probes a pick asked for until the loop answers them.
struct PendingSink : ProbeSink {
    std::array<int, 32> pending{};
    std::size_t count = 0;
    void sendProbe(int replica) override { pending[count++ % pending.size()] = replica; }
};

struct Load {
    std::vector<ReplicaState> replicas = std::vector<ReplicaState>(kReplicas);
    PendingSink sink;
    Prequal lb{PrequalParams{}, BalancerDeps{replicas, 1, &sink}};
    Rng rng{2};
    uint64_t now = 1'000'000'000;
    PickContext ctx;

    // Answers as a loaded fleet would: RIF 0..15, latency 5..45 ms.
    void answerPending()
    {
        for (std::size_t k = 0; k < sink.count && k < sink.pending.size(); ++k) {
            const uint64_t bits = rng.next();
            const ProbeResult answer{static_cast<uint32_t>(bits & 15),
                                     5.0 + static_cast<double>((bits >> 8) % 40)};
            lb.onProbeResult(sink.pending[k], answer, now);
        }
        sink.count = 0;
    }

    int step()
    {
        now += kStepNs;
        ctx.now_ns = now;
        return lb.pick(ctx);
    }
};

double nsBetween(Clock::time_point a, Clock::time_point b)
{
    return static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count());
}

} // namespace

int main(int argc, char** argv)
{
    const long picks = argc > 1 ? std::atol(argv[1]) : 2'000'000;
    if (picks < 1) {
        std::fprintf(stderr, "usage: bench_prequal_pick [picks]\n");
        return 2;
    }

    Load load;
    for (int k = 0; k < 100'000; ++k) { // warm up: fill the pool and the RIF window
        load.step();
        load.answerPending();
    }

    // The clock's own cost, measured the same way the picks are.
    double clock_ns = 0;
    for (long k = 0; k < picks; ++k) {
        const auto a = Clock::now();
        const auto b = Clock::now();
        clock_ns += nsBetween(a, b);
    }
    clock_ns /= static_cast<double>(picks);

    // Each pick timed alone.
    double pick_ns = 0;
    double pool_sum = 0;
    long checksum = 0;
    for (long k = 0; k < picks; ++k) {
        pool_sum += static_cast<double>(load.lb.poolSize());
        const auto a = Clock::now();
        checksum += load.step();
        const auto b = Clock::now();
        pick_ns += nsBetween(a, b);
        load.answerPending();
    }
    pick_ns = pick_ns / static_cast<double>(picks) - clock_ns;

    // Whole requests: pick plus the probe answers it leads to, no per-call timing.
    const auto start = Clock::now();
    for (long k = 0; k < picks; ++k) {
        checksum += load.step();
        load.answerPending();
    }
    const double request_ns = nsBetween(start, Clock::now()) / static_cast<double>(picks);

    std::printf("prequal pick: %.0f ns/pick (pool %u, replicas %d)\n", pick_ns,
                load.lb.params().pool_size, kReplicas);
    std::printf("prequal request with its probe answers: %.0f ns (mean pool at pick %.1f, "
                "clock %.0f ns, picks %ld, checksum %ld)\n",
                request_ns, pool_sum / static_cast<double>(picks), clock_ns, picks, checksum);
    return 0;
}
