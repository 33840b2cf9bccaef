#include "ui/main_window.hpp"

#include "db/database.hpp"
#include "models/agents_hub.hpp"
#include "models/steer_agent_transport.hpp"
#include "ui/accounts_page.hpp"
#include "ui/agents_page.hpp"
#include "ui/algorithm_page.hpp"
#include "ui/audit_page.hpp"
#include "ui/busy_indicator.hpp"
#include "ui/dashboard_page.hpp"
#include "ui/replicas_page.hpp"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QHBoxLayout>
#include <QLabel>
#include <QListWidget>
#include <QMenuBar>
#include <QMessageBox>
#include <QStackedWidget>
#include <QStatusBar>

namespace dlb::console {

MainWindow::MainWindow(Database& db, QWidget* parent) : QMainWindow(parent), db_(db)
{
    setWindowTitle(tr("dlb console — %1").arg(db.settings().summary()));
    resize(1280, 800);

    sidebar_ = new QListWidget(this);
    sidebar_->setObjectName(QStringLiteral("sidebar"));
    sidebar_->setAccessibleName(tr("Pages"));
    sidebar_->setFixedWidth(170);
    sidebar_->setSpacing(4);
    // Reached with Tab like any control (and with Ctrl+0); arrows move between pages.
    sidebar_->setFocusPolicy(Qt::StrongFocus);
    pages_ = new QStackedWidget(this);
    auto* central = new QWidget(this);
    auto* layout = new QHBoxLayout(central);
    layout->addWidget(sidebar_);
    layout->addWidget(pages_, 1);
    setCentralWidget(central);
    connect(sidebar_, &QListWidget::currentRowChanged, pages_, &QStackedWidget::setCurrentIndex);

    // The pages in the order an operator uses them most: the current agent's Dashboard, then
    // steering it (Replicas, Algorithm), the list of agents, and the admin's pages last.
    const bool admin = db.session().isAdmin();
    agents_ = new AgentHub(this);
    addPage(tr("Dashboard"), new DashboardPage(*agents_, this));
    // Replicas and Algorithm steer the current agent. Viewers open them too: they see
    // everything, with the steering controls disabled.
    steer_ = new SteerController({}, this);
    const bool steer = maySteer(db.session().role);
    addPage(tr("Replicas"), new ReplicasPage(*steer_, steer, this));
    addPage(tr("Algorithm"), new AlgorithmPage(*steer_, steer, this));
    auto* agentsPage = new AgentsPage(db, *agents_, this);
    addPage(tr("Agents"), agentsPage);
    accounts_ = new AccountsPage(db, this);
    addPage(tr("Accounts"), accounts_, admin, tr("Only admins manage accounts."));
    audit_ = new AuditPage(db, this);
    addPage(tr("Audit log"), audit_);
    if (admin)
        accounts_->reload();
    audit_->reload();
    connect(agents_, &AgentHub::currentChanged, this,
            [this] { setSteeredAgent(agents_->currentConnection()); });
    // Every change made to an agent goes to the audit log; a row the database refuses is said.
    connect(steer_, &SteerController::changeApplied, this, [this](const QString& action, const QString& detail) {
        if (!agents_->current().isEmpty())
            db_.audit(agents_->current(), action, detail);
    });
    connect(&db_, &Database::auditWritten, this, [this](const ChangeResult& r) {
        if (!r.ok)
            statusBar()->showMessage(tr("The change was made, but the audit log refused its row: %1").arg(r.message));
    });
    // Opens on the Dashboard; with no agent configured there is nothing to watch yet, so the
    // first answer moves to Agents, where one is added (unless the user has moved already).
    sidebar_->setCurrentRow(0);
    connect(&db_, &Database::agentsLoaded, this, [this](const QList<AgentRecord>& agents, const QString& error) {
        if (!userChosePage_ && agents.isEmpty() && error.isEmpty())
            showPage(tr("Agents"));
        userChosePage_ = true; // only the first answer decides
    });
    connect(sidebar_, &QListWidget::currentRowChanged, this, [this] { userChosePage_ = true; });
    agentsPage->reload();

    auto* session = new QLabel(tr("%1 (%2) on %3")
                                   .arg(db.session().username, db.session().role, db.settings().summary()),
                               this);
    session->setObjectName(QStringLiteral("session"));
    auto* busy = new BusyIndicator(db, this);
    busy->setMaximumWidth(120);
    statusBar()->addWidget(session, 1);
    statusBar()->addPermanentWidget(busy);

    // Go: every page by keyboard, Ctrl+1.. in sidebar order, Ctrl+0 for the sidebar itself.
    go_ = menuBar()->addMenu(tr("&Go"));
    auto* toSidebar = go_->addAction(tr("&Sidebar"), this, [this] { sidebar_->setFocus(Qt::ShortcutFocusReason); });
    toSidebar->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_0));
    go_->addSeparator();
    for (int row = 0; row < sidebar_->count(); ++row) {
        QListWidgetItem* item = sidebar_->item(row);
        QAction* open = go_->addAction(item->text(), this, [this, row] { openRow(row); });
        open->setObjectName(QStringLiteral("go%1").arg(row + 1));
        if (row < 9)
            open->setShortcut(QKeySequence(Qt::CTRL | Qt::Key(Qt::Key_1 + row)));
        open->setEnabled(item->flags() & Qt::ItemIsEnabled);
        if (row < 9)
            item->setToolTip(item->toolTip().isEmpty() ? open->shortcut().toString(QKeySequence::NativeText)
                                                       : item->toolTip());
    }
    auto* menu = menuBar()->addMenu(tr("&Session"));
    menu->addAction(tr("&Log out"), this, [this] { emit logoutRequested(); });
    menu->addAction(tr("&Quit"), QKeySequence::Quit, qApp, &QApplication::quit);
    auto* help = menuBar()->addMenu(tr("&Help"));
    help->addAction(tr("&About dlb console"), this, [this] {
        QMessageBox::about(this, tr("About dlb console"),
                           tr("dlb console %1\nThe desktop console of dlb, the load balancer.").arg(QStringLiteral(DLB_VERSION)));
    });
}

