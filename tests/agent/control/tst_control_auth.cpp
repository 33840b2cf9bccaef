// The control server's route table, its bearer-token check and the slowdown of failing peers,
// without sockets.

#include "agent/control/auth.hpp"
#include "agent/control/router.hpp"

#include <QtTest>

using namespace dlb::agent::control;

class TestControlAuth : public QObject {
    Q_OBJECT

private slots:
    void percentDecodeIsStrict_data();
    void percentDecodeIsStrict();
    void routesMatchWithParams();
    void tokenChecks_data();
    void tokenChecks();
    void failuresAreDelayedAfterFive();
    void failuresExpireAfterTheWindow();
    void trackedPeersAreBounded();
};

void TestControlAuth::percentDecodeIsStrict_data()
{
    QTest::addColumn<QString>("in");
    QTest::addColumn<bool>("ok");
    QTest::addColumn<QString>("out");
    QTest::newRow("plain") << "127.0.0.1:9001" << true << "127.0.0.1:9001";
    QTest::newRow("brackets") << "%5B::1%5D:9001" << true << "[::1]:9001";
    QTest::newRow("lower-case hex") << "%5b::1%5d:1" << true << "[::1]:1";
    QTest::newRow("short escape") << "a%5" << false << "";
    QTest::newRow("not hex") << "a%zz" << false << "";
    QTest::newRow("NUL") << "a%00b" << false << "";
    QTest::newRow("slash") << "a%2Fb" << false << "";
}

void TestControlAuth::percentDecodeIsStrict()
{
    QFETCH(QString, in);
    QFETCH(bool, ok);
    QFETCH(QString, out);
    std::string decoded;
    QCOMPARE(percentDecode(in.toStdString(), &decoded), ok);
    if (ok)
        QCOMPARE(QString::fromStdString(decoded), out);
}

void TestControlAuth::routesMatchWithParams()
{
    Router r;
    int called = 0;
    r.add(HTTP_GET, "/v1/pools", Role::Viewer, [&](const Request&, const std::shared_ptr<Reply>&) { ++called; });
    r.add(HTTP_DELETE, "/v1/pools/{pool}/replicas/{id}", Role::Admin, {});
    r.add(HTTP_PUT, "/v1/pools/{pool}/replicas/{id}/weight", Role::Admin, {});

    auto m = r.match(HTTP_DELETE, "/v1/pools/web/replicas/%5B::1%5D:9001");
    QCOMPARE(m.outcome, Router::Outcome::Found);
    QCOMPARE(m.route->role, Role::Admin);
    QCOMPARE(m.params, (std::vector<std::string>{"web", "[::1]:9001"}));

    m = r.match(HTTP_GET, "/v1/pools/web/replicas/x");
    QCOMPARE(m.outcome, Router::Outcome::MethodNotAllowed);
    QCOMPARE(QString::fromStdString(m.allow), QStringLiteral("DELETE"));

    QCOMPARE(r.match(HTTP_GET, "/v1/pools/").outcome, Router::Outcome::NotFound);
    QCOMPARE(r.match(HTTP_GET, "/v1/pool").outcome, Router::Outcome::NotFound);
    QCOMPARE(r.match(HTTP_DELETE, "/v1/pools//replicas/x").outcome, Router::Outcome::BadPath);
    QCOMPARE(r.match(HTTP_DELETE, "/v1/pools/web/replicas/a%2").outcome, Router::Outcome::BadPath);
    QCOMPARE(r.match(HTTP_GET, "*").outcome, Router::Outcome::BadPath);

    m = r.match(HTTP_GET, "/v1/pools");
    QCOMPARE(m.outcome, Router::Outcome::Found);
    m.route->handler(Request{}, nullptr);
    QCOMPARE(called, 1);
}

void TestControlAuth::tokenChecks_data()
{
    QTest::addColumn<QByteArray>("header");
    QTest::addColumn<QString>("who"); // empty: refused
    QTest::newRow("admin") << QByteArray("Bearer admin-secret") << "ops";
    QTest::newRow("viewer") << QByteArray("Bearer viewer-secret") << "console";
    QTest::newRow("scheme in any case") << QByteArray("bEARER admin-secret") << "ops";
    QTest::newRow("wrong token") << QByteArray("Bearer admin-secreT") << "";
    QTest::newRow("the hash itself") << QByteArray("Bearer ") + QByteArray::fromStdString(sha256Hex("admin-secret")) << "";
    // RFC 6750 2.1: credentials = "Bearer" 1*SP b64token.
    QTest::newRow("two spaces") << QByteArray("Bearer  admin-secret") << "ops";
    QTest::newRow("spaces only") << QByteArray("Bearer    ") << "";
    // The parser strips a field value's trailing whitespace (RFC 9112 5); none reaches here.
    QTest::newRow("trailing space") << QByteArray("Bearer admin-secret ") << "";
    QTest::newRow("Basic") << QByteArray("Basic admin-secret") << "";
    QTest::newRow("no token") << QByteArray("Bearer ") << "";
    QTest::newRow("empty") << QByteArray() << "";
}

void TestControlAuth::tokenChecks()
{
    QFETCH(QByteArray, header);
    QFETCH(QString, who);
    const TokenAuth auth({{"ops", "admin", sha256Hex("admin-secret")}, {"console", "viewer", sha256Hex("viewer-secret")}});
    const auto id = auth.check(header.toStdString());
    QCOMPARE(id.has_value(), !who.isEmpty());
    if (id) {
        QCOMPARE(QString::fromStdString(id->name), who);
        QCOMPARE(id->role, who == QLatin1String("ops") ? Role::Admin : Role::Viewer);
    }
}

void TestControlAuth::failuresAreDelayedAfterFive()
{
    FailureLimiter l;
    for (int i = 0; i < 5; ++i)
        QCOMPARE(l.fail("uid:1", 1000 + i), uint64_t(0));
    QCOMPARE(l.fail("uid:1", 1010), uint64_t(500));
    QCOMPARE(l.fail("uid:1", 1020), uint64_t(1000));
    QCOMPARE(l.fail("uid:1", 1030), uint64_t(2000));
    QCOMPARE(l.fail("uid:1", 1040), uint64_t(4000));
    QCOMPARE(l.fail("uid:1", 1050), uint64_t(8000));
    QCOMPARE(l.fail("uid:1", 1060), kMaxFailureDelayMs); // capped
    // Another peer is not affected.
    QCOMPARE(l.fail("ip:10.0.0.1", 1070), uint64_t(0));
}

void TestControlAuth::failuresExpireAfterTheWindow()
{
    FailureLimiter l;
    for (int i = 0; i < 6; ++i)
        l.fail("uid:1", 1000);
    QCOMPARE(l.failures("uid:1", 1000), size_t(6));
    QCOMPARE(l.failures("uid:1", 1000 + kFailureWindowMs), size_t(0));
    QCOMPARE(l.fail("uid:1", 1000 + kFailureWindowMs), uint64_t(0));
}

void TestControlAuth::trackedPeersAreBounded()
{
    FailureLimiter l;
    for (size_t i = 0; i < kMaxTrackedPeers + 10; ++i)
        l.fail("ip:" + std::to_string(i), 1000 + i);
    // The oldest were forgotten, the newest kept.
    QCOMPARE(l.failures("ip:0", 2000), size_t(0));
    QCOMPARE(l.failures("ip:" + std::to_string(kMaxTrackedPeers + 9), 2000 + kMaxTrackedPeers), size_t(1));
}

QTEST_GUILESS_MAIN(TestControlAuth)
#include "tst_control_auth.moc"
