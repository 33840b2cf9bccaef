// The agent's sd_notify messages (agent/systemd_notify.hpp), received as systemd receives them:
// on a Unix datagram socket named by $NOTIFY_SOCKET. Registered only in builds with libsystemd.

#include "harness.hpp"

#include <QtTest>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <csignal>
#include <cstring>

using namespace dlb::test;

class TestSystemdNotify : public QObject {
    Q_OBJECT

private slots:
    void init();
    void cleanup();

    void readyOnceEveryWorkerRuns();
    void sighupSaysReloadingThenReady_data();
    void sighupSaysReloadingThenReady();
    void sigtermSaysStopping();

private:
    // Binds the notify socket in the cluster's folder and starts the agent with $NOTIFY_SOCKET
    // pointing at it, as systemd would.
    bool startNotifiedAgent(int workers);
    // The next datagram, or an empty array after kWaitMs.
    QByteArray nextMessage();

    std::unique_ptr<Cluster> c_;
    int fd_ = -1;
};

void TestSystemdNotify::init()
{
    c_ = std::make_unique<Cluster>();
}

void TestSystemdNotify::cleanup()
{
    const int exitCode = c_->stopAgent();
    checkAgentExit(*c_, exitCode);
    c_.reset();
    if (fd_ >= 0)
        ::close(fd_);
    fd_ = -1;
}

bool TestSystemdNotify::startNotifiedAgent(int workers)
{
    const QByteArray path = QFile::encodeName(c_->path(QStringLiteral("notify.sock")));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (static_cast<size_t>(path.size()) >= sizeof addr.sun_path) {
        qWarning("notify socket path too long: %s", path.constData());
        return false;
    }
    std::memcpy(addr.sun_path, path.constData(), static_cast<size_t>(path.size()));
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        qWarning("notify socket %s: %s", path.constData(), std::strerror(errno));
        return false;
    }
    const quint16 replica = c_->startReplica(QStringLiteral("r1"));
    if (!replica)
        return false;
    QJsonObject cfg = c_->config({replica});
    cfg.insert(QStringLiteral("workers"), workers);
    // Only the agent's environment: the replica above was started without it.
    qputenv("NOTIFY_SOCKET", path);
    const bool started = c_->startAgent(cfg);
    qunsetenv("NOTIFY_SOCKET");
    if (!started)
        qWarning("%s", qPrintable(c_->error()));
    return started;
}

QByteArray TestSystemdNotify::nextMessage()
{
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, kWaitMs) != 1)
        return {};
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? QByteArray(buf, static_cast<qsizetype>(n)) : QByteArray();
}

// READY=1 is the first thing the agent says, once every one of its workers runs: the proxy
// answers by then.
void TestSystemdNotify::readyOnceEveryWorkerRuns()
{
    QVERIFY(startNotifiedAgent(4));
    const QByteArray m = nextMessage();
    QVERIFY2(m.split('\n').contains("READY=1"), m.constData());
    const auto r = fetch(c_->port(), getRequest("/"));
    QVERIFY(r);
    QCOMPARE(r->status, 200);
}

void TestSystemdNotify::sighupSaysReloadingThenReady_data()
{
    QTest::addColumn<bool>("valid");
    QTest::newRow("applied") << true;
    QTest::newRow("refused") << false; // the running config stays and serves: ready again
}

// systemctl reload waits between RELOADING=1 and READY=1; both come whether the file was
// applied or refused.
void TestSystemdNotify::sighupSaysReloadingThenReady()
{
    QFETCH(bool, valid);
    QVERIFY(startNotifiedAgent(2));
    QVERIFY(nextMessage().split('\n').contains("READY=1"));
    if (!valid) {
        QFile f(c_->configPath());
        QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
        f.write("{\"workers\": ");
    }
    const qsizetype mark = c_->agent().logMark();
    c_->agent().signal(SIGHUP);
    const QByteArray reloading = nextMessage();
    QVERIFY2(reloading.split('\n').contains("RELOADING=1"), reloading.constData());
    const QByteArray ready = nextMessage();
    QVERIFY2(ready.split('\n').contains("READY=1"), ready.constData());
    QVERIFY(c_->agent().waitForLog(valid ? "config reloaded" : "reload rejected", mark));
}

void TestSystemdNotify::sigtermSaysStopping()
{
    QVERIFY(startNotifiedAgent(2));
    QVERIFY(nextMessage().split('\n').contains("READY=1"));
    c_->agent().signal(SIGTERM);
    const QByteArray m = nextMessage();
    QVERIFY2(m.split('\n').contains("STOPPING=1"), m.constData());
    QCOMPARE(c_->agent().waitForExit(), 0);
}

QTEST_GUILESS_MAIN(TestSystemdNotify)
#include "tst_systemd_notify.moc"
