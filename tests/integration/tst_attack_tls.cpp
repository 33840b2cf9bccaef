// Hostile TLS clients and replicas against a real agent: garbage instead of a ClientHello,
// handshakes cut at every byte, dribbled or left unfinished by the thousand, renegotiation,
// broken SNI, ALPN h2 only, close_notify and resets in the middle of an exchange, a client that
// never reads, a broken certificate on SIGHUP, replicas with bad certificates or that reset
// during the handshake, pipelining. The client side is OpenSSL itself over blocking sockets
// with timeouts, so a test can send exactly the bytes it wants and when.
#include "harness.hpp"
#include "raw_socket.hpp"
#include "test_certs.hpp"

#include <QElapsedTimer>
#include <QFile>
#include <QJsonArray>
#include <QRandomGenerator64>
#include <QTcpServer>
#include <QTcpSocket>
#include <QtTest>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>

using namespace dlb::test;

namespace {

constexpr quint64 kSeed = 20261203;
constexpr int kShortHandshakeMs = 1000;
constexpr int kDribbleIntervalMs = 100;
constexpr int kUnfinishedHandshakes = 2000;
// What the agent may grow by while kUnfinishedHandshakes handshakes wait for their deadline:
// 96 KiB each over the agent's start (measured: about 50 KiB each in a first wave, 66 KiB in a
// second; OpenSSL's 16.7 KiB record buffer is held for the partial record, plus its handshake
// state, the session and the socket).
constexpr qint64 kUnfinishedHandshakesMaxGrowthKiB = kUnfinishedHandshakes * 96;
// A big answer that the client does not read; the agent must not hold it all.
constexpr qsizetype kUnreadAnswerBytes = 48 * 1024 * 1024;
constexpr qint64 kUnreadAnswerMaxGrowthKiB = 24 * 1024;
constexpr int kPipelined = 100;
constexpr int kKeyUpdates = 1000;
constexpr int kFailingFetches = 3;
// Descriptors the agent may hold beyond its count before an attack: pooled upstream connections
// and the checking client's connection, whose close the agent may not have seen yet.
constexpr int kFdSlack = 3;

struct SslCtxDeleter {
    void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SslDeleter {
    void operator()(SSL* s) const { SSL_free(s); }
};

struct TlsClient {
    std::unique_ptr<SSL_CTX, SslCtxDeleter> ctx;
    std::unique_ptr<SSL, SslDeleter> ssl;
    int fd = -1;
    ~TlsClient()
    {
        ssl.reset();
        if (fd >= 0)
            ::close(fd);
    }
};

// A client context trusting `ca`; ALPN `alpn` in wire format (empty: none); one version when
// `version` is not 0.
std::unique_ptr<SSL_CTX, SslCtxDeleter> clientCtx(const std::string& ca, const QByteArray& alpn, int version = 0)
{
    std::unique_ptr<SSL_CTX, SslCtxDeleter> ctx(SSL_CTX_new(TLS_client_method()));
    SSL_CTX_load_verify_locations(ctx.get(), ca.c_str(), nullptr);
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    if (!alpn.isEmpty())
        SSL_CTX_set_alpn_protos(ctx.get(), reinterpret_cast<const unsigned char*>(alpn.constData()),
                                static_cast<unsigned>(alpn.size()));
    if (version) {
        SSL_CTX_set_min_proto_version(ctx.get(), version);
        SSL_CTX_set_max_proto_version(ctx.get(), version);
    }
    return ctx;
}

const QByteArray kAlpnHttp11("\x08http/1.1", 9);

// SSL_set_tlsext_host_name spelled out: the macro's C cast trips -Wold-style-cast.
void setSni(SSL* ssl, const char* name)
{
    SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, const_cast<char*>(name));
}

// Handshake over a real socket; false (and the client half set up) when it fails.
bool tlsConnect(TlsClient& c, quint16 port, const std::string& ca, const QByteArray& alpn = kAlpnHttp11,
                int version = 0, const char* sni = "localhost")
{
    c.ctx = clientCtx(ca, alpn, version);
    c.fd = connectWithTimeout(port);
    if (c.fd < 0)
        return false;
    c.ssl.reset(SSL_new(c.ctx.get()));
    SSL_set_fd(c.ssl.get(), c.fd);
    if (sni)
        setSni(c.ssl.get(), sni);
    const bool ok = SSL_connect(c.ssl.get()) == 1;
    ERR_clear_error();
    return ok;
}

bool tlsWrite(TlsClient& c, const QByteArray& data)
{
    size_t n = 0;
    return data.isEmpty() || SSL_write_ex(c.ssl.get(), data.constData(), static_cast<size_t>(data.size()), &n) == 1;
}

// Reads answers until `count` complete Content-Length answers have arrived; their statuses.
QList<int> tlsReadAnswers(TlsClient& c, int count)
{
    QList<int> statuses;
    QByteArray buf;
    char chunk[16384];
    while (statuses.size() < count) {
        const qsizetype head_end = buf.indexOf("\r\n\r\n");
        if (head_end >= 0) {
            const QByteArray head = buf.left(head_end);
            qsizetype length = 0;
            for (const QByteArray& line : head.split('\n'))
                if (line.toLower().startsWith("content-length:"))
                    length = line.mid(15).trimmed().toLongLong();
            if (buf.size() >= head_end + 4 + length) {
                statuses.append(head.split(' ').value(1).toInt());
                buf.remove(0, head_end + 4 + length);
                continue;
            }
        }
        size_t n = 0;
        if (SSL_read_ex(c.ssl.get(), chunk, sizeof chunk, &n) != 1)
            break;
        buf.append(chunk, static_cast<qsizetype>(n));
    }
    ERR_clear_error();
    return statuses;
}

// The first flight of a client, made without a socket: a ClientHello with `sni` and `alpn`.
QByteArray clientHello(const std::string& ca, const char* sni, const QByteArray& alpn = kAlpnHttp11)
{
    auto ctx = clientCtx(ca, alpn);
    std::unique_ptr<SSL, SslDeleter> ssl(SSL_new(ctx.get()));
    BIO* rbio = BIO_new(BIO_s_mem());
    BIO* wbio = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl.get(), rbio, wbio);
    if (sni)
        setSni(ssl.get(), sni);
    SSL_connect(ssl.get());
    ERR_clear_error();
    QByteArray out(static_cast<qsizetype>(BIO_ctrl_pending(wbio)), Qt::Uninitialized);
    BIO_read(wbio, out.data(), static_cast<int>(out.size()));
    return out;
}

} // namespace

