// The proxy on ordinary requests: answers, balancing, keep-alive, pipelining, and the headers
// it adds, keeps and strips on the way to the replica.

#include "harness.hpp"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QMap>
#include <QtTest>

using namespace dlb::test;

class TestProxyBasic : public QObject {
    Q_OBJECT

private slots:
    void init();
    void cleanup();

    void replicaAnswersThroughProxy();
    void roundRobinSpreadsEvenly();
    void keepAliveReusesClientAndUpstreamConnections();
    void pipelinedAnswersComeBackInOrder();
    void headAnswerHasNoBody();
    void connectionCloseIsHonoured();
    void http10RequestIsAnswered();
    void http10KeepAliveIsAcknowledged();
    void forwardedHeadersAreAddedAndHostKept();
    void forwardedForAppendsToPriorValue();
    void hopByHopHeadersAreStripped();
    void noRouteAnswers404();
    void localAnswerKeepsPipelineInOrder();
    void headKeepsUpstreamConnectionUsable();
    void responseHopByHopHeadersAreStripped();
    void upgradeRequestIsProxiedAsPlainHttp();
    void absoluteFormTargetIsAccepted();
    void concurrentClientsAllSucceed();
    void upstreamPoolingCanBeDisabled();
    void idleUpstreamConnectionIsClosed();

private:
    std::unique_ptr<Cluster> c_;
};

void TestProxyBasic::init()
{
    c_ = std::make_unique<Cluster>();
}

void TestProxyBasic::cleanup()
{
    // Stopped first so that its whole stderr is read before a failure prints it.
    const int exitCode = c_->stopAgent(); // also when it already died: see Cluster::stopAgent
    checkAgentExit(*c_, exitCode);
}

// A request through a two-worker agent reaches the replica and its answer comes back whole.
void TestProxyBasic::replicaAnswersThroughProxy()
{
    const quint16 r1 = c_->startReplica(QStringLiteral("r1"));
    QVERIFY2(r1, qPrintable(c_->error()));
    QJsonObject cfg = c_->config({r1});
    cfg[QStringLiteral("workers")] = 2;
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));

    for (int i = 0; i < 10; ++i) {
        QString why;
        const auto r = fetch(c_->port(), getRequest("/hello"), false, &why);
        QVERIFY2(r, qPrintable(why));
        QCOMPARE(r->status, 200);
        QCOMPARE(r->version, QByteArray("HTTP/1.1"));
        QCOMPARE(r->header("X-Replica"), QByteArray("r1"));
        QCOMPARE(r->body, QByteArray("r1\n"));
    }
}

// Round robin over 3 replicas: 30 requests on new connections give each replica 10, in a cycle.
void TestProxyBasic::roundRobinSpreadsEvenly()
{
    QList<quint16> ports;
    for (const char* name : {"r1", "r2", "r3"}) {
        ports.append(c_->startReplica(QString::fromLatin1(name)));
        QVERIFY2(ports.back(), qPrintable(c_->error()));
    }
    QVERIFY2(c_->startAgent(c_->config(ports)), qPrintable(c_->error()));

    QList<QByteArray> order;
    QMap<QByteArray, int> counts;
    for (int i = 0; i < 30; ++i) {
        QString why;
        const auto r = fetch(c_->port(), getRequest("/rr"), false, &why);
        QVERIFY2(r, qPrintable(why));
        QCOMPARE(r->status, 200);
        order.append(r->header("X-Replica"));
        ++counts[order.back()];
    }
    QCOMPARE(counts.value("r1"), 10);
    QCOMPARE(counts.value("r2"), 10);
    QCOMPARE(counts.value("r3"), 10);
    for (int i = 3; i < order.size(); ++i)
        QCOMPARE(order[i], order[i - 3]);
}

