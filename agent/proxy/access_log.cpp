#include "agent/proxy/access_log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>

namespace dlb::agent::proxy {

AccessLog::~AccessLog()
{
    const int fd = fd_.load();
    if (owns_fd_ && fd >= 0)
        ::close(fd);
}

bool AccessLog::open(const std::string& path, std::string* why)
{
    path_ = path;
    if (path.empty())
        return true;
    if (path == "-") {
        fd_ = STDOUT_FILENO;
        owns_fd_ = false;
        return true;
    }
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0) {
        if (why)
            *why = "cannot open access log " + path + ": " + std::strerror(errno) +
                   "; make sure its folder exists and the agent's user may write there, or change access_log.path";
        return false;
    }
    fd_ = fd;
    owns_fd_ = true;
    return true;
}

bool AccessLog::reopen(std::string* why)
{
    if (!owns_fd_ || path_.empty())
        return true;
    const int fresh = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fresh < 0) {
        if (why)
            *why = "cannot reopen access log " + path_ + ": " + std::strerror(errno) +
                   "; lines still go to the file open before (under its rotated name): fix the folder or its "
                   "permissions and send SIGHUP again";
        return false;
    }
    ::dup2(fresh, fd_.load());
    ::close(fresh);
    return true;
}

void AccessLog::writeBuffer(std::string& buf)
{
    const int fd = fd_.load(std::memory_order_relaxed);
    size_t off = 0;
    while (fd >= 0 && off < buf.size()) {
        const ssize_t n = ::write(fd, buf.data() + off, buf.size() - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; // a full disk must not stop the proxy; the lines are lost
        off += static_cast<size_t>(n);
    }
    buf.clear();
}

namespace {

void appendJsonString(std::string& out, std::string_view s)
{
    out.push_back('"');
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(ch);
        } else if (c < 0x20 || c == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out.append(buf);
        } else {
            out.push_back(ch);
        }
    }
    out.push_back('"');
}

void appendJsonOrNull(std::string& out, std::string_view s)
{
    if (s.empty())
        out.append("null");
    else
        appendJsonString(out, s);
}

void appendDouble(std::string& out, double v, int precision)
{
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, precision);
    out.append(buf, r.ptr);
}

} // namespace

void appendAccessRecord(std::string& out, const AccessRecord& r)
{
    out.append("{\"time\":");
    appendDouble(out, r.time_unix, 3);
    out.append(",\"client\":");
    appendJsonString(out, r.client);
    out.append(",\"method\":");
    appendJsonOrNull(out, r.method);
    out.append(",\"path\":");
    appendJsonOrNull(out, r.path);
    out.append(",\"status\":");
    out.append(std::to_string(r.status));
    out.append(",\"bytes\":");
    out.append(std::to_string(r.bytes_sent));
    out.append(",\"replica\":");
    if (r.replica.empty())
        out.append("null");
    else
        appendJsonString(out, r.replica);
    out.append(",\"upstream_ms\":");
    if (r.upstream_ms < 0)
        out.append("null");
    else
        appendDouble(out, r.upstream_ms, 3);
    out.append(",\"total_ms\":");
    appendDouble(out, r.total_ms, 3);
    out.append(",\"attempts\":");
    out.append(std::to_string(r.attempts));
    out.append(",\"abort\":");
    appendJsonOrNull(out, r.abort);
    out.append("}\n");
}

} // namespace dlb::agent::proxy
