#include "models/replica_table.hpp"
#include "models/status_colors.hpp"

#include <QBrush>
#include <QColor>
#include <QHash>

namespace dlb::console {

ReplicaTableModel::ReplicaTableModel(QObject* parent) : QAbstractTableModel(parent) {}

void ReplicaTableModel::clear()
{
    beginResetModel();
    rows_.clear();
    endResetModel();
}

void ReplicaTableModel::update(const StatsPoint& point)
{
    bool same = point.replicas.size() == rows_.size();
    for (qsizetype i = 0; same && i < rows_.size(); ++i)
        same = rows_[i].pool == point.replicas[i].pool && rows_[i].id == point.replicas[i].id;
    if (!same) {
        QList<ReplicaSample> next = point.replicas;
        // Keep what only the full form says, for replicas we knew. Looked up by (pool, id), not
        // row by row: an agent with thousands of replicas would otherwise freeze the GUI thread
        // (quadratic) each time their order or set changes. A repeated key keeps its last row.
        if (!point.full && !rows_.isEmpty()) {
            QHash<std::pair<QString, QString>, qsizetype> known;
            known.reserve(rows_.size());
            for (qsizetype i = 0; i < rows_.size(); ++i)
                known.insert({rows_[i].pool, rows_[i].id}, i);
            for (ReplicaSample& n : next) {
                const auto it = known.constFind({n.pool, n.id});
                if (it == known.cend())
                    continue;
                const ReplicaSample& o = rows_[*it];
                n.state = o.state;
                n.weight = o.weight;
                n.url = o.url;
            }
        }
        beginResetModel();
        rows_ = std::move(next);
        endResetModel();
        return;
    }
    for (qsizetype i = 0; i < rows_.size(); ++i) {
        ReplicaSample n = point.replicas[i];
        if (!point.full) {
            n.state = rows_[i].state;
            n.weight = rows_[i].weight;
            n.url = rows_[i].url;
        }
        rows_[i] = std::move(n);
    }
    if (!rows_.isEmpty())
        emit dataChanged(index(0, 0), index(int(rows_.size()) - 1, ColumnCount - 1));
}

int ReplicaTableModel::rowCount(const QModelIndex& parent) const
{
    return parent.isValid() ? 0 : int(rows_.size());
}

int ReplicaTableModel::columnCount(const QModelIndex& parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant ReplicaTableModel::data(const QModelIndex& index, int role) const
{
    if (!index.isValid() || index.row() >= rows_.size())
        return {};
    const ReplicaSample& r = rows_.at(index.row());
    const bool sort = role == SortRole;
    auto number = [&](double v, int decimals) -> QVariant {
        if (std::isnan(v))
            return sort ? QVariant(-1.0) : QVariant(QStringLiteral("—"));
        return sort ? QVariant(v) : QVariant(QString::number(v, 'f', decimals));
    };
    if (role == Qt::TextAlignmentRole)
        return index.column() <= State || index.column() == Standing ? QVariant(Qt::AlignLeft | Qt::AlignVCenter)
                                                                      : QVariant(Qt::AlignRight | Qt::AlignVCenter);
    if (role == Qt::ForegroundRole) {
        if (index.column() == State && r.state == QLatin1String("unhealthy"))
            return QBrush(statusColor(Status::Bad));
        if (index.column() == Standing && r.standing == QLatin1String("hot"))
            return QBrush(statusColor(Status::Warning));
        if (index.column() == Standing && r.standing == QLatin1String("cold"))
            return QBrush(statusColor(Status::Info));
        return {};
    }
    if (role == Qt::ToolTipRole && index.column() == Replica)
        return r.url;
    if (role != Qt::DisplayRole && !sort)
        return {};
    switch (index.column()) {
    case Pool:
        return r.pool;
    case Replica:
        return r.id;
    case State:
        return r.state.isEmpty() ? QStringLiteral("—") : r.state;
    case Weight:
        return r.weight > 0 ? QVariant(r.weight) : (sort ? QVariant(-1) : QVariant(QStringLiteral("—")));
    case InFlight:
        return number(r.inFlight, 0);
    case Rif:
        return number(r.rif, 0);
    case LatencyP50:
        return number(r.latencyP50, 2);
    case LatencyP99:
        return number(r.latencyP99, 2);
    case Share:
        return sort ? QVariant(r.share) : QVariant(QStringLiteral("%1%").arg(r.share * 100, 0, 'f', 1));
    case RequestsPerS:
        return number(r.requestsPerS, 1);
    case ErrorsPerS:
        return number(r.errorsPerS, 1);
    case Standing:
        return r.standing.isEmpty() ? QStringLiteral("—") : r.standing;
    }
    return {};
}

QVariant ReplicaTableModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal)
        return {};
    if (role == Qt::ToolTipRole) {
        switch (section) {
        case InFlight:
            return tr("Requests this agent has sent to the replica and not seen answered");
        case Rif:
            return tr("Requests in flight the replica last reported itself (probe or load report)");
        case Share:
            return tr("Share of the pool's requests in the last second");
        case Standing:
            return tr("Prequal: hot (above the RIF threshold) or cold in most workers' probe pools");
        }
        return {};
    }
    if (role != Qt::DisplayRole)
        return {};
    switch (section) {
    case Pool:
        return tr("Pool");
    case Replica:
        return tr("Replica");
    case State:
        return tr("Health");
    case Weight:
        return tr("Weight");
    case InFlight:
        return tr("In flight");
    case Rif:
        return tr("RIF");
    case LatencyP50:
        return tr("p50 ms");
    case LatencyP99:
        return tr("p99 ms");
    case Share:
        return tr("Share");
    case RequestsPerS:
        return tr("Req/s");
    case ErrorsPerS:
        return tr("Err/s");
    case Standing:
        return tr("Prequal");
    }
    return {};
}

} // namespace dlb::console
