// Bodies through the proxy, both ways: large uploads byte-exact in either framing, 100-continue,
// and the response framings a replica may choose (length, chunked, until close).

#include "harness.hpp"

#include <QtTest>

using namespace dlb::test;

namespace {
constexpr qsizetype kBigBody = 20 * 1024 * 1024;
constexpr quint64 kSeed = 0x5eed2024;
constexpr int kBigWaitMs = 30000;
} // namespace

class TestProxyBodies : public QObject {
    Q_OBJECT

private slots:
    void init();
    void cleanup();

    void uploadWithContentLengthArrivesExact();
    void uploadChunkedArrivesExact();
    void requestAfterBodyOnSameConnection();
    void expectContinueIsRelayed();
    void answerReframedForHttp11Client_data();
    void answerReframedForHttp11Client();
    void chunkedAnswerToHttp10EndsWithConnection();

private:
    std::unique_ptr<Cluster> c_;
};

void TestProxyBodies::init()
{
    c_ = std::make_unique<Cluster>();
}

void TestProxyBodies::cleanup()
{
    // Stopped first so that its whole stderr is read before a failure prints it.
    const int exitCode = c_->stopAgent(); // also when it already died: see Cluster::stopAgent
    checkAgentExit(*c_, exitCode);
}

// A 20 MiB body with Content-Length reaches the replica byte-exact (it echoes it back whole).
void TestProxyBodies::uploadWithContentLengthArrivesExact()
{
    const quint16 r1 = c_->startReplica(QStringLiteral("r1"));
    QVERIFY2(r1, qPrintable(c_->error()));
    QVERIFY2(c_->startAgent(c_->config({r1})), qPrintable(c_->error()));

    const QByteArray body = randomBytes(kBigBody, kSeed);
    HttpClient client;
    QVERIFY2(client.connectTo(c_->port()), qPrintable(client.error()));
    QVERIFY2(client.send("POST /upload HTTP/1.1\r\nHost: test.local\r\nContent-Length: " + QByteArray::number(body.size()) +
                         "\r\n\r\n" + body),
             qPrintable(client.error()));
    const auto r = client.read(false, kBigWaitMs);
    QVERIFY2(r, qPrintable(client.error()));
    QCOMPARE(r->status, 200);
    QCOMPARE(r->header("X-Replica"), QByteArray("r1"));
    QCOMPARE(r->body.size(), body.size());
    QCOMPARE(sha256Hex(r->body), sha256Hex(body));
    QVERIFY(client.connected());
}

// A 20 MiB chunked body (odd chunk size) reaches the replica byte-exact.
void TestProxyBodies::uploadChunkedArrivesExact()
{
    const quint16 r1 = c_->startReplica(QStringLiteral("r1"));
    QVERIFY2(r1, qPrintable(c_->error()));
    QVERIFY2(c_->startAgent(c_->config({r1})), qPrintable(c_->error()));

    const QByteArray body = randomBytes(kBigBody, kSeed + 1);
    HttpClient client;
    QVERIFY2(client.connectTo(c_->port()), qPrintable(client.error()));
    QVERIFY2(client.send("POST /upload HTTP/1.1\r\nHost: test.local\r\nTransfer-Encoding: chunked\r\n\r\n" +
                         chunked(body, 65521)),
             qPrintable(client.error()));
    const auto r = client.read(false, kBigWaitMs);
    QVERIFY2(r, qPrintable(client.error()));
    QCOMPARE(r->status, 200);
    QCOMPARE(r->body.size(), body.size());
    QCOMPARE(sha256Hex(r->body), sha256Hex(body));
    QVERIFY(client.connected());
}

