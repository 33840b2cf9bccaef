// Hostile clients over raw sockets against a real dlb-agent (issue 6 items 1-5 and 7): request
// smuggling, the 300-connection crash, pipelines that never read, connections held without a
// body, resets (SO_LINGER 0) at every stage of an exchange, half-closes, slow readers, and the
// strict request rules. Each case is the exact bytes where it gives them.

#include "harness.hpp"
#include "raw_socket.hpp"

#include <QFile>
#include <QtTest>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fcntl.h>

#include <cerrno>
#include <csignal>
#include <vector>

using namespace dlb::test;

namespace {

QJsonObject route(const QString& prefix, const QString& pool)
{
    return QJsonObject{{QStringLiteral("path_prefix"), prefix}, {QStringLiteral("pool"), pool}};
}

} // namespace

class TestHostile : public QObject {
    Q_OBJECT

private slots:
    void init();
    void cleanup();

    // item 1
    void connectionCannotStripContentLength();
    void otherTransferCodingIs501();
    void everyConnectionHeaderIsRead();
    // item 2
    void pipelinedResetsDoNotCrash();
    // item 3
    void hugePipelinesStayBounded();
    void unreadAnswersStopThePipeline();
    // item 4
    void maxRequestsPerConnectionEndsIt();
    void localAnswerWithMissingBodyIsClosed();
    void slowUploadTimesOut();
    void slowReaderIsCutOffAndMemoryBounded();
    // resets and half-closes at every stage
    void resetsAtEveryStage();
    void halfCloses();
    // item 5
    void headAnsweredLocallyHasNoBody();
    void contentLengthZeroIsForwarded();
    void requestRules_data();
    void requestRules();
    void maxBodyBytesIsForRequestsOnly();
    void bytesAfterAnAnswerEndUpstreamReuse();
    void drainDeadlineIsLoggedAsShutdown();
    void shutdownFinishesAnAnswerBeingWritten();
    // item 7
    void routesMatchTheNormalisedPath();
    void viaIsAdded();
    // item 6 (access log)
    void accessLogTellsWhatHappened();

private:
    QByteArray accessLog();
    bool agentAnswers();
    std::unique_ptr<Cluster> c_;
    bool stoppedByTest_ = false;
};

void TestHostile::init()
{
    c_ = std::make_unique<Cluster>();
}

void TestHostile::cleanup()
{
    // An agent that is gone without the test stopping it has crashed.
    const int exitCode = c_->agent().running() ? c_->stopAgent() : stoppedByTest_ ? 0 : -1;
    stoppedByTest_ = false;
    checkAgentExit(*c_, exitCode);
}

QByteArray TestHostile::accessLog()
{
    QFile log(c_->accessLogPath());
    return log.open(QIODevice::ReadOnly) ? log.readAll() : QByteArray();
}

bool TestHostile::agentAnswers()
{
    const auto r = fetch(c_->port(), getRequest("/alive"));
    return r && r->status == 200;
}

// The bytes: the body must reach the replica as the body of one request, framed by the
// length the agent parsed, never as a second request on a shared connection.
void TestHostile::connectionCannotStripContentLength()
{
    StubBackend& stub = c_->addStub("s");
    QVERIFY2(c_->startAgent(c_->config({stub.port()})), qPrintable(c_->error()));
    HttpClient client;
    QVERIFY(client.connectTo(c_->port()));
    QVERIFY(client.send("POST / HTTP/1.1\r\nHost: a\r\nConnection: Content-Length\r\nContent-Length: 35\r\n\r\n"
                        "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"));
    const auto r = client.read();
    QVERIFY2(r, qPrintable(client.error()));
    QCOMPARE(r->status, 200);
    // A later request on the same pooled upstream connection must be the only other one.
    const auto next = fetch(c_->port(), getRequest("/next"));
    QVERIFY(next);
    const auto seen = stub.requests();
    QCOMPARE(seen.size(), 2);
    QCOMPARE(seen[0].path, QByteArray("/"));
    QCOMPARE(seen[0].header("content-length"), QByteArray("35"));
    QCOMPARE(seen[0].body, QByteArray("GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"));
    QCOMPARE(seen[1].path, QByteArray("/next"));
}

