#pragma once
// Blocking client sockets to 127.0.0.1 for the integration tests that must send exactly the
// bytes they want, when they want (hostile clients, TLS attacks), and a process's resource use
// as /proc shows it. Every read is bounded, so a hang is a failure with a message, not a stall.

#include "wait.hpp"

#include <QByteArray>
#include <QtGlobal>

namespace dlb::test {

// A blocking TCP socket to 127.0.0.1:port; -1 on failure. `rcvbuf` > 0 sets a small receive
// buffer before connecting (so the window is announced small from the start), for a client
// whose kernel does not absorb what it does not read.
int rawConnect(quint16 port, int rcvbuf = 0);
// A blocking TCP socket to 127.0.0.1:port whose reads and writes give up after `timeoutMs`
// (SO_RCVTIMEO, SO_SNDTIMEO); -1 on failure.
int connectWithTimeout(quint16 port, int timeoutMs = kWaitMs);

// Closes with a reset (SO_LINGER 0) instead of a FIN, as the issues' reproducers do.
void resetClose(int fd);

// Sends all of `bytes` (blocking); false when the connection fails first.
bool sendAll(int fd, const QByteArray& bytes);
// Sends from `off` what the socket takes without blocking; returns the new offset.
qsizetype sendSome(int fd, const QByteArray& bytes, qsizetype off);

// Reads until the peer closes (or resets), or timeoutMs passes; `closed` says which.
QByteArray readUntilClose(int fd, int timeoutMs, bool* closed);
// True once the peer has closed (EOF or reset) within `ms`; whatever it sends first (an
// alert, its handshake) is read and dropped.
bool closedByPeer(int fd, int ms);

// A process's resident memory in KiB (VmRSS in /proc/PID/status), -1 if unknown.
qint64 rssKiB(qint64 pid);
// A process's open descriptors (the entries of /proc/PID/fd), -1 if unknown.
int openFds(qint64 pid);

} // namespace dlb::test
