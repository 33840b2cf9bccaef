#pragma once
// All of the console's database work. Thread rule: a DbWorker lives in its own QThread (see
// Database) and every method runs there; it owns its QSqlDatabase connections, which Qt allows
// to be used only from the thread that created them. Each call ends in exactly one signal.

#include "db/account_rules.hpp"
#include "db/connection_settings.hpp"
#include "db/records.hpp"

#include <QObject>

class QSocketNotifier;
#include <QString>

namespace dlb::console {

// Rows the audit page loads, newest first; older rows stay in the table for SQL queries.
constexpr int kAuditRowsShown = 5000;

// The one message for every refused login, so it never tells whether the username exists.
inline const QString& invalidCredentialsMessage()
{
    static const QString m = QStringLiteral("Invalid credentials");
    return m;
}

struct LoginResult {
    enum class Status { Ok, Unreachable, InvalidCredentials, Throttled, SchemaMissing, SchemaMismatch, Error };
    Status status = Status::Error;
    QString message;
    Session session;
};

struct ChangeResult {
    bool ok = false;
    FieldErrors fields; // broken rules, beside their fields
    QString message;    // what happened, or what went wrong
};

struct BootstrapRequest {
    ConnectionSettings settings;
    QString ownerUser;
    QString ownerPassword;
    NewAccount admin;
};

class DbWorker : public QObject {
    Q_OBJECT
public:
    explicit DbWorker(QObject* parent = nullptr);
    ~DbWorker() override;

    void login(const ConnectionSettings& settings, const QString& user, const QString& password);
    void logout();
    void bootstrap(const BootstrapRequest& request);
    void registerAccount(const NewAccount& account);
    void loadAccounts();
    void loadAudit();
    void setRole(const QString& username, const QString& role);
    void setDisabled(const QString& username, bool disabled);
    void resetPassword(const QString& username, const QString& password, const QString& confirm);
    // dlb.agents: every change is audited by the table's trigger (agent.add, agent.remove).
    // withAdminToken: read the admin token too (operators and admins; a viewer has no grant).
    void loadAgents(bool withAdminToken);
    void addAgent(const dlb::console::AgentRecord& agent);
    void removeAgent(const QString& name);
    // dlb.audit(): a row for an action taken on an agent (replica.add, pool.algorithm, ...).
    void audit(const QString& agent, const QString& action, const QString& detail);

signals:
    void loginFinished(const dlb::console::LoginResult& result);
    void bootstrapFinished(const dlb::console::ChangeResult& result);
    void registerFinished(const dlb::console::ChangeResult& result);
    void changeFinished(const dlb::console::ChangeResult& result);
    void accountsLoaded(const QList<dlb::console::Account>& accounts, const QString& error);
    void auditLoaded(const QList<dlb::console::AuditEntry>& entries, const QString& error);
    void agentsLoaded(const QList<dlb::console::AgentRecord>& agents, const QString& error);
    void agentChangeFinished(const dlb::console::ChangeResult& result);
    void auditWritten(const dlb::console::ChangeResult& result);
    // The logged-in session's connection is gone (the server ended it: a restart,
    // pg_terminate_backend, the network) and is closed; `message` says so and to log in again.
    // Comes on its own, as soon as the server closes the socket, or within a call that found it.
    void sessionLost(const QString& message);

private:
    bool sessionOpen() const;
    // error itself while the session's connection is up; else closes the session and says to
    // log in again.
    QString sessionFailure(const QString& error);
    // Watches the session's socket between calls: the server's goodbye (an error, then the
    // close) makes it readable while no query runs, so a lost session is noticed at once, not
    // at the next click.
    void watchSession();
    void sessionSocketReadable();
    void closeSession();
    ChangeResult callAccountFunction(const QString& sql, const QVariantList& args, const QString& done);

    QString session_;   // connection name of the logged-in session, empty when logged out
    QSocketNotifier* sessionWatch_ = nullptr; // on session_'s socket while it is open
    QString bootstrap_; // connection name used only during bootstrap
};

} // namespace dlb::console

Q_DECLARE_METATYPE(dlb::console::LoginResult)
Q_DECLARE_METATYPE(dlb::console::ChangeResult)
