#pragma once
// One connection to an agent's control API: a QLocalSocket, a QTcpSocket, or a QSslSocket that
// verifies the agent's certificate (never ignoring an error). It only moves bytes; the HTTP
// on top is AgentConnection's and StatsStream's. Thread rule: lives on the thread that made it.

#include "client/agent_endpoint.hpp"

#include <QObject>
#include <QPointer>
#include <QTimer>

class QIODevice;

namespace dlb::console::client {

// A connection (TCP, then TLS) that is not up within this is given up.
constexpr int kConnectTimeoutMs = 5000;

class HttpChannel : public QObject {
    Q_OBJECT
public:
    explicit HttpChannel(AgentEndpoint endpoint, QObject* parent = nullptr);
    ~HttpChannel() override;
    Q_DISABLE_COPY_MOVE(HttpChannel)

    // Starts connecting; ends in connected() or failed(). A channel is opened once.
    void open();
    // Closes without a signal.
    void close();
    bool isConnected() const { return connected_; }
    void write(const QByteArray& bytes);

signals:
    void connected();
    // Bytes as they arrive.
    void received(const QByteArray& bytes);
    // Could not connect (the reason says why, with the socket's own words), or the
    // connection ended (the peer closed, or an error) after connected().
    void failed(const QString& reason);
    void closed(const QString& reason);

private:
    void onConnected();
    void onReadyRead();
    void onError(const QString& reason);
    void onDisconnected();

    AgentEndpoint endpoint_;
    QIODevice* device_ = nullptr;
    QTimer connectTimer_;
    bool connected_ = false;
    bool ended_ = false;
};

} // namespace dlb::console::client
