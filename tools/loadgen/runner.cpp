#include "tools/loadgen/runner.hpp"

#include <unistd.h>

#include <algorithm>
#include <csignal>

namespace dlb::tools::loadgen {

namespace {
constexpr double kNanosPerSecond = 1e9;
constexpr uint64_t kNanosPerMilli = 1'000'000;
// The schedule starts a little after start(), so the first requests are not already late.
constexpr uint64_t kStartDelayNs = 5 * kNanosPerMilli;
// How often timeouts are looked for: their precision, not the latency's.
constexpr uint64_t kSweepIntervalMs = 5;
} // namespace

Runner::Runner(uv_loop_t* loop, const Options& options, const agent::net::SockAddr& addr)
    : loop_(loop),
      options_(options),
      addr_(addr),
      timeout_ns_(options.timeout_ms * kNanosPerMilli),
      max_connections_(options.mode == Mode::Open
                           ? options.connections
                           : static_cast<size_t>(std::min<uint64_t>(options.concurrency, options.requests))),
      rng_(options.seed_given ? options.seed : (uv_hrtime() ^ (static_cast<uint64_t>(getpid()) << 32))),
      dispatch_timer_(loop, [this] { onDispatch(); })
{
    request_bytes_ = "GET " + options.target.path + " HTTP/1.1\r\nHost: " + options.target.authority +
                     "\r\nUser-Agent: dlb-loadgen/" DLB_VERSION "\r\nAccept: */*\r\n\r\n";
}

bool Runner::start(std::string* why)
{
    if (!dispatch_timer_.ok(why))
        return false;
    conns_.resize(max_connections_);
    free_slots_.reserve(max_connections_);
    for (size_t i = max_connections_; i-- > 0;)
        free_slots_.push_back(i);
    idle_.reserve(max_connections_);

    uv_timer_init(loop_, &sweep_timer_);
    sweep_timer_.data = this;
    uv_timer_start(&sweep_timer_, &Runner::onSweep, kSweepIntervalMs, kSweepIntervalMs);
    uv_signal_init(loop_, &sigint_);
    uv_signal_init(loop_, &sigterm_);
    sigint_.data = sigterm_.data = this;
    uv_signal_start(&sigint_, &Runner::onSignal, SIGINT);
    uv_signal_start(&sigterm_, &Runner::onSignal, SIGTERM);

    const uint64_t now = uv_hrtime();
    if (options_.mode == Mode::Open) {
        start_ns_ = now + kStartDelayNs;
        measure_start_ns_ = start_ns_ + static_cast<uint64_t>(options_.warmup_s * kNanosPerSecond);
        schedule_end_ns_ = measure_start_ns_ + static_cast<uint64_t>(options_.duration_s * kNanosPerSecond);
        next_due_ = static_cast<double>(start_ns_);
        dispatch_timer_.armAt(start_ns_);
    } else {
        start_ns_ = measure_start_ns_ = now;
        pump();
    }
    return true;
}

void Runner::run()
{
    uv_run(loop_, UV_RUN_DEFAULT);
}

// ---- open-loop schedule ----

void Runner::advanceSchedule()
{
    ++schedule_index_;
    if (options_.arrivals == Arrivals::Uniform) {
        // From the index, not by accumulation: no drift over millions of requests.
        next_due_ = static_cast<double>(start_ns_) + static_cast<double>(schedule_index_) * kNanosPerSecond / options_.rate;
    } else {
        next_due_ += std::exponential_distribution<double>(options_.rate)(rng_) * kNanosPerSecond;
    }
    if (next_due_ >= static_cast<double>(schedule_end_ns_))
        schedule_done_ = true;
}

void Runner::onDispatch()
{
    if (finished_)
        return;
    const uint64_t now = uv_hrtime();
    const size_t before = backlog_.size();
    while (!schedule_done_ && next_due_ <= static_cast<double>(now)) {
        const auto due = static_cast<uint64_t>(next_due_);
        backlog_.push_back({next_id_++, due, due >= measure_start_ns_, false});
        ++issued_;
        advanceSchedule();
    }
    const size_t added = backlog_.size() - before;
    pump();
    // Whatever is still in the backlog found every connection busy at its intended time
    // (counted when it ends, so that the count is a share of `requests`).
    for (size_t i = 0; i < backlog_.size() && i < added; ++i) {
        Request& req = backlog_[backlog_.size() - 1 - i];
        if (req.waited)
            break;
        req.waited = true;
    }
    if (!schedule_done_)
        dispatch_timer_.armAt(static_cast<uint64_t>(next_due_));
    maybeFinish();
}

// ---- connections ----

ClientConn* Runner::acquire()
{
    if (!idle_.empty()) {
        ClientConn* conn = idle_.back();
        idle_.pop_back();
        return conn;
    }
    if (live_ >= max_connections_ || free_slots_.empty())
        return nullptr;
    const size_t slot = free_slots_.back();
    free_slots_.pop_back();
    conns_[slot] = std::make_unique<ClientConn>(*this, loop_, slot);
    ++live_;
    ++results_.connections_opened;
    conns_[slot]->connect(addr_.get());
    return conns_[slot].get();
}

void Runner::pump()
{
    while (!finished_) {
        if (options_.mode == Mode::Open) {
            expireBacklog(uv_hrtime());
            if (backlog_.empty())
                break;
        } else if (issued_ >= options_.requests) {
            break;
        }
        ClientConn* conn = acquire();
        if (!conn)
            break;
        Request req;
        if (options_.mode == Mode::Open) {
            req = backlog_.front();
            backlog_.pop_front();
        } else {
            req = {next_id_++, uv_hrtime(), true, false};
            ++issued_;
        }
        ++inflight_;
        deadlines_.push_back({req.intended_ns + timeout_ns_, conn->slot(), req.id});
        conn->send(req);
    }
}

void Runner::expireBacklog(uint64_t now_ns)
{
    while (!backlog_.empty() && backlog_.front().intended_ns + timeout_ns_ <= now_ns) {
        const Request req = backlog_.front();
        backlog_.pop_front();
        if (req.measured) {
            ++results_.requests;
            results_.waited_for_connection += req.waited ? 1 : 0;
            results_.addError("timeout");
            last_done_ns_ = std::max(last_done_ns_, now_ns);
        }
    }
}

void Runner::onIdle(ClientConn& conn)
{
    if (finished_)
        return;
    if (options_.mode == Mode::Closed && issued_ >= options_.requests) {
        conn.close(); // nothing left for it
        return;
    }
    idle_.push_back(&conn);
    pump();
}

void Runner::onClosed(ClientConn& conn)
{
    const size_t slot = conn.slot();
    std::erase(idle_, &conn);
    conns_[slot].reset(); // frees `conn`
    free_slots_.push_back(slot);
    --live_;
    if (!finished_)
        pump();
}

// ---- outcomes ----

void Runner::countDone(const Request& req, uint64_t now_ns)
{
    --inflight_;
    if (req.measured) {
        ++results_.requests;
        results_.waited_for_connection += req.waited ? 1 : 0;
        last_done_ns_ = std::max(last_done_ns_, now_ns);
    }
}

void Runner::onAnswer(const Request& req, int status, const std::string* replica)
{
    const uint64_t now = uv_hrtime();
    countDone(req, now);
    if (req.measured) {
        ++results_.responses;
        results_.latency.record(now - std::min(now, req.intended_ns));
        if (status >= 400)
            results_.addError("status_" + std::to_string(status));
        if (replica)
            results_.addReplica(*replica);
        else
            ++results_.without_replica;
    }
    maybeFinish();
}

void Runner::onFailed(const Request& req, std::string_view kind)
{
    const uint64_t now = uv_hrtime();
    countDone(req, now);
    if (req.measured)
        results_.addError(kind);
    maybeFinish();
}

void Runner::onSweep(uv_timer_t* handle)
{
    auto* self = static_cast<Runner*>(handle->data);
    if (self->finished_)
        return;
    const uint64_t now = uv_hrtime();
    while (!self->deadlines_.empty()) {
        const Deadline d = self->deadlines_.front();
        ClientConn* conn = self->conns_[d.slot].get();
        const bool pending = conn && conn->busyWith(d.id);
        if (pending && d.at_ns > now)
            break;
        self->deadlines_.pop_front(); // answered already, or overdue
        if (pending)
            conn->abandon();
        if (self->finished_)
            return; // that was the last request
    }
    self->pump(); // also expires the backlog
    self->maybeFinish();
}

void Runner::onSignal(uv_signal_t* handle, int /*signum*/)
{
    static_cast<Runner*>(handle->data)->finish(true);
}

// ---- the end ----

void Runner::maybeFinish()
{
    if (finished_ || inflight_ > 0)
        return;
    const bool all_sent = options_.mode == Mode::Open ? schedule_done_ && backlog_.empty()
                                                      : issued_ >= options_.requests;
    if (all_sent)
        finish(false);
}

void Runner::finish(bool interrupted)
{
    if (finished_)
        return;
    finished_ = true;
    const uint64_t now = uv_hrtime();
    results_.interrupted = interrupted;
    uint64_t end = interrupted ? now : std::max(last_done_ns_, options_.mode == Mode::Open ? schedule_end_ns_ : 0);
    if (interrupted && options_.mode == Mode::Open)
        end = std::min(end, std::max(schedule_end_ns_, last_done_ns_));
    results_.duration_s = end > measure_start_ns_ ? static_cast<double>(end - measure_start_ns_) / kNanosPerSecond : 0;

    dispatch_timer_.close();
    uv_close(reinterpret_cast<uv_handle_t*>(&sweep_timer_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&sigint_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&sigterm_), nullptr);
    idle_.clear();
    for (auto& conn : conns_)
        if (conn)
            conn->close();
}

} // namespace dlb::tools::loadgen
