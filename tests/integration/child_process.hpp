#pragma once
// A dlb-agent or dlb-replica run by a test: started, read until it says where it listens,
// signalled, and waited for. Its stderr is kept so a test can wait for a log line.

#include "wait.hpp"

#include <QByteArray>
#include <QProcess>
#include <QStringList>

namespace dlb::test {

QString binPath(const QString& name); // ${DLB_BIN_DIR}/name

// A program run to completion: its exit code (-1 when it crashed or did not finish within the
// timeout, then killed), whether it crashed (a signal: an abort is not an exit code), its output.
struct ProcessRun {
    int exitCode = -1;
    bool crashed = false;
    QByteArray out;
    QByteArray err;
};
ProcessRun runToCompletion(const QString& program, const QStringList& args, int timeoutMs = kWaitMs);

// A child process whose standard error is collected so tests can wait for log lines.
class ChildProcess {
public:
    ChildProcess();
    ~ChildProcess(); // kills the process if it is still running
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    // Starts `program` and reads stdout until a line starting with `prefix` arrives; the rest
    // of that line (after the prefix) is returned, empty on failure (see error()).
    QByteArray startAndReadLine(const QString& program, const QStringList& args, const QByteArray& prefix,
                                int timeoutMs = kWaitMs);
    bool running() const;
    void signal(int signum);
    // Sends SIGTERM and waits; the exit code, or -1 on a crash or a timeout (then killed).
    int terminate(int timeoutMs = kWaitMs);
    // Waits for the process to exit on its own; exit code, or -1 on a crash or timeout.
    int waitForExit(int timeoutMs = kWaitMs);

    // Everything read from stderr so far. logMark() is its current length: wait for a line
    // written after a given moment with waitForLog(needle, mark).
    QByteArray log();
    qsizetype logMark() { return log().size(); }
    bool waitForLog(const QByteArray& needle, qsizetype from = 0, int timeoutMs = kWaitMs);
    QString error() const { return error_; }
    QProcess& process() { return proc_; }

private:
    void drainStderr();

    QProcess proc_;
    QByteArray stderr_;
    QString error_;
};

} // namespace dlb::test
