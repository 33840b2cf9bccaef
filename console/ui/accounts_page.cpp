#include "ui/accounts_page.hpp"

#include "db/database.hpp"
#include "models/accounts_model.hpp"
#include "ui/account_form.hpp"
#include "ui/page_widgets.hpp"
#include "ui/password_dialog.hpp"
#include "ui/register_dialog.hpp"

#include <QHBoxLayout>
#include <QInputDialog>
#include <QItemSelectionModel>
#include <QLabel>
#include <QMessageBox>
#include <QPushButton>
#include <QTableView>
#include <QVBoxLayout>

namespace dlb::console {

AccountsPage::AccountsPage(Database& db, QWidget* parent) : QWidget(parent), db_(db)
{
    model_ = new AccountsModel(this);
    view_ = new QTableView(this);
    view_->setObjectName(QStringLiteral("accounts"));
    setUpRowTable(view_, model_);

    register_ = new QPushButton(tr("&Register…"), this);
    register_->setObjectName(QStringLiteral("register"));
    role_ = new QPushButton(tr("Change r&ole…"), this);
    role_->setObjectName(QStringLiteral("changeRole"));
    disable_ = new QPushButton(tr("&Disable"), this);
    disable_->setObjectName(QStringLiteral("disable"));
    password_ = new QPushButton(tr("Reset pass&word…"), this);
    password_->setObjectName(QStringLiteral("resetPassword"));
    auto* refresh = new QPushButton(tr("Re&fresh"), this);
    refresh->setObjectName(QStringLiteral("refresh"));
    auto* buttons = new QHBoxLayout;
    for (QPushButton* b : {register_, role_, disable_, password_})
        buttons->addWidget(b);
    buttons->addStretch(1);
    buttons->addWidget(refresh);
    // Reading order: the buttons above the table, left to right, then the table.
    setTabChain({register_, role_, disable_, password_, refresh, view_});

    status_ = new QLabel(this);
    status_->setObjectName(QStringLiteral("status"));
    status_->setWordWrap(true);
    status_->setTextFormat(Qt::PlainText);

    auto* title = new QLabel(tr("<h2>Accounts</h2>Each account is a PostgreSQL login role in one of the "
                                "groups dlb_admin, dlb_operator or dlb_viewer."),
                             this);
    title->setWordWrap(true);
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(title);
    layout->addLayout(buttons);
    layout->addWidget(view_, 1);
    layout->addWidget(status_);

    connect(register_, &QPushButton::clicked, this, &AccountsPage::registerAccount);
    connect(role_, &QPushButton::clicked, this, &AccountsPage::changeRole);
    connect(disable_, &QPushButton::clicked, this, &AccountsPage::toggleDisabled);
    connect(password_, &QPushButton::clicked, this, &AccountsPage::resetPassword);
    connect(refresh, &QPushButton::clicked, this, &AccountsPage::reload);
    connect(view_->selectionModel(), &QItemSelectionModel::selectionChanged, this, &AccountsPage::updateButtons);
    connect(model_, &QAbstractItemModel::modelReset, this, &AccountsPage::updateButtons);
    connect(&db_, &Database::accountsLoaded, this, [this](const QList<Account>& accounts, const QString& error) {
        const QString current = selected() ? selected()->username : QString();
        model_->setAccounts(accounts);
        view_->resizeColumnsToContents();
        for (int row = 0; row < model_->rowCount(); ++row)
            if (model_->account(row)->username == current)
                view_->selectRow(row);
        if (!error.isEmpty())
            status_->setText(tr("Could not load the accounts: %1").arg(error));
    });
    connect(&db_, &Database::changeFinished, this, &AccountsPage::changed);
    connect(&db_, &Database::registerFinished, this, [this](const ChangeResult& r) {
        if (r.ok)
            changed(r);
    });
    updateButtons();
    setUpKeyboard(this);
}

void AccountsPage::reload() { db_.loadAccounts(); }

const Account* AccountsPage::selected() const
{
    const auto rows = view_->selectionModel()->selectedRows();
    return rows.isEmpty() ? nullptr : model_->account(rows.front().row());
}

void AccountsPage::updateButtons()
{
    const Account* a = selected();
    role_->setEnabled(a != nullptr);
    password_->setEnabled(a != nullptr);
    disable_->setEnabled(a != nullptr && a->username != db_.session().username);
    disable_->setText(a && a->disabled ? tr("&Enable") : tr("&Disable"));
}

void AccountsPage::changed(const ChangeResult& r)
{
    status_->setStyleSheet(r.ok ? QString() : errorStyleSheet());
    status_->setText(r.message);
    if (r.ok)
        reload();
}

void AccountsPage::registerAccount()
{
    RegisterDialog dialog(db_, this);
    dialog.exec();
}

void AccountsPage::changeRole()
{
    const Account* a = selected();
    if (!a)
        return;
    const QString user = a->username;
    bool ok = false;
    const QString role = QInputDialog::getItem(this, tr("Change role"), tr("Role of %1:").arg(user), accountRoles(),
                                               static_cast<int>(accountRoles().indexOf(a->role)), false, &ok);
    if (ok && role != a->role)
        db_.setRole(user, role);
}

void AccountsPage::toggleDisabled()
{
    const Account* a = selected();
    if (!a)
        return;
    const QString user = a->username;
    const bool disable = !a->disabled;
    if (disable
        && QMessageBox::question(this, tr("Disable account"),
                                 tr("Disable %1? The role can no longer log in until an admin enables it again.").arg(user))
               != QMessageBox::Yes)
        return;
    db_.setDisabled(user, disable);
}

void AccountsPage::resetPassword()
{
    const Account* a = selected();
    if (!a)
        return;
    PasswordDialog dialog(db_, a->username, this);
    dialog.exec();
}

} // namespace dlb::console
