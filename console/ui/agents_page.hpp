#pragma once
// The Agents page: the agents in dlb.agents, each with a compact live status row (so several
// are watched side by side), the current one (the one the Dashboard, Replicas and Algorithm
// pages show) in bold. Admins add and remove agents (audited by the database); anyone may test
// a connection and choose the current agent. The database work goes through Database (off the
// GUI thread), the network through AgentHub.

#include <QDialog>
#include <QWidget>

class QLabel;
class QLineEdit;
class QPushButton;
class QTableView;

namespace dlb::console {

class AgentHub;
class Database;

// Name, control URL or socket, tokens, and (for https) a CA file on this machine; "Test"
// runs GET /v1/status with them and shows what came back.
class AddAgentDialog : public QDialog {
    Q_OBJECT
public:
    AddAgentDialog(AgentHub& hub, QWidget* parent = nullptr);
    QString name() const;
    QString controlUrl() const;
    QString viewerToken() const;
    QString adminToken() const;
    QString caFile() const;
    // Problems with what is typed, one line each; empty when it may be saved.
    QStringList problems() const;

    void accept() override;

private:
    void test();

    AgentHub& hub_;
    QLineEdit* name_;
    QLineEdit* url_;
    QLineEdit* viewer_;
    QLineEdit* admin_;
    QLineEdit* ca_;
    QPushButton* test_;
    QLabel* result_;
};

class AgentsPage : public QWidget {
    Q_OBJECT
public:
    AgentsPage(Database& db, AgentHub& hub, QWidget* parent = nullptr);
    void reload();

private:
    void updateButtons();
    QString selectedName() const;
    void add();
    void remove();
    void testSelected();
    void makeCurrent();

    Database& db_;
    AgentHub& hub_;
    QTableView* view_;
    QPushButton* add_;
    QPushButton* remove_;
    QPushButton* test_;
    QPushButton* current_;
    QLabel* status_;
};

} // namespace dlb::console
