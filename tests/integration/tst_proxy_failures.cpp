// What the proxy answers itself when a replica or the client misbehaves: retries around dead
// and dropping replicas, 502/503/504, and 400/408/413/431 for bad or slow requests.

#include "control_fixture.hpp"
#include "harness.hpp"

#include <QElapsedTimer>
#include <QFile>
#include <QJsonDocument>
#include <QtTest>

using namespace dlb::test;

class TestProxyFailures : public QObject {
    Q_OBJECT

private slots:
    void init();
    void cleanup();

    void deadReplicaIsRetriedAround();
    void droppedRequestIsRetriedOnAnotherReplica();
    void bodyIsReplayedOnRetry();
    void allDeadPoolAnswers502();
    void allDownPoolAnswers503();
    void malformedAnswerGives502();
    void truncatedAnswerEndsClientConnection();
    void clientGoneMidAnswerDoesNotHurt();
    void clientGoneWhileWaitingFreesUpstream();
    void abandonedRequestIsNotALatencySample();
    void staleUpstreamConnectionIsNotAnError();
    void slowReplicaAnswers504();
    void slowStreamingAnswerIsNotCut();
    void slowUploadIsNotAnswered504();
    void malformedRequestAnswers400AndCloses();
    void ambiguousFramingIsRefused_data();
    void ambiguousFramingIsRefused();
    void oversizedHeadersAnswer431();
    void tooManyHeadersAnswer431();
    void oversizedBodyAnswers413();
    void slowHeadersAnswer408();
    void idleKeepAliveConnectionIsClosed();

private:
    // The agent's own answers say why in exactly one line.
    static bool isOneLine(const QByteArray& body) { return body.endsWith('\n') && body.count('\n') == 1; }
    std::unique_ptr<Cluster> c_;
};

void TestProxyFailures::init()
{
    c_ = std::make_unique<Cluster>();
}

void TestProxyFailures::cleanup()
{
    // Stopped first so that its whole stderr is read before a failure prints it.
    const int exitCode = c_->stopAgent(); // also when it already died: see Cluster::stopAgent
    checkAgentExit(*c_, exitCode);
}

// One live replica and one port that refuses connections: every request succeeds on the live one.
void TestProxyFailures::deadReplicaIsRetriedAround()
{
    const quint16 live = c_->startReplica(QStringLiteral("live"));
    QVERIFY2(live, qPrintable(c_->error()));
    const quint16 dead = refusedPort();
    QVERIFY(dead);
    QVERIFY2(c_->startAgent(c_->config({dead, live})), qPrintable(c_->error()));

    for (int i = 0; i < 10; ++i) {
        QString why;
        const auto r = fetch(c_->port(), getRequest("/x"), false, &why);
        QVERIFY2(r, qPrintable(why));
        QCOMPARE(r->status, 200);
        QCOMPARE(r->header("X-Replica"), QByteArray("live"));
    }
}

// A replica that closes the connection before answering: the request is sent again to another
// replica and succeeds.
void TestProxyFailures::droppedRequestIsRetriedOnAnotherReplica()
{
    StubBackend& dropper = c_->addStub("dropper", StubMode::DropRequest);
    StubBackend& good = c_->addStub("good");
    QVERIFY2(c_->startAgent(c_->config({dropper.port(), good.port()})), qPrintable(c_->error()));

    for (int i = 0; i < 6; ++i) {
        QString why;
        const auto r = fetch(c_->port(), getRequest("/d" + QByteArray::number(i)), false, &why);
        QVERIFY2(r, qPrintable(why));
        QCOMPARE(r->status, 200);
        QCOMPARE(r->header("X-Stub"), QByteArray("good"));
    }
    QVERIFY(!dropper.requests().isEmpty()); // the retry path was taken
    QCOMPARE(good.requests().size(), 6);
}

// A request with a body whose first replica refuses the connection arrives whole at the second.
void TestProxyFailures::bodyIsReplayedOnRetry()
{
    StubBackend& good = c_->addStub("good");
    const quint16 dead = refusedPort();
    QVERIFY2(c_->startAgent(c_->config({dead, good.port()})), qPrintable(c_->error()));

    const QByteArray body = randomBytes(10000, 7).toHex(); // 20000 printable bytes
    for (int i = 0; i < 4; ++i) {
        QString why;
        const auto r = fetch(c_->port(),
                             "POST /b HTTP/1.1\r\nHost: t\r\nContent-Length: " + QByteArray::number(body.size()) + "\r\n\r\n" + body,
                             false, &why);
        QVERIFY2(r, qPrintable(why));
        QCOMPARE(r->status, 200);
        QCOMPARE(r->body, "/b" + body);
    }
}

