// The algorithm parameter tables: the one source of truth the agent and the console validate
// against, so every range, default and message is pinned here.
#include "common/algorithm_params.hpp"

#include <QtTest>

#include <cmath>
#include <limits>

using namespace dlb::common;

namespace {

QString q(std::string_view text) { return QString::fromUtf8(text.data(), qsizetype(text.size())); }

} // namespace

class TestAlgorithmParams : public QObject {
    Q_OBJECT

private slots:
    void listsAlgorithmsInDocumentedOrder();
    void specTable_data();
    void specTable();
    void parameterCounts_data();
    void parameterCounts();
    void onlyConsistentHashingUsesHashKey();
    void everyDefaultIsValid();
    void unknownNamesAreNotFound();
    void defaultAlgorithmFillsEveryParameter();
    void paramFallsBackToSpecDefault();
    void checkParam_data();
    void checkParam();
    void parseHashKey_data();
    void parseHashKey();
    void formatNumber_data();
    void formatNumber();
};

// The console and the docs list algorithms in this order.
void TestAlgorithmParams::listsAlgorithmsInDocumentedOrder() {
    QStringList names;
    for (const AlgorithmSpec& algo : algorithms()) {
        names << q(algo.name);
        QVERIFY2(!algo.summary.empty(), qPrintable(q(algo.name)));
    }
    const QStringList expected{"prequal", "round_robin", "weighted_round_robin",
                               "least_request", "power_of_d", "random",
                               "ip_hash", "ring_hash", "maglev"};
    QCOMPARE(names, expected);
}

void TestAlgorithmParams::specTable_data() {
    QTest::addColumn<QString>("algorithm");
    QTest::addColumn<QString>("param");
    QTest::addColumn<double>("min");
    QTest::addColumn<double>("max");
    QTest::addColumn<double>("def");
    QTest::addColumn<bool>("integer");
    QTest::addColumn<bool>("minExclusive");

    const auto row = [](const char* algo, const char* param, double min, double max, double def,
                        bool integer, bool exclusive) {
        QTest::addRow("%s.%s", algo, param) << algo << param << min << max << def << integer
                                            << exclusive;
    };
    row("prequal", "probe_rate", 0, 16, 3, false, false);
    row("prequal", "pool_size", 1, 256, 16, true, false);
    row("prequal", "q_rif", 0, 1, 0.84, false, false);
    row("prequal", "max_age_ms", 1, 60000, 1000, true, false);
    row("prequal", "remove_rate", 0, 16, 1, false, false);
    row("prequal", "delta", 0, 100, 1, false, true);
    row("prequal", "idle_probe_rate", 0, 1000, 10, false, false);
    row("prequal", "max_probes_per_replica_s", 1, 100000, 1000, false, false);
    row("prequal", "error_penalty", 0, 1000, 4, false, false);
    row("prequal", "probe_fresh_ms", 0, 60000, 20, false, false);
    row("prequal", "probe_cost_budget", 0, 16, 0.02, false, false);
    row("prequal", "latency_tolerance", 0, 10, 1, false, false);
    row("least_request", "choice_count", 2, 16, 2, true, false);
    row("least_request", "active_request_bias", 0, 10, 1, false, false);
    row("power_of_d", "d", 1, 64, 2, true, false);
    row("ring_hash", "min_ring_size", 64, 8388608, 1024, true, false);
    row("ring_hash", "max_ring_size", 64, 8388608, 8388608, true, false);
    row("maglev", "table_size", 1, 65537, 65537, true, false);
}

// Each parameter has exactly the documented range, default and kind.
void TestAlgorithmParams::specTable() {
    QFETCH(QString, algorithm);
    QFETCH(QString, param);
    const AlgorithmSpec* algo = findAlgorithm(algorithm.toStdString());
    QVERIFY(algo);
    const ParamSpec* spec = findParam(*algo, param.toStdString());
    QVERIFY(spec);
    QCOMPARE(q(spec->name), param);
    QTEST(spec->min, "min");
    QTEST(spec->max, "max");
    QTEST(spec->def, "def");
    QTEST(spec->integer, "integer");
    QTEST(spec->min_exclusive, "minExclusive");
    QVERIFY(!spec->help.empty());
}

void TestAlgorithmParams::parameterCounts_data() {
    QTest::addColumn<QString>("algorithm");
    QTest::addColumn<int>("count");
    QTest::newRow("prequal") << "prequal" << 12;
    QTest::newRow("round_robin") << "round_robin" << 0;
    QTest::newRow("weighted_round_robin") << "weighted_round_robin" << 0;
    QTest::newRow("least_request") << "least_request" << 2;
    QTest::newRow("power_of_d") << "power_of_d" << 1;
    QTest::newRow("random") << "random" << 0;
    QTest::newRow("ip_hash") << "ip_hash" << 0;
    QTest::newRow("ring_hash") << "ring_hash" << 2;
    QTest::newRow("maglev") << "maglev" << 1;
}

