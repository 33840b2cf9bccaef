#pragma once
// A blocking HTTP/1.1 client for the agent's control socket (a Unix socket), for the control API
// tests: requests written as given, answers parsed (Content-Length bodies, as the control server
// always sends).

#include "http_client.hpp"

#include <QDeadlineTimer>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLocalSocket>

#include <optional>

namespace dlb::test {

class ControlClient {
public:
    explicit ControlClient(QString socket_path) : path_(std::move(socket_path)) {}

    bool connect(int timeoutMs = kWaitMs)
    {
        sock_.connectToServer(path_);
        if (!sock_.waitForConnected(timeoutMs)) {
            error_ = QStringLiteral("connect to %1: %2").arg(path_, sock_.errorString());
            return false;
        }
        return true;
    }

    bool send(const QByteArray& bytes)
    {
        sock_.write(bytes);
        while (sock_.bytesToWrite() > 0)
            if (!sock_.waitForBytesWritten(kWaitMs)) {
                error_ = QStringLiteral("write: ") + sock_.errorString();
                return false;
            }
        return true;
    }

    std::optional<Response> read(int timeoutMs = kWaitMs)
    {
        QDeadlineTimer deadline(timeoutMs);
        qsizetype end = -1;
        while ((end = buf_.indexOf("\r\n\r\n")) < 0)
            if (!fill(deadline))
                return std::nullopt;
        const QList<QByteArray> lines = buf_.left(end).split('\n');
        Response r;
        const QList<QByteArray> status = lines.first().trimmed().split(' ');
        r.version = status.value(0);
        r.status = status.value(1).toInt();
        r.headers = parseHeaderLines(lines.mid(1));
        buf_.remove(0, end + 4);
        if (r.status == 100)
            return read(static_cast<int>(deadline.remainingTime()));
        const qsizetype length = r.header("Content-Length").toLongLong();
        while (buf_.size() < length)
            if (!fill(deadline))
                return std::nullopt;
        r.body = buf_.left(length);
        buf_.remove(0, length);
        return r;
    }

    // One request on this connection: "METHOD path" with a token (empty: none), a JSON body
    // (empty: none) and extra header lines.
    std::optional<Response> request(const QByteArray& method, const QByteArray& path, const QByteArray& token = {},
                                    const QByteArray& body = {}, const QByteArray& extra = {})
    {
        QByteArray req = method + " " + path + " HTTP/1.1\r\nHost: dlb\r\n";
        if (!token.isEmpty())
            req += "Authorization: Bearer " + token + "\r\n";
        if (!body.isEmpty() || method == "POST" || method == "PUT")
            req += "Content-Type: application/json\r\nContent-Length: " + QByteArray::number(body.size()) + "\r\n";
        req += extra + "\r\n" + body;
        if (!send(req))
            return std::nullopt;
        return read();
    }

    bool waitForClose(int timeoutMs = kWaitMs)
    {
        QDeadlineTimer deadline(timeoutMs);
        while (sock_.state() == QLocalSocket::ConnectedState) {
            if (!sock_.waitForReadyRead(static_cast<int>(std::max<qint64>(1, deadline.remainingTime()))) &&
                deadline.hasExpired())
                return false;
            buf_ += sock_.readAll();
        }
        return true;
    }

    QString error() const { return error_; }
    QLocalSocket& socket() { return sock_; }

private:
    bool fill(const QDeadlineTimer& deadline)
    {
        if (sock_.bytesAvailable() == 0 &&
            !sock_.waitForReadyRead(static_cast<int>(std::max<qint64>(1, deadline.remainingTime())))) {
            error_ = QStringLiteral("no answer: ") + sock_.errorString();
            return false;
        }
        buf_ += sock_.readAll();
        return true;
    }

    QString path_;
    QLocalSocket sock_;
    QByteArray buf_;
    QString error_;
};

inline QJsonObject jsonBody(const Response& r)
{
    return QJsonDocument::fromJson(r.body).object();
}

} // namespace dlb::test
