// The console's dialogs and pages driven with QTest (offscreen) against a real PostgreSQL: the
// login flow, every broken register rule shown at once beside its field, the database's refusals
// beside theirs, and the accounts and audit pages. Saves screenshots of each.
#include "db/database.hpp"
#include "models/accounts_model.hpp"
#include "pg_env.hpp"
#include "ui/audit_page.hpp"
#include "ui/bootstrap_dialog.hpp"
#include "ui/console_flow.hpp"
#include "ui/login_dialog.hpp"
#include "ui/main_window.hpp"
#include "ui/register_dialog.hpp"

#include <QAbstractItemModel>
#include <QAction>
#include <QApplication>
#include <QDir>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>

using namespace dlb::console;
using dlb::console::test::PgEnv;

namespace {

const QString kDb = QStringLiteral("dlb_gui_test");
const QString kAdmin = QStringLiteral("gui_admin");
const QString kAdminPw = QStringLiteral("Gui-admin1");
constexpr int kDbTimeoutMs = 20000;

template <typename T> T* child(QWidget* w, const char* name)
{
    T* c = w->findChild<T*>(QString::fromLatin1(name));
    if (!c)
        qFatal("no child %s", name);
    return c;
}

} // namespace

class TstConsoleGui : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void loginWithoutSchemaPointsToSetup();
    void bootstrapDialogCreatesSchemaAndFirstAdmin();
    void registerDialogShowsEveryBrokenRuleAtOnce();
    void loginFailuresShowOneMessageAndSlowDown();
    void loginSucceeds();
    void registerDialogShowsDatabaseRefusalsBesideFields();
    void accountsAndAuditPages();
    void viewerSeesAuditButNotAccounts();
    void sidebarPutsAgentPagesFirst();
    void lostSessionReturnsToLogin();

private:
    void screenshot(QWidget* w, const QString& name);
    void fill(QWidget* w, const char* name, const QString& text);

    PgEnv env_;
    QTemporaryDir dir_;
    std::unique_ptr<QSettings> settings_;
    std::unique_ptr<Database> db_;
    QString shots_;
};

void TstConsoleGui::screenshot(QWidget* w, const QString& name)
{
    QApplication::processEvents();
    const QString path = QDir(shots_).filePath(name + QStringLiteral(".png"));
    QVERIFY2(w->grab().save(path), qPrintable(path));
}

void TstConsoleGui::fill(QWidget* w, const char* name, const QString& text)
{
    auto* edit = child<QLineEdit>(w, name);
    edit->clear();
    QTest::keyClicks(edit, text);
}

void TstConsoleGui::initTestCase()
{
    QVERIFY2(env_.problem().isEmpty(), qPrintable(env_.problem()));
    shots_ = qEnvironmentVariable("DLB_SCREENSHOT_DIR", QStringLiteral(DLB_SCREENSHOT_DEFAULT_DIR));
    QVERIFY(QDir().mkpath(shots_));
    {
        QSqlDatabase postgres = env_.open("setup", "postgres", env_.superuser, env_.password);
        QVERIFY(postgres.isOpen());
        QSqlQuery q(postgres);
        QVERIFY2(q.exec("CREATE DATABASE " + kDb), qPrintable(q.lastError().text()));
    }
    QSqlDatabase::removeDatabase("setup");
    settings_ = std::make_unique<QSettings>(dir_.filePath("console.ini"), QSettings::IniFormat);
    env_.settings(kDb).save(*settings_);
    db_ = std::make_unique<Database>();
}

