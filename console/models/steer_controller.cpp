#include "models/steer_controller.hpp"

#include "models/algorithm_form.hpp"

#include <QJsonDocument>
#include <QPointer>
#include <QTimer>

#include <algorithm>

namespace dlb::console {

SteerController::SteerController(SteerTransport transport, QObject* parent)
    : QObject(parent), transport_(std::move(transport))
{
    qRegisterMetaType<SteerReply>();
}

void SteerController::setTransport(SteerTransport transport)
{
    transport_ = std::move(transport);
    ++epoch_;
    pools_ = {};
    loaded_ = false;
    if (pending_) {
        pending_ = 0;
        emit busyChanged(false);
    }
    emit poolsChanged();
}

void SteerController::send(const SteerRequest& request, std::function<void(const SteerReply&)> done)
{
    if (!transport_) {
        SteerReply reply;
        reply.message = tr("no agent is chosen: add or choose one on the Agents page");
        done(reply);
        return;
    }
    if (pending_++ == 0)
        emit busyChanged(true);
    QPointer<SteerController> self(this);
    const quint64 epoch = epoch_;
    transport_(request, [self, epoch, done = std::move(done)](const SteerReply& reply) {
        // The page may be gone, or showing another agent, by the time an answer comes.
        if (!self || self->epoch_ != epoch)
            return;
        if (--self->pending_ == 0)
            emit self->busyChanged(false);
        done(reply);
    });
}

void SteerController::refresh()
{
    send(steer::listPools(), [this](const SteerReply& reply) {
        if (!reply.ok()) {
            emit refreshFailed(reply.describe());
            return;
        }
        QString why;
        auto snap = parsePools(reply.json, &why);
        if (!snap) {
            emit refreshFailed(tr("the agent's GET /v1/pools answer is not understood (%1)").arg(why));
            return;
        }
        pools_ = *snap;
        loaded_ = true;
        emit poolsChanged();
        const bool draining = std::any_of(pools_.pools.cbegin(), pools_.pools.cend(), [](const PoolInfo& p) {
            return std::any_of(p.replicas.cbegin(), p.replicas.cend(),
                               [](const ReplicaInfo& r) { return r.state == QLatin1String("draining"); });
        });
        if (draining && !pollQueued_) {
            pollQueued_ = true;
            QTimer::singleShot(kDrainPollMs, this, [this, epoch = epoch_] {
                pollQueued_ = false;
                if (epoch == epoch_)
                    refresh();
            });
        }
    });
}

void SteerController::write(Action action, const QString& pool, const QString& subject, const SteerRequest& request)
{
    send(request, [this, action, pool, subject, request](const SteerReply& reply) {
        if (reply.ok()) {
            QString detail = QStringLiteral("pool %1: %2 %3").arg(pool, QString::fromLatin1(request.method), request.path);
            if (request.hasBody)
                detail += QLatin1Char(' ') + QString::fromUtf8(QJsonDocument(request.body).toJson(QJsonDocument::Compact));
            if (reply.json.contains(QLatin1String("generation")))
                detail += QStringLiteral(" -> generation %1").arg(reply.json.value(QLatin1String("generation")).toInteger());
            emit changeApplied(auditAction(action), detail);
        }
        emit finished(action, pool, subject, reply);
        // What the write changed, and what others changed meanwhile (a 409), shows at once.
        if (reply.ok() || reply.status == 409)
            refresh();
    });
}

void SteerController::addReplica(const QString& pool, const QString& url, qint64 weight, const QString& id)
{
    write(Action::Add, pool, url, steer::addReplica(pool, url, weight, id));
}

void SteerController::removeReplica(const QString& pool, const QString& id)
{
    write(Action::Remove, pool, id, steer::removeReplica(pool, id));
}

void SteerController::drainReplica(const QString& pool, const QString& id)
{
    write(Action::Drain, pool, id, steer::drainReplica(pool, id));
}

void SteerController::setWeight(const QString& pool, const QString& id, qint64 weight)
{
    write(Action::Weight, pool, id, steer::setWeight(pool, id, weight, pools_.generation));
}

void SteerController::applyAlgorithm(const AlgorithmForm& form)
{
    write(Action::Algorithm, form.pool(), {}, form.request());
}

void SteerController::healthCheck(const QString& pool)
{
    send(steer::healthCheck(pool), [this, pool](const SteerReply& reply) {
        SteerReply outcome = reply;
        if (reply.ok()) {
            QString why;
            if (auto results = parseHealthResults(reply.json, &why)) {
                emit healthChecked(pool, *results);
            } else {
                outcome.status = 0;
                outcome.message = tr("the agent's health-check answer is not understood (%1)").arg(why);
            }
        }
        if (outcome.ok())
            emit changeApplied(auditAction(Action::HealthCheck),
                               describeOutcome(Action::HealthCheck, pool, {}, outcome));
        emit finished(Action::HealthCheck, pool, {}, outcome);
        // States move with the checks (a pending replica becomes healthy).
        if (outcome.ok())
            refresh();
    });
}

QString auditAction(SteerController::Action action)
{
    using A = SteerController::Action;
    switch (action) {
    case A::Add:
        return QStringLiteral("replica.add");
    case A::Remove:
        return QStringLiteral("replica.remove");
    case A::Drain:
        return QStringLiteral("replica.drain");
    case A::Weight:
        return QStringLiteral("replica.weight");
    case A::HealthCheck:
        return QStringLiteral("pool.health_check");
    case A::Algorithm:
        return QStringLiteral("pool.algorithm");
    }
    return {};
}

QString describeOutcome(SteerController::Action action, const QString& pool, const QString& subject,
                        const SteerReply& reply)
{
    using A = SteerController::Action;
    if (reply.status == 409 && reply.code == QLatin1String("stale_generation"))
        return QObject::tr("Not applied: the config was changed by someone else since it was read. "
                           "Reload, check the values, and apply again.");
    if (!reply.ok()) {
        const QString what = [&] {
            switch (action) {
            case A::Add:
                return QObject::tr("Could not add %1 to %2").arg(subject, pool);
            case A::Remove:
                return QObject::tr("Could not remove %1 from %2").arg(subject, pool);
            case A::Drain:
                return QObject::tr("Could not drain %1 in %2").arg(subject, pool);
            case A::Weight:
                return QObject::tr("Could not set the weight of %1 in %2").arg(subject, pool);
            case A::HealthCheck:
                return QObject::tr("Could not health-check %1").arg(pool);
            case A::Algorithm:
                return QObject::tr("Could not change the algorithm of %1").arg(pool);
            }
            return QString();
        }();
        return what + QStringLiteral(": ") + reply.describe();
    }
    const QString generation = reply.json.contains(QLatin1String("generation"))
                                   ? QObject::tr(" (generation %1)").arg(reply.json.value(QLatin1String("generation")).toInteger())
                                   : QString();
    switch (action) {
    case A::Add:
        return QObject::tr("Added %1 to %2; it takes traffic after its first passing health check%3.")
            .arg(subject, pool, generation);
    case A::Remove:
        return QObject::tr("Removed %1 from %2: it drains, and is gone when its last request ends%3.")
            .arg(subject, pool, generation);
    case A::Drain:
        return QObject::tr("Draining %1 in %2: no new requests; removed when its last request ends%3.")
            .arg(subject, pool, generation);
    case A::Weight:
        return QObject::tr("Set the weight of %1 in %2%3.").arg(subject, pool, generation);
    case A::HealthCheck: {
        int passed = 0;
        int failed = 0;
        QString why;
        if (auto results = parseHealthResults(reply.json, &why))
            for (const HealthResult& r : *results)
                (r.ok ? passed : failed)++;
        return QObject::tr("Health check of %1: %2 passed, %3 failed.").arg(pool).arg(passed).arg(failed);
    }
    case A::Algorithm:
        return QObject::tr("Applied to %1%2; new requests use it now.").arg(pool, generation);
    }
    return {};
}

} // namespace dlb::console
