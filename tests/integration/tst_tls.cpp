// TLS end to end: real agents with TLS listeners and https:// replicas, QSslSocket, curl and
// openssl as clients, openssl s_server as a TLS replica. Certificates are made per run
// (test_certs.hpp).
#include "harness.hpp"
#include "test_certs.hpp"

#include <QElapsedTimer>
#include <QFile>
#include <QJsonArray>
#include <QSslCertificate>
#include <QSslConfiguration>
#include <QSslKey>
#include <QSslSocket>
#include <QtTest>

#include <csignal>

using namespace dlb::test;

namespace {

constexpr quint64 kSeed = 20261202;
// A few MiB each way: many TLS records, several backpressure rounds.
constexpr qsizetype kBigBody = 3 * 1024 * 1024 + 17;
constexpr int kShortHandshakeMs = 300;
// curl and openssl run as child processes; generous for a loaded machine.
constexpr int kToolTimeoutMs = 30000;

QString commonName(const QSslCertificate& cert)
{
    const QStringList cn = cert.subjectInfo(QSslCertificate::CommonName);
    return cn.isEmpty() ? QString() : cn.first();
}

// One HTTP/1.1 exchange over an established TLS socket: the head, then a Content-Length body.
std::optional<Response> exchange(QSslSocket& s, const QByteArray& request)
{
    s.write(request);
    QByteArray buf;
    qsizetype head_end = -1;
    while ((head_end = buf.indexOf("\r\n\r\n")) < 0) {
        if (!s.waitForReadyRead(kWaitMs))
            return std::nullopt;
        buf += s.readAll();
    }
    Response r;
    QList<QByteArray> lines = buf.left(head_end).split('\n');
    for (QByteArray& l : lines)
        l = l.trimmed();
    const QList<QByteArray> status = lines.takeFirst().split(' ');
    r.status = status.value(1).toInt();
    r.headers = parseHeaderLines(lines);
    const qsizetype length = r.header("Content-Length").toLongLong();
    QByteArray body = buf.mid(head_end + 4);
    while (body.size() < length) {
        if (!s.waitForReadyRead(kWaitMs))
            return std::nullopt;
        body += s.readAll();
    }
    r.body = body;
    return r;
}

} // namespace

class TestTls : public QObject {
    Q_OBJECT

private slots:
    void initTestCase();
    void versionsAndForwardedProto_data();
    void versionsAndForwardedProto();
    void tls11Refused();
    void sniPicksCertificate_data();
    void sniPicksCertificate();
    void clientCertificate_data();
    void clientCertificate();
    void reloadKeepsOpenConnections();
    void silentClientCutAtHandshakeDeadline();
    void reloadCannotTurnTlsOn();
    void httpsReplicaAndBodiesBothWays();
    void wrongCaIs502();
    void healthCheckOverTls();
    void sessionResumedOnReconnect();
    void curlOverHttps();
    void checkRefusesWhatStartRefuses_data();
    void checkRefusesWhatStartRefuses();

private:
    // An agent with one TLS listener (server.pem, other.pem for other.test) before `stub`.
    bool startTlsAgent(Cluster& c, StubBackend& stub, const QJsonObject& extra_tls = {},
                       const QJsonObject& timeouts = {});
    QSslConfiguration clientConfig(const QString& ca = QStringLiteral("ca.pem")) const;
    bool connectTls(QSslSocket& s, quint16 port, const QString& peer_name, const QSslConfiguration& conf);
    QString copyCert(Cluster& c, const QString& name, const QString& as);
    // Agent b as startTlsAgent() makes it (before *stub), then agent a (plain) whose one
    // replica is b over https://, trusted through the CA file `ca`, with `healthCheck` as its
    // pool's health_check when not empty. False (the error in a or b) when either fails.
    bool startAgentOverTls(Cluster& a, Cluster& b, StubBackend** stub, const QString& ca,
                           const QJsonObject& healthCheck = {});

