// dlb-agent's command line: --check, --version, bad arguments, a bad config at startup.

#include "harness.hpp"

#include <QFile>
#include <QFileInfo>
#include <QJsonObject>
#include <QRegularExpression>
#include <QtTest>

using namespace dlb::test;

namespace {

// Runs dlb-agent to completion with `args`.
ProcessRun runAgent(const QStringList& args)
{
    return runToCompletion(binPath(QStringLiteral("dlb-agent")), args);
}

} // namespace

class TestAgentCli : public QObject {
    Q_OBJECT

private slots:
    void init();

    void checkAcceptsValidFile();
    void checkRejectsOutOfRangeValueNamingPath();
    void checkRejectsMalformedJson();
    void versionPrintsVersion();
    void unknownArgumentIsAUsageError();
    void invalidConfigAtStartupExits1();
    void checkRefusesWhatStartRefuses_data();
    void checkRefusesWhatStartRefuses();
    void checkDoesNotBindListeners();
    void secondAgentOnSamePortFailsAddressInUse();
    void restartOnSamePortRightAfterStop();

private:
    bool write(const QJsonObject& cfg) { return c_->writeConfig(cfg); }
    std::unique_ptr<Cluster> c_;
};

void TestAgentCli::init()
{
    c_ = std::make_unique<Cluster>();
}

// --check on a valid file exits 0 and says so.
void TestAgentCli::checkAcceptsValidFile()
{
    QVERIFY(write(c_->config({8080, 8081})));
    const ProcessRun r = runAgent({QStringLiteral("--check"), QStringLiteral("--config"), c_->configPath()});
    QVERIFY2(r.exitCode == 0, r.err.constData());
    QVERIFY2(r.out.contains("valid"), r.out.constData());
}

// --check on an out-of-range parameter exits 1 naming the JSON path, the rule and the value.
void TestAgentCli::checkRejectsOutOfRangeValueNamingPath()
{
    QJsonObject cfg = c_->config({8080});
    setJson(cfg, {QStringLiteral("pools"), QStringLiteral("0"), QStringLiteral("algorithm")},
            QJsonObject{{QStringLiteral("name"), QStringLiteral("prequal")}, {QStringLiteral("q_rif"), 1.7}});
    QVERIFY(write(cfg));
    const ProcessRun r = runAgent({QStringLiteral("--check"), QStringLiteral("--config"), c_->configPath()});
    QCOMPARE(r.exitCode, 1);
    QVERIFY2(r.err.contains("pools[0].algorithm.q_rif: must be in [0,1], got 1.7"), r.err.constData());
}

// --check on a file that is not JSON exits 1 with a message on stderr.
void TestAgentCli::checkRejectsMalformedJson()
{
    QFile f(c_->configPath());
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write("{\"workers\": 1,,}");
    f.close();
    const ProcessRun r = runAgent({QStringLiteral("--check"), QStringLiteral("--config"), c_->configPath()});
    QCOMPARE(r.exitCode, 1);
    QVERIFY(!r.err.trimmed().isEmpty());
    QVERIFY(r.out.isEmpty());
}

// --version prints "dlb-agent X.Y.Z" and exits 0.
void TestAgentCli::versionPrintsVersion()
{
    const ProcessRun r = runAgent({QStringLiteral("--version")});
    QCOMPARE(r.exitCode, 0);
    QVERIFY2(QRegularExpression(QStringLiteral("^dlb-agent \\d+\\.\\d+\\.\\d+\\s*$")).match(QString::fromUtf8(r.out)).hasMatch(),
             r.out.constData());
}

// An unknown argument exits 2 with the usage on stderr.
void TestAgentCli::unknownArgumentIsAUsageError()
{
    const ProcessRun r = runAgent({QStringLiteral("--frobnicate")});
    QCOMPARE(r.exitCode, 2);
    QVERIFY2(r.err.contains("--frobnicate"), r.err.constData());
    QVERIFY2(r.err.contains("usage"), r.err.constData());
}

