#pragma once
// Closed-loop keep-alive load for the Prequal integration tests (tst_prequal_e2e,
// tst_prequal_outage), and helpers to read its outcomes.

#include "harness.hpp"

#include <QElapsedTimer>
#include <QJsonObject>
#include <QMap>
#include <QMutex>
#include <QMutexLocker>
#include <QThread>

#include <atomic>
#include <memory>
#include <optional>
#include <vector>

namespace dlb::test {

// One answer (or failure) seen by a Load connection.
struct Outcome {
    qint64 atMs = 0;    // when it completed, on the Load's clock
    int status = 0;     // 0: no answer (see error)
    QByteArray replica; // X-Replica, or X-Stub for a stub backend
    QString error;      // transport failure: the connection was lost or timed out
};

// Closed-loop load: `connections` keep-alive client connections, each a thread of its own with a
// blocking HttpClient, each sending its next GET as soon as the previous answer arrived, until
// `total` requests were sent in all (or, with total < 0, until stop()). A connection that fails
// records the failure and ends; it never reconnects, so every lost connection shows.
class Load {
public:
    Load(quint16 port, int connections, int total, QByteArray path = "/load")
        : port_(port), total_(total), path_(std::move(path))
    {
        clock_.start();
        for (int i = 0; i < connections; ++i)
            threads_.emplace_back(QThread::create([this] { run(); }));
        for (auto& t : threads_)
            t->start();
    }
    ~Load()
    {
        stop();
        for (auto& t : threads_)
            t->wait();
    }
    Load(const Load&) = delete;
    Load& operator=(const Load&) = delete;

    void stop() { stop_ = true; }
    // True when every connection ended within timeoutMs.
    bool wait(int timeoutMs)
    {
        QDeadlineTimer deadline(timeoutMs);
        for (auto& t : threads_) {
            if (!t->wait(deadline))
                return false;
        }
        return true;
    }
    qint64 elapsedMs() const { return clock_.elapsed(); }
    int completed() const { return done_; }
    QList<Outcome> outcomes() const
    {
        QMutexLocker lock(&mutex_);
        return outcomes_;
    }
    // Transport failures, one line each; empty when every request got an answer.
    QStringList failures() const
    {
        QStringList out;
        for (const Outcome& o : outcomes()) {
            if (o.status == 0)
                out.append(QStringLiteral("at %1 ms: %2").arg(o.atMs).arg(o.error));
        }
        return out;
    }

private:
    void run()
    {
        HttpClient client;
        if (!client.connectTo(port_)) {
            record({clock_.elapsed(), 0, {}, client.error()});
            return;
        }
        while (!stop_ && (total_ < 0 || next_.fetch_add(1) < total_)) {
            std::optional<Response> r;
            if (client.send(getRequest(path_)))
                r = client.read();
            if (!r) {
                record({clock_.elapsed(), 0, {}, client.error()});
                return;
            }
            const QByteArray who = r->hasHeader("X-Replica") ? r->header("X-Replica") : r->header("X-Stub");
            record({clock_.elapsed(), r->status, who, {}});
        }
        if (!client.connected())
            record({clock_.elapsed(), 0, {}, QStringLiteral("the agent closed an idle keep-alive connection")});
    }
    void record(Outcome o)
    {
        QMutexLocker lock(&mutex_);
        outcomes_.append(std::move(o));
        ++done_;
    }

    const quint16 port_;
    const int total_;
    const QByteArray path_;
    QElapsedTimer clock_;
    std::atomic<int> next_{0};
    std::atomic<int> done_{0};
    std::atomic<bool> stop_{false};
    mutable QMutex mutex_;
    QList<Outcome> outcomes_; // guarded by mutex_
    std::vector<std::unique_ptr<QThread>> threads_;
};

// How many answers each replica gave.
inline QMap<QByteArray, int> shares(const QList<Outcome>& outcomes)
{
    QMap<QByteArray, int> out;
    for (const Outcome& o : outcomes) {
        if (o.status != 0)
            ++out[o.replica];
    }
    return out;
}

inline QString describe(const QMap<QByteArray, int>& counts)
{
    QStringList parts;
    for (auto it = counts.cbegin(); it != counts.cend(); ++it)
        parts.append(QStringLiteral("%1=%2").arg(QString::fromLatin1(it.key())).arg(it.value()));
    return parts.join(QStringLiteral(" "));
}

// Statuses other than 200, as "status from replica at ms" lines.
inline QStringList non200(const QList<Outcome>& outcomes, qint64 fromMs = 0)
{
    QStringList out;
    for (const Outcome& o : outcomes) {
        if (o.atMs >= fromMs && o.status != 200)
            out.append(QStringLiteral("%1 from \"%2\" at %3 ms%4")
                           .arg(o.status)
                           .arg(QString::fromLatin1(o.replica))
                           .arg(o.atMs)
                           .arg(o.error.isEmpty() ? QString() : QStringLiteral(": ") + o.error));
    }
    return out;
}

inline QStringList fixedService(int workers, int serviceMs)
{
    return {QStringLiteral("--workers"), QString::number(workers), QStringLiteral("--service-ms"),
            QString::number(serviceMs), QStringLiteral("--dist"), QStringLiteral("fixed")};
}

inline void usePrequal(QJsonObject& cfg)
{
    setJson(cfg, {QStringLiteral("pools"), QStringLiteral("0"), QStringLiteral("algorithm")},
            QJsonObject{{QStringLiteral("name"), QStringLiteral("prequal")}});
    setJson(cfg, {QStringLiteral("pools"), QStringLiteral("0"), QStringLiteral("probe")},
            QJsonObject{{QStringLiteral("path"), QStringLiteral("/ping")}, {QStringLiteral("timeout_ms"), 200}});
}

} // namespace dlb::test
