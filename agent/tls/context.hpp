#pragma once
// OpenSSL contexts, built once per config load and shared (shared_ptr) by every connection made
// under that config: a SIGHUP builds new ones for new connections, and a connection keeps the
// context it started with until it closes, so a certificate reload drops nothing.
//
// Threading: a context is immutable after create() and may be used from any thread (OpenSSL
// contexts are thread-safe for SSL_new). SessionCache is single-threaded (one per worker and
// replica).

#include "common/config.hpp"

#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace dlb::agent::tls {

// The only application protocol dlb speaks (ALPN, RFC 7301).
inline constexpr std::string_view kAlpnHttp11 = "http/1.1";
// TLS 1.2 suites: ECDHE key exchange with AEAD ciphers only (Mozilla's "intermediate" list
// without DHE); TLS 1.3 suites are OpenSSL's defaults, all AEAD.
inline constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

struct SslCtxFree {
    void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;

// A listener's TLS: one SSL_CTX, several certificates picked by SNI during the handshake.
class ServerContext {
public:
    // Loads every certificate and key, checks each key matches its certificate, loads the
    // client CA. Null with `why` set ("listeners[1].tls.certificate: cannot load cert.pem: ...").
    static std::shared_ptr<const ServerContext> create(const common::TlsConfig& config,
                                                       const std::string& path, std::string* why);
    ~ServerContext();
    ServerContext(const ServerContext&) = delete;
    ServerContext& operator=(const ServerContext&) = delete;

    SSL_CTX* ctx() const { return ctx_.get(); }

private:
    struct Certificate; // a certificate, its chain and key, and the names it serves
    ServerContext() = default;
    static int onServerName(SSL* ssl, int* alert, void* arg);
    const Certificate* find(std::string_view server_name) const;

    SslCtxPtr ctx_;
    std::vector<std::unique_ptr<Certificate>> sni_;
};

// The last session a replica gave us, offered again on the next connection (resumption: one
// round trip and no certificate check instead of a full handshake).
class SessionCache {
public:
    SessionCache() = default;
    ~SessionCache();
    SessionCache(const SessionCache&) = delete;
    SessionCache& operator=(const SessionCache&) = delete;

    SSL_SESSION* get() const { return session_; }
    void put(SSL_SESSION* session); // takes the reference
    void clear() { put(nullptr); }

private:
    SSL_SESSION* session_ = nullptr;
};

// Sessions an SSL gets from its server go to `cache` (the connection keeps `cache` alive).
void attachSessionCache(SSL* ssl, SessionCache* cache);

// TLS to one pool's https:// replicas.
class ClientContext {
public:
    static std::shared_ptr<const ClientContext> create(const common::UpstreamTlsConfig& config,
                                                       const std::string& path, std::string* why);
    SSL_CTX* ctx() const { return ctx_.get(); }
    bool verify() const { return verify_; }
    // The name sent as SNI and checked against the certificate for a replica at `host`.
    std::string serverName(const std::string& host) const
    {
        return server_name_.empty() ? host : server_name_;
    }

private:
    ClientContext() = default;
    static int onNewSession(SSL* ssl, SSL_SESSION* session);

    SslCtxPtr ctx_;
    std::string server_name_;
    bool verify_ = true;
};

// Every TLS context a config needs, loaded. listeners[i] is null for a plain listener; pools[i]
// is null for a pool without https:// replicas.
struct Contexts {
    std::vector<std::shared_ptr<const ServerContext>> listeners;
    std::vector<std::shared_ptr<const ClientContext>> pools;
    std::shared_ptr<const ServerContext> control; // control.tls; null without it
};

// The one place that loads (and so checks) the certificates, keys and CA files of a config:
// the agent's start, its SIGHUP reload and `--check` all call it, so --check refuses exactly
// what start would. Errors carry the JSON path of the file that failed.
std::vector<common::ConfigError> loadContexts(const common::Config& config, Contexts* out);

// The first OpenSSL error on this thread's queue, in words, and the queue emptied.
std::string takeError();

} // namespace dlb::agent::tls
