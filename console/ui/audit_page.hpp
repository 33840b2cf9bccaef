#pragma once
// The audit log, newest first, filterable by any column.

#include <QWidget>

class QComboBox;
class QLabel;
class QLineEdit;
class QSortFilterProxyModel;
class QTableView;

namespace dlb::console {

class AuditModel;
class Database;

class AuditPage : public QWidget {
    Q_OBJECT
public:
    AuditPage(Database& db, QWidget* parent = nullptr);
    void reload();

private:
    void updateCount();

    Database& db_;
    AuditModel* model_;
    QSortFilterProxyModel* proxy_;
    QLineEdit* filter_;
    QComboBox* column_;
    QTableView* view_;
    QLabel* count_;
};

} // namespace dlb::console