// Only chunked goes upstream as a transfer coding; another one gets 501 and reaches no replica.
void TestHostile::otherTransferCodingIs501()
{
    StubBackend& stub = c_->addStub("s");
    QVERIFY2(c_->startAgent(c_->config({stub.port()})), qPrintable(c_->error()));
    for (const QByteArray& te : {QByteArray("gzip"), QByteArray("gzip, chunked")}) {
        const auto r = fetch(c_->port(), "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: " + te + "\r\n\r\n0\r\n\r\n");
        QVERIFY(r);
        QCOMPARE(r->status, 501);
    }
    QCOMPARE(stub.requests().size(), 0);
}

// Every Connection header names hop-by-hop fields, not only the first.
void TestHostile::everyConnectionHeaderIsRead()
{
    StubBackend& stub = c_->addStub("s");
    QVERIFY2(c_->startAgent(c_->config({stub.port()})), qPrintable(c_->error()));
    const auto r = fetch(c_->port(), "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nConnection: X-Secret\r\n"
                                     "X-Secret: 1\r\n\r\n");
    QVERIFY(r);
    QCOMPARE(r->status, 200);
    QCOMPARE(stub.requests().size(), 1);
    QVERIFY(!stub.requests()[0].hasHeader("x-secret"));
}

// The crash: 300 connections pipeline `GET *` and `GET /` fifty times and reset.
void TestHostile::pipelinedResetsDoNotCrash()
{
    const quint16 r1 = c_->startReplica(QStringLiteral("r1"));
    QVERIFY2(r1, qPrintable(c_->error()));
    QVERIFY2(c_->startAgent(c_->config({r1})), qPrintable(c_->error()));
    const QByteArray one = "GET * HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    const QByteArray burst = one.repeated(50);
    // Round 0 resets at once (the reset races the agent's reads and first writes); round 1
    // after the first answer bytes arrived (the reset lands while answers are being written).
    for (int round = 0; round < 2; ++round) {
        std::vector<int> fds;
        for (int i = 0; i < 300; ++i) {
            const int fd = rawConnect(c_->port());
            QVERIFY(fd >= 0);
            QVERIFY(sendAll(fd, burst));
            if (round == 0)
                resetClose(fd);
            else
                fds.push_back(fd);
        }
        char b[512];
        for (int fd : fds) {
            pollfd p{fd, POLLIN, 0};
            if (::poll(&p, 1, kWaitMs) > 0)
                (void)::recv(fd, b, sizeof b, 0);
            resetClose(fd);
        }
    }
    QVERIFY2(c_->agent().running(), c_->agentLog().constData());
    QVERIFY(agentAnswers());
}