    std::unique_ptr<TestCerts> certs_;
};

void TestTls::initTestCase()
{
    QVERIFY(QSslSocket::supportsSsl());
    certs_ = std::make_unique<TestCerts>();
    QVERIFY2(certs_->ok(), qPrintable(certs_->error()));
}

QString TestTls::copyCert(Cluster& c, const QString& name, const QString& as)
{
    QFile::remove(c.path(as));
    QFile::copy(certs_->path(name), c.path(as));
    return c.path(as);
}

bool TestTls::startTlsAgent(Cluster& c, StubBackend& stub, const QJsonObject& extra_tls, const QJsonObject& timeouts)
{
    QJsonObject config = c.config({stub.port()});
    // Copies in the cluster's folder, so a test can replace them for a reload.
    QJsonObject tls{{"certificate", copyCert(c, "server.pem", "cert.pem")},
                    {"private_key", copyCert(c, "server.key", "cert.key")},
                    {"certificates", QJsonArray{QJsonObject{{"server_names", QJsonArray{"other.test"}},
                                                            {"certificate", certs_->path("other.pem")},
                                                            {"private_key", certs_->path("other.key")}}}}};
    for (auto it = extra_tls.begin(); it != extra_tls.end(); ++it)
        tls[it.key()] = it.value();
    setJson(config, {"listeners", "0", "tls"}, tls);
    for (auto it = timeouts.begin(); it != timeouts.end(); ++it)
        setJson(config, {"timeouts", it.key()}, it.value());
    return c.startAgent(config);
}

bool TestTls::startAgentOverTls(Cluster& a, Cluster& b, StubBackend** stub, const QString& ca,
                                const QJsonObject& healthCheck)
{
    *stub = &b.addStub("s1");
    if (!startTlsAgent(b, **stub))
        return false;
    QJsonObject config = a.config({});
    setHttpsReplica(config, b.port(), certs_->path(ca));
    if (!healthCheck.isEmpty())
        setJson(config, {"pools", "0", "health_check"}, healthCheck);
    return a.startAgent(config);
}

QSslConfiguration TestTls::clientConfig(const QString& ca) const
{
    QSslConfiguration conf = QSslConfiguration::defaultConfiguration();
    conf.setCaCertificates(QSslCertificate::fromPath(certs_->path(ca)));
    conf.setAllowedNextProtocols({QByteArrayLiteral("http/1.1")});
    return conf;
}

bool TestTls::connectTls(QSslSocket& s, quint16 port, const QString& peer_name, const QSslConfiguration& conf)
{
    s.setSslConfiguration(conf);
    s.connectToHostEncrypted(QStringLiteral("127.0.0.1"), port, peer_name);
    if (!s.waitForEncrypted(kWaitMs)) {
        qWarning() << "no TLS session:" << s.errorString() << s.sslHandshakeErrors();
        return false;
    }
    return true;
}

void TestTls::versionsAndForwardedProto_data()
{
    QTest::addColumn<int>("protocol");
    QTest::newRow("TLS 1.2") << int(QSsl::TlsV1_2);
    QTest::newRow("TLS 1.3") << int(QSsl::TlsV1_3);
}

// Both versions work, ALPN settles on http/1.1, and the replica is told the client used https.
void TestTls::versionsAndForwardedProto()
{
    QFETCH(int, protocol);
    Cluster c;
    StubBackend& stub = c.addStub("s1");
    QVERIFY2(startTlsAgent(c, stub), qPrintable(c.error()));
    QSslConfiguration conf = clientConfig();
    conf.setProtocol(QSsl::SslProtocol(protocol));
    QSslSocket s;
    QVERIFY(connectTls(s, c.port(), QStringLiteral("localhost"), conf));
    QCOMPARE(int(s.sessionProtocol()), protocol);
    QCOMPARE(s.sslConfiguration().nextNegotiatedProtocol(), QByteArray("http/1.1"));
    const auto r = exchange(s, getRequest("/hello", "X-Forwarded-Proto: http\r\n"));
    QVERIFY(r);
    QCOMPARE(r->status, 200);
    QCOMPARE(r->body, QByteArray("/hello"));
    QCOMPARE(stub.requests().size(), 1);
    QCOMPARE(stub.requests()[0].header("X-Forwarded-Proto"), QByteArray("https"));
    QCOMPARE(c.stopAgent(), 0);
}

