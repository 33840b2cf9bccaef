#include "agent/proxy/agent.hpp"

#include "agent/net/listener.hpp"
#include "agent/balance/prequal.hpp"
#include "agent/proxy/log.hpp"
#include "agent/systemd_notify.hpp"
#include "agent/tls/context.hpp"

#include <pthread.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <algorithm>
#include <random>
#include <thread>

namespace dlb::agent::proxy {

namespace {

// What to do when the process is out of descriptors before it serves (Agent::start).
const std::string kRaiseFileLimit = std::string(" (out of descriptors? ") + net::kRaiseOpenFileLimit + ")";

// Empty when `path` is usable as the access log, else what is wrong and what to do. The file
// is not created here: --check must not leave files behind.
std::string accessLogProblem(const std::string& path)
{
    if (path.empty() || path == "-")
        return {};
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return path + " is a folder; give the path of a file in it";
        if (::access(path.c_str(), W_OK) != 0)
            return "cannot write " + path + ": " + std::strerror(errno) + "; fix its permissions or change the path";
        return {};
    }
    if (errno != ENOENT)
        return "cannot use " + path + ": " + std::strerror(errno);
    const size_t slash = path.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    if (::stat(dir.c_str(), &st) != 0)
        return "folder " + dir + " does not exist (" + std::strerror(errno) + "); create it or change the path";
    if (!S_ISDIR(st.st_mode))
        return dir + " is not a folder";
    if (::access(dir.c_str(), W_OK | X_OK) != 0)
        return "cannot create files in folder " + dir + ": " + std::strerror(errno) +
               "; fix its permissions or change the path";
    return {};
}

bool sameListenerSockets(const common::Config& a, const common::Config& b)
{
    if (a.listeners.size() != b.listeners.size())
        return false;
    for (size_t i = 0; i < a.listeners.size(); ++i)
        if (a.listeners[i].address != b.listeners[i].address ||
            a.listeners[i].tls.has_value() != b.listeners[i].tls.has_value())
            return false;
    return true;
}

std::string joinKeys(const std::vector<std::string>& keys)
{
    std::string out;
    for (const auto& k : keys)
        out += (out.empty() ? "" : ", ") + k;
    return out;
}

} // namespace

std::vector<common::ConfigError> startupErrors(const common::Config& config)
{
    std::vector<common::ConfigError> errors;
    const auto at = [](const char* list, size_t i) { return std::string(list) + "[" + std::to_string(i) + "]"; };
    for (size_t i = 0; i < config.listeners.size(); ++i) {
        const auto& l = config.listeners[i];
        std::string why;
        if (!net::resolve(l.endpoint, &why))
            errors.push_back({at("listeners", i) + ".address", why});
    }
    for (size_t p = 0; p < config.pools.size(); ++p) {
        const auto& replicas = config.pools[p].replicas;
        for (size_t r = 0; r < replicas.size(); ++r) {
            std::string why;
            if (!net::resolve(replicas[r].endpoint, &why))
                errors.push_back({at("pools", p) + "." + at("replicas", r) + ".url", why});
        }
    }
    if (const std::string why = accessLogProblem(config.access_log.path); !why.empty())
        errors.push_back({"access_log.path", why});
    // Certificates, keys and CA files load as start loads them (nothing is kept here).
    for (auto& e : tls::loadContexts(config, nullptr))
        errors.push_back(std::move(e));
    return errors;
}

common::ConfigResult loadStartableConfig(const std::string& path, std::string* text_out)
{
    auto result = common::loadConfigFile(path, text_out);
    if (result.config) {
        result.errors = startupErrors(*result.config);
        if (!result.errors.empty())
            result.config.reset();
    }
    return result;
}

