// Keyboard use of every page and dialog, offscreen: Tab walks each in reading order (top to
// bottom, left to right) over every control that can act, and comes back to the first; the main
// window's sidebar is reached by Tab and by Ctrl+0, and Ctrl+1.. open the pages in sidebar order
// and put the focus on the page's first control. No database or agent: the pages are built
// without a session (their loads fail quietly) and the steering pages over a fake transport.
#include "db/database.hpp"
#include "fake_transport.hpp"
#include "models/agents_hub.hpp"
#include "models/steer_controller.hpp"
#include "ui/accounts_page.hpp"
#include "ui/agents_page.hpp"
#include "ui/algorithm_page.hpp"
#include "ui/audit_page.hpp"
#include "ui/bootstrap_dialog.hpp"
#include "ui/connection_dialog.hpp"
#include "ui/dashboard_page.hpp"
#include "ui/login_dialog.hpp"
#include "ui/main_window.hpp"
#include "ui/register_dialog.hpp"
#include "ui/replicas_page.hpp"

#include <QAbstractSpinBox>
#include <QAction>
#include <QApplication>
#include <QComboBox>
#include <QListWidget>
#include <QScrollArea>
#include <QSettings>
#include <QTemporaryDir>
#include <QTest>

#include <cstdlib>

using namespace dlb::console;
using dlb::console::test::FakeTransport;
using dlb::console::test::poolsJson;
using dlb::console::test::replicaJson;

namespace {

constexpr int kMaxTabStops = 60; // more than any page has: a chain that never comes back fails

// The name a focused widget is known by: its own object name, else its nearest named ancestor's
// (a spin box's or an editable combo box's inner line edit), else its class.
QString nameOf(QWidget* w)
{
    for (QWidget* p = w; p; p = p->parentWidget())
        if (!p->objectName().isEmpty() && !p->objectName().startsWith(QLatin1String("qt_")))
            return p->objectName();
    return w ? QString::fromLatin1(w->metaObject()->className()) : QStringLiteral("(none)");
}

struct Stop {
    QString name;
    QRect rect;                  // in the window's coordinates (a scroll area's widget: the area's)
    QRect inArea;                // in its scroll area's contents, if in one
    const QWidget* area = nullptr;
};

// The first tab stop in reading order: the topmost, then leftmost, control that takes Tab.
QWidget* firstInReadingOrder(QWidget* window)
{
    QWidget* best = nullptr;
    QPoint bestAt;
    for (QWidget* w : window->findChildren<QWidget*>()) {
        if (!w->isEnabled() || !w->isVisible() || !(w->focusPolicy() & Qt::TabFocus) || w->focusProxy())
            continue;
        if (qobject_cast<QAbstractSpinBox*>(w->parentWidget()) || qobject_cast<QComboBox*>(w->parentWidget()))
            continue; // the inner line edit of a spin or combo box: the box is the stop
        const QPoint at = w->mapTo(window, QPoint(0, 0));
        if (!best || at.y() < bestAt.y() - 4 || (std::abs(at.y() - bestAt.y()) <= 4 && at.x() < bestAt.x())) {
            best = w;
            bestAt = at;
        }
    }
    return best;
}

// Puts the focus on the window's first tab stop in reading order and presses Tab until it
// comes back: the stops in order.
QList<Stop> tabStops(QWidget* window)
{
    QApplication::setActiveWindow(window);
    if (!QTest::qWaitForWindowActive(window))
        return {{QStringLiteral("(window not active)"), {}, {}, nullptr}};
    QWidget* first = firstInReadingOrder(window);
    if (!first)
        return {{QStringLiteral("(no tab stop)"), {}, {}, nullptr}};
    first->setFocus(Qt::TabFocusReason);
    QApplication::processEvents();
    QWidget* start = QApplication::focusWidget();
    QList<Stop> stops;
    for (int i = 0; i < kMaxTabStops; ++i) {
        QWidget* f = QApplication::focusWidget();
        if (!f)
            return stops << Stop{QStringLiteral("(focus lost)"), {}, {}, nullptr};
        Stop stop{nameOf(f), QRect(f->mapTo(window, QPoint(0, 0)), f->size()), {}, nullptr};
        // Inside a scroll area the area stands for it against what is outside; inside, its place
        // in the contents (the area scrolls to each stop, which moves the others).
        for (QWidget* p = f->parentWidget(); p && p != window; p = p->parentWidget()) {
            if (auto* area = qobject_cast<QScrollArea*>(p); area && area->widget()) {
                stop.area = area;
                stop.inArea = QRect(f->mapTo(area->widget(), QPoint(0, 0)), f->size());
                stop.rect = QRect(area->mapTo(window, QPoint(0, 0)), area->size());
                break;
            }
        }
        stops << stop;
        QTest::keyClick(f, Qt::Key_Tab);
        if (QApplication::focusWidget() == start)
            return stops;
    }
    return stops << Stop{QStringLiteral("(no way back)"), {}, {}, nullptr};
}

QStringList names(const QList<Stop>& stops)
{
    QStringList n;
    for (const Stop& s : stops)
        n << s.name;
    return n;
}

// Empty when each stop comes after the one before in reading order: further down, or on the
// same line (their heights overlap) further right. Else says where it goes back.
QString readingOrderProblem(const QList<Stop>& stops)
{
    for (qsizetype i = 1; i < stops.size(); ++i) {
        const Stop& sa = stops.at(i - 1);
        const Stop& sb = stops.at(i);
        const bool oneArea = sa.area && sa.area == sb.area;
        const QRect& a = oneArea ? sa.inArea : sa.rect;
        const QRect& b = oneArea ? sb.inArea : sb.rect;
        if (a == b)
            continue; // both in one scroll area, seen from outside it
        const bool sameLine = b.top() < a.bottom() && a.top() < b.bottom();
        const bool forward = sameLine ? b.left() > a.left() : b.top() > a.top();
        if (!forward)
            return QStringLiteral("%1 (%2,%3) comes after %4 (%5,%6)")
                .arg(sb.name)
                .arg(b.left())
                .arg(b.top())
                .arg(sa.name)
                .arg(a.left())
                .arg(a.top());
    }
    return {};
}

// The window's tab stops are `expected`, in that order, and in reading order.
void checkTabOrder(QWidget* window, const QStringList& expected)
{
    const QList<Stop> stops = tabStops(window);
    QCOMPARE(names(stops), expected);
    const QString problem = readingOrderProblem(stops);
    QVERIFY2(problem.isEmpty(), qPrintable(problem));
}

} // namespace

