#pragma once
// The console's live agents: for each row of dlb.agents one AgentConnection, one StatsStream
// and one TimeSeriesModel fed by it, and the AgentsModel that lists them side by side. It also
// says which agent the other pages show (the current one) and runs "test connection". No
// widgets: pages are handed the hub (or its connections), never make their own.
//
// Token: the admin token when the session could read it (operators, admins), else the viewer
// token; a viewer's console can only read, as the agent itself enforces.

#include "client/agent_connection.hpp"
#include "client/stats_stream.hpp"
#include "models/agents_model.hpp"
#include "models/time_series.hpp"

#include <QHash>
#include <QObject>
#include <memory>

namespace dlb::console {

class AgentHub : public QObject {
    Q_OBJECT
public:
    explicit AgentHub(QObject* parent = nullptr);
    ~AgentHub() override;
    Q_DISABLE_COPY_MOVE(AgentHub)

    // The rows of dlb.agents. An agent whose URL and token did not change keeps its connection,
    // stream and history; a removed one is closed; the current agent stays if it is still listed,
    // else the first becomes current.
    void setAgents(const QList<AgentRecord>& agents);
    AgentsModel* model() { return &model_; }

    QString current() const { return current_; }
    void setCurrent(const QString& name);
    // nullptr when there is no such agent (or none is current).
    client::AgentConnection* connection(const QString& name) const;
    client::StatsStream* stream(const QString& name) const;
    TimeSeriesModel* series(const QString& name) const;
    client::AgentConnection* currentConnection() const { return connection(current_); }

    // A CA file for an https:// agent: a path on this machine, so kept in QSettings (not in the
    // shared database), under agents/<name>/ca_file.
    static QString caFileFor(const QString& name);
    static void setCaFileFor(const QString& name, const QString& path);

    // GET /v1/status with these settings, on a connection of its own; ends in testFinished().
    void testConnection(const QString& target, const QByteArray& token, const QString& caFile);

signals:
    void currentChanged(const QString& name);
    void testFinished(bool ok, const QString& message);

private:
    struct Agent {
        AgentRecord record;
        QString caFile;
        std::unique_ptr<client::AgentConnection> connection;
        std::unique_ptr<client::StatsStream> stream;
        std::unique_ptr<TimeSeriesModel> series;
    };
    std::unique_ptr<Agent> makeAgent(const AgentRecord& record);

    AgentsModel model_;
    QHash<QString, std::shared_ptr<Agent>> agents_;
    QString current_;
    std::unique_ptr<client::AgentConnection> test_;
};

} // namespace dlb::console
