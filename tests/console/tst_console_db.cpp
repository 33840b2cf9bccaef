// The console's database half against a real PostgreSQL (a pg_virtualenv cluster): migrations,
// bootstrap, login, the register rules enforced inside the database, grants, and the audit log.
#include "db/database.hpp"
#include "db/db_worker.hpp"
#include "db/migrations.hpp"
#include "db/scram.hpp"
#include "pg_env.hpp"

#include <QFile>
#include <QSignalSpy>
#include <QSqlRecord>
#include <QTcpServer>
#include <QTest>

#include <libpq-fe.h>

using namespace dlb::console;
using dlb::console::test::PgEnv;

namespace {

const QString kDb = QStringLiteral("dlb_console_test");
const QString kAdmin = QStringLiteral("root_admin");
const QString kAdminPw = QStringLiteral("Adm1n-secret");

// Runs sql on connection `db`; empty on success, else the database's error text.
QString sqlError(QSqlDatabase db, const QString& sql, const QVariantList& args = {})
{
    QSqlQuery q(db);
    if (args.isEmpty()) // PREPARE cannot take utility statements such as CREATE DATABASE
        return q.exec(sql) ? QString() : q.lastError().databaseText();
    if (!q.prepare(sql))
        return q.lastError().text();
    for (const QVariant& a : args)
        q.addBindValue(a);
    return q.exec() ? QString() : q.lastError().databaseText();
}

QVariant sqlValue(QSqlDatabase db, const QString& sql, const QVariantList& args = {})
{
    QSqlQuery q(db);
    q.prepare(sql);
    for (const QVariant& a : args)
        q.addBindValue(a);
    if (!q.exec() || !q.next())
        return {};
    return q.value(0);
}

} // namespace

class TstConsoleDb : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void cleanupTestCase();
    void migrationsApplyFromEmptyAndRerun();
    void bootstrapRefusesBrokenFirstAdmin();
    void bootstrapCreatesFirstAdminOnce();
    void loginSucceeds();
    void loginFailuresLookTheSame_data();
    void loginFailuresLookTheSame();
    void loginUnreachableIsNotInvalidCredentials();
    void loginWithoutSchemaAsksForBootstrap();
    void databaseRefusesBrokenRules_data();
    void databaseRefusesBrokenRules();
    void registerReportsEveryProblemBesideItsField();
    void registerStoresOnlyAScramVerifier();
    void onlyAdminsRegister();
    void viewerCannotReadAdminToken();
    void changeRoleDisableAndResetPassword();
    void lastAdminIsKept();
    void accountFunctionsTouchOnlyDlbAccounts();
    void auditLogIsWrittenAndAppendOnly();
    void loadsAccountsAndAudit();
    void databaseWorksOffThreadAndThrottles();
    // Attacks on the accounts half; each failed before its fix (migration 0003, db_worker.cpp).
    void databaseRefusesVerifiersItWouldTakeAsPlainText_data();
    void databaseRefusesVerifiersItWouldTakeAsPlainText();
    void reservedRoleNamesAreRefusedBesideTheField();
    void disabledAccountLosesItsRightsInOpenSessions();
    void lastAdminSurvivesConcurrentDemotions();
    void auditRefusesRowsInTheAccountAndAgentNamespaces();
    void registerWhileTheConnectionDropsSaysLogInAgain();
    void queuedLoginsAreThrottledToo();
    void upgradeTakesDisabledAccountsOutOfTheirGroup();

private:
    QSqlDatabase as(const QString& user, const QString& password);
    LoginResult login(const QString& user, const QString& password, const QString& db = kDb);
    void makeAccount(const QString& user, const QString& role);
    void registerOk(const NewAccount& a);

    PgEnv env_;
    QSqlDatabase super_; // superuser on kDb
    DbWorker admin_;     // logged in as kAdmin once bootstrapped
    int connections_ = 0;
};

QSqlDatabase TstConsoleDb::as(const QString& user, const QString& password)
{
    return env_.open(QStringLiteral("c%1").arg(++connections_), kDb, user, password);
}

LoginResult TstConsoleDb::login(const QString& user, const QString& password, const QString& db)
{
    DbWorker w;
    QSignalSpy spy(&w, &DbWorker::loginFinished);
    w.login(env_.settings(db), user, password);
    if (spy.size() != 1)
        return {};
    return spy.at(0).at(0).value<LoginResult>();
}

void TstConsoleDb::registerOk(const NewAccount& a)
{
    QSignalSpy spy(&admin_, &DbWorker::registerFinished);
    admin_.registerAccount(a);
    QCOMPARE(spy.size(), 1);
    const auto r = spy.at(0).at(0).value<ChangeResult>();
    QVERIFY2(r.ok, qPrintable(r.message));
}

void TstConsoleDb::makeAccount(const QString& user, const QString& role)
{
    registerOk({user, user + "@example.org", "Pass-" + user, "Pass-" + user, role});
}

void TstConsoleDb::initTestCase()
{
    QVERIFY2(env_.problem().isEmpty(), qPrintable(env_.problem()));
    QSqlDatabase postgres = env_.open("setup", "postgres", env_.superuser, env_.password);
    QVERIFY2(postgres.isOpen(), qPrintable(postgres.lastError().text()));
    for (const QString& db : {kDb, QStringLiteral("dlb_mig_a"), QStringLiteral("dlb_mig_b"), QStringLiteral("dlb_empty")})
        QCOMPARE(sqlError(postgres, QStringLiteral("CREATE DATABASE %1").arg(db)), QString());
    super_ = env_.open("super", kDb, env_.superuser, env_.password);
    QVERIFY(super_.isOpen());
}

