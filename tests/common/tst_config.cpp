// Config parsing and validation: every message a user can see is asserted word for word, since
// `dlb-agent --check` prints them as they are.
#include "common/config.hpp"

#include <nlohmann/json.hpp>

#include <QtTest>

using namespace dlb::common;
using nlohmann::json;

namespace {

const QString kData = QStringLiteral(DLB_SOURCE_DIR "/tests/common/data/");

QString q(std::string_view text) { return QString::fromUtf8(text.data(), qsizetype(text.size())); }

// All errors, one "path: reason" per line, so a failing comparison shows every one of them.
QString errorsOf(const ConfigResult& result) {
    QStringList lines;
    for (const ConfigError& error : result.errors) {
        lines << q(error.toString());
    }
    return lines.join('\n');
}

// Smallest valid config; bad cases patch it (RFC 7386 merge patch) so each row states only what
// it breaks.
json baseConfig() {
    return {{"listeners", {{{"address", "127.0.0.1:8080"}}}},
            {"pools", {{{"name", "web"}, {"replicas", {{{"url", "http://127.0.0.1:9001"}}}}}}}};
}

ConfigResult parsePatched(const QString& patch) {
    json doc = baseConfig();
    doc.merge_patch(json::parse(patch.toStdString()));
    return parseConfig(doc);
}

const std::string kSha = "bc7c55a37ffb99fb9cd1c82be1e6198a0b5b26998bd0e53d88ad34d7b80d1c02";

} // namespace

class TestConfig : public QObject {
    Q_OBJECT

private slots:
    void designExampleNamesAnUndefinedPool();
    void goodFileParses();
    void tlsFileParses();
    void defaultsAreFilledIn();
    void discoveryParses();
    void badValue_data();
    void badValue();
    void rootMustBeAnObject();
    void reportsEveryErrorTogether();
    void syntaxErrorNamesThePosition();
    void duplicateKeysAreRejected();
    void unreadableFile_data();
    void unreadableFile();
    void controlOnPortZeroBesideListenerOnPortZero();
    void roundTrip_data();
    void roundTrip();
    void canonicalFormIsFlat();
    void parseEndpoint_data();
    void parseEndpoint();
    void replicaUrl_data();
    void replicaUrl();
    void algorithmParamsShape();
    void controlApiPieces();
    void findPool();
};

// TLS on both sides: SNI certificates (names lower-cased), client certificates, https://
// replicas (port 443 by default) and a pool's CA file and server name.
void TestConfig::tlsFileParses() {
    const ConfigResult result = loadConfigFile((kData + "good_tls.json").toStdString());
    QCOMPARE(errorsOf(result), QString());
    const Config& c = *result.config;
    const TlsConfig& tls = *c.listeners[0].tls;
    QCOMPARE(q(tls.certificate), QStringLiteral("default.pem"));
    QCOMPARE(tls.certificates.size(), size_t(2));
    QCOMPARE(tls.certificates[0].server_names,
             (std::vector<std::string>{"api.example.com", "*.api.example.com"}));
    QCOMPARE(q(tls.certificates[1].private_key), QStringLiteral("www.key"));
    QCOMPARE(q(tls.client_ca), QStringLiteral("clients-ca.pem"));
    QVERIFY(tls.verify_client);
    const PoolConfig& web = c.pools[0];
    QCOMPARE(q(web.tls.ca_file), QStringLiteral("internal-ca.pem"));
    QCOMPARE(q(web.tls.server_name), QStringLiteral("backend.internal"));
    QVERIFY(web.tls.verify);
    QVERIFY(web.replicas[0].https);
    QCOMPARE(web.replicas[0].endpoint.port, uint16_t(443));
    QCOMPARE(q(web.replicas[0].host_header), QStringLiteral("10.0.0.1:443"));
    QVERIFY(web.replicas[1].https);
    QCOMPARE(web.replicas[1].endpoint.port, uint16_t(8443));
    QVERIFY(!web.replicas[2].https);
    QVERIFY(!c.pools[1].tls.verify);
    QCOMPARE(c.timeouts.tls_handshake_ms, 1500u);
    QVERIFY(c.control.tls);
    QCOMPARE(q(c.control.tls->certificate), QStringLiteral("control.pem"));
    // Defaults: the system bundle, verification on, the replica's own host as server name.
    QVERIFY(parseConfig(baseConfig()).config->pools[0].tls == UpstreamTlsConfig{});
    QCOMPARE(parseConfig(baseConfig()).config->timeouts.tls_handshake_ms, kDefaultTlsHandshakeTimeoutMs);
}

// DESIGN.md's example, verbatim but for a real token hash: its first route names a pool
// ("admin") that the example never defines, which is exactly the mistake the check must catch.
void TestConfig::designExampleNamesAnUndefinedPool() {
    const ConfigResult result = loadConfigFile((kData + "design_example.json").toStdString());
    QCOMPARE(errorsOf(result), QStringLiteral("routes[0].pool: no pool named \"admin\"; defined: web"));
    QVERIFY(!result.config);
}

// The example with the missing pool added, and most optional keys set to non-defaults.
void TestConfig::goodFileParses() {
    const ConfigResult result = loadConfigFile((kData + "good.json").toStdString());
    QCOMPARE(errorsOf(result), QString());
    QVERIFY(result.config);
    const Config& c = *result.config;
    QCOMPARE(c.workers, 2u);

    QCOMPARE(c.listeners.size(), size_t(2));
    QCOMPARE(q(c.listeners[0].endpoint.host), QStringLiteral("0.0.0.0"));
    QCOMPARE(c.listeners[0].endpoint.port, uint16_t(8080));
    QVERIFY(!c.listeners[0].tls);
    QCOMPARE(q(c.listeners[1].address), QStringLiteral("[::]:8443"));
    QCOMPARE(q(c.listeners[1].endpoint.host), QStringLiteral("::"));
    QVERIFY(c.listeners[1].tls);
    QCOMPARE(q(c.listeners[1].tls->certificate), QStringLiteral("cert.pem"));
    QCOMPARE(q(c.listeners[1].tls->private_key), QStringLiteral("key.pem"));

    QCOMPARE(q(c.control.unix_socket), QStringLiteral("/run/dlb/control.sock"));
    QCOMPARE(c.control.endpoint.port, uint16_t(9090));
    QCOMPARE(c.control.tokens.size(), size_t(2));
    QCOMPARE(q(c.control.tokens[0].role), QStringLiteral("admin"));
    QCOMPARE(q(c.control.tokens[0].sha256), q(kSha)); // written upper-case, stored lower-case
    QCOMPARE(q(c.control.tokens[1].role), QStringLiteral("viewer"));
    QCOMPARE(c.control.stats_interval_ms, 5000u);

    QCOMPARE(c.routes.size(), size_t(2));
    QCOMPARE(q(c.routes[0].path_prefix), QStringLiteral("/admin/"));
    QCOMPARE(q(c.routes[0].pool), QStringLiteral("admin"));

    const PoolConfig& web = c.pools.at(0);
    QCOMPARE(q(web.algorithm.name), QStringLiteral("prequal"));
    QCOMPARE(web.algorithm.params.at("probe_rate"), 2.5);
    QCOMPARE(web.algorithm.params.at("q_rif"), 0.9);
    QCOMPARE(web.algorithm.params.at("pool_size"), 16.0); // not given: default
    QCOMPARE(web.algorithm.params.size(), size_t(12));
    QCOMPARE(web.probe.timeout_ms, 80u);
    QCOMPARE(web.health_check.fall, 5u);
    QCOMPARE(web.replicas.size(), size_t(3));
    QCOMPARE(web.replicas[0].weight, 3u);
    QCOMPARE(q(web.replicas[0].id), QStringLiteral("127.0.0.1:9001"));
    QCOMPARE(web.replicas[1].weight, 1u);
    QCOMPARE(q(web.replicas[2].id), QStringLiteral("backend"));
    QCOMPARE(q(web.replicas[2].host_header), QStringLiteral("backend.internal:80"));

    const PoolConfig& admin = c.pools.at(1);
    QCOMPARE(q(admin.algorithm.name), QStringLiteral("ring_hash"));
    QCOMPARE(admin.algorithm.params.at("min_ring_size"), 2048.0);
    QCOMPARE(admin.algorithm.params.at("max_ring_size"), 8388608.0);
    QCOMPARE(q(toString(admin.algorithm.hash_key)), QStringLiteral("header:x-user"));
    QVERIFY(!admin.health_check.enabled);
    QCOMPARE(q(admin.replicas[0].endpoint.host), QStringLiteral("::1"));
    QCOMPARE(q(admin.replicas[0].host_header), QStringLiteral("[::1]:9101"));
    QCOMPARE(q(admin.replicas[0].id), QStringLiteral("[::1]:9101"));

    QCOMPARE(c.timeouts.upstream_idle_ms, 15000u);
    QCOMPARE(c.timeouts.drain_ms, 3000u);
    QCOMPARE(c.limits.max_body_bytes, uint64_t(10485760));
    QCOMPARE(c.limits.max_idle_upstream_per_replica, 8u);
    QCOMPARE(q(c.access_log.path), QStringLiteral("-"));
}

