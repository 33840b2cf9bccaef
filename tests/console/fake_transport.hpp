#pragma once
// A SteerTransport that records each request and answers it only when the test says so, so the
// tests see exactly what would go to the agent, in order, and can answer as the agent would.

#include "models/steer_controller.hpp"

#include <QJsonArray>
#include <QJsonDocument>
#include <QList>

#include <functional>
#include <memory>

namespace dlb::console::test {

class FakeTransport {
public:
    struct Pending {
        SteerRequest request;
        std::function<void(const SteerReply&)> done;
    };

    SteerTransport transport()
    {
        return [this](const SteerRequest& request, std::function<void(const SteerReply&)> done) {
            pending_.append({request, std::move(done)});
        };
    }

    qsizetype count() const { return pending_.size(); }
    const SteerRequest& request(qsizetype i = 0) const { return pending_.at(i).request; }

    // Answers the oldest request.
    void answer(int status, const QJsonObject& json = {})
    {
        Pending p = pending_.takeFirst();
        SteerReply reply;
        reply.status = status;
        reply.json = json;
        if (status >= 400) {
            const QJsonObject error = json.value(QLatin1String("error")).toObject();
            reply.code = error.value(QLatin1String("code")).toString();
            reply.message = error.value(QLatin1String("message")).toString();
            reply.path = error.value(QLatin1String("path")).toString();
        }
        p.done(reply);
    }

    void refuse(int status, const QString& code, const QString& message, const QString& path = {})
    {
        answer(status, QJsonObject{{QStringLiteral("error"), QJsonObject{{QStringLiteral("code"), code},
                                                                          {QStringLiteral("message"), message},
                                                                          {QStringLiteral("path"), path}}}});
    }

private:
    QList<Pending> pending_;
};

inline QJsonObject replicaJson(const QString& id, const QString& state, qint64 weight = 1)
{
    return QJsonObject{{QStringLiteral("id"), id},
                       {QStringLiteral("url"), QStringLiteral("http://") + id},
                       {QStringLiteral("weight"), weight},
                       {QStringLiteral("state"), state},
                       {QStringLiteral("rif"), QJsonValue::Null},
                       {QStringLiteral("latency_ms"), 1.5},
                       {QStringLiteral("requests"), 10},
                       {QStringLiteral("errors"), 0},
                       {QStringLiteral("in_flight"), 2}};
}

// A GET /v1/pools answer: pool "web" on prequal (defaults but q_rif 0.9) with the replicas given,
// and pool "admin" on maglev.
inline QJsonObject poolsJson(qint64 generation, const QJsonArray& webReplicas)
{
    const QJsonObject prequal{{QStringLiteral("name"), QStringLiteral("prequal")},
                              {QStringLiteral("params"),
                               QJsonObject{{QStringLiteral("probe_rate"), 3}, {QStringLiteral("pool_size"), 16},
                                           {QStringLiteral("q_rif"), 0.9}, {QStringLiteral("max_age_ms"), 1000},
                                           {QStringLiteral("remove_rate"), 1}, {QStringLiteral("delta"), 1},
                                           {QStringLiteral("idle_probe_rate"), 10},
                                           {QStringLiteral("max_probes_per_replica_s"), 1000},
                                           {QStringLiteral("error_penalty"), 4},
                                           {QStringLiteral("probe_fresh_ms"), 20},
                                           {QStringLiteral("probe_cost_budget"), 0.02},
                                           {QStringLiteral("latency_tolerance"), 1}}}};
    const QJsonObject maglev{{QStringLiteral("name"), QStringLiteral("maglev")},
                             {QStringLiteral("params"), QJsonObject{{QStringLiteral("table_size"), 65537}}},
                             {QStringLiteral("hash_key"), QStringLiteral("path")}};
    return QJsonObject{
        {QStringLiteral("generation"), generation},
        {QStringLiteral("pools"),
         QJsonArray{QJsonObject{{QStringLiteral("name"), QStringLiteral("web")},
                                {QStringLiteral("algorithm"), prequal},
                                {QStringLiteral("replicas"), webReplicas}},
                    QJsonObject{{QStringLiteral("name"), QStringLiteral("admin")},
                                {QStringLiteral("algorithm"), maglev},
                                {QStringLiteral("replicas"), QJsonArray{replicaJson("127.0.0.1:9100", "healthy")}}}}}};
}

} // namespace dlb::console::test
