#include "agent/discovery/resolver.hpp"

#include <ares.h>
#include <ares_nameser.h>
#include <arpa/inet.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <iterator>
#include <map>
#include <mutex>
#include <set>

namespace dlb::agent::discovery {

namespace {

// A query that gets no answer is sent again after this long, this many times in all per server:
// a dead server costs a lookup about kQueryTimeoutMs * kQueryTries per server, not c-ares'
// default of over a minute, so the next retry of the entry is not held up.
constexpr int kQueryTimeoutMs = 2000;
constexpr int kQueryTries = 2;

std::string ipOf(const sockaddr* sa)
{
    char buf[INET6_ADDRSTRLEN] = {};
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, buf, sizeof buf);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, buf, sizeof buf);
    return buf;
}

// Why `sa` cannot be a replica's address, or nullptr when it can. A DNS sinkhole answers
// 0.0.0.0 for names it blocks, and Linux connects 0.0.0.0 and :: to the local host: taken as a
// replica, whatever listens there on the port (this agent, perhaps) would get the pool's traffic.
// Multicast and broadcast addresses take no TCP connection.
const char* unusable(const sockaddr* sa)
{
    if (sa->sa_family == AF_INET) {
        const uint32_t a = ntohl(reinterpret_cast<const sockaddr_in*>(sa)->sin_addr.s_addr);
        if (a == INADDR_ANY)
            return "unspecified";
        if (a == INADDR_BROADCAST)
            return "broadcast";
        if (IN_MULTICAST(a))
            return "multicast";
        return nullptr;
    }
    const in6_addr& a = reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr;
    if (IN6_IS_ADDR_UNSPECIFIED(&a))
        return "unspecified";
    if (IN6_IS_ADDR_MULTICAST(&a))
        return "multicast";
    if (IN6_IS_ADDR_V4MAPPED(&a)) {
        sockaddr_in v4{};
        v4.sin_family = AF_INET;
        std::memcpy(&v4.sin_addr, &a.s6_addr[12], 4);
        return unusable(reinterpret_cast<const sockaddr*>(&v4));
    }
    return nullptr;
}

// The smallest TTL among the answer records of a DNS message (RFC 1035 4.1); UINT32_MAX when
// it cannot be read. ares_parse_srv_reply does not give TTLs, so the message is walked here.
uint32_t minAnswerTtl(const unsigned char* msg, int len)
{
    if (!msg || len < 12)
        return UINT32_MAX;
    const auto n = static_cast<size_t>(len);
    const auto u16 = [&](size_t at) { return static_cast<unsigned>(msg[at] << 8 | msg[at + 1]); };
    // Skips a (possibly compressed) name; false when it runs past the end.
    const auto skipName = [&](size_t& at) {
        while (at < n) {
            const unsigned char c = msg[at];
            if (c == 0) {
                ++at;
                return true;
            }
            if ((c & 0xC0) == 0xC0) {
                at += 2;
                return at <= n;
            }
            at += 1 + c;
        }
        return false;
    };
    const unsigned questions = u16(4), answers = u16(6);
    size_t at = 12;
    for (unsigned i = 0; i < questions; ++i) {
        if (!skipName(at) || at + 4 > n)
            return UINT32_MAX;
        at += 4;
    }
    uint32_t ttl = UINT32_MAX;
    for (unsigned i = 0; i < answers; ++i) {
        if (!skipName(at) || at + 10 > n)
            return ttl;
        const uint32_t t = static_cast<uint32_t>(msg[at + 4]) << 24 | static_cast<uint32_t>(msg[at + 5]) << 16 |
                           static_cast<uint32_t>(msg[at + 6]) << 8 | msg[at + 7];
        ttl = std::min(ttl, t);
        at += 10 + u16(at + 8);
    }
    return ttl;
}

} // namespace

struct Resolver::Poll {
    uv_poll_t handle{};
    Resolver* owner = nullptr;
    int fd = -1;
};

// One lookup under way: a dns:// name (one getaddrinfo), or an SRV query and then one
// getaddrinfo per target. Freed when the last of its c-ares callbacks has run.
struct Resolver::Lookup {
    struct Target {
        Lookup* lookup;
        std::string name;
        uint16_t port;
        unsigned weight;
    };
    Resolver* owner = nullptr;
    Done done;
    Answer answer;
    std::set<Address> found;
    unsigned pending = 0; // c-ares callbacks still to come
    bool cancelled = false; // the channel is being destroyed: answer no one

    void finish()
    {
        if (--pending != 0)
            return;
        if (!cancelled) {
            answer.addresses.assign(found.begin(), found.end());
            if (answer.ok || !answer.addresses.empty())
                answer.ok = true; // an SRV answer with some targets resolved is an answer
            if (!answer.ok && answer.error.empty()) {
                answer.error = "no SRV target resolved:";
                for (const auto& s : answer.skipped)
                    answer.error += " " + s;
            }
            done(std::move(answer));
        }
        delete this;
    }

