#pragma once
// Where the console's database is: host, port, database and TLS mode. Remembered with QSettings;
// the password never is.

#include <QString>
#include <QStringList>

class QSettings;

namespace dlb::console {

constexpr int kDefaultPgPort = 5432;
constexpr int kMaxPort = 65535; // TCP
// libpq's connect_timeout: long enough for a slow TLS handshake, short enough that a wrong host
// is reported while the user still waits for it.
constexpr int kConnectTimeoutSeconds = 10;

struct ConnectionSettings {
    QString host = QStringLiteral("localhost");
    int port = kDefaultPgPort;
    QString database = QStringLiteral("dlb");
    QString sslmode = QStringLiteral("prefer");

    // libpq's sslmode values, weakest first.
    static const QStringList& sslModes();
    // Empty when usable, else what is wrong and how to fix it.
    QString problem() const;
    QString summary() const; // host:port/database (sslmode)

    static ConnectionSettings load(QSettings& settings);
    void save(QSettings& settings) const;
};

} // namespace dlb::console
