#include "stub_backend.hpp"

#include <QHash>
#include <QMutex>
#include <QMutexLocker>
#include <QTcpServer>
#include <QTimer>

#include <memory>

namespace dlb::test {

QByteArray slowChunksBody()
{
    QByteArray out;
    for (int i = 0; i < kSlowChunkCount; ++i)
        out += "part" + QByteArray::number(i) + ";";
    return out;
}

QByteArray StubRequest::header(const QByteArray& name) const
{
    return headerValue(headers, name, nullptr);
}

bool StubRequest::hasHeader(const QByteArray& name) const
{
    bool found = false;
    headerValue(headers, name, &found);
    return found;
}

namespace {

// Takes one complete request off the front of `buf`; nullopt while it is incomplete.
std::optional<StubRequest> takeRequest(QByteArray& buf)
{
    const qsizetype end = buf.indexOf("\r\n\r\n");
    if (end < 0)
        return std::nullopt;
    StubRequest r;
    r.head = buf.left(end);
    QList<QByteArray> lines = r.head.split('\n');
    for (QByteArray& l : lines)
        l = l.trimmed();
    const QList<QByteArray> requestLine = lines.value(0).split(' ');
    r.method = requestLine.value(0);
    r.path = requestLine.value(1);
    r.headers = parseHeaderLines(lines.mid(1));
    qsizetype pos = end + 4;
    if (r.header("transfer-encoding").toLower().contains("chunked")) {
        for (;;) {
            const qsizetype eol = buf.indexOf("\r\n", pos);
            if (eol < 0)
                return std::nullopt;
            QByteArray sizeText = buf.mid(pos, eol - pos);
            if (const qsizetype semi = sizeText.indexOf(';'); semi >= 0)
                sizeText.truncate(semi);
            bool ok = false;
            const qsizetype size = sizeText.trimmed().toLongLong(&ok, 16);
            if (!ok)
                return std::nullopt; // not a valid chunk size: wait, the test will time out and say so
            if (size == 0) {
                // Trailer lines until an empty one.
                qsizetype p = eol + 2;
                for (;;) {
                    const qsizetype e = buf.indexOf("\r\n", p);
                    if (e < 0)
                        return std::nullopt;
                    if (e == p) {
                        pos = e + 2;
                        break;
                    }
                    p = e + 2;
                }
                break;
            }
            if (buf.size() < eol + 2 + size + 2)
                return std::nullopt;
            r.body += buf.mid(eol + 2, size);
            pos = eol + 2 + size + 2;
        }
    } else {
        const qsizetype length = r.header("content-length").toLongLong();
        if (buf.size() < pos + length)
            return std::nullopt;
        r.body = buf.mid(pos, length);
        pos += length;
    }
    buf.remove(0, pos);
    return r;
}

} // namespace

class StubBackend::Server final : public QObject {
public:
    Server(QByteArray name, StubMode mode) : name_(std::move(name)), mode_(mode) {}
    // The sockets go first, while the members their "destroyed" handlers touch still exist.
    ~Server() override { delete server_; }

    quint16 listen()
    {
        server_ = new QTcpServer(this);
        QObject::connect(server_, &QTcpServer::newConnection, this, [this] { onNewConnection(); });
        if (!server_->listen(QHostAddress::LocalHost, 0))
            return 0;
        return server_->serverPort();
    }

    mutable QMutex mutex;
    int connections = 0;            // guarded by mutex
    int open = 0;                   // guarded by mutex
    QList<StubRequest> requests;    // guarded by mutex
    struct Canned {
        int status;
        QByteArray body;
    };
    QHash<QByteArray, Canned> canned; // answerPath(); guarded by mutex

private:
    void onNewConnection()
    {
        while (QTcpSocket* s = server_->nextPendingConnection()) {
            int id = 0;
            {
                QMutexLocker lock(&mutex);
                id = ++connections;
                ++open;
            }
            connectionIds_.insert(s, id);
            QObject::connect(s, &QTcpSocket::readyRead, this, [this, s] { onReadyRead(s); });
            QObject::connect(s, &QTcpSocket::disconnected, s, &QObject::deleteLater);
            QObject::connect(s, &QObject::destroyed, this, [this, s] {
                buffers_.remove(s);
                connectionIds_.remove(s);
                QMutexLocker lock(&mutex);
                --open;
            });
        }
    }

