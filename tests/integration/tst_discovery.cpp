// Replica discovery by DNS against a real DNS server: dnsmasq on 127.0.0.1 at a free high port,
// answering from a hosts file the test rewrites (dnsmasq rereads it on SIGHUP) and from SRV
// records on its command line. The replicas are dlb-replica processes on 127.0.0.2, 127.0.0.3...
// (all loopback on Linux), so one name can resolve to several of them on one port.

#include "control_fixture.hpp"
#include "discovery_fixture.hpp"
#include "prequal_load.hpp"
#include "test_certs.hpp"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QProcess>
#include <QUdpSocket>
#include <QtTest>

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <csignal>

using namespace dlb::test;

class TestDiscovery : public DiscoveryFixture {
    Q_OBJECT

private slots:
    void init();
    void cleanup();

    void addressesBecomeReplicasThatServe();
    void answerChangesUnderLoad();
    void wholeSetSwappedLosesNoRequest();
    void srvRecordsGivePortsAndWeights();
    void httpsSchemeUsesThePoolsTls();
    void deadDnsServerKeepsThePool();
    void nxdomainKeepsTheLastSet();
    void startsWithoutAnAnswerAndKeepsAsking();
    void shortTtlIsLookedUpSooner();
    void hugeAnswerIsCapped();
    void reloadAndApiChangesKeepDiscoveredReplicas();
    void checkDoesNotResolve();

private:
    // r2 and r3 (startTwoReplicas()), the test's dnsmasq answering `hosts`, and the agent
    // discovering replicas.test on their port (discoveryConfig(dnsEntry(port))); the port, or 0
    // (c_->error() says why when the agent did not start).
    quint16 startDiscovering(const QStringList& hosts)
    {
        const quint16 port = startTwoReplicas();
        if (port == 0 || !dns_->start() || !dns_->setHosts(hosts) ||
            !c_->startAgent(discoveryConfig(dnsEntry(port))))
            return 0;
        return port;
    }
};

void TestDiscovery::init()
{
    setUpFixture();
}

void TestDiscovery::cleanup()
{
    tearDownFixture();
}

// Each A record becomes a replica on the entry's port, checked before it takes traffic; the
// config (GET /v1/config, the file) keeps the discovery entry and no replica.
void TestDiscovery::addressesBecomeReplicasThatServe()
{
    const quint16 port = startDiscovering({"127.0.0.2 replicas.test", "127.0.0.3 replicas.test"});
    QVERIFY2(port != 0, qPrintable(c_->error()));
    const QString a = QStringLiteral("127.0.0.2:%1").arg(port), b = QStringLiteral("127.0.0.3:%1").arg(port);
    QTRY_COMPARE_WITH_TIMEOUT(state(a), QStringLiteral("healthy"), kWaitMs);
    QTRY_COMPARE_WITH_TIMEOUT(state(b), QStringLiteral("healthy"), kWaitMs);
    const auto list = replicas();
    QCOMPARE(list.size(), 2);
    QCOMPARE(list.value(a).value("source").toString(), QStringLiteral("dns://replicas.test:%1").arg(port));
    QCOMPARE(list.value(a).value("url").toString(), QStringLiteral("http://") + a);
    QCOMPARE(list.value(a).value("weight").toInt(), 1);
    // Workers take health verdicts on their 10 ms tick, a moment after GET /v1/pools shows them.
    QTRY_COMPARE_WITH_TIMEOUT(answers(), (QSet<QByteArray>{"r2", "r3"}), kWaitMs);
    const auto cfg = controlCall(*c_, "GET", "/v1/config");
    QVERIFY(cfg && cfg->status == 200);
    const QJsonObject pool = jsonBody(*cfg).value("config").toObject().value("pools").toArray().at(0).toObject();
    QCOMPARE(pool.value("replicas").toArray().size(), 0);
    QCOMPARE(pool.value("discovery").toArray().size(), 1);
    QFile f(c_->configPath());
    QVERIFY(f.open(QIODevice::ReadOnly));
    QVERIFY(!f.readAll().contains("127.0.0.2"));
}

