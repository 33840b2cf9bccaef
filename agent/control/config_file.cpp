#include "agent/control/config_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

namespace dlb::agent::control {

namespace {

// What the operator can do about a failed write, by its cause.
std::string writeAdvice(int err)
{
    switch (err) {
    case ENOSPC:
    case EDQUOT:
        return "free space on the config file's file system, then retry";
    case EROFS:
        return "the config's folder is on a read-only file system; under systemd, list it in ReadWritePaths=";
    case EACCES:
    case EPERM:
        return "give the agent write access to the config's folder: it writes a temporary file there and "
               "renames it over the config";
    case EIO:
        return "the disk reported an I/O error; check the system log";
    default:
        return "check the config's folder and its file system, then retry";
    }
}

} // namespace

bool writeFileAtomically(const std::string& path, std::string_view content, std::string* why)
{
    const auto fail = [&](const std::string& what, int err) {
        *why = what + ": " + std::strerror(err) + "; the change was not applied (" + writeAdvice(err) + ")";
        return false;
    };
    char resolved[PATH_MAX];
    if (!::realpath(path.c_str(), resolved))
        return fail("cannot resolve " + path, errno);
    const std::string target = resolved;
    const size_t slash = target.rfind('/');
    const std::string dir = slash == 0 ? "/" : target.substr(0, slash);
    struct stat st {};
    if (::stat(target.c_str(), &st) != 0)
        return fail("cannot stat " + target, errno);

    std::string tmp = dir + "/." + target.substr(slash + 1) + ".XXXXXX";
    const int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
    if (fd < 0)
        return fail("cannot create a temporary file in " + dir, errno);
    const auto abandon = [&](const std::string& what) {
        const int err = errno;
        ::close(fd);
        ::unlink(tmp.c_str());
        return fail(what, err);
    };
    if (::fchmod(fd, st.st_mode & 07777) != 0)
        return abandon("cannot set the mode of " + tmp);
    // The owner too, when we may (root running as a service): a file written by root must not
    // lock its owner out. Not being allowed to is fine: then we own the old file already.
    if (::fchown(fd, st.st_uid, st.st_gid) != 0 && errno != EPERM)
        return abandon("cannot set the owner of " + tmp);
    for (size_t done = 0; done < content.size();) {
        const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return abandon("cannot write " + tmp);
        }
        done += static_cast<size_t>(n);
    }
    if (::fsync(fd) != 0)
        return abandon("cannot fsync " + tmp);
    if (::close(fd) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        return fail("cannot close " + tmp, err);
    }
    if (::rename(tmp.c_str(), target.c_str()) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        return fail("cannot rename " + tmp + " to " + target, err);
    }
    // The rename is durable only once the folder is.
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
    return true;
}

} // namespace dlb::agent::control
