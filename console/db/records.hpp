#pragma once
// Plain values the database worker hands to the GUI thread (copied through queued signals).

#include <QDateTime>
#include <QList>
#include <QMetaType>
#include <QString>

namespace dlb::console {

// The three account roles, as stored in dlb.accounts.role; each maps to the group role dlb_<role>.
inline const QStringList& accountRoles()
{
    static const QStringList roles{QStringLiteral("admin"), QStringLiteral("operator"),
                                   QStringLiteral("viewer")};
    return roles;
}

struct Session {
    QString username;
    QString email;
    QString role; // admin, operator or viewer
    bool isAdmin() const { return role == QLatin1String("admin"); }
};

struct Account {
    QString username;
    QString email;
    QString role;
    QDateTime created;
    QString createdBy;
    bool disabled = false;
};

struct AuditEntry {
    qint64 id = 0;
    QDateTime at;
    QString who;
    QString agent; // empty for account changes
    QString action;
    QString detail;
};

} // namespace dlb::console

Q_DECLARE_METATYPE(dlb::console::Session)
Q_DECLARE_METATYPE(dlb::console::Account)
Q_DECLARE_METATYPE(dlb::console::AuditEntry)
