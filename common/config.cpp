#include "config.hpp"
#include "config_detail.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>

namespace dlb::common {
namespace {

using namespace detail;

bool checkRequestPath(Reader& r, const std::string& path, const std::string& value) {
    if (!value.starts_with('/')) {
        r.fail(path, "must start with \"/\", got " + quote(value));
        return false;
    }
    for (char c : value) {
        if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
            r.fail(path, "must not contain spaces or control characters, got " + quote(value));
            return false;
        }
    }
    return true;
}

// A server name as SNI carries it (RFC 6066: a DNS host name, never an address), lower case;
// "*.example.com" stands for exactly one more label, as certificate wildcards do.
bool checkServerName(Reader& r, const std::string& path, std::string& name) {
    for (char& c : name) {
        c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    }
    std::string_view rest = name;
    if (rest.starts_with("*.")) {
        rest.remove_prefix(2);
    }
    bool ok = !rest.empty() && rest.size() <= 253 && rest.front() != '.' && rest.back() != '.' &&
              rest.find("..") == std::string_view::npos &&
              rest.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-.") == std::string_view::npos;
    // An address is not a server name: clients send no SNI for one.
    ok = ok && rest.find_first_not_of("0123456789.") != std::string_view::npos;
    if (!ok) {
        r.fail(path, "must be a DNS name such as \"www.example.com\" or \"*.example.com\", got " +
                         quote(name));
    }
    return ok;
}

// {"certificate", "private_key", "certificates": [...], "client_ca", "verify_client"}. Whether
// the files exist and match is checked by the agent when it loads them (agent/tls), in the
// one function that both start and --check call.
bool parseListenerTls(Reader& r, const json& tls, const std::string& path, TlsConfig& t) {
    const size_t before = r.errorCount();
    if (!r.object(tls, path, {"certificate", "private_key", "certificates", "client_ca", "verify_client"})) {
        return false;
    }
    r.string(tls, path, "certificate", t.certificate, Presence::Required);
    r.string(tls, path, "private_key", t.private_key, Presence::Required);
    r.string(tls, path, "client_ca", t.client_ca);
    r.boolean(tls, path, "verify_client", t.verify_client);
    if (t.verify_client && t.client_ca.empty()) {
        r.fail(join(path, "client_ca"), "required when verify_client is true (the CA bundle client "
                                        "certificates are checked against)");
    } else if (!t.verify_client && !t.client_ca.empty()) {
        r.fail(join(path, "verify_client"), "must be true when client_ca is set (a CA bundle that "
                                            "is never used is a mistake)");
    }
    const json* list = r.member(tls, path, "certificates", Presence::Optional);
    const std::string list_path = join(path, "certificates");
    if (list && r.isType(*list, list_path, json::value_t::array, "array")) {
        std::map<std::string, std::string> names; // name -> where it was first given
        for (size_t i = 0; i < list->size(); ++i) {
            const std::string item_path = indexed(list_path, i);
            const json& item = (*list)[i];
            if (!r.object(item, item_path, {"server_names", "certificate", "private_key"})) {
                continue;
            }
            TlsCertificateConfig cert;
            r.string(item, item_path, "certificate", cert.certificate, Presence::Required);
            r.string(item, item_path, "private_key", cert.private_key, Presence::Required);
            const std::string names_path = join(item_path, "server_names");
            const json* sn = r.member(item, item_path, "server_names", Presence::Required);
            if (sn && r.isType(*sn, names_path, json::value_t::array, "array")) {
                if (sn->empty()) {
                    r.fail(names_path, "must not be empty");
                }
                for (size_t k = 0; k < sn->size(); ++k) {
                    const std::string name_path = indexed(names_path, k);
                    if (!r.isType((*sn)[k], name_path, json::value_t::string, "string")) {
                        continue;
                    }
                    std::string name = (*sn)[k].get<std::string>();
                    if (!checkServerName(r, name_path, name)) {
                        continue;
                    }
                    if (const auto [it, fresh] = names.emplace(name, name_path); !fresh) {
                        r.fail(name_path, "duplicate server name " + quote(name) + " (also " + it->second + ")");
                    }
                    cert.server_names.push_back(std::move(name));
                }
            }
            t.certificates.push_back(std::move(cert));
        }
    }
    return r.errorCount() == before;
}

void parsePoolTls(Reader& r, const json& pool, const std::string& pool_path, UpstreamTlsConfig& tls) {
    const std::string path = join(pool_path, "tls");
    const json* j = r.member(pool, pool_path, "tls", Presence::Optional);
    if (!j || !r.object(*j, path, {"ca_file", "verify", "server_name"})) {
        return;
    }
    r.string(*j, path, "ca_file", tls.ca_file);
    r.boolean(*j, path, "verify", tls.verify);
    if (r.string(*j, path, "server_name", tls.server_name)) {
        checkServerName(r, join(path, "server_name"), tls.server_name);
        if (tls.server_name.starts_with("*.")) {
            r.fail(join(path, "server_name"), "must be one name, not a wildcard, got " + quote(tls.server_name));
        }
    }
    if (!tls.verify && !tls.ca_file.empty()) {
        r.fail(join(path, "ca_file"), "is never used when verify is false; remove one of them");
    }
}

// ---- sections --------------------------------------------------------------------------------

void parseListeners(Reader& r, const json& doc, Config& config) {
    const json* list = r.member(doc, "", "listeners", Presence::Required);
    if (!list || !r.isType(*list, "listeners", json::value_t::array, "array")) {
        return;
    }
    if (list->empty()) {
        r.fail("listeners", "must not be empty");
    }
    std::map<std::pair<std::string, uint16_t>, size_t> seen;
    for (size_t i = 0; i < list->size(); ++i) {
        const std::string path = indexed("listeners", i);
        const json& item = (*list)[i];
        if (!r.object(item, path, {"address", "tls"})) {
            continue;
        }
        ListenerConfig listener;
        if (r.string(item, path, "address", listener.address, Presence::Required)) {
            std::string why;
            if (auto endpoint = parseHostPort(listener.address, std::nullopt, true, &why)) {
                listener.endpoint = *endpoint;
                const auto [it, fresh] = seen.emplace(std::pair(endpoint->host, endpoint->port), i);
                if (!fresh) {
                    r.fail(join(path, "address"),
                           "duplicate listener address (also " + indexed("listeners", it->second) + ")");
                }
            } else {
                r.fail(join(path, "address"), why);
            }
        }
        if (const json* tls = r.member(item, path, "tls", Presence::Optional)) {
            TlsConfig t;
            if (parseListenerTls(r, *tls, join(path, "tls"), t)) {
                listener.tls = std::move(t);
            }
        }
        config.listeners.push_back(std::move(listener));
    }
}

void parseControl(Reader& r, const json& doc, Config& config) {
    const json* control = r.member(doc, "", "control", Presence::Optional);
    if (!control || !r.object(*control, "control", {"unix_socket", "address", "tokens", "tls", "stats_interval_ms"})) {
        return;
    }
    ControlConfig& c = config.control;
    r.string(*control, "control", "unix_socket", c.unix_socket);
    if (r.string(*control, "control", "address", c.address)) {
        std::string why;
        if (auto endpoint = parseHostPort(c.address, std::nullopt, true, &why)) {
            c.endpoint = *endpoint;
            // Port 0 is a different kernel-chosen port for each socket: no clash.
            for (size_t i = 0; i < config.listeners.size(); ++i) {
                if (c.endpoint.port != 0 && config.listeners[i].endpoint == c.endpoint) {
                    r.fail("control.address", "same address as " + indexed("listeners", i));
                }
            }
        } else {
            r.fail("control.address", why);
        }
    }
    const json* tokens = r.member(*control, "control", "tokens", Presence::Optional);
    if (tokens && r.isType(*tokens, "control.tokens", json::value_t::array, "array")) {
        std::map<std::string, size_t> names;
        for (size_t i = 0; i < tokens->size(); ++i) {
            const std::string path = indexed("control.tokens", i);
            const json& item = (*tokens)[i];
            if (!r.object(item, path, {"name", "role", "sha256"})) {
                continue;
            }
            ControlToken token;
            if (r.string(item, path, "name", token.name, Presence::Required)) {
                if (const auto [it, fresh] = names.emplace(token.name, i); !fresh) {
                    r.fail(join(path, "name"), "duplicate token name " + quote(token.name) +
                                                   " (also " + indexed("control.tokens", it->second) + ")");
                }
            }
            if (r.string(item, path, "role", token.role, Presence::Required) &&
                token.role != "admin" && token.role != "viewer") {
                r.fail(join(path, "role"), "must be \"admin\" or \"viewer\", got " + quote(token.role));
            }
            if (r.string(item, path, "sha256", token.sha256, Presence::Required)) {
                const bool hex = token.sha256.size() == 64 &&
                                 token.sha256.find_first_not_of("0123456789abcdefABCDEF") ==
                                     std::string::npos;
                if (!hex) {
                    r.fail(join(path, "sha256"),
                           "must be exactly 64 hex characters (the SHA-256 of the token)");
                }
                for (char& ch : token.sha256) {
                    ch = (ch >= 'A' && ch <= 'F') ? static_cast<char>(ch - 'A' + 'a') : ch;
                }
            }
            c.tokens.push_back(std::move(token));
        }
    }
    if (const json* tls = r.member(*control, "control", "tls", Presence::Optional)) {
        TlsConfig t;
        if (parseListenerTls(r, *tls, "control.tls", t)) {
            c.tls = std::move(t);
        }
        if (c.address.empty()) {
            r.fail("control.tls", "needs control.address (the Unix socket speaks no TLS)");
        }
    }
    if (!c.unix_socket.empty()) {
        // sockaddr_un::sun_path holds 108 bytes with the terminating NUL.
        if (c.unix_socket.size() > 107) {
            r.fail("control.unix_socket", "must be at most 107 bytes (a Unix socket path limit), got " +
                                              std::to_string(c.unix_socket.size()));
        } else if (c.unix_socket.back() == '/') {
            r.fail("control.unix_socket", "must name a file, not a folder, got " + quote(c.unix_socket));
        }
    }
    if (r.whole(*control, "control", "stats_interval_ms", c.stats_interval_ms, kStatsIntervalStepMs,
                kMaxStatsIntervalMs) &&
        c.stats_interval_ms % kStatsIntervalStepMs != 0) {
        r.fail("control.stats_interval_ms", "must be a whole number of seconds (a multiple of 1000: stats are "
                                            "sampled once a second), got " + std::to_string(c.stats_interval_ms));
    }
    // Anyone who can reach a TCP port could otherwise change the balancer.
    if (!c.address.empty() && (!tokens || (tokens->is_array() && tokens->empty()))) {
        r.fail("control.tokens", "a TCP control listener needs at least one token");
    }
}

void parseProbe(Reader& r, const json& pool, const std::string& pool_path, ProbeConfig& probe) {
    const std::string path = join(pool_path, "probe");
    const json* j = r.member(pool, pool_path, "probe", Presence::Optional);
    if (!j || !r.object(*j, path, {"path", "timeout_ms"})) {
        return;
    }
    if (r.string(*j, path, "path", probe.path)) {
        checkRequestPath(r, join(path, "path"), probe.path);
    }
    r.whole(*j, path, "timeout_ms", probe.timeout_ms, 1, 60000);
}

void parseHealthCheck(Reader& r, const json& pool, const std::string& pool_path,
                      HealthCheckConfig& hc) {
    const std::string path = join(pool_path, "health_check");
    const json* j = r.member(pool, pool_path, "health_check", Presence::Optional);
    if (!j || !r.object(*j, path, {"enabled", "path", "interval_ms", "timeout_ms", "rise", "fall",
                                   "panic_threshold"})) {
        return;
    }
    r.boolean(*j, path, "enabled", hc.enabled);
    if (r.string(*j, path, "path", hc.path)) {
        checkRequestPath(r, join(path, "path"), hc.path);
    }
    const bool interval_ok = r.whole(*j, path, "interval_ms", hc.interval_ms, 100, 3600000) ||
                             !j->contains("interval_ms");
    const bool timeout_ok = r.whole(*j, path, "timeout_ms", hc.timeout_ms, 1, 60000) ||
                            !j->contains("timeout_ms");
    r.whole(*j, path, "rise", hc.rise, 1, 100);
    r.whole(*j, path, "fall", hc.fall, 1, 100);
    r.whole(*j, path, "panic_threshold", hc.panic_threshold, 0, 100);
    // A check that may take longer than its interval would overlap the next one.
    if (interval_ok && timeout_ok && hc.timeout_ms >= hc.interval_ms) {
        r.fail(join(path, "timeout_ms"), "must be less than interval_ms (" +
                                             std::to_string(hc.interval_ms) + "), got " +
                                             std::to_string(hc.timeout_ms));
    }
}

// "resolvers": ["127.0.0.1:5353", "[::1]", "10.0.0.10"]: numeric addresses (a resolver found by
// name would need a resolver), port 53 unless given.
void parseResolvers(Reader& r, const json& obj, const std::string& path, std::vector<Endpoint>& out) {
    const json* list = r.member(obj, path, "resolvers", Presence::Optional);
    const std::string list_path = join(path, "resolvers");
    if (!list || !r.isType(*list, list_path, json::value_t::array, "array")) {
        return;
    }
    if (list->empty()) {
        r.fail(list_path, "must not be empty; leave the key out to use the system's resolvers");
    } else if (list->size() > kMaxDiscoveryResolvers) {
        r.fail(list_path, "must name at most " + std::to_string(kMaxDiscoveryResolvers) + " resolvers, got " +
                              std::to_string(list->size()));
    }
    for (size_t i = 0; i < list->size(); ++i) {
        const std::string item_path = indexed(list_path, i);
        if (!r.isType((*list)[i], item_path, json::value_t::string, "string")) {
            continue;
        }
        const std::string text = (*list)[i].get<std::string>();
        std::string why;
        auto endpoint = parseHostPort(text, kDefaultDnsPort, false, &why);
        if (endpoint && endpoint->host.find(':') == std::string::npos &&
            endpoint->host.find_first_not_of("0123456789.") != std::string::npos) {
            endpoint.reset();
            why = "must be an IP address (a resolver cannot be found by name), as in \"10.0.0.10\", "
                  "\"127.0.0.1:5353\" or \"[::1]:53\", got " + quote(text);
        }
        if (!endpoint) {
            r.fail(item_path, why);
            continue;
        }
        out.push_back(*endpoint);
    }
}

// The name of a dns:// or srv:// URL: a DNS name, never an address (there is nothing to
// discover about an address; write it under "replicas").
bool checkDiscoveryName(Reader& r, const std::string& path, std::string_view name, const std::string& url) {
    std::string why;
    const bool numeric = name.find(':') != std::string_view::npos || name.starts_with('[') ||
                         name.find_first_not_of("0123456789.") == std::string_view::npos;
    if (numeric) {
        r.fail(path, "names an address, not a DNS name, in " + quote(url) +
                         "; write an address under \"replicas\" instead");
        return false;
    }
    if (!parseHostPort(name, 1, false, &why)) {
        r.fail(path, why + " in " + quote(url));
        return false;
    }
    return true;
}

void parseDiscoveryUrl(Reader& r, const std::string& path, DiscoveryConfig& d) {
    const std::string url_path = join(path, "url");
    constexpr std::string_view kDns = "dns://", kSrv = "srv://";
    const std::string_view url = d.url;
    if (url.starts_with(kDns)) {
        const std::string_view rest = url.substr(kDns.size());
        const size_t colon = rest.rfind(':');
        if (colon == std::string_view::npos || rest.find('/') != std::string_view::npos) {
            r.fail(url_path, "must be dns://NAME:PORT, as in \"dns://replicas.example.svc:8080\", got " + quote(url));
            return;
        }
        if (!checkDiscoveryName(r, url_path, rest.substr(0, colon), d.url)) {
            return;
        }
        std::string why;
        auto endpoint = parseHostPort(rest, std::nullopt, false, &why);
        if (!endpoint) {
            r.fail(url_path, why + " in " + quote(url));
            return;
        }
        d.name = endpoint->host;
        d.port = endpoint->port;
    } else if (url.starts_with(kSrv)) {
        const std::string_view rest = url.substr(kSrv.size());
        const char* shape = "must be srv://_SERVICE._tcp.NAME, as in \"srv://_http._tcp.replicas.example.svc\" (the "
                            "port comes from the SRV records), got ";
        const size_t dot1 = rest.find('.');
        const size_t dot2 = dot1 == std::string_view::npos ? dot1 : rest.find('.', dot1 + 1);
        if (rest.find_first_of(":/") != std::string_view::npos || dot2 == std::string_view::npos ||
            !rest.starts_with('_') || dot1 < 2 || rest.substr(dot1 + 1, dot2 - dot1 - 1) != "_tcp" ||
            dot2 + 1 >= rest.size() || rest[dot2 + 1] == '.') {
            r.fail(url_path, shape + quote(url));
            return;
        }
        if (!checkDiscoveryName(r, url_path, rest, d.url)) {
            return;
        }
        d.srv = true;
        d.name = std::string(rest);
    } else {
        r.fail(url_path, "must start with dns:// (A and AAAA records: \"dns://replicas.example.svc:8080\") or srv:// "
                         "(SRV records: \"srv://_http._tcp.replicas.example.svc\"), got " + quote(url));
    }
}

void parseDiscovery(Reader& r, const json& pool, const std::string& pool_path, std::vector<DiscoveryConfig>& out) {
    const json* list = r.member(pool, pool_path, "discovery", Presence::Optional);
    const std::string list_path = join(pool_path, "discovery");
    if (!list || !r.isType(*list, list_path, json::value_t::array, "array")) {
        return;
    }
    std::map<std::string, size_t, std::less<>> urls;
    for (size_t i = 0; i < list->size(); ++i) {
        const std::string path = indexed(list_path, i);
        const json& item = (*list)[i];
        if (!r.object(item, path, {"url", "interval_ms", "scheme", "weight", "resolvers"})) {
            continue;
        }
        DiscoveryConfig d;
        if (r.string(item, path, "url", d.url, Presence::Required)) {
            parseDiscoveryUrl(r, path, d);
            if (const auto [it, fresh] = urls.emplace(d.url, i); !fresh) {
                r.fail(join(path, "url"), "duplicate discovery url " + quote(d.url) + " (also " +
                                              indexed(list_path, it->second) + ")");
            }
        }
        r.whole(item, path, "interval_ms", d.interval_ms, kMinDiscoveryIntervalMs, kMaxDiscoveryIntervalMs);
        std::string scheme = "http";
        if (r.string(item, path, "scheme", scheme) && scheme != "http" && scheme != "https") {
            r.fail(join(path, "scheme"), "must be \"http\" or \"https\", got " + quote(scheme));
        }
        d.https = scheme == "https";
        if (item.contains("weight") && d.srv) {
            r.fail(join(path, "weight"), "srv:// entries take each replica's weight from its SRV record "
                                         "(weight 0 counts as 1); remove \"weight\"");
        } else {
            r.whole(item, path, "weight", d.weight, kMinReplicaWeight, kMaxReplicaWeight);
        }
        parseResolvers(r, item, path, d.resolvers);
        out.push_back(std::move(d));
    }
}

void parsePools(Reader& r, const json& doc, Config& config, std::vector<ConfigError>& errors) {
    const json* list = r.member(doc, "", "pools", Presence::Required);
    if (!list || !r.isType(*list, "pools", json::value_t::array, "array")) {
        return;
    }
    if (list->empty()) {
        r.fail("pools", "must not be empty");
    }
    std::map<std::string, size_t, std::less<>> names;
    for (size_t i = 0; i < list->size(); ++i) {
        const std::string path = indexed("pools", i);
        const json& item = (*list)[i];
        if (!r.object(item, path, {"name", "algorithm", "probe", "health_check", "replicas", "discovery", "tls"})) {
            continue;
        }
        PoolConfig pool;
        if (r.string(item, path, "name", pool.name, Presence::Required)) {
            // The name appears in control-API paths and metric labels, so it stays plain.
            if (pool.name.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                            "0123456789_.-") != std::string::npos) {
                r.fail(join(path, "name"), "must contain only letters, digits, \"_\", \".\" and "
                                           "\"-\", got " + quote(pool.name));
            } else if (const auto [it, fresh] = names.emplace(pool.name, i); !fresh) {
                r.fail(join(path, "name"), "duplicate pool name " + quote(pool.name) + " (also " +
                                               indexed("pools", it->second) + ")");
            }
        }
        if (const json* algo = r.member(item, path, "algorithm", Presence::Optional)) {
            if (auto parsed = parseAlgorithmConfig(*algo, errors, join(path, "algorithm"))) {
                pool.algorithm = std::move(*parsed);
            }
        } else {
            pool.algorithm = *defaultAlgorithm("round_robin");
        }
        parseProbe(r, item, path, pool.probe);
        parseHealthCheck(r, item, path, pool.health_check);
        parsePoolTls(r, item, path, pool.tls);
        const json* replicas = r.member(item, path, "replicas", Presence::Optional);
        const std::string replicas_path = join(path, "replicas");
        if (replicas && r.isType(*replicas, replicas_path, json::value_t::array, "array")) {
            std::map<std::string, size_t, std::less<>> ids;
            for (size_t k = 0; k < replicas->size(); ++k) {
                const std::string replica_path = indexed(replicas_path, k);
                auto replica = parseReplicaConfig((*replicas)[k], errors, replica_path);
                if (!replica) {
                    continue;
                }
                if (const auto [it, fresh] = ids.emplace(replica->id, k); !fresh) {
                    r.fail(join(replica_path, "id"),
                           "duplicate replica id " + quote(replica->id) + " (also " +
                               indexed(replicas_path, it->second) + ")");
                }
                pool.replicas.push_back(std::move(*replica));
            }
        }
        parseDiscovery(r, item, path, pool.discovery);
        config.pools.push_back(std::move(pool));
    }
}

