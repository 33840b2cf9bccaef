// Chaos: under steady closed-loop load, with each balancing algorithm, one of three replicas is
// killed (SIGKILL) and later restarted on the same port. No request may fail (they are all
// GETs, which the agent retries), the dead replica is marked down by its health checks, and once
// `rise` checks have passed it gets traffic again.
//
// Two kinds of pool: dlb-replicas, which answer /ping and /healthz at once, and "queueing"
// replicas, whose /ping and /healthz wait in the same FIFO queue as requests (as in a server
// that has one event loop or one thread pool for everything), so they answer slowly exactly when
// the replica is busy. The queueing replica is this test program itself, run with
// --queueing-replica: a real process, so it can be killed.

#include "harness.hpp"

#include <QCoreApplication>
#include <QElapsedTimer>
#include <QMap>
#include <QtTest>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace dlb::test;

namespace {

// ---- the queueing replica (child process) ----------------------------------------------------

// Its service: kQueueSlots requests at a time, each kQueueServiceMs; everything else waits.
// Slow enough that under this test's closed-loop load a probe queued behind requests can wait
// past Prequal's default probe timeout (50 ms), as issue 7 saw with asyncio replicas; the
// health checks' timeout (kHealthTimeoutMs) stays above the wait that load alone causes.
constexpr int kQueueSlots = 2;
constexpr int kQueueServiceMs = 8;
constexpr size_t kQueueMaxHeadBytes = 16384;

struct QConn {
    int fd = -1;
    std::string in;
    std::string out;
    bool busy = false;       // a request of this connection is queued or in service
    bool closeAfter = false; // answer, then close (Connection: close)
};

struct QJob {
    uint64_t conn;
    std::string path;
    std::chrono::steady_clock::time_point enqueued;
    std::chrono::steady_clock::time_point done; // set when it enters service
};

// Serves until killed. Prints "listening on 127.0.0.1:PORT" once it listens.
int runQueueingReplica(quint16 port, const std::string& name)
{
    using Clock = std::chrono::steady_clock;
    std::signal(SIGPIPE, SIG_IGN);
    const int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(lfd, reinterpret_cast<const sockaddr*>(&sin), sizeof sin) != 0 || ::listen(lfd, 1024) != 0) {
        std::fprintf(stderr, "queueing replica: cannot listen on port %u: %s\n", port, std::strerror(errno));
        return 1;
    }
    socklen_t len = sizeof sin;
    getsockname(lfd, reinterpret_cast<sockaddr*>(&sin), &len);
    std::printf("listening on 127.0.0.1:%u\n", ntohs(sin.sin_port));
    std::fflush(stdout);

    std::map<uint64_t, QConn> conns;
    uint64_t nextId = 1;
    std::deque<QJob> queue;
    std::vector<QJob> inService;
    double latencyMs = kQueueServiceMs; // EWMA of queueing + service time

    const auto answer = [&](QConn& c, const QJob& j) {
        std::string body;
        std::string extra;
        if (j.path == "/ping") {
            body = "{\"rif\": " + std::to_string(queue.size() + inService.size()) +
                   ", \"latency_ms\": " + std::to_string(latencyMs) + "}";
            extra = "Content-Type: application/json\r\n";
        } else {
            body = j.path == "/healthz" ? "ok\n" : name + "\n";
        }
        c.out += "HTTP/1.1 200 OK\r\nX-Replica: " + name + "\r\n" + extra + "Content-Length: " + std::to_string(body.size()) +
                 (c.closeAfter ? "\r\nConnection: close" : "") + "\r\n\r\n" + body;
    };