class TestAttackTls : public QObject {
    Q_OBJECT

private slots:
    void initTestCase();
    void garbageInsteadOfClientHello();
    void clientHelloCutAtEveryByteThenReset();
    void dribbledHandshakeIsCut();
    void thousandsOfUnfinishedHandshakes();
    void renegotiationRefused();
    void keyUpdateFlood();
    void hugeAndMalformedSni();
    void alpnH2OnlyRefused();
    void closeNotifyInTheMiddleOfABody();
    void resetsMidRequestAndMidResponse();
    void clientThatNeverReadsIsBounded();
    void sighupWithBrokenCertificate();
    void httpsReplicaWithBadCertificate_data();
    void httpsReplicaWithBadCertificate();
    void httpsReplicaResetsDuringHandshake();
    void pipelinedOverTls();

private:
    bool startTlsAgent(Cluster& c, const QList<quint16>& ports, const QJsonObject& timeouts = {});
    // A complete TLS exchange with the agent: it still serves.
    bool serves(quint16 port);
    std::string ca() const { return certs_->file(QStringLiteral("ca.pem")); }
    // What kFailingFetches requests get from an agent whose one plain replica refuses
    // connections: a TLS failure must cost a replica no more than a TCP failure does.
    QList<int> plainFailureStatuses();

    std::unique_ptr<TestCerts> certs_;
};

void TestAttackTls::initTestCase()
{
    certs_ = std::make_unique<TestCerts>();
    QVERIFY2(certs_->ok(), qPrintable(certs_->error()));
}

bool TestAttackTls::startTlsAgent(Cluster& c, const QList<quint16>& ports, const QJsonObject& timeouts)
{
    QJsonObject config = c.config(ports);
    QFile::remove(c.path("cert.pem"));
    QFile::remove(c.path("cert.key"));
    QFile::copy(certs_->path("server.pem"), c.path("cert.pem"));
    QFile::copy(certs_->path("server.key"), c.path("cert.key"));
    setJson(config, {"listeners", "0", "tls"},
            QJsonObject{{"certificate", c.path("cert.pem")}, {"private_key", c.path("cert.key")}});
    for (auto it = timeouts.begin(); it != timeouts.end(); ++it)
        setJson(config, {"timeouts", it.key()}, it.value());
    return c.startAgent(config);
}

