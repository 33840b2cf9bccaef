#include "db/migrations.hpp"

#include <QDir>
#include <QFile>
#include <QRegularExpression>
#include <QSqlDatabase>
#include <QSqlError>
#include <QSqlQuery>
#include <QVariant>

// Resources in a static library must be registered by name, outside any namespace.
static void initConsoleResources() { Q_INIT_RESOURCE(dlb); }

namespace dlb::console {

namespace {

QString sqlError(const QSqlError& e) { return e.databaseText().isEmpty() ? e.text() : e.databaseText(); }

bool exec(QSqlQuery& q, const QString& sql, QString* error)
{
    if (q.exec(sql))
        return true;
    *error = sqlError(q.lastError());
    return false;
}

} // namespace

void registerBundledResources()
{
    static const bool once = (initConsoleResources(), true);
    Q_UNUSED(once);
}

QList<Migration> bundledMigrations(QString* error)
{
    registerBundledResources();
    static const QRegularExpression nameRe(QStringLiteral("^([0-9]{4})_[a-z0-9_]+\\.sql$"));
    QList<Migration> out;
    const QDir dir(QStringLiteral(":/sql"));
    for (const QString& file : dir.entryList(QDir::Files, QDir::Name)) {
        const auto m = nameRe.match(file);
        if (!m.hasMatch()) {
            *error = QStringLiteral("bundled migration %1 is not named NNNN_words.sql").arg(file);
            return {};
        }
        const int version = m.captured(1).toInt();
        if (!out.isEmpty() && out.back().version >= version) {
            *error = QStringLiteral("bundled migration %1 repeats version %2").arg(file).arg(version);
            return {};
        }
        out.push_back({version, file, dir.filePath(file)});
    }
    if (out.isEmpty())
        *error = QStringLiteral("no migrations are bundled under :/sql");
    return out;
}

int latestMigrationVersion()
{
    QString error;
    const auto all = bundledMigrations(&error);
    return all.isEmpty() ? 0 : all.back().version;
}

int appliedMigrationVersion(QSqlDatabase& db, QString* error)
{
    QSqlQuery q(db);
    if (!exec(q, QStringLiteral("SELECT to_regclass('dlb.schema_migrations') IS NOT NULL"), error) || !q.next())
        return -1;
    if (!q.value(0).toBool())
        return 0;
    if (!exec(q, QStringLiteral("SELECT coalesce(max(version), 0) FROM dlb.schema_migrations"), error) || !q.next())
        return -1;
    return q.value(0).toInt();
}

MigrationResult applyMigrations(QSqlDatabase& db)
{
    MigrationResult result;
    const auto migrations = bundledMigrations(&result.error);
    if (!result.error.isEmpty())
        return result;
    for (const Migration& m : migrations) {
        QFile file(m.resource);
        if (!file.open(QIODevice::ReadOnly)) {
            result.error = QStringLiteral("cannot read bundled migration %1").arg(m.name);
            return result;
        }
        const QString sql = QString::fromUtf8(file.readAll());
        if (!db.transaction()) {
            result.error = QStringLiteral("cannot begin a transaction for migration %1 (%2): check the connection and "
                                          "run Set up database again")
                               .arg(m.name, sqlError(db.lastError()));
            return result;
        }
        QSqlQuery q(db);
        QString error;
        bool ok = exec(q, QStringLiteral("CREATE SCHEMA IF NOT EXISTS dlb"), &error)
            && exec(q, QStringLiteral("CREATE TABLE IF NOT EXISTS dlb.schema_migrations ("
                                      " version integer PRIMARY KEY,"
                                      " name text NOT NULL,"
                                      " applied_at timestamptz NOT NULL DEFAULT now(),"
                                      " applied_by text NOT NULL DEFAULT session_user)"),
                    &error)
            // Conflicts with itself: a second bootstrap waits here, then sees the rows the first wrote.
            && exec(q, QStringLiteral("LOCK TABLE dlb.schema_migrations IN SHARE ROW EXCLUSIVE MODE"), &error);
        bool present = false;
        if (ok) {
            ok = q.prepare(QStringLiteral("SELECT 1 FROM dlb.schema_migrations WHERE version = ?"));
            q.addBindValue(m.version);
            ok = ok && q.exec();
            if (!ok)
                error = sqlError(q.lastError());
            present = ok && q.next();
        }
        if (ok && !present) {
            // The whole file in one simple-protocol query: PostgreSQL runs its statements in
            // order inside the open transaction, so no SQL splitting happens here.
            ok = exec(q, sql, &error);
            if (ok) {
                ok = q.prepare(QStringLiteral("INSERT INTO dlb.schema_migrations (version, name) VALUES (?, ?)"));
                q.addBindValue(m.version);
                q.addBindValue(m.name);
                ok = ok && q.exec();
                if (!ok)
                    error = sqlError(q.lastError());
            }
        }
        q.finish();
        if (!ok) {
            db.rollback();
            result.error = QStringLiteral("migration %1 failed and was rolled back: %2").arg(m.name, error);
            return result;
        }
        if (!db.commit()) {
            result.error = QStringLiteral("migration %1 could not commit (%2): nothing of it was applied; run Set up "
                                          "database again")
                               .arg(m.name, sqlError(db.lastError()));
            return result;
        }
        if (!present)
            ++result.applied;
    }
    return result;
}

} // namespace dlb::console
