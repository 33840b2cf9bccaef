#pragma once
// A replica whose every answer is raw bytes written by the test, for replicas that lie in their
// status line or framing, answer probes and health checks in every way HTTP/1.1 allows, or
// vanish and come back. Its sockets live in a thread of its own, so the test thread may block.

#include <QByteArray>
#include <QHash>
#include <QMutex>
#include <QObject>
#include <QThread>

#include <functional>

class QTcpServer;
class QTcpSocket;

namespace dlb::test {

// What a scripted replica sends for one request, and whether it closes the connection after.
struct Answer {
    QByteArray bytes;
    bool close = false;
};

// "HTTP/1.1 200 OK" with Content-Length, keep-alive.
Answer ok(const QByteArray& body, const QByteArray& extraHeaders = {});

// Answers requests without bodies only (GETs: a head ends at the blank line), each with
// `script(path)`; after an answer marked `close` it closes the connection once the bytes are
// written. `script` runs in the replica's own thread (it must only read what it captures).
// Counts the requests per path.
class ScriptedReplica {
public:
    using Script = std::function<Answer(const QByteArray& path)>;

    explicit ScriptedReplica(Script script);
    ~ScriptedReplica();
    ScriptedReplica(const ScriptedReplica&) = delete;
    ScriptedReplica& operator=(const ScriptedReplica&) = delete;

    quint16 port() const { return port_; }
    // Stops listening and drops every connection (a killed process), or listens again on the
    // same port (the process restarted).
    void setListening(bool on);
    int count(const QByteArray& path) const;

private:
    class Server;

    QThread thread_;
    Server* server_ = nullptr;
    quint16 port_ = 0;
};

} // namespace dlb::test
