#include "db/db_worker.hpp"

#include "db/migrations.hpp"
#include "db/scram.hpp"

#include <openssl/crypto.h>

#include <QSocketNotifier>
#include <QSqlDatabase>
#include <QSqlDriver>
#include <QSqlError>
#include <QSqlQuery>
#include <QVariant>

#include <libpq-fe.h>

#include <cstring>

namespace dlb::console {

namespace {

// The server's own sentence: libpq's message is "SEVERITY:  text", and QPSQL appends the
// SQLSTATE; with terse verbosity (set in openConnection) there is no DETAIL or CONTEXT.
QString notLoggedIn() { return QStringLiteral("Not logged in. Log in again."); }

QString serverMessage(const QSqlError& e)
{
    QString text = e.databaseText().section(QLatin1Char('\n'), 0, 0).trimmed();
    const auto sep = text.indexOf(QLatin1String(":  "));
    if (sep >= 0)
        text = text.mid(sep + 3);
    if (text.isEmpty())
        text = e.text();
    return text;
}

QString connectOptions(const ConnectionSettings& s)
{
    return QStringLiteral("sslmode=%1;connect_timeout=%2;application_name=dlb-console")
        .arg(s.sslmode)
        .arg(kConnectTimeoutSeconds);
}

// Whether a PostgreSQL server answers at all, without credentials, so an unreachable server is
// reported as such and every other refusal can be the one "Invalid credentials".
QString unreachable(const ConnectionSettings& s)
{
    const QByteArray host = s.host.toUtf8();
    const QByteArray port = QByteArray::number(s.port);
    const QByteArray db = s.database.toUtf8();
    const QByteArray ssl = s.sslmode.toUtf8();
    const QByteArray timeout = QByteArray::number(kConnectTimeoutSeconds);
    const char* keys[] = {"host", "port", "dbname", "sslmode", "connect_timeout", nullptr};
    const char* values[] = {host.constData(), port.constData(), db.constData(), ssl.constData(),
                            timeout.constData(), nullptr};
    switch (PQpingParams(keys, values, 0)) {
    case PQPING_OK:
        return {};
    case PQPING_REJECT:
        return QStringLiteral("PostgreSQL at %1 is not accepting connections (starting up or shutting down); try again shortly.")
            .arg(s.summary());
    case PQPING_NO_ATTEMPT:
        return QStringLiteral("The connection settings %1 are not valid; check them in Connection settings.")
            .arg(s.summary());
    case PQPING_NO_RESPONSE:
        break;
    }
    return QStringLiteral("Cannot reach PostgreSQL at %1: check host, port and that the server offers the chosen TLS mode.")
        .arg(s.summary());
}

bool openConnection(const QString& name, const ConnectionSettings& s, const QString& user,
                    const QString& password, QString* error)
{
    QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QPSQL"), name);
    db.setHostName(s.host);
    db.setPort(s.port);
    db.setDatabaseName(s.database);
    db.setUserName(user);
    db.setPassword(password);
    db.setConnectOptions(connectOptions(s));
    if (!db.open()) {
        *error = serverMessage(db.lastError());
        return false;
    }
    // The QSqlDatabase keeps the password for reconnects; the console does not reconnect.
    db.setPassword(QString());
    if (PGconn* conn = pgConnection(db)) {
        PQsetErrorVerbosity(conn, PQERRORS_TERSE);
        PQsetErrorContextVisibility(conn, PQSHOW_CONTEXT_NEVER);
    }
    return true;
}

void closeConnection(QString& name)
{
    if (name.isEmpty())
        return;
    {
        QSqlDatabase db = QSqlDatabase::database(name, false);
        db.close();
    }
    QSqlDatabase::removeDatabase(name);
    name.clear();
}

// Runs a query with positional parameters; false and *error on failure.
bool run(QSqlQuery& q, const QString& sql, const QVariantList& args, QString* error)
{
    if (args.isEmpty()) {
        if (q.exec(sql))
            return true;
        *error = serverMessage(q.lastError());
        return false;
    }
    if (!q.prepare(sql)) {
        *error = serverMessage(q.lastError());
        return false;
    }
    for (const QVariant& a : args)
        q.addBindValue(a);
    if (!q.exec()) {
        *error = serverMessage(q.lastError());
        return false;
    }
    return true;
}

// Every row of a SELECT on `connection`, each made a T by `row`; *error set on failure. The query
// is gone when this returns, so the caller may close the connection.
template <typename T, typename Row>
QList<T> selectAll(const QString& connection, const QString& sql, const QVariantList& args, QString* error, Row row)
{
    QList<T> out;
    QSqlQuery q(QSqlDatabase::database(connection, false));
    q.setForwardOnly(true);
    if (run(q, sql, args, error))
        while (q.next())
            out.push_back(row(q));
    return out;
}

// Username and e-mail already in use, beside their fields. Any PostgreSQL role counts as taken,
// since the account is a role of the same name.
void addConflicts(QSqlDatabase& db, const NewAccount& a, FieldErrors& fields, QString* error)
{
    QSqlQuery q(db);
    if (!run(q,
             QStringLiteral("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = ?),"
                            " EXISTS (SELECT 1 FROM dlb.accounts WHERE lower(email) = lower(?))"),
             {a.username, a.email}, error)
        || !q.next())
        return;
    if (fields.username.isEmpty() && q.value(0).toBool())
        fields.username = QStringLiteral("Username %1 is taken.").arg(a.username);
    if (fields.email.isEmpty() && q.value(1).toBool())
        fields.email = QStringLiteral("E-mail %1 is already registered.").arg(a.email);
}

ChangeResult registerWith(QSqlDatabase& db, const NewAccount& a)
{
    ChangeResult r;
    r.fields = checkNewAccount(a);
    QString error;
    addConflicts(db, a, r.fields, &error);
    if (!error.isEmpty()) {
        r.message = error;
        return r;
    }
    if (!r.fields.empty()) {
        r.message = QStringLiteral("Fix the fields marked in red.");
        return r;
    }
    const Verifier v = scramVerifier(db, a.username, a.password);
    if (v.value.isEmpty()) {
        r.message = v.error;
        return r;
    }
    QSqlQuery q(db);
    if (!run(q, QStringLiteral("SELECT dlb.register_account(?, ?, ?, ?)"),
             {a.username, a.email, QString::fromLatin1(v.value), a.role}, &error)) {
        r.message = error;
        return r;
    }
    r.ok = true;
    r.message = QStringLiteral("Account %1 registered as %2.").arg(a.username, a.role);
    return r;
}

// Who the open session is, and whether the schema matches this console. The queries' objects
// live only in here, so the caller may close the connection afterwards.
LoginResult identify(const QString& connection, const ConnectionSettings& settings)
{
    LoginResult r;
    QSqlDatabase db = QSqlDatabase::database(connection, false);
    QSqlQuery q(db);
    QString error;
    if (!run(q, QStringLiteral("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = 'dlb')"), {}, &error)
        || !q.next()) {
        r.message = error;
        return r;
    }
    if (!q.value(0).toBool()) {
        r.status = LoginResult::Status::SchemaMissing;
        r.message = QStringLiteral("Database %1 has no dlb schema yet. Set it up with the database owner's credentials.")
                        .arg(settings.database);
        return r;
    }
    // A role that is no enabled dlb account (or may not even call this) gets the same answer as a
    // wrong password.
    if (!run(q, QStringLiteral("SELECT username, email, role FROM dlb.current_account()"), {}, &error)
        || !q.next() || q.value(0).isNull()) {
        r.status = LoginResult::Status::InvalidCredentials;
        r.message = invalidCredentialsMessage();
        return r;
    }
    r.session = {q.value(0).toString(), q.value(1).toString(), q.value(2).toString()};
    q.finish();
    const int applied = appliedMigrationVersion(db, &error);
    const int latest = latestMigrationVersion();
    if (applied != latest) {
        r.status = LoginResult::Status::SchemaMismatch;
        r.message = applied < 0 ? error
            : applied < latest
                ? QStringLiteral("The dlb schema is at version %1; this console needs %2. Upgrade it with "
                                 "Set up database (the owner's credentials).").arg(applied).arg(latest)
                : QStringLiteral("The dlb schema is at version %1, newer than this console knows (%2). "
                                 "Install a newer dlb-console.").arg(applied).arg(latest);
        return r;
    }
    r.status = LoginResult::Status::Ok;
    r.message = QStringLiteral("Logged in as %1 (%2).").arg(r.session.username, r.session.role);
    return r;
}

} // namespace

DbWorker::DbWorker(QObject* parent) : QObject(parent) {}

DbWorker::~DbWorker()
{
    closeSession();
    closeConnection(bootstrap_);
    // libpq's TLS and SCRAM left OpenSSL state in this thread (its random generator, its error
    // queue). OpenSSL frees it from a thread-exit handler, which may run after QThread::wait()
    // returned and the process began to exit: LeakSanitizer then reported it as leaked
    // (tst_console_steer_audit, 1 run in 6 under load). Freed here, in the thread, at once.
    OPENSSL_thread_stop();
}

bool DbWorker::sessionOpen() const { return !session_.isEmpty(); }

QString DbWorker::sessionFailure(const QString& error)
{
    const PGconn* conn = pgConnection(QSqlDatabase::database(session_, false));
    if (conn != nullptr && PQstatus(conn) == CONNECTION_OK)
        return error;
    // The server ended the session (restart, pg_terminate_backend, network): every later call
    // would fail the same way, so the session is closed and the user told to log in again.
    closeSession();
    const QString message = QStringLiteral("The connection to PostgreSQL was lost (%1). Log in again.").arg(error);
    emit sessionLost(message);
    return message;
}

void DbWorker::closeSession()
{
    // The notifier goes first: it must never watch a socket libpq has closed (or reused).
    delete sessionWatch_;
    sessionWatch_ = nullptr;
    closeConnection(session_);
}

void DbWorker::watchSession()
{
    PGconn* conn = pgConnection(QSqlDatabase::database(session_, false));
    if (!conn || PQsocket(conn) < 0)
        return;
    sessionWatch_ = new QSocketNotifier(PQsocket(conn), QSocketNotifier::Read, this);
    connect(sessionWatch_, &QSocketNotifier::activated, this, &DbWorker::sessionSocketReadable);
}

void DbWorker::sessionSocketReadable()
{
    PGconn* conn = pgConnection(QSqlDatabase::database(session_, false));
    if (!conn)
        return;
    // No query runs (they run in this thread, which is here): what arrived is a notice or the
    // server's goodbye. libpq reads it; a closed connection leaves it CONNECTION_BAD.
    const bool read = PQconsumeInput(conn) == 1;
    while (PGnotify* n = PQnotifies(conn))
        PQfreemem(n);
    if (read && PQstatus(conn) == CONNECTION_OK)
        return;
    // libpq's first line says what happened; the rest is its guess at why, over several lines.
    QString why = QString::fromUtf8(PQerrorMessage(conn)).trimmed().section(QLatin1Char('\n'), 0, 0).trimmed();
    if (why.endsWith(QLatin1Char('.')))
        why.chop(1);
    if (why.isEmpty())
        why = QStringLiteral("the server closed the connection");
    closeSession();
    emit sessionLost(QStringLiteral("The connection to PostgreSQL was lost (%1). Log in again.").arg(why));
}

void DbWorker::login(const ConnectionSettings& settings, const QString& user, const QString& password)
{
    closeSession();
    LoginResult r;
    if (const QString p = settings.problem(); !p.isEmpty()) {
        r.message = p;
        emit loginFinished(r);
        return;
    }
    if (const QString p = unreachable(settings); !p.isEmpty()) {
        r.status = LoginResult::Status::Unreachable;
        r.message = p;
        emit loginFinished(r);
        return;
    }
    const QString name = QStringLiteral("dlb-session-%1").arg(reinterpret_cast<quintptr>(this));
    QString error;
    // Empty credentials would make libpq fall back to the OS user and ~/.pgpass.
    if (user.isEmpty() || password.isEmpty() || !openConnection(name, settings, user, password, &error)) {
        QSqlDatabase::removeDatabase(name);
        r.status = LoginResult::Status::InvalidCredentials;
        r.message = invalidCredentialsMessage();
        emit loginFinished(r);
        return;
    }
    session_ = name;
    r = identify(session_, settings);
    if (r.status != LoginResult::Status::Ok)
        closeConnection(session_);
    else
        watchSession();
    emit loginFinished(r);
}

void DbWorker::logout() { closeSession(); }

void DbWorker::bootstrap(const BootstrapRequest& req)
{
    ChangeResult r;
    r.fields = checkNewAccount(req.admin);
    if (req.admin.role != QLatin1String("admin"))
        r.fields.role = QStringLiteral("The first account must be an admin.");
    if (!r.fields.empty()) {
        r.message = QStringLiteral("Fix the fields marked in red.");
        emit bootstrapFinished(r);
        return;
    }
    if (const QString p = unreachable(req.settings); !p.isEmpty()) {
        r.message = p;
        emit bootstrapFinished(r);
        return;
    }
    closeConnection(bootstrap_);
    const QString name = QStringLiteral("dlb-bootstrap-%1").arg(reinterpret_cast<quintptr>(this));
    QString error;
    if (req.ownerUser.isEmpty() || req.ownerPassword.isEmpty()
        || !openConnection(name, req.settings, req.ownerUser, req.ownerPassword, &error)) {
        QSqlDatabase::removeDatabase(name);
        r.message = QStringLiteral("The database owner's credentials were refused (%1): enter the role that owns "
                                   "database %2 and its password.")
                        .arg(invalidCredentialsMessage(), req.settings.database);
        emit bootstrapFinished(r);
        return;
    }
    bootstrap_ = name;
    QSqlDatabase db = QSqlDatabase::database(bootstrap_, false);
    const MigrationResult m = applyMigrations(db);
    if (!m.error.isEmpty()) {
        r.message = m.error + QStringLiteral(" (the owner needs CREATEROLE and the right to create schemas)");
    } else {
        QSqlQuery q(db);
        if (!run(q, QStringLiteral("SELECT EXISTS (SELECT 1 FROM dlb.accounts WHERE role = 'admin')"), {}, &error)
            || !q.next()) {
            r.message = error;
        } else if (q.value(0).toBool()) {
            r.ok = true;
            r.message = QStringLiteral("Applied %1 migration(s). An admin exists already, so none was created: log in.")
                            .arg(m.applied);
        } else {
            q.finish();
            r = registerWith(db, req.admin);
            if (r.ok)
                r.message = QStringLiteral("Applied %1 migration(s) and created admin %2: log in.")
                                .arg(m.applied)
                                .arg(req.admin.username);
        }
    }
    db = QSqlDatabase();
    closeConnection(bootstrap_);
    emit bootstrapFinished(r);
}

void DbWorker::registerAccount(const NewAccount& account)
{
    if (!sessionOpen()) {
        emit registerFinished({false, {}, notLoggedIn()});
        return;
    }
    QSqlDatabase db = QSqlDatabase::database(session_, false);
    ChangeResult r = registerWith(db, account);
    db = QSqlDatabase();
    if (!r.ok)
        r.message = sessionFailure(r.message);
    emit registerFinished(r);
}

void DbWorker::loadAccounts()
{
    QList<Account> out;
    QString error = notLoggedIn();
    if (sessionOpen()) {
        error.clear();
        out = selectAll<Account>(session_,
                                 QStringLiteral("SELECT username, email, role, created_at, created_by, disabled"
                                                " FROM dlb.accounts ORDER BY username"),
                                 {}, &error, [](const QSqlQuery& q) {
                                     return Account{q.value(0).toString(), q.value(1).toString(),
                                                    q.value(2).toString(), q.value(3).toDateTime(),
                                                    q.value(4).toString(), q.value(5).toBool()};
                                 });
        if (!error.isEmpty())
            error = sessionFailure(error);
    }
    emit accountsLoaded(out, error);
}

void DbWorker::loadAudit()
{
    QList<AuditEntry> out;
    QString error = notLoggedIn();
    if (sessionOpen()) {
        error.clear();
        out = selectAll<AuditEntry>(session_,
                                    QStringLiteral("SELECT id, at, who, coalesce(agent, ''), action, detail"
                                                   " FROM dlb.audit_log ORDER BY id DESC LIMIT ?"),
                                    {kAuditRowsShown}, &error, [](const QSqlQuery& q) {
                                        return AuditEntry{q.value(0).toLongLong(), q.value(1).toDateTime(),
                                                          q.value(2).toString(), q.value(3).toString(),
                                                          q.value(4).toString(), q.value(5).toString()};
                                    });
        if (!error.isEmpty())
            error = sessionFailure(error);
    }
    emit auditLoaded(out, error);
}

void DbWorker::loadAgents(bool withAdminToken)
{
    QList<AgentRecord> out;
    QString error = notLoggedIn();
    if (sessionOpen()) {
        error.clear();
        out = selectAll<AgentRecord>(
            session_,
            QStringLiteral("SELECT id, name, control_url, viewer_token, %1, created_at FROM dlb.agents ORDER BY name")
                .arg(withAdminToken ? QStringLiteral("admin_token") : QStringLiteral("''")),
            {}, &error, [](const QSqlQuery& q) {
                return AgentRecord{q.value(0).toLongLong(), q.value(1).toString(), q.value(2).toString(),
                                   q.value(3).toString(), q.value(4).toString(), q.value(5).toDateTime()};
            });
        if (!error.isEmpty())
            error = sessionFailure(error);
    }
    emit agentsLoaded(out, error);
}

void DbWorker::addAgent(const AgentRecord& agent)
{
    emit agentChangeFinished(callAccountFunction(
        QStringLiteral("INSERT INTO dlb.agents (name, control_url, admin_token, viewer_token) VALUES (?, ?, ?, ?)"),
        {agent.name, agent.controlUrl, agent.adminToken, agent.viewerToken},
        QStringLiteral("Agent %1 added.").arg(agent.name)));
}

void DbWorker::removeAgent(const QString& name)
{
    emit agentChangeFinished(callAccountFunction(QStringLiteral("DELETE FROM dlb.agents WHERE name = ?"), {name},
                                                 QStringLiteral("Agent %1 removed.").arg(name)));
}

void DbWorker::audit(const QString& agent, const QString& action, const QString& detail)
{
    emit auditWritten(callAccountFunction(QStringLiteral("SELECT dlb.audit(?, ?, ?)"), {agent, action, detail},
                                          QStringLiteral("%1 on %2 written to the audit log.").arg(action, agent)));
}

ChangeResult DbWorker::callAccountFunction(const QString& sql, const QVariantList& args, const QString& done)
{
    ChangeResult r;
    if (!sessionOpen()) {
        r.message = notLoggedIn();
        return r;
    }
    QString error;
    bool ok = false;
    {
        QSqlQuery q(QSqlDatabase::database(session_, false));
        ok = run(q, sql, args, &error);
    }
    if (!ok) {
        r.message = sessionFailure(error);
        return r;
    }
    r.ok = true;
    r.message = done;
    return r;
}

void DbWorker::setRole(const QString& username, const QString& role)
{
    emit changeFinished(callAccountFunction(QStringLiteral("SELECT dlb.set_account_role(?, ?)"), {username, role},
                                            QStringLiteral("%1 is now %2.").arg(username, role)));
}

void DbWorker::setDisabled(const QString& username, bool disabled)
{
    emit changeFinished(callAccountFunction(
        QStringLiteral("SELECT dlb.set_account_disabled(?, ?)"), {username, disabled},
        QStringLiteral("%1 is %2.").arg(username, disabled ? QStringLiteral("disabled") : QStringLiteral("enabled"))));
}

void DbWorker::resetPassword(const QString& username, const QString& password, const QString& confirm)
{
    ChangeResult r;
    r.fields = checkNewPassword(password, confirm);
    if (!r.fields.empty()) {
        r.message = QStringLiteral("Fix the fields marked in red.");
    } else if (!sessionOpen()) {
        r.message = notLoggedIn();
    } else {
        const Verifier v = scramVerifier(QSqlDatabase::database(session_, false), username, password);
        if (v.value.isEmpty())
            r.message = v.error;
        else
            r = callAccountFunction(QStringLiteral("SELECT dlb.reset_account_password(?, ?)"),
                                    {username, QString::fromLatin1(v.value)},
                                    QStringLiteral("Password of %1 reset.").arg(username));
    }
    emit changeFinished(r);
}

} // namespace dlb::console
