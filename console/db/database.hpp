#pragma once
// The GUI thread's handle on the database. It owns a QThread running one DbWorker and forwards
// each request to it; results come back as signals in the GUI thread. Views call only this class,
// never SQL. busyChanged() drives the progress indicators.

#include "db/db_worker.hpp"
#include "db/login_throttle.hpp"

#include <QObject>
#include <QThread>

namespace dlb::console {

class Database : public QObject {
    Q_OBJECT
public:
    explicit Database(QObject* parent = nullptr);
    ~Database() override;
    Q_DISABLE_COPY_MOVE(Database)

    bool busy() const { return pending_ > 0; }
    const Session& session() const { return session_; }
    const ConnectionSettings& settings() const { return settings_; }
    // How long the next login must wait after failures; zero when it may go now.
    std::chrono::milliseconds loginWait() const { return throttle_.wait(); }

    // Answered at once with Status::Throttled, never sent, while the throttle holds or another
    // login is under way (that refusal reaches every loginFinished listener; the one login
    // dialog is its only caller).
    void login(const ConnectionSettings& settings, const QString& user, const QString& password);
    void logout();
    void bootstrap(const BootstrapRequest& request);
    void registerAccount(const NewAccount& account);
    void loadAccounts();
    void loadAudit();
    void setRole(const QString& username, const QString& role);
    void setDisabled(const QString& username, bool disabled);
    void resetPassword(const QString& username, const QString& password, const QString& confirm);
    // The agents the console watches (dlb.agents); the admin token is read unless the session
    // is a viewer's. Changes are audited by the table's trigger.
    void loadAgents();
    void addAgent(const AgentRecord& agent);
    void removeAgent(const QString& name);
    // Writes an audit row for an action taken on `agent` (operators and admins; dlb.audit()).
    void audit(const QString& agent, const QString& action, const QString& detail);

signals:
    void busyChanged(bool busy);
    void loginFinished(const dlb::console::LoginResult& result);
    void bootstrapFinished(const dlb::console::ChangeResult& result);
    void registerFinished(const dlb::console::ChangeResult& result);
    void changeFinished(const dlb::console::ChangeResult& result);
    void accountsLoaded(const QList<dlb::console::Account>& accounts, const QString& error);
    void auditLoaded(const QList<dlb::console::AuditEntry>& entries, const QString& error);
    void agentsLoaded(const QList<dlb::console::AgentRecord>& agents, const QString& error);
    void agentChangeFinished(const dlb::console::ChangeResult& result);
    void auditWritten(const dlb::console::ChangeResult& result);
    // The session's connection is gone and closed (DbWorker::sessionLost); session() is empty.
    void sessionLost(const QString& message);

private:
    // Forwards a worker signal as this object's own, after counting its job done.
    template <typename... Args>
    void relay(void (DbWorker::*from)(Args...), void (Database::*to)(Args...));
    template <typename F> void post(F&& job);
    void done();

    QThread thread_;
    DbWorker* worker_; // lives in thread_; deleted there when it finishes
    int pending_ = 0;
    bool loggingIn_ = false; // a login is posted and not yet answered
    LoginThrottle throttle_;
    Session session_;
    ConnectionSettings settings_;
};

} // namespace dlb::console
