// dlb-console: log in (or set up the database), then the main window; logging out returns to
// the login dialog.
#include "db/database.hpp"
#include "ui/login_dialog.hpp"
#include "ui/main_window.hpp"

#include <QApplication>
#include <QCommandLineParser>
#include <QIcon>
#include <QSettings>

#include <cstdlib>
#include <functional>
#include <memory>

using namespace dlb::console;

namespace {

void describeApp()
{
    QCoreApplication::setApplicationName(QStringLiteral("dlb-console"));
    QCoreApplication::setOrganizationName(QStringLiteral("dlb"));
    QCoreApplication::setApplicationVersion(QStringLiteral(DLB_VERSION));
}

// --version and --help answer without a display, so they work over ssh and in scripts; any other
// argument is an error, also reported without one.
void answerCommandLine(int argc, char** argv)
{
    QCoreApplication app(argc, argv);
    describeApp();
    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("The desktop console of dlb. Remembers the database connection (never a password) in %1")
            .arg(QSettings().fileName()));
    parser.addHelpOption();
    parser.addVersionOption();
    parser.process(app); // exits for --help, --version and unknown options
    if (!parser.positionalArguments().isEmpty()) {
        qCritical("dlb-console takes no arguments; see --help");
        std::exit(2);
    }
}

} // namespace

int main(int argc, char** argv)
{
    answerCommandLine(argc, argv);
    QApplication app(argc, argv);
    describeApp();

    Database db; // first: it registers the bundled resources, the icon among them
    QApplication::setWindowIcon(QIcon(QStringLiteral(":/icons/dlb.svg")));
    QSettings settings;
    std::unique_ptr<MainWindow> window;
    auto showLogin = [&]() -> bool {
        LoginDialog login(db, settings);
        return login.exec() == QDialog::Accepted;
    };
    if (!showLogin())
        return 0;
    std::function<void()> openMain = [&] {
        window = std::make_unique<MainWindow>(db);
        QObject::connect(window.get(), &MainWindow::logoutRequested, &app, [&] {
            window->hide();
            window.release()->deleteLater();
            db.logout();
            if (showLogin())
                openMain();
            else
                app.quit();
        });
        window->show();
    };
    openMain();
    return app.exec();
}
