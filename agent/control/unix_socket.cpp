#include "agent/control/unix_socket.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace dlb::agent::control {

namespace {

std::string errnoText(int err)
{
    return std::string(std::strerror(err));
}

bool fillAddress(const std::string& path, sockaddr_un* addr, std::string* why)
{
    *addr = {};
    addr->sun_family = AF_UNIX;
    if (path.size() >= sizeof addr->sun_path) {
        *why = "control.unix_socket " + path + " is longer than a Unix socket path may be (" +
               std::to_string(sizeof addr->sun_path - 1) + " bytes); choose a shorter path";
        return false;
    }
    std::memcpy(addr->sun_path, path.c_str(), path.size() + 1);
    return true;
}

} // namespace

UnixListenSocket openUnixListener(const std::string& path, int backlog, bool* stale, std::string* why)
{
    UnixListenSocket out;
    *stale = false;
    sockaddr_un addr;
    if (!fillAddress(path, &addr, why))
        return out;
    const size_t slash = path.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
        *why = "control.unix_socket: folder " + dir + " does not exist; create it (with systemd: RuntimeDirectory=dlb) "
               "or change control.unix_socket";
        return out;
    }
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            *why = "control.unix_socket: " + path + " exists and is not a socket; it is left alone: remove it or "
                   "change control.unix_socket";
            return out;
        }
        const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe < 0) {
            *why = "control.unix_socket: socket(): " + errnoText(errno);
            return out;
        }
        const int rc = ::connect(probe, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
        const int err = errno;
        ::close(probe);
        if (rc == 0) {
            *why = "control.unix_socket: a process is listening on " + path +
                   " (another dlb-agent?); stop it or give this agent another control.unix_socket";
            return out;
        }
        if (err != ECONNREFUSED) {
            *why = "control.unix_socket: cannot tell whether " + path + " is in use: connect(): " + errnoText(err);
            return out;
        }
        // Nobody listens: the file of an agent that did not exit cleanly.
        if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
            *why = "control.unix_socket: cannot remove the stale socket " + path + ": " + errnoText(errno);
            return out;
        }
        *stale = true;
    } else if (errno != ENOENT) {
        *why = "control.unix_socket: cannot use " + path + ": " + errnoText(errno);
        return out;
    }

    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        *why = "control.unix_socket: socket(): " + errnoText(errno);
        return out;
    }
    // The file gets its mode from the umask at bind(): set it so, for this one call, that the
    // socket never exists with a wider mode. The process is single-threaded here (the workers
    // start later), so no other file creation sees this umask.
    const mode_t old_mask = ::umask(static_cast<mode_t>(~kUnixSocketMode) & 0777);
    const int bound = ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    const int bind_err = errno;
    ::umask(old_mask);
    if (bound != 0) {
        ::close(fd);
        *why = "control.unix_socket: cannot bind " + path + ": " + errnoText(bind_err) +
               (bind_err == EADDRINUSE ? " (another process created it just now)" : "");
        return out;
    }
    if (::chmod(path.c_str(), kUnixSocketMode) != 0 || ::listen(fd, backlog) != 0 || ::lstat(path.c_str(), &st) != 0) {
        const int err = errno;
        ::close(fd);
        ::unlink(path.c_str());
        *why = "control.unix_socket: cannot listen on " + path + ": " + errnoText(err);
        return out;
    }
    out.fd = fd;
    out.dev = st.st_dev;
    out.ino = st.st_ino;
    return out;
}

void removeUnixSocket(const std::string& path, const UnixListenSocket& s)
{
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == s.dev && st.st_ino == s.ino)
        ::unlink(path.c_str());
}

bool peerUid(int fd, uid_t* uid)
{
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
        return false;
    *uid = cred.uid;
    return true;
}

} // namespace dlb::agent::control
