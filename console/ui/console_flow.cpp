#include "ui/console_flow.hpp"

#include "db/database.hpp"
#include "ui/login_dialog.hpp"
#include "ui/main_window.hpp"

namespace dlb::console {

ConsoleFlow::ConsoleFlow(Database& db, QSettings& settings, QObject* parent)
    : QObject(parent), db_(db), settings_(settings)
{
    connect(&db_, &Database::sessionLost, this, [this](const QString& message) {
        if (!window_)
            return;
        showLogin(message); // first, so that a window is always on screen
        closeMain();
    });
}

ConsoleFlow::~ConsoleFlow() = default;

void ConsoleFlow::start()
{
    showLogin({});
}

void ConsoleFlow::showLogin(const QString& message)
{
    if (login_)
        login_.release()->deleteLater();
    login_ = std::make_unique<LoginDialog>(db_, settings_);
    if (!message.isEmpty())
        login_->showMessage(message);
    LoginDialog* dialog = login_.get();
    connect(dialog, &QDialog::accepted, this, [this, dialog] {
        if (login_.get() != dialog)
            return;
        openMain();
        login_.release()->deleteLater(); // its own signal is still being delivered
    });
    connect(dialog, &QDialog::rejected, this, [this, dialog] {
        if (login_.get() != dialog)
            return;
        login_.release()->deleteLater();
        emit finished();
    });
    login_->show();
    login_->raise();
    login_->activateWindow();
}

void ConsoleFlow::openMain()
{
    window_ = std::make_unique<MainWindow>(db_);
    connect(window_.get(), &MainWindow::logoutRequested, this, [this] {
        db_.logout();
        showLogin({});
        closeMain();
    });
    connect(window_.get(), &MainWindow::closed, this, [this] {
        closeMain();
        db_.logout();
        emit finished();
    });
    window_->show();
}

void ConsoleFlow::closeMain()
{
    if (!window_)
        return;
    window_->disconnect(this);
    window_->hide();
    window_.release()->deleteLater(); // it may be inside one of its own signals
}

} // namespace dlb::console
