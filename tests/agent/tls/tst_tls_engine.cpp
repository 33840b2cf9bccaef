// The TLS layer without sockets: a client engine and a server engine hand each other their
// ciphertext in memory, so every handshake outcome is deterministic and fast.
#include "agent/tls/engine.hpp"
#include "test_certs.hpp"

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <QtTest>

#include <random>

using namespace dlb::agent::tls;
using dlb::common::TlsConfig;
using dlb::common::UpstreamTlsConfig;

namespace {

// More rounds than any handshake needs (TLS 1.2 with a client certificate takes 3).
constexpr int kMaxPumpRounds = 20;

struct Pair {
    std::unique_ptr<Engine> client;
    std::unique_ptr<Engine> server;
};

// Moves ciphertext both ways until both handshakes are done (true) or one fails (false).
bool handshake(Pair& p)
{
    for (int round = 0; round < kMaxPumpRounds; ++round) {
        const auto c = p.client->handshake();
        std::string out;
        p.client->takeOutput(out);
        p.server->feed(out.data(), out.size());
        const auto s = p.server->handshake();
        out.clear();
        p.server->takeOutput(out);
        p.client->feed(out.data(), out.size());
        if (c == Engine::Status::Error || s == Engine::Status::Error)
            return false;
        if (c == Engine::Status::Ok && s == Engine::Status::Ok && !p.client->hasOutput() && !p.server->hasOutput())
            return true;
    }
    return false;
}

// Sends `data` from one engine to the other and reads it all back.
QByteArray transfer(Engine& from, Engine& to, const QByteArray& data)
{
    if (!from.write(std::string_view(data.constData(), size_t(data.size()))))
        return "write failed: " + QByteArray::fromStdString(from.error());
    std::string wire;
    from.takeOutput(wire);
    to.feed(wire.data(), wire.size());
    QByteArray got;
    char buf[16384];
    for (;;) {
        size_t n = 0;
        const auto st = to.read(buf, sizeof buf, &n);
        if (st != Engine::Status::Ok)
            break;
        got.append(buf, qsizetype(n));
    }
    std::string answer; // a TLS 1.3 key update or alert would land here; none is expected
    to.takeOutput(answer);
    from.feed(answer.data(), answer.size());
    return got;
}

QString peerCommonName(Engine& e)
{
    X509* cert = SSL_get1_peer_certificate(e.ssl());
    if (!cert)
        return {};
    char cn[256] = {};
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
    X509_free(cert);
    return QString::fromUtf8(cn);
}

} // namespace

class TestTlsEngine : public QObject {
    Q_OBJECT

private slots:
    void initTestCase();
    void handshakeAndData_data();
    void handshakeAndData();
    void tls11Refused();
    void sniPicksCertificate_data();
    void sniPicksCertificate();
    void alpnWithoutHttp11Refused();
    void clientCertificate_data();
    void clientCertificate();
    void verificationFailures_data();
    void verificationFailures();
    void sessionResumed_data();
    void sessionResumed();
    void loadErrors_data();
    void loadErrors();

private:
    TlsConfig serverConfig() const;
    UpstreamTlsConfig clientConfig() const;
    Pair pair(const TlsConfig& sc, const UpstreamTlsConfig& cc, const std::string& host = "127.0.0.1",
              std::shared_ptr<SessionCache> cache = nullptr);

    std::unique_ptr<dlb::test::TestCerts> certs_;
};

void TestTlsEngine::initTestCase()
{
    certs_ = std::make_unique<dlb::test::TestCerts>();
    QVERIFY2(certs_->ok(), qPrintable(certs_->error()));
}

TlsConfig TestTlsEngine::serverConfig() const
{
    TlsConfig c;
    c.certificate = certs_->file("server.pem");
    c.private_key = certs_->file("server.key");
    c.certificates.push_back({{"other.test", "*.wild.test"}, certs_->file("other.pem"), certs_->file("other.key")});
    return c;
}

UpstreamTlsConfig TestTlsEngine::clientConfig() const
{
    UpstreamTlsConfig c;
    c.ca_file = certs_->file("ca.pem");
    return c;
}