// 50 connections of 3,000 pipelined requests that read nothing at first (82 MiB before the
// fix with small answers, unbounded with larger ones): the agent stops
// reading them instead of queueing answers, its memory stays bounded, and every answer
// arrives in the end.
void TestHostile::hugePipelinesStayBounded()
{
    // Answers of 2 KiB: 3,000 of them outgrow what the kernel's socket buffers absorb.
    StubBackend& stub = c_->addStub("s");
    stub.answerPath("/p", 200, QByteArray(2048, 'p'));
    QJsonObject cfg = c_->config({stub.port()});
    setJson(cfg, {"limits", "max_requests_per_connection"}, 10000);
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));
    const qint64 pid = c_->agent().process().processId();
    const qint64 before = rssKiB(pid);
    constexpr int kConns = 50, kRequests = 3000;
    const QByteArray burst = getRequest("/p").repeated(kRequests);
    std::vector<int> fds;
    std::vector<qsizetype> sent(kConns, 0);
    for (int i = 0; i < kConns; ++i) {
        const int fd = rawConnect(c_->port(), 16 * 1024);
        QVERIFY(fd >= 0);
        fds.push_back(fd);
    }
    // Write, without reading, what the sockets take, until nothing more goes.
    for (bool progress = true; progress;) {
        progress = false;
        for (int i = 0; i < kConns; ++i) {
            const qsizetype now = sendSome(fds[i], burst, sent[i]);
            progress = progress || now != sent[i];
            sent[i] = now;
        }
        if (progress)
            QTest::qWait(20); // the agent reads on; this is a pause for it, not a synchronisation
    }
    qint64 peak = rssKiB(pid);
    // Now read everything, sending the rest as the agent takes it.
    std::vector<int> answers(kConns, 0);
    std::vector<QByteArray> tails(kConns);
    QElapsedTimer t;
    t.start();
    // Stalled means no answer byte for 15 s; the whole run takes what the machine takes (2-3 s
    // plain, over a minute under ThreadSanitizer on a loaded machine, which a fixed 60 s cut).
    QElapsedTimer sinceProgress;
    sinceProgress.start();
    int done = 0;
    char buf[65536];
    std::vector<pollfd> waiting(kConns);
    while (done < kConns && sinceProgress.elapsed() < 15000) {
        // Wait for answers rather than spin: under a sanitizer the spin took the agent's CPU.
        for (int i = 0; i < kConns; ++i)
            waiting[i] = {fds[i], static_cast<short>(answers[i] >= kRequests ? 0 : POLLIN), 0};
        ::poll(waiting.data(), waiting.size(), 100);
        for (int i = 0; i < kConns; ++i) {
            if (answers[i] >= kRequests)
                continue;
            sent[i] = sendSome(fds[i], burst, sent[i]);
            const ssize_t n = ::recv(fds[i], buf, sizeof buf, MSG_DONTWAIT);
            if (n <= 0)
                continue;
            sinceProgress.restart();
            tails[i].append(buf, n);
            answers[i] += static_cast<int>(tails[i].count("HTTP/1.1 200 "));
            const qsizetype keep = tails[i].lastIndexOf("HTTP/1.1 200 ");
            tails[i] = keep >= 0 ? tails[i].mid(keep + 1) : tails[i].right(32);
            if (answers[i] >= kRequests)
                ++done;
        }
        peak = std::max(peak, rssKiB(pid));
    }
    for (int fd : fds)
        ::close(fd);
    qint64 total = 0;
    for (int a : answers)
        total += a;
    qInfo("%lld answers in %lld ms; %d connections complete", total, t.elapsed(), done);
    QCOMPARE(done, kConns);
    qInfo("agent VmRSS: %lld KiB before, %lld KiB at the peak", before, peak);
    QVERIFY2(peak - before < 48 * 1024, qPrintable(QStringLiteral("grew by %1 KiB").arg(peak - before)));
    QVERIFY(agentAnswers());
}

