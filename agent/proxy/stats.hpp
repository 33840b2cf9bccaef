#pragma once
// Per-worker counters. Only the worker's thread writes them (single-writer relaxed atomics:
// no lock; the stats collector on the main thread reads them). They are defined with the rest
// of the stats in agent/stats/counters.hpp.

#include "agent/stats/counters.hpp"

namespace dlb::agent::proxy {

using WorkerStats = stats::WorkerCounters;

} // namespace dlb::agent::proxy
