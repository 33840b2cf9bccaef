// An attack on the merged agent's HTTP/1.1 handling (issue 6 acceptance), over real sockets:
// request framing and target rules a smuggler would try, and replicas that lie in their status
// line or framing. Each test is a finding that failed before its fix; what tst_hostile.cpp and
// tst_attack_tls.cpp already cover is not repeated here.

#include "harness.hpp"
#include "raw_socket.hpp"
#include "scripted_replica.hpp"

#include <QtTest>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>


using namespace dlb::test;

namespace {

// Sends `request` on a new connection and reads until the agent closes it (or kWaitMs pass,
// which `closed` reports): the bytes exactly as a client receives them.
QByteArray exchangeUntilClose(quint16 port, const QByteArray& request, bool* closed)
{
    *closed = false;
    const int fd = rawConnect(port);
    if (fd < 0)
        return {};
    sendAll(fd, request);
    const QByteArray out = readUntilClose(fd, kWaitMs, closed);
    ::close(fd);
    return out;
}

// Reads one Content-Length answer of `bodySize` bytes (its head included) from a blocking
// socket; false when the connection ends or kWaitMs pass first.
bool readWholeAnswer(int fd, qint64 bodySize)
{
    QByteArray head;
    QElapsedTimer t;
    t.start();
    char buf[65536];
    qint64 body = -1;
    while (t.elapsed() < kWaitMs && (body < 0 || body < bodySize)) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(kWaitMs - t.elapsed())) <= 0)
            continue;
        const ssize_t n = ::recv(fd, buf, body < 0 ? 1 : sizeof buf, 0); // the head byte by byte
        if (n <= 0)
            return false;
        if (body >= 0) {
            body += n;
            continue;
        }
        head.append(buf, n);
        if (head.endsWith("\r\n\r\n"))
            body = 0;
    }
    return body == bodySize;
}

// The head (status line and fields, without the blank line) that starts at `from`.
QByteArray headAt(const QByteArray& bytes, qsizetype from = 0)
{
    const qsizetype end = bytes.indexOf("\r\n\r\n", from);
    return end < 0 ? bytes.mid(from) : bytes.mid(from, end - from);
}


} // namespace

class TestAttackHttp : public QObject {
    Q_OBJECT

private slots:
    void init();
    void cleanup();

    // requests
    void http10TransferEncodingEndsTheConnection();
    void absoluteFormTargetGivesTheHost();
    void hostMustBeAHost_data();
    void hostMustBeAHost();
    // replicas that lie
    void noContentLengthOn1xxOr204();
    void statusOutsideTheRangeIs502_data();
    void statusOutsideTheRangeIs502();
    void codingNotEndingInChunkedIs502_data();
    void codingNotEndingInChunkedIs502();
    void malformedAnswer502SaysNoBogusError();
    // slow readers
    void idleConnectionsKeepNoWriteBuffer();

private:
    std::unique_ptr<Cluster> c_;
};

void TestAttackHttp::init()
{
    c_ = std::make_unique<Cluster>();
}

void TestAttackHttp::cleanup()
{
    // An agent that is gone without the test stopping it has crashed (every test starts one).
    const int exitCode = c_->agent().running() ? c_->stopAgent() : -1;
    checkAgentExit(*c_, exitCode);
    c_.reset();
}

// Finding: an HTTP/1.0 request with Transfer-Encoding and "Connection: keep-alive" kept its
// connection, so the request pipelined after it was forwarded too. An HTTP/1.0 hop in front
// that does not know Transfer-Encoding reads that chunked body as the next request: the two
// disagree on where requests end (smuggling). RFC 9112 6.1: close after such a message.
void TestAttackHttp::http10TransferEncodingEndsTheConnection()
{
    StubBackend& stub = c_->addStub("s");
    QVERIFY2(c_->startAgent(c_->config({stub.port()})), qPrintable(c_->error()));
    bool closed = false;
    const QByteArray got = exchangeUntilClose(c_->port(),
                                              "POST /first HTTP/1.0\r\nConnection: keep-alive\r\n"
                                              "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
                                              "GET /second HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
                                              &closed);
    QVERIFY2(got.startsWith("HTTP/1.1 200 "), got.constData());
    QVERIFY2(headAt(got).contains("\r\nConnection: close"), got.constData());
    QVERIFY(closed);
    QCOMPARE(stub.requests().size(), 1);
    QCOMPARE(stub.requests()[0].body, QByteArray("abc"));
}

