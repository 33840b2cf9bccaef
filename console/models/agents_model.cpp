#include "models/agents_model.hpp"
#include "models/status_colors.hpp"

#include <QBrush>
#include <QColor>
#include <QFont>

namespace dlb::console {

using client::ConnectionState;

AgentsModel::AgentsModel(QObject* parent) : QAbstractTableModel(parent) {}

void AgentsModel::setAgents(const QList<AgentRecord>& agents)
{
    beginResetModel();
    QList<Row> next;
    for (const AgentRecord& a : agents) {
        Row r;
        r.record = a;
        const int old = rowOf(a.name);
        if (old >= 0 && rows_[old].record.controlUrl == a.controlUrl) {
            r = rows_[old];
            r.record = a;
        }
        next.append(r);
    }
    rows_ = std::move(next);
    endResetModel();
}

int AgentsModel::rowOf(const QString& name) const
{
    for (qsizetype i = 0; i < rows_.size(); ++i)
        if (rows_[i].record.name == name)
            return int(i);
    return -1;
}

void AgentsModel::setState(const QString& name, ConnectionState state, const QString& detail)
{
    const int row = rowOf(name);
    if (row < 0)
        return;
    rows_[row].state = state;
    rows_[row].detail = detail;
    emit dataChanged(index(row, 0), index(row, ColumnCount - 1));
}

void AgentsModel::setSample(const QString& name, const StatsPoint& point)
{
    const int row = rowOf(name);
    if (row < 0)
        return;
    Row& r = rows_[row];
    r.hasSample = true;
    r.last = point;
    r.last.replicas.clear();
    r.total = int(point.replicas.size());
    if (point.full) {
        r.healthy = 0;
        for (const ReplicaSample& s : point.replicas)
            r.healthy += s.state == QLatin1String("healthy");
    }
    emit dataChanged(index(row, RequestsPerS), index(row, Replicas));
}

void AgentsModel::setCurrent(const QString& name)
{
    current_ = name;
    if (!rows_.isEmpty())
        emit dataChanged(index(0, 0), index(int(rows_.size()) - 1, ColumnCount - 1), {Qt::FontRole});
}

int AgentsModel::rowCount(const QModelIndex& parent) const
{
    return parent.isValid() ? 0 : int(rows_.size());
}

int AgentsModel::columnCount(const QModelIndex& parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant AgentsModel::data(const QModelIndex& index, int role) const
{
    if (!index.isValid() || index.row() >= rows_.size())
        return {};
    const Row& r = rows_.at(index.row());
    if (role == Qt::FontRole && r.record.name == current_) {
        QFont f;
        f.setBold(true);
        return f;
    }
    if (role == Qt::ForegroundRole && index.column() == State) {
        switch (r.state) {
        case ConnectionState::Connected:
            return QBrush(statusColor(Status::Good));
        case ConnectionState::Unreachable:
            return QBrush(statusColor(Status::Bad));
        default:
            return QBrush(statusColor(Status::Warning));
        }
    }
    if (role == Qt::TextAlignmentRole)
        return index.column() >= RequestsPerS && index.column() <= Replicas
                   ? QVariant(Qt::AlignRight | Qt::AlignVCenter)
                   : QVariant(Qt::AlignLeft | Qt::AlignVCenter);
    if (role == Qt::ToolTipRole && index.column() == Detail)
        return r.detail;
    if (role != Qt::DisplayRole)
        return {};
    const bool live = r.hasSample && r.state == ConnectionState::Connected;
    switch (index.column()) {
    case Name:
        return r.record.name;
    case Control:
        return r.record.controlUrl;
    case State:
        return client::stateName(r.state);
    case RequestsPerS:
        return live ? QString::number(r.last.requestsPerS, 'f', 1) : QStringLiteral("—");
    case LatencyP99:
        return live && !std::isnan(r.last.p99) ? QString::number(r.last.p99, 'f', 2) : QStringLiteral("—");
    case ErrorsPerS:
        return live ? QString::number(r.last.errorsPerS, 'f', 1) : QStringLiteral("—");
    case Replicas:
        return live ? QStringLiteral("%1/%2").arg(r.healthy).arg(r.total) : QStringLiteral("—");
    case Detail:
        return r.state == ConnectionState::Connected ? QString() : r.detail;
    }
    return {};
}

QVariant AgentsModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    switch (section) {
    case Name:
        return tr("Agent");
    case Control:
        return tr("Control socket / URL");
    case State:
        return tr("State");
    case RequestsPerS:
        return tr("Req/s");
    case LatencyP99:
        return tr("p99 ms");
    case ErrorsPerS:
        return tr("Err/s");
    case Replicas:
        return tr("Healthy");
    case Detail:
        return tr("Problem");
    }
    return {};
}

} // namespace dlb::console
