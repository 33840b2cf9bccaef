#pragma once
// The client side of the integration tests: a raw HTTP/1.1 client that writes requests byte for
// byte as a test gives them (pipelining, chunked bodies, malformed input) and parses answers.

#include "wait.hpp"

#include <QByteArray>
#include <QList>
#include <QPair>
#include <QTcpSocket>

#include <optional>

namespace dlb::test {

// Header fields in the order received; names as written, values trimmed.
using HeaderList = QList<QPair<QByteArray, QByteArray>>;
// The first value of `name` (case-insensitive), empty when absent; `found` says which.
QByteArray headerValue(const HeaderList& headers, const QByteArray& name, bool* found = nullptr);
// "Name: value" lines into fields.
HeaderList parseHeaderLines(const QList<QByteArray>& lines);

// Chunked transfer coding of `body` in chunks of `chunk` bytes, last chunk included.
QByteArray chunked(const QByteArray& body, qsizetype chunk);

struct Response {
    int status = 0;
    QByteArray version;
    QByteArray reason;
    HeaderList headers;
    QByteArray body;
    bool chunked = false;
    QByteArray header(const QByteArray& name) const;
    bool hasHeader(const QByteArray& name) const;
};

// A raw HTTP/1.1 client over a blocking QTcpSocket: requests are written byte for byte as the
// test gives them; responses are parsed (status line, headers, Content-Length, chunked or
// until-close bodies).
class HttpClient {
public:
    bool connectTo(quint16 port, int timeoutMs = kWaitMs);
    // Writes everything and waits until the socket has handed it to the kernel.
    bool send(const QByteArray& bytes, int timeoutMs = 30000);
    // Reads one response (1xx included). `head`: the request was HEAD, so no body follows.
    std::optional<Response> read(bool head = false, int timeoutMs = kWaitMs);
    // True when the server closes the connection within timeoutMs without sending more bytes.
    bool waitForClose(int timeoutMs = kWaitMs);
    bool connected() const { return sock_.state() == QAbstractSocket::ConnectedState; }
    QString error() const { return error_; }
    QByteArray unread() const { return buf_; }
    QTcpSocket& socket() { return sock_; }

private:
    bool fill(int timeoutMs);
    bool readLine(QByteArray* line, int timeoutMs);
    bool readExactly(qsizetype n, QByteArray* out, int timeoutMs);
    bool fail(const QString& why);

    QTcpSocket sock_;
    QByteArray buf_;
    QString error_;
    bool eof_ = false;
};

// One request on a new connection; the connection is dropped after the answer.
std::optional<Response> fetch(quint16 port, const QByteArray& rawRequest, bool head = false, QString* why = nullptr);
// "GET <path> HTTP/1.1" with a Host header and optional extra header lines ("Name: v\r\n").
QByteArray getRequest(const QByteArray& path, const QByteArray& extraHeaders = {});

} // namespace dlb::test
