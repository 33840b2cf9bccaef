#pragma once
// Accounts (admins): the list, register, change role, disable/enable, reset password. Every
// change goes through a dlb.* function, which writes the audit log.

#include "db/db_worker.hpp"

#include <QWidget>

class QLabel;
class QPushButton;
class QTableView;

namespace dlb::console {

class AccountsModel;
class Database;

class AccountsPage : public QWidget {
    Q_OBJECT
public:
    AccountsPage(Database& db, QWidget* parent = nullptr);
    void reload();

private:
    const Account* selected() const;
    void updateButtons();
    void changeRole();
    void toggleDisabled();
    void resetPassword();
    void registerAccount();
    void changed(const ChangeResult& result);

    Database& db_;
    AccountsModel* model_;
    QTableView* view_;
    QPushButton* register_;
    QPushButton* role_;
    QPushButton* disable_;
    QPushButton* password_;
    QLabel* status_;
};

} // namespace dlb::console
