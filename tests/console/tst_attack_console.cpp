// Attacks on the console's agent side: a hostile or broken agent (a scripted fake on a
// QLocalServer) and lying samples fed to the models. Each case is a defect that was found and
// fixed; the comment says what the agent does and what went wrong before.
#include "agent/ctl/client.hpp"
#include "agent/ctl/render.hpp"
#include "client/agent_connection.hpp"
#include "client/stats_stream.hpp"
#include "models/replica_table.hpp"
#include "models/steer_pools.hpp"
#include "models/time_series.hpp"

#include <QElapsedTimer>
#include <QJsonArray>
#include <QLocalServer>
#include <QLocalSocket>
#include <QTemporaryDir>
#include <QtTest>

#include <functional>

using namespace dlb::console;
using namespace dlb::console::client;

namespace {

constexpr int kWaitMs = 5000;

// A fake agent: hands every complete request head (GETs only, no body) to `answer`, which
// writes to the socket. Keep-alive: several requests may come on one connection.
class FakeAgent : public QObject {
public:
    using Answer = std::function<void(QLocalSocket*, const QByteArray& requestLine)>;

    explicit FakeAgent(const QString& path, Answer answer) : answer_(std::move(answer))
    {
        ok_ = server_.listen(path);
        connect(&server_, &QLocalServer::newConnection, this, [this] {
            while (QLocalSocket* s = server_.nextPendingConnection()) {
                auto buf = std::make_shared<QByteArray>();
                connect(s, &QLocalSocket::readyRead, this, [this, s, buf] {
                    *buf += s->readAll();
                    qsizetype end;
                    while ((end = buf->indexOf("\r\n\r\n")) >= 0) {
                        const QByteArray head = buf->left(end);
                        buf->remove(0, end + 4);
                        answer_(s, head.left(head.indexOf("\r\n")));
                    }
                });
            }
        });
    }
    bool ok() const { return ok_; }
    QString name() const { return server_.fullServerName(); }

private:
    QLocalServer server_;
    Answer answer_;
    bool ok_ = false;
};

QByteArray jsonAnswer(const QByteArray& body)
{
    return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + QByteArray::number(body.size()) +
           "\r\n\r\n" + body;
}

const QByteArray kSseHead = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\r\n";

} // namespace

class TstAttackConsole : public QObject {
    Q_OBJECT
private slots:
    void historyAheadOfStreamBacksOff();
    void replicaTableReorderIsNotQuadratic();
    void bannerOnConnectBacksOff();
    void seriesFollowsAClockStepBack();
    void backoffStartsOverAfterAnAnswer();
    void ctlPrintsAgentTextInert();
    void lyingNumbersAreRefused();
};

