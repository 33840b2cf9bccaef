#include "models/steer_agent_transport.hpp"

#include "client/agent_connection.hpp"

#include <QJsonDocument>
#include <QPointer>

namespace dlb::console {

SteerTransport agentTransport(client::AgentConnection* connection)
{
    return [conn = QPointer<client::AgentConnection>(connection)](const SteerRequest& request,
                                                                   std::function<void(const SteerReply&)> done) {
        if (!conn) {
            SteerReply reply;
            reply.message = QObject::tr("the agent's connection is closed: choose the agent again on the Agents page");
            done(reply);
            return;
        }
        client::AgentReply* r = conn->request(request.method, request.path,
                                              request.hasBody ? QJsonDocument(request.body) : QJsonDocument(),
                                              request.ifMatch);
        QObject::connect(r, &client::AgentReply::finished, r,
                         [done = std::move(done)](int status, const QJsonDocument& body, const client::AgentError& error) {
                             SteerReply reply;
                             reply.status = status;
                             reply.json = body.object();
                             reply.code = error.code;
                             reply.message = status == 0 ? error.text() : error.message;
                             reply.path = error.path;
                             done(reply);
                         });
    };
}

} // namespace dlb::console
