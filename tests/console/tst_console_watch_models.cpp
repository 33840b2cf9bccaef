// The Dashboard's and Agents page's models, each under QAbstractItemModelTester: the time
// series ring (history, the window, appending past its capacity), the replica table (values in
// place, a replica added, history points keeping the live-only fields), the agents list.
#include "models/agents_model.hpp"
#include "models/replica_table.hpp"
#include "models/time_series.hpp"

#include <QAbstractItemModelTester>
#include <QSignalSpy>
#include <QtTest>

using namespace dlb::console;
using dlb::console::client::ConnectionState;

namespace {

constexpr double kT0 = 1796250000.0;

// A point in the history form (full=false) or the /v1/stats form (full=true), with `replicas`
// replicas of pool "web".
QJsonObject point(quint64 id, int replicas = 2, bool full = false)
{
    QJsonArray rs;
    for (int i = 0; i < replicas; ++i) {
        QJsonObject r{{"id", QStringLiteral("127.0.0.1:%1").arg(9000 + i)},
                      {"in_flight", i},
                      {"latency_ms", QJsonObject{{"p50", 1.5 + i}, {"p99", 4.0 + i}}},
                      {"prequal", QJsonObject{{"standing", i % 2 ? "hot" : "cold"}}},
                      {"requests_per_s", 100.0 * (i + 1)},
                      {"errors_per_s", 0.0},
                      {"rif", i == 0 ? QJsonValue() : QJsonValue(double(i))},
                      {"share", 1.0 / replicas}};
        if (full) {
            r["state"] = i == 1 ? "unhealthy" : "healthy";
            r["weight"] = i + 1;
            r["url"] = QStringLiteral("http://127.0.0.1:%1").arg(9000 + i);
        }
        rs.append(r);
    }
    QJsonObject o{{"id", double(id)},
                  {"time", kT0 + double(id)},
                  {"in_flight", 3},
                  {"latency_ms", QJsonObject{{"p50", 1.0}, {"p99", 9.5}}},
                  {"rates", QJsonObject{{"requests_per_s", 10.0 * double(id)}, {"errors_per_s", 0.5}}},
                  {"pools", QJsonArray{QJsonObject{{"name", "web"}, {"replicas", rs}}}}};
    if (full)
        o["totals"] = QJsonObject{};
    return o;
}

QJsonArray history(quint64 from, quint64 to)
{
    QJsonArray a;
    for (quint64 id = from; id <= to; ++id)
        a.append(point(id));
    return a;
}

} // namespace

class TstConsoleWatchModels : public QObject {
    Q_OBJECT
private slots:
    void parsesBothForms();
    void seriesWindow();
    void seriesRingPastCapacity();
    void seriesRefusesOlderPoints();
    void historyMergesOutOfOrderPoints();
    void replicaTable();
    void agentsModel();
};

void TstConsoleWatchModels::parsesBothForms()
{
    const StatsPoint h = parseStatsPoint(point(5));
    QCOMPARE(h.id, quint64(5));
    QVERIFY(!h.full);
    QCOMPARE(h.requestsPerS, 50.0);
    QCOMPARE(h.p99, 9.5);
    QCOMPARE(h.replicas.size(), 2);
    QVERIFY(std::isnan(h.replicas[0].rif)); // null: not reported
    QCOMPARE(h.replicas[1].rif, 1.0);
    QCOMPARE(h.replicas[1].standing, QStringLiteral("hot"));
    const StatsPoint f = parseStatsPoint(point(6, 2, true));
    QVERIFY(f.full);
    QCOMPARE(f.replicas[1].state, QStringLiteral("unhealthy"));
    QCOMPARE(f.replicas[1].weight, 2);
    // A sample with no answer in its second: latency null.
    QJsonObject none = point(7);
    none["latency_ms"] = QJsonValue();
    QVERIFY(std::isnan(parseStatsPoint(none).p50));
}