void parseRoutes(Reader& r, const json& doc, Config& config) {
    const json* pools = doc.contains("pools") ? &doc["pools"] : nullptr;
    const size_t pool_count = pools && pools->is_array() ? pools->size() : 0;
    const json* list = r.member(doc, "", "routes", Presence::Optional);
    if (list && !r.isType(*list, "routes", json::value_t::array, "array")) {
        return;
    }
    if (!list || list->empty()) {
        // One pool needs no routing table; with several, which gets "/" is not ours to guess.
        if (pool_count == 1 && config.pools.size() == 1) {
            config.routes.push_back({"/", config.pools.front().name});
        } else if (pool_count > 1) {
            r.fail("routes", "required when there is more than one pool");
        }
        return;
    }
    std::map<std::string, size_t, std::less<>> prefixes;
    for (size_t i = 0; i < list->size(); ++i) {
        const std::string path = indexed("routes", i);
        const json& item = (*list)[i];
        if (!r.object(item, path, {"path_prefix", "pool"})) {
            continue;
        }
        RouteConfig route;
        if (r.string(item, path, "path_prefix", route.path_prefix, Presence::Required) &&
            checkRequestPath(r, join(path, "path_prefix"), route.path_prefix)) {
            if (const auto [it, fresh] = prefixes.emplace(route.path_prefix, i); !fresh) {
                r.fail(join(path, "path_prefix"), "duplicate path_prefix " + quote(route.path_prefix) +
                                                      " (also " + indexed("routes", it->second) + ")");
            }
        }
        if (r.string(item, path, "pool", route.pool, Presence::Required) &&
            !config.findPool(route.pool)) {
            std::vector<std::string_view> defined;
            for (const PoolConfig& pool : config.pools) {
                defined.push_back(pool.name);
            }
            r.fail(join(path, "pool"), "no pool named " + quote(route.pool) + "; defined: " +
                                           commaList(defined));
        }
        config.routes.push_back(std::move(route));
    }
}

