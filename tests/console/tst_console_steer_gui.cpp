// The Replicas and Algorithm pages driven with QTest (offscreen) over a fake transport: what a
// click sends, what the page shows of each answer, and what a viewer may not do.
#include "fake_transport.hpp"
#include "models/steer_replicas_model.hpp"
#include "ui/algorithm_page.hpp"
#include "ui/param_editor.hpp"
#include "ui/replica_dialog.hpp"
#include "ui/replicas_page.hpp"

#include <QApplication>
#include <QComboBox>
#include <QJsonArray>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QPushButton>
#include <QSpinBox>
#include <QTableView>
#include <QTest>
#include <QTimer>

using namespace dlb::console;
using dlb::console::test::FakeTransport;
using dlb::console::test::poolsJson;
using dlb::console::test::replicaJson;

namespace {

template <typename T> T* child(QWidget* w, const QString& name)
{
    T* c = w->findChild<T*>(name);
    if (!c)
        qFatal("no child %s", qPrintable(name));
    return c;
}

// Runs `act` on the next modal dialog once it is shown (QMessageBox::exec and friends block).
void onNextModal(std::function<void(QWidget*)> act)
{
    QTimer::singleShot(0, [act = std::move(act)] {
        QTRY_VERIFY(QApplication::activeModalWidget() != nullptr);
        act(QApplication::activeModalWidget());
    });
}

} // namespace

class TstConsoleSteerGui : public QObject {
    Q_OBJECT
private slots:
    void replicaDialogShowsEveryBrokenFieldAtOnce();
    void replicasPageSteers();
    void removeAsksFirstNamingTheReplica();
    void viewerSeesButtonsDisabled();
    void algorithmPageRefusesBadValuesBeforeSending();
    void algorithmPageShowsTheAgentsRefusalBesideTheField();
    void algorithmPageStaleGenerationOffersReload();
    void algorithmPageResetAndViewer();
    void algorithmPageEditorsAreNotSqueezedAndTabInOrder();
};

void TstConsoleSteerGui::replicaDialogShowsEveryBrokenFieldAtOnce()
{
    ReplicaDialog dialog("web");
    dialog.show();
    QTest::keyClicks(child<QLineEdit>(&dialog, "url"), "ftp://h:1/x");
    QTest::keyClicks(child<QLineEdit>(&dialog, "id"), "a/b");
    QTest::mouseClick(child<QPushButton>(&dialog, "ok"), Qt::LeftButton);
    QVERIFY(dialog.isVisible());
    QCOMPARE(dialog.result(), int(QDialog::Rejected));
    QVERIFY(child<QLabel>(&dialog, "urlError")->isVisible());
    QVERIFY(child<QLabel>(&dialog, "urlError")->text().contains("only http:// and https://"));
    QCOMPARE(child<QLabel>(&dialog, "idError")->text(), QString("must not contain \"/\", got \"a/b\""));
    QVERIFY(!child<QLabel>(&dialog, "weightError")->isVisible());
    // Errors follow each edit after the first try.
    child<QLineEdit>(&dialog, "url")->setText("http://127.0.0.1:9003");
    QVERIFY(!child<QLabel>(&dialog, "urlError")->isVisible());
    child<QLineEdit>(&dialog, "id")->clear();
    QCOMPARE(child<QSpinBox>(&dialog, "weight")->maximum(), 1000000);
    QTest::mouseClick(child<QPushButton>(&dialog, "ok"), Qt::LeftButton);
    QCOMPARE(dialog.result(), int(QDialog::Accepted));
    QCOMPARE(dialog.url(), QString("http://127.0.0.1:9003"));
}