// Under closed-loop load: an address added to the answer becomes a replica that takes traffic
// once it passed its health check; an address removed drains, and no request fails.
void TestDiscovery::answerChangesUnderLoad()
{
    const quint16 port = startDiscovering({"127.0.0.2 replicas.test"});
    QVERIFY2(port != 0, qPrintable(c_->error()));
    const QString a = QStringLiteral("127.0.0.2:%1").arg(port), b = QStringLiteral("127.0.0.3:%1").arg(port);
    QTRY_COMPARE_WITH_TIMEOUT(state(a), QStringLiteral("healthy"), kWaitMs);
    QTRY_COMPARE_WITH_TIMEOUT(answer(), QByteArray("r2"), kWaitMs); // the worker has taken the verdict too

    Load load(c_->port(), 4, -1);
    QTRY_VERIFY_WITH_TIMEOUT(load.completed() > 100, kWaitMs);
    QVERIFY(dns_->setHosts({"127.0.0.2 replicas.test", "127.0.0.3 replicas.test"}));
    QTRY_VERIFY_WITH_TIMEOUT(replicas().contains(b), kWaitMs);
    QTRY_COMPARE_WITH_TIMEOUT(state(b), QStringLiteral("healthy"), kWaitMs);
    QTRY_VERIFY_WITH_TIMEOUT(shares(load.outcomes()).value("r3") > 50, kWaitMs);

    const qsizetype mark = c_->agent().logMark();
    QVERIFY(dns_->setHosts({"127.0.0.3 replicas.test"}));
    QTRY_VERIFY_WITH_TIMEOUT(!replicas().contains(a), kWaitMs); // listed as draining until its last request ended
    QVERIFY(c_->agent().waitForLog("replica " + a.toLatin1() + " drained", mark));
    const int r2Then = shares(load.outcomes()).value("r2");
    const int after = load.completed();
    QTRY_VERIFY_WITH_TIMEOUT(load.completed() > after + 300, kWaitMs);
    load.stop();
    QVERIFY(load.wait(kWaitMs));
    QVERIFY2(load.failures().isEmpty(), qPrintable(load.failures().join('\n')));
    QVERIFY2(non200(load.outcomes()).isEmpty(), qPrintable(non200(load.outcomes()).join('\n')));
    QCOMPARE(shares(load.outcomes()).value("r2"), r2Then); // nothing after it left
}

// The answer swaps the whole set at once (r2 out, r3 in): the newcomer takes no traffic before
// its first check passes, and r2 was the pool's only healthy replica, so the pool had none for
// up to a check interval: 503 "no healthy replica" while both replicas accepted connections
// (attack-s8: 12 of 568 requests with the answer flipping each second). r2 now stays serving
// until r3 is healthy, then drains.
void TestDiscovery::wholeSetSwappedLosesNoRequest()
{
    const quint16 port = startTwoReplicas();
    QVERIFY(port != 0);
    QVERIFY(dns_->start());
    QVERIFY(dns_->setHosts({"127.0.0.2 replicas.test"}));
    QJsonObject cfg = discoveryConfig(dnsEntry(port));
    // A check interval long enough that the gap it left would take many requests.
    setJson(cfg, {"pools", "0", "health_check"},
            QJsonObject{{"enabled", true}, {"interval_ms", 500}, {"timeout_ms", 200}, {"rise", 1}, {"fall", 1}});
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));
    const QString a = QStringLiteral("127.0.0.2:%1").arg(port), b = QStringLiteral("127.0.0.3:%1").arg(port);
    QTRY_COMPARE_WITH_TIMEOUT(state(a), QStringLiteral("healthy"), kWaitMs);
    QTRY_COMPARE_WITH_TIMEOUT(answer(), QByteArray("r2"), kWaitMs);

    Load load(c_->port(), 4, -1);
    QTRY_VERIFY_WITH_TIMEOUT(load.completed() > 100, kWaitMs);
    const qsizetype mark = c_->agent().logMark();
    QVERIFY(dns_->setHosts({"127.0.0.3 replicas.test"}));
    QVERIFY(c_->agent().waitForLog("keeping " + a.toLatin1() + " serving", mark));
    QVERIFY(c_->agent().waitForLog("replica " + a.toLatin1() + " drained", mark));
    QTRY_VERIFY_WITH_TIMEOUT(!replicas().contains(a), kWaitMs);
    QCOMPARE(state(b), QStringLiteral("healthy"));
    const int after = load.completed();
    QTRY_VERIFY_WITH_TIMEOUT(load.completed() > after + 200, kWaitMs);
    load.stop();
    QVERIFY(load.wait(kWaitMs));
    QVERIFY2(load.failures().isEmpty(), qPrintable(load.failures().join('\n')));
    QVERIFY2(non200(load.outcomes()).isEmpty(), qPrintable(non200(load.outcomes()).join('\n')));
    QVERIFY(shares(load.outcomes()).value("r3") > 100);
}