class TstConsoleKeyboard : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void loginDialog();
    void connectionDialog();
    void registerDialog();
    void bootstrapDialog();
    void agentsPage();
    void dashboardPage();
    void replicasPage();
    void algorithmPage();
    void accountsPage();
    void auditPage();
    void mainWindowSidebarAndShortcuts();

private:
    QTemporaryDir dir_;
    std::unique_ptr<QSettings> settings_;
    std::unique_ptr<Database> db_;
};

void TstConsoleKeyboard::initTestCase()
{
    QVERIFY(dir_.isValid());
    settings_ = std::make_unique<QSettings>(dir_.filePath("console.ini"), QSettings::IniFormat);
    db_ = std::make_unique<Database>();
}

void TstConsoleKeyboard::loginDialog()
{
    LoginDialog d(*db_, *settings_);
    d.show();
    QVERIFY(QTest::qWaitForWindowExposed(&d));
    checkTabOrder(&d, QStringList{"changeConnection", "username", "password", "login", "setup", "cancel"});
}

void TstConsoleKeyboard::connectionDialog()
{
    ConnectionDialog d(ConnectionSettings{});
    d.show();
    QVERIFY(QTest::qWaitForWindowExposed(&d));
    checkTabOrder(&d, QStringList{"host", "port", "database", "sslmode", "ok", "cancel"});
}

void TstConsoleKeyboard::registerDialog()
{
    RegisterDialog d(*db_);
    d.show();
    QVERIFY(QTest::qWaitForWindowExposed(&d));
    checkTabOrder(&d, QStringList{"username", "email", "password", "confirm", "role", "register", "cancel"});
}

void TstConsoleKeyboard::bootstrapDialog()
{
    BootstrapDialog d(*db_, ConnectionSettings{});
    d.show();
    QVERIFY(QTest::qWaitForWindowExposed(&d));
    checkTabOrder(&d, QStringList{"owner", "ownerPassword", "username", "email", "password", "confirm", "setup", "cancel"});
}

void TstConsoleKeyboard::agentsPage()
{
    AgentHub hub;
    AgentsPage p(*db_, hub);
    p.resize(1000, 600);
    p.show();
    QVERIFY(QTest::qWaitForWindowExposed(&p));
    checkTabOrder(&p, QStringList{"refresh", "agents"});
}

void TstConsoleKeyboard::dashboardPage()
{
    AgentHub hub;
    DashboardPage p(hub);
    p.resize(1000, 600);
    p.show();
    QVERIFY(QTest::qWaitForWindowExposed(&p));
    checkTabOrder(&p, QStringList{"window", "replicaTable"});
}

