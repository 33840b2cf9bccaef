#pragma once
// The agent's own log: one line per event on standard error, with a UTC timestamp, written with
// a single write(2) so lines from different threads never interleave. Secrets never go here.

#include <string>

namespace dlb::agent::proxy {

void logLine(const std::string& message);

} // namespace dlb::agent::proxy
