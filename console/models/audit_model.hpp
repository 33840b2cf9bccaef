#pragma once
// The audit log for the Audit page, newest first. Filtering is a QSortFilterProxyModel on top.

#include "db/records.hpp"

#include <QAbstractTableModel>

namespace dlb::console {

class AuditModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { When, Who, Agent, Action, Detail, ColumnCount };
    // Sorting by When uses the timestamp itself, not its text.
    static constexpr int SortRole = Qt::UserRole + 1;

    explicit AuditModel(QObject* parent = nullptr);
    Q_DISABLE_COPY_MOVE(AuditModel)

    void setEntries(const QList<AuditEntry>& entries);

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

private:
    QList<AuditEntry> entries_;
};

} // namespace dlb::console
