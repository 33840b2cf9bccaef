#include "db/scram.hpp"

#include <QSqlDatabase>
#include <QSqlDriver>
#include <QVariant>

#include <libpq-fe.h>

#include <cstring>

namespace dlb::console {

PGconn* pgConnection(const QSqlDatabase& db)
{
    if (!db.isOpen())
        return nullptr;
    // QPSQL exposes its libpq connection as a QVariant holding a PGconn*. Qt's documentation spells
    // the type name "PGconn*"; Qt 6.4 built by GCC reports the struct's own name, "pg_conn*".
    const QVariant handle = db.driver()->handle();
    const char* type = handle.isValid() ? handle.typeName() : "";
    if (std::strcmp(type, "PGconn*") != 0 && std::strcmp(type, "pg_conn*") != 0)
        return nullptr;
    return *static_cast<PGconn* const*>(handle.constData());
}

Verifier scramVerifier(const QSqlDatabase& db, const QString& username, const QString& password)
{
    Verifier out;
    PGconn* conn = pgConnection(db);
    if (conn == nullptr) {
        out.error = QStringLiteral("No open PostgreSQL connection to compute the password verifier with. Log in again.");
        return out;
    }
    QByteArray pw = password.toUtf8();
    const QByteArray user = username.toUtf8();
    // The algorithm is named, not taken from the server's password_encryption, so a server still
    // set to md5 cannot downgrade what the console stores.
    char* verifier = PQencryptPasswordConn(conn, pw.constData(), user.constData(), "scram-sha-256");
    pw.fill('\0');
    if (verifier == nullptr) {
        out.error = QStringLiteral("libpq could not compute the SCRAM verifier: %1")
                        .arg(QString::fromUtf8(PQerrorMessage(conn)).trimmed());
        return out;
    }
    out.value = QByteArray(verifier);
    PQfreemem(verifier);
    return out;
}

} // namespace dlb::console
