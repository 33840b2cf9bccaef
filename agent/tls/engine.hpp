#pragma once
// One TLS connection over memory BIOs: ciphertext in through feed(), out through takeOutput();
// plaintext in through write(), out through read(). No sockets and no blocking: the owner
// (net::TcpConn) moves the bytes on its libuv loop, so handshakes and records never block a
// worker. Threading: one thread at a time, like the connection that owns it.

#include "agent/tls/context.hpp"

#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <string_view>

namespace dlb::agent::tls {

class Engine {
public:
    enum class Status {
        Ok,       // handshake(): done; read(): bytes returned
        WantMore, // more ciphertext from the peer is needed
        Closed,   // read(): the peer sent close_notify
        Error,    // fatal: error() says why; send takeOutput() (an alert) and close
    };

    // Null with `why` set only when OpenSSL cannot allocate.
    static std::unique_ptr<Engine> server(std::shared_ptr<const ServerContext> ctx, std::string* why);
    // `host`: the replica's host (an address or a name); SNI is sent for a name, and the
    // certificate is checked against ctx->serverName(host). `cache` may be null.
    static std::unique_ptr<Engine> client(std::shared_ptr<const ClientContext> ctx, const std::string& host,
                                          std::shared_ptr<SessionCache> cache, std::string* why);
    ~Engine();
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    // Ciphertext from the peer; always all of it (the memory BIO grows).
    void feed(const char* data, size_t len);
    Status handshake();
    bool established() const { return established_; }
    // Up to `cap` plaintext bytes into `out`; *n is set on Ok.
    Status read(char* out, size_t cap, size_t* n);
    // Plaintext or ciphertext still waiting inside (a whole record already fed, not yet read).
    bool hasBufferedInput() const;
    // Encrypts all of `data` (only once established()).
    bool write(std::string_view data);
    // Sends close_notify (once).
    void shutdown();
    // Ciphertext to send to the peer, appended to `out`.
    bool hasOutput() const;
    void takeOutput(std::string& out);

    const std::string& error() const { return error_; }
    void setError(std::string why) { error_ = std::move(why); }
    bool isClient() const { return client_; }
    bool sessionReused() const { return SSL_session_reused(ssl_) == 1; }
    std::string_view alpn() const;
    std::string_view version() const { return SSL_get_version(ssl_); }
    SSL* ssl() { return ssl_; }

private:
    Engine() = default;
    bool init(SSL_CTX* ctx, std::string* why);
    Status fail(int rc);

    SSL* ssl_ = nullptr;
    BIO* rbio_ = nullptr; // owned by ssl_
    BIO* wbio_ = nullptr; // owned by ssl_
    std::shared_ptr<const ServerContext> server_ctx_;
    std::shared_ptr<const ClientContext> client_ctx_;
    std::shared_ptr<SessionCache> cache_;
    std::string error_;
    bool established_ = false;
    bool shutdown_sent_ = false;
    bool client_ = false;
};

} // namespace dlb::agent::tls