// SRV: each target's addresses on the record's port, the record's weight (0 counts as 1), and
// only the lowest priority.
void TestDiscovery::srvRecordsGivePortsAndWeights()
{
    const quint16 p2 = startReplicaAt(QStringLiteral("127.0.0.2"), 0, QStringLiteral("r2"));
    const quint16 p3 = startReplicaAt(QStringLiteral("127.0.0.3"), 0, QStringLiteral("r3"));
    QVERIFY(p2 != 0 && p3 != 0);
    const quint16 p4 = refusedPort();
    QVERIFY(dns_->start({QStringLiteral("--srv-host=_http._tcp.svc.test,a.test,%1,0,5").arg(p2),
                         QStringLiteral("--srv-host=_http._tcp.svc.test,b.test,%1,0,0").arg(p3),
                         QStringLiteral("--srv-host=_http._tcp.svc.test,c.test,%1,1,9").arg(p4),
                         QStringLiteral("--host-record=a.test,127.0.0.2"), QStringLiteral("--host-record=b.test,127.0.0.3"),
                         QStringLiteral("--host-record=c.test,127.0.0.4")}));
    QVERIFY2(c_->startAgent(discoveryConfig({{"url", "srv://_http._tcp.svc.test"}, {"interval_ms", 1000}})),
             qPrintable(c_->error()));
    const QString a = QStringLiteral("127.0.0.2:%1").arg(p2), b = QStringLiteral("127.0.0.3:%1").arg(p3);
    QTRY_COMPARE_WITH_TIMEOUT(state(a), QStringLiteral("healthy"), kWaitMs);
    QTRY_COMPARE_WITH_TIMEOUT(state(b), QStringLiteral("healthy"), kWaitMs);
    const auto list = replicas();
    QCOMPARE(list.keys(), (QStringList{a, b})); // not c.test: priority 1 is a fallback
    QCOMPARE(list.value(a).value("weight").toInt(), 5);
    QCOMPARE(list.value(b).value("weight").toInt(), 1);
    QCOMPARE(list.value(b).value("source").toString(), QStringLiteral("srv://_http._tcp.svc.test"));
    // Workers take health verdicts on their 10 ms tick, a moment after GET /v1/pools shows them.
    QTRY_COMPARE_WITH_TIMEOUT(answers(), (QSet<QByteArray>{"r2", "r3"}), kWaitMs);
}

// "scheme": "https": the discovered replica (openssl s_server, whose certificate names
// 127.0.0.1) is spoken to over TLS and verified, in a pool with no `tls` key and no configured
// https:// replica: the pool still gets its TLS context (the system's bundle, which
// SSL_CERT_FILE points at the test CA for this agent). Without one, every check was "not run".
void TestDiscovery::httpsSchemeUsesThePoolsTls()
{
    TestCerts certs;
    QVERIFY2(certs.ok(), qPrintable(certs.error()));
    ChildProcess server;
    const QByteArray port = server.startAndReadLine(QStringLiteral("openssl"),
                                                    {"s_server", "-accept", "127.0.0.1:0", "-cert",
                                                     certs.path("server.pem"), "-key", certs.path("server.key"), "-www"},
                                                    "ACCEPT 127.0.0.1:");
    QVERIFY2(!port.isEmpty(), qPrintable(server.error()));
    QVERIFY(dns_->start());
    QVERIFY(dns_->setHosts({"127.0.0.1 secure.test"}));
    QJsonObject cfg = discoveryConfig(
        {{"url", QStringLiteral("dns://secure.test:%1").arg(QString::fromLatin1(port))}, {"scheme", "https"}});
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("SSL_CERT_FILE"), certs.path("ca.pem"));
    c_->agent().process().setProcessEnvironment(env);
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));
    const QString id = QStringLiteral("127.0.0.1:") + QString::fromLatin1(port);
    QTRY_COMPARE_WITH_TIMEOUT(state(id), QStringLiteral("healthy"), kWaitMs);
    QCOMPARE(replicas().value(id).value("url").toString(), QStringLiteral("https://") + id);
    QTRY_COMPARE_WITH_TIMEOUT(answer(), QByteArray(), kWaitMs); // 200 (s_server sends no X-Replica)
    const auto r = fetch(c_->port(), getRequest("/"));
    QVERIFY(r);
    QCOMPARE(r->status, 200);
    QVERIFY2(r->body.contains("TLSv1.3"), r->body.left(400).constData());
}

