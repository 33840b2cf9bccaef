#include "ui/login_dialog.hpp"
#include "ui/page_widgets.hpp"

#include "db/database.hpp"
#include "ui/account_form.hpp"
#include "ui/bootstrap_dialog.hpp"
#include "ui/busy_indicator.hpp"
#include "ui/connection_dialog.hpp"

#include <QDialogButtonBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QIcon>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSettings>
#include <QTimer>
#include <QVBoxLayout>


namespace dlb::console {

namespace {
constexpr int kThrottleTickMs = 250; // how often the "try again in" countdown updates
} // namespace

LoginDialog::LoginDialog(Database& db, QSettings& settings, QWidget* parent)
    : QDialog(parent), db_(db), settings_(settings), connection_(ConnectionSettings::load(settings))
{
    setWindowTitle(tr("dlb console — log in"));
    setMinimumWidth(460);

    auto* logo = new QLabel(this);
    logo->setPixmap(QIcon(QStringLiteral(":/icons/dlb.svg")).pixmap(48, 48));
    auto* title = new QLabel(tr("<b>dlb console</b><br>Log in with your dlb account."), this);
    auto* header = new QHBoxLayout;
    header->addWidget(logo);
    header->addWidget(title, 1);

    server_ = new QLabel(this);
    server_->setObjectName(QStringLiteral("server"));
    server_->setTextFormat(Qt::PlainText);
    change_ = new QPushButton(tr("C&hange…"), this);
    change_->setObjectName(QStringLiteral("changeConnection"));
    auto* serverRow = new QHBoxLayout;
    serverRow->addWidget(server_, 1);
    serverRow->addWidget(change_);

    username_ = new QLineEdit(this);
    username_->setObjectName(QStringLiteral("username"));
    username_->setText(settings_.value(QStringLiteral("login/username")).toString());
    password_ = new QLineEdit(this);
    password_->setObjectName(QStringLiteral("password"));
    password_->setEchoMode(QLineEdit::Password);
    auto* form = new QFormLayout;
    form->addRow(tr("Server"), serverRow);
    form->addRow(tr("&Username"), username_);
    form->addRow(tr("&Password"), password_);

    error_ = makeErrorLabel(QStringLiteral("error"), this);
    notice_ = new QLabel(this);
    notice_->setObjectName(QStringLiteral("notice"));
    notice_->setWordWrap(true);
    notice_->setTextFormat(Qt::PlainText);
    notice_->hide();
    auto* busy = new BusyIndicator(db_, this);

    auto* buttons = new QDialogButtonBox(this);
    login_ = buttons->addButton(tr("&Log in"), QDialogButtonBox::AcceptRole);
    login_->setObjectName(QStringLiteral("login"));
    login_->setDefault(true);
    setup_ = buttons->addButton(tr("&Set up database…"), QDialogButtonBox::ActionRole);
    setup_->setObjectName(QStringLiteral("setup"));
    setup_->setToolTip(tr("Create or upgrade the dlb schema and the first admin, with the database owner's credentials"));
    buttons->addButton(QDialogButtonBox::Cancel);

    auto* layout = new QVBoxLayout(this);
    layout->addLayout(header);
    layout->addLayout(form);
    layout->addWidget(error_);
    layout->addWidget(notice_);
    layout->addWidget(busy);
    layout->addWidget(buttons);

    throttleTick_ = new QTimer(this);
    throttleTick_->setInterval(kThrottleTickMs);
    connect(throttleTick_, &QTimer::timeout, this, &LoginDialog::updateState);
    connect(login_, &QPushButton::clicked, this, &LoginDialog::logIn);
    connect(setup_, &QPushButton::clicked, this, &LoginDialog::openBootstrap);
    connect(change_, &QPushButton::clicked, this, &LoginDialog::editConnection);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(&db_, &Database::loginFinished, this, &LoginDialog::finished);
    connect(&db_, &Database::busyChanged, this, &LoginDialog::updateState);
    setTabOrder(username_, password_);
    setTabOrder(password_, login_);
    if (username_->text().isEmpty())
        username_->setFocus();
    else
        password_->setFocus();
    updateState();
    setUpKeyboard(this);
}

void LoginDialog::showMessage(const QString& message)
{
    setError(error_, message);
}

void LoginDialog::logIn()
{
    setError(error_, {});
    notice_->hide();
    waiting_ = true;
    db_.login(connection_, username_->text().trimmed(), password_->text());
    updateState();
}

void LoginDialog::finished(const LoginResult& r)
{
    if (!waiting_)
        return;
    waiting_ = false;
    password_->clear();
    if (r.status == LoginResult::Status::Ok) {
        settings_.setValue(QStringLiteral("login/username"), r.session.username);
        accept();
        return;
    }
    setError(error_, r.message);
    updateState(); // re-enables the widgets, which must happen before one can take the focus
    if (r.status == LoginResult::Status::SchemaMissing || r.status == LoginResult::Status::SchemaMismatch)
        setup_->setFocus();
    else
        password_->setFocus();
}

void LoginDialog::updateState()
{
    server_->setText(connection_.summary());
    const auto wait = db_.loginWait();
    const bool idle = !db_.busy() && !waiting_;
    login_->setEnabled(idle && wait.count() == 0);
    setup_->setEnabled(idle);
    change_->setEnabled(idle);
    username_->setEnabled(idle);
    password_->setEnabled(idle);
    if (wait.count() > 0) {
        // A new dialog may open while an earlier failure still holds the login back.
        if (!throttleTick_->isActive())
            throttleTick_->start();
        login_->setText(tr("&Log in (%1 s)").arg(LoginThrottle::seconds(wait)));
    } else {
        login_->setText(tr("&Log in"));
        throttleTick_->stop();
    }
}

void LoginDialog::editConnection()
{
    ConnectionDialog dialog(connection_, this);
    if (dialog.exec() != QDialog::Accepted)
        return;
    connection_ = dialog.settings();
    connection_.save(settings_);
    setError(error_, {});
    updateState();
}

void LoginDialog::openBootstrap()
{
    BootstrapDialog dialog(db_, connection_, this);
    if (dialog.exec() == QDialog::Accepted) {
        setError(error_, {});
        notice_->setText(dialog.resultMessage());
        notice_->show();
        username_->setText(dialog.adminUsername());
        password_->setFocus();
    }
}

} // namespace dlb::console
