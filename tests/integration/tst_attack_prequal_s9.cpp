// The operator's side of issue 7's latency_tolerance: a value JSON can write but a double cannot
// hold (1e400) must be a config error like any out-of-range value, through `dlb-agent --check`
// and through a SIGHUP reload of a running agent. nlohmann's parser throws json::out_of_range
// (406, "number overflow") for it, which the config reader does not catch (the unit side is
// tests/agent/balance/tst_attack_prequal_s9.cpp, overflowingNumberInConfigFileIsAnError).

#include "control_fixture.hpp"
#include "harness.hpp"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QtTest>

#include <csignal>

using namespace dlb::test;

namespace {

// A value QJson writes exactly, replaced in the text by the one under test.
constexpr auto kPlaceholder = "7.25";

// Runs dlb-agent to completion with `args`.
ProcessRun runAgent(const QStringList& args)
{
    return runToCompletion(binPath(QStringLiteral("dlb-agent")), args);
}

} // namespace

class TestAttackPrequalS9 : public QObject {
    Q_OBJECT

private slots:
    void init();
    void cleanup();

    void checkRejectsOverflowingTolerance_data();
    void checkRejectsOverflowingTolerance();
    void sighupWithOverflowingToleranceKeepsServing();
    void controlApiRefusesBadToleranceChangingNothing_data();
    void controlApiRefusesBadToleranceChangingNothing();
    void controlApiAppliesToleranceEdges();

private:
    QJsonObject prequalConfig(quint16 replica_port);
    bool writeWith(const QJsonObject& cfg, const QByteArray& tolerance);
    bool servedBy(const QByteArray& name);
    std::unique_ptr<Cluster> c_;
};

void TestAttackPrequalS9::init()
{
    c_ = std::make_unique<Cluster>();
}

void TestAttackPrequalS9::cleanup()
{
    const int exitCode = c_->stopAgent();
    checkAgentExit(*c_, exitCode);
}

QJsonObject TestAttackPrequalS9::prequalConfig(quint16 replica_port)
{
    QJsonObject cfg = c_->config({replica_port});
    setJson(cfg, {QStringLiteral("pools"), QStringLiteral("0"), QStringLiteral("algorithm")},
            QJsonObject{{QStringLiteral("name"), QStringLiteral("prequal")},
                        {QStringLiteral("latency_tolerance"), 7.25}});
    return cfg;
}

// Writes `cfg` with latency_tolerance's value spelt `tolerance`, as an operator would type it.
bool TestAttackPrequalS9::writeWith(const QJsonObject& cfg, const QByteArray& tolerance)
{
    QByteArray text = QJsonDocument(cfg).toJson();
    const QByteArray key = QByteArrayLiteral("\"latency_tolerance\": ") + kPlaceholder;
    if (text.count(key) != 1)
        return false;
    text.replace(key, QByteArrayLiteral("\"latency_tolerance\": ") + tolerance);
    QFile f(c_->configPath());
    if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate))
        return false;
    return f.write(text) == text.size();
}

bool TestAttackPrequalS9::servedBy(const QByteArray& name)
{
    const auto r = fetch(c_->port(), getRequest("/who"));
    return r && r->status == 200 && r->header("X-Replica") == name;
}

// --check exits 1 with a message, as for any bad value; it ended in std::terminate (exit 134).
void TestAttackPrequalS9::checkRejectsOverflowingTolerance_data()
{
    QTest::addColumn<QByteArray>("value");
    QTest::newRow("1e400") << QByteArray("1e400");
    QTest::newRow("-1e400") << QByteArray("-1e400");
}

void TestAttackPrequalS9::checkRejectsOverflowingTolerance()
{
    QFETCH(QByteArray, value);
    QVERIFY(writeWith(prequalConfig(8080), value));
    const ProcessRun r = runAgent({QStringLiteral("--check"), QStringLiteral("--config"), c_->configPath()});
    QVERIFY2(!r.crashed, r.err.constData());
    QCOMPARE(r.exitCode, 1);
    QVERIFY2(r.err.contains("number overflow"), r.err.constData());
    QVERIFY2(!r.err.contains("terminate called"), r.err.constData());
}

// A running agent given such a file on SIGHUP refuses it and keeps serving; it died.
void TestAttackPrequalS9::sighupWithOverflowingToleranceKeepsServing()
{
    const quint16 r1 = c_->startReplica(QStringLiteral("r1"));
    QVERIFY2(r1, qPrintable(c_->error()));
    const QJsonObject cfg = prequalConfig(r1);
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));
    QVERIFY(servedBy("r1"));
    QVERIFY(writeWith(cfg, "1e400"));
    const qsizetype mark = c_->agent().logMark();
    c_->agent().signal(SIGHUP);
    QVERIFY2(c_->agent().waitForLog("reload rejected", mark), c_->agentLog().constData());
    QVERIFY2(c_->agent().running(), c_->agentLog().constData());
    for (int i = 0; i < 3; ++i)
        QVERIFY(servedBy("r1"));
}

