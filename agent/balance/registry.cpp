// The name→factory table. Factories read the algorithm's parameters (already validated against
// common/algorithm_params) and hand typed values to the constructors, which know nothing of
// configs: tests build balancers directly with the same values.

#include "balancer.hpp"
#include "ip_hash.hpp"
#include "least_request.hpp"
#include "maglev.hpp"
#include "power_of_d.hpp"
#include "prequal.hpp"
#include "random_pick.hpp"
#include "ring_hash.hpp"
#include "round_robin.hpp"
#include "weighted_round_robin.hpp"

#include <array>
#include <limits>

namespace dlb::agent::balance {

namespace {

// Envoy's default maximum ring size, used when the config has no max_ring_size.
constexpr double kDefaultMaxRingSize = 8 * 1024 * 1024;

// A parameter as a whole number in [lo, hi]. Validation has already checked the range; the
// clamp only keeps a bad value (or NaN) from turning into undefined behaviour in the cast.
uint64_t wholeParam(const common::AlgorithmConfig& config, std::string_view name, double lo, double hi)
{
    const double value = config.param(name);
    if (!(value >= lo))
        return static_cast<uint64_t>(lo);
    if (value > hi)
        return static_cast<uint64_t>(hi);
    return static_cast<uint64_t>(value);
}

constexpr double kMaxU32 = std::numeric_limits<uint32_t>::max();

struct Entry {
    std::string_view name;
    std::unique_ptr<Balancer> (*make)(const common::AlgorithmConfig&, const BalancerDeps&);
};

const std::array kFactories{
    Entry{"prequal", &makePrequal},
    Entry{"round_robin",
          [](const common::AlgorithmConfig&, const BalancerDeps& deps) -> std::unique_ptr<Balancer> {
              return std::make_unique<RoundRobin>(deps.replicas, deps.seed);
          }},
    Entry{"weighted_round_robin",
          [](const common::AlgorithmConfig&, const BalancerDeps& deps) -> std::unique_ptr<Balancer> {
              return std::make_unique<WeightedRoundRobin>(deps.replicas, deps.seed);
          }},
    Entry{"least_request",
          [](const common::AlgorithmConfig& config, const BalancerDeps& deps) -> std::unique_ptr<Balancer> {
              const auto choices = static_cast<uint32_t>(wholeParam(config, "choice_count", 1, kMaxU32));
              const double bias = config.param("active_request_bias");
              return std::make_unique<LeastRequest>(deps.replicas, deps.seed, choices, bias >= 0 ? bias : 0.0);
          }},
    Entry{"power_of_d",
          [](const common::AlgorithmConfig& config, const BalancerDeps& deps) -> std::unique_ptr<Balancer> {
              const auto d = static_cast<uint32_t>(wholeParam(config, "d", 1, kMaxU32));
              return std::make_unique<PowerOfD>(deps.replicas, deps.seed, d);
          }},
    Entry{"random",
          [](const common::AlgorithmConfig&, const BalancerDeps& deps) -> std::unique_ptr<Balancer> {
              return std::make_unique<RandomPick>(deps.replicas, deps.seed);
          }},
    Entry{"ip_hash",
          [](const common::AlgorithmConfig&, const BalancerDeps& deps) -> std::unique_ptr<Balancer> {
              return std::make_unique<IpHash>(deps.replicas, deps.seed);
          }},
    Entry{"ring_hash",
          [](const common::AlgorithmConfig& config, const BalancerDeps& deps) -> std::unique_ptr<Balancer> {
              const uint64_t min_size = wholeParam(config, "min_ring_size", 1, kMaxU32);
              const uint64_t max_size = config.param("max_ring_size") > 0
                  ? wholeParam(config, "max_ring_size", 1, kMaxU32)
                  : static_cast<uint64_t>(kDefaultMaxRingSize);
              return std::make_unique<RingHash>(deps.replicas, deps.seed, config.hash_key, min_size, max_size);
          }},
    Entry{"maglev",
          [](const common::AlgorithmConfig& config, const BalancerDeps& deps) -> std::unique_ptr<Balancer> {
              const uint64_t size = wholeParam(config, "table_size", 2, kMaxU32);
              return std::make_unique<Maglev>(deps.replicas, deps.seed, config.hash_key, size);
          }},
};

} // namespace

std::unique_ptr<Balancer> makeBalancer(const common::AlgorithmConfig& config, const BalancerDeps& deps)
{
    for (const Entry& entry : kFactories) {
        if (entry.name == config.name)
            return entry.make(config, deps);
    }
    return nullptr;
}

} // namespace dlb::agent::balance
