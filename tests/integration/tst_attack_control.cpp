// Hostile clients of the control API over its real Unix socket: peers that leave at once, that
// pipeline without reading, that half-close; changes whose answers must name what they did; header
// values with the whitespace HTTP allows around them. Each case failed on the code before its fix
// (docs/control-api.md says what holds).

#include "control_fixture.hpp"

#include <QDir>
#include <QElapsedTimer>
#include <QJsonArray>
#include <QtTest>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

using namespace dlb::test;

namespace {

// A Unix-socket client that writes bytes exactly as given and reads raw bytes: no HTTP help, so
// a test can stop reading, half-close or leave at any moment.
class RawUnix {
public:
    // A TCP connection to 127.0.0.1:port from `source` (any 127.0.0.0/8 address: every one is
    // this host's, so a test can be several peers).
    static std::unique_ptr<RawUnix> tcp(quint16 port, const char* source = "127.0.0.1")
    {
        auto r = std::unique_ptr<RawUnix>(new RawUnix());
        r->fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in from{};
        from.sin_family = AF_INET;
        ::inet_pton(AF_INET, source, &from.sin_addr);
        sockaddr_in to{};
        to.sin_family = AF_INET;
        to.sin_port = htons(port);
        ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
        if (r->fd_ >= 0 && (::bind(r->fd_, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
                            ::connect(r->fd_, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0)) {
            ::close(r->fd_);
            r->fd_ = -1;
        }
        return r;
    }

    explicit RawUnix(const QString& path)
    {
        fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        const QByteArray p = QFile::encodeName(path);
        std::memcpy(addr.sun_path, p.constData(), std::min<size_t>(p.size(), sizeof addr.sun_path - 1));
        if (fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
            ::close(fd_);
            fd_ = -1;
        }
    }
    ~RawUnix()
    {
        if (fd_ >= 0)
            ::close(fd_);
    }
    RawUnix(const RawUnix&) = delete;
    RawUnix& operator=(const RawUnix&) = delete;

    bool ok() const { return fd_ >= 0; }
    bool sendAll(const QByteArray& bytes)
    {
        for (qsizetype done = 0; done < bytes.size();) {
            const ssize_t n = ::send(fd_, bytes.constData() + done, static_cast<size_t>(bytes.size() - done), MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return false;
            done += n;
        }
        return true;
    }
    // What one non-blocking write took: 0 when the socket is full, -1 on an error.
    ssize_t trySend(const char* data, size_t len)
    {
        const ssize_t n = ::send(fd_, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
        return n;
    }
    bool waitFor(short events, int ms)
    {
        pollfd p{fd_, events, 0};
        return ::poll(&p, 1, ms) > 0 && (p.revents & events) != 0;
    }
    void shutdownWrite() { ::shutdown(fd_, SHUT_WR); }
    // Reads until `enough` says so, the peer closes, or `ms` pass.
    QByteArray readUntil(const std::function<bool(const QByteArray&)>& enough, int ms, bool* closed = nullptr)
    {
        QByteArray out;
        QDeadlineTimer deadline(ms);
        char buf[65536];
        while (!enough(out) && !deadline.hasExpired()) {
            if (!waitFor(POLLIN, static_cast<int>(std::max<qint64>(1, deadline.remainingTime()))))
                continue;
            const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n <= 0) {
                if (closed)
                    *closed = true;
                break;
            }
            out.append(buf, n);
        }
        return out;
    }

private:
    RawUnix() = default;
    int fd_ = -1;
};

// The statuses of the complete answers in `bytes`, in order (bodies skipped by Content-Length,
// which every control answer but a stream's carries).
QList<int> answerStatuses(const QByteArray& bytes)
{
    QList<int> out;
    qsizetype at = 0;
    while (true) {
        const qsizetype end = bytes.indexOf("\r\n\r\n", at);
        if (end < 0)
            break;
        const QByteArray head = bytes.mid(at, end - at);
        const qsizetype cl = head.indexOf("Content-Length: ");
        const qsizetype length = cl < 0 ? 0 : head.mid(cl + 16, head.indexOf("\r\n", cl) - cl - 16).toLongLong();
        if (end + 4 + length > bytes.size())
            break;
        out.append(head.mid(9, 3).toInt());
        at = end + 4 + length;
    }
    return out;
}

QByteArray controlGet(const QByteArray& path, const QByteArray& token, const QByteArray& extra = {})
{
    return "GET " + path + " HTTP/1.1\r\nHost: dlb\r\nAuthorization: Bearer " + token + "\r\n" + extra + "\r\n";
}

} // namespace

class TestAttackControl : public QObject {
    Q_OBJECT

private slots:
    void init();
    void cleanup();

    void streamSlotsOutliveClientsThatLeaveAtOnce();
    void pipelinedFloodIsBoundedAndAnsweredInOrder();
    void peerThatNeverReadsIsClosedAfterSendMs();
    void halfCloseGetsEveryAnswer();
    void addAnswersTheReplicaItAdded();
    void replicaIdCannotSplitTheAnswerHead();
    void headerValuesLoseTheirTrailingWhitespace();
    void controlConnectionsLeaveTheDataPlaneItsDescriptors();
    void tcpCrowdLeavesTheUnixSocketItsShare();
    void onePeerCannotTakeEveryTcpSlot();

private:
    bool start(const QJsonObject& config) { return c_->startAgent(config); }
    QString sock() const { return controlSocket(*c_); }
    // An agent with one replica, its Unix socket and a plain TCP control listener on
    // 127.0.0.1:0, its open-file limit set to `nofile` (a quarter of it is the control
    // connection cap); the TCP port, or 0 with `why` set.
    quint16 startWithTcpControl(rlim_t nofile, QString* why)
    {
        const quint16 replica = c_->startReplica(QStringLiteral("r1"));
        QJsonObject cfg = controlConfig(*c_, {replica});
        QJsonObject control = cfg[QStringLiteral("control")].toObject();
        control[QStringLiteral("address")] = QStringLiteral("127.0.0.1:0");
        cfg[QStringLiteral("control")] = control;
        if (replica == 0 || !start(cfg)) {
            *why = c_->error();
            return 0;
        }
        const quint16 port = controlTcpPort();
        const auto pid = static_cast<pid_t>(c_->agent().process().processId());
        const rlimit lim{nofile, nofile};
        if (port == 0 || ::prlimit(pid, RLIMIT_NOFILE, &lim, nullptr) != 0) {
            *why = port == 0 ? QStringLiteral("no \"control: listening on 127.0.0.1:\" line") : QString::fromLocal8Bit(strerror(errno));
            return 0;
        }
        return port;
    }
    // The TCP control listener's port, from the agent's "control: listening on" line.
    quint16 controlTcpPort()
    {
        const QByteArray prefix = "control: listening on 127.0.0.1:";
        quint16 port = 0;
        QDeadlineTimer deadline(kWaitMs);
        while (port == 0 && !deadline.hasExpired()) {
            const QByteArray log = c_->agentLog();
            const qsizetype at = log.indexOf(prefix);
            if (at >= 0) {
                const qsizetype end = log.indexOf('\n', at);
                port = log.mid(at + prefix.size(), end - at - prefix.size()).split(' ').first().toUShort();
            } else {
                QTest::qWait(10);
            }
        }
        return port;
    }
    std::unique_ptr<Cluster> c_;
};

void TestAttackControl::init()
{
    c_ = std::make_unique<Cluster>();
}

void TestAttackControl::cleanup()
{
    const int exitCode = c_->agent().running() ? c_->stopAgent() : 0;
    if (QTest::currentTestFailed() || exitCode != 0)
        qWarning().noquote() << "agent stderr:\n" << c_->agentLog();
    if (!QTest::currentTestFailed())
        QCOMPARE(exitCode, 0);
    c_.reset();
}

// Clients that ask for a stats stream and close at once (the agent reads the request after the
// close, so the stream's opening fails to be written) must not keep one of the 32 stream slots
// each: consoles would get 503 too_many_streams until the agent restarts.
void TestAttackControl::streamSlotsOutliveClientsThatLeaveAtOnce()
{
    QVERIFY2(start(controlConfig(*c_, {refusedPort()})), qPrintable(c_->error()));
    const QByteArray stream = controlGet("/v1/stats/stream", kViewer);
    for (int i = 0; i < 200; ++i) {
        RawUnix gone(sock());
        QVERIFY(gone.ok());
        QVERIFY(gone.sendAll(stream));
    }
    // A connection accepted after all of them: its stream opens, and so do 31 more, not a 33rd.
    std::vector<std::unique_ptr<RawUnix>> open;
    const auto head = [](const QByteArray& b) { return b.contains("\r\n\r\n"); };
    for (int i = 0; i < 32; ++i) {
        open.push_back(std::make_unique<RawUnix>(sock()));
        QVERIFY(open.back()->ok());
        QVERIFY(open.back()->sendAll(stream));
        const QByteArray answer = open.back()->readUntil(head, kWaitMs);
        QVERIFY2(answer.startsWith("HTTP/1.1 200 "), qPrintable(QStringLiteral("stream %1: ").arg(i) + answer.left(200)));
    }
    const auto more = controlCall(*c_, "GET", "/v1/stats/stream", kViewer);
    QVERIFY(more);
    QCOMPARE(more->status, 503);
    QCOMPARE(jsonBody(*more)["error"].toObject()["code"].toString(), QStringLiteral("too_many_streams"));
}

// A peer pipelines requests for 1 KB answers and reads none: the agent stops taking requests once
// answers queue up (its memory stays bounded), and answers every request sent, in order, once the
// peer reads.
void TestAttackControl::pipelinedFloodIsBoundedAndAnsweredInOrder()
{
    QVERIFY2(start(controlConfig(*c_, {refusedPort()})), qPrintable(c_->error()));
    const QByteArray one = controlGet("/v1/config", kViewer);
    const QByteArray batch = one.repeated(512);
    constexpr qsizetype kCap = 2 * 1024 * 1024;
    RawUnix flood(sock());
    QVERIFY(flood.ok());
    qsizetype sent = 0;
    qsizetype offset = 0;
    // Until the agent stops reading: no room for a second (the agent is quick to take bytes it
    // reads), or the cap.
    while (sent < kCap) {
        const ssize_t n = flood.trySend(batch.constData() + offset, static_cast<size_t>(batch.size() - offset));
        QVERIFY(n >= 0);
        if (n == 0 && !flood.waitFor(POLLOUT, 1000))
            break;
        sent += n;
        offset = (offset + n) % batch.size();
    }
    // Two socket buffers, one read and the bound of queued answers: a few hundred KB. Without the
    // bound the agent read every byte and queued 1 KB for each 80.
    QVERIFY2(sent < kCap / 2, qPrintable(QStringLiteral("the agent took %1 bytes of requests it could not answer").arg(sent)));
    // The peer reads: every complete request is answered 200, in order.
    const qsizetype requests = sent / one.size();
    QByteArray answers = flood.readUntil([&](const QByteArray& b) { return answerStatuses(b).size() >= requests; }, 30000);
    const QList<int> statuses = answerStatuses(answers);
    QCOMPARE(statuses.size(), requests);
    QCOMPARE(statuses.count(200), requests);
    // It still serves others.
    const auto status = controlCall(*c_, "GET", "/v1/status", kViewer);
    QVERIFY(status);
    QCOMPARE(status->status, 200);
}

// A peer that never reads its answers holds a control connection (one of 256) for no longer
// than timeouts.send_ms, as on the data plane.
void TestAttackControl::peerThatNeverReadsIsClosedAfterSendMs()
{
    QJsonObject cfg = controlConfig(*c_, {refusedPort()});
    setJson(cfg, {QStringLiteral("timeouts"), QStringLiteral("send_ms")}, 500);
    QVERIFY2(start(cfg), qPrintable(c_->error()));
    RawUnix stuck(sock());
    QVERIFY(stuck.ok());
    const QByteArray requests = controlGet("/v1/config", kViewer).repeated(2000);
    qsizetype done = 0;
    while (done < requests.size()) {
        const ssize_t n = stuck.trySend(requests.constData() + done, static_cast<size_t>(requests.size() - done));
        QVERIFY(n >= 0);
        if (n == 0 && !stuck.waitFor(POLLOUT, 1000))
            break; // the agent stopped reading: what was sent is enough
        done += n;
    }
    QElapsedTimer t;
    t.start();
    QVERIFY2(stuck.waitFor(POLLRDHUP, 10000), "the agent kept a connection whose peer reads nothing");
    QVERIFY(t.elapsed() < 5000);
}

// A peer that sends its requests and half-closes (printf ... | nc -N, socat) gets every answer:
// the ones queued when its FIN arrives are written before the agent closes.
void TestAttackControl::halfCloseGetsEveryAnswer()
{
    QVERIFY2(start(controlConfig(*c_, {refusedPort()})), qPrintable(c_->error()));
    constexpr int kRequests = 500; // about 500 KB of answers: more than a socket buffer holds
    RawUnix peer(sock());
    QVERIFY(peer.ok());
    QVERIFY(peer.sendAll(controlGet("/v1/config", kViewer).repeated(kRequests)));
    peer.shutdownWrite();
    // An answer on another connection after the FIN: by then the agent has seen the FIN (the
    // loop read it before it accepted this one).
    const auto other = controlCall(*c_, "GET", "/healthz", {});
    QVERIFY(other);
    QCOMPARE(other->status, 200);
    bool closed = false;
    const QByteArray answers = peer.readUntil([](const QByteArray&) { return false; }, 20000, &closed);
    QVERIFY(closed);
    const QList<int> statuses = answerStatuses(answers);
    QCOMPARE(statuses.size(), kRequests);
    QCOMPARE(statuses.count(200), kRequests);
}

// POST .../replicas answers with the replica it added, whatever happens to the snapshot that was
// running when the request came (commit() replaces it; a worker may free it at once). A pool name
// too long for a string's inline buffer made the dangling name visible: 500s, or "replica": null.
void TestAttackControl::addAnswersTheReplicaItAdded()
{
    const QString pool = QStringLiteral("a-pool-name-longer-than-an-inline-string-buffer");
    QJsonObject cfg = controlConfig(*c_, {});
    setJson(cfg, {QStringLiteral("pools"), QStringLiteral("0"), QStringLiteral("name")}, pool);
    cfg[QStringLiteral("routes")] = QJsonArray{
        QJsonObject{{QStringLiteral("path_prefix"), QStringLiteral("/")}, {QStringLiteral("pool"), pool}}};
    QVERIFY2(start(cfg), qPrintable(c_->error()));
    ControlClient client(sock());
    QVERIFY(client.connect());
    const QByteArray path = "/v1/pools/" + pool.toLatin1() + "/replicas";
    for (int i = 0; i < 60; ++i) {
        const QByteArray id = "127.0.0.1:" + QByteArray::number(20000 + i);
        const auto r = client.request("POST", path, kAdmin, R"({"url":"http://)" + id + R"("})");
        QVERIFY2(r, qPrintable(client.error()));
        QVERIFY2(r->status == 201, qPrintable(QStringLiteral("add %1: ").arg(i) + r->body));
        QCOMPARE(jsonBody(*r)["replica"].toObject()["id"].toString(), QString::fromLatin1(id));
        QCOMPARE(r->header("Location"), path + "/" + id);
    }
}

// A replica id with CR LF injected header fields into the Location of the answer. Such an id is
// now refused (400, at "id": visible ASCII only, as in a config file) and nothing is added; an id
// with characters a path segment must escape ("?", "#", "%") is escaped in Location, and that
// Location names the replica (it removes it).
void TestAttackControl::replicaIdCannotSplitTheAnswerHead()
{
    QVERIFY2(start(controlConfig(*c_, {})), qPrintable(c_->error()));
    const QJsonObject before = controlState(*c_);
    const QByteArray url = R"({"url":"http://127.0.0.1:)" + QByteArray::number(refusedPort());
    auto r = controlCall(*c_, "POST", "/v1/pools/web/replicas", kAdmin, url + R"(","id":"y\r\nX-Injected: yes"})");
    QVERIFY(r);
    QVERIFY2(r->status == 400, r->body.constData());
    QVERIFY2(!r->hasHeader("X-Injected"), "a header field came from the replica's id");
    QVERIFY(jsonBody(*r)["error"].toObject()["path"].toString().endsWith(QStringLiteral("id")));
    QCOMPARE(controlState(*c_), before);

    r = controlCall(*c_, "POST", "/v1/pools/web/replicas", kAdmin, url + R"(","id":"y?x#z%"})");
    QVERIFY(r);
    QVERIFY2(r->status == 201, r->body.constData());
    const QByteArray location = r->header("Location");
    QCOMPARE(location, QByteArray("/v1/pools/web/replicas/y%3Fx%23z%25"));
    QCOMPARE(jsonBody(*r)["replica"].toObject()["id"].toString(), QStringLiteral("y?x#z%"));
    const auto removed = controlCall(*c_, "DELETE", location);
    QVERIFY(removed);
    QVERIFY2(removed->status == 202, removed->body.constData());
}

// RFC 9112 5: the whitespace after a field value is not part of it. A token, an If-Match and an
// Expect sent with trailing spaces or tabs are what they are without them; RFC 6750 2.1 allows
// more than one space after "Bearer".
void TestAttackControl::headerValuesLoseTheirTrailingWhitespace()
{
    QVERIFY2(start(controlConfig(*c_, {refusedPort()})), qPrintable(c_->error()));
    auto r = controlCall(*c_, "GET", "/v1/status", {}, {}, "Authorization: Bearer " + kAdmin + " \t\r\n");
    QVERIFY(r);
    QVERIFY2(r->status == 200, r->body.constData());
    r = controlCall(*c_, "GET", "/v1/status", {}, {}, "Authorization: bearer   " + kAdmin + "\r\n");
    QVERIFY(r);
    QVERIFY2(r->status == 200, r->body.constData());
    // Spaces alone are no token.
    r = controlCall(*c_, "GET", "/v1/status", {}, {}, "Authorization: Bearer    \r\n");
    QVERIFY(r);
    QCOMPARE(r->status, 401);
    r = controlCall(*c_, "PUT", "/v1/pools/web/algorithm", kAdmin, R"({"name":"random"})",
                    "If-Match: 1 \r\nExpect: 100-continue\t\r\n");
    QVERIFY(r);
    QVERIFY2(r->status == 200, r->body.constData());
    QCOMPARE(jsonBody(*r)["generation"].toInt(), 2);
}

// Holding a control connection needs no token. Under a low open-file limit (prlimit on the
// running agent) a crowd of them must not take every descriptor: the data plane keeps serving.
void TestAttackControl::controlConnectionsLeaveTheDataPlaneItsDescriptors()
{
    const quint16 replica = c_->startReplica(QStringLiteral("r1"));
    QVERIFY2(replica, qPrintable(c_->error()));
    QVERIFY2(start(controlConfig(*c_, {replica})), qPrintable(c_->error()));
    const auto knock = [&] {
        HttpClient client;
        if (!client.connectTo(c_->port()) || !client.send(getRequest("/")))
            return 0;
        const auto r = client.read();
        return r ? r->status : 0;
    };
    QCOMPARE(knock(), 200);
    const auto pid = static_cast<pid_t>(c_->agent().process().processId());
    const auto held = static_cast<rlim_t>(QDir(QStringLiteral("/proc/%1/fd").arg(pid)).entryList(QDir::NoDotAndDotDot | QDir::System).size());
    QVERIFY(held > 0);
    const rlimit lim{held + 60, held + 60};
    QVERIFY2(::prlimit(pid, RLIMIT_NOFILE, &lim, nullptr) == 0, strerror(errno));

    // 200 control connections; each is either served (it answers /healthz and stays open) or
    // closed by the agent. Once every one has its outcome, the agent has decided on all of them.
    std::vector<std::unique_ptr<RawUnix>> crowd;
    const QByteArray healthz = "GET /healthz HTTP/1.1\r\nHost: dlb\r\n\r\n";
    int served = 0;
    for (int i = 0; i < 200; ++i) {
        crowd.push_back(std::make_unique<RawUnix>(sock()));
        QVERIFY(crowd.back()->ok());
        if (!crowd.back()->sendAll(healthz))
            continue;
        bool closed = false;
        const QByteArray a = crowd.back()->readUntil([](const QByteArray& b) { return answerStatuses(b).size() == 1; },
                                                     kWaitMs, &closed);
        QVERIFY2(closed || answerStatuses(a).size() == 1, "a control connection got neither an answer nor a close");
        served += closed ? 0 : 1;
    }
    QVERIFY(served > 0);
    // The data plane, with the crowd still connected.
    for (int i = 0; i < 10; ++i)
        QCOMPARE(knock(), 200);
}

namespace {

// Sends /healthz on `c` and waits for the outcome: true when answered (the connection stays
// open, held), false when the agent closed it.
bool servedAndHeld(RawUnix& c)
{
    const QByteArray healthz = "GET /healthz HTTP/1.1\r\nHost: dlb\r\n\r\n";
    if (!c.ok() || !c.sendAll(healthz))
        return false;
    bool closed = false;
    const QByteArray a =
        c.readUntil([](const QByteArray& b) { return answerStatuses(b).size() == 1; }, kWaitMs, &closed);
    return !closed && answerStatuses(a).size() == 1;
}

} // namespace

// A TCP control listener can be reached by anyone, with no token. A crowd there used to take
// every control slot, the Unix socket's too: the local admin (dlbctl, systemd's reload) was
// locked out. TCP now leaves kUnixReservedConnections (16) to the Unix socket. With the agent's
// open-file limit at 160 the cap is 40 connections: 24 over TCP, the rest for the socket.
void TestAttackControl::tcpCrowdLeavesTheUnixSocketItsShare()
{
    QString why;
    const quint16 port = startWithTcpControl(160, &why);
    QVERIFY2(port > 0, qPrintable(why));

    // Several source addresses, so the per-peer cap (32) is not what stops them.
    std::vector<std::unique_ptr<RawUnix>> crowd;
    int tcp_served = 0;
    for (int i = 0; i < 30; ++i) {
        const char* source = i % 2 == 0 ? "127.0.0.1" : "127.0.0.2";
        crowd.push_back(RawUnix::tcp(port, source));
        tcp_served += servedAndHeld(*crowd.back()) ? 1 : 0;
    }
    QCOMPARE(tcp_served, 24);
    int unix_served = 0;
    for (int i = 0; i < 17; ++i) {
        crowd.push_back(std::make_unique<RawUnix>(sock()));
        unix_served += servedAndHeld(*crowd.back()) ? 1 : 0;
    }
    QCOMPARE(unix_served, 16); // the 17th is over the cap of 40 in all
    QTRY_VERIFY_WITH_TIMEOUT(c_->agentLog().contains("control connections over TCP (16 kept for the Unix socket)"),
                             kWaitMs);
}

// One address cannot take every TCP slot from the others: at most kMaxConnectionsPerPeer (32)
// from it at once. The refusals are logged at most once a second with their count, not a line
// per connection (a flood would have been a log flood).
void TestAttackControl::onePeerCannotTakeEveryTcpSlot()
{
    QString why;
    const quint16 port = startWithTcpControl(4096, &why); // cap 256: only the per-peer cap can stop the crowd
    QVERIFY2(port > 0, qPrintable(why));

    std::vector<std::unique_ptr<RawUnix>> crowd;
    int served = 0;
    for (int i = 0; i < 48; ++i) {
        crowd.push_back(RawUnix::tcp(port));
        served += servedAndHeld(*crowd.back()) ? 1 : 0;
    }
    QCOMPARE(served, 32);
    auto other = RawUnix::tcp(port, "127.0.0.3");
    QVERIFY(servedAndHeld(*other));
    // One freed slot lets the crowded peer in again.
    crowd.front().reset();
    // (QTRY evaluates its expression again after success: `in` keeps that from opening more.)
    std::unique_ptr<RawUnix> again;
    bool in = false;
    QTRY_VERIFY_WITH_TIMEOUT(in || (in = servedAndHeld(*(again = RawUnix::tcp(port)))), kWaitMs);
    const QByteArray line = "control connections from ip:127.0.0.1; closing new ones";
    QTRY_VERIFY_WITH_TIMEOUT(c_->agentLog().contains(line), kWaitMs);
    const QByteArray log = c_->agentLog();
    QVERIFY2(log.count(line) < 16, log.constData()); // 16 refused, fewer lines
}

QTEST_GUILESS_MAIN(TestAttackControl)
#include "tst_attack_control.moc"