void TstConsoleSteerGui::replicasPageSteers()
{
    FakeTransport fake;
    SteerController controller(fake.transport());
    ReplicasPage page(controller, true);
    page.resize(900, 500);
    page.show();
    controller.refresh();
    fake.answer(200, poolsJson(2, {replicaJson("127.0.0.1:9001", "healthy"), replicaJson("127.0.0.1:9002", "pending")}));
    QCOMPARE(page.currentPool(), QString("web"));
    QCOMPARE(page.model()->rowCount(), 2);
    auto* drain = child<QPushButton>(&page, "drain");
    QVERIFY(child<QPushButton>(&page, "add")->isEnabled());
    QVERIFY(!drain->isEnabled()); // nothing selected
    child<QTableView>(&page, "replicas")->selectRow(1);
    QVERIFY(drain->isEnabled());
    QTest::mouseClick(drain, Qt::LeftButton);
    QCOMPARE(fake.request().path, QString("/v1/pools/web/replicas/127.0.0.1:9002/drain"));
    fake.answer(202, QJsonObject{{"generation", 3}, {"replica", replicaJson("127.0.0.1:9002", "draining")}});
    QVERIFY(child<QLabel>(&page, "status")->text().startsWith("Draining 127.0.0.1:9002 in web"));
    fake.answer(200, poolsJson(3, {replicaJson("127.0.0.1:9001", "healthy"), replicaJson("127.0.0.1:9002", "draining")}));
    // Still selected after the re-read; a draining replica cannot be drained again.
    QCOMPARE(page.model()->index(1, SteerReplicasModel::State).data().toString(), QString("draining"));
    QVERIFY(!drain->isEnabled());

    QTest::mouseClick(child<QPushButton>(&page, "healthCheck"), Qt::LeftButton);
    QCOMPARE(fake.request().path, QString("/v1/pools/web/health-check"));
    fake.answer(200, QJsonObject{{"generation", 3},
                                 {"pool", "web"},
                                 {"results", QJsonArray{QJsonObject{{"id", "127.0.0.1:9001"}, {"url", "http://127.0.0.1:9001"},
                                                                    {"ok", false}, {"status", 0},
                                                                    {"reason", "connect: connection refused"},
                                                                    {"state", "healthy"}}}}});
    QCOMPARE(page.model()->index(0, SteerReplicasModel::LastCheck).data().toString(),
             QString("failed: connect: connection refused"));
    QCOMPARE(child<QLabel>(&page, "status")->text(), QString("Health check of web: 0 passed, 1 failed."));

    // Add through the dialog: it opens modal; fill it and accept.
    onNextModal([](QWidget* dialog) {
        child<QLineEdit>(dialog, "url")->setText("http://127.0.0.1:9003");
        child<QSpinBox>(dialog, "weight")->setValue(2);
        QTest::mouseClick(child<QPushButton>(dialog, "ok"), Qt::LeftButton);
    });
    fake.answer(200, poolsJson(3, {replicaJson("127.0.0.1:9001", "healthy")}));
    QTest::mouseClick(child<QPushButton>(&page, "add"), Qt::LeftButton);
    QCOMPARE(fake.request().method, QByteArray("POST"));
    QCOMPARE(fake.request().body, (QJsonObject{{"url", "http://127.0.0.1:9003"}, {"weight", 2}}));
    fake.refuse(400, "invalid_value", "url: host \"nowhere.invalid\" does not resolve", "url");
    QVERIFY(child<QLabel>(&page, "status")->text().contains("invalid_value: url: host"));
    QCOMPARE(fake.count(), 0);
}

void TstConsoleSteerGui::removeAsksFirstNamingTheReplica()
{
    FakeTransport fake;
    SteerController controller(fake.transport());
    ReplicasPage page(controller, true);
    page.show();
    controller.refresh();
    fake.answer(200, poolsJson(2, {replicaJson("127.0.0.1:9001", "healthy")}));
    child<QTableView>(&page, "replicas")->selectRow(0);
    QString asked;
    onNextModal([&asked](QWidget* box) {
        asked = static_cast<QMessageBox*>(box)->text();
        static_cast<QMessageBox*>(box)->button(QMessageBox::Cancel)->click();
    });
    QTest::mouseClick(child<QPushButton>(&page, "remove"), Qt::LeftButton);
    QCOMPARE(asked, QString("Remove 127.0.0.1:9001 (http://127.0.0.1:9001) from pool web?"));
    QCOMPARE(fake.count(), 0); // cancelled: nothing sent
    onNextModal([](QWidget* box) { static_cast<QMessageBox*>(box)->button(QMessageBox::Yes)->click(); });
    QTest::mouseClick(child<QPushButton>(&page, "remove"), Qt::LeftButton);
    QCOMPARE(fake.count(), 1);
    QCOMPARE(fake.request().method, QByteArray("DELETE"));
    QCOMPARE(fake.request().path, QString("/v1/pools/web/replicas/127.0.0.1:9001"));
}

void TstConsoleSteerGui::viewerSeesButtonsDisabled()
{
    FakeTransport fake;
    SteerController controller(fake.transport());
    ReplicasPage page(controller, false);
    page.show();
    controller.refresh();
    fake.answer(200, poolsJson(2, {replicaJson("127.0.0.1:9001", "healthy")}));
    child<QTableView>(&page, "replicas")->selectRow(0);
    for (const char* name : {"add", "drain", "remove", "weight", "healthCheck"}) {
        auto* b = child<QPushButton>(&page, name);
        QVERIFY2(b->isVisible() && !b->isEnabled(), name);
        QVERIFY(b->toolTip().contains("Viewers only watch"));
    }
    QVERIFY(child<QPushButton>(&page, "refresh")->isEnabled());
    QCOMPARE(page.model()->rowCount(), 1); // they still see everything
}

