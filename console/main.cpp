// dlb-console: log in (or set up the database), then the main window; logging out, or losing
// the database session, returns to the login dialog (ConsoleFlow).
#include "db/database.hpp"
#include "ui/console_flow.hpp"

#include <QApplication>
#include <QCommandLineParser>
#include <QIcon>
#include <QSettings>

#include <cstdlib>

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
    // The flow says when the console is done: between the login dialog and the main window
    // neither may be on screen for a moment, which must not end the application.
    QApplication::setQuitOnLastWindowClosed(false);
    QSettings settings;
    ConsoleFlow flow(db, settings);
    QObject::connect(&flow, &ConsoleFlow::finished, &app, &QApplication::quit, Qt::QueuedConnection);
    flow.start();
    return app.exec();
}
