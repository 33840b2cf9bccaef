// Hostile DNS answers for pools[].discovery: a DNS server in the test (UDP and TCP on one free
// port of 127.0.0.1, on a thread of its own so the harness' blocking waits do not stall it)
// answers crafted bytes. Each case failed on the code before its fix (docs/operations.md,
// "Discovery by DNS", says what holds).

#include "control_fixture.hpp"
#include "discovery_fixture.hpp"

#include <QJsonArray>
#include <QMutex>
#include <QTcpServer>
#include <QTcpSocket>
#include <QThread>
#include <QUdpSocket>
#include <QtTest>

#include <csignal>
#include <functional>
#include <memory>

using namespace dlb::test;

namespace {

constexpr quint16 kTypeA = 1;
constexpr quint16 kTypeAaaa = 28;
constexpr quint16 kTypeSrv = 33;
constexpr quint16 kRcodeNxdomain = 3;
// How many times a port is picked again when UDP finds the TCP server's port taken.
constexpr int kPortAttempts = 5;

struct Query {
    quint16 id = 0;
    QByteArray question; // the question section as sent (name, type, class)
    QString name;        // dotted, lower case, no trailing dot
    quint16 type = 0;
};

void put16(QByteArray& b, quint16 v)
{
    b.append(static_cast<char>(v >> 8));
    b.append(static_cast<char>(v & 0xFF));
}
void put32(QByteArray& b, quint32 v)
{
    put16(b, static_cast<quint16>(v >> 16));
    put16(b, static_cast<quint16>(v & 0xFFFF));
}

// A response to `q`: header, the question echoed, then `answers` (records as wire bytes).
QByteArray response(const Query& q, const QList<QByteArray>& answers, quint16 rcode = 0, bool truncated = false)
{
    QByteArray b;
    put16(b, q.id);
    put16(b, static_cast<quint16>(0x8180 | (truncated ? 0x0200 : 0) | rcode)); // QR, RD, RA
    put16(b, 1);
    put16(b, static_cast<quint16>(answers.size()));
    put16(b, 0);
    put16(b, 0);
    b += q.question;
    for (const auto& a : answers)
        b += a;
    return b;
}

// A record whose owner is the question's name (a pointer to offset 12).
QByteArray record(quint16 type, quint32 ttl, const QByteArray& rdata)
{
    QByteArray b;
    put16(b, 0xC00C);
    put16(b, type);
    put16(b, 1);
    put32(b, ttl);
    put16(b, static_cast<quint16>(rdata.size()));
    return b + rdata;
}
QByteArray aRecord(const char* ip, quint32 ttl = 60)
{
    QHostAddress a(QString::fromLatin1(ip));
    QByteArray rd;
    put32(rd, a.toIPv4Address());
    return record(kTypeA, ttl, rd);
}
QByteArray aaaaRecord(const char* ip, quint32 ttl = 60)
{
    const Q_IPV6ADDR a = QHostAddress(QString::fromLatin1(ip)).toIPv6Address();
    return record(kTypeAaaa, ttl, QByteArray(reinterpret_cast<const char*>(a.c), 16));
}
// An SRV record; `target` as wire bytes.
QByteArray srvRecord(quint16 priority, quint16 weight, quint16 port, const QByteArray& target, quint32 ttl = 60)
{
    QByteArray rd;
    put16(rd, priority);
    put16(rd, weight);
    put16(rd, port);
    return record(kTypeSrv, ttl, rd + target);
}
QByteArray wireName(const QString& dotted)
{
    QByteArray b;
    for (const auto& label : dotted.split('.', Qt::SkipEmptyParts)) {
        b.append(static_cast<char>(label.size()));
        b += label.toLatin1();
    }
    b.append('\0');
    return b;
}

// The DNS server's sockets, living on its thread.
class Responder : public QObject {
public:
    // The answer to a query (over TCP when `tcp`); empty: no answer.
    using Handler = std::function<QByteArray(const Query&, bool tcp)>;

    explicit Responder(Handler h) : handler_(std::move(h)) {}

