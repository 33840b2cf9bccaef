#include "agent/proxy/prober.hpp"

#include "agent/net/listener.hpp"
#include "agent/proxy/log.hpp"
#include "agent/proxy/pool_runtime.hpp"
#include "agent/proxy/worker.hpp"

#include "agent/balance/load_report.hpp"

#include <algorithm>

namespace dlb::agent::proxy {

struct Prober::Conn final : net::TcpConn::Handler, http::ParserHandler {
    Conn(Prober& owner, int replica_index)
        : prober(owner), replica(replica_index), tcp(owner.loop_, this),
          parser(http::Kind::Response, *this, http::ParserLimits{kMaxProbeHeadBytes, kMaxProbeHeaders, kMaxProbeBodyBytes})
    {
    }

    void send(uint64_t now_ns)
    {
        busy = true;
        sent_ns = now_ns;
        body.clear();
        status = 0;
        parser.reset();
        const auto& spec = prober.pool_.spec();
        std::string& out = tcp.pendingBuffer();
        out.append("GET ");
        out.append(spec.config.probe.path);
        out.append(" HTTP/1.1\r\nHost: ");
        out.append(spec.replicas[static_cast<size_t>(replica)].host_header);
        out.append("\r\nUser-Agent: dlb-agent-probe\r\nAccept: application/json\r\n\r\n");
        tcp.flush();
    }

    void done(Outcome outcome, const balance::ProbeResult& r = {})
    {
        if (!busy)
            return;
        busy = false;
        prober.finished(this, outcome, r);
    }

    void onConnected(int st) override
    {
        if (st != 0) {
            done(isLocalConnectError(st) ? Outcome::Local : Outcome::Unreachable);
            tcp.close();
            return;
        }
        connected = true;
        tcp.holdWrites(false);
        tcp.startReading();
    }
    void onRead(const char* data, size_t len) override
    {
        if (!busy) {
            tcp.close();
            return;
        }
        if (parser.execute(data, len).status == http::Parser::Status::Error) {
            // A success too large to be a probe answer is a page served for every path (an
            // index page): the replica answers, just not to probes. Anything else malformed fails.
            const bool page = parser.error() == http::ParseError::BodyTooLarge && status >= 200 && status < 300;
            done(page ? Outcome::NoEndpoint : Outcome::Failed);
            tcp.close();
        }
    }
    void onEof() override
    {
        // A probe answer without a length ends with the connection (RFC 9112 6.3): finish()
        // completes it through onMessageComplete(). Only one cut short, or none, failed.
        if (busy && parser.finish() == http::Parser::Status::Ok && !busy)
            return;
        done(Outcome::Failed);
        tcp.close();
    }
    void onReadError(int) override
    {
        done(Outcome::Failed);
        tcp.close();
    }
    void onWriteError(int) override
    {
        done(Outcome::Failed);
        tcp.close();
    }
    void onClosed() override { prober.closed(this); }

    HeadersAction onHeaders(const http::Message& msg) override
    {
        status = msg.status();
        keep_alive = msg.keepAlive();
        return HeadersAction::Continue;
    }
    bool onBody(std::string_view data) override
    {
        body.append(data); // bounded by kMaxProbeBodyBytes; the capacity is kept between probes
        return true;
    }
    bool onMessageComplete() override
    {
        // An interim answer (100, 103): the real one follows on this connection (RFC 9110 15.2).
        if (status / 100 == 1 && status != 101)
            return true;
        balance::ProbeResult r;
        Outcome outcome = Outcome::NoEndpoint;
        if (status >= 200 && status < 300)
            outcome = balance::parseProbeAnswer(body, &r) ? Outcome::Answered : Outcome::NoEndpoint;
        else if (status >= 500 || status == 408 || status == 429 || status < 200)
            outcome = Outcome::Failed; // in trouble, or shedding load: its entries go
        // Any other answer (404, 401, 403, a redirect) says the replica is up and the probe path
        // is not a probe endpoint here: balance it on this worker's measurements. Counting it as
        // a failed probe kept such a replica out of the pool for good, starved beside replicas
        // that answer probes.
        if (!keep_alive)
            tcp.close();
        done(outcome, r);
        return false;
    }

