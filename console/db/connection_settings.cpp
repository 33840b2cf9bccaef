#include "db/connection_settings.hpp"

#include <QSettings>

namespace dlb::console {

const QStringList& ConnectionSettings::sslModes()
{
    static const QStringList modes{QStringLiteral("disable"), QStringLiteral("allow"),
                                   QStringLiteral("prefer"), QStringLiteral("require"),
                                   QStringLiteral("verify-ca"), QStringLiteral("verify-full")};
    return modes;
}

QString ConnectionSettings::problem() const
{
    if (host.trimmed().isEmpty())
        return QStringLiteral("Enter the PostgreSQL server's host name or address.");
    if (port < 1 || port > kMaxPort)
        return QStringLiteral("The port must be between 1 and %1.").arg(kMaxPort);
    if (database.trimmed().isEmpty())
        return QStringLiteral("Enter the name of the database that holds the dlb schema.");
    if (!sslModes().contains(sslmode))
        return QStringLiteral("TLS mode must be one of: %1.").arg(sslModes().join(QStringLiteral(", ")));
    return {};
}

QString ConnectionSettings::summary() const
{
    return QStringLiteral("%1:%2/%3 (TLS %4)").arg(host).arg(port).arg(database, sslmode);
}

ConnectionSettings ConnectionSettings::load(QSettings& settings)
{
    ConnectionSettings s;
    settings.beginGroup(QStringLiteral("database"));
    s.host = settings.value(QStringLiteral("host"), s.host).toString();
    s.port = settings.value(QStringLiteral("port"), s.port).toInt();
    s.database = settings.value(QStringLiteral("name"), s.database).toString();
    s.sslmode = settings.value(QStringLiteral("sslmode"), s.sslmode).toString();
    settings.endGroup();
    return s;
}

void ConnectionSettings::save(QSettings& settings) const
{
    settings.beginGroup(QStringLiteral("database"));
    settings.setValue(QStringLiteral("host"), host);
    settings.setValue(QStringLiteral("port"), port);
    settings.setValue(QStringLiteral("name"), database);
    settings.setValue(QStringLiteral("sslmode"), sslmode);
    settings.endGroup();
}

} // namespace dlb::console
