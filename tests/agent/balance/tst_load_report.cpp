// The load-report parsers (load_report.hpp): probe answer bodies, ORCA endpoint-load-metrics in
// its TEXT and JSON forms, and X-Load. Table-driven: every accepted form with the values it
// yields, every rejected one with why; and none of them allocates.

#include "agent/balance/load_report.hpp"
#include "count_allocations.hpp"

#include <QtTest>

using namespace dlb::agent::balance;

namespace {

enum class Kind { Probe, Orca, XLoad };

bool parse(Kind kind, std::string_view text, ProbeResult* out)
{
    switch (kind) {
    case Kind::Probe: return parseProbeAnswer(text, out);
    case Kind::Orca: return parseOrcaLoadMetrics(text, out);
    case Kind::XLoad: return parseXLoad(text, out);
    }
    return false;
}

} // namespace

Q_DECLARE_METATYPE(Kind)

class TestLoadReport : public QObject {
    Q_OBJECT

private slots:
    void accepted_data();
    void accepted();
    void rejected_data();
    void rejected();
    void headerNames();
    void parsingAllocatesNothing();
};

void TestLoadReport::accepted_data()
{
    QTest::addColumn<Kind>("kind");
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<uint>("rif");
    QTest::addColumn<double>("latency");

    QTest::newRow("probe") << Kind::Probe << QByteArray(R"({"rif": 3, "latency_ms": 12.5})") << 3u << 12.5;
    QTest::newRow("probe seed names") << Kind::Probe
                                      << QByteArray(R"({"requestInFlight":7,"latency":0.25,"serverName":"a\"b"})")
                                      << 7u << 0.25;
    QTest::newRow("probe extra members skipped")
        << Kind::Probe << QByteArray(R"( {"x":[1,{"y":null},true,"s"],"rif":0,"latency_ms":1e1} )") << 0u << 10.0;
    QTest::newRow("probe whole float rif") << Kind::Probe << QByteArray(R"({"rif":4.0,"latency_ms":0})") << 4u << 0.0;
    QTest::newRow("dlb-replica's answer") << Kind::Probe
                                          << QByteArray("{\"rif\": 2, \"latency_ms\": 5.000, \"serverName\": \"r1\"}\n")
                                          << 2u << 5.0;
    QTest::newRow("orca text") << Kind::Orca << QByteArray("TEXT rif=3, named_metrics.latency_ms=12.5") << 3u << 12.5;
    QTest::newRow("orca text named rif, others skipped")
        << Kind::Orca << QByteArray("TEXT cpu_utilization=0.3,named_metrics.rif=9 , named_metrics.latency_ms=2")
        << 9u << 2.0;
    QTest::newRow("orca json") << Kind::Orca << QByteArray(R"(JSON {"rif": 3, "named_metrics": {"latency_ms": 12.5}})")
                               << 3u << 12.5;
    QTest::newRow("orca json camelCase") << Kind::Orca
                                         << QByteArray(R"(JSON {"cpuUtilization":0.5,"namedMetrics":{"rif":1,"latency_ms":3}})")
                                         << 1u << 3.0;
    QTest::newRow("x-load") << Kind::XLoad << QByteArray("rif=3, latency_ms=12.5") << 3u << 12.5;
    QTest::newRow("x-load reversed, tabs") << Kind::XLoad << QByteArray("latency_ms=0.125,\trif=0") << 0u << 0.125;
    QTest::newRow("x-load unknown key skipped") << Kind::XLoad << QByteArray("rif=1, latency_ms=2, cpu=0.5") << 1u << 2.0;
}

void TestLoadReport::accepted()
{
    QFETCH(Kind, kind);
    QFETCH(QByteArray, text);
    QFETCH(uint, rif);
    QFETCH(double, latency);
    ProbeResult out{99, 99};
    QVERIFY(parse(kind, std::string_view(text.constData(), static_cast<size_t>(text.size())), &out));
    QCOMPARE(out.rif, rif);
    QCOMPARE(out.latency_ms, latency);
}

