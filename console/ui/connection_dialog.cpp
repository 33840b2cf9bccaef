#include "ui/connection_dialog.hpp"
#include "ui/page_widgets.hpp"

#include "ui/account_form.hpp"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QFormLayout>
#include <QLabel>
#include <QLineEdit>
#include <QSpinBox>
#include <QVBoxLayout>

namespace dlb::console {

ConnectionDialog::ConnectionDialog(const ConnectionSettings& s, QWidget* parent) : QDialog(parent)
{
    setWindowTitle(tr("Database connection"));
    auto* form = new QFormLayout;
    host_ = new QLineEdit(s.host, this);
    host_->setObjectName(QStringLiteral("host"));
    port_ = new QSpinBox(this);
    port_->setObjectName(QStringLiteral("port"));
    port_->setRange(1, kMaxPort);
    port_->setValue(s.port);
    database_ = new QLineEdit(s.database, this);
    database_->setObjectName(QStringLiteral("database"));
    sslmode_ = new QComboBox(this);
    sslmode_->setObjectName(QStringLiteral("sslmode"));
    sslmode_->addItems(ConnectionSettings::sslModes());
    sslmode_->setCurrentText(s.sslmode);
    sslmode_->setToolTip(tr("libpq's sslmode: verify-full checks the server's certificate and name; "
                            "use it over any network you do not control."));
    form->addRow(tr("&Host"), host_);
    form->addRow(tr("&Port"), port_);
    form->addRow(tr("&Database"), database_);
    form->addRow(tr("&TLS mode"), sslmode_);
    error_ = makeErrorLabel(QStringLiteral("error"), this);
    auto* note = new QLabel(tr("The password is asked at each login and never stored."), this);
    note->setWordWrap(true);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(note);
    layout->addWidget(error_);
    layout->addWidget(buttons);
    setUpKeyboard(this);
}

ConnectionSettings ConnectionDialog::settings() const
{
    ConnectionSettings s;
    s.host = host_->text().trimmed();
    s.port = port_->value();
    s.database = database_->text().trimmed();
    s.sslmode = sslmode_->currentText();
    return s;
}

void ConnectionDialog::accept()
{
    const QString problem = settings().problem();
    setError(error_, problem);
    if (problem.isEmpty())
        QDialog::accept();
}

} // namespace dlb::console