    for (;;) {
        const auto now = Clock::now();
        // Finished jobs answer.
        for (auto it = inService.begin(); it != inService.end();) {
            if (it->done > now) {
                ++it;
                continue;
            }
            if (it->path != "/ping" && it->path != "/healthz")
                latencyMs = 0.8 * latencyMs +
                            0.2 * std::chrono::duration<double, std::milli>(now - it->enqueued).count();
            if (auto c = conns.find(it->conn); c != conns.end()) {
                answer(c->second, *it);
                c->second.busy = false;
            }
            it = inService.erase(it);
        }
        // Parse what arrived (one request per connection at a time, so answers keep order).
        for (auto& [id, c] : conns) {
            if (c.busy || c.closeAfter)
                continue;
            const size_t end = c.in.find("\r\n\r\n");
            if (end == std::string::npos)
                continue;
            const std::string head = c.in.substr(0, end);
            c.in.erase(0, end + 4);
            const size_t sp1 = head.find(' ');
            const size_t sp2 = head.find(' ', sp1 + 1);
            std::string lower = head;
            for (char& ch : lower)
                ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
            c.closeAfter = lower.find("\r\nconnection: close") != std::string::npos;
            c.busy = true;
            queue.push_back({id, head.substr(sp1 + 1, sp2 - sp1 - 1), now, {}});
        }
        // Free slots take the next in line (after parsing: a poll without a job in service
        // would wait for the next event only).
        while (inService.size() < static_cast<size_t>(kQueueSlots) && !queue.empty()) {
            QJob j = std::move(queue.front());
            queue.pop_front();
            j.done = now + std::chrono::milliseconds(kQueueServiceMs);
            inService.push_back(std::move(j));
        }
        // Write what is due; drop closed connections.
        for (auto it = conns.begin(); it != conns.end();) {
            QConn& c = it->second;
            bool drop = false;
            if (!c.out.empty()) {
                const ssize_t n = ::send(c.fd, c.out.data(), c.out.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n > 0)
                    c.out.erase(0, static_cast<size_t>(n));
                else if (n < 0 && errno != EAGAIN)
                    drop = true;
                if (c.out.empty() && c.closeAfter && !c.busy)
                    drop = true;
            }
            if (drop) {
                ::close(c.fd);
                it = conns.erase(it);
            } else {
                ++it;
            }
        }
        // Wait for bytes, a new connection or the next job to finish.
        std::vector<pollfd> pfds{{lfd, POLLIN, 0}};
        std::vector<uint64_t> ids;
        for (auto& [id, c] : conns) {
            pfds.push_back({c.fd, static_cast<short>(POLLIN | (c.out.empty() ? 0 : POLLOUT)), 0});
            ids.push_back(id);
        }
        int timeoutMs = -1;
        for (const QJob& j : inService) {
            const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(j.done - Clock::now()).count() + 1;
            timeoutMs = timeoutMs < 0 ? static_cast<int>(std::max<long long>(ms, 0)) : std::min(timeoutMs, static_cast<int>(std::max<long long>(ms, 0)));
        }
        if (::poll(pfds.data(), pfds.size(), timeoutMs) < 0 && errno != EINTR)
            return 1;
        if (pfds[0].revents & POLLIN) {
            for (;;) {
                const int fd = ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0)
                    break;
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                conns[nextId++] = QConn{fd, {}, {}, false, false};
            }
        }
        for (size_t i = 1; i < pfds.size(); ++i) {
            if (!(pfds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            auto c = conns.find(ids[i - 1]);
            char buf[16384];
            const ssize_t n = ::recv(c->second.fd, buf, sizeof buf, MSG_DONTWAIT);
            if (n > 0 && c->second.in.size() + static_cast<size_t>(n) <= kQueueMaxHeadBytes) {
                c->second.in.append(buf, static_cast<size_t>(n));
            } else if (n >= 0 || errno != EAGAIN) { // closed, failed, or a head over the limit
                ::close(c->second.fd);
                conns.erase(c);
            }
        }
    }
}

// ---- load ----------------------------------------------------------------------------------------

// Closed-loop clients, each a thread with one keep-alive connection from its own 127.0.0.x
// address (so ip_hash and the client-keyed hashes spread them), sending its next GET as soon as
// the last was answered. A failure is recorded and the client reconnects: every failure shows.
constexpr int kClients = 16;
// A bound on the run, whatever happens to the phases.
constexpr int kMaxRequestsPerClient = 200000;

struct Answer {
    qint64 atMs;
    int status; // 0: transport failure
    std::string replica;
    std::string error;
};

class Load {
public:
    explicit Load(quint16 port) : port_(port)
    {
        clock_.start();
        for (int i = 0; i < kClients; ++i)
            threads_.emplace_back([this, i] { run(i); });
    }
    ~Load() { stop(); }
    void stop()
    {
        stop_ = true;
        for (auto& t : threads_)
            if (t.joinable())
                t.join();
    }
    qint64 nowMs() const { return clock_.elapsed(); }
    std::vector<Answer> answers() const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return answers_;
    }
    // Answers from `replica` at or after `fromMs`.
    int servedBy(const std::string& replica, qint64 fromMs) const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        int n = 0;
        for (const Answer& a : answers_)
            n += a.atMs >= fromMs && a.status == 200 && a.replica == replica;
        return n;
    }

