#pragma once
// The control API's endpoints (docs/control-api.md): the route table and its handlers, and the
// one path every change takes: validated as `dlb-agent --check` validates a file, written back to
// the config file atomically, then applied as a new snapshot (SIGHUP's path). Removed replicas
// are watched until their last request ends (the agent's Drainer, shared with DNS discovery).
// Threading: main loop only.

#include "agent/control/router.hpp"
#include "agent/control/stats_routes.hpp"
#include "agent/proxy/agent.hpp"

#include <nlohmann/json.hpp>

#include <uv.h>

#include <memory>
#include <string>
#include <vector>

namespace dlb::agent::control {

class Server;

class Api {
public:
    explicit Api(Server& server);
    ~Api();
    Api(const Api&) = delete;
    Api& operator=(const Api&) = delete;
    void stop();

private:
    using ReplyPtr = std::shared_ptr<Reply>;
    void route(llhttp_method_t method, const char* pattern, Role role,
               void (Api::*handler)(const Request&, const ReplyPtr&));

    void healthz(const Request&, const ReplyPtr&);
    void readyz(const Request&, const ReplyPtr&);
    void status(const Request&, const ReplyPtr&);
    void pools(const Request&, const ReplyPtr&);
    void config(const Request&, const ReplyPtr&);
    void addReplica(const Request&, const ReplyPtr&);
    void removeReplica(const Request&, const ReplyPtr&);
    void setAlgorithm(const Request&, const ReplyPtr&);
    void healthCheck(const Request&, const ReplyPtr&);
    void setWeight(const Request&, const ReplyPtr&);

    // Shared steps of the writes; each answers the error itself and returns false.
    bool checkIfMatch(const Request& req, Reply& reply) const;
    bool parseBody(const Request& req, Reply& reply, nlohmann::json& out) const;
    // The pool named by the path's first parameter, its index in the running config.
    bool findPool(const Request& req, Reply& reply, size_t* index) const;
    bool findReplica(const Request& req, Reply& reply, size_t pool, size_t* index) const;
    // Validates `doc` (a whole config) with --check's code, writes it to the config file, applies
    // it and logs `what`. The new generation in *generation.
    bool commit(const Request& req, Reply& reply, const nlohmann::json& doc, const std::string& what,
                const std::vector<proxy::AddedReplica>& added, uint64_t* generation);

    nlohmann::json replicaJson(const proxy::ReplicaSpec& r) const;
    nlohmann::json poolJson(const proxy::PoolSpec& pool) const;

    Server& server_;
    proxy::Agent& agent_;
    std::unique_ptr<StatsRoutes> stats_routes_; // GET /v1/stats, .../history, .../stream, /metrics
    bool stopped_ = false;
};

} // namespace dlb::agent::control