// Everything left out takes its named default; one pool gets the implied "/" route.
void TestConfig::defaultsAreFilledIn() {
    const ConfigResult result = parseConfig(baseConfig());
    QCOMPARE(errorsOf(result), QString());
    const Config& c = *result.config;
    QCOMPARE(c.workers, 0u);
    QVERIFY(c.control.unix_socket.empty());
    QVERIFY(c.control.address.empty());
    QCOMPARE(c.control.stats_interval_ms, kDefaultStatsIntervalMs);
    QCOMPARE(c.routes.size(), size_t(1));
    QCOMPARE(q(c.routes[0].path_prefix), QStringLiteral("/"));
    QCOMPARE(q(c.routes[0].pool), QStringLiteral("web"));

    const PoolConfig& pool = c.pools.at(0);
    QVERIFY(pool.algorithm == *defaultAlgorithm("round_robin"));
    QVERIFY(pool.probe == ProbeConfig{});
    QCOMPARE(q(pool.probe.path), QStringLiteral("/ping"));
    QVERIFY(pool.health_check == HealthCheckConfig{});
    QCOMPARE(pool.health_check.panic_threshold, 50u); // Envoy's default
    QCOMPARE(pool.replicas.at(0).weight, 1u);
    QCOMPARE(q(pool.replicas.at(0).host_header), QStringLiteral("127.0.0.1:9001"));

    QVERIFY(c.timeouts == TimeoutsConfig{});
    QCOMPARE(c.timeouts.connect_ms, kDefaultConnectTimeoutMs);
    QVERIFY(c.limits == LimitsConfig{});
    QCOMPARE(c.limits.max_header_bytes, kDefaultMaxHeaderBytes);
    QVERIFY(c.access_log.path.empty());
    QCOMPARE(q(c.access_log.format), QStringLiteral("json"));

    // Defaults for a pool's algorithm parameters too.
    const ConfigResult prequal =
        parsePatched(R"({"pools": [{"name": "web", "algorithm": {"name": "prequal"}}]})");
    QCOMPARE(errorsOf(prequal), QString());
    QVERIFY(prequal.config->pools[0].algorithm == *defaultAlgorithm("prequal"));
    QCOMPARE(prequal.config->pools[0].algorithm.params.at("q_rif"), 0.84);
    QVERIFY(prequal.config->pools[0].replicas.empty()); // replicas may be left out
}

// Each discovery entry's URL is split into what is queried; defaults filled in.
void TestConfig::discoveryParses() {
    const ConfigResult result = loadConfigFile((kData + "good_discovery.json").toStdString());
    QCOMPARE(errorsOf(result), QString());
    const Config& c = *result.config;
    QCOMPARE(c.resolvers.size(), size_t{2});
    QVERIFY((c.resolvers[0] == Endpoint{"127.0.0.1", 5353}));
    QVERIFY((c.resolvers[1] == Endpoint{"::1", kDefaultDnsPort}));
    const auto& d = c.pools[0].discovery;
    QCOMPARE(d.size(), size_t{3});
    QVERIFY(!d[0].srv);
    QCOMPARE(q(d[0].name), QStringLiteral("replicas.example.svc"));
    QCOMPARE(d[0].port, uint16_t{8080});
    QCOMPARE(d[0].interval_ms, kDefaultDiscoveryIntervalMs);
    QVERIFY(!d[0].https);
    QCOMPARE(d[0].weight, 1U);
    QVERIFY(d[0].resolvers.empty()); // the top-level ones apply
    QCOMPARE(q(d[1].name), QStringLiteral("Other-Replicas.example.svc."));
    QCOMPARE(d[1].port, uint16_t{8443});
    QCOMPARE(d[1].interval_ms, 5000U);
    QVERIFY(d[1].https);
    QCOMPARE(d[1].weight, 3U);
    QVERIFY((d[1].resolvers == std::vector<Endpoint>{{"10.0.0.10", 53}}));
    QVERIFY(d[2].srv);
    QCOMPARE(q(d[2].name), QStringLiteral("_http._tcp.replicas.example.svc"));
    QCOMPARE(d[2].port, uint16_t{0});
    QCOMPARE(c.pools[1].replicas.size(), size_t{0}); // a pool may have only discovered replicas
    QCOMPARE(c.pools[1].discovery.size(), size_t{1});
}