void parseTimeouts(Reader& r, const json& doc, TimeoutsConfig& t) {
    const json* j = r.member(doc, "", "timeouts", Presence::Optional);
    if (!j || !r.object(*j, "timeouts", {"connect_ms", "header_ms", "idle_ms", "response_ms",
                                         "upstream_idle_ms", "drain_ms", "body_ms", "send_ms",
                                         "tls_handshake_ms"})) {
        return;
    }
    constexpr uint64_t kDayMs = 86400000;
    r.whole(*j, "timeouts", "connect_ms", t.connect_ms, 1, kDayMs);
    r.whole(*j, "timeouts", "header_ms", t.header_ms, 1, kDayMs);
    r.whole(*j, "timeouts", "idle_ms", t.idle_ms, 1, kDayMs);
    r.whole(*j, "timeouts", "response_ms", t.response_ms, 1, kDayMs);
    r.whole(*j, "timeouts", "upstream_idle_ms", t.upstream_idle_ms, 1, kDayMs);
    r.whole(*j, "timeouts", "drain_ms", t.drain_ms, 1, kDayMs);
    r.whole(*j, "timeouts", "body_ms", t.body_ms, 1, kDayMs);
    r.whole(*j, "timeouts", "send_ms", t.send_ms, 1, kDayMs);
    r.whole(*j, "timeouts", "tls_handshake_ms", t.tls_handshake_ms, 1, kDayMs);
}

