#pragma once
// The answer to one control-API request. Made by AgentConnection::request(); finished() comes
// exactly once, always later than request() returned (never inside it), and the reply deletes
// itself after it (deleteLater): connect to finished() and read what it carries.

#include "client/http_response_parser.hpp"

#include <QJsonDocument>
#include <QMetaType>
#include <QObject>
#include <QString>

namespace dlb::console::client {

// The agent's error body ({"error": {"code", "message", "path"}}), or one the client made:
// code "unreachable" (no connection), "connection_lost" (closed before the answer), "timeout",
// "bad_response" (an answer the client refuses: malformed, too large, not the JSON promised),
// "bad_request" (the request could not be sent as given). Empty code: no error.
struct AgentError {
    QString code;
    QString message;
    QString path;
    bool isError() const { return !code.isEmpty(); }
    // "message (code)" for a status line.
    QString text() const;
};

class AgentReply : public QObject {
    Q_OBJECT
public:
    Q_DISABLE_COPY_MOVE(AgentReply)

    bool isFinished() const { return finished_; }
    // 0 when no answer came (see error()).
    int status() const { return status_; }
    const QJsonDocument& json() const { return json_; }
    const AgentError& error() const { return error_; }
    // An answer header (name in lower case): Location of a 201.
    QByteArray header(const QByteArray& lowerName) const { return head_.header(lowerName); }
    // The body as it came (e.g. /metrics text).
    const QByteArray& rawBody() const { return rawBody_; }
    const QByteArray& method() const { return method_; }
    const QByteArray& path() const { return path_; }

signals:
    void finished(int status, const QJsonDocument& body, const dlb::console::client::AgentError& error);

private:
    friend class AgentConnection;
    AgentReply(QByteArray method, QByteArray path, QObject* parent);
    // From a complete answer; the error body is parsed for a 4xx/5xx.
    void complete(const HttpHead& head, const QByteArray& body);
    void fail(QString code, QString message);
    void emitFinished();

    QByteArray method_;
    QByteArray path_;
    HttpHead head_;
    int status_ = 0;
    QJsonDocument json_;
    QByteArray rawBody_;
    AgentError error_;
    bool finished_ = false;
};

} // namespace dlb::console::client

Q_DECLARE_METATYPE(dlb::console::client::AgentError)