// TLS 1.1 is refused with a protocol_version alert.
void TestTls::tls11Refused()
{
    Cluster c;
    StubBackend& stub = c.addStub("s1");
    QVERIFY2(startTlsAgent(c, stub), qPrintable(c.error()));
    QProcess p;
    p.start(QStringLiteral("openssl"), {"s_client", "-connect", QStringLiteral("127.0.0.1:%1").arg(c.port()), "-tls1_1",
                                        "-cipher", "DEFAULT:@SECLEVEL=0"});
    p.closeWriteChannel();
    QVERIFY(p.waitForFinished(kToolTimeoutMs));
    const QByteArray out = p.readAllStandardOutput() + p.readAllStandardError();
    QVERIFY2(p.exitCode() != 0, out.constData());
    QVERIFY2(out.contains("alert protocol version"), out.constData());
    QCOMPARE(stub.requests().size(), 0);
    QCOMPARE(c.stopAgent(), 0);
}

void TestTls::sniPicksCertificate_data()
{
    QTest::addColumn<QString>("peerName");
    QTest::addColumn<QString>("commonName");
    QTest::newRow("default") << "localhost" << "localhost";
    QTest::newRow("second name") << "other.test" << "other.test";
}

// The certificate for the name the client asks for (SNI), verified by the client.
void TestTls::sniPicksCertificate()
{
    QFETCH(QString, peerName);
    Cluster c;
    StubBackend& stub = c.addStub("s1");
    QVERIFY2(startTlsAgent(c, stub), qPrintable(c.error()));
    QSslSocket s;
    QVERIFY(connectTls(s, c.port(), peerName, clientConfig()));
    QTEST(commonName(s.peerCertificate()), "commonName");
    const auto r = exchange(s, getRequest("/sni"));
    QVERIFY(r);
    QCOMPARE(r->status, 200);
    QCOMPARE(c.stopAgent(), 0);
}

void TestTls::clientCertificate_data()
{
    QTest::addColumn<bool>("withCert");
    QTest::newRow("without: refused") << false;
    QTest::newRow("with one from client_ca") << true;
}

// verify_client: no certificate, no request reaches the replica.
void TestTls::clientCertificate()
{
    QFETCH(bool, withCert);
    Cluster c;
    StubBackend& stub = c.addStub("s1");
    QVERIFY2(startTlsAgent(c, stub, {{"client_ca", certs_->path("ca.pem")}, {"verify_client", true}}),
             qPrintable(c.error()));
    QSslConfiguration conf = clientConfig();
    if (withCert) {
        conf.setLocalCertificate(QSslCertificate::fromPath(certs_->path("client.pem")).value(0));
        QFile key(certs_->path("client.key"));
        QVERIFY(key.open(QIODevice::ReadOnly));
        conf.setPrivateKey(QSslKey(&key, QSsl::Ec));
    }
    QSslSocket s;
    s.setSslConfiguration(conf);
    s.connectToHostEncrypted(QStringLiteral("127.0.0.1"), c.port(), QStringLiteral("localhost"));
    // TLS 1.3: the client may count the handshake done before the server has checked its
    // certificate; the refusal then shows as a closed connection instead of an answer.
    const bool encrypted = s.waitForEncrypted(kWaitMs);
    std::optional<Response> r;
    if (encrypted)
        r = exchange(s, getRequest("/cert"));
    QCOMPARE(r.has_value(), withCert);
    if (withCert)
        QCOMPARE(r->status, 200);
    QCOMPARE(stub.requests().size(), withCert ? 1 : 0);
    QCOMPARE(c.stopAgent(), 0);
}

