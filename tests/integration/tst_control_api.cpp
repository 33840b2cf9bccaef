// The control API against a real agent over its Unix socket: authentication, every kind of
// refused change (state compared field by field before and after), changes under load, the
// write-back to the config file, and the socket's creation.

#include "control_client.hpp"
#include "harness.hpp"
#include "test_certs.hpp"
#include "prequal_load.hpp"

#include <QElapsedTimer>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QLocalServer>
#include <QtTest>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <csignal>
#include <cstring>

using namespace dlb::test;

namespace {

const QByteArray kAdmin = "admin-secret-0123456789";
const QByteArray kViewer = "viewer-secret-0123456789";

// The first path at which two JSON values differ, empty when equal: a failure names the field.
QString firstDifference(const QJsonValue& a, const QJsonValue& b, const QString& path = QStringLiteral("$"))
{
    if (a.type() != b.type())
        return path + QStringLiteral(" (type)");
    if (a.isObject()) {
        const QJsonObject oa = a.toObject(), ob = b.toObject();
        QStringList keys = oa.keys() + ob.keys();
        keys.removeDuplicates();
        for (const QString& k : keys) {
            if (!oa.contains(k) || !ob.contains(k))
                return path + "." + k + QStringLiteral(" (present on one side only)");
            const QString d = firstDifference(oa.value(k), ob.value(k), path + "." + k);
            if (!d.isEmpty())
                return d;
        }
        return {};
    }
    if (a.isArray()) {
        const QJsonArray aa = a.toArray(), ab = b.toArray();
        if (aa.size() != ab.size())
            return path + QStringLiteral(" (length %1 vs %2)").arg(aa.size()).arg(ab.size());
        for (qsizetype i = 0; i < aa.size(); ++i) {
            const QString d = firstDifference(aa.at(i), ab.at(i), path + QStringLiteral("[%1]").arg(i));
            if (!d.isEmpty())
                return d;
        }
        return {};
    }
    return a == b ? QString() : path;
}

} // namespace

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
    void slowRequestHeadIs408();
    void healthCheckNowReportsEachReplica();
    void addSwitchRemoveUnderLoad();
    void writeBackSurvivesSighupAndRestart();
    void socketIsCreatedWithMode0660();
    void staleSocketIsReplaced();
    void liveSocketIsRefused();
    void nonSocketFileIsLeftAlone();
    void tcpControlSpeaksTls();

private:
    QString socketPath() const { return c_->path(QStringLiteral("control.sock")); }
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
    if (QTest::currentTestFailed() || exitCode != 0)
        qWarning().noquote() << "agent stderr:\n" << c_->agentLog();
    if (!QTest::currentTestFailed())
        QCOMPARE(exitCode, 0);
    c_.reset();
}

QJsonObject TestControlApi::controlConfig(const QList<quint16>& ports) const
{
    QJsonObject cfg = c_->config(ports);
    cfg[QStringLiteral("control")] = QJsonObject{
        {QStringLiteral("unix_socket"), socketPath()},
        {QStringLiteral("tokens"),
         QJsonArray{QJsonObject{{QStringLiteral("name"), QStringLiteral("ops")},
                                {QStringLiteral("role"), QStringLiteral("admin")},
                                {QStringLiteral("sha256"), QString::fromLatin1(sha256Hex(kAdmin))}},
                    QJsonObject{{QStringLiteral("name"), QStringLiteral("console")},
                                {QStringLiteral("role"), QStringLiteral("viewer")},
                                {QStringLiteral("sha256"), QString::fromLatin1(sha256Hex(kViewer))}}}}};
    return cfg;
}

bool TestControlApi::start(const QList<quint16>& ports)
{
    return c_->startAgent(controlConfig(ports));
}

std::optional<Response> TestControlApi::call(const QByteArray& method, const QByteArray& path, const QByteArray& token,
                                             const QByteArray& body, const QByteArray& extra)
{
    ControlClient client(socketPath());
    if (!client.connect())
        return std::nullopt;
    return client.request(method, path, token, body, extra);
}