// Several requests on one client connection all succeed, the client connection stays open, the
// agent reuses one upstream connection for all of them, and logs one access line per request.
void TestProxyBasic::keepAliveReusesClientAndUpstreamConnections()
{
    StubBackend& stub = c_->addStub("s1");
    QVERIFY(stub.port());
    QVERIFY2(c_->startAgent(c_->config({stub.port()})), qPrintable(c_->error()));

    HttpClient client;
    QVERIFY2(client.connectTo(c_->port()), qPrintable(client.error()));
    for (int i = 1; i <= 5; ++i) {
        const QByteArray path = "/k" + QByteArray::number(i);
        QVERIFY2(client.send(getRequest(path)), qPrintable(client.error()));
        const auto r = client.read();
        QVERIFY2(r, qPrintable(client.error()));
        QCOMPARE(r->status, 200);
        QCOMPARE(r->body, path);
        QVERIFY(!r->header("connection").toLower().contains("close"));
        QVERIFY(client.connected());
    }
    QCOMPARE(stub.requests().size(), 5);
    QCOMPARE(stub.connections(), 1);

    // The access log is flushed on the worker's tick: wait for the five lines.
    auto lines = [this] {
        QFile f(c_->accessLogPath());
        if (!f.open(QIODevice::ReadOnly))
            return QList<QByteArray>();
        QList<QByteArray> out = f.readAll().split('\n');
        out.removeAll(QByteArray());
        return out;
    };
    QTRY_COMPARE_WITH_TIMEOUT(lines().size(), 5, kWaitMs);
    const QList<QByteArray> logged = lines();
    for (int i = 0; i < 5; ++i) {
        const QJsonObject rec = QJsonDocument::fromJson(logged[i]).object();
        QCOMPARE(rec.value(QStringLiteral("status")).toInt(), 200);
        QCOMPARE(rec.value(QStringLiteral("path")).toString(), QStringLiteral("/k%1").arg(i + 1));
    }
}

// Five requests written at once (one with a body) are answered in the order they were sent.
void TestProxyBasic::pipelinedAnswersComeBackInOrder()
{
    StubBackend& stub = c_->addStub("s1");
    QVERIFY2(c_->startAgent(c_->config({stub.port()})), qPrintable(c_->error()));

    QByteArray batch;
    for (int i = 1; i <= 5; ++i) {
        const QByteArray path = "/p" + QByteArray::number(i);
        if (i == 3)
            batch += "POST " + path + " HTTP/1.1\r\nHost: test.local\r\nContent-Length: 4\r\n\r\nbody";
        else
            batch += getRequest(path);
    }
    HttpClient client;
    QVERIFY2(client.connectTo(c_->port()), qPrintable(client.error()));
    QVERIFY2(client.send(batch), qPrintable(client.error()));
    for (int i = 1; i <= 5; ++i) {
        const auto r = client.read();
        QVERIFY2(r, qPrintable(client.error()));
        QCOMPARE(r->status, 200);
        QCOMPARE(r->body, "/p" + QByteArray::number(i) + (i == 3 ? "body" : ""));
    }
    QVERIFY(client.connected());
}

// A HEAD answer carries the entity's Content-Length but no body: the next answer on the same
// connection parses cleanly.
void TestProxyBasic::headAnswerHasNoBody()
{
    const quint16 r1 = c_->startReplica(QStringLiteral("r1"));
    QVERIFY2(r1, qPrintable(c_->error()));
    QVERIFY2(c_->startAgent(c_->config({r1})), qPrintable(c_->error()));

    HttpClient client;
    QVERIFY2(client.connectTo(c_->port()), qPrintable(client.error()));
    QVERIFY(client.send("HEAD /h HTTP/1.1\r\nHost: test.local\r\n\r\n"));
    const auto head = client.read(/*head=*/true);
    QVERIFY2(head, qPrintable(client.error()));
    QCOMPARE(head->status, 200);
    QCOMPARE(head->header("content-length"), QByteArray("3"));
    QVERIFY(head->body.isEmpty());

    QVERIFY(client.send(getRequest("/after-head")));
    const auto next = client.read();
    QVERIFY2(next, qPrintable(client.error()));
    QCOMPARE(next->status, 200);
    QCOMPARE(next->body, QByteArray("r1\n"));
}

