#pragma once
// What the control API tests share: the tokens, a config with a control socket, one request on
// a fresh connection, and the state a refused change must leave as it was.

#include "control_client.hpp"
#include "harness.hpp"

#include <QFile>
#include <QJsonArray>
#include <QJsonObject>
#include <QMap>
#include <QTest>

namespace dlb::test {

inline const QByteArray kAdmin = "admin-secret-0123456789";
inline const QByteArray kViewer = "viewer-secret-0123456789";

inline QString controlSocket(const Cluster& c)
{
    return c.path(QStringLiteral("control.sock"));
}

// Cluster::config() plus a control socket in the cluster's folder and two tokens: "ops"
// (admin, kAdmin) and "console" (viewer, kViewer).
inline QJsonObject controlConfig(const Cluster& c, const QList<quint16>& ports)
{
    QJsonObject cfg = c.config(ports);
    cfg[QStringLiteral("control")] = QJsonObject{
        {QStringLiteral("unix_socket"), controlSocket(c)},
        {QStringLiteral("tokens"),
         QJsonArray{QJsonObject{{QStringLiteral("name"), QStringLiteral("ops")},
                                {QStringLiteral("role"), QStringLiteral("admin")},
                                {QStringLiteral("sha256"), QString::fromLatin1(sha256Hex(kAdmin))}},
                    QJsonObject{{QStringLiteral("name"), QStringLiteral("console")},
                                {QStringLiteral("role"), QStringLiteral("viewer")},
                                {QStringLiteral("sha256"), QString::fromLatin1(sha256Hex(kViewer))}}}}};
    return cfg;
}

// One request on a new connection to the control socket.
inline std::optional<Response> controlCall(const Cluster& c, const QByteArray& method, const QByteArray& path,
                                           const QByteArray& token = kAdmin, const QByteArray& body = {},
                                           const QByteArray& extra = {})
{
    ControlClient client(controlSocket(c));
    if (!client.connect())
        return std::nullopt;
    return client.request(method, path, token, body, extra);
}

// GET /v1/pools on `c`'s agent (its control config: controlConfig()): pool "web"'s replicas by
// id, empty when the call fails.
inline QMap<QString, QJsonObject> webReplicas(const Cluster& c)
{
    QMap<QString, QJsonObject> out;
    const auto r = controlCall(c, "GET", "/v1/pools");
    if (!r || r->status != 200)
        return out;
    for (const auto& p : jsonBody(*r).value("pools").toArray())
        if (p.toObject().value("name") == QStringLiteral("web"))
            for (const auto& v : p.toObject().value("replicas").toArray())
                out.insert(v.toObject().value("id").toString(), v.toObject());
    return out;
}

// Waits (up to kWaitMs) until pool "web"'s only replica has served at least `minRequests` and
// has none in flight (the stats are sampled once a second: the sample after the last request);
// `replica` holds its JSON as last read. False when that never comes.
inline bool waitSettled(const Cluster& c, qint64 minRequests, QJsonObject* replica)
{
    return QTest::qWaitFor([&] {
        const auto replicas = webReplicas(c);
        if (replicas.size() != 1)
            return false;
        *replica = replicas.first();
        return replica->value(QStringLiteral("requests")).toInteger() >= minRequests &&
               replica->value(QStringLiteral("in_flight")).toInteger() == 0;
    }, kWaitMs);
}

// GET /v1/config, GET /v1/pools and the config file's text, for before/after comparisons.
inline QJsonObject controlState(const Cluster& c)
{
    QJsonObject out;
    for (const QByteArray& path : {QByteArray("/v1/config"), QByteArray("/v1/pools")}) {
        const auto r = controlCall(c, "GET", path);
        out[QString::fromLatin1(path)] = r && r->status == 200 ? jsonBody(*r) : QJsonObject{};
    }
    QFile f(c.configPath());
    out[QStringLiteral("file")] = f.open(QIODevice::ReadOnly) ? QString::fromUtf8(f.readAll()) : QString();
    return out;
}

// The first path at which two JSON values differ, empty when equal: a failure names the field.
inline QString firstDifference(const QJsonValue& a, const QJsonValue& b, const QString& path = QStringLiteral("$"))
{
    if (a.type() != b.type())
        return path + QStringLiteral(" (type)");
    if (a.isObject()) {
        const QJsonObject oa = a.toObject(), ob = b.toObject();
        QStringList keys = oa.keys() + ob.keys();
        keys.removeDuplicates();
        for (const QString& k : keys) {
            if (!oa.contains(k) || !ob.contains(k))
                return path + "." + k + QStringLiteral(" (present on one side only)");
            const QString d = firstDifference(oa.value(k), ob.value(k), path + "." + k);
            if (!d.isEmpty())
                return d;
        }
        return {};
    }
    if (a.isArray()) {
        const QJsonArray aa = a.toArray(), ab = b.toArray();
        if (aa.size() != ab.size())
            return path + QStringLiteral(" (length %1 vs %2)").arg(aa.size()).arg(ab.size());
        for (qsizetype i = 0; i < aa.size(); ++i) {
            const QString d = firstDifference(aa.at(i), ab.at(i), path + QStringLiteral("[%1]").arg(i));
            if (!d.isEmpty())
                return d;
        }
        return {};
    }
    return a == b ? QString() : path;
}

} // namespace dlb::test