// SIGHUP rereads the certificate files: new connections get the new certificate, and a
// connection opened before keeps its session and goes on working.
void TestTls::reloadKeepsOpenConnections()
{
    Cluster c;
    StubBackend& stub = c.addStub("s1");
    QVERIFY2(startTlsAgent(c, stub), qPrintable(c.error()));
    QSslSocket before;
    QVERIFY(connectTls(before, c.port(), QStringLiteral("localhost"), clientConfig()));
    QCOMPARE(commonName(before.peerCertificate()), QStringLiteral("localhost"));
    QCOMPARE(exchange(before, getRequest("/1"))->status, 200);

    copyCert(c, "server2.pem", "cert.pem");
    copyCert(c, "server2.key", "cert.key");
    const qsizetype mark = c.agent().logMark();
    c.agent().signal(SIGHUP);
    QVERIFY2(c.agent().waitForLog("config reloaded", mark), c.agentLog().constData());

    QSslSocket after;
    QVERIFY(connectTls(after, c.port(), QStringLiteral("localhost"), clientConfig()));
    QCOMPARE(commonName(after.peerCertificate()), QStringLiteral("dlb reloaded"));
    QCOMPARE(exchange(after, getRequest("/2"))->status, 200);
    const auto r = exchange(before, getRequest("/3"));
    QVERIFY(r);
    QCOMPARE(r->status, 200);
    QCOMPARE(r->body, QByteArray("/3"));
    QCOMPARE(before.state(), QAbstractSocket::ConnectedState);
    QCOMPARE(c.stopAgent(), 0);
}

// Turning TLS on for a running listener takes a restart: the reload says so, and the listener
// goes on speaking plain HTTP instead of expecting handshakes from its clients.
void TestTls::reloadCannotTurnTlsOn()
{
    Cluster c;
    StubBackend& stub = c.addStub("s1");
    QJsonObject config = c.config({stub.port()});
    QVERIFY2(c.startAgent(config), qPrintable(c.error()));
    setJson(config, {"listeners", "0", "address"}, QStringLiteral("127.0.0.1:%1").arg(c.port()));
    setJson(config, {"listeners", "0", "tls"},
            QJsonObject{{"certificate", certs_->path("server.pem")}, {"private_key", certs_->path("server.key")}});
    QVERIFY(c.writeConfig(config));
    const qsizetype mark = c.agent().logMark();
    c.agent().signal(SIGHUP);
    QVERIFY2(c.agent().waitForLog("config reloaded", mark), c.agentLog().constData());
    QVERIFY2(c.agentLog().mid(mark).contains("listeners changed"), c.agentLog().constData());
    const auto r = fetch(c.port(), getRequest("/plain"));
    QVERIFY(r);
    QCOMPARE(r->status, 200);
    QCOMPARE(c.stopAgent(), 0);
}

// A client that connects and never starts a handshake is cut off at tls_handshake_ms, long
// before the header timeout.
void TestTls::silentClientCutAtHandshakeDeadline()
{
    Cluster c;
    StubBackend& stub = c.addStub("s1");
    QVERIFY2(startTlsAgent(c, stub, {}, {{"tls_handshake_ms", kShortHandshakeMs}, {"header_ms", 60000}}),
             qPrintable(c.error()));
    QTcpSocket s;
    s.connectToHost(QStringLiteral("127.0.0.1"), c.port());
    QVERIFY(s.waitForConnected(kWaitMs));
    QElapsedTimer t;
    t.start();
    QVERIFY(s.state() != QAbstractSocket::UnconnectedState && s.waitForDisconnected(kWaitMs));
    QVERIFY2(t.elapsed() >= kShortHandshakeMs - 50, qPrintable(QString::number(t.elapsed())));
    QCOMPARE(c.stopAgent(), 0);
}