void TstConsoleWatchModels::seriesWindow()
{
    TimeSeriesModel m;
    QAbstractItemModelTester tester(&m, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QCOMPARE(m.windowSeconds(), 300);
    m.setHistory(history(1, 600));
    QCOMPARE(m.heldCount(), 600);
    QCOMPARE(m.rowCount(), 300); // times 301..600 lie within 300 s of 600
    QCOMPARE(m.point(0).id, quint64(301));
    QCOMPARE(m.point(m.rowCount() - 1).id, quint64(600));
    m.setWindowSeconds(60);
    QCOMPARE(m.rowCount(), 60);
    m.setWindowSeconds(900);
    QCOMPARE(m.rowCount(), 600);
    m.setWindowSeconds(60);
    QSignalSpy appended(&m, &TimeSeriesModel::appended);
    m.append(parseStatsPoint(point(601)));
    QCOMPARE(m.rowCount(), 60);
    QCOMPARE(appended.size(), 1);
    QCOMPARE(appended.at(0).at(0).toInt(), 1); // one dropped at the front
    QCOMPARE(m.point(0).id, quint64(542));
    QCOMPARE(m.data(m.index(59, TimeSeriesModel::RequestsPerS)).toDouble(), 6010.0);
    QCOMPARE(m.data(m.index(59, TimeSeriesModel::LatencyP99)).toDouble(), 9.5);
}

// The ring holds kSeriesCapacity points, allocated once; the 901st pushes the oldest out.
void TstConsoleWatchModels::seriesRingPastCapacity()
{
    TimeSeriesModel m;
    QAbstractItemModelTester tester(&m, QAbstractItemModelTester::FailureReportingMode::QtTest);
    m.setWindowSeconds(900);
    m.setHistory(history(1, 1000)); // only the newest 900 are kept
    QCOMPARE(m.heldCount(), kSeriesCapacity);
    QCOMPARE(m.point(0).id, quint64(101));
    QCOMPARE(m.rowCount(), 900);
    for (quint64 id = 1001; id <= 1100; ++id)
        m.append(parseStatsPoint(point(id, 1)));
    QCOMPARE(m.heldCount(), kSeriesCapacity);
    QCOMPARE(m.rowCount(), 900);
    QCOMPARE(m.point(0).id, quint64(201));
    QCOMPARE(m.point(899).id, quint64(1100));
    m.clear();
    QCOMPARE(m.rowCount(), 0);
}

void TstConsoleWatchModels::seriesRefusesOlderPoints()
{
    TimeSeriesModel m;
    QAbstractItemModelTester tester(&m, QAbstractItemModelTester::FailureReportingMode::QtTest);
    m.setHistory(history(1, 10));
    m.append(parseStatsPoint(point(10))); // a replay overlap
    m.append(parseStatsPoint(point(3)));
    QCOMPARE(m.rowCount(), 10);
    m.append(parseStatsPoint(point(11)));
    QCOMPARE(m.rowCount(), 11);
}

// A history whose points came out of order is merged by time, not cut down to the points that
// happened to be in order (before: ids 3 and 2 below were dropped, leaving a hole).
void TstConsoleWatchModels::historyMergesOutOfOrderPoints()
{
    TimeSeriesModel m;
    QAbstractItemModelTester tester(&m, QAbstractItemModelTester::FailureReportingMode::QtTest);
    m.setWindowSeconds(900);
    QJsonArray h;
    for (quint64 id : {1, 4, 3, 2, 5, 6})
        h.append(point(id));
    QJsonObject again = point(4); // the same second twice: the higher id stays
    again["id"] = 7.0;
    h.append(again);
    m.setHistory(h);
    QCOMPARE(m.heldCount(), 6);
    QCOMPARE(m.rowCount(), 6);
    const QList<quint64> ids{1, 2, 3, 7, 5, 6};
    for (int row = 0; row < m.rowCount(); ++row) {
        QCOMPARE(m.point(row).id, ids.at(row));
        if (row > 0)
            QVERIFY(m.point(row).time > m.point(row - 1).time);
    }
    // Past the capacity, the newest by time are kept, whatever their order in the answer.
    QJsonArray big;
    for (quint64 id = kSeriesCapacity + 100; id >= 1; --id)
        big.append(point(id, 1));
    m.setHistory(big);
    QCOMPARE(m.heldCount(), kSeriesCapacity);
    QCOMPARE(m.point(0).id, quint64(101));
    QCOMPARE(m.point(kSeriesCapacity - 1).id, quint64(kSeriesCapacity + 100));
}

void TstConsoleWatchModels::replicaTable()
{
    ReplicaTableModel m;
    QAbstractItemModelTester tester(&m, QAbstractItemModelTester::FailureReportingMode::QtTest);
    m.update(parseStatsPoint(point(1, 2, true)));
    QCOMPARE(m.rowCount(), 2);
    QCOMPARE(m.data(m.index(1, ReplicaTableModel::State)).toString(), QStringLiteral("unhealthy"));
    QCOMPARE(m.data(m.index(0, ReplicaTableModel::Rif)).toString(), QStringLiteral("—"));
    QCOMPARE(m.data(m.index(0, ReplicaTableModel::Rif), ReplicaTableModel::SortRole).toDouble(), -1.0);
    QCOMPARE(m.data(m.index(1, ReplicaTableModel::Share)).toString(), QStringLiteral("50.0%"));
    QCOMPARE(m.data(m.index(1, ReplicaTableModel::Standing)).toString(), QStringLiteral("hot"));
    QCOMPARE(m.data(m.index(0, ReplicaTableModel::LatencyP99)).toString(), QStringLiteral("4.00"));
    // Same replicas: values change in place, no reset.
    QSignalSpy resets(&m, &QAbstractItemModel::modelReset);
    QSignalSpy changed(&m, &QAbstractItemModel::dataChanged);
    m.update(parseStatsPoint(point(2, 2)));
    QCOMPARE(resets.size(), 0);
    QCOMPARE(changed.size(), 1);
    // A history point has no state or weight: the last known ones stay.
    QCOMPARE(m.data(m.index(1, ReplicaTableModel::State)).toString(), QStringLiteral("unhealthy"));
    QCOMPARE(m.data(m.index(1, ReplicaTableModel::Weight)).toInt(), 2);
    // A third replica: the rows are reset; the known ones keep their state.
    m.update(parseStatsPoint(point(3, 3)));
    QCOMPARE(resets.size(), 1);
    QCOMPARE(m.rowCount(), 3);
    QCOMPARE(m.data(m.index(1, ReplicaTableModel::State)).toString(), QStringLiteral("unhealthy"));
    QCOMPARE(m.data(m.index(2, ReplicaTableModel::State)).toString(), QStringLiteral("—"));
    m.clear();
    QCOMPARE(m.rowCount(), 0);
}

void TstConsoleWatchModels::agentsModel()
{
    AgentsModel m;
    QAbstractItemModelTester tester(&m, QAbstractItemModelTester::FailureReportingMode::QtTest);
    m.setAgents({AgentRecord{1, "edge-1", "/run/dlb/control.sock", "v", "a", {}},
                 AgentRecord{2, "edge-2", "https://10.0.0.2:9443", "v", "", {}}});
    QCOMPARE(m.rowCount(), 2);
    QCOMPARE(m.data(m.index(0, AgentsModel::State)).toString(), QStringLiteral("connecting"));
    QCOMPARE(m.data(m.index(0, AgentsModel::RequestsPerS)).toString(), QStringLiteral("—"));
    m.setState("edge-1", ConnectionState::Connected, {});
    m.setSample("edge-1", parseStatsPoint(point(4, 3, true)));
    QCOMPARE(m.data(m.index(0, AgentsModel::RequestsPerS)).toString(), QStringLiteral("40.0"));
    QCOMPARE(m.data(m.index(0, AgentsModel::Replicas)).toString(), QStringLiteral("2/3"));
    QCOMPARE(m.data(m.index(0, AgentsModel::LatencyP99)).toString(), QStringLiteral("9.50"));
    m.setState("edge-2", ConnectionState::Unreachable, "connection refused");
    QCOMPARE(m.data(m.index(1, AgentsModel::State)).toString(), QStringLiteral("unreachable"));
    QCOMPARE(m.data(m.index(1, AgentsModel::Detail)).toString(), QStringLiteral("connection refused"));
    // Reconnecting: the last numbers are not shown as if live.
    m.setState("edge-1", ConnectionState::Reconnecting, "the stream ended");
    QCOMPARE(m.data(m.index(0, AgentsModel::RequestsPerS)).toString(), QStringLiteral("—"));
    m.setCurrent("edge-2");
    QVERIFY(m.data(m.index(1, AgentsModel::Name), Qt::FontRole).value<QFont>().bold());
    QVERIFY(!m.data(m.index(0, AgentsModel::Name), Qt::FontRole).isValid());
    // The list reloaded: a kept agent keeps its live state.
    m.setAgents({AgentRecord{1, "edge-1", "/run/dlb/control.sock", "v", "a", {}}});
    QCOMPARE(m.rowCount(), 1);
    QCOMPARE(m.data(m.index(0, AgentsModel::State)).toString(), QStringLiteral("reconnecting"));
    m.setState("gone", ConnectionState::Connected, {}); // an agent no longer listed: ignored
}

QTEST_GUILESS_MAIN(TstConsoleWatchModels)
#include "tst_console_watch_models.moc"
