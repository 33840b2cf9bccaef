// The console's item models, checked by QAbstractItemModelTester through resets and filtering.
#include "models/accounts_model.hpp"
#include "models/audit_model.hpp"

#include <QAbstractItemModelTester>
#include <QSortFilterProxyModel>
#include <QTest>

using namespace dlb::console;

class TstConsoleModels : public QObject {
    Q_OBJECT
private slots:
    void accounts();
    void auditFilter();
};

void TstConsoleModels::accounts()
{
    AccountsModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    const QDateTime now = QDateTime::currentDateTimeUtc();
    model.setAccounts({{"alice", "alice@example.org", "admin", now, "postgres", false},
                       {"bob", "bob@example.org", "viewer", now, "alice", true}});
    QCOMPARE(model.rowCount(), 2);
    QCOMPARE(model.columnCount(), int(AccountsModel::ColumnCount));
    QCOMPARE(model.index(1, AccountsModel::Username).data().toString(), QString("bob"));
    QCOMPARE(model.index(1, AccountsModel::Status).data().toString(), QString("disabled"));
    QCOMPARE(model.index(0, AccountsModel::Status).data().toString(), QString("active"));
    QCOMPARE(model.index(1, 0).data(AccountsModel::DisabledRole).toBool(), true);
    QCOMPARE(model.headerData(AccountsModel::Email, Qt::Horizontal).toString(), QString("E-mail"));
    QVERIFY(model.account(1) != nullptr);
    QVERIFY(model.account(2) == nullptr);
    model.setAccounts({});
    QCOMPARE(model.rowCount(), 0);
}

void TstConsoleModels::auditFilter()
{
    AuditModel model;
    QSortFilterProxyModel proxy;
    proxy.setSourceModel(&model);
    proxy.setFilterCaseSensitivity(Qt::CaseInsensitive);
    proxy.setFilterKeyColumn(-1);
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QAbstractItemModelTester proxyTester(&proxy, QAbstractItemModelTester::FailureReportingMode::QtTest);
    const QDateTime t = QDateTime::fromString("2026-01-02T03:04:05Z", Qt::ISODate);
    model.setEntries({{3, t.addSecs(2), "alice", "", "account.disable", "bob"},
                      {2, t.addSecs(1), "alice", "edge-1", "agent.add", "http://127.0.0.1:9000"},
                      {1, t, "postgres", "", "account.register", "alice <alice@example.org> as admin"}});
    QCOMPARE(proxy.rowCount(), 3);
    proxy.setFilterFixedString("ACCOUNT.");
    QCOMPARE(proxy.rowCount(), 2);
    proxy.setFilterKeyColumn(AuditModel::Agent);
    proxy.setFilterFixedString("edge");
    QCOMPARE(proxy.rowCount(), 1);
    QCOMPARE(proxy.index(0, AuditModel::Action).data().toString(), QString("agent.add"));
    proxy.setFilterFixedString("");
    proxy.setSortRole(AuditModel::SortRole);
    proxy.sort(AuditModel::When, Qt::AscendingOrder);
    QCOMPARE(proxy.index(0, AuditModel::Who).data().toString(), QString("postgres"));
}

QTEST_GUILESS_MAIN(TstConsoleModels)
#include "tst_console_models.moc"
