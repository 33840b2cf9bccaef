#pragma once
// The steering controller's transport over an agent connection (console/client/): each request
// goes out through AgentConnection::request(), each AgentReply comes back as a SteerReply.

#include "models/steer_controller.hpp"

namespace dlb::console {

namespace client {
class AgentConnection;
}

// The connection is not owned; requests made after it is gone fail with a message saying so.
SteerTransport agentTransport(client::AgentConnection* connection);

} // namespace dlb::console