// The owner can log in, but the database has no dlb schema: the dialog says so and points to
// Set up database, without counting it as a failed login.
void TstConsoleGui::loginWithoutSchemaPointsToSetup()
{
    LoginDialog dialog(*db_, *settings_);
    dialog.show();
    QVERIFY(QTest::qWaitForWindowExposed(&dialog));
    fill(&dialog, "username", env_.superuser);
    fill(&dialog, "password", env_.password);
    QTest::mouseClick(child<QPushButton>(&dialog, "login"), Qt::LeftButton);
    auto* error = child<QLabel>(&dialog, "error");
    QTRY_VERIFY_WITH_TIMEOUT(error->isVisible(), kDbTimeoutMs);
    QVERIFY2(error->text().contains("has no dlb schema yet"), qPrintable(error->text()));
    QCOMPARE(QApplication::focusWidget(), child<QPushButton>(&dialog, "setup"));
    QCOMPARE(db_->loginWait().count(), 0);
}

void TstConsoleGui::bootstrapDialogCreatesSchemaAndFirstAdmin()
{
    BootstrapDialog dialog(*db_, env_.settings(kDb));
    dialog.show();
    QVERIFY(QTest::qWaitForWindowExposed(&dialog));
    fill(&dialog, "owner", env_.superuser);
    fill(&dialog, "ownerPassword", env_.password);
    fill(&dialog, "username", kAdmin);
    fill(&dialog, "email", "gui.admin@example.org");
    fill(&dialog, "password", kAdminPw);
    fill(&dialog, "confirm", "Gui-admin2");
    QTest::mouseClick(child<QPushButton>(&dialog, "setup"), Qt::LeftButton);
    QVERIFY(child<QLabel>(&dialog, "confirmError")->isVisible());
    QVERIFY(!db_->busy());
    fill(&dialog, "confirm", kAdminPw);
    fill(&dialog, "ownerPassword", env_.password);
    dialog.adjustSize();
    screenshot(&dialog, "bootstrap");
    QTest::mouseClick(child<QPushButton>(&dialog, "setup"), Qt::LeftButton);
    QTRY_COMPARE_WITH_TIMEOUT(dialog.result(), int(QDialog::Accepted), kDbTimeoutMs);
    QVERIFY2(dialog.resultMessage().contains("created admin " + kAdmin), qPrintable(dialog.resultMessage()));
}

void TstConsoleGui::registerDialogShowsEveryBrokenRuleAtOnce()
{
    RegisterDialog dialog(*db_);
    dialog.show();
    QVERIFY(QTest::qWaitForWindowExposed(&dialog));
    for (const char* name : {"usernameError", "emailError", "passwordError", "confirmError"})
        QVERIFY(!child<QLabel>(&dialog, name)->isVisible());
    fill(&dialog, "username", "Al");
    fill(&dialog, "email", "al@example");
    fill(&dialog, "password", "short");
    fill(&dialog, "confirm", "shorter");
    QTest::mouseClick(child<QPushButton>(&dialog, "register"), Qt::LeftButton);
    // All at once, after one click, and nothing was sent to the database.
    for (const char* name : {"usernameError", "emailError", "passwordError", "confirmError"}) {
        auto* label = child<QLabel>(&dialog, name);
        QVERIFY2(label->isVisible() && !label->text().isEmpty(), name);
    }
    const QString pw = child<QLabel>(&dialog, "passwordError")->text();
    QVERIFY2(pw.contains("8 to 32") && pw.contains("capital") && pw.contains("symbol"), qPrintable(pw));
    QVERIFY(!db_->busy());
    dialog.adjustSize();
    screenshot(&dialog, "register-errors");

    // Fixing a field clears its error at once, the others stay.
    fill(&dialog, "username", "alice_ops");
    QVERIFY(!child<QLabel>(&dialog, "usernameError")->isVisible());
    QVERIFY(child<QLabel>(&dialog, "emailError")->isVisible());
}

