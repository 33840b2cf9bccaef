#pragma once
// The throwaway cluster pg_virtualenv made for this test run (see tests/console/CMakeLists.txt).

#include "db/connection_settings.hpp"

#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QString>
#include <QtGlobal>

namespace dlb::console::test {

struct PgEnv {
    QString host = qEnvironmentVariable("PGHOST");
    int port = qEnvironmentVariableIntValue("PGPORT");
    QString superuser = qEnvironmentVariable("PGUSER");
    QString password = qEnvironmentVariable("PGPASSWORD");

    // Why this process cannot use the cluster; empty when it can.
    QString problem() const
    {
        if (host.isEmpty() || port == 0 || superuser.isEmpty() || password.isEmpty())
            return QStringLiteral("PGHOST/PGPORT/PGUSER/PGPASSWORD unset: run this test through ctest, "
                                  "which wraps it in pg_virtualenv");
        return {};
    }

    ConnectionSettings settings(const QString& database) const
    {
        ConnectionSettings s;
        s.host = host;
        s.port = port;
        s.database = database;
        s.sslmode = QStringLiteral("prefer");
        return s;
    }

    // A QPSQL connection named `name`; check isOpen() and lastError() on the result.
    QSqlDatabase open(const QString& name, const QString& database, const QString& user,
                      const QString& pass) const
    {
        QSqlDatabase db = QSqlDatabase::addDatabase(QStringLiteral("QPSQL"), name);
        db.setHostName(host);
        db.setPort(port);
        db.setDatabaseName(database);
        db.setUserName(user);
        db.setPassword(pass);
        db.open();
        return db;
    }
};

} // namespace dlb::console::test
