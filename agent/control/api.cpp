#include "agent/control/api.hpp"

#include "agent/control/config_file.hpp"
#include "agent/control/server.hpp"
#include "agent/proxy/log.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cmath>

namespace dlb::agent::control {

using nlohmann::json;

namespace {

// Error paths name the request body's fields; several errors go into one message.
Response invalid(const std::vector<common::ConfigError>& errors, std::string_view code = "invalid_value")
{
    std::string message;
    for (const auto& e : errors)
        message += (message.empty() ? "" : "; ") + e.toString();
    return Response::error(400, code, message, errors.empty() ? "" : errors.front().path);
}

// {"name": ..., "params": {...}} (plus "hash_key" for the algorithms that hash): the shape PUT
// .../algorithm takes, so what GET says can be sent back as it is.
json algorithmJson(const common::AlgorithmConfig& a)
{
    json flat = common::toJson(a);
    json out = {{"name", a.name}, {"params", json::object()}};
    for (auto& [k, v] : flat.items()) {
        if (k == "name")
            continue;
        if (k == "hash_key")
            out["hash_key"] = v;
        else
            out["params"][k] = v;
    }
    return out;
}

std::string describe(const common::AlgorithmConfig& a)
{
    return common::toJson(a).dump();
}

} // namespace

Api::Api(Server& server) : server_(server), agent_(server.agent())
{
    route(HTTP_GET, "/healthz", Role::None, &Api::healthz);
    route(HTTP_GET, "/readyz", Role::None, &Api::readyz);
    route(HTTP_GET, "/v1/status", Role::Viewer, &Api::status);
    route(HTTP_GET, "/v1/pools", Role::Viewer, &Api::pools);
    route(HTTP_GET, "/v1/config", Role::Viewer, &Api::config);
    route(HTTP_POST, "/v1/pools/{pool}/replicas", Role::Admin, &Api::addReplica);
    route(HTTP_DELETE, "/v1/pools/{pool}/replicas/{id}", Role::Admin, &Api::removeReplica);
    route(HTTP_POST, "/v1/pools/{pool}/replicas/{id}/drain", Role::Admin, &Api::removeReplica);
    route(HTTP_PUT, "/v1/pools/{pool}/replicas/{id}/weight", Role::Admin, &Api::setWeight);
    route(HTTP_PUT, "/v1/pools/{pool}/algorithm", Role::Admin, &Api::setAlgorithm);
    route(HTTP_POST, "/v1/pools/{pool}/health-check", Role::Admin, &Api::healthCheck);
    stats_routes_ = std::make_unique<StatsRoutes>(server_.router(), agent_);
}

Api::~Api() = default;

void Api::stop()
{
    if (stopped_)
        return;
    stopped_ = true;
    stats_routes_->stop();
}

void Api::route(llhttp_method_t method, const char* pattern, Role role,
                void (Api::*handler)(const Request&, const ReplyPtr&))
{
    server_.router().add(method, pattern, role,
                         [this, handler](const Request& req, const ReplyPtr& reply) { (this->*handler)(req, reply); });
}

// ---- reads ----------------------------------------------------------------------------------

void Api::healthz(const Request&, const ReplyPtr& reply)
{
    reply->send(Response::json(200, {{"status", "ok"}}));
}

void Api::readyz(const Request&, const ReplyPtr& reply)
{
    if (!server_.listening() || agent_.stopping())
        reply->send(Response::error(503, "not_ready", "the agent is stopping"));
    else if (!agent_.ready())
        reply->send(Response::error(503, "not_ready", "not every worker is running"));
    else
        reply->send(Response::json(200, {{"status", "ready"}}));
}

void Api::status(const Request&, const ReplyPtr& reply)
{
    const auto& snap = *agent_.snapshot();
    json listeners = json::array();
    const auto& bound = agent_.boundListeners();
    const auto& started = agent_.startedConfig().listeners;
    for (size_t i = 0; i < bound.size() && i < started.size(); ++i)
        listeners.push_back({{"address", bound[i]}, {"tls", started[i].tls.has_value()}});
    char cwd[4096];
    std::string path = agent_.configPath();
    if (!path.starts_with('/') && ::getcwd(cwd, sizeof cwd))
        path = std::string(cwd) + "/" + path;
    reply->send(Response::json(200, {{"version", DLB_VERSION},
                                     {"uptime_s", (uv_hrtime() - agent_.startedAtNs()) / 1'000'000'000ULL},
                                     {"pid", ::getpid()},
                                     {"workers", agent_.workerCount()},
                                     {"listeners", listeners},
                                     {"generation", snap.generation},
                                     {"config_path", path}}));
}

json Api::replicaJson(const proxy::ReplicaSpec& r) const
{
    const proxy::ReplicaHealth& h = *r.health;
    const char* state = h.pending.load() ? "pending" : h.healthy.load() ? "healthy" : "unhealthy";
    const stats::ReplicaSummary s = r.stats ? stats::summarize(*r.stats) : stats::ReplicaSummary{};
    // Microseconds are all a moving average of response times can tell.
    const double latency = std::round(s.latency_ms * 1000.0) / 1000.0;
    return {{"id", r.id},
            {"url", r.url},
            {"weight", r.weight},
            {"state", state},
            {"rif", s.has_rif ? json(s.rif) : json(nullptr)},
            {"latency_ms", latency > 0 ? json(latency) : json(nullptr)},
            {"requests", s.requests},
            {"errors", s.errors},
            {"in_flight", s.in_flight},
            {"source", r.source.empty() ? "config" : r.source}};
}

json Api::poolJson(const proxy::PoolSpec& pool) const
{
    json replicas = json::array();
    for (const auto& r : pool.replicas)
        replicas.push_back(replicaJson(r));
    for (const auto& d : agent_.drainer().list()) {
        if (d.pool != pool.config.name)
            continue;
        proxy::ReplicaSpec r;
        r.id = d.id;
        r.url = d.url;
        r.weight = d.weight;
        r.health = d.health;
        r.stats = d.stats;
        r.source = d.source;
        json j = replicaJson(r);
        j["state"] = "draining";
        replicas.push_back(std::move(j));
    }
    return {{"name", pool.config.name}, {"algorithm", algorithmJson(pool.config.algorithm)}, {"replicas", replicas}};
}

void Api::pools(const Request&, const ReplyPtr& reply)
{
    const auto& snap = *agent_.snapshot();
    json list = json::array();
    for (const auto& p : snap.pools)
        list.push_back(poolJson(*p));
    reply->send(Response::json(200, {{"generation", snap.generation}, {"pools", list}}));
}

void Api::config(const Request&, const ReplyPtr& reply)
{
    const auto& snap = *agent_.snapshot();
    json doc = common::toJson(snap.config);
    if (doc.contains("control") && doc["control"].contains("tokens"))
        for (auto& t : doc["control"]["tokens"])
            t["sha256"] = "<redacted>";
    reply->send(Response::json(200, {{"generation", snap.generation}, {"config", doc}}));
}

// ---- shared steps of the writes ---------------------------------------------------------------

bool Api::checkIfMatch(const Request& req, Reply& reply) const
{
    if (!req.hasHeader("if-match"))
        return true;
    const std::string_view v = req.header("if-match");
    const bool digits = !v.empty() && v.size() <= 19 && std::all_of(v.begin(), v.end(), [](char c) {
        return c >= '0' && c <= '9';
    });
    if (!digits) {
        reply.send(Response::error(400, "bad_if_match",
                                   "If-Match must be a generation number as GET answers it (\"If-Match: 7\"), got \"" +
                                       std::string(v) + "\""));
        return false;
    }
    const uint64_t want = std::stoull(std::string(v));
    const uint64_t have = agent_.snapshot()->generation;
    if (want != have) {
        reply.send(Response::error(409, "stale_generation",
                                   "the config changed since generation " + std::to_string(want) + "; it is at " +
                                       std::to_string(have) + ": read it again and retry"));
        return false;
    }
    return true;
}

bool Api::parseBody(const Request& req, Reply& reply, json& out) const
{
    std::vector<common::ConfigError> errors;
    if (req.body.empty()) {
        reply.send(Response::error(400, "invalid_json", "this request needs a JSON body"));
        return false;
    }
    if (!common::parseJsonText(req.body, out, errors)) {
        reply.send(invalid(errors, "invalid_json"));
        return false;
    }
    return true;
}

bool Api::findPool(const Request& req, Reply& reply, size_t* index) const
{
    const auto& pools = agent_.snapshot()->config.pools;
    for (size_t i = 0; i < pools.size(); ++i)
        if (pools[i].name == req.params.at(0)) {
            *index = i;
            return true;
        }
    reply.send(Response::error(404, "unknown_pool", "no pool is named \"" + req.params.at(0) + "\""));
    return false;
}

bool Api::findReplica(const Request& req, Reply& reply, size_t pool, size_t* index) const
{
    const auto& replicas = agent_.snapshot()->config.pools[pool].replicas;
    for (size_t i = 0; i < replicas.size(); ++i)
        if (replicas[i].id == req.params.at(1)) {
            *index = i;
            return true;
        }
    // A discovered replica is not the API's to change: DNS added it and DNS removes it.
    for (const auto& r : agent_.snapshot()->pools[pool]->replicas)
        if (r.id == req.params.at(1) && !r.source.empty()) {
            reply.send(Response::error(409, "replica_discovered",
                                       "replica \"" + r.id + "\" of pool \"" + req.params.at(0) + "\" was found by " +
                                           r.source + "; change the DNS records, or the pool's discovery entry, "
                                           "to remove or reweigh it"));
            return false;
        }
    const bool gone = agent_.drainer().draining(req.params.at(0), req.params.at(1));
    reply.send(Response::error(404, "unknown_replica",
                               "pool \"" + req.params.at(0) + "\" has no replica \"" + req.params.at(1) + "\"" +
                                   (gone ? " (it is draining: removed already)" : "")));
    return false;
}

bool Api::commit(const Request& req, Reply& reply, const json& doc, const std::string& what,
                 const std::vector<proxy::AddedReplica>& added, uint64_t* generation)
{
    // The same reading as `dlb-agent --check` and a SIGHUP: config rules, then what start checks.
    auto result = common::parseConfig(doc);
    if (result.config) {
        result.errors = proxy::startupErrors(*result.config);
        if (!result.errors.empty())
            result.config.reset();
    }
    if (!result.config) {
        reply.send(invalid(result.errors));
        return false;
    }
    // Asking for what already runs changes nothing: no new generation, no write (scripts that
    // set a value every time stay cheap and leave the file alone).
    if (*result.config == agent_.snapshot()->config) {
        *generation = agent_.snapshot()->generation;
        return true;
    }
    std::string why;
    auto next = agent_.prepareConfig(*result.config, &why);
    if (!next) {
        reply.send(Response::error(400, "invalid_value", why));
        return false;
    }
    const uint64_t before = agent_.snapshot()->generation;
    // The file must still be what the agent last read or wrote: edits an operator saved but did
    // not reload yet would be lost to the write-back (and a SIGHUP would then not apply them).
    // A file that is gone holds no edits: the write below fails and says so.
    // Read only, not parsed: what matters is whether the bytes are the ones the agent knows.
    std::string on_disk;
    const bool readable = common::readFileText(agent_.configPath(), &on_disk);
    const int read_errno = errno;
    if ((readable || read_errno != ENOENT) && on_disk != agent_.configFileText()) {
        // A path that exists but cannot be read (a directory, no read access) was not "edited":
        // say what reading it says, since a reload would fail the same way.
        const bool unreadable = !readable;
        const std::string why_unreadable = unreadable ? std::string("cannot read file: ") + std::strerror(read_errno)
                                                      : std::string();
        proxy::logLine("control: token \"" + req.token_name + "\" (" + req.peer + "): " + what +
                       ": not applied, " + agent_.configPath() +
                       (unreadable ? " cannot be read: " + why_unreadable
                                   : std::string(" was changed since the agent read it")));
        reply.send(Response::error(
            409, "config_file_changed",
            unreadable ? agent_.configPath() + " cannot be read: " + why_unreadable +
                             "; nothing was changed. Put the config file back (readable by the agent), then retry"
                       : agent_.configPath() +
                             " was edited since the agent last read or wrote it; nothing was changed, so "
                             "the edits are not overwritten. Reload it (SIGHUP, systemctl reload "
                             "dlb-agent) or undo the edits, then retry"));
        return false;
    }
    const std::string text = common::toJson(*result.config).dump(2) + "\n";
    if (!writeFileAtomically(agent_.configPath(), text, &why)) {
        proxy::logLine("control: token \"" + req.token_name + "\" (" + req.peer + "): " + what +
                       ": not applied, the config file could not be written: " + why);
        reply.send(Response::error(500, "config_write_failed", why));
        return false;
    }
    agent_.commitConfig(next, added);
    agent_.setConfigFileText(text);
    *generation = agent_.snapshot()->generation;
    proxy::logLine("control: token \"" + req.token_name + "\" (" + req.peer + "): " + what + "; generation " +
                   std::to_string(before) + " -> " + std::to_string(*generation) + ", written to " +
                   agent_.configPath());
    return true;
}

// ---- writes ---------------------------------------------------------------------------------

void Api::addReplica(const Request& req, const ReplyPtr& reply)
{
    size_t p = 0;
    json body;
    if (!checkIfMatch(req, *reply) || !findPool(req, *reply, &p) || !parseBody(req, *reply, body))
        return;
    std::vector<common::ConfigError> errors;
    auto replica = common::parseReplicaConfig(body, errors);
    if (!replica) {
        reply->send(invalid(errors));
        return;
    }
    const auto& cfg = agent_.snapshot()->config;
    // A copy: commit() replaces the snapshot `cfg` lives in, which may be freed at once.
    const std::string pool = cfg.pools[p].name;
    for (const auto& r : cfg.pools[p].replicas)
        if (r.id == replica->id) {
            reply->send(Response::error(409, "replica_exists",
                                        "pool \"" + pool + "\" has a replica \"" + replica->id + "\" already (" + r.url +
                                            ")",
                                        body.contains("id") ? "id" : "url"));
            return;
        }
    for (const auto& r : agent_.snapshot()->pools[p]->replicas)
        if (r.id == replica->id && !r.source.empty()) {
            reply->send(Response::error(409, "replica_exists",
                                        "pool \"" + pool + "\" has a replica \"" + replica->id + "\" already, found by " +
                                            r.source,
                                        body.contains("id") ? "id" : "url"));
            return;
        }
    for (const auto& d : agent_.drainer().list())
        if (d.pool == pool && d.id == replica->id) {
            reply->send(Response::error(409, "replica_draining",
                                        "replica \"" + replica->id + "\" of pool \"" + pool +
                                            "\" is still draining; add it again once GET /v1/pools no longer lists it",
                                        body.contains("id") ? "id" : "url"));
            return;
        }
    json doc = common::toJson(cfg);
    doc["pools"][p]["replicas"].push_back(common::toJson(*replica));
    uint64_t generation = 0;
    const std::string what = "pool " + pool + ": added replica " + replica->id + " (" + replica->url + ", weight " +
                             std::to_string(replica->weight) + "), pending its first health check";
    if (!commit(req, *reply, doc, what, {{pool, replica->id}}, &generation))
        return;
    json rj;
    for (const auto& ps : agent_.snapshot()->pools)
        if (ps->config.name == pool)
            for (const auto& r : ps->replicas)
                if (r.id == replica->id)
                    rj = replicaJson(r);
    Response r = Response::json(201, {{"replica", rj}, {"generation", generation}});
    // An id is any text but "/": escaped, it cannot end the header line (or the head) early.
    r.headers.emplace_back("Location", "/v1/pools/" + pool + "/replicas/" + percentEncode(replica->id));
    reply->send(std::move(r));
}

void Api::removeReplica(const Request& req, const ReplyPtr& reply)
{
    size_t p = 0, i = 0;
    if (!checkIfMatch(req, *reply) || !findPool(req, *reply, &p) || !findReplica(req, *reply, p, &i))
        return;
    const auto snap = agent_.snapshot(); // the one with the replica: its ReplicaHealth is kept
    const auto& rc = snap->config.pools[p].replicas[i];
    const proxy::ReplicaSpec& spec = snap->pools[p]->replicas[i];
    const std::string pool = snap->config.pools[p].name;
    json doc = common::toJson(snap->config);
    doc["pools"][p]["replicas"].erase(i);
    uint64_t generation = 0;
    const std::string what = "pool " + pool + ": removed replica " + rc.id + " (" + rc.url + ", weight " +
                             std::to_string(rc.weight) + "); it drains: no new requests, removed when the last ends";
    if (!commit(req, *reply, doc, what, {}, &generation))
        return;
    // A discovered replica with the same id takes its place (DNS still names the address): it
    // stays, with the same health and counters, and is not drained.
    for (const auto& r : agent_.snapshot()->pools[p]->replicas)
        if (r.id == spec.id) {
            reply->send(Response::json(202, {{"replica", replicaJson(r)}, {"generation", generation}}));
            return;
        }
    json rj = replicaJson(spec);
    rj["state"] = "draining";
    agent_.drainer().watch(pool, spec, generation, "control: ");
    reply->send(Response::json(202, {{"replica", rj}, {"generation", generation}}));
}

void Api::setAlgorithm(const Request& req, const ReplyPtr& reply)
{
    size_t p = 0;
    json body;
    if (!checkIfMatch(req, *reply) || !findPool(req, *reply, &p) || !parseBody(req, *reply, body))
        return;
    std::vector<common::ConfigError> errors;
    auto algo = common::parseAlgorithmConfig(body, errors);
    if (!algo) {
        reply->send(invalid(errors));
        return;
    }
    const auto& cfg = agent_.snapshot()->config;
    const std::string pool = cfg.pools[p].name;
    const std::string before = describe(cfg.pools[p].algorithm);
    json doc = common::toJson(cfg);
    doc["pools"][p]["algorithm"] = common::toJson(*algo);
    uint64_t generation = 0;
    if (!commit(req, *reply, doc, "pool " + pool + ": algorithm " + before + " -> " + describe(*algo), {}, &generation))
        return;
    reply->send(Response::json(200, {{"pool", pool}, {"algorithm", algorithmJson(*algo)}, {"generation", generation}}));
}

void Api::setWeight(const Request& req, const ReplyPtr& reply)
{
    size_t p = 0, i = 0;
    json body;
    if (!checkIfMatch(req, *reply) || !findPool(req, *reply, &p) || !findReplica(req, *reply, p, &i) ||
        !parseBody(req, *reply, body))
        return;
    std::vector<common::ConfigError> errors;
    if (!body.is_object()) {
        reply->send(invalid({{"", std::string("must be an object, got ") + body.type_name()}}));
        return;
    }
    for (const auto& [key, value] : body.items())
        if (key != "weight")
            errors.push_back({key, "unknown key; expected one of: weight"});
    if (!body.contains("weight"))
        errors.push_back({"weight", "required"});
    if (!errors.empty()) {
        reply->send(invalid(errors));
        return;
    }
    const auto& cfg = agent_.snapshot()->config;
    const auto& current = cfg.pools[p].replicas[i];
    // The replica as it is with the new weight, read by the config's own replica rules.
    json candidate = common::toJson(current);
    candidate["weight"] = body["weight"];
    auto replica = common::parseReplicaConfig(candidate, errors);
    if (!replica) {
        reply->send(invalid(errors));
        return;
    }
    const std::string pool = cfg.pools[p].name;
    const unsigned before = current.weight;
    json doc = common::toJson(cfg);
    doc["pools"][p]["replicas"][i] = common::toJson(*replica);
    uint64_t generation = 0;
    const std::string what = "pool " + pool + ": replica " + replica->id + " weight " + std::to_string(before) + " -> " +
                             std::to_string(replica->weight);
    if (!commit(req, *reply, doc, what, {}, &generation))
        return;
    json rj;
    for (const auto& r : agent_.snapshot()->pools[p]->replicas)
        if (r.id == replica->id)
            rj = replicaJson(r);
    reply->send(Response::json(200, {{"replica", rj}, {"generation", generation}}));
}

void Api::healthCheck(const Request& req, const ReplyPtr& reply)
{
    size_t p = 0;
    if (!findPool(req, *reply, &p))
        return;
    if (!req.body.empty()) {
        reply->send(Response::error(400, "invalid_value", "this request takes no body"));
        return;
    }
    const std::string pool = agent_.snapshot()->config.pools[p].name;
    proxy::logLine("control: token \"" + req.token_name + "\" (" + req.peer + "): pool " + pool +
                   ": health check of every replica now");
    agent_.health().checkNow(pool, [this, reply, pool](std::vector<proxy::CheckResult> results) {
        if (!reply->open())
            return;
        json list = json::array();
        const auto snap = agent_.snapshot();
        for (const auto& r : results) {
            json item = {{"id", r.id}, {"ok", r.ok}, {"status", r.status}, {"reason", r.reason}};
            for (const auto& ps : snap->pools)
                if (ps->config.name == pool)
                    for (const auto& spec : ps->replicas)
                        if (spec.id == r.id) {
                            const json now = replicaJson(spec);
                            item["url"] = now["url"];
                            item["state"] = now["state"];
                        }
            list.push_back(std::move(item));
        }
        reply->send(Response::json(200, {{"pool", pool}, {"generation", snap->generation}, {"results", list}}));
    });
}

} // namespace dlb::agent::control