bool TestAttackTls::serves(quint16 port)
{
    TlsClient c;
    if (!tlsConnect(c, port, ca()))
        return false;
    if (!tlsWrite(c, getRequest("/alive")))
        return false;
    return tlsReadAnswers(c, 1) == QList<int>{200};
}

// Bytes that are not a ClientHello end the connection (an alert, then close); the agent serves on.
void TestAttackTls::garbageInsteadOfClientHello()
{
    Cluster c;
    StubBackend& stub = c.addStub("s1");
    QVERIFY2(startTlsAgent(c, {stub.port()}), qPrintable(c.error()));
    const QList<QByteArray> garbage = {
        randomBytes(4096, kSeed),
        getRequest("/plain"),
        QByteArray("\x16\x03\x01\xff\xff", 5) + randomBytes(300, kSeed + 1),      // oversized record
        QByteArray("\x16\x03\x01\x00\x04\x01\x00\x00\x00", 9),                   // empty ClientHello
        QByteArray("\x80\x2e\x01\x00\x02\x00\x15\x00\x00\x00\x10", 11) + randomBytes(37, kSeed + 2), // SSLv2
        QByteArray("\x15\x03\x03\x00\x02\x02\x28", 7),                           // a fatal alert first
        QByteArray("\x17\x03\x03\x00\x10", 5) + randomBytes(16, kSeed + 3),      // application data first
    };
    for (const QByteArray& g : garbage) {
        const int fd = connectWithTimeout(c.port());
        QVERIFY(fd >= 0);
        QVERIFY(sendAll(fd, g));
        QVERIFY2(closedByPeer(fd, kWaitMs), g.left(16).toHex().constData());
        ::close(fd);
    }
    QVERIFY(serves(c.port()));
    QCOMPARE(stub.requests().size(), 1);
    QCOMPARE(c.stopAgent(), 0);
}

// Every prefix of a ClientHello, then a reset: nothing leaks, nothing crashes.
void TestAttackTls::clientHelloCutAtEveryByteThenReset()
{
    Cluster c;
    StubBackend& stub = c.addStub("s1");
    QVERIFY2(startTlsAgent(c, {stub.port()}), qPrintable(c.error()));
    const qint64 pid = c.agent().process().processId();
    const int fds_before = openFds(pid);
    QVERIFY(serves(c.port()));
    const QByteArray hello = clientHello(ca(), "localhost");
    QVERIFY(hello.size() > 100);
    for (qsizetype cut = 1; cut < hello.size(); ++cut) {
        const int fd = connectWithTimeout(c.port());
        QVERIFY(fd >= 0);
        QVERIFY(sendAll(fd, hello.left(cut)));
        resetClose(fd);
    }
    // The whole ClientHello then a reset before the server's flight is read.
    for (int i = 0; i < 50; ++i) {
        const int fd = connectWithTimeout(c.port());
        QVERIFY(sendAll(fd, hello));
        resetClose(fd);
    }
    QVERIFY(serves(c.port()));
    QTRY_VERIFY_WITH_TIMEOUT(openFds(pid) <= fds_before + kFdSlack, kWaitMs);
    QCOMPARE(c.stopAgent(), 0);
}

// One byte per 100 ms: the handshake deadline cuts the client, however busy it looks.
void TestAttackTls::dribbledHandshakeIsCut()
{
    Cluster c;
    StubBackend& stub = c.addStub("s1");
    QVERIFY2(startTlsAgent(c, {stub.port()}, {{"tls_handshake_ms", kShortHandshakeMs}}), qPrintable(c.error()));
    const QByteArray hello = clientHello(ca(), "localhost");
    // The dribble would take far longer than the deadline.
    QVERIFY(hello.size() * kDribbleIntervalMs > 10 * kShortHandshakeMs);
    const int fd = connectWithTimeout(c.port());
    QVERIFY(fd >= 0);
    QElapsedTimer t;
    t.start();
    bool closed = false;
    for (qsizetype i = 0; i < hello.size() && !closed; ++i) {
        if (::send(fd, hello.constData() + i, 1, MSG_NOSIGNAL) != 1) {
            closed = true;
            break;
        }
        // Paces the dribble; returns early when the agent closes.
        closed = closedByPeer(fd, kDribbleIntervalMs);
    }
    const qint64 elapsed = t.elapsed();
    ::close(fd);
    QVERIFY(closed);
    QVERIFY2(elapsed >= kShortHandshakeMs - 50 && elapsed < 3 * kShortHandshakeMs, qPrintable(QString::number(elapsed)));
    QVERIFY(serves(c.port()));
    QCOMPARE(c.stopAgent(), 0);
}

