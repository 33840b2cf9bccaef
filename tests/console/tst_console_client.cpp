// The console's control-API client against a real dlb-agent over its Unix socket: status and
// pools, an admin write and its 201, the agent's errors parsed, a viewer refused, requests
// queued on one keep-alive connection, the stats stream (history first, then live events), and
// both the connection and the stream coming back after the agent restarts (its history fetched
// again even when the new run's ids are above the old ones); and, against a scripted agent, a
// restart told by the first live event after the stream opened.
#include "client/agent_connection.hpp"
#include "client/stats_stream.hpp"
#include "control_fixture.hpp"
#include "harness.hpp"
#include "test_certs.hpp"
#include "wait.hpp"

#include <QJsonArray>
#include <QJsonObject>
#include <QLocalServer>
#include <QLocalSocket>
#include <QSignalSpy>
#include <QtTest>

using namespace dlb::test;
using namespace dlb::console::client;

namespace {

// An agent restarting, a stream reconnecting after its retry time (2 s) and a fresh sample
// (1 s): generous for a loaded 2-core machine, and only reached when something is broken.
constexpr int kStreamWaitMs = 20000;

struct Answer {
    int status = 0;
    QJsonDocument body;
    AgentError error;
    QByteArray location;
};

// Waits for one reply's finished().
Answer await(AgentReply* reply)
{
    Answer a;
    bool done = false;
    QObject::connect(reply, &AgentReply::finished, [&](int status, const QJsonDocument& body, const AgentError& error) {
        a = {status, body, error, reply->header("location")};
        done = true;
    });
    if (!QTest::qWaitFor([&] { return done; }, kStreamWaitMs))
        a.error = {QStringLiteral("test_timeout"), QStringLiteral("no finished() within the wait"), {}};
    return a;
}

// Blocks until the agent's stats stream (a stream of this function's own) shows a sample with
// an id of at least `minId`, and returns that id. It waits on the socket, never on the event
// loop: the console under test, which lives on this thread, does nothing meanwhile.
std::optional<quint64> waitForSampleBlocking(const Cluster& c, quint64 minId, QString* error)
{
    ControlClient client(controlSocket(c));
    if (!client.connect() ||
        !client.send("GET /v1/stats/stream HTTP/1.1\r\nHost: dlb\r\nAuthorization: Bearer " + kViewer + "\r\n\r\n")) {
        *error = client.error();
        return std::nullopt;
    }
    QLocalSocket& s = client.socket();
    const QDeadlineTimer deadline(kStreamWaitMs);
    for (;;) {
        while (s.canReadLine()) {
            const QByteArray line = s.readLine().trimmed();
            bool ok = false;
            const quint64 id = line.startsWith("id: ") ? line.mid(4).toULongLong(&ok) : 0;
            if (ok && id >= minId)
                return id;
        }
        if (deadline.hasExpired() || s.state() != QLocalSocket::ConnectedState) {
            *error = QStringLiteral("no sample with an id of %1 or more from the agent's stream").arg(minId);
            return std::nullopt;
        }
        s.waitForReadyRead(int(std::max<qint64>(1, deadline.remainingTime())));
    }
}

// A scripted agent on a Unix socket for what a real one cannot be made to do on cue: each GET
// is answered by `answer` (path, how many times that path was asked before) with a 200 JSON
// body, or for /v1/stats/stream with an event stream; requests are recorded in order, with the
// Last-Event-ID they carried.
class ScriptedAgent : public QObject {
public:
    std::function<QByteArray(const QByteArray& path, int nth)> answer;
    QList<QByteArray> requests;
    bool closeStreams = false; // end each event stream after its answer (the agent went away)

