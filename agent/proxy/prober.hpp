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
// all of them are busy is dropped (probing must never become the load). One: a worker's probes
// then hold at most one of a replica's connections (its service slots, on servers that serve a
// probe like a request), as one more keep-alive client would, and an answer still outstanding
// is the freshest news there is.
inline constexpr size_t kMaxProbeConnsPerReplica = 1;
// A probe answer larger than this is not a probe answer.
inline constexpr size_t kMaxProbeBodyBytes = 4096;
// A probe answer's head: a status line and a handful of fields.
inline constexpr uint32_t kMaxProbeHeadBytes = 4096;
inline constexpr uint32_t kMaxProbeHeaders = 32;
// After a replica answered its probe path with "not a probe endpoint" (404, not our JSON), this
// worker balances it on its own measurements for this long, then asks again (a deploy may have
// added the endpoint).
inline constexpr uint64_t kNoProbeEndpointRetryNs = 30'000'000'000ULL;
// A replica whose probes time out this many times more than they are answered (each answer takes
// one timeout back) has a probe endpoint that hangs (or answers probes only after requests, or
// rarely in time): this worker balances it on its own measurements for
// kHungProbeEndpointRetryNs, then probes it again on probation (one more timeout than answers
// renews the verdict). Its timed-out probes cost it a request's worth each and, counted in the
// pool-wide probe cost, cut the probe rate for every replica: one such replica of ten took the
// rate from 3 to about 0.2 probes per request. Three, not more: each probe to a probe path that
// waits behind requests takes a request's slot from a replica that is likely past capacity, and
// it is a worker's count, so a pool of n replicas pays n x workers x this before every verdict
// (A3-2x-130, 3 asyncio replicas, 2 workers, 130%: 8 cost about 60 pings in the window, 3 about
// 30, and the failures fell with them, docs/benchmarks.md). Three timeouts of 50 ms more than
// answers on one probe connection is 150 ms of a probe path not answering; what a false verdict
// costs is 10 s of the worker's own measurements, not traffic.
inline constexpr uint32_t kProbeTimeoutsForHungVerdict = 3;
// A worker's tick (kTickMs, 10 ms) this much later than the one before came after a loop that
// did not run: it times no probe out (Prober::tick).
inline constexpr uint64_t kLateTickNs = 20'000'000ULL;
inline constexpr uint64_t kHungProbeEndpointRetryS = 10;
inline constexpr uint64_t kHungProbeEndpointRetryNs = kHungProbeEndpointRetryS * 1'000'000'000ULL;

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
        NoEndpoint,  // the replica answers, but not with a probe (3xx, 4xx, a 2xx not our JSON)
        Unreachable, // connection refused or unreachable: passive health
        Failed,      // timeout, slow answer, reset, 5xx, 408, 429, malformed HTTP: entries dropped only
        Local,       // this process could not send it (EMFILE, no port): nothing against anyone
    };

private:
    friend struct Conn;
    void finished(Conn* c, Outcome outcome, const balance::ProbeResult& result);
    void closed(Conn* c);
    void answerOwnMeasurement(int replica, uint64_t now_ns);
    // A probe to `replica` timed out: the hung-endpoint verdict once they outnumber its answers
    // by kProbeTimeoutsForHungVerdict.
    void onTimedOut(int replica, uint64_t now_ns);
    // Back to a fresh count: the next hung verdict is a first one (its full log line).
    void endProbation(size_t i);
    // The stall of this worker's loop (a tick kLateTickNs late after one on time) that an answer
    // to a probe sent at sent_ns, read at now_ns, sat through, named by the last on-time tick
    // before it (the latest such stall if several); 0: none.
    uint64_t stallSince(uint64_t sent_ns, uint64_t now_ns) const;
    // Whether now_ns is more than kLateTickNs after the last tick: a tick now would be late.
    bool lateSinceLastTick(uint64_t now_ns) const;

    uv_loop_t* loop_;
    PoolRuntime& pool_;
    std::vector<std::vector<Conn*>> conns_; // per replica
    bool closing_ = false;
    // Per replica: until when its probe path counts as no probe endpoint, or as hanging (0: it
    // is one); the worker's own measurements stand in meanwhile.
    std::vector<uint64_t> no_probe_endpoint_until_ns_;
    // Per replica: its probes that timed out, less those answered since (never below 0).
    std::vector<uint32_t> timeouts_over_answers_;
    // Hung verdicts in a row without leaving probation (answers back to 0 timeouts over
    // answers, a refused connection, a 404): 0 for the next verdict's full log line, then the
    // renewal's number.
    std::vector<uint32_t> hung_verdicts_;
    // tick(): the last tick's time, and whether the one before this judged nothing (it came late).
    uint64_t last_tick_ns_ = 0;
    bool deferred_tick_ = false;
    // When the last stall seen ended (a late tick after one on time), and the on-time tick
    // before it (the stall's name, stallSince()); 0: none yet.
    uint64_t stall_ended_ns_ = 0;
    uint64_t stall_began_ns_ = 0;
    bool last_tick_late_ = false;
    // The stall the last probe answer's round trip was left out for, and when; 0: it was not
    // left out (or a timeout came since). All of one stall's answers are left out, never two
    // stalls' in a row (the next beginning within a probe timeout and a tick of that answer).
    uint64_t skipped_for_stall_ = 0;
    uint64_t skipped_at_ns_ = 0;
};

} // namespace dlb::agent::proxy