    void onReadyRead(QTcpSocket* s)
    {
        QByteArray& buf = buffers_[s];
        buf += s->readAll();
        while (s->state() == QAbstractSocket::ConnectedState) {
            std::optional<StubRequest> r = takeRequest(buf);
            if (!r)
                return;
            r->connection = connectionIds_.value(s);
            std::optional<Canned> reply;
            {
                QMutexLocker lock(&mutex);
                requests.append(*r);
                if (const auto it = canned.constFind(r->path); it != canned.constEnd())
                    reply = *it;
            }
            if (reply) {
                const bool clientClose = r->header("connection").toLower().contains("close");
                s->write("HTTP/1.1 " + QByteArray::number(reply->status) + " Canned\r\nX-Stub: " + name_ +
                         "\r\nContent-Type: application/json\r\nContent-Length: " +
                         QByteArray::number(reply->body.size()) + (clientClose ? "\r\nConnection: close" : "") +
                         "\r\n\r\n" + (r->method == "HEAD" ? QByteArray() : reply->body));
                if (clientClose) {
                    s->disconnectFromHost();
                    return;
                }
                continue;
            }
            if (!answer(s, *r)) {
                s->disconnectFromHost();
                return;
            }
        }
    }

    // Writes the answer; false when the connection is to be closed afterwards.
    bool answer(QTcpSocket* s, const StubRequest& r)
    {
        const QByteArray body = r.path + r.body;
        const bool head = r.method == "HEAD";
        const bool clientClose = r.header("connection").toLower().contains("close");
        QByteArray out = "HTTP/1.1 200 OK\r\nX-Stub: " + name_ + "\r\n";
        if (r.header("x-want-hop") == "1")
            out += "Connection: X-Secret\r\nX-Secret: 1\r\nKeep-Alive: timeout=5\r\nX-Public: 1\r\n";
        switch (mode_) {
        case StubMode::TrailingBytes:
            s->write(out + "Content-Length: " + QByteArray::number(body.size()) + "\r\n\r\n" + (head ? QByteArray() : body) +
                     "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nstale!");
            return true;
        case StubMode::Echo:
        case StubMode::CloseAfterAnswer:
            out += "Content-Length: " + QByteArray::number(body.size()) + "\r\n";
            if (clientClose)
                out += "Connection: close\r\n";
            out += "\r\n";
            if (!head)
                out += body;
            s->write(out);
            return mode_ == StubMode::Echo && !clientClose;
        case StubMode::ChunkedAnswer:
            out += "Transfer-Encoding: chunked\r\n\r\n";
            if (!head)
                out += chunked(body, 3);
            s->write(out);
            return !clientClose;
        case StubMode::UntilClose:
            out += "Connection: close\r\n\r\n";
            if (!head)
                out += body;
            s->write(out);
            return false;
        case StubMode::DropRequest:
            return false;
        case StubMode::Silent:
            return true;
        case StubMode::Malformed:
            s->write("this is not an HTTP response\r\n\r\n");
            return false;
        case StubMode::Truncated:
            s->write(out + "Content-Length: 1000\r\n\r\n0123456789");
            return false;
        case StubMode::SlowChunks: {
            s->write(out + "Transfer-Encoding: chunked\r\n\r\n");
            auto* timer = new QTimer(s);
            auto sent = std::make_shared<int>(0);
            QObject::connect(timer, &QTimer::timeout, s, [s, timer, sent] {
                if (*sent == kSlowChunkCount) {
                    s->write("0\r\n\r\n");
                    timer->deleteLater();
                    return;
                }
                const QByteArray part = "part" + QByteArray::number((*sent)++) + ";";
                s->write(QByteArray::number(part.size(), 16) + "\r\n" + part + "\r\n");
            });
            timer->start(kSlowChunkIntervalMs);
            return true;
        }
        }
        return false;
    }

    QByteArray name_;
    StubMode mode_;
    QTcpServer* server_ = nullptr;
    QHash<QTcpSocket*, QByteArray> buffers_;
    QHash<QTcpSocket*, int> connectionIds_;
};

StubBackend::StubBackend(const QByteArray& name, StubMode mode)
{
    server_ = new Server(name, mode);
    server_->moveToThread(&thread_);
    QObject::connect(&thread_, &QThread::finished, server_, &QObject::deleteLater);
    thread_.start();
    quint16 port = 0;
    QMetaObject::invokeMethod(server_, [this, &port] { port = server_->listen(); }, Qt::BlockingQueuedConnection);
    port_ = port;
}

StubBackend::~StubBackend()
{
    thread_.quit();
    thread_.wait();
}

int StubBackend::connections() const
{
    QMutexLocker lock(&server_->mutex);
    return server_->connections;
}

int StubBackend::openConnections() const
{
    QMutexLocker lock(&server_->mutex);
    return server_->open;
}

QList<StubRequest> StubBackend::requests() const
{
    QMutexLocker lock(&server_->mutex);
    return server_->requests;
}

void StubBackend::answerPath(const QByteArray& path, int status, const QByteArray& body)
{
    QMutexLocker lock(&server_->mutex);
    server_->canned.insert(path, {status, body});
}

} // namespace dlb::test