// PUT /v1/pools/web/algorithm with a bad latency_tolerance: 400 naming what is wrong, and the
// running config, the pools and the file exactly as they were (nothing lost). A number that
// overflows a double is bad JSON (as for the config file); it was answered 500 internal_error,
// the connection's catch-all, for the client's mistake.
void TestAttackPrequalS9::controlApiRefusesBadToleranceChangingNothing_data()
{
    QTest::addColumn<QByteArray>("value");
    QTest::addColumn<QString>("code");
    QTest::addColumn<QString>("errorPath");
    QTest::newRow("1e400") << QByteArray("1e400") << "invalid_json" << "";
    QTest::newRow("negative") << QByteArray("-1") << "invalid_value" << "params.latency_tolerance";
    QTest::newRow("above 10") << QByteArray("10.5") << "invalid_value" << "params.latency_tolerance";
    QTest::newRow("NaN string") << QByteArray("\"NaN\"") << "invalid_value" << "params.latency_tolerance";
    QTest::newRow("null") << QByteArray("null") << "invalid_value" << "params.latency_tolerance";
}

// controlState() without what a live replica changes on its own between two reads: its probe
// answers (rif, latency_ms) and its counters. Under TSan a probe answer arrived between the
// two snapshots and turned rif from null into a number.
static QJsonObject withoutLiveStats(QJsonObject state)
{
    QJsonObject pools = state[QStringLiteral("/v1/pools")].toObject();
    QJsonArray list = pools[QStringLiteral("pools")].toArray();
    for (qsizetype i = 0; i < list.size(); ++i) {
        QJsonObject pool = list[i].toObject();
        QJsonArray replicas = pool[QStringLiteral("replicas")].toArray();
        for (qsizetype j = 0; j < replicas.size(); ++j) {
            QJsonObject r = replicas[j].toObject();
            for (const char* live : {"rif", "latency_ms", "requests", "errors", "in_flight"})
                r.remove(QLatin1String(live));
            replicas[j] = r;
        }
        pool[QStringLiteral("replicas")] = replicas;
        list[i] = pool;
    }
    pools[QStringLiteral("pools")] = list;
    state[QStringLiteral("/v1/pools")] = pools;
    return state;
}

void TestAttackPrequalS9::controlApiRefusesBadToleranceChangingNothing()
{
    QFETCH(QByteArray, value);
    QFETCH(QString, code);
    QFETCH(QString, errorPath);
    const quint16 r1 = c_->startReplica(QStringLiteral("r1"));
    QVERIFY2(r1, qPrintable(c_->error()));
    QJsonObject cfg = controlConfig(*c_, {r1});
    setJson(cfg, {QStringLiteral("pools"), QStringLiteral("0"), QStringLiteral("algorithm")},
            QJsonObject{{QStringLiteral("name"), QStringLiteral("prequal")},
                        {QStringLiteral("latency_tolerance"), 7.25}});
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));
    const QJsonObject before = withoutLiveStats(controlState(*c_));
    QVERIFY(!before["/v1/pools"].toObject().isEmpty());
    const auto r = controlCall(*c_, "PUT", "/v1/pools/web/algorithm", kAdmin,
                               R"({"name": "prequal", "params": {"latency_tolerance": )" + value + "}}");
    QVERIFY2(r, "no answer");
    QVERIFY2(r->status == 400, r->body.constData());
    const QJsonObject error = jsonBody(*r)["error"].toObject();
    QCOMPARE(error["code"].toString(), code);
    QCOMPARE(error["path"].toString(), errorPath);
    QVERIFY(!error["message"].toString().isEmpty());
    const QString diff = firstDifference(before, withoutLiveStats(controlState(*c_)));
    QVERIFY2(diff.isEmpty(), qPrintable("changed: " + diff));
    QVERIFY(servedBy("r1"));
}

// 0 and 10, the range's ends, are applied and read back; requests keep flowing.
void TestAttackPrequalS9::controlApiAppliesToleranceEdges()
{
    const quint16 r1 = c_->startReplica(QStringLiteral("r1"));
    QVERIFY2(r1, qPrintable(c_->error()));
    QVERIFY2(c_->startAgent(controlConfig(*c_, {r1})), qPrintable(c_->error()));
    for (const QByteArray& value : {QByteArray("0"), QByteArray("10")}) {
        const auto r = controlCall(*c_, "PUT", "/v1/pools/web/algorithm", kAdmin,
                                   R"({"name": "prequal", "params": {"latency_tolerance": )" + value + "}}");
        QVERIFY2(r && r->status == 200, r ? r->body.constData() : "no answer");
        const auto config = controlCall(*c_, "GET", "/v1/config");
        QVERIFY(config && config->status == 200);
        const QJsonObject running = jsonBody(*config)["config"].toObject();
        const QJsonValue got =
            running["pools"].toArray().at(0)["algorithm"].toObject()["latency_tolerance"];
        QVERIFY2(got.isDouble() && got.toDouble() == value.toDouble(), config->body.constData());
        QVERIFY(servedBy("r1"));
    }
}

QTEST_GUILESS_MAIN(TestAttackPrequalS9)
#include "tst_attack_prequal_s9.moc"