    quint16 listen()
    {
        for (int attempt = 0; attempt < kPortAttempts; ++attempt) {
            udp_ = new QUdpSocket(this);
            tcp_ = new QTcpServer(this);
            // TCP first: its ports are the crowded ones (other tests' connections hold many).
            if (tcp_->listen(QHostAddress::LocalHost, 0) && udp_->bind(QHostAddress::LocalHost, tcp_->serverPort())) {
                connect(udp_, &QUdpSocket::readyRead, this, &Responder::onUdp);
                connect(tcp_, &QTcpServer::newConnection, this, &Responder::onTcp);
                return udp_->localPort();
            }
            qWarning("DNS server: cannot take one port for TCP and UDP: %s / %s", qPrintable(tcp_->errorString()),
                     qPrintable(udp_->errorString()));
            delete udp_;
            delete tcp_;
        }
        return 0;
    }

    // Every query seen so far.
    QList<Query> queries()
    {
        QMutexLocker lock(&mutex_);
        return queries_;
    }

private:
    bool parse(const QByteArray& msg, Query* q)
    {
        if (msg.size() < 12)
            return false;
        const auto u8 = [&](qsizetype at) { return static_cast<quint8>(msg[at]); };
        q->id = static_cast<quint16>(u8(0) << 8 | u8(1));
        qsizetype at = 12;
        QStringList labels;
        while (at < msg.size() && u8(at) != 0) {
            const int len = u8(at);
            if (len > 63 || at + 1 + len > msg.size())
                return false;
            labels << QString::fromLatin1(msg.mid(at + 1, len)).toLower();
            at += 1 + len;
        }
        if (at + 5 > msg.size())
            return false;
        q->name = labels.join('.');
        q->type = static_cast<quint16>(u8(at + 1) << 8 | u8(at + 2));
        q->question = msg.mid(12, at + 5 - 12);
        QMutexLocker lock(&mutex_);
        queries_.push_back(*q);
        return true;
    }

    void onUdp()
    {
        while (udp_->hasPendingDatagrams()) {
            QHostAddress from;
            quint16 port = 0;
            QByteArray msg(static_cast<qsizetype>(udp_->pendingDatagramSize()), '\0');
            msg.resize(udp_->readDatagram(msg.data(), msg.size(), &from, &port));
            Query q;
            if (!parse(msg, &q))
                continue;
            const QByteArray out = handler_(q, false);
            if (!out.isEmpty())
                udp_->writeDatagram(out, from, port);
        }
    }

    void onTcp()
    {
        while (QTcpSocket* s = tcp_->nextPendingConnection()) {
            // Owned by the connection: freed with it, whichever of socket and server goes first.
            auto buffer = std::make_shared<QByteArray>();
            connect(s, &QTcpSocket::disconnected, s, &QObject::deleteLater);
            connect(s, &QTcpSocket::readyRead, this, [this, s, buffer] {
                *buffer += s->readAll();
                while (buffer->size() >= 2) {
                    const int len = static_cast<quint8>((*buffer)[0]) << 8 | static_cast<quint8>((*buffer)[1]);
                    if (buffer->size() < 2 + len)
                        return;
                    const QByteArray msg = buffer->mid(2, len);
                    buffer->remove(0, 2 + len);
                    Query q;
                    if (!parse(msg, &q))
                        continue;
                    const QByteArray out = handler_(q, true);
                    if (out.isEmpty())
                        continue;
                    QByteArray framed;
                    put16(framed, static_cast<quint16>(out.size()));
                    s->write(framed + out);
                }
            });
        }
    }

    Handler handler_;
    QUdpSocket* udp_ = nullptr;
    QTcpServer* tcp_ = nullptr;
    QMutex mutex_;
    QList<Query> queries_;
};

// A DNS server on 127.0.0.1 answering as the test's handler says, on a thread of its own.
class HostileDns {
public:
    explicit HostileDns(Responder::Handler h) : responder_(new Responder(std::move(h)))
    {
        thread_.start();
        responder_->moveToThread(&thread_);
        QMetaObject::invokeMethod(responder_, [this] { return responder_->listen(); }, Qt::BlockingQueuedConnection,
                                  &port_);
    }
    ~HostileDns()
    {
        QMetaObject::invokeMethod(responder_, [this] { delete responder_; }, Qt::BlockingQueuedConnection);
        thread_.quit();
        thread_.wait();
    }
    quint16 port() const { return port_; }
    QList<Query> queries() { return responder_->queries(); }

private:
    QThread thread_;
    Responder* responder_;
    quint16 port_ = 0;
};

} // namespace

