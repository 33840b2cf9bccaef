// Live stats end to end: a real agent (two workers, Prequal) under load, read through its control
// socket. Per-replica counts add up to the requests sent and match who answered; errors land in
// their kinds; /metrics passes promtool; the SSE stream delivers events and resumes from
// Last-Event-ID; the history endpoint refuses what it should.
#include "harness.hpp"
#include "prequal_load.hpp"

#include <QJsonArray>
#include <QJsonDocument>
#include <QLocalSocket>
#include <QProcess>
#include <QtTest>

#include <nlohmann/json.hpp>

#include <csignal>

using namespace dlb::test;
using nlohmann::json;

namespace {

constexpr char kToken[] = "stats-viewer-token";

struct UnixResponse {
    int status = 0;
    QByteArray head;
    QByteArray body;
};

// One request on a new connection to the control socket, read until the server closes it.
std::optional<UnixResponse> controlGet(const QString& socket, const QByteArray& target, const QByteArray& extra = {})
{
    QLocalSocket s;
    s.connectToServer(socket);
    if (!s.waitForConnected(kWaitMs))
        return std::nullopt;
    s.write("GET " + target + " HTTP/1.1\r\nHost: dlb\r\nAuthorization: Bearer " + kToken + "\r\nConnection: close\r\n" +
            extra + "\r\n");
    QByteArray all;
    QDeadlineTimer deadline(kWaitMs);
    while (s.state() == QLocalSocket::ConnectedState && !deadline.hasExpired()) {
        if (s.waitForReadyRead(100))
            all += s.readAll();
    }
    all += s.readAll();
    const qsizetype end = all.indexOf("\r\n\r\n");
    if (end < 0)
        return std::nullopt;
    UnixResponse r;
    r.head = all.left(end);
    r.body = all.mid(end + 4);
    r.status = r.head.mid(9, 3).toInt();
    return r;
}

json controlJson(const QString& socket, const QByteArray& target)
{
    const auto r = controlGet(socket, target);
    if (!r || r->status != 200)
        return json();
    return json::parse(r->body.toStdString(), nullptr, false);
}

// Events of an SSE stream as they arrive: (id, data) pairs.
class SseReader {
public:
    bool open(const QString& socket, const QByteArray& last_event_id = {})
    {
        s_.connectToServer(socket);
        if (!s_.waitForConnected(kWaitMs))
            return false;
        QByteArray extra = last_event_id.isEmpty() ? QByteArray() : "Last-Event-ID: " + last_event_id + "\r\n";
        s_.write("GET /v1/stats/stream HTTP/1.1\r\nHost: dlb\r\nAuthorization: Bearer " + QByteArray(kToken) + "\r\n" +
                 extra + "\r\n");
        return s_.waitForBytesWritten(kWaitMs);
    }
    // Reads until `n` events have arrived in all (or the deadline).
    bool waitForEvents(int n, int timeout_ms)
    {
        QDeadlineTimer deadline(timeout_ms);
        while (static_cast<int>(events.size()) < n && !deadline.hasExpired()) {
            if (s_.waitForReadyRead(100))
                buf_ += s_.readAll();
            parse();
        }
        return static_cast<int>(events.size()) >= n;
    }
    QByteArray head;
    QByteArray retry;
    std::vector<std::pair<uint64_t, json>> events;
    std::vector<QByteArray> names;

private:
    void parse()
    {
        if (head.isEmpty()) {
            const qsizetype end = buf_.indexOf("\r\n\r\n");
            if (end < 0)
                return;
            head = buf_.left(end);
            buf_.remove(0, end + 4);
        }
        for (qsizetype end; (end = buf_.indexOf("\n\n")) >= 0;) {
            const QByteArray block = buf_.left(end);
            buf_.remove(0, end + 2);
            uint64_t id = 0;
            QByteArray data, name;
            for (const QByteArray& line : block.split('\n')) {
                if (line.startsWith("retry: "))
                    retry = line.mid(7);
                else if (line.startsWith("id: "))
                    id = line.mid(4).toULongLong();
                else if (line.startsWith("event: "))
                    name = line.mid(7);
                else if (line.startsWith("data: "))
                    data = line.mid(6);
            }
            if (!data.isEmpty()) {
                events.emplace_back(id, json::parse(data.toStdString(), nullptr, false));
                names.push_back(name);
            }
        }
    }
    QLocalSocket s_;
    QByteArray buf_;
};

} // namespace

