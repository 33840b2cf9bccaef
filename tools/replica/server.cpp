#include "tools/replica/server.hpp"

#include "agent/net/listener.hpp"
#include "tools/replica/connection.hpp"

#include <charconv>
#include <cstdio>
#include <vector>

namespace dlb::tools::replica {

namespace {
// Accept queue length asked of the kernel (capped by net.core.somaxconn): bursts of thousands
// of connects from a load generator must not be dropped.
constexpr int kListenBacklog = 4096;
constexpr uint64_t kMillisPerSecond = 1000;
// X-Load's latency is recomputed at most this often (1 ms: far below the paper's probe age).
constexpr uint64_t kLoadLatencyRefreshNs = 1'000'000;

void appendFixed3(std::string& out, double v)
{
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, 3);
    out.append(buf, r.ptr);
}
} // namespace

Server::Server(uv_loop_t* loop, Options options)
    : loop_(loop), options_(std::move(options)), service_(loop, options_)
{
}

bool Server::start(std::string* why)
{
    if (!service_.ok(why))
        return false;
    const auto addr = agent::net::resolve(common::Endpoint{options_.host, options_.port}, why);
    if (!addr)
        return false;
    // Not openListenSocket(): its SO_REUSEPORT would let a second replica started on the same
    // port silently share it (and its traffic) instead of failing with "address in use".
    uv_tcp_init(loop_, &listener_);
    listener_.data = this;
    listener_open_ = true;
    const std::string where = options_.host + ":" + std::to_string(options_.port);
    int rc = uv_tcp_bind(&listener_, addr->get(), 0);
    if (rc == 0)
        rc = uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), kListenBacklog, &Server::onConnection);
    if (rc != 0) {
        if (why)
            *why = "cannot listen on " + where + ": " + uv_strerror(rc);
        return false;
    }
    sockaddr_storage bound{};
    int len = sizeof bound;
    uv_tcp_getsockname(&listener_, reinterpret_cast<sockaddr*>(&bound), &len);
    port_ = bound.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                                        : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    if (options_.name.empty())
        options_.name = "replica-" + std::to_string(port_);

    replica_header_ = "X-Replica: " + options_.name + "\r\n";
    plain_head_ = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" + replica_header_;
    plain_tail_ = "Content-Length: " + std::to_string(options_.name.size() + 1) + "\r\n\r\n" + options_.name + "\n";

    uv_signal_init(loop_, &sigint_);
    uv_signal_init(loop_, &sigterm_);
    sigint_.data = sigterm_.data = this;
    uv_signal_start(&sigint_, &Server::onSignal, SIGINT);
    uv_signal_start(&sigterm_, &Server::onSignal, SIGTERM);

    uv_timer_init(loop_, &slow_timer_);
    slow_timer_.data = this;
    started_ms_ = uv_now(loop_);
    armSlowStep();
    started_ = true;
    return true;
}

void Server::run()
{
    uv_run(loop_, UV_RUN_DEFAULT);
    service_.releaseAll();
    // One line for whoever measures what probing cost this replica (tests, benchmarks).
    std::fprintf(stderr, "dlb-replica %s: answered %llu requests and %llu probes/health checks\n", options_.name.c_str(),
                 static_cast<unsigned long long>(requests_answered_), static_cast<unsigned long long>(probes_answered_));
}

void Server::stop()
{
    if (stopping_)
        return;
    stopping_ = true;
    if (listener_open_)
        uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
    if (started_) {
        uv_close(reinterpret_cast<uv_handle_t*>(&sigint_), nullptr);
        uv_close(reinterpret_cast<uv_handle_t*>(&sigterm_), nullptr);
        uv_close(reinterpret_cast<uv_handle_t*>(&slow_timer_), nullptr);
    }
    service_.close();
    // close() only starts closing; the set shrinks later, in the close callbacks.
    const std::vector<Connection*> open(connections_.begin(), connections_.end());
    for (Connection* c : open)
        c->close();
}

std::string Server::pingBody()
{
    std::string body = "{\"rif\": ";
    body += std::to_string(service_.rif());
    body += ", \"latency_ms\": ";
    appendFixed3(body, service_.latencyEstimateMs(uv_hrtime()));
    body += ", \"serverName\": \"";
    body += options_.name; // restricted to token characters by the option parser: no escaping
    body += "\"}\n";
    return body;
}

void Server::appendLoadHeader(std::string& out)
{
    if (!options_.load_header)
        return;
    const uint64_t now = uv_hrtime();
    if (!load_latency_valid_ || now - load_latency_at_ns_ >= kLoadLatencyRefreshNs) {
        load_latency_ms_ = service_.latencyEstimateMs(now);
        load_latency_at_ns_ = now;
        load_latency_valid_ = true;
    }
    char buf[24];
    out.append("X-Load: rif=");
    const auto r = std::to_chars(buf, buf + sizeof buf, service_.rif());
    out.append(buf, r.ptr);
    out.append(", latency_ms=");
    appendFixed3(out, load_latency_ms_);
    out.append("\r\n");
}

void Server::onConnection(uv_stream_t* listener, int status)
{
    auto* self = static_cast<Server*>(listener->data);
    if (status != 0 || self->stopping_)
        return;
    auto* conn = new Connection(*self);
    self->connections_.insert(conn);
    if (conn->accept(listener) != 0)
        conn->close(); // freed in its close callback
}

void Server::onSignal(uv_signal_t* handle, int /*signum*/)
{
    static_cast<Server*>(handle->data)->stop();
}

void Server::armSlowStep()
{
    if (next_slow_step_ >= options_.slow_schedule.size())
        return;
    const uint64_t due = started_ms_ + static_cast<uint64_t>(options_.slow_schedule[next_slow_step_].at_s * kMillisPerSecond);
    const uint64_t now = uv_now(loop_);
    uv_timer_start(&slow_timer_, &Server::onSlowStep, due > now ? due - now : 0, 0);
}

void Server::onSlowStep(uv_timer_t* handle)
{
    auto* self = static_cast<Server*>(handle->data);
    const SlowStep& step = self->options_.slow_schedule[self->next_slow_step_++];
    self->service_.setSlowFactor(step.factor);
    std::fprintf(stderr, "dlb-replica %s: slow factor now %g (at %g s)\n", self->options_.name.c_str(), step.factor,
                 step.at_s);
    self->armSlowStep();
}

} // namespace dlb::tools::replica