class TestAttackDiscovery : public QObject {
    Q_OBJECT

private slots:
    void init();
    void cleanup();

    void srvTargetsLookedUpAreCapped();
    void srvPortZeroIsNoReplica();
    void unusableAddressesAreLeftOut();
    void deletingAConfiguredReplicaDnsAlsoNames();
    void malformedAnswersKeepTheLastSet();
    void reloadDuringALookup();
    void answerNamingTheAgentItself();
    void srvTargetsWithThousandsOfAddresses();

private:
    // The control config with pool "web" discovering by `url` through `dns`, checked every 100 ms.
    QJsonObject discoveryConfig(const HostileDns& dns, const QString& url)
    {
        QJsonObject cfg = controlConfig(*c_, {});
        setJson(cfg, {"pools", "0", "discovery"}, QJsonArray{QJsonObject{{"url", url}, {"interval_ms", 1000}}});
        setJson(cfg, {"pools", "0", "health_check"},
                QJsonObject{{"enabled", true}, {"interval_ms", 100}, {"timeout_ms", 50}, {"rise", 1}, {"fall", 1}});
        cfg[QStringLiteral("resolvers")] = QJsonArray{QStringLiteral("127.0.0.1:%1").arg(dns.port())};
        return cfg;
    }

    // GET /v1/pools: pool "web"'s replica ids, sorted (empty when the call fails).
    QStringList replicaIds() { return webReplicas(*c_).keys(); }

    std::unique_ptr<Cluster> c_;
};

void TestAttackDiscovery::init()
{
    c_ = std::make_unique<Cluster>();
}

void TestAttackDiscovery::cleanup()
{
    const int exitCode = c_->agent().running() ? c_->stopAgent() : 0;
    checkAgentExit(*c_, exitCode);
    c_.reset();
}

// An SRV answer naming 2,000 targets (over TCP: too big for UDP) must not become 2,000
// getaddrinfo lookups (4,000 queries): only the first 256 targets by name are looked up, as
// only 256 addresses are used. Before the fix every target was looked up.
void TestAttackDiscovery::srvTargetsLookedUpAreCapped()
{
    constexpr int kTargets = 2000; // 26 bytes a record: as many as a 64 KiB TCP message holds, about
    HostileDns dns([](const Query& q, bool tcp) {
        if (q.type != kTypeSrv)
            return response(q, {}, kRcodeNxdomain);
        if (!tcp)
            return response(q, {}, 0, true); // truncated: ask again over TCP
        QList<QByteArray> answers;
        // "big.test" starts after "_http" and "_tcp" (6 + 5 bytes) in the question's name.
        for (int i = 0; i < kTargets; ++i)
            answers << srvRecord(1, 1, 8080, "\x05t" + QByteArray::number(i).rightJustified(4, '0') + "\xC0\x17");
        return response(q, answers);
    });
    QVERIFY(dns.port() != 0);
    QVERIFY2(c_->startAgent(discoveryConfig(dns, QStringLiteral("srv://_http._tcp.big.test"))), qPrintable(c_->error()));
    // Before the fix the 4,000 queries outlast the wait: the count below says how far they got.
    const bool answered = c_->agent().waitForLog("lookup failed (no SRV target resolved");
    QSet<QString> targets;
    for (const auto& q : dns.queries())
        if (q.type != kTypeSrv)
            targets.insert(q.name);
    QVERIFY2(targets.size() <= 256, qPrintable(QStringLiteral("%1 targets looked up").arg(targets.size())));
    QVERIFY2(answered, c_->agentLog().constData());
    QCOMPARE(targets.size(), 256);
    QVERIFY(targets.contains(QStringLiteral("t0000.big.test")));
    QVERIFY(c_->agent().waitForLog("the SRV answer names 2000 targets; only the first 256 by name are looked up"));
}

