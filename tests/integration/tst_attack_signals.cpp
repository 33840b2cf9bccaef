// An adversarial review of how the agent reads its signals (a signalfd on the main loop, the
// three signals blocked in every thread) and of what it does when it cannot set that up. Each
// test is a finding that failed before its fix.

#include "harness.hpp"

#include <QElapsedTimer>
#include <QProcess>
#include <QProcessEnvironment>
#include <QtTest>

#include <sys/resource.h>
#include <unistd.h>

#include <csignal>

using namespace dlb::test;

namespace {

// The lowest open-file limit tried: below it the dynamic loader or libuv's process-wide signal
// pipe (uv__signal_global_once_init, which calls abort() when pipe2 fails) fails before the
// agent's first line of code, which no check of the agent's can change.
constexpr int kLowestFileLimit = 6;
// Past the point where it starts with 4 workers (about 31 here): the sweep ends there.
constexpr int kHighestFileLimit = 64;
// A run that has not ended by then has started (it is serving): it is stopped with SIGTERM.
constexpr int kRefusalMs = 3000;

} // namespace

class TestAttackSignals : public QObject {
    Q_OBJECT

private slots:
    void outOfDescriptorsAtStartIsRefusedNotACrash();
};

// Finding: under a small open-file limit (a unit's LimitNOFILE, `ulimit -n`), the agent crashed
// (SIGSEGV or SIGABRT, no message) for most limits below what it needs: uv_loop_init's failure
// (epoll_create1, pipe2 or eventfd: EMFILE) went unchecked in Agent and Worker, and the signalfd's
// uv_poll_start (libuv asserts `loop->watchers != NULL`), a worker's loop, or ~Agent's
// uv_loop_close then used a loop that did not exist. Before the fix 22 of the 25 limits from 6 to
// 30 crashed; now each is refused with exit 1 and a line naming the open-file limit, until the
// limit is enough and the agent starts and stops on SIGTERM as always.
void TestAttackSignals::outOfDescriptorsAtStartIsRefusedNotACrash()
{
    Cluster c;
    StubBackend& stub = c.addStub("s1");
    QJsonObject cfg = c.config({stub.port()});
    cfg[QStringLiteral("workers")] = 4; // four more loops to start: four more places to fail
    QVERIFY2(c.writeConfig(cfg), qPrintable(c.error()));

    // Under UBSan (the ASan pass) its vptr check tests whether an object's memory is readable
    // by writing it to a pipe(); with every descriptor taken that fails, and it reports a valid
    // object as "invalid vptr", "<memory cannot be printed>" (exit 1 at limit 10 in the CI's
    // ASan pass). A suppression cannot help: its file is read at the first report, when no
    // descriptor is left. So in the sanitizer passes that exact report, and only it, says
    // nothing about the agent at that limit; the plain pass runs every limit strictly.
    const bool sanitized = QProcessEnvironment::systemEnvironment().contains(QStringLiteral("UBSAN_OPTIONS"));
    int blind = 0;
    int refused = 0;
    bool started = false;
    for (int limit = kLowestFileLimit; limit <= kHighestFileLimit && !started; ++limit) {
        QProcess p;
        // Soft and hard: the agent raises its soft limit to the hard one (raiseOpenFileLimit).
        // Only stdin, stdout and stderr are left open, as a service manager starts it: what the
        // test process leaves inheritable would otherwise move every limit.
        p.setChildProcessModifier([limit] {
            ::close_range(3, ~0U, 0);
            const rlimit lim{static_cast<rlim_t>(limit), static_cast<rlim_t>(limit)};
            ::setrlimit(RLIMIT_NOFILE, &lim);
        });
        p.start(binPath(QStringLiteral("dlb-agent")), {QStringLiteral("--config"), c.configPath()});
        QVERIFY2(p.waitForStarted(kWaitMs), qPrintable(p.errorString()));
        if (!p.waitForFinished(kRefusalMs)) {
            // It serves: it must have said so, and stop as it always does.
            started = true;
            ::kill(static_cast<pid_t>(p.processId()), SIGTERM);
            QVERIFY(p.waitForFinished(kWaitMs));
        }
        const QByteArray err = p.readAllStandardError();
        const QString what = QStringLiteral("open-file limit %1: exit status %2, code %3; stderr:\n%4")
                                 .arg(limit)
                                 .arg(p.exitStatus() == QProcess::NormalExit ? "normal" : "crashed")
                                 .arg(p.exitCode())
                                 .arg(QString::fromUtf8(err));
        QVERIFY2(p.exitStatus() == QProcess::NormalExit, qPrintable(what));
        // Under UBSan its vptr check (above) needs a spare descriptor at every check, not only
        // at start: with none left it reported valid objects (a worker's std::thread state as it
        // was joined, the RoundRobin of a worker's tick) as "does not point to an object of
        // type ...", exit 1 at limit 37 in the CI's ASan pass, after "started". That report
        // says nothing about the agent either: the next limit is tried (started or not), until
        // one refuses cleanly or starts and stops cleanly, so both are still checked.
        if (sanitized && p.exitCode() == 1 &&
            ((err.contains("note: object has invalid vptr") && err.contains("<memory cannot be printed>")) ||
             err.contains("does not point to an object of type"))) {
            started = false;
            ++blind;
            continue;
        }
        if (started) {
            QVERIFY2(p.exitCode() == 0 && err.contains("started") && err.contains("stopped"), qPrintable(what));
            break;
        }
        QVERIFY2(p.exitCode() == 1, qPrintable(what));
        QVERIFY2(err.contains("Too many open files") || err.contains("too many open files"), qPrintable(what));
        ++refused;
    }
    QVERIFY2(started, "the agent never started, even with 64 descriptors");
    qInfo() << refused << "limits refused cleanly before the agent started;" << blind
            << "where the sanitizer's own check ran out of descriptors";
    QVERIFY2(refused >= 10, qPrintable(QString::number(refused)));
}

QTEST_GUILESS_MAIN(TestAttackSignals)
#include "tst_attack_signals.moc"