std::vector<std::string> restartOnlyChanges(const common::Config& running, const common::Config& next)
{
    std::vector<std::string> keys;
    if (running.workers != next.workers)
        keys.push_back("workers");
    // A listener's certificates reload (each snapshot loads its TLS contexts anew); its address,
    // and whether it speaks TLS at all, are bound into the sockets at start.
    if (!sameListenerSockets(running, next))
        keys.push_back("listeners");
    if (running.control != next.control)
        keys.push_back("control");
    // The file is opened once at start; SIGHUP reopens that same path (for log rotation).
    if (running.access_log != next.access_log)
        keys.push_back("access_log");
    return keys;
}

stats::Topology statsTopology(const Snapshot& snapshot)
{
    stats::Topology t;
    t.generation = snapshot.generation;
    for (const auto& spec : snapshot.pools) {
        stats::PoolView p;
        p.name = spec->config.name;
        p.algorithm = spec->config.algorithm.name;
        p.prequal = p.algorithm == "prequal";
        if (p.prequal)
            p.probe_pool_capacity = balance::PrequalParams::fromConfig(spec->config.algorithm).pool_size;
        p.stats = spec->stats;
        for (const auto& r : spec->replicas) {
            stats::ReplicaView v;
            v.id = r.id;
            v.url = r.url;
            v.weight = r.weight;
            v.stats = r.stats;
            // As GET /v1/pools names it (a draining replica has left the snapshot already).
            v.state = [health = r.health] {
                return std::string(health->pending.load(std::memory_order_relaxed)   ? "pending"
                                   : health->healthy.load(std::memory_order_relaxed) ? "healthy"
                                                                                     : "unhealthy");
            };
            p.replicas.push_back(std::move(v));
        }
        t.pools.push_back(std::move(p));
    }
    return t;
}

Agent::Agent(std::string config_path, ControlFactory control)
    : config_path_(std::move(config_path)), control_factory_(std::move(control))
{
    // Out of descriptors, the loop cannot start: start() says so; using or closing the loop
    // after that crashed the process in libuv.
    loop_error_ = uv_loop_init(&loop_);
}

Agent::~Agent()
{
    control_.reset();
    if (signal_fd_ >= 0) // start() failed after opening it
        ::close(signal_fd_);
    if (loop_error_ == 0)
        uv_loop_close(&loop_);
}

bool Agent::ready() const
{
    if (stopping_ || workers_.empty())
        return false;
    for (const auto& w : workers_)
        if (!w->running())
            return false;
    return true;
}

uint64_t Agent::workersTickedGeneration() const
{
    uint64_t lowest = UINT64_MAX;
    for (const auto& w : workers_)
        lowest = std::min(lowest, w->tickedGeneration());
    return workers_.empty() ? 0 : lowest;
}

std::shared_ptr<const Snapshot> Agent::prepareConfig(const common::Config& next, std::string* why) const
{
    if (stopping_) {
        *why = "the agent is stopping";
        return nullptr;
    }
    const DiscoveredReplicas discovered = discoveredFor(next);
    return buildSnapshot(next, snapshot_.get(), why, &discovered);
}

DiscoveredReplicas Agent::discoveredFor(const common::Config& config) const
{
    DiscoveredReplicas out;
    for (const auto& pool : config.pools) {
        const auto found = discovered_.find(pool.name);
        if (found == discovered_.end())
            continue;
        for (const auto& d : pool.discovery)
            if (const auto it = found->second.find(d.url); it != found->second.end())
                out[pool.name][d.url] = it->second;
    }
    return out;
}