// 2,000 handshakes started and never finished, twice: the agent serves others meanwhile, each
// costs a bounded amount of memory, the deadline gives every descriptor back, and the second
// wave reuses what the first freed (nothing leaks).
void TestAttackTls::thousandsOfUnfinishedHandshakes()
{
    Cluster c;
    StubBackend& stub = c.addStub("s1");
    constexpr int kDeadlineMs = 8000;
    // The pooled upstream connection of the first exchange stays open all along.
    QVERIFY2(startTlsAgent(c, {stub.port()}, {{"tls_handshake_ms", kDeadlineMs}, {"upstream_idle_ms", 120000}}),
             qPrintable(c.error()));
    const qint64 pid = c.agent().process().processId();
    const int fds_before = openFds(pid);
    QVERIFY(serves(c.port()));
    const qint64 rss_before = rssKiB(pid);
    // All of a ClientHello but its last byte: the engine has started and buffers a partial
    // record. (A complete ClientHello makes the agent sign its flight, ~1 ms of CPU each, a cost
    // TLS itself sets: on a loaded machine 2,000 of them outlast a short deadline.)
    const QByteArray hello = clientHello(ca(), "localhost").chopped(1);
    qint64 growth[2] = {0, 0};
    for (int wave = 0; wave < 2; ++wave) {
        std::vector<int> fds;
        QElapsedTimer t;
        t.start();
        for (int i = 0; i < kUnfinishedHandshakes; ++i) {
            const int fd = connectWithTimeout(c.port());
            QVERIFY2(fd >= 0, qPrintable(QString::number(i)));
            QVERIFY(sendAll(fd, hello));
            fds.push_back(fd);
        }
        QTRY_VERIFY2_WITH_TIMEOUT(openFds(pid) >= fds_before + kUnfinishedHandshakes - kFdSlack,
                                  qPrintable(QStringLiteral("%1 descriptors, %2 before").arg(openFds(pid)).arg(fds_before)),
                                  kDeadlineMs);
        growth[wave] = rssKiB(pid) - rss_before;
        QVERIFY(serves(c.port()));
        qInfo("wave %d: %d unfinished handshakes, agent RSS +%lld KiB over the start (%lld bytes each), %lld ms",
              wave, kUnfinishedHandshakes, growth[wave], growth[wave] * 1024 / kUnfinishedHandshakes, t.elapsed());
        QVERIFY2(!dlb::test::rssMeasuresTheAgent() || growth[wave] < kUnfinishedHandshakesMaxGrowthKiB, qPrintable(QString::number(growth[wave])));
        QTRY_VERIFY2_WITH_TIMEOUT(openFds(pid) <= fds_before + kFdSlack,
                                  qPrintable(QStringLiteral("%1 descriptors, %2 before").arg(openFds(pid)).arg(fds_before)),
                                  kDeadlineMs + kWaitMs);
        for (int fd : fds)
            ::close(fd);
    }
    // The second wave mostly reuses what the first freed (measured: +30% over the first's peak,
    // glibc keeping freed memory fragmented; LeakSanitizer is the leak check).
    QVERIFY2(!dlb::test::rssMeasuresTheAgent() || growth[1] < growth[0] + growth[0] / 2, qPrintable(QStringLiteral("%1 then %2 KiB").arg(growth[0]).arg(growth[1])));
    QVERIFY(serves(c.port()));
    QCOMPARE(c.stopAgent(), 0);
}