class TstStatsE2e : public QObject {
    Q_OBJECT
private slots:
    void countsAddUpUnderLoad();
    void errorsByKind();
    void streamDeliversAndResumes();
    void historyQueryIsChecked();

private:
    // Two replicas behind a two-worker Prequal pool, the control socket with a viewer token.
    bool start(Cluster& c, QList<quint16>* ports, const QStringList& second_replica_args = {},
               const QString& algorithm = QStringLiteral("prequal"));
    QString socket_;
};

bool TstStatsE2e::start(Cluster& c, QList<quint16>* ports, const QStringList& second_replica_args, const QString& algorithm)
{
    const quint16 p1 = c.startReplica(QStringLiteral("r1"), {QStringLiteral("--service-ms"), QStringLiteral("1")});
    const quint16 p2 = c.startReplica(QStringLiteral("r2"), QStringList{QStringLiteral("--service-ms"), QStringLiteral("1")} + second_replica_args);
    if (p1 == 0 || p2 == 0)
        return false;
    *ports = {p1, p2};
    QJsonObject cfg = c.config(*ports);
    cfg[QStringLiteral("workers")] = 2;
    setJson(cfg, {QStringLiteral("pools"), QStringLiteral("0"), QStringLiteral("algorithm"), QStringLiteral("name")}, algorithm);
    socket_ = c.path(QStringLiteral("control.sock"));
    cfg[QStringLiteral("control")] = QJsonObject{
        {QStringLiteral("unix_socket"), socket_},
        {QStringLiteral("tokens"), QJsonArray{QJsonObject{{QStringLiteral("name"), QStringLiteral("viewer")},
                                                          {QStringLiteral("role"), QStringLiteral("viewer")},
                                                          {QStringLiteral("sha256"), QString::fromLatin1(sha256Hex(kToken))}}}},
    };
    return c.startAgent(cfg);
}