// Finding: an absolute-form target ("GET http://other.example/x") with a different Host was
// forwarded with the client's Host, so the replica served a different site from the one the
// request line names (RFC 9112 3.2.2: a proxy replaces Host with the target's authority). A
// target with user information is refused (RFC 9110 4.2.4).
void TestAttackHttp::absoluteFormTargetGivesTheHost()
{
    StubBackend& stub = c_->addStub("s");
    QVERIFY2(c_->startAgent(c_->config({stub.port()})), qPrintable(c_->error()));
    const auto r = fetch(c_->port(), "GET http://other.example:8080/x?q HTTP/1.1\r\nHost: a\r\n\r\n");
    QVERIFY(r);
    QCOMPARE(r->status, 200);
    QCOMPARE(stub.requests().size(), 1);
    const StubRequest req = stub.requests()[0]; // a copy: requests() returns a temporary
    QCOMPARE(req.path, QByteArray("/x?q"));
    QCOMPARE(req.header("host"), QByteArray("other.example:8080"));
    int hosts = 0;
    for (const auto& h : req.headers)
        hosts += h.first.compare("host", Qt::CaseInsensitive) == 0 ? 1 : 0;
    QCOMPARE(hosts, 1);

    const auto userinfo = fetch(c_->port(), "GET http://user@other.example/x HTTP/1.1\r\nHost: other.example\r\n\r\n");
    QVERIFY(userinfo);
    QCOMPARE(userinfo->status, 400);
    QCOMPARE(stub.requests().size(), 1);
}

void TestAttackHttp::hostMustBeAHost_data()
{
    QTest::addColumn<QByteArray>("host");
    QTest::addColumn<int>("status");
    QTest::newRow("name") << QByteArray("a.example") << 200;
    QTest::newRow("name and port") << QByteArray("a.example:8080") << 200;
    QTest::newRow("underscore, digits") << QByteArray("under_score-1.example") << 200;
    QTest::newRow("IPv4") << QByteArray("127.0.0.1:80") << 200;
    QTest::newRow("IPv6") << QByteArray("[::1]:8080") << 200;
    QTest::newRow("empty") << QByteArray("") << 200; // RFC 9110 7.2: no authority, empty Host
    QTest::newRow("slash") << QByteArray("a.example/admin") << 400;
    QTest::newRow("user info") << QByteArray("user@a.example") << 400;
    QTest::newRow("space") << QByteArray("a.example b") << 400;
    QTest::newRow("backslash") << QByteArray("a\\b") << 400;
    QTest::newRow("port not a number") << QByteArray("a.example:80x") << 400;
    QTest::newRow("unclosed bracket") << QByteArray("[::1:80") << 400;
    QTest::newRow("bad percent") << QByteArray("a%zz") << 400;
}

// Finding: any Host value was forwarded ("a.example/admin", "user@a.example"); replicas that
// build links or route from Host were handed a path or user information in it. RFC 9112 3.2:
// a Host field with an invalid value is answered 400 (nginx refuses these too).
void TestAttackHttp::hostMustBeAHost()
{
    QFETCH(QByteArray, host);
    QFETCH(int, status);
    StubBackend& stub = c_->addStub("s");
    QVERIFY2(c_->startAgent(c_->config({stub.port()})), qPrintable(c_->error()));
    const auto r = fetch(c_->port(), "GET /h HTTP/1.1\r\nHost: " + host + "\r\n\r\n");
    QVERIFY(r);
    QCOMPARE(r->status, status);
    QCOMPARE(stub.requests().size(), status == 200 ? 1 : 0);
    if (status == 200)
        QCOMPARE(stub.requests()[0].header("host"), host);
}