// An SRV record with port 0 names no service a connection can reach: it is no replica, and the
// other records of the answer still are.
void TestAttackDiscovery::srvPortZeroIsNoReplica()
{
    const quint16 port = refusedPort();
    HostileDns dns([port](const Query& q, bool) {
        if (q.type == kTypeSrv)
            return response(q, {srvRecord(1, 1, 0, wireName(QStringLiteral("zero.test"))),
                                srvRecord(1, 1, port, wireName(QStringLiteral("good.test")))});
        if (q.type == kTypeA && q.name == QStringLiteral("good.test"))
            return response(q, {aRecord("127.0.0.2")});
        if (q.type == kTypeA && q.name == QStringLiteral("zero.test"))
            return response(q, {aRecord("127.0.0.3")});
        return response(q, {});
    });
    QVERIFY(dns.port() != 0);
    QVERIFY2(c_->startAgent(discoveryConfig(dns, QStringLiteral("srv://_http._tcp.web.test"))), qPrintable(c_->error()));
    QVERIFY(c_->agent().waitForLog("discovery: pool web: srv://_http._tcp.web.test: added"));
    QCOMPARE(replicaIds(), QStringList{QStringLiteral("127.0.0.2:%1").arg(port)});
}

// 0.0.0.0 and :: (which Linux connects to the local host), multicast and broadcast addresses
// are no replicas: they are left out and logged; the usable address of the answer stays.
void TestAttackDiscovery::unusableAddressesAreLeftOut()
{
    const quint16 port = refusedPort();
    HostileDns dns([](const Query& q, bool) {
        if (q.type == kTypeA)
            return response(q, {aRecord("0.0.0.0"), aRecord("224.0.0.1"), aRecord("255.255.255.255"),
                                aRecord("127.0.0.2")});
        if (q.type == kTypeAaaa)
            return response(q, {aaaaRecord("::"), aaaaRecord("ff02::1"), aaaaRecord("::ffff:0.0.0.0")});
        return response(q, {});
    });
    QVERIFY(dns.port() != 0);
    QVERIFY2(c_->startAgent(discoveryConfig(dns, QStringLiteral("dns://web.test:%1").arg(port))),
             qPrintable(c_->error()));
    QVERIFY(c_->agent().waitForLog("discovery: pool web: dns://web.test"));
    QVERIFY(c_->agent().waitForLog(": added "));
    QCOMPARE(replicaIds(), QStringList{QStringLiteral("127.0.0.2:%1").arg(port)});
    QVERIFY(c_->agent().waitForLog("0.0.0.0 (unspecified)"));
    QVERIFY(c_->agent().waitForLog("224.0.0.1 (multicast)"));
    QVERIFY(c_->agent().waitForLog("cannot be replicas; left out"));
}

