#pragma once
// The console's screens in turn: the login dialog, then the main window; logging out, or losing
// the database session, returns to the login dialog. The connection settings stay (QSettings,
// read again by the dialog); the password never does: each login dialog starts without one.
//
// A lost session closes the main window with the agents it watched: their tokens were read under
// that session, and every change to an agent must be written to the audit log through it, so a
// window that kept steering without it would act unrecorded. Watching alone would not be wrong,
// but a window half alive behind the login dialog is more confusing than one that comes back,
// with its agents, as soon as the admin has logged in again.

#include <QObject>

#include <memory>

class QSettings;

namespace dlb::console {

class Database;
class LoginDialog;
class MainWindow;

class ConsoleFlow : public QObject {
    Q_OBJECT
public:
    ConsoleFlow(Database& db, QSettings& settings, QObject* parent = nullptr);
    ~ConsoleFlow() override;
    Q_DISABLE_COPY_MOVE(ConsoleFlow)

    // Shows the login dialog.
    void start();
    // What is on screen: one of the two (the other nullptr), or neither once finished().
    LoginDialog* loginDialog() const { return login_.get(); }
    MainWindow* mainWindow() const { return window_.get(); }

signals:
    // The login was cancelled or the main window closed: the console is done.
    void finished();

private:
    void showLogin(const QString& message);
    void openMain();
    void closeMain();

    Database& db_;
    QSettings& settings_;
    std::unique_ptr<LoginDialog> login_;
    std::unique_ptr<MainWindow> window_;
};

} // namespace dlb::console
