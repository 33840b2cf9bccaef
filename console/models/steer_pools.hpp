#pragma once
// What the Replicas and Algorithm pages read from an agent and send to it, as plain values: the
// pools of GET /v1/pools, the results of POST .../health-check, and each write as a request
// (method, %-escaped path, body, If-Match). No widgets and no network: the controller hands the
// requests to the agent connection, and the tests check them without either. Path segments are
// escaped by the client's own rule (client::AgentConnection::pathSegment).

#include <QByteArray>
#include <QJsonObject>
#include <QList>
#include <QMap>
#include <QMetaType>
#include <QString>

#include <optional>

namespace dlb::console {

// One request to the control API.
struct SteerRequest {
    QByteArray method;
    QString path;        // %-escaped, as sent
    QJsonObject body;    // sent only when hasBody
    bool hasBody = false;
    QByteArray ifMatch;  // empty: no If-Match
};

// Its answer: the status, the JSON, and for a refusal the agent's error body. status 0: no
// answer came (unreachable, timeout); message says why.
struct SteerReply {
    int status = 0;
    QJsonObject json;
    QString code;
    QString message;
    QString path; // the request field the refusal names ("params.q_rif", "url"), or empty
    bool ok() const { return status >= 200 && status < 300; }
    // "code: message" for a refusal, the transport's reason when no answer came.
    QString describe() const;
};

struct ReplicaInfo {
    QString id;
    QString url;
    QString state; // pending, healthy, unhealthy, draining
    qint64 weight = 0;
    qint64 inFlight = 0;
    qint64 requests = 0;
    qint64 errors = 0;
    std::optional<double> rif;       // null until the replica reported one
    std::optional<double> latencyMs; // null before its first answer
};

struct AlgorithmInfo {
    QString name;
    QMap<QString, double> params;
    QString hashKey; // only for the algorithms that hash
};

struct PoolInfo {
    QString name;
    AlgorithmInfo algorithm;
    QList<ReplicaInfo> replicas;
};

struct PoolsSnapshot {
    qint64 generation = 0;
    QList<PoolInfo> pools;
    const PoolInfo* find(const QString& name) const;
};

struct HealthResult {
    QString id;
    QString url;
    bool ok = false;
    int status = 0;  // the HTTP status the replica answered, 0 when none
    QString reason;  // why the check failed
    QString state;   // the replica's state after the check
};

// Strict readers of the agent's answers: a missing field or one of the wrong type is an error
// (set in *why, nullopt returned), never a silent zero.
std::optional<PoolsSnapshot> parsePools(const QJsonObject& json, QString* why);
std::optional<ReplicaInfo> parseReplica(const QJsonObject& json, QString* why);
std::optional<QList<HealthResult>> parseHealthResults(const QJsonObject& json, QString* why);

// Operators and admins steer agents; viewers only watch (dlb.accounts.role).
bool maySteer(const QString& accountRole);

namespace steer {
SteerRequest listPools();
SteerRequest addReplica(const QString& pool, const QString& url, qint64 weight, const QString& id = {});
SteerRequest removeReplica(const QString& pool, const QString& id);
SteerRequest drainReplica(const QString& pool, const QString& id);
SteerRequest setWeight(const QString& pool, const QString& id, qint64 weight, qint64 generation);
SteerRequest healthCheck(const QString& pool);
} // namespace steer

// The add dialog's checks, by the agent's own rules (common::parseReplicaConfig): field ("url",
// "weight", "id") -> reason. Empty when the agent would accept the replica (bar a host that
// does not resolve, which only the agent can tell). An empty id means "the default".
QMap<QString, QString> checkNewReplica(const QString& url, qint64 weight, const QString& id);

} // namespace dlb::console

Q_DECLARE_METATYPE(dlb::console::SteerReply)