QJsonObject TestControlApi::state()
{
    QJsonObject out;
    for (const QByteArray& path : {QByteArray("/v1/config"), QByteArray("/v1/pools")}) {
        const auto r = call("GET", path);
        out[QString::fromLatin1(path)] = r && r->status == 200 ? jsonBody(*r) : QJsonObject{};
    }
    QFile f(c_->configPath());
    out[QStringLiteral("file")] = f.open(QIODevice::ReadOnly) ? QString::fromUtf8(f.readAll()) : QString();
    return out;
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

// Under closed-loop load: a replica added takes traffic only after its first passing health
// check; an algorithm switch and a removal lose no request; the removed replica drains and
// gets nothing after.
void TestControlApi::addSwitchRemoveUnderLoad()
{
    const quint16 p1 = c_->startReplica(QStringLiteral("r1"));
    const quint16 p2 = c_->startReplica(QStringLiteral("r2"));
    QVERIFY(p1 && p2);
    StubBackend& stub = c_->addStub("s3");
    stub.answerPath("/healthz", 503, "not yet");
    QJsonObject cfg = controlConfig({p1, p2});
    setJson(cfg, {QStringLiteral("workers")}, 2);
    setJson(cfg, {QStringLiteral("pools"), QStringLiteral("0"), QStringLiteral("health_check")},
            QJsonObject{{QStringLiteral("enabled"), true}, {QStringLiteral("interval_ms"), 200},
                        {QStringLiteral("timeout_ms"), 100}});
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));

    Load load(c_->port(), 4, -1);
    QTRY_VERIFY_WITH_TIMEOUT(load.completed() > 100, kWaitMs);

    const QByteArray stubId = "127.0.0.1:" + QByteArray::number(stub.port());
    auto r = call("POST", "/v1/pools/web/replicas",
                  kAdmin, R"({"url":"http://)" + stubId + R"(","weight":1})");
    QVERIFY(r);
    QVERIFY2(r->status == 201, r->body.constData());
    QCOMPARE(jsonBody(*r)["replica"].toObject()["state"].toString(), QStringLiteral("pending"));
    QCOMPARE(r->header("Location"), "/v1/pools/web/replicas/" + stubId);

    // Failing its checks, it stays pending and gets none of the load.
    const auto checks = [&] {
        int n = 0;
        for (const auto& req : stub.requests())
            n += req.path == "/healthz";
        return n;
    };
    QTRY_VERIFY_WITH_TIMEOUT(checks() >= 3, kWaitMs);
    const int before_pass = load.completed();
    QTRY_VERIFY_WITH_TIMEOUT(load.completed() > before_pass + 200, kWaitMs);
    r = call("GET", "/v1/pools");
    QVERIFY(r);
    QJsonArray reps = jsonBody(*r)["pools"].toArray()[0].toObject()["replicas"].toArray();
    QCOMPARE(reps.size(), 3);
    QCOMPARE(reps[2].toObject()["state"].toString(), QStringLiteral("pending"));

    const qsizetype mark = stub.requests().size();
    const qsizetype logMark = c_->agent().logMark();
    stub.answerPath("/healthz", 200, "ok");
    QVERIFY(c_->agent().waitForLog("passed its first health check", logMark));
    QTRY_VERIFY_WITH_TIMEOUT(shares(load.outcomes()).value("s3") > 20, kWaitMs);
    const auto seen = stub.requests();
    for (qsizetype i = 0; i < seen.size(); ++i)
        QVERIFY2(seen[i].path != "/load" || i >= mark,
                 qPrintable(QStringLiteral("request %1 reached the pending replica before its check passed").arg(i)));

    // Switch the algorithm under load.
    r = call("PUT", "/v1/pools/web/algorithm", kAdmin, R"({"name":"least_request"})");
    QVERIFY(r);
    QVERIFY2(r->status == 200, r->body.constData());
    QCOMPARE(jsonBody(*r)["algorithm"].toObject()["name"].toString(), QStringLiteral("least_request"));
    const int after_switch = load.completed();
    QTRY_VERIFY_WITH_TIMEOUT(load.completed() > after_switch + 200, kWaitMs);

    // Remove r1 under load: it drains, then leaves the list.
    r = call("DELETE", "/v1/pools/web/replicas/127.0.0.1:" + QByteArray::number(p1));
    QVERIFY(r);
    QVERIFY2(r->status == 202, r->body.constData());
    QCOMPARE(jsonBody(*r)["replica"].toObject()["state"].toString(), QStringLiteral("draining"));
    const auto listed = [&] {
        const auto pools = call("GET", "/v1/pools");
        if (!pools)
            return -1;
        return static_cast<int>(jsonBody(*pools)["pools"].toArray()[0].toObject()["replicas"].toArray().size());
    };
    QTRY_COMPARE_WITH_TIMEOUT(listed(), 2, kWaitMs);
    QVERIFY(c_->agent().waitForLog("drained (its last request ended) and removed"));
    const int r1_at_removal = shares(load.outcomes()).value("r1");
    const int after_remove = load.completed();
    QTRY_VERIFY_WITH_TIMEOUT(load.completed() > after_remove + 300, kWaitMs);
    load.stop();
    QVERIFY(load.wait(kWaitMs));

    // Answers the agent had finished before the drain completed may be read by a client
    // thread just after: at most one per connection.
    const auto counts = shares(load.outcomes());
    QVERIFY2(counts.value("r1") - r1_at_removal <= 4, qPrintable(describe(counts)));
    QVERIFY2(load.failures().isEmpty(), qPrintable(load.failures().join('\n')));
    for (const Outcome& o : load.outcomes())
        QVERIFY2(o.status == 200, qPrintable(QStringLiteral("status %1 from %2").arg(o.status).arg(QString(o.replica))));
}

