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

#include <QApplication>
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
    sidebar_->setFixedWidth(170);
    sidebar_->setSpacing(4);
    pages_ = new QStackedWidget(this);
    auto* central = new QWidget(this);
    auto* layout = new QHBoxLayout(central);
    layout->addWidget(sidebar_);
    layout->addWidget(pages_, 1);
    setCentralWidget(central);
    connect(sidebar_, &QListWidget::currentRowChanged, pages_, &QStackedWidget::setCurrentIndex);

    const bool admin = db.session().isAdmin();
    accounts_ = new AccountsPage(db, this);
    addPage(tr("Accounts"), accounts_, admin, tr("Only admins manage accounts."));
    audit_ = new AuditPage(db, this);
    addPage(tr("Audit log"), audit_);
    if (admin)
        accounts_->reload();
    audit_->reload();
    // The agent pages: the Agents list (watched live by agents_) and the current agent's Dashboard.
    agents_ = new AgentHub(this);
    auto* agentsPage = new AgentsPage(db, *agents_, this);
    addPage(tr("Agents"), agentsPage);
    addPage(tr("Dashboard"), new DashboardPage(*agents_, this));
    // Replicas and Algorithm steer the current agent. Viewers open them too: they see
    // everything, with the steering controls disabled.
    steer_ = new SteerController({}, this);
    const bool steer = maySteer(db.session().role);
    addPage(tr("Replicas"), new ReplicasPage(*steer_, steer, this));
    addPage(tr("Algorithm"), new AlgorithmPage(*steer_, steer, this));
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
    agentsPage->reload();
    sidebar_->setCurrentRow(admin ? 0 : 1);

    auto* session = new QLabel(tr("%1 (%2) on %3")
                                   .arg(db.session().username, db.session().role, db.settings().summary()),
                               this);
    session->setObjectName(QStringLiteral("session"));
    auto* busy = new BusyIndicator(db, this);
    busy->setMaximumWidth(120);
    statusBar()->addWidget(session, 1);
    statusBar()->addPermanentWidget(busy);

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