    void resolveName(const std::string& name, uint16_t port, unsigned weight)
    {
        ++pending;
        ares_addrinfo_hints hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        // No RFC 6724 sorting: it connects a UDP socket per address, and the set is sorted here.
        hints.ai_flags = ARES_AI_NOSORT;
        ares_getaddrinfo(owner->channel_, name.c_str(), nullptr, &hints, &Lookup::onAddrInfo,
                         new Target{this, name, port, weight});
    }

    static void onAddrInfo(void* arg, int status, int, ares_addrinfo* result)
    {
        std::unique_ptr<Target> t(static_cast<Target*>(arg));
        Lookup* self = t->lookup;
        if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED)
            self->cancelled = true;
        else if (status == ARES_SUCCESS && result) {
            for (const ares_addrinfo_node* n = result->nodes; n; n = n->ai_next) {
                if (n->ai_family != AF_INET && n->ai_family != AF_INET6)
                    continue;
                if (const char* why = unusable(n->ai_addr)) {
                    self->answer.unusable.insert(ipOf(n->ai_addr) + " (" + why + ")");
                    continue;
                }
                // Only the first kMaxAddressesPerAnswer in address order are used: keep no more
                // (256 SRV targets of 4,000 addresses each were a million kept, about 120 MB).
                if (!self->found.insert(Address{ipOf(n->ai_addr), t->port, t->weight, t->name}).second)
                    continue;
                ++self->answer.total;
                if (self->found.size() > kMaxAddressesPerAnswer)
                    self->found.erase(std::prev(self->found.end()));
                self->answer.ttl_s = std::min(self->answer.ttl_s, static_cast<uint32_t>(std::max(n->ai_ttl, 0)));
            }
            if (!self->srv)
                self->answer.ok = true;
        } else if (self->srv) {
            self->answer.skipped.push_back(t->name + " (" + ares_strerror(status) + ")");
        } else {
            self->answer.error = ares_strerror(status);
        }
        if (result)
            ares_freeaddrinfo(result);
        self->finish();
    }

    static void onSrv(void* arg, int status, int, unsigned char* abuf, int alen)
    {
        auto* self = static_cast<Lookup*>(arg);
        if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED) {
            self->cancelled = true;
            self->finish();
            return;
        }
        ares_srv_reply* reply = nullptr;
        if (status == ARES_SUCCESS)
            status = ares_parse_srv_reply(abuf, alen, &reply);
        if (status != ARES_SUCCESS) {
            self->answer.error = ares_strerror(status);
            self->finish();
            return;
        }
        self->answer.ttl_s = minAnswerTtl(abuf, alen);
        // Lowest priority only (RFC 2782: the others are fallbacks, used only when all of these
        // are unreachable, which the health checks and the panic threshold handle here).
        unsigned short lowest = USHRT_MAX;
        for (const ares_srv_reply* r = reply; r; r = r->next)
            lowest = std::min(lowest, r->priority);
        // Target and port -> the weight of the first record naming them.
        std::map<std::pair<std::string, uint16_t>, unsigned> targets;
        for (const ares_srv_reply* r = reply; r; r = r->next) {
            // "." is RFC 2782's "the service is decidedly not available at this domain".
            // Port 0 cannot be connected to: a replica there would never pass a check.
            if (r->priority != lowest || std::string_view(r->host).empty() || std::string_view(r->host) == "." ||
                r->port == 0)
                continue;
            targets.emplace(std::pair<std::string, uint16_t>(r->host, r->port), r->weight);
        }
        ares_free_data(reply);
        self->answer.srv_targets = targets.size();
        // Each target is a lookup of its own: a hostile answer naming thousands must not turn
        // into thousands of queries. The first kMaxAddressesPerAnswer, by name, are looked up.
        std::size_t looked_up = 0;
        for (const auto& [target, weight] : targets) {
            if (looked_up++ == kMaxAddressesPerAnswer)
                break;
            // SRV weight 0 means "no preference" (RFC 2782): the smallest replica weight, 1.
            self->resolveName(target.first, target.second, std::max<unsigned>(weight, 1));
        }
        if (targets.empty())
            self->answer.ok = true; // no usable record: an empty answer, which the caller refuses
        self->finish();
    }

    bool srv = false;
};

Resolver::~Resolver() = default;