// One connection pipelines 60,000 requests that the agent answers itself (404) and reads
// nothing: once more than kHighWaterBytes of answers wait in the agent it stops parsing and
// reading (before the fix it answered on, holding megabytes of answers beyond what the
// kernel's socket buffers took), then serves the rest as the client reads.
void TestHostile::unreadAnswersStopThePipeline()
{
    constexpr int kRequests = 60000;
    StubBackend& stub = c_->addStub("s");
    QJsonObject cfg = c_->config({stub.port()});
    cfg[QStringLiteral("routes")] = QJsonArray{route(QStringLiteral("/api/"), QStringLiteral("web"))};
    setJson(cfg, {"limits", "max_requests_per_connection"}, 100000);
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));
    const qint64 pid = c_->agent().process().processId();
    const qint64 before = rssKiB(pid);
    const int fd = rawConnect(c_->port(), 16 * 1024);
    QVERIFY(fd >= 0);
    const QByteArray burst = getRequest("/nowhere").repeated(kRequests);
    qsizetype sent = 0;
    // Write what the sockets take, without reading, until nothing more goes for a while.
    QElapsedTimer quiet;
    quiet.start();
    while (quiet.elapsed() < 1000) {
        const qsizetype now = sendSome(fd, burst, sent);
        if (now != sent)
            quiet.restart();
        sent = now;
        QTest::qWait(10); // a pause for the agent to answer, not a synchronisation
    }
    // What must not happen (every request answered into memory) has no event: a bounded wait.
    const bool answeredAll = QTest::qWaitFor([&] { return accessLog().count('\n') >= kRequests; }, 3000);
    const qint64 held = rssKiB(pid);
    const qsizetype logged = accessLog().count('\n');
    QVERIFY2(!answeredAll, "the agent answered the whole pipeline of a client that reads nothing");
    QVERIFY2(!dlb::test::rssMeasuresTheAgent() || held - before < 4 * 1024,
             qPrintable(QStringLiteral("grew by %1 KiB after %2 answers").arg(held - before).arg(logged)));
    // The client reads: every answer arrives.
    int answers = 0;
    QByteArray tail;
    char buf[65536];
    QElapsedTimer t;
    t.start();
    while (answers < kRequests && t.elapsed() < 30000) {
        sent = sendSome(fd, burst, sent);
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0)
            continue;
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0)
            break;
        tail.append(buf, n);
        answers += static_cast<int>(tail.count("HTTP/1.1 404 "));
        const qsizetype keep = tail.lastIndexOf("HTTP/1.1 404 ");
        tail = keep >= 0 ? tail.mid(keep + 1) : tail.right(32);
    }
    ::close(fd);
    qInfo("agent VmRSS %lld KiB before, %lld KiB while the client did not read (%lld answered by then)", before, held,
          static_cast<long long>(logged));
    QCOMPARE(answers, kRequests);
}

// limits.max_requests_per_connection: the last answer says Connection: close, then it closes.
void TestHostile::maxRequestsPerConnectionEndsIt()
{
    StubBackend& stub = c_->addStub("s");
    QJsonObject cfg = c_->config({stub.port()});
    setJson(cfg, {"limits", "max_requests_per_connection"}, 2);
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));
    HttpClient client;
    QVERIFY(client.connectTo(c_->port()));
    QVERIFY(client.send(getRequest("/1") + getRequest("/2") + getRequest("/3")));
    const auto first = client.read();
    QVERIFY(first);
    QVERIFY(!first->hasHeader("connection"));
    const auto second = client.read();
    QVERIFY(second);
    QCOMPARE(second->header("connection").toLower(), QByteArray("close"));
    QVERIFY(client.waitForClose());
    QCOMPARE(stub.requests().size(), 2);
}

// A request answered locally (404) that announces a body it never sends: the connection is
// closed by timeouts.body_ms, not held forever.
void TestHostile::localAnswerWithMissingBodyIsClosed()
{
    StubBackend& stub = c_->addStub("s");
    QJsonObject cfg = c_->config({stub.port()});
    cfg[QStringLiteral("routes")] = QJsonArray{route(QStringLiteral("/api/"), QStringLiteral("web"))};
    setJson(cfg, {"timeouts", "body_ms"}, 300);
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));
    HttpClient client;
    QVERIFY(client.connectTo(c_->port()));
    QVERIFY(client.send("POST /other HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n"));
    const auto r = client.read();
    QVERIFY2(r, qPrintable(client.error()));
    QCOMPARE(r->status, 404);
    QVERIFY(client.waitForClose());
}

// An upload that stops half-way holds neither the client connection nor the replica's.
void TestHostile::slowUploadTimesOut()
{
    StubBackend& stub = c_->addStub("s", StubMode::Silent);
    QJsonObject cfg = c_->config({stub.port()});
    setJson(cfg, {"timeouts", "body_ms"}, 300);
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));
    HttpClient client;
    QVERIFY(client.connectTo(c_->port()));
    QVERIFY(client.send("POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nhalf"));
    const auto r = client.read();
    QVERIFY2(r, qPrintable(client.error()));
    QCOMPARE(r->status, 408);
    QVERIFY(client.waitForClose());
    QTRY_COMPARE_WITH_TIMEOUT(stub.openConnections(), 0, kWaitMs);
}

