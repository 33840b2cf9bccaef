#include "agent/proxy/worker.hpp"

#include "agent/net/listener.hpp"
#include "agent/proxy/log.hpp"
#include "agent/proxy/pool_runtime.hpp"
#include "agent/proxy/session.hpp"
#include "agent/tls/engine.hpp"

#include <unistd.h>

#include <cstdio>

namespace dlb::agent::proxy {

namespace {
// Listener protocol names for X-Forwarded-Proto.
constexpr std::string_view kProtoHttp = "http";
constexpr std::string_view kProtoHttps = "https";
} // namespace

Worker::Worker(unsigned index, std::shared_ptr<const Snapshot> snapshot, std::vector<int> listen_fds,
               AccessLog* access_log, uint64_t seed)
    : index_(index), listen_fds_(std::move(listen_fds)), snapshot_(std::move(snapshot)), access_log_(access_log),
      seed_(seed)
{
    uv_loop_init(&loop_);
    uv_async_init(&loop_, &async_, &Worker::onAsync);
    async_.data = this;
    uv_timer_init(&loop_, &tick_);
    tick_.data = this;
    uv_timer_init(&loop_, &drain_timer_);
    drain_timer_.data = this;
    const auto& lim = snapshot_->config.limits;
    parser_limits_ = {lim.max_header_bytes, lim.max_headers, lim.max_body_bytes};
    for (const auto& l : snapshot_->config.listeners)
        listener_tls_.push_back({l.address, l.tls.has_value(), nullptr});
}

Worker::~Worker()
{
    uv_loop_close(&loop_);
    for (auto* l : listeners_)
        delete l;
}

void Worker::start()
{
    for (const int fd : listen_fds_) {
        auto* l = new uv_tcp_t;
        uv_tcp_init(&loop_, l);
        l->data = this;
        uv_tcp_open(l, fd);
        uv_listen(reinterpret_cast<uv_stream_t*>(l), net::kListenBacklog, &Worker::onConnection);
        listeners_.push_back(l);
    }
    applySnapshot(snapshot_);
    uv_timer_start(&tick_, &Worker::onTick, kTickMs, kTickMs);
    thread_ = std::thread([this] { run(); });
}

void Worker::run()
{
    uv_run(&loop_, UV_RUN_DEFAULT);
    // Close what is left so that uv_loop_close can succeed.
    uv_walk(&loop_, [](uv_handle_t* h, void*) {
        if (!uv_is_closing(h))
            uv_close(h, nullptr);
    }, nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
}

void Worker::join()
{
    if (thread_.joinable())
        thread_.join();
}

void Worker::publish(std::shared_ptr<const Snapshot> snapshot)
{
    {
        std::lock_guard<std::mutex> lock(inbox_mutex_);
        inbox_ = std::move(snapshot);
    }
    uv_async_send(&async_);
}

void Worker::stop()
{
    {
        std::lock_guard<std::mutex> lock(inbox_mutex_);
        stop_requested_ = true;
    }
    uv_async_send(&async_);
}

void Worker::onAsync(uv_async_t* h)
{
    auto* self = static_cast<Worker*>(h->data);
    std::shared_ptr<const Snapshot> next;
    bool stop = false;
    {
        std::lock_guard<std::mutex> lock(self->inbox_mutex_);
        next.swap(self->inbox_);
        stop = self->stop_requested_;
    }
    if (next)
        self->applySnapshot(std::move(next));
    if (stop && !self->draining_)
        self->beginDrain();
}

void Worker::applySnapshot(std::shared_ptr<const Snapshot> snapshot)
{
    std::vector<std::shared_ptr<PoolRuntime>> next;
    next.reserve(snapshot->pools.size());
    for (size_t i = 0; i < snapshot->pools.size(); ++i) {
        const auto& spec = snapshot->pools[i];
        std::shared_ptr<PoolRuntime> keep;
        for (auto& rt : runtimes_)
            if (rt && rt->spec().sameRuntimeAs(*spec))
                keep = rt;
        if (!keep) {
            // Seeds differ per worker and per pool so balancers do not pick in lock step.
            keep = std::make_shared<PoolRuntime>(*this, spec, seed_ + 0x9e3779b97f4a7c15ULL * (i + 1) + snapshot->generation);
            keep->start();
        }
        next.push_back(std::move(keep));
    }
    for (auto& rt : runtimes_) {
        if (std::find(next.begin(), next.end(), rt) == next.end()) {
            rt->retire();
            retired_.push_back(rt);
        }
    }
    runtimes_ = std::move(next);
    applyListenerTls(*snapshot);
    snapshot_ = std::move(snapshot);
    const auto& lim = snapshot_->config.limits;
    parser_limits_ = {lim.max_header_bytes, lim.max_headers, lim.max_body_bytes};
}

void Worker::applyListenerTls(const Snapshot& snapshot)
{
    for (auto& running : listener_tls_) {
        const auto& ls = snapshot.config.listeners;
        for (size_t i = 0; i < ls.size(); ++i)
            if (ls[i].address == running.address && ls[i].tls.has_value() == running.tls)
                running.ctx = snapshot.listener_tls[i];
    }
}

void Worker::onConnection(uv_stream_t* server, int status)
{
    auto* self = static_cast<Worker*>(server->data);
    if (status != 0) {
        self->logError(std::string("accept failed: ") + uv_strerror(status) +
                       (status == UV_EMFILE || status == UV_ENFILE ? "; raise the open-file limit (ulimit -n, LimitNOFILE)" : ""));
        return;
    }
    if (self->draining_)
        return;
    // listeners_ follows the config's listener order; a TLS listener has a server context.
    const size_t index = static_cast<size_t>(
        std::find(self->listeners_.begin(), self->listeners_.end(), reinterpret_cast<uv_tcp_t*>(server)) -
        self->listeners_.begin());
    const auto& tls_ctx = index < self->listener_tls_.size() ? self->listener_tls_[index].ctx : nullptr;
    auto* s = new Session(*self, tls_ctx ? kProtoHttps : kProtoHttp);
    if (tls_ctx) {
        std::string why;
        auto engine = tls::Engine::server(tls_ctx, &why);
        if (!engine) {
            self->logError(why);
            s->close();
            self->sessions_.insert(s);
            return;
        }
        s->client().enableTls(std::move(engine), self->snapshot_->config.timeouts.tls_handshake_ms);
    }
    if (s->accept(server) != 0) {
        s->close();
        self->sessions_.insert(s);
        return;
    }
    self->sessions_.insert(s);
    WorkerStats::add(self->stats_.connections_accepted);
    WorkerStats::add(self->stats_.connections_open);
}

void Worker::sessionClosed(Session* s)
{
    if (sessions_.erase(s))
        stats_.connections_open.fetch_sub(1, std::memory_order_relaxed);
    delete s;
    if (draining_)
        maybeFinishDrain();
}

void Worker::log(const AccessRecord& r)
{
    if (!access_log_ || !access_log_->enabled())
        return;
    appendAccessRecord(log_buf_, r);
    if (log_buf_.size() >= kAccessLogFlushBytes)
        access_log_->writeBuffer(log_buf_);
}

void Worker::logError(const std::string& message)
{
    const uint64_t now = nowNs();
    if (last_error_log_ns_ != 0 && now - last_error_log_ns_ < 1'000'000'000ULL) {
        ++errors_suppressed_;
        return;
    }
    last_error_log_ns_ = now;
    std::string line = "worker " + std::to_string(index_) + ": " + message;
    if (errors_suppressed_ > 0)
        line += " (" + std::to_string(errors_suppressed_) + " similar errors not shown)";
    errors_suppressed_ = 0;
    logLine(line);
}

void Worker::onTick(uv_timer_t* t)
{
    auto* self = static_cast<Worker*>(t->data);
    const uint64_t now = nowNs();
    for (auto& rt : self->runtimes_)
        rt->tick(now);
    for (auto& rt : self->retired_)
        rt->tick(now);
    // A retired runtime goes when no session or connection refers to it any more.
    std::erase_if(self->retired_, [](const std::shared_ptr<PoolRuntime>& rt) {
        return rt.use_count() == 1 && rt->liveConnections() == 0;
    });
    if (!self->log_buf_.empty() && self->access_log_)
        self->access_log_->writeBuffer(self->log_buf_);
}

void Worker::beginDrain()
{
    draining_ = true;
    for (auto* l : listeners_)
        uv_close(reinterpret_cast<uv_handle_t*>(l), nullptr);
    const auto copy = sessions_;
    for (Session* s : copy)
        s->closeIfIdle();
    uv_timer_start(&drain_timer_, &Worker::onDrainTimeout, snapshot_->config.timeouts.drain_ms, 0);
    maybeFinishDrain();
}

void Worker::onDrainTimeout(uv_timer_t* t)
{
    auto* self = static_cast<Worker*>(t->data);
    const auto copy = self->sessions_;
    for (Session* s : copy)
        s->close();
    self->closeEverything();
}

void Worker::maybeFinishDrain()
{
    if (sessions_.empty())
        closeEverything();
}

void Worker::closeEverything()
{
    if (closed_)
        return;
    closed_ = true;
    if (!log_buf_.empty() && access_log_)
        access_log_->writeBuffer(log_buf_);
    for (auto& rt : runtimes_)
        rt->retire();
    for (auto& rt : retired_)
        rt->retire();
    uv_timer_stop(&tick_);
    uv_timer_stop(&drain_timer_);
    uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&drain_timer_), nullptr);
}

} // namespace dlb::agent::proxy