void TstConsoleGui::loginFailuresShowOneMessageAndSlowDown()
{
    LoginDialog dialog(*db_, *settings_);
    dialog.show();
    QVERIFY(QTest::qWaitForWindowExposed(&dialog));
    auto* error = child<QLabel>(&dialog, "error");
    auto* login = child<QPushButton>(&dialog, "login");
    auto* busy = child<QProgressBar>(&dialog, "busy");
    QCOMPARE(child<QLabel>(&dialog, "server")->text(), env_.settings(kDb).summary());

    fill(&dialog, "username", kAdmin);
    fill(&dialog, "password", "Wrong-passw0rd");
    QTest::mouseClick(login, Qt::LeftButton);
    QVERIFY(busy->isVisible()); // the work runs in the worker thread; the dialog stays live
    QVERIFY(!login->isEnabled());
    QTRY_VERIFY_WITH_TIMEOUT(error->isVisible(), kDbTimeoutMs);
    QCOMPARE(error->text(), QStringLiteral("Invalid credentials"));
    QVERIFY(!busy->isVisible());
    // Slowed down: the button counts down before it can be used again.
    QVERIFY(!login->isEnabled());
    QVERIFY2(login->text().contains(" s)"), qPrintable(login->text()));
    dialog.adjustSize();
    screenshot(&dialog, "login-invalid");

    QTRY_VERIFY_WITH_TIMEOUT(login->isEnabled(), 2 * kLoginFirstDelay.count() + 1000);
    fill(&dialog, "username", "no_such_user");
    fill(&dialog, "password", kAdminPw);
    QTest::mouseClick(login, Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(!db_->busy() && !login->text().isEmpty(), kDbTimeoutMs);
    QTRY_COMPARE_WITH_TIMEOUT(error->text(), QStringLiteral("Invalid credentials"), kDbTimeoutMs);
    // The second failure waits longer than the first.
    QVERIFY(db_->loginWait() > kLoginFirstDelay);
}

void TstConsoleGui::loginSucceeds()
{
    LoginDialog dialog(*db_, *settings_);
    dialog.show();
    QVERIFY(QTest::qWaitForWindowExposed(&dialog));
    auto* login = child<QPushButton>(&dialog, "login");
    QTRY_VERIFY_WITH_TIMEOUT(login->isEnabled(), 4 * kLoginFirstDelay.count() + 1000);
    fill(&dialog, "username", kAdmin);
    fill(&dialog, "password", kAdminPw);
    dialog.adjustSize();
    screenshot(&dialog, "login");
    QTest::mouseClick(login, Qt::LeftButton);
    QTRY_COMPARE_WITH_TIMEOUT(dialog.result(), int(QDialog::Accepted), kDbTimeoutMs);
    QCOMPARE(db_->session().username, kAdmin);
    QCOMPARE(db_->session().role, QStringLiteral("admin"));
    QCOMPARE(db_->loginWait().count(), 0);
}

void TstConsoleGui::registerDialogShowsDatabaseRefusalsBesideFields()
{
    RegisterDialog dialog(*db_);
    dialog.show();
    QVERIFY(QTest::qWaitForWindowExposed(&dialog));
    fill(&dialog, "username", kAdmin);
    fill(&dialog, "email", "GUI.Admin@example.org");
    fill(&dialog, "password", "Fine-pass1");
    fill(&dialog, "confirm", "Fine-pass1");
    QTest::mouseClick(child<QPushButton>(&dialog, "register"), Qt::LeftButton);
    auto* user = child<QLabel>(&dialog, "usernameError");
    auto* email = child<QLabel>(&dialog, "emailError");
    QTRY_VERIFY_WITH_TIMEOUT(user->isVisible() && email->isVisible(), kDbTimeoutMs);
    QVERIFY2(user->text().contains("is taken"), qPrintable(user->text()));
    QVERIFY2(email->text().contains("already registered"), qPrintable(email->text()));
    QVERIFY(dialog.isVisible());
    dialog.adjustSize();
    screenshot(&dialog, "register-taken");

    fill(&dialog, "username", "ops_anna");
    fill(&dialog, "email", "anna@example.org");
    fill(&dialog, "password", "Anna-pass1");
    fill(&dialog, "confirm", "Anna-pass1");
    QTest::mouseClick(child<QPushButton>(&dialog, "register"), Qt::LeftButton);
    QTRY_COMPARE_WITH_TIMEOUT(dialog.result(), int(QDialog::Accepted), kDbTimeoutMs);
}

void TstConsoleGui::accountsAndAuditPages()
{
    MainWindow window(*db_);
    window.resize(1000, 560);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    window.showPage("Accounts");
    auto* accounts = child<QTableView>(&window, "accounts");
    QTRY_COMPARE_WITH_TIMEOUT(accounts->model()->rowCount(), 2, kDbTimeoutMs);
    QCOMPARE(accounts->model()->index(1, AccountsModel::Username).data().toString(), QStringLiteral("ops_anna"));
    // The admin cannot disable their own account: the button says so by being disabled.
    accounts->selectRow(0);
    QCOMPARE(accounts->model()->index(0, AccountsModel::Username).data().toString(), kAdmin);
    QVERIFY(!child<QPushButton>(&window, "disable")->isEnabled());
    accounts->selectRow(1);
    QVERIFY(child<QPushButton>(&window, "disable")->isEnabled());
    QTRY_VERIFY_WITH_TIMEOUT(!db_->busy(), kDbTimeoutMs);
    screenshot(&window, "accounts");

    db_->setRole("ops_anna", "operator");
    QTRY_COMPARE_WITH_TIMEOUT(accounts->model()->index(1, AccountsModel::Role).data().toString(),
                              QStringLiteral("operator"), kDbTimeoutMs);

    window.showPage("Audit log");
    auto* audit = child<QTableView>(&window, "audit");
    QTRY_COMPARE_WITH_TIMEOUT(audit->model()->rowCount(), 3, kDbTimeoutMs); // bootstrap, register, role
    fill(&window, "filter", "account.role");
    QCOMPARE(audit->model()->rowCount(), 1);
    QVERIFY(child<QLabel>(&window, "count")->text().startsWith("1 of 3"));
    child<QLineEdit>(&window, "filter")->clear();
    QTRY_VERIFY_WITH_TIMEOUT(!db_->busy(), kDbTimeoutMs);
    screenshot(&window, "audit");
}

// A viewer's window: Accounts is in the sidebar but disabled, saying why; the audit log opens.
void TstConsoleGui::viewerSeesAuditButNotAccounts()
{
    QSignalSpy registered(db_.get(), &Database::registerFinished);
    db_->registerAccount({"watcher", "watcher@example.org", "Watch-me1", "Watch-me1", "viewer"});
    QVERIFY(registered.wait(kDbTimeoutMs));
    QVERIFY(registered.at(0).at(0).value<ChangeResult>().ok);

    Database viewerDb;
    QSignalSpy loggedIn(&viewerDb, &Database::loginFinished);
    viewerDb.login(env_.settings(kDb), "watcher", "Watch-me1");
    QVERIFY(loggedIn.wait(kDbTimeoutMs));
    QCOMPARE(loggedIn.at(0).at(0).value<LoginResult>().status, LoginResult::Status::Ok);

    MainWindow window(viewerDb);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    auto* sidebar = child<QListWidget>(&window, "sidebar");
    const auto found = sidebar->findItems("Accounts", Qt::MatchExactly);
    QCOMPARE(found.size(), 1);
    QListWidgetItem* accounts = found.front();
    QVERIFY(!(accounts->flags() & Qt::ItemIsEnabled));
    QVERIFY(accounts->toolTip().contains("Only admins"));
    // Its Go menu entry (Ctrl+n) is disabled too: the shortcut cannot open it either.
    auto* goAccounts = window.findChild<QAction*>(QStringLiteral("go%1").arg(sidebar->row(accounts) + 1));
    QVERIFY(goAccounts);
    QVERIFY(!goAccounts->isEnabled());
    window.showPage("Audit log");
    auto* audit = child<QTableView>(&window, "audit");
    QTRY_VERIFY_WITH_TIMEOUT(audit->model()->rowCount() >= 4, kDbTimeoutMs);
}

// The agent pages first, the admin's last; with no agent configured the window moves from the
// Dashboard to Agents, where one is added.
void TstConsoleGui::sidebarPutsAgentPagesFirst()
{
    MainWindow window(*db_);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    QCOMPARE(window.pageTitles(), QStringList({"Dashboard", "Replicas", "Algorithm", "Agents", "Accounts", "Audit log"}));
    auto* sidebar = child<QListWidget>(&window, "sidebar");
    QTRY_COMPARE_WITH_TIMEOUT(sidebar->currentItem()->text(), QStringLiteral("Agents"), kDbTimeoutMs);
    QTRY_VERIFY_WITH_TIMEOUT(!db_->busy(), kDbTimeoutMs);
}

// The server ends the console's session (pg_terminate_backend, as a restart or a DBA would):
// the main window goes, the login dialog comes back saying why, with the connection settings
// and the username kept and no password; logging in again opens the window again.
void TstConsoleGui::lostSessionReturnsToLogin()
{
    ConsoleFlow flow(*db_, *settings_);
    flow.start();
    QVERIFY(flow.loginDialog());
    QVERIFY(QTest::qWaitForWindowExposed(flow.loginDialog()));
    auto* login = child<QPushButton>(flow.loginDialog(), "login");
    QTRY_VERIFY_WITH_TIMEOUT(login->isEnabled(), 4 * kLoginFirstDelay.count() + 1000);
    fill(flow.loginDialog(), "username", kAdmin);
    fill(flow.loginDialog(), "password", kAdminPw);
    QTest::mouseClick(login, Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(flow.mainWindow() && flow.mainWindow()->isVisible(), kDbTimeoutMs);
    QVERIFY(!flow.loginDialog());
    QTRY_VERIFY_WITH_TIMEOUT(!db_->busy(), kDbTimeoutMs);

    {
        QSqlDatabase su = env_.open("terminate", kDb, env_.superuser, env_.password);
        QVERIFY(su.isOpen());
        QSqlQuery q(su);
        QVERIFY2(q.exec(QStringLiteral("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                                       "WHERE usename = '%1' AND pid <> pg_backend_pid()").arg(kAdmin)),
                 qPrintable(q.lastError().text()));
        QVERIFY(q.next());
        QCOMPARE(q.value(0).toInt(), 1);
    }
    QSqlDatabase::removeDatabase("terminate");

    // Noticed without any click: the server's goodbye wakes the console.
    QTRY_VERIFY_WITH_TIMEOUT(flow.loginDialog() && flow.loginDialog()->isVisible(), kDbTimeoutMs);
    QTRY_VERIFY_WITH_TIMEOUT(!flow.mainWindow(), kDbTimeoutMs);
    LoginDialog* dialog = flow.loginDialog();
    auto* error = child<QLabel>(dialog, "error");
    QVERIFY(error->isVisible());
    QVERIFY2(error->text().contains("connection to PostgreSQL was lost"), qPrintable(error->text()));
    QVERIFY2(!error->text().contains('\n'), qPrintable(error->text())); // one sentence, not libpq's lines
    QCOMPARE(child<QLabel>(dialog, "server")->text(), env_.settings(kDb).summary());
    QCOMPARE(child<QLineEdit>(dialog, "username")->text(), kAdmin);
    QVERIFY(child<QLineEdit>(dialog, "password")->text().isEmpty());
    QVERIFY(db_->session().username.isEmpty());
    dialog->adjustSize();
    screenshot(dialog, "login-session-lost");

    fill(dialog, "password", kAdminPw);
    QTest::mouseClick(child<QPushButton>(dialog, "login"), Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(flow.mainWindow() && flow.mainWindow()->isVisible(), kDbTimeoutMs);
    QCOMPARE(db_->session().username, kAdmin);
    QTRY_VERIFY_WITH_TIMEOUT(!db_->busy(), kDbTimeoutMs);
}

QTEST_MAIN(TstConsoleGui)
#include "tst_console_gui.moc"
