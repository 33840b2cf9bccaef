#pragma once
// The Agents page's list: one row per agent in dlb.agents, with its live standing (connection
// state, requests/s, p99, errors/s, healthy replicas) so several agents are watched side by
// side. Fed by AgentHub; no networking here.

#include "client/agent_connection.hpp"
#include "db/records.hpp"
#include "models/time_series.hpp"

#include <QAbstractTableModel>

namespace dlb::console {

class AgentsModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { Name, Control, State, RequestsPerS, LatencyP99, ErrorsPerS, Replicas, Detail, ColumnCount };

    explicit AgentsModel(QObject* parent = nullptr);
    Q_DISABLE_COPY_MOVE(AgentsModel)

    void setAgents(const QList<AgentRecord>& agents);
    void setState(const QString& name, client::ConnectionState state, const QString& detail);
    void setSample(const QString& name, const StatsPoint& point);
    // The agent the other pages show, drawn in bold.
    void setCurrent(const QString& name);

    const AgentRecord& agent(int row) const { return rows_.at(row).record; }
    int rowOf(const QString& name) const;

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

private:
    struct Row {
        AgentRecord record;
        client::ConnectionState state = client::ConnectionState::Connecting;
        QString detail;
        bool hasSample = false;
        StatsPoint last; // without the per-replica list (counted into healthy/total)
        int healthy = 0;
        int total = 0;
    };
    QList<Row> rows_;
    QString current_;
};

} // namespace dlb::console