// Finding: a 103 and a 204 that carried Content-Length (RFC 9110 8.6: a sender MUST NOT) were
// passed on with it; a client or cache in front that honours it takes the next answer's first
// bytes as this one's body, and every answer after it is off.
void TestAttackHttp::noContentLengthOn1xxOr204()
{
    ScriptedReplica replica([](const QByteArray& path) -> Answer {
        if (path == "/hints")
            return {"HTTP/1.1 103 Early Hints\r\nContent-Length: 5\r\nLink: </s.css>\r\n\r\n"
                    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"};
        return {"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"};
    });
    QVERIFY2(c_->startAgent(c_->config({replica.port()})), qPrintable(c_->error()));
    bool closed = false;
    const QByteArray hints = exchangeUntilClose(c_->port(), getRequest("/hints", "Connection: close\r\n"), &closed);
    QVERIFY(closed);
    QVERIFY2(hints.startsWith("HTTP/1.1 103 "), hints.constData());
    QVERIFY2(headAt(hints).contains("Link: </s.css>"), hints.constData());
    QVERIFY2(!headAt(hints).toLower().contains("content-length"), hints.constData());
    QVERIFY2(hints.endsWith("\r\n\r\nok"), hints.constData());

    const QByteArray none = exchangeUntilClose(c_->port(), getRequest("/none", "Connection: close\r\n"), &closed);
    QVERIFY(closed);
    QVERIFY2(none.startsWith("HTTP/1.1 204 "), none.constData());
    QVERIFY2(!none.toLower().contains("content-length"), none.constData());
    QVERIFY2(none.endsWith("\r\n\r\n"), none.constData());
}

void TestAttackHttp::statusOutsideTheRangeIs502_data()
{
    QTest::addColumn<QByteArray>("status");
    QTest::newRow("000") << QByteArray("000");
    QTest::newRow("099") << QByteArray("099");
    QTest::newRow("600") << QByteArray("600");
}

// Finding: a status outside 100-599 (RFC 9110 15) went to the client as it came, and "000" as
// "HTTP/1.1 0 Zero", a status line no client parses; it also counted as a success.
void TestAttackHttp::statusOutsideTheRangeIs502()
{
    QFETCH(QByteArray, status);
    ScriptedReplica replica([status](const QByteArray&) -> Answer {
        return {"HTTP/1.1 " + status + " Odd\r\nContent-Length: 2\r\n\r\nok"};
    });
    QVERIFY2(c_->startAgent(c_->config({replica.port()})), qPrintable(c_->error()));
    const auto r = fetch(c_->port(), getRequest("/s"));
    QVERIFY(r);
    QCOMPARE(r->status, 502);
}

void TestAttackHttp::codingNotEndingInChunkedIs502_data()
{
    QTest::addColumn<QByteArray>("coding");
    QTest::newRow("gzip") << QByteArray("gzip");
    QTest::newRow("chunked, gzip") << QByteArray("chunked, gzip");
    QTest::newRow("identity") << QByteArray("identity");
}

// Finding: an answer whose Transfer-Encoding does not end in chunked (delimited by close) was
// re-chunked for the client under the replica's own Transfer-Encoding ("gzip"), on a kept
// connection: the client reads to the close, taking the chunk framing and every later answer
// as this body. The agent never sends TE, so a replica may not use such a coding (RFC 9112
// 7.4); nginx answers 502 ("upstream sent unknown Transfer-Encoding"), and so do we.
void TestAttackHttp::codingNotEndingInChunkedIs502()
{
    QFETCH(QByteArray, coding);
    ScriptedReplica replica([coding](const QByteArray& path) -> Answer {
        if (path == "/coded")
            return {"HTTP/1.1 200 OK\r\nTransfer-Encoding: " + coding + "\r\n\r\nhello", true};
        return {"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext"};
    });
    QVERIFY2(c_->startAgent(c_->config({replica.port()})), qPrintable(c_->error()));
    HttpClient client;
    QVERIFY(client.connectTo(c_->port()));
    QVERIFY(client.send(getRequest("/coded") + getRequest("/next")));
    const auto r = client.read();
    QVERIFY2(r, qPrintable(client.error()));
    QCOMPARE(r->status, 502);
    const auto next = client.read();
    QVERIFY2(next, qPrintable(client.error()));
    QCOMPARE(next->status, 200);
    QCOMPARE(next->body, QByteArray("next"));
}

// Finding: the 502 for a malformed answer said "(Unknown system error 0)": libuv's name for
// an error code that is not one, allocated on every call and never freed (a leak per
// malformed answer, seen by LeakSanitizer).
void TestAttackHttp::malformedAnswer502SaysNoBogusError()
{
    ScriptedReplica replica([](const QByteArray&) -> Answer { return {"NOT HTTP AT ALL\r\n\r\n", true}; });
    QVERIFY2(c_->startAgent(c_->config({replica.port()})), qPrintable(c_->error()));
    const auto r = fetch(c_->port(), getRequest("/m"));
    QVERIFY(r);
    QCOMPARE(r->status, 502);
    QVERIFY2(r->body.contains("sent a malformed response"), r->body.constData());
    QVERIFY2(!r->body.contains("Unknown system error"), r->body.constData());
}

// Finding: a keep-alive connection that once queued a big answer for a slow reader kept the
// write buffers it grew (a cleared std::string keeps its capacity) for as long as it stayed
// open: 350 KiB of resident memory per idle connection against the 3.4 KiB measured for idle
// connections in docs/architecture.md, so a few thousand clients that each fetch one large
// answer slowly and then idle pin gigabytes. They are freed once the answer is out.
void TestAttackHttp::idleConnectionsKeepNoWriteBuffer()
{
    constexpr int kConns = 40;
    constexpr qint64 kBody = 4 * 1024 * 1024;
    // Large freed blocks go back to the system at once (glibc's heap would keep them for
    // reuse), so resident memory shows what the agent still holds. ASan's allocator keeps
    // freed blocks resident whatever its options (seen: 211-229 KiB per connection after the
    // fix with the suite's ASAN_OPTIONS), so there the bound is not checked: the run still
    // checks the release path for memory errors and that every answer arrives whole.
    const bool asan = !dlb::test::rssMeasuresTheAgent();
    qputenv("MALLOC_MMAP_THRESHOLD_", "65536");
    const QByteArray body(kBody, 'b');
    ScriptedReplica replica([&body](const QByteArray&) -> Answer {
        return {"HTTP/1.1 200 OK\r\nContent-Length: " + QByteArray::number(body.size()) + "\r\n\r\n" + body};
    });
    const bool started = c_->startAgent(c_->config({replica.port()}));
    qunsetenv("MALLOC_MMAP_THRESHOLD_");
    QVERIFY2(started, qPrintable(c_->error()));
    const qint64 pid = c_->agent().process().processId();
    const qint64 before = rssKiB(pid);
    std::vector<int> fds;
    for (int i = 0; i < kConns; ++i) {
        const int fd = rawConnect(c_->port(), 4096);
        QVERIFY(fd >= 0);
        fds.push_back(fd);
        const QByteArray req = getRequest("/big");
        QCOMPARE(::send(fd, req.constData(), static_cast<size_t>(req.size()), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
    }
    // The agent queues up to kHighWaterBytes for each client that does not read.
    QTRY_VERIFY_WITH_TIMEOUT(rssKiB(pid) - before > kConns * 200, kWaitMs);
    const qint64 queued = rssKiB(pid);
    for (const int fd : fds)
        QVERIFY(readWholeAnswer(fd, kBody));
    // Every answer is out and each connection is idle: what is left is per-connection state.
    const auto perConnection = [&] { return (rssKiB(pid) - before) / kConns; };
    if (asan) {
        qInfo("sanitizer build: %lld KiB per idle connection, not checked", perConnection());
        QVERIFY(fetch(c_->port(), getRequest("/big")));
        for (const int fd : fds)
            ::close(fd);
        return;
    }
    QTRY_VERIFY2_WITH_TIMEOUT(perConnection() < 64,
                              qPrintable(QStringLiteral("%1 KiB per idle connection (%2 KiB while queued)")
                                             .arg(perConnection())
                                             .arg((queued - before) / kConns)),
                              kWaitMs);
    for (const int fd : fds)
        ::close(fd);
}

QTEST_GUILESS_MAIN(TestAttackHttp)
#include "tst_attack_http.moc"