ResolverPtr Resolver::create(uv_loop_t* loop, const std::vector<common::Endpoint>& servers, std::string* why)
{
    static std::once_flag once;
    static int init_status = ARES_SUCCESS;
    std::call_once(once, [] { init_status = ares_library_init(ARES_LIB_INIT_ALL); });
    if (init_status != ARES_SUCCESS) {
        *why = std::string("c-ares cannot start: ") + ares_strerror(init_status);
        return {nullptr, &Resolver::close};
    }
    ResolverPtr self(new Resolver, &Resolver::close);
    self->loop_ = loop;
    uv_timer_init(loop, &self->timer_);
    self->timer_.data = self.get();
    ares_options opts{};
    int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
    opts.sock_state_cb = &Resolver::onSockState;
    opts.sock_state_cb_data = self.get();
    opts.timeout = kQueryTimeoutMs;
    opts.tries = kQueryTries;
    char lookups[] = "b";
    if (!servers.empty()) {
        // Servers named in the config answer for the names as written: no search list, no hosts file.
        mask |= ARES_OPT_DOMAINS | ARES_OPT_LOOKUPS;
        opts.domains = nullptr;
        opts.ndomains = 0;
        opts.lookups = lookups;
    }
    int rc = ares_init_options(&self->channel_, &opts, mask);
    if (rc != ARES_SUCCESS) {
        self->channel_ = nullptr;
        *why = std::string("c-ares cannot start a resolver: ") + ares_strerror(rc);
        return {nullptr, &Resolver::close}; // `self` closes itself on the way out
    }
    if (!servers.empty()) {
        std::string csv;
        for (const auto& s : servers) {
            const bool v6 = s.host.find(':') != std::string::npos;
            csv += (csv.empty() ? "" : ",") + (v6 ? "[" + s.host + "]" : s.host) + ":" + std::to_string(s.port);
        }
        rc = ares_set_servers_ports_csv(self->channel_, csv.c_str());
        if (rc != ARES_SUCCESS) {
            *why = "c-ares refuses the resolvers " + csv + ": " + ares_strerror(rc);
            return {nullptr, &Resolver::close}; // `self` closes itself on the way out
        }
    }
    return self;
}

void Resolver::lookup(const common::DiscoveryConfig& entry, Done done)
{
    auto* l = new Lookup;
    l->owner = this;
    l->done = std::move(done);
    l->srv = entry.srv;
    l->pending = 1; // held until the query is sent, so a callback that runs at once cannot free it
    if (entry.srv) {
        ++l->pending;
        ares_search(channel_, entry.name.c_str(), C_IN, T_SRV, &Lookup::onSrv, l);
    } else {
        l->resolveName(entry.name, entry.port, entry.weight);
    }
    l->finish();
    armTimer();
}

void Resolver::close(Resolver* self)
{
    if (!self)
        return;
    self->closing_ = true;
    if (self->channel_)
        ares_destroy(self->channel_); // every lookup's callbacks run now, cancelled
    self->channel_ = nullptr;
    for (Poll* p : self->polls_)
        uv_close(reinterpret_cast<uv_handle_t*>(&p->handle), [](uv_handle_t* h) { delete static_cast<Poll*>(h->data); });
    self->polls_.clear();
    if (uv_is_closing(reinterpret_cast<uv_handle_t*>(&self->timer_)))
        return;
    self->timer_.data = self;
    uv_close(reinterpret_cast<uv_handle_t*>(&self->timer_), [](uv_handle_t* h) { delete static_cast<Resolver*>(h->data); });
}

void Resolver::onSockState(void* data, int fd, int readable, int writable)
{
    auto* self = static_cast<Resolver*>(data);
    auto it = std::find_if(self->polls_.begin(), self->polls_.end(), [fd](const Poll* p) { return p->fd == fd; });
    if (!readable && !writable) {
        // c-ares is about to close the socket: stop watching it first.
        if (it != self->polls_.end()) {
            Poll* p = *it;
            self->polls_.erase(it);
            uv_close(reinterpret_cast<uv_handle_t*>(&p->handle), [](uv_handle_t* h) { delete static_cast<Poll*>(h->data); });
        }
        return;
    }
    Poll* p = nullptr;
    if (it == self->polls_.end()) {
        p = new Poll;
        p->owner = self;
        p->fd = fd;
        if (uv_poll_init_socket(self->loop_, &p->handle, fd) != 0) {
            delete p; // c-ares' own timeout ends the query
            return;
        }
        p->handle.data = p;
        self->polls_.push_back(p);
    } else {
        p = *it;
    }
    const int events = (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0);
    uv_poll_start(&p->handle, events, [](uv_poll_t* h, int status, int ev) {
        auto* poll = static_cast<Poll*>(h->data);
        Resolver* owner = poll->owner;
        const int sock = poll->fd; // `poll` may be freed by what ares_process_fd does
        // An error on the socket: let c-ares read and write it to find out and fail the query.
        const bool r = status < 0 || (ev & UV_READABLE);
        const bool w = status < 0 || (ev & UV_WRITABLE);
        ares_process_fd(owner->channel_, r ? sock : ARES_SOCKET_BAD, w ? sock : ARES_SOCKET_BAD);
        owner->armTimer();
    });
}

void Resolver::onTimer(uv_timer_t* t)
{
    auto* self = static_cast<Resolver*>(t->data);
    ares_process_fd(self->channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    self->armTimer();
}

void Resolver::armTimer()
{
    if (closing_ || !channel_)
        return;
    timeval tv{};
    if (!ares_timeout(channel_, nullptr, &tv)) {
        uv_timer_stop(&timer_);
        return;
    }
    const uint64_t ms = static_cast<uint64_t>(tv.tv_sec) * 1000 + static_cast<uint64_t>(tv.tv_usec + 999) / 1000;
    uv_timer_start(&timer_, &Resolver::onTimer, ms, 0);
}

} // namespace dlb::agent::discovery