void TestLoadReport::rejected_data()
{
    QTest::addColumn<Kind>("kind");
    QTest::addColumn<QByteArray>("text");

    QTest::newRow("probe empty") << Kind::Probe << QByteArray("");
    QTest::newRow("probe not an object") << Kind::Probe << QByteArray("[1,2]");
    QTest::newRow("probe no latency") << Kind::Probe << QByteArray(R"({"rif":1})");
    QTest::newRow("probe no rif") << Kind::Probe << QByteArray(R"({"latency_ms":1})");
    QTest::newRow("probe negative rif") << Kind::Probe << QByteArray(R"({"rif":-1,"latency_ms":1})");
    QTest::newRow("probe fractional rif") << Kind::Probe << QByteArray(R"({"rif":1.5,"latency_ms":1})");
    QTest::newRow("probe negative latency") << Kind::Probe << QByteArray(R"({"rif":1,"latency_ms":-0.5})");
    QTest::newRow("probe string number") << Kind::Probe << QByteArray(R"({"rif":"1","latency_ms":1})");
    QTest::newRow("probe duplicate") << Kind::Probe << QByteArray(R"({"rif":1,"requestInFlight":2,"latency_ms":1})");
    QTest::newRow("probe trailing bytes") << Kind::Probe << QByteArray(R"({"rif":1,"latency_ms":1} x)");
    QTest::newRow("probe trailing comma") << Kind::Probe << QByteArray(R"({"rif":1,"latency_ms":1,})");
    QTest::newRow("probe leading zero") << Kind::Probe << QByteArray(R"({"rif":01,"latency_ms":1})");
    QTest::newRow("probe plus sign") << Kind::Probe << QByteArray(R"({"rif":+1,"latency_ms":1})");
    QTest::newRow("probe bare dot") << Kind::Probe << QByteArray(R"({"rif":1,"latency_ms":.5})");
    QTest::newRow("probe nan") << Kind::Probe << QByteArray(R"({"rif":1,"latency_ms":NaN})");
    QTest::newRow("probe huge") << Kind::Probe << QByteArray(R"({"rif":1,"latency_ms":1e999})");
    QTest::newRow("probe rif too big") << Kind::Probe << QByteArray(R"({"rif":1e10,"latency_ms":1})");
    QTest::newRow("probe bad escape") << Kind::Probe << QByteArray(R"({"s":"\q","rif":1,"latency_ms":1})");
    QTest::newRow("probe raw control char") << Kind::Probe << QByteArray("{\"s\":\"a\tb\",\"rif\":1,\"latency_ms\":1}");
    QTest::newRow("probe unterminated") << Kind::Probe << QByteArray(R"({"rif":1,"latency_ms":1)");
    QTest::newRow("probe too deep") << Kind::Probe
                                    << QByteArray(R"({"a":[[[[[[[[[[1]]]]]]]]]],"rif":1,"latency_ms":1})");
    QTest::newRow("orca no prefix") << Kind::Orca << QByteArray("rif=3, named_metrics.latency_ms=1");
    QTest::newRow("orca lower-case prefix") << Kind::Orca << QByteArray("text rif=3, named_metrics.latency_ms=1");
    QTest::newRow("orca bin") << Kind::Orca << QByteArray("BIN CgQIARAB");
    QTest::newRow("orca text no latency") << Kind::Orca << QByteArray("TEXT rif=3, cpu_utilization=0.5");
    QTest::newRow("orca text bare latency_ms") << Kind::Orca << QByteArray("TEXT rif=3, latency_ms=1");
    QTest::newRow("orca text duplicate rif") << Kind::Orca << QByteArray("TEXT rif=3, named_metrics.rif=3, named_metrics.latency_ms=1");
    QTest::newRow("orca text space around =") << Kind::Orca << QByteArray("TEXT rif = 3, named_metrics.latency_ms=1");
    QTest::newRow("orca text empty element") << Kind::Orca << QByteArray("TEXT rif=3,, named_metrics.latency_ms=1");
    QTest::newRow("orca text trailing comma") << Kind::Orca << QByteArray("TEXT rif=3, named_metrics.latency_ms=1,");
    QTest::newRow("orca json latency at top") << Kind::Orca << QByteArray(R"(JSON {"rif":3,"latency_ms":1})");
    QTest::newRow("orca json named not object") << Kind::Orca << QByteArray(R"(JSON {"rif":3,"named_metrics":1})");
    QTest::newRow("orca json trailing") << Kind::Orca << QByteArray(R"(JSON {"rif":3,"named_metrics":{"latency_ms":1}}})");
    QTest::newRow("x-load empty") << Kind::XLoad << QByteArray("");
    QTest::newRow("x-load no latency") << Kind::XLoad << QByteArray("rif=3");
    QTest::newRow("x-load unit suffix") << Kind::XLoad << QByteArray("rif=3, latency_ms=12ms");
    QTest::newRow("x-load semicolons") << Kind::XLoad << QByteArray("rif=3; latency_ms=12");
    QTest::newRow("x-load hex") << Kind::XLoad << QByteArray("rif=0x3, latency_ms=12");
    QTest::newRow("x-load inf") << Kind::XLoad << QByteArray("rif=3, latency_ms=inf");
    QTest::newRow("x-load duplicate") << Kind::XLoad << QByteArray("rif=3, rif=4, latency_ms=1");
}

void TestLoadReport::rejected()
{
    QFETCH(Kind, kind);
    QFETCH(QByteArray, text);
    ProbeResult out{99, 99};
    QVERIFY(!parse(kind, std::string_view(text.constData(), static_cast<size_t>(text.size())), &out));
    // Rejected as a whole: nothing was half-written.
    QCOMPARE(out.rif, 99u);
    QCOMPARE(out.latency_ms, 99.0);
}

void TestLoadReport::headerNames()
{
    QVERIFY(isLoadReportHeader("endpoint-load-metrics"));
    QVERIFY(isLoadReportHeader("Endpoint-Load-Metrics"));
    QVERIFY(isLoadReportHeader("X-Load"));
    QVERIFY(!isLoadReportHeader("X-Loads"));
    QVERIFY(!isLoadReportHeader("x-load-metrics"));
}

void TestLoadReport::parsingAllocatesNothing()
{
    ProbeResult out;
    const long before = g_allocations.load();
    for (int i = 0; i < 1000; ++i) {
        QVERIFY(parseProbeAnswer(R"({"x":[1,{"y":"z"}],"rif":3,"latency_ms":12.5,"serverName":"a"})", &out));
        QVERIFY(parseOrcaLoadMetrics("TEXT rif=3, named_metrics.latency_ms=12.5", &out));
        QVERIFY(parseOrcaLoadMetrics(R"(JSON {"rif":3,"named_metrics":{"latency_ms":12.5}})", &out));
        QVERIFY(parseXLoad("rif=3, latency_ms=12.5", &out));
    }
    QCOMPARE(g_allocations.load(), before);
}

QTEST_APPLESS_MAIN(TestLoadReport)
#include "tst_load_report.moc"