Pair TestTlsEngine::pair(const TlsConfig& sc, const UpstreamTlsConfig& cc, const std::string& host,
                         std::shared_ptr<SessionCache> cache)
{
    std::string why;
    auto server_ctx = ServerContext::create(sc, "listeners[0].tls", &why);
    if (!server_ctx)
        qWarning("server context: %s", why.c_str());
    auto client_ctx = ClientContext::create(cc, "pools[0].tls", &why);
    if (!client_ctx)
        qWarning("client context: %s", why.c_str());
    Pair p;
    if (server_ctx && client_ctx) {
        p.server = Engine::server(server_ctx, &why);
        p.client = Engine::client(client_ctx, host, std::move(cache), &why);
    }
    return p;
}

void TestTlsEngine::handshakeAndData_data()
{
    QTest::addColumn<int>("maxVersion");
    QTest::addColumn<QString>("version");
    QTest::newRow("TLS 1.2") << TLS1_2_VERSION << "TLSv1.2";
    QTest::newRow("TLS 1.3") << TLS1_3_VERSION << "TLSv1.3";
}

// Both versions handshake, agree on http/1.1, and carry a MiB each way byte for byte.
void TestTlsEngine::handshakeAndData()
{
    QFETCH(int, maxVersion);
    Pair p = pair(serverConfig(), clientConfig());
    QVERIFY(p.client && p.server);
    SSL_set_max_proto_version(p.client->ssl(), maxVersion);
    QVERIFY2(handshake(p), p.client->error().c_str());
    QTEST(QString::fromUtf8(p.client->version().data()), "version");
    QCOMPARE(QByteArray(p.server->alpn().data(), qsizetype(p.server->alpn().size())), QByteArray("http/1.1"));
    QCOMPARE(QByteArray(p.client->alpn().data(), qsizetype(p.client->alpn().size())), QByteArray("http/1.1"));
    std::mt19937_64 rng(42);
    QByteArray big(1 << 20, Qt::Uninitialized);
    for (char& c : big)
        c = char(rng());
    QCOMPARE(transfer(*p.client, *p.server, big), big);
    QCOMPARE(transfer(*p.server, *p.client, big), big);
    // close_notify reads as Closed on the other side.
    p.client->shutdown();
    std::string wire;
    p.client->takeOutput(wire);
    p.server->feed(wire.data(), wire.size());
    char buf[64];
    size_t n = 0;
    QCOMPARE(p.server->read(buf, sizeof buf, &n), Engine::Status::Closed);
}

// A TLS 1.1 client is refused with a protocol_version alert, even with every cipher allowed.
void TestTlsEngine::tls11Refused()
{
    std::string why;
    auto server_ctx = ServerContext::create(serverConfig(), "l", &why);
    QVERIFY2(server_ctx, why.c_str());
    auto server = Engine::server(server_ctx, &why);
    SSL_CTX* old_ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_security_level(old_ctx, 0);
    SSL_CTX_set_min_proto_version(old_ctx, TLS1_1_VERSION);
    SSL_CTX_set_max_proto_version(old_ctx, TLS1_1_VERSION);
    SSL_CTX_set_cipher_list(old_ctx, "ALL:@SECLEVEL=0");
    SSL* old = SSL_new(old_ctx);
    BIO* in = BIO_new(BIO_s_mem());
    BIO* out = BIO_new(BIO_s_mem());
    SSL_set_bio(old, in, out);
    SSL_set_connect_state(old);
    QCOMPARE(SSL_do_handshake(old), -1); // the ClientHello goes out
    char hello[4096];
    const int n = BIO_read(out, hello, sizeof hello);
    QVERIFY(n > 0);
    server->feed(hello, size_t(n));
    QCOMPARE(server->handshake(), Engine::Status::Error);
    QVERIFY2(server->error().find("unsupported protocol") != std::string::npos, server->error().c_str());
    std::string alert;
    server->takeOutput(alert);
    QVERIFY(!alert.empty());
    SSL_free(old);
    SSL_CTX_free(old_ctx);
}

void TestTlsEngine::sniPicksCertificate_data()
{
    QTest::addColumn<QString>("serverName");
    QTest::addColumn<QString>("commonName");
    QTest::newRow("no SNI (an address)") << "" << "localhost";
    QTest::newRow("second name") << "other.test" << "other.test";
    QTest::newRow("case-insensitive") << "OTHER.test" << "other.test";
    QTest::newRow("wildcard") << "a.wild.test" << "other.test";
    QTest::newRow("wildcard is one label") << "a.b.wild.test" << "localhost";
    QTest::newRow("unknown name: default") << "unknown.test" << "localhost";
}

