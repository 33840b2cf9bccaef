#include "agent/ctl/render.hpp"

#include "agent/ctl/table.hpp"
#include "common/algorithm_params.hpp"

#include <cstdio>

namespace dlb::ctl {

namespace {

using json = nlohmann::json;
using Align = Table::Align;

const json& field(const json& obj, std::string_view key)
{
    static const json kNull;
    if (!obj.is_object())
        return kNull;
    const auto it = obj.find(key);
    return it == obj.end() ? kNull : *it;
}

// Rates and shares: one or three decimals are what a person reads.
std::string fixed(const json& value, int decimals)
{
    if (!value.is_number())
        return cell(value);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, value.get<double>());
    return buf;
}

std::string paramsText(const json& params)
{
    std::string out;
    if (!params.is_object())
        return "-";
    for (const auto& [k, v] : params.items())
        out += (out.empty() ? "" : " ") + printable(k) + "=" + cell(v);
    return out.empty() ? "-" : out;
}


} // namespace

std::string cell(const json& value)
{
    if (value.is_null())
        return "-";
    if (value.is_string())
        return printable(value.get<std::string>()); // the agent's text goes to a terminal
    if (value.is_boolean())
        return value.get<bool>() ? "yes" : "no";
    if (value.is_number_integer() || value.is_number_unsigned())
        return value.dump();
    if (value.is_number_float())
        return common::formatNumber(value.get<double>());
    return printable(value.dump()); // JSON escapes C0 controls, not DEL or C1
}

std::string renderStatus(const json& s)
{
    std::string listeners;
    for (const auto& l : field(s, "listeners").is_array() ? field(s, "listeners") : json::array()) {
        listeners += (listeners.empty() ? "" : ", ") + cell(field(l, "address"));
        if (field(l, "tls").is_boolean() && field(l, "tls").get<bool>())
            listeners += " (tls)";
    }
    Table t({{"FIELD"}, {"VALUE"}});
    t.addRow({"version", cell(field(s, "version"))});
    t.addRow({"pid", cell(field(s, "pid"))});
    t.addRow({"uptime_s", cell(field(s, "uptime_s"))});
    t.addRow({"generation", cell(field(s, "generation"))});
    t.addRow({"workers", cell(field(s, "workers"))});
    t.addRow({"config_path", cell(field(s, "config_path"))});
    t.addRow({"listeners", listeners.empty() ? "-" : listeners});
    return t.render();
}

std::string renderPools(const json& doc)
{
    Table t({{"POOL"}, {"ALGORITHM"}, {"REPLICAS", Align::Right}, {"HEALTHY", Align::Right}, {"PARAMETERS"}});
    for (const auto& p : field(doc, "pools").is_array() ? field(doc, "pools") : json::array()) {
        size_t replicas = 0, healthy = 0;
        for (const auto& r : field(p, "replicas").is_array() ? field(p, "replicas") : json::array()) {
            ++replicas;
            healthy += field(r, "state") == "healthy" ? 1 : 0;
        }
        const json& algo = field(p, "algorithm");
        std::string params = paramsText(field(algo, "params"));
        if (!field(algo, "hash_key").is_null())
            params += " hash_key=" + cell(field(algo, "hash_key"));
        t.addRow({cell(field(p, "name")), cell(field(algo, "name")), std::to_string(replicas),
                  std::to_string(healthy), params});
    }
    return "generation " + cell(field(doc, "generation")) + "\n" + t.render();
}

std::string renderReplicas(const json& pool)
{
    Table t({{"ID"},
             {"URL"},
             {"WEIGHT", Align::Right},
             {"STATE"},
             {"RIF", Align::Right},
             {"LATENCY_MS", Align::Right},
             {"REQUESTS", Align::Right},
             {"ERRORS", Align::Right},
             {"IN_FLIGHT", Align::Right}});
    for (const auto& r : field(pool, "replicas").is_array() ? field(pool, "replicas") : json::array())
        t.addRow({cell(field(r, "id")), cell(field(r, "url")), cell(field(r, "weight")), cell(field(r, "state")),
                  cell(field(r, "rif")), fixed(field(r, "latency_ms"), 2), cell(field(r, "requests")),
                  cell(field(r, "errors")), cell(field(r, "in_flight"))});
    return t.render();
}

std::string renderReplicaChange(const json& answer, std::string_view pool, std::string_view what)
{
    const json& r = field(answer, "replica");
    return "pool " + std::string(pool) + ": replica " + cell(field(r, "id")) + " " + std::string(what) + "\n  url " +
           cell(field(r, "url")) + ", state " + cell(field(r, "state")) + ", weight " + cell(field(r, "weight")) +
           "; generation " + cell(field(answer, "generation")) + "\n";
}

std::string renderAlgorithm(const json& answer)
{
    const json& algo = field(answer, "algorithm");
    std::string text = "pool " + cell(field(answer, "pool")) + ": algorithm " + cell(field(algo, "name"));
    text += " (" + paramsText(field(algo, "params"));
    if (!field(algo, "hash_key").is_null())
        text += " hash_key=" + cell(field(algo, "hash_key"));
    return text + "); generation " + cell(field(answer, "generation")) + "\n";
}