void TestConfig::badValue_data() {
    QTest::addColumn<QString>("patch");
    QTest::addColumn<QString>("error");

    const auto row = [](const char* name, const char* patch, const char* error) {
        QTest::newRow(name) << QString::fromUtf8(patch) << QString::fromUtf8(error);
    };
    const auto algo = [&](const char* name, const char* algorithm, const char* error) {
        QTest::newRow(name) << QString::fromUtf8(R"({"pools": [{"name": "web", "algorithm": %1}]})")
                                   .arg(QString::fromUtf8(algorithm))
                            << QString::fromUtf8(error);
    };

    // Top level and workers.
    row("unknown top-level key", R"({"wrokers": 2})",
        "wrokers: unknown key; expected one of: workers, listeners, control, routes, pools, "
        "timeouts, limits, access_log, resolvers");
    row("workers too many", R"({"workers": 65})", "workers: must be in [0,64], got 65");
    row("workers negative", R"({"workers": -1})", "workers: must be in [0,64], got -1");
    row("workers fraction", R"({"workers": 2.5})", "workers: must be a whole number, got 2.5");
    row("workers string", R"({"workers": "2"})", "workers: must be a number, got string");
    row("workers boolean", R"({"workers": true})", "workers: must be a number, got boolean");

    // Listeners.
    row("listeners missing", R"({"listeners": null})", "listeners: required");
    row("listeners empty", R"({"listeners": []})", "listeners: must not be empty");
    row("listeners object", R"({"listeners": {}})", "listeners: must be an array, got object");
    row("listener not object", R"({"listeners": ["0.0.0.0:80"]})",
        "listeners[0]: must be an object, got string");
    row("listener unknown key", R"({"listeners": [{"address": "0.0.0.0:80", "port": 80}]})",
        "listeners[0].port: unknown key; expected one of: address, tls");
    row("listener address missing", R"({"listeners": [{}]})", "listeners[0].address: required");
    row("listener address empty", R"({"listeners": [{"address": ""}]})",
        "listeners[0].address: must not be empty");
    row("no port", R"({"listeners": [{"address": "127.0.0.1"}]})",
        "listeners[0].address: missing port; expected host:port");
    row("empty port", R"({"listeners": [{"address": "127.0.0.1:"}]})",
        "listeners[0].address: port must be a number in [0,65535], got \"\"");
    row("port too big", R"({"listeners": [{"address": "127.0.0.1:65536"}]})",
        "listeners[0].address: port must be in [0,65535], got 65536");
    row("port name", R"({"listeners": [{"address": "127.0.0.1:http"}]})",
        "listeners[0].address: port must be a number in [0,65535], got \"http\"");
    row("no host", R"({"listeners": [{"address": ":8080"}]})",
        "listeners[0].address: missing host; expected host:port");
    row("bare v6", R"({"listeners": [{"address": "::1:8080"}]})",
        "listeners[0].address: an IPv6 address must be in brackets, as in [::1]:8080");
    row("unclosed bracket", R"({"listeners": [{"address": "[::1:8080"}]})",
        "listeners[0].address: missing \"]\" after the IPv6 address");
    row("bad v6", R"({"listeners": [{"address": "[zz]:8080"}]})",
        "listeners[0].address: invalid IPv6 address \"zz\"");
    row("bad v4", R"({"listeners": [{"address": "10.0.0.256:8080"}]})",
        "listeners[0].address: invalid IPv4 address \"10.0.0.256\"");
    row("bad host name", R"({"listeners": [{"address": "my host:8080"}]})",
        "listeners[0].address: invalid host name \"my host\"");
    row("duplicate listener",
        R"({"listeners": [{"address": "127.0.0.1:8080"}, {"address": "127.0.0.1:8080"}]})",
        "listeners[1].address: duplicate listener address (also listeners[0])");
    row("tls key missing",
        R"({"listeners": [{"address": "127.0.0.1:8080", "tls": {"certificate": "c.pem"}}]})",
        "listeners[0].tls.private_key: required");
    row("tls certificate empty",
        R"({"listeners": [{"address": "127.0.0.1:8080", "tls": {"certificate": "", "private_key": "k.pem"}}]})",
        "listeners[0].tls.certificate: must not be empty");
    row("tls not object", R"({"listeners": [{"address": "127.0.0.1:8080", "tls": true}]})",
        "listeners[0].tls: must be an object, got boolean");
    const auto tls = [&](const char* name, const char* extra, const char* error) {
        QTest::newRow(name) << QString::fromUtf8(R"({"listeners": [{"address": "127.0.0.1:8443", "tls": )"
                                                 R"({"certificate": "c.pem", "private_key": "k.pem"%1}}]})")
                                   .arg(QString::fromUtf8(extra))
                            << QString::fromUtf8(error);
    };
    tls("tls unknown key", R"(, "ciphers": "ALL")",
        "listeners[0].tls.ciphers: unknown key; expected one of: certificate, private_key, "
        "certificates, client_ca, verify_client");
    tls("verify_client without client_ca", R"(, "verify_client": true)",
        "listeners[0].tls.client_ca: required when verify_client is true (the CA bundle client "
        "certificates are checked against)");
    tls("client_ca without verify_client", R"(, "client_ca": "ca.pem")",
        "listeners[0].tls.verify_client: must be true when client_ca is set (a CA bundle that is "
        "never used is a mistake)");
    tls("verify_client not boolean", R"(, "verify_client": "yes")",
        "listeners[0].tls.verify_client: must be a boolean, got string");
    tls("certificates not array", R"(, "certificates": {})",
        "listeners[0].tls.certificates: must be an array, got object");
    tls("sni names missing", R"(, "certificates": [{"certificate": "a.pem", "private_key": "a.key"}])",
        "listeners[0].tls.certificates[0].server_names: required");
    tls("sni names empty", R"(, "certificates": [{"server_names": [], "certificate": "a.pem", "private_key": "a.key"}])",
        "listeners[0].tls.certificates[0].server_names: must not be empty");
    tls("sni name is an address", R"(, "certificates": [{"server_names": ["10.0.0.1"], "certificate": "a.pem", "private_key": "a.key"}])",
        "listeners[0].tls.certificates[0].server_names[0]: must be a DNS name such as "
        "\"www.example.com\" or \"*.example.com\", got \"10.0.0.1\"");
    tls("sni name with port", R"(, "certificates": [{"server_names": ["a.test:443"], "certificate": "a.pem", "private_key": "a.key"}])",
        "listeners[0].tls.certificates[0].server_names[0]: must be a DNS name such as "
        "\"www.example.com\" or \"*.example.com\", got \"a.test:443\"");
    tls("sni name duplicate", R"(, "certificates": [{"server_names": ["a.test"], "certificate": "a.pem", "private_key": "a.key"}, )"
                              R"({"server_names": ["A.test"], "certificate": "b.pem", "private_key": "b.key"}])",
        "listeners[0].tls.certificates[1].server_names[0]: duplicate server name \"a.test\" (also "
        "listeners[0].tls.certificates[0].server_names[0])");
    tls("sni certificate key missing", R"(, "certificates": [{"server_names": ["a.test"], "certificate": "a.pem"}])",
        "listeners[0].tls.certificates[0].private_key: required");
    row("pool tls unknown key", R"({"pools": [{"name": "web", "tls": {"ca": "x.pem"}}]})",
        "pools[0].tls.ca: unknown key; expected one of: ca_file, verify, server_name");
    row("pool tls ca_file unused", R"({"pools": [{"name": "web", "tls": {"verify": false, "ca_file": "x.pem"}}]})",
        "pools[0].tls.ca_file: is never used when verify is false; remove one of them");
    row("pool tls server_name wildcard", R"({"pools": [{"name": "web", "tls": {"server_name": "*.a.test"}}]})",
        "pools[0].tls.server_name: must be one name, not a wildcard, got \"*.a.test\"");
    row("pool tls server_name empty", R"({"pools": [{"name": "web", "tls": {"server_name": ""}}]})",
        "pools[0].tls.server_name: must not be empty");
    row("tls handshake timeout zero", R"({"timeouts": {"tls_handshake_ms": 0}})",
        "timeouts.tls_handshake_ms: must be in [1,86400000], got 0");

    // Control.
    row("tcp control without tokens", R"({"control": {"address": "127.0.0.1:9090"}})",
        "control.tokens: a TCP control listener needs at least one token");
    row("tcp control with empty tokens", R"({"control": {"address": "127.0.0.1:9090", "tokens": []}})",
        "control.tokens: a TCP control listener needs at least one token");
    row("control address clash",
        R"({"control": {"address": "127.0.0.1:8080", "tokens": [{"name": "c", "role": "admin", "sha256": "bc7c55a37ffb99fb9cd1c82be1e6198a0b5b26998bd0e53d88ad34d7b80d1c02"}]}})",
        "control.address: same address as listeners[0]");
    row("control bad address", R"({"control": {"unix_socket": "/tmp/s", "address": "localhost"}})",
        "control.address: missing port; expected host:port\n"
        "control.tokens: a TCP control listener needs at least one token");
    row("control unknown key", R"({"control": {"socket": "/tmp/s"}})",
        "control.socket: unknown key; expected one of: unix_socket, address, tokens, tls, stats_interval_ms");
    row("control tls without address", R"({"control": {"unix_socket": "/tmp/s", "tls": {"certificate": "c.pem", "private_key": "k.pem"}}})",
        "control.tls: needs control.address (the Unix socket speaks no TLS)");
    row("control tls without key",
        R"({"control": {"address": "127.0.0.1:9090", "tls": {"certificate": "c.pem"}, "tokens": [{"name": "c", "role": "admin", "sha256": "bc7c55a37ffb99fb9cd1c82be1e6198a0b5b26998bd0e53d88ad34d7b80d1c02"}]}})",
        "control.tls.private_key: required");
    static const std::string long_socket = R"({"control": {"unix_socket": "/)" + std::string(107, 'a') + R"("}})";
    row("control socket path too long", long_socket.c_str(),
        "control.unix_socket: must be at most 107 bytes (a Unix socket path limit), got 108");
    row("control socket path a folder", R"({"control": {"unix_socket": "/run/dlb/"}})",
        "control.unix_socket: must name a file, not a folder, got \"/run/dlb/\"");
    row("stats interval not whole seconds", R"({"control": {"unix_socket": "/tmp/s", "stats_interval_ms": 1500}})",
        "control.stats_interval_ms: must be a whole number of seconds (a multiple of 1000: stats are sampled once a "
        "second), got 1500");
    row("stats interval too short", R"({"control": {"unix_socket": "/tmp/s", "stats_interval_ms": 500}})",
        "control.stats_interval_ms: must be in [1000,60000], got 500");
    row("stats interval too long", R"({"control": {"unix_socket": "/tmp/s", "stats_interval_ms": 61000}})",
        "control.stats_interval_ms: must be in [1000,60000], got 61000");
    row("token role",
        R"({"control": {"tokens": [{"name": "c", "role": "root", "sha256": "bc7c55a37ffb99fb9cd1c82be1e6198a0b5b26998bd0e53d88ad34d7b80d1c02"}]}})",
        "control.tokens[0].role: must be \"admin\" or \"viewer\", got \"root\"");
    row("token sha256 short", R"({"control": {"tokens": [{"name": "c", "role": "admin", "sha256": "abc"}]}})",
        "control.tokens[0].sha256: must be exactly 64 hex characters (the SHA-256 of the token)");
    row("token sha256 not hex",
        R"({"control": {"tokens": [{"name": "c", "role": "admin", "sha256": "gc7c55a37ffb99fb9cd1c82be1e6198a0b5b26998bd0e53d88ad34d7b80d1c02"}]}})",
        "control.tokens[0].sha256: must be exactly 64 hex characters (the SHA-256 of the token)");
    row("token name missing",
        R"({"control": {"tokens": [{"role": "admin", "sha256": "bc7c55a37ffb99fb9cd1c82be1e6198a0b5b26998bd0e53d88ad34d7b80d1c02"}]}})",
        "control.tokens[0].name: required");

    // Routes.
    row("route prefix without slash", R"({"routes": [{"path_prefix": "api", "pool": "web"}]})",
        "routes[0].path_prefix: must start with \"/\", got \"api\"");
    row("route prefix with space", R"({"routes": [{"path_prefix": "/a b", "pool": "web"}]})",
        "routes[0].path_prefix: must not contain spaces or control characters, got \"/a b\"");
    row("route to unknown pool", R"({"routes": [{"path_prefix": "/", "pool": "nope"}]})",
        "routes[0].pool: no pool named \"nope\"; defined: web");
    row("duplicate prefix",
        R"({"routes": [{"path_prefix": "/", "pool": "web"}, {"path_prefix": "/", "pool": "web"}]})",
        "routes[1].path_prefix: duplicate path_prefix \"/\" (also routes[0])");
    row("route unknown key", R"({"routes": [{"prefix": "/", "pool": "web"}]})",
        "routes[0].prefix: unknown key; expected one of: path_prefix, pool\n"
        "routes[0].path_prefix: required");
    row("two pools need routes", R"({"pools": [{"name": "a"}, {"name": "b"}]})",
        "routes: required when there is more than one pool");
    row("routes not array", R"({"routes": {"/": "web"}})", "routes: must be an array, got object");

    // Pools.
    row("pools missing", R"({"pools": null})", "pools: required");
    row("pools empty", R"({"pools": []})", "pools: must not be empty");
    row("pool name missing", R"({"pools": [{"replicas": []}]})", "pools[0].name: required");
    row("pool name empty", R"({"pools": [{"name": ""}]})", "pools[0].name: must not be empty");
    row("pool name chars", R"({"pools": [{"name": "web pool"}]})",
        "pools[0].name: must contain only letters, digits, \"_\", \".\" and \"-\", got \"web pool\"");
    row("duplicate pool",
        R"({"pools": [{"name": "web"}, {"name": "web"}], "routes": [{"path_prefix": "/", "pool": "web"}]})",
        "pools[1].name: duplicate pool name \"web\" (also pools[0])");
    row("pool unknown key", R"({"pools": [{"name": "web", "algo": "random"}]})",
        "pools[0].algo: unknown key; expected one of: name, algorithm, probe, health_check, replicas, discovery, "
        "tls");

    // Algorithms.
    algo("q_rif above range", R"({"name": "prequal", "q_rif": 1.7})",
         "pools[0].algorithm.q_rif: must be in [0,1], got 1.7");
    algo("delta exclusive min", R"({"name": "prequal", "delta": 0})",
         "pools[0].algorithm.delta: must be in (0,100], got 0");
    algo("pool_size fraction", R"({"name": "prequal", "pool_size": 2.5})",
         "pools[0].algorithm.pool_size: must be a whole number, got 2.5");
    algo("pool_size negative", R"({"name": "prequal", "pool_size": -1})",
         "pools[0].algorithm.pool_size: must be in [1,256], got -1");
    algo("param not a number", R"({"name": "prequal", "q_rif": "high"})",
         "pools[0].algorithm.q_rif: must be a number, got string");
    algo("nested param range", R"({"name": "prequal", "params": {"q_rif": 2}})",
         "pools[0].algorithm.params.q_rif: must be in [0,1], got 2");
    algo("params not object", R"({"name": "prequal", "params": [1]})",
         "pools[0].algorithm.params: must be an object, got array");
    algo("both shapes", R"({"name": "prequal", "q_rif": 0.5, "params": {"delta": 2}})",
         "pools[0].algorithm.q_rif: parameters go either beside \"name\" or inside \"params\", not both");
    algo("foreign param", R"({"name": "prequal", "choice_count": 2})",
         "pools[0].algorithm.choice_count: unknown key; expected one of: name, params, probe_rate, "
         "pool_size, q_rif, max_age_ms, remove_rate, delta, idle_probe_rate, "
         "max_probes_per_replica_s, error_penalty, probe_fresh_ms, probe_cost_budget, "
         "latency_tolerance");
    algo("foreign nested param", R"({"name": "power_of_d", "params": {"choice_count": 2}})",
         "pools[0].algorithm.params.choice_count: unknown key; expected one of: d");
    algo("param for parameterless", R"({"name": "round_robin", "d": 2})",
         "pools[0].algorithm.d: unknown key; round_robin takes no parameters");
    algo("unknown algorithm", R"({"name": "fastest"})",
         "pools[0].algorithm.name: unknown algorithm \"fastest\"; expected one of: prequal, "
         "round_robin, weighted_round_robin, least_request, power_of_d, random, ip_hash, "
         "ring_hash, maglev");
    algo("algorithm name missing", R"({"q_rif": 0.5})", "pools[0].algorithm.name: required");
    algo("algorithm name number", R"({"name": 1})",
         "pools[0].algorithm.name: must be a string, got number");
    algo("algorithm as string", R"("prequal")",
         "pools[0].algorithm: must be an object, got string");
    algo("ip_hash hash_key", R"({"name": "ip_hash", "hash_key": "client"})",
         "pools[0].algorithm.hash_key: ip_hash takes no hash_key; only ring_hash, maglev do");
    algo("prequal hash_key", R"({"name": "prequal", "hash_key": "path"})",
         "pools[0].algorithm.hash_key: prequal takes no hash_key; only ring_hash, maglev do");
    algo("bad hash_key", R"({"name": "ring_hash", "hash_key": "cookie:id"})",
         "pools[0].algorithm.hash_key: must be \"client\", \"path\" or \"header:<name>\", got "
         "\"cookie:id\"");
    algo("bad header hash_key", R"({"name": "maglev", "hash_key": "header:a b"})",
         "pools[0].algorithm.hash_key: must be \"client\", \"path\" or \"header:<name>\", got "
         "\"header:a b\"");
    algo("ring min above max", R"({"name": "ring_hash", "min_ring_size": 4096, "max_ring_size": 2048})",
         "pools[0].algorithm.min_ring_size: must not exceed max_ring_size (2048), got 4096");
    algo("maglev composite", R"({"name": "maglev", "table_size": 65536})",
         "pools[0].algorithm.table_size: must be a prime number, got 65536");
    algo("choice_count too small", R"({"name": "least_request", "choice_count": 1})",
         "pools[0].algorithm.choice_count: must be in [2,16], got 1");

    // Probe and health check.
    row("probe path", R"({"pools": [{"name": "web", "probe": {"path": "ping"}}]})",
        "pools[0].probe.path: must start with \"/\", got \"ping\"");
    row("probe timeout", R"({"pools": [{"name": "web", "probe": {"timeout_ms": 0}}]})",
        "pools[0].probe.timeout_ms: must be in [1,60000], got 0");
    row("probe unknown key", R"({"pools": [{"name": "web", "probe": {"interval_ms": 10}}]})",
        "pools[0].probe.interval_ms: unknown key; expected one of: path, timeout_ms");
    row("health interval", R"({"pools": [{"name": "web", "health_check": {"interval_ms": 50}}]})",
        "pools[0].health_check.interval_ms: must be in [100,3600000], got 50");
    row("health timeout not below interval",
        R"({"pools": [{"name": "web", "health_check": {"interval_ms": 1000, "timeout_ms": 1000}}]})",
        "pools[0].health_check.timeout_ms: must be less than interval_ms (1000), got 1000");
    row("health default timeout above interval",
        R"({"pools": [{"name": "web", "health_check": {"interval_ms": 500}}]})",
        "pools[0].health_check.timeout_ms: must be less than interval_ms (500), got 1000");
    row("health enabled string", R"({"pools": [{"name": "web", "health_check": {"enabled": "yes"}}]})",
        "pools[0].health_check.enabled: must be a boolean, got string");
    row("panic threshold above 100",
        R"({"pools": [{"name": "web", "health_check": {"panic_threshold": 101}}]})",
        "pools[0].health_check.panic_threshold: must be in [0,100], got 101");
    row("panic threshold fraction",
        R"({"pools": [{"name": "web", "health_check": {"panic_threshold": 50.5}}]})",
        "pools[0].health_check.panic_threshold: must be a whole number, got 50.5");
    row("health rise", R"({"pools": [{"name": "web", "health_check": {"rise": 0}}]})",
        "pools[0].health_check.rise: must be in [1,100], got 0");
    row("health fall", R"({"pools": [{"name": "web", "health_check": {"fall": 101}}]})",
        "pools[0].health_check.fall: must be in [1,100], got 101");
    row("health path", R"({"pools": [{"name": "web", "health_check": {"path": ""}}]})",
        "pools[0].health_check.path: must not be empty");

    // Replicas.
    const auto replica = [&](const char* name, const char* replicas, const char* error) {
        QTest::newRow(name) << QString::fromUtf8(R"({"pools": [{"name": "web", "replicas": [%1]}]})")
                                   .arg(QString::fromUtf8(replicas))
                            << QString::fromUtf8(error);
    };
    row("replicas not array", R"({"pools": [{"name": "web", "replicas": {}}]})",
        "pools[0].replicas: must be an array, got object");
    replica("ftp", R"({"url": "ftp://127.0.0.1:9001"})",
            "pools[0].replicas[0].url: only http:// and https:// replicas are supported, got \"ftp://\"");
    replica("no scheme", R"({"url": "127.0.0.1:9001"})",
            "pools[0].replicas[0].url: must be an http:// or https:// URL, as in http://127.0.0.1:9001");
    replica("path", R"({"url": "http://127.0.0.1:9001/api"})",
            "pools[0].replicas[0].url: must not have a path, query or fragment, got \"/api\"");
    replica("query", R"({"url": "http://127.0.0.1:9001?x=1"})",
            "pools[0].replicas[0].url: must not have a path, query or fragment, got \"?x=1\"");
    replica("userinfo", R"({"url": "http://user:pw@127.0.0.1:9001"})",
            "pools[0].replicas[0].url: must not contain user information");
    replica("url port zero", R"({"url": "http://127.0.0.1:0"})",
            "pools[0].replicas[0].url: port must be in [1,65535], got 0");
    replica("url no host", R"({"url": "http://:9001"})",
            "pools[0].replicas[0].url: missing host; expected host[:port]");
    replica("url missing", R"({"weight": 2})", "pools[0].replicas[0].url: required");
    replica("weight zero", R"({"url": "http://127.0.0.1:9001", "weight": 0})",
            "pools[0].replicas[0].weight: must be in [1,1000000], got 0");
    replica("weight too big", R"({"url": "http://127.0.0.1:9001", "weight": 1000001})",
            "pools[0].replicas[0].weight: must be in [1,1000000], got 1000001");
    replica("weight fraction", R"({"url": "http://127.0.0.1:9001", "weight": 1.5})",
            "pools[0].replicas[0].weight: must be a whole number, got 1.5");
    replica("duplicate default id", R"({"url": "http://127.0.0.1:9001"}, {"url": "http://127.0.0.1:9001/"})",
            "pools[0].replicas[1].id: duplicate replica id \"127.0.0.1:9001\" (also pools[0].replicas[0])");
    replica("duplicate explicit id",
            R"({"url": "http://127.0.0.1:9001", "id": "a"}, {"url": "http://127.0.0.1:9002", "id": "a"})",
            "pools[0].replicas[1].id: duplicate replica id \"a\" (also pools[0].replicas[0])");
    replica("id with slash", R"({"url": "http://127.0.0.1:9001", "id": "a/b"})",
            "pools[0].replicas[0].id: must not contain \"/\", got \"a/b\"");
    // Control characters reached the logs and the control API's Location header as they were.
    replica("id with CR LF", R"({"url": "http://127.0.0.1:9001", "id": "a\r\nX-Evil: 1"})",
            "pools[0].replicas[0].id: must be visible ASCII characters (no spaces or control characters), got "
            "\"a\\r\\nX-Evil: 1\"");
    replica("id with a space", R"({"url": "http://127.0.0.1:9001", "id": "a b"})",
            "pools[0].replicas[0].id: must be visible ASCII characters (no spaces or control characters), got "
            "\"a b\"");
    replica("id not ASCII", R"({"url": "http://127.0.0.1:9001", "id": "caf\u00e9"})",
            "pools[0].replicas[0].id: must be visible ASCII characters (no spaces or control characters), got "
            "\"caf\xc3\xa9\"");
    replica("id empty", R"({"url": "http://127.0.0.1:9001", "id": ""})",
            "pools[0].replicas[0].id: must not be empty");
    const std::string longId = R"({"url": "http://127.0.0.1:9001", "id": ")" + std::string(129, 'a') + R"("})";
    replica("id too long", longId.c_str(),
            "pools[0].replicas[0].id: must be at most 128 characters, got 129");
    // Without an "id" the id is the URL's host:port; a 250-character host name made a 253-character
    // id past the 128 limit that an explicit id is held to.
    const std::string longHost = R"({"url": "http://)" + std::string(250, 'h') + R"(:9001"})";
    replica("default id too long", longHost.c_str(),
            "pools[0].replicas[0].id: must be at most 128 characters, got 255 (the URL's host:port, used as the "
            "id when none is given); give the replica an \"id\"");
    replica("replica unknown key", R"({"url": "http://127.0.0.1:9001", "name": "r1"})",
            "pools[0].replicas[0].name: unknown key; expected one of: url, weight, id");

    // Discovery by DNS (pools[].discovery) and its resolvers.
    const auto disc = [&](const char* name, const char* entries, const char* error) {
        QTest::newRow(name) << QString::fromUtf8(R"({"pools": [{"name": "web", "discovery": [%1]}]})")
                                   .arg(QString::fromUtf8(entries))
                            << QString::fromUtf8(error);
    };
    row("discovery not array", R"({"pools": [{"name": "web", "discovery": {}}]})",
        "pools[0].discovery: must be an array, got object");
    disc("discovery url missing", R"({"interval_ms": 1000})", "pools[0].discovery[0].url: required");
    disc("discovery http url", R"({"url": "http://replicas.test:80"})",
         "pools[0].discovery[0].url: must start with dns:// (A and AAAA records: \"dns://replicas.example.svc:8080\") "
         "or srv:// (SRV records: \"srv://_http._tcp.replicas.example.svc\"), got \"http://replicas.test:80\"");
    disc("dns without port", R"({"url": "dns://replicas.test"})",
         "pools[0].discovery[0].url: must be dns://NAME:PORT, as in \"dns://replicas.example.svc:8080\", got "
         "\"dns://replicas.test\"");
    disc("dns with path", R"({"url": "dns://replicas.test:80/x"})",
         "pools[0].discovery[0].url: must be dns://NAME:PORT, as in \"dns://replicas.example.svc:8080\", got "
         "\"dns://replicas.test:80/x\"");
    disc("dns port zero", R"({"url": "dns://replicas.test:0"})",
         "pools[0].discovery[0].url: port must be in [1,65535], got 0 in \"dns://replicas.test:0\"");
    disc("dns port too big", R"({"url": "dns://replicas.test:65536"})",
         "pools[0].discovery[0].url: port must be in [1,65535], got 65536 in \"dns://replicas.test:65536\"");
    disc("dns bad host", R"({"url": "dns://repl!cas.test:80"})",
         "pools[0].discovery[0].url: invalid host name \"repl!cas.test\" in \"dns://repl!cas.test:80\"");
    disc("dns empty label", R"({"url": "dns://replicas..test:80"})",
         "pools[0].discovery[0].url: invalid host name \"replicas..test\" in \"dns://replicas..test:80\"");
    disc("dns address", R"({"url": "dns://127.0.0.1:80"})",
         "pools[0].discovery[0].url: names an address, not a DNS name, in \"dns://127.0.0.1:80\"; write an "
         "address under \"replicas\" instead");
    disc("dns v6 address", R"({"url": "dns://[::1]:80"})",
         "pools[0].discovery[0].url: names an address, not a DNS name, in \"dns://[::1]:80\"; write an address "
         "under \"replicas\" instead");
    disc("srv without service", R"({"url": "srv://replicas.test"})",
         "pools[0].discovery[0].url: must be srv://_SERVICE._tcp.NAME, as in "
         "\"srv://_http._tcp.replicas.example.svc\" (the port comes from the SRV records), got \"srv://replicas.test\"");
    disc("srv udp", R"({"url": "srv://_http._udp.replicas.test"})",
         "pools[0].discovery[0].url: must be srv://_SERVICE._tcp.NAME, as in "
         "\"srv://_http._tcp.replicas.example.svc\" (the port comes from the SRV records), got "
         "\"srv://_http._udp.replicas.test\"");
    disc("srv with port", R"({"url": "srv://_http._tcp.replicas.test:80"})",
         "pools[0].discovery[0].url: must be srv://_SERVICE._tcp.NAME, as in "
         "\"srv://_http._tcp.replicas.example.svc\" (the port comes from the SRV records), got "
         "\"srv://_http._tcp.replicas.test:80\"");
    disc("srv without name", R"({"url": "srv://_http._tcp."})",
         "pools[0].discovery[0].url: must be srv://_SERVICE._tcp.NAME, as in "
         "\"srv://_http._tcp.replicas.example.svc\" (the port comes from the SRV records), got \"srv://_http._tcp.\"");
    disc("srv empty service", R"({"url": "srv://_._tcp.replicas.test"})",
         "pools[0].discovery[0].url: must be srv://_SERVICE._tcp.NAME, as in "
         "\"srv://_http._tcp.replicas.example.svc\" (the port comes from the SRV records), got "
         "\"srv://_._tcp.replicas.test\"");
    disc("srv weight", R"({"url": "srv://_http._tcp.replicas.test", "weight": 2})",
         "pools[0].discovery[0].weight: srv:// entries take each replica's weight from its SRV record (weight 0 "
         "counts as 1); remove \"weight\"");
    disc("duplicate discovery url", R"({"url": "dns://r.test:80"}, {"url": "dns://r.test:80"})",
         "pools[0].discovery[1].url: duplicate discovery url \"dns://r.test:80\" (also pools[0].discovery[0])");
    disc("discovery interval too short", R"({"url": "dns://r.test:80", "interval_ms": 999})",
         "pools[0].discovery[0].interval_ms: must be in [1000,86400000], got 999");
    disc("discovery scheme", R"({"url": "dns://r.test:80", "scheme": "ftp"})",
         "pools[0].discovery[0].scheme: must be \"http\" or \"https\", got \"ftp\"");
    disc("discovery weight zero", R"({"url": "dns://r.test:80", "weight": 0})",
         "pools[0].discovery[0].weight: must be in [1,1000000], got 0");
    disc("discovery unknown key", R"({"url": "dns://r.test:80", "ttl": 5})",
         "pools[0].discovery[0].ttl: unknown key; expected one of: url, interval_ms, scheme, weight, resolvers");
    disc("resolver by name", R"({"url": "dns://r.test:80", "resolvers": ["dns.test:53"]})",
         "pools[0].discovery[0].resolvers[0]: must be an IP address (a resolver cannot be found by name), as in "
         "\"10.0.0.10\", \"127.0.0.1:5353\" or \"[::1]:53\", got \"dns.test:53\"");
    disc("resolver port zero", R"({"url": "dns://r.test:80", "resolvers": ["127.0.0.1:0"]})",
         "pools[0].discovery[0].resolvers[0]: port must be in [1,65535], got 0");
    disc("resolvers empty", R"({"url": "dns://r.test:80", "resolvers": []})",
         "pools[0].discovery[0].resolvers: must not be empty; leave the key out to use the system's resolvers");
    row("top-level resolver not a string", R"({"resolvers": [53]})", "resolvers[0]: must be a string, got number");
    row("too many resolvers",
        R"({"resolvers": ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6", "10.0.0.7",
            "10.0.0.8", "10.0.0.9"]})",
        "resolvers: must name at most 8 resolvers, got 9");

    // Timeouts, limits, access log.
    row("timeout zero", R"({"timeouts": {"connect_ms": 0}})",
        "timeouts.connect_ms: must be in [1,86400000], got 0");
    row("timeout over a day", R"({"timeouts": {"drain_ms": 86400001}})",
        "timeouts.drain_ms: must be in [1,86400000], got 86400001");
    row("timeout unknown key", R"({"timeouts": {"read_ms": 1}})",
        "timeouts.read_ms: unknown key; expected one of: connect_ms, header_ms, idle_ms, "
        "response_ms, upstream_idle_ms, drain_ms, body_ms, send_ms, tls_handshake_ms");
    row("body timeout zero", R"({"timeouts": {"body_ms": 0}})", "timeouts.body_ms: must be in [1,86400000], got 0");
    row("send timeout over a day", R"({"timeouts": {"send_ms": 86400001}})",
        "timeouts.send_ms: must be in [1,86400000], got 86400001");
    row("header bytes too small", R"({"limits": {"max_header_bytes": 512}})",
        "limits.max_header_bytes: must be in [1024,1048576], got 512");
    row("max headers zero", R"({"limits": {"max_headers": 0}})",
        "limits.max_headers: must be in [1,10000], got 0");
    row("body bytes negative", R"({"limits": {"max_body_bytes": -1}})",
        "limits.max_body_bytes: must not be negative, got -1");
    row("idle upstream too many", R"({"limits": {"max_idle_upstream_per_replica": 100001}})",
        "limits.max_idle_upstream_per_replica: must be in [0,100000], got 100001");
    row("requests per connection too many", R"({"limits": {"max_requests_per_connection": 1000001}})",
        "limits.max_requests_per_connection: must be in [0,1000000], got 1000001");
    row("access log format", R"({"access_log": {"path": "a.log", "format": "text"}})",
        "access_log.format: must be \"json\", got \"text\"");
    row("access log path type", R"({"access_log": {"path": 1}})",
        "access_log.path: must be a string, got number");
}

