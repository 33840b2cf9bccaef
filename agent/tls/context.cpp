#include "agent/tls/context.hpp"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstring>

namespace dlb::agent::tls {

namespace {

// Session id context for server-side resumption; required by OpenSSL once client
// certificates are verified (a session must not resume into a context that checks less).
constexpr unsigned char kSessionIdContext[] = "dlb";

std::string join(const std::string& path, std::string_view key)
{
    return path.empty() ? std::string(key) : path + "." + std::string(key);
}

// Both sides: TLS 1.2 and 1.3 only, no renegotiation (a client could make the server redo
// expensive handshakes at will), no compression (CRIME), buffers released while idle (an
// idle keep-alive connection then holds no 34 KiB read and write buffers).
bool commonSettings(SSL_CTX* ctx)
{
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    return SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1 &&
           SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) == 1 &&
           SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) == 1;
}

// A file that cannot be opened gets errno's words, which say more than OpenSSL's "system lib".
std::string fileProblem(const std::string& file)
{
    std::FILE* f = std::fopen(file.c_str(), "rb");
    if (!f)
        return "cannot open " + file + ": " + std::strerror(errno);
    std::fclose(f);
    return {};
}

struct X509Free {
    void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct ChainFree {
    void operator()(STACK_OF(X509) * s) const { sk_X509_pop_free(s, X509_free); }
};
struct BioFree {
    void operator()(BIO* b) const { BIO_free(b); }
};

} // namespace

std::string takeError()
{
    const unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (e == 0)
        return "unknown OpenSSL error";
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    return buf;
}

struct ServerContext::Certificate {
    std::vector<std::string> names;
    std::unique_ptr<X509, X509Free> cert;
    std::unique_ptr<EVP_PKEY, PkeyFree> key;
    std::unique_ptr<STACK_OF(X509), ChainFree> chain;

    // The certificate chain file (leaf first, then intermediates) and its key. Errors name the
    // JSON path (`path`.certificate or `path`.private_key).
    bool load(const std::string& cert_file, const std::string& key_file, const std::string& path, std::string* why)
    {
        if (std::string p = fileProblem(cert_file); !p.empty()) {
            *why = join(path, "certificate") + ": " + p;
            return false;
        }
        std::unique_ptr<BIO, BioFree> bio(BIO_new_file(cert_file.c_str(), "rb"));
        cert.reset(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
        if (!cert) {
            *why = join(path, "certificate") + ": " + cert_file + " holds no PEM certificate (" + takeError() + ")";
            return false;
        }
        chain.reset(sk_X509_new_null());
        while (X509* extra = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr))
            sk_X509_push(chain.get(), extra);
        ERR_clear_error(); // the end of the file reads as an error
        if (std::string p = fileProblem(key_file); !p.empty()) {
            *why = join(path, "private_key") + ": " + p;
            return false;
        }
        std::unique_ptr<BIO, BioFree> kbio(BIO_new_file(key_file.c_str(), "rb"));
        key.reset(kbio ? PEM_read_bio_PrivateKey(kbio.get(), nullptr, nullptr, nullptr) : nullptr);
        if (!key) {
            *why = join(path, "private_key") + ": " + key_file +
                   " holds no unencrypted PEM private key (" + takeError() + ")";
            return false;
        }
        if (X509_check_private_key(cert.get(), key.get()) != 1) {
            ERR_clear_error();
            *why = join(path, "private_key") + ": " + key_file + " is not the key of the certificate in " + cert_file;
            return false;
        }
        return true;
    }

    bool use(SSL_CTX* ctx) const
    {
        return SSL_CTX_use_cert_and_key(ctx, cert.get(), key.get(), chain.get(), 1) == 1;
    }
    bool use(SSL* ssl) const
    {
        return SSL_use_cert_and_key(ssl, cert.get(), key.get(), chain.get(), 1) == 1;
    }
};

ServerContext::~ServerContext() = default;

