#pragma once
// What the Replicas and Algorithm pages do to an agent, without widgets: reads the pools, sends
// each write, reads the pools again after it, and tells the pages the outcome. The network is
// handed in as a transport (the agent connection's adapter, or a test's fake), so the views
// never touch it and this class is tested without one.

#include "models/steer_pools.hpp"

#include <QObject>

#include <functional>

namespace dlb::console {

class AlgorithmForm;

// While a replica drains, the pools are read again this often, so it leaves the table when the
// agent has removed it (the agent says nothing by itself).
inline constexpr int kDrainPollMs = 1000;

// Sends one request and calls `done` exactly once with its reply, on the GUI thread.
using SteerTransport = std::function<void(const SteerRequest& request, std::function<void(const SteerReply&)> done)>;

class SteerController : public QObject {
    Q_OBJECT
public:
    enum class Action { Add, Remove, Drain, Weight, HealthCheck, Algorithm };
    Q_ENUM(Action)

    explicit SteerController(SteerTransport transport = {}, QObject* parent = nullptr);
    Q_DISABLE_COPY_MOVE(SteerController)

    // Another agent: what was read from the last one is forgotten.
    void setTransport(SteerTransport transport);
    bool hasTransport() const { return static_cast<bool>(transport_); }
    const PoolsSnapshot& pools() const { return pools_; }
    bool loaded() const { return loaded_; }
    int pending() const { return pending_; }

    void refresh();
    void addReplica(const QString& pool, const QString& url, qint64 weight, const QString& id = {});
    void removeReplica(const QString& pool, const QString& id);
    void drainReplica(const QString& pool, const QString& id);
    void setWeight(const QString& pool, const QString& id, qint64 weight);
    void healthCheck(const QString& pool);
    void applyAlgorithm(const AlgorithmForm& form);

signals:
    void poolsChanged();
    void refreshFailed(const QString& why);
    // Every write's outcome; `subject` is the replica id (or URL when adding), empty otherwise.
    void finished(dlb::console::SteerController::Action action, const QString& pool, const QString& subject,
                  const dlb::console::SteerReply& reply);
    void healthChecked(const QString& pool, const QList<dlb::console::HealthResult>& results);
    // An action the agent took, for the audit log (dlb.audit): `action` as auditAction() names
    // it, `detail` what was sent and what came of it.
    void changeApplied(const QString& action, const QString& detail);
    void busyChanged(bool busy);

private:
    void send(const SteerRequest& request, std::function<void(const SteerReply&)> done);
    void write(Action action, const QString& pool, const QString& subject, const SteerRequest& request);

    SteerTransport transport_;
    quint64 epoch_ = 0; // bumped by setTransport: answers from the previous agent are dropped
    PoolsSnapshot pools_;
    bool loaded_ = false;
    int pending_ = 0;
    bool pollQueued_ = false; // a re-read for draining replicas is scheduled
};

// The audit log's name for an action: replica.add, replica.remove, replica.drain,
// replica.weight, pool.health_check, pool.algorithm.
QString auditAction(SteerController::Action action);

// One line for the page's status: what was done, or why it was refused.
QString describeOutcome(SteerController::Action action, const QString& pool, const QString& subject,
                        const SteerReply& reply);

} // namespace dlb::console
