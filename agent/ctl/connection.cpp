#include "agent/ctl/connection.hpp"

#include "agent/ctl/errors.hpp"
#include "agent/tls/context.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace dlb::ctl {

namespace {

const volatile std::sig_atomic_t* g_stop = nullptr;

bool stopRequested()
{
    return g_stop && *g_stop != 0;
}

int remainingMs(Clock::time_point deadline)
{
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return left <= 0 ? 0 : left > 1000000000 ? 1000000000 : static_cast<int>(left);
}

std::string errnoText(int err)
{
    return std::strerror(err);
}

// What to do about a failed connect, by errno.
std::string connectHint(const Target& t, int err)
{
    if (t.host.empty()) {
        switch (err) {
        case ENOENT:
            return " (is dlb-agent running, with control.unix_socket at this path? pass --socket PATH or set DLB_SOCKET)";
        case EACCES:
            return " (the socket is mode 0660: run dlbctl as the agent's user or a member of its group)";
        case ECONNREFUSED:
            return " (nobody listens on it: is dlb-agent running?)";
        default:
            return "";
        }
    }
    if (err == ECONNREFUSED)
        return " (is dlb-agent running, with control.address on this port?)";
    return "";
}

int connectUnix(const Target& t)
{
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (t.socket_path.empty() || t.socket_path.size() >= sizeof addr.sun_path)
        throw CtlError(kExitUsage, "--socket: the path must have 1 to " + std::to_string(sizeof addr.sun_path - 1) +
                                       " bytes, got " + std::to_string(t.socket_path.size()));
    std::memcpy(addr.sun_path, t.socket_path.data(), t.socket_path.size());
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        throw CtlError(kExitUnreachable, "cannot create a socket: " + errnoText(errno));
    // A Unix socket connect does not wait for accept(): it completes at once or fails
    // (EAGAIN only when the backlog is full, which we report as such).
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        const int err = errno;
        ::close(fd);
        if (err == EAGAIN)
            throw CtlError(kExitUnreachable, "cannot connect to " + t.describe() +
                                                 ": its backlog is full (the agent is not accepting); try again");
        throw CtlError(kExitUnreachable, "cannot connect to " + t.describe() + ": " + errnoText(err) + connectHint(t, err));
    }
    return fd;
}

int connectTcp(const Target& t, Clock::time_point deadline)
{
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    const std::string port = std::to_string(t.port);
    if (int rc = ::getaddrinfo(t.host.c_str(), port.c_str(), &hints, &res); rc != 0)
        throw CtlError(kExitUnreachable, "cannot resolve " + t.host + ": " + gai_strerror(rc));
    std::string last = "no address";
    for (addrinfo* ai = res; ai; ai = ai->ai_next) {
        const int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0) {
            last = errnoText(errno);
            continue;
        }
        int err = 0;
        if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            err = errno;
            if (err == EINPROGRESS) {
                pollfd p{fd, POLLOUT, 0};
                int n;
                do {
                    n = ::poll(&p, 1, remainingMs(deadline));
                } while (n < 0 && errno == EINTR && !stopRequested());
                if (n == 0) {
                    ::close(fd);
                    ::freeaddrinfo(res);
                    throw CtlError(kExitUnreachable, "cannot connect to " + t.describe() + ": no answer within " +
                                                         std::to_string(t.timeout_ms) + " ms (--timeout-ms)");
                }
                socklen_t len = sizeof err;
                if (n < 0)
                    err = errno;
                else if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
                    err = errno;
            }
        }
        if (err == 0) {
            ::freeaddrinfo(res);
            const int one = 1;
            ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            return fd;
        }
        ::close(fd);
        last = errnoText(err) + connectHint(t, err);
    }
    ::freeaddrinfo(res);
    throw CtlError(kExitUnreachable, "cannot connect to " + t.describe() + ": " + last);
}

} // namespace