// The certificate served is the one whose server_names match the client's SNI, else the default.
void TestTlsEngine::sniPicksCertificate()
{
    QFETCH(QString, serverName);
    UpstreamTlsConfig cc;
    cc.verify = false; // only which certificate arrives is looked at here
    cc.server_name = serverName.toStdString();
    Pair p = pair(serverConfig(), cc);
    QVERIFY(p.client && p.server);
    QVERIFY2(handshake(p), p.client->error().c_str());
    QTEST(peerCommonName(*p.client), "commonName");
}

// A client offering only h2 gets no_application_protocol, not an answer in HTTP/1.1.
void TestTlsEngine::alpnWithoutHttp11Refused()
{
    Pair p = pair(serverConfig(), clientConfig());
    QVERIFY(p.client && p.server);
    static const unsigned char kH2[] = {2, 'h', '2'};
    SSL_set_alpn_protos(p.client->ssl(), kH2, sizeof kH2);
    QVERIFY(!handshake(p));
    QVERIFY2(p.server->error().find("no application protocol") != std::string::npos, p.server->error().c_str());
}

void TestTlsEngine::clientCertificate_data()
{
    QTest::addColumn<QString>("cert");
    QTest::addColumn<bool>("accepted");
    QTest::newRow("none: refused") << "" << false;
    QTest::newRow("signed by the client CA") << "client" << true;
}

// verify_client: a client without a certificate from client_ca does not get through.
void TestTlsEngine::clientCertificate()
{
    QFETCH(QString, cert);
    QFETCH(bool, accepted);
    TlsConfig sc = serverConfig();
    sc.client_ca = certs_->file("ca.pem");
    sc.verify_client = true;
    Pair p = pair(sc, clientConfig());
    QVERIFY(p.client && p.server);
    if (!cert.isEmpty()) {
        QCOMPARE(SSL_use_certificate_file(p.client->ssl(), certs_->file(cert + ".pem").c_str(), SSL_FILETYPE_PEM), 1);
        QCOMPARE(SSL_use_PrivateKey_file(p.client->ssl(), certs_->file(cert + ".key").c_str(), SSL_FILETYPE_PEM), 1);
    }
    bool ok = handshake(p);
    // TLS 1.3: the client is done before the server has looked at its certificate; the
    // refusal shows in the first record the client reads.
    if (ok)
        ok = transfer(*p.client, *p.server, "GET / HTTP/1.1\r\n\r\n") == "GET / HTTP/1.1\r\n\r\n";
    QCOMPARE(ok, accepted);
    if (!accepted)
        QVERIFY2(p.server->error().find("certificate") != std::string::npos, p.server->error().c_str());
}

void TestTlsEngine::verificationFailures_data()
{
    QTest::addColumn<QString>("caFile");
    QTest::addColumn<QString>("host");
    QTest::addColumn<QString>("serverName");
    QTest::addColumn<QString>("error");
    QTest::newRow("trusted, address in SAN") << "ca.pem" << "127.0.0.1" << "" << "";
    QTest::newRow("trusted, name in SAN") << "ca.pem" << "localhost" << "" << "";
    QTest::newRow("configured server name") << "ca.pem" << "127.0.0.1" << "other.test" << "";
    QTest::newRow("wrong CA") << "wrong-ca.pem" << "127.0.0.1" << ""
                              << "certificate verification failed: unable to get local issuer certificate";
    QTest::newRow("name mismatch") << "ca.pem" << "127.0.0.2" << ""
                                   << "certificate verification failed: IP address mismatch";
    QTest::newRow("server name mismatch") << "ca.pem" << "127.0.0.1" << "nope.test"
                                          << "certificate verification failed: hostname mismatch";
}

// The replica's certificate must chain to ca_file and name the replica (or server_name).
void TestTlsEngine::verificationFailures()
{
    QFETCH(QString, caFile);
    QFETCH(QString, host);
    QFETCH(QString, serverName);
    QFETCH(QString, error);
    UpstreamTlsConfig cc;
    cc.ca_file = certs_->file(caFile);
    cc.server_name = serverName.toStdString();
    Pair p = pair(serverConfig(), cc, host.toStdString());
    QVERIFY(p.client && p.server);
    QCOMPARE(handshake(p), error.isEmpty());
    QCOMPARE(QString::fromStdString(p.client->error()), error);
}

void TestTlsEngine::sessionResumed_data()
{
    QTest::addColumn<int>("maxVersion");
    QTest::newRow("TLS 1.2") << TLS1_2_VERSION;
    QTest::newRow("TLS 1.3") << TLS1_3_VERSION;
}

