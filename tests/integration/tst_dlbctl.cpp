// dlbctl against a real agent: every command over the Unix socket and over TCP with TLS, its
// --json output parsed, every exit code provoked, changes checked through GET /v1/pools, and
// `stats --watch` stopped by a signal. Then dlbctl attacked: peers that answer garbage, too
// much or nothing, and token files that are wrong in the usual ways.

#include "control_fixture.hpp"
#include "test_certs.hpp"

#include <QCoreApplication>
#include <QDeadlineTimer>
#include <QDir>
#include <QJsonArray>
#include <QJsonDocument>
#include <QLocalServer>
#include <QLocalSocket>
#include <QProcess>
#include <QtTest>

#include <csignal>
#include <sys/types.h>

using namespace dlb::test;

namespace {

struct Run {
    int code = -1; // -1: did not exit in time, or crashed
    QByteArray out;
    QByteArray err;
};

// What a failed check prints: the command's output and messages.
QByteArray describe(const Run& r)
{
    return "exit " + QByteArray::number(r.code) + "\nstdout: " + r.out + "\nstderr: " + r.err;
}

QJsonObject jsonOf(const QByteArray& text)
{
    QJsonParseError e{};
    const QJsonDocument doc = QJsonDocument::fromJson(text, &e);
    return e.error == QJsonParseError::NoError ? doc.object() : QJsonObject{};
}

} // namespace

class TestDlbctl : public QObject {
    Q_OBJECT

private slots:
    void init();
    void cleanup();

    void readCommandsPrintTables();
    void jsonOutputIsTheAgentsJson_data();
    void jsonOutputIsTheAgentsJson();
    void addWeightDrainRemoveTakeEffect();
    void algorithmSwitchAndStaleIfMatch();
    void healthCheckNow();
    void exitCodes_data();
    void exitCodes();
    void helpForEveryCommand();
    void overTcpWithTls();
    void statsWatchUpdatesUntilStopped();

    // Attacks on dlbctl itself.
    void garbageAnswerIsExit5();
    void jsonOutputEscapesTerminalControls();
    void hugeAnswerIsRefused();
    void silentPeerTimesOut();
    void answerBeforeTheRequestIsSentIsRead();
    void tokenFileTrailingNewlineIsStripped();
    void badTokenFilesAreUsageErrors_data();
    void badTokenFilesAreUsageErrors();

private:
    bool start(int replicas = 2, const QJsonObject& extra_control = {});
    // Runs dlbctl, keeping this thread's event loop going (the fake peers answer from it).
    Run dlbctl(const QStringList& args, int timeoutMs = 15000);
    QStringList socketArgs(const QByteArray& token = kAdmin);
    QString tokenFile(const QByteArray& token);
    QJsonArray replicasOf(const QString& pool);

    std::unique_ptr<Cluster> c_;
    QList<quint16> ports_;
};

void TestDlbctl::init()
{
    c_ = std::make_unique<Cluster>();
    ports_.clear();
}

void TestDlbctl::cleanup()
{
    const int exitCode = c_->agent().running() ? c_->stopAgent() : 0;
    checkAgentExit(*c_, exitCode);
    c_.reset();
}

bool TestDlbctl::start(int replicas, const QJsonObject& extra_control)
{
    for (int i = 0; i < replicas; ++i) {
        const quint16 port = c_->startReplica(QStringLiteral("r%1").arg(i + 1));
        if (port == 0)
            return false;
        ports_ << port;
    }
    QJsonObject cfg = controlConfig(*c_, ports_);
    QJsonObject control = cfg[QStringLiteral("control")].toObject();
    for (auto it = extra_control.begin(); it != extra_control.end(); ++it)
        control[it.key()] = it.value();
    cfg[QStringLiteral("control")] = control;
    return c_->startAgent(cfg);
}

Run TestDlbctl::dlbctl(const QStringList& args, int timeoutMs)
{
    QProcess p;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.remove(QStringLiteral("DLB_SOCKET"));
    env.remove(QStringLiteral("DLB_TOKEN_FILE"));
    p.setProcessEnvironment(env);
    p.start(binPath(QStringLiteral("dlbctl")), args);
    Run r;
    if (!p.waitForStarted(kWaitMs))
        return r;
    QDeadlineTimer deadline(timeoutMs);
    // waitForFinished() answers false for a process that has finished already (in
    // processEvents()), so the state is what ends the loop.
    while (p.state() != QProcess::NotRunning && !deadline.hasExpired()) {
        p.waitForFinished(5);
        QCoreApplication::processEvents();
    }
    const bool timed_out = p.state() != QProcess::NotRunning;
    if (timed_out) {
        p.kill();
        p.waitForFinished();
    }
    r.out = p.readAllStandardOutput();
    r.err = p.readAllStandardError();
    if (p.exitStatus() == QProcess::NormalExit && !timed_out)
        r.code = p.exitCode();
    else
        r.err += "\n[dlbctl " + args.join(' ').toLocal8Bit() +
                 (timed_out ? QByteArray(" did not exit within ") + QByteArray::number(timeoutMs) + " ms]"
                            : QByteArray(" crashed]"));
    return r;
}