// "Connection: close" from the client: the answer says close and the agent closes after it.
void TestProxyBasic::connectionCloseIsHonoured()
{
    const quint16 r1 = c_->startReplica(QStringLiteral("r1"));
    QVERIFY2(r1, qPrintable(c_->error()));
    QVERIFY2(c_->startAgent(c_->config({r1})), qPrintable(c_->error()));

    HttpClient client;
    QVERIFY2(client.connectTo(c_->port()), qPrintable(client.error()));
    QVERIFY(client.send(getRequest("/bye", "Connection: close\r\n")));
    const auto r = client.read();
    QVERIFY2(r, qPrintable(client.error()));
    QCOMPARE(r->status, 200);
    QCOMPARE(r->body, QByteArray("r1\n"));
    QVERIFY(r->header("connection").toLower().contains("close"));
    QVERIFY2(client.waitForClose(), qPrintable(client.error()));
}

// An HTTP/1.0 request without Host is answered, and the connection closes after the answer.
void TestProxyBasic::http10RequestIsAnswered()
{
    const quint16 r1 = c_->startReplica(QStringLiteral("r1"));
    QVERIFY2(r1, qPrintable(c_->error()));
    QVERIFY2(c_->startAgent(c_->config({r1})), qPrintable(c_->error()));

    HttpClient client;
    QVERIFY2(client.connectTo(c_->port()), qPrintable(client.error()));
    QVERIFY(client.send("GET /old HTTP/1.0\r\n\r\n"));
    const auto r = client.read();
    QVERIFY2(r, qPrintable(client.error()));
    QCOMPARE(r->status, 200);
    QCOMPARE(r->body, QByteArray("r1\n"));
    QVERIFY(!r->chunked);
    QVERIFY2(client.waitForClose(), qPrintable(client.error()));
}