private:
    int connectFrom(int client)
    {
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        const timeval tv{kWaitMs / 1000, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        sockaddr_in from{};
        from.sin_family = AF_INET;
        from.sin_addr.s_addr = htonl(INADDR_LOOPBACK + 10 + static_cast<uint32_t>(client));
        sockaddr_in to{};
        to.sin_family = AF_INET;
        to.sin_port = htons(port_);
        to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::bind(fd, reinterpret_cast<const sockaddr*>(&from), sizeof from) != 0 ||
            ::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0) {
            ::close(fd);
            return -1;
        }
        return fd;
    }

    // One exchange: the answer's status and X-Replica, or status 0 and why.
    Answer exchange(int fd, int client, int n)
    {
        const std::string req = "GET /chaos/" + std::to_string(client) + "/" + std::to_string(n) +
                                " HTTP/1.1\r\nHost: chaos.test\r\n\r\n";
        if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size()))
            return {0, 0, {}, std::string("send: ") + std::strerror(errno)};
        std::string in;
        char buf[4096];
        for (;;) {
            const size_t end = in.find("\r\n\r\n");
            if (end != std::string::npos) {
                std::string head = in.substr(0, end);
                std::string lower = head;
                for (char& ch : lower)
                    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
                const size_t cl = lower.find("\r\ncontent-length:");
                const size_t length = cl == std::string::npos ? 0 : std::stoul(head.substr(cl + 17));
                if (in.size() >= end + 4 + length) {
                    Answer a{0, std::atoi(head.c_str() + 9), {}, {}};
                    if (const size_t r = lower.find("\r\nx-replica:"); r != std::string::npos) {
                        const size_t eol = head.find("\r\n", r + 2);
                        a.replica = head.substr(r + 12, eol - r - 12);
                        a.replica.erase(0, a.replica.find_first_not_of(' '));
                    }
                    if (a.status != 200)
                        a.error = in.substr(end + 4, length);
                    return a;
                }
            }
            const ssize_t got = ::recv(fd, buf, sizeof buf, 0);
            if (got <= 0)
                return {0, 0, {}, got == 0 ? "the agent closed the connection" : std::string("recv: ") + std::strerror(errno)};
            in.append(buf, static_cast<size_t>(got));
        }
    }

    void run(int client)
    {
        int fd = -1;
        for (int n = 0; n < kMaxRequestsPerClient && !stop_; ++n) {
            if (fd < 0)
                fd = connectFrom(client);
            Answer a = fd < 0 ? Answer{0, 0, {}, std::string("connect: ") + std::strerror(errno)} : exchange(fd, client, n);
            a.atMs = clock_.elapsed();
            if (a.status == 0 && fd >= 0) {
                ::close(fd);
                fd = -1;
            }
            std::lock_guard<std::mutex> lock(mutex_);
            answers_.push_back(std::move(a));
        }
        if (fd >= 0)
            ::close(fd);
    }

    quint16 port_;
    QElapsedTimer clock_;
    std::atomic<bool> stop_{false};
    std::vector<std::thread> threads_;
    mutable std::mutex mutex_;
    std::vector<Answer> answers_; // guarded by mutex_
};

// ---- the test ------------------------------------------------------------------------------------