    bool listen(const QString& path)
    {
        connect(&server_, &QLocalServer::newConnection, this, [this] {
            while (QLocalSocket* s = server_.nextPendingConnection()) {
                auto* buf = new QByteArray;
                connect(s, &QObject::destroyed, [buf] { delete buf; });
                connect(s, &QLocalSocket::disconnected, s, &QObject::deleteLater);
                connect(s, &QLocalSocket::readyRead, this, [this, s, buf] {
                    *buf += s->readAll();
                    for (qsizetype end; (end = buf->indexOf("\r\n\r\n")) >= 0;) {
                        const QByteArray head = buf->left(end);
                        buf->remove(0, end + 4);
                        serve(s, head);
                    }
                });
            }
        });
        return server_.listen(path);
    }

private:
    void serve(QLocalSocket* s, const QByteArray& head)
    {
        const QList<QByteArray> lines = head.split('\n');
        const QByteArray path = lines.first().split(' ').value(1);
        QByteArray record = "GET " + path;
        for (const QByteArray& l : lines)
            if (l.toLower().startsWith("last-event-id:"))
                record += " Last-Event-ID " + l.mid(14).trimmed();
        requests.append(record);
        const QByteArray body = answer(path, asked_[path]++);
        if (path == "/v1/stats/stream") {
            s->write("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n" + body);
            if (closeStreams)
                s->disconnectFromServer();
        } else
            s->write("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                     QByteArray::number(body.size()) + "\r\n\r\n" + body);
    }

    QLocalServer server_;
    QHash<QByteArray, int> asked_;
};

QByteArray statsEvent(const QJsonObject& sample)
{
    return "id: " + QByteArray::number(sample.value("id").toInteger()) + "\nevent: stats\ndata: " +
           QJsonDocument(sample).toJson(QJsonDocument::Compact) + "\n\n";
}

AgentEndpoint endpoint(const Cluster& c, const QByteArray& token = kAdmin)
{
    QString error;
    const auto e = AgentEndpoint::parse(controlSocket(c), token, {}, &error);
    Q_ASSERT(e);
    return *e;
}

} // namespace

class TstConsoleClient : public QObject {
    Q_OBJECT
private slots:
    void statusAndPools();
    void addReplicaAnswers201();
    void agentErrorsAreParsed();
    void viewerCannotWrite();
    void requestsQueueOnOneConnection();
    void unreachableAgent();
    void statsStreamHistoryThenLive();
    void reconnectAfterAgentRestarts();
    void liveEventFromAnotherRun();
    void quickRestartIsAnotherRun();
    void sameRunAllowsOnlyJitterAndSlew();
    void stallTimeoutFollowsTheAnnouncedPeriod();
    void tlsVerifiesTheAgent();

private:
    bool start(Cluster& c, QList<quint16>* ports);
    QJsonObject config_;
};

bool TstConsoleClient::start(Cluster& c, QList<quint16>* ports)
{
    const quint16 p1 = c.startReplica(QStringLiteral("r1"));
    const quint16 p2 = c.startReplica(QStringLiteral("r2"));
    if (p1 == 0 || p2 == 0)
        return false;
    *ports = {p1, p2};
    config_ = controlConfig(c, {p1});
    return c.startAgent(config_);
}

void TstConsoleClient::statusAndPools()
{
    Cluster c;
    QList<quint16> ports;
    QVERIFY2(start(c, &ports), qPrintable(c.error()));
    AgentConnection conn(endpoint(c));
    QSignalSpy states(&conn, &AgentConnection::stateChanged);
    conn.open();
    QTRY_COMPARE_WITH_TIMEOUT(conn.state(), ConnectionState::Connected, kWaitMs);

    const Answer status = await(conn.request("GET", QStringLiteral("/v1/status")));
    QVERIFY2(!status.error.isError(), qPrintable(status.error.text()));
    QCOMPARE(status.status, 200);
    QCOMPARE(status.body.object().value("generation").toInt(), 1);
    QCOMPARE(status.body.object().value("pid").toInteger(), c.agent().process().processId());

    const Answer pools = await(conn.request("GET", QStringLiteral("/v1/pools")));
    QCOMPARE(pools.status, 200);
    const QJsonObject web = pools.body.object().value("pools").toArray().at(0).toObject();
    QCOMPARE(web.value("name").toString(), QStringLiteral("web"));
    QCOMPARE(web.value("replicas").toArray().at(0).toObject().value("id").toString(),
             QStringLiteral("127.0.0.1:%1").arg(ports[0]));
    // Connecting, then Connected (a Unix socket may connect at once), and nothing after.
    QCOMPARE(states.size(), 2);
    QCOMPARE(states.at(0).at(0).value<ConnectionState>(), ConnectionState::Connecting);
    QCOMPARE(states.at(1).at(0).value<ConnectionState>(), ConnectionState::Connected);
    checkAgentExit(c, c.stopAgent());
}

void TstConsoleClient::addReplicaAnswers201()
{
    Cluster c;
    QList<quint16> ports;
    QVERIFY2(start(c, &ports), qPrintable(c.error()));
    AgentConnection conn(endpoint(c));
    conn.open();
    const QString url = QStringLiteral("http://127.0.0.1:%1").arg(ports[1]);
    const Answer added = await(conn.request("POST", QStringLiteral("/v1/pools/web/replicas"),
                                            QJsonDocument(QJsonObject{{"url", url}, {"weight", 2}}),
                                            QByteArray("1")));
    QVERIFY2(!added.error.isError(), qPrintable(added.error.text()));
    QCOMPARE(added.status, 201);
    QCOMPARE(added.body.object().value("generation").toInt(), 2);
    const QJsonObject replica = added.body.object().value("replica").toObject();
    QCOMPARE(replica.value("url").toString(), url);
    QCOMPARE(replica.value("weight").toInt(), 2);
    QCOMPARE(added.location, "/v1/pools/web/replicas/127.0.0.1:" + QByteArray::number(ports[1]));

    // The pool shows it; and a write naming the old generation is refused, and parsed.
    const Answer pools = await(conn.request("GET", QStringLiteral("/v1/pools")));
    QCOMPARE(pools.body.object().value("pools").toArray().at(0).toObject().value("replicas").toArray().size(), 2);
    const QString id = AgentConnection::pathSegment(QStringLiteral("127.0.0.1:%1").arg(ports[1]));
    const Answer stale = await(conn.request("PUT", QStringLiteral("/v1/pools/web/replicas/%1/weight").arg(id),
                                            QJsonDocument(QJsonObject{{"weight", 3}}), QByteArray("1")));
    QCOMPARE(stale.status, 409);
    QCOMPARE(stale.error.code, QStringLiteral("stale_generation"));
    QVERIFY(!stale.error.message.isEmpty());
    checkAgentExit(c, c.stopAgent());
}

void TstConsoleClient::agentErrorsAreParsed()
{
    Cluster c;
    QList<quint16> ports;
    QVERIFY2(start(c, &ports), qPrintable(c.error()));
    AgentConnection conn(endpoint(c));
    conn.open();
    const Answer unknownPool = await(conn.request("DELETE", QStringLiteral("/v1/pools/nope/replicas/x")));
    QCOMPARE(unknownPool.status, 404);
    QCOMPARE(unknownPool.error.code, QStringLiteral("unknown_pool"));
    const Answer wrongMethod = await(conn.request("GET", QStringLiteral("/v1/pools/web/replicas/x")));
    QCOMPARE(wrongMethod.status, 405);
    QCOMPARE(wrongMethod.error.code, QStringLiteral("method_not_allowed"));
    const Answer bad = await(conn.request("POST", QStringLiteral("/v1/pools/web/replicas"),
                                          QJsonDocument(QJsonObject{{"url", "http://127.0.0.1:1"}, {"weight", 0}})));
    QCOMPARE(bad.status, 400);
    QCOMPARE(bad.error.code, QStringLiteral("invalid_value"));
    QCOMPARE(bad.error.path, QStringLiteral("weight"));
    const Answer query = await(conn.request("GET", QStringLiteral("/v1/stats/history?seconds=0")));
    QCOMPARE(query.error.code, QStringLiteral("invalid_query"));
    QCOMPARE(query.error.path, QStringLiteral("seconds"));
    // Refused before anything is sent: a path with a space, an If-Match that is no number.
    QCOMPARE(await(conn.request("GET", QStringLiteral("/v1/pools/a b"))).error.code, QStringLiteral("bad_request"));
    QCOMPARE(await(conn.request("PUT", QStringLiteral("/v1/x"), {}, "W/\"1\"")).error.code, QStringLiteral("bad_request"));
    // A wrong token: 401 with the agent's own code.
    AgentConnection wrong(endpoint(c, "not-the-token"));
    wrong.open();
    const Answer denied = await(wrong.request("GET", QStringLiteral("/v1/status")));
    QCOMPARE(denied.status, 401);
    QCOMPARE(denied.error.code, QStringLiteral("unauthorized"));
    checkAgentExit(c, c.stopAgent());
}

void TstConsoleClient::viewerCannotWrite()
{
    Cluster c;
    QList<quint16> ports;
    QVERIFY2(start(c, &ports), qPrintable(c.error()));
    AgentConnection conn(endpoint(c, kViewer));
    conn.open();
    QCOMPARE(await(conn.request("GET", QStringLiteral("/v1/pools"))).status, 200);
    const Answer write = await(conn.request("POST", QStringLiteral("/v1/pools/web/replicas"),
                                            QJsonDocument(QJsonObject{{"url", QStringLiteral("http://127.0.0.1:%1").arg(ports[1])}})));
    QCOMPARE(write.status, 403);
    QCOMPARE(write.error.code, QStringLiteral("forbidden"));
    checkAgentExit(c, c.stopAgent());
}

// 50 requests made at once are answered in order, all on one connection (the agent's status
// shows one control connection's worth of work: every answer arrives, none is lost).
void TstConsoleClient::requestsQueueOnOneConnection()
{
    Cluster c;
    QList<quint16> ports;
    QVERIFY2(start(c, &ports), qPrintable(c.error()));
    AgentConnection conn(endpoint(c));
    conn.open();
    QList<int> order;
    constexpr int kRequests = 50;
    for (int i = 0; i < kRequests; ++i) {
        AgentReply* r = conn.request("GET", i % 2 ? QStringLiteral("/v1/status") : QStringLiteral("/v1/pools"));
        connect(r, &AgentReply::finished, this, [&order, i](int status) {
            if (status == 200)
                order.append(i);
        });
    }
    QTRY_COMPARE_WITH_TIMEOUT(order.size(), kRequests, kStreamWaitMs);
    for (int i = 0; i < kRequests; ++i)
        QCOMPARE(order[i], i);
    QCOMPARE(conn.state(), ConnectionState::Connected);
    checkAgentExit(c, c.stopAgent());
}

void TstConsoleClient::unreachableAgent()
{
    Cluster c; // no agent: its socket does not exist
    AgentConnection conn(endpoint(c));
    QSignalSpy states(&conn, &AgentConnection::stateChanged);
    conn.open();
    QTRY_COMPARE_WITH_TIMEOUT(conn.state(), ConnectionState::Unreachable, kWaitMs);
    QVERIFY(!conn.lastError().isEmpty());
    const Answer a = await(conn.request("GET", QStringLiteral("/v1/status")));
    QCOMPARE(a.status, 0);
    QCOMPARE(a.error.code, QStringLiteral("unreachable"));
    QVERIFY2(a.error.message.contains(controlSocket(c)), qPrintable(a.error.message));
    // It keeps trying, and connects once the agent is there.
    QList<quint16> ports;
    QVERIFY2(start(c, &ports), qPrintable(c.error()));
    QTRY_COMPARE_WITH_TIMEOUT(conn.state(), ConnectionState::Connected, kStreamWaitMs);
    QCOMPARE(await(conn.request("GET", QStringLiteral("/v1/status"))).status, 200);
    checkAgentExit(c, c.stopAgent());
}

void TstConsoleClient::statsStreamHistoryThenLive()
{
    Cluster c;
    QList<quint16> ports;
    QVERIFY2(start(c, &ports), qPrintable(c.error()));
    // Let the agent gather a few seconds of history.
    QTRY_VERIFY_WITH_TIMEOUT(
        [&] {
            const auto r = controlCall(c, "GET", "/v1/stats/history?seconds=900");
            return r && jsonBody(*r).value("points").toArray().size() >= 3;
        }(),
        kStreamWaitMs);
    AgentConnection conn(endpoint(c, kViewer));
    conn.open();
    StatsStream stream(&conn);
    QSignalSpy history(&stream, &StatsStream::historyLoaded);
    QSignalSpy samples(&stream, &StatsStream::sampleReceived);
    stream.start();
    QTRY_COMPARE_WITH_TIMEOUT(history.size(), 1, kWaitMs);
    const QJsonArray points = history.at(0).at(0).toJsonArray();
    QVERIFY(points.size() >= 3);
    const qint64 lastHistoryId = points.last().toObject().value("id").toInteger();
    QTRY_VERIFY_WITH_TIMEOUT(samples.size() >= 3, kStreamWaitMs);
    QCOMPARE(stream.state(), ConnectionState::Connected);
    // Every sample is newer than the history and than the one before: nothing doubled.
    qint64 previous = lastHistoryId;
    for (const QList<QVariant>& s : samples) {
        const QJsonObject o = s.at(0).toJsonObject();
        const qint64 id = o.value("id").toInteger();
        QVERIFY2(id == previous + 1, qPrintable(QStringLiteral("id %1 after %2").arg(id).arg(previous)));
        previous = id;
        QVERIFY(o.value("rates").isObject());
        QCOMPARE(o.value("pools").toArray().at(0).toObject().value("name").toString(), QStringLiteral("web"));
    }
    QCOMPARE(stream.lastId(), quint64(previous));
    checkAgentExit(c, c.stopAgent());
}

// The agent restarts and the new run's ids are already above the last one the console saw
// when it reconnects (the old run was short): ids never go backwards, yet the history must be
// fetched again, never the new run's points appended to the old run's as a replay. Made
// certain, not left to timing: while the new agent gathers samples the test blocks without
// running the event loop, so the console can only reconnect once the new ids are higher.
void TstConsoleClient::reconnectAfterAgentRestarts()
{
    Cluster c;
    QList<quint16> ports;
    QVERIFY2(start(c, &ports), qPrintable(c.error()));
    AgentConnection conn(endpoint(c));
    conn.open();
    StatsStream stream(&conn);
    // What the stream emitted, in order: -1 for a history (then its points' ids), a sample's id.
    QList<qint64> log;
    connect(&stream, &StatsStream::historyLoaded, this, [&log](const QJsonArray& points) {
        log.append(-1);
        for (const QJsonValue& p : points)
            log.append(p.toObject().value("id").toInteger());
    });
    QSignalSpy history(&stream, &StatsStream::historyLoaded);
    QSignalSpy samples(&stream, &StatsStream::sampleReceived);
    connect(&stream, &StatsStream::sampleReceived, this,
            [&log](const QJsonObject& s) { log.append(s.value("id").toInteger()); });
    stream.start();
    QTRY_VERIFY_WITH_TIMEOUT(samples.size() >= 2, kStreamWaitMs);
    QCOMPARE(conn.state(), ConnectionState::Connected);
    const quint64 oldLastId = stream.lastId();
    QVERIFY(stream.runStart().has_value());
    const double oldRunStart = *stream.runStart();

    QCOMPARE(c.stopAgent(), 0);
    QTRY_COMPARE_WITH_TIMEOUT(stream.state(), ConnectionState::Reconnecting, kStreamWaitMs);
    QTRY_COMPARE_WITH_TIMEOUT(conn.state(), ConnectionState::Reconnecting, kStreamWaitMs);
    const Answer down = await(conn.request("GET", QStringLiteral("/v1/status")));
    QCOMPARE(down.error.code, QStringLiteral("unreachable"));

    // From here until the new agent's newest id is above the old one, nothing runs the event loop.
    const qsizetype before = log.size();
    QVERIFY2(c.startAgent(config_), qPrintable(c.error()));
    QString error;
    const auto newId = waitForSampleBlocking(c, oldLastId + 1, &error);
    QVERIFY2(newId, qPrintable(error));
    QVERIFY(*newId > oldLastId);

    QTRY_COMPARE_WITH_TIMEOUT(conn.state(), ConnectionState::Connected, kStreamWaitMs);
    // A live sample past the one seen above (a replay, without the fix), then the count.
    QTRY_VERIFY_WITH_TIMEOUT(
        !samples.isEmpty() && samples.last().at(0).toJsonObject().value("id").toInteger() > qint64(*newId),
        kStreamWaitMs);
    QCOMPARE(history.size(), 2);
    QCOMPARE(stream.state(), ConnectionState::Connected);
    QVERIFY(stream.runStart().has_value());
    QVERIFY2(*stream.runStart() - oldRunStart > kRunStartJitterS,
             qPrintable(QStringLiteral("run start %1 after %2").arg(*stream.runStart(), 0, 'f', 3).arg(oldRunStart, 0, 'f', 3)));
    // After the old run: the new run's history first (from its id 1, up to at least the id seen
    // above), then its samples, each the one after the one before.
    const QList<qint64> after = log.mid(before);
    QCOMPARE(after.value(0), qint64(-1));
    QCOMPARE(after.value(1), qint64(1));
    QVERIFY2(!after.mid(1).contains(-1), "one history for the new run");
    for (qsizetype i = 2; i < after.size(); ++i)
        QVERIFY2(after[i] == after[i - 1] + 1,
                 qPrintable(QStringLiteral("id %1 after %2").arg(after[i]).arg(after[i - 1])));
    const Answer up = await(conn.request("GET", QStringLiteral("/v1/status")));
    QCOMPARE(up.status, 200);
    QCOMPARE(up.body.object().value("pid").toInteger(), c.agent().process().processId());
    checkAgentExit(c, c.stopAgent());
}

// The agent restarts between the console's run check and its stream opening (its ids above
// the Last-Event-ID sent): the replay looks like the old run's next seconds, but the first
// live event says when its run started, and that start is another: the history is fetched
// again, and that live event is not drawn on the old run's charts.
void TstConsoleClient::liveEventFromAnotherRun()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString socket = dir.filePath(QStringLiteral("agent.sock"));
    // Run A started at Unix time 1000, run B at 1993.
    const auto sample = [](int id, double time, double uptime) {
        return QJsonObject{{"id", id}, {"time", time}, {"uptime_s", uptime}};
    };
    const auto points = [](int last) {
        QJsonArray a;
        for (int id = 1; id <= last; ++id)
            a.append(QJsonObject{{"id", id}});
        return QJsonDocument(QJsonObject{{"interval_ms", 1000}, {"points", a}}).toJson(QJsonDocument::Compact);
    };
    ScriptedAgent agent;
    agent.answer = [&](const QByteArray& path, int nth) -> QByteArray {
        if (path == "/v1/stats")
            return QJsonDocument(nth == 0 ? sample(5, 1005.0, 5.0) : sample(7, 2000.0, 7.0)).toJson();
        if (path.startsWith("/v1/stats/history"))
            return points(nth == 0 ? 5 : 7);
        if (path == "/v1/stats/stream" && nth == 0) // B's point 6 replayed (history form), then B live
            return "retry: 2000\n\n" + statsEvent(QJsonObject{{"id", 6}, {"time", 1999.0}}) +
                   statsEvent(sample(7, 2000.0, 7.0));
        if (path == "/v1/stats/stream")
            return "retry: 2000\n\n" + statsEvent(sample(8, 2001.0, 8.0));
        return {};
    };
    QVERIFY(agent.listen(socket));
    QString error;
    const auto ep = AgentEndpoint::parse(socket, kViewer, {}, &error);
    QVERIFY2(ep, qPrintable(error));
    AgentConnection conn(*ep);
    conn.open();
    StatsStream stream(&conn);
    QSignalSpy history(&stream, &StatsStream::historyLoaded);
    QList<qint64> samples;
    connect(&stream, &StatsStream::sampleReceived, this,
            [&samples](const QJsonObject& s) { samples.append(s.value("id").toInteger()); });
    stream.start();
    QTRY_VERIFY_WITH_TIMEOUT(samples.contains(8), kStreamWaitMs);
    QCOMPARE(history.size(), 2);
    QCOMPARE(history.at(1).at(0).toJsonArray().last().toObject().value("id").toInt(), 7);
    QCOMPARE(samples, (QList<qint64>{6, 8}));
    QCOMPARE(agent.requests, (QList<QByteArray>{"GET /v1/stats", "GET /v1/stats/history?seconds=900",
                                                "GET /v1/stats/stream Last-Event-ID 5", "GET /v1/stats",
                                                "GET /v1/stats/history?seconds=900",
                                                "GET /v1/stats/stream Last-Event-ID 7"}));
    QVERIFY(stream.runStart().has_value());
    QCOMPARE(*stream.runStart(), 1993.0);
    QCOMPARE(stream.lastId(), quint64(8));
}