void TstConsoleDb::cleanupTestCase()
{
    super_.close();
}

// From an empty database every bundled migration applies and is recorded; a second run applies
// none; a second database in the same cluster (group roles already there) migrates too.
void TstConsoleDb::migrationsApplyFromEmptyAndRerun()
{
    QString error;
    const auto bundled = bundledMigrations(&error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QVERIFY(bundled.size() >= 2);
    for (const QString& name : {QStringLiteral("dlb_mig_a"), QStringLiteral("dlb_mig_b")}) {
        QSqlDatabase db = env_.open(name, name, env_.superuser, env_.password);
        QVERIFY(db.isOpen());
        QCOMPARE(appliedMigrationVersion(db, &error), 0);
        MigrationResult r = applyMigrations(db);
        QVERIFY2(r.error.isEmpty(), qPrintable(r.error));
        QCOMPARE(r.applied, bundled.size());
        QCOMPARE(appliedMigrationVersion(db, &error), latestMigrationVersion());
        r = applyMigrations(db);
        QVERIFY2(r.error.isEmpty(), qPrintable(r.error));
        QCOMPARE(r.applied, 0);
        QCOMPARE(sqlValue(db, "SELECT count(*) FROM dlb.schema_migrations").toInt(), bundled.size());
        QCOMPARE(sqlValue(db, "SELECT string_agg(name, ',' ORDER BY version) FROM dlb.schema_migrations").toString(),
                 QStringLiteral("0001_schema.sql,0002_account_functions.sql,0003_account_hardening.sql"));
    }
}

void TstConsoleDb::bootstrapRefusesBrokenFirstAdmin()
{
    DbWorker w;
    QSignalSpy spy(&w, &DbWorker::bootstrapFinished);
    w.bootstrap({env_.settings(kDb), env_.superuser, env_.password, {"X", "nope", "short", "", "admin"}});
    QCOMPARE(spy.size(), 1);
    const auto r = spy.at(0).at(0).value<ChangeResult>();
    QVERIFY(!r.ok);
    QVERIFY(!r.fields.username.isEmpty() && !r.fields.email.isEmpty() && !r.fields.password.isEmpty());
    // Refused before any SQL ran: the schema is still absent.
    QCOMPARE(sqlValue(super_, "SELECT count(*) FROM pg_namespace WHERE nspname = 'dlb'").toInt(), 0);
}

void TstConsoleDb::bootstrapCreatesFirstAdminOnce()
{
    DbWorker w;
    QSignalSpy spy(&w, &DbWorker::bootstrapFinished);
    w.bootstrap({env_.settings(kDb), env_.superuser, "wrong-Password!", {kAdmin, "root@example.org", kAdminPw, kAdminPw, "admin"}});
    QCOMPARE(spy.size(), 1);
    QVERIFY(!spy.at(0).at(0).value<ChangeResult>().ok);

    w.bootstrap({env_.settings(kDb), env_.superuser, env_.password, {kAdmin, "root@example.org", kAdminPw, kAdminPw, "admin"}});
    QCOMPARE(spy.size(), 2);
    auto r = spy.at(1).at(0).value<ChangeResult>();
    QVERIFY2(r.ok, qPrintable(r.message));
    QVERIFY2(r.message.contains("created admin " + kAdmin), qPrintable(r.message));

    w.bootstrap({env_.settings(kDb), env_.superuser, env_.password, {"second_admin", "second@example.org", kAdminPw, kAdminPw, "admin"}});
    QCOMPARE(spy.size(), 3);
    r = spy.at(2).at(0).value<ChangeResult>();
    QVERIFY2(r.ok, qPrintable(r.message));
    QVERIFY2(r.message.contains("none was created"), qPrintable(r.message));
    QCOMPARE(sqlValue(super_, "SELECT string_agg(username, ',') FROM dlb.accounts").toString(), kAdmin);
    QCOMPARE(sqlValue(super_, "SELECT pg_has_role(?, 'dlb_admin', 'member')", {kAdmin}).toBool(), true);

    QSignalSpy loginSpy(&admin_, &DbWorker::loginFinished);
    admin_.login(env_.settings(kDb), kAdmin, kAdminPw);
    QCOMPARE(loginSpy.size(), 1);
    QCOMPARE(loginSpy.at(0).at(0).value<LoginResult>().status, LoginResult::Status::Ok);
}

void TstConsoleDb::loginSucceeds()
{
    const LoginResult r = login(kAdmin, kAdminPw);
    QCOMPARE(r.status, LoginResult::Status::Ok);
    QCOMPARE(r.session.username, kAdmin);
    QCOMPARE(r.session.role, QStringLiteral("admin"));
    QCOMPARE(r.session.email, QStringLiteral("root@example.org"));
}

void TstConsoleDb::loginFailuresLookTheSame_data()
{
    QTest::addColumn<QString>("user");
    QTest::addColumn<QString>("password");
    QTest::newRow("wrong password") << kAdmin << "Wrong-passw0rd";
    QTest::newRow("unknown user") << "nobody_here" << kAdminPw;
    QTest::newRow("empty password") << kAdmin << "";
    QTest::newRow("disabled account") << "disabled_one" << "Pass-disabled_one";
    QTest::newRow("role that is no account") << "plain_role" << "Plain-role1";
}

void TstConsoleDb::loginFailuresLookTheSame()
{
    QFETCH(QString, user);
    QFETCH(QString, password);
    if (sqlValue(super_, "SELECT count(*) FROM pg_roles WHERE rolname = 'disabled_one'").toInt() == 0) {
        makeAccount("disabled_one", "viewer");
        QCOMPARE(sqlError(super_, "SELECT dlb.set_account_disabled('disabled_one', true)"), QString());
        QCOMPARE(sqlError(super_, "CREATE ROLE plain_role LOGIN PASSWORD 'Plain-role1'"), QString());
    }
    const LoginResult r = login(user, password);
    QCOMPARE(r.status, LoginResult::Status::InvalidCredentials);
    QCOMPARE(r.message, QStringLiteral("Invalid credentials"));
}

void TstConsoleDb::loginUnreachableIsNotInvalidCredentials()
{
    QTcpServer probe;
    QVERIFY(probe.listen(QHostAddress::LocalHost, 0));
    const int port = probe.serverPort();
    probe.close(); // nothing listens there now
    DbWorker w;
    QSignalSpy spy(&w, &DbWorker::loginFinished);
    ConnectionSettings s = env_.settings(kDb);
    s.host = "127.0.0.1";
    s.port = port;
    w.login(s, kAdmin, kAdminPw);
    QCOMPARE(spy.size(), 1);
    const auto r = spy.at(0).at(0).value<LoginResult>();
    QCOMPARE(r.status, LoginResult::Status::Unreachable);
    QVERIFY2(r.message.contains("Cannot reach"), qPrintable(r.message));
}

void TstConsoleDb::loginWithoutSchemaAsksForBootstrap()
{
    const LoginResult r = login(env_.superuser, env_.password, "dlb_empty");
    QCOMPARE(r.status, LoginResult::Status::SchemaMissing);
    QVERIFY2(r.message.contains("no dlb schema"), qPrintable(r.message));
}

// Direct SQL, as an admin, bypassing the console: the database itself refuses.
void TstConsoleDb::databaseRefusesBrokenRules_data()
{
    QTest::addColumn<QString>("username");
    QTest::addColumn<QString>("email");
    QTest::addColumn<QString>("verifier"); // "good" is replaced by a real verifier
    QTest::addColumn<QString>("role");
    QTest::addColumn<QString>("complaint");
    QTest::newRow("short username") << "ab" << "ab@example.org" << "good" << "viewer" << "username must be 3 to 32";
    QTest::newRow("long username") << QString(33, 'a') << "ab@example.org" << "good" << "viewer" << "username must be 3 to 32";
    QTest::newRow("capital in username") << "Abc" << "ab@example.org" << "good" << "viewer" << "username must be 3 to 32";
    QTest::newRow("quote in username") << "ab\"c" << "ab@example.org" << "good" << "viewer" << "username must be 3 to 32";
    QTest::newRow("reserved prefix") << "pg_abc" << "ab@example.org" << "good" << "viewer" << "reserved";
    QTest::newRow("existing role") << env_.superuser << "ab@example.org" << "good" << "viewer" << "is taken";
    QTest::newRow("duplicate username") << kAdmin << "ab@example.org" << "good" << "viewer" << "is taken";
    QTest::newRow("invalid e-mail") << "abc" << "ab@" << "good" << "viewer" << "e-mail must be a valid address";
    QTest::newRow("duplicate e-mail") << "abc" << "ROOT@example.org" << "good" << "viewer" << "already registered";
    QTest::newRow("plain password") << "abc" << "ab@example.org" << "Secret-pw1" << "viewer" << "SCRAM-SHA-256 verifier";
    QTest::newRow("fake verifier prefix") << "abc" << "ab@example.org" << "SCRAM-SHA-256$Secret-pw1" << "viewer" << "SCRAM-SHA-256 verifier";
    QTest::newRow("md5 hash") << "abc" << "ab@example.org" << "md5" + QString(32, 'a') << "viewer" << "SCRAM-SHA-256 verifier";
    QTest::newRow("unknown role") << "abc" << "ab@example.org" << "good" << "superuser" << "role must be admin";
    QTest::newRow("everything") << "A" << "x" << "plain" << "root" << "username must be 3 to 32 characters from a-z, 0-9 and _; "
                                                                     "e-mail must be a valid address like name@example.org; "
                                                                     "password must arrive as a SCRAM-SHA-256 verifier";
}

void TstConsoleDb::databaseRefusesBrokenRules()
{
    QFETCH(QString, username);
    QFETCH(QString, email);
    QFETCH(QString, verifier);
    QFETCH(QString, role);
    QFETCH(QString, complaint);
    QSqlDatabase db = as(kAdmin, kAdminPw);
    QVERIFY2(db.isOpen(), qPrintable(db.lastError().text()));
    if (verifier == "good")
        verifier = QString::fromLatin1(scramVerifier(db, "abc", "Secret-pw1").value);
    const QString error = sqlError(db, "SELECT dlb.register_account(?, ?, ?, ?)", {username, email, verifier, role});
    QVERIFY2(error.contains("account refused"), qPrintable(error));
    QVERIFY2(error.contains(complaint), qPrintable(error));
    QCOMPARE(sqlValue(super_, "SELECT count(*) FROM dlb.accounts WHERE username = ?", {username}).toInt(),
             username == kAdmin ? 1 : 0);
}

void TstConsoleDb::registerReportsEveryProblemBesideItsField()
{
    QSignalSpy spy(&admin_, &DbWorker::registerFinished);
    admin_.registerAccount({kAdmin, "Root@Example.org", "Good-pass1", "Good-pass1", "viewer"});
    QCOMPARE(spy.size(), 1);
    auto r = spy.at(0).at(0).value<ChangeResult>();
    QVERIFY(!r.ok);
    QVERIFY2(r.fields.username.contains("is taken"), qPrintable(r.fields.username));
    QVERIFY2(r.fields.email.contains("already registered"), qPrintable(r.fields.email));

    admin_.registerAccount({"x", "bad", "weak", "weaker", "viewer"});
    QCOMPARE(spy.size(), 2);
    r = spy.at(1).at(0).value<ChangeResult>();
    QVERIFY(!r.ok);
    QVERIFY(!r.fields.username.isEmpty() && !r.fields.email.isEmpty() && !r.fields.password.isEmpty()
            && !r.fields.confirm.isEmpty());
    QCOMPARE(sqlValue(super_, "SELECT count(*) FROM pg_roles WHERE rolname = 'x'").toInt(), 0);
}

void TstConsoleDb::registerStoresOnlyAScramVerifier()
{
    registerOk({"new_operator", "new.op@example.org", "Op-secret1", "Op-secret1", "operator"});
    const QString stored = sqlValue(super_, "SELECT rolpassword FROM pg_authid WHERE rolname = 'new_operator'").toString();
    QVERIFY2(stored.startsWith("SCRAM-SHA-256$4096:"), qPrintable(stored));
    QVERIFY(!stored.contains("Op-secret1"));
    const LoginResult r = login("new_operator", "Op-secret1");
    QCOMPARE(r.status, LoginResult::Status::Ok);
    QCOMPARE(r.session.role, QStringLiteral("operator"));
}

void TstConsoleDb::onlyAdminsRegister()
{
    makeAccount("reg_viewer", "viewer");
    makeAccount("reg_operator", "operator");
    for (const QString& user : {QStringLiteral("reg_viewer"), QStringLiteral("reg_operator")}) {
        QSqlDatabase db = as(user, "Pass-" + user);
        QVERIFY(db.isOpen());
        const QString v = QString::fromLatin1(scramVerifier(db, "sneaky", "Secret-pw1").value);
        QVERIFY(v.startsWith("SCRAM-SHA-256$"));
        for (const QString& sql : {QStringLiteral("SELECT dlb.register_account('sneaky', 'sneaky@example.org', ?, 'admin')"),
                                   QStringLiteral("SELECT dlb.reset_account_password('root_admin', ?)")}) {
            const QString error = sqlError(db, sql, {v});
            QVERIFY2(error.contains("permission denied"), qPrintable(error));
        }
        QVERIFY(sqlError(db, "SELECT dlb.set_account_role(?, 'admin')", {user}).contains("permission denied"));
        QVERIFY(sqlError(db, "SELECT * FROM dlb.accounts").contains("permission denied"));
        QVERIFY(sqlError(db, "INSERT INTO dlb.accounts (username, email, role) VALUES ('sneaky', 's@example.org', 'admin')")
                    .contains("permission denied"));
    }
}

void TstConsoleDb::viewerCannotReadAdminToken()
{
    QSqlDatabase admin = as(kAdmin, kAdminPw);
    QCOMPARE(sqlError(admin, "INSERT INTO dlb.agents (name, control_url, admin_token, viewer_token) VALUES (?, ?, ?, ?)",
                      {"edge-1", "http://127.0.0.1:9901", "admin-secret", "viewer-secret"}),
             QString());
    makeAccount("token_viewer", "viewer");
    QSqlDatabase viewer = as("token_viewer", "Pass-token_viewer");
    QVERIFY2(sqlError(viewer, "SELECT admin_token FROM dlb.agents").contains("permission denied"),
             "a viewer read the admin token");
    QVERIFY(sqlError(viewer, "SELECT * FROM dlb.agents").contains("permission denied"));
    QCOMPARE(sqlValue(viewer, "SELECT viewer_token FROM dlb.agents WHERE name = 'edge-1'").toString(), QString("viewer-secret"));
    QVERIFY(sqlError(viewer, "UPDATE dlb.agents SET control_url = 'http://127.0.0.1:1'").contains("permission denied"));
    QSqlDatabase op = as("new_operator", "Op-secret1");
    QCOMPARE(sqlValue(op, "SELECT admin_token FROM dlb.agents WHERE name = 'edge-1'").toString(), QString("admin-secret"));
}

void TstConsoleDb::changeRoleDisableAndResetPassword()
{
    makeAccount("changeling", "viewer");
    QSignalSpy spy(&admin_, &DbWorker::changeFinished);
    auto last = [&] { return spy.at(spy.size() - 1).at(0).value<ChangeResult>(); };

    admin_.setRole("changeling", "operator");
    QVERIFY2(last().ok, qPrintable(last().message));
    QCOMPARE(sqlValue(super_, "SELECT pg_has_role('changeling', 'dlb_operator', 'member')").toBool(), true);
    QCOMPARE(sqlValue(super_, "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid"
                              " JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = 'changeling'").toInt(), 1);
    QCOMPARE(login("changeling", "Pass-changeling").session.role, QString("operator"));

    admin_.setDisabled("changeling", true);
    QVERIFY2(last().ok, qPrintable(last().message));
    QCOMPARE(login("changeling", "Pass-changeling").status, LoginResult::Status::InvalidCredentials);
    admin_.setDisabled("changeling", false);
    QVERIFY(last().ok);
    QCOMPARE(login("changeling", "Pass-changeling").status, LoginResult::Status::Ok);

    admin_.resetPassword("changeling", "weak", "weak");
    QVERIFY(!last().ok);
    QVERIFY(!last().fields.password.isEmpty());
    admin_.resetPassword("changeling", "New-secret9", "New-secret9");
    QVERIFY2(last().ok, qPrintable(last().message));
    QCOMPARE(login("changeling", "Pass-changeling").status, LoginResult::Status::InvalidCredentials);
    QCOMPARE(login("changeling", "New-secret9").status, LoginResult::Status::Ok);

    admin_.setRole("changeling", "root");
    QVERIFY(!last().ok);
    QVERIFY2(last().message.contains("role must be admin, operator or viewer"), qPrintable(last().message));
}

void TstConsoleDb::lastAdminIsKept()
{
    QSignalSpy spy(&admin_, &DbWorker::changeFinished);
    admin_.setRole(kAdmin, "viewer");
    QCOMPARE(spy.size(), 1);
    auto r = spy.at(0).at(0).value<ChangeResult>();
    QVERIFY(!r.ok);
    QVERIFY2(r.message.contains("last enabled admin"), qPrintable(r.message));
    admin_.setDisabled(kAdmin, true);
    r = spy.at(1).at(0).value<ChangeResult>();
    QVERIFY(!r.ok);
    QVERIFY2(r.message.contains("your own account"), qPrintable(r.message));
    QCOMPARE(login(kAdmin, kAdminPw).status, LoginResult::Status::Ok);
}

void TstConsoleDb::accountFunctionsTouchOnlyDlbAccounts()
{
    QSqlDatabase admin = as(kAdmin, kAdminPw);
    const QString v = QString::fromLatin1(scramVerifier(admin, env_.superuser, "Taken-over1").value);
    QString error = sqlError(admin, "SELECT dlb.reset_account_password(?, ?)", {env_.superuser, v});
    QVERIFY2(error.contains("is not a dlb account"), qPrintable(error));
    error = sqlError(admin, "SELECT dlb.set_account_disabled('plain_role', true)");
    QVERIFY2(error.contains("is not a dlb account"), qPrintable(error));
    QVERIFY(env_.open("still-super", kDb, env_.superuser, env_.password).isOpen());
}

void TstConsoleDb::auditLogIsWrittenAndAppendOnly()
{
    QSqlQuery q(super_);
    QVERIFY(q.exec("SELECT who, coalesce(agent, ''), action, detail FROM dlb.audit_log ORDER BY id"));
    QStringList rows;
    while (q.next())
        rows << QStringList{q.value(0).toString(), q.value(1).toString(), q.value(2).toString(), q.value(3).toString()}.join('|');
    const QString all = rows.join('\n');
    for (const QString& expected :
         {QStringLiteral("postgres||account.register|root_admin <root@example.org> as admin"),
          QStringLiteral("root_admin||account.register|new_operator <new.op@example.org> as operator"),
          QStringLiteral("root_admin|edge-1|agent.add|http://127.0.0.1:9901"),
          QStringLiteral("root_admin||account.role|changeling: viewer -> operator"),
          QStringLiteral("root_admin||account.disable|changeling"),
          QStringLiteral("root_admin||account.enable|changeling"),
          QStringLiteral("root_admin||account.password|changeling")})
        QVERIFY2(all.contains(expected), qPrintable(expected + "\nnot in:\n" + all));
    QVERIFY2(!all.contains("secret"), "a token or password reached the audit log");

    QSqlDatabase admin = as(kAdmin, kAdminPw);
    QVERIFY(sqlError(admin, "INSERT INTO dlb.audit_log (action) VALUES ('forged')").contains("permission denied"));
    QVERIFY(sqlError(admin, "DELETE FROM dlb.audit_log").contains("permission denied"));
    QVERIFY(sqlError(admin, "UPDATE dlb.audit_log SET who = 'someone'").contains("permission denied"));
    // Actions on agents go through dlb.audit, which records the caller itself.
    QSqlDatabase op = as("new_operator", "Op-secret1");
    QCOMPARE(sqlError(op, "SELECT dlb.audit('edge-1', 'replica.add', 'http://127.0.0.1:9000')"), QString());
    QCOMPARE(sqlValue(super_, "SELECT who FROM dlb.audit_log WHERE action = 'replica.add'").toString(), QString("new_operator"));
    QVERIFY(sqlError(op, "SELECT dlb.audit('edge-1', 'DROP TABLE', '')").contains("dotted lower-case"));
    QSqlDatabase viewer = as("token_viewer", "Pass-token_viewer");
    QVERIFY(sqlError(viewer, "SELECT dlb.audit('edge-1', 'replica.add', '')").contains("permission denied"));
    QVERIFY(sqlValue(viewer, "SELECT count(*) FROM dlb.audit_log").toInt() > 0);
}

void TstConsoleDb::loadsAccountsAndAudit()
{
    QSignalSpy accounts(&admin_, &DbWorker::accountsLoaded);
    admin_.loadAccounts();
    QCOMPARE(accounts.size(), 1);
    QCOMPARE(accounts.at(0).at(1).toString(), QString());
    const auto list = accounts.at(0).at(0).value<QList<Account>>();
    QCOMPARE(list.size(), sqlValue(super_, "SELECT count(*) FROM dlb.accounts").toInt());
    QCOMPARE(list.front().username, QString("changeling")); // ordered by name

    QSignalSpy audit(&admin_, &DbWorker::auditLoaded);
    admin_.loadAudit();
    QCOMPARE(audit.size(), 1);
    const auto entries = audit.at(0).at(0).value<QList<AuditEntry>>();
    QCOMPARE(entries.size(), sqlValue(super_, "SELECT count(*) FROM dlb.audit_log").toInt());
    QVERIFY(entries.front().id > entries.back().id); // newest first
}

// The facade runs the worker in its own thread, reports busy while it works, and slows down
// repeated failures without asking the server.
void TstConsoleDb::databaseWorksOffThreadAndThrottles()
{
    Database db;
    QSignalSpy busy(&db, &Database::busyChanged);
    QSignalSpy done(&db, &Database::loginFinished);
    db.login(env_.settings(kDb), kAdmin, "Wrong-passw0rd");
    QVERIFY(db.busy());
    QVERIFY(done.wait(20000));
    QCOMPARE(done.at(0).at(0).value<LoginResult>().message, QString("Invalid credentials"));
    QCOMPARE(busy.size(), 2);
    QCOMPARE(busy.at(0).at(0).toBool(), true);
    QCOMPARE(busy.at(1).at(0).toBool(), false);
    QVERIFY(db.loginWait().count() > 0);

    db.login(env_.settings(kDb), kAdmin, kAdminPw);
    QCOMPARE(done.size(), 2); // answered at once, not sent to the server
    auto r = done.at(1).at(0).value<LoginResult>();
    QCOMPARE(r.status, LoginResult::Status::Throttled);
    QVERIFY2(r.message.contains("try again in"), qPrintable(r.message));

    QTRY_VERIFY_WITH_TIMEOUT(db.loginWait().count() == 0, 2 * kLoginFirstDelay.count() + 1000);
    db.login(env_.settings(kDb), kAdmin, kAdminPw);
    QVERIFY(done.wait(20000));
    r = done.at(2).at(0).value<LoginResult>();
    QCOMPARE(r.status, LoginResult::Status::Ok);
    QCOMPARE(db.session().username, kAdmin);
    QCOMPARE(db.loginWait().count(), 0);
}

// PostgreSQL takes any password string it cannot parse as a SCRAM secret (keys that do not decode
// to 32 bytes, a salt that is not base64) as plain text: it would travel and be hashed as a
// password. A regex that only looks like SCRAM let such strings through.
void TstConsoleDb::databaseRefusesVerifiersItWouldTakeAsPlainText_data()
{
    const QString key = QString(43, 'A') + '='; // base64 of 32 bytes
    QTest::addColumn<QString>("verifier");
    QTest::newRow("keys that are not 32 bytes") << "SCRAM-SHA-256$4096:c2FsdHNhbHRzYWx0$c2VjcmV0:c2VjcmV0";
    QTest::newRow("salt that is not base64") << "SCRAM-SHA-256$4096:c2Fsd$" + key + ":" + key;
    QTest::newRow("iterations beyond an int") << "SCRAM-SHA-256$4294967297:c2FsdHNhbHRzYWx0$" + key + ":" + key;
    QTest::newRow("server key missing its padding") << "SCRAM-SHA-256$4096:c2FsdHNhbHRzYWx0$" + key + ":" + QString(43, 'A');
}

void TstConsoleDb::databaseRefusesVerifiersItWouldTakeAsPlainText()
{
    QFETCH(QString, verifier);
    QSqlDatabase db = as(kAdmin, kAdminPw);
    QVERIFY(db.isOpen());
    QString error = sqlError(db, "SELECT dlb.register_account('plain_victim', 'plain.victim@example.org', ?, 'viewer')",
                             {verifier});
    QVERIFY2(error.contains("account refused") && error.contains("SCRAM-SHA-256 verifier"), qPrintable(error));
    QCOMPARE(sqlValue(super_, "SELECT count(*) FROM pg_roles WHERE rolname = 'plain_victim'").toInt(), 0);
    error = sqlError(db, "SELECT dlb.reset_account_password('changeling', ?)", {verifier});
    QVERIFY2(error.contains("SCRAM-SHA-256 verifier"), qPrintable(error));
}

// PostgreSQL reserves "public" and "none" even quoted; the rules must say so beside the field,
// in the console and in the database, rather than fail in CREATE ROLE.
void TstConsoleDb::reservedRoleNamesAreRefusedBesideTheField()
{
    QSqlDatabase db = as(kAdmin, kAdminPw);
    QVERIFY(db.isOpen());
    const QString v = QString::fromLatin1(scramVerifier(db, "public", "Pass-word1").value);
    QSignalSpy spy(&admin_, &DbWorker::registerFinished);
    for (const QString& name : {QStringLiteral("public"), QStringLiteral("none")}) {
        admin_.registerAccount({name, name + "@example.org", "Pass-word1", "Pass-word1", "viewer"});
        const auto r = spy.takeLast().at(0).value<ChangeResult>();
        QVERIFY(!r.ok);
        QVERIFY2(r.fields.username.contains("reserved"), qPrintable(name + ": " + r.fields.username + " / " + r.message));
        const QString error = sqlError(db, "SELECT dlb.register_account(?, ?, ?, 'viewer')", {name, name + "@example.org", v});
        QVERIFY2(error.contains("account refused") && error.contains("reserved"), qPrintable(error));
    }
}

// NOLOGIN stops new sessions only; a disabled admin's open session kept every right, down to
// enabling itself again. Disabling now takes the account out of its group.
void TstConsoleDb::disabledAccountLosesItsRightsInOpenSessions()
{
    makeAccount("rogue_admin", "admin");
    QSqlDatabase rogue = as("rogue_admin", "Pass-rogue_admin");
    QVERIFY(rogue.isOpen());
    QSignalSpy spy(&admin_, &DbWorker::changeFinished);
    admin_.setDisabled("rogue_admin", true);
    QVERIFY2(spy.last().at(0).value<ChangeResult>().ok, qPrintable(spy.last().at(0).value<ChangeResult>().message));

    QString error = sqlError(rogue, "SELECT dlb.set_account_disabled('rogue_admin', false)");
    QVERIFY2(error.contains("permission denied"), qPrintable("a disabled admin enabled itself: " + error));
    QVERIFY(sqlError(rogue, "INSERT INTO dlb.agents (name, control_url) VALUES ('rogue', 'http://127.0.0.1:1')")
                .contains("permission denied"));
    QVERIFY(sqlError(rogue, "SELECT count(*) FROM dlb.audit_log").contains("permission denied"));
    QCOMPARE(sqlValue(super_, "SELECT disabled FROM dlb.accounts WHERE username = 'rogue_admin'").toBool(), true);

    // A role change while disabled is kept for when the account is enabled again.
    admin_.setRole("rogue_admin", "viewer");
    QVERIFY2(spy.last().at(0).value<ChangeResult>().ok, qPrintable(spy.last().at(0).value<ChangeResult>().message));
    const QString groups = "SELECT coalesce(string_agg(r.rolname, ','), '') FROM pg_auth_members m"
                           " JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member"
                           " WHERE u.rolname = 'rogue_admin'";
    QCOMPARE(sqlValue(super_, groups).toString(), QString());
    admin_.setDisabled("rogue_admin", false);
    QVERIFY(spy.last().at(0).value<ChangeResult>().ok);
    QCOMPARE(sqlValue(super_, groups).toString(), QString("dlb_viewer"));
    const LoginResult r = login("rogue_admin", "Pass-rogue_admin");
    QCOMPARE(r.status, LoginResult::Status::Ok);
    QCOMPARE(r.session.role, QString("viewer"));
}

// Two admins demoting each other at once each saw the other still an admin: both committed and
// no admin was left. Account changes now take turns. Runs in dlb_mig_a, whose only admins are
// the two.
void TstConsoleDb::lastAdminSurvivesConcurrentDemotions()
{
    QSqlDatabase owner = env_.open("race-owner", "dlb_mig_a", env_.superuser, env_.password);
    QVERIFY(owner.isOpen());
    for (const QString& twin : {QStringLiteral("twin_a"), QStringLiteral("twin_b")}) {
        const QString v = QString::fromLatin1(scramVerifier(owner, twin, "Pass-" + twin).value);
        QCOMPARE(sqlError(owner, "SELECT dlb.register_account(?, ?, ?, 'admin')", {twin, twin + "@example.org", v}), QString());
    }
    QSqlDatabase a = env_.open("race-a", "dlb_mig_a", "twin_a", "Pass-twin_a");
    QSqlDatabase b = env_.open("race-b", "dlb_mig_a", "twin_b", "Pass-twin_b");
    QVERIFY(a.isOpen() && b.isOpen());
    QVERIFY(a.transaction());
    QCOMPARE(sqlError(a, "SELECT dlb.set_account_role('twin_b', 'viewer')"), QString());

    PGconn* bc = pgConnection(b);
    QVERIFY(bc != nullptr);
    QCOMPARE(PQsendQuery(bc, "SELECT dlb.set_account_role('twin_a', 'viewer')"), 1);
    // b's demotion has run, or is waiting for a's transaction: only then does a commit.
    const int bPid = PQbackendPID(bc);
    QTRY_VERIFY_WITH_TIMEOUT(
        (PQconsumeInput(bc) == 1 && PQisBusy(bc) == 0)
            || sqlValue(owner, "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = ?", {bPid}).toBool(),
        20000);
    QVERIFY(a.commit());
    QString bError;
    while (PGresult* res = PQgetResult(bc)) {
        if (PQresultStatus(res) != PGRES_TUPLES_OK)
            bError = QString::fromUtf8(PQresultErrorMessage(res));
        PQclear(res);
    }
    QVERIFY2(bError.contains("last enabled admin"), qPrintable("b's demotion was not refused: " + bError));
    QCOMPARE(sqlValue(owner, "SELECT string_agg(username, ',') FROM dlb.accounts WHERE role = 'admin' AND NOT disabled")
                 .toString(),
             QString("twin_a"));
}

// dlb.audit is for what an operator does to an agent. It let an operator write rows that read
// like an admin's account changes or the agents trigger's rows, with no agent, of any size.
void TstConsoleDb::auditRefusesRowsInTheAccountAndAgentNamespaces()
{
    QSqlDatabase op = as("new_operator", "Op-secret1");
    QVERIFY(op.isOpen());
    for (const QString& action : {QStringLiteral("account.register"), QStringLiteral("account.role"),
                                  QStringLiteral("agent.add"), QStringLiteral("agent.remove")}) {
        const QString error = sqlError(op, "SELECT dlb.audit('edge-1', ?, 'forged')", {action});
        QVERIFY2(error.contains("reserved"), qPrintable(action + ": " + error));
    }
    QString error = sqlError(op, "SELECT dlb.audit(NULL, 'replica.add', 'forged')");
    QVERIFY2(error.contains("agent name"), qPrintable(error));
    error = sqlError(op, "SELECT dlb.audit('edge-1', 'replica.add', ?)", {QString(4097, 'x')});
    QVERIFY2(error.contains("4096"), qPrintable(error));
    QCOMPARE(sqlValue(super_, "SELECT count(*) FROM dlb.audit_log WHERE detail = 'forged' OR length(detail) > 4096").toInt(), 0);
    QCOMPARE(sqlError(op, "SELECT dlb.audit('edge-1', 'replica.drain', ?)", {QString(4096, 'x')}), QString());
}

// A session whose backend is gone answered every later call with libpq's own words; it now says
// what happened and what to do, and the worker no longer counts itself logged in.
void TstConsoleDb::registerWhileTheConnectionDropsSaysLogInAgain()
{
    makeAccount("fragile_admin", "admin");
    DbWorker w;
    QSignalSpy loginSpy(&w, &DbWorker::loginFinished);
    w.login(env_.settings(kDb), "fragile_admin", "Pass-fragile_admin");
    QCOMPARE(loginSpy.size(), 1);
    QCOMPARE(loginSpy.at(0).at(0).value<LoginResult>().status, LoginResult::Status::Ok);
    QCOMPARE(sqlValue(super_, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = 'fragile_admin'")
                 .toInt(),
             1);

    QSignalSpy spy(&w, &DbWorker::registerFinished);
    w.registerAccount({"after_drop", "after.drop@example.org", "Pass-word1", "Pass-word1", "viewer"});
    QCOMPARE(spy.size(), 1);
    const auto r = spy.at(0).at(0).value<ChangeResult>();
    QVERIFY(!r.ok);
    QVERIFY2(r.message.contains("connection to PostgreSQL was lost") && r.message.contains("Log in again"),
             qPrintable(r.message));
    QCOMPARE(sqlValue(super_, "SELECT count(*) FROM pg_roles WHERE rolname = 'after_drop'").toInt(), 0);

    QSignalSpy accounts(&w, &DbWorker::accountsLoaded);
    w.loadAccounts();
    QCOMPARE(accounts.size(), 1);
    QVERIFY2(accounts.at(0).at(1).toString().contains("Log in again"), qPrintable(accounts.at(0).at(1).toString()));
}

// The throttle only knew of failures already answered: attempts queued while one was under way
// all reached the server unthrottled.
void TstConsoleDb::queuedLoginsAreThrottledToo()
{
    Database db;
    QSignalSpy done(&db, &Database::loginFinished);
    db.login(env_.settings(kDb), kAdmin, "Wrong-passw0rd");
    db.login(env_.settings(kDb), kAdmin, "Wrong-passw0rd");
    QCOMPARE(done.size(), 1); // the second is answered at once, never sent
    const auto r = done.at(0).at(0).value<LoginResult>();
    QCOMPARE(r.status, LoginResult::Status::Throttled);
    QVERIFY2(r.message.contains("already"), qPrintable(r.message));
    QVERIFY(done.wait(20000));
    QCOMPARE(done.at(1).at(0).value<LoginResult>().status, LoginResult::Status::InvalidCredentials);
    QVERIFY(!db.busy());
}

// A database the released console set up (0001 and 0002) holds accounts disabled the old way,
// still in their group; upgrading takes them out, and enabling puts them back.
void TstConsoleDb::upgradeTakesDisabledAccountsOutOfTheirGroup()
{
    QSqlDatabase postgres = env_.open("upgrade-setup", "postgres", env_.superuser, env_.password);
    QCOMPARE(sqlError(postgres, "CREATE DATABASE dlb_upgrade"), QString());
    QSqlDatabase db = env_.open("upgrade", "dlb_upgrade", env_.superuser, env_.password);
    QVERIFY(db.isOpen());
    QString error;
    const auto bundled = bundledMigrations(&error);
    QVERIFY(bundled.size() >= 3);
    // What the runner of the released console did, for its two migrations.
    QCOMPARE(sqlError(db, "CREATE SCHEMA dlb"), QString());
    QCOMPARE(sqlError(db, "CREATE TABLE dlb.schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
                          " applied_at timestamptz NOT NULL DEFAULT now(), applied_by text NOT NULL DEFAULT session_user)"),
             QString());
    for (const Migration& m : bundled.mid(0, 2)) {
        QFile file(m.resource);
        QVERIFY(file.open(QIODevice::ReadOnly));
        QCOMPARE(sqlError(db, QString::fromUtf8(file.readAll())), QString());
        QCOMPARE(sqlError(db, "INSERT INTO dlb.schema_migrations (version, name) VALUES (?, ?)", {m.version, m.name}), QString());
    }
    const QString v = QString::fromLatin1(scramVerifier(db, "old_disabled", "Pass-old_disabled").value);
    QCOMPARE(sqlError(db, "SELECT dlb.register_account('old_disabled', 'old.disabled@example.org', ?, 'operator')", {v}),
             QString());
    QCOMPARE(sqlError(db, "SELECT dlb.set_account_disabled('old_disabled', true)"), QString());
    const QString member = "SELECT pg_has_role('old_disabled', 'dlb_operator', 'member')";
    QCOMPARE(sqlValue(db, member).toBool(), true); // 0002 left it in its group

    const MigrationResult r = applyMigrations(db);
    QVERIFY2(r.error.isEmpty(), qPrintable(r.error));
    QCOMPARE(r.applied, bundled.size() - 2);
    QCOMPARE(sqlValue(db, member).toBool(), false);
    QCOMPARE(sqlError(db, "SELECT dlb.set_account_disabled('old_disabled', false)"), QString());
    QCOMPARE(sqlValue(db, member).toBool(), true);
}

QTEST_GUILESS_MAIN(TstConsoleDb)
#include "tst_console_db.moc"