void parseLimits(Reader& r, const json& doc, LimitsConfig& l) {
    const json* j = r.member(doc, "", "limits", Presence::Optional);
    if (!j || !r.object(*j, "limits", {"max_header_bytes", "max_headers", "max_body_bytes",
                                       "max_idle_upstream_per_replica", "max_requests_per_connection"})) {
        return;
    }
    r.whole(*j, "limits", "max_header_bytes", l.max_header_bytes, 1024, 1048576);
    r.whole(*j, "limits", "max_headers", l.max_headers, 1, 10000);
    r.whole(*j, "limits", "max_body_bytes", l.max_body_bytes, 0, UINT64_MAX);
    r.whole(*j, "limits", "max_idle_upstream_per_replica", l.max_idle_upstream_per_replica, 0, 100000);
    r.whole(*j, "limits", "max_requests_per_connection", l.max_requests_per_connection, 0, 1000000);
}

void parseAccessLog(Reader& r, const json& doc, AccessLogConfig& log) {
    const json* j = r.member(doc, "", "access_log", Presence::Optional);
    if (!j || !r.object(*j, "access_log", {"path", "format"})) {
        return;
    }
    r.string(*j, "access_log", "path", log.path);
    if (r.string(*j, "access_log", "format", log.format) && log.format != "json") {
        r.fail("access_log.format", "must be \"json\", got " + quote(log.format));
    }
}

} // namespace

