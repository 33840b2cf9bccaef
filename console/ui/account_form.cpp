#include "ui/account_form.hpp"
#include "models/status_colors.hpp"

#include "db/records.hpp"

#include <QComboBox>
#include <QGridLayout>
#include <QLabel>
#include <QLineEdit>

namespace dlb::console {

namespace {
constexpr int kErrorLabelWidth = 300; // wide enough for the longest rule on two lines
constexpr int kFieldMinWidth = 240;   // a full e-mail address stays readable
} // namespace

QString usernameHint()
{
    return QObject::tr("%1–%2 of a-z, 0-9, _").arg(kUsernameMin).arg(kUsernameMax);
}

QString passwordHint()
{
    return QObject::tr("%1–%2, a capital and a symbol").arg(kPasswordMin).arg(kPasswordMax);
}

QString errorStyleSheet() { return QStringLiteral("color: %1;").arg(statusColor(Status::Bad).name()); }

QLabel* makeErrorLabel(const QString& objectName, QWidget* parent)
{
    auto* label = new QLabel(parent);
    label->setObjectName(objectName);
    label->setWordWrap(true);
    label->setTextFormat(Qt::PlainText);
    label->setStyleSheet(errorStyleSheet());
    label->hide();
    return label;
}

void setError(QLabel* label, const QString& text)
{
    label->setText(text);
    label->setVisible(!text.isEmpty());
}

AccountForm::AccountForm(bool withRole, QWidget* parent) : QWidget(parent)
{
    auto* grid = new QGridLayout(this);
    grid->setContentsMargins(0, 0, 0, 0);
    grid->setColumnStretch(1, 1);
    grid->setColumnMinimumWidth(2, kErrorLabelWidth);
    username_ = addField(grid, 0, tr("&Username"), QStringLiteral("username"), &usernameError_);
    username_->setPlaceholderText(usernameHint());
    email_ = addField(grid, 1, tr("&E-mail"), QStringLiteral("email"), &emailError_);
    email_->setPlaceholderText(tr("name@example.org"));
    password_ = addField(grid, 2, tr("&Password"), QStringLiteral("password"), &passwordError_);
    password_->setPlaceholderText(passwordHint());
    confirm_ = addField(grid, 3, tr("&Confirm"), QStringLiteral("confirm"), &confirmError_);
    password_->setEchoMode(QLineEdit::Password);
    confirm_->setEchoMode(QLineEdit::Password);
    if (withRole) {
        role_ = new QComboBox(this);
        role_->setObjectName(QStringLiteral("role"));
        role_->addItems(accountRoles());
        role_->setCurrentText(QStringLiteral("viewer"));
        role_->setToolTip(tr("viewer: watch only; operator: also steer agents; admin: also manage accounts"));
        auto* label = new QLabel(tr("&Role"), this);
        label->setBuddy(role_);
        roleError_ = makeErrorLabel(QStringLiteral("roleError"), this);
        grid->addWidget(label, 4, 0);
        grid->addWidget(role_, 4, 1);
        grid->addWidget(roleError_, 4, 2);
    }
    for (QLineEdit* e : {username_, email_, password_, confirm_})
        connect(e, &QLineEdit::textEdited, this, [this] {
            if (validated_)
                showErrors(checkNewAccount(account()));
        });
}

QLineEdit* AccountForm::addField(QGridLayout* grid, int row, const QString& text, const QString& name, QLabel** error)
{
    auto* edit = new QLineEdit(this);
    edit->setObjectName(name);
    edit->setMinimumWidth(kFieldMinWidth);
    auto* label = new QLabel(text, this);
    label->setBuddy(edit);
    *error = makeErrorLabel(name + QStringLiteral("Error"), this);
    grid->addWidget(label, row, 0);
    grid->addWidget(edit, row, 1);
    grid->addWidget(*error, row, 2);
    return edit;
}

NewAccount AccountForm::account() const
{
    NewAccount a;
    a.username = username_->text();
    a.email = email_->text().trimmed();
    a.password = password_->text();
    a.confirm = confirm_->text();
    a.role = role_ ? role_->currentText() : QStringLiteral("admin");
    return a;
}

bool AccountForm::validate()
{
    validated_ = true;
    const FieldErrors e = checkNewAccount(account());
    showErrors(e);
    return e.empty();
}

void AccountForm::showErrors(const FieldErrors& e)
{
    setError(usernameError_, e.username);
    setError(emailError_, e.email);
    setError(passwordError_, e.password);
    setError(confirmError_, e.confirm);
    if (roleError_)
        setError(roleError_, e.role);
}

void AccountForm::setEnabledFields(bool enabled)
{
    for (QWidget* w : {static_cast<QWidget*>(username_), static_cast<QWidget*>(email_),
                       static_cast<QWidget*>(password_), static_cast<QWidget*>(confirm_)})
        w->setEnabled(enabled);
    if (role_)
        role_->setEnabled(enabled);
}

} // namespace dlb::console
