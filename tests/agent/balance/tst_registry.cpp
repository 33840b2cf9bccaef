#include "agent/balance/least_request.hpp"
#include "agent/balance/maglev.hpp"
#include "agent/balance/ring_hash.hpp"
#include "count_allocations.hpp"
#include "fixture.hpp"

#include <QtTest>

#include <set>

using namespace dlb::agent::balance;
using namespace dlb::agent::balance::test;
using dlb::common::AlgorithmConfig;
using dlb::common::HashKey;

namespace {
AlgorithmConfig configOf(std::string_view name)
{
    const auto config = dlb::common::defaultAlgorithm(name);
    return config ? *config : AlgorithmConfig{std::string(name), {}, {}};
}
} // namespace

class TestRegistry : public QObject {
    Q_OBJECT

private slots:
    // Every algorithm common/ knows, and every name DESIGN.md promises, builds a balancer whose
    // picks are replicas of the pool.
    void everyNameBuilds()
    {
        std::set<std::string> names{"prequal", "round_robin", "weighted_round_robin", "least_request",
                                    "power_of_d", "random", "ip_hash", "ring_hash", "maglev"};
        for (const auto& spec : dlb::common::algorithms())
            names.insert(std::string(spec.name));
        const auto replicas = makeReplicas({1, 2, 3});
        for (const std::string& name : names) {
            const auto balancer = makeBalancer(configOf(name), BalancerDeps{replicas, kSeed, nullptr});
            QVERIFY2(balancer, name.c_str());
            QCOMPARE(balancer->replicas().size(), replicas.size());
            PickContext ctx;
            ctx.client_addr = "192.0.2.1";
            ctx.path = "/";
            for (int k = 0; k < 100; ++k) {
                const int pick = balancer->pick(ctx);
                QVERIFY2(pick >= 0 && pick < 3, name.c_str());
            }
        }
    }

    // Names outside the table give null (configs are validated before they get here).
    void unknownNameIsNull()
    {
        const auto replicas = makeReplicas(2);
        QVERIFY(!makeBalancer(configOf("no_such_algorithm"), BalancerDeps{replicas, kSeed, nullptr}));
        QVERIFY(!makeBalancer(configOf(""), BalancerDeps{replicas, kSeed, nullptr}));
    }

    // The seed reaches the balancer: round robin with seed 4 over 3 starts at replica 1.
    void seedReachesBalancer()
    {
        const auto replicas = makeReplicas(3);
        const auto rr = makeBalancer(configOf("round_robin"), BalancerDeps{replicas, 4, nullptr});
        QCOMPARE(picks(*rr, 3), (std::vector<int>{1, 2, 0}));
    }

    // Parameters reach the constructors: maglev's table_size, ring_hash's ring sizes.
    void tableParameters()
    {
        const auto replicas = makeReplicas({1, 2, 3});
        AlgorithmConfig maglev = configOf("maglev");
        maglev.params["table_size"] = 1009;
        const auto m = makeBalancer(maglev, BalancerDeps{replicas, kSeed, nullptr});
        QCOMPARE(dynamic_cast<Maglev&>(*m).tableSize(), 1009ULL);

        AlgorithmConfig ring = configOf("ring_hash");
        ring.params["min_ring_size"] = 2048; // lightest 1/6: ceil(341.3) = 342 nodes per unit
        const auto r = makeBalancer(ring, BalancerDeps{replicas, kSeed, nullptr});
        QCOMPARE(dynamic_cast<RingHash&>(*r).ringSize(), std::size_t{2052});
        ring.params["max_ring_size"] = 100;
        const auto capped = makeBalancer(ring, BalancerDeps{replicas, kSeed, nullptr});
        QCOMPARE(dynamic_cast<RingHash&>(*capped).ringSize(), std::size_t{100});
    }

    // power_of_d's d: d=3 over three replicas always sees the idlest; d=1 is random.
    void powerOfDParameter()
    {
        auto replicas = makeReplicas(3);
        replicas[0].in_flight = 1;
        replicas[2].in_flight = 2;
        AlgorithmConfig config = configOf("power_of_d");
        config.params["d"] = 3;
        const auto all = makeBalancer(config, BalancerDeps{replicas, kSeed, nullptr});
        QCOMPARE(tally(*all, 1000).counts[1], 1000);
        config.params["d"] = 1;
        const auto one = makeBalancer(config, BalancerDeps{replicas, kSeed, nullptr});
        QVERIFY(tally(*one, 3000).counts[2] > 800);
    }