// A configured replica wins over a discovered one with the same id. DELETE of the configured one
// leaves the discovered one in its place (DNS still names it): it is listed once, from DNS, not
// also as "draining"; a later answer without it drains it once. Before the fix it was listed
// twice (serving, and "draining" with the same counters), the drainer waited on a replica that
// still took requests, and POST of that id answered replica_draining.
void TestAttackDiscovery::deletingAConfiguredReplicaDnsAlsoNames()
{
    const quint16 port = refusedPort();
    QMutex mutex;
    bool withTwo = true; // does the answer still name 127.0.0.2?
    HostileDns dns([&](const Query& q, bool) {
        QMutexLocker lock(&mutex);
        if (q.type != kTypeA)
            return response(q, {});
        if (withTwo)
            return response(q, {aRecord("127.0.0.2", 1), aRecord("127.0.0.3", 1)});
        return response(q, {aRecord("127.0.0.3", 1)});
    });
    QVERIFY(dns.port() != 0);
    const QString url = QStringLiteral("dns://web.test:%1").arg(port);
    QJsonObject cfg = discoveryConfig(dns, url);
    setJson(cfg, {"pools", "0", "replicas"},
            QJsonArray{QJsonObject{{"url", QStringLiteral("http://127.0.0.2:%1").arg(port)}}});
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));
    const QString two = QStringLiteral("127.0.0.2:%1").arg(port), three = QStringLiteral("127.0.0.3:%1").arg(port);
    QVERIFY(c_->agent().waitForLog("added " + three.toLatin1()));
    QCOMPARE(replicaIds(), (QStringList{two, three}));

    const qsizetype mark = c_->agent().logMark();
    const auto del = controlCall(*c_, "DELETE", "/v1/pools/web/replicas/" + two.toLatin1(), kAdmin);
    QVERIFY(del);
    QCOMPARE(del->status, 202);
    QCOMPARE(replicaIds(), (QStringList{two, three})); // once each: 127.0.0.2 is DNS's now
    const auto pools = controlCall(*c_, "GET", "/v1/pools");
    QVERIFY(pools);
    for (const auto& p : jsonBody(*pools).value("pools").toArray())
        for (const auto& r : p.toObject().value("replicas").toArray())
            if (r.toObject().value("id") == two) {
                QCOMPARE(r.toObject().value("source").toString(), url);
                QVERIFY(r.toObject().value("state") != QStringLiteral("draining"));
            }
    const auto post = controlCall(*c_, "POST", "/v1/pools/web/replicas", kAdmin,
                                  "{\"url\": \"http://" + two.toLatin1() + "\"}");
    QVERIFY(post);
    QCOMPARE(post->status, 409);
    QVERIFY2(post->body.contains("replica_exists"), post->body.constData());

    // DNS drops it: now it drains, once, and is gone.
    {
        QMutexLocker lock(&mutex);
        withTwo = false;
    }
    QVERIFY(c_->agent().waitForLog("removed " + two.toLatin1() + " (" + url.toLatin1() + "); draining", mark));
    QTRY_COMPARE_WITH_TIMEOUT(replicaIds(), QStringList{three}, kWaitMs);
    QVERIFY(!c_->agent().log().mid(mark).contains("control: pool web: replica " + two.toLatin1() + " drained"));
}

// Malformed answers, one per lookup after a good one: each would add 127.0.0.9 if it were
// taken. None is: the pool keeps 127.0.0.2, the agent neither crashes nor spins, and the good
// answer after them is taken again. (Held before this session's fixes too.)
void TestAttackDiscovery::malformedAnswersKeepTheLastSet()
{
    const quint16 port = refusedPort();
    QAtomicInt round = 0;
    HostileDns dns([&round](const Query& q, bool) -> QByteArray {
        if (q.type != kTypeA)
            return response(q, {});
        const QByteArray good = aRecord("127.0.0.2", 1), bad = aRecord("127.0.0.9", 1);
        switch (round.fetchAndAddOrdered(1)) {
        case 1: { // cut inside the last record's address
            const QByteArray whole = response(q, {good, bad});
            return whole.left(whole.size() - 3);
        }
        case 2: { // the answer's owner name is a compression pointer to itself
            QByteArray b = response(q, {});
            b[7] = 1; // ANCOUNT 1
            const auto self = static_cast<quint16>(0xC000 | b.size());
            QByteArray rr;
            put16(rr, self);
            return b + rr + bad.mid(2);
        }
        case 3: { // ANCOUNT says 5; one record follows
            QByteArray b = response(q, {bad});
            b[7] = 5;
            return b;
        }
        case 4: { // CNAME to itself, no address
            QByteArray rd;
            put16(rd, 0xC00C);
            return response(q, {record(5, 1, rd)});
        }
        case 5: { // an owner name of 6 labels of 63 (over 255 bytes)
            QByteArray name;
            for (int i = 0; i < 6; ++i)
                name += char(63) + QByteArray(63, 'a');
            name += '\0';
            return response(q, {name + bad.mid(2)});
        }
        case 6: // a bare header: no question, nothing
            return response(q, {}).left(12);
        case 7: // TTL 2^31: treated as 0 (RFC 2181), not as 68 years
            return response(q, {aRecord("127.0.0.2", 0x80000000U)});
        default:
            return response(q, {good});
        }
    });
    QVERIFY(dns.port() != 0);
    QVERIFY2(c_->startAgent(discoveryConfig(dns, QStringLiteral("dns://web.test:%1").arg(port))),
             qPrintable(c_->error()));
    QVERIFY(c_->agent().waitForLog("added 127.0.0.2"));
    // Eight rounds at the floor of one lookup a second (retries of failed ones too).
    QTRY_VERIFY_WITH_TIMEOUT(round.loadAcquire() > 9, 30000);
    QVERIFY(c_->agent().running());
    QCOMPARE(replicaIds(), QStringList{QStringLiteral("127.0.0.2:%1").arg(port)});
    QVERIFY(!c_->agent().log().contains("127.0.0.9"));
    QVERIFY(!c_->agent().log().contains("removed"));
    QVERIFY(c_->agent().log().contains("lookup failed"));
    QVERIFY(c_->agent().log().contains("answers again"));
}