// TLS 1.2 client-initiated renegotiation is refused; the connection may end, the agent serves on.
void TestAttackTls::renegotiationRefused()
{
    Cluster c;
    StubBackend& stub = c.addStub("s1");
    QVERIFY2(startTlsAgent(c, {stub.port()}), qPrintable(c.error()));
    for (int round = 0; round < 20; ++round) {
        TlsClient t;
        QVERIFY(tlsConnect(t, c.port(), ca(), kAlpnHttp11, TLS1_2_VERSION));
        QCOMPARE(SSL_version(t.ssl.get()), TLS1_2_VERSION);
        QVERIFY(tlsWrite(t, getRequest("/before")));
        QCOMPARE(tlsReadAnswers(t, 1), QList<int>{200});
        QCOMPARE(SSL_renegotiate(t.ssl.get()), 1);
        // The renegotiating handshake must not complete.
        QVERIFY(SSL_do_handshake(t.ssl.get()) != 1);
        ERR_clear_error();
    }
    QVERIFY(serves(c.port()));
    QCOMPARE(c.stopAgent(), 0);
}

// TLS 1.3 KeyUpdate requests by the thousand, each asking for one back: the agent answers them
// on the loop and the request after them is served.
void TestAttackTls::keyUpdateFlood()
{
    Cluster c;
    StubBackend& stub = c.addStub("s1");
    QVERIFY2(startTlsAgent(c, {stub.port()}), qPrintable(c.error()));
    TlsClient t;
    QVERIFY(tlsConnect(t, c.port(), ca(), kAlpnHttp11, TLS1_3_VERSION));
    for (int i = 0; i < kKeyUpdates; ++i) {
        QCOMPARE(SSL_key_update(t.ssl.get(), SSL_KEY_UPDATE_REQUESTED), 1);
        // SSL_key_update only schedules; a zero-length write sends it.
        QVERIFY(SSL_do_handshake(t.ssl.get()) == 1);
    }
    QVERIFY(tlsWrite(t, getRequest("/after-updates")));
    QCOMPARE(tlsReadAnswers(t, 1), QList<int>{200});
    QCOMPARE(c.stopAgent(), 0);
}

// The longest name OpenSSL sends works (the default certificate); a server_name extension
// whose lengths lie ends the handshake, and nothing else.
void TestAttackTls::hugeAndMalformedSni()
{
    Cluster c;
    StubBackend& stub = c.addStub("s1");
    QVERIFY2(startTlsAgent(c, {stub.port()}), qPrintable(c.error()));
    {
        const std::string longest(255, 'a');
        TlsClient t;
        t.ctx = clientCtx(ca(), kAlpnHttp11);
        SSL_CTX_set_verify(t.ctx.get(), SSL_VERIFY_NONE, nullptr);
        t.fd = connectWithTimeout(c.port());
        t.ssl.reset(SSL_new(t.ctx.get()));
        SSL_set_fd(t.ssl.get(), t.fd);
        setSni(t.ssl.get(), longest.c_str());
        QCOMPARE(SSL_connect(t.ssl.get()), 1);
        QVERIFY(tlsWrite(t, getRequest("/long-sni")));
        QCOMPARE(tlsReadAnswers(t, 1), QList<int>{200});
    }
    const QByteArray name(200, 'x');
    const QByteArray hello = clientHello(ca(), name.constData());
    const qsizetype at = hello.indexOf(name);
    QVERIFY(at > 5);
    // server_name extension: list length (2), name type (1), name length (2), name.
    const QList<std::pair<qsizetype, QByteArray>> lies = {
        {at - 5, QByteArray("\xff\xff", 2)}, // list longer than the extension
        {at - 2, QByteArray("\xff\xff", 2)}, // name longer than the list
        {at - 2, QByteArray("\x00\x00", 2)}, // empty name
        {at - 3, QByteArray("\x07", 1)},     // unknown name type
        {at, QByteArray("\x00", 1)},         // a NUL inside the name
        {at - 7, QByteArray("\x00\x01", 2)}, // extension shorter than its content
    };
    for (const auto& [offset, bytes] : lies) {
        QByteArray bad = hello;
        bad.replace(offset, bytes.size(), bytes);
        const int fd = connectWithTimeout(c.port());
        QVERIFY(fd >= 0);
        QVERIFY(sendAll(fd, bad));
        QVERIFY2(closedByPeer(fd, kWaitMs), qPrintable(QString::number(offset - at)));
        ::close(fd);
    }
    QVERIFY(serves(c.port()));
    QCOMPARE(c.stopAgent(), 0);
}

// A client that offers only h2 is refused in the handshake, not answered in HTTP/1.1.
void TestAttackTls::alpnH2OnlyRefused()
{
    Cluster c;
    StubBackend& stub = c.addStub("s1");
    QVERIFY2(startTlsAgent(c, {stub.port()}), qPrintable(c.error()));
    TlsClient t;
    QVERIFY(!tlsConnect(t, c.port(), ca(), QByteArray("\x02h2", 3)));
    QVERIFY(serves(c.port()));
    QCOMPARE(stub.requests().size(), 1);
    QCOMPARE(c.stopAgent(), 0);
}