// Every replica refuses connections: 502 after the retry, with a one-line reason.
void TestProxyFailures::allDeadPoolAnswers502()
{
    const quint16 d1 = refusedPort();
    const quint16 d2 = refusedPort();
    QVERIFY2(c_->startAgent(c_->config({d1, d2})), qPrintable(c_->error()));

    QString why;
    const auto r = fetch(c_->port(), getRequest("/x"), false, &why);
    QVERIFY2(r, qPrintable(why));
    QCOMPARE(r->status, 502);
    QVERIFY2(isOneLine(r->body), r->body.constData());
    QVERIFY2(r->body.contains("could not be reached"), r->body.constData());
}

// Health checks (interval 100 ms, fall 1) mark every replica down: 503 saying no healthy replica.
// With the panic threshold off: below it the pool would try every replica that has not refused
// a connection yet (tst_prequal_outage covers that).
void TestProxyFailures::allDownPoolAnswers503()
{
    const quint16 d1 = refusedPort();
    const quint16 d2 = refusedPort();
    QJsonObject cfg = c_->config({d1, d2});
    setJson(cfg, {QStringLiteral("pools"), QStringLiteral("0"), QStringLiteral("health_check")},
            QJsonObject{{QStringLiteral("enabled"), true},
                        {QStringLiteral("interval_ms"), 100},
                        {QStringLiteral("timeout_ms"), 50},
                        {QStringLiteral("rise"), 1},
                        {QStringLiteral("fall"), 1},
                        {QStringLiteral("panic_threshold"), 0}});
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));
    for (const quint16 p : {d1, d2})
        QVERIFY2(c_->agent().waitForLog("127.0.0.1:" + QByteArray::number(p) + " of pool web is down"),
                 c_->agentLog().constData());

    // The health state reaches the worker on its next tick: ask until it shows, then every time.
    QString why;
    QTRY_COMPARE_WITH_TIMEOUT(fetch(c_->port(), getRequest("/x"), false, &why).value_or(Response{}).status, 503, kWaitMs);
    const auto r = fetch(c_->port(), getRequest("/x"), false, &why);
    QVERIFY2(r, qPrintable(why));
    QCOMPARE(r->status, 503);
    QVERIFY2(isOneLine(r->body), r->body.constData());
    QVERIFY2(r->body.contains("no healthy replica"), r->body.constData());
}

// A replica answering something that is not HTTP: 502 saying so.
void TestProxyFailures::malformedAnswerGives502()
{
    StubBackend& bad = c_->addStub("bad", StubMode::Malformed);
    QVERIFY2(c_->startAgent(c_->config({bad.port()})), qPrintable(c_->error()));

    QString why;
    const auto r = fetch(c_->port(), getRequest("/m"), false, &why);
    QVERIFY2(r, qPrintable(why));
    QCOMPARE(r->status, 502);
    QVERIFY2(isOneLine(r->body), r->body.constData());
    QVERIFY2(r->body.contains("malformed"), r->body.constData());
}

// A replica that dies in the middle of its body: the client's connection ends too, so the
// client cannot mistake the short body for a whole one.
void TestProxyFailures::truncatedAnswerEndsClientConnection()
{
    StubBackend& cut = c_->addStub("cut", StubMode::Truncated);
    QVERIFY2(c_->startAgent(c_->config({cut.port()})), qPrintable(c_->error()));

    HttpClient client;
    QVERIFY2(client.connectTo(c_->port()), qPrintable(client.error()));
    QVERIFY(client.send(getRequest("/t")));
    const auto r = client.read();
    QVERIFY2(!r, "a truncated body was delivered as complete");
    QVERIFY2(client.error().contains(QStringLiteral("cut short")), qPrintable(client.error()));
    QVERIFY(!client.connected());
}