// The agent's history says the newest point is id 1000; its stream then starts at id 5 (and
// does so again after every refetch). Before: "ids went backwards, the agent restarted" led to an
// immediate refetch of the history and a new stream, with no delay, forever: hundreds of
// history requests a second from the GUI thread against a broken agent. Now a backwards id
// right after a fresh history (no sample taken from it yet) is the agent contradicting itself
// and is handled as a lost stream, with the retry delay and backoff.
void TstAttackConsole::historyAheadOfStreamBacksOff()
{
    QTemporaryDir dir;
    int histories = 0;
    FakeAgent agent(dir.filePath(QStringLiteral("fake.sock")), [&](QLocalSocket* s, const QByteArray& line) {
        if (line.startsWith("GET /v1/stats/history")) {
            ++histories;
            s->write(jsonAnswer(R"({"interval_ms":1000,"seconds":900,"points":[{"id":1000,"time":1000}]})"));
        } else if (line.startsWith("GET /v1/stats/stream")) {
            s->write(kSseHead + "id: 5\nevent: stats\ndata: {\"id\":5,\"time\":1005}\n\n");
        } else if (line.startsWith("GET /v1/stats ")) {
            // The run check (one run, started at 990) before the history.
            s->write(jsonAnswer(R"({"id":1000,"time":1000,"uptime_s":10})"));
        } else {
            s->write("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        }
    });
    QVERIFY(agent.ok());
    QString error;
    const auto ep = AgentEndpoint::parse(agent.name(), "tok", {}, &error);
    QVERIFY2(ep, qPrintable(error));
    AgentConnection conn(*ep);
    conn.open();
    StatsStream stream(&conn);
    QSignalSpy samples(&stream, &StatsStream::sampleReceived);
    stream.start();
    QTRY_VERIFY_WITH_TIMEOUT(histories >= 1, kWaitMs);
    // A rate is measured here, so a fixed span: the first retry is due after 2 s (retryMs()).
    QTest::qWait(1500);
    QVERIFY2(histories <= 2, qPrintable(QStringLiteral("%1 history requests in 1.5 s").arg(histories)));
    QCOMPARE(samples.size(), 0); // the lying sample is not shown
    QVERIFY(stream.state() != ConnectionState::Connected);
    QVERIFY2(stream.lastError().contains(QLatin1String("backwards")), qPrintable(stream.lastError()));
    stream.stop();
}

// 10,000 replicas whose order changes between two samples (an agent may list them in any order).
// Before: every changed set compared every new row with every old row (10^8 string compares,
// seconds of a frozen GUI thread per sample). Now the old rows are looked up by (pool, id).
void TstAttackConsole::replicaTableReorderIsNotQuadratic()
{
    constexpr int kReplicas = 10000;
    StatsPoint full;
    full.full = true;
    for (int i = 0; i < kReplicas; ++i) {
        ReplicaSample r;
        r.pool = QStringLiteral("web");
        r.id = QStringLiteral("10.0.%1.%2:8080").arg(i / 250).arg(i % 250);
        r.state = QStringLiteral("healthy");
        r.weight = 1 + i % 7;
        r.url = QStringLiteral("http://") + r.id;
        full.replicas.append(r);
    }
    ReplicaTableModel model;
    model.update(full);
    QCOMPARE(model.rowCount(), kReplicas);

    StatsPoint reordered; // the history form: states and weights come from the rows held
    std::reverse_copy(full.replicas.cbegin(), full.replicas.cend(), std::back_inserter(reordered.replicas));
    for (ReplicaSample& r : reordered.replicas) {
        r.state.clear();
        r.weight = 0;
        r.url.clear();
    }
    QElapsedTimer t;
    t.start();
    model.update(reordered);
    const qint64 ms = t.elapsed();
    QCOMPARE(model.rowCount(), kReplicas);
    QCOMPARE(model.replica(0).id, full.replicas.last().id);
    QCOMPARE(model.replica(0).weight, full.replicas.last().weight);
    QCOMPARE(model.replica(0).state, QStringLiteral("healthy"));
    QCOMPARE(model.replica(kReplicas - 1).url, full.replicas.first().url);
    // Linear work is a few ms; the quadratic loop took seconds. Wide margin for a busy machine.
    QVERIFY2(ms < 300, qPrintable(QStringLiteral("update took %1 ms").arg(ms)));
}

// The console pointed at something that is not an agent and speaks first (an SSH or SMTP server
// greets every connection). Before: the unrequested bytes dropped the connection and a new one
// was opened at once, forever (thousands of connections a second). Now a fresh connection that
// sends bytes nobody asked for counts as a failed connection: retried with the backoff.
void TstAttackConsole::bannerOnConnectBacksOff()
{
    QTemporaryDir dir;
    QLocalServer server;
    QVERIFY(server.listen(dir.filePath(QStringLiteral("banner.sock"))));
    int connections = 0;
    connect(&server, &QLocalServer::newConnection, this, [&] {
        while (QLocalSocket* s = server.nextPendingConnection()) {
            ++connections;
            s->write("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n");
        }
    });
    QString error;
    const auto ep = AgentEndpoint::parse(server.fullServerName(), "tok", {}, &error);
    QVERIFY2(ep, qPrintable(error));
    AgentConnection conn(*ep);
    conn.open();
    QTRY_VERIFY_WITH_TIMEOUT(connections >= 1, kWaitMs);
    // A rate is measured: backoff 250, 500, 1000 ms (+-20%) allows about 3 in 1.5 s.
    QTest::qWait(1500);
    QVERIFY2(connections <= 6, qPrintable(QStringLiteral("%1 connections in 1.5 s").arg(connections)));
    QVERIFY(conn.state() != ConnectionState::Connected);
    QVERIFY2(conn.lastError().contains(QLatin1String("without a request")), qPrintable(conn.lastError()));
}

// The agent's clock steps back (NTP, an operator) or one sample lies about the time (1e12 s): the
// samples that follow have newer ids but older times. Before: the series took them for a replay
// overlap and dropped every one, so the charts froze (for as long as the step, or for good after
// the lie) while the Agents page went on showing fresh numbers. Now a newer id with an older time
// starts the series again from that sample.
void TstAttackConsole::seriesFollowsAClockStepBack()
{
    auto sample = [](quint64 id, double time, double rps) {
        return QJsonObject{{"id", double(id)}, {"time", time}, {"rates", QJsonObject{{"requests_per_s", rps}}}};
    };
    TimeSeriesModel m;
    m.setWindowSeconds(60);
    for (quint64 id = 1; id <= 5; ++id)
        m.append(parseStatsPoint(sample(id, 1000.0 + double(id), 10)));
    QCOMPARE(m.rowCount(), 5);
    m.append(parseStatsPoint(sample(5, 1005, 10))); // a replay overlap: still dropped
    QCOMPARE(m.rowCount(), 5);
    m.append(parseStatsPoint(sample(6, 1e12, 10))); // the lie
    m.append(parseStatsPoint(sample(7, 1007, 42))); // the truth again
    m.append(parseStatsPoint(sample(8, 1008, 43)));
    QVERIFY(m.rowCount() >= 1);
    QCOMPARE(m.point(m.rowCount() - 1).id, quint64(8));
    QCOMPARE(m.data(m.index(m.rowCount() - 1, TimeSeriesModel::RequestsPerS)).toDouble(), 43.0);
}

// An agent away for a few seconds once (the backoff grows to 4 s), back, answering; later it goes
// away again. Before: the backoff was only reset by open(), so the first retry after the second
// outage waited the grown delay (up to kReconnectMaxMs) instead of kReconnectInitialMs. Now an
// answer on a connection resets it.
void TstAttackConsole::backoffStartsOverAfterAnAnswer()
{
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("flap.sock"));
    QString error;
    const auto ep = AgentEndpoint::parse(path, "tok", {}, &error);
    QVERIFY2(ep, qPrintable(error));
    AgentConnection conn(*ep);
    conn.open(); // nobody listens: retries after 250, 500, 1000, 2000 ms
    QTest::qWait(2000); // let the backoff grow (a span is what is tested here)
    QLocalServer server;
    QLocalSocket* peer = nullptr;
    QByteArray in;
    connect(&server, &QLocalServer::newConnection, this, [&] {
        while (QLocalSocket* s = server.nextPendingConnection()) {
            peer = s;
            connect(s, &QLocalSocket::readyRead, this, [&, s] {
                in += s->readAll();
                if (in.contains("\r\n\r\n")) {
                    in.clear();
                    s->write(jsonAnswer(R"({"ok":true})"));
                }
            });
        }
    });
    QVERIFY(server.listen(path));
    QTRY_VERIFY_WITH_TIMEOUT(peer != nullptr, kWaitMs);
    AgentReply* r = conn.request("GET", QStringLiteral("/v1/status"));
    QSignalSpy finished(r, &AgentReply::finished);
    QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 1, kWaitMs);
    QCOMPARE(finished.at(0).at(0).toInt(), 200);
    // The agent goes away: the immediate reconnect is refused, then the backoff runs.
    server.close();
    peer->abort();
    peer = nullptr;
    QTRY_VERIFY_WITH_TIMEOUT(conn.state() != ConnectionState::Connected, kWaitMs);
    QVERIFY(server.listen(path));
    QElapsedTimer t;
    t.start();
    QTRY_VERIFY_WITH_TIMEOUT(peer != nullptr, kWaitMs + 10000);
    QVERIFY2(t.elapsed() < 1500, qPrintable(QStringLiteral("first retry after %1 ms").arg(t.elapsed())));
}