    // least_request's choice_count and active_request_bias.
    void leastRequestParameters()
    {
        auto replicas = makeReplicas(2);
        replicas[1].in_flight = 5;
        AlgorithmConfig config = configOf("least_request");
        config.params["choice_count"] = 2; // busy wins only if both samples are it: 1/4
        const auto two = makeBalancer(config, BalancerDeps{replicas, kSeed, nullptr});
        QVERIFY(qAbs(tally(*two, 10000).counts[1] - 2500) < 200);
        config.params["choice_count"] = 10; // busy wins only if all 10 samples are it: 2^-10
        const auto ten = makeBalancer(config, BalancerDeps{replicas, kSeed, nullptr});
        QVERIFY(tally(*ten, 10000).counts[1] < 50);

        auto weighted = makeReplicas({2, 1});
        weighted[0].in_flight = 10;
        config.params["active_request_bias"] = 0; // load ignored: shares 2/3, 1/3
        const auto plain = makeBalancer(config, BalancerDeps{weighted, kSeed, nullptr});
        QVERIFY(dynamic_cast<LeastRequest&>(*plain).weighted());
        QVERIFY(qAbs(tally(*plain, 30000).counts[0] - 20000) < 300);
    }

    // The hot path allocates nothing: 1000 picks per algorithm (except prequal, tested on its
    // own) over weights 1..4 with one replica down but not yet notified and one excluded, so the
    // fallback paths run too.
    void picksDoNotAllocate()
    {
        auto replicas = makeReplicas({1, 2, 3, 4});
        for (std::size_t i = 0; i < replicas.size(); ++i)
            replicas[i].in_flight = static_cast<uint32_t>(i);
        const auto clients = clientAddresses(1000);
        for (const auto& spec : dlb::common::algorithms()) {
            if (spec.name == "prequal")
                continue;
            replicas[1].usable = true;
            AlgorithmConfig config = configOf(spec.name);
            config.params["table_size"] = 1009;
            const auto balancer = makeBalancer(config, BalancerDeps{replicas, kSeed, nullptr});
            replicas[1].usable = false;
            std::vector<PickContext> contexts(clients.size());
            for (std::size_t k = 0; k < clients.size(); ++k) {
                contexts[k].client_addr = clients[k];
                contexts[k].path = clients[k];
                contexts[k].exclude = k % 3 == 0 ? 2 : kNoReplica;
            }
            const long before = g_allocations.load();
            int misses = 0;
            for (const PickContext& ctx : contexts) {
                const int pick = balancer->pick(ctx);
                misses += pick == 1 || pick == ctx.exclude || pick == kNoReplica;
            }
            const long allocated = g_allocations.load() - before;
            QVERIFY2(allocated == 0, std::string(spec.name).c_str());
            QVERIFY2(misses == 0, std::string(spec.name).c_str());
        }
    }

    // The hash key reaches the hashing algorithms: keyed by a header, requests from different
    // clients with the same header value land together.
    void hashKeyReachesHashing()
    {
        const auto replicas = makeReplicas(10);
        for (const char* name : {"ring_hash", "maglev"}) {
            AlgorithmConfig config = configOf(name);
            config.hash_key = HashKey{HashKey::Kind::Header, std::string(kKeyHeader)};
            const auto balancer = makeBalancer(config, BalancerDeps{replicas, kSeed, nullptr});
            std::set<int> chosen;
            for (const auto& client : clientAddresses(200)) {
                PickContext ctx;
                ctx.client_addr = client;
                ctx.header = [](std::string_view header) {
                    return header == kKeyHeader ? std::string_view("alice") : std::string_view();
                };
                chosen.insert(balancer->pick(ctx));
            }
            QCOMPARE(chosen.size(), std::size_t{1});
        }
    }
};

QTEST_APPLESS_MAIN(TestRegistry)
#include "tst_registry.moc"