// A client that disconnects while its answer is still streaming: the agent drops the upstream
// connection (it cannot be reused mid-answer) and goes on serving others.
void TestProxyFailures::clientGoneMidAnswerDoesNotHurt()
{
    StubBackend& stream = c_->addStub("stream", StubMode::SlowChunks);
    QVERIFY2(c_->startAgent(c_->config({stream.port()})), qPrintable(c_->error()));

    {
        HttpClient quitter;
        QVERIFY2(quitter.connectTo(c_->port()), qPrintable(quitter.error()));
        QVERIFY(quitter.send(getRequest("/abandoned")));
        QVERIFY(quitter.socket().waitForReadyRead(kWaitMs)); // the answer has started
        quitter.socket().abort();
    }
    QTRY_COMPARE_WITH_TIMEOUT(stream.openConnections(), 0, kWaitMs);

    HttpClient client;
    QVERIFY2(client.connectTo(c_->port()), qPrintable(client.error()));
    QVERIFY(client.send(getRequest("/next")));
    const auto r = client.read();
    QVERIFY2(r, qPrintable(client.error()));
    QCOMPARE(r->status, 200);
    QCOMPARE(r->body, slowChunksBody());
}

// A client that disconnects while the replica has not answered yet: the agent gives up the
// exchange at once and closes its upstream connection, instead of holding it until
// timeouts.response_ms (60 s here) expires.
void TestProxyFailures::clientGoneWhileWaitingFreesUpstream()
{
    StubBackend& silent = c_->addStub("silent", StubMode::Silent);
    QVERIFY2(c_->startAgent(c_->config({silent.port()})), qPrintable(c_->error()));

    HttpClient quitter;
    QVERIFY2(quitter.connectTo(c_->port()), qPrintable(quitter.error()));
    QVERIFY(quitter.send(getRequest("/never-answered")));
    QTRY_COMPARE_WITH_TIMEOUT(silent.requests().size(), 1, kWaitMs);
    QCOMPARE(silent.openConnections(), 1);
    quitter.socket().abort();
    QTRY_COMPARE_WITH_TIMEOUT(silent.openConnections(), 0, kWaitMs);
    // The abandoned request is logged with nginx's 499 (the log is flushed on the worker's tick).
    const auto logged = [this] {
        QFile log(c_->accessLogPath());
        return log.open(QIODevice::ReadOnly) ? log.readAll() : QByteArray();
    };
    QTRY_VERIFY_WITH_TIMEOUT(logged().contains("\"path\":\"/never-answered\",\"status\":499"), kWaitMs);
}

// A request whose client gives up is not a latency sample of its replica: the time until the
// client left says nothing of how fast the replica answers. It used to enter the replica's
// average (GET /v1/pools latency_ms, Prequal's fallback, power_of_d): at 130% load the load
// generator's 5 s timeout went into the average of whichever replica it hit. Here five clients
// leave a replica that answers in 200 ms as soon as it has their request: its average stays
// at 200 (it fell to about 80 before).
void TestProxyFailures::abandonedRequestIsNotALatencySample()
{
    constexpr double kServiceMs = 200;
    const quint16 port = c_->startReplica(QStringLiteral("r1"), {QStringLiteral("--service-ms"), QString::number(kServiceMs),
                                                                 QStringLiteral("--dist"), QStringLiteral("fixed")});
    QVERIFY2(port, qPrintable(c_->error()));
    QVERIFY2(c_->startAgent(controlConfig(*c_, {port})), qPrintable(c_->error()));
    const QString id = QStringLiteral("127.0.0.1:%1").arg(port);
    const auto replica = [&] { return webReplicas(*c_).value(id); };

    const auto answered = fetch(c_->port(), getRequest("/measured"));
    QVERIFY(answered);
    QCOMPARE(answered->status, 200);
    QTRY_VERIFY_WITH_TIMEOUT(replica().value("latency_ms").toDouble() > 0, kWaitMs);
    const double before = replica().value("latency_ms").toDouble();
    QVERIFY2(before >= kServiceMs * 0.9, qPrintable(QString::number(before)));

    const auto replicaRif = [port] {
        const auto r = fetch(port, getRequest("/ping"));
        return r && r->status == 200 ? QJsonDocument::fromJson(r->body).object().value("rif").toInt() : -1;
    };
    for (int i = 0; i < 5; ++i) {
        HttpClient quitter;
        QVERIFY2(quitter.connectTo(c_->port()), qPrintable(quitter.error()));
        QVERIFY(quitter.send(getRequest("/abandoned")));
        QTRY_VERIFY_WITH_TIMEOUT(replicaRif() >= 1, kWaitMs); // the replica is serving it
        quitter.socket().abort();
        // The agent has seen the client go: nothing of its in flight.
        QTRY_COMPARE_WITH_TIMEOUT(replica().value("in_flight").toInteger(-1), 0, kWaitMs);
        QTRY_COMPARE_WITH_TIMEOUT(replicaRif(), 0, kWaitMs);
    }
    const double after = replica().value("latency_ms").toDouble();
    QVERIFY2(after >= kServiceMs * 0.9,
             qPrintable(QStringLiteral("latency_ms %1 before the abandoned requests, %2 after").arg(before).arg(after)));
}

