#pragma once
// Sockets the event loops use: a listening TCP socket per worker (SO_REUSEPORT, so the kernel
// spreads connections over the workers' own accept queues), and address resolution done once,
// at config load, never on the request path.

#include "common/config.hpp"

#include <sys/socket.h>

#include <optional>
#include <string>

namespace dlb::agent::net {

struct SockAddr {
    sockaddr_storage storage{};
    socklen_t len = 0;
    const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

// Resolves host:port (numeric or a name, via getaddrinfo: blocking, so only at load time).
std::optional<SockAddr> resolve(const common::Endpoint& ep, std::string* why = nullptr);

// Pending connections the kernel queues per listening socket before the loop accepts them.
inline constexpr int kListenBacklog = 1024;

// Creates, binds and listens a non-blocking TCP socket with SO_REUSEADDR and SO_REUSEPORT.
// Returns the fd, or -1 with `why` set ("bind 0.0.0.0:8080: Address already in use").
int openListenSocket(const SockAddr& addr, int backlog, std::string* why);

// The port a bound socket got (for port 0).
int boundPort(int fd);

// Raises the soft open-file limit to the hard one: a proxy (or a load tool) holds a socket or
// two per connection, far past the usual soft default of 1024.
void raiseOpenFileLimit();

// "1.2.3.4" or "::1" from a peer address.
std::string ipString(const sockaddr* sa);

} // namespace dlb::agent::net