QString TestDlbctl::tokenFile(const QByteArray& token)
{
    const QString path = c_->path(QStringLiteral("token-") + QString::fromLatin1(sha256Hex(token).left(8)));
    QFile f(path);
    if (f.open(QIODevice::WriteOnly | QIODevice::Truncate))
        f.write(token);
    return path;
}

QStringList TestDlbctl::socketArgs(const QByteArray& token)
{
    return {QStringLiteral("--socket"), controlSocket(*c_), QStringLiteral("--token-file"), tokenFile(token)};
}

QJsonArray TestDlbctl::replicasOf(const QString& pool)
{
    const auto r = controlCall(*c_, "GET", "/v1/pools");
    if (!r || r->status != 200)
        return {};
    for (const auto& p : jsonBody(*r)[QStringLiteral("pools")].toArray())
        if (p.toObject()[QStringLiteral("name")].toString() == pool)
            return p.toObject()[QStringLiteral("replicas")].toArray();
    return {};
}

// status, pools, replicas, config, stats, version, params print aligned tables with the values
// the API holds.
void TestDlbctl::readCommandsPrintTables()
{
    QVERIFY2(start(), qPrintable(c_->error()));
    const QString id1 = QStringLiteral("127.0.0.1:%1").arg(ports_[0]);

    Run r = dlbctl(socketArgs(kViewer) << "status");
    QVERIFY2(r.code == 0, describe(r).constData());
    QVERIFY2(r.out.startsWith("FIELD"), r.out.constData());
    QVERIFY2(r.out.contains("version      " DLB_VERSION), r.out.constData());
    QVERIFY2(r.out.contains("generation   1\n"), r.out.constData());

    r = dlbctl(socketArgs(kViewer) << "pools");
    QVERIFY2(r.code == 0, describe(r).constData());
    QVERIFY2(r.out.contains("POOL  ALGORITHM    REPLICAS  HEALTHY"), r.out.constData());
    QVERIFY2(r.out.contains("web   round_robin         2        2"), r.out.constData());

    r = dlbctl(socketArgs(kViewer) << "replicas" << "web");
    QVERIFY2(r.code == 0, describe(r).constData());
    const QList<QByteArray> lines = r.out.split('\n');
    QCOMPARE(lines.size(), 4); // header, two replicas, the final newline
    QVERIFY2(lines[0].startsWith("ID "), r.out.constData());
    QVERIFY2(lines[1].startsWith(id1.toLatin1() + "  http://" + id1.toLatin1()), r.out.constData());
    // Columns line up: every row's STATE starts where the header's does.
    const qsizetype state = lines[0].indexOf("STATE");
    QCOMPARE(lines[1].mid(state, 7), QByteArray("healthy"));
    QCOMPARE(lines[2].mid(state, 7), QByteArray("healthy"));

    r = dlbctl(socketArgs(kViewer) << "config");
    QVERIFY2(r.code == 0, describe(r).constData());
    const QJsonObject config = jsonOf(r.out);
    QCOMPARE(config[QStringLiteral("generation")].toInt(), 1);
    QVERIFY2(r.out.contains("\"<redacted>\""), r.out.constData());

    r = dlbctl(socketArgs(kViewer) << "stats");
    QVERIFY2(r.code == 0, describe(r).constData());
    QVERIFY2(r.out.startsWith("sample "), r.out.constData());
    QVERIFY2(r.out.contains("pool web (round_robin)"), r.out.constData());
    QVERIFY2(r.out.contains(id1.toLatin1() + "  healthy"), r.out.constData());

    r = dlbctl(socketArgs(kViewer) << "version");
    QVERIFY2(r.code == 0, describe(r).constData());
    QCOMPARE(r.out, QByteArray("dlbctl " DLB_VERSION "\ndlb-agent " DLB_VERSION " (the socket ") +
                        controlSocket(*c_).toLatin1() + ")\n");
    r = dlbctl({QStringLiteral("--version")});
    QCOMPARE(r.out, QByteArray("dlbctl " DLB_VERSION "\n"));

    // params needs no agent at all.
    r = dlbctl({QStringLiteral("--socket"), c_->path(QStringLiteral("nothing.sock")), QStringLiteral("params"),
                QStringLiteral("prequal")});
    QVERIFY2(r.code == 0, describe(r).constData());
    QVERIFY2(r.out.contains("q_rif "), r.out.constData());
    QVERIFY2(r.out.contains("[0,1]"), r.out.constData());
    QVERIFY2(r.out.contains("0.84"), r.out.constData());
    r = dlbctl({QStringLiteral("params")});
    QVERIFY2(r.code == 0, describe(r).constData());
    for (const char* name : {"prequal", "round_robin", "weighted_round_robin", "least_request", "power_of_d", "random",
                             "ip_hash", "ring_hash", "maglev"})
        QVERIFY2(r.out.contains(QByteArray("\n") + name + " "), name);
}

