#include "agent/proxy/health_checker.hpp"

#include "agent/http/parser.hpp"
#include "agent/net/tcp_conn.hpp"

namespace dlb::agent::proxy {

namespace {
// A health-check answer is only looked at for its status: the body is read and dropped, the
// head bounded like any other.
constexpr http::ParserLimits kHealthAnswerLimits{16384, 100, 0};
} // namespace

// One replica's checker: a timer, and at most one check connection at a time. It frees itself
// once stopped and every handle it owns has closed.
struct HealthChecker::Target final : net::TcpConn::Handler, http::ParserHandler {
    Target(HealthChecker& o, std::shared_ptr<const PoolSpec> p, size_t i)
        : owner(o), pool(std::move(p)), index(i), parser(http::Kind::Response, *this, kHealthAnswerLimits)
    {
        uv_timer_init(owner.loop_, &timer);
        timer.data = this;
        uv_timer_init(owner.loop_, &timeout);
        timeout.data = this;
    }

    const ReplicaSpec& replica() const { return pool->replicas[index]; }
    const common::HealthCheckConfig& cfg() const { return pool->config.health_check; }

    using Waiter = std::function<void(const CheckResult&)>;

    // Periodic checks: always in an enabled pool; in a disabled one only until a pending
    // replica passes its first.
    void start()
    {
        if (cfg().enabled || replica().health->pending.load())
            uv_timer_start(&timer, &Target::onTimer, 0, cfg().interval_ms);
    }

    void checkNow(Waiter w)
    {
        waiters.push_back(std::move(w));
        if (conn && !finished)
            return; // the check under way answers
        if (conn)
            check_requested = true; // the last one's connection is closing: onClosed() starts it
        else
            check();
    }

    void notify(bool ok, const std::string& why)
    {
        auto list = std::move(waiters);
        waiters.clear();
        for (auto& w : list)
            w(CheckResult{replica().id, ok, status, ok ? std::string() : why});
    }

    static void onTimer(uv_timer_t* t)
    {
        auto* self = static_cast<Target*>(t->data);
        if (!self->conn && !self->stopped)
            self->check();
    }

    void check()
    {
        conn = std::make_unique<net::TcpConn>(owner.loop_, this);
        ++open;
        parser.reset();
        status = 0;
        finished = false;
        conn->holdWrites(true);
        std::string& out = conn->pendingBuffer();
        out.append("GET ").append(cfg().path).append(" HTTP/1.1\r\nHost: ").append(replica().host_header);
        out.append("\r\nUser-Agent: dlb-agent-health\r\nConnection: close\r\n\r\n");
        // Both failures are local (no memory for TLS, no descriptor or port): no verdict.
        int rc = pool->secure(*conn, index, nullptr);
        if (rc == 0)
            rc = conn->connect(replica().addr.get());
        if (rc != 0) {
            skip(rc);
            return;
        }
        local_trouble = false;
        uv_timer_start(&timeout, &Target::onTimeout, cfg().timeout_ms, 0);
    }

    // A connect that fails before a packet left is this process's trouble (out of descriptors,
    // no local port), not the replica's: no verdict either way, the next interval tries again.
    // Said once per streak, not once per interval.
    void skip(int rc)
    {
        finished = true;
        conn->close();
        notify(false, std::string("not run: ") + uv_strerror(rc) + " (a local failure)");
        if (!local_trouble)
            owner.log_("health check of replica " + replica().id + " of pool " + pool->config.name + " not run: " +
                       uv_strerror(rc) + " (" + uv_err_name(rc) + "), a local failure; its state stays " +
                       (replica().health->healthy.load() ? "healthy" : "down") + " until a check can run");
        local_trouble = true;
    }

    static void onTimeout(uv_timer_t* t)
    {
        static_cast<Target*>(t->data)->result(false, "no answer within health_check.timeout_ms");
    }

    void result(bool ok, const std::string& why)
    {
        if (finished)
            return;
        finished = true;
        uv_timer_stop(&timeout);
        if (conn)
            conn->close();
        notify(ok, why);
        ReplicaHealth& h = *replica().health;
        h.last_status.store(status, std::memory_order_relaxed);
        if (ok && h.pending.load()) {
            // A replica added at runtime takes traffic from its first passing check.
            h.healthy.store(true, std::memory_order_relaxed);
            h.successes.store(1, std::memory_order_relaxed);
            h.failures.store(0, std::memory_order_relaxed);
            h.pending.store(false, std::memory_order_release);
            owner.log_("replica " + replica().id + " of pool " + pool->config.name +
                       " passed its first health check; it takes traffic now");
            if (!cfg().enabled)
                uv_timer_stop(&timer);
            return;
        }
        // Checks asked for in a pool whose health checks are off report, and decide nothing.
        if (!cfg().enabled)
            return;
        if (ok) {
            h.failures.store(0, std::memory_order_relaxed);
            const uint32_t s = h.successes.fetch_add(1, std::memory_order_relaxed) + 1;
            if (!h.healthy.load() && s >= cfg().rise) {
                h.healthy.store(true, std::memory_order_relaxed);
                owner.log_("replica " + replica().id + " of pool " + pool->config.name + " is healthy again");
            }
        } else {
            h.successes.store(0, std::memory_order_relaxed);
            const uint32_t f = h.failures.fetch_add(1, std::memory_order_relaxed) + 1;
            if (h.healthy.load() && f >= cfg().fall) {
                h.healthy.store(false, std::memory_order_relaxed);
                owner.log_("replica " + replica().id + " of pool " + pool->config.name + " is down: " + why);
            }
        }
    }

