#include "ui/register_dialog.hpp"
#include "ui/page_widgets.hpp"

#include "db/database.hpp"
#include "ui/account_form.hpp"
#include "ui/busy_indicator.hpp"

#include <QDialogButtonBox>
#include <QLabel>
#include <QPushButton>
#include <QVBoxLayout>

namespace dlb::console {

RegisterDialog::RegisterDialog(Database& db, QWidget* parent) : QDialog(parent), db_(db)
{
    setWindowTitle(tr("Register an account"));
    auto* intro = new QLabel(tr("The account becomes a PostgreSQL login role. The password leaves this "
                                "console only as a SCRAM-SHA-256 verifier."),
                             this);
    intro->setWordWrap(true);
    form_ = new AccountForm(true, this);
    error_ = makeErrorLabel(QStringLiteral("error"), this);
    auto* buttons = new QDialogButtonBox(this);
    register_ = buttons->addButton(tr("&Register"), QDialogButtonBox::AcceptRole);
    register_->setObjectName(QStringLiteral("register"));
    register_->setDefault(true);
    buttons->addButton(QDialogButtonBox::Cancel);
    connect(register_, &QPushButton::clicked, this, &RegisterDialog::submit);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(&db_, &Database::registerFinished, this, &RegisterDialog::finished);

    auto* layout = new QVBoxLayout(this);
    layout->addWidget(intro);
    layout->addWidget(form_);
    layout->addWidget(error_);
    layout->addWidget(new BusyIndicator(db_, this));
    layout->addWidget(buttons);
    setUpKeyboard(this);
}

void RegisterDialog::submit()
{
    setError(error_, {});
    if (!form_->validate())
        return;
    waiting_ = true;
    register_->setEnabled(false);
    form_->setEnabledFields(false);
    db_.registerAccount(form_->account());
}

void RegisterDialog::finished(const ChangeResult& r)
{
    if (!waiting_)
        return;
    waiting_ = false;
    register_->setEnabled(true);
    form_->setEnabledFields(true);
    form_->showErrors(r.fields);
    if (r.ok)
        accept();
    else
        setError(error_, r.message);
}

} // namespace dlb::console