// A client that never reads a large answer: the agent stops reading the replica (memory stays
// bounded) and closes the connection after timeouts.send_ms.
void TestHostile::slowReaderIsCutOffAndMemoryBounded()
{
    StubBackend& stub = c_->addStub("s");
    stub.answerPath("/big", 200, QByteArray(32 * 1024 * 1024, 'b'));
    QJsonObject cfg = c_->config({stub.port()});
    setJson(cfg, {"timeouts", "send_ms"}, 500);
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));
    const qint64 pid = c_->agent().process().processId();
    const qint64 before = rssKiB(pid);
    const int fd = rawConnect(c_->port());
    QVERIFY(fd >= 0);
    QVERIFY(sendAll(fd, getRequest("/big")));
    QTRY_VERIFY_WITH_TIMEOUT(accessLog().contains("\"abort\":\"send_timeout\""), kWaitMs);
    const qint64 after = rssKiB(pid);
    QVERIFY2(after - before < 16 * 1024, qPrintable(QStringLiteral("grew by %1 KiB").arg(after - before)));
    bool closed = false;
    const QByteArray got = readUntilClose(fd, kWaitMs, &closed);
    ::close(fd);
    QVERIFY2(closed, qPrintable(QStringLiteral("read %1 bytes, no close").arg(got.size())));
    QVERIFY(got.size() < 32 * 1024 * 1024); // cut off, not delivered
    QTRY_COMPARE_WITH_TIMEOUT(stub.openConnections(), 0, kWaitMs);
    QVERIFY(agentAnswers());
}

// Resets (SO_LINGER 0) mid-headers, mid-body, waiting for the replica and mid-answer: the agent
// frees the replica's connection and keeps answering.
void TestHostile::resetsAtEveryStage()
{
    StubBackend& web = c_->addStub("web");
    StubBackend& silent = c_->addStub("silent", StubMode::Silent);
    StubBackend& slow = c_->addStub("slow", StubMode::SlowChunks);
    QJsonObject cfg = c_->config({web.port()});
    QJsonArray pools = cfg[QStringLiteral("pools")].toArray();
    for (const auto& [name, port] : {std::pair{QStringLiteral("silent"), silent.port()}, std::pair{QStringLiteral("slow"), slow.port()}}) {
        QJsonObject p = pools[0].toObject();
        p[QStringLiteral("name")] = name;
        p[QStringLiteral("replicas")] = QJsonArray{QJsonObject{{QStringLiteral("url"), QStringLiteral("http://127.0.0.1:%1").arg(port)}}};
        pools.append(p);
    }
    cfg[QStringLiteral("pools")] = pools;
    cfg[QStringLiteral("routes")] = QJsonArray{route(QStringLiteral("/silent/"), QStringLiteral("silent")),
                                               route(QStringLiteral("/slow/"), QStringLiteral("slow")),
                                               route(QStringLiteral("/"), QStringLiteral("web"))};
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));

    const auto resetAfter = [this](const QByteArray& bytes) {
        const int fd = rawConnect(c_->port());
        if (fd < 0)
            return false;
        const bool ok = sendAll(fd, bytes);
        resetClose(fd);
        return ok;
    };
    QVERIFY(resetAfter("GET / HTTP/1.1\r\nHost: a\r\nX-Half"));                          // mid-headers
    QVERIFY(resetAfter("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc")); // mid-body
    QVERIFY(agentAnswers());
    {
        const int fd = rawConnect(c_->port()); // waiting for the replica
        QVERIFY(fd >= 0);
        QVERIFY(sendAll(fd, getRequest("/silent/x")));
        QTRY_COMPARE_WITH_TIMEOUT(silent.requests().size(), 1, kWaitMs);
        resetClose(fd);
        QTRY_COMPARE_WITH_TIMEOUT(silent.openConnections(), 0, kWaitMs);
    }
    {
        const int fd = rawConnect(c_->port()); // mid-answer
        QVERIFY(fd >= 0);
        QVERIFY(sendAll(fd, getRequest("/slow/x")));
        char b[64];
        pollfd p{fd, POLLIN, 0};
        QVERIFY(::poll(&p, 1, kWaitMs) > 0);
        QVERIFY(::recv(fd, b, sizeof b, 0) > 0);
        resetClose(fd);
        QTRY_COMPARE_WITH_TIMEOUT(slow.openConnections(), 0, kWaitMs);
    }
    QVERIFY(agentAnswers());
}

