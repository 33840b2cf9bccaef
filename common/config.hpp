#pragma once
// dlb-agent's configuration model (DESIGN.md, "Contract"). Plain C++20 + nlohmann/json: the
// agent, dlbctl and the console all parse and validate through this one file.

#include "algorithm_params.hpp"

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace dlb::common {

// Named defaults: every limit and timeout has one, and a config key that overrides it.
inline constexpr unsigned kDefaultMaxHeaderBytes = 16384;
inline constexpr unsigned kDefaultMaxHeaders = 100;
inline constexpr unsigned kDefaultConnectTimeoutMs = 2000;
inline constexpr unsigned kDefaultHeaderTimeoutMs = 10000;
inline constexpr unsigned kDefaultIdleTimeoutMs = 60000;
inline constexpr unsigned kDefaultResponseTimeoutMs = 60000;
inline constexpr unsigned kDefaultUpstreamIdleMs = 30000;
inline constexpr unsigned kDefaultDrainTimeoutMs = 10000;
// nginx's client_body_timeout and send_timeout: 60 s between two reads of a request body, and
// for a client to take the answer bytes queued for it.
inline constexpr unsigned kDefaultBodyTimeoutMs = 60000;
inline constexpr unsigned kDefaultSendTimeoutMs = 60000;
// nginx's keepalive_requests, off by default (0): load generators and pooled clients that do
// not honour Connection: close would see closed connections. Pipelining is bounded anyway
// (agent/proxy/session.hpp).
inline constexpr unsigned kDefaultMaxRequestsPerConnection = 0;
inline constexpr unsigned kDefaultMaxIdleUpstreamPerReplica = 64;
// A TLS handshake (client side of a listener, or to an https:// replica) that takes longer is
// cut off: a client that connects and says nothing must not hold a connection and an SSL
// object. Local handshakes take about a millisecond; 5 s leaves room for slow mobile clients.
inline constexpr unsigned kDefaultTlsHandshakeTimeoutMs = 5000;
// GET /v1/stats/stream sends one event per control.stats_interval_ms: whole seconds, since the
// stats are sampled once a second, up to a minute.
inline constexpr unsigned kDefaultStatsIntervalMs = 1000;
inline constexpr unsigned kStatsIntervalStepMs = 1000;
inline constexpr unsigned kMaxStatsIntervalMs = 60000;
inline constexpr unsigned kMaxWorkers = 64;
// A replica id: a control API path segment, a log word and a metrics label.
inline constexpr std::size_t kMaxReplicaIdBytes = 128;
// A replica's weight (pools[].replicas[].weight, PUT .../weight): the console's weight editors
// take their range from here too.
inline constexpr unsigned kMinReplicaWeight = 1;
inline constexpr unsigned kMaxReplicaWeight = 1000000;

// Replica discovery by DNS (pools[].discovery; agent/discovery). An entry is re-resolved every
// interval_ms, sooner when the answer's TTL is shorter, but never more often than the floor: a
// TTL of 0 must not make the agent query in a loop.
inline constexpr unsigned kDefaultDiscoveryIntervalMs = 30000;
inline constexpr unsigned kMinDiscoveryIntervalMs = 1000;
inline constexpr unsigned kMaxDiscoveryIntervalMs = 86400000;
// Resolvers a discovery entry (or the top-level "resolvers") may name; c-ares tries them in order.
inline constexpr std::size_t kMaxDiscoveryResolvers = 8;
inline constexpr uint16_t kDefaultDnsPort = 53;

struct Endpoint {
    std::string host; // numeric IPv4/IPv6 address or a host name
    uint16_t port = 0;
    bool operator==(const Endpoint&) const = default;
};

// "host:port", "[v6]:port". Returns nullopt with `why` set when malformed.
std::optional<Endpoint> parseEndpoint(std::string_view text, std::string* why = nullptr);

// One more certificate of a TLS listener, served to clients whose SNI names one of
// `server_names` ("www.example.com", or "*.example.com" for one label).
struct TlsCertificateConfig {
    std::vector<std::string> server_names; // lower case
    std::string certificate;
    std::string private_key;
    bool operator==(const TlsCertificateConfig&) const = default;
};

// A listener's TLS: `certificate`/`private_key` is the default, served when the client's SNI
// matches none of `certificates` (or it sends none).
struct TlsConfig {
    std::string certificate;
    std::string private_key;
    std::vector<TlsCertificateConfig> certificates;
    std::string client_ca;      // PEM bundle the client certificates are verified against
    bool verify_client = false; // true: a client without a certificate valid for client_ca is refused
    bool operator==(const TlsConfig&) const = default;
};

// TLS to a pool's https:// replicas.
struct UpstreamTlsConfig {
    std::string ca_file;     // empty: the system's bundle
    bool verify = true;      // false: no certificate or name check (testing only)
    std::string server_name; // empty: the replica's host; else sent as SNI and checked instead
    bool operator==(const UpstreamTlsConfig&) const = default;
};

struct ListenerConfig {
    std::string address; // as written, "0.0.0.0:8080"
    Endpoint endpoint;
    std::optional<TlsConfig> tls;
    bool operator==(const ListenerConfig&) const = default;
};

struct ControlToken {
    std::string name;
    std::string role;   // "admin" or "viewer"
    std::string sha256; // lower-case hex of the token's SHA-256; the token itself is never stored
    bool operator==(const ControlToken&) const = default;
};

struct ControlConfig {
    std::string unix_socket; // empty: none
    std::string address;     // empty: no TCP control listener
    Endpoint endpoint;       // `address` parsed; meaningful only when address is set
    std::vector<ControlToken> tokens;
    std::optional<TlsConfig> tls; // TLS on the TCP control listener (needs `address`)
    unsigned stats_interval_ms = kDefaultStatsIntervalMs; // SSE stats stream period
    bool operator==(const ControlConfig&) const = default;
};

struct RouteConfig {
    std::string path_prefix;
    std::string pool;
    bool operator==(const RouteConfig&) const = default;
};

struct ReplicaConfig {
    std::string url;  // "http://host:port" or "https://host:port" as written
    std::string id;   // stable identifier, defaults to "host:port"
    Endpoint endpoint;
    std::string host_header; // "host:port" as it should appear in Host when the replica is probed
    unsigned weight = 1;
    bool https = false; // https:// URL: TLS to the replica, set up by the pool's `tls`
    bool operator==(const ReplicaConfig&) const = default;
};

// One pools[].discovery entry: {"url": "dns://name:port"} (every A and AAAA address becomes a
// replica on that port) or {"url": "srv://_service._tcp.name"} (SRV: each target's addresses on
// the record's port, lowest priority only).
struct DiscoveryConfig {
    std::string url;   // as written
    bool srv = false;  // srv:// (else dns://)
    std::string name;  // the name queried: "replicas.example.svc", "_http._tcp.replicas.example.svc"
    uint16_t port = 0; // dns:// only
    unsigned interval_ms = kDefaultDiscoveryIntervalMs;
    bool https = false; // "scheme": "https"
    unsigned weight = 1; // dns:// only; srv:// takes each record's weight
    std::vector<Endpoint> resolvers; // numeric addresses; empty: Config::resolvers
    bool operator==(const DiscoveryConfig&) const = default;
};

struct ProbeConfig {
    std::string path = "/ping";
    unsigned timeout_ms = 50;
    bool operator==(const ProbeConfig&) const = default;
};

struct HealthCheckConfig {
    bool enabled = true;
    std::string path = "/healthz";
    unsigned interval_ms = 2000;
    unsigned timeout_ms = 1000;
    unsigned rise = 2;
    unsigned fall = 3;
    // Percent of a pool's replicas that must be usable; below it the pool balances over all of
    // its replicas (Envoy's panic threshold): a wrong verdict must not turn load into an outage.
    unsigned panic_threshold = 50;
    bool operator==(const HealthCheckConfig&) const = default;
};

struct PoolConfig {
    std::string name;
    AlgorithmConfig algorithm;
    ProbeConfig probe;
    HealthCheckConfig health_check;
    std::vector<ReplicaConfig> replicas;
    std::vector<DiscoveryConfig> discovery; // replicas found by DNS, beside `replicas`
    UpstreamTlsConfig tls; // used by https:// replicas only
    bool operator==(const PoolConfig&) const = default;
};

struct TimeoutsConfig {
    unsigned connect_ms = kDefaultConnectTimeoutMs;
    unsigned header_ms = kDefaultHeaderTimeoutMs;
    unsigned idle_ms = kDefaultIdleTimeoutMs;
    unsigned response_ms = kDefaultResponseTimeoutMs;
    unsigned upstream_idle_ms = kDefaultUpstreamIdleMs;
    unsigned drain_ms = kDefaultDrainTimeoutMs;
    unsigned body_ms = kDefaultBodyTimeoutMs;
    unsigned send_ms = kDefaultSendTimeoutMs;
    unsigned tls_handshake_ms = kDefaultTlsHandshakeTimeoutMs;
    bool operator==(const TimeoutsConfig&) const = default;
};

struct LimitsConfig {
    unsigned max_header_bytes = kDefaultMaxHeaderBytes;
    unsigned max_headers = kDefaultMaxHeaders;
    uint64_t max_body_bytes = 0; // 0: unlimited (bodies are streamed, never buffered whole)
    unsigned max_idle_upstream_per_replica = kDefaultMaxIdleUpstreamPerReplica;
    unsigned max_requests_per_connection = kDefaultMaxRequestsPerConnection;
    bool operator==(const LimitsConfig&) const = default;
};

struct AccessLogConfig {
    std::string path;            // empty: no access log; "-": standard output
    std::string format = "json"; // only "json" so far
    bool operator==(const AccessLogConfig&) const = default;
};

struct Config {
    unsigned workers = 0; // 0: one per core
    std::vector<ListenerConfig> listeners;
    ControlConfig control;
    std::vector<RouteConfig> routes;
    std::vector<PoolConfig> pools;
    TimeoutsConfig timeouts;
    LimitsConfig limits;
    AccessLogConfig access_log;
    // DNS servers of discovery entries that name none; empty: the system's (/etc/resolv.conf).
    std::vector<Endpoint> resolvers;

    const PoolConfig* findPool(std::string_view name) const;
    // Lets a reload tell what changed; defaulted, so a new field is compared without a word.
    bool operator==(const Config&) const = default;
};

struct ConfigError {
    std::string path;   // JSON path, "pools[0].algorithm.q_rif"
    std::string reason; // "must be in [0,1], got 1.7"
    std::string toString() const { return path.empty() ? reason : path + ": " + reason; }
    bool operator==(const ConfigError&) const = default;
};

struct ConfigResult {
    std::optional<Config> config; // set only when errors is empty
    std::vector<ConfigError> errors;
};

// Parses and validates. Unknown keys are errors (a typo must not silently fall back to a
// default); every error found is reported, not only the first.
ConfigResult parseConfig(const nlohmann::json& doc);
ConfigResult parseConfigText(std::string_view text);
// Parses JSON text as strictly as a config file is read (syntax errors and duplicate keys are
// errors, appended with their JSON path): for control-API request bodies. False on error.
bool parseJsonText(std::string_view text, nlohmann::json& out, std::vector<ConfigError>& errors);
// A whole file's bytes; false with errno set when it cannot be opened or read.
bool readFileText(const std::string& path, std::string* text);
// `text_out`, when given, receives the bytes read (whatever the verdict).
ConfigResult loadConfigFile(const std::string& path, std::string* text_out = nullptr);

// The inverse of parseConfig: parseConfig(toJson(c)) yields c again.
nlohmann::json toJson(const Config& config);

// The pieces the control API changes at runtime, validated exactly as in a config file so both
// paths give the same messages. `path` prefixes every error path ("pools[0].algorithm").
// An algorithm is {"name": ..., <param>: ..., "hash_key": ...} or {"name": ..., "params": {...},
// "hash_key": ...}; a replica is {"url": ..., "weight": ..., "id": ...}. nullopt when an error
// was appended.
std::optional<AlgorithmConfig> parseAlgorithmConfig(const nlohmann::json& doc,
                                                    std::vector<ConfigError>& errors,
                                                    const std::string& path = {});
std::optional<ReplicaConfig> parseReplicaConfig(const nlohmann::json& doc,
                                                std::vector<ConfigError>& errors,
                                                const std::string& path = {});
// Canonical forms, as they appear inside toJson(Config): parameters beside "name".
nlohmann::json toJson(const AlgorithmConfig& algorithm);
nlohmann::json toJson(const ReplicaConfig& replica);

} // namespace dlb::common
