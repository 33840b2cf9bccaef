#include "ui/agents_page.hpp"
#include "ui/page_widgets.hpp"
#include "models/status_colors.hpp"

#include "client/agent_endpoint.hpp"
#include "db/database.hpp"
#include "models/agents_hub.hpp"
#include "ui/account_form.hpp"

#include <QApplication>
#include <QDialogButtonBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QItemSelectionModel>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QPushButton>
#include <QTableView>
#include <QVBoxLayout>

namespace dlb::console {

namespace {

// dlb.agents' own limits (0001_schema.sql), checked here first so the message is ours.
constexpr int kMaxAgentName = 64;
constexpr int kMaxControlUrl = 2048;

} // namespace

AddAgentDialog::AddAgentDialog(AgentHub& hub, QWidget* parent) : QDialog(parent), hub_(hub)
{
    setWindowTitle(tr("Add an agent"));
    name_ = new QLineEdit(this);
    name_->setObjectName(QStringLiteral("agentName"));
    name_->setMaxLength(kMaxAgentName);
    name_->setPlaceholderText(tr("edge-1"));
    url_ = new QLineEdit(this);
    url_->setObjectName(QStringLiteral("agentUrl"));
    url_->setMaxLength(kMaxControlUrl);
    url_->setPlaceholderText(tr("/run/dlb/control.sock or https://host:port"));
    viewer_ = new QLineEdit(this);
    viewer_->setObjectName(QStringLiteral("viewerToken"));
    viewer_->setEchoMode(QLineEdit::Password);
    admin_ = new QLineEdit(this);
    admin_->setObjectName(QStringLiteral("adminToken"));
    admin_->setEchoMode(QLineEdit::Password);
    ca_ = new QLineEdit(this);
    ca_->setObjectName(QStringLiteral("caFile"));
    ca_->setPlaceholderText(tr("https only; empty: the system's CAs"));
    auto* browse = new QPushButton(tr("&Browse…"), this);
    auto* caRow = new QHBoxLayout;
    caRow->addWidget(ca_, 1);
    caRow->addWidget(browse);
    test_ = new QPushButton(tr("&Test connection"), this);
    test_->setObjectName(QStringLiteral("testConnection"));
    result_ = new QLabel(this);
    result_->setObjectName(QStringLiteral("testResult"));
    result_->setWordWrap(true);
    result_->setTextFormat(Qt::PlainText);
    result_->setMinimumWidth(420);

    auto* form = new QFormLayout;
    form->addRow(tr("&Name:"), name_);
    form->addRow(tr("&Control socket or URL:"), url_);
    form->addRow(tr("&Viewer token:"), viewer_);
    form->addRow(tr("&Admin token:"), admin_);
    auto* caLabel = new QLabel(tr("CA &file:"), this);
    caLabel->setBuddy(ca_);
    form->addRow(caLabel, caRow);
    auto* hint = new QLabel(tr("Tokens are the agent's control.tokens (the config holds only their SHA-256). "
                               "Viewers' consoles use the viewer token; operators and admins the admin token. "
                               "The CA file is a path on this computer, kept in its settings."),
                            this);
    hint->setWordWrap(true);
    hint->setEnabled(false);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Save | QDialogButtonBox::Cancel, this);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(hint);
    auto* testRow = new QHBoxLayout;
    testRow->addWidget(test_);
    testRow->addWidget(result_, 1);
    layout->addLayout(testRow);
    layout->addWidget(buttons);

