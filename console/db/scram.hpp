#pragma once
// A SCRAM-SHA-256 verifier for a password, computed by libpq's PQencryptPasswordConn on the
// database connection itself, so the plain password never leaves the console.

#include <QByteArray>
#include <QString>

class QSqlDatabase;
typedef struct pg_conn PGconn; // as libpq-fe.h declares it

namespace dlb::console {

struct Verifier {
    QByteArray value; // "SCRAM-SHA-256$..."; empty on failure
    QString error;
};

// The libpq connection under an open QPSQL connection, or nullptr. Same thread rule as below.
PGconn* pgConnection(const QSqlDatabase& db);

// Call only in the thread that owns `db` (an open QPSQL connection).
Verifier scramVerifier(const QSqlDatabase& db, const QString& username, const QString& password);

} // namespace dlb::console