    Prober& prober;
    int replica;
    net::TcpConn tcp;
    http::Parser parser;
    std::string body;
    uint64_t sent_ns = 0;
    int status = 0;
    bool busy = false;
    bool connected = false;
    bool keep_alive = true;
};

Prober::Prober(uv_loop_t* loop, PoolRuntime& pool) : loop_(loop), pool_(pool)
{
    conns_.resize(pool.spec().replicas.size());
    no_probe_endpoint_until_ns_.assign(pool.spec().replicas.size(), 0);
    timeouts_over_answers_.assign(pool.spec().replicas.size(), 0);
    hung_verdicts_.assign(pool.spec().replicas.size(), 0);
}

void Prober::answerOwnMeasurement(int replica, uint64_t now_ns)
{
    balance::ProbeResult r;
    if (pool_.ownMeasurement(replica, &r))
        pool_.balancer().onProbeResult(replica, r, now_ns);
}

// Connections still open here belong to a loop that is being torn down; closeAll() ran.
Prober::~Prober() = default;

void Prober::sendProbe(int replica)
{
    if (closing_ || replica < 0 || static_cast<size_t>(replica) >= conns_.size())
        return;
    const uint64_t now = Worker::nowNs();
    auto& list = conns_[static_cast<size_t>(replica)];

    if (now < no_probe_endpoint_until_ns_[static_cast<size_t>(replica)]) {
        // No probe endpoint: stand in with what this worker measures itself.
        answerOwnMeasurement(replica, now);
        return;
    }
    if (!pool_.states()[static_cast<size_t>(replica)].usable)
        return; // sitting out: its probes would only fail again
    for (Conn* c : list) {
        if (!c->busy && c->connected && !c->tcp.closing()) {
            pool_.countProbe(replica);
            c->send(now);
            return;
        }
    }
    if (list.size() >= kMaxProbeConnsPerReplica)
        return; // all busy: drop this probe rather than pile up
    auto* c = new Conn(*this, replica);
    list.push_back(c);
    c->tcp.holdWrites(true);
    if (pool_.secure(c->tcp, replica) != 0 || c->tcp.connect(pool_.replicaAddr(replica)) != 0) {
        // Failing before a packet left (no memory for TLS, out of descriptors or ports) is this
        // process's trouble: libuv reports a refused connection through the callback, not here.
        c->busy = true;
        c->done(Outcome::Local);
        c->tcp.close();
        return;
    }
    pool_.countProbe(replica);
    c->send(now);
}

void Prober::finished(Conn* c, Outcome outcome, const balance::ProbeResult& result)
{
    const uint64_t now = Worker::nowNs();
    if (closing_)
        return;
    const int replica = c->replica;
    const auto i = static_cast<size_t>(replica);

    switch (outcome) {
    case Outcome::Answered:
        no_probe_endpoint_until_ns_[i] = 0;
        // One answer takes back one timeout, not all: an endpoint that answered one probe in 8
        // (or 1 in 4) never had the verdict's count of timeouts in a row, got no verdict, and its
        // timeouts held the pool's probe rate down (18 to 37 probes in 40 s at 100 requests/s).
        if (timeouts_over_answers_[i] > 0)
            --timeouts_over_answers_[i];
        if (timeouts_over_answers_[i] == 0)
            hung_verdicts_[i] = 0; // answered its way off probation
        pool_.reportedRif(replica, result.rif, now);
        // A round trip that spans a stall of this worker measures the stall, not the replica:
        // an agent stopped for 100 ms with a probe out read its answer 100 ms late, a sample of
        // 100 requests' worth at 1 ms requests, and the cost it left cut the probe rate to a
        // hundredth for as long as the few probes it still allowed took to wash it out
        // (tst_attack_s13::agentFrozenWithAProbeOutKeepsItsProbeRate). The answer itself is news.
        // Every answer one stall held is left out (tst_attack_s15: one 100 ms stop with probes
        // out to 2-4 replicas, the second answer counted, cut the rate from 3 to 0.07-0.5). But
        // never the answers of two stalls in a row, as for timeouts: a loop that stalls between
        // every probe's send and its answer (stopped 25 ms, running 12) marked every answer, and
        // the cost of probes that took a request's slot, even 40 ms ones, went unmeasured
        // (tst_attack_s14b). The first answer after each such stall then measures the stall with
        // the replica: a cost too high, the safe side. "In a row" is within a probe timeout and a
        // tick: a stall after that left the probes sent since time to be answered or timed out,
        // so they measured the cost (tst_attack_s16: two stops 300 ms apart, every probe between
        // them failed, and the second stop's 100 ms passed as the cost, rate 3 to 0.01).
        if (now > c->sent_ns) {
            const uint64_t stall = stallSince(c->sent_ns, now);
            const uint64_t in_a_row_ns =
                (uint64_t{pool_.spec().config.probe.timeout_ms} + kTickMs) * 1'000'000ULL;
            const bool follows_skipped_stall = skipped_for_stall_ != 0 && skipped_for_stall_ != stall &&
                                               stall < skipped_at_ns_ + in_a_row_ns;
            const bool skip = stall != 0 && !follows_skipped_stall;
            skipped_for_stall_ = skip ? stall : 0;
            if (skip)
                skipped_at_ns_ = now;
            pool_.balancer().onProbeRoundTrip(
                replica, skip ? balance::kRoundTripUnknown : static_cast<double>(now - c->sent_ns) / 1e6, false, now);
        }
        pool_.balancer().onProbeResult(replica, result, now);
        return;
    case Outcome::NoEndpoint:
        // The replica answers, just not to probes: balance it on our own measurements, and ask
        // again after a while.
        no_probe_endpoint_until_ns_[i] = now + kNoProbeEndpointRetryNs;
        endProbation(i);
        answerOwnMeasurement(replica, now);
        return;
    case Outcome::Local:
        pool_.countProbeFailed(replica);
        pool_.worker().logError(std::string("cannot open a probe connection (out of descriptors or local ports?); ") +
                                net::kRaiseOpenFileLimit);
        return;
    case Outcome::Unreachable:
    case Outcome::Failed:
        break;
    }
    // A failed or slow probe is not evidence that the replica is down: a busy replica answers
    // probes late, and benching it for that moved its load onto the others until none was left
    // (issue 7). Its entries leave the pool (the seed's table 2), nothing more. A refused
    // connection is passive health, as it is for requests (and the panic threshold bounds it).
    pool_.countProbeFailed(replica);
    pool_.balancer().onProbeFailed(replica, now);
    if (outcome == Outcome::Unreachable) {
        pool_.sitOut(replica, now);
        // Whatever hung is gone with the process that refused: the one that comes back starts
        // off probation (tst_attack_s12: a restarted replica's one cold-start timeout renewed
        // the old process's verdict).
        endProbation(i);
    }
}

void Prober::endProbation(size_t i)
{
    timeouts_over_answers_[i] = 0;
    hung_verdicts_[i] = 0;
}

void Prober::onTimedOut(int replica, uint64_t now_ns)
{
    const auto i = static_cast<size_t>(replica);
    if (++timeouts_over_answers_[i] < kProbeTimeoutsForHungVerdict)
        return;
    // On probation when the retry comes: one more timeout than answers renews the verdict. A
    // fresh count let an endpoint that still hung take the whole count of probes (then 8) per
    // retry and worker, each a request's worth to a replica already past its capacity
    // (A3-2x-130: 134 pings in 13 s of overload, 93 on probation). Each answer takes one back:
    // an endpoint that answers again is off probation after kProbeTimeoutsForHungVerdict - 1
    // answers.
    timeouts_over_answers_[i] = kProbeTimeoutsForHungVerdict - 1;
    no_probe_endpoint_until_ns_[i] = now_ns + kHungProbeEndpointRetryNs;
    pool_.balancer().onProbeEndpointHung(replica, now_ns);
    // A notice, not an error line, which a second's other errors would hide (Worker::logError):
    // the verdict in full, then its renewals at the 1st, 2nd, 4th, 8th ... (a probe endpoint
    // that hangs for good renews every 10 s: 8,640 lines a day per replica and worker, had each
    // been logged).
    const uint32_t renewal = hung_verdicts_[i]++;
    const std::string who = "worker " + std::to_string(pool_.worker().index()) + ", pool " + pool_.spec().config.name +
                            ", replica " + pool_.spec().replicas[i].id + ": ";
    if (renewal > 0) {
        if ((renewal & (renewal - 1)) == 0)
            logLine(who + "its probe path still hangs (the probe after " +
                    std::to_string(kHungProbeEndpointRetryS) + " s timed out too; renewal " +
                    std::to_string(renewal) + ", the next line at renewal " + std::to_string(2 * renewal) +
                    "); balanced on this worker's own measurements for " +
                    std::to_string(kHungProbeEndpointRetryS) + " s more");
        return;
    }
    logLine(who + std::to_string(kProbeTimeoutsForHungVerdict) +
            " more probes timed out than were answered (probe.timeout_ms " + std::to_string(pool_.spec().config.probe.timeout_ms) +
            "); balanced on this worker's own measurements for " +
            std::to_string(kHungProbeEndpointRetryS) +
            " s, then probed again. If its probe path waits behind requests, answer it from a counter or "
            "send load reports (docs/load-reports.md)");
}

void Prober::closed(Conn* c)
{
    auto& list = conns_[static_cast<size_t>(c->replica)];
    list.erase(std::remove(list.begin(), list.end(), c), list.end());
    delete c;
}

static_assert(kLateTickNs >= 2 * kTickMs * 1'000'000ULL, "a tick one interval late is not a stall");

void Prober::tick(uint64_t now_ns)
{
    // A tick that comes late follows a loop that did not run (the process stopped or
    // descheduled, a long iteration): answers that arrived meanwhile sit unread in their
    // sockets, and libuv runs timers before the poll that would read them. Such a tick judges
    // nothing; the next one does, after a poll. Never two ticks in a row, so a loop that is late
    // every time still times its probes out. (tst_attack_s13: an agent stopped for 100 ms six
    // times timed out 3 probes answered in 35 ms and judged their endpoint hung.)
    const bool late = lateSinceLastTick(now_ns);
    // A stall is a late tick after one on time. A loop late on every tick is a slow worker, not
    // a stalled one: its probes' round trips are all it has to measure their cost by (skipping
    // them all left the cost unknown and the rate at probe_rate, tst_attack_s14).
    if (late && !last_tick_late_) {
        stall_ended_ns_ = now_ns;
        stall_began_ns_ = last_tick_ns_;
    }
    last_tick_late_ = late;
    last_tick_ns_ = now_ns;
    if (late && !deferred_tick_) {
        deferred_tick_ = true;
        return;
    }
    deferred_tick_ = false;
    const uint64_t timeout_ns = uint64_t{pool_.spec().config.probe.timeout_ms} * 1'000'000ULL;
    for (auto& list : conns_) {
        for (Conn* c : list) {
            // now_ns was read before this tick's idle probes went out, so a probe can be younger
            // than now_ns: unsigned, `now_ns - sent_ns` then wrapped and timed every idle probe
            // out at once (and, before issue 7, three of them benched a healthy replica).
            if (c->busy && now_ns > c->sent_ns && now_ns - c->sent_ns > timeout_ns) {
                // Closing does not take the probe back: a replica that queues probes like
                // requests serves it all the same. Its cost is at least this long.
                pool_.balancer().onProbeRoundTrip(c->replica, static_cast<double>(now_ns - c->sent_ns) / 1e6, true,
                                                 now_ns);
                skipped_for_stall_ = 0;
                const int replica = c->replica;
                c->done(Outcome::Failed);
                c->tcp.close(); // a late answer must not be read as the next probe's
                onTimedOut(replica, now_ns);
            }
        }
    }
}

uint64_t Prober::stallSince(uint64_t sent_ns, uint64_t now_ns) const
{
    // One the ticks have not seen yet (the loop reads the answers that came in meanwhile before
    // it runs the next timers), or one seen by a late tick after the probe left. Both name it
    // by the last on-time tick before it, so the answers read before and after its late tick
    // are one stall's.
    if (!last_tick_late_ && lateSinceLastTick(now_ns))
        return last_tick_ns_;
    return stall_ended_ns_ > sent_ns ? stall_began_ns_ : 0;
}

bool Prober::lateSinceLastTick(uint64_t now_ns) const
{
    return last_tick_ns_ != 0 && now_ns > last_tick_ns_ && now_ns - last_tick_ns_ > kLateTickNs;
}

void Prober::closeAll()
{
    closing_ = true;
    for (auto& list : conns_)
        for (Conn* c : list)
            c->tcp.close();
}

size_t Prober::openConnections() const
{
    size_t n = 0;
    for (const auto& list : conns_)
        n += list.size();
    return n;
}

} // namespace dlb::agent::proxy
