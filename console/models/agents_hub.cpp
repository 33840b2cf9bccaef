#include "models/agents_hub.hpp"

#include <QJsonObject>
#include <QSettings>

namespace dlb::console {

using namespace client;

AgentHub::AgentHub(QObject* parent) : QObject(parent) {}

AgentHub::~AgentHub() = default;

QString AgentHub::caFileFor(const QString& name)
{
    return QSettings().value(QStringLiteral("agents/%1/ca_file").arg(name)).toString();
}

void AgentHub::setCaFileFor(const QString& name, const QString& path)
{
    QSettings s;
    if (path.isEmpty())
        s.remove(QStringLiteral("agents/%1/ca_file").arg(name));
    else
        s.setValue(QStringLiteral("agents/%1/ca_file").arg(name), path);
}

std::unique_ptr<AgentHub::Agent> AgentHub::makeAgent(const AgentRecord& record)
{
    auto a = std::make_unique<Agent>();
    a->record = record;
    a->caFile = caFileFor(record.name);
    a->series = std::make_unique<TimeSeriesModel>();
    const QByteArray token = (record.adminToken.isEmpty() ? record.viewerToken : record.adminToken).toUtf8();
    QString error;
    const auto ep = AgentEndpoint::parse(record.controlUrl, token, a->caFile, &error);
    if (!ep) {
        // Listed with its problem; nothing to connect to.
        const QString name = record.name;
        QMetaObject::invokeMethod(
            this, [this, name, error] { model_.setState(name, ConnectionState::Unreachable, error); },
            Qt::QueuedConnection);
        return a;
    }
    a->connection = std::make_unique<AgentConnection>(*ep);
    a->stream = std::make_unique<StatsStream>(a->connection.get());
    const QString name = record.name;
    TimeSeriesModel* series = a->series.get();
    // The row shows the stream's state: it is the one that notices an agent going away at once.
    connect(a->stream.get(), &StatsStream::stateChanged, this,
            [this, name](ConnectionState s, const QString& detail) { model_.setState(name, s, detail); });
    connect(a->stream.get(), &StatsStream::historyLoaded, series, &TimeSeriesModel::setHistory);
    connect(a->stream.get(), &StatsStream::sampleReceived, this, [this, name, series](const QJsonObject& o) {
        const StatsPoint p = parseStatsPoint(o);
        series->append(p);
        model_.setSample(name, p);
    });
    a->connection->open();
    a->stream->start();
    return a;
}

void AgentHub::setAgents(const QList<AgentRecord>& agents)
{
    QHash<QString, std::shared_ptr<Agent>> next;
    for (const AgentRecord& r : agents) {
        auto old = agents_.value(r.name);
        if (old && old->record.controlUrl == r.controlUrl && old->record.adminToken == r.adminToken &&
            old->record.viewerToken == r.viewerToken && old->caFile == caFileFor(r.name)) {
            next.insert(r.name, old);
            continue;
        }
        next.insert(r.name, std::shared_ptr<Agent>(makeAgent(r)));
    }
    model_.setAgents(agents);
    // Rows just made start as "connecting"; the streams report from here on.
    for (const AgentRecord& r : agents) {
        const auto& a = next.value(r.name);
        if (a && a->stream)
            model_.setState(r.name, a->stream->state(), a->stream->lastError());
    }
    agents_ = std::move(next); // the dropped ones close here
    if (!agents_.contains(current_))
        setCurrent(agents.isEmpty() ? QString() : agents.first().name);
    else
        emit currentChanged(current_); // its objects may be new
}

void AgentHub::setCurrent(const QString& name)
{
    current_ = agents_.contains(name) ? name : QString();
    model_.setCurrent(current_);
    emit currentChanged(current_);
}

AgentConnection* AgentHub::connection(const QString& name) const
{
    const auto a = agents_.value(name);
    return a ? a->connection.get() : nullptr;
}

StatsStream* AgentHub::stream(const QString& name) const
{
    const auto a = agents_.value(name);
    return a ? a->stream.get() : nullptr;
}

TimeSeriesModel* AgentHub::series(const QString& name) const
{
    const auto a = agents_.value(name);
    return a ? a->series.get() : nullptr;
}

void AgentHub::testConnection(const QString& target, const QByteArray& token, const QString& caFile)
{
    QString error;
    const auto ep = AgentEndpoint::parse(target, token, caFile, &error);
    if (!ep) {
        QMetaObject::invokeMethod(this, [this, error] { emit testFinished(false, error); }, Qt::QueuedConnection);
        return;
    }
    test_ = std::make_unique<AgentConnection>(*ep);
    test_->open();
    AgentReply* reply = test_->request("GET", QStringLiteral("/v1/status"));
    connect(reply, &AgentReply::finished, this,
            [this, conn = test_.get()](int status, const QJsonDocument& body, const AgentError& e) {
        if (e.isError() || status != 200) {
            emit testFinished(false, e.isError() ? e.text() : tr("The agent answered %1.").arg(status));
        } else {
            const QJsonObject o = body.object();
            emit testFinished(true, tr("Connected: dlb-agent %1, pid %2, up %3 s, config generation %4.")
                                        .arg(o.value(QLatin1String("version")).toString())
                                        .arg(o.value(QLatin1String("pid")).toInteger())
                                        .arg(o.value(QLatin1String("uptime_s")).toInteger())
                                        .arg(o.value(QLatin1String("generation")).toInteger()));
        }
        // Closed later: this runs inside the connection's reply.
        if (test_.get() == conn)
            test_.release()->deleteLater();
    });
}

} // namespace dlb::console