void TestDlbctl::jsonOutputIsTheAgentsJson_data()
{
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QString>("key"); // a key the document must have
    QTest::newRow("status") << QStringList{"status"} << "uptime_s";
    QTest::newRow("pools") << QStringList{"pools"} << "pools";
    QTest::newRow("replicas") << QStringList{"replicas", "web"} << "replicas";
    QTest::newRow("config") << QStringList{"config"} << "config";
    QTest::newRow("stats") << QStringList{"stats"} << "rates";
    QTest::newRow("params") << QStringList{"params", "maglev"} << "params";
}

// --json prints the agent's answer as received: one JSON document a script can parse, equal to
// what the API answers itself (for the reads whose answer does not change between two calls).
void TestDlbctl::jsonOutputIsTheAgentsJson()
{
    QFETCH(QStringList, args);
    QFETCH(QString, key);
    QVERIFY2(start(), qPrintable(c_->error()));
    const Run r = dlbctl(socketArgs(kViewer) << "--json" << args);
    QVERIFY2(r.code == 0, describe(r).constData());
    QJsonParseError e{};
    const QJsonDocument doc = QJsonDocument::fromJson(r.out, &e);
    QVERIFY2(e.error == QJsonParseError::NoError && doc.isObject(), r.out.constData());
    QVERIFY2(doc.object().contains(key), r.out.constData());
    if (args.first() == "pools" || args.first() == "config") {
        const auto api = controlCall(*c_, "GET", "/v1/" + args.first().toLatin1());
        QVERIFY(api && api->status == 200);
        QCOMPARE(r.out, api->body); // the agent ends its JSON with a newline
    }
    if (args.first() == "params")
        QCOMPARE(doc.object()[QStringLiteral("uses_hash_key")].toBool(), true);
}

// add, weight, drain and remove change what GET /v1/pools shows.
void TestDlbctl::addWeightDrainRemoveTakeEffect()
{
    QVERIFY2(start(), qPrintable(c_->error()));
    const quint16 third = c_->startReplica(QStringLiteral("r3"));
    QVERIFY(third);
    const QString id3 = QStringLiteral("127.0.0.1:%1").arg(third);

    Run r = dlbctl(socketArgs() << "add" << "web" << QStringLiteral("http://%1").arg(id3) << "--weight" << "2");
    QVERIFY2(r.code == 0, describe(r).constData());
    QVERIFY2(r.out.contains("replica " + id3.toLatin1()), r.out.constData());
    QVERIFY2(r.out.contains("generation 2"), r.out.constData());
    QJsonArray replicas = replicasOf(QStringLiteral("web"));
    QCOMPARE(replicas.size(), 3);
    QCOMPARE(replicas[2].toObject()[QStringLiteral("id")].toString(), id3);
    QCOMPARE(replicas[2].toObject()[QStringLiteral("weight")].toInt(), 2);

    r = dlbctl(socketArgs() << "weight" << "web" << id3 << "5");
    QVERIFY2(r.code == 0, describe(r).constData());
    QCOMPARE(replicasOf(QStringLiteral("web"))[2].toObject()[QStringLiteral("weight")].toInt(), 5);

    const QString id1 = QStringLiteral("127.0.0.1:%1").arg(ports_[0]);
    r = dlbctl(socketArgs() << "drain" << "web" << id1);
    QVERIFY2(r.code == 0, describe(r).constData());
    QVERIFY2(r.out.contains("draining"), r.out.constData());
    // No request is in flight: the drained replica is gone at once or after its last request.
    QTRY_VERIFY_WITH_TIMEOUT(replicasOf(QStringLiteral("web")).size() == 2, kWaitMs);
    for (const auto& v : replicasOf(QStringLiteral("web")))
        QVERIFY(v.toObject()[QStringLiteral("id")].toString() != id1);

    r = dlbctl(socketArgs() << "remove" << "web" << id3);
    QVERIFY2(r.code == 0, describe(r).constData());
    QTRY_VERIFY_WITH_TIMEOUT(replicasOf(QStringLiteral("web")).size() == 1, kWaitMs);
    QCOMPARE(replicasOf(QStringLiteral("web"))[0].toObject()[QStringLiteral("id")].toString(),
             QStringLiteral("127.0.0.1:%1").arg(ports_[1]));

    // An id with brackets goes into the path %-escaped: add [::1]:PORT (pending: nothing listens
    // there on ::1) and drain it by that id.
    const QString v6 = QStringLiteral("[::1]:%1").arg(third);
    r = dlbctl(socketArgs() << "add" << "web" << "http://" + v6);
    QVERIFY2(r.code == 0, describe(r).constData());
    QVERIFY2(r.out.contains("replica " + v6.toLatin1() + " added"), r.out.constData());
    QCOMPARE(replicasOf(QStringLiteral("web")).size(), 2);
    r = dlbctl(socketArgs() << "drain" << "web" << v6);
    QVERIFY2(r.code == 0, describe(r).constData());
    QTRY_VERIFY_WITH_TIMEOUT(replicasOf(QStringLiteral("web")).size() == 1, kWaitMs);

    // Removing it again: the agent refuses (404 unknown_replica), exit 1, its message on stderr.
    r = dlbctl(socketArgs() << "remove" << "web" << id3);
    QVERIFY2(r.code == 1, describe(r).constData());
    QVERIFY2(r.err.startsWith("dlbctl: ") && r.err.contains("(unknown_replica"), r.err.constData());
    QVERIFY(r.out.isEmpty());
}