    connect(buttons, &QDialogButtonBox::accepted, this, &AddAgentDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(test_, &QPushButton::clicked, this, &AddAgentDialog::test);
    connect(browse, &QPushButton::clicked, this, [this] {
        const QString f = QFileDialog::getOpenFileName(this, tr("CA certificates (PEM)"), {},
                                                       tr("PEM files (*.pem *.crt);;All files (*)"));
        if (!f.isEmpty())
            ca_->setText(f);
    });
    connect(&hub_, &AgentHub::testFinished, this, [this](bool ok, const QString& message) {
        test_->setEnabled(true);
        result_->setStyleSheet(ok ? QStringLiteral("color: %1;").arg(statusColor(Status::Good).name()) : errorStyleSheet());
        result_->setText(message);
    });
    setUpKeyboard(this);
}

QString AddAgentDialog::name() const { return name_->text().trimmed(); }
QString AddAgentDialog::controlUrl() const { return url_->text().trimmed(); }
QString AddAgentDialog::viewerToken() const { return viewer_->text(); }
QString AddAgentDialog::adminToken() const { return admin_->text(); }
QString AddAgentDialog::caFile() const { return ca_->text().trimmed(); }

QStringList AddAgentDialog::problems() const
{
    QStringList out;
    if (name().isEmpty())
        out << tr("Name: give the agent a name (1 to %1 characters).").arg(kMaxAgentName);
    QString error;
    if (controlUrl().isEmpty())
        out << tr("Control socket or URL: required.");
    else if (!client::AgentEndpoint::parse(controlUrl(), {}, caFile(), &error))
        out << tr("Control socket or URL: %1.").arg(error);
    if (viewerToken().isEmpty() && adminToken().isEmpty())
        out << tr("Tokens: give at least one; without a token the agent answers only /healthz.");
    for (const auto& [label, token] : {std::pair{tr("Viewer token"), viewerToken()}, std::pair{tr("Admin token"), adminToken()}})
        if (!client::AgentEndpoint::validToken(token.toUtf8()))
            out << tr("%1: only letters, digits and -._~+/ (then '=' padding).").arg(label);
    return out;
}

void AddAgentDialog::test()
{
    const QStringList p = problems();
    // A test needs the URL and one token, not the name.
    QStringList blocking;
    for (const QString& line : p)
        if (!line.startsWith(tr("Name:")))
            blocking << line;
    if (!blocking.isEmpty()) {
        result_->setStyleSheet(errorStyleSheet());
        result_->setText(blocking.join(QLatin1Char('\n')));
        return;
    }
    test_->setEnabled(false);
    result_->setStyleSheet({});
    result_->setText(tr("Testing…"));
    hub_.testConnection(controlUrl(), (adminToken().isEmpty() ? viewerToken() : adminToken()).toUtf8(), caFile());
}

void AddAgentDialog::accept()
{
    const QStringList p = problems();
    if (!p.isEmpty()) {
        result_->setStyleSheet(errorStyleSheet());
        result_->setText(p.join(QLatin1Char('\n')));
        return;
    }
    QDialog::accept();
}

AgentsPage::AgentsPage(Database& db, AgentHub& hub, QWidget* parent) : QWidget(parent), db_(db), hub_(hub)
{
    view_ = new QTableView(this);
    view_->setObjectName(QStringLiteral("agents"));
    view_->setModel(hub_.model());
    view_->setSelectionBehavior(QAbstractItemView::SelectRows);
    view_->setSelectionMode(QAbstractItemView::SingleSelection);
    view_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    view_->setAlternatingRowColors(true);
    view_->verticalHeader()->hide();
    view_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    view_->horizontalHeader()->setStretchLastSection(true);

    add_ = new QPushButton(tr("&Add agent…"), this);
    add_->setObjectName(QStringLiteral("addAgent"));
    remove_ = new QPushButton(tr("&Remove"), this);
    remove_->setObjectName(QStringLiteral("removeAgent"));
    test_ = new QPushButton(tr("&Test connection"), this);
    test_->setObjectName(QStringLiteral("testAgent"));
    current_ = new QPushButton(tr("&Show this agent"), this);
    current_->setObjectName(QStringLiteral("makeCurrent"));
    current_->setToolTip(tr("The Dashboard, Replicas and Algorithm pages show the current agent (in bold)."));
    auto* refresh = new QPushButton(tr("Re&fresh"), this);
    refresh->setObjectName(QStringLiteral("refresh"));
    auto* buttons = new QHBoxLayout;
    for (QPushButton* b : {current_, test_, add_, remove_})
        buttons->addWidget(b);
    buttons->addStretch(1);
    buttons->addWidget(refresh);
    // Reading order: the buttons above the table, left to right, then the table.
    setTabChain({current_, test_, add_, remove_, refresh, view_});

    status_ = new QLabel(this);
    status_->setObjectName(QStringLiteral("agentsStatus"));
    status_->setWordWrap(true);
    status_->setTextFormat(Qt::PlainText);

    const bool admin = db_.session().isAdmin();
    auto* title = new QLabel(tr("<h2>Agents</h2>Every agent listed here is watched live; double-click one "
                                "to show it on the other pages.%1")
                                 .arg(admin ? QString() : tr(" Only admins add and remove agents.")),
                             this);
    title->setWordWrap(true);
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(title);
    layout->addLayout(buttons);
    layout->addWidget(view_, 1);
    layout->addWidget(status_);

    // Controls a role may not use are disabled, and say why.
    if (!admin) {
        add_->setEnabled(false);
        add_->setToolTip(tr("Only admins add agents."));
    }
    connect(add_, &QPushButton::clicked, this, &AgentsPage::add);
    connect(remove_, &QPushButton::clicked, this, &AgentsPage::remove);
    connect(test_, &QPushButton::clicked, this, &AgentsPage::testSelected);
    connect(current_, &QPushButton::clicked, this, &AgentsPage::makeCurrent);
    connect(view_, &QTableView::doubleClicked, this, &AgentsPage::makeCurrent);
    connect(refresh, &QPushButton::clicked, this, &AgentsPage::reload);
    connect(view_->selectionModel(), &QItemSelectionModel::selectionChanged, this, &AgentsPage::updateButtons);
    connect(hub_.model(), &QAbstractItemModel::modelReset, this, &AgentsPage::updateButtons);
    connect(&db_, &Database::agentsLoaded, this, [this](const QList<AgentRecord>& agents, const QString& error) {
        if (!error.isEmpty()) {
            status_->setStyleSheet(errorStyleSheet());
            status_->setText(tr("Could not load the agents: %1").arg(error));
            return;
        }
        const QString selected = selectedName();
        hub_.setAgents(agents);
        const int row = hub_.model()->rowOf(selected);
        if (row >= 0)
            view_->selectRow(row);
        if (agents.isEmpty())
            status_->setText(tr("No agent yet.%1").arg(db_.session().isAdmin() ? tr(" Add one with “Add agent…”.")
                                                                              : tr(" An admin adds them.")));
    });
    connect(&db_, &Database::agentChangeFinished, this, [this](const ChangeResult& r) {
        status_->setStyleSheet(r.ok ? QString() : errorStyleSheet());
        status_->setText(r.message);
        if (r.ok)
            reload();
    });
    connect(&hub_, &AgentHub::testFinished, this, [this](bool ok, const QString& message) {
        if (!isVisible() || QApplication::activeModalWidget())
            return; // the add dialog's own test
        status_->setStyleSheet(ok ? QStringLiteral("color: %1;").arg(statusColor(Status::Good).name()) : errorStyleSheet());
        status_->setText(message);
    });
    updateButtons();
    setUpKeyboard(this);
}

void AgentsPage::reload() { db_.loadAgents(); }

QString AgentsPage::selectedName() const
{
    const auto rows = view_->selectionModel()->selectedRows();
    return rows.isEmpty() ? QString() : hub_.model()->agent(rows.front().row()).name;
}

void AgentsPage::updateButtons()
{
    const bool any = !selectedName().isEmpty();
    remove_->setEnabled(any && db_.session().isAdmin());
    remove_->setToolTip(db_.session().isAdmin() ? QString() : tr("Only admins remove agents."));
    test_->setEnabled(any);
    current_->setEnabled(any);
}

void AgentsPage::add()
{
    AddAgentDialog dialog(hub_, this);
    if (dialog.exec() != QDialog::Accepted)
        return;
    AgentRecord r;
    r.name = dialog.name();
    r.controlUrl = dialog.controlUrl();
    r.viewerToken = dialog.viewerToken();
    r.adminToken = dialog.adminToken();
    AgentHub::setCaFileFor(r.name, dialog.caFile());
    status_->setStyleSheet({});
    status_->setText(tr("Adding %1…").arg(r.name));
    db_.addAgent(r);
}

void AgentsPage::remove()
{
    const QString name = selectedName();
    if (name.isEmpty())
        return;
    if (QMessageBox::question(this, tr("Remove agent"),
                              tr("Remove %1 from the console? The agent itself keeps running; only this list "
                                 "forgets it (for every admin).")
                                  .arg(name))
        != QMessageBox::Yes)
        return;
    db_.removeAgent(name);
}

void AgentsPage::testSelected()
{
    const QString name = selectedName();
    const int row = hub_.model()->rowOf(name);
    if (row < 0)
        return;
    const AgentRecord& a = hub_.model()->agent(row);
    status_->setStyleSheet({});
    status_->setText(tr("Testing %1…").arg(name));
    hub_.testConnection(a.controlUrl, (a.adminToken.isEmpty() ? a.viewerToken : a.adminToken).toUtf8(),
                        AgentHub::caFileFor(name));
}

void AgentsPage::makeCurrent()
{
    const QString name = selectedName();
    if (!name.isEmpty())
        hub_.setCurrent(name);
}

} // namespace dlb::console