std::shared_ptr<const ServerContext> ServerContext::create(const common::TlsConfig& config, const std::string& path,
                                                           std::string* why)
{
    std::shared_ptr<ServerContext> self(new ServerContext);
    self->ctx_.reset(SSL_CTX_new(TLS_server_method()));
    if (!self->ctx_ || !commonSettings(self->ctx_.get())) {
        *why = path + ": cannot set up TLS: " + takeError();
        return nullptr;
    }
    SSL_CTX* ctx = self->ctx_.get();
    Certificate fallback;
    if (!fallback.load(config.certificate, config.private_key, path, why))
        return nullptr;
    if (!fallback.use(ctx)) {
        *why = join(path, "certificate") + ": " + takeError();
        return nullptr;
    }
    for (size_t i = 0; i < config.certificates.size(); ++i) {
        const auto& c = config.certificates[i];
        auto cert = std::make_unique<Certificate>();
        if (!cert->load(c.certificate, c.private_key, join(path, "certificates") + "[" + std::to_string(i) + "]", why))
            return nullptr;
        cert->names = c.server_names;
        self->sni_.push_back(std::move(cert));
    }
    if (!self->sni_.empty()) {
        // SSL_CTX_set_tlsext_servername_callback/_arg, spelled out: the macros' C casts trip
        // -Wold-style-cast.
        SSL_CTX_callback_ctrl(ctx, SSL_CTRL_SET_TLSEXT_SERVERNAME_CB,
                              reinterpret_cast<void (*)()>(&ServerContext::onServerName));
        SSL_CTX_ctrl(ctx, SSL_CTRL_SET_TLSEXT_SERVERNAME_ARG, 0, self.get());
    }
    SSL_CTX_set_session_id_context(ctx, kSessionIdContext, sizeof kSessionIdContext - 1);
    if (config.verify_client) {
        const std::string ca_path = join(path, "client_ca");
        if (std::string p = fileProblem(config.client_ca); !p.empty()) {
            *why = ca_path + ": " + p;
            return nullptr;
        }
        STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(config.client_ca.c_str());
        if (!names || SSL_CTX_load_verify_locations(ctx, config.client_ca.c_str(), nullptr) != 1) {
            if (names)
                sk_X509_NAME_pop_free(names, X509_NAME_free);
            *why = ca_path + ": " + config.client_ca + " holds no PEM CA certificate (" + takeError() + ")";
            return nullptr;
        }
        SSL_CTX_set_client_CA_list(ctx, names); // takes `names`
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    }
    // ALPN: http/1.1 when offered; a client that offers only other protocols (h2 alone) is
    // refused with no_application_protocol, as RFC 7301 asks, instead of being answered in a
    // protocol it did not ask for. A client that sends no ALPN at all gets HTTP/1.1.
    SSL_CTX_set_alpn_select_cb(
        ctx,
        [](SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned inlen, void*) {
            for (unsigned i = 0; i < inlen;) {
                const unsigned len = in[i];
                if (i + 1 + len > inlen)
                    break;
                if (std::string_view(reinterpret_cast<const char*>(in + i + 1), len) == kAlpnHttp11) {
                    *out = in + i + 1;
                    *outlen = static_cast<unsigned char>(len);
                    return SSL_TLSEXT_ERR_OK;
                }
                i += 1 + len;
            }
            return SSL_TLSEXT_ERR_ALERT_FATAL;
        },
        nullptr);
    ERR_clear_error();
    return self;
}

const ServerContext::Certificate* ServerContext::find(std::string_view name) const
{
    // Exact names first, then "*.rest" for a name whose first label is dropped.
    for (const auto& c : sni_)
        for (const auto& n : c->names)
            if (n == name)
                return c.get();
    const size_t dot = name.find('.');
    if (dot == std::string_view::npos || dot == 0)
        return nullptr;
    const std::string_view parent = name.substr(dot + 1);
    for (const auto& c : sni_)
        for (const auto& n : c->names)
            if (n.size() > 2 && n.starts_with("*.") && std::string_view(n).substr(2) == parent)
                return c.get();
    return nullptr;
}