// algorithm switches with KEY=VALUE parameters; --if-match with a stale generation is refused.
void TestDlbctl::algorithmSwitchAndStaleIfMatch()
{
    QVERIFY2(start(), qPrintable(c_->error()));
    Run r = dlbctl(socketArgs() << "algorithm" << "web" << "least_request" << "choice_count=3");
    QVERIFY2(r.code == 0, describe(r).constData());
    QVERIFY2(r.out.contains("algorithm least_request (active_request_bias=1 choice_count=3); generation 2"),
             r.out.constData());
    const auto api = controlCall(*c_, "GET", "/v1/pools");
    QVERIFY(api && api->status == 200);
    const QJsonObject algo =
        jsonBody(*api)[QStringLiteral("pools")].toArray()[0].toObject()[QStringLiteral("algorithm")].toObject();
    QCOMPARE(algo[QStringLiteral("name")].toString(), QStringLiteral("least_request"));
    QCOMPARE(algo[QStringLiteral("params")].toObject()[QStringLiteral("choice_count")].toInt(), 3);

    r = dlbctl(socketArgs() << "--if-match" << "1" << "algorithm" << "web" << "random");
    QVERIFY2(r.code == 1, describe(r).constData());
    QVERIFY2(r.err.contains("(stale_generation)"), r.err.constData());
    r = dlbctl(socketArgs() << "--if-match" << "2" << "algorithm" << "web" << "random");
    QVERIFY2(r.code == 0, describe(r).constData());

    // Out of range: the agent's message with the field's path.
    r = dlbctl(socketArgs() << "algorithm" << "web" << "prequal" << "q_rif=1.7");
    QVERIFY2(r.code == 1, describe(r).constData());
    QVERIFY2(r.err == "dlbctl: params.q_rif: must be in [0,1], got 1.7 (invalid_value at params.q_rif)\n",
             r.err.constData());

    // A body over the agent's 64 KiB: it answers 413 and closes while dlbctl still sends.
    QStringList many = socketArgs() << "algorithm" << "web" << "prequal";
    for (int i = 0; i < 20000; ++i)
        many << QStringLiteral("p%1=1").arg(i, 6, 10, QLatin1Char('0'));
    r = dlbctl(many);
    QVERIFY2(r.code == 1, describe(r).left(2000).constData());
    QVERIFY2(r.err.contains("(body_too_large)"), r.err.constData());
}

void TestDlbctl::healthCheckNow()
{
    QVERIFY2(start(), qPrintable(c_->error()));
    const Run r = dlbctl(socketArgs() << "health-check" << "web");
    QVERIFY2(r.code == 0, describe(r).constData());
    QVERIFY2(r.out.contains(QStringLiteral("127.0.0.1:%1  yes     200  healthy").arg(ports_[0]).toLatin1()),
             r.out.constData());
}

void TestDlbctl::exitCodes_data()
{
    QTest::addColumn<QStringList>("args"); // after --socket; "TOKEN:x" picks the token
    QTest::addColumn<int>("code");
    QTest::addColumn<QString>("message"); // in stderr
    QTest::newRow("wrong token") << QStringList{"TOKEN:wrong", "status"} << 4 << "(unauthorized)";
    QTest::newRow("no token") << QStringList{"TOKEN:none", "status"} << 4 << "--token-file";
    QTest::newRow("viewer writing") << QStringList{"TOKEN:viewer", "algorithm", "web", "random"} << 4
                                    << "(forbidden)";
    QTest::newRow("unknown pool, read") << QStringList{"replicas", "nope"} << 1 << "no pool named \"nope\"";
    QTest::newRow("unknown pool, write") << QStringList{"drain", "nope", "x:1"} << 1 << "(unknown_pool)";
    QTest::newRow("unknown command") << QStringList{"frobnicate"} << 2 << "unknown command";
    QTest::newRow("missing argument") << QStringList{"add", "web"} << 2 << "usage: dlbctl add POOL URL";
    QTest::newRow("unknown option") << QStringList{"status", "--colour"} << 2 << "unknown option --colour";
    QTest::newRow("token on the command line") << QStringList{"status", "--token", "x"} << 2 << "--token-file";
    QTest::newRow("weight not a number") << QStringList{"weight", "web", "x:1", "lots"} << 2 << "whole number";
    QTest::newRow("parameter not KEY=VALUE") << QStringList{"algorithm", "web", "prequal", "q_rif"} << 2
                                             << "not KEY=VALUE";
    QTest::newRow("bad --if-match") << QStringList{"--if-match", "W/\"1\"", "status"} << 2 << "--if-match";
    QTest::newRow("bad --timeout-ms") << QStringList{"--timeout-ms", "0", "status"} << 2 << "--timeout-ms";
    QTest::newRow("unknown algorithm in params") << QStringList{"params", "fastest"} << 2 << "one of: prequal";
    QTest::newRow("no socket") << QStringList{"SOCKET:missing.sock", "status"} << 3 << "No such file";
    QTest::newRow("a file that is not a socket") << QStringList{"SOCKET:agent.json", "status"} << 3
                                                 << "cannot connect";
    QTest::newRow("nothing on the port") << QStringList{"URL", "status"} << 3 << "refused";
}