// close_notify in the middle of a body: the request is cut, the connection ends at once (not
// at some deadline), and the agent serves on.
void TestAttackTls::closeNotifyInTheMiddleOfABody()
{
    Cluster c;
    StubBackend& stub = c.addStub("s1");
    QVERIFY2(startTlsAgent(c, {stub.port()}, {{"header_ms", 60000}, {"idle_ms", 60000}, {"response_ms", 60000}}),
             qPrintable(c.error()));
    TlsClient t;
    QVERIFY(tlsConnect(t, c.port(), ca()));
    QVERIFY(tlsWrite(t, "POST /cut HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n" + randomBytes(10, kSeed)));
    SSL_shutdown(t.ssl.get());
    QElapsedTimer e;
    e.start();
    QVERIFY2(closedByPeer(t.fd, kWaitMs), "the agent kept a connection whose client sent close_notify mid-body");
    QVERIFY(e.elapsed() < kWaitMs);
    QVERIFY(serves(c.port()));
    QCOMPARE(c.stopAgent(), 0);
}

// Resets after the handshake: in a request head, in a body, and while a big answer is sent.
void TestAttackTls::resetsMidRequestAndMidResponse()
{
    Cluster c;
    StubBackend& stub = c.addStub("s1");
    QVERIFY2(startTlsAgent(c, {stub.port()}), qPrintable(c.error()));
    const QByteArray big = randomBytes(4 * 1024 * 1024, kSeed + 4);
    const QByteArray post = "POST /big HTTP/1.1\r\nHost: a\r\nContent-Length: " + QByteArray::number(big.size()) + "\r\n\r\n";
    for (int round = 0; round < 5; ++round) {
        {
            TlsClient t;
            QVERIFY(tlsConnect(t, c.port(), ca()));
            QVERIFY(tlsWrite(t, "GET /half HTTP/1.1\r\nHo"));
            resetClose(t.fd);
            t.fd = -1;
        }
        {
            TlsClient t;
            QVERIFY(tlsConnect(t, c.port(), ca()));
            QVERIFY(tlsWrite(t, post + big.left(100000)));
            resetClose(t.fd);
            t.fd = -1;
        }
        {
            TlsClient t;
            QVERIFY(tlsConnect(t, c.port(), ca()));
            QVERIFY(tlsWrite(t, post + big));
            char buf[4096];
            size_t n = 0;
            QVERIFY(SSL_read_ex(t.ssl.get(), buf, sizeof buf, &n) == 1);
            resetClose(t.fd);
            t.fd = -1;
        }
    }
    QVERIFY(serves(c.port()));
    QCOMPARE(c.stopAgent(), 0);
}

// A client that asks for a big answer and never reads it: the agent holds a bounded part.
void TestAttackTls::clientThatNeverReadsIsBounded()
{
    Cluster c;
    StubBackend& stub = c.addStub("s1");
    QVERIFY2(startTlsAgent(c, {stub.port()}), qPrintable(c.error()));
    const qint64 pid = c.agent().process().processId();
    QVERIFY(serves(c.port()));
    const qint64 rss_before = rssKiB(pid);
    const QByteArray body = randomBytes(kUnreadAnswerBytes, kSeed + 5);
    TlsClient t;
    QVERIFY(tlsConnect(t, c.port(), ca()));
    QVERIFY(tlsWrite(t, "POST /big HTTP/1.1\r\nHost: a\r\nContent-Length: " + QByteArray::number(body.size()) +
                            "\r\n\r\n" + body));
    // The stub has the whole body and answers the same size back, which nobody reads.
    QTRY_COMPARE_WITH_TIMEOUT(stub.requests().size(), 2, kWaitMs);
    QVERIFY(serves(c.port()));
    const qint64 growth = rssKiB(pid) - rss_before;
    qInfo("an unread %lld MiB answer: agent RSS +%lld KiB", kUnreadAnswerBytes >> 20, growth);
    QVERIFY2(!dlb::test::rssMeasuresTheAgent() || growth < kUnreadAnswerMaxGrowthKiB, qPrintable(QString::number(growth)));
    QCOMPARE(c.stopAgent(), 0);
}