void TstConsoleSteerGui::algorithmPageRefusesBadValuesBeforeSending()
{
    FakeTransport fake;
    SteerController controller(fake.transport());
    AlgorithmPage page(controller, true);
    page.resize(900, 700);
    page.show();
    controller.refresh();
    fake.answer(200, poolsJson(5, {}));
    QCOMPARE(child<QComboBox>(&page, "algorithm")->currentText(), QString("prequal"));
    auto* q = child<ParamSpinBox>(&page, "q_rif");
    QCOMPARE(q->value(), 0.9);
    QCOMPARE(q->text(), QString("0.9"));
    QCOMPARE(q->maximum(), 1.0);
    QVERIFY(child<QLabel>(&page, "q_rif_help")->text().contains("hot"));
    auto* apply = child<QPushButton>(&page, "apply");
    QVERIFY(!apply->isEnabled()); // nothing changed

    // delta's range is (0,100]: 0 can be typed, and is refused beside the field.
    auto* delta = child<ParamSpinBox>(&page, "delta");
    delta->selectAll();
    QTest::keyClicks(delta, "0");
    QCOMPARE(delta->value(), 0.0);
    QCOMPARE(child<QLabel>(&page, "delta_error")->text(), QString("must be in (0,100], got 0"));
    QVERIFY(child<QLabel>(&page, "delta_error")->isVisible());
    QVERIFY(apply->isEnabled());
    QTest::mouseClick(apply, Qt::LeftButton);
    QCOMPARE(fake.count(), 0);
    QVERIFY(child<QLabel>(&page, "status")->text().startsWith("Not sent"));

    // maglev's table size must be prime.
    child<QComboBox>(&page, "algorithm")->setCurrentText("maglev");
    auto* table = child<ParamSpinBox>(&page, "table_size");
    QCOMPARE(table->value(), 65537.0);
    QTRY_VERIFY(child<QLineEdit>(&page, "hash_key")->isVisible()); // a layout shows new children queued
    table->setValue(65536);
    QCOMPARE(child<QLabel>(&page, "table_size_error")->text(), QString("must be a prime number, got 65536"));
    table->setValue(65521);
    QVERIFY(!child<QLabel>(&page, "table_size_error")->isVisible());
    QTest::mouseClick(apply, Qt::LeftButton);
    QCOMPARE(fake.count(), 1);
    QCOMPARE(fake.request().ifMatch, QByteArray("5"));
    QCOMPARE(fake.request().body.value("name").toString(), QString("maglev"));
    QCOMPARE(fake.request().body.value("params").toObject().value("table_size").toDouble(), 65521.0);
    QCOMPARE(fake.request().body.value("hash_key").toString(), QString("client"));
}

void TstConsoleSteerGui::algorithmPageShowsTheAgentsRefusalBesideTheField()
{
    FakeTransport fake;
    SteerController controller(fake.transport());
    AlgorithmPage page(controller, true);
    page.show();
    controller.refresh();
    fake.answer(200, poolsJson(5, {}));
    child<ParamSpinBox>(&page, "probe_rate")->setValue(4);
    QTest::mouseClick(child<QPushButton>(&page, "apply"), Qt::LeftButton);
    QCOMPARE(fake.count(), 1);
    // Say a newer agent narrowed the range: its refusal lands beside the field it names.
    fake.refuse(400, "invalid_value", "params.probe_rate: must be in [0,2], got 4", "params.probe_rate");
    QCOMPARE(child<QLabel>(&page, "probe_rate_error")->text(), QString("refused by the agent: must be in [0,2], got 4"));
    QVERIFY(child<QLabel>(&page, "status")->text().contains("Could not change the algorithm of web"));
    QVERIFY(!child<QPushButton>(&page, "reloadOffer")->isVisible());
    QCOMPARE(fake.count(), 0);
}