// A client that half-closes (FIN) after a complete request, or in the middle of a head: the
// agent closes its side and goes on serving others.
void TestHostile::halfCloses()
{
    StubBackend& stub = c_->addStub("s");
    QVERIFY2(c_->startAgent(c_->config({stub.port()})), qPrintable(c_->error()));
    for (const QByteArray& bytes : {getRequest("/whole"), QByteArray("GET /part HTTP/1.1\r\nHo")}) {
        const int fd = rawConnect(c_->port());
        QVERIFY(fd >= 0);
        QVERIFY(sendAll(fd, bytes));
        ::shutdown(fd, SHUT_WR);
        bool closed = false;
        readUntilClose(fd, kWaitMs, &closed);
        ::close(fd);
        QVERIFY(closed);
    }
    QVERIFY(agentAnswers());
}

// A HEAD answered by the agent itself carries no body: the next pipelined answer parses.
void TestHostile::headAnsweredLocallyHasNoBody()
{
    StubBackend& stub = c_->addStub("s");
    QJsonObject cfg = c_->config({stub.port()});
    cfg[QStringLiteral("routes")] = QJsonArray{route(QStringLiteral("/api/"), QStringLiteral("web"))};
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));
    HttpClient client;
    QVERIFY(client.connectTo(c_->port()));
    QVERIFY(client.send("HEAD /nowhere HTTP/1.1\r\nHost: a\r\n\r\n" + getRequest("/api/x")));
    const auto head = client.read(true);
    QVERIFY2(head, qPrintable(client.error()));
    QCOMPARE(head->status, 404);
    const auto next = client.read();
    QVERIFY2(next, qPrintable(client.error()));
    QCOMPARE(next->status, 200);
    QCOMPARE(next->body, QByteArray("/api/x"));
}

void TestHostile::contentLengthZeroIsForwarded()
{
    StubBackend& stub = c_->addStub("s");
    QVERIFY2(c_->startAgent(c_->config({stub.port()})), qPrintable(c_->error()));
    const auto r = fetch(c_->port(), "POST /z HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
    QVERIFY(r);
    QCOMPARE(r->status, 200);
    QCOMPARE(stub.requests().size(), 1);
    QCOMPARE(stub.requests()[0].header("content-length"), QByteArray("0"));
}

void TestHostile::requestRules_data()
{
    QTest::addColumn<QByteArray>("request");
    QTest::addColumn<int>("status");
    QTest::newRow("HTTP/1.1 without Host") << QByteArray("GET / HTTP/1.1\r\n\r\n") << 400;
    QTest::newRow("two Host") << QByteArray("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n") << 400;
    QTest::newRow("HTTP/2.0") << QByteArray("GET / HTTP/2.0\r\nHost: a\r\n\r\n") << 505;
    QTest::newRow("HTTP/0.9") << QByteArray("GET / HTTP/0.9\r\nHost: a\r\n\r\n") << 505;
    QTest::newRow("obs-fold") << QByteArray("GET / HTTP/1.1\r\nHost: a\r\nX-A: one\r\n two\r\n\r\n") << 400;
    QTest::newRow("CONNECT") << QByteArray("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n") << 405;
    QTest::newRow("above the root") << QByteArray("GET /../admin/ HTTP/1.1\r\nHost: a\r\n\r\n") << 400;
}

// Each is answered by the agent, reaches no replica, and the connection is closed.
void TestHostile::requestRules()
{
    QFETCH(QByteArray, request);
    QFETCH(int, status);
    StubBackend& stub = c_->addStub("s");
    QVERIFY2(c_->startAgent(c_->config({stub.port()})), qPrintable(c_->error()));
    HttpClient client;
    QVERIFY(client.connectTo(c_->port()));
    QVERIFY(client.send(request));
    const auto r = client.read();
    QVERIFY2(r, qPrintable(client.error()));
    QCOMPARE(r->status, status);
    QVERIFY(client.waitForClose());
    QCOMPARE(stub.requests().size(), 0);
}

// limits.max_body_bytes limits what clients send, not what replicas answer.
void TestHostile::maxBodyBytesIsForRequestsOnly()
{
    StubBackend& stub = c_->addStub("s");
    stub.answerPath("/big", 200, QByteArray(5000, 'x'));
    QJsonObject cfg = c_->config({stub.port()});
    setJson(cfg, {"limits", "max_body_bytes"}, 100);
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));
    const auto r = fetch(c_->port(), getRequest("/big"));
    QVERIFY(r);
    QCOMPARE(r->status, 200);
    QCOMPARE(r->body.size(), 5000);
    const auto over = fetch(c_->port(), "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n" + QByteArray(101, 'y'));
    QVERIFY(over);
    QCOMPARE(over->status, 413);
}