// SIGHUP with a certificate file that is not a certificate: the reload is refused, the open
// connection goes on, and new handshakes still get the old certificate.
void TestAttackTls::sighupWithBrokenCertificate()
{
    Cluster c;
    StubBackend& stub = c.addStub("s1");
    QVERIFY2(startTlsAgent(c, {stub.port()}), qPrintable(c.error()));
    TlsClient open;
    QVERIFY(tlsConnect(open, c.port(), ca()));
    QVERIFY(tlsWrite(open, getRequest("/first")));
    QCOMPARE(tlsReadAnswers(open, 1), QList<int>{200});
    {
        QFile f(c.path("cert.pem"));
        QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
        f.write("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n");
    }
    const qsizetype mark = c.agent().logMark();
    c.agent().signal(SIGHUP);
    QVERIFY2(c.agent().waitForLog("reload rejected", mark), c.agentLog().constData());
    QVERIFY(tlsWrite(open, getRequest("/second")));
    QCOMPARE(tlsReadAnswers(open, 1), QList<int>{200});
    QVERIFY(serves(c.port()));
    // An empty file too.
    QFile::resize(c.path("cert.pem"), 0);
    const qsizetype mark2 = c.agent().logMark();
    c.agent().signal(SIGHUP);
    QVERIFY2(c.agent().waitForLog("reload rejected", mark2), c.agentLog().constData());
    QVERIFY(tlsWrite(open, getRequest("/third")));
    QCOMPARE(tlsReadAnswers(open, 1), QList<int>{200});
    QVERIFY(serves(c.port()));
    QCOMPARE(c.stopAgent(), 0);
}

QList<int> TestAttackTls::plainFailureStatuses()
{
    Cluster a;
    if (!a.startAgent(a.config({refusedPort()})))
        return {};
    QList<int> got;
    for (int i = 0; i < kFailingFetches; ++i)
        got.append(fetch(a.port(), getRequest("/")).value_or(Response{}).status);
    a.stopAgent();
    return got;
}

void TestAttackTls::httpsReplicaWithBadCertificate_data()
{
    QTest::addColumn<QString>("cert");
    QTest::addColumn<QString>("key");
    QTest::addColumn<QString>("serverName");
    QTest::newRow("expired") << "expired.pem" << "expired.key" << "";
    QTest::newRow("wrong name") << "other.pem" << "other.key" << "";
    QTest::newRow("self-signed") << "self.pem" << "self.key" << "";
    QTest::newRow("name not asked for") << "server.pem" << "server.key" << "nope.test";
}

// A replica whose certificate must not be trusted gets no request: 502, the agent serves on.
void TestAttackTls::httpsReplicaWithBadCertificate()
{
    QFETCH(QString, cert);
    QFETCH(QString, key);
    QFETCH(QString, serverName);
    if (!QFile::exists(certs_->path("self.pem"))) {
        QProcess p;
        p.start(QStringLiteral("openssl"),
                {"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
                 "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout",
                 certs_->path("self.key"), "-out", certs_->path("self.pem")});
        QVERIFY(p.waitForFinished(kWaitMs));
        QCOMPARE(p.exitCode(), 0);
        // Signed by the trusted CA, valid for the right names, and expired yesterday.
        QProcess k;
        k.start(QStringLiteral("openssl"), {"req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                                             "-nodes", "-subj", "/CN=localhost", "-keyout", certs_->path("expired.key"),
                                             "-out", certs_->path("expired.csr")});
        QVERIFY(k.waitForFinished(kWaitMs));
        QCOMPARE(k.exitCode(), 0);
        QFile ext(certs_->path("expired.ext"));
        QVERIFY(ext.open(QIODevice::WriteOnly));
        ext.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n");
        ext.close();
        QProcess s;
        s.start(QStringLiteral("openssl"), {"x509", "-req", "-in", certs_->path("expired.csr"), "-CA",
                                             certs_->path("ca.pem"), "-CAkey", certs_->path("ca.key"), "-CAcreateserial", "-days", "-1",
                                             "-extfile", certs_->path("expired.ext"), "-out", certs_->path("expired.pem")});
        QVERIFY(s.waitForFinished(kWaitMs));
        QVERIFY2(s.exitCode() == 0, s.readAllStandardError().constData());
    }
    ChildProcess server;
    const QByteArray port = server.startAndReadLine(
        QStringLiteral("openssl"),
        {"s_server", "-accept", "127.0.0.1:0", "-cert", certs_->path(cert), "-key", certs_->path(key), "-www"},
        "ACCEPT 127.0.0.1:");
    QVERIFY2(!port.isEmpty(), qPrintable(server.error()));
    Cluster a;
    QJsonObject config = a.config({});
    setHttpsReplica(config, QString::fromLatin1(port), certs_->path("ca.pem"));
    if (!serverName.isEmpty())
        setJson(config, {"pools", "0", "tls", "server_name"}, serverName);
    else if (cert == "other.pem")
        setJson(config, {"pools", "0", "tls", "server_name"}, "localhost");
    QVERIFY2(a.startAgent(config), qPrintable(a.error()));
    QList<int> got;
    for (int i = 0; i < kFailingFetches; ++i)
        got.append(fetch(a.port(), getRequest("/")).value_or(Response{}).status);
    QCOMPARE(got, plainFailureStatuses());
    QVERIFY2(a.agent().waitForLog("certificate verification failed"), a.agentLog().constData());
    QCOMPARE(a.stopAgent(), 0);
}