// An HTTP/1.0 client asking for keep-alive is told "Connection: keep-alive" (without it a 1.0
// client must assume the connection closes) and can send a second request on the connection.
void TestProxyBasic::http10KeepAliveIsAcknowledged()
{
    const quint16 r1 = c_->startReplica(QStringLiteral("r1"));
    QVERIFY2(r1, qPrintable(c_->error()));
    QVERIFY2(c_->startAgent(c_->config({r1})), qPrintable(c_->error()));

    HttpClient client;
    QVERIFY2(client.connectTo(c_->port()), qPrintable(client.error()));
    for (int i = 0; i < 2; ++i) {
        QVERIFY(client.send("GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
        const auto r = client.read();
        QVERIFY2(r, qPrintable(client.error()));
        QCOMPARE(r->status, 200);
        QCOMPARE(r->body, QByteArray("r1\n"));
        QCOMPARE(r->header("connection").toLower(), QByteArray("keep-alive"));
    }
}

// The replica sees the client's Host unchanged, plus X-Forwarded-For and X-Forwarded-Proto.
void TestProxyBasic::forwardedHeadersAreAddedAndHostKept()
{
    StubBackend& stub = c_->addStub("s1");
    QVERIFY2(c_->startAgent(c_->config({stub.port()})), qPrintable(c_->error()));

    QString why;
    const auto r = fetch(c_->port(), "GET /fwd?q=1 HTTP/1.1\r\nHost: example.test:8080\r\nX-End: e2e\r\n\r\n", false, &why);
    QVERIFY2(r, qPrintable(why));
    QCOMPARE(r->status, 200);
    const QList<StubRequest> seen = stub.requests();
    QCOMPARE(seen.size(), 1);
    const StubRequest& req = seen[0];
    QCOMPARE(req.path, QByteArray("/fwd?q=1"));
    QCOMPARE(req.header("host"), QByteArray("example.test:8080"));
    QCOMPARE(req.header("x-forwarded-for"), QByteArray("127.0.0.1"));
    QCOMPARE(req.header("x-forwarded-proto"), QByteArray("http"));
    QCOMPARE(req.header("x-end"), QByteArray("e2e"));
}

// An X-Forwarded-For written by an earlier proxy is kept, with this client appended.
void TestProxyBasic::forwardedForAppendsToPriorValue()
{
    StubBackend& stub = c_->addStub("s1");
    QVERIFY2(c_->startAgent(c_->config({stub.port()})), qPrintable(c_->error()));

    QString why;
    const auto r = fetch(c_->port(), getRequest("/xff", "X-Forwarded-For: 10.1.2.3\r\n"), false, &why);
    QVERIFY2(r, qPrintable(why));
    QCOMPARE(r->status, 200);
    const QList<StubRequest> seen = stub.requests();
    QCOMPARE(seen.size(), 1);
    QCOMPARE(seen[0].header("x-forwarded-for"), QByteArray("10.1.2.3, 127.0.0.1"));
}

// Hop-by-hop headers (Connection and what it names, Keep-Alive, TE, Upgrade, Proxy-Connection)
// do not reach the replica; end-to-end ones do.
void TestProxyBasic::hopByHopHeadersAreStripped()
{
    StubBackend& stub = c_->addStub("s1");
    QVERIFY2(c_->startAgent(c_->config({stub.port()})), qPrintable(c_->error()));

    QString why;
    const auto r = fetch(c_->port(),
                         getRequest("/hop", "Connection: keep-alive, X-Hop\r\nX-Hop: secret\r\nKeep-Alive: timeout=5\r\n"
                                            "TE: trailers\r\nUpgrade: h2c\r\nProxy-Connection: keep-alive\r\n"
                                            "X-End: e2e\r\n"),
                         false, &why);
    QVERIFY2(r, qPrintable(why));
    QCOMPARE(r->status, 200);
    const QList<StubRequest> seen = stub.requests();
    QCOMPARE(seen.size(), 1);
    const StubRequest& req = seen[0];
    for (const char* name : {"x-hop", "keep-alive", "te", "upgrade", "proxy-connection"})
        QVERIFY2(!req.hasHeader(name), qPrintable(QStringLiteral("%1 reached the replica:\n%2")
                                                      .arg(QString::fromLatin1(name), QString::fromLatin1(req.head))));
    QVERIFY2(!req.header("connection").toLower().contains("x-hop"), req.head.constData());
    QCOMPARE(req.header("x-end"), QByteArray("e2e"));
}

// A path no route matches is answered 404 by the agent itself, with a one-line reason; a
// matching path on the same agent still reaches the replica.
void TestProxyBasic::noRouteAnswers404()
{
    const quint16 r1 = c_->startReplica(QStringLiteral("r1"));
    QVERIFY2(r1, qPrintable(c_->error()));
    QJsonObject cfg = c_->config({r1});
    cfg[QStringLiteral("routes")] =
        QJsonArray{QJsonObject{{QStringLiteral("path_prefix"), QStringLiteral("/api/")}, {QStringLiteral("pool"), QStringLiteral("web")}}};
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));

    QString why;
    const auto miss = fetch(c_->port(), getRequest("/other"), false, &why);
    QVERIFY2(miss, qPrintable(why));
    QCOMPARE(miss->status, 404);
    QVERIFY(!miss->hasHeader("x-replica"));
    QVERIFY(miss->body.endsWith('\n'));
    QCOMPARE(miss->body.count('\n'), 1);
    QVERIFY2(miss->body.contains("route"), miss->body.constData());

    const auto hit = fetch(c_->port(), getRequest("/api/x"), false, &why);
    QVERIFY2(hit, qPrintable(why));
    QCOMPARE(hit->status, 200);
    QCOMPARE(hit->header("X-Replica"), QByteArray("r1"));
}