// A reload that removes the entry, changes its resolvers or brings it back while its lookup is
// under way (the DNS server never answers the SRV query) frees the resolver with the query in
// flight: nothing of it may run afterwards (the ASan pass of this test checks that).
void TestAttackDiscovery::reloadDuringALookup()
{
    QAtomicInt srv = 0;
    HostileDns silent([&srv](const Query& q, bool) {
        if (q.type == kTypeSrv)
            srv.fetchAndAddOrdered(1);
        return QByteArray(); // never answers
    });
    HostileDns other([](const Query& q, bool) { return response(q, {}, kRcodeNxdomain); });
    QVERIFY(silent.port() != 0 && other.port() != 0);
    const QJsonObject withEntry = discoveryConfig(silent, QStringLiteral("srv://_http._tcp.web.test"));
    QVERIFY2(c_->startAgent(withEntry), qPrintable(c_->error()));

    QJsonObject without = withEntry;
    setJson(without, {"pools", "0", "discovery"}, QJsonArray{});
    setJson(without, {"pools", "0", "replicas"},
            QJsonArray{QJsonObject{{"url", QStringLiteral("http://127.0.0.1:%1").arg(refusedPort())}}});
    QJsonObject otherResolvers = withEntry;
    otherResolvers[QStringLiteral("resolvers")] = QJsonArray{QStringLiteral("127.0.0.1:%1").arg(other.port())};

    const auto reload = [&](const QJsonObject& next) {
        if (!c_->writeConfig(next))
            return false;
        const qsizetype mark = c_->agent().logMark();
        c_->agent().signal(SIGHUP);
        return c_->agent().waitForLog("config reloaded", mark);
    };
    QTRY_VERIFY_WITH_TIMEOUT(srv.loadAcquire() > 0, kWaitMs); // a query is in flight
    QVERIFY(reload(without));                                 // its entry goes
    int asked = srv.loadAcquire();
    QVERIFY(reload(withEntry));                               // and comes back: asks again
    QTRY_VERIFY_WITH_TIMEOUT(srv.loadAcquire() > asked, kWaitMs);
    QVERIFY(reload(otherResolvers));                          // other resolvers, mid-query
    asked = srv.loadAcquire();
    QVERIFY(reload(withEntry));
    QTRY_VERIFY_WITH_TIMEOUT(srv.loadAcquire() > asked, kWaitMs);
    QVERIFY(c_->agent().running());
}

