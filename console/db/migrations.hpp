#pragma once
// The versioned SQL migrations compiled into the console (resources/sql/NNNN_name.sql).
// Each is applied in its own transaction together with its row in dlb.schema_migrations, under a
// lock on that table, so re-running (or two consoles bootstrapping at once) applies nothing twice.

#include <QList>
#include <QString>

class QSqlDatabase;

namespace dlb::console {

struct Migration {
    int version = 0;
    QString name;     // file name, e.g. 0001_schema.sql
    QString resource; // :/sql/0001_schema.sql
};

struct MigrationResult {
    int applied = 0;
    QString error; // empty on success; names the migration that failed
};

// Registers the compiled-in resources (migrations and icons) of this static library; idempotent.
void registerBundledResources();

// The bundled migrations in version order. A file name that is not NNNN_words.sql, or a version
// that repeats, is a build defect and is reported as an error.
QList<Migration> bundledMigrations(QString* error);
int latestMigrationVersion();

// The highest applied version, 0 when the schema is absent; -1 and *error on a failed query.
int appliedMigrationVersion(QSqlDatabase& db, QString* error);

// Needs the rights to create schemas and roles (the database owner with CREATEROLE).
MigrationResult applyMigrations(QSqlDatabase& db);

} // namespace dlb::console
