#include "db/database.hpp"

#include "db/migrations.hpp"

#include <cmath>

namespace dlb::console {

Database::Database(QObject* parent) : QObject(parent), worker_(new DbWorker)
{
    registerBundledResources();
    qRegisterMetaType<LoginResult>();
    qRegisterMetaType<ChangeResult>();
    qRegisterMetaType<QList<Account>>();
    qRegisterMetaType<QList<AuditEntry>>();
    thread_.setObjectName(QStringLiteral("dlb-db"));
    worker_->moveToThread(&thread_);
    connect(&thread_, &QThread::finished, worker_, &QObject::deleteLater);

    connect(worker_, &DbWorker::loginFinished, this, [this](const LoginResult& r) {
        if (r.status == LoginResult::Status::Ok) {
            throttle_.succeeded();
            session_ = r.session;
        } else if (r.status == LoginResult::Status::InvalidCredentials) {
            throttle_.failed();
        }
        done();
        emit loginFinished(r);
    });
    connect(worker_, &DbWorker::bootstrapFinished, this, [this](const ChangeResult& r) {
        done();
        emit bootstrapFinished(r);
    });
    connect(worker_, &DbWorker::registerFinished, this, [this](const ChangeResult& r) {
        done();
        emit registerFinished(r);
    });
    connect(worker_, &DbWorker::changeFinished, this, [this](const ChangeResult& r) {
        done();
        emit changeFinished(r);
    });
    connect(worker_, &DbWorker::accountsLoaded, this, [this](const QList<Account>& a, const QString& e) {
        done();
        emit accountsLoaded(a, e);
    });
    connect(worker_, &DbWorker::auditLoaded, this, [this](const QList<AuditEntry>& a, const QString& e) {
        done();
        emit auditLoaded(a, e);
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
    if (const auto wait = throttle_.wait(); wait.count() > 0) {
        LoginResult r;
        r.status = LoginResult::Status::Throttled;
        r.message = QStringLiteral("Too many failed attempts: try again in %1 s.")
                        .arg(std::ceil(static_cast<double>(wait.count()) / 1000.0));
        emit loginFinished(r);
        return;
    }
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

} // namespace dlb::console
