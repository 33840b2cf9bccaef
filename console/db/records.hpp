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

// A row of dlb.agents. adminToken stays empty for a viewer: the column grants keep it from them.
struct AgentRecord {
    qint64 id = 0;
    QString name;
    QString controlUrl; // a socket path or http(s)://HOST:PORT (client::AgentEndpoint::parse)
    QString viewerToken;
    QString adminToken;
    QDateTime created;
};

} // namespace dlb::console

Q_DECLARE_METATYPE(dlb::console::AgentRecord)
Q_DECLARE_METATYPE(dlb::console::Session)
Q_DECLARE_METATYPE(dlb::console::Account)
Q_DECLARE_METATYPE(dlb::console::AuditEntry)