// A replica that sends bytes after a complete answer: its connection is not reused (the next
// request would read those bytes as its answer), so the next request opens a new one.
void TestHostile::bytesAfterAnAnswerEndUpstreamReuse()
{
    StubBackend& stub = c_->addStub("s", StubMode::TrailingBytes);
    QVERIFY2(c_->startAgent(c_->config({stub.port()})), qPrintable(c_->error()));
    HttpClient client;
    QVERIFY(client.connectTo(c_->port()));
    for (const QByteArray& path : {QByteArray("/one"), QByteArray("/two")}) {
        QVERIFY(client.send(getRequest(path)));
        const auto r = client.read();
        QVERIFY2(r, qPrintable(client.error()));
        QCOMPARE(r->status, 200);
        QCOMPARE(r->body, path);
    }
    QCOMPARE(stub.requests().size(), 2);
    QCOMPARE(stub.requests()[1].connection, 2);
}

// A request cut off by the drain deadline of a graceful stop is logged as what it is
// ("abort":"shutdown", nothing was sent), not as a client that closed (499).
void TestHostile::drainDeadlineIsLoggedAsShutdown()
{
    StubBackend& stub = c_->addStub("silent", StubMode::Silent);
    QJsonObject cfg = c_->config({stub.port()});
    setJson(cfg, {"timeouts", "drain_ms"}, 300);
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));
    HttpClient client;
    QVERIFY(client.connectTo(c_->port()));
    QVERIFY(client.send(getRequest("/held")));
    QTRY_COMPARE_WITH_TIMEOUT(stub.requests().size(), 1, kWaitMs);
    stoppedByTest_ = true;
    QCOMPARE(c_->stopAgent(), 0);
    const QJsonObject rec = QJsonDocument::fromJson(accessLog().trimmed()).object();
    QCOMPARE(rec.value(QStringLiteral("path")).toString(), QStringLiteral("/held"));
    QCOMPARE(rec.value(QStringLiteral("abort")).toString(), QStringLiteral("shutdown"));
    QCOMPARE(rec.value(QStringLiteral("status")).toInt(), 0);
}

// A graceful stop while a complete answer still waits in the agent for a slow client: the
// answer goes out whole before the connection closes.
void TestHostile::shutdownFinishesAnAnswerBeingWritten()
{
    constexpr int kBody = 200 * 1024; // under kHighWaterBytes: the exchange completes at once
    StubBackend& stub = c_->addStub("s");
    stub.answerPath("/answer", 200, QByteArray(kBody, 'a'));
    QVERIFY2(c_->startAgent(c_->config({stub.port()})), qPrintable(c_->error()));
    const int fd = rawConnect(c_->port(), 4096);
    QVERIFY(fd >= 0);
    QVERIFY(sendAll(fd, getRequest("/answer")));
    QTRY_VERIFY_WITH_TIMEOUT(accessLog().contains("/answer"), kWaitMs); // the exchange is complete
    stoppedByTest_ = true;
    c_->agent().signal(SIGTERM);
    bool closed = false;
    const QByteArray got = readUntilClose(fd, kWaitMs, &closed);
    ::close(fd);
    QVERIFY(closed);
    QVERIFY2(got.endsWith(QByteArray(1024, 'a')) && got.size() > kBody,
             qPrintable(QStringLiteral("%1 bytes").arg(got.size())));
    QCOMPARE(c_->agent().waitForExit(), 0);
}