// DNS names the agent's own listener: a replica that proxies back into the pool. Its health
// check passes through the agent to the real replica, so it may take requests, and each of
// those is balanced again. Requests must still end (answered by the real replica, or 502/503
// when a loop runs out), and the agent must neither crash nor spin. (Held.)
void TestAttackDiscovery::answerNamingTheAgentItself()
{
    const quint16 real = c_->startReplica(QStringLiteral("real"));
    QVERIFY(real != 0);
    HostileDns dns([](const Query& q, bool) {
        return q.type == kTypeA ? response(q, {aRecord("127.0.0.1", 1)}) : response(q, {});
    });
    QVERIFY(dns.port() != 0);
    QJsonObject cfg = discoveryConfig(dns, QStringLiteral("dns://self.test:1"));
    setJson(cfg, {"pools", "0", "discovery"}, QJsonArray{});
    setJson(cfg, {"pools", "0", "replicas"},
            QJsonArray{QJsonObject{{"url", QStringLiteral("http://127.0.0.1:%1").arg(real)}}});
    QVERIFY2(c_->startAgent(cfg), qPrintable(c_->error()));
    const QString self = QStringLiteral("127.0.0.1:%1").arg(c_->port());
    setJson(cfg, {"pools", "0", "discovery"},
            QJsonArray{QJsonObject{{"url", QStringLiteral("dns://self.test:%1").arg(c_->port())}, {"interval_ms", 1000}}});
    QVERIFY(c_->writeConfig(cfg));
    c_->agent().signal(SIGHUP);
    QVERIFY(c_->agent().waitForLog("added " + self.toLatin1()));
    QTRY_VERIFY_WITH_TIMEOUT(replicaIds().contains(self), kWaitMs);
    int ok = 0;
    QMap<int, int> statuses;
    for (int i = 0; i < 40; ++i) {
        const auto r = fetch(c_->port(), getRequest("/"));
        QVERIFY2(r, "a request through the looping replica did not end");
        ++statuses[r->status];
        if (r->status == 200) {
            QCOMPARE(r->header("X-Replica"), QByteArray("real"));
            ++ok;
        }
    }
    qInfo() << "answers by status:" << statuses;
    QVERIFY2(ok > 0, "no request reached the real replica");
    QVERIFY(c_->agent().running());
    QVERIFY(controlCall(*c_, "GET", "/v1/status")); // the main loop answers
}

// The agent's peak resident memory, KiB (VmHWM); -1 when unknown.
static qint64 peakKiB(Cluster& c)
{
    QFile f(QStringLiteral("/proc/%1/status").arg(c.agent().process().processId()));
    if (!f.open(QIODevice::ReadOnly))
        return -1;
    for (const QByteArray& line : f.readAll().split('\n'))
        if (line.startsWith("VmHWM:"))
            return line.mid(6).trimmed().split(' ').value(0).toLongLong();
    return -1;
}

// 256 SRV targets (the most looked up), each answering 4,000 A records over TCP: a million
// addresses, of which 256 are used. They must not all be held at once: before the fix every
// one was kept (about 100 MB) until the cut at the end.
void TestAttackDiscovery::srvTargetsWithThousandsOfAddresses()
{
    constexpr int kTargets = 256;
    constexpr int kAddressesPerTarget = 4000; // 16 bytes a record: what a 64 KiB TCP message holds
    HostileDns dns([](const Query& q, bool tcp) {
        if (q.type == kTypeSrv) {
            QList<QByteArray> answers;
            for (int i = 0; i < kTargets; ++i)
                answers << srvRecord(1, 1, 8080, "\x05t" + QByteArray::number(i).rightJustified(4, '0') + "\xC0\x17");
            return tcp ? response(q, answers) : response(q, {}, 0, true);
        }
        if (q.type != kTypeA)
            return response(q, {});
        if (!tcp)
            return response(q, {}, 0, true);
        // Owner names compressed to the question's (offset 12): 16 bytes a record.
        QList<QByteArray> answers;
        const int target = q.name.mid(1, 4).toInt();
        for (int i = 0; i < kAddressesPerTarget; ++i) {
            QByteArray rd;
            put32(rd, quint32(10) << 24 | quint32(target) << 12 | quint32(i));
            answers << record(kTypeA, 60, rd);
        }
        return response(q, answers);
    });
    QVERIFY(dns.port() != 0);
    QVERIFY2(c_->startAgent(discoveryConfig(dns, QStringLiteral("srv://_http._tcp.big.test"))), qPrintable(c_->error()));
    const qint64 before = peakKiB(*c_);
    QVERIFY(c_->agent().waitForLog("only the first 256 in address order are used", 0, 60000));
    QTRY_COMPARE_WITH_TIMEOUT(replicaIds().size(), 256, kWaitMs);
    const qint64 after = peakKiB(*c_);
    qInfo() << "agent peak RSS" << before << "KiB before the answer," << after << "KiB after";
    if (rssMeasuresTheAgent())
        QVERIFY2(after - before < 32 * 1024, qPrintable(QStringLiteral("peak RSS grew by %1 KiB").arg(after - before)));
}

QTEST_MAIN(TestAttackDiscovery)
#include "tst_attack_discovery.moc"