// Each mistake is reported once, at its JSON path, with the exact reason.
void TestConfig::badValue() {
    QFETCH(QString, patch);
    const ConfigResult result = parsePatched(patch);
    QTEST(errorsOf(result), "error");
    QVERIFY(!result.config);
}

void TestConfig::rootMustBeAnObject() {
    QCOMPARE(errorsOf(parseConfig(json::array())), QStringLiteral("must be an object, got array"));
    QCOMPARE(errorsOf(parseConfigText("null")), QStringLiteral("must be an object, got null"));
}

// A user fixes a file in one round: every error comes back, in document order.
void TestConfig::reportsEveryErrorTogether() {
    const ConfigResult result = loadConfigFile((kData + "bad_many.json").toStdString());
    QVERIFY(!result.config);
    QCOMPARE(errorsOf(result),
             QStringLiteral("workers: must be in [0,64], got 100\n"
                            "listeners[0].address: port must be in [0,65535], got 99999\n"
                            "pools[0].algorithm.probe_rat: unknown key; expected one of: name, "
                            "params, probe_rate, pool_size, q_rif, max_age_ms, remove_rate, delta, "
                            "idle_probe_rate, max_probes_per_replica_s, error_penalty, probe_fresh_ms, "
                            "probe_cost_budget, latency_tolerance\n"
                            "pools[0].algorithm.pool_size: must be a whole number, got 2.5\n"
                            "pools[0].algorithm.q_rif: must be in [0,1], got 1.7\n"
                            "pools[0].replicas[0].url: only http:// and https:// replicas are "
                            "supported, got \"ftp://\"\n"
                            "limits.max_header_bytes: must be in [1024,1048576], got 10"));
}

