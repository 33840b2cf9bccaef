#pragma once
// Admins register a new account: every broken rule is shown beside its field at once, the
// database's own refusal (a name or e-mail already taken) too.

#include "db/db_worker.hpp"

#include <QDialog>

class QLabel;
class QPushButton;

namespace dlb::console {

class AccountForm;
class Database;

class RegisterDialog : public QDialog {
    Q_OBJECT
public:
    RegisterDialog(Database& db, QWidget* parent = nullptr);

private:
    void submit();
    void finished(const ChangeResult& result);

    Database& db_;
    AccountForm* form_;
    QLabel* error_;
    QPushButton* register_;
    bool waiting_ = false;
};

} // namespace dlb::console