void TestDlbctl::exitCodes()
{
    QFETCH(QStringList, args);
    QFETCH(int, code);
    QFETCH(QString, message);
    QVERIFY2(start(), qPrintable(c_->error()));
    QByteArray token = kAdmin;
    QStringList where{QStringLiteral("--socket"), controlSocket(*c_)};
    if (args.first().startsWith("TOKEN:")) {
        const QString which = args.takeFirst().mid(6);
        token = which == "wrong" ? QByteArray("not-a-token-of-this-agent") : which == "viewer" ? kViewer : QByteArray();
    } else if (args.first().startsWith("SOCKET:")) {
        where = QStringList{QStringLiteral("--socket"), c_->path(args.takeFirst().mid(7))};
    } else if (args.first() == "URL") {
        args.takeFirst();
        where = QStringList{QStringLiteral("--url"), QStringLiteral("http://127.0.0.1:%1").arg(refusedPort())};
    }
    if (!token.isEmpty())
        where << QStringLiteral("--token-file") << tokenFile(token);
    const Run r = dlbctl(where + args);
    QVERIFY2(r.code == code, describe(r).constData());
    QVERIFY2(r.err.startsWith("dlbctl: ") && r.err.contains(message.toLatin1()), describe(r).constData());
    QVERIFY2(r.out.isEmpty(), describe(r).constData());
}

// `dlbctl help CMD` and `dlbctl CMD --help` print the command's usage and exit 0, without an
// agent; --help lists every command and the exit codes.
void TestDlbctl::helpForEveryCommand()
{
    const Run all = dlbctl({QStringLiteral("--help")});
    QVERIFY2(all.code == 0, describe(all).constData());
    QVERIFY(all.out.contains("Exit codes:"));
    for (const char* cmd : {"status", "pools", "replicas", "add", "drain", "remove", "weight", "algorithm", "params",
                            "health-check", "stats", "config", "version"}) {
        QVERIFY2(all.out.contains(QByteArray("\n  ") + cmd), cmd);
        const Run a = dlbctl({QStringLiteral("help"), QString::fromLatin1(cmd)});
        const Run b = dlbctl({QString::fromLatin1(cmd), QStringLiteral("--help")});
        QVERIFY2(a.code == 0 && b.code == 0, cmd);
        QVERIFY2(a.out.startsWith(QByteArray("usage: dlbctl [OPTIONS] ") + cmd), a.out.constData());
        QCOMPARE(a.out, b.out);
    }
}

// Over control.address with TLS: verified with --cacert; without it the system's CAs do not
// know the test CA, and dlbctl refuses, saying to pass --cacert. A wrong token is still 4.
void TestDlbctl::overTcpWithTls()
{
    TestCerts certs;
    QVERIFY2(certs.ok(), qPrintable(certs.error()));
    QVERIFY2(start(2, QJsonObject{{QStringLiteral("address"), QStringLiteral("127.0.0.1:0")},
                                  {QStringLiteral("tls"),
                                   QJsonObject{{QStringLiteral("certificate"), certs.path(QStringLiteral("server.pem"))},
                                               {QStringLiteral("private_key"), certs.path(QStringLiteral("server.key"))}}}}),
             qPrintable(c_->error()));
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
    const QString port =
        QString::fromLatin1(line.mid(int(sizeof "dlb-agent: control listening on 127.0.0.1:") - 1).split(' ').first());
    const QString url = QStringLiteral("https://127.0.0.1:") + port;
    const QString ca = certs.path(QStringLiteral("ca.pem"));

    Run r = dlbctl({"--url", url, "--cacert", ca, "--token-file", tokenFile(kAdmin), "--json", "status"});
    QVERIFY2(r.code == 0, describe(r).constData());
    QVERIFY2(jsonOf(r.out).contains(QStringLiteral("version")), r.out.constData());
    r = dlbctl({"--url", "https://localhost:" + port, "--cacert", ca, "--token-file", tokenFile(kAdmin), "algorithm",
                "web", "random"});
    QVERIFY2(r.code == 0, describe(r).constData());

    r = dlbctl({"--url", url, "--token-file", tokenFile(kAdmin), "status"});
    QVERIFY2(r.code == 3, describe(r).constData());
    QVERIFY2(r.err.contains("certificate") && r.err.contains("--cacert FILE"), r.err.constData());
    // The certificate names localhost and 127.0.0.1, not ::1's "ip6-localhost" or another name.
    r = dlbctl({"--url", url, "--cacert", certs.path(QStringLiteral("server.pem")), "--token-file", tokenFile(kAdmin),
                "status"});
    QVERIFY2(r.code == 3, describe(r).constData());
    // Plain HTTP to a TLS port: the agent's handshake fails and it closes without an HTTP answer.
    r = dlbctl({"--url", "http://127.0.0.1:" + port, "--token-file", tokenFile(kAdmin), "status"});
    QVERIFY2(r.code == 3, describe(r).constData());
    QVERIFY2(r.err.contains("closed the connection without answering"), r.err.constData());

    r = dlbctl({"--url", url, "--cacert", ca, "--token-file", tokenFile("wrong-token"), "status"});
    QVERIFY2(r.code == 4, describe(r).constData());
    QVERIFY2(r.err.contains("(unauthorized)"), r.err.constData());
}