int ServerContext::onServerName(SSL* ssl, int* /*alert*/, void* arg)
{
    const auto* self = static_cast<const ServerContext*>(arg);
    const char* sent = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (!sent)
        return SSL_TLSEXT_ERR_NOACK; // no SNI: the default certificate
    std::string name(sent);
    for (char& c : name)
        c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    if (const Certificate* c = self->find(name)) {
        if (!c->use(ssl))
            return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    // An unknown name gets the default certificate (as nginx's default server does).
    return SSL_TLSEXT_ERR_OK;
}

// ---- client side ----------------------------------------------------------------------------

SessionCache::~SessionCache()
{
    put(nullptr);
}

void SessionCache::put(SSL_SESSION* session)
{
    if (session_)
        SSL_SESSION_free(session_);
    session_ = session;
}

namespace {
int sessionCacheIndex()
{
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}
} // namespace

void attachSessionCache(SSL* ssl, SessionCache* cache)
{
    SSL_set_ex_data(ssl, sessionCacheIndex(), cache);
}

int ClientContext::onNewSession(SSL* ssl, SSL_SESSION* session)
{
    auto* cache = static_cast<SessionCache*>(SSL_get_ex_data(ssl, sessionCacheIndex()));
    if (!cache || !SSL_SESSION_is_resumable(session))
        return 0; // not kept: OpenSSL frees it
    cache->put(session);
    return 1; // the cache owns the reference now
}

std::shared_ptr<const ClientContext> ClientContext::create(const common::UpstreamTlsConfig& config,
                                                           const std::string& path, std::string* why)
{
    std::shared_ptr<ClientContext> self(new ClientContext);
    self->ctx_.reset(SSL_CTX_new(TLS_client_method()));
    self->server_name_ = config.server_name;
    self->verify_ = config.verify;
    SSL_CTX* ctx = self->ctx_.get();
    if (!ctx || !commonSettings(ctx)) {
        *why = path + ": cannot set up TLS: " + takeError();
        return nullptr;
    }
    if (config.verify) {
        if (!config.ca_file.empty()) {
            const std::string ca_path = join(path, "ca_file");
            if (std::string p = fileProblem(config.ca_file); !p.empty()) {
                *why = ca_path + ": " + p;
                return nullptr;
            }
            if (SSL_CTX_load_verify_locations(ctx, config.ca_file.c_str(), nullptr) != 1) {
                *why = ca_path + ": " + config.ca_file + " holds no PEM CA certificate (" + takeError() + ")";
                return nullptr;
            }
        } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
            *why = join(path, "ca_file") + ": the system's CA bundle cannot be loaded (" + takeError() +
                   "); set ca_file";
            return nullptr;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    }
    static constexpr unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    SSL_CTX_set_alpn_protos(ctx, kAlpn, sizeof kAlpn);
    // Sessions are kept per replica (SessionCache), not in OpenSSL's cache, which would be
    // shared by workers and keyed by nothing we choose.
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, &ClientContext::onNewSession);
    ERR_clear_error();
    return self;
}

// ---- a config's contexts --------------------------------------------------------------------

std::vector<common::ConfigError> loadContexts(const common::Config& config, Contexts* out)
{
    std::vector<common::ConfigError> errors;
    Contexts contexts;
    const auto failed = [&](const std::string& why) {
        // "listeners[1].tls.certificate: cannot open ..." -> path and reason, as config errors.
        const size_t colon = why.find(": ");
        errors.push_back({why.substr(0, colon), colon == std::string::npos ? why : why.substr(colon + 2)});
    };
    for (size_t i = 0; i < config.listeners.size(); ++i) {
        const auto& l = config.listeners[i];
        std::shared_ptr<const ServerContext> ctx;
        if (l.tls) {
            std::string why;
            ctx = ServerContext::create(*l.tls, "listeners[" + std::to_string(i) + "].tls", &why);
            if (!ctx)
                failed(why);
        }
        contexts.listeners.push_back(std::move(ctx));
    }
    for (size_t i = 0; i < config.pools.size(); ++i) {
        const auto& p = config.pools[i];
        std::shared_ptr<const ClientContext> ctx;
        bool https = false;
        for (const auto& r : p.replicas)
            https = https || r.https;
        for (const auto& d : p.discovery)
            https = https || d.https;
        // A pool that may get https:// replicas later (control API) also gets one when its
        // `tls` is set, so a bad CA file is reported now rather than at that add.
        if (https || p.tls != common::UpstreamTlsConfig{}) {
            std::string why;
            ctx = ClientContext::create(p.tls, "pools[" + std::to_string(i) + "].tls", &why);
            if (!ctx)
                failed(why);
        }
        contexts.pools.push_back(std::move(ctx));
    }
    if (config.control.tls) {
        std::string why;
        contexts.control = ServerContext::create(*config.control.tls, "control.tls", &why);
        if (!contexts.control)
            failed(why);
    }
    if (errors.empty() && out)
        *out = std::move(contexts);
    return errors;
}

} // namespace dlb::agent::tls