// Run A started at 1000.0 and was seen once, 0.2 s old; it died and run B started at 1000.4.
// Their starts are 0.4 s apart, which the old 0.5 s tolerance took for one run: the stream went
// on with Last-Event-ID 1 and drew B's seconds as A's. Within one run the start may move only by
// the clocks' rounding and slew, so B is another run: its history is fetched.
void TstConsoleClient::quickRestartIsAnotherRun()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString socket = dir.filePath(QStringLiteral("agent.sock"));
    const auto sample = [](int id, double time, double uptime) {
        return QJsonObject{{"id", id}, {"time", time}, {"uptime_s", uptime}};
    };
    const auto points = [](int last) {
        QJsonArray a;
        for (int id = 1; id <= last; ++id)
            a.append(QJsonObject{{"id", id}});
        return QJsonDocument(QJsonObject{{"interval_ms", 1000}, {"points", a}}).toJson(QJsonDocument::Compact);
    };
    ScriptedAgent agent;
    agent.closeStreams = true;
    agent.answer = [&](const QByteArray& path, int nth) -> QByteArray {
        if (path == "/v1/stats")
            return QJsonDocument(nth == 0 ? sample(1, 1000.2, 0.2) : sample(1, 1000.6, 0.2)).toJson();
        if (path.startsWith("/v1/stats/history"))
            return points(nth == 0 ? 0 : 1); // A's history was empty when asked; B's has its first
        if (path == "/v1/stats/stream" && nth == 0) // A's only sample, then A is gone
            return "retry: 100\n\n" + statsEvent(sample(1, 1000.2, 0.2));
        if (path == "/v1/stats/stream")
            return "retry: 100\n\n" + statsEvent(sample(2, 1001.6, 1.2));
        return {};
    };
    QVERIFY(agent.listen(socket));
    QString error;
    const auto ep = AgentEndpoint::parse(socket, kViewer, {}, &error);
    QVERIFY2(ep, qPrintable(error));
    AgentConnection conn(*ep);
    conn.open();
    StatsStream stream(&conn);
    QSignalSpy history(&stream, &StatsStream::historyLoaded);
    QList<qint64> samples;
    connect(&stream, &StatsStream::sampleReceived, this,
            [&samples](const QJsonObject& s) { samples.append(s.value("id").toInteger()); });
    stream.start();
    QTRY_VERIFY_WITH_TIMEOUT(samples.contains(2), kStreamWaitMs);
    QCOMPARE(history.size(), 2);
    QCOMPARE(agent.requests.mid(0, 6), (QList<QByteArray>{"GET /v1/stats", "GET /v1/stats/history?seconds=900",
                                                          "GET /v1/stats/stream", "GET /v1/stats",
                                                          "GET /v1/stats/history?seconds=900",
                                                          "GET /v1/stats/stream Last-Event-ID 1"}));
    QVERIFY(stream.runStart().has_value());
    QVERIFY(std::abs(*stream.runStart() - 1000.4) < 1e-9);
}