void TstConsoleSteerGui::algorithmPageStaleGenerationOffersReload()
{
    FakeTransport fake;
    SteerController controller(fake.transport());
    AlgorithmPage page(controller, true);
    page.show();
    controller.refresh();
    fake.answer(200, poolsJson(5, {}));
    child<ParamSpinBox>(&page, "q_rif")->setValue(0.5);
    QTest::mouseClick(child<QPushButton>(&page, "apply"), Qt::LeftButton);
    fake.refuse(409, "stale_generation", "the config changed since generation 5; it is at 6: read it again and retry");
    QVERIFY(child<QLabel>(&page, "status")->text().contains("changed by someone else"));
    auto* offer = child<QPushButton>(&page, "reloadOffer");
    QVERIFY(offer->isVisible());
    // The controller reads the pools again; the edit survives that read.
    QCOMPARE(fake.request().path, QString("/v1/pools"));
    fake.answer(200, poolsJson(6, {}));
    QCOMPARE(child<ParamSpinBox>(&page, "q_rif")->value(), 0.5);
    QCOMPARE(page.form().generation(), 5);
    QTest::mouseClick(offer, Qt::LeftButton);
    QVERIFY(!offer->isVisible());
    QCOMPARE(page.form().generation(), 6);
    QCOMPARE(child<ParamSpinBox>(&page, "q_rif")->value(), 0.9);
    fake.answer(200, poolsJson(6, {}));
    QCOMPARE(fake.count(), 0);
}

void TstConsoleSteerGui::algorithmPageResetAndViewer()
{
    FakeTransport fake;
    SteerController controller(fake.transport());
    AlgorithmPage page(controller, true);
    AlgorithmPage viewer(controller, false);
    page.show();
    viewer.show();
    controller.refresh();
    fake.answer(200, poolsJson(5, {}));
    QTest::mouseClick(child<QPushButton>(&page, "reset"), Qt::LeftButton);
    QCOMPARE(child<ParamSpinBox>(&page, "q_rif")->value(), 0.84);
    QVERIFY(child<QPushButton>(&page, "apply")->isEnabled());

    QCOMPARE(child<ParamSpinBox>(&viewer, "q_rif")->value(), 0.9);
    QVERIFY(!child<ParamSpinBox>(&viewer, "q_rif")->isEnabled());
    QVERIFY(!child<QComboBox>(&viewer, "algorithm")->isEnabled());
    QVERIFY(!child<QPushButton>(&viewer, "apply")->isEnabled());
    QVERIFY(!child<QPushButton>(&viewer, "reset")->isEnabled());
    QVERIFY(child<QComboBox>(&viewer, "pool")->isEnabled());
    child<QComboBox>(&viewer, "pool")->setCurrentText("admin");
    QCOMPARE(child<QComboBox>(&viewer, "algorithm")->currentText(), QString("maglev"));
    QCOMPARE(child<QLineEdit>(&viewer, "hash_key")->text(), QString("path"));
    QVERIFY(!child<QLineEdit>(&viewer, "hash_key")->isEnabled());
}

// Editors built while the page is shown get their full height at once (they were squeezed into
// the scroll area's viewport, 9 px high, until the layout's queued show ran), and Tab walks
// from the algorithm through the parameters in the order they are listed.
void TstConsoleSteerGui::algorithmPageEditorsAreNotSqueezedAndTabInOrder()
{
    FakeTransport fake;
    SteerController controller(fake.transport());
    AlgorithmPage page(controller, true);
    page.resize(900, 500);
    page.show();
    QVERIFY(QTest::qWaitForWindowExposed(&page));
    controller.refresh();
    fake.answer(200, poolsJson(5, {}));
    child<QComboBox>(&page, "algorithm")->setCurrentText("least_request");
    child<QComboBox>(&page, "algorithm")->setCurrentText("prequal");
    QApplication::processEvents();
    for (const char* name : {"probe_rate", "q_rif", "probe_cost_budget"}) {
        auto* spin = child<ParamSpinBox>(&page, name);
        QVERIFY2(spin->height() >= spin->minimumSizeHint().height(),
                 qPrintable(QString("%1: %2 px").arg(name).arg(spin->height())));
    }
    QApplication::setActiveWindow(&page);
    QTRY_VERIFY(page.isActiveWindow());
    child<QComboBox>(&page, "algorithm")->setFocus();
    // The spin box's focus is its inner line edit: compare the spin boxes.
    const auto focused = [] {
        QWidget* w = QApplication::focusWidget();
        return w && qobject_cast<ParamSpinBox*>(w->parentWidget()) ? w->parentWidget() : w;
    };
    for (const char* name : {"probe_rate", "pool_size", "q_rif"}) {
        QTest::keyClick(QApplication::focusWidget(), Qt::Key_Tab);
        QCOMPARE(focused(), static_cast<QWidget*>(child<ParamSpinBox>(&page, name)));
    }
}

QTEST_MAIN(TstConsoleSteerGui)
#include "tst_console_steer_gui.moc"