// https:// replica: agent A (plain) -> TLS -> agent B (TLS listener) -> stub. Bodies of a few
// MiB cross both TLS legs, each way, byte for byte.
void TestTls::httpsReplicaAndBodiesBothWays()
{
    Cluster b;
    Cluster a;
    StubBackend* stub = nullptr;
    QVERIFY2(startAgentOverTls(a, b, &stub, "ca.pem"), qPrintable(b.error() + a.error()));

    const QByteArray body = randomBytes(kBigBody, kSeed);
    const auto r = fetch(a.port(), "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: " + QByteArray::number(body.size()) +
                                       "\r\n\r\n" + body);
    QVERIFY(r);
    QCOMPARE(r->status, 200);
    QCOMPARE(r->body.size(), body.size() + 3);
    QCOMPARE(sha256Hex(r->body), sha256Hex("/up" + body));
    QCOMPARE(stub->requests().size(), 1);
    QCOMPARE(sha256Hex(stub->requests()[0].body), sha256Hex(body));
    QCOMPARE(a.stopAgent(), 0);
    QCOMPARE(b.stopAgent(), 0);
}

// A replica whose certificate does not chain to ca_file is not trusted: 502, and the log
// says why.
void TestTls::wrongCaIs502()
{
    Cluster b;
    Cluster a;
    StubBackend* stub = nullptr;
    QVERIFY2(startAgentOverTls(a, b, &stub, "wrong-ca.pem"), qPrintable(b.error() + a.error()));
    const auto r = fetch(a.port(), getRequest("/"));
    QVERIFY(r);
    QCOMPARE(r->status, 502);
    QCOMPARE(stub->requests().size(), 0);
    QVERIFY2(a.agent().waitForLog("TLS: certificate verification failed: unable to get local issuer certificate"),
             a.agentLog().constData());
    QCOMPARE(a.stopAgent(), 0);
    QCOMPARE(b.stopAgent(), 0);
}

// Health checks of an https:// replica go over TLS too (their request is queued before the
// connection exists; it must not go out in clear).
void TestTls::healthCheckOverTls()
{
    Cluster b;
    Cluster a;
    StubBackend* stub = nullptr;
    QVERIFY2(startAgentOverTls(a, b, &stub, "ca.pem",
                               {{"enabled", true}, {"path", "/healthz"}, {"interval_ms", 200}, {"timeout_ms", 100}}),
             qPrintable(b.error() + a.error()));
    const auto checked = [stub] {
        for (const StubRequest& r : stub->requests())
            if (r.path == "/healthz")
                return true;
        return false;
    };
    QTRY_VERIFY_WITH_TIMEOUT(checked(), kWaitMs);
    QCOMPARE(a.stopAgent(), 0);
    QCOMPARE(b.stopAgent(), 0);
}

// Each request to `openssl s_server -www` is a new connection (it answers HTTP/1.0 and
// closes); its page says whether the session was "New" or "Reused". After the first, every
// connection resumes.
void TestTls::sessionResumedOnReconnect()
{
    ChildProcess server;
    const QByteArray port =
        server.startAndReadLine(QStringLiteral("openssl"),
                                {"s_server", "-accept", "127.0.0.1:0", "-cert", certs_->path("server.pem"), "-key",
                                 certs_->path("server.key"), "-www"},
                                "ACCEPT 127.0.0.1:");
    QVERIFY2(!port.isEmpty(), qPrintable(server.error()));
    Cluster a;
    QJsonObject config = a.config({});
    setHttpsReplica(config, QString::fromLatin1(port), certs_->path("ca.pem"));
    QVERIFY2(a.startAgent(config), qPrintable(a.error()));
    for (int i = 0; i < 3; ++i) {
        const auto r = fetch(a.port(), getRequest("/"));
        QVERIFY(r);
        QCOMPARE(r->status, 200);
        const QByteArray expected = i == 0 ? "\nNew, TLSv1.3" : "\nReused, TLSv1.3";
        QVERIFY2(r->body.contains(expected), r->body.left(400).constData());
    }
    QCOMPARE(a.stopAgent(), 0);
}

