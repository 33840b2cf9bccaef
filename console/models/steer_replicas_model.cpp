#include "models/steer_replicas_model.hpp"
#include "models/status_colors.hpp"

#include <QBrush>
#include <QColor>

namespace dlb::console {
namespace {

QString checkText(const HealthResult& r)
{
    if (r.ok)
        return QObject::tr("passed (%1)").arg(r.status);
    return r.status ? QObject::tr("failed (%1): %2").arg(r.status).arg(r.reason)
                    : QObject::tr("failed: %1").arg(r.reason);
}

} // namespace

SteerReplicasModel::SteerReplicasModel(QObject* parent) : QAbstractTableModel(parent) {}

void SteerReplicasModel::setReplicas(const QList<ReplicaInfo>& replicas)
{
    beginResetModel();
    replicas_ = replicas;
    QHash<QString, HealthResult> kept;
    for (const ReplicaInfo& r : replicas_)
        if (auto it = checks_.constFind(r.id); it != checks_.constEnd())
            kept.insert(r.id, *it);
    checks_ = kept;
    endResetModel();
}

void SteerReplicasModel::setHealthResults(const QList<HealthResult>& results)
{
    for (const HealthResult& r : results)
        checks_.insert(r.id, r);
    if (!replicas_.isEmpty())
        emit dataChanged(index(0, 0), index(rowCount() - 1, ColumnCount - 1));
}

void SteerReplicasModel::clearHealthResults()
{
    checks_.clear();
    if (!replicas_.isEmpty())
        emit dataChanged(index(0, LastCheck), index(rowCount() - 1, LastCheck));
}

const ReplicaInfo* SteerReplicasModel::replica(int row) const
{
    return row >= 0 && row < replicas_.size() ? &replicas_[row] : nullptr;
}

int SteerReplicasModel::rowOf(const QString& id) const
{
    for (int row = 0; row < replicas_.size(); ++row)
        if (replicas_[row].id == id)
            return row;
    return -1;
}

int SteerReplicasModel::rowCount(const QModelIndex& parent) const
{
    return parent.isValid() ? 0 : static_cast<int>(replicas_.size());
}

int SteerReplicasModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColumnCount; }

QVariant SteerReplicasModel::data(const QModelIndex& index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const ReplicaInfo& r = replicas_[index.row()];
    const auto check = checks_.constFind(r.id);
    switch (role) {
    case ReplicaIdRole:
        return r.id;
    case StateRole:
        return r.state;
    case Qt::DisplayRole:
        switch (index.column()) {
        case Id:
            return r.id;
        case Url:
            return r.url;
        case Weight:
            return r.weight;
        case State:
            return r.state;
        case InFlight:
            return r.inFlight;
        case LastCheck:
            return check == checks_.constEnd() ? QString() : checkText(*check);
        }
        break;
    case Qt::ToolTipRole:
        if (index.column() == LastCheck && check != checks_.constEnd())
            return tr("%1; state after the check: %2").arg(checkText(*check), check->state);
        if (index.column() == State && r.state == QLatin1String("pending"))
            return tr("Added, waiting for its first passing health check: it gets no requests yet.");
        if (index.column() == State && r.state == QLatin1String("draining"))
            return tr("Removed: gets no new requests, listed until its last request in flight ends.");
        break;
    case Qt::ForegroundRole:
        // Colours that read on the palette in use, light or dark.
        if (index.column() == State && r.state == QLatin1String("unhealthy"))
            return QBrush(statusColor(Status::Bad));
        if (index.column() == LastCheck && check != checks_.constEnd() && !check->ok)
            return QBrush(statusColor(Status::Bad));
        break;
    case Qt::TextAlignmentRole:
        if (index.column() == Weight || index.column() == InFlight)
            return QVariant::fromValue(Qt::AlignRight | Qt::AlignVCenter);
        break;
    }
    return {};
}

QVariant SteerReplicasModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return QAbstractTableModel::headerData(section, orientation, role);
    switch (section) {
    case Id:
        return tr("ID");
    case Url:
        return tr("URL");
    case Weight:
        return tr("Weight");
    case State:
        return tr("State");
    case InFlight:
        return tr("In flight");
    case LastCheck:
        return tr("Last health check");
    }
    return {};
}

} // namespace dlb::console
