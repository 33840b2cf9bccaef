// The Replicas and Algorithm pages against a REAL dlb-agent over its control socket, through
// the console's own agent client: a replica added from the page turns healthy after a health
// check, is drained and removed; an algorithm change with a bad value is refused before it is
// sent, one with a stale If-Match is refused by the agent (409 shown, reload offered), one is
// accepted and visible in GET /v1/pools. Saves screenshots of both pages (DLB_SCREENSHOT_DIR).
#include "client/agent_connection.hpp"
#include "control_fixture.hpp"
#include "models/steer_agent_transport.hpp"
#include "models/steer_controller.hpp"
#include "models/steer_replicas_model.hpp"
#include "db/database.hpp"
#include "ui/algorithm_page.hpp"
#include "ui/main_window.hpp"
#include "ui/param_editor.hpp"
#include "ui/replicas_page.hpp"

#include <QApplication>
#include <QComboBox>
#include <QDir>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QPushButton>
#include <QSpinBox>
#include <QSignalSpy>
#include <QTableView>
#include <QTcpSocket>
#include <QTest>
#include <QTimer>

using namespace dlb::console;
using namespace dlb::test;

namespace {

template <typename T> T* child(QWidget* w, const QString& name)
{
    T* c = w->findChild<T*>(name);
    if (!c)
        qFatal("no child %s", qPrintable(name));
    return c;
}

void onNextModal(std::function<void(QWidget*)> act)
{
    QTimer::singleShot(0, [act = std::move(act)] {
        QTRY_VERIFY(QApplication::activeModalWidget() != nullptr);
        act(QApplication::activeModalWidget());
    });
}

QString stateOf(const SteerReplicasModel& model, const QString& id)
{
    const int row = model.rowOf(id);
    return row < 0 ? QString() : model.index(row, SteerReplicasModel::State).data().toString();
}

// The pool "web" as GET /v1/pools shows it now, read on a connection of its own.
QJsonObject webPool(const Cluster& c)
{
    const auto r = controlCall(c, "GET", "/v1/pools");
    if (!r || r->status != 200)
        return {};
    return jsonBody(*r).value("pools").toArray().at(0).toObject();
}

} // namespace

class TstConsoleSteer : public QObject {
    Q_OBJECT
private slots:
    void init();
    void cleanup();
    void replicasAddHealthCheckDrainRemove();
    void algorithmRefusedByTheFormByTheAgentThenApplied();
    void viewerTokenIsRefusedByTheAgent();
    void mainWindowSteersTheChosenAgent();
    void screenshots();

private:
    bool start(const QList<quint16>& ports, const QJsonObject& algorithm = {}, bool healthChecks = false);
    // The console's own client of the agent's control socket, with `token`.
    client::AgentConnection* connect(const QByteArray& token);
    void screenshot(QWidget* w, const QString& name);

    std::unique_ptr<Cluster> c_;
    std::vector<std::unique_ptr<client::AgentConnection>> connections_;
    std::unique_ptr<SteerController> controller_;
};

void TstConsoleSteer::init() { c_ = std::make_unique<Cluster>(); }

void TstConsoleSteer::cleanup()
{
    controller_.reset();
    connections_.clear();
    const int exitCode = c_->agent().running() ? c_->stopAgent() : 0;
    checkAgentExit(*c_, exitCode);
    c_.reset();
}

bool TstConsoleSteer::start(const QList<quint16>& ports, const QJsonObject& algorithm, bool healthChecks)
{
    QJsonObject cfg = controlConfig(*c_, ports);
    if (!algorithm.isEmpty())
        setJson(cfg, {"pools", "0", "algorithm"}, algorithm);
    if (healthChecks)
        setJson(cfg, {"pools", "0", "health_check"},
                QJsonObject{{"enabled", true}, {"interval_ms", 500}, {"timeout_ms", 400}, {"rise", 1}, {"fall", 2}});
    if (!c_->startAgent(cfg))
        return false;
    controller_ = std::make_unique<SteerController>(agentTransport(connect(kAdmin)));
    return true;
}

client::AgentConnection* TstConsoleSteer::connect(const QByteArray& token)
{
    QString error;
    const auto endpoint = client::AgentEndpoint::parse(controlSocket(*c_), token, {}, &error);
    if (!endpoint)
        qFatal("endpoint: %s", qPrintable(error));
    connections_.push_back(std::make_unique<client::AgentConnection>(*endpoint));
    connections_.back()->open();
    return connections_.back().get();
}

void TstConsoleSteer::screenshot(QWidget* w, const QString& name)
{
    const QString dir = qEnvironmentVariable("DLB_SCREENSHOT_DIR", QStringLiteral(DLB_SCREENSHOT_DEFAULT_DIR));
    QVERIFY(QDir().mkpath(dir));
    QApplication::processEvents();
    const QString path = QDir(dir).filePath(name + QStringLiteral(".png"));
    QVERIFY2(w->grab().save(path), qPrintable(path));
}

