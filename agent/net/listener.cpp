#include "agent/net/listener.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

namespace dlb::agent::net {

std::optional<SockAddr> resolve(const common::Endpoint& ep, std::string* why)
{
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* res = nullptr;
    std::string host = ep.host;
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    const std::string port = std::to_string(ep.port);
    const int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
    if (rc != 0 || !res) {
        if (why)
            *why = "cannot resolve " + ep.host + ": " + gai_strerror(rc);
        return std::nullopt;
    }
    SockAddr out;
    std::memcpy(&out.storage, res->ai_addr, res->ai_addrlen);
    out.len = res->ai_addrlen;
    freeaddrinfo(res);
    return out;
}

namespace {

// "127.0.0.1:8080" or "[::1]:8080".
std::string addrString(const SockAddr& addr)
{
    const std::string ip = ipString(addr.get());
    const std::string host = addr.storage.ss_family == AF_INET6 ? "[" + ip + "]" : ip;
    return host + ":" + std::to_string(ntohs(reinterpret_cast<const sockaddr_in*>(addr.get())->sin_port));
}

std::string bindError(const SockAddr& addr, int err)
{
    std::string msg = "bind " + addrString(addr) + ": " + std::strerror(err);
    if (err == EADDRINUSE)
        msg += " (another process, perhaps another dlb-agent, listens there; stop it or choose another address)";
    return msg;
}

// The abstract Unix socket name that ListenSetupLock holds (Linux: no file, freed on exit).
constexpr char kListenSetupLockName[] = "dlb-agent/listen-setup";
constexpr int kListenSetupLockPollMs = 5;

// A non-blocking listening socket with SO_REUSEADDR and SO_REUSEPORT. On its own it would join
// any SO_REUSEPORT group of the same user on that address: only openListenGroup() calls it.
int openListenSocket(const SockAddr& addr, int backlog, std::string* why)
{
    const int fd = socket(addr.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        if (why)
            *why = std::string("socket: ") + std::strerror(errno);
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (bind(fd, addr.get(), addr.len) != 0 || listen(fd, backlog) != 0) {
        if (why)
            *why = bindError(addr, errno);
        close(fd);
        return -1;
    }
    return fd;
}

} // namespace

ListenSetupLock::~ListenSetupLock()
{
    if (fd_ >= 0)
        close(fd_);
}

bool ListenSetupLock::acquire(std::string* why)
{
    sockaddr_un name{};
    name.sun_family = AF_UNIX;
    // sun_path[0] stays '\0': an abstract name.
    std::memcpy(name.sun_path + 1, kListenSetupLockName, sizeof kListenSetupLockName - 1);
    const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + sizeof kListenSetupLockName - 1);
    for (int waited = 0;; waited += kListenSetupLockPollMs) {
        const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            *why = std::string("socket(AF_UNIX): ") + std::strerror(errno);
            return false;
        }
        if (bind(fd, reinterpret_cast<const sockaddr*>(&name), len) == 0) {
            fd_ = fd;
            return true;
        }
        const int err = errno;
        close(fd);
        if (err != EADDRINUSE || waited >= kListenSetupLockWaitMs) {
            *why = "cannot take the listener setup lock (@" + std::string(kListenSetupLockName) + "): " +
                   std::strerror(err) + (err == EADDRINUSE ? "; another dlb-agent has been binding its listeners for "
                                                             "too long" : "");
            return false;
        }
        usleep(kListenSetupLockPollMs * 1000);
    }
}

std::vector<int> openListenGroup(const SockAddr& addr_in, unsigned count, int backlog, std::string* why)
{
    // SO_REUSEPORT lets any socket of the same user join a listening group, so without care a
    // second dlb-agent started on our port would start without error and take part of our
    // traffic. A socket bound *without* SO_REUSEPORT conflicts with every listener on the
    // address, whoever owns it, so binding one first fails with EADDRINUSE exactly when the
    // address is taken, as any other server's bind would. This probe has SO_REUSEADDR (the
    // TIME_WAIT leftovers of our previous run must not block a restart) and never listens,
    // which is what lets our own SO_REUSEPORT sockets bind beside it. It is held until they
    // listen and then closed: from then on their listening blocks every later probe. Two probes
    // that are not listening do not conflict, so two agents starting in the same instant could
    // both pass; the caller's ListenSetupLock serialises that window.
    // Rejected: one socket dup()ed into every worker (one shared accept queue, the thundering
    // herd SO_REUSEPORT is here to avoid); clearing SO_REUSEPORT after listen() (tried: a
    // newcomer still joins, the kernel keeps the group open).
    SockAddr addr = addr_in;
    const int probe = socket(addr.storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe < 0) {
        *why = std::string("socket: ") + std::strerror(errno);
        return {};
    }
    int one = 1;
    setsockopt(probe, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(probe, addr.get(), addr.len) != 0) {
        *why = bindError(addr, errno);
        close(probe);
        return {};
    }
    // Port 0: the probe's port is the group's (sin_port and sin6_port sit at the same offset).
    reinterpret_cast<sockaddr_in*>(&addr.storage)->sin_port = htons(static_cast<uint16_t>(boundPort(probe)));
    std::vector<int> fds;
    for (unsigned i = 0; i < count; ++i) {
        const int fd = openListenSocket(addr, backlog, why);
        if (fd < 0) {
            for (const int f : fds)
                close(f);
            close(probe);
            return {};
        }
        fds.push_back(fd);
    }
    close(probe);
    return fds;
}

int boundPort(int fd)
{
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0)
        return -1;
    if (ss.ss_family == AF_INET6)
        return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
    return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

void raiseOpenFileLimit()
{
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
    }
}

std::string ipString(const sockaddr* sa)
{
    char buf[INET6_ADDRSTRLEN] = {0};
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, buf, sizeof buf);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, buf, sizeof buf);
    return buf;
}

} // namespace dlb::agent::net