// Starting with an invalid config exits 1 and names the problem, without listening.
void TestAgentCli::invalidConfigAtStartupExits1()
{
    QJsonObject cfg = c_->config({8080});
    setJson(cfg, {QStringLiteral("timeouts"), QStringLiteral("connect_ms")}, -5);
    QVERIFY(write(cfg));
    const ProcessRun r = runAgent({QStringLiteral("--config"), c_->configPath()});
    QCOMPARE(r.exitCode, 1);
    QVERIFY2(r.err.contains("timeouts.connect_ms"), r.err.constData());
    QVERIFY2(!r.out.contains("listening"), r.out.constData());
}

void TestAgentCli::checkRefusesWhatStartRefuses_data()
{
    // _data() runs before init(): "$DIR" in a value or message stands for the test's own
    // temporary directory, filled in by the test.
    QTest::addColumn<QStringList>("path");
    QTest::addColumn<QJsonValue>("value");
    QTest::addColumn<QString>("message");
    const QStringList logPath{QStringLiteral("access_log"), QStringLiteral("path")};
    // A TLS listener whose certificate file is missing: the files load as start loads them.
    QTest::newRow("tls certificate missing")
        << QStringList{QStringLiteral("listeners"), QStringLiteral("0"), QStringLiteral("tls")}
        << QJsonValue(QJsonObject{{QStringLiteral("certificate"), QStringLiteral("/nonexistent/dlb-test-cert.pem")},
                                  {QStringLiteral("private_key"), QStringLiteral("/nonexistent/dlb-test-key.pem")}})
        << QStringLiteral("listeners[0].tls.certificate:");
    QTest::newRow("access log folder missing")
        << logPath << QJsonValue(QStringLiteral("$DIR/no-such-folder/access.log"))
        << QStringLiteral("access_log.path: folder $DIR/no-such-folder does not exist");
    // The test runs as root here, so a folder without write permission would still be writable:
    // a file standing where the folder should be is the unwritable case every user has.
    QTest::newRow("access log under a file") << logPath << QJsonValue(QStringLiteral("$DIR/agent.json/access.log"))
                                             << QStringLiteral("access_log.path: cannot use $DIR/agent.json/access.log");
    QTest::newRow("access log is a folder") << logPath << QJsonValue(QStringLiteral("$DIR"))
                                            << QStringLiteral("access_log.path: $DIR is a folder");
    // A 64-byte label is over DNS's 63: the resolver refuses the name without sending a query
    // (checked with strace), so the test stays off the network; .invalid never resolves anyway.
    const QString unresolvable = QString(64, QLatin1Char('a')) + QStringLiteral(".invalid");
    QTest::newRow("replica host unresolvable")
        << QStringList{QStringLiteral("pools"), QStringLiteral("0"), QStringLiteral("replicas"), QStringLiteral("0"),
                       QStringLiteral("url")}
        << QJsonValue(QStringLiteral("http://%1:8080").arg(unresolvable))
        << QStringLiteral("pools[0].replicas[0].url: cannot resolve %1").arg(unresolvable);
}

// --check refuses what start refuses, with the same message: one code path (startupErrors).
void TestAgentCli::checkRefusesWhatStartRefuses()
{
    QFETCH(QStringList, path);
    QFETCH(QJsonValue, value);
    QFETCH(QString, message);
    const QString dir = QFileInfo(c_->configPath()).absolutePath();
    if (value.isString())
        value = value.toString().replace(QStringLiteral("$DIR"), dir);
    const QByteArray expected = message.replace(QStringLiteral("$DIR"), dir).toUtf8();
    QJsonObject cfg = c_->config({refusedPort()});
    setJson(cfg, path, value);
    QVERIFY(write(cfg));
    const ProcessRun check = runAgent({QStringLiteral("--check"), QStringLiteral("--config"), c_->configPath()});
    QCOMPARE(check.exitCode, 1);
    QVERIFY2(check.err.contains(expected), check.err.constData());
    const ProcessRun start = runAgent({QStringLiteral("--config"), c_->configPath()});
    QCOMPARE(start.exitCode, 1);
    QVERIFY2(start.err.contains(expected), start.err.constData());
    QVERIFY2(!start.out.contains("listening"), start.out.constData());
}

