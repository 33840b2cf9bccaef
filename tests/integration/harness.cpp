#include "harness.hpp"

#include <QCryptographicHash>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QTcpServer>
#include <QTest>

#include <cstdio>
#include <random>

namespace dlb::test {

quint16 refusedPort()
{
    QTcpServer s;
    if (!s.listen(QHostAddress::LocalHost, 0))
        return 0;
    const quint16 port = s.serverPort();
    s.close();
    return port;
}

QByteArray randomBytes(qsizetype size, quint64 seed)
{
    std::mt19937_64 gen(seed);
    QByteArray out(size, Qt::Uninitialized);
    for (qsizetype i = 0; i < size; i += 8) {
        quint64 v = gen();
        for (qsizetype j = i; j < size && j < i + 8; ++j) {
            out[j] = static_cast<char>(v & 0xff);
            v >>= 8;
        }
    }
    return out;
}

QByteArray sha256Hex(const QByteArray& data)
{
    return QCryptographicHash::hash(data, QCryptographicHash::Sha256).toHex();
}

namespace {

QJsonValue setIn(const QJsonValue& node, const QStringList& path, qsizetype at, const QJsonValue& value)
{
    if (at == path.size())
        return value;
    const QString& key = path[at];
    bool isIndex = false;
    const int index = key.toInt(&isIndex);
    if (isIndex && node.isArray()) {
        QJsonArray arr = node.toArray();
        while (arr.size() <= index)
            arr.append(QJsonObject());
        arr[index] = setIn(arr[index], path, at + 1, value);
        return arr;
    }
    QJsonObject obj = node.toObject();
    obj[key] = setIn(obj.value(key), path, at + 1, value);
    return obj;
}

} // namespace

void setJson(QJsonObject& root, const QStringList& path, const QJsonValue& value)
{
    root = setIn(root, path, 0, value).toObject();
}

void checkAgentExit(Cluster& c, int exitCode)
{
    if (QTest::currentTestFailed() || exitCode != 0)
        qWarning().noquote() << "agent:" << c.agent().error() << "stderr:\n" << c.agentLog();
    if (!QTest::currentTestFailed())
        QCOMPARE(exitCode, 0);
}

void setHttpsReplica(QJsonObject& config, const QString& port, const QString& caFile)
{
    setJson(config, {QStringLiteral("pools"), QStringLiteral("0"), QStringLiteral("replicas")},
            QJsonArray{QJsonObject{{QStringLiteral("url"), QStringLiteral("https://127.0.0.1:%1").arg(port)}}});
    setJson(config, {QStringLiteral("pools"), QStringLiteral("0"), QStringLiteral("tls"), QStringLiteral("ca_file")}, caFile);
}

Cluster::Cluster() = default;

Cluster::~Cluster()
{
    // The agent first, so it does not see its replicas vanish mid-request.
    if (agent_.running())
        agent_.terminate();
    for (auto& r : replicas_)
        r->terminate();
}

quint16 Cluster::startReplica(const QString& name, const QStringList& extra)
{
    auto proc = std::make_unique<ChildProcess>();
    QStringList args{QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0"), QStringLiteral("--name"), name,
                     QStringLiteral("--workers"), QStringLiteral("8"), QStringLiteral("--service-ms"), QStringLiteral("0"),
                     QStringLiteral("--seed"), QStringLiteral("1")};
    args += extra;
    const QByteArray port = proc->startAndReadLine(binPath(QStringLiteral("dlb-replica")), args, "listening on 127.0.0.1:");
    if (port.isEmpty()) {
        error_ = proc->error();
        return 0;
    }
    replicas_.push_back(std::move(proc));
    return static_cast<quint16>(port.toUInt());
}

StubBackend& Cluster::addStub(const QByteArray& name, StubMode mode)
{
    stubs_.push_back(std::make_unique<StubBackend>(name, mode));
    return *stubs_.back();
}

QJsonObject Cluster::config(const QList<quint16>& ports) const
{
    QJsonArray replicas;
    for (const quint16 p : ports)
        replicas.append(QJsonObject{{QStringLiteral("url"), QStringLiteral("http://127.0.0.1:%1").arg(p)}});
    const QJsonObject pool{
        {QStringLiteral("name"), QStringLiteral("web")},
        {QStringLiteral("algorithm"), QJsonObject{{QStringLiteral("name"), QStringLiteral("round_robin")}}},
        {QStringLiteral("health_check"), QJsonObject{{QStringLiteral("enabled"), false}}},
        {QStringLiteral("replicas"), replicas},
    };
    return QJsonObject{
        {QStringLiteral("workers"), 1},
        {QStringLiteral("listeners"), QJsonArray{QJsonObject{{QStringLiteral("address"), QStringLiteral("127.0.0.1:0")}}}},
        {QStringLiteral("pools"), QJsonArray{pool}},
        {QStringLiteral("timeouts"), QJsonObject{{QStringLiteral("connect_ms"), 1000}, {QStringLiteral("drain_ms"), 3000}}},
        {QStringLiteral("access_log"), QJsonObject{{QStringLiteral("path"), accessLogPath()}}},
    };
}

bool Cluster::writeConfig(const QJsonObject& config)
{
    // Written beside and renamed over, so a SIGHUP never reads half a file.
    const QString tmp = configPath() + QStringLiteral(".tmp");
    QFile f(tmp);
    if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate)) {
        error_ = QStringLiteral("cannot write %1").arg(tmp);
        return false;
    }
    f.write(QJsonDocument(config).toJson());
    f.close();
    if (std::rename(QFile::encodeName(tmp).constData(), QFile::encodeName(configPath()).constData()) != 0) {
        error_ = QStringLiteral("cannot rename %1").arg(tmp);
        return false;
    }
    return true;
}

bool Cluster::startAgent(const QJsonObject& config)
{
    if (!dir_.isValid()) {
        error_ = QStringLiteral("no temporary directory");
        return false;
    }
    if (!writeConfig(config))
        return false;
    const QByteArray port = agent_.startAndReadLine(binPath(QStringLiteral("dlb-agent")),
                                                    {QStringLiteral("--config"), configPath()},
                                                    "dlb-agent: listening on 127.0.0.1:");
    if (port.isEmpty()) {
        error_ = agent_.error();
        return false;
    }
    port_ = static_cast<quint16>(port.toUInt());
    // The listening line comes before the agent's signal handlers exist (see
    // tst_agent_signals::signalRightAfterListeningIsHandled); "started" comes after them, so
    // tests that signal the agent are not at the mercy of that window.
    if (!agent_.waitForLog("dlb-agent: started")) {
        error_ = QStringLiteral("the agent never logged \"started\"; stderr:\n") + QString::fromUtf8(agent_.log());
        return false;
    }
    return true;
}

int Cluster::stopAgent()
{
    return agent_.terminate();
}

} // namespace dlb::test