void TstConsoleClient::sameRunAllowsOnlyJitterAndSlew()
{
    const AgentRunMark a{1000.0, 0.2};
    QVERIFY(sameAgentRun(a, {1000.0, 0.2}));
    QVERIFY(sameAgentRun(a, {1000.004, 5.0}));      // rounding of uptime_s, reading two clocks
    QVERIFY(!sameAgentRun(a, {1000.4, 0.2}));       // restarted 0.4 s after A started
    QVERIFY(!sameAgentRun(a, {1000.05, 1.0}));      // 50 ms in 0.8 s is no slew
    QVERIFY(!sameAgentRun({1000.0, 30.0}, {1000.0, 2.0})); // uptime went backwards: another run
    // 15 minutes later the wall clock may have been slewed by up to 500 ppm (0.45 s).
    QVERIFY(sameAgentRun(a, {1000.3, 900.2}));
    QVERIFY(!sameAgentRun(a, {1000.5, 900.2}));
    QVERIFY(!sameAgentRun(a, {qQNaN(), 900.2}));
}

// The stall timeout follows the period the agent's ids announce (here every 5th sample: 5 s),
// bounded; it no longer grows with the gaps the network happened to leave.
void TstConsoleClient::stallTimeoutFollowsTheAnnouncedPeriod()
{
    QCOMPARE(streamStallTimeoutMs(1000), kStreamStallMinMs);
    QCOMPARE(streamStallTimeoutMs(5000), 15000);
    QCOMPARE(streamStallTimeoutMs(60000), kStreamStallMaxMs);
    QCOMPARE(streamStallTimeoutMs(3600 * 1000), kStreamStallMaxMs); // bounded
    QCOMPARE(streamStallTimeoutMs(-1), kStreamStallMinMs);

    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString socket = dir.filePath(QStringLiteral("agent.sock"));
    const auto sample = [](int id) {
        return QJsonObject{{"id", id}, {"time", 1000.0 + id}, {"uptime_s", double(id)}};
    };
    ScriptedAgent agent;
    agent.answer = [&](const QByteArray& path, int) -> QByteArray {
        if (path == "/v1/stats")
            return QJsonDocument(sample(7)).toJson();
        if (path.startsWith("/v1/stats/history"))
            return R"({"interval_ms":1000,"points":[{"id":7}]})";
        // At once the newest sample (off the beat), then every 5th.
        return "retry: 2000\n\n" + statsEvent(sample(8)) + statsEvent(sample(10)) + statsEvent(sample(15)) +
               statsEvent(sample(20));
    };
    QVERIFY(agent.listen(socket));
    QString error;
    const auto ep = AgentEndpoint::parse(socket, kViewer, {}, &error);
    QVERIFY2(ep, qPrintable(error));
    AgentConnection conn(*ep);
    conn.open();
    StatsStream stream(&conn);
    QCOMPARE(stream.stallTimeoutMs(), kStreamStallMaxMs); // any period must survive until known
    QList<qint64> samples;
    connect(&stream, &StatsStream::sampleReceived, this,
            [&samples](const QJsonObject& s) { samples.append(s.value("id").toInteger()); });
    stream.start();
    QTRY_VERIFY_WITH_TIMEOUT(samples.contains(20), kStreamWaitMs);
    QCOMPARE(stream.streamPeriodMs(), std::optional<qint64>(5000));
    QCOMPARE(stream.stallTimeoutMs(), 15000);
}

