#include "agent/proxy/worker.hpp"

#include "agent/net/listener.hpp"
#include "agent/proxy/log.hpp"
#include "agent/proxy/pool_runtime.hpp"
#include "agent/proxy/session.hpp"
#include "agent/tls/engine.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

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
    const auto& lim = snapshot_->config.limits;
    parser_limits_ = {lim.max_header_bytes, lim.max_headers, lim.max_body_bytes};
    for (const auto& l : snapshot_->config.listeners)
        listener_tls_.push_back({l.address, l.tls.has_value(), nullptr});
    // A loop needs descriptors (epoll, an eventfd): out of them, it fails, and a loop used or
    // closed after that crashed the process (libuv asserts); the agent reads loopError() instead.
    loop_error_ = uv_loop_init(&loop_);
    if (loop_error_ != 0)
        return;
    loop_open_ = true;
    loop_error_ = uv_async_init(&loop_, &async_, &Worker::onAsync);
    if (loop_error_ != 0)
        return;
    async_.data = this;
    uv_timer_init(&loop_, &tick_);
    tick_.data = this;
    uv_timer_init(&loop_, &drain_timer_);
    drain_timer_.data = this;
}

Worker::~Worker()
{
    if (loop_open_)
        uv_loop_close(&loop_);
    for (auto& l : listeners_)
        if (l->fd >= 0)
            ::close(l->fd);
    if (reserve_fd_ >= 0)
        ::close(reserve_fd_);
}

void Worker::start()
{
    reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    for (const int fd : listen_fds_) {
        auto l = std::make_unique<Listener>();
        l->fd = fd;
        l->worker = this;
        l->index = listeners_.size();
        uv_poll_init(&loop_, &l->poll, fd);
        l->poll.data = l.get();
        uv_poll_start(&l->poll, UV_READABLE, &Worker::onListenReadable);
        listeners_.push_back(std::move(l));
    }
    applySnapshot(snapshot_);
    uv_timer_start(&tick_, &Worker::onTick, kTickMs, kTickMs);
    thread_ = std::thread([this] { run(); });
}

void Worker::run()
{
    running_.store(true, std::memory_order_relaxed);
    uv_run(&loop_, UV_RUN_DEFAULT);
    running_.store(false, std::memory_order_relaxed);
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

void Worker::onListenReadable(uv_poll_t* h, int status, int /*events*/)
{
    auto& l = *static_cast<Listener*>(h->data);
    Worker* self = l.worker;
    if (status != 0) {
        self->logError(std::string("listening socket: ") + uv_strerror(status));
        return;
    }
    for (unsigned n = 0; n < kAcceptBatch && !self->draining_; ++n) {
        const int fd = ::accept4(l.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            self->startSession(fd, l.index);
            continue;
        }
        const int err = errno;
        if (err == EINTR || err == ECONNABORTED)
            continue;
        if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM)
            self->shedConnections(l, err);
        else if (err != EAGAIN && err != EWOULDBLOCK)
            self->logError(std::string("accept failed: ") + std::strerror(err));
        return;
    }
}

void Worker::startSession(int fd, size_t listener)
{
    // listener_tls_ follows the config's listener order, as listen_fds_ does; a TLS listener has
    // a server context.
    const auto& tls_ctx = listener < listener_tls_.size() ? listener_tls_[listener].ctx : nullptr;
    auto* s = new Session(*this, tls_ctx ? kProtoHttps : kProtoHttp);
    // Counted open as it enters sessions_, since sessionClosed() uncounts what leaves it.
    sessions_.insert(s);
    stats_.connections_open.add();
    if (tls_ctx) {
        std::string why;
        auto engine = tls::Engine::server(tls_ctx, &why);
        if (!engine) {
            logError(why);
            ::close(fd);
            s->close();
            return;
        }
        s->client().enableTls(std::move(engine), snapshot_->config.timeouts.tls_handshake_ms);
    }
    if (s->accept(fd) != 0) {
        s->close();
        return;
    }
    stats_.connections_accepted.add();
}

void Worker::shedConnections(Listener& l, int err)
{
    // The queued connections cannot be served: answer them 503 through the reserve descriptor
    // and close them, rather than leave them queued (the poll would fire again at once: a
    // spinning loop) or silently drop them. Then pause this listener for a moment.
    static constexpr std::string_view kBody = "the proxy is out of file descriptors; try again soon\n";
    static const std::string kAnswer = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: " +
                                       std::to_string(kBody.size()) + "\r\nConnection: close\r\n\r\n" + std::string(kBody);
    if (reserve_fd_ >= 0) {
        ::close(reserve_fd_);
        reserve_fd_ = -1;
    }
    unsigned shed = 0;
    for (;;) {
        const int fd = ::accept4(l.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            break;
        }
        char sink[4096];
        for (size_t read = 0; read < kShedReadBytes;) {
            const ssize_t n = ::recv(fd, sink, sizeof sink, MSG_DONTWAIT);
            if (n <= 0)
                break;
            read += static_cast<size_t>(n);
        }
        (void)!::send(fd, kAnswer.data(), kAnswer.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        ::close(fd);
        ++shed;
    }
    reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    uv_poll_stop(&l.poll);
    l.paused_until_ns = nowNs() + kAcceptPauseMs * 1'000'000ULL;
    const bool descriptors = err == EMFILE || err == ENFILE;
    const char* name = err == EMFILE ? "EMFILE" : err == ENFILE ? "ENFILE" : err == ENOBUFS ? "ENOBUFS" : "ENOMEM";
    logError(std::string("accept failed: ") + std::strerror(err) + " (" + name + "); answered " + std::to_string(shed) +
             " new connection(s) 503 and paused accepting for " + std::to_string(kAcceptPauseMs) + " ms; " +
             (descriptors ? net::kRaiseOpenFileLimit : "the system is short of memory"));
}

void Worker::sessionClosed(Session* s)
{
    if (sessions_.erase(s))
        stats_.connections_open.sub();
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
    for (auto& l : self->listeners_) {
        if (l->paused_until_ns != 0 && now >= l->paused_until_ns && !self->draining_) {
            l->paused_until_ns = 0;
            uv_poll_start(&l->poll, UV_READABLE, &Worker::onListenReadable);
        }
    }
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
    self->ticked_generation_.store(self->snapshot_->generation, std::memory_order_release);
}

void Worker::beginDrain()
{
    draining_ = true;
    // The socket is closed at once (uv_close has stopped polling it), so a new connection is
    // refused instead of queued for a loop that no longer accepts.
    for (auto& l : listeners_) {
        uv_close(reinterpret_cast<uv_handle_t*>(&l->poll), nullptr);
        ::close(l->fd);
        l->fd = -1;
    }
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
