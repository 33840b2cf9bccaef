// Attacks on the linger of discovery (leavers kept serving until a newcomer is healthy), on the
// fixture of tst_discovery.cpp (discovery_fixture.hpp): dnsmasq answering from a hosts file the
// test rewrites, dlb-replica processes on 127.0.0.2, 127.0.0.3...

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

class TestAttackLinger : public DiscoveryFixture {
    Q_OBJECT

private slots:
    void init();
    void cleanup();

    void newcomerNeverHealthyKeepsLeaverWithoutRepublishing();
    void answerFlipsBackWhileLingering();
    void reloadDroppingTheEntryWhileLingeringDrainsIt();
};

void TestAttackLinger::init()
{
    setUpFixture();
}

void TestAttackLinger::cleanup()
{
    tearDownFixture();
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