const PoolConfig* Config::findPool(std::string_view name) const {
    for (const PoolConfig& pool : pools) {
        if (pool.name == name) {
            return &pool;
        }
    }
    return nullptr;
}

std::optional<AlgorithmConfig> parseAlgorithmConfig(const json& doc, std::vector<ConfigError>& errors,
                                                    const std::string& path) {
    Reader r(errors);
    const size_t before = r.errorCount();
    if (!r.isType(doc, path, json::value_t::object, "object")) {
        return std::nullopt;
    }
    std::string name;
    if (!r.string(doc, path, "name", name, Presence::Required)) {
        return std::nullopt;
    }
    const AlgorithmSpec* spec = findAlgorithm(name);
    if (!spec) {
        std::vector<std::string_view> names;
        for (const AlgorithmSpec& algo : algorithms()) {
            names.push_back(algo.name);
        }
        r.fail(join(path, "name"), "unknown algorithm " + quote(name) + "; expected one of: " +
                                       commaList(names));
        return std::nullopt;
    }
    std::vector<std::string_view> params;
    std::vector<std::string_view> hashed;
    for (const ParamSpec& param : spec->params) {
        params.push_back(param.name);
    }
    for (const AlgorithmSpec& algo : algorithms()) {
        if (algo.uses_hash_key) {
            hashed.push_back(algo.name);
        }
    }

    std::vector<std::string_view> keys{"name", "params"};
    if (spec->uses_hash_key) {
        keys.push_back("hash_key");
    }
    keys.insert(keys.end(), params.begin(), params.end());
    const auto unknown = [&](const std::string& key_path, const std::vector<std::string_view>& known) {
        r.fail(key_path, params.empty() ? "unknown key; " + name + " takes no parameters"
                                        : "unknown key; expected one of: " + commaList(known));
    };
    for (const auto& [key, value] : doc.items()) {
        if (key == "hash_key" && !spec->uses_hash_key) {
            r.fail(join(path, key), name + " takes no hash_key; only " + commaList(hashed) + " do");
        } else if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
            unknown(join(path, key), keys);
        }
    }

    // Two shapes: parameters beside "name" (config files) or inside "params" (the control API).
    const json* values = &doc;
    std::string values_path = path;
    if (const json* nested = r.member(doc, path, "params", Presence::Optional)) {
        values_path = join(path, "params");
        if (!r.isType(*nested, values_path, json::value_t::object, "object")) {
            return std::nullopt;
        }
        for (const auto& [key, value] : nested->items()) {
            if (std::find(params.begin(), params.end(), key) == params.end()) {
                unknown(join(values_path, key), params);
            }
        }
        for (std::string_view param : params) {
            if (doc.contains(param)) {
                r.fail(join(path, param), "parameters go either beside \"name\" or inside "
                                          "\"params\", not both");
            }
        }
        values = nested;
    }

    AlgorithmConfig config = *defaultAlgorithm(name);
    for (const ParamSpec& param : spec->params) {
        const json* value = r.member(*values, values_path, param.name, Presence::Optional);
        const std::string param_path = join(values_path, param.name);
        if (!value || !r.isType(*value, param_path, json::value_t::number_float, "number")) {
            continue;
        }
        const double number = value->get<double>();
        if (std::string why = checkParam(param, number); !why.empty()) {
            r.fail(param_path, why);
        } else {
            config.params[std::string(param.name)] = number;
        }
    }
    if (name == "ring_hash" && config.param("min_ring_size") > config.param("max_ring_size")) {
        r.fail(join(values_path, "min_ring_size"),
               "must not exceed max_ring_size (" + formatNumber(config.param("max_ring_size")) +
                   "), got " + formatNumber(config.param("min_ring_size")));
    }

    std::string hash_key;
    if (spec->uses_hash_key && r.string(doc, path, "hash_key", hash_key)) {
        if (auto key = parseHashKey(hash_key)) {
            config.hash_key = *key;
        } else {
            r.fail(join(path, "hash_key"),
                   "must be \"client\", \"path\" or \"header:<name>\", got " + quote(hash_key));
        }
    }
    if (r.errorCount() != before) {
        return std::nullopt;
    }
    return config;
}

