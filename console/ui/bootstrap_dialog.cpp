#include "ui/bootstrap_dialog.hpp"
#include "ui/page_widgets.hpp"

#include "db/database.hpp"
#include "ui/account_form.hpp"
#include "ui/busy_indicator.hpp"

#include <QDialogButtonBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QVBoxLayout>

namespace dlb::console {

BootstrapDialog::BootstrapDialog(Database& db, const ConnectionSettings& settings, QWidget* parent)
    : QDialog(parent), db_(db), settings_(settings)
{
    setWindowTitle(tr("Set up the dlb database"));
    auto* intro = new QLabel(tr("Creates (or upgrades) the dlb schema in %1 and the first admin account. "
                                "Use the database owner's role; it needs CREATEROLE.")
                                 .arg(settings.summary()),
                             this);
    intro->setWordWrap(true);

    auto* ownerBox = new QGroupBox(tr("Database owner"), this);
    owner_ = new QLineEdit(ownerBox);
    owner_->setObjectName(QStringLiteral("owner"));
    ownerPassword_ = new QLineEdit(ownerBox);
    ownerPassword_->setObjectName(QStringLiteral("ownerPassword"));
    ownerPassword_->setEchoMode(QLineEdit::Password);
    auto* ownerForm = new QFormLayout(ownerBox);
    ownerForm->addRow(tr("O&wner role"), owner_);
    ownerForm->addRow(tr("Owner pass&word"), ownerPassword_);

    auto* adminBox = new QGroupBox(tr("First admin (skipped if an admin exists)"), this);
    admin_ = new AccountForm(false, adminBox);
    auto* adminLayout = new QVBoxLayout(adminBox);
    adminLayout->addWidget(admin_);

    error_ = makeErrorLabel(QStringLiteral("error"), this);
    auto* buttons = new QDialogButtonBox(this);
    run_ = buttons->addButton(tr("&Set up"), QDialogButtonBox::AcceptRole);
    run_->setObjectName(QStringLiteral("setup"));
    run_->setDefault(true);
    buttons->addButton(QDialogButtonBox::Cancel);
    connect(run_, &QPushButton::clicked, this, &BootstrapDialog::run);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(&db_, &Database::bootstrapFinished, this, &BootstrapDialog::finished);

    auto* layout = new QVBoxLayout(this);
    layout->addWidget(intro);
    layout->addWidget(ownerBox);
    layout->addWidget(adminBox);
    layout->addWidget(error_);
    layout->addWidget(new BusyIndicator(db_, this));
    layout->addWidget(buttons);
    setUpKeyboard(this);
}

QString BootstrapDialog::adminUsername() const { return admin_->account().username; }

void BootstrapDialog::run()
{
    setError(error_, {});
    if (!admin_->validate())
        return;
    if (owner_->text().trimmed().isEmpty() || ownerPassword_->text().isEmpty()) {
        setError(error_, tr("Enter the database owner's role and password."));
        return;
    }
    waiting_ = true;
    run_->setEnabled(false);
    admin_->setEnabledFields(false);
    db_.bootstrap({settings_, owner_->text().trimmed(), ownerPassword_->text(), admin_->account()});
}

void BootstrapDialog::finished(const ChangeResult& r)
{
    if (!waiting_)
        return;
    waiting_ = false;
    run_->setEnabled(true);
    admin_->setEnabledFields(true);
    ownerPassword_->clear();
    admin_->showErrors(r.fields);
    if (!r.ok) {
        setError(error_, r.message);
        return;
    }
    result_ = r.message;
    accept();
}

} // namespace dlb::console
