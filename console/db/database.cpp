#include "db/database.hpp"

#include "db/migrations.hpp"

namespace dlb::console {

Database::Database(QObject* parent) : QObject(parent), worker_(new DbWorker)
{
    registerBundledResources();
    qRegisterMetaType<LoginResult>();
    qRegisterMetaType<ChangeResult>();
    qRegisterMetaType<QList<Account>>();
    qRegisterMetaType<QList<AuditEntry>>();
    qRegisterMetaType<QList<AgentRecord>>();
    thread_.setObjectName(QStringLiteral("dlb-db"));
    worker_->moveToThread(&thread_);
    connect(&thread_, &QThread::finished, worker_, &QObject::deleteLater);

    // Runs before the relay below (same sender, connected first), so a view that sees the
    // answer sees the throttle and session it left.
    connect(worker_, &DbWorker::loginFinished, this, [this](const LoginResult& r) {
        loggingIn_ = false;
        if (r.status == LoginResult::Status::Ok) {
            throttle_.succeeded();
            session_ = r.session;
        } else if (r.status == LoginResult::Status::InvalidCredentials) {
            throttle_.failed();
        }
    });
    relay(&DbWorker::loginFinished, &Database::loginFinished);
    relay(&DbWorker::bootstrapFinished, &Database::bootstrapFinished);
    relay(&DbWorker::registerFinished, &Database::registerFinished);
    relay(&DbWorker::changeFinished, &Database::changeFinished);
    relay(&DbWorker::accountsLoaded, &Database::accountsLoaded);
    relay(&DbWorker::auditLoaded, &Database::auditLoaded);
    relay(&DbWorker::agentsLoaded, &Database::agentsLoaded);
    relay(&DbWorker::agentChangeFinished, &Database::agentChangeFinished);
    relay(&DbWorker::auditWritten, &Database::auditWritten);
    // Not the answer to a call (a call that found the loss answers too), so not counted as one.
    connect(worker_, &DbWorker::sessionLost, this, [this](const QString& message) {
        session_ = {};
        emit sessionLost(message);
    });
    thread_.start();
}

Database::~Database()
{
    // The worker closes its connections in its destructor, in its own thread (deleteLater on
    // finished), as QtSql requires.
    thread_.quit();
    thread_.wait();
}

template <typename... Args>
void Database::relay(void (DbWorker::*from)(Args...), void (Database::*to)(Args...))
{
    connect(worker_, from, this, [this, to](Args... args) {
        done();
        (this->*to)(args...);
    });
}

template <typename F> void Database::post(F&& job)
{
    if (++pending_ == 1)
        emit busyChanged(true);
    QMetaObject::invokeMethod(worker_, std::forward<F>(job), Qt::QueuedConnection);
}

void Database::done()
{
    if (--pending_ == 0)
        emit busyChanged(false);
}

void Database::login(const ConnectionSettings& settings, const QString& user, const QString& password)
{
    LoginResult refused;
    refused.status = LoginResult::Status::Throttled;
    // The throttle knows only of answered failures: attempts queued behind one under way would
    // all reach the server undelayed.
    if (loggingIn_)
        refused.message = QStringLiteral("A login attempt is already under way: wait for its answer.");
    else if (const auto wait = throttle_.wait(); wait.count() > 0)
        refused.message = QStringLiteral("Too many failed attempts: try again in %1 s.")
                              .arg(LoginThrottle::seconds(wait));
    if (!refused.message.isEmpty()) {
        emit loginFinished(refused);
        return;
    }
    loggingIn_ = true;
    settings_ = settings;
    session_ = {};
    post([w = worker_, settings, user, password] { w->login(settings, user, password); });
}

void Database::logout()
{
    session_ = {};
    // Ends in no signal, so it does not count as pending work.
    QMetaObject::invokeMethod(worker_, [w = worker_] { w->logout(); }, Qt::QueuedConnection);
}

void Database::bootstrap(const BootstrapRequest& request)
{
    post([w = worker_, request] { w->bootstrap(request); });
}

void Database::registerAccount(const NewAccount& account)
{
    post([w = worker_, account] { w->registerAccount(account); });
}

void Database::loadAccounts()
{
    post([w = worker_] { w->loadAccounts(); });
}

void Database::loadAudit()
{
    post([w = worker_] { w->loadAudit(); });
}

void Database::setRole(const QString& username, const QString& role)
{
    post([w = worker_, username, role] { w->setRole(username, role); });
}

void Database::setDisabled(const QString& username, bool disabled)
{
    post([w = worker_, username, disabled] { w->setDisabled(username, disabled); });
}

void Database::resetPassword(const QString& username, const QString& password, const QString& confirm)
{
    post([w = worker_, username, password, confirm] { w->resetPassword(username, password, confirm); });
}

void Database::loadAgents()
{
    const bool withAdminToken = session_.role != QLatin1String("viewer");
    post([w = worker_, withAdminToken] { w->loadAgents(withAdminToken); });
}

void Database::addAgent(const AgentRecord& agent)
{
    post([w = worker_, agent] { w->addAgent(agent); });
}

void Database::removeAgent(const QString& name)
{
    post([w = worker_, name] { w->removeAgent(name); });
}

void Database::audit(const QString& agent, const QString& action, const QString& detail)
{
    post([w = worker_, agent, action, detail] { w->audit(agent, action, detail); });
}

} // namespace dlb::console