std::optional<ReplicaConfig> parseReplicaConfig(const json& doc, std::vector<ConfigError>& errors,
                                                const std::string& path) {
    Reader r(errors);
    const size_t before = r.errorCount();
    if (!r.object(doc, path, {"url", "weight", "id"})) {
        return std::nullopt;
    }
    ReplicaConfig replica;
    if (r.string(doc, path, "url", replica.url, Presence::Required)) {
        std::string why;
        if (auto endpoint = parseReplicaUrl(replica.url, &replica.https, &why)) {
            replica.endpoint = *endpoint;
            replica.host_header = hostPort(*endpoint);
            replica.id = replica.host_header;
        } else {
            r.fail(join(path, "url"), why);
        }
    }
    r.whole(doc, path, "weight", replica.weight, kMinReplicaWeight, kMaxReplicaWeight);
    // The id is a path segment of the control API (DELETE .../replicas/{id}), a log word, a
    // Prometheus label and a console table cell: visible ASCII only, no "/", bounded. Control
    // characters in it reached the logs and the Location header as they were.
    if (r.string(doc, path, "id", replica.id)) {
        if (replica.id.size() > kMaxReplicaIdBytes) {
            r.fail(join(path, "id"), "must be at most " + std::to_string(kMaxReplicaIdBytes) + " characters, got " +
                                         std::to_string(replica.id.size()));
        } else if (replica.id.find('/') != std::string::npos) {
            r.fail(join(path, "id"), "must not contain \"/\", got " + quote(replica.id));
        } else if (!std::all_of(replica.id.begin(), replica.id.end(),
                                [](char c) { return c > ' ' && c < 0x7f; })) {
            r.fail(join(path, "id"), "must be visible ASCII characters (no spaces or control characters), got " +
                                         quote(replica.id));
        }
    } else if (doc.is_object() && !doc.contains("id") && replica.id.size() > kMaxReplicaIdBytes) {
        // The default id (host:port) is held to the same bound: a host name may be 253 characters.
        r.fail(join(path, "id"), "must be at most " + std::to_string(kMaxReplicaIdBytes) + " characters, got " +
                                     std::to_string(replica.id.size()) +
                                     " (the URL's host:port, used as the id when none is given); give the replica an "
                                     "\"id\"");
    }
    if (r.errorCount() != before) {
        return std::nullopt;
    }
    return replica;
}