std::vector<common::ReplicaConfig> Agent::lingering(const std::string& pool, const std::string& url,
                                                   const std::vector<common::ReplicaConfig>& answer) const
{
    std::vector<common::ReplicaConfig> kept;
    const auto p = discovered_.find(pool);
    if (p == discovered_.end())
        return kept;
    const auto e = p->second.find(url);
    if (e == p->second.end())
        return kept;
    const auto inAnswer = [&](const std::string& id) {
        return std::any_of(answer.begin(), answer.end(), [&](const common::ReplicaConfig& r) { return r.id == id; });
    };
    const auto leaving = [&](const std::string& id) {
        return !inAnswer(id) && std::any_of(e->second.begin(), e->second.end(),
                                            [&](const common::ReplicaConfig& r) { return r.id == id; });
    };
    const auto serving = [](const ReplicaSpec& r) { return r.health->healthy.load() && !r.health->pending.load(); };
    for (const auto& ps : snapshot_->pools) {
        if (ps->config.name != pool)
            continue;
        // Another replica of the pool serves: those leaving may go.
        if (std::any_of(ps->replicas.begin(), ps->replicas.end(),
                        [&](const ReplicaSpec& r) { return !leaving(r.id) && serving(r); }))
            return kept;
        for (const auto& r : ps->replicas)
            if (leaving(r.id) && serving(r))
                for (const auto& rc : e->second)
                    if (rc.id == r.id)
                        kept.push_back(rc);
    }
    return kept;
}

void Agent::onLingerCheck(uv_timer_t* t)
{
    // Only the entries the config still has (publish() prunes answered_ as it does discovered_).
    auto* self = static_cast<Agent*>(t->data);
    const DiscoveredReplicas answered = self->answered_; // onDiscovered() writes answered_
    for (const auto& [pool, entries] : answered)
        for (const auto& [url, answer] : entries) {
            if (const auto p = self->discovered_.find(pool); p != self->discovered_.end())
                if (const auto e = p->second.find(url); e != p->second.end() && e->second == answer)
                    continue; // this entry serves its answer as given: nothing of it lingers
            self->onDiscovered(pool, url, answer);
        }
    if (self->discovered_ == self->answered_) // no one lingers any more
        uv_timer_stop(t);
}

void Agent::onDiscovered(const std::string& pool, const std::string& url, std::vector<common::ReplicaConfig> replicas)
{
    if (stopping_)
        return;
    answered_[pool][url] = replicas;
    const std::vector<common::ReplicaConfig> kept = lingering(pool, url, replicas);
    std::string kept_names;
    for (const auto& k : kept) {
        replicas.push_back(k);
        kept_names += (kept_names.empty() ? "" : ", ") + k.id;
    }
    DiscoveredReplicas next_found = discoveredFor(snapshot_->config);
    if (next_found[pool][url] == replicas) // nothing changes (a linger re-check while no newcomer serves yet)
        return;
    if (!kept.empty())
        logLine("discovery: pool " + pool + ": " + url + ": keeping " + kept_names +
                " serving although the answer left them out: no other replica of the pool is healthy yet; they "
                "drain once one is");
    if (!kept.empty() && !uv_is_active(reinterpret_cast<uv_handle_t*>(&linger_timer_)))
        uv_timer_start(&linger_timer_, &Agent::onLingerCheck, kLingerCheckMs, kLingerCheckMs);
    next_found[pool][url] = std::move(replicas);
    std::string why;
    auto next = buildSnapshot(snapshot_->config, snapshot_.get(), &why, &next_found);
    if (!next) {
        logLine("discovery: pool " + pool + ": " + url + ": the new replicas are not applied: " + why);
        return;
    }
    discovered_ = std::move(next_found);
    std::vector<AddedReplica> added;
    std::string names;
    for (const auto& ps : next->pools) {
        if (ps->config.name != pool)
            continue;
        for (const auto& r : ps->replicas) {
            bool known = false;
            for (const auto& old : snapshot_->pools)
                if (old->config.name == pool)
                    for (const auto& o : old->replicas)
                        known = known || o.id == r.id;
            if (known)
                continue;
            added.push_back({pool, r.id});
            names += (names.empty() ? "" : ", ") + r.id;
            drainer_->forget(pool, r.id); // back before it had drained
        }
    }
    commitConfig(std::move(next), added);
    if (!added.empty())
        logLine("discovery: pool " + pool + ": " + url + ": added " + names + ", pending their first health check");
}

void Agent::commitConfig(std::shared_ptr<const Snapshot> next, const std::vector<AddedReplica>& added)
{
    // Not yet published: no worker reads these flags before they are set.
    for (const auto& a : added)
        for (const auto& pool : next->pools)
            if (pool->config.name == a.pool)
                for (const auto& r : pool->replicas)
                    if (r.id == a.id) {
                        r.health->healthy.store(false);
                        r.health->pending.store(true);
                    }
    publish(std::move(next));
}