void TstConsoleSteer::replicasAddHealthCheckDrainRemove()
{
    const quint16 r1 = c_->startReplica("r1");
    const quint16 r2 = c_->startReplica("r2");
    QVERIFY(r1 && r2);
    QVERIFY2(start({r1}), qPrintable(c_->error()));
    ReplicasPage page(*controller_, true);
    page.show();
    controller_->refresh();
    QTRY_VERIFY_WITH_TIMEOUT(controller_->loaded(), kWaitMs);
    QCOMPARE(page.currentPool(), QString("web"));
    const QString id1 = QStringLiteral("127.0.0.1:%1").arg(r1);
    const QString id2 = QStringLiteral("127.0.0.1:%1").arg(r2);
    QCOMPARE(page.model()->rowCount(), 1);
    QCOMPARE(stateOf(*page.model(), id1), QString("healthy"));

    // Add through the page's dialog: pending until a health check passes.
    onNextModal([r2](QWidget* dialog) {
        child<QLineEdit>(dialog, "url")->setText(QStringLiteral("http://127.0.0.1:%1").arg(r2));
        child<QSpinBox>(dialog, "weight")->setValue(2);
        QTest::mouseClick(child<QPushButton>(dialog, "ok"), Qt::LeftButton);
    });
    QTest::mouseClick(child<QPushButton>(&page, "add"), Qt::LeftButton);
    QTRY_COMPARE_WITH_TIMEOUT(page.model()->rowCount(), 2, kWaitMs);
    auto* status = child<QLabel>(&page, "status");
    QVERIFY2(status->text().startsWith(QStringLiteral("Added http://127.0.0.1:%1 to web").arg(r2)),
             qPrintable(status->text()));
    const QString added = stateOf(*page.model(), id2);
    QVERIFY2(added == "pending" || added == "healthy", qPrintable(added));
    QCOMPARE(page.model()->index(page.model()->rowOf(id2), SteerReplicasModel::Weight).data().toInt(), 2);

    // Health-check now: each result beside its replica; the added one is healthy after it.
    QTest::mouseClick(child<QPushButton>(&page, "healthCheck"), Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(status->text().startsWith("Health check of web"), kWaitMs);
    QCOMPARE(status->text(), QString("Health check of web: 2 passed, 0 failed."));
    QTRY_COMPARE_WITH_TIMEOUT(stateOf(*page.model(), id2), QString("healthy"), kWaitMs);
    QCOMPARE(page.model()->index(page.model()->rowOf(id2), SteerReplicasModel::LastCheck).data().toString(),
             QString("passed (200)"));

    // Drain r1: no new requests; it leaves once its (no) requests in flight end.
    auto* view = child<QTableView>(&page, "replicas");
    view->selectRow(page.model()->rowOf(id1));
    QTest::mouseClick(child<QPushButton>(&page, "drain"), Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(status->text().startsWith(QStringLiteral("Draining %1 in web").arg(id1)), kWaitMs);
    const auto listed = [&] {
        QStringList ids;
        for (const QJsonValue& r : webPool(*c_).value("replicas").toArray())
            ids << r.toObject().value("id").toString();
        return ids;
    };
    QTRY_COMPARE_WITH_TIMEOUT(listed(), QStringList{id2}, kWaitMs);

    // Remove r2, after the confirmation that names it.
    QTest::mouseClick(child<QPushButton>(&page, "refresh"), Qt::LeftButton);
    QTRY_COMPARE_WITH_TIMEOUT(page.model()->rowCount(), 1, kWaitMs);
    view->selectRow(0);
    QString asked;
    onNextModal([&asked](QWidget* box) {
        asked = static_cast<QMessageBox*>(box)->text();
        static_cast<QMessageBox*>(box)->button(QMessageBox::Yes)->click();
    });
    QTest::mouseClick(child<QPushButton>(&page, "remove"), Qt::LeftButton);
    QVERIFY2(asked.startsWith(QStringLiteral("Remove %1 (http://127.0.0.1:%2) from pool web?").arg(id2).arg(r2)),
             qPrintable(asked));
    QTRY_VERIFY_WITH_TIMEOUT(status->text().startsWith(QStringLiteral("Removed %1 from web").arg(id2)), kWaitMs);
    QTRY_COMPARE_WITH_TIMEOUT(listed(), QStringList{}, kWaitMs);
    QTRY_COMPARE_WITH_TIMEOUT(page.model()->rowCount(), 0, kWaitMs);
}

void TstConsoleSteer::algorithmRefusedByTheFormByTheAgentThenApplied()
{
    const quint16 r1 = c_->startReplica("r1");
    QVERIFY(r1);
    QVERIFY2(start({r1}), qPrintable(c_->error()));
    AlgorithmPage page(*controller_, true);
    page.resize(900, 620);
    page.show();
    controller_->refresh();
    QTRY_VERIFY_WITH_TIMEOUT(controller_->loaded(), kWaitMs);
    QCOMPARE(child<QComboBox>(&page, "algorithm")->currentText(), QString("round_robin"));
    const qint64 generation = page.form().generation();
    QVERIFY(generation >= 1);
    auto* status = child<QLabel>(&page, "status");
    auto* apply = child<QPushButton>(&page, "apply");

    // 1. Refused by the form: delta 0 is outside (0,100]; nothing reaches the agent.
    child<QComboBox>(&page, "algorithm")->setCurrentText("prequal");
    child<ParamSpinBox>(&page, "delta")->setValue(0);
    QCOMPARE(child<QLabel>(&page, "delta_error")->text(), QString("must be in (0,100], got 0"));
    QTest::mouseClick(apply, Qt::LeftButton);
    QVERIFY(status->text().startsWith("Not sent"));
    QCOMPARE(controller_->pending(), 0);
    QCOMPARE(webPool(*c_).value("algorithm").toObject().value("name").toString(), QString("round_robin"));

    // 2. Refused by the agent: another admin changes the pool after the page read it.
    const auto other = controlCall(*c_, "PUT", "/v1/pools/web/algorithm", kAdmin, R"({"name": "random"})");
    QVERIFY(other && other->status == 200);
    child<ParamSpinBox>(&page, "delta")->setValue(1);
    child<ParamSpinBox>(&page, "q_rif")->setValue(0.5);
    QVERIFY(apply->isEnabled());
    QTest::mouseClick(apply, Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(status->text().contains("changed by someone else"), kWaitMs);
    auto* offer = child<QPushButton>(&page, "reloadOffer");
    QVERIFY(offer->isVisible());
    QCOMPARE(webPool(*c_).value("algorithm").toObject().value("name").toString(), QString("random"));
    QCOMPARE(child<ParamSpinBox>(&page, "q_rif")->value(), 0.5); // the edit is kept
    screenshot(&page, QStringLiteral("algorithm-stale"));

    // 3. Reload shows what runs now (random, a newer generation); choose prequal again; accepted.
    QTest::mouseClick(offer, Qt::LeftButton);
    QTRY_COMPARE_WITH_TIMEOUT(child<QComboBox>(&page, "algorithm")->currentText(), QString("random"), kWaitMs);
    QVERIFY(page.form().generation() > generation);
    child<QComboBox>(&page, "algorithm")->setCurrentText("prequal");
    child<ParamSpinBox>(&page, "q_rif")->setValue(0.5);
    child<ParamSpinBox>(&page, "probe_rate")->setValue(2.5);
    QTRY_VERIFY_WITH_TIMEOUT(apply->isEnabled(), kWaitMs); // once the reload's read has come back
    QTest::mouseClick(apply, Qt::LeftButton);
    QTRY_VERIFY2_WITH_TIMEOUT(status->text().startsWith("Applied to web"), qPrintable(status->text()), kWaitMs);
    const QJsonObject algo = webPool(*c_).value("algorithm").toObject();
    QCOMPARE(algo.value("name").toString(), QString("prequal"));
    QCOMPARE(algo.value("params").toObject().value("q_rif").toDouble(), 0.5);
    QCOMPARE(algo.value("params").toObject().value("probe_rate").toDouble(), 2.5);
    QCOMPARE(algo.value("params").toObject().value("delta").toDouble(), 1.0);
    // The page follows: what runs is its new starting point, nothing left to apply.
    QTRY_VERIFY_WITH_TIMEOUT(!apply->isEnabled(), kWaitMs);
    QCOMPARE(child<ParamSpinBox>(&page, "q_rif")->value(), 0.5);
}

void TstConsoleSteer::viewerTokenIsRefusedByTheAgent()
{
    // The console's account may steer, but the agent's token is a viewer's: the agent's 403 is
    // shown as it comes.
    const quint16 r1 = c_->startReplica("r1");
    QVERIFY(r1);
    QVERIFY2(start({r1}), qPrintable(c_->error()));
    controller_->setTransport(agentTransport(connect(kViewer)));
    ReplicasPage page(*controller_, true);
    page.show();
    controller_->refresh();
    QTRY_VERIFY_WITH_TIMEOUT(controller_->loaded(), kWaitMs);
    QTest::mouseClick(child<QPushButton>(&page, "healthCheck"), Qt::LeftButton);
    auto* status = child<QLabel>(&page, "status");
    QTRY_VERIFY_WITH_TIMEOUT(status->text().startsWith("Could not health-check web: forbidden"), kWaitMs);
}

// The main window's Replicas and Algorithm entries show the agent it is given. Its session has
// no role here (no login): a viewer's window, every steering control disabled.
void TstConsoleSteer::mainWindowSteersTheChosenAgent()
{
    const quint16 r1 = c_->startReplica("r1");
    QVERIFY(r1);
    QVERIFY2(start({r1}), qPrintable(c_->error()));
    Database db;
    MainWindow window(db);
    window.show();
    window.showPage("Replicas");
    auto* replicas = window.findChild<ReplicasPage*>();
    QVERIFY(replicas && replicas->isVisible());
    QCOMPARE(replicas->model()->rowCount(), 0);
    window.setSteeredAgent(connect(kAdmin));
    QTRY_COMPARE_WITH_TIMEOUT(replicas->model()->rowCount(), 1, kWaitMs);
    QVERIFY(!child<QPushButton>(replicas, "add")->isEnabled());
    window.showPage("Algorithm");
    auto* algorithm = window.findChild<AlgorithmPage*>();
    QVERIFY(algorithm && algorithm->isVisible());
    QCOMPARE(child<QComboBox>(algorithm, "algorithm")->currentText(), QString("round_robin"));
    QVERIFY(!child<QComboBox>(algorithm, "algorithm")->isEnabled());
    // The same agent again (the hub says so on every reload of its list): read again, not reset.
    QSignalSpy read(window.findChild<SteerController*>(), &SteerController::poolsChanged);
    window.setSteeredAgent(connections_.back().get());
    QCOMPARE(replicas->model()->rowCount(), 1);
    QVERIFY(read.wait(kWaitMs));
    QCOMPARE(read.size(), 1);
    window.setSteeredAgent(nullptr);
    QCOMPARE(replicas->model()->rowCount(), 0);
}

void TstConsoleSteer::screenshots()
{
    // Three replicas answering slowly, requests in flight through the agent, a fourth replica
    // added (pending until checked) and one that refuses connections.
    QList<quint16> ports;
    for (const char* name : {"r1", "r2", "r3"}) {
        const quint16 p = c_->startReplica(name, {"--service-ms", "3000"});
        QVERIFY(p);
        ports << p;
    }
    const quint16 down = refusedPort();
    QVERIFY2(start(ports + QList<quint16>{down},
                   QJsonObject{{"name", "prequal"}, {"q_rif", 0.84}, {"probe_rate", 2}, {"max_age_ms", 2000}}, true),
             qPrintable(c_->error()));
    std::vector<std::unique_ptr<QTcpSocket>> clients;
    for (int i = 0; i < 8; ++i) {
        auto s = std::make_unique<QTcpSocket>();
        s->connectToHost(QHostAddress::LocalHost, c_->port());
        QVERIFY(s->waitForConnected(kWaitMs));
        s->write("GET / HTTP/1.1\r\nHost: dlb\r\n\r\n");
        QVERIFY(s->waitForBytesWritten(kWaitMs));
        clients.push_back(std::move(s));
    }
    ReplicasPage replicas(*controller_, true);
    replicas.resize(900, 620);
    replicas.show();
    controller_->refresh();
    QTRY_VERIFY_WITH_TIMEOUT(controller_->loaded(), kWaitMs);
    controller_->addReplica("web", QStringLiteral("http://127.0.0.1:%1").arg(c_->startReplica("r4")), 3);
    QTRY_COMPARE_WITH_TIMEOUT(replicas.model()->rowCount(), 5, kWaitMs);
    QTest::mouseClick(child<QPushButton>(&replicas, "healthCheck"), Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(child<QLabel>(&replicas, "status")->text().startsWith("Health check of web"), kWaitMs);
    const QString downId = QStringLiteral("127.0.0.1:%1").arg(down);
    // The periodic checks (every 500 ms, fall 2) bench the replica that refuses connections.
    const auto readState = [&] {
        QSignalSpy read(controller_.get(), &SteerController::poolsChanged);
        controller_->refresh();
        read.wait(kWaitMs);
        return stateOf(*replicas.model(), downId);
    };
    QTRY_COMPARE_WITH_TIMEOUT(readState(), QString("unhealthy"), kWaitMs);
    QTRY_COMPARE_WITH_TIMEOUT(controller_->pending(), 0, kWaitMs);
    child<QTableView>(&replicas, "replicas")->selectRow(0);
    screenshot(&replicas, QStringLiteral("replicas"));

    AlgorithmPage algorithm(*controller_, true);
    algorithm.resize(900, 620);
    algorithm.show();
    child<ParamSpinBox>(&algorithm, "q_rif")->setValue(0.9);
    child<ParamSpinBox>(&algorithm, "delta")->setValue(0); // in the spin box's range, refused by the rules
    screenshot(&algorithm, QStringLiteral("algorithm"));
}

QTEST_MAIN(TstConsoleSteer)
#include "tst_console_steer.moc"
