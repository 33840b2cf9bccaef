#pragma once
// What the discovery tests (tst_discovery, tst_attack_linger) share: dlb-replica processes on
// 127.0.0.2, 127.0.0.3... (all loopback on Linux, so one name can resolve to several of them
// on one port), the test's dnsmasq (dns_fixture.hpp), an agent whose pool "web" discovers
// through it, and what GET /v1/pools and a plain GET say of that pool. A test class derives
// from DiscoveryFixture and calls setUpFixture() / tearDownFixture() from its init() / cleanup().

#include "control_fixture.hpp"
#include "dns_fixture.hpp"
#include "harness.hpp"

#include <QJsonArray>
#include <QJsonObject>
#include <QMap>
#include <QObject>
#include <QSet>

#include <memory>
#include <vector>

namespace dlb::test {

class DiscoveryFixture : public QObject {
protected:
    void setUpFixture()
    {
        c_ = std::make_unique<Cluster>();
        dns_ = std::make_unique<Dns>(c_->path(QString()));
    }
    // Stops the agent first (a failure then prints its whole log), then the replicas and DNS.
    void tearDownFixture()
    {
        const int exitCode = c_->agent().running() ? c_->stopAgent() : 0;
        checkAgentExit(*c_, exitCode);
        replicas_.clear();
        dns_.reset();
        c_.reset();
    }

    // A dlb-replica on `ip`:`port` (0: any); its port, 0 on failure.
    quint16 startReplicaAt(const QString& ip, quint16 port, const QString& name)
    {
        auto proc = std::make_unique<ChildProcess>();
        const QByteArray got = proc->startAndReadLine(
            binPath(QStringLiteral("dlb-replica")),
            {QStringLiteral("--listen"), QStringLiteral("%1:%2").arg(ip).arg(port), QStringLiteral("--name"), name,
             QStringLiteral("--workers"), QStringLiteral("8"), QStringLiteral("--service-ms"), QStringLiteral("1"),
             QStringLiteral("--dist"), QStringLiteral("fixed"), QStringLiteral("--seed"), QStringLiteral("1")},
            "listening on " + ip.toLatin1() + ":");
        if (got.isEmpty())
            return 0;
        replicas_.push_back(std::move(proc));
        return static_cast<quint16>(got.toUInt());
    }

    // Two replicas, r2 on 127.0.0.2 and r3 on 127.0.0.3, on one port; that port.
    quint16 startTwoReplicas()
    {
        for (int attempt = 0; attempt < kPortAttempts; ++attempt) {
            const quint16 port = startReplicaAt(QStringLiteral("127.0.0.2"), 0, QStringLiteral("r2"));
            if (port != 0 && startReplicaAt(QStringLiteral("127.0.0.3"), port, QStringLiteral("r3")) == port)
                return port;
            replicas_.clear();
        }
        return 0;
    }

    // The control config with pool "web" discovering by `entry` through the test's dnsmasq,
    // health-checked every 100 ms.
    QJsonObject discoveryConfig(const QJsonObject& entry)
    {
        QJsonObject cfg = controlConfig(*c_, {});
        setJson(cfg, {"pools", "0", "discovery"}, QJsonArray{entry});
        setJson(cfg, {"pools", "0", "health_check"},
                QJsonObject{{"enabled", true}, {"interval_ms", 100}, {"timeout_ms", 50}, {"rise", 1}, {"fall", 1}});
        cfg[QStringLiteral("resolvers")] = QJsonArray{QStringLiteral("127.0.0.1:%1").arg(dns_->port())};
        return cfg;
    }
    static QJsonObject dnsEntry(quint16 port, int intervalMs = 1000, const QString& name = QStringLiteral("replicas.test"))
    {
        return {{"url", QStringLiteral("dns://%1:%2").arg(name).arg(port)}, {"interval_ms", intervalMs}};
    }

    // GET /v1/pools: pool "web"'s replicas by id (empty when the call fails).
    QMap<QString, QJsonObject> replicas() { return webReplicas(*c_); }
    QString state(const QString& id) { return replicas().value(id).value("state").toString(); }
    // One GET / on a new connection: the X-Replica that answered, or "<status>".
    QByteArray answer()
    {
        const auto r = fetch(c_->port(), getRequest("/"));
        if (!r)
            return "<none>";
        return r->status == 200 ? r->header("X-Replica") : "<" + QByteArray::number(r->status) + ">";
    }

    // The replicas that answer `n` requests in a row, on new connections.
    QSet<QByteArray> answers(int n = 10)
    {
        QSet<QByteArray> seen;
        for (int i = 0; i < n; ++i)
            seen.insert(answer());
        return seen;
    }

    std::unique_ptr<Cluster> c_;
    std::unique_ptr<Dns> dns_;
    std::vector<std::unique_ptr<ChildProcess>> replicas_;
};

} // namespace dlb::test
