#pragma once
// What the tests of hung probe endpoints share (tst_attack_s12, tst_attack_s13, tst_attack_s14): a
// Prequal pool on its defaults or probing fast, the agent's verdict and renewal lines, its log read
// so far, and requests sent one after another while a test waits for a line.

#include "harness.hpp"
#include "prequal_load.hpp"

#include <QDeadlineTimer>
#include <QJsonObject>
#include <QMap>

#include <functional>
#include <memory>

namespace dlb::test {

// Pool "0" on Prequal probing /ping with its defaults (probe_cost_budget 0.02, idle probes 10/s),
// a probe timed out after 50 ms (the default of probe.timeout_ms).
inline void prequalDefaults(QJsonObject& cfg)
{
    const QString pool = QStringLiteral("0");
    setJson(cfg, {QStringLiteral("pools"), pool, QStringLiteral("algorithm")},
            QJsonObject{{QStringLiteral("name"), QStringLiteral("prequal")}});
    setJson(cfg, {QStringLiteral("pools"), pool, QStringLiteral("probe")},
            QJsonObject{{QStringLiteral("path"), QStringLiteral("/ping")}, {QStringLiteral("timeout_ms"), 50}});
}

// Pool "0" on Prequal probing /ping, a probe timed out after 50 ms; the probe cost is not looked
// at (probe_cost_budget 0) and idle probes go out at 200/s per worker, so probes flow whether or
// not requests do and a hung endpoint's verdict (kHungVerdictTimeouts) takes a fraction of a
// second.
inline void prequalProbingFast(QJsonObject& cfg)
{
    const QString pool = QStringLiteral("0");
    setJson(cfg, {QStringLiteral("pools"), pool, QStringLiteral("algorithm")},
            QJsonObject{{QStringLiteral("name"), QStringLiteral("prequal")},
                        {QStringLiteral("probe_cost_budget"), 0},
                        {QStringLiteral("idle_probe_rate"), 200}});
    setJson(cfg, {QStringLiteral("pools"), pool, QStringLiteral("probe")},
            QJsonObject{{QStringLiteral("path"), QStringLiteral("/ping")}, {QStringLiteral("timeout_ms"), 50}});
}

// The hung-endpoint line for the replica on `port` (of any worker), and the line of a renewal
// (logged at the 1st, 2nd, 4th ... renewal).
inline QByteArray verdictOf(quint16 port)
{
    return "replica 127.0.0.1:" + QByteArray::number(port) + ": " + hungVerdictLine();
}
inline QByteArray renewalOf(quint16 port)
{
    return "replica 127.0.0.1:" + QByteArray::number(port) + ": its probe path still hangs";
}

// The agent's log so far: what its stderr holds is read first (QProcess reads only when waited
// on, and the loops here wait on sockets).
inline QByteArray freshLog(Cluster& c)
{
    c.agent().waitForLog("\x01", 0, 1);
    return c.agentLog();
}

// Requests one after another on a keep-alive connection (opened again when lost): what came
// back, and from which replica (X-Replica). Every answer should be a 200 where every replica
// accepts connections and serves requests.
struct Traffic {
    explicit Traffic(quint16 agentPort) : port(agentPort) {}
    void send(int n)
    {
        for (int i = 0; i < n; ++i) {
            if (!client || !client->connected()) {
                client = std::make_unique<HttpClient>();
                if (!client->connectTo(port)) {
                    ++lost;
                    continue;
                }
            }
            const auto r = client->send(getRequest("/work")) ? client->read() : std::nullopt;
            if (!r) {
                ++lost;
                client.reset();
                continue;
            }
            if (r->status == 200) {
                ++answered;
                ++by[r->header("X-Replica")];
            } else if (failed++ == 0) {
                firstFailure = QByteArray::number(r->status) + " " + r->body;
            }
        }
    }
    QByteArray summary() const
    {
        return QByteArray::number(answered) + " answered 200 (" + describe(by).toLatin1() + "), " +
               QByteArray::number(failed) + " other (first: " + firstFailure + "), " + QByteArray::number(lost) +
               " without an answer";
    }

    quint16 port;
    std::unique_ptr<HttpClient> client;
    int answered = 0;
    int failed = 0;
    int lost = 0;
    QMap<QByteArray, int> by;
    QByteArray firstFailure;
};

// Sends requests, 20 at a time, until `done` holds; false when `deadlineMs` passed first.
inline bool pumpUntil(Traffic& traffic, const std::function<bool()>& done, int deadlineMs)
{
    QDeadlineTimer deadline(deadlineMs);
    while (!done()) {
        if (deadline.hasExpired())
            return false;
        traffic.send(20);
    }
    return true;
}

} // namespace dlb::test
