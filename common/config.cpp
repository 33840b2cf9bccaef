#include "config.hpp"

#include <nlohmann/json.hpp>

#include <arpa/inet.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>

namespace dlb::common {
namespace {

using nlohmann::json;

enum class Presence { Optional, Required };

std::string join(const std::string& path, std::string_view key) {
    return path.empty() ? std::string(key) : path + "." + std::string(key);
}

std::string indexed(const std::string& path, size_t i) {
    return path + "[" + std::to_string(i) + "]";
}

// JSON-quoted, so a message shows exactly which string was meant, spaces and all.
std::string quote(std::string_view text) {
    return json(text).dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string commaList(const std::vector<std::string_view>& names) {
    std::string out;
    for (std::string_view name : names) {
        out += out.empty() ? "" : ", ";
        out += name;
    }
    return out;
}

std::string article(std::string_view what) {
    return std::string(what.front() == 'a' || what.front() == 'o' ? "an " : "a ") + std::string(what);
}

// Reads JSON into the config model, appending every problem to one error list instead of
// stopping at the first, so a user fixes a file in one round.
class Reader {
public:
    explicit Reader(std::vector<ConfigError>& errors) : errors_(errors) {}

    void fail(std::string path, std::string reason) {
        errors_.push_back({std::move(path), std::move(reason)});
    }
    size_t errorCount() const { return errors_.size(); }

    bool isType(const json& j, const std::string& path, json::value_t type, std::string_view what) {
        // A whole-number field also arrives as number_unsigned or number_integer.
        const bool ok = type == json::value_t::number_float ? j.is_number() : j.type() == type;
        if (!ok) {
            fail(path, "must be " + article(what) + ", got " + j.type_name());
        }
        return ok;
    }

    // True when `j` is an object; reports every key not in `keys`.
    bool object(const json& j, const std::string& path, const std::vector<std::string_view>& keys) {
        if (!isType(j, path, json::value_t::object, "object")) {
            return false;
        }
        for (const auto& [key, value] : j.items()) {
            if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
                fail(join(path, key), "unknown key; expected one of: " + commaList(keys));
            }
        }
        return true;
    }

    // The member `key` of object `obj`, or nullptr (reported when required).
    const json* member(const json& obj, const std::string& path, std::string_view key,
                       Presence presence) {
        auto it = obj.find(key);
        if (it == obj.end()) {
            if (presence == Presence::Required) {
                fail(join(path, key), "required");
            }
            return nullptr;
        }
        return &*it;
    }

    // Strings are never empty: an empty value is a mistake, and an absent key means "none".
    bool string(const json& obj, const std::string& path, std::string_view key, std::string& out,
                Presence presence = Presence::Optional) {
        const json* j = member(obj, path, key, presence);
        if (!j || !isType(*j, join(path, key), json::value_t::string, "string")) {
            return false;
        }
        if (j->get_ref<const std::string&>().empty()) {
            fail(join(path, key), "must not be empty");
            return false;
        }
        out = j->get<std::string>();
        return true;
    }

    bool boolean(const json& obj, const std::string& path, std::string_view key, bool& out) {
        const json* j = member(obj, path, key, Presence::Optional);
        if (!j || !isType(*j, join(path, key), json::value_t::boolean, "boolean")) {
            return false;
        }
        out = j->get<bool>();
        return true;
    }

    template <class T>
    bool whole(const json& obj, const std::string& path, std::string_view key, T& out,
               uint64_t min, uint64_t max, Presence presence = Presence::Optional) {
        const json* j = member(obj, path, key, presence);
        if (!j) {
            return false;
        }
        const auto value = wholeNumber(*j, join(path, key), min, max);
        if (value) {
            out = static_cast<T>(*value);
        }
        return value.has_value();
    }

private:
    std::optional<uint64_t> wholeNumber(const json& j, const std::string& path, uint64_t min,
                                        uint64_t max) {
        if (!isType(j, path, json::value_t::number_float, "number")) {
            return std::nullopt;
        }
        const auto outOfRange = [&](const std::string& got) {
            fail(path, max == UINT64_MAX ? "must not be negative, got " + got
                                         : "must be in [" + std::to_string(min) + "," +
                                               std::to_string(max) + "], got " + got);
            return std::nullopt;
        };
        if (j.is_number_integer()) {
            // Parsed non-negative integers are number_unsigned; only built ones can be signed.
            if (!j.is_number_unsigned() && j.get<int64_t>() < 0) {
                return outOfRange(std::to_string(j.get<int64_t>()));
            }
            const auto u = j.get<uint64_t>();
            return u < min || u > max ? outOfRange(std::to_string(u)) : std::optional(u);
        }
        const double d = j.get<double>();
        // 2^64 itself does not fit; every double below it that is whole does.
        const double top = max == UINT64_MAX ? 18446744073709551616.0 : static_cast<double>(max) + 1;
        if (!(d >= static_cast<double>(min) && d < top)) {
            return outOfRange(formatNumber(d));
        }
        if (d != std::trunc(d)) {
            fail(path, "must be a whole number, got " + formatNumber(d));
            return std::nullopt;
        }
        return static_cast<uint64_t>(d);
    }

    std::vector<ConfigError>& errors_;
};

// ---- endpoints and URLs ----------------------------------------------------------------------

bool fail(std::string* why, std::string reason) {
    if (why) {
        *why = std::move(reason);
    }
    return false;
}

bool validHostName(std::string_view host) {
    if (host.size() > 253) {
        return false;
    }
    size_t label = 0;
    for (char c : host) {
        if (c == '.') {
            if (label == 0) {
                return false;
            }
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '-' || c == '_') {
            ++label;
        } else {
            return false;
        }
    }
    return label > 0 || host.ends_with('.');
}

bool validHost(std::string_view host, bool bracketed, std::string* why) {
    const std::string text(host);
    unsigned char buf[16];
    if (bracketed) {
        return inet_pton(AF_INET6, text.c_str(), buf) == 1 ||
               fail(why, "invalid IPv6 address " + quote(host));
    }
    if (host.find_first_not_of("0123456789.") == std::string_view::npos) {
        return inet_pton(AF_INET, text.c_str(), buf) == 1 ||
               fail(why, "invalid IPv4 address " + quote(host));
    }
    return validHostName(host) || fail(why, "invalid host name " + quote(host));
}

// "host:port" or "[v6]:port"; without a port only when `default_port` is given.
std::optional<Endpoint> parseHostPort(std::string_view text, std::optional<uint16_t> default_port,
                                      bool allow_zero_port,
                                      std::string* why) {
    const char* shape = default_port ? "host[:port]" : "host:port";
    if (text.empty()) {
        fail(why, std::string("expected ") + shape + ", got an empty string");
        return std::nullopt;
    }
    std::string_view host;
    std::optional<std::string_view> port;
    const bool bracketed = text.front() == '[';
    if (bracketed) {
        const size_t close = text.find(']');
        if (close == std::string_view::npos) {
            fail(why, "missing \"]\" after the IPv6 address");
            return std::nullopt;
        }
        host = text.substr(1, close - 1);
        const std::string_view rest = text.substr(close + 1);
        if (!rest.empty() && rest.front() != ':') {
            fail(why, "expected \":port\" after \"]\", got " + quote(rest));
            return std::nullopt;
        }
        if (!rest.empty()) {
            port = rest.substr(1);
        }
    } else {
        const size_t colon = text.rfind(':');
        if (colon != std::string_view::npos && text.find(':') != colon) {
            fail(why, "an IPv6 address must be in brackets, as in [::1]:8080");
            return std::nullopt;
        }
        host = text.substr(0, colon);
        if (colon != std::string_view::npos) {
            port = text.substr(colon + 1);
        }
    }
    if (host.empty()) {
        fail(why, std::string("missing host; expected ") + shape);
        return std::nullopt;
    }
    if (!validHost(host, bracketed, why)) {
        return std::nullopt;
    }
    Endpoint endpoint{std::string(host), default_port.value_or(0)};
    if (!port && !default_port) {
        fail(why, std::string("missing port; expected ") + shape);
        return std::nullopt;
    }
    if (port) {
        if (port->empty() || port->size() > 5 ||
            port->find_first_not_of("0123456789") != std::string_view::npos) {
            fail(why, std::string("port must be a number in [") + (allow_zero_port ? "0" : "1") + ",65535], got " + quote(*port));
            return std::nullopt;
        }
        const unsigned long value = std::stoul(std::string(*port));
        // Port 0 (listeners only) asks the kernel for a free port; the agent prints the one it got.
        if (value < (allow_zero_port ? 0UL : 1UL) || value > 65535) {
            fail(why, std::string("port must be in [") + (allow_zero_port ? "0" : "1") + ",65535], got " + std::to_string(value));
            return std::nullopt;
        }
        endpoint.port = static_cast<uint16_t>(value);
    }
    return endpoint;
}

std::string hostPort(const Endpoint& endpoint) {
    const bool v6 = endpoint.host.find(':') != std::string::npos;
    return (v6 ? "[" + endpoint.host + "]" : endpoint.host) + ":" + std::to_string(endpoint.port);
}

// "http://host[:port][/]": the agent speaks plain HTTP/1.1 to replicas, and each replica is a
// whole server, so a path, user information or another scheme would be silently ignored.
std::optional<Endpoint> parseReplicaUrl(std::string_view url, std::string* why) {
    const size_t sep = url.find("://");
    if (sep == std::string_view::npos) {
        fail(why, "must be an http:// URL, as in http://127.0.0.1:9001");
        return std::nullopt;
    }
    std::string scheme(url.substr(0, sep));
    for (char& c : scheme) {
        c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    }
    if (scheme != "http") {
        fail(why, "only http:// replicas are supported, got " + quote(url.substr(0, sep + 3)));
        return std::nullopt;
    }
    const std::string_view rest = url.substr(sep + 3);
    const size_t end = rest.find_first_of("/?#");
    const std::string_view authority = rest.substr(0, end);
    const std::string_view tail = end == std::string_view::npos ? "" : rest.substr(end);
    if (authority.find('@') != std::string_view::npos) {
        fail(why, "must not contain user information");
        return std::nullopt;
    }
    if (!tail.empty() && tail != "/") {
        fail(why, "must not have a path, query or fragment, got " + quote(tail));
        return std::nullopt;
    }
    return parseHostPort(authority, 80, false, why);
}

// A path the agent writes into a request line itself, so it must be one.
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
            const std::string tls_path = join(path, "tls");
            if (r.object(*tls, tls_path, {"certificate", "private_key"})) {
                TlsConfig t;
                r.string(*tls, tls_path, "certificate", t.certificate, Presence::Required);
                r.string(*tls, tls_path, "private_key", t.private_key, Presence::Required);
                listener.tls = t;
            }
        }
        config.listeners.push_back(std::move(listener));
    }
}