void MainWindow::addPage(const QString& title, QWidget* page, bool enabled, const QString& whyDisabled)
{
    auto* item = new QListWidgetItem(title, sidebar_);
    if (!enabled) {
        item->setFlags(item->flags() & ~(Qt::ItemIsEnabled | Qt::ItemIsSelectable));
        item->setToolTip(whyDisabled);
        page->setEnabled(false);
    }
    pages_->addWidget(page);
}

void MainWindow::closeEvent(QCloseEvent* event)
{
    QMainWindow::closeEvent(event);
    if (event->isAccepted())
        emit closed();
}

QStringList MainWindow::pageTitles() const
{
    QStringList titles;
    for (int row = 0; row < sidebar_->count(); ++row)
        titles << sidebar_->item(row)->text();
    return titles;
}

void MainWindow::openRow(int row)
{
    QListWidgetItem* item = sidebar_->item(row);
    if (!item || !(item->flags() & Qt::ItemIsEnabled))
        return;
    userChosePage_ = true;
    sidebar_->setCurrentRow(row);
    // The page's first control in the tab chain, else the sidebar keeps the focus.
    QWidget* page = pages_->widget(row);
    for (QWidget* w = page->nextInFocusChain(); w && w != page; w = w->nextInFocusChain()) {
        if (!page->isAncestorOf(w))
            break;
        if (w->isEnabled() && w->isVisibleTo(page) && (w->focusPolicy() & Qt::TabFocus)) {
            w->setFocus(Qt::ShortcutFocusReason);
            return;
        }
    }
    sidebar_->setFocus(Qt::ShortcutFocusReason);
}

void MainWindow::setSteeredAgent(client::AgentConnection* connection)
{
    // The hub says "current changed" on every reload of the agents list: the same connection
    // keeps what the pages read (and the Algorithm page's edits), and is only read again.
    if (!connection || steered_.data() != connection) {
        steered_ = connection;
        steer_->setTransport(connection ? agentTransport(connection) : SteerTransport{});
    }
    if (connection)
        steer_->refresh();
}

void MainWindow::showPage(const QString& title)
{
    const auto items = sidebar_->findItems(title, Qt::MatchExactly);
    if (!items.isEmpty())
        sidebar_->setCurrentItem(items.front());
}

} // namespace dlb::console