ConfigResult parseConfig(const json& doc) {
    ConfigResult result;
    Reader r(result.errors);
    Config config;
    if (r.object(doc, "", {"workers", "listeners", "control", "routes", "pools", "timeouts",
                           "limits", "access_log", "resolvers"})) {
        r.whole(doc, "", "workers", config.workers, 0, kMaxWorkers);
        parseListeners(r, doc, config);
        parseControl(r, doc, config);
        parsePools(r, doc, config, result.errors);
        parseRoutes(r, doc, config);
        parseTimeouts(r, doc, config.timeouts);
        parseLimits(r, doc, config.limits);
        parseAccessLog(r, doc, config.access_log);
        parseResolvers(r, doc, "", config.resolvers);
    }
    if (result.errors.empty()) {
        result.config = std::move(config);
    }
    return result;
}

namespace {

// nlohmann's what() without its "[json.exception.parse_error.101] " prefix.
std::string jsonExceptionMessage(const json::exception& e) {
    std::string message = e.what();
    if (const size_t start = message.find("] "); start != std::string::npos) {
        message.erase(0, start + 2);
    }
    return message;
}

// Parses `text` into `out`; on failure returns the error to report. nlohmann throws parse_error
// for bad syntax and out_of_range for a number no double holds (1e400): both are the sender's
// mistake, and an uncaught out_of_range aborted `--check` and killed an agent on reload.
std::optional<ConfigError> parseJsonDocument(std::string_view text, json& out) {
    try {
        out = json::parse(text.begin(), text.end());
        return std::nullopt;
    } catch (const json::parse_error& e) {
        // "parse error at line 2, column 7: ...".
        return ConfigError{"", "invalid JSON: " + jsonExceptionMessage(e) + " (byte " + std::to_string(e.byte) + ")"};
    } catch (const json::out_of_range& e) {
        // "number overflow parsing '1e400'".
        return ConfigError{"", "invalid JSON: " + jsonExceptionMessage(e) +
                                   " (numbers must fit a double: at most about 1.8e308)"};
    }
}

} // namespace

ConfigResult parseConfigText(std::string_view text) {
    json doc;
    if (auto error = parseJsonDocument(text, doc)) {
        return {std::nullopt, {std::move(*error)}};
    }
    std::vector<ConfigError> duplicates;
    DuplicateKeyFinder finder(duplicates);
    json::sax_parse(text.begin(), text.end(), &finder);
    ConfigResult result = parseConfig(doc);
    if (!duplicates.empty()) {
        result.errors.insert(result.errors.begin(), duplicates.begin(), duplicates.end());
        result.config.reset();
    }
    return result;
}

bool parseJsonText(std::string_view text, json& out, std::vector<ConfigError>& errors) {
    if (auto error = parseJsonDocument(text, out)) {
        errors.push_back(std::move(*error));
        return false;
    }
    const size_t before = errors.size();
    DuplicateKeyFinder finder(errors);
    json::sax_parse(text.begin(), text.end(), &finder);
    return errors.size() == before;
}

bool readFileText(const std::string& path, std::string* text) {
    std::FILE* file = std::fopen(path.c_str(), "rb");
    if (!file) {
        return false;
    }
    text->clear();
    char buf[65536];
    size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, file)) > 0) {
        text->append(buf, n);
    }
    // A directory opens fine on Linux; reading it is what fails (EISDIR).
    const bool failed = std::ferror(file) != 0;
    const int saved = errno;
    std::fclose(file);
    errno = saved;
    return !failed;
}

ConfigResult loadConfigFile(const std::string& path, std::string* text_out) {
    std::string text;
    if (!readFileText(path, &text)) {
        return ConfigResult{std::nullopt, {{"", std::string("cannot read file: ") + std::strerror(errno)}}};
    }
    ConfigResult result = parseConfigText(text);
    if (text_out) {
        *text_out = std::move(text);
    }
    return result;
}

json toJson(const AlgorithmConfig& algorithm) {
    json j = json::object();
    j["name"] = algorithm.name;
    const AlgorithmSpec* spec = findAlgorithm(algorithm.name);
    if (!spec) {
        return j;
    }
    for (const ParamSpec& param : spec->params) {
        const double value = algorithm.param(param.name);
        // Whole-number parameters are written as integers so the file reads "16", not "16.0".
        if (param.integer) {
            j[std::string(param.name)] = static_cast<int64_t>(value);
        } else {
            j[std::string(param.name)] = value;
        }
    }
    if (spec->uses_hash_key) {
        j["hash_key"] = toString(algorithm.hash_key);
    }
    return j;
}

