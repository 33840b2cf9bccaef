#pragma once
// The accounts list for the Accounts page: one row per dlb account, replaced wholesale on reload.

#include "db/records.hpp"

#include <QAbstractTableModel>

namespace dlb::console {

class AccountsModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { Username, Email, Role, Status, Created, CreatedBy, ColumnCount };
    enum ItemRole { DisabledRole = Qt::UserRole + 1, AccountRoleRole };

    explicit AccountsModel(QObject* parent = nullptr);
    Q_DISABLE_COPY_MOVE(AccountsModel)

    void setAccounts(const QList<Account>& accounts);
    const Account* account(int row) const;

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

private:
    QList<Account> accounts_;
};

} // namespace dlb::console
