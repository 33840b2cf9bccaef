#include "scripted_replica.hpp"

#include <QTcpServer>
#include <QTcpSocket>

namespace dlb::test {

Answer ok(const QByteArray& body, const QByteArray& extraHeaders)
{
    return {"HTTP/1.1 200 OK\r\nContent-Length: " + QByteArray::number(body.size()) + "\r\n" + extraHeaders + "\r\n" + body};
}

class ScriptedReplica::Server final : public QObject {
public:
    explicit Server(Script s) : script_(std::move(s)) {}
    ~Server() override { delete server_; }
    quint16 listen()
    {
        server_ = new QTcpServer(this);
        QObject::connect(server_, &QTcpServer::newConnection, this, [this] {
            while (QTcpSocket* s = server_->nextPendingConnection()) {
                buffers_.insert(s, {});
                QObject::connect(s, &QTcpSocket::readyRead, this, [this, s] { onReadyRead(s); });
                QObject::connect(s, &QTcpSocket::disconnected, s, &QObject::deleteLater);
                QObject::connect(s, &QObject::destroyed, this, [this, s] { buffers_.remove(s); });
            }
        });
        return server_->listen(QHostAddress::LocalHost, 0) ? server_->serverPort() : 0;
    }

    void setListening(bool on, quint16 port)
    {
        if (on) {
            if (!server_->isListening())
                server_->listen(QHostAddress::LocalHost, port);
            return;
        }
        server_->close();
        for (QTcpSocket* s : buffers_.keys())
            s->abort();
    }

    mutable QMutex mutex;
    QHash<QByteArray, int> counts; // guarded by mutex

private:
    void onReadyRead(QTcpSocket* s)
    {
        QByteArray& buf = buffers_[s];
        buf += s->readAll();
        // Requests without bodies only (GET): a head ends at the blank line.
        for (qsizetype end; s->state() == QAbstractSocket::ConnectedState && (end = buf.indexOf("\r\n\r\n")) >= 0;) {
            const QByteArray head = buf.left(end);
            buf.remove(0, end + 4);
            const QList<QByteArray> line = head.left(head.indexOf("\r\n")).split(' ');
            const QByteArray path = line.size() > 1 ? line[1] : QByteArray();
            {
                QMutexLocker lock(&mutex);
                ++counts[path];
            }
            const Answer a = script_(path);
            s->write(a.bytes);
            if (a.close) {
                s->disconnectFromHost(); // after the bytes are written
                return;
            }
        }
    }

    Script script_;
    QTcpServer* server_ = nullptr;
    QHash<QTcpSocket*, QByteArray> buffers_;
};

ScriptedReplica::ScriptedReplica(Script script)
{
    server_ = new Server(std::move(script));
    server_->moveToThread(&thread_);
    QObject::connect(&thread_, &QThread::finished, server_, &QObject::deleteLater);
    thread_.start();
    quint16 port = 0;
    QMetaObject::invokeMethod(server_, [this, &port] { port = server_->listen(); }, Qt::BlockingQueuedConnection);
    port_ = port;
}

ScriptedReplica::~ScriptedReplica()
{
    thread_.quit();
    thread_.wait();
}

void ScriptedReplica::setListening(bool on)
{
    QMetaObject::invokeMethod(server_, [this, on] { server_->setListening(on, port_); }, Qt::BlockingQueuedConnection);
}

int ScriptedReplica::count(const QByteArray& path) const
{
    QMutexLocker lock(&server_->mutex);
    return server_->counts.value(path);
}

} // namespace dlb::test
