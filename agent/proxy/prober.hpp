#pragma once
// Sends the probes a balancer asks for (Prequal), asynchronously and off the request path, over
// keep-alive connections of its own, and reports each answer back to the balancer. One Prober
// per PoolRuntime, i.e. per worker: each worker is one Prequal client.

#include "agent/balance/balancer.hpp"
#include "agent/http/parser.hpp"
#include "agent/net/tcp_conn.hpp"

#include <uv.h>

#include <memory>
#include <string>
#include <vector>

namespace dlb::agent::proxy {

class PoolRuntime;

// How many probe connections one worker keeps to one replica at most; a probe asked for while
// all of them are busy is dropped (probing must never become the load).
inline constexpr size_t kMaxProbeConnsPerReplica = 4;
// A probe answer larger than this is not a probe answer.
inline constexpr size_t kMaxProbeBodyBytes = 4096;
// A probe answer's head: a status line and a handful of fields.
inline constexpr uint32_t kMaxProbeHeadBytes = 4096;
inline constexpr uint32_t kMaxProbeHeaders = 32;
// Probes timing out this many times in a row take the replica out for a while, as a refused
// connection does at once (passive health; the active health check decides for longer).
inline constexpr uint32_t kProbeFailuresForDown = 3;

class Prober : public balance::ProbeSink {
public:
    Prober(uv_loop_t* loop, PoolRuntime& pool);
    ~Prober() override;
    Prober(const Prober&) = delete;
    Prober& operator=(const Prober&) = delete;

    void sendProbe(int replica) override;
    // Times out probes past probe.timeout_ms.
    void tick(uint64_t now_ns);
    void closeAll();
    size_t openConnections() const;

    struct Conn;
    enum class Outcome {
        Answered,    // a probe answer
        NoEndpoint,  // the replica answers, but not with a probe (404, or not our JSON)
        Unreachable, // connection refused or unreachable
        Failed,      // timeout, reset, 5xx, malformed HTTP
    };

private:
    friend struct Conn;
    void finished(Conn* c, Outcome outcome, const balance::ProbeResult& result);
    void closed(Conn* c);

    uv_loop_t* loop_;
    PoolRuntime& pool_;
    std::vector<std::vector<Conn*>> conns_; // per replica
    bool closing_ = false;
    // Replicas whose probe path answers 404: balanced on the worker's own measurements.
    std::vector<bool> no_probe_endpoint_;
    std::vector<uint32_t> consecutive_failures_;
};

// Parses a probe answer: {"rif": N, "latency_ms": X} or the seed's
// {"requestInFlight": N, "latency": X, "serverName": "..."}. False when malformed.
bool parseProbeAnswer(std::string_view body, balance::ProbeResult* out);

} // namespace dlb::agent::proxy