void TestConfig::syntaxErrorNamesThePosition() {
    const ConfigResult result = loadConfigFile((kData + "bad_syntax.json").toStdString());
    QCOMPARE(result.errors.size(), size_t(1));
    QCOMPARE(q(result.errors[0].path), QString());
    QCOMPARE(q(result.errors[0].reason),
             QStringLiteral("invalid JSON: parse error at line 3, column 28: syntax error while "
                            "parsing object key - unexpected '}'; expected string literal (byte 76)"));
    QVERIFY(!result.config);

    const ConfigResult empty = parseConfigText("");
    QCOMPARE(empty.errors.size(), size_t(1));
    QVERIFY(empty.errors[0].reason.starts_with("invalid JSON: parse error at line 1, column 1"));
}

// JSON parsers keep the last of two equal keys; a config must not hide one value behind another.
void TestConfig::duplicateKeysAreRejected() {
    const ConfigResult result = loadConfigFile((kData + "bad_duplicate_key.json").toStdString());
    QCOMPARE(errorsOf(result), QStringLiteral("pools[0].algorithm.q_rif: duplicate key"));
    QVERIFY(!result.config);

    const ConfigResult nested = parseConfigText(
        R"({"listeners": [{"address": "127.0.0.1:1"}, {"address": "127.0.0.1:2", )"
        R"("address": "127.0.0.1:3"}], "pools": [{"name": "a"}], "workers": 1, "workers": 2})");
    QCOMPARE(errorsOf(nested), QStringLiteral("listeners[1].address: duplicate key\n"
                                              "workers: duplicate key"));
}