void Agent::publish(std::shared_ptr<const Snapshot> next)
{
    // Discovered replicas the new snapshot no longer has (gone from an answer, or their entry
    // from the config) drain as the control API's removal does. Configured ones that a reload
    // drops are not watched (their requests still finish on the snapshot they started with).
    if (snapshot_ && drainer_) {
        for (const auto& old : snapshot_->pools) {
            const PoolSpec* now = nullptr;
            for (const auto& p : next->pools)
                if (p->config.name == old->config.name)
                    now = p.get();
            std::string names;
            for (const auto& r : old->replicas) {
                if (r.source.empty())
                    continue;
                const bool stays = now && std::any_of(now->replicas.begin(), now->replicas.end(),
                                                      [&](const ReplicaSpec& n) { return n.id == r.id; });
                if (stays)
                    continue;
                drainer_->watch(old->config.name, r, next->generation, "discovery: ");
                names += (names.empty() ? "" : ", ") + r.id + " (" + r.source + ")";
            }
            if (!names.empty())
                logLine("discovery: pool " + old->config.name + ": removed " + names +
                        "; draining: no new requests, removed when the last ends");
        }
    }
    snapshot_ = std::move(next);
    discovered_ = discoveredFor(snapshot_->config);
    for (auto pool = answered_.begin(); pool != answered_.end();) {
        const auto kept = discovered_.find(pool->first);
        std::erase_if(pool->second, [&](const auto& entry) {
            return kept == discovered_.end() || !kept->second.contains(entry.first);
        });
        pool = pool->second.empty() ? answered_.erase(pool) : std::next(pool);
    }
    if (discovery_)
        discovery_->apply(snapshot_->config); // unchanged entries keep their state
    for (auto& w : workers_)
        w->publish(snapshot_);
    health_->apply(snapshot_);
    if (stats_)
        stats_->setTopology(statsTopology(*snapshot_));
}

