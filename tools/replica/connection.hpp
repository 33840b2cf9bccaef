#pragma once
// One client connection of the replica: parses requests (keep-alive, pipelining, HTTP/1.0),
// hands work to the Service and writes the answers back strictly in request order.
//
// Ownership: created by Server on accept, freed only in onClosed() (the TcpConn close
// callback), after detaching the jobs the Service still holds. Threading: the loop's thread.
// Re-entrancy: Service may answer a job from inside submit(), i.e. inside our own parser
// callbacks; answers are then only appended, and flushed once the read has been parsed.

#include "agent/http/parser.hpp"
#include "agent/net/tcp_conn.hpp"
#include "tools/replica/job.hpp"

#include <cstddef>
#include <deque>
#include <string>

namespace dlb::tools::replica {

class Server;

class Connection final : public agent::net::TcpConn::Handler, public agent::http::ParserHandler {
public:
    // Requests parsed ahead of their answers; past this, reading pauses until answers go out.
    static constexpr size_t kMaxPipelinedRequests = 64;
    // Answers buffered for a slow reader before we stop reading its requests.
    static constexpr size_t kMaxBufferedWriteBytes = 1024 * 1024;
    // Largest request body echoed back (a 20 MiB upload through the proxy must fit).
    static constexpr uint64_t kMaxEchoBodyBytes = 64ull * 1024 * 1024;
    static constexpr uint32_t kMaxHeaderBytes = 16384;
    static constexpr uint32_t kMaxHeaders = 100;

    explicit Connection(Server& server);
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
    ~Connection() override;

    int accept(uv_stream_t* listener);
    void close();
    // The Service has finished `job` (attached to this connection).
    void onJobDone(Job& job);

    void onRead(const char* data, size_t len) override;
    void onEof() override;
    void onReadError(int status) override;
    void onWriteError(int status) override;
    void onDrained() override;
    void onClosed() override;

    HeadersAction onHeaders(const agent::http::Message& msg) override;
    bool onBody(std::string_view data) override;
    bool onMessageComplete() override;

private:
    enum class Target : uint8_t { Work, Ping, Health };

    void feed(const char* data, size_t len);
    void resumeStash();
    void parseError();
    void drain();
    void flushOut();
    void updateReading();
    void appendAnswer(const Job& job);
    Job* newJob();
    void recycle(Job* job);

    Server& server_;
    agent::net::TcpConn tcp_;
    agent::http::Parser parser_;
    std::deque<Job*> jobs_;           // received, answers not yet written; in request order
    Job* current_ = nullptr;          // the request whose head and body are arriving
    Target target_ = Target::Work;    // what current_ asks for
    Job* spare_ = nullptr;            // one recycled job: keep-alive traffic allocates nothing
    std::string stash_;               // bytes read past the pipelining limit, parsed later
    bool in_feed_ = false;
    bool stash_waiting_ = false;
    bool no_more_requests_ = false;   // Connection: close, HTTP/1.0, or a malformed request
    bool close_after_write_ = false;
    bool peer_eof_ = false;
    bool closing_ = false;
};

} // namespace dlb::tools::replica
