#include "tools/common/cli_support.hpp"

#include <cstdio>


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

std::string expectedGot(std::string_view flag, std::string_view expected, std::string_view got)
{
    return std::string(flag) + ": expected " + std::string(expected) + ", got \"" + std::string(got) + "\"";
}

std::optional<int> finishArgs(ArgsAction action, const std::string& error, const char* program, const char* usage)
{
    constexpr int kExitUsage = 2;
    switch (action) {
    case ArgsAction::Help:
        std::fputs(usage, stdout);
        return 0;
    case ArgsAction::Version:
        std::printf("%s %s\n", program, DLB_VERSION);
        return 0;
    case ArgsAction::Error:
        std::fprintf(stderr, "%s: %s\n", program, error.c_str());
        return kExitUsage;
    case ArgsAction::Run:
        break;
    }
    return std::nullopt;
}

} // namespace dlb::tools
