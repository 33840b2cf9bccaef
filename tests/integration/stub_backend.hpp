#pragma once
// A tiny HTTP/1.1 backend inside the test process, for what dlb-replica does not show: the exact
// request the agent forwarded, how many connections it opened, and replicas that misbehave.
//
// Threads: the stub's sockets live in a thread of its own, so that the test thread may block in
// HttpClient's waitFor*() calls while the stub answers. Its records are read under a lock.

#include "http_client.hpp"

#include <QThread>

namespace dlb::test {

struct StubRequest {
    QByteArray head; // request line and headers, as received, without the blank line
    QByteArray method;
    QByteArray path;
    HeaderList headers;
    QByteArray body; // decoded (chunked coding removed)
    int connection = 0; // which connection it arrived on: 1 for the stub's first accepted, 2 ...
    QByteArray header(const QByteArray& name) const; // first value, case-insensitive name
    bool hasHeader(const QByteArray& name) const;
};

enum class StubMode {
    Echo,            // 200, Content-Length, body = the request's path then its body; keep-alive
    ChunkedAnswer,   // as Echo, but the body in chunked coding, split in 3-byte chunks
    UntilClose,      // as Echo, no length: "Connection: close" and the body ends with the connection
    CloseAfterAnswer,// as Echo (keep-alive implied), then closes the connection anyway
    DropRequest,     // closes the connection as soon as a request head arrives, answering nothing
    Malformed,       // answers bytes that are not HTTP
    Truncated,       // announces Content-Length 1000, sends 10 bytes, closes
    SlowChunks,      // chunked body of kSlowChunkCount chunks, one every kSlowChunkIntervalMs
    Silent,          // reads requests and never answers
    TrailingBytes,   // as Echo, with bytes that belong to no answer after it, in the same write
};

inline constexpr int kSlowChunkCount = 8;
inline constexpr int kSlowChunkIntervalMs = 100;
// The whole body a SlowChunks stub sends: "part0;part1;...".
QByteArray slowChunksBody();

// A tiny HTTP/1.1 backend in its own thread: records each request it receives and answers
// according to its mode, with header "X-Stub: <name>". A request carrying "X-Want-Hop: 1" gets
// hop-by-hop headers in its answer too (Connection: X-Secret, X-Secret, Keep-Alive).
class StubBackend {
public:
    explicit StubBackend(const QByteArray& name, StubMode mode = StubMode::Echo);
    ~StubBackend();
    StubBackend(const StubBackend&) = delete;
    StubBackend& operator=(const StubBackend&) = delete;

    quint16 port() const { return port_; }
    int connections() const;     // accepted so far
    int openConnections() const; // accepted and not yet closed
    QList<StubRequest> requests() const;
    // From now on, requests for exactly `path` get `status` with `body` (Content-Length,
    // keep-alive unless the request asked to close) instead of the mode's answer.
    void answerPath(const QByteArray& path, int status, const QByteArray& body);

    class Server; // the QObject living in the stub's thread

private:
    QThread thread_;
    Server* server_ = nullptr;
    quint16 port_ = 0;
};

} // namespace dlb::test