void TestConfig::unreadableFile_data() {
    QTest::addColumn<QString>("path");
    QTest::addColumn<QString>("reason");
    QTest::newRow("missing") << kData + "no_such_file.json"
                             << "cannot read file: No such file or directory";
    QTest::newRow("directory") << kData << "cannot read file: Is a directory";
}

void TestConfig::unreadableFile() {
    QFETCH(QString, path);
    const ConfigResult result = loadConfigFile(path.toStdString());
    QCOMPARE(result.errors.size(), size_t(1));
    QCOMPARE(q(result.errors[0].path), QString());
    QTEST(q(result.errors[0].reason), "reason");
}

// Two sockets on port 0 get two different ports: a control address on port 0 beside a listener
// on port 0 (as tests run them) is no clash.
void TestConfig::controlOnPortZeroBesideListenerOnPortZero() {
    const ConfigResult result = parseConfigText(R"({
        "listeners": [{"address": "127.0.0.1:0"}],
        "control": {"address": "127.0.0.1:0", "tokens": [{"name": "c", "role": "admin",
                    "sha256": "bc7c55a37ffb99fb9cd1c82be1e6198a0b5b26998bd0e53d88ad34d7b80d1c02"}]},
        "pools": [{"name": "web", "replicas": [{"url": "http://127.0.0.1:9001"}]}]})");
    QCOMPARE(errorsOf(result), QString());
}