constexpr int kReplicas = 3;
// Health checks: quick, so a case takes seconds. timeout_ms stays well above what a queueing
// replica's /healthz waits at this load (a few ms), as an operator would set it.
constexpr int kHealthIntervalMs = 200;
constexpr int kHealthTimeoutMs = 150;
constexpr int kFall = 2;
constexpr int kRise = 2;
// Load before the kill (to see who gets traffic), and while the victim is down.
constexpr int kWarmMs = 500;
constexpr int kDownMs = 500;
// Requests the revived replica must serve to count as "gets traffic again".
constexpr int kRevivedServes = 5;
// How long after it is healthy again the revived replica may take to get them.
constexpr int kRevivedWithinMs = 5000;

} // namespace

class TestChaos : public QObject {
    Q_OBJECT

private slots:
    void killAndRestartAReplicaUnderLoad_data();
    void killAndRestartAReplicaUnderLoad();

private:
    // Starts replica `name` on `port` (0: any); its port, 0 on failure (then `why`).
    quint16 startReplica(ChildProcess& proc, bool queueing, const QString& name, quint16 port, QString* why);
};

quint16 TestChaos::startReplica(ChildProcess& proc, bool queueing, const QString& name, quint16 port, QString* why)
{
    QByteArray line;
    if (queueing)
        line = proc.startAndReadLine(QCoreApplication::applicationFilePath(),
                                     {QStringLiteral("--queueing-replica"), QString::number(port), name}, "listening on 127.0.0.1:");
    else
        line = proc.startAndReadLine(binPath(QStringLiteral("dlb-replica")),
                                     {QStringLiteral("--listen"), QStringLiteral("127.0.0.1:%1").arg(port), QStringLiteral("--name"),
                                      name, QStringLiteral("--workers"), QStringLiteral("8"), QStringLiteral("--service-ms"),
                                      QStringLiteral("1"), QStringLiteral("--seed"), QStringLiteral("1")},
                                     "listening on 127.0.0.1:");
    if (line.isEmpty())
        *why = proc.error();
    return static_cast<quint16>(line.toUInt());
}

void TestChaos::killAndRestartAReplicaUnderLoad_data()
{
    QTest::addColumn<QString>("algorithm");
    QTest::addColumn<bool>("queueing");
    const QStringList algorithms{QStringLiteral("prequal"),     QStringLiteral("round_robin"), QStringLiteral("least_request"),
                                 QStringLiteral("power_of_d"),  QStringLiteral("random"),      QStringLiteral("weighted_round_robin"),
                                 QStringLiteral("ring_hash"),   QStringLiteral("maglev"),      QStringLiteral("ip_hash")};
    for (const bool queueing : {false, true})
        for (const QString& a : algorithms)
            QTest::newRow(qPrintable(a + (queueing ? QStringLiteral(", queueing probes") : QStringLiteral(", dlb-replica"))))
                << a << queueing;
}