// A replica that resets in the middle of the handshake: 502 (after retrying elsewhere when
// there is somewhere), never a crash, and the healthy replica serves on.
void TestAttackTls::httpsReplicaResetsDuringHandshake()
{
    QTcpServer rude;
    QVERIFY(rude.listen(QHostAddress::LocalHost, 0));
    int resets = 0;
    connect(&rude, &QTcpServer::newConnection, this, [&] {
        while (QTcpSocket* s = rude.nextPendingConnection()) {
            connect(s, &QTcpSocket::readyRead, s, [s, &resets] {
                // Half of the ClientHello read, then a reset.
                s->read(s->bytesAvailable() / 2);
                linger l{1, 0};
                setsockopt(static_cast<int>(s->socketDescriptor()), SOL_SOCKET, SO_LINGER, &l, sizeof l);
                s->abort();
                s->deleteLater();
                ++resets;
            });
        }
    });
    ChildProcess good;
    const QByteArray good_port = good.startAndReadLine(
        QStringLiteral("openssl"),
        {"s_server", "-accept", "127.0.0.1:0", "-cert", certs_->path("server.pem"), "-key", certs_->path("server.key"),
         "-www"},
        "ACCEPT 127.0.0.1:");
    QVERIFY2(!good_port.isEmpty(), qPrintable(good.error()));
    Cluster a;
    QJsonObject config = a.config({});
    setHttpsReplica(config, rude.serverPort(), certs_->path("ca.pem"));
    QVERIFY2(a.startAgent(config), qPrintable(a.error()));
    // fetch() blocks this thread; the rude server needs the event loop, so run it in a thread.
    QList<int> got;
    for (int i = 0; i < kFailingFetches; ++i) {
        std::optional<Response> r;
        std::unique_ptr<QThread> th(QThread::create([&] { r = fetch(a.port(), getRequest("/")); }));
        th->start();
        QTRY_VERIFY_WITH_TIMEOUT(th->isFinished(), kWaitMs);
        got.append(r.value_or(Response{}).status);
    }
    QCOMPARE(got, plainFailureStatuses());
    QVERIFY(resets >= 1);
    QVERIFY(a.agent().running());
    QCOMPARE(a.stopAgent(), 0);
}

// A hundred requests in one write over TLS: a hundred answers, in order.
void TestAttackTls::pipelinedOverTls()
{
    Cluster c;
    StubBackend& stub = c.addStub("s1");
    QVERIFY2(startTlsAgent(c, {stub.port()}), qPrintable(c.error()));
    TlsClient t;
    QVERIFY(tlsConnect(t, c.port(), ca()));
    QByteArray all;
    for (int i = 0; i < kPipelined; ++i)
        all += getRequest("/p" + QByteArray::number(i));
    QVERIFY(tlsWrite(t, all));
    const QList<int> statuses = tlsReadAnswers(t, kPipelined);
    QCOMPARE(statuses.size(), kPipelined);
    QCOMPARE(statuses.count(200), kPipelined);
    QCOMPARE(stub.requests().size(), kPipelined);
    QCOMPARE(c.stopAgent(), 0);
}

QTEST_MAIN(TestAttackTls)
#include "tst_attack_tls.moc"
