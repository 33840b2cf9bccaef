#pragma once
// Where the database is: host, port, database name and TLS mode. Never asks for a password.

#include "db/connection_settings.hpp"

#include <QDialog>

class QComboBox;
class QLabel;
class QLineEdit;
class QSpinBox;

namespace dlb::console {

class ConnectionDialog : public QDialog {
    Q_OBJECT
public:
    ConnectionDialog(const ConnectionSettings& settings, QWidget* parent = nullptr);
    ConnectionSettings settings() const;
    void accept() override;

private:
    QLineEdit* host_;
    QSpinBox* port_;
    QLineEdit* database_;
    QComboBox* sslmode_;
    QLabel* error_;
};

} // namespace dlb::console