// stats --watch prints a table per stream event until SIGINT, then exits 0.
void TestDlbctl::statsWatchUpdatesUntilStopped()
{
    QVERIFY2(start(), qPrintable(c_->error()));
    QProcess p;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.remove(QStringLiteral("DLB_SOCKET"));
    env.insert(QStringLiteral("DLB_TOKEN_FILE"), tokenFile(kViewer)); // the variable works too
    p.setProcessEnvironment(env);
    p.start(binPath(QStringLiteral("dlbctl")), socketArgs(kViewer).mid(0, 2) << "stats" << "--watch");
    QVERIFY(p.waitForStarted(kWaitMs));
    QByteArray out;
    QDeadlineTimer deadline(4 * kWaitMs);
    while (out.count("\nsample ") < 2 && !deadline.hasExpired() && p.state() == QProcess::Running) {
        p.waitForReadyRead(100);
        out += p.readAllStandardOutput();
    }
    QVERIFY2(out.count("\nsample ") >= 2, out + p.readAllStandardError());
    // Two different samples, each a whole table.
    const QList<QByteArray> parts = out.split('\n');
    QList<QByteArray> samples;
    for (const auto& l : parts)
        if (l.startsWith("sample "))
            samples << l.split(',').first();
    QVERIFY2(samples.size() >= 2 && samples[0] != samples[1], out.constData());
    QVERIFY2(out.contains("pool web (round_robin)"), out.constData());
    ::kill(static_cast<pid_t>(p.processId()), SIGINT);
    QVERIFY(p.waitForFinished(kWaitMs));
    QCOMPARE(p.exitStatus(), QProcess::NormalExit);
    QCOMPARE(p.exitCode(), 0);
}