// The DNS server dies: the pool keeps its replicas and serves; the failure is logged once, not
// once per retry; when the server is back, its answer is taken again.
void TestDiscovery::deadDnsServerKeepsThePool()
{
    const quint16 port = startDiscovering({"127.0.0.2 replicas.test", "127.0.0.3 replicas.test"});
    QVERIFY2(port != 0, qPrintable(c_->error()));
    const QString a = QStringLiteral("127.0.0.2:%1").arg(port), b = QStringLiteral("127.0.0.3:%1").arg(port);
    QTRY_COMPARE_WITH_TIMEOUT(state(b), QStringLiteral("healthy"), kWaitMs);
    QTRY_COMPARE_WITH_TIMEOUT(state(a), QStringLiteral("healthy"), kWaitMs);

    const qsizetype mark = c_->agent().logMark();
    const quint16 dnsPort = dns_->port();
    dns_->stop();
    QVERIFY(c_->agent().waitForLog("lookup failed", mark));
    // An observation window, not a synchronisation: the entry asks again every second, and each
    // failed retry must stay silent.
    QTest::qWait(3000);
    QCOMPARE(c_->agent().log().mid(mark).count("lookup failed"), 1);
    QCOMPARE(replicas().size(), 2);
    QCOMPARE(answers(), (QSet<QByteArray>{"r2", "r3"}));

    QVERIFY(dns_->setHosts({"127.0.0.3 replicas.test"}));
    QVERIFY(dns_->start({}, dnsPort));
    QVERIFY(c_->agent().waitForLog("answers again", mark));
    QTRY_COMPARE_WITH_TIMEOUT(replicas().keys(), QStringList{b}, kWaitMs);
}

// NXDOMAIN (the name is gone) keeps the last set: an empty answer never empties a pool.
void TestDiscovery::nxdomainKeepsTheLastSet()
{
    const quint16 port = startDiscovering({"127.0.0.2 replicas.test"});
    QVERIFY2(port != 0, qPrintable(c_->error()));
    const QString a = QStringLiteral("127.0.0.2:%1").arg(port);
    QTRY_COMPARE_WITH_TIMEOUT(state(a), QStringLiteral("healthy"), kWaitMs);
    const qsizetype mark = c_->agent().logMark();
    QVERIFY(dns_->setHosts({}));
    QVERIFY(c_->agent().waitForLog("lookup failed (Domain name not found); keeping the last 1 replica(s)", mark));
    QCOMPARE(replicas().keys(), QStringList{a});
    QCOMPARE(state(a), QStringLiteral("healthy"));
    QTRY_COMPARE_WITH_TIMEOUT(answer(), QByteArray("r2"), kWaitMs);
}

// A name that does not resolve at start: the agent starts with an empty pool (503), logs it,
// and takes the answer once there is one.
void TestDiscovery::startsWithoutAnAnswerAndKeepsAsking()
{
    const quint16 port = startTwoReplicas();
    QVERIFY(port != 0);
    QVERIFY(dns_->start());
    QVERIFY2(c_->startAgent(discoveryConfig(dnsEntry(port))), qPrintable(c_->error()));
    QVERIFY(c_->agent().waitForLog("lookup failed (Domain name not found); no replica found yet"));
    QCOMPARE(answer(), QByteArray("<503>"));
    QVERIFY(dns_->setHosts({"127.0.0.3 replicas.test"}));
    QTRY_COMPARE_WITH_TIMEOUT(state(QStringLiteral("127.0.0.3:%1").arg(port)), QStringLiteral("healthy"), kWaitMs);
    QTRY_COMPARE_WITH_TIMEOUT(answer(), QByteArray("r3"), kWaitMs);
}

// interval_ms is a minute, the records' TTL one second: a change is picked up within seconds.
void TestDiscovery::shortTtlIsLookedUpSooner()
{
    const quint16 port = startTwoReplicas();
    QVERIFY(port != 0);
    QVERIFY(dns_->start({QStringLiteral("--local-ttl=1")}));
    QVERIFY(dns_->setHosts({"127.0.0.2 replicas.test"}));
    QVERIFY2(c_->startAgent(discoveryConfig(dnsEntry(port, 60000))), qPrintable(c_->error()));
    const QString a = QStringLiteral("127.0.0.2:%1").arg(port), b = QStringLiteral("127.0.0.3:%1").arg(port);
    QTRY_COMPARE_WITH_TIMEOUT(state(a), QStringLiteral("healthy"), kWaitMs);
    QVERIFY(dns_->setHosts({"127.0.0.3 replicas.test"}));
    QTRY_COMPARE_WITH_TIMEOUT(replicas().keys(), QStringList{b}, kWaitMs);
}