// Changes reach the file: a SIGHUP rereads it and keeps them (the generation moves on), and so
// does a restart.
void TestControlApi::writeBackSurvivesSighupAndRestart()
{
    const quint16 p1 = c_->startReplica(QStringLiteral("r1"));
    const quint16 p2 = c_->startReplica(QStringLiteral("r2"));
    QVERIFY(p1 && p2);
    QVERIFY2(start({p1}), qPrintable(c_->error()));
    const QByteArray id2 = "127.0.0.1:" + QByteArray::number(p2);
    auto r = call("POST", "/v1/pools/web/replicas", kAdmin, R"({"url":"http://)" + id2 + R"(","weight":3})",
                  "If-Match: 1\r\n");
    QVERIFY(r);
    QVERIFY2(r->status == 201, r->body.constData());
    QCOMPARE(jsonBody(*r)["generation"].toInt(), 2);
    r = call("PUT", "/v1/pools/web/algorithm", kAdmin, R"({"name":"power_of_d","params":{"d":3}})", "If-Match: 2\r\n");
    QVERIFY(r);
    QVERIFY2(r->status == 200, r->body.constData());
    QCOMPARE(jsonBody(*r)["generation"].toInt(), 3);

    const auto check = [&](int generation) -> QString {
        const auto pools = call("GET", "/v1/pools");
        if (!pools || pools->status != 200)
            return QStringLiteral("GET /v1/pools failed");
        const QJsonObject body = jsonBody(*pools);
        if (body["generation"].toInt() != generation)
            return QStringLiteral("generation %1, expected %2").arg(body["generation"].toInt()).arg(generation);
        const QJsonObject pool = body["pools"].toArray()[0].toObject();
        const QJsonObject algo = pool["algorithm"].toObject();
        if (algo["name"].toString() != QLatin1String("power_of_d") || algo["params"].toObject()["d"].toInt() != 3)
            return QStringLiteral("algorithm: ") + QString::fromUtf8(QJsonDocument(algo).toJson(QJsonDocument::Compact));
        const QJsonArray reps = pool["replicas"].toArray();
        if (reps.size() != 2 || reps[1].toObject()["id"].toString() != QString::fromLatin1(id2) ||
            reps[1].toObject()["weight"].toInt() != 3)
            return QStringLiteral("replicas: ") + QString::fromUtf8(QJsonDocument(reps).toJson(QJsonDocument::Compact));
        return {};
    };
    QString why = check(3);
    QVERIFY2(why.isEmpty(), qPrintable(why));

    // The file is valid for --check and readable: pretty-printed.
    QFile f(c_->configPath());
    QVERIFY(f.open(QIODevice::ReadOnly));
    const QByteArray text = f.readAll();
    QVERIFY(text.contains("\n  \"pools\": ["));
    QVERIFY(text.contains(id2));

    const qsizetype mark = c_->agent().logMark();
    c_->agent().signal(SIGHUP);
    QVERIFY(c_->agent().waitForLog("config reloaded", mark));
    why = check(4);
    QVERIFY2(why.isEmpty(), qPrintable(why));

    QCOMPARE(c_->stopAgent(), 0);
    QVERIFY(!QFile::exists(socketPath())); // removed at exit
    const QJsonObject saved = QJsonDocument::fromJson(text).object();
    QVERIFY2(c_->startAgent(saved), qPrintable(c_->error()));
    why = check(1);
    QVERIFY2(why.isEmpty(), qPrintable(why));
}

void TestControlApi::socketIsCreatedWithMode0660()
{
    QVERIFY2(start({refusedPort()}), qPrintable(c_->error()));
    struct stat st {};
    QCOMPARE(::lstat(QFile::encodeName(socketPath()).constData(), &st), 0);
    QVERIFY(S_ISSOCK(st.st_mode));
    QCOMPARE(st.st_mode & 0777, mode_t(0660));
}

