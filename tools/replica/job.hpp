#pragma once
// One request a connection has received, from its head to its answer.
//
// Ownership: the Connection that received it owns it while it is attached (conn != nullptr).
// A connection that closes while a job is still queued or in service detaches it (conn =
// nullptr): the simulated work goes on, as a real server's would, and the Service frees the job
// when it finishes. Threading: the replica's single loop thread.

#include <cstdint>
#include <string>
#include <string_view>

namespace dlb::tools::replica {

class Connection;

struct Job {
    enum class Kind : uint8_t {
        Work,   // queues for a service slot; 200 with the name or the echoed body
        Ready,  // answered without service: probe, health check, protocol error
    };

    // What the request asked for. With --probes-queue a probe or health check is a Work job
    // (it queues and takes a service time) whose answer is the probe's or the check's.
    enum class Asks : uint8_t { Work, Ping, Health };

    Connection* conn = nullptr;
    Kind kind = Kind::Work;
    Asks asks = Asks::Work;
    bool done = false;        // the answer can be written once every earlier answer is out
    bool head = false;        // HEAD: headers only
    bool keep_alive = true;   // false: Connection: close, then the connection closes
    bool http10 = false;      // an HTTP/1.0 client keeps the connection only if told so
    int status = 200;
    uint32_t rif_at_arrival = 0;
    uint64_t received_ns = 0;
    uint64_t extra_service_ns = 0;    // added to the drawn service time (--ping-delay-ms)
    std::string body;                 // Work: request body to echo; Ready: the answer's body
    std::string_view content_type = "text/plain";

    // Prepares a job for the next request on the same connection (keeps the body's capacity
    // unless it is large, so pipelined small requests reuse it without allocating).
    void reset();
};

} // namespace dlb::tools::replica