void TestChaos::killAndRestartAReplicaUnderLoad()
{
    QFETCH(QString, algorithm);
    QFETCH(bool, queueing);

    Cluster c;
    std::vector<std::unique_ptr<ChildProcess>> replicas;
    QList<quint16> ports;
    for (int i = 0; i < kReplicas; ++i) {
        replicas.push_back(std::make_unique<ChildProcess>());
        QString why;
        const quint16 port = startReplica(*replicas.back(), queueing, QStringLiteral("r%1").arg(i + 1), 0, &why);
        QVERIFY2(port, qPrintable(why));
        ports.append(port);
    }
    QJsonObject cfg = c.config(ports);
    setJson(cfg, {QStringLiteral("workers")}, 2);
    setJson(cfg, {QStringLiteral("pools"), QStringLiteral("0"), QStringLiteral("algorithm")},
            QJsonObject{{QStringLiteral("name"), algorithm}});
    setJson(cfg, {QStringLiteral("pools"), QStringLiteral("0"), QStringLiteral("health_check")},
            QJsonObject{{QStringLiteral("interval_ms"), kHealthIntervalMs},
                        {QStringLiteral("timeout_ms"), kHealthTimeoutMs},
                        {QStringLiteral("fall"), kFall},
                        {QStringLiteral("rise"), kRise}});
    QVERIFY2(c.startAgent(cfg), qPrintable(c.error()));

    Load load(c.port());
    QTest::qWait(kWarmMs);
    // The victim is the replica that served most so far: with a hash algorithm, one that
    // certainly has clients to get back.
    QMap<QString, int> warm;
    for (const Answer& a : load.answers())
        if (a.status == 200)
            ++warm[QString::fromStdString(a.replica)];
    int victim = 0;
    for (int i = 1; i < kReplicas; ++i)
        if (warm.value(QStringLiteral("r%1").arg(i + 1)) > warm.value(QStringLiteral("r%1").arg(victim + 1)))
            victim = i;
    const QString victimName = QStringLiteral("r%1").arg(victim + 1);
    const QByteArray victimId = "127.0.0.1:" + QByteArray::number(ports[victim]);

    const qsizetype killMark = c.agent().logMark();
    replicas[victim]->signal(SIGKILL);
    QCOMPARE(replicas[victim]->waitForExit(), -1); // killed, not exited
    QVERIFY2(c.agent().waitForLog("replica " + victimId + " of pool web is down", killMark), c.agentLog().constData());
    QTest::qWait(kDownMs); // load keeps running against the pool without it

    const qsizetype reviveMark = c.agent().logMark();
    replicas[victim] = std::make_unique<ChildProcess>();
    QString why;
    QCOMPARE(startReplica(*replicas[victim], queueing, victimName, ports[victim], &why), ports[victim]);
    QVERIFY2(c.agent().waitForLog("replica " + victimId + " of pool web is healthy again", reviveMark),
             c.agentLog().constData());
    const qint64 healthyAt = load.nowMs();
    QTRY_VERIFY2_WITH_TIMEOUT(load.servedBy(victimName.toStdString(), healthyAt) >= kRevivedServes,
                              qPrintable(QStringLiteral("%1 served %2 requests in %3 ms after it was healthy again")
                                             .arg(victimName)
                                             .arg(load.servedBy(victimName.toStdString(), healthyAt))
                                             .arg(load.nowMs() - healthyAt)),
                              kRevivedWithinMs);
    const qint64 revivedAfter = load.nowMs() - healthyAt;
    load.stop();

    const std::vector<Answer> answers = load.answers();
    QMap<QString, int> served;
    QStringList failures;
    for (const Answer& a : answers) {
        if (a.status == 200)
            ++served[QString::fromStdString(a.replica)];
        else if (failures.size() < 10)
            failures << QStringLiteral("at %1 ms: %2 %3").arg(a.atMs).arg(a.status).arg(QString::fromStdString(a.error).trimmed());
    }
    const qsizetype failed = std::count_if(answers.begin(), answers.end(), [](const Answer& a) { return a.status != 200; });
    qInfo("%s: %zu requests, %lld failed; served r1 %d, r2 %d, r3 %d; victim %s back in traffic %lld ms after healthy",
          qPrintable(algorithm), answers.size(), static_cast<long long>(failed), served.value(QStringLiteral("r1")),
          served.value(QStringLiteral("r2")), served.value(QStringLiteral("r3")), qPrintable(victimName),
          static_cast<long long>(revivedAfter));
    if (failed != 0) // what the agent made of it, for whoever reads the failure
        qWarning().noquote() << "agent log (last 3000 bytes):\n" << c.agentLog().right(3000);
    QVERIFY2(failed == 0, qPrintable(QStringLiteral("%1 of %2 requests failed; first ones:\n").arg(failed).arg(answers.size()) +
                                     failures.join(QLatin1Char('\n'))));
    QCOMPARE(c.stopAgent(), 0);
}

int main(int argc, char** argv)
{
    if (argc == 4 && std::strcmp(argv[1], "--queueing-replica") == 0)
        return runQueueingReplica(static_cast<quint16>(std::atoi(argv[2])), argv[3]);
    QCoreApplication app(argc, argv);
    TestChaos test;
    QTEST_SET_MAIN_SOURCE_PATH
    return QTest::qExec(&test, argc, argv);
}

#include "tst_chaos.moc"