// After a request with a body (each framing), the next request on the connection is framed right.
void TestProxyBodies::requestAfterBodyOnSameConnection()
{
    StubBackend& stub = c_->addStub("s1");
    QVERIFY2(c_->startAgent(c_->config({stub.port()})), qPrintable(c_->error()));

    HttpClient client;
    QVERIFY2(client.connectTo(c_->port()), qPrintable(client.error()));
    QVERIFY(client.send("POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"));
    auto r = client.read();
    QVERIFY2(r, qPrintable(client.error()));
    QCOMPARE(r->body, QByteArray("/ahello"));
    QVERIFY(client.send("POST /b HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked("world!", 4)));
    r = client.read();
    QVERIFY2(r, qPrintable(client.error()));
    QCOMPARE(r->body, QByteArray("/bworld!"));
    QVERIFY(client.send(getRequest("/c")));
    r = client.read();
    QVERIFY2(r, qPrintable(client.error()));
    QCOMPARE(r->body, QByteArray("/c"));
    const QList<StubRequest> seen = stub.requests();
    QCOMPARE(seen.size(), 3);
    QCOMPARE(seen[1].body, QByteArray("world!"));
    QVERIFY(seen[2].body.isEmpty());
}

// "Expect: 100-continue": the replica's 100 reaches the client before the body is sent, and
// the final answer follows.
void TestProxyBodies::expectContinueIsRelayed()
{
    const quint16 r1 = c_->startReplica(QStringLiteral("r1"));
    QVERIFY2(r1, qPrintable(c_->error()));
    QVERIFY2(c_->startAgent(c_->config({r1})), qPrintable(c_->error()));

    HttpClient client;
    QVERIFY2(client.connectTo(c_->port()), qPrintable(client.error()));
    QVERIFY(client.send("POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
    const auto interim = client.read();
    QVERIFY2(interim, qPrintable(client.error()));
    QCOMPARE(interim->status, 100);
    QVERIFY(client.send("12345"));
    const auto r = client.read();
    QVERIFY2(r, qPrintable(client.error()));
    QCOMPARE(r->status, 200);
    QCOMPARE(r->body, QByteArray("12345"));
}

void TestProxyBodies::answerReframedForHttp11Client_data()
{
    QTest::addColumn<int>("mode");
    QTest::addColumn<QByteArray>("prefix");
    QTest::addColumn<int>("upstreamConnections");
    // A chunked answer stays chunked; the replica's connection is reused.
    QTest::newRow("chunked") << int(StubMode::ChunkedAnswer) << QByteArray("/chunked") << 1;
    // A body that ends with the replica's connection is re-chunked, so the client's connection
    // stays usable; each answer costs the replica a connection.
    QTest::newRow("until close") << int(StubMode::UntilClose) << QByteArray("/eof") << 2;
}

// Answers without a length reach an HTTP/1.1 client chunked, bodies intact, two in a row on
// one client connection.
void TestProxyBodies::answerReframedForHttp11Client()
{
    QFETCH(int, mode);
    QFETCH(QByteArray, prefix);
    QFETCH(int, upstreamConnections);
    StubBackend& stub = c_->addStub("s1", static_cast<StubMode>(mode));
    QVERIFY2(c_->startAgent(c_->config({stub.port()})), qPrintable(c_->error()));

    HttpClient client;
    QVERIFY2(client.connectTo(c_->port()), qPrintable(client.error()));
    for (const QByteArray& path : {prefix + "-one", prefix + "-two"}) {
        QVERIFY(client.send(getRequest(path)));
        const auto r = client.read();
        QVERIFY2(r, qPrintable(client.error()));
        QCOMPARE(r->status, 200);
        QVERIFY(r->chunked);
        QCOMPARE(r->body, path);
    }
    QCOMPARE(stub.connections(), upstreamConnections);
}

// A chunked answer to an HTTP/1.0 client (which cannot read chunked) is sent unframed and the
// connection closes to end it.
void TestProxyBodies::chunkedAnswerToHttp10EndsWithConnection()
{
    StubBackend& stub = c_->addStub("s1", StubMode::ChunkedAnswer);
    QVERIFY2(c_->startAgent(c_->config({stub.port()})), qPrintable(c_->error()));

    HttpClient client;
    QVERIFY2(client.connectTo(c_->port()), qPrintable(client.error()));
    QVERIFY(client.send("GET /ten HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    const auto r = client.read();
    QVERIFY2(r, qPrintable(client.error()));
    QCOMPARE(r->status, 200);
    QVERIFY(!r->hasHeader("transfer-encoding"));
    QCOMPARE(r->body, QByteArray("/ten"));
    QVERIFY(!client.connected());
}

QTEST_GUILESS_MAIN(TestProxyBodies)
#include "tst_proxy_bodies.moc"