// `/%61dmin/`, `//admin/` and `/a/../admin/` reach the admin route, and the replica is sent the
// path the route saw.
void TestHostile::routesMatchTheNormalisedPath()
{
    StubBackend& web = c_->addStub("web");
    StubBackend& admin = c_->addStub("admin");
    QJsonObject cfg = c_->config({web.port()});
    QJsonArray pools = cfg[QStringLiteral("pools")].toArray();
    QJsonObject p = pools[0].toObject();
    p[QStringLiteral("name")] = QStringLiteral("admin");
    p[QStringLiteral("replicas")] = QJsonArray{QJsonObject{{QStringLiteral("url"), QStringLiteral("http://127.0.0.1:%1").arg(admin.port())}}};
    pools.append(p);
    cfg[QStringLiteral("pools")] = pools;
    cfg[QStringLiteral("routes")] = QJsonArray{route(QStringLiteral("/admin/"), QStringLiteral("admin")),
                                               route(QStringLiteral("/"), QStringLiteral("web"))};
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));
    for (const QByteArray& path : {QByteArray("/%61dmin/x"), QByteArray("//admin/x"), QByteArray("/a/../admin/x")}) {
        const auto r = fetch(c_->port(), getRequest(path));
        QVERIFY(r);
        QCOMPARE(r->status, 200);
        QCOMPARE(r->header("X-Stub"), QByteArray("admin"));
    }
    const auto seen = admin.requests();
    QCOMPARE(seen.size(), 3);
    for (const auto& req : seen)
        QCOMPARE(req.path, QByteArray("/admin/x"));
    QCOMPARE(web.requests().size(), 0);
}

void TestHostile::viaIsAdded()
{
    StubBackend& stub = c_->addStub("s");
    QVERIFY2(c_->startAgent(c_->config({stub.port()})), qPrintable(c_->error()));
    const auto r = fetch(c_->port(), getRequest("/v"));
    QVERIFY(r);
    QCOMPARE(r->header("Via"), QByteArray("1.1 dlb"));
    QCOMPARE(stub.requests().size(), 1);
    QCOMPARE(stub.requests()[0].header("via"), QByteArray("1.1 dlb"));
}

// The access log of local answers: a real total_ms, and an unparsed request line logged as
// null method and path (not as a GET of "").
void TestHostile::accessLogTellsWhatHappened()
{
    StubBackend& stub = c_->addStub("s");
    QJsonObject cfg = c_->config({stub.port()});
    setJson(cfg, {"timeouts", "header_ms"}, 200);
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));
    const auto garbage = fetch(c_->port(), "GARBAGE\r\n\r\n");
    QVERIFY(garbage);
    QCOMPARE(garbage->status, 400);
    HttpClient slow;
    QVERIFY(slow.connectTo(c_->port()));
    QVERIFY(slow.send("GET / HTTP/1.1\r\nHo"));
    const auto timedOut = slow.read();
    QVERIFY(timedOut);
    QCOMPARE(timedOut->status, 408);
    QTRY_COMPARE_WITH_TIMEOUT(accessLog().count('\n'), 2, kWaitMs);
    const QList<QByteArray> lines = accessLog().trimmed().split('\n');
    for (const QByteArray& line : lines) {
        const QJsonObject rec = QJsonDocument::fromJson(line).object();
        QVERIFY2(rec.value(QStringLiteral("total_ms")).toDouble() < 5000, line.constData());
        QVERIFY2(rec.value(QStringLiteral("method")).isNull(), line.constData());
        QVERIFY2(rec.value(QStringLiteral("path")).isNull(), line.constData());
    }
}

QTEST_GUILESS_MAIN(TestHostile)
#include "tst_hostile.moc"
