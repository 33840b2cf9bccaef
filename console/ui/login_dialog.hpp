#pragma once
// The first window: which database, who you are. Logs in as the PostgreSQL role itself; offers
// the bootstrap when the database has no dlb schema yet.

#include "db/db_worker.hpp"

#include <QDialog>

class QLabel;
class QLineEdit;
class QPushButton;
class QSettings;
class QTimer;

namespace dlb::console {

class Database;

class LoginDialog : public QDialog {
    Q_OBJECT
public:
    LoginDialog(Database& db, QSettings& settings, QWidget* parent = nullptr);
    // Why the dialog is back (a lost session), shown where a failed login's reason is.
    void showMessage(const QString& message);

private:
    void logIn();
    void finished(const LoginResult& result);
    void editConnection();
    void openBootstrap();
    void updateState();

    Database& db_;
    QSettings& settings_;
    ConnectionSettings connection_;
    QLabel* server_;
    QLineEdit* username_;
    QLineEdit* password_;
    QLabel* error_;
    QLabel* notice_;
    QPushButton* login_;
    QPushButton* setup_;
    QPushButton* change_;
    QTimer* throttleTick_;
    bool waiting_ = false;
};

} // namespace dlb::console
