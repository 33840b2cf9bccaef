#pragma once
// The console's main window: a sidebar of pages beside the page itself, the session in the
// status bar. The agent pages share one AgentHub (agents()): it keeps a connection and a stats
// stream per agent in dlb.agents and says which agent is current.

#include <QMainWindow>
#include <QPointer>

class QLabel;
class QMenu;
class QListWidget;
class QStackedWidget;

namespace dlb::console {

class AccountsPage;
class AgentHub;
class AuditPage;
class Database;
class SteerController;
namespace client {
class AgentConnection;
}

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    MainWindow(Database& db, QWidget* parent = nullptr);
    // A page in the sidebar; a disabled one says why in its tooltip.
    void addPage(const QString& title, QWidget* page, bool enabled = true, const QString& whyDisabled = {});
    void showPage(const QString& title);
    // The sidebar's titles, top to bottom (Ctrl+1 opens the first).
    QStringList pageTitles() const;
    // The agents in dlb.agents, live: the current one is what the agent pages show.
    AgentHub& agents() { return *agents_; }
    // The agent the Replicas and Algorithm pages steer (nullptr: none); they read its pools at once.
    void setSteeredAgent(client::AgentConnection* connection);

signals:
    void logoutRequested();
    // The user closed the window (not hide()): the console is done.
    void closed();

protected:
    void closeEvent(QCloseEvent* event) override;

private:
    // Opens the page in row `row` (when enabled) and puts the focus on its first control.
    void openRow(int row);

    Database& db_;
    AgentHub* agents_;
    QListWidget* sidebar_;
    QMenu* go_;
    bool userChosePage_ = false; // the first agents list must not move someone who moved already
    QStackedWidget* pages_;
    AccountsPage* accounts_ = nullptr;
    AuditPage* audit_;
    SteerController* steer_;
    QPointer<client::AgentConnection> steered_;
};

} // namespace dlb::console