// A replica that closes each keep-alive connection right after answering: requests on one
// client connection all succeed (a stale pooled connection is never a client-visible error).
void TestProxyFailures::staleUpstreamConnectionIsNotAnError()
{
    StubBackend& closer = c_->addStub("closer", StubMode::CloseAfterAnswer);
    QVERIFY2(c_->startAgent(c_->config({closer.port()})), qPrintable(c_->error()));

    HttpClient client;
    QVERIFY2(client.connectTo(c_->port()), qPrintable(client.error()));
    for (int i = 0; i < 10; ++i) {
        const QByteArray path = "/s" + QByteArray::number(i);
        QVERIFY(client.send(getRequest(path)));
        const auto r = client.read();
        QVERIFY2(r, qPrintable(client.error()));
        QCOMPARE(r->status, 200);
        QCOMPARE(r->body, path);
    }
}

// A replica slower than timeouts.response_ms: 504 soon after the timeout, not after the replica.
void TestProxyFailures::slowReplicaAnswers504()
{
    const quint16 slow = c_->startReplica(QStringLiteral("slow"), {QStringLiteral("--service-ms"), QStringLiteral("2000"),
                                                                   QStringLiteral("--dist"), QStringLiteral("fixed")});
    QVERIFY2(slow, qPrintable(c_->error()));
    QJsonObject cfg = c_->config({slow});
    setJson(cfg, {QStringLiteral("timeouts"), QStringLiteral("response_ms")}, 300);
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));

    QElapsedTimer t;
    t.start();
    QString why;
    const auto r = fetch(c_->port(), getRequest("/slow"), false, &why);
    QVERIFY2(r, qPrintable(why));
    QCOMPARE(r->status, 504);
    QVERIFY2(t.elapsed() < 1500, qPrintable(QStringLiteral("took %1 ms").arg(t.elapsed())));
    QVERIFY2(isOneLine(r->body), r->body.constData());
    QVERIFY2(r->body.contains("response_ms"), r->body.constData());
}

// An answer whose body keeps flowing (a chunk every 100 ms) for longer than timeouts.response_ms
// is delivered whole: the replica did answer in time, so the timeout must not cut it.
void TestProxyFailures::slowStreamingAnswerIsNotCut()
{
    StubBackend& stream = c_->addStub("stream", StubMode::SlowChunks);
    QJsonObject cfg = c_->config({stream.port()});
    const int responseMs = kSlowChunkCount * kSlowChunkIntervalMs / 2; // half the stream's length
    setJson(cfg, {QStringLiteral("timeouts"), QStringLiteral("response_ms")}, responseMs);
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));

    HttpClient client;
    QVERIFY2(client.connectTo(c_->port()), qPrintable(client.error()));
    QVERIFY(client.send(getRequest("/stream")));
    const auto r = client.read();
    QVERIFY2(r, qPrintable(client.error()));
    QCOMPARE(r->status, 200);
    QCOMPARE(r->body, slowChunksBody());
}