void TestConfig::roundTrip_data() {
    QTest::addColumn<QString>("file");
    QTest::newRow("good") << "good.json";
    QTest::newRow("tls") << "good_tls.json";
    QTest::newRow("discovery") << "good_discovery.json";
    QTest::newRow("base") << "";
}

// toJson is what the agent writes back after a control-API change, so it must read back equal,
// both as a JSON value and through its text.
void TestConfig::roundTrip() {
    QFETCH(QString, file);
    const ConfigResult first = file.isEmpty() ? parseConfig(baseConfig())
                                              : loadConfigFile((kData + file).toStdString());
    QCOMPARE(errorsOf(first), QString());

    const json written = toJson(*first.config);
    const ConfigResult again = parseConfig(written);
    QCOMPARE(errorsOf(again), QString());
    QVERIFY(*again.config == *first.config);

    const ConfigResult fromText = parseConfigText(written.dump(2));
    QCOMPARE(errorsOf(fromText), QString());
    QVERIFY(*fromText.config == *first.config);
    QCOMPARE(q(toJson(*fromText.config).dump()), q(written.dump())); // a fixed point
}

// Parameters sit beside "name", whole-number ones are written as integers.
void TestConfig::canonicalFormIsFlat() {
    const Config config = *loadConfigFile((kData + "good.json").toStdString()).config;
    const json j = toJson(config);
    const json& prequal = j["pools"][0]["algorithm"];
    QVERIFY(!prequal.contains("params"));
    QCOMPARE(q(prequal["name"].get<std::string>()), QStringLiteral("prequal"));
    QCOMPARE(prequal["q_rif"].get<double>(), 0.9);
    QVERIFY(prequal["pool_size"].is_number_integer());
    QCOMPARE(prequal["pool_size"].get<int>(), 16);
    QVERIFY(!prequal.contains("hash_key"));
    QCOMPARE(prequal.size(), size_t(13)); // name and twelve parameters

    const json& ring = j["pools"][1]["algorithm"];
    QCOMPARE(q(ring["hash_key"].get<std::string>()), QStringLiteral("header:x-user"));
    QCOMPARE(ring["min_ring_size"].get<int>(), 2048);
    QCOMPARE(q(j["control"]["tokens"][0]["sha256"].get<std::string>()), q(kSha));
    QCOMPARE(q(j["pools"][0]["replicas"][2]["id"].get<std::string>()), QStringLiteral("backend"));

    // Nothing is written for what is absent.
    const json base = toJson(*parseConfig(baseConfig()).config);
    QVERIFY(!base.contains("control"));
    QVERIFY(!base["access_log"].contains("path"));
    const QString implied = QString::fromUtf8(R"([{"path_prefix":"/","pool":"web"}])");
    QCOMPARE(q(base["routes"].dump()), implied);
}

