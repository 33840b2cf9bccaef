// Attacks on the linger of discovery (leavers kept serving until a newcomer is healthy), against
// the same dnsmasq fixture as tst_discovery.cpp. Original header:
// Replica discovery by DNS against a real DNS server: dnsmasq on 127.0.0.1 at a free high port,
// answering from a hosts file the test rewrites (dnsmasq rereads it on SIGHUP) and from SRV
// records on its command line. The replicas are dlb-replica processes on 127.0.0.2, 127.0.0.3...
// (all loopback on Linux), so one name can resolve to several of them on one port.

#include "control_fixture.hpp"
#include "dns_fixture.hpp"
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

namespace {


} // namespace

class TestAttackLinger : public QObject {
    Q_OBJECT

private slots:
    void init();
    void cleanup();

    void newcomerNeverHealthyKeepsLeaverWithoutRepublishing();
    void answerFlipsBackWhileLingering();
    void reloadDroppingTheEntryWhileLingeringDrainsIt();

private:
    // A dlb-replica on `ip`:`port` (0: any); its port, 0 on failure.
    quint16 startReplicaAt(const QString& ip, quint16 port, const QString& name)
    {
        auto proc = std::make_unique<ChildProcess>();
        const QByteArray got = proc->startAndReadLine(
            binPath(QStringLiteral("dlb-replica")),
            {QStringLiteral("--listen"), QStringLiteral("%1:%2").arg(ip).arg(port), QStringLiteral("--name"), name,
             QStringLiteral("--workers"), QStringLiteral("8"), QStringLiteral("--service-ms"), QStringLiteral("1"),
             QStringLiteral("--dist"), QStringLiteral("fixed"), QStringLiteral("--seed"), QStringLiteral("1")},
            "listening on " + ip.toLatin1() + ":");
        if (got.isEmpty())
            return 0;
        replicas_.push_back(std::move(proc));
        return static_cast<quint16>(got.toUInt());
    }

    // Two replicas, r2 on 127.0.0.2 and r3 on 127.0.0.3, on one port; that port.
    quint16 startTwoReplicas()
    {
        for (int attempt = 0; attempt < kPortAttempts; ++attempt) {
            const quint16 port = startReplicaAt(QStringLiteral("127.0.0.2"), 0, QStringLiteral("r2"));
            if (port != 0 && startReplicaAt(QStringLiteral("127.0.0.3"), port, QStringLiteral("r3")) == port)
                return port;
            replicas_.clear();
        }
        return 0;
    }

    // The control config with pool "web" discovering by `entry` through the test's dnsmasq,
    // health-checked every 100 ms.
    QJsonObject discoveryConfig(const QJsonObject& entry)
    {
        QJsonObject cfg = controlConfig(*c_, {});
        setJson(cfg, {"pools", "0", "discovery"}, QJsonArray{entry});
        setJson(cfg, {"pools", "0", "health_check"},
                QJsonObject{{"enabled", true}, {"interval_ms", 100}, {"timeout_ms", 50}, {"rise", 1}, {"fall", 1}});
        cfg[QStringLiteral("resolvers")] = QJsonArray{QStringLiteral("127.0.0.1:%1").arg(dns_->port())};
        return cfg;
    }
    static QJsonObject dnsEntry(quint16 port, int intervalMs = 1000, const QString& name = QStringLiteral("replicas.test"))
    {
        return {{"url", QStringLiteral("dns://%1:%2").arg(name).arg(port)}, {"interval_ms", intervalMs}};
    }

    // GET /v1/pools: pool "web"'s replicas by id (empty when the call fails).
    QMap<QString, QJsonObject> replicas()
    {
        QMap<QString, QJsonObject> out;
        const auto r = controlCall(*c_, "GET", "/v1/pools");
        if (!r || r->status != 200)
            return out;
        for (const auto& p : jsonBody(*r).value("pools").toArray())
            if (p.toObject().value("name") == QStringLiteral("web"))
                for (const auto& v : p.toObject().value("replicas").toArray())
                    out.insert(v.toObject().value("id").toString(), v.toObject());
        return out;
    }
    QString state(const QString& id) { return replicas().value(id).value("state").toString(); }
    // One GET / on a new connection: the X-Replica that answered, or "<status>".
    QByteArray answer()
    {
        const auto r = fetch(c_->port(), getRequest("/"));
        if (!r)
            return "<none>";
        return r->status == 200 ? r->header("X-Replica") : "<" + QByteArray::number(r->status) + ">";
    }

    // The replicas that answer `n` requests in a row, on new connections.
    QSet<QByteArray> answers(int n = 10)
    {
        QSet<QByteArray> seen;
        for (int i = 0; i < n; ++i)
            seen.insert(answer());
        return seen;
    }

    std::unique_ptr<Cluster> c_;
    std::unique_ptr<Dns> dns_;
    std::vector<std::unique_ptr<ChildProcess>> replicas_;
};

void TestAttackLinger::init()
{
    c_ = std::make_unique<Cluster>();
    dns_ = std::make_unique<Dns>(c_->path(QString()));
}

void TestAttackLinger::cleanup()
{
    const int exitCode = c_->agent().running() ? c_->stopAgent() : 0;
    checkAgentExit(*c_, exitCode);
    replicas_.clear();
    dns_.reset();
    c_.reset();
}

