#include "agent/tls/engine.hpp"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>

namespace dlb::agent::tls {

namespace {
bool isAddress(const std::string& host)
{
    unsigned char buf[sizeof(in6_addr)];
    return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}
} // namespace

bool Engine::init(SSL_CTX* ctx, std::string* why)
{
    ssl_ = SSL_new(ctx);
    rbio_ = BIO_new(BIO_s_mem());
    wbio_ = BIO_new(BIO_s_mem());
    if (!ssl_ || !rbio_ || !wbio_) {
        BIO_free(rbio_);
        BIO_free(wbio_);
        rbio_ = wbio_ = nullptr;
        *why = "TLS: " + takeError();
        return false;
    }
    // An empty memory BIO reads as "retry later", not as end of file.
    BIO_set_mem_eof_return(rbio_, -1);
    BIO_set_mem_eof_return(wbio_, -1);
    SSL_set_bio(ssl_, rbio_, wbio_);
    return true;
}

std::unique_ptr<Engine> Engine::server(std::shared_ptr<const ServerContext> ctx, std::string* why)
{
    std::unique_ptr<Engine> e(new Engine);
    if (!e->init(ctx->ctx(), why))
        return nullptr;
    e->server_ctx_ = std::move(ctx);
    SSL_set_accept_state(e->ssl_);
    return e;
}

std::unique_ptr<Engine> Engine::client(std::shared_ptr<const ClientContext> ctx, const std::string& host,
                                       std::shared_ptr<SessionCache> cache, std::string* why)
{
    std::unique_ptr<Engine> e(new Engine);
    if (!e->init(ctx->ctx(), why))
        return nullptr;
    e->client_ = true;
    const std::string name = ctx->serverName(host);
    // RFC 6066: SNI carries host names only, never a literal address. (SSL_set_tlsext_host_name
    // spelled out: the macro's C cast trips -Wold-style-cast.)
    if (!isAddress(name) && SSL_ctrl(e->ssl_, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                                          const_cast<char*>(name.c_str())) != 1) {
        *why = "TLS: server name " + name + ": " + takeError();
        return nullptr;
    }
    // Hostname (or IP address) verification against the certificate's names.
    if (ctx->verify() && SSL_set1_host(e->ssl_, name.c_str()) != 1) {
        *why = "TLS: server name " + name + ": " + takeError();
        return nullptr;
    }
    if (cache) {
        attachSessionCache(e->ssl_, cache.get());
        if (SSL_SESSION* s = cache->get())
            SSL_set_session(e->ssl_, s);
    }
    e->cache_ = std::move(cache);
    e->client_ctx_ = std::move(ctx);
    SSL_set_connect_state(e->ssl_);
    return e;
}

Engine::~Engine()
{
    // OpenSSL marks the session of a connection freed without a shutdown as not resumable.
    // A connection that ended without a TLS error (the peer closed after its answer, or we
    // closed an idle keep-alive connection) has a good session: keep it resumable.
    if (ssl_ && established_ && error_.empty())
        SSL_set_shutdown(ssl_, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_free(ssl_); // frees both BIOs
}

void Engine::feed(const char* data, size_t len)
{
    BIO_write(rbio_, data, static_cast<int>(len));
}

Engine::Status Engine::fail(int rc)
{
    const int err = SSL_get_error(ssl_, rc);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        ERR_clear_error();
        return Status::WantMore;
    }
    if (err == SSL_ERROR_ZERO_RETURN) {
        ERR_clear_error();
        return Status::Closed;
    }
    if (error_.empty()) {
        const long verify = SSL_get_verify_result(ssl_);
        if (client_ && verify != X509_V_OK)
            error_ = std::string("certificate verification failed: ") + X509_verify_cert_error_string(verify);
        else if (ERR_peek_error() != 0)
            error_ = takeError();
        else
            error_ = err == SSL_ERROR_SYSCALL ? "unexpected end of the TLS stream" : "TLS error " + std::to_string(err);
    }
    ERR_clear_error();
    return Status::Error;
}

Engine::Status Engine::handshake()
{
    if (established_)
        return Status::Ok;
    const int rc = SSL_do_handshake(ssl_);
    if (rc == 1) {
        established_ = true;
        return Status::Ok;
    }
    const Status s = fail(rc);
    return s == Status::Closed ? Status::Error : s;
}

Engine::Status Engine::read(char* out, size_t cap, size_t* n)
{
    size_t got = 0;
    const int rc = SSL_read_ex(ssl_, out, cap, &got);
    if (rc == 1) {
        *n = got;
        return Status::Ok;
    }
    return fail(rc);
}

bool Engine::hasBufferedInput() const
{
    return SSL_pending(ssl_) > 0 || BIO_ctrl_pending(rbio_) > 0;
}

bool Engine::write(std::string_view data)
{
    size_t done = 0;
    while (done < data.size()) {
        size_t n = 0;
        // The write BIO grows as needed, so a write is only partial on error.
        if (SSL_write_ex(ssl_, data.data() + done, data.size() - done, &n) != 1) {
            fail(0);
            return false;
        }
        done += n;
    }
    return true;
}

void Engine::shutdown()
{
    if (shutdown_sent_ || !established_)
        return;
    shutdown_sent_ = true;
    SSL_shutdown(ssl_);
    ERR_clear_error();
}

bool Engine::hasOutput() const
{
    return BIO_ctrl_pending(wbio_) > 0;
}

void Engine::takeOutput(std::string& out)
{
    const size_t pending = BIO_ctrl_pending(wbio_);
    if (pending == 0)
        return;
    const size_t at = out.size();
    out.resize(at + pending);
    const int n = BIO_read(wbio_, out.data() + at, static_cast<int>(pending));
    out.resize(at + (n > 0 ? static_cast<size_t>(n) : 0));
}

std::string_view Engine::alpn() const
{
    const unsigned char* p = nullptr;
    unsigned len = 0;
    SSL_get0_alpn_selected(ssl_, &p, &len);
    return p ? std::string_view(reinterpret_cast<const char*>(p), len) : std::string_view();
}

} // namespace dlb::agent::tls
