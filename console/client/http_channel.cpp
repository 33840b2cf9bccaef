#include "client/http_channel.hpp"

#include <QFile>
#include <QLocalSocket>
#include <QSslCertificate>
#include <QSslConfiguration>
#include <QSslSocket>
#include <QTcpSocket>

namespace dlb::console::client {

HttpChannel::HttpChannel(AgentEndpoint endpoint, QObject* parent) : QObject(parent), endpoint_(std::move(endpoint))
{
    connectTimer_.setSingleShot(true);
    connectTimer_.setInterval(kConnectTimeoutMs);
    connect(&connectTimer_, &QTimer::timeout, this, [this] {
        onError(QStringLiteral("no connection to %1 within %2 ms").arg(endpoint_.display()).arg(kConnectTimeoutMs));
    });
}

HttpChannel::~HttpChannel()
{
    close();
}

void HttpChannel::open()
{
    Q_ASSERT(!device_);
    connectTimer_.start();
    if (endpoint_.kind == AgentEndpoint::Kind::Unix) {
        auto* s = new QLocalSocket(this);
        device_ = s;
        connect(s, &QLocalSocket::connected, this, &HttpChannel::onConnected);
        connect(s, &QLocalSocket::readyRead, this, &HttpChannel::onReadyRead);
        connect(s, &QLocalSocket::errorOccurred, this, [this, s] { onError(s->errorString()); });
        connect(s, &QLocalSocket::disconnected, this, &HttpChannel::onDisconnected);
        s->connectToServer(endpoint_.socketPath);
        return;
    }
    if (endpoint_.kind == AgentEndpoint::Kind::Tcp) {
        auto* s = new QTcpSocket(this);
        device_ = s;
        connect(s, &QTcpSocket::connected, this, &HttpChannel::onConnected);
        connect(s, &QTcpSocket::readyRead, this, &HttpChannel::onReadyRead);
        connect(s, &QTcpSocket::errorOccurred, this, [this, s] { onError(s->errorString()); });
        connect(s, &QTcpSocket::disconnected, this, &HttpChannel::onDisconnected);
        s->connectToHost(endpoint_.host, endpoint_.port);
        return;
    }
    auto* s = new QSslSocket(this);
    device_ = s;
    if (!QSslSocket::supportsSsl()) {
        QMetaObject::invokeMethod(this, [this] { onError(QStringLiteral("this Qt has no TLS backend: install the "
                                                                        "OpenSSL plugin or use the Unix socket")); },
                                  Qt::QueuedConnection);
        return;
    }
    QSslConfiguration conf = QSslConfiguration::defaultConfiguration();
    conf.setPeerVerifyMode(QSslSocket::VerifyPeer);
    if (!endpoint_.caFile.isEmpty()) {
        const QList<QSslCertificate> cas = QSslCertificate::fromPath(endpoint_.caFile, QSsl::Pem);
        if (cas.isEmpty()) {
            const QString why = QFile::exists(endpoint_.caFile)
                                    ? QStringLiteral("the CA file %1 holds no PEM certificate").arg(endpoint_.caFile)
                                    : QStringLiteral("the CA file %1 does not exist").arg(endpoint_.caFile);
            QMetaObject::invokeMethod(this, [this, why] { onError(why); }, Qt::QueuedConnection);
            return;
        }
        conf.setCaCertificates(cas);
    }
    s->setSslConfiguration(conf);
    connect(s, &QSslSocket::encrypted, this, &HttpChannel::onConnected);
    connect(s, &QSslSocket::readyRead, this, &HttpChannel::onReadyRead);
    connect(s, &QSslSocket::sslErrors, this, [this](const QList<QSslError>& errors) {
        QStringList why;
        for (const QSslError& e : errors)
            why << e.errorString();
        // Never ignored: an agent whose certificate does not verify is not the agent.
        onError(QStringLiteral("the agent's certificate is not trusted: %1 (give its CA file)").arg(why.join(QStringLiteral("; "))));
    });
    connect(s, &QSslSocket::errorOccurred, this, [this, s] { onError(s->errorString()); });
    connect(s, &QSslSocket::disconnected, this, &HttpChannel::onDisconnected);
    s->connectToHostEncrypted(endpoint_.host, endpoint_.port);
}

void HttpChannel::close()
{
    ended_ = true;
    connected_ = false;
    connectTimer_.stop();
    if (!device_)
        return;
    QIODevice* d = device_;
    device_ = nullptr;
    d->disconnect(this);
    if (auto* l = qobject_cast<QLocalSocket*>(d))
        l->abort();
    else if (auto* t = qobject_cast<QAbstractSocket*>(d))
        t->abort();
    d->deleteLater(); // never inside one of its own signals
}

void HttpChannel::write(const QByteArray& bytes)
{
    if (device_ && connected_)
        device_->write(bytes);
}

void HttpChannel::onConnected()
{
    if (ended_)
        return;
    connectTimer_.stop();
    connected_ = true;
    emit connected();
}

void HttpChannel::onReadyRead()
{
    if (ended_ || !device_)
        return;
    const QByteArray bytes = device_->readAll();
    if (!bytes.isEmpty())
        emit received(bytes);
}

void HttpChannel::onError(const QString& reason)
{
    if (ended_)
        return;
    // What arrived before the close is still the agent's answer (Connection: close).
    if (device_ && connected_ && device_->bytesAvailable() > 0)
        onReadyRead();
    if (ended_)
        return;
    const bool wasConnected = connected_;
    close();
    if (wasConnected)
        emit closed(reason);
    else
        emit failed(reason);
}

void HttpChannel::onDisconnected()
{
    onError(QStringLiteral("the agent closed the connection"));
}

} // namespace dlb::console::client