// A client uploading steadily (a piece every 100 ms) for longer than timeouts.response_ms gets
// the replica's answer, not a 504: the replica cannot answer before it has the request.
void TestProxyFailures::slowUploadIsNotAnswered504()
{
    StubBackend& stub = c_->addStub("s1");
    QJsonObject cfg = c_->config({stub.port()});
    setJson(cfg, {QStringLiteral("timeouts"), QStringLiteral("response_ms")}, 400);
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));

    HttpClient client;
    QVERIFY2(client.connectTo(c_->port()), qPrintable(client.error()));
    QVERIFY(client.send("POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"));
    QByteArray sent;
    for (int i = 0; i < 8; ++i) {
        const QByteArray piece = "piece" + QByteArray::number(i) + ";";
        sent += piece;
        // A write failing means the agent gave up on the request: its answer says why, below.
        if (!client.send(QByteArray::number(piece.size(), 16) + "\r\n" + piece + "\r\n"))
            break;
        QTest::qWait(100); // the pace of a slow client is what is under test, not a synchronisation
    }
    client.send("0\r\n\r\n");
    const auto r = client.read();
    QVERIFY2(r, qPrintable(client.error()));
    QCOMPARE(r->status, 200);
    QCOMPARE(r->body, "/upload" + sent);
}

// A request that does not parse: 400 with the reason, then the connection is closed.
void TestProxyFailures::malformedRequestAnswers400AndCloses()
{
    StubBackend& stub = c_->addStub("s1");
    QVERIFY2(c_->startAgent(c_->config({stub.port()})), qPrintable(c_->error()));

    HttpClient client;
    QVERIFY2(client.connectTo(c_->port()), qPrintable(client.error()));
    QVERIFY(client.send("GET / HTTP/1.1\r\nHost: t\r\nthis line has no colon\r\n\r\n" + getRequest("/next")));
    const auto r = client.read();
    QVERIFY2(r, qPrintable(client.error()));
    QCOMPARE(r->status, 400);
    QVERIFY2(isOneLine(r->body), r->body.constData());
    QVERIFY2(r->body.startsWith("malformed request"), r->body.constData());
    QVERIFY2(client.waitForClose(), qPrintable(client.error()));
    QVERIFY(stub.requests().isEmpty());
}

void TestProxyFailures::ambiguousFramingIsRefused_data()
{
    QTest::addColumn<QByteArray>("request");
    QTest::newRow("content-length and chunked")
        << QByteArray("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    QTest::newRow("two content-lengths")
        << QByteArray("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!");
    QTest::newRow("chunked not last")
        << QByteArray("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n");
    QTest::newRow("space before colon in transfer-encoding")
        << QByteArray("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n");
    QTest::newRow("negative content-length")
        << QByteArray("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n");
    QTest::newRow("bare LF line ends") << QByteArray("GET / HTTP/1.1\nHost: t\n\n");
    static const char withNul[] = "GET / HTTP/1.1\r\nHost: t\r\nX-A: a\0b\r\n\r\n";
    QTest::newRow("NUL in a header value") << QByteArray(withNul, sizeof withNul - 1);
}

// Requests whose body framing is ambiguous or whose syntax is invalid (the stuff of request
// smuggling) are refused with 400 and the connection closed; nothing reaches the replica.
void TestProxyFailures::ambiguousFramingIsRefused()
{
    QFETCH(QByteArray, request);
    StubBackend& stub = c_->addStub("s1");
    QVERIFY2(c_->startAgent(c_->config({stub.port()})), qPrintable(c_->error()));

    HttpClient client;
    QVERIFY2(client.connectTo(c_->port()), qPrintable(client.error()));
    QVERIFY(client.send(request));
    const auto r = client.read();
    QVERIFY2(r, qPrintable(client.error()));
    QCOMPARE(r->status, 400);
    QVERIFY2(isOneLine(r->body), r->body.constData());
    QVERIFY2(client.waitForClose(), qPrintable(client.error()));
    QVERIFY(stub.requests().isEmpty());
}

// Request line and headers over limits.max_header_bytes: 431, then the connection is closed.
void TestProxyFailures::oversizedHeadersAnswer431()
{
    StubBackend& stub = c_->addStub("s1");
    QJsonObject cfg = c_->config({stub.port()});
    setJson(cfg, {QStringLiteral("limits"), QStringLiteral("max_header_bytes")}, 1024);
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));

    // Just under the limit passes; over it does not.
    QString why;
    const auto ok = fetch(c_->port(), getRequest("/", "X-Big: " + QByteArray(900, 'a') + "\r\n"), false, &why);
    QVERIFY2(ok, qPrintable(why));
    QCOMPARE(ok->status, 200);

    HttpClient client;
    QVERIFY2(client.connectTo(c_->port()), qPrintable(client.error()));
    QVERIFY(client.send(getRequest("/", "X-Big: " + QByteArray(2000, 'a') + "\r\n")));
    const auto r = client.read();
    QVERIFY2(r, qPrintable(client.error()));
    QCOMPARE(r->status, 431);
    QVERIFY2(isOneLine(r->body), r->body.constData());
    QVERIFY2(client.waitForClose(), qPrintable(client.error()));
    QCOMPARE(stub.requests().size(), 1);
}

