#include "client/agent_reply.hpp"

#include <QJsonObject>
#include <QTimer>

namespace dlb::console::client {

QString AgentError::text() const
{
    if (code.isEmpty())
        return {};
    return QStringLiteral("%1 (%2)").arg(message, code);
}

AgentReply::AgentReply(QByteArray method, QByteArray path, QObject* parent)
    : QObject(parent), method_(std::move(method)), path_(std::move(path))
{
}

void AgentReply::complete(const HttpHead& head, const QByteArray& body)
{
    head_ = head;
    status_ = head.status;
    rawBody_ = body;
    const bool isJson = head.header("content-type").toLower().startsWith("application/json");
    if (isJson && !body.isEmpty()) {
        QJsonParseError pe;
        json_ = QJsonDocument::fromJson(body, &pe);
        if (pe.error != QJsonParseError::NoError) {
            json_ = {};
            error_ = {QStringLiteral("bad_response"),
                      QStringLiteral("the agent's %1 answer is not valid JSON (%2 at byte %3)")
                          .arg(status_).arg(pe.errorString()).arg(pe.offset),
                      {}};
        }
    }
    if (status_ >= 400 && !error_.isError()) {
        const QJsonObject e = json_.object().value(QLatin1String("error")).toObject();
        const QString code = e.value(QLatin1String("code")).toString();
        if (!code.isEmpty())
            error_ = {code, e.value(QLatin1String("message")).toString(), e.value(QLatin1String("path")).toString()};
        else
            error_ = {QStringLiteral("http_%1").arg(status_),
                      QStringLiteral("the agent answered %1 %2 without an error body")
                          .arg(status_).arg(QString::fromLatin1(head.reason)),
                      {}};
    }
    emitFinished();
}

void AgentReply::fail(QString code, QString message)
{
    error_ = {std::move(code), std::move(message), {}};
    emitFinished();
}

void AgentReply::emitFinished()
{
    if (finished_)
        return;
    finished_ = true;
    // Queued: finished() never comes from inside request() nor from a socket's own signal.
    QTimer::singleShot(0, this, [this] {
        emit finished(status_, json_, error_);
        deleteLater();
    });
}

} // namespace dlb::console::client