// No algorithm carries a parameter the spec table above does not pin.
void TestAlgorithmParams::parameterCounts() {
    QFETCH(QString, algorithm);
    const AlgorithmSpec* algo = findAlgorithm(algorithm.toStdString());
    QVERIFY(algo);
    QTEST(int(algo->params.size()), "count");
}

// ip_hash always hashes the client address, so only ring_hash and maglev read hash_key.
void TestAlgorithmParams::onlyConsistentHashingUsesHashKey() {
    QStringList hashed;
    for (const AlgorithmSpec& algo : algorithms()) {
        if (algo.uses_hash_key) {
            hashed << q(algo.name);
        }
    }
    QCOMPARE(hashed, (QStringList{"ring_hash", "maglev"}));
}

// A default that fails its own check would make every default config invalid.
void TestAlgorithmParams::everyDefaultIsValid() {
    for (const AlgorithmSpec& algo : algorithms()) {
        for (const ParamSpec& spec : algo.params) {
            const std::string why = dlb::common::checkParam(spec, spec.def);
            QVERIFY2(why.empty(), qPrintable(q(algo.name) + "." + q(spec.name) + ": " + q(why)));
        }
    }
}

void TestAlgorithmParams::unknownNamesAreNotFound() {
    QVERIFY(!findAlgorithm("fastest"));
    QVERIFY(!findAlgorithm("Prequal")); // names are case-sensitive
    QVERIFY(!findParam(*findAlgorithm("prequal"), "choice_count"));
    QVERIFY(!findParam(*findAlgorithm("round_robin"), "d"));
    QVERIFY(!defaultAlgorithm("fastest"));
}

void TestAlgorithmParams::defaultAlgorithmFillsEveryParameter() {
    for (const AlgorithmSpec& algo : algorithms()) {
        const auto config = defaultAlgorithm(algo.name);
        QVERIFY(config);
        QCOMPARE(q(config->name), q(algo.name));
        QCOMPARE(config->params.size(), algo.params.size());
        for (const ParamSpec& spec : algo.params) {
            QCOMPARE(config->params.at(std::string(spec.name)), spec.def);
        }
        QCOMPARE(q(toString(config->hash_key)), QStringLiteral("client"));
    }
}

void TestAlgorithmParams::paramFallsBackToSpecDefault() {
    AlgorithmConfig config;
    config.name = "prequal";
    config.params["q_rif"] = 0.5;
    QCOMPARE(config.param("q_rif"), 0.5);
    QCOMPARE(config.param("pool_size"), 16.0);   // absent: the spec default
    QCOMPARE(config.param("choice_count"), 0.0); // not a prequal parameter
    config.name = "no_such_algorithm";
    QCOMPARE(config.param("pool_size"), 0.0);
}

void TestAlgorithmParams::checkParam_data() {
    QTest::addColumn<QString>("algorithm");
    QTest::addColumn<QString>("param");
    QTest::addColumn<double>("value");
    QTest::addColumn<QString>("reason");

    QTest::newRow("in range") << "prequal" << "q_rif" << 0.5 << "";
    QTest::newRow("closed min") << "prequal" << "q_rif" << 0.0 << "";
    QTest::newRow("closed max") << "prequal" << "q_rif" << 1.0 << "";
    QTest::newRow("above max") << "prequal" << "q_rif" << 1.7 << "must be in [0,1], got 1.7";
    QTest::newRow("below min") << "prequal" << "q_rif" << -0.25 << "must be in [0,1], got -0.25";
    QTest::newRow("exclusive min") << "prequal" << "delta" << 0.0 << "must be in (0,100], got 0";
    QTest::newRow("just above exclusive min") << "prequal" << "delta" << 0.001 << "";
    QTest::newRow("exclusive max is closed") << "prequal" << "delta" << 100.0 << "";
    QTest::newRow("fraction in integer") << "prequal" << "pool_size" << 2.5
                                         << "must be a whole number, got 2.5";
    QTest::newRow("negative integer") << "prequal" << "pool_size" << -1.0
                                      << "must be in [1,256], got -1";
    QTest::newRow("fraction allowed") << "prequal" << "probe_rate" << 1.5 << "";
    QTest::newRow("big range") << "ring_hash" << "max_ring_size" << 8388609.0
                               << "must be in [64,8388608], got 8388609";
    QTest::newRow("prime table") << "maglev" << "table_size" << 65521.0 << "";
    QTest::newRow("small prime table") << "maglev" << "table_size" << 2.0 << "";
    QTest::newRow("composite table") << "maglev" << "table_size" << 65536.0
                                     << "must be a prime number, got 65536";
    QTest::newRow("one is not prime") << "maglev" << "table_size" << 1.0
                                      << "must be a prime number, got 1";
    QTest::newRow("too big table") << "maglev" << "table_size" << 65539.0
                                   << "must be in [1,65537], got 65539";
    QTest::newRow("choice_count 1") << "least_request" << "choice_count" << 1.0
                                    << "must be in [2,16], got 1";
    QTest::newRow("nan") << "prequal" << "q_rif" << std::numeric_limits<double>::quiet_NaN()
                         << "must be in [0,1], got nan";
    QTest::newRow("infinity") << "prequal" << "error_penalty"
                              << std::numeric_limits<double>::infinity()
                              << "must be in [0,1000], got inf";
}

