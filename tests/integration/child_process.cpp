#include "child_process.hpp"

#include <QDeadlineTimer>
#include <QDir>

#include <csignal>

namespace dlb::test {

QString binPath(const QString& name)
{
    return QDir(QStringLiteral(DLB_BIN_DIR)).filePath(name);
}

ProcessRun runToCompletion(const QString& program, const QStringList& args, int timeoutMs)
{
    QProcess p;
    p.start(program, args);
    ProcessRun r;
    if (!p.waitForFinished(timeoutMs)) {
        p.kill();
        p.waitForFinished();
        return r;
    }
    r.crashed = p.exitStatus() != QProcess::NormalExit;
    r.exitCode = r.crashed ? -1 : p.exitCode();
    r.out = p.readAllStandardOutput();
    r.err = p.readAllStandardError();
    return r;
}

ChildProcess::ChildProcess()
{
    proc_.setProcessChannelMode(QProcess::SeparateChannels);
}

ChildProcess::~ChildProcess()
{
    if (proc_.state() != QProcess::NotRunning) {
        proc_.kill();
        proc_.waitForFinished(kWaitMs);
    }
}

QByteArray ChildProcess::startAndReadLine(const QString& program, const QStringList& args, const QByteArray& prefix,
                                          int timeoutMs)
{
    proc_.setProgram(program);
    proc_.setArguments(args);
    proc_.start();
    if (!proc_.waitForStarted(timeoutMs)) {
        error_ = QStringLiteral("%1 did not start: %2").arg(program, proc_.errorString());
        return {};
    }
    proc_.setReadChannel(QProcess::StandardOutput);
    QDeadlineTimer deadline(timeoutMs);
    for (;;) {
        while (proc_.canReadLine()) {
            const QByteArray line = proc_.readLine().trimmed();
            if (line.startsWith(prefix))
                return line.mid(prefix.size());
        }
        if (proc_.state() == QProcess::NotRunning || deadline.hasExpired() ||
            !proc_.waitForReadyRead(static_cast<int>(deadline.remainingTime()))) {
            if (proc_.canReadLine())
                continue;
            drainStderr();
            error_ = QStringLiteral("%1 printed no line starting with \"%2\"; stderr:\n%3")
                         .arg(program, QString::fromUtf8(prefix), QString::fromUtf8(stderr_));
            return {};
        }
    }
}

bool ChildProcess::running() const
{
    return proc_.state() != QProcess::NotRunning;
}

void ChildProcess::signal(int signum)
{
    if (running())
        ::kill(static_cast<pid_t>(proc_.processId()), signum);
}

int ChildProcess::terminate(int timeoutMs)
{
    if (!running())
        return proc_.exitStatus() == QProcess::NormalExit ? proc_.exitCode() : -1;
    signal(SIGTERM);
    return waitForExit(timeoutMs);
}

int ChildProcess::waitForExit(int timeoutMs)
{
    if (!proc_.waitForFinished(timeoutMs) && running()) {
        error_ = QStringLiteral("did not exit within %1 ms").arg(timeoutMs);
        proc_.kill();
        proc_.waitForFinished(kWaitMs);
        drainStderr();
        return -1;
    }
    drainStderr();
    if (proc_.exitStatus() != QProcess::NormalExit) {
        error_ = QStringLiteral("crashed");
        return -1;
    }
    return proc_.exitCode();
}

void ChildProcess::drainStderr()
{
    if (proc_.isOpen()) // never started: nothing to read (and Qt would warn)
        stderr_ += proc_.readAllStandardError();
}

QByteArray ChildProcess::log()
{
    drainStderr();
    return stderr_;
}

bool ChildProcess::waitForLog(const QByteArray& needle, qsizetype from, int timeoutMs)
{
    QDeadlineTimer deadline(timeoutMs);
    for (;;) {
        drainStderr();
        if (stderr_.indexOf(needle, from) >= 0)
            return true;
        if (!running() || deadline.hasExpired())
            return false;
        proc_.setReadChannel(QProcess::StandardError);
        proc_.waitForReadyRead(static_cast<int>(deadline.remainingTime()));
        proc_.setReadChannel(QProcess::StandardOutput);
    }
}

} // namespace dlb::test
