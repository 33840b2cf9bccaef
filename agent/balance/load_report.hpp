#pragma once
// Load reports: what a replica says about its own load, either in the body of a probe answer or
// in a header of any response (the contract for service owners is docs/load-reports.md).
//
// - probe answer body: {"rif": 3, "latency_ms": 12.5} (or the seed's requestInFlight/latency);
// - endpoint-load-metrics (ORCA, as Envoy and gRPC define it):
//     TEXT rif=3, named_metrics.latency_ms=12.5
//     JSON {"rif": 3, "named_metrics": {"latency_ms": 12.5}}   (namedMetrics also accepted)
//   rif may also be a named metric (named_metrics.rif); BIN (base64 protobuf) is not read;
// - X-Load: rif=3, latency_ms=12.5
//
// The parsers are strict: a value not exactly in the grammar is not a report and is ignored as a
// whole, never half-read (an RIF without a latency, a negative or fractional RIF, a duplicate
// key, trailing bytes). Keys a parser does not know are skipped, so replicas may say more. None
// allocates: they run on every response that carries a report.

#include "balancer.hpp"

#include <string_view>

namespace dlb::agent::balance {

inline constexpr std::string_view kOrcaHeader = "endpoint-load-metrics";
inline constexpr std::string_view kXLoadHeader = "x-load";
// Deepest JSON nesting a probe answer or an ORCA JSON report may have.
inline constexpr int kMaxLoadJsonDepth = 8;
// Largest RIF a report may carry (a larger one is garbage, not load).
inline constexpr double kMaxReportedRif = 1e9;
// Largest latency a report may carry, in ms: one day.
inline constexpr double kMaxReportedLatencyMs = 86'400'000;

// Each returns true and fills *out only for a complete, well-formed report.
bool parseProbeAnswer(std::string_view body, ProbeResult* out);
bool parseOrcaLoadMetrics(std::string_view value, ProbeResult* out);
bool parseXLoad(std::string_view value, ProbeResult* out);

// Whether a header (any case) is one of the two report headers, which the agent strips before
// a response reaches the client.
bool isLoadReportHeader(std::string_view name);

} // namespace dlb::agent::balance
