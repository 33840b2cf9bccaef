// The control API against a real agent over its Unix socket: authentication, every kind of
// refused change (state compared field by field before and after), the HTTP side (keep-alive,
// deadlines), a health check asked for now. tst_control_runtime has changes under load, the
// write-back across reloads and restarts, the socket's creation and TLS.

#include "control_fixture.hpp"

#include <QElapsedTimer>
#include <QFile>
#include <QJsonArray>
#include <QtTest>



using namespace dlb::test;


class TestControlApi : public QObject {
    Q_OBJECT

private slots:
    void init();
    void cleanup();

    void healthzAndReadyzNeedNoToken();
    void missingTokenIsRefused();
    void wrongTokenIsRefused();
    void viewerReadsButCannotWrite();
    void tokenInQueryIsRefused_data();
    void tokenInQueryIsRefused();
    void repeatedFailuresAreSlowedDown();
    void invalidChangeLeavesStateUnchanged_data();
    void invalidChangeLeavesStateUnchanged();
    void unknownPathIs404AfterAuth();
    void keepAliveAndPipelining();
    void failedWriteBackRefusesTheChange();
    void settingTheRunningValueChangesNothing();
    void slowRequestHeadIs408();
    void healthCheckNowReportsEachReplica();

private:
    QString socketPath() const { return controlSocket(*c_); }
    QJsonObject controlConfig(const QList<quint16>& ports) const;
    bool start(const QList<quint16>& ports);
    std::optional<Response> call(const QByteArray& method, const QByteArray& path, const QByteArray& token = kAdmin,
                                 const QByteArray& body = {}, const QByteArray& extra = {});
    // GET /v1/config, GET /v1/pools and the config file, for before/after comparisons.
    QJsonObject state();
    std::unique_ptr<Cluster> c_;
};

void TestControlApi::init()
{
    c_ = std::make_unique<Cluster>();
}

void TestControlApi::cleanup()
{
    const int exitCode = c_->agent().running() ? c_->stopAgent() : 0;
    checkAgentExit(*c_, exitCode);
    c_.reset();
}

QJsonObject TestControlApi::controlConfig(const QList<quint16>& ports) const
{
    return dlb::test::controlConfig(*c_, ports);
}

bool TestControlApi::start(const QList<quint16>& ports)
{
    return c_->startAgent(controlConfig(ports));
}

std::optional<Response> TestControlApi::call(const QByteArray& method, const QByteArray& path, const QByteArray& token,
                                             const QByteArray& body, const QByteArray& extra)
{
    return controlCall(*c_, method, path, token, body, extra);
}

QJsonObject TestControlApi::state()
{
    return controlState(*c_);
}

// Probes of systemd and Kubernetes carry no token.
void TestControlApi::healthzAndReadyzNeedNoToken()
{
    QVERIFY2(start({refusedPort()}), qPrintable(c_->error()));
    const auto h = call("GET", "/healthz", {});
    QVERIFY(h);
    QCOMPARE(h->status, 200);
    QCOMPARE(jsonBody(*h).value("status").toString(), QStringLiteral("ok"));
    // Ready once every worker's loop runs: a moment after "started" at most.
    const auto readyStatus = [&] {
        const auto r = call("GET", "/readyz", {});
        return r ? r->status : 0;
    };
    QTRY_COMPARE_WITH_TIMEOUT(readyStatus(), 200, kWaitMs);
    const auto r = call("GET", "/readyz", {});
    QVERIFY(r);
    QCOMPARE(jsonBody(*r).value("status").toString(), QStringLiteral("ready"));
}

void TestControlApi::missingTokenIsRefused()
{
    QVERIFY2(start({refusedPort()}), qPrintable(c_->error()));
    const auto r = call("GET", "/v1/status", {});
    QVERIFY(r);
    QCOMPARE(r->status, 401);
    QCOMPARE(r->header("WWW-Authenticate"), QByteArray("Bearer realm=\"dlb\""));
    QCOMPARE(jsonBody(*r)["error"].toObject()["code"].toString(), QStringLiteral("unauthorized"));
}

void TestControlApi::wrongTokenIsRefused()
{
    QVERIFY2(start({refusedPort()}), qPrintable(c_->error()));
    for (const QByteArray& token : {QByteArray("not-the-token"), kAdmin + "x", sha256Hex(kAdmin)}) {
        const auto r = call("GET", "/v1/status", token);
        QVERIFY(r);
        QCOMPARE(r->status, 401);
        QVERIFY(r->header("WWW-Authenticate").startsWith("Bearer realm=\"dlb\""));
    }
    // Not "Bearer": refused the same way.
    const auto basic = call("GET", "/v1/status", {}, {}, "Authorization: Basic " + kAdmin.toBase64() + "\r\n");
    QVERIFY(basic);
    QCOMPARE(basic->status, 401);
    // The token never reaches the log.
    QVERIFY(!c_->agentLog().contains(kAdmin));
    QVERIFY(!c_->agentLog().contains("not-the-token"));
}