// dlbctl and a hostile agent: a replica id, URL or error message with terminal escape sequences
// (ESC ] 0 ; ... BEL retitles the window, ESC [ 2 J clears the screen, U+009B is an 8-bit CSI).
// Before: printed raw, so the agent drove the operator's terminal. Now C0, DEL and C1 controls
// are shown as \xNN / \u00NN.
void TstAttackConsole::ctlPrintsAgentTextInert()
{
    const nlohmann::json pool = {
        {"replicas",
         {{{"id", "a\x1b]0;owned\x07" "b"}, {"url", "http://x/\xc2\x9b" "31m"}, {"weight", 1}, {"state", "ok\x7f"},
           {"rif", nullptr}, {"latency_ms", 1.5}, {"requests", 1}, {"errors", 0}, {"in_flight", 0}}}}};
    const std::string table = dlb::ctl::renderReplicas(pool);
    QVERIFY2(table.find('\x1b') == std::string::npos, table.c_str());
    QVERIFY(table.find('\x07') == std::string::npos);
    QVERIFY(table.find('\x7f') == std::string::npos);
    QVERIFY(table.find("\xc2\x9b") == std::string::npos);
    QVERIFY2(table.find("a\\x1b]0;owned\\x07b") != std::string::npos, table.c_str());
    QVERIFY2(table.find("http://x/\\u009b31m") != std::string::npos, table.c_str());

    dlb::ctl::Answer refused;
    refused.status = 400;
    refused.content_type = "application/json";
    refused.body = R"({"error":{"message":"no\u001b[2J such pool","code":"not_found"}})";
    const std::string message = dlb::ctl::errorMessage(refused);
    QVERIFY2(message.find('\x1b') == std::string::npos, message.c_str());
    QCOMPARE(QString::fromStdString(message), QStringLiteral("no\\x1b[2J such pool (not_found)"));
}

QTEST_GUILESS_MAIN(TstAttackConsole)
// Numbers no agent sends, from one that lies: a cast of such a double to an integer was undefined
// behaviour (UBSan's float-cast-overflow), and a health status of 4294967496 read as 200.
void TstAttackConsole::lyingNumbersAreRefused()
{
    for (const double id : {-1.0, 1e300, 1.5, std::nan("")}) {
        const StatsPoint p = parseStatsPoint(QJsonObject{{QStringLiteral("id"), id}, {QStringLiteral("time"), 1e300}});
        QCOMPARE(p.id, quint64(0));
    }
    TimeSeriesModel series;
    series.append(parseStatsPoint(QJsonObject{{QStringLiteral("id"), 1}, {QStringLiteral("time"), 1e300}}));
    if (series.rowCount() > 0)
        for (int c = 0; c < series.columnCount(); ++c)
            series.index(0, c).data(); // no overflowing cast of the time
    for (const double status : {4294967496.0, -1.0, 99.0, 600.0, 200.5}) {
        const QJsonObject answer{
            {"generation", 4},
            {"pool", "web"},
            {"results", QJsonArray{QJsonObject{{"id", "a:1"}, {"url", "http://a:1"}, {"ok", true}, {"status", status},
                                               {"reason", ""}, {"state", "healthy"}}}}};
        QString why;
        QVERIFY2(!parseHealthResults(answer, &why), qPrintable(QString::number(status, 'g', 12)));
        QVERIFY2(why.contains(QLatin1String("status")), qPrintable(why));
    }
}

#include "tst_attack_console.moc"
