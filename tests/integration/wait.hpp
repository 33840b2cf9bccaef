#pragma once
// How long the integration tests wait for any one event. A pass takes far less; the bound only
// turns a hang into a failure with a message.

namespace dlb::test {

inline constexpr int kWaitMs = 5000;

} // namespace dlb::test
