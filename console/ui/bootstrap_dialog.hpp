#pragma once
// First run: with the database owner's credentials, apply the migrations and create the first
// admin. The owner's password is used for this one connection and not kept.

#include "db/connection_settings.hpp"
#include "db/db_worker.hpp"

#include <QDialog>

class QLabel;
class QLineEdit;
class QPushButton;

namespace dlb::console {

class AccountForm;
class Database;

class BootstrapDialog : public QDialog {
    Q_OBJECT
public:
    BootstrapDialog(Database& db, const ConnectionSettings& settings, QWidget* parent = nullptr);
    QString adminUsername() const;
    // What the bootstrap did, for the login dialog to show once this one closes.
    const QString& resultMessage() const { return result_; }

private:
    void run();
    void finished(const ChangeResult& result);

    Database& db_;
    ConnectionSettings settings_;
    QLineEdit* owner_;
    QLineEdit* ownerPassword_;
    AccountForm* admin_;
    QLabel* error_;
    QPushButton* run_;
    QString result_;
    bool waiting_ = false;
};

} // namespace dlb::console
