#pragma once
// An admin sets a new password for an account (the password rules beside the fields).

#include "db/db_worker.hpp"

#include <QDialog>

class QLabel;
class QLineEdit;
class QPushButton;

namespace dlb::console {

class Database;

class PasswordDialog : public QDialog {
    Q_OBJECT
public:
    PasswordDialog(Database& db, const QString& username, QWidget* parent = nullptr);

private:
    void submit();
    void finished(const ChangeResult& result);

    Database& db_;
    QString username_;
    QLineEdit* password_;
    QLineEdit* confirm_;
    QLabel* passwordError_;
    QLabel* confirmError_;
    QLabel* error_;
    QPushButton* ok_;
    bool waiting_ = false;
};

} // namespace dlb::console