// A hostile answer of 300 addresses (over TCP, it does not fit a UDP datagram) yields the first
// 256 in address order, and says so.
void TestDiscovery::hugeAnswerIsCapped()
{
    QVERIFY(dns_->start());
    QStringList lines;
    for (int i = 0; i < 300; ++i)
        lines << QStringLiteral("127.0.%1.%2 big.test").arg(1 + i / 200).arg(1 + i % 200);
    QVERIFY(dns_->setHosts(lines));
    QJsonObject cfg = discoveryConfig(dnsEntry(refusedPort(), 1000, QStringLiteral("big.test")));
    setJson(cfg, {"pools", "0", "health_check", "interval_ms"}, 2000); // 256 refused checks: not too often
    setJson(cfg, {"pools", "0", "health_check", "timeout_ms"}, 1000);
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));
    QVERIFY(c_->agent().waitForLog("the answer has 300 addresses; only the first 256 in address order are used"));
    QTRY_COMPARE_WITH_TIMEOUT(replicas().size(), 256, kWaitMs);
    const auto list = replicas();
    QVERIFY(std::all_of(list.begin(), list.end(), [](const QJsonObject& r) {
        return r.value("state") != QStringLiteral("healthy"); // nothing listens there
    }));
}

// A SIGHUP and a control API change rebuild the snapshot; discovered replicas stay as they are
// (healthy, not drained and added again), and the API refuses to remove one.
void TestDiscovery::reloadAndApiChangesKeepDiscoveredReplicas()
{
    const quint16 port = startDiscovering({"127.0.0.2 replicas.test", "127.0.0.3 replicas.test"});
    QVERIFY2(port != 0, qPrintable(c_->error()));
    const QString a = QStringLiteral("127.0.0.2:%1").arg(port), b = QStringLiteral("127.0.0.3:%1").arg(port);
    QTRY_COMPARE_WITH_TIMEOUT(state(a), QStringLiteral("healthy"), kWaitMs);
    QTRY_COMPARE_WITH_TIMEOUT(state(b), QStringLiteral("healthy"), kWaitMs);
    // The "added" line of discovery's first answer may still be in the pipe although the API
    // already shows both: read it before the mark, or it counts as logged after (the test failed
    // so beside the whole suite).
    QVERIFY2(c_->agent().waitForLog(": added "), c_->agentLog().constData());
    const qsizetype mark = c_->agent().logMark();

    c_->agent().signal(SIGHUP);
    QVERIFY(c_->agent().waitForLog("config reloaded", mark));
    QCOMPARE(state(a), QStringLiteral("healthy"));
    QCOMPARE(state(b), QStringLiteral("healthy"));

    const auto put = controlCall(*c_, "PUT", "/v1/pools/web/algorithm", kAdmin, R"({"name": "least_request"})");
    QVERIFY(put);
    QCOMPARE(put->status, 200);
    QCOMPARE(state(a), QStringLiteral("healthy"));
    QCOMPARE(state(b), QStringLiteral("healthy"));

    const auto del = controlCall(*c_, "DELETE", "/v1/pools/web/replicas/" + a.toLatin1());
    QVERIFY(del);
    QCOMPARE(del->status, 409);
    QCOMPARE(jsonBody(*del).value("error").toObject().value("code").toString(), QStringLiteral("replica_discovered"));
    const auto add = controlCall(*c_, "POST", "/v1/pools/web/replicas", kAdmin,
                                 "{\"url\": \"http://" + a.toLatin1() + "\"}");
    QVERIFY(add);
    QCOMPARE(add->status, 409);
    QCOMPARE(replicas().size(), 2);
    const QByteArray since = c_->agent().log().mid(mark);
    QVERIFY2(!since.contains("removed") && !since.contains("added"), since.constData());
}

// --check does not look discovery names up: a Kubernetes service name does not resolve where
// the config is checked.
void TestDiscovery::checkDoesNotResolve()
{
    QJsonObject cfg = controlConfig(*c_, {});
    setJson(cfg, {"pools", "0", "discovery"},
            QJsonArray{QJsonObject{{"url", "dns://replicas.no-such-namespace.svc.cluster.local:8080"}},
                       QJsonObject{{"url", "srv://_http._tcp.replicas.no-such-namespace.svc.cluster.local"}}});
    QVERIFY(c_->writeConfig(cfg));
    QProcess check;
    check.start(binPath(QStringLiteral("dlb-agent")), {QStringLiteral("--check"), QStringLiteral("--config"), c_->configPath()});
    QVERIFY(check.waitForFinished(kWaitMs));
    QCOMPARE(check.exitCode(), 0);
}

QTEST_GUILESS_MAIN(TestDiscovery)
#include "tst_discovery.moc"
