#pragma once
// What the tests of hung probe endpoints and worker stalls share (tst_attack_s12 to s15): a
// Prequal pool on its defaults or probing fast, the agent's verdict and renewal lines, its log read
// so far, requests sent one after another while a test waits for a line, the workers' Prequal stop
// lines, and whether every thread of a stopped agent has stopped.

#include "harness.hpp"
#include "prequal_load.hpp"

#include <QDeadlineTimer>
#include <QDir>
#include <QFile>
#include <QJsonObject>
#include <QMap>
#include <QRegularExpression>
#include <QtTest>

#include <algorithm>
#include <csignal>
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

// A worker's Prequal stop line: its picks (HCL, fallback and exploring together), probe cost, share
// of probes answered in time and probe rate; all of them in the order the workers logged them.
struct StopLine {
    qlonglong picks = 0;
    QString cost;
    int answeredPct = -1;
    double rate = -1;
};

inline QList<StopLine> stopLines(const QByteArray& log)
{
    QList<StopLine> out;
    auto it = QRegularExpression(QStringLiteral("prequal: (\\d+) picks by HCL, (\\d+) by fallback, (\\d+) exploring; "
                                                  "probe cost ([^,]+), (\\d+)% answered in time, rate ([0-9.]+) per request"))
                  .globalMatch(QString::fromUtf8(log));
    while (it.hasNext()) {
        const auto m = it.next();
        out.append({m.captured(1).toLongLong() + m.captured(2).toLongLong() + m.captured(3).toLongLong(), m.captured(4),
                    m.captured(5).toInt(), m.captured(6).toDouble()});
    }
    return out;
}

// The stop line of the worker that balanced the most requests (with 2 workers, one connection of
// load goes to one of them).
inline StopLine busiestWorker(const QByteArray& log, int* workers)
{
    const QList<StopLine> lines = stopLines(log);
    *workers = static_cast<int>(lines.size());
    StopLine best;
    for (const StopLine& l : lines)
        if (l.picks >= best.picks)
            best = l;
    return best;
}

// The most probes per request any worker that balanced requests sent (its own count in its stop
// lines: "worker N, pool P: R requests, S probes sent"); idle probes of a worker without
// requests are left out.
inline double mostProbesPerRequest(const QByteArray& log)
{
    double most = 0;
    auto it = QRegularExpression(QStringLiteral("worker \\d+, pool \\S+: (\\d+) requests, (\\d+) probes sent"))
                  .globalMatch(QString::fromUtf8(log));
    while (it.hasNext()) {
        const auto m = it.next();
        const double requests = m.captured(1).toDouble();
        if (requests > 0)
            most = std::max(most, m.captured(2).toDouble() / requests);
    }
    return most;
}

// Whether every thread of `pid` is stopped (state T in /proc/<pid>/task/<tid>/stat): kill()
// returns before a stop has reached the threads of a process running on another core.
inline bool allThreadsStopped(qint64 pid)
{
    const QDir tasks(QStringLiteral("/proc/%1/task").arg(pid));
    const QStringList tids = tasks.entryList(QDir::Dirs | QDir::NoDotAndDotDot);
    if (tids.isEmpty())
        return false;
    for (const QString& tid : tids) {
        QFile f(tasks.filePath(tid + QStringLiteral("/stat")));
        if (!f.open(QIODevice::ReadOnly))
            return false;
        const QByteArray stat = f.readAll();
        const qsizetype paren = stat.lastIndexOf(')');
        if (paren < 0 || paren + 2 >= stat.size() || stat.at(paren + 2) != 'T')
            return false;
    }
    return true;
}

// `requests` GETs of /work on one closed-loop connection, all answered; with stopMs > 0 the agent
// is stopped (SIGSTOP) stopMs, then runs runMs, until the last answer. *cycles: the stops.
inline void loadWithStalls(Cluster& c, int requests, int stopMs, int runMs, int* cycles)
{
    *cycles = 0;
    Load load(c.port(), 1, requests, "/work");
    while (load.completed() < requests) {
        if (stopMs > 0) {
            c.agent().signal(SIGSTOP);
            QThread::msleep(static_cast<unsigned long>(stopMs)); // the stall itself
            c.agent().signal(SIGCONT);
            QThread::msleep(static_cast<unsigned long>(runMs)); // the agent runs: part of the stall pattern
            ++*cycles;
        } else {
            QVERIFY(QTest::qWaitFor([&] { return load.completed() >= requests; }, 30000));
        }
        QVERIFY(*cycles < 5000);
    }
    QVERIFY(load.wait(10000));
    QVERIFY2(load.failures().isEmpty(), qPrintable(load.failures().join(QLatin1Char('\n'))));
}

} // namespace dlb::test