bool Agent::start(std::string* why)
{
    if (loop_error_ != 0) {
        *why = std::string("cannot start the main event loop: ") + uv_strerror(loop_error_) + kRaiseFileLimit;
        return false;
    }
    std::string text;
    auto loaded = loadStartableConfig(config_path_, &text);
    if (!loaded.config) {
        std::string msg = "config " + config_path_ + " is invalid:";
        for (const auto& e : loaded.errors)
            msg += "\n  " + e.toString();
        *why = msg;
        return false;
    }
    const common::Config& cfg = *loaded.config;
    started_ = cfg;
    config_file_text_ = std::move(text);
    snapshot_ = buildSnapshot(cfg, nullptr, why);
    if (!snapshot_)
        return false;
    if (!access_log_.open(cfg.access_log.path, why))
        return false;

    // Signals first: a script may send one as soon as it reads the "listening" line. They are
    // blocked here, before any worker thread exists (the workers inherit the block), and the
    // main loop reads them from a signalfd, only inside uv_run, once everything below exists;
    // until then they wait in the kernel. No handler runs on whichever thread the kernel
    // picked: with libuv's handlers, ThreadSanitizer (which defers a handler to a safe point)
    // lost about one SIGHUP in a hundred. The block stays until the process exits.
    sigset_t agent_signals;
    sigemptyset(&agent_signals);
    for (const int s : {SIGTERM, SIGINT, SIGHUP})
        sigaddset(&agent_signals, s);
    if (const int rc = pthread_sigmask(SIG_BLOCK, &agent_signals, nullptr); rc != 0) {
        *why = std::string("cannot block SIGTERM/SIGINT/SIGHUP: pthread_sigmask: ") + std::strerror(rc);
        return false;
    }
    signal_fd_ = signalfd(-1, &agent_signals, SFD_NONBLOCK | SFD_CLOEXEC);
    if (signal_fd_ < 0) {
        *why = std::string("cannot read signals: signalfd: ") + std::strerror(errno) + kRaiseFileLimit;
        return false;
    }
    if (const int rc = uv_poll_init(&loop_, &signal_poll_, signal_fd_); rc != 0) {
        *why = std::string("cannot read signals: watching the signalfd: ") + uv_strerror(rc);
        return false;
    }
    signal_poll_.data = this;
    uv_poll_start(&signal_poll_, UV_READABLE, &Agent::onSignalReadable);

    const unsigned workers = configuredWorkers(cfg);

    // Each worker gets its own socket per listener, in a SO_REUSEPORT group that only this
    // process may join (net::openListenGroup says how). With port 0, all share the first's port.
    std::vector<std::vector<int>> fds(workers);
    {
        net::ListenSetupLock lock;
        if (!lock.acquire(why))
            return false;
        for (const auto& l : cfg.listeners) {
            auto addr = net::resolve(l.endpoint, why);
            if (!addr)
                return false;
            const std::vector<int> group = net::openListenGroup(*addr, workers, net::kListenBacklog, why);
            if (group.empty()) {
                *why = "listener " + l.address + ": " + *why;
                return false;
            }
            std::printf("dlb-agent: listening on %s:%d\n", l.endpoint.host.c_str(), net::boundPort(group.front()));
            const bool v6 = l.endpoint.host.find(':') != std::string::npos;
            bound_listeners_.push_back((v6 ? "[" + l.endpoint.host + "]" : l.endpoint.host) + ":" +
                                       std::to_string(net::boundPort(group.front())));
            for (unsigned w = 0; w < workers; ++w)
                fds[w].push_back(group[w]);
        }
    }
    started_at_ns_ = uv_hrtime();
    health_ = std::make_unique<HealthChecker>(&loop_, &logLine);
    drainer_ = std::make_unique<Drainer>(
        &loop_, [this] { return workersTickedGeneration(); }, &logLine);
    if (control_factory_ && (!cfg.control.unix_socket.empty() || !cfg.control.address.empty())) {
        control_ = control_factory_(*this);
        if (!control_->start(why)) {
            control_->stop(); // closes what it opened, removes a socket file it created
            return false;
        }
    }
    std::fflush(stdout);

    std::random_device rd;
    const uint64_t base_seed = (uint64_t{rd()} << 32) ^ rd();
    for (unsigned w = 0; w < workers; ++w) {
        workers_.push_back(std::make_unique<Worker>(w, snapshot_, fds[w], &access_log_, base_seed + w * 7919));
        if (const int rc = workers_.back()->loopError(); rc != 0) {
            *why = "worker " + std::to_string(w) + " cannot start its event loop: " + uv_strerror(rc) + kRaiseFileLimit;
            if (control_)
                control_->stop(); // removes a socket file it created
            return false;
        }
    }
    for (auto& w : workers_)
        w->start();

    health_->apply(snapshot_);

    std::vector<const stats::WorkerCounters*> counters;
    for (auto& w : workers_)
        counters.push_back(&w->stats());
    stats_ = std::make_unique<stats::Collector>(std::move(counters));
    stats_->setTopology(statsTopology(*snapshot_));
    stats_->start(&loop_);

    // Discovery last: its first answers build snapshots that the workers and checks above take.
    // A name that does not resolve is logged and asked again; the pool starts with what it has.
    // (c-ares may answer from /etc/hosts inside apply(): onDiscovered() may run at once.)
    uv_timer_init(&loop_, &linger_timer_);
    linger_timer_.data = this;
    discovery_ = std::make_unique<discovery::Discovery>(
        &loop_, &logLine, [this](const std::string& pool, const std::string& url, std::vector<common::ReplicaConfig> r) {
            onDiscovered(pool, url, std::move(r));
        });
    discovery_->apply(cfg);

    // systemd's READY=1 waits until every worker's loop runs, as /readyz does; their threads
    // were just started, so the first looks (one per kReadyCheckMs) find them running.
    uv_timer_init(&loop_, &ready_timer_);
    ready_timer_.data = this;
    uv_timer_start(&ready_timer_, &Agent::onReadyCheck, 0, kReadyCheckMs);

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
    // A SIGHUP or a second SIGTERM during the drain was read and ignored instead of killing
    // requests in flight; one that comes from now on stays blocked until the process exits.
    uv_close(reinterpret_cast<uv_handle_t*>(&signal_poll_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&ready_timer_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&linger_timer_), nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    ::close(signal_fd_);
    signal_fd_ = -1;
    logLine("stopped");
    return 0;
}

void Agent::onReadyCheck(uv_timer_t* t)
{
    auto* self = static_cast<Agent*>(t->data);
    if (!self->ready())
        return;
    uv_timer_stop(t);
    notifyReady();
}

void Agent::onSignalReadable(uv_poll_t* h, int status, int /*events*/)
{
    auto* self = static_cast<Agent*>(h->data);
    if (status < 0)
        return;
    signalfd_siginfo info;
    for (;;) {
        const ssize_t n = ::read(self->signal_fd_, &info, sizeof info);
        if (n < 0 && errno == EINTR)
            continue;
        if (n != static_cast<ssize_t>(sizeof info))
            return; // EAGAIN: none left
        self->onSignal(static_cast<int>(info.ssi_signo));
    }
}

void Agent::onSignal(int signum)
{
    if (signum == SIGHUP)
        reload();
    else
        shutdown();
}

void Agent::reload()
{
    if (stopping_)
        return;
    // systemd hears RELOADING=1, then READY=1 however the reload ends (applied or refused, the
    // agent serves); not before the first READY=1, which onReadyCheck still owes it.
    const bool tell = !uv_is_active(reinterpret_cast<uv_handle_t*>(&ready_timer_));
    if (tell)
        notifyReloading();
    struct ReadyAgain {
        bool tell;
        ~ReadyAgain()
        {
            if (tell)
                notifyReady();
        }
    } ready_again{tell};
    std::string why;
    if (!access_log_.reopen(&why))
        logLine(why);
    std::string text;
    auto loaded = loadStartableConfig(config_path_, &text);
    if (!loaded.config) {
        std::string msg = "reload rejected, the running config stays: " + config_path_ + " is invalid:";
        for (const auto& e : loaded.errors)
            msg += "\n  " + e.toString();
        logLine(msg);
        return;
    }
    const DiscoveredReplicas discovered = discoveredFor(*loaded.config);
    auto next = buildSnapshot(*loaded.config, snapshot_.get(), &why, &discovered);
    if (!next) {
        logLine("reload rejected, the running config stays: " + why);
        return;
    }
    // Compared with what runs (the config at start), not with the last reload: every reload
    // that still asks for them says so again.
    if (const auto keys = restartOnlyChanges(started_, *loaded.config); !keys.empty())
        logLine("reload: " + joinKeys(keys) + " changed in " + config_path_ +
                " but only a restart applies them; they keep their running values until then; the rest of "
                "the file is applied");
    publish(next);
    config_file_text_ = std::move(text);
    logLine("config reloaded (generation " + std::to_string(snapshot_->generation) + ")");
}

void Agent::shutdown()
{
    if (stopping_)
        return;
    stopping_ = true;
    notifyStopping();
    uv_timer_stop(&ready_timer_); // never READY=1 after STOPPING=1
    uv_timer_stop(&linger_timer_);
    logLine("stopping: draining requests in flight (up to timeouts.drain_ms)");
    for (auto& w : workers_)
        w->stop();
    health_->stop();
    stats_->stop();
    discovery_->stop();
    drainer_->stop();
    if (control_)
        control_->stop();
    // Unreferenced, not closed: the loop may end once the health checks stop, and signals
    // are still read (and ignored) until run() has joined the workers.
    uv_unref(reinterpret_cast<uv_handle_t*>(&signal_poll_));
}

} // namespace dlb::agent::proxy
