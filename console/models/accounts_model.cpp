#include "models/accounts_model.hpp"

#include <QLocale>

namespace dlb::console {

AccountsModel::AccountsModel(QObject* parent) : QAbstractTableModel(parent) {}

void AccountsModel::setAccounts(const QList<Account>& accounts)
{
    beginResetModel();
    accounts_ = accounts;
    endResetModel();
}

const Account* AccountsModel::account(int row) const
{
    return row >= 0 && row < accounts_.size() ? &accounts_[row] : nullptr;
}

int AccountsModel::rowCount(const QModelIndex& parent) const
{
    return parent.isValid() ? 0 : static_cast<int>(accounts_.size());
}

int AccountsModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColumnCount; }

QVariant AccountsModel::data(const QModelIndex& index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const Account& a = accounts_[index.row()];
    switch (role) {
    case Qt::DisplayRole:
        switch (index.column()) {
        case Username: return a.username;
        case Email: return a.email;
        case Role: return a.role;
        case Status: return a.disabled ? tr("disabled") : tr("active");
        case Created: return QLocale().toString(a.created.toLocalTime(), QLocale::ShortFormat);
        case CreatedBy: return a.createdBy;
        default: return {};
        }
    case Qt::ToolTipRole:
        if (index.column() == Status && a.disabled)
            return tr("This account cannot log in (its PostgreSQL role is NOLOGIN).");
        return {};
    case DisabledRole: return a.disabled;
    case AccountRoleRole: return a.role;
    default: return {};
    }
}

QVariant AccountsModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    switch (section) {
    case Username: return tr("Username");
    case Email: return tr("E-mail");
    case Role: return tr("Role");
    case Status: return tr("Status");
    case Created: return tr("Created");
    case CreatedBy: return tr("Created by");
    default: return {};
    }
}

} // namespace dlb::console