// 600 requests over 4 keep-alive connections: the replicas' counts add up to 600 and each is what
// that replica answered (by X-Replica); totals, latency counts and /metrics agree.
void TstStatsE2e::countsAddUpUnderLoad()
{
    Cluster c;
    QList<quint16> ports;
    QVERIFY2(start(c, &ports), qPrintable(c.error()));
    constexpr int kRequests = 600;
    Load load(c.port(), 4, kRequests);
    QVERIFY(load.wait(60'000));
    QVERIFY2(load.failures().isEmpty(), qPrintable(load.failures().join('\n')));
    const auto answered = shares(load.outcomes());
    QCOMPARE(answered.value("r1") + answered.value("r2"), kRequests);

    // The collector samples once a second: wait for the sample that saw the last request end.
    json stats;
    QTRY_VERIFY_WITH_TIMEOUT((stats = controlJson(socket_, "/v1/stats"),
                              stats.is_object() && stats["totals"]["latency_ms"]["count"] == kRequests),
                             kWaitMs);
    QCOMPARE(stats["totals"]["requests"].get<int>(), kRequests);
    QCOMPARE(stats["totals"]["responses"]["2xx"].get<int>(), kRequests);
    QCOMPARE(stats["totals"]["errors"]["total"].get<int>(), 0);
    QCOMPARE(stats["in_flight"].get<int>(), 0);
    QCOMPARE(stats["workers"].size(), std::size_t{2});
    QCOMPARE(stats["workers"][0]["requests"].get<int>() + stats["workers"][1]["requests"].get<int>(), kRequests);
    const json& pool = stats["pools"][0];
    QCOMPARE(pool["requests"].get<int>(), kRequests);
    int sum = 0, latency_count = 0;
    for (int i = 0; i < 2; ++i) {
        const json& r = pool["replicas"][i];
        const QByteArray name = i == 0 ? "r1" : "r2";
        QCOMPARE(r["id"].get<std::string>(), "127.0.0.1:" + std::to_string(ports[i]));
        QCOMPARE(r["requests"].get<int>(), answered.value(name));
        QCOMPARE(r["responses"].get<int>(), answered.value(name));
        QCOMPARE(r["in_flight"].get<int>(), 0);
        QCOMPARE(r["state"], "healthy");
        QVERIFY(r["prequal"]["probes_sent"].get<int>() > 0);
        QVERIFY(r.contains("rif"));
        sum += r["requests"].get<int>();
        // Per-replica latency percentiles are of the last interval; their totals are in /metrics.
        latency_count += r["latency_ms"]["count"].get<int>();
    }
    QCOMPARE(sum, kRequests);
    QVERIFY(latency_count <= kRequests);
    QVERIFY(pool["prequal"]["probes_sent"].get<int>() > 0);

    const auto metrics = controlGet(socket_, "/metrics");
    QVERIFY(metrics && metrics->status == 200);
    QVERIFY(metrics->head.contains("Content-Type: text/plain; version=0.0.4"));
    for (int i = 0; i < 2; ++i) {
        const QByteArray line = "dlb_replica_requests_total{pool=\"web\",replica=\"127.0.0.1:" + QByteArray::number(ports[i]) +
                                "\"} " + QByteArray::number(answered.value(i == 0 ? "r1" : "r2")) + "\n";
        QVERIFY2(metrics->body.contains(line), line.constData());
    }
    QVERIFY(metrics->body.contains("dlb_request_duration_seconds_count " + QByteArray::number(kRequests) + "\n"));
    QProcess promtool;
    promtool.start(QStringLiteral("promtool"), {QStringLiteral("check"), QStringLiteral("metrics")});
    QVERIFY2(promtool.waitForStarted(kWaitMs), "promtool is not installed: run scripts/install-deps.sh (Debian package prometheus)");
    promtool.write(metrics->body);
    promtool.closeWriteChannel();
    QVERIFY(promtool.waitForFinished(kWaitMs));
    QVERIFY2(promtool.exitCode() == 0, (promtool.readAll() + promtool.readAllStandardError()).constData());

    // A reload keeps the replicas, so it keeps their counters: nothing restarts from zero.
    const qsizetype logged = c.agentLog().size();
    c.agent().signal(SIGHUP);
    QVERIFY(c.agent().waitForLog("config reloaded", logged));
    QTRY_VERIFY_WITH_TIMEOUT((stats = controlJson(socket_, "/v1/stats"), stats.is_object() && stats["generation"] == 2),
                             kWaitMs);
    QCOMPARE(stats["pools"][0]["requests"].get<int>(), kRequests);
    QCOMPARE(stats["pools"][0]["replicas"][0]["requests"].get<int>(), answered.value("r1"));
    QCOMPARE(c.stopAgent(), 0);
}

// Round robin over a replica answering 500 to everything and a healthy one, plus a path with no
// route: 5xx errors at that replica, local 404 answers, each counted where it belongs.
void TstStatsE2e::errorsByKind()
{
    Cluster c;
    QList<quint16> ports;
    QVERIFY2(start(c, &ports, {QStringLiteral("--fail-rate"), QStringLiteral("1")}, QStringLiteral("round_robin")),
             qPrintable(c.error()));
    constexpr int kRequests = 100;
    Load load(c.port(), 1, kRequests);
    QVERIFY(load.wait(60'000));
    QVERIFY(load.failures().isEmpty());
    int failed = 0;
    for (const Outcome& o : load.outcomes())
        failed += o.status == 500;
    QCOMPARE(failed, kRequests / 2);
    json stats;
    QTRY_VERIFY_WITH_TIMEOUT((stats = controlJson(socket_, "/v1/stats"),
                              stats.is_object() && stats["totals"]["requests"] == kRequests && stats["in_flight"] == 0),
                             kWaitMs);
    QCOMPARE(stats["totals"]["responses"]["5xx"].get<int>(), failed);
    QCOMPARE(stats["totals"]["errors"]["5xx"].get<int>(), failed);
    QCOMPARE(stats["pools"][0]["replicas"][1]["errors"]["5xx"].get<int>(), failed);
    QCOMPARE(stats["pools"][0]["replicas"][1]["errors"]["total"].get<int>(), failed);
    QCOMPARE(stats["pools"][0]["replicas"][0]["errors"]["total"].get<int>(), 0);
    QVERIFY(!stats["pools"][0].contains("prequal"));
    QCOMPARE(c.stopAgent(), 0);
}

// A stream opens with retry: 2000 and sends one stats event a second with rising ids; a client
// that reconnects with Last-Event-ID gets the points after it first, then the stream goes on.
void TstStatsE2e::streamDeliversAndResumes()
{
    Cluster c;
    QList<quint16> ports;
    QVERIFY2(start(c, &ports), qPrintable(c.error()));
    SseReader first;
    QVERIFY(first.open(socket_));
    QVERIFY(first.waitForEvents(3, 10'000));
    QVERIFY2(first.head.startsWith("HTTP/1.1 200"), first.head.constData());
    QVERIFY(first.head.contains("Content-Type: text/event-stream"));
    QCOMPARE(first.retry, QByteArray("2000"));
    for (std::size_t i = 0; i < first.events.size(); ++i) {
        QCOMPARE(first.names[i], QByteArray("stats"));
        QVERIFY(first.events[i].second.contains("pools"));
        if (i > 0)
            QCOMPARE(first.events[i].first, first.events[i - 1].first + 1);
    }
    QVERIFY(first.events[0].second.contains("totals")); // the newest sample in full first
    const uint64_t seen = first.events[0].first;

    SseReader resumed;
    QVERIFY(resumed.open(socket_, QByteArray::number(seen)));
    QVERIFY(resumed.waitForEvents(3, 10'000));
    // Replayed first: the points after `seen`, oldest first, in their history form.
    QCOMPARE(resumed.events[0].first, seen + 1);
    QVERIFY(!resumed.events[0].second.contains("totals"));
    for (std::size_t i = 1; i < resumed.events.size(); ++i)
        QCOMPARE(resumed.events[i].first, resumed.events[i - 1].first + 1);
    QCOMPARE(c.stopAgent(), 0);
}

void TstStatsE2e::historyQueryIsChecked()
{
    Cluster c;
    QList<quint16> ports;
    QVERIFY2(start(c, &ports), qPrintable(c.error()));
    json h;
    QTRY_VERIFY_WITH_TIMEOUT((h = controlJson(socket_, "/v1/stats/history?seconds=2"), h.is_object() && h["points"].size() == 2),
                             kWaitMs);
    QCOMPARE(h["interval_ms"].get<int>(), 1000);
    QCOMPARE(h["points"][1]["id"].get<uint64_t>(), h["points"][0]["id"].get<uint64_t>() + 1);
    QVERIFY(controlJson(socket_, "/v1/stats/history").is_object()); // no query: every point
    for (const QByteArray q : {"seconds=0", "seconds=901", "seconds=abc", "seconds=", "seconds=-1", "foo=1", "seconds=5&x=1"}) {
        const auto r = controlGet(socket_, "/v1/stats/history?" + q);
        QVERIFY(r);
        QVERIFY2(r->status == 400, q.constData());
        const json e = json::parse(r->body.toStdString(), nullptr, false);
        QCOMPARE(e["error"]["code"], "invalid_query");
    }
    QCOMPARE(c.stopAgent(), 0);
}

QTEST_MAIN(TstStatsE2e)
#include "tst_stats_e2e.moc"
