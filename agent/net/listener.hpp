#pragma once
// Sockets the event loops use: a listening TCP socket per worker (SO_REUSEPORT, so the kernel
// spreads connections over the workers' own accept queues), and address resolution done once,
// at config load, never on the request path.

#include "common/config.hpp"

#include <sys/socket.h>

#include <optional>
#include <string>
#include <vector>

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

// How long a starting agent waits for another agent on this host to finish binding its
// listeners (ListenSetupLock) before it gives up.
inline constexpr int kListenSetupLockWaitMs = 5000;

// Serialises listener setup between the dlb-agent processes of one network namespace: an
// abstract Unix socket name is held while held() is true, and the kernel frees it when this
// object (or the process) goes. See openListenGroup() for why.
class ListenSetupLock {
public:
    ListenSetupLock() = default;
    ~ListenSetupLock();
    ListenSetupLock(const ListenSetupLock&) = delete;
    ListenSetupLock& operator=(const ListenSetupLock&) = delete;
    // Waits up to kListenSetupLockWaitMs; false with `why` set when it could not be taken.
    bool acquire(std::string* why);

private:
    int fd_ = -1;
};

// `count` listening sockets on `addr` in one SO_REUSEPORT group (one per worker, so the kernel
// spreads connections over the workers' own accept queues), or an empty vector with `why` set.
// Fails with "Address already in use" when anything else listens there, another dlb-agent
// included; with port 0, every socket gets the same kernel-chosen port. Call it while holding
// a ListenSetupLock.
std::vector<int> openListenGroup(const SockAddr& addr, unsigned count, int backlog, std::string* why);

// The port a bound socket got (for port 0).
int boundPort(int fd);

// Raises the soft open-file limit to the hard one: a proxy (or a load tool) holds a socket or
// two per connection, far past the usual soft default of 1024.
void raiseOpenFileLimit();
// What an error caused by running out of descriptors tells the operator to do.
inline constexpr const char* kRaiseOpenFileLimit = "raise the open-file limit (ulimit -n, LimitNOFILE)";

// "1.2.3.4" or "::1" from a peer address.
std::string ipString(const sockaddr* sa);

} // namespace dlb::agent::net
