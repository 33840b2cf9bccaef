#include "agent/http/path.hpp"

namespace dlb::agent::http {

int hexDigitValue(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

namespace {

bool unreserved(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~';
}

// Drops the last segment written to `out` (which starts with '/'), keeping its leading slash.
// False when `out` is just the root: ".." would climb above it.
bool popSegment(std::string& out)
{
    if (out.size() <= 1)
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
    // Each segment is decoded straight into `out`, then judged: "%2e%2e" is ".." as much as
    // ".." is. No temporary per segment: this runs for every request.
    out.push_back('/');
    size_t i = 1;
    while (i <= path.size()) {
        const size_t seg_start = out.size();
        while (i < path.size() && path[i] != '/') {
            const char c = path[i];
            if (c != '%') {
                out.push_back(c);
                ++i;
                continue;
            }
            if (i + 2 >= path.size()) {
                *why = "a truncated percent-encoding in the path";
                return false;
            }
            const int hi = hexDigitValue(path[i + 1]);
            const int lo = hexDigitValue(path[i + 2]);
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
                out.push_back(decoded);
            } else {
                static constexpr char kHex[] = "0123456789ABCDEF";
                out.push_back('%');
                out.push_back(kHex[hi]);
                out.push_back(kHex[lo]);
            }
            i += 3;
        }
        const bool last = i >= path.size();
        ++i; // past the '/'
        const std::string_view segment(out.data() + seg_start, out.size() - seg_start);
        if (segment.empty() || segment == ".") {
            // "//" collapses; "/./" is nothing. A path that ends in "/." ends in "/".
            out.resize(seg_start);
            continue;
        }
        if (segment == "..") {
            out.resize(seg_start);
            if (!popSegment(out)) {
                *why = "the path climbs above the root with \"..\"";
                return false;
            }
            continue;
        }
        if (!last)
            out.push_back('/');
    }
    if (qpos != std::string_view::npos)
        out.append(target.substr(qpos));
    return true;
}

} // namespace dlb::agent::http