    void onConnected(int st) override
    {
        if (st != 0) {
            result(false, std::string("connect: ") + uv_strerror(st) +
                              (conn->tls() ? " (" + conn->tlsError() + ")" : std::string()));
            return;
        }
        conn->holdWrites(false);
        conn->startReading();
    }
    void onRead(const char* data, size_t len) override
    {
        if (parser.execute(data, len).status == http::Parser::Status::Error)
            result(false, "malformed answer");
    }
    void onEof() override
    {
        // An answer without a length ends with the connection (RFC 9112 6.3, and the usual
        // reply to our "Connection: close"): finish() completes it, and onMessageComplete()
        // gives the verdict. Only an answer cut short, or none, is a failure.
        if (parser.finish() == http::Parser::Status::Ok && finished)
            return;
        result(false, "connection closed before an answer");
    }
    void onReadError(int st) override { result(false, std::string("read: ") + uv_strerror(st)); }
    void onWriteError(int st) override { result(false, std::string("write: ") + uv_strerror(st)); }
    void onClosed() override
    {
        conn.reset();
        if (check_requested && !stopped) {
            check_requested = false;
            check();
        }
        release();
    }
    HeadersAction onHeaders(const http::Message& m) override
    {
        status = m.status();
        return HeadersAction::Continue;
    }
    bool onBody(std::string_view) override { return true; }
    bool onMessageComplete() override
    {
        // An interim answer (100, 103) precedes the real one, which a client must read on
        // (RFC 9110 15.2); 101 would switch protocols, which a health check never asks for.
        if (status / 100 == 1 && status != 101)
            return true;
        result(status >= 200 && status < 400, "answered " + std::to_string(status));
        return false;
    }

    void stop()
    {
        stopped = true;
        status = 0;
        notify(false, "cancelled: the pool's replicas changed or the agent is stopping");
        uv_timer_stop(&timer);
        if (conn && !conn->closing())
            conn->close();
        uv_close(reinterpret_cast<uv_handle_t*>(&timer), &Target::onHandleClosed);
        uv_close(reinterpret_cast<uv_handle_t*>(&timeout), &Target::onHandleClosed);
    }
    static void onHandleClosed(uv_handle_t* h) { static_cast<Target*>(h->data)->release(); }
    void release()
    {
        if (--open == 0 && stopped)
            delete this;
    }

    HealthChecker& owner;
    std::shared_ptr<const PoolSpec> pool;
    size_t index;
    http::Parser parser;
    uv_timer_t timer;
    uv_timer_t timeout;
    std::unique_ptr<net::TcpConn> conn;
    int open = 2; // the two timers; +1 while a check connection is open
    int status = 0;
    bool finished = true;
    bool stopped = false;
    bool local_trouble = false; // the last check could not even start (see skip())
    bool check_requested = false; // checkNow() while the last connection was closing
    std::vector<Waiter> waiters;  // checkNow() callers waiting for the check under way
};

HealthChecker::HealthChecker(uv_loop_t* loop, Logger log) : loop_(loop), log_(std::move(log)) {}

HealthChecker::~HealthChecker() = default;

void HealthChecker::apply(const std::shared_ptr<const Snapshot>& snapshot)
{
    stop();
    pools_.clear();
    for (const auto& pool : snapshot->pools)
        pools_.push_back(pool->config.name);
    for (const auto& pool : snapshot->pools) {
        for (size_t i = 0; i < pool->replicas.size(); ++i) {
            auto* t = new Target(*this, pool, i);
            targets_.push_back(t);
            t->start();
        }
    }
}

void HealthChecker::stop()
{
    for (auto* t : targets_)
        t->stop();
    targets_.clear();
}

bool HealthChecker::checkNow(const std::string& pool, CheckDone done)
{
    std::vector<Target*> mine;
    bool known = false;
    for (auto* t : targets_)
        if (t->pool->config.name == pool)
            mine.push_back(t);
    for (const auto& p : pools_)
        known = known || p == pool;
    if (!known)
        return false;
    if (mine.empty()) {
        done({});
        return true;
    }
    // Shared by the waiters: the results so far, and how many are still out.
    struct Round {
        std::vector<CheckResult> results;
        size_t left = 0;
        CheckDone done;
    };
    auto round = std::make_shared<Round>();
    round->results.resize(mine.size());
    round->left = mine.size();
    round->done = std::move(done);
    for (size_t k = 0; k < mine.size(); ++k)
        mine[k]->checkNow([round, k](const CheckResult& r) {
            round->results[k] = r;
            if (--round->left == 0)
                round->done(std::move(round->results));
        });
    return true;
}

} // namespace dlb::agent::proxy
