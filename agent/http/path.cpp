#include "agent/http/path.hpp"

namespace dlb::agent::http {

namespace {

int hexValue(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool unreserved(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~';
}

// Drops the last segment written to `out` (which starts with '/'), keeping its leading slash.
// False when `out` is just the root: ".." would climb above it.
bool popSegment(std::string& out, size_t base)
{
    if (out.size() <= base + 1)
        return false;
    const size_t slash = out.rfind('/', out.size() - 2); // out ends with '/'
    out.resize(slash + 1);
    return true;
}

} // namespace

bool normalizeTarget(std::string_view target, std::string& out, std::string_view* why)
{
    out.clear();
    if (target == "*") {
        out.assign(target);
        return true;
    }
    if (target.empty() || target.front() != '/') {
        *why = "the request target is not a path";
        return false;
    }
    const size_t qpos = target.find('?');
    const std::string_view path = target.substr(0, qpos);
    const size_t base = 0;
    // Segments are decoded first, then judged: "%2e%2e" is ".." as much as ".." is.
    std::string segment;
    out.push_back('/');
    size_t i = 1;
    while (i <= path.size()) {
        segment.clear();
        while (i < path.size() && path[i] != '/') {
            char c = path[i];
            if (c == '%') {
                if (i + 2 >= path.size()) {
                    *why = "a truncated percent-encoding in the path";
                    return false;
                }
                const int hi = hexValue(path[i + 1]);
                const int lo = hexValue(path[i + 2]);
                if (hi < 0 || lo < 0) {
                    *why = "a malformed percent-encoding in the path";
                    return false;
                }
                const char decoded = static_cast<char>(hi * 16 + lo);
                if (decoded == '\0') {
                    *why = "an encoded NUL (%00) in the path";
                    return false;
                }
                if (unreserved(decoded)) {
                    segment.push_back(decoded);
                } else {
                    static constexpr char kHex[] = "0123456789ABCDEF";
                    segment.push_back('%');
                    segment.push_back(kHex[hi]);
                    segment.push_back(kHex[lo]);
                }
                i += 3;
                continue;
            }
            segment.push_back(c);
            ++i;
        }
        const bool last = i >= path.size();
        ++i; // past the '/'
        if (segment.empty() || segment == ".") {
            // "//" collapses; "/./" is nothing. A path that ends in "/." ends in "/".
            continue;
        }
        if (segment == "..") {
            if (!popSegment(out, base)) {
                *why = "the path climbs above the root with \"..\"";
                return false;
            }
            continue;
        }
        out.append(segment);
        if (!last)
            out.push_back('/');
    }
    if (qpos != std::string_view::npos)
        out.append(target.substr(qpos));
    return true;
}

} // namespace dlb::agent::http
