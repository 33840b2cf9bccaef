#pragma once
// The Replicas page's table: one pool's replicas as GET /v1/pools lists them, plus the result
// of the last "Health-check now" per replica. Replaced wholesale on each read.

#include "models/steer_pools.hpp"

#include <QAbstractTableModel>
#include <QHash>

namespace dlb::console {

class SteerReplicasModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { Id, Url, Weight, State, InFlight, LastCheck, ColumnCount };
    enum ItemRole { ReplicaIdRole = Qt::UserRole + 1, StateRole };

    explicit SteerReplicasModel(QObject* parent = nullptr);
    Q_DISABLE_COPY_MOVE(SteerReplicasModel)

    // Results of an earlier check stay beside the replicas that are still there.
    void setReplicas(const QList<ReplicaInfo>& replicas);
    void setHealthResults(const QList<HealthResult>& results);
    void clearHealthResults();
    const ReplicaInfo* replica(int row) const;
    int rowOf(const QString& id) const;

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

private:
    QList<ReplicaInfo> replicas_;
    QHash<QString, HealthResult> checks_; // by replica id
};

} // namespace dlb::console