// A request the agent answers itself (404) between proxied ones, all pipelined in one write:
// the answers still come back in request order on the same connection.
void TestProxyBasic::localAnswerKeepsPipelineInOrder()
{
    StubBackend& stub = c_->addStub("s1");
    QJsonObject cfg = c_->config({stub.port()});
    cfg[QStringLiteral("routes")] =
        QJsonArray{QJsonObject{{QStringLiteral("path_prefix"), QStringLiteral("/api/")}, {QStringLiteral("pool"), QStringLiteral("web")}}};
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));

    HttpClient client;
    QVERIFY2(client.connectTo(c_->port()), qPrintable(client.error()));
    QVERIFY(client.send(getRequest("/api/1") + getRequest("/nowhere") + getRequest("/api/3")));
    const QList<QPair<int, QByteArray>> expected{{200, "/api/1"}, {404, {}}, {200, "/api/3"}};
    for (const auto& [status, body] : expected) {
        const auto r = client.read();
        QVERIFY2(r, qPrintable(client.error()));
        QCOMPARE(r->status, status);
        if (status == 200)
            QCOMPARE(r->body, body);
    }
    QVERIFY(client.connected());
}

// A HEAD answer (Content-Length, no body) leaves the pooled upstream connection in step: the
// next request on it is answered correctly, over the same upstream connection.
void TestProxyBasic::headKeepsUpstreamConnectionUsable()
{
    StubBackend& stub = c_->addStub("s1");
    QVERIFY2(c_->startAgent(c_->config({stub.port()})), qPrintable(c_->error()));

    HttpClient client;
    QVERIFY2(client.connectTo(c_->port()), qPrintable(client.error()));
    QVERIFY(client.send("HEAD /head-first HTTP/1.1\r\nHost: t\r\n\r\n"));
    const auto head = client.read(/*head=*/true);
    QVERIFY2(head, qPrintable(client.error()));
    QCOMPARE(head->status, 200);
    QCOMPARE(head->header("content-length"), QByteArray::number(QByteArray("/head-first").size()));
    QVERIFY(client.send(getRequest("/then-get")));
    const auto next = client.read();
    QVERIFY2(next, qPrintable(client.error()));
    QCOMPARE(next->status, 200);
    QCOMPARE(next->body, QByteArray("/then-get"));
    QCOMPARE(stub.connections(), 1);
}

// Hop-by-hop headers in the replica's answer (Connection and what it names, Keep-Alive) do not
// reach the client; end-to-end ones do.
void TestProxyBasic::responseHopByHopHeadersAreStripped()
{
    StubBackend& stub = c_->addStub("s1");
    QVERIFY2(c_->startAgent(c_->config({stub.port()})), qPrintable(c_->error()));

    QString why;
    const auto r = fetch(c_->port(), getRequest("/hop-answer", "X-Want-Hop: 1\r\n"), false, &why);
    QVERIFY2(r, qPrintable(why));
    QCOMPARE(r->status, 200);
    QCOMPARE(r->header("x-public"), QByteArray("1"));
    QVERIFY(!r->hasHeader("x-secret"));
    QVERIFY(!r->hasHeader("keep-alive"));
    QVERIFY(!r->header("connection").toLower().contains("x-secret"));
}

// A WebSocket-style upgrade request (not performed by the agent) is proxied as plain HTTP
// without its Upgrade header, and the connection goes on parsing requests after it.
void TestProxyBasic::upgradeRequestIsProxiedAsPlainHttp()
{
    StubBackend& stub = c_->addStub("s1");
    QVERIFY2(c_->startAgent(c_->config({stub.port()})), qPrintable(c_->error()));

    HttpClient client;
    QVERIFY2(client.connectTo(c_->port()), qPrintable(client.error()));
    QVERIFY(client.send(getRequest("/ws", "Connection: Upgrade\r\nUpgrade: websocket\r\n") + getRequest("/after")));
    for (const QByteArray& path : {QByteArray("/ws"), QByteArray("/after")}) {
        const auto r = client.read();
        QVERIFY2(r, qPrintable(client.error()));
        QCOMPARE(r->status, 200);
        QCOMPARE(r->body, path);
    }
    const QList<StubRequest> seen = stub.requests();
    QCOMPARE(seen.size(), 2);
    QVERIFY(!seen[0].hasHeader("upgrade"));
}

