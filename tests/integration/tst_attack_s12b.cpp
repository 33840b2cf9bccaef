// An adversarial review of the change after 9ff80f7 (agent/): Session::abandonUpstream() and
// PoolRuntime::abandoned(replica, now, waited_ms), where the time a replica had the whole request
// unanswered is a latency sample only when above its average. Each test is a guard: clients that
// leave at every step of an exchange, all at once, between well-behaved ones.

#include "control_fixture.hpp"
#include "harness.hpp"
#include "raw_socket.hpp"
#include "stub_backend.hpp"

#include <QtTest>

#include <unistd.h>

#include <vector>

using namespace dlb::test;

class TestAttackS12b : public QObject {
    Q_OBJECT

private slots:
    void abandonStormAtEveryStep();
    void abandonMidBodyOfStalledAnswer();
};

// Guard: a replica that takes 500 ms (8 at a time); 30 clients connected at once, each leaving (a reset) at a
// different step: the body half sent, the body complete, a GET complete, two pipelined GETs, a
// chunked body cut short; all reset together while they are at the replica, with well-behaved
// requests before and after. Every well-behaved request must get 200, the replica's in flight must
// come back to 0 with no error counted, its average must not fall below its 500 ms (the clients
// left at once: each waited less than the average, so no sample; the well-behaved requests that
// queued behind them may raise it), and the agent must exit 0.
void TestAttackS12b::abandonStormAtEveryStep()
{
    Cluster c;
    const quint16 r = c.startReplica(QStringLiteral("r"), {QStringLiteral("--service-ms"), QStringLiteral("500"),
                                                           QStringLiteral("--dist"), QStringLiteral("fixed")});
    QVERIFY2(r, qPrintable(c.error()));
    QVERIFY2(c.startAgent(controlConfig(c, {r})), qPrintable(c.error()));
    for (int i = 0; i < 3; ++i) {
        const auto resp = fetch(c.port(), getRequest("/work"));
        QVERIFY(resp && resp->status == 200);
    }
    const QByteArray steps[] = {
        "POST /work HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc",
        "POST /work HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
        "GET /work HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /work HTTP/1.1\r\nHost: x\r\n\r\nGET /work HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST /work HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
    };
    constexpr int kClients = 30;
    std::vector<int> fds;
    for (int i = 0; i < kClients; ++i) {
        const int fd = connectWithTimeout(c.port());
        QVERIFY(fd >= 0);
        QVERIFY(sendAll(fd, steps[i % 5]));
        fds.push_back(fd);
    }
    // Every one of them is at the replica (in flight counts them) before they all leave.
    const auto inFlight = [&] {
        const auto replicas = webReplicas(c);
        return replicas.size() == 1 ? replicas.first().value(QStringLiteral("in_flight")).toInteger() : -1;
    };
    QTRY_VERIFY_WITH_TIMEOUT(inFlight() > 0, kWaitMs);
    for (const int fd : fds)
        resetClose(fd);
    for (int i = 0; i < 3; ++i) {
        const auto resp = fetch(c.port(), getRequest("/work"));
        QVERIFY(resp && resp->status == 200);
    }
    QJsonObject replica;
    QVERIFY2(waitSettled(c, 6 + kClients, &replica), qPrintable(QJsonDocument(replica).toJson()));
    const QString what = QString::fromUtf8(QJsonDocument(replica).toJson(QJsonDocument::Compact));
    QVERIFY2(replica.value(QStringLiteral("errors")).toInteger() == 0, qPrintable(what));
    const double latency = replica.value(QStringLiteral("latency_ms")).toDouble();
    QVERIFY2(latency >= 450 && latency < 5000, qPrintable(what));
    // In flight stays 0 (it does not drift below or above) once the storm is over.
    const auto again = fetch(c.port(), getRequest("/work"));
    QVERIFY(again && again->status == 200);
    QTRY_VERIFY2_WITH_TIMEOUT(webReplicas(c).first().value(QStringLiteral("requests")).toInteger() >= 7 + kClients,
                              qPrintable(what), kWaitMs);
    QCOMPARE(inFlight(), 0);
    QCOMPARE(c.stopAgent(), 0);
}

// Guard: a replica that answers the head and then sends its chunked body slowly (one chunk every
// 100 ms); 10 clients read the head and the first bytes of the body and leave (half of them with
// a reset, half with a FIN). The replica owed nothing more (its head came): no latency sample, no
// error, in flight back to 0; a well-behaved client after them still gets the whole body; exit 0.
void TestAttackS12b::abandonMidBodyOfStalledAnswer()
{
    Cluster c;
    StubBackend& s = c.addStub("s", StubMode::SlowChunks);
    QVERIFY2(c.startAgent(controlConfig(c, {s.port()})), qPrintable(c.error()));
    constexpr int kClients = 10;
    std::vector<int> fds;
    for (int i = 0; i < kClients; ++i) {
        const int fd = connectWithTimeout(c.port());
        QVERIFY(fd >= 0);
        QVERIFY(sendAll(fd, getRequest("/work")));
        fds.push_back(fd);
    }
    for (const int fd : fds) {
        // The head and the first chunk come at once; the rest 100 ms apart: 250 ms reads some.
        bool closed = false;
        const QByteArray got = readUntilClose(fd, 250, &closed);
        QVERIFY2(!closed && got.startsWith("HTTP/1.1 200"), got.constData());
    }
    for (size_t i = 0; i < fds.size(); ++i) {
        if (i % 2 == 0)
            resetClose(fds[i]);
        else
            ::close(fds[i]);
    }
    const auto resp = fetch(c.port(), getRequest("/work"));
    QVERIFY(resp && resp->status == 200);
    QCOMPARE(resp->body, slowChunksBody());
    QJsonObject replica;
    QVERIFY2(waitSettled(c, kClients + 1, &replica), qPrintable(QJsonDocument(replica).toJson()));
    const QString what = QString::fromUtf8(QJsonDocument(replica).toJson(QJsonDocument::Compact));
    QVERIFY2(replica.value(QStringLiteral("errors")).toInteger() == 0, qPrintable(what));
    QCOMPARE(c.stopAgent(), 0);
}

QTEST_GUILESS_MAIN(TestAttackS12b)
#include "tst_attack_s12b.moc"