// The exact reason text, since it reaches users as "pools[0].algorithm.q_rif: <reason>".
void TestAlgorithmParams::checkParam() {
    QFETCH(QString, algorithm);
    QFETCH(QString, param);
    QFETCH(double, value);
    const ParamSpec* spec = findParam(*findAlgorithm(algorithm.toStdString()), param.toStdString());
    QVERIFY(spec);
    QTEST(q(dlb::common::checkParam(*spec, value)), "reason");
}

void TestAlgorithmParams::parseHashKey_data() {
    QTest::addColumn<QString>("text");
    QTest::addColumn<bool>("valid");
    QTest::addColumn<int>("kind");
    QTest::addColumn<QString>("header");
    QTest::addColumn<QString>("canonical");

    const int client = int(HashKey::Kind::Client);
    const int path = int(HashKey::Kind::Path);
    const int header = int(HashKey::Kind::Header);
    QTest::newRow("client") << "client" << true << client << "" << "client";
    QTest::newRow("path") << "path" << true << path << "" << "path";
    QTest::newRow("header") << "header:x-user" << true << header << "x-user" << "header:x-user";
    QTest::newRow("header lower-cased") << "header:X-User-ID" << true << header << "x-user-id"
                                        << "header:x-user-id";
    QTest::newRow("header token chars") << "header:X_a.b~c!" << true << header << "x_a.b~c!"
                                        << "header:x_a.b~c!";
    QTest::newRow("empty") << "" << false << 0 << "" << "";
    QTest::newRow("upper-case kind") << "Client" << false << 0 << "" << "";
    QTest::newRow("header without name") << "header:" << false << 0 << "" << "";
    QTest::newRow("header with space") << "header:x user" << false << 0 << "" << "";
    QTest::newRow("header with colon") << "header:x:y" << false << 0 << "" << "";
    QTest::newRow("header with leading space") << "header: x" << false << 0 << "" << "";
    QTest::newRow("cookie") << "cookie:session" << false << 0 << "" << "";
    QTest::newRow("trailing space") << "path " << false << 0 << "" << "";
}

void TestAlgorithmParams::parseHashKey() {
    QFETCH(QString, text);
    QFETCH(bool, valid);
    const auto key = dlb::common::parseHashKey(text.toStdString());
    QCOMPARE(key.has_value(), valid);
    if (!key) {
        return;
    }
    QTEST(int(key->kind), "kind");
    QTEST(q(key->header), "header");
    QTEST(q(toString(*key)), "canonical");
    QCOMPARE(dlb::common::parseHashKey(toString(*key)), key); // the canonical form reads back
}

void TestAlgorithmParams::formatNumber_data() {
    QTest::addColumn<double>("value");
    QTest::addColumn<QString>("text");
    QTest::newRow("zero") << 0.0 << "0";
    QTest::newRow("whole") << 65537.0 << "65537";
    QTest::newRow("million") << 1000000.0 << "1000000";
    QTest::newRow("negative") << -1.0 << "-1";
    QTest::newRow("fraction") << 1.7 << "1.7";
    QTest::newRow("default q_rif") << 0.84 << "0.84";
    QTest::newRow("tiny") << 1e-9 << "1e-09";
    QTest::newRow("huge") << 1e300 << "1e+300";
}

void TestAlgorithmParams::formatNumber() {
    QFETCH(double, value);
    QTEST(q(dlb::common::formatNumber(value)), "text");
}

QTEST_APPLESS_MAIN(TestAlgorithmParams)
#include "tst_algorithm_params.moc"
