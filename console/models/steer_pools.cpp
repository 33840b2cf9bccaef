#include "models/steer_pools.hpp"

#include "client/agent_connection.hpp"
#include "client/json_number.hpp"
#include "common/config.hpp"

#include <QJsonArray>

#include <nlohmann/json.hpp>

namespace dlb::console {
namespace {

// Each reader sets *why to "<where>: <what>" on the first fault and returns false.
bool fail(QString* why, const QString& where, const QString& what)
{
    if (why)
        *why = where + QStringLiteral(": ") + what;
    return false;
}

bool readString(const QJsonObject& o, const char* key, const QString& where, QString& out, QString* why)
{
    const QJsonValue v = o.value(QLatin1String(key));
    if (!v.isString())
        return fail(why, where + QLatin1Char('.') + QLatin1String(key), QStringLiteral("expected a string"));
    out = v.toString();
    return true;
}

bool readWhole(const QJsonObject& o, const char* key, const QString& where, qint64& out, QString* why)
{
    const std::optional<std::uint64_t> n = jsonWholeNumber(o.value(QLatin1String(key)));
    if (!n)
        return fail(why, where + QLatin1Char('.') + QLatin1String(key), QStringLiteral("expected a whole number"));
    out = static_cast<qint64>(*n);
    return true;
}

// A number or null (a figure the agent does not have yet).
bool readOptional(const QJsonObject& o, const char* key, const QString& where, std::optional<double>& out,
                  QString* why)
{
    const QJsonValue v = o.value(QLatin1String(key));
    if (v.isNull()) {
        out.reset();
        return true;
    }
    if (!v.isDouble())
        return fail(why, where + QLatin1Char('.') + QLatin1String(key), QStringLiteral("expected a number or null"));
    out = v.toDouble();
    return true;
}

QString poolPath(const QString& pool) { return QStringLiteral("/v1/pools/") + client::AgentConnection::pathSegment(pool); }

QString replicaPath(const QString& pool, const QString& id)
{
    return poolPath(pool) + QStringLiteral("/replicas/") + client::AgentConnection::pathSegment(id);
}

} // namespace

QString SteerReply::describe() const
{
    if (status == 0)
        return message;
    if (code.isEmpty())
        return QStringLiteral("HTTP %1").arg(status);
    return code + QStringLiteral(": ") + message;
}

const PoolInfo* PoolsSnapshot::find(const QString& name) const
{
    for (const PoolInfo& pool : pools)
        if (pool.name == name)
            return &pool;
    return nullptr;
}

std::optional<ReplicaInfo> parseReplica(const QJsonObject& o, QString* why)
{
    ReplicaInfo r;
    const QString at = QStringLiteral("replica");
    if (!readString(o, "id", at, r.id, why) || !readString(o, "url", at, r.url, why)
        || !readString(o, "state", at, r.state, why) || !readWhole(o, "weight", at, r.weight, why)
        || !readWhole(o, "in_flight", at, r.inFlight, why) || !readWhole(o, "requests", at, r.requests, why)
        || !readWhole(o, "errors", at, r.errors, why) || !readOptional(o, "rif", at, r.rif, why)
        || !readOptional(o, "latency_ms", at, r.latencyMs, why))
        return std::nullopt;
    return r;
}

std::optional<PoolsSnapshot> parsePools(const QJsonObject& json, QString* why)
{
    PoolsSnapshot snap;
    if (!readWhole(json, "generation", QStringLiteral("pools answer"), snap.generation, why))
        return std::nullopt;
    if (!json.value(QLatin1String("pools")).isArray()) {
        fail(why, QStringLiteral("pools answer.pools"), QStringLiteral("expected an array"));
        return std::nullopt;
    }
    const QJsonArray pools = json.value(QLatin1String("pools")).toArray();
    for (qsizetype i = 0; i < pools.size(); ++i) {
        const QString at = QStringLiteral("pools[%1]").arg(i);
        const QJsonObject p = pools.at(i).toObject();
        PoolInfo pool;
        if (!pools.at(i).isObject() || !readString(p, "name", at, pool.name, why))
            return std::nullopt;
        const QJsonObject algo = p.value(QLatin1String("algorithm")).toObject();
        if (!readString(algo, "name", at + QStringLiteral(".algorithm"), pool.algorithm.name, why))
            return std::nullopt;
        const QJsonObject params = algo.value(QLatin1String("params")).toObject();
        for (auto it = params.begin(); it != params.end(); ++it) {
            if (!it.value().isDouble()) {
                fail(why, at + QStringLiteral(".algorithm.params.") + it.key(), QStringLiteral("expected a number"));
                return std::nullopt;
            }
            pool.algorithm.params.insert(it.key(), it.value().toDouble());
        }
        if (algo.contains(QLatin1String("hash_key"))
            && !readString(algo, "hash_key", at + QStringLiteral(".algorithm"), pool.algorithm.hashKey, why))
            return std::nullopt;
        if (!p.value(QLatin1String("replicas")).isArray()) {
            fail(why, at + QStringLiteral(".replicas"), QStringLiteral("expected an array"));
            return std::nullopt;
        }
        for (const QJsonValue& v : p.value(QLatin1String("replicas")).toArray()) {
            auto replica = parseReplica(v.toObject(), why);
            if (!replica) {
                if (why)
                    why->prepend(at + QLatin1Char('.'));
                return std::nullopt;
            }
            pool.replicas.append(*replica);
        }
        snap.pools.append(pool);
    }
    return snap;
}

std::optional<QList<HealthResult>> parseHealthResults(const QJsonObject& json, QString* why)
{
    if (!json.value(QLatin1String("results")).isArray()) {
        fail(why, QStringLiteral("health-check answer.results"), QStringLiteral("expected an array"));
        return std::nullopt;
    }
    QList<HealthResult> out;
    for (const QJsonValue& v : json.value(QLatin1String("results")).toArray()) {
        const QJsonObject o = v.toObject();
        const QString at = QStringLiteral("results[%1]").arg(out.size());
        HealthResult r;
        qint64 status = 0;
        if (!o.value(QLatin1String("ok")).isBool()) {
            fail(why, at + QStringLiteral(".ok"), QStringLiteral("expected true or false"));
            return std::nullopt;
        }
        r.ok = o.value(QLatin1String("ok")).toBool();
        if (!readString(o, "id", at, r.id, why) || !readString(o, "url", at, r.url, why)
            || !readWhole(o, "status", at, status, why) || !readString(o, "reason", at, r.reason, why)
            || !readString(o, "state", at, r.state, why))
            return std::nullopt;
        // An HTTP status, or 0 when the check got no answer at all.
        if (status != 0 && (status < 100 || status > 599)) {
            fail(why, at + QStringLiteral(".status"), QStringLiteral("expected 0 or an HTTP status (100-599)"));
            return std::nullopt;
        }
        r.status = static_cast<int>(status);
        out.append(r);
    }
    return out;
}

bool maySteer(const QString& accountRole)
{
    return accountRole == QLatin1String("admin") || accountRole == QLatin1String("operator");
}

namespace steer {

SteerRequest listPools() { return {"GET", QStringLiteral("/v1/pools"), {}, false, {}}; }

SteerRequest addReplica(const QString& pool, const QString& url, qint64 weight, const QString& id)
{
    QJsonObject body{{QStringLiteral("url"), url}, {QStringLiteral("weight"), weight}};
    if (!id.isEmpty())
        body.insert(QStringLiteral("id"), id);
    return {"POST", poolPath(pool) + QStringLiteral("/replicas"), body, true, {}};
}

SteerRequest removeReplica(const QString& pool, const QString& id)
{
    return {"DELETE", replicaPath(pool, id), {}, false, {}};
}

SteerRequest drainReplica(const QString& pool, const QString& id)
{
    return {"POST", replicaPath(pool, id) + QStringLiteral("/drain"), {}, false, {}};
}

SteerRequest setWeight(const QString& pool, const QString& id, qint64 weight, qint64 generation)
{
    // If-Match: the weight was chosen looking at that generation's replicas.
    return {"PUT", replicaPath(pool, id) + QStringLiteral("/weight"), {{QStringLiteral("weight"), weight}}, true,
            QByteArray::number(generation)};
}

SteerRequest healthCheck(const QString& pool)
{
    return {"POST", poolPath(pool) + QStringLiteral("/health-check"), {}, false, {}};
}

} // namespace steer

QMap<QString, QString> checkNewReplica(const QString& url, qint64 weight, const QString& id)
{
    nlohmann::json doc{{"url", url.toStdString()}, {"weight", weight}};
    if (!id.isEmpty())
        doc["id"] = id.toStdString();
    std::vector<common::ConfigError> errors;
    common::parseReplicaConfig(doc, errors);
    QMap<QString, QString> out;
    for (const common::ConfigError& e : errors)
        out.insert(QString::fromStdString(e.path), QString::fromStdString(e.reason));
    return out;
}

} // namespace dlb::console