// More header fields than limits.max_headers: 431.
void TestProxyFailures::tooManyHeadersAnswer431()
{
    StubBackend& stub = c_->addStub("s1");
    QJsonObject cfg = c_->config({stub.port()});
    setJson(cfg, {QStringLiteral("limits"), QStringLiteral("max_headers")}, 5);
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));

    QByteArray extra;
    for (int i = 0; i < 10; ++i)
        extra += "X-H" + QByteArray::number(i) + ": v\r\n";
    HttpClient client;
    QVERIFY2(client.connectTo(c_->port()), qPrintable(client.error()));
    QVERIFY(client.send(getRequest("/", extra)));
    const auto r = client.read();
    QVERIFY2(r, qPrintable(client.error()));
    QCOMPARE(r->status, 431);
    QVERIFY2(client.waitForClose(), qPrintable(client.error()));
    QVERIFY(stub.requests().isEmpty());
}

// A Content-Length over limits.max_body_bytes: 413 before any byte is forwarded, then close.
void TestProxyFailures::oversizedBodyAnswers413()
{
    StubBackend& stub = c_->addStub("s1");
    QJsonObject cfg = c_->config({stub.port()});
    setJson(cfg, {QStringLiteral("limits"), QStringLiteral("max_body_bytes")}, 1000);
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));

    HttpClient client;
    QVERIFY2(client.connectTo(c_->port()), qPrintable(client.error()));
    QVERIFY(client.send("POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n" + QByteArray(5000, 'x')));
    const auto r = client.read();
    QVERIFY2(r, qPrintable(client.error()));
    QCOMPARE(r->status, 413);
    QVERIFY2(isOneLine(r->body), r->body.constData());
    QVERIFY2(client.waitForClose(), qPrintable(client.error()));
    QVERIFY(stub.requests().isEmpty());
}

// Headers that do not complete within timeouts.header_ms: 408, then the connection is closed.
void TestProxyFailures::slowHeadersAnswer408()
{
    StubBackend& stub = c_->addStub("s1");
    QJsonObject cfg = c_->config({stub.port()});
    setJson(cfg, {QStringLiteral("timeouts"), QStringLiteral("header_ms")}, 300);
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));

    HttpClient client;
    QVERIFY2(client.connectTo(c_->port()), qPrintable(client.error()));
    QVERIFY(client.send("GET /slowloris HTTP/1.1\r\nHost: t\r\n"));
    const auto r = client.read();
    QVERIFY2(r, qPrintable(client.error()));
    QCOMPARE(r->status, 408);
    QVERIFY2(isOneLine(r->body), r->body.constData());
    QVERIFY2(client.waitForClose(), qPrintable(client.error()));
    QVERIFY(stub.requests().isEmpty());
}

// A keep-alive connection left quiet longer than timeouts.idle_ms is closed by the agent.
void TestProxyFailures::idleKeepAliveConnectionIsClosed()
{
    StubBackend& stub = c_->addStub("s1");
    QJsonObject cfg = c_->config({stub.port()});
    setJson(cfg, {QStringLiteral("timeouts"), QStringLiteral("idle_ms")}, 300);
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));

    HttpClient client;
    QVERIFY2(client.connectTo(c_->port()), qPrintable(client.error()));
    QVERIFY(client.send(getRequest("/i")));
    const auto r = client.read();
    QVERIFY2(r, qPrintable(client.error()));
    QCOMPARE(r->status, 200);
    QElapsedTimer t;
    t.start();
    QVERIFY2(client.waitForClose(3000), qPrintable(client.error()));
    QVERIFY2(t.elapsed() >= 200, qPrintable(QStringLiteral("closed after only %1 ms").arg(t.elapsed())));
}

QTEST_GUILESS_MAIN(TestProxyFailures)
#include "tst_proxy_failures.moc"
