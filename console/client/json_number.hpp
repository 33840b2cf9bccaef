#pragma once
// Numbers an agent sends, read without undefined behaviour: a cast of a double outside the
// target type's range is undefined in C++, and a lying or broken agent can send -1, 1e300 or
// 4294967496 where a count belongs (found by attack9).

#include <QJsonValue>

#include <cmath>
#include <cstdint>
#include <optional>

namespace dlb::console {

// The largest integer a double (and so a JSON number) holds exactly: 2^53.
inline constexpr double kMaxExactJsonInteger = 9007199254740992.0;

// A whole number in [0, 2^53], or nothing.
inline std::optional<std::uint64_t> jsonWholeNumber(const QJsonValue& v)
{
    if (!v.isDouble())
        return std::nullopt;
    const double d = v.toDouble();
    if (!std::isfinite(d) || d < 0 || d > kMaxExactJsonInteger || d != std::floor(d))
        return std::nullopt;
    return static_cast<std::uint64_t>(d);
}

} // namespace dlb::console