void TestConfig::parseEndpoint_data() {
    QTest::addColumn<QString>("text");
    QTest::addColumn<QString>("host");
    QTest::addColumn<int>("port");
    QTest::addColumn<QString>("why");
    QTest::newRow("v4") << "0.0.0.0:8080" << "0.0.0.0" << 8080 << "";
    QTest::newRow("v6") << "[::1]:443" << "::1" << 443 << "";
    QTest::newRow("v6 any") << "[::]:1" << "::" << 1 << "";
    // Port 0 lets the kernel choose (tests bind 0); a replica URL still needs a real port.
    QTest::newRow("port zero") << "127.0.0.1:0" << "127.0.0.1" << 0 << "";
    QTest::newRow("name") << "localhost:65535" << "localhost" << 65535 << "";
    QTest::newRow("fqdn") << "api.example.com:80" << "api.example.com" << 80 << "";
    QTest::newRow("empty") << "" << "" << 0 << "expected host:port, got an empty string";
    QTest::newRow("port sign") << "127.0.0.1:+80" << "" << 0
                               << "port must be a number in [0,65535], got \"+80\"";
    QTest::newRow("port long") << "127.0.0.1:000080" << "" << 0
                               << "port must be a number in [0,65535], got \"000080\"";
    QTest::newRow("v6 no port") << "[::1]" << "" << 0 << "missing port; expected host:port";
    QTest::newRow("v6 junk") << "[::1]x" << "" << 0 << "expected \":port\" after \"]\", got \"x\"";
    QTest::newRow("v6 empty") << "[]:80" << "" << 0 << "missing host; expected host:port";
    QTest::newRow("empty label") << "a..b:80" << "" << 0 << "invalid host name \"a..b\"";
}

void TestConfig::parseEndpoint() {
    QFETCH(QString, text);
    QFETCH(QString, why);
    std::string reason;
    const auto endpoint = dlb::common::parseEndpoint(text.toStdString(), &reason);
    QCOMPARE(q(reason), why);
    QCOMPARE(endpoint.has_value(), why.isEmpty());
    if (endpoint) {
        QTEST(q(endpoint->host), "host");
        QTEST(int(endpoint->port), "port");
    }
}

void TestConfig::replicaUrl_data() {
    QTest::addColumn<QString>("url");
    QTest::addColumn<QString>("host");
    QTest::addColumn<int>("port");
    QTest::addColumn<QString>("hostHeader");
    QTest::newRow("v4") << "http://127.0.0.1:9001" << "127.0.0.1" << 9001 << "127.0.0.1:9001";
    QTest::newRow("slash") << "http://127.0.0.1:9001/" << "127.0.0.1" << 9001 << "127.0.0.1:9001";
    QTest::newRow("default port") << "http://backend" << "backend" << 80 << "backend:80";
    QTest::newRow("upper-case scheme") << "HTTP://backend:81" << "backend" << 81 << "backend:81";
    QTest::newRow("v6") << "http://[fe80::1]:9001" << "fe80::1" << 9001 << "[fe80::1]:9001";
    QTest::newRow("v6 default port") << "http://[::1]" << "::1" << 80 << "[::1]:80";
    QTest::newRow("https default port") << "https://backend" << "backend" << 443 << "backend:443";
    QTest::newRow("https") << "https://127.0.0.1:9443" << "127.0.0.1" << 9443 << "127.0.0.1:9443";
}

// The url is kept as written; endpoint, Host header and default id come from it.
void TestConfig::replicaUrl() {
    QFETCH(QString, url);
    std::vector<ConfigError> errors;
    const auto replica = parseReplicaConfig(json{{"url", url.toStdString()}}, errors, "r");
    QVERIFY(errors.empty());
    QVERIFY(replica);
    QCOMPARE(q(replica->url), url);
    QTEST(q(replica->endpoint.host), "host");
    QTEST(int(replica->endpoint.port), "port");
    QTEST(q(replica->host_header), "hostHeader");
    QTEST(q(replica->id), "hostHeader");
    QCOMPARE(replica->weight, 1u);
    QCOMPARE(replica->https, url.startsWith(QStringLiteral("https://")));
}

// The control API's {"name", "params"} shape gives the same config as the flat one.
void TestConfig::algorithmParamsShape() {
    std::vector<ConfigError> errors;
    const auto nested = parseAlgorithmConfig(
        json::parse(R"({"name": "prequal", "params": {"q_rif": 0.9, "pool_size": 32}})"), errors);
    const auto flat = parseAlgorithmConfig(
        json::parse(R"({"name": "prequal", "q_rif": 0.9, "pool_size": 32})"), errors);
    QVERIFY(errors.empty());
    QVERIFY(nested && flat);
    QVERIFY(*nested == *flat);
    QCOMPARE(nested->param("q_rif"), 0.9);
    QCOMPARE(nested->param("pool_size"), 32.0);
    QCOMPARE(nested->param("delta"), 1.0);
    QVERIFY(parseAlgorithmConfig(toJson(*nested), errors) == nested);
}

// Without a prefix, error paths are relative to the request body.
void TestConfig::controlApiPieces() {
    std::vector<ConfigError> errors;
    // moc's preprocessor misreads raw strings inside macro arguments, so they sit outside.
    const json algorithm = json::parse(R"({"name": "prequal", "params": {"q_rif": 2}})");
    const json replica = json::parse(R"({"url": "http://127.0.0.1:9001", "weight": 0})");
    QVERIFY(!parseAlgorithmConfig(algorithm, errors));
    QVERIFY(!parseReplicaConfig(replica, errors));
    QVERIFY(!parseAlgorithmConfig(json::array(), errors));
    QCOMPARE(errorsOf({std::nullopt, errors}),
             QStringLiteral("params.q_rif: must be in [0,1], got 2\n"
                            "weight: must be in [1,1000000], got 0\n"
                            "must be an object, got array"));

    errors.clear();
    const auto parsed =
        parseReplicaConfig(json::parse(R"({"url": "http://10.0.0.5:8080", "weight": 7, "id": "r7"})"),
                           errors);
    QVERIFY(errors.empty());
    QCOMPARE(q(parsed->id), QStringLiteral("r7"));
    QCOMPARE(parsed->weight, 7u);
    const QString canonical = QString::fromUtf8(R"({"id":"r7","url":"http://10.0.0.5:8080","weight":7})");
    QCOMPARE(q(toJson(*parsed).dump()), canonical);
}

void TestConfig::findPool() {
    const Config config = *loadConfigFile((kData + "good.json").toStdString()).config;
    QVERIFY(config.findPool("admin"));
    QCOMPARE(q(config.findPool("admin")->name), QStringLiteral("admin"));
    QCOMPARE(config.findPool("web"), &config.pools[0]);
    QVERIFY(!config.findPool("Web"));
    QVERIFY(!config.findPool(""));
}

QTEST_APPLESS_MAIN(TestConfig)
#include "tst_config.moc"
