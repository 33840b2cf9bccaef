#pragma once
// TEMPORARY until console/client/ lands: a SteerTransport over the tests' blocking control
// client, answering on the next event-loop turn as a real connection would.

#include "control_client.hpp"
#include "models/steer_controller.hpp"

#include <QJsonDocument>
#include <QTimer>

inline dlb::console::SteerTransport testTransport(const QString& socket, const QByteArray& token)
{
    return [socket, token](const dlb::console::SteerRequest& request,
                           std::function<void(const dlb::console::SteerReply&)> done) {
        dlb::console::SteerReply reply;
        dlb::test::ControlClient client(socket);
        const QByteArray body = request.hasBody ? QJsonDocument(request.body).toJson(QJsonDocument::Compact) : QByteArray();
        const QByteArray extra = request.ifMatch.isEmpty() ? QByteArray() : "If-Match: " + request.ifMatch + "\r\n";
        if (!client.connect()) {
            reply.message = QStringLiteral("cannot connect");
        } else if (auto r = client.request(request.method, request.path.toLatin1(), token, body, extra)) {
            reply.status = r->status;
            reply.json = QJsonDocument::fromJson(r->body).object();
            const QJsonObject error = reply.json.value("error").toObject();
            reply.code = error.value("code").toString();
            reply.message = error.value("message").toString();
            reply.path = error.value("path").toString();
        } else {
            reply.message = QStringLiteral("no answer");
        }
        QTimer::singleShot(0, [reply, done = std::move(done)] { done(reply); });
    };
}
