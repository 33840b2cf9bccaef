#pragma once
// What the tests of a stopped agent with probes out share (tst_attack_s15, tst_attack_s16):
// replicas that hold a probe until the agent is stopped, or have no probe path, a Prequal pool
// whose probe rate one stop would cut, and the stop line read after one more request.

#include "harness.hpp"
#include "hung_probe_fixture.hpp"
#include "scripted_replica.hpp"

#include <QJsonObject>
#include <QSemaphore>
#include <QtTest>

#include <atomic>
#include <memory>

namespace dlb::test {

inline const QString kPool = QStringLiteral("0");

inline const Answer& probeAnswer()
{
    static const Answer a = ok(R"({"rif": 0, "latency_ms": 1})");
    return a;
}

// Holds the next probe it is armed for until the test has stopped the agent, then answers it:
// the answer waits in the agent's socket for the whole stop.
struct Hold {
    std::atomic<bool> armed{false};
    QSemaphore caught;
    QSemaphore released;
};

// A replica without a probe endpoint (404 for /ping): balanced on the worker's own measurements
// for 30 s after its first probe, so it has no probe out when the agent stops.
inline ScriptedReplica::Script withoutProbes(const QByteArray& name)
{
    return [name](const QByteArray& path) {
        if (path == "/ping")
            return Answer{"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"};
        return ok(name, "X-Replica: " + name + "\r\n");
    };
}

inline ScriptedReplica::Script holdingProbes(const QByteArray& name, std::shared_ptr<Hold> hold)
{
    return [name, hold](const QByteArray& path) {
        if (path == "/ping") {
            if (hold->armed.exchange(false)) {
                hold->caught.release();
                hold->released.tryAcquire(1, 5000); // until the agent is stopped
            }
            return probeAnswer();
        }
        return ok(name, "X-Replica: " + name + "\r\n");
    };
}

// Pool "0" on Prequal probing /ping (timeout `timeoutMs`; 50 is the default, 200 lets a probe held
// through a 100 ms stop be read, not timed out), idle probes at 1000/s (every replica each tick),
// with a budget (16) that keeps the rate at probe_rate (3) while probes cost less than 16/3
// requests' worth: one sample of a stop of the agent (100 ms over sub-millisecond requests, a
// cost of hundreds) cuts it below 1.
inline void prequalWideBudget(QJsonObject& cfg, int timeoutMs = 50)
{
    setJson(cfg, {QStringLiteral("pools"), kPool, QStringLiteral("algorithm")},
            QJsonObject{{QStringLiteral("name"), QStringLiteral("prequal")},
                        {QStringLiteral("probe_cost_budget"), 16},
                        {QStringLiteral("idle_probe_rate"), 1000}});
    setJson(cfg, {QStringLiteral("pools"), kPool, QStringLiteral("probe")},
            QJsonObject{{QStringLiteral("path"), QStringLiteral("/ping")}, {QStringLiteral("timeout_ms"), timeoutMs}});
}

// One request answered after the stops (the loop ran its first poll, which read the answers that
// waited in its sockets), then the agent stopped: its one worker's stop line in *out.
inline void stopAfterOneRequest(Cluster& c, StopLine* out)
{
    Traffic after(c.port());
    after.send(1);
    QVERIFY2(after.answered == 1, after.summary().constData());
    QCOMPARE(c.stopAgent(), 0);
    const QByteArray log = c.agentLog();
    const QList<StopLine> lines = stopLines(log);
    QVERIFY2(lines.size() == 1, log.constData());
    *out = lines.front();
}

} // namespace dlb::test