// A request target in absolute form ("GET http://host/path"), which RFC 9112 section 3.2.2
// says a server MUST accept, is routed by its path like the origin form.
void TestProxyBasic::absoluteFormTargetIsAccepted()
{
    StubBackend& stub = c_->addStub("s1");
    QVERIFY2(c_->startAgent(c_->config({stub.port()})), qPrintable(c_->error()));

    QString why;
    const auto r = fetch(c_->port(), "GET http://example.test/abs?x=1 HTTP/1.1\r\nHost: example.test\r\n\r\n", false, &why);
    QVERIFY2(r, qPrintable(why));
    QVERIFY2(r->status == 200, qPrintable(QStringLiteral("status %1: %2").arg(r->status).arg(QString::fromUtf8(r->body))));
    const QList<StubRequest> seen = stub.requests();
    QCOMPARE(seen.size(), 1);
    QVERIFY2(seen[0].path.endsWith("/abs?x=1"), seen[0].path.constData());
    QCOMPARE(seen[0].header("host"), QByteArray("example.test"));
}

// 32 keep-alive clients with requests interleaved over two workers and three replicas: every
// request is answered, in order, on its own connection.
void TestProxyBasic::concurrentClientsAllSucceed()
{
    QList<quint16> ports;
    for (const char* name : {"r1", "r2", "r3"}) {
        ports.append(c_->startReplica(QString::fromLatin1(name)));
        QVERIFY2(ports.back(), qPrintable(c_->error()));
    }
    QJsonObject cfg = c_->config(ports);
    cfg[QStringLiteral("workers")] = 2;
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));

    constexpr int kClients = 32;
    constexpr int kRounds = 20;
    std::vector<std::unique_ptr<HttpClient>> clients;
    for (int i = 0; i < kClients; ++i) {
        clients.push_back(std::make_unique<HttpClient>());
        QVERIFY2(clients.back()->connectTo(c_->port()), qPrintable(clients.back()->error()));
    }
    QMap<QByteArray, int> counts;
    for (int round = 0; round < kRounds; ++round) {
        for (auto& c : clients)
            QVERIFY2(c->send(getRequest("/c")), qPrintable(c->error()));
        for (auto& c : clients) {
            const auto r = c->read();
            QVERIFY2(r, qPrintable(c->error()));
            QCOMPARE(r->status, 200);
            QCOMPARE(r->body, r->header("X-Replica") + "\n");
            ++counts[r->header("X-Replica")];
        }
    }
    QCOMPARE(counts.size(), 3);
}

// limits.max_idle_upstream_per_replica 0: no upstream connection is kept, each request opens one.
void TestProxyBasic::upstreamPoolingCanBeDisabled()
{
    StubBackend& stub = c_->addStub("s1");
    QJsonObject cfg = c_->config({stub.port()});
    setJson(cfg, {QStringLiteral("limits"), QStringLiteral("max_idle_upstream_per_replica")}, 0);
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));

    HttpClient client;
    QVERIFY2(client.connectTo(c_->port()), qPrintable(client.error()));
    for (int i = 0; i < 3; ++i) {
        QVERIFY(client.send(getRequest("/nopool")));
        const auto r = client.read();
        QVERIFY2(r, qPrintable(client.error()));
        QCOMPARE(r->status, 200);
    }
    QCOMPARE(stub.connections(), 3);
    QTRY_COMPARE_WITH_TIMEOUT(stub.openConnections(), 0, kWaitMs);
}

// A pooled upstream connection idle longer than timeouts.upstream_idle_ms is closed by the agent.
void TestProxyBasic::idleUpstreamConnectionIsClosed()
{
    StubBackend& stub = c_->addStub("s1");
    QJsonObject cfg = c_->config({stub.port()});
    setJson(cfg, {QStringLiteral("timeouts"), QStringLiteral("upstream_idle_ms")}, 200);
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));

    QString why;
    const auto r = fetch(c_->port(), getRequest("/pooled"), false, &why);
    QVERIFY2(r, qPrintable(why));
    QCOMPARE(r->status, 200);
    QCOMPARE(stub.connections(), 1);
    QTRY_COMPARE_WITH_TIMEOUT(stub.openConnections(), 0, kWaitMs);
}

QTEST_GUILESS_MAIN(TestProxyBasic)
#include "tst_proxy_basic.moc"