std::string renderHealthCheck(const json& answer)
{
    Table t({{"ID"}, {"OK"}, {"STATUS", Align::Right}, {"STATE"}, {"REASON"}});
    for (const auto& r : field(answer, "results").is_array() ? field(answer, "results") : json::array())
        t.addRow({cell(field(r, "id")), cell(field(r, "ok")), cell(field(r, "status")), cell(field(r, "state")),
                  field(r, "reason") == "" ? "-" : cell(field(r, "reason"))});
    return "pool " + cell(field(answer, "pool")) + ", generation " + cell(field(answer, "generation")) + "\n" +
           t.render();
}

std::string renderStats(const json& s)
{
    const json& rates = field(s, "rates");
    const json& lat = field(s, "latency_ms");
    std::string out = "sample " + cell(field(s, "id")) + ", generation " + cell(field(s, "generation")) +
                      ", uptime " + fixed(field(s, "uptime_s"), 1) + " s\n";
    out += "requests/s " + fixed(field(rates, "requests_per_s"), 1) + ", 5xx/s " +
           fixed(field(rates, "errors_per_s"), 1) + ", upstream errors/s " +
           fixed(field(rates, "upstream_errors_per_s"), 1) + ", in flight " + cell(field(s, "in_flight")) +
           ", connections " + cell(field(s, "connections_open")) + "\n";
    out += "latency ms: p50 " + cell(field(lat, "p50")) + ", p90 " + cell(field(lat, "p90")) + ", p99 " +
           cell(field(lat, "p99")) + ", p99.9 " + cell(field(lat, "p999")) + "\n";
    for (const auto& p : field(s, "pools").is_array() ? field(s, "pools") : json::array()) {
        out += "\npool " + cell(field(p, "name")) + " (" + cell(field(p, "algorithm")) + "): requests/s " +
               fixed(field(p, "requests_per_s"), 1) + ", no replica " + cell(field(p, "no_replica"));
        if (const json& pq = field(p, "prequal"); pq.is_object())
            out += ", probe pool " + cell(field(pq, "pool_size")) + "/" + cell(field(pq, "pool_capacity")) +
                   ", hot above RIF " + cell(field(pq, "hot_threshold"));
        out += "\n";
        Table t({{"ID"},
                 {"STATE"},
                 {"WEIGHT", Align::Right},
                 {"REQ/S", Align::Right},
                 {"SHARE", Align::Right},
                 {"IN_FLIGHT", Align::Right},
                 {"RIF", Align::Right},
                 {"P50_MS", Align::Right},
                 {"P99_MS", Align::Right},
                 {"ERRORS", Align::Right},
                 {"STANDING"}});
        for (const auto& r : field(p, "replicas").is_array() ? field(p, "replicas") : json::array())
            t.addRow({cell(field(r, "id")), cell(field(r, "state")), cell(field(r, "weight")),
                      fixed(field(r, "requests_per_s"), 1), fixed(field(r, "share"), 3),
                      cell(field(r, "in_flight")), cell(field(r, "rif")), cell(field(field(r, "latency_ms"), "p50")),
                      cell(field(field(r, "latency_ms"), "p99")), cell(field(field(r, "errors"), "total")),
                      cell(field(field(r, "prequal"), "standing"))});
        out += t.render();
    }
    return out;
}

json paramsJson(std::string_view name)
{
    const auto one = [](const common::AlgorithmSpec& a) {
        json params = json::array();
        for (const auto& p : a.params)
            params.push_back({{"name", p.name},
                              {"min", p.min},
                              {"max", p.max},
                              {"default", p.def},
                              {"range", common::formatRange(p)},
                              {"integer", p.integer},
                              {"prime", p.prime},
                              {"help", p.help}});
        return json{{"name", a.name}, {"summary", a.summary}, {"uses_hash_key", a.uses_hash_key}, {"params", params}};
    };
    if (!name.empty()) {
        const auto* a = common::findAlgorithm(name);
        return a ? one(*a) : json();
    }
    json all = json::array();
    for (const auto& a : common::algorithms())
        all.push_back(one(a));
    return json{{"algorithms", all}};
}

std::string renderParams(std::string_view name)
{
    if (name.empty()) {
        Table t({{"ALGORITHM"}, {"PARAMETERS"}, {"SUMMARY"}});
        for (const auto& a : common::algorithms()) {
            std::string params;
            for (const auto& p : a.params)
                params += (params.empty() ? "" : " ") + std::string(p.name);
            if (a.uses_hash_key)
                params += (params.empty() ? "" : " ") + std::string("hash_key");
            t.addRow({std::string(a.name), params.empty() ? "-" : params, std::string(a.summary)});
        }
        return t.render();
    }
    const auto* a = common::findAlgorithm(name);
    if (!a)
        return {};
    Table t({{"PARAMETER"}, {"RANGE"}, {"DEFAULT", Align::Right}, {"DESCRIPTION"}});
    for (const auto& p : a->params) {
        std::string range = common::formatRange(p);
        if (p.prime)
            range += ", prime";
        else if (p.integer)
            range += ", whole";
        t.addRow({std::string(p.name), range, common::formatNumber(p.def), std::string(p.help)});
    }
    std::string out = std::string(a->name) + ": " + std::string(a->summary) + "\n";
    if (!a->params.empty())
        out += t.render();
    else
        out += "no parameters\n";
    if (a->uses_hash_key)
        out += "hash_key: client (default), path, or header:<Name>\n";
    return out;
}

} // namespace dlb::ctl
