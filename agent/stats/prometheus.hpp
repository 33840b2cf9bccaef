#pragma once
// Prometheus text exposition (format 0.0.4) helpers; the metric set itself is written by
// Collector::prometheusText() (prometheus.cpp) and listed in docs/stats.md.

#include <cstdint>
#include <string>
#include <string_view>

namespace dlb::agent::stats {

inline constexpr std::string_view kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

// A label value as the format wants it: backslash, double quote and line feed escaped.
std::string escapeLabelValue(std::string_view v);
// HELP text: backslash and line feed escaped.
std::string escapeHelp(std::string_view v);
// A whole number of microseconds as seconds, exactly ("0.000032", "1.048576", "60").
std::string secondsFromUs(uint64_t us);

// The `le` bounds of exported latency histograms: powers of two in µs, from
// 2^kPromFirstBucketLog2 µs (32 µs) to 2^kPromLastBucketLog2 µs (67.1 s), then +Inf. They are
// boundaries of the fine buckets (histogram.hpp), so each cumulative count is exact.
inline constexpr unsigned kPromFirstBucketLog2 = 5;
inline constexpr unsigned kPromLastBucketLog2 = 26;

} // namespace dlb::agent::stats