void parseControl(Reader& r, const json& doc, Config& config) {
    const json* control = r.member(doc, "", "control", Presence::Optional);
    if (!control || !r.object(*control, "control", {"unix_socket", "address", "tokens"})) {
        return;
    }
    ControlConfig& c = config.control;
    r.string(*control, "control", "unix_socket", c.unix_socket);
    if (r.string(*control, "control", "address", c.address)) {
        std::string why;
        if (auto endpoint = parseHostPort(c.address, std::nullopt, true, &why)) {
            c.endpoint = *endpoint;
            for (size_t i = 0; i < config.listeners.size(); ++i) {
                if (config.listeners[i].endpoint == c.endpoint) {
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
    if (!j || !r.object(*j, path, {"enabled", "path", "interval_ms", "timeout_ms", "rise", "fall"})) {
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
    // A check that may take longer than its interval would overlap the next one.
    if (interval_ok && timeout_ok && hc.timeout_ms >= hc.interval_ms) {
        r.fail(join(path, "timeout_ms"), "must be less than interval_ms (" +
                                             std::to_string(hc.interval_ms) + "), got " +
                                             std::to_string(hc.timeout_ms));
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
        if (!r.object(item, path, {"name", "algorithm", "probe", "health_check", "replicas"})) {
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
                                         "upstream_idle_ms", "drain_ms"})) {
        return;
    }
    constexpr uint64_t kDayMs = 86400000;
    r.whole(*j, "timeouts", "connect_ms", t.connect_ms, 1, kDayMs);
    r.whole(*j, "timeouts", "header_ms", t.header_ms, 1, kDayMs);
    r.whole(*j, "timeouts", "idle_ms", t.idle_ms, 1, kDayMs);
    r.whole(*j, "timeouts", "response_ms", t.response_ms, 1, kDayMs);
    r.whole(*j, "timeouts", "upstream_idle_ms", t.upstream_idle_ms, 1, kDayMs);
    r.whole(*j, "timeouts", "drain_ms", t.drain_ms, 1, kDayMs);
}

void parseLimits(Reader& r, const json& doc, LimitsConfig& l) {
    const json* j = r.member(doc, "", "limits", Presence::Optional);
    if (!j || !r.object(*j, "limits", {"max_header_bytes", "max_headers", "max_body_bytes",
                                       "max_idle_upstream_per_replica"})) {
        return;
    }
    r.whole(*j, "limits", "max_header_bytes", l.max_header_bytes, 1024, 1048576);
    r.whole(*j, "limits", "max_headers", l.max_headers, 1, 10000);
    r.whole(*j, "limits", "max_body_bytes", l.max_body_bytes, 0, UINT64_MAX);
    r.whole(*j, "limits", "max_idle_upstream_per_replica", l.max_idle_upstream_per_replica, 0, 100000);
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

// nlohmann keeps the last of two equal keys without a word. In a config that hides a mistake
// (a second "q_rif" further down silently wins), so a SAX pass over the text finds them.
class DuplicateKeyFinder : public nlohmann::json_sax<json> {
public:
    explicit DuplicateKeyFinder(std::vector<ConfigError>& errors) : errors_(errors) {}

    bool null() override { return value(); }
    bool boolean(bool) override { return value(); }
    bool number_integer(number_integer_t) override { return value(); }
    bool number_unsigned(number_unsigned_t) override { return value(); }
    bool number_float(number_float_t, const string_t&) override { return value(); }
    bool string(string_t&) override { return value(); }
    bool binary(binary_t&) override { return value(); }
    bool start_object(std::size_t) override { return open(false); }
    bool end_object() override { return close(); }
    bool start_array(std::size_t) override { return open(true); }
    bool end_array() override { return close(); }
    bool key(string_t& name) override {
        Frame& frame = stack_.back();
        frame.key = name;
        if (!frame.keys.insert(name).second) {
            errors_.push_back({join(frame.path, name), "duplicate key"});
        }
        return true;
    }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
        return false; // the DOM parse has already reported syntax errors
    }

private:
    struct Frame {
        bool array = false;
        size_t next = 0; // index of the next element, in an array
        std::string path;
        std::string key; // the current key, in an object
        std::set<std::string> keys;
    };

    bool value() {
        if (!stack_.empty() && stack_.back().array) {
            ++stack_.back().next;
        }
        return true;
    }
    bool open(bool array) {
        std::string path;
        if (!stack_.empty()) {
            const Frame& parent = stack_.back();
            path = parent.array ? indexed(parent.path, parent.next) : join(parent.path, parent.key);
        }
        stack_.push_back({array, 0, std::move(path), {}, {}});
        return true;
    }
    bool close() {
        stack_.pop_back();
        return value();
    }

    std::vector<ConfigError>& errors_;
    std::vector<Frame> stack_;
};

} // namespace

std::optional<Endpoint> parseEndpoint(std::string_view text, std::string* why) {
    return parseHostPort(text, std::nullopt, true, why);
}

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
        if (auto endpoint = parseReplicaUrl(replica.url, &why)) {
            replica.endpoint = *endpoint;
            replica.host_header = hostPort(*endpoint);
            replica.id = replica.host_header;
        } else {
            r.fail(join(path, "url"), why);
        }
    }
    r.whole(doc, path, "weight", replica.weight, 1, 1000000);
    // The id is a path segment of the control API (DELETE .../replicas/{id}).
    if (r.string(doc, path, "id", replica.id) && replica.id.find('/') != std::string::npos) {
        r.fail(join(path, "id"), "must not contain \"/\", got " + quote(replica.id));
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
                           "limits", "access_log"})) {
        r.whole(doc, "", "workers", config.workers, 0, kMaxWorkers);
        parseListeners(r, doc, config);
        parseControl(r, doc, config);
        parsePools(r, doc, config, result.errors);
        parseRoutes(r, doc, config);
        parseTimeouts(r, doc, config.timeouts);
        parseLimits(r, doc, config.limits);
        parseAccessLog(r, doc, config.access_log);
    }
    if (result.errors.empty()) {
        result.config = std::move(config);
    }
    return result;
}

