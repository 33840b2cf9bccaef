#include "http_client.hpp"

#include <QDeadlineTimer>
#include <QHostAddress>

#include <algorithm>

namespace dlb::test {

QByteArray headerValue(const HeaderList& headers, const QByteArray& name, bool* found)
{
    for (const auto& h : headers) {
        if (h.first.compare(name, Qt::CaseInsensitive) == 0) {
            if (found)
                *found = true;
            return h.second;
        }
    }
    if (found)
        *found = false;
    return {};
}

HeaderList parseHeaderLines(const QList<QByteArray>& lines)
{
    HeaderList out;
    for (const QByteArray& line : lines) {
        const qsizetype colon = line.indexOf(':');
        if (colon <= 0)
            continue;
        out.append({line.left(colon), line.mid(colon + 1).trimmed()});
    }
    return out;
}

QByteArray chunked(const QByteArray& body, qsizetype chunk)
{
    QByteArray out;
    out.reserve(body.size() + body.size() / chunk * 12 + 16);
    for (qsizetype off = 0; off < body.size(); off += chunk) {
        const qsizetype n = std::min(chunk, body.size() - off);
        out += QByteArray::number(n, 16) + "\r\n";
        out += QByteArrayView(body).sliced(off, n);
        out += "\r\n";
    }
    out += "0\r\n\r\n";
    return out;
}

QByteArray Response::header(const QByteArray& name) const
{
    return headerValue(headers, name, nullptr);
}

bool Response::hasHeader(const QByteArray& name) const
{
    bool found = false;
    headerValue(headers, name, &found);
    return found;
}

bool HttpClient::connectTo(quint16 port, int timeoutMs)
{
    buf_.clear();
    eof_ = false;
    sock_.connectToHost(QHostAddress::LocalHost, port);
    if (!sock_.waitForConnected(timeoutMs))
        return fail(QStringLiteral("connect to port %1: %2").arg(port).arg(sock_.errorString()));
    return true;
}

bool HttpClient::send(const QByteArray& bytes, int timeoutMs)
{
    QDeadlineTimer deadline(timeoutMs);
    if (sock_.write(bytes) != bytes.size())
        return fail(QStringLiteral("write: ") + sock_.errorString());
    while (sock_.bytesToWrite() > 0) {
        if (!sock_.waitForBytesWritten(static_cast<int>(deadline.remainingTime())))
            return fail(QStringLiteral("write did not complete: ") + sock_.errorString());
    }
    return true;
}

bool HttpClient::fail(const QString& why)
{
    error_ = why;
    return false;
}

bool HttpClient::fill(int timeoutMs)
{
    if (sock_.bytesAvailable() > 0) {
        buf_ += sock_.readAll();
        return true;
    }
    if (eof_)
        return false;
    if (sock_.state() != QAbstractSocket::ConnectedState) {
        eof_ = true;
        return false;
    }
    if (!sock_.waitForReadyRead(std::max(timeoutMs, 0))) {
        if (sock_.bytesAvailable() > 0) {
            buf_ += sock_.readAll();
            return true;
        }
        if (sock_.state() != QAbstractSocket::ConnectedState)
            eof_ = true;
        return false;
    }
    buf_ += sock_.readAll();
    return true;
}

bool HttpClient::readLine(QByteArray* line, int timeoutMs)
{
    QDeadlineTimer deadline(timeoutMs);
    for (;;) {
        const qsizetype eol = buf_.indexOf("\r\n");
        if (eol >= 0) {
            *line = buf_.left(eol);
            buf_.remove(0, eol + 2);
            return true;
        }
        if (!fill(static_cast<int>(deadline.remainingTime())))
            return fail(eof_ ? QStringLiteral("connection closed in the middle of a line (got \"%1\")")
                                   .arg(QString::fromLatin1(buf_.left(200)))
                             : QStringLiteral("timed out waiting for a line"));
    }
}

bool HttpClient::readExactly(qsizetype n, QByteArray* out, int timeoutMs)
{
    QDeadlineTimer deadline(timeoutMs);
    while (buf_.size() < n) {
        if (!fill(static_cast<int>(deadline.remainingTime())))
            return fail(QStringLiteral("body cut short: %1 of %2 bytes (%3)")
                            .arg(buf_.size())
                            .arg(n)
                            .arg(eof_ ? QStringLiteral("connection closed") : QStringLiteral("timed out")));
    }
    *out += buf_.left(n);
    buf_.remove(0, n);
    return true;
}

std::optional<Response> HttpClient::read(bool head, int timeoutMs)
{
    QDeadlineTimer deadline(timeoutMs);
    auto left = [&deadline] { return static_cast<int>(deadline.remainingTime()); };
    Response r;
    QByteArray line;
    if (!readLine(&line, left()))
        return std::nullopt;
    const QList<QByteArray> parts = line.split(' ');
    if (parts.size() < 2 || !parts[0].startsWith("HTTP/1.")) {
        fail(QStringLiteral("bad status line \"%1\"").arg(QString::fromLatin1(line)));
        return std::nullopt;
    }
    r.version = parts[0];
    r.status = parts[1].toInt();
    r.reason = line.mid(parts[0].size() + parts[1].size() + 2);
    QList<QByteArray> lines;
    for (;;) {
        if (!readLine(&line, left()))
            return std::nullopt;
        if (line.isEmpty())
            break;
        lines.append(line);
    }
    r.headers = parseHeaderLines(lines);
    if (head || r.status < 200 || r.status == 204 || r.status == 304)
        return r;
    if (r.header("transfer-encoding").toLower().contains("chunked")) {
        r.chunked = true;
        for (;;) {
            if (!readLine(&line, left()))
                return std::nullopt;
            if (const qsizetype semi = line.indexOf(';'); semi >= 0)
                line.truncate(semi);
            bool ok = false;
            const qsizetype size = line.trimmed().toLongLong(&ok, 16);
            if (!ok) {
                fail(QStringLiteral("bad chunk size line \"%1\"").arg(QString::fromLatin1(line)));
                return std::nullopt;
            }
            if (size == 0) {
                do {
                    if (!readLine(&line, left()))
                        return std::nullopt;
                } while (!line.isEmpty());
                return r;
            }
            QByteArray crlf;
            if (!readExactly(size, &r.body, left()) || !readExactly(2, &crlf, left()))
                return std::nullopt;
            if (crlf != "\r\n") {
                fail(QStringLiteral("chunk not followed by CRLF"));
                return std::nullopt;
            }
        }
    }
    if (r.hasHeader("content-length")) {
        if (!readExactly(r.header("content-length").toLongLong(), &r.body, left()))
            return std::nullopt;
        return r;
    }
    // No length: the body ends with the connection.
    while (fill(left())) {
    }
    if (!eof_) {
        fail(QStringLiteral("timed out reading a body delimited by the connection's end"));
        return std::nullopt;
    }
    r.body = buf_;
    buf_.clear();
    return r;
}

bool HttpClient::waitForClose(int timeoutMs)
{
    QDeadlineTimer deadline(timeoutMs);
    for (;;) {
        if (!buf_.isEmpty())
            return fail(QStringLiteral("unexpected bytes instead of the end: \"%1\"").arg(QString::fromLatin1(buf_.left(200))));
        if (eof_)
            return true;
        if (!fill(static_cast<int>(deadline.remainingTime()))) {
            if (eof_)
                return true;
            return fail(QStringLiteral("the connection stayed open for %1 ms").arg(timeoutMs));
        }
    }
}

std::optional<Response> fetch(quint16 port, const QByteArray& rawRequest, bool head, QString* why)
{
    HttpClient c;
    std::optional<Response> r;
    if (c.connectTo(port) && c.send(rawRequest))
        r = c.read(head);
    if (!r && why)
        *why = c.error();
    return r;
}

QByteArray getRequest(const QByteArray& path, const QByteArray& extraHeaders)
{
    return "GET " + path + " HTTP/1.1\r\nHost: test.local\r\n" + extraHeaders + "\r\n";
}

} // namespace dlb::test