json toJson(const ReplicaConfig& replica) {
    return {{"url", replica.url}, {"weight", replica.weight}, {"id", replica.id}};
}

namespace {
json tlsJson(const TlsConfig& tls) {
    json t = {{"certificate", tls.certificate}, {"private_key", tls.private_key}};
    if (!tls.certificates.empty()) {
        t["certificates"] = json::array();
        for (const TlsCertificateConfig& cert : tls.certificates) {
            t["certificates"].push_back({{"server_names", cert.server_names},
                                         {"certificate", cert.certificate},
                                         {"private_key", cert.private_key}});
        }
    }
    if (!tls.client_ca.empty()) {
        t["client_ca"] = tls.client_ca;
    }
    if (tls.verify_client) {
        t["verify_client"] = true;
    }
    return t;
}
json resolversJson(const std::vector<Endpoint>& resolvers) {
    json list = json::array();
    for (const Endpoint& e : resolvers) {
        list.push_back(hostPort(e));
    }
    return list;
}

} // namespace

json toJson(const Config& config) {
    json j = json::object();
    j["workers"] = config.workers;
    j["listeners"] = json::array();
    for (const ListenerConfig& listener : config.listeners) {
        json l = {{"address", listener.address}};
        if (listener.tls) {
            l["tls"] = tlsJson(*listener.tls);
        }
        j["listeners"].push_back(std::move(l));
    }
    const ControlConfig& control = config.control;
    if (!control.unix_socket.empty() || !control.address.empty() || !control.tokens.empty() ||
        control.stats_interval_ms != kDefaultStatsIntervalMs) {
        json c = json::object();
        if (!control.unix_socket.empty()) {
            c["unix_socket"] = control.unix_socket;
        }
        if (!control.address.empty()) {
            c["address"] = control.address;
        }
        if (!control.tokens.empty()) {
            c["tokens"] = json::array();
            for (const ControlToken& token : control.tokens) {
                c["tokens"].push_back(
                    {{"name", token.name}, {"role", token.role}, {"sha256", token.sha256}});
            }
        }
        if (control.tls) {
            c["tls"] = tlsJson(*control.tls);
        }
        if (control.stats_interval_ms != kDefaultStatsIntervalMs) {
            c["stats_interval_ms"] = control.stats_interval_ms;
        }
        j["control"] = std::move(c);
    }
    j["routes"] = json::array();
    for (const RouteConfig& route : config.routes) {
        j["routes"].push_back({{"path_prefix", route.path_prefix}, {"pool", route.pool}});
    }
    j["pools"] = json::array();
    for (const PoolConfig& pool : config.pools) {
        json p = {{"name", pool.name}, {"algorithm", toJson(pool.algorithm)}};
        p["probe"] = {{"path", pool.probe.path}, {"timeout_ms", pool.probe.timeout_ms}};
        const HealthCheckConfig& hc = pool.health_check;
        p["health_check"] = {{"enabled", hc.enabled},         {"path", hc.path},
                             {"interval_ms", hc.interval_ms}, {"timeout_ms", hc.timeout_ms},
                             {"rise", hc.rise},               {"fall", hc.fall},
                             {"panic_threshold", hc.panic_threshold}};
        if (pool.tls != UpstreamTlsConfig{}) {
            json t = {{"verify", pool.tls.verify}};
            if (!pool.tls.ca_file.empty()) {
                t["ca_file"] = pool.tls.ca_file;
            }
            if (!pool.tls.server_name.empty()) {
                t["server_name"] = pool.tls.server_name;
            }
            p["tls"] = std::move(t);
        }
        p["replicas"] = json::array();
        for (const ReplicaConfig& replica : pool.replicas) {
            p["replicas"].push_back(toJson(replica));
        }
        if (!pool.discovery.empty()) {
            p["discovery"] = json::array();
            for (const DiscoveryConfig& d : pool.discovery) {
                json e = {{"url", d.url}, {"interval_ms", d.interval_ms}, {"scheme", d.https ? "https" : "http"}};
                if (!d.srv) {
                    e["weight"] = d.weight;
                }
                if (!d.resolvers.empty()) {
                    e["resolvers"] = resolversJson(d.resolvers);
                }
                p["discovery"].push_back(std::move(e));
            }
        }
        j["pools"].push_back(std::move(p));
    }
    const TimeoutsConfig& t = config.timeouts;
    j["timeouts"] = {{"connect_ms", t.connect_ms},   {"header_ms", t.header_ms},
                     {"idle_ms", t.idle_ms},         {"response_ms", t.response_ms},
                     {"upstream_idle_ms", t.upstream_idle_ms}, {"drain_ms", t.drain_ms},
                     {"body_ms", t.body_ms},         {"send_ms", t.send_ms},
                     {"tls_handshake_ms", t.tls_handshake_ms}};
    const LimitsConfig& l = config.limits;
    j["limits"] = {{"max_header_bytes", l.max_header_bytes},
                   {"max_headers", l.max_headers},
                   {"max_body_bytes", l.max_body_bytes},
                   {"max_idle_upstream_per_replica", l.max_idle_upstream_per_replica},
                   {"max_requests_per_connection", l.max_requests_per_connection}};
    json log = {{"format", config.access_log.format}};
    if (!config.access_log.path.empty()) {
        log["path"] = config.access_log.path;
    }
    j["access_log"] = std::move(log);
    if (!config.resolvers.empty()) {
        j["resolvers"] = resolversJson(config.resolvers);
    }
    return j;
}

} // namespace dlb::common