// curl, the reference client, over https: a few MiB up and down, verified against the CA.
void TestTls::curlOverHttps()
{
    Cluster c;
    StubBackend& stub = c.addStub("s1");
    QVERIFY2(startTlsAgent(c, stub), qPrintable(c.error()));
    const QByteArray body = randomBytes(kBigBody, kSeed + 1);
    QFile up(c.path("up.bin"));
    QVERIFY(up.open(QIODevice::WriteOnly));
    up.write(body);
    up.close();
    QProcess curl;
    curl.start(QStringLiteral("curl"),
               {"-sS", "--fail", "--http1.1", "--cacert", certs_->path("ca.pem"), "--resolve",
                QStringLiteral("localhost:%1:127.0.0.1").arg(c.port()), "--data-binary", "@" + c.path("up.bin"),
                "-H", "Content-Type: application/octet-stream", "-o", c.path("down.bin"),
                QStringLiteral("https://localhost:%1/curl").arg(c.port())});
    QVERIFY(curl.waitForFinished(kToolTimeoutMs));
    QVERIFY2(curl.exitCode() == 0, curl.readAllStandardError().constData());
    QFile down(c.path("down.bin"));
    QVERIFY(down.open(QIODevice::ReadOnly));
    QCOMPARE(sha256Hex(down.readAll()), sha256Hex("/curl" + body));
    QCOMPARE(c.stopAgent(), 0);
}

void TestTls::checkRefusesWhatStartRefuses_data()
{
    QTest::addColumn<QString>("what");
    QTest::addColumn<QString>("message");
    QTest::newRow("unreadable certificate") << "cert" << "listeners[0].tls.certificate: cannot open <cluster>/nope.pem";
    QTest::newRow("key of another certificate") << "key" << "listeners[0].tls.private_key: <certs>/other.key is not the key";
    QTest::newRow("CA file that is not PEM") << "ca" << "pools[0].tls.ca_file: <certs>/server.key holds no PEM CA certificate";
}

// `--check` and start load the same certificates through the same function: the one refuses
// exactly what the other would, with the same words.
void TestTls::checkRefusesWhatStartRefuses()
{
    QFETCH(QString, what);
    QFETCH(QString, message);
    Cluster c;
    StubBackend& stub = c.addStub("s1");
    QJsonObject config = c.config({stub.port()});
    setJson(config, {"listeners", "0", "tls"},
            QJsonObject{{"certificate", what == "cert" ? c.path("nope.pem") : certs_->path("server.pem")},
                        {"private_key", certs_->path(what == "key" ? "other.key" : "server.key")}});
    if (what == "ca")
        setJson(config, {"pools", "0", "tls", "ca_file"}, certs_->path("server.key"));
    QVERIFY(c.writeConfig(config));
    const QByteArray expected = QString(message)
                                    .replace("<cluster>", c.path("x").chopped(2))
                                    .replace("<certs>", certs_->path("x").chopped(2))
                                    .toUtf8();

    QProcess check;
    check.start(binPath("dlb-agent"), {"--check", "--config", c.configPath()});
    QVERIFY(check.waitForFinished(kWaitMs));
    const QByteArray check_err = check.readAllStandardError();
    QCOMPARE(check.exitCode(), 1);
    QVERIFY2(check_err.contains(expected), check_err.constData());

    QProcess start;
    start.start(binPath("dlb-agent"), {"--config", c.configPath()});
    QVERIFY(start.waitForFinished(kWaitMs));
    const QByteArray start_err = start.readAllStandardError();
    QCOMPARE(start.exitCode(), 1);
    QVERIFY2(start_err.contains(expected), start_err.constData());
}

QTEST_GUILESS_MAIN(TestTls)
#include "tst_tls.moc"
