#pragma once
// The control API's Unix socket, created safely: its folder must exist (it is not created: the
// service manager owns /run/dlb); a socket file left by an agent that died is removed only after
// a connect() to it is refused; a socket some process still listens on is refused; anything that
// is not a socket is never removed. The socket is created with mode 0660 (owner and group), so
// there is no moment in which others could connect.

#include <sys/types.h>

#include <string>

namespace dlb::agent::control {

// The control socket's mode: the agent's user and group may connect, nobody else.
inline constexpr mode_t kUnixSocketMode = 0660;

struct UnixListenSocket {
    int fd = -1;
    dev_t dev = 0; // of the socket file, so that only our own file is removed at exit
    ino_t ino = 0;
};

// A listening, non-blocking socket bound at `path`, or fd -1 with `why` saying what to do.
// `stale` is set to true when a stale socket file was removed first.
UnixListenSocket openUnixListener(const std::string& path, int backlog, bool* stale, std::string* why);

// Removes `path` if it is still the socket `s` created.
void removeUnixSocket(const std::string& path, const UnixListenSocket& s);

// The user id of the peer of a connected Unix socket; false when the kernel does not say.
bool peerUid(int fd, uid_t* uid);

} // namespace dlb::agent::control