// The answer swaps r2 for an address where nothing listens: r2 keeps serving (the pool is not
// emptied) and the 50 ms linger re-check stays silent: one "keeping" line, no snapshot per check.
void TestAttackLinger::newcomerNeverHealthyKeepsLeaverWithoutRepublishing()
{
    const quint16 port = startReplicaAt(QStringLiteral("127.0.0.2"), 0, QStringLiteral("r2"));
    QVERIFY(port != 0);
    QVERIFY(dns_->start());
    QVERIFY(dns_->setHosts({"127.0.0.2 replicas.test"}));
    QVERIFY2(c_->startAgent(discoveryConfig(dnsEntry(port))), qPrintable(c_->error()));
    const QString a = QStringLiteral("127.0.0.2:%1").arg(port), dead = QStringLiteral("127.0.0.4:%1").arg(port);
    QTRY_COMPARE_WITH_TIMEOUT(state(a), QStringLiteral("healthy"), kWaitMs);
    QTRY_COMPARE_WITH_TIMEOUT(answer(), QByteArray("r2"), kWaitMs);
    const qsizetype mark = c_->agent().logMark();
    QVERIFY(dns_->setHosts({"127.0.0.4 replicas.test"}));
    QVERIFY(c_->agent().waitForLog("keeping " + a.toLatin1() + " serving", mark));
    QTRY_VERIFY_WITH_TIMEOUT(replicas().contains(dead), kWaitMs);
    // An observation window, not a synchronisation: some 40 linger re-checks and 2 lookups.
    QTest::qWait(2000);
    const QByteArray since = c_->agent().log().mid(mark);
    QCOMPARE(since.count("keeping "), 1);
    QVERIFY2(!since.contains("drained"), since.constData());
    QCOMPARE(state(a), QStringLiteral("healthy"));
    QCOMPARE(answers(), QSet<QByteArray>{"r2"});
}

// While r2 lingers (its newcomer never healthy), the answer flips back to r2: the newcomer goes,
// r2 stays as an answered replica (not drained and re-added) and serves.
void TestAttackLinger::answerFlipsBackWhileLingering()
{
    const quint16 port = startReplicaAt(QStringLiteral("127.0.0.2"), 0, QStringLiteral("r2"));
    QVERIFY(port != 0);
    QVERIFY(dns_->start());
    QVERIFY(dns_->setHosts({"127.0.0.2 replicas.test"}));
    QVERIFY2(c_->startAgent(discoveryConfig(dnsEntry(port))), qPrintable(c_->error()));
    const QString a = QStringLiteral("127.0.0.2:%1").arg(port), dead = QStringLiteral("127.0.0.4:%1").arg(port);
    QTRY_COMPARE_WITH_TIMEOUT(state(a), QStringLiteral("healthy"), kWaitMs);
    QTRY_COMPARE_WITH_TIMEOUT(answer(), QByteArray("r2"), kWaitMs);
    const qsizetype mark = c_->agent().logMark();
    QVERIFY(dns_->setHosts({"127.0.0.4 replicas.test"}));
    QVERIFY(c_->agent().waitForLog("keeping " + a.toLatin1() + " serving", mark));
    QTRY_VERIFY_WITH_TIMEOUT(replicas().contains(dead), kWaitMs);
    QVERIFY(dns_->setHosts({"127.0.0.2 replicas.test"}));
    QTRY_COMPARE_WITH_TIMEOUT(replicas().keys(), QStringList{a}, kWaitMs);
    QCOMPARE(state(a), QStringLiteral("healthy"));
    QCOMPARE(answers(), QSet<QByteArray>{"r2"});
    const QByteArray since = c_->agent().log().mid(mark);
    QVERIFY2(!since.contains("replica " + a.toLatin1() + " drained"), since.constData());
}

// While r2 lingers (its newcomer never healthy), a SIGHUP reload drops the discovery entry and
// names r3 statically: the lingerer and the newcomer both leave, r3 alone serves.
void TestAttackLinger::reloadDroppingTheEntryWhileLingeringDrainsIt()
{
    const quint16 port = startTwoReplicas();
    QVERIFY(port != 0);
    QVERIFY(dns_->start());
    QVERIFY(dns_->setHosts({"127.0.0.2 replicas.test"}));
    QJsonObject cfg = discoveryConfig(dnsEntry(port));
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));
    const QString a = QStringLiteral("127.0.0.2:%1").arg(port), b = QStringLiteral("127.0.0.3:%1").arg(port),
                  dead = QStringLiteral("127.0.0.4:%1").arg(port);
    QTRY_COMPARE_WITH_TIMEOUT(state(a), QStringLiteral("healthy"), kWaitMs);
    QTRY_COMPARE_WITH_TIMEOUT(answer(), QByteArray("r2"), kWaitMs);
    const qsizetype mark = c_->agent().logMark();
    QVERIFY(dns_->setHosts({"127.0.0.4 replicas.test"}));
    QVERIFY(c_->agent().waitForLog("keeping " + a.toLatin1() + " serving", mark));
    QTRY_VERIFY_WITH_TIMEOUT(replicas().contains(dead), kWaitMs);
    setJson(cfg, {"pools", "0", "discovery"}, QJsonArray{});
    setJson(cfg, {"pools", "0", "replicas"}, QJsonArray{QJsonObject{{"url", QStringLiteral("http://") + b}}});
    QVERIFY(c_->writeConfig(cfg));
    c_->agent().signal(SIGHUP);
    QVERIFY(c_->agent().waitForLog("config reloaded", mark));
    QTRY_COMPARE_WITH_TIMEOUT(replicas().keys(), QStringList{b}, kWaitMs);
    QTRY_COMPARE_WITH_TIMEOUT(state(b), QStringLiteral("healthy"), kWaitMs);
    QTRY_COMPARE_WITH_TIMEOUT(answers(), QSet<QByteArray>{"r3"}, kWaitMs);
}

QTEST_GUILESS_MAIN(TestAttackLinger)
#include "tst_attack_linger.moc"