// A socket file nobody listens on (an agent that was killed) is replaced.
void TestControlApi::staleSocketIsReplaced()
{
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    QVERIFY(fd >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const QByteArray path = QFile::encodeName(socketPath());
    std::memcpy(addr.sun_path, path.constData(), static_cast<size_t>(path.size()) + 1);
    QCOMPARE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ::close(fd); // the file stays; nothing listens
    QVERIFY(QFile::exists(socketPath()));
    QVERIFY2(start({refusedPort()}), qPrintable(c_->error()));
    QVERIFY(c_->agentLog().contains("removed the stale socket"));
    const auto r = call("GET", "/healthz", {});
    QVERIFY(r);
    QCOMPARE(r->status, 200);
}

// A socket another process listens on is left to it, and the agent does not start.
void TestControlApi::liveSocketIsRefused()
{
    QLocalServer other;
    QVERIFY(other.listen(socketPath()));
    QVERIFY(!start({refusedPort()}));
    QCOMPARE(c_->agent().waitForExit(), 1);
    QVERIFY2(c_->agentLog().contains("a process is listening on " + QFile::encodeName(socketPath())),
             c_->agentLog().constData());
    ControlClient client(socketPath());
    QVERIFY(client.connect()); // still the other process's
    QVERIFY(other.waitForNewConnection(kWaitMs));
}

void TestControlApi::nonSocketFileIsLeftAlone()
{
    QFile f(socketPath());
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write("precious");
    f.close();
    QVERIFY(!start({refusedPort()}));
    QCOMPARE(c_->agent().waitForExit(), 1);
    QVERIFY2(c_->agentLog().contains("exists and is not a socket"), c_->agentLog().constData());
    QVERIFY(f.open(QIODevice::ReadOnly));
    QCOMPARE(f.readAll(), QByteArray("precious"));
}

// control.address with control.tls: curl, verifying the agent's certificate, gets answers with
// a token and 401 without; plain HTTP on that port gets no answer.
void TestControlApi::tcpControlSpeaksTls()
{
    TestCerts certs;
    QVERIFY2(certs.ok(), qPrintable(certs.error()));
    QJsonObject cfg = controlConfig({refusedPort()});
    QJsonObject control = cfg[QStringLiteral("control")].toObject();
    control[QStringLiteral("address")] = QStringLiteral("127.0.0.1:0");
    control[QStringLiteral("tls")] = QJsonObject{{QStringLiteral("certificate"), certs.path(QStringLiteral("server.pem"))},
                                                 {QStringLiteral("private_key"), certs.path(QStringLiteral("server.key"))}};
    cfg[QStringLiteral("control")] = control;
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));
    QProcess& agent = c_->agent().process();
    QByteArray line;
    QDeadlineTimer deadline(kWaitMs);
    while (!line.startsWith("dlb-agent: control listening on 127.0.0.1:") && !deadline.hasExpired()) {
        if (!agent.canReadLine())
            agent.waitForReadyRead(100);
        else
            line = agent.readLine().trimmed();
    }
    QVERIFY2(line.endsWith(" (tls)"), line.constData());
    const QByteArray port = line.mid(int(sizeof "dlb-agent: control listening on 127.0.0.1:") - 1).split(' ').first();
    QVERIFY(port.toUInt() > 0);

    const auto curl = [&](const QStringList& extra, QByteArray* out) {
        QProcess p;
        p.start(QStringLiteral("curl"), QStringList{"-sS", "--cacert", certs.path(QStringLiteral("ca.pem")), "--resolve",
                                                    QStringLiteral("localhost:%1:127.0.0.1").arg(QString(port)), "-w",
                                                    "\n%{http_code}"} +
                                            extra + QStringList{QStringLiteral("https://localhost:%1/v1/status").arg(QString(port))});
        if (!p.waitForFinished(30000))
            return -1;
        *out = p.readAllStandardOutput();
        return p.exitCode();
    };
    QByteArray out;
    QCOMPARE(curl({"-H", "Authorization: Bearer " + QString::fromLatin1(kViewer)}, &out), 0);
    QVERIFY2(out.endsWith("\n200"), out.constData());
    QVERIFY(out.contains("\"version\""));
    QCOMPARE(curl({}, &out), 0);
    QVERIFY2(out.endsWith("\n401"), out.constData());

    HttpClient plain;
    QVERIFY(plain.connectTo(static_cast<quint16>(port.toUInt())));
    QVERIFY(plain.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
    QVERIFY(!plain.read(false, 2000));
}

QTEST_GUILESS_MAIN(TestControlApi)
#include "tst_control_api.moc"
