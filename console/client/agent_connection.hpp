#pragma once
// The console's client of one agent's control API: HTTP/1.1 over a Unix socket, TCP or TLS
// (HttpChannel), one request at a time on a keep-alive connection, the rest queued in order.
// No widgets. Thread rule: lives on the thread that made it (the GUI thread); nothing blocks.
//
// States: Connecting (the first attempt after open()), Connected, Unreachable (never reached
// since open(); retrying), Reconnecting (was connected, lost it; retrying). While not
// connected it retries with backoff (kReconnectInitialMs doubling to kReconnectMaxMs); a
// request made meanwhile tries at once, and fails with "unreachable" if that attempt fails.
// An idle connection the agent closes (timeouts.idle_ms) is opened again at once, silently.

#include "client/agent_endpoint.hpp"
#include "client/agent_reply.hpp"
#include "client/http_response_parser.hpp"

#include <QElapsedTimer>
#include <QJsonDocument>
#include <QObject>
#include <QPointer>
#include <QQueue>
#include <QTimer>

namespace dlb::console::client {

class HttpChannel;

constexpr int kRequestTimeoutMs = 15000;   // from sending a request to the end of its answer
constexpr int kReconnectInitialMs = 250;   // first retry after a failed connection
constexpr int kReconnectMaxMs = 10000;     // retries slow down to this
constexpr qsizetype kMaxQueuedRequests = 256; // more waiting than this is a runaway caller

enum class ConnectionState { Unreachable, Connecting, Connected, Reconnecting };
QString stateName(ConnectionState s);

// What a connection shows and whether it ever got through; AgentConnection and StatsStream
// both track this, and a lost connection reads the same in both.
struct ConnectionStatus {
    ConnectionState state = ConnectionState::Unreachable;
    bool everConnected = false;

    // Moves to s; false when already there, so that no change is announced twice.
    bool moveTo(ConnectionState s)
    {
        if (s == state)
            return false;
        state = s;
        return true;
    }
    // Reconnecting once it had worked, Unreachable if it never did.
    ConnectionState afterLoss() const { return everConnected ? ConnectionState::Reconnecting : ConnectionState::Unreachable; }
};

class AgentConnection : public QObject {
    Q_OBJECT
public:
    explicit AgentConnection(AgentEndpoint endpoint, QObject* parent = nullptr);
    ~AgentConnection() override;
    Q_DISABLE_COPY_MOVE(AgentConnection)

    // Starts connecting and keeps the connection up (retrying) until close().
    void open();
    // Closes; requests waiting or in flight finish with "connection_lost".
    void close();

    // Sends `method path` (path already %-escaped; see pathSegment()) with the bearer token and,
    // when given, a JSON body and If-Match. The reply's finished() says how it went.
    AgentReply* request(const QByteArray& method, const QString& path, const QJsonDocument& body = {},
                        const QByteArray& ifMatch = {});

    // A path segment %-escaped as the agent decodes it ("[::1]:9001" -> "%5B::1%5D:9001").
    static QString pathSegment(const QString& segment);

    ConnectionState state() const { return status_.state; }
    // Why the last connection failed or ended, empty while connected.
    QString lastError() const { return lastError_; }
    const AgentEndpoint& endpoint() const { return endpoint_; }
    // For tests: a shorter request timeout.
    void setRequestTimeout(int ms) { requestTimeoutMs_ = ms; }

signals:
    void stateChanged(dlb::console::client::ConnectionState state, const QString& detail);

private:
    struct Pending {
        QPointer<AgentReply> reply;
        QByteArray bytes;
        bool idempotent = false;
        int attempts = 0;
    };

    void connectNow();
    void onConnected();
    void onConnectFailed(const QString& reason);
    void onClosed(const QString& reason);
    void onReceived(const QByteArray& bytes);
    void pump();
    void finishCurrent();
    void dropChannel();
    void setState(ConnectionState s, const QString& detail);
    void scheduleRetry();
    void failAll(const QString& code, const QString& message);

    AgentEndpoint endpoint_;
    HttpChannel* channel_ = nullptr;
    bool opened_ = false;
    ConnectionStatus status_;
    bool reused_ = false; // the channel has carried an answer already
    QString lastError_;
    QQueue<Pending> queue_;
    std::optional<Pending> current_;
    HttpResponseParser parser_;
    QTimer requestTimer_;
    QTimer retryTimer_;
    QElapsedTimer channelAge_;
    int retryDelayMs_ = kReconnectInitialMs;
    int requestTimeoutMs_ = kRequestTimeoutMs;
};

} // namespace dlb::console::client

Q_DECLARE_METATYPE(dlb::console::client::ConnectionState)