std::string Target::describe() const
{
    if (host.empty())
        return "the socket " + socket_path;
    const bool v6 = host.find(':') != std::string::npos;
    return std::string(tls ? "https://" : "http://") + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

void Connection::setStopFlag(const volatile std::sig_atomic_t* flag)
{
    g_stop = flag;
}

std::unique_ptr<Connection> Connection::open(const Target& target, Clock::time_point deadline)
{
    const int fd = target.host.empty() ? connectUnix(target) : connectTcp(target, deadline);
    std::unique_ptr<Connection> c(new Connection(fd, target));
    if (target.tls)
        c->handshake(deadline);
    return c;
}

Connection::~Connection()
{
    if (fd_ >= 0)
        ::close(fd_);
}

void Connection::wait(short events, Clock::time_point deadline)
{
    for (;;) {
        if (stopRequested())
            throw CtlError(kExitOk, "");
        pollfd p{fd_, events, 0};
        const int n = ::poll(&p, 1, remainingMs(deadline));
        if (n > 0)
            return;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            throw CtlError(kExitUnreachable, "poll: " + errnoText(errno));
        throw CtlError(kExitUnreachable, "no answer from " + target_.describe() + " within " +
                                             std::to_string(target_.timeout_ms) +
                                             " ms; is the agent stuck? (raise --timeout-ms to wait longer)");
    }
}

void Connection::writeRaw(std::string_view data, Clock::time_point deadline)
{
    while (!data.empty()) {
        const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
        if (n > 0) {
            data.remove_prefix(static_cast<size_t>(n));
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            wait(POLLOUT, deadline);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        // The peer closed first. It may have answered before it closed (an error for a
        // request it refused early): stop sending and let the reader see what came.
        if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
            return;
        throw CtlError(kExitUnreachable, "cannot send to " + target_.describe() + ": " + errnoText(errno) +
                                             " (the agent closed the connection)");
    }
}

size_t Connection::readRaw(char* out, size_t cap, Clock::time_point deadline)
{
    for (;;) {
        const ssize_t n = ::recv(fd_, out, cap, 0);
        if (n >= 0)
            return static_cast<size_t>(n);
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            wait(POLLIN, deadline);
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno == ECONNRESET)
            return 0; // the parser tells a complete answer from a cut one
        throw CtlError(kExitUnreachable, "cannot read from " + target_.describe() + ": " + errnoText(errno));
    }
}

void Connection::flushTls(Clock::time_point deadline)
{
    if (!tls_->hasOutput())
        return;
    cipher_out_.clear();
    tls_->takeOutput(cipher_out_);
    writeRaw(cipher_out_, deadline);
}

void Connection::handshake(Clock::time_point deadline)
{
    common::UpstreamTlsConfig config;
    config.ca_file = target_.cacert;
    config.verify = true; // never off: a token must not go to a server we did not check
    std::string why;
    auto ctx = agent::tls::ClientContext::create(config, "--cacert", &why);
    if (!ctx)
        throw CtlError(kExitUnreachable, why);
    tls_ = agent::tls::Engine::client(std::move(ctx), target_.host, nullptr, &why);
    if (!tls_)
        throw CtlError(kExitUnreachable, why);
    char buf[16384];
    for (;;) {
        const auto st = tls_->handshake();
        flushTls(deadline);
        if (st == agent::tls::Engine::Status::Ok)
            return;
        if (st != agent::tls::Engine::Status::WantMore) {
            std::string reason = tls_->error();
            if (reason.empty())
                reason = agent::tls::takeError();
            std::string hint;
            if (reason.find("certificate") != std::string::npos)
                hint = target_.cacert.empty()
                           ? "; pass the CA that signed the agent's certificate with --cacert FILE"
                           : "; is " + target_.cacert + " the CA that signed the agent's certificate, and does it name " +
                                 target_.host + "?";
            throw CtlError(kExitUnreachable, "TLS with " + target_.describe() + " failed: " + reason + hint);
        }
        const size_t n = readRaw(buf, sizeof buf, deadline);
        if (n == 0)
            throw CtlError(kExitUnreachable, "TLS with " + target_.describe() +
                                                 " failed: the peer closed during the handshake (does it speak TLS? "
                                                 "use http:// for a plain control.address)");
        tls_->feed(buf, n);
    }
}

void Connection::sendAll(std::string_view data, Clock::time_point deadline)
{
    if (!tls_) {
        writeRaw(data, deadline);
        return;
    }
    if (!tls_->write(data))
        throw CtlError(kExitUnreachable, "TLS with " + target_.describe() + ": cannot encrypt: " + tls_->error());
    flushTls(deadline);
}

size_t Connection::readSome(char* out, size_t cap, Clock::time_point deadline)
{
    if (!tls_)
        return readRaw(out, cap, deadline);
    char buf[16384];
    for (;;) {
        size_t n = 0;
        const auto st = tls_->read(out, cap, &n);
        flushTls(deadline); // key updates, alerts
        if (st == agent::tls::Engine::Status::Ok)
            return n;
        if (st == agent::tls::Engine::Status::Closed)
            return 0;
        if (st == agent::tls::Engine::Status::Error)
            throw CtlError(kExitAgentError, "TLS with " + target_.describe() + " failed mid-answer: " + tls_->error());
        const size_t got = readRaw(buf, sizeof buf, deadline);
        if (got == 0)
            return 0; // closed without close_notify: the parser decides if the answer is whole
        tls_->feed(buf, got);
    }
}

} // namespace dlb::ctl
