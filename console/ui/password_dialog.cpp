#include "ui/password_dialog.hpp"
#include "ui/page_widgets.hpp"

#include "db/database.hpp"
#include "ui/account_form.hpp"
#include "ui/busy_indicator.hpp"

#include <QDialogButtonBox>
#include <QGridLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QVBoxLayout>

namespace dlb::console {

PasswordDialog::PasswordDialog(Database& db, const QString& username, QWidget* parent)
    : QDialog(parent), db_(db), username_(username)
{
    setWindowTitle(tr("Reset password of %1").arg(username));
    password_ = new QLineEdit(this);
    password_->setObjectName(QStringLiteral("password"));
    password_->setEchoMode(QLineEdit::Password);
    password_->setPlaceholderText(passwordHint());
    confirm_ = new QLineEdit(this);
    confirm_->setObjectName(QStringLiteral("confirm"));
    confirm_->setEchoMode(QLineEdit::Password);
    passwordError_ = makeErrorLabel(QStringLiteral("passwordError"), this);
    confirmError_ = makeErrorLabel(QStringLiteral("confirmError"), this);
    auto* grid = new QGridLayout;
    grid->setColumnMinimumWidth(2, 240);
    auto* l1 = new QLabel(tr("New &password"), this);
    l1->setBuddy(password_);
    auto* l2 = new QLabel(tr("&Confirm"), this);
    l2->setBuddy(confirm_);
    grid->addWidget(l1, 0, 0);
    grid->addWidget(password_, 0, 1);
    grid->addWidget(passwordError_, 0, 2);
    grid->addWidget(l2, 1, 0);
    grid->addWidget(confirm_, 1, 1);
    grid->addWidget(confirmError_, 1, 2);
    error_ = makeErrorLabel(QStringLiteral("error"), this);
    auto* buttons = new QDialogButtonBox(this);
    ok_ = buttons->addButton(tr("&Set password"), QDialogButtonBox::AcceptRole);
    ok_->setDefault(true);
    buttons->addButton(QDialogButtonBox::Cancel);
    connect(ok_, &QPushButton::clicked, this, &PasswordDialog::submit);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(&db_, &Database::changeFinished, this, &PasswordDialog::finished);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(grid);
    layout->addWidget(error_);
    layout->addWidget(new BusyIndicator(db_, this));
    layout->addWidget(buttons);
    setUpKeyboard(this);
}

void PasswordDialog::submit()
{
    const FieldErrors e = checkNewPassword(password_->text(), confirm_->text());
    setError(passwordError_, e.password);
    setError(confirmError_, e.confirm);
    setError(error_, {});
    if (!e.empty())
        return;
    waiting_ = true;
    ok_->setEnabled(false);
    db_.resetPassword(username_, password_->text(), confirm_->text());
}

void PasswordDialog::finished(const ChangeResult& r)
{
    if (!waiting_)
        return;
    waiting_ = false;
    ok_->setEnabled(true);
    setError(passwordError_, r.fields.password);
    setError(confirmError_, r.fields.confirm);
    if (r.ok)
        accept();
    else
        setError(error_, r.message);
}

} // namespace dlb::console