ConfigResult parseConfigText(std::string_view text) {
    json doc;
    try {
        doc = json::parse(text.begin(), text.end());
    } catch (const json::parse_error& e) {
        // what() is "[json.exception.parse_error.101] parse error at line 2, column 7: ...".
        std::string message = e.what();
        if (const size_t start = message.find("] "); start != std::string::npos) {
            message.erase(0, start + 2);
        }
        return {std::nullopt,
                {{"", "invalid JSON: " + message + " (byte " + std::to_string(e.byte) + ")"}}};
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

ConfigResult loadConfigFile(const std::string& path) {
    const auto cannotRead = [] {
        return ConfigResult{std::nullopt, {{"", std::string("cannot read file: ") + std::strerror(errno)}}};
    };
    std::FILE* file = std::fopen(path.c_str(), "rb");
    if (!file) {
        return cannotRead();
    }
    std::string text;
    char buf[65536];
    size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, file)) > 0) {
        text.append(buf, n);
    }
    // A directory opens fine on Linux; reading it is what fails (EISDIR).
    const bool failed = std::ferror(file) != 0;
    const int saved = errno;
    std::fclose(file);
    if (failed) {
        errno = saved;
        return cannotRead();
    }
    return parseConfigText(text);
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

json toJson(const Config& config) {
    json j = json::object();
    j["workers"] = config.workers;
    j["listeners"] = json::array();
    for (const ListenerConfig& listener : config.listeners) {
        json l = {{"address", listener.address}};
        if (listener.tls) {
            l["tls"] = {{"certificate", listener.tls->certificate},
                        {"private_key", listener.tls->private_key}};
        }
        j["listeners"].push_back(std::move(l));
    }
    const ControlConfig& control = config.control;
    if (!control.unix_socket.empty() || !control.address.empty() || !control.tokens.empty()) {
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
                             {"rise", hc.rise},               {"fall", hc.fall}};
        p["replicas"] = json::array();
        for (const ReplicaConfig& replica : pool.replicas) {
            p["replicas"].push_back(toJson(replica));
        }
        j["pools"].push_back(std::move(p));
    }
    const TimeoutsConfig& t = config.timeouts;
    j["timeouts"] = {{"connect_ms", t.connect_ms},   {"header_ms", t.header_ms},
                     {"idle_ms", t.idle_ms},         {"response_ms", t.response_ms},
                     {"upstream_idle_ms", t.upstream_idle_ms}, {"drain_ms", t.drain_ms}};
    const LimitsConfig& l = config.limits;
    j["limits"] = {{"max_header_bytes", l.max_header_bytes},
                   {"max_headers", l.max_headers},
                   {"max_body_bytes", l.max_body_bytes},
                   {"max_idle_upstream_per_replica", l.max_idle_upstream_per_replica}};
    json log = {{"format", config.access_log.format}};
    if (!config.access_log.path.empty()) {
        log["path"] = config.access_log.path;
    }
    j["access_log"] = std::move(log);
    return j;
}

} // namespace dlb::common
