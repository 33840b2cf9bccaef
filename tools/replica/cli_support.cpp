#include "tools/replica/cli_support.hpp"

#include <sys/resource.h>

#include <charconv>
#include <cmath>

namespace dlb::tools {

bool ArgCursor::next()
{
    if (++index_ >= argc_)
        return false;
    const std::string_view arg = argv_[index_];
    const size_t eq = arg.find('=');
    if (arg.starts_with("--") && eq != std::string_view::npos) {
        flag_ = arg.substr(0, eq);
        inline_value_ = arg.substr(eq + 1);
    } else {
        flag_ = arg;
        inline_value_.reset();
    }
    return true;
}

std::optional<std::string_view> ArgCursor::value()
{
    if (inline_value_) {
        auto v = inline_value_;
        inline_value_.reset();
        return v;
    }
    if (index_ + 1 >= argc_)
        return std::nullopt;
    return std::string_view(argv_[++index_]);
}

std::optional<HostPort> parseHostPort(std::string_view text, std::string* why)
{
    auto fail = [&](const std::string& reason) -> std::optional<HostPort> {
        if (why)
            *why = reason;
        return std::nullopt;
    };
    HostPort out;
    std::string_view port_text;
    if (text.starts_with('[')) {
        const size_t close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
            return fail("expected [IPv6]:PORT, got \"" + std::string(text) + "\"");
        out.host = std::string(text.substr(1, close - 1));
        port_text = text.substr(close + 2);
    } else {
        const size_t colon = text.rfind(':');
        if (colon == std::string_view::npos || colon == 0)
            return fail("expected HOST:PORT, got \"" + std::string(text) + "\"");
        if (text.substr(0, colon).find(':') != std::string_view::npos)
            return fail("an IPv6 address needs brackets: [::1]:PORT, got \"" + std::string(text) + "\"");
        out.host = std::string(text.substr(0, colon));
        port_text = text.substr(colon + 1);
    }
    const auto port = parseUnsigned(port_text);
    if (!port || *port > 65535)
        return fail("port must be an integer in [0, 65535], got \"" + std::string(port_text) + "\"");
    if (out.host.empty())
        return fail("empty host in \"" + std::string(text) + "\"");
    out.port = static_cast<uint16_t>(*port);
    return out;
}

std::optional<double> parseDouble(std::string_view text)
{
    double v = 0;
    const auto r = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || r.ec != std::errc() || r.ptr != text.data() + text.size() || !std::isfinite(v))
        return std::nullopt;
    return v;
}

std::optional<uint64_t> parseUnsigned(std::string_view text)
{
    uint64_t v = 0;
    const auto r = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || r.ec != std::errc() || r.ptr != text.data() + text.size())
        return std::nullopt;
    return v;
}

void raiseFileLimit()
{
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
    }
}

} // namespace dlb::tools
