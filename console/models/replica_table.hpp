#pragma once
// The Dashboard's replica table: one row per replica of every pool, from the newest stats
// sample. Rows keep their order while the set of replicas stays the same (values change in
// place, dataChanged); a replica added or gone resets the rows. Fields that only the full form
// carries (state, weight, URL) keep their last known value through history-form points.

#include "models/time_series.hpp"

#include <QAbstractTableModel>

namespace dlb::console {

class ReplicaTableModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { Pool, Replica, State, Weight, InFlight, Rif, LatencyP50, LatencyP99, Share, RequestsPerS, ErrorsPerS, Standing, ColumnCount };
    // The raw number (or string) for sorting, NaN-free: missing numbers sort first as -1.
    static constexpr int SortRole = Qt::UserRole + 1;

    explicit ReplicaTableModel(QObject* parent = nullptr);
    Q_DISABLE_COPY_MOVE(ReplicaTableModel)

    void update(const StatsPoint& point);
    void clear();
    const ReplicaSample& replica(int row) const { return rows_.at(row); }

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

private:
    QList<ReplicaSample> rows_;
};

} // namespace dlb::console