// A peer on the socket that answers something that is not HTTP: exit 5, saying so.
void TestDlbctl::garbageAnswerIsExit5()
{
    QLocalServer server;
    const QString path = c_->path(QStringLiteral("garbage.sock"));
    QVERIFY(server.listen(path));
    QByteArray answer = "SSH-2.0-OpenSSH_9.2\r\n";
    connect(&server, &QLocalServer::newConnection, this, [&] {
        QLocalSocket* s = server.nextPendingConnection();
        s->write(answer);
        s->flush();
        s->disconnectFromServer();
    });
    Run r = dlbctl({"--socket", path, "--token-file", tokenFile(kAdmin), "status"});
    QVERIFY2(r.code == 5, describe(r).constData());
    QVERIFY2(r.err.contains("is not the control API's"), r.err.constData());

    // HTTP, but not JSON.
    answer = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 6\r\n\r\n<html>";
    r = dlbctl({"--socket", path, "--token-file", tokenFile(kAdmin), "--json", "status"});
    QVERIFY2(r.code == 5, describe(r).constData());
    QVERIFY2(r.err.contains("not JSON"), r.err.constData());
    QVERIFY(r.out.isEmpty());
    // JSON that does not parse.
    answer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n{\"pools\":";
    r = dlbctl({"--socket", path, "--token-file", tokenFile(kAdmin), "pools"});
    QVERIFY2(r.code == 5, describe(r).constData());
    // Cut short: a Content-Length the peer does not send.
    answer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{}";
    r = dlbctl({"--socket", path, "--token-file", tokenFile(kAdmin), "pools"});
    QVERIFY2(r.code == 5, describe(r).constData());
    QVERIFY2(r.err.contains("cut short"), r.err.constData());
    // A 500 without the API's error object, and one with it.
    answer = "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n";
    r = dlbctl({"--socket", path, "--token-file", tokenFile(kAdmin), "pools"});
    QVERIFY2(r.code == 5, describe(r).constData());
    QVERIFY2(r.err.contains("without the control API's error object"), r.err.constData());
    const QByteArray error = R"({"error":{"code":"internal_error","message":"a bug in x","path":""}})";
    answer = "HTTP/1.1 500 Oops\r\nContent-Type: application/json\r\nContent-Length: " +
             QByteArray::number(error.size()) + "\r\n\r\n" + error;
    r = dlbctl({"--socket", path, "--token-file", tokenFile(kAdmin), "pools"});
    QVERIFY2(r.code == 5, describe(r).constData());
    QCOMPARE(r.err, QByteArray("dlbctl: a bug in x (internal_error)\n"));
    // stats --watch answered with JSON instead of an event stream (exited 3 with no message before).
    answer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
    r = dlbctl({"--socket", path, "--token-file", tokenFile(kAdmin), "stats", "--watch"});
    QVERIFY2(r.code == 5, describe(r).constData());
    QVERIFY2(r.err.contains("not an event stream"), r.err.constData());
}

// --json passes the agent's JSON on, but not DEL and the C1 controls inside its strings (U+009B
// is a CSI: a terminal would act on it): they are written as \u escapes, the same JSON for jq;
// valid UTF-8 stays. A --watch event that is not JSON is refused, not printed.
void TestDlbctl::jsonOutputEscapesTerminalControls()
{
    QLocalServer server;
    const QString path = c_->path(QStringLiteral("controls.sock"));
    QVERIFY(server.listen(path));
    QByteArray answer;
    connect(&server, &QLocalServer::newConnection, this, [&] {
        QLocalSocket* s = server.nextPendingConnection();
        s->write(answer);
        s->flush();
        s->disconnectFromServer();
    });
    const QByteArray body = "{\"version\":\"1\x7f\xc2\x9b" "2J\xc2\x85\",\"pid\":\"\xc3\xa9\xe2\x9c\x93\"}";
    answer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + QByteArray::number(body.size()) +
             "\r\n\r\n" + body;
    Run r = dlbctl({"--socket", path, "--token-file", tokenFile(kAdmin), "--json", "status"});
    QVERIFY2(r.code == 0, describe(r).constData());
    QCOMPARE(r.out, QByteArray("{\"version\":\"1\\u007f\\u009b2J\\u0085\",\"pid\":\"\xc3\xa9\xe2\x9c\x93\"}\n"));
    QCOMPARE(QJsonDocument::fromJson(r.out).object(), QJsonDocument::fromJson(body).object());

    // replicas --json prints the pool's object as dlbctl serialises it: escaped the same way.
    const QByteArray pools = "{\"pools\":[{\"name\":\"web\",\"replicas\":[{\"id\":\"a\xc2\x9d" "0;x\x7f\"}]}]}";
    answer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
             QByteArray::number(pools.size()) + "\r\n\r\n" + pools;
    r = dlbctl({"--socket", path, "--token-file", tokenFile(kAdmin), "--json", "replicas", "web"});
    QVERIFY2(r.code == 0, describe(r).constData());
    QCOMPARE(r.out, QByteArray("{\"name\":\"web\",\"replicas\":[{\"id\":\"a\\u009d0;x\\u007f\"}]}\n"));

    // stats --watch --json: each event escaped the same way; one that is not JSON is exit 5.
    const QByteArray head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\nretry: 2000\n\n";
    answer = head + "id: 1\nevent: stats\ndata: {\"id\":1,\"x\":\"\xc2\x9b" "31m\"}\n\n";
    r = dlbctl({"--socket", path, "--token-file", tokenFile(kAdmin), "--json", "stats", "--watch"});
    QVERIFY2(r.out == QByteArray("{\"id\":1,\"x\":\"\\u009b31m\"}\n"), describe(r).constData());
    answer = head + "id: 1\nevent: stats\ndata: {\"id\":1,\"x\":\"\x1b[31m\"}\n\n";
    r = dlbctl({"--socket", path, "--token-file", tokenFile(kAdmin), "--json", "stats", "--watch"});
    QVERIFY2(r.code == 5, describe(r).constData());
    QVERIFY2(r.out.isEmpty(), describe(r).constData());
    QVERIFY2(r.err.contains("not a JSON object"), r.err.constData());
}

// An answer over dlbctl's bound (8 MiB) is refused, not buffered without end; a head over the
// header limit too.
void TestDlbctl::hugeAnswerIsRefused()
{
    QLocalServer server;
    const QString path = c_->path(QStringLiteral("huge.sock"));
    QVERIFY(server.listen(path));
    const qsizetype size = 9 * 1024 * 1024;
    QByteArray answer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                        QByteArray::number(size) + "\r\n\r\n" + QByteArray(size, ' ');
    connect(&server, &QLocalServer::newConnection, this, [&] {
        QLocalSocket* s = server.nextPendingConnection();
        s->write(answer);
    });
    Run r = dlbctl({"--socket", path, "--token-file", tokenFile(kAdmin), "config"});
    QVERIFY2(r.code == 5, describe(r).constData());
    QVERIFY2(r.err.contains("larger than 8388608 bytes"), r.err.constData());

    answer = "HTTP/1.1 200 OK\r\nX-Filler: " + QByteArray(20000, 'a') + "\r\nContent-Length: 2\r\n\r\n{}";
    r = dlbctl({"--socket", path, "--token-file", tokenFile(kAdmin), "config"});
    QVERIFY2(r.code == 5, describe(r).constData());
}

// A peer that accepts and never answers costs --timeout-ms, then exit 3.
void TestDlbctl::silentPeerTimesOut()
{
    QLocalServer server;
    const QString path = c_->path(QStringLiteral("silent.sock"));
    QVERIFY(server.listen(path));
    QElapsedTimer timer;
    timer.start();
    const Run r = dlbctl({"--socket", path, "--token-file", tokenFile(kAdmin), "--timeout-ms", "300", "status"});
    const qint64 took = timer.elapsed();
    QVERIFY2(r.code == 3, describe(r).constData());
    QVERIFY2(r.err.contains("no answer from the socket " + path.toLatin1() + " within 300 ms"), r.err.constData());
    QVERIFY2(took >= 300 && took < 5000, QByteArray::number(took).constData());
}

// A peer that answers and closes while dlbctl is still sending (the agent refusing a body
// over its 64 KiB limit does): dlbctl stops sending and reports the answer, not the broken
// pipe (it exited 3 with "Broken pipe" before).
void TestDlbctl::answerBeforeTheRequestIsSentIsRead()
{
    QLocalServer server;
    const QString path = c_->path(QStringLiteral("early.sock"));
    QVERIFY(server.listen(path));
    const QByteArray error = R"({"error":{"code":"body_too_large","message":"the body is over 64 KiB","path":""}})";
    const QByteArray answer = "HTTP/1.1 413 Content Too Large\r\nContent-Type: application/json\r\nContent-Length: " +
                              QByteArray::number(error.size()) + "\r\nConnection: close\r\n\r\n" + error;
    connect(&server, &QLocalServer::newConnection, this, [&] {
        QLocalSocket* s = server.nextPendingConnection();
        s->write(answer);
        s->flush();
        s->abort(); // closed without reading: dlbctl's send fails
    });
    // About 2 MB of parameters: more than a socket buffer holds, so dlbctl is still sending.
    QStringList args{"--socket", path, "--token-file", tokenFile(kAdmin), "algorithm", "web", "prequal"};
    for (int i = 0; i < 100000; ++i)
        args << QStringLiteral("p%1=1").arg(i, 6, 10, QLatin1Char('0'));
    const Run r = dlbctl(args);
    QVERIFY2(r.code == 1, describe(r).left(2000).constData());
    QCOMPARE(r.err, QByteArray("dlbctl: the body is over 64 KiB (body_too_large)\n"));
}

// A token file written by `echo` ends with a newline: one is stripped and the token works.
void TestDlbctl::tokenFileTrailingNewlineIsStripped()
{
    QVERIFY2(start(), qPrintable(c_->error()));
    const Run r = dlbctl({"--socket", controlSocket(*c_), "--token-file", tokenFile(kAdmin + "\n"), "status"});
    QVERIFY2(r.code == 0, describe(r).constData());
}

void TestDlbctl::badTokenFilesAreUsageErrors_data()
{
    QTest::addColumn<QByteArray>("content"); // "MISSING": no file; "DIR": a directory
    QTest::addColumn<QString>("message");
    QTest::newRow("missing") << QByteArray("MISSING") << "cannot read the token file";
    QTest::newRow("a directory") << QByteArray("DIR") << "cannot read the token file";
    QTest::newRow("empty") << QByteArray("") << "is empty";
    QTest::newRow("only a newline") << QByteArray("\n") << "is empty";
    QTest::newRow("two newlines") << kAdmin + "\n\n" << "alone, on one line";
    QTest::newRow("CRLF") << kAdmin + "\r\n" << "carriage return";
    QTest::newRow("two lines") << kAdmin + "\n" + kViewer << "alone, on one line";
    QTest::newRow("a space") << "Bearer " + kAdmin << "alone, on one line";
    QTest::newRow("too big") << QByteArray(5000, 'a') << "over 4096 bytes";
}

void TestDlbctl::badTokenFilesAreUsageErrors()
{
    QFETCH(QByteArray, content);
    QFETCH(QString, message);
    QString path = c_->path(QStringLiteral("bad.token"));
    if (content == "DIR") {
        QVERIFY(QDir(c_->path({})).mkdir(QStringLiteral("bad.token")));
    } else if (content != "MISSING") {
        QFile f(path);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(content);
    }
    // No agent needed: the token is read before anything is sent.
    const Run r = dlbctl({"--socket", c_->path(QStringLiteral("none.sock")), "--token-file", path, "status"});
    QVERIFY2(r.code == 2, describe(r).constData());
    QVERIFY2(r.err.contains(message.toLatin1()), r.err.constData());
    QVERIFY2(!r.err.contains(kAdmin), "a token must never be printed");
}

QTEST_GUILESS_MAIN(TestDlbctl)
#include "tst_dlbctl.moc"
