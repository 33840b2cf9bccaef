#include "agent/proxy/agent.hpp"

#include "agent/net/listener.hpp"
#include "agent/proxy/log.hpp"

#include <arpa/inet.h>

#include <cstdio>
#include <random>
#include <thread>

namespace dlb::agent::proxy {

namespace {

bool sameListeners(const common::Config& a, const common::Config& b)
{
    if (a.listeners.size() != b.listeners.size())
        return false;
    for (size_t i = 0; i < a.listeners.size(); ++i)
        if (a.listeners[i].address != b.listeners[i].address ||
            a.listeners[i].tls.has_value() != b.listeners[i].tls.has_value())
            return false;
    return true;
}
} // namespace

Agent::Agent(std::string config_path) : config_path_(std::move(config_path))
{
    uv_loop_init(&loop_);
}

Agent::~Agent()
{
    uv_loop_close(&loop_);
}

bool Agent::start(std::string* why)
{
    auto loaded = common::loadConfigFile(config_path_);
    if (!loaded.config) {
        std::string msg = "config " + config_path_ + " is invalid:";
        for (const auto& e : loaded.errors)
            msg += "\n  " + e.toString();
        *why = msg;
        return false;
    }
    const common::Config& cfg = *loaded.config;
    snapshot_ = buildSnapshot(cfg, nullptr, why);
    if (!snapshot_)
        return false;
    if (!access_log_.open(cfg.access_log.path, why))
        return false;

    // Signals first: a script may send one as soon as it reads the "listening" line. Their
    // callbacks run only inside uv_run, once everything below exists.
    uv_signal_init(&loop_, &sigterm_);
    uv_signal_init(&loop_, &sigint_);
    uv_signal_init(&loop_, &sighup_);
    sigterm_.data = sigint_.data = sighup_.data = this;
    uv_signal_start(&sigterm_, &Agent::onSignal, SIGTERM);
    uv_signal_start(&sigint_, &Agent::onSignal, SIGINT);
    uv_signal_start(&sighup_, &Agent::onSignal, SIGHUP);

    unsigned workers = cfg.workers;
    if (workers == 0)
        workers = std::max(1u, std::thread::hardware_concurrency());

    // Each worker gets its own socket per listener (SO_REUSEPORT). With port 0, the first
    // socket's port is reused for the rest so all workers share one port.
    std::vector<std::vector<int>> fds(workers);
    for (const auto& l : cfg.listeners) {
        auto addr = net::resolve(l.endpoint, why);
        if (!addr)
            return false;
        for (unsigned w = 0; w < workers; ++w) {
            const int fd = net::openListenSocket(*addr, net::kListenBacklog, why);
            if (fd < 0)
                return false;
            if (w == 0) {
                const int port = net::boundPort(fd);
                auto* sin = reinterpret_cast<sockaddr_in*>(&addr->storage);
                sin->sin_port = htons(static_cast<uint16_t>(port)); // same offset for sockaddr_in6
                std::printf("dlb-agent: listening on %s:%d\n", l.endpoint.host.c_str(), port);
            }
            fds[w].push_back(fd);
        }
    }
    std::fflush(stdout);

    std::random_device rd;
    const uint64_t base_seed = (uint64_t{rd()} << 32) ^ rd();
    for (unsigned w = 0; w < workers; ++w)
        workers_.push_back(std::make_unique<Worker>(w, snapshot_, fds[w], &access_log_, base_seed + w * 7919));
    for (auto& w : workers_)
        w->start();

    health_ = std::make_unique<HealthChecker>(&loop_, &logLine);
    health_->apply(snapshot_);

    logLine("started " + std::to_string(workers) + " worker(s), " + std::to_string(cfg.pools.size()) + " pool(s)");
    return true;
}

int Agent::run()
{
    std::string why;
    if (!start(&why)) {
        logLine(why);
        return 1;
    }
    uv_run(&loop_, UV_RUN_DEFAULT);
    for (auto& w : workers_)
        w->join();
    // Only now give the signals back to their default actions: a SIGHUP or a second SIGTERM
    // during the drain is caught and ignored instead of killing requests in flight.
    for (uv_signal_t* s : {&sigterm_, &sigint_, &sighup_})
        uv_close(reinterpret_cast<uv_handle_t*>(s), nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    logLine("stopped");
    return 0;
}

void Agent::onSignal(uv_signal_t* h, int signum)
{
    auto* self = static_cast<Agent*>(h->data);
    if (signum == SIGHUP)
        self->reload();
    else
        self->shutdown();
}

void Agent::reload()
{
    if (stopping_)
        return;
    std::string why;
    if (!access_log_.reopen(&why))
        logLine(why);
    auto loaded = common::loadConfigFile(config_path_);
    if (!loaded.config) {
        std::string msg = "reload rejected, the running config stays: " + config_path_ + " is invalid:";
        for (const auto& e : loaded.errors)
            msg += "\n  " + e.toString();
        logLine(msg);
        return;
    }
    if (!sameListeners(snapshot_->config, *loaded.config))
        logLine("listeners changed in " + config_path_ + "; that takes a restart, the running listeners stay");
    auto next = buildSnapshot(*loaded.config, snapshot_.get(), &why);
    if (!next) {
        logLine("reload rejected, the running config stays: " + why);
        return;
    }
    snapshot_ = next;
    for (auto& w : workers_)
        w->publish(snapshot_);
    health_->apply(snapshot_);
    logLine("config reloaded (generation " + std::to_string(snapshot_->generation) + ")");
}

void Agent::shutdown()
{
    if (stopping_)
        return;
    stopping_ = true;
    logLine("stopping: draining requests in flight (up to timeouts.drain_ms)");
    for (auto& w : workers_)
        w->stop();
    health_->stop();
    // Unreferenced, not closed: the loop may end once the health checks stop, and the
    // handlers stay installed until run() has joined the workers.
    for (uv_signal_t* s : {&sigterm_, &sigint_, &sighup_})
        uv_unref(reinterpret_cast<uv_handle_t*>(s));
}

} // namespace dlb::agent::proxy