// A listener address that another process holds is not a --check error (decided and documented
// in docs/configuration.md): it depends on the moment, and --check is typically run beside the
// agent that holds it, before a restart.
void TestAgentCli::checkDoesNotBindListeners()
{
    QVERIFY2(c_->startAgent(c_->config({refusedPort()})), qPrintable(c_->error()));
    QJsonObject cfg = c_->config({refusedPort()});
    setJson(cfg, {QStringLiteral("listeners"), QStringLiteral("0"), QStringLiteral("address")},
            QStringLiteral("127.0.0.1:%1").arg(c_->port()));
    Cluster other;
    QVERIFY(other.writeConfig(cfg));
    const ProcessRun r = runAgent({QStringLiteral("--check"), QStringLiteral("--config"), other.configPath()});
    QVERIFY2(r.exitCode == 0, r.err.constData());
    QCOMPARE(c_->stopAgent(), 0);
}

// A second agent on the port of a running one fails with "Address already in use", as against
// any other process, instead of joining its SO_REUSEPORT group and taking part of its traffic.
void TestAgentCli::secondAgentOnSamePortFailsAddressInUse()
{
    const quint16 r1 = c_->startReplica(QStringLiteral("r1"));
    QVERIFY2(r1, qPrintable(c_->error()));
    QJsonObject cfg = c_->config({r1});
    setJson(cfg, {QStringLiteral("workers")}, 2); // a group of two sockets, as in production
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));

    Cluster other;
    setJson(cfg, {QStringLiteral("listeners"), QStringLiteral("0"), QStringLiteral("address")},
            QStringLiteral("127.0.0.1:%1").arg(c_->port()));
    setJson(cfg, {QStringLiteral("access_log"), QStringLiteral("path")}, other.accessLogPath());
    QVERIFY(other.writeConfig(cfg));
    const ProcessRun second = runAgent({QStringLiteral("--config"), other.configPath()});
    QCOMPARE(second.exitCode, 1);
    QVERIFY2(second.err.contains("Address already in use"), second.err.constData());
    QVERIFY2(second.err.contains(QByteArray::number(c_->port())), second.err.constData());

    // The first still has the whole port.
    for (int i = 0; i < 10; ++i) {
        const auto resp = fetch(c_->port(), getRequest("/"));
        QVERIFY(resp);
        QCOMPARE(resp->status, 200);
    }
    QCOMPARE(c_->stopAgent(), 0);
}

// The check for a port in use must not refuse the agent's own leftovers: right after a stop that
// closed client connections (so the port has connections in TIME_WAIT), a new agent starts on
// the same port.
void TestAgentCli::restartOnSamePortRightAfterStop()
{
    const quint16 r1 = c_->startReplica(QStringLiteral("r1"));
    QVERIFY2(r1, qPrintable(c_->error()));
    QJsonObject cfg = c_->config({r1});
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));
    std::vector<std::unique_ptr<HttpClient>> idle;
    for (int i = 0; i < 5; ++i) {
        idle.push_back(std::make_unique<HttpClient>());
        QVERIFY(idle.back()->connectTo(c_->port()));
        QVERIFY(idle.back()->send(getRequest("/")));
        QVERIFY(idle.back()->read());
    }
    const quint16 port = c_->port();
    QCOMPARE(c_->stopAgent(), 0); // closes the idle keep-alive connections first: TIME_WAIT here
    for (auto& client : idle)
        QVERIFY(client->waitForClose());

    Cluster again;
    setJson(cfg, {QStringLiteral("listeners"), QStringLiteral("0"), QStringLiteral("address")},
            QStringLiteral("127.0.0.1:%1").arg(port));
    setJson(cfg, {QStringLiteral("access_log"), QStringLiteral("path")}, again.accessLogPath());
    QVERIFY2(again.startAgent(cfg), qPrintable(again.error()));
    QCOMPARE(again.port(), port);
    const auto resp = fetch(port, getRequest("/"));
    QVERIFY(resp);
    QCOMPARE(resp->status, 200);
    QCOMPARE(again.stopAgent(), 0);
}

QTEST_GUILESS_MAIN(TestAgentCli)
#include "tst_agent_cli.moc"