// control.address with control.tls: the client verifies the agent's certificate against the CA
// file and then works as over the socket (a request, the stream); without that CA (the system's
// only) the certificate is refused, never ignored, and the message says what to do.
void TstConsoleClient::tlsVerifiesTheAgent()
{
    TestCerts certs;
    QVERIFY2(certs.ok(), qPrintable(certs.error()));
    Cluster c;
    QList<quint16> ports;
    const quint16 p1 = c.startReplica(QStringLiteral("r1"));
    QVERIFY(p1 != 0);
    QJsonObject cfg = controlConfig(c, {p1});
    QJsonObject control = cfg[QStringLiteral("control")].toObject();
    control[QStringLiteral("address")] = QStringLiteral("127.0.0.1:0");
    control[QStringLiteral("tls")] = QJsonObject{{QStringLiteral("certificate"), certs.path(QStringLiteral("server.pem"))},
                                                 {QStringLiteral("private_key"), certs.path(QStringLiteral("server.key"))}};
    cfg[QStringLiteral("control")] = control;
    QVERIFY2(c.startAgent(cfg), qPrintable(c.error()));
    QProcess& agent = c.agent().process();
    QByteArray line;
    QDeadlineTimer deadline(kWaitMs);
    while (!line.startsWith("dlb-agent: control listening on 127.0.0.1:") && !deadline.hasExpired()) {
        if (!agent.canReadLine())
            agent.waitForReadyRead(100);
        else
            line = agent.readLine().trimmed();
    }
    QVERIFY2(line.endsWith(" (tls)"), line.constData());
    const QString port = QString::fromLatin1(
        line.mid(int(sizeof "dlb-agent: control listening on 127.0.0.1:") - 1).split(' ').first());

    QString error;
    // The certificate names localhost; 127.0.0.1 is where the agent listens.
    const auto ep = AgentEndpoint::parse(QStringLiteral("https://localhost:%1").arg(port), kViewer,
                                         certs.path(QStringLiteral("ca.pem")), &error);
    QVERIFY2(ep, qPrintable(error));
    AgentConnection conn(*ep);
    conn.open();
    const Answer status = await(conn.request("GET", QStringLiteral("/v1/status")));
    QVERIFY2(status.status == 200, qPrintable(status.error.text()));
    QCOMPARE(status.body.object().value("pid").toInteger(), agent.processId());
    StatsStream stream(&conn);
    QSignalSpy samples(&stream, &StatsStream::sampleReceived);
    stream.start();
    QTRY_VERIFY_WITH_TIMEOUT(samples.size() >= 1, kStreamWaitMs);

    const auto untrusted = AgentEndpoint::parse(QStringLiteral("https://localhost:%1").arg(port), kViewer, {}, &error);
    QVERIFY(untrusted);
    AgentConnection refused(*untrusted);
    refused.open();
    const Answer no = await(refused.request("GET", QStringLiteral("/v1/status")));
    QCOMPARE(no.status, 0);
    QCOMPARE(no.error.code, QStringLiteral("unreachable"));
    QVERIFY2(no.error.message.contains(QLatin1String("not trusted")), qPrintable(no.error.message));
    QCOMPARE(refused.state(), ConnectionState::Unreachable);
    checkAgentExit(c, c.stopAgent());
}

QTEST_GUILESS_MAIN(TstConsoleClient)
#include "tst_console_client.moc"
