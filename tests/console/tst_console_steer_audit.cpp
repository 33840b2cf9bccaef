// Changes made to an agent from the steering pages reach the audit log through dlb.audit(), in
// a throwaway PostgreSQL cluster (pg_virtualenv): the row names who, the agent, the action and
// what was sent; an action name the database reserves is refused and the refusal is reported.
#include "db/database.hpp"
#include "pg_env.hpp"

#include <QSignalSpy>
#include <QTest>

using namespace dlb::console;
using dlb::console::test::PgEnv;

namespace {
const QString kDb = QStringLiteral("dlb_steer_audit_test");
const QString kAdmin = QStringLiteral("steer_admin");
const QString kAdminPw = QStringLiteral("Steer-admin1");
constexpr int kDbTimeoutMs = 20000;
} // namespace

class TstConsoleSteerAudit : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void steeringActionsAreAudited();

private:
    PgEnv env_;
    std::unique_ptr<Database> db_;
};

void TstConsoleSteerAudit::initTestCase()
{
    QVERIFY2(env_.problem().isEmpty(), qPrintable(env_.problem()));
    {
        QSqlDatabase postgres = env_.open("setup", "postgres", env_.superuser, env_.password);
        QVERIFY(postgres.isOpen());
        QSqlQuery q(postgres);
        QVERIFY2(q.exec("CREATE DATABASE " + kDb), qPrintable(q.lastError().text()));
    }
    QSqlDatabase::removeDatabase("setup");
    db_ = std::make_unique<Database>();
    QSignalSpy boot(db_.get(), &Database::bootstrapFinished);
    db_->bootstrap({env_.settings(kDb), env_.superuser, env_.password,
                    {kAdmin, "steer.admin@example.org", kAdminPw, kAdminPw, "admin"}});
    QVERIFY(boot.wait(kDbTimeoutMs));
    QVERIFY2(boot.at(0).at(0).value<ChangeResult>().ok, qPrintable(boot.at(0).at(0).value<ChangeResult>().message));
    QSignalSpy login(db_.get(), &Database::loginFinished);
    db_->login(env_.settings(kDb), kAdmin, kAdminPw);
    QVERIFY(login.wait(kDbTimeoutMs));
    QCOMPARE(login.at(0).at(0).value<LoginResult>().status, LoginResult::Status::Ok);
}

void TstConsoleSteerAudit::steeringActionsAreAudited()
{
    QSignalSpy written(db_.get(), &Database::auditWritten);
    const QString detail = QStringLiteral(
        "pool web: POST /v1/pools/web/replicas {\"url\":\"http://127.0.0.1:9003\",\"weight\":2} -> generation 5");
    db_->audit("edge-1", "replica.add", detail);
    QVERIFY(written.wait(kDbTimeoutMs));
    QVERIFY2(written.at(0).at(0).value<ChangeResult>().ok, qPrintable(written.at(0).at(0).value<ChangeResult>().message));

    // agent.* rows come only from the agents table's trigger: the database refuses them here.
    db_->audit("edge-1", "agent.add", "forged");
    QVERIFY(written.wait(kDbTimeoutMs));
    const auto refused = written.at(1).at(0).value<ChangeResult>();
    QVERIFY(!refused.ok);
    QVERIFY2(refused.message.contains("reserved"), qPrintable(refused.message));

    QSignalSpy loaded(db_.get(), &Database::auditLoaded);
    db_->loadAudit();
    QVERIFY(loaded.wait(kDbTimeoutMs));
    const auto entries = loaded.at(0).at(0).value<QList<AuditEntry>>();
    const auto row = std::find_if(entries.begin(), entries.end(),
                                  [](const AuditEntry& e) { return e.action == "replica.add"; });
    QVERIFY(row != entries.end());
    QCOMPARE(row->who, kAdmin);
    QCOMPARE(row->agent, QString("edge-1"));
    QCOMPARE(row->detail, detail);
    QVERIFY(std::none_of(entries.begin(), entries.end(), [](const AuditEntry& e) { return e.detail == "forged"; }));
}

QTEST_GUILESS_MAIN(TstConsoleSteerAudit)
#include "tst_console_steer_audit.moc"