// The second connection to a replica resumes the first one's session (abbreviated handshake).
void TestTlsEngine::sessionResumed()
{
    QFETCH(int, maxVersion);
    std::string why;
    auto server_ctx = ServerContext::create(serverConfig(), "l", &why);
    auto client_ctx = ClientContext::create(clientConfig(), "p", &why);
    QVERIFY(server_ctx && client_ctx);
    auto cache = std::make_shared<SessionCache>();
    for (int i = 0; i < 2; ++i) {
        Pair p{Engine::client(client_ctx, "127.0.0.1", cache, &why), Engine::server(server_ctx, &why)};
        SSL_set_max_proto_version(p.client->ssl(), maxVersion);
        QVERIFY2(handshake(p), p.client->error().c_str());
        // TLS 1.3 tickets arrive after the handshake, with the first records.
        QCOMPARE(transfer(*p.server, *p.client, "HTTP/1.1 200 OK\r\n\r\n"), QByteArray("HTTP/1.1 200 OK\r\n\r\n"));
        QCOMPARE(p.client->sessionReused(), i == 1);
        QVERIFY(cache->get());
    }
}

void TestTlsEngine::loadErrors_data()
{
    QTest::addColumn<QString>("what");
    QTest::addColumn<QString>("path");
    QTest::addColumn<QString>("reason");
    QTest::newRow("certificate missing") << "cert-missing" << "listeners[0].tls.certificate"
                                         << "cannot open %1/missing.pem: No such file or directory";
    QTest::newRow("certificate not PEM") << "cert-garbage" << "listeners[0].tls.certificate"
                                         << "%1/ca.key holds no PEM certificate";
    QTest::newRow("key of another certificate") << "key-mismatch" << "listeners[0].tls.private_key"
                                                << "%1/other.key is not the key of the certificate in %1/server.pem";
    QTest::newRow("SNI certificate missing") << "sni-missing" << "listeners[0].tls.certificates[0].certificate"
                                             << "cannot open %1/missing.pem: No such file or directory";
    QTest::newRow("client CA not PEM") << "client-ca-garbage" << "listeners[0].tls.client_ca"
                                       << "%1/server.key holds no PEM CA certificate";
    QTest::newRow("pool CA missing") << "pool-ca-missing" << "pools[0].tls.ca_file"
                                     << "cannot open %1/missing.pem: No such file or directory";
}

// What start and --check refuse: the path of the file at fault and why, in words.
void TestTlsEngine::loadErrors()
{
    QFETCH(QString, what);
    QFETCH(QString, path);
    QFETCH(QString, reason);
    dlb::common::Config config;
    dlb::common::ListenerConfig listener;
    listener.tls = serverConfig();
    TlsConfig& t = *listener.tls;
    dlb::common::PoolConfig pool;
    pool.replicas.push_back({});
    pool.replicas[0].https = true;
    pool.tls = clientConfig();
    const std::string missing = certs_->file("missing.pem");
    if (what == "cert-missing")
        t.certificate = missing;
    if (what == "cert-garbage")
        t.certificate = certs_->file("ca.key");
    if (what == "key-mismatch")
        t.private_key = certs_->file("other.key");
    if (what == "sni-missing")
        t.certificates[0].certificate = missing;
    if (what == "client-ca-garbage") {
        t.client_ca = certs_->file("server.key");
        t.verify_client = true;
    }
    if (what == "pool-ca-missing")
        pool.tls.ca_file = missing;
    config.listeners.push_back(listener);
    config.pools.push_back(pool);
    Contexts contexts;
    const auto errors = loadContexts(config, &contexts);
    QCOMPARE(errors.size(), size_t(1));
    QCOMPARE(QString::fromStdString(errors[0].path), path);
    const QString expected = reason.arg(certs_->path(QStringLiteral("x")).chopped(2));
    QVERIFY2(QString::fromStdString(errors[0].reason).startsWith(expected), errors[0].reason.c_str());
    QVERIFY(contexts.listeners.empty()); // nothing half-loaded is handed out
    // And the good config loads.
    dlb::common::Config good;
    good.listeners.push_back({"", {}, serverConfig()});
    QVERIFY(loadContexts(good, &contexts).empty());
    QVERIFY(contexts.listeners[0]);
}

QTEST_GUILESS_MAIN(TestTlsEngine)
#include "tst_tls_engine.moc"