void TstConsoleKeyboard::replicasPage()
{
    FakeTransport fake;
    SteerController controller(fake.transport());
    ReplicasPage p(controller, true);
    p.resize(1000, 600);
    p.show();
    QVERIFY(QTest::qWaitForWindowExposed(&p));
    controller.refresh();
    fake.answer(200, poolsJson(5, {replicaJson("a", "healthy"), replicaJson("b", "healthy")}));
    checkTabOrder(&p, QStringList{"pool", "refresh", "add", "healthCheck", "replicas"});
}

void TstConsoleKeyboard::algorithmPage()
{
    FakeTransport fake;
    SteerController controller(fake.transport());
    AlgorithmPage p(controller, true);
    p.resize(1000, 600);
    p.show();
    QVERIFY(QTest::qWaitForWindowExposed(&p));
    controller.refresh();
    fake.answer(200, poolsJson(5, {}));
    checkTabOrder(&p, QStringList{"pool", "algorithm", "probe_rate", "pool_size", "q_rif", "max_age_ms", "remove_rate", "delta", "idle_probe_rate", "max_probes_per_replica_s", "error_penalty", "probe_fresh_ms", "probe_cost_budget", "latency_tolerance", "reset", "reload"});
}

void TstConsoleKeyboard::accountsPage()
{
    AccountsPage p(*db_);
    p.resize(1000, 600);
    p.show();
    QVERIFY(QTest::qWaitForWindowExposed(&p));
    checkTabOrder(&p, QStringList{"register", "refresh", "accounts"});
}

void TstConsoleKeyboard::auditPage()
{
    AuditPage p(*db_);
    p.resize(1000, 600);
    p.show();
    QVERIFY(QTest::qWaitForWindowExposed(&p));
    checkTabOrder(&p, QStringList{"filter", "column", "refresh", "audit"});
}

// The sidebar is a tab stop before the page; Ctrl+1.. open the pages in sidebar order with the
// focus on the page's first control; a disabled page's shortcut does nothing; Ctrl+0 goes to the
// sidebar, where the arrows change the page.
void TstConsoleKeyboard::mainWindowSidebarAndShortcuts()
{
    MainWindow w(*db_); // no session: a viewer's window, Accounts disabled
    w.resize(1200, 800);
    w.show();
    QVERIFY(QTest::qWaitForWindowExposed(&w));
    QTRY_VERIFY(!db_->busy()); // the pages' loads answered (not logged in)
    auto* sidebar = w.findChild<QListWidget*>("sidebar");
    QVERIFY(sidebar);
    QCOMPARE(sidebar->currentItem()->text(), QStringLiteral("Dashboard"));
    checkTabOrder(&w, {"sidebar", "window", "replicaTable"});

    const auto press = [&](Qt::Key key) {
        QTest::keyClick(QApplication::focusWidget() ? QApplication::focusWidget() : &w, key, Qt::ControlModifier);
        QApplication::processEvents();
    };
    const auto focusName = [] { return nameOf(QApplication::focusWidget()); };
    press(Qt::Key_6);
    QCOMPARE(sidebar->currentItem()->text(), QStringLiteral("Audit log"));
    QCOMPARE(focusName(), QStringLiteral("filter"));
    press(Qt::Key_4);
    QCOMPARE(sidebar->currentItem()->text(), QStringLiteral("Agents"));
    QCOMPARE(focusName(), QStringLiteral("refresh"));
    press(Qt::Key_5); // Accounts: disabled for this session
    QCOMPARE(sidebar->currentItem()->text(), QStringLiteral("Agents"));
    press(Qt::Key_3);
    QCOMPARE(sidebar->currentItem()->text(), QStringLiteral("Algorithm"));
    press(Qt::Key_1);
    QCOMPARE(sidebar->currentItem()->text(), QStringLiteral("Dashboard"));
    QCOMPARE(focusName(), QStringLiteral("window"));
    press(Qt::Key_0);
    QCOMPARE(focusName(), QStringLiteral("sidebar"));
    QTest::keyClick(sidebar, Qt::Key_Down);
    QCOMPARE(sidebar->currentItem()->text(), QStringLiteral("Replicas"));
    // The Go menu lists every page with its shortcut, for those who look for them.
    const QStringList titles = w.pageTitles();
    for (int i = 0; i < titles.size(); ++i) {
        auto* go = w.findChild<QAction*>(QStringLiteral("go%1").arg(i + 1));
        QVERIFY(go);
        QCOMPARE(go->text(), titles.at(i));
        QCOMPARE(go->shortcut(), QKeySequence(Qt::CTRL | Qt::Key(Qt::Key_1 + i)));
    }
}

QTEST_MAIN(TstConsoleKeyboard)
#include "tst_console_keyboard.moc"