void TestControlApi::viewerReadsButCannotWrite()
{
    const quint16 port = c_->startReplica(QStringLiteral("r1"));
    QVERIFY(port);
    QVERIFY2(start({port}), qPrintable(c_->error()));
    for (const QByteArray& path : {QByteArray("/v1/status"), QByteArray("/v1/pools"), QByteArray("/v1/config")}) {
        const auto r = call("GET", path, kViewer);
        QVERIFY(r);
        QCOMPARE(r->status, 200);
    }
    const QJsonObject before = state();
    const QByteArray id = "127.0.0.1:" + QByteArray::number(port);
    const QList<std::tuple<QByteArray, QByteArray, QByteArray>> writes{
        {"POST", "/v1/pools/web/replicas", R"({"url":"http://127.0.0.1:1"})"},
        {"PUT", "/v1/pools/web/algorithm", R"({"name":"random"})"},
        {"DELETE", "/v1/pools/web/replicas/" + id, {}},
        {"POST", "/v1/pools/web/replicas/" + id + "/drain", {}},
        {"PUT", "/v1/pools/web/replicas/" + id + "/weight", R"({"weight":3})"},
        {"POST", "/v1/pools/web/health-check", {}},
    };
    for (const auto& [method, path, body] : writes) {
        const auto r = call(method, path, kViewer, body);
        QVERIFY(r);
        QVERIFY2(r->status == 403, qPrintable(QString::fromLatin1(method + " " + path + ": " + r->body)));
        QCOMPARE(jsonBody(*r)["error"].toObject()["code"].toString(), QStringLiteral("forbidden"));
    }
    const QString diff = firstDifference(before, state());
    QVERIFY2(diff.isEmpty(), qPrintable(diff));
}

void TestControlApi::tokenInQueryIsRefused_data()
{
    QTest::addColumn<QByteArray>("query");
    QTest::newRow("token") << QByteArray("?token=abc");
    QTest::newRow("access_token") << QByteArray("?access_token=abc");
    QTest::newRow("second, upper case") << QByteArray("?a=1&Token=abc");
    QTest::newRow("percent-encoded key") << QByteArray("?%74oken=abc");
}

// Even with a valid header: a token in a URL ends up in logs, so the request is refused.
void TestControlApi::tokenInQueryIsRefused()
{
    QFETCH(QByteArray, query);
    QVERIFY2(start({refusedPort()}), qPrintable(c_->error()));
    const auto r = call("GET", "/v1/status" + query, kAdmin);
    QVERIFY(r);
    QCOMPARE(r->status, 400);
    QCOMPARE(jsonBody(*r)["error"].toObject()["code"].toString(), QStringLiteral("token_in_query"));
}

// After five failures within a minute a peer's failed requests are answered late (first 500 ms,
// doubling), on a timer: the loop keeps serving others meanwhile.
void TestControlApi::repeatedFailuresAreSlowedDown()
{
    QVERIFY2(start({refusedPort()}), qPrintable(c_->error()));
    ControlClient client(socketPath());
    QVERIFY(client.connect());
    QElapsedTimer t;
    for (int i = 0; i < 5; ++i) {
        t.start();
        const auto r = client.request("GET", "/v1/status", "wrong");
        QVERIFY(r);
        QCOMPARE(r->status, 401);
        QVERIFY2(t.elapsed() < 400, qPrintable(QStringLiteral("failure %1 took %2 ms").arg(i + 1).arg(t.elapsed())));
    }
    t.start();
    auto r = client.request("GET", "/v1/status", "wrong");
    QVERIFY(r);
    QCOMPARE(r->status, 401);
    QVERIFY2(t.elapsed() >= 450, qPrintable(QStringLiteral("6th failure answered after %1 ms").arg(t.elapsed())));

    // The 7th waits about a second; meanwhile another connection is served at once.
    t.start();
    QVERIFY(client.send("GET /v1/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\n\r\n"));
    QElapsedTimer other;
    other.start();
    const auto ok = call("GET", "/v1/status", kAdmin);
    QVERIFY(ok);
    QCOMPARE(ok->status, 200);
    QVERIFY2(other.elapsed() < 400, qPrintable(QStringLiteral("a valid request took %1 ms").arg(other.elapsed())));
    r = client.read();
    QVERIFY(r);
    QCOMPARE(r->status, 401);
    QVERIFY2(t.elapsed() >= 950, qPrintable(QStringLiteral("7th failure answered after %1 ms").arg(t.elapsed())));
    QVERIFY(c_->agent().waitForLog("its answers are delayed from now on"));
}

void TestControlApi::invalidChangeLeavesStateUnchanged_data()
{
    QTest::addColumn<QByteArray>("method");
    QTest::addColumn<QByteArray>("path");
    QTest::addColumn<QByteArray>("body");
    QTest::addColumn<QByteArray>("extra");
    QTest::addColumn<int>("status");
    QTest::addColumn<QString>("code");
    QTest::addColumn<QString>("errorPath");

    const QByteArray algo = "/v1/pools/web/algorithm";
    const QByteArray replicas = "/v1/pools/web/replicas";
    const QByteArray weight = "/v1/pools/web/replicas/{id}/weight";
    QTest::newRow("unknown algorithm") << QByteArray("PUT") << algo << QByteArray(R"({"name":"fastest"})") << QByteArray()
                                       << 400 << "invalid_value" << "name";
    QTest::newRow("out-of-range param") << QByteArray("PUT") << algo
                                        << QByteArray(R"({"name":"prequal","params":{"q_rif":1.7}})") << QByteArray()
                                        << 400 << "invalid_value" << "params.q_rif";
    QTest::newRow("unknown param") << QByteArray("PUT") << algo
                                   << QByteArray(R"({"name":"prequal","params":{"speed":3}})") << QByteArray() << 400
                                   << "invalid_value" << "params.speed";
    QTest::newRow("param of another algorithm") << QByteArray("PUT") << algo
                                                << QByteArray(R"({"name":"round_robin","params":{"q_rif":0.5}})")
                                                << QByteArray() << 400 << "invalid_value" << "params.q_rif";
    QTest::newRow("bad JSON") << QByteArray("PUT") << algo << QByteArray(R"({"name":)") << QByteArray() << 400
                              << "invalid_json" << "";
    QTest::newRow("duplicate key") << QByteArray("PUT") << algo << QByteArray(R"({"name":"random","name":"prequal"})")
                                   << QByteArray() << 400 << "invalid_json" << "name";
    QTest::newRow("body not an object") << QByteArray("PUT") << algo << QByteArray("[1]") << QByteArray() << 400
                                        << "invalid_value" << "";
    QTest::newRow("no body") << QByteArray("POST") << replicas << QByteArray() << QByteArray() << 400 << "invalid_json"
                             << "";
    QTest::newRow("wrong type") << QByteArray("PUT") << weight << QByteArray(R"({"weight":"3"})") << QByteArray() << 400
                                << "invalid_value" << "weight";
    QTest::newRow("weight out of range") << QByteArray("PUT") << weight << QByteArray(R"({"weight":0})") << QByteArray()
                                         << 400 << "invalid_value" << "weight";
    QTest::newRow("weight unknown key") << QByteArray("PUT") << weight << QByteArray(R"({"weight":2,"url":"x"})")
                                        << QByteArray() << 400 << "invalid_value" << "url";
    QTest::newRow("bad URL scheme") << QByteArray("POST") << replicas << QByteArray(R"({"url":"ftp://127.0.0.1:1"})")
                                    << QByteArray() << 400 << "invalid_value" << "url";
    QTest::newRow("URL without port") << QByteArray("POST") << replicas << QByteArray(R"({"url":"http://"})")
                                      << QByteArray() << 400 << "invalid_value" << "url";
    QTest::newRow("replica unknown key") << QByteArray("POST") << replicas
                                         << QByteArray(R"({"url":"http://127.0.0.1:1","wieght":2})") << QByteArray()
                                         << 400 << "invalid_value" << "wieght";
    QTest::newRow("duplicate replica") << QByteArray("POST") << replicas << QByteArray(R"({"url":"http://{id}"})")
                                       << QByteArray() << 409 << "replica_exists" << "url";
    QTest::newRow("unknown pool") << QByteArray("PUT") << QByteArray("/v1/pools/nope/algorithm")
                                  << QByteArray(R"({"name":"random"})") << QByteArray() << 404 << "unknown_pool" << "";
    QTest::newRow("unknown replica") << QByteArray("DELETE") << QByteArray("/v1/pools/web/replicas/127.0.0.1:1")
                                     << QByteArray() << QByteArray() << 404 << "unknown_replica" << "";
    QTest::newRow("unknown replica, drain") << QByteArray("POST")
                                            << QByteArray("/v1/pools/web/replicas/127.0.0.1:1/drain") << QByteArray()
                                            << QByteArray() << 404 << "unknown_replica" << "";
    QTest::newRow("stale generation") << QByteArray("PUT") << algo << QByteArray(R"({"name":"random"})")
                                      << QByteArray("If-Match: 0\r\n") << 409 << "stale_generation" << "";
    QTest::newRow("If-Match not a number") << QByteArray("PUT") << algo << QByteArray(R"({"name":"random"})")
                                           << QByteArray("If-Match: \"1\"\r\n") << 400 << "bad_if_match" << "";
    QTest::newRow("body too large") << QByteArray("POST") << replicas
                                    << QByteArray(R"({"url":"http://127.0.0.1:1","id":")") + QByteArray(70000, 'a') +
                                           QByteArray(R"("})")
                                    << QByteArray() << 413 << "body_too_large" << "";
}

// A refused change answers its error and changes nothing: running config, pools (with their
// counters) and the file, compared field by field.
void TestControlApi::invalidChangeLeavesStateUnchanged()
{
    QFETCH(QByteArray, method);
    QFETCH(QByteArray, path);
    QFETCH(QByteArray, body);
    QFETCH(QByteArray, extra);
    QFETCH(int, status);
    QFETCH(QString, code);
    QFETCH(QString, errorPath);
    const quint16 port = c_->startReplica(QStringLiteral("r1"));
    QVERIFY(port);
    QVERIFY2(start({port}), qPrintable(c_->error()));
    const QByteArray id = "127.0.0.1:" + QByteArray::number(port);
    path.replace("{id}", id);
    body.replace("{id}", id);

    const QJsonObject before = state();
    QVERIFY(!before["/v1/pools"].toObject().isEmpty());
    const auto r = call(method, path, kAdmin, body, extra);
    QVERIFY2(r, "no answer");
    QVERIFY2(r->status == status, r->body.constData());
    const QJsonObject error = jsonBody(*r)["error"].toObject();
    QCOMPARE(error["code"].toString(), code);
    QCOMPARE(error["path"].toString(), errorPath);
    QVERIFY(!error["message"].toString().isEmpty());
    const QString diff = firstDifference(before, state());
    QVERIFY2(diff.isEmpty(), qPrintable("changed: " + diff));
}

void TestControlApi::unknownPathIs404AfterAuth()
{
    QVERIFY2(start({refusedPort()}), qPrintable(c_->error()));
    // Without a token nothing is revealed: not even whether the path exists.
    auto r = call("GET", "/v1/nothing", {});
    QVERIFY(r);
    QCOMPARE(r->status, 401);
    r = call("GET", "/v1/nothing");
    QVERIFY(r);
    QCOMPARE(r->status, 404);
    QCOMPARE(jsonBody(*r)["error"].toObject()["code"].toString(), QStringLiteral("not_found"));
    r = call("DELETE", "/v1/pools");
    QVERIFY(r);
    QCOMPARE(r->status, 405);
    QCOMPARE(r->header("Allow"), QByteArray("GET"));
}

// A change that cannot be written to the config file is not applied: 500 with the reason, and
// the running state as it was (here the file is gone; as root, permissions would not stop it).
void TestControlApi::failedWriteBackRefusesTheChange()
{
    QVERIFY2(start({refusedPort()}), qPrintable(c_->error()));
    QJsonObject before = state();
    QVERIFY(QFile::remove(c_->configPath()));
    before[QStringLiteral("file")] = QString();
    const auto r = call("PUT", "/v1/pools/web/algorithm", kAdmin, R"({"name":"random"})");
    QVERIFY(r);
    QVERIFY2(r->status == 500, r->body.constData());
    const QJsonObject error = jsonBody(*r)["error"].toObject();
    QCOMPARE(error["code"].toString(), QStringLiteral("config_write_failed"));
    QVERIFY2(error["message"].toString().contains(QStringLiteral("the change was not applied")),
             qPrintable(error["message"].toString()));
    const QString diff = firstDifference(before, state());
    QVERIFY2(diff.isEmpty(), qPrintable("changed: " + diff));
    QVERIFY(c_->agent().waitForLog("not applied, the config file could not be written"));
}

// A weight or an algorithm set to what runs already answers 200 with the running generation
// and leaves the file alone.
void TestControlApi::settingTheRunningValueChangesNothing()
{
    const quint16 port = c_->startReplica(QStringLiteral("r1"));
    QVERIFY(port);
    QVERIFY2(start({port}), qPrintable(c_->error()));
    const QByteArray weight = "/v1/pools/web/replicas/127.0.0.1:" + QByteArray::number(port) + "/weight";
    auto r = call("PUT", weight, kAdmin, R"({"weight":4})");
    QVERIFY(r);
    QVERIFY2(r->status == 200, r->body.constData());
    QCOMPARE(jsonBody(*r)["generation"].toInt(), 2);
    const QJsonObject before = state();
    r = call("PUT", weight, kAdmin, R"({"weight":4})", "If-Match: 2\r\n");
    QVERIFY(r);
    QVERIFY2(r->status == 200, r->body.constData());
    QCOMPARE(jsonBody(*r)["generation"].toInt(), 2);
    QCOMPARE(jsonBody(*r)["replica"].toObject()["weight"].toInt(), 4);
    r = call("PUT", "/v1/pools/web/algorithm", kAdmin, R"({"name":"round_robin"})");
    QVERIFY(r);
    QVERIFY2(r->status == 200, r->body.constData());
    QCOMPARE(jsonBody(*r)["generation"].toInt(), 2);
    const QString diff = firstDifference(before, state());
    QVERIFY2(diff.isEmpty(), qPrintable("changed: " + diff));
}

// Several requests on one connection, two of them written at once, answered in order.
void TestControlApi::keepAliveAndPipelining()
{
    QVERIFY2(start({refusedPort()}), qPrintable(c_->error()));
    ControlClient client(socketPath());
    QVERIFY(client.connect());
    auto r = client.request("GET", "/healthz");
    QVERIFY(r);
    QCOMPARE(r->status, 200);
    const QByteArray auth = "Authorization: Bearer " + kAdmin + "\r\n";
    QVERIFY(client.send("GET /v1/status HTTP/1.1\r\nHost: x\r\n" + auth + "\r\nGET /v1/nothing HTTP/1.1\r\nHost: x\r\n" +
                        auth + "\r\n"));
    r = client.read();
    QVERIFY(r);
    QCOMPARE(r->status, 200);
    QVERIFY(jsonBody(*r).contains("generation"));
    r = client.read();
    QVERIFY(r);
    QCOMPARE(r->status, 404);
    r = client.request("GET", "/v1/pools", kAdmin);
    QVERIFY(r);
    QCOMPARE(r->status, 200);
}

// The head must arrive within timeouts.header_ms, as on the data plane.
void TestControlApi::slowRequestHeadIs408()
{
    QJsonObject cfg = controlConfig({refusedPort()});
    setJson(cfg, {QStringLiteral("timeouts"), QStringLiteral("header_ms")}, 300);
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));
    ControlClient client(socketPath());
    QVERIFY(client.connect());
    QElapsedTimer t;
    t.start();
    QVERIFY(client.send("GET /healthz HTTP/1.1\r\nHost: x\r\n"));
    const auto r = client.read();
    QVERIFY(r);
    QCOMPARE(r->status, 408);
    QVERIFY(t.elapsed() >= 250);
    QVERIFY(client.waitForClose());
}

// A check asked for now answers once every replica's check ended, with each one's outcome; in
// a pool whose periodic checks are off it decides nothing.
void TestControlApi::healthCheckNowReportsEachReplica()
{
    const quint16 up = c_->startReplica(QStringLiteral("r1"));
    QVERIFY(up);
    const quint16 down = refusedPort();
    QVERIFY2(start({up, down}), qPrintable(c_->error()));
    const auto r = call("POST", "/v1/pools/web/health-check");
    QVERIFY(r);
    QVERIFY2(r->status == 200, r->body.constData());
    const QJsonArray results = jsonBody(*r)["results"].toArray();
    QCOMPARE(results.size(), 2);
    QCOMPARE(results[0].toObject()["id"].toString(), QStringLiteral("127.0.0.1:%1").arg(up));
    QCOMPARE(results[0].toObject()["ok"].toBool(), true);
    QCOMPARE(results[0].toObject()["status"].toInt(), 200);
    QCOMPARE(results[1].toObject()["ok"].toBool(), false);
    QCOMPARE(results[1].toObject()["status"].toInt(), 0);
    QVERIFY(results[1].toObject()["reason"].toString().contains(QStringLiteral("connect")));
    QCOMPARE(results[1].toObject()["state"].toString(), QStringLiteral("healthy"));

    const auto unknown = call("POST", "/v1/pools/nope/health-check");
    QVERIFY(unknown);
    QCOMPARE(unknown->status, 404);
}

QTEST_GUILESS_MAIN(TestControlApi)
#include "tst_control_api.moc"
