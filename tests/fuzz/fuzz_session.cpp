// libFuzzer target: the session state machine (agent/proxy/session.*) fed from a socket.
//
// Once per process: a stub replica on a thread of its own, and one real Worker (agent/proxy)
// with its listening socket on 127.0.0.1:0, configured for that replica; the Worker runs its
// loop on its own thread exactly as in dlb-agent, and is reused across inputs. Per input: one
// client connection writes the bytes and reads the agent's answers until it has one answer per
// complete request the bytes hold (parsed here with the same limits) or the agent closes; then
// it closes (with a reset for half the inputs, by a hash of the input). The agent's bytes must
// parse as well-formed answers, the replica must never see a request the client did not send
// (smuggling), and there is a deadline: a session that neither answers nor closes is a finding.
//
// The first byte of a request path picks how the stub replica answers (see Stub::answer), so
// the fuzzer reaches chunked, close-delimited, 1xx, 204 and 304 answers from the path alone.

#include "fuzz_support.hpp"

#include "agent/net/listener.hpp"
#include "agent/proxy/snapshot.hpp"
#include "agent/proxy/worker.hpp"
#include "common/config.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <fcntl.h>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>

using namespace dlb::agent;
using dlb::fuzz::Recorder;

namespace {

// A session that has neither answered nor closed by then is a hang (the agent's own timeouts
// are set far above what one input needs, and far below this).
constexpr int kDeadlineMs = 5000;
constexpr size_t kReadChunk = 64 * 1024;

// Request heads the stub replica received, by the client address the agent wrote last in
// X-Forwarded-For: each input connects from an address of its own (127.1.x.y), so a head is
// counted against the client that caused it, even if it arrives after that client is gone.
std::mutex g_heads_mutex;
std::unordered_map<std::string, uint64_t> g_heads_by_client;

uint64_t headsFrom(const std::string& ip)
{
    std::lock_guard<std::mutex> lock(g_heads_mutex);
    const auto it = g_heads_by_client.find(ip);
    return it == g_heads_by_client.end() ? 0 : it->second;
}

int listenLoopback(int* port)
{
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 128) != 0)
        dlb::fuzz::fatal("stub replica: cannot listen on 127.0.0.1");
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    *port = ntohs(a.sin_port);
    return fd;
}

// The stub replica: answers each complete request it parses, in order, on every connection the
// worker opens. A request it cannot parse is a finding: the agent wrote it.
class Stub {
public:
    Stub() : listen_fd_(listenLoopback(&port_)) { thread_ = std::thread([this] { run(); }); }
    int port() const { return port_; }

private:
    struct Conn : http::ParserHandler {
        int fd = -1;
        std::string out;
        std::string in_log; // what arrived, for a finding's message
        bool close_after = false;
        http::Parser parser{http::Kind::Request, *this, dlb::fuzz::kPeerLimits};
        bool head = false;
        char mode = 0;

        HeadersAction onHeaders(const http::Message& m) override
        {
            std::string_view xff = m.header("x-forwarded-for");
            const size_t comma = xff.rfind(',');
            if (comma != std::string_view::npos)
                xff.remove_prefix(comma + 1);
            while (!xff.empty() && xff.front() == ' ')
                xff.remove_prefix(1);
            // The agent writes X-Forwarded-For on every request it forwards: a head without it
            // was never parsed by the agent, it was smuggled inside another request's bytes.
            if (!m.hasHeader("x-forwarded-for"))
                dlb::fuzz::fail("the replica received a request head the agent did not write", in_log);
            {
                std::lock_guard<std::mutex> lock(g_heads_mutex);
                ++g_heads_by_client[std::string(xff)];
            }
            head = m.method() == HTTP_HEAD;
            const std::string_view url = m.url();
            mode = url.size() > 1 ? url[1] : 0;
            return HeadersAction::Continue;
        }
        bool onBody(std::string_view) override { return true; }
        bool onMessageComplete() override
        {
            answer();
            return !close_after;
        }
        void answer()
        {
            const std::string_view body = head ? "" : "ok";
            switch (mode) {
            case 'c': // chunked
                out += "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
                if (!head)
                    out += "2\r\nok\r\n0\r\n\r\n";
                break;
            case 'x': // delimited by close
                out += "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";
                out += body;
                close_after = true;
                break;
            case 'n': out += "HTTP/1.1 204 No Content\r\n\r\n"; break;
            case 's': out += "HTTP/1.1 304 Not Modified\r\nContent-Length: 2\r\n\r\n"; break;
            case 'i': // an interim answer first
                out += "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n";
                out += body;
                break;
            default:
                out += "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n";
                out += body;
                break;
            }
        }
    };

    void run()
    {
        std::vector<std::unique_ptr<Conn>> conns;
        std::vector<pollfd> pfds;
        char buf[kReadChunk];
        for (;;) {
            pfds.clear();
            pfds.push_back({listen_fd_, POLLIN, 0});
            for (const auto& c : conns)
                pfds.push_back({c->fd, static_cast<short>(POLLIN | (c->out.empty() ? 0 : POLLOUT)), 0});
            if (::poll(pfds.data(), pfds.size(), -1) < 0)
                continue;
            if (pfds[0].revents & POLLIN) {
                const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
                if (fd >= 0) {
                    auto c = std::make_unique<Conn>();
                    c->fd = fd;
                    conns.push_back(std::move(c));
                }
            }
            for (size_t i = 1; i < pfds.size(); ++i) {
                Conn& c = *conns[i - 1];
                bool dead = false;
                if (pfds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
                    const ssize_t n = ::read(c.fd, buf, sizeof buf);
                    if (n <= 0) {
                        dead = true;
                    } else if (!c.close_after) {
                        c.in_log.append(buf, static_cast<size_t>(n));
                        if (c.in_log.size() > kReadChunk)
                            c.in_log.erase(0, c.in_log.size() - kReadChunk);
                        const auto r = dlb::fuzz::feed(c.parser, {buf, static_cast<size_t>(n)},
                                                       {static_cast<size_t>(n)});
                        if (r == http::Parser::Status::Error) {
                            std::fprintf(stderr, "stub replica: %s\n", std::string(c.parser.errorReason()).c_str());
                            dlb::fuzz::fail("the agent sent the replica bytes that are not a request", c.in_log);
                            dead = true; // only reached with DLB_FUZZ_CONTINUE
                        }
                    }
                }
                if (!dead && !c.out.empty()) {
                    const ssize_t n = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
                    if (n > 0)
                        c.out.erase(0, static_cast<size_t>(n));
                    else if (n < 0 && errno != EAGAIN)
                        dead = true;
                }
                if (!dead && c.close_after && c.out.empty())
                    dead = true;
                if (dead) {
                    ::close(c.fd);
                    c.fd = -1;
                }
            }
            std::erase_if(conns, [](const std::unique_ptr<Conn>& c) { return c->fd < 0; });
        }
    }

    int port_ = 0;
    int listen_fd_;
    std::thread thread_;
};

struct Agent {
    Stub stub;
    std::unique_ptr<proxy::Worker> worker;
    int port = 0;

    Agent()
    {
        const std::string cfg_text = R"({
  "workers": 1,
  "listeners": [{"address": "127.0.0.1:0"}],
  "pools": [{"name": "web", "algorithm": {"name": "round_robin"},
             "health_check": {"enabled": false},
             "replicas": [{"url": "http://127.0.0.1:)" + std::to_string(stub.port()) + R"("}]}],
  "timeouts": {"connect_ms": 1000, "header_ms": 2000, "response_ms": 2000, "idle_ms": 2000, "drain_ms": 100}
})";
        auto loaded = dlb::common::parseConfigText(cfg_text);
        if (!loaded.config) {
            for (const auto& e : loaded.errors)
                std::fprintf(stderr, "config: %s\n", e.toString().c_str());
            dlb::fuzz::fatal("the fuzz target's own config is invalid");
        }
        std::string why;
        auto snap = proxy::buildSnapshot(*loaded.config, nullptr, &why);
        auto addr = net::resolve(loaded.config->listeners[0].endpoint, &why);
        std::vector<int> fds;
        if (addr)
            fds = net::openListenGroup(*addr, 1, net::kListenBacklog, &why);
        const int fd = fds.empty() ? -1 : fds[0];
        if (!snap || fd < 0)
            dlb::fuzz::fatal("cannot start the worker", why);
        port = net::boundPort(fd);
        worker = std::make_unique<proxy::Worker>(0, snap, std::vector<int>{fd}, nullptr, 1);
        worker->start();
    }
};

Agent& agent()
{
    static Agent* a = new Agent; // never destroyed: the worker thread runs until exit
    return *a;
}

// The client's view of the exchange: which requests the input holds (HEAD ones are answered
// without a body), and the answers parsed so far.
struct Client {
    std::vector<bool> is_head; // per complete request head, in order
    size_t final_answers = 0;
    bool interim = false;

    struct Requests : http::ParserHandler {
        Client* c;
        HeadersAction onHeaders(const http::Message& m) override
        {
            c->is_head.push_back(m.method() == HTTP_HEAD);
            return HeadersAction::Continue;
        }
        bool onBody(std::string_view) override { return true; }
        bool onMessageComplete() override
        {
            ++complete;
            return true;
        }
        size_t complete = 0;
    } requests;

    struct Answers : http::ParserHandler {
        Client* c;
        HeadersAction onHeaders(const http::Message& m) override
        {
            c->interim = m.status() >= 100 && m.status() < 200;
            const size_t i = c->final_answers;
            const bool head = !c->interim && i < c->is_head.size() && c->is_head[i];
            return head ? HeadersAction::SkipBody : HeadersAction::Continue;
        }
        bool onBody(std::string_view) override { return true; }
        bool onMessageComplete() override
        {
            if (!c->interim)
                ++c->final_answers;
            return true;
        }
    } answers;

    Client()
    {
        requests.c = this;
        answers.c = this;
    }
};

int connectTo(int port, const std::string& from)
{
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in self{};
    self.sin_family = AF_INET;
    ::inet_pton(AF_INET, from.c_str(), &self.sin_addr);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&self), sizeof self) != 0)
        dlb::fuzz::fatal("cannot bind the client to its own loopback address", from);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
        dlb::fuzz::fatal("cannot connect to the worker");
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***)
{
    (void)agent();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    Agent& a = agent();
    const auto [input, seed] = dlb::fuzz::beginInput(data, size);

    Client client;
    http::Parser req_parser(http::Kind::Request, client.requests, dlb::fuzz::kDefaultLimits); // the answers are counted against these
    (void)req_parser.execute(input.data(), input.size()); // stops at the first error, as the agent
    const size_t expected = client.requests.complete;
    http::Parser resp_parser(http::Kind::Response, client.answers, dlb::fuzz::kPeerLimits);

    static uint32_t inputs = 0;
    ++inputs;
    const std::string from = "127.1." + std::to_string(1 + (inputs / 254) % 254) + '.' + std::to_string(1 + inputs % 254);
    const uint64_t heads_before = headsFrom(from);
    const int fd = connectTo(a.port, from);
    size_t written = 0;
    std::string got;
    bool eof = false;
    char buf[kReadChunk];
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kDeadlineMs);
    // Done when every complete request is answered, or the agent closed. An input that is not
    // all written because the agent stopped reading (it answered an error and closes) ends by EOF.
    while (!eof && !(written == input.size() && client.final_answers >= expected)) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            std::fprintf(stderr, "%zu of %zu answers after %d ms; %zu of %zu bytes written; got:\n%s\n",
                         client.final_answers, expected, kDeadlineMs, written, input.size(), got.c_str());
            dlb::fuzz::fail("the agent neither answered every request nor closed the connection", input);
            break; // only reached with DLB_FUZZ_CONTINUE
        }
        pollfd p{fd, static_cast<short>(POLLIN | (written < input.size() ? POLLOUT : 0)), 0};
        ::poll(&p, 1, static_cast<int>(left.count()));
        if (p.revents & POLLOUT) {
            const ssize_t n = ::send(fd, input.data() + written, input.size() - written, MSG_NOSIGNAL);
            if (n > 0)
                written += static_cast<size_t>(n);
            else if (n < 0 && errno != EAGAIN)
                written = input.size(); // reset by the agent: nothing more can be written
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n == 0 || (n < 0 && errno != EAGAIN)) {
                eof = true;
            } else if (n > 0) {
                got.append(buf, static_cast<size_t>(n));
                if (dlb::fuzz::feed(resp_parser, {buf, static_cast<size_t>(n)}, {static_cast<size_t>(n)}) ==
                    http::Parser::Status::Error) {
                    std::fprintf(stderr, "client: %s; input:\n%.*s\n", std::string(resp_parser.errorReason()).c_str(),
                                 static_cast<int>(std::min<size_t>(size, 4096)), input.data());
                    dlb::fuzz::fail("the agent's answer is not well-formed HTTP", got);
                    break; // only reached with DLB_FUZZ_CONTINUE
                }
            }
        }
    }
    // An answer cut off by the close must have been announced as close-delimited.
    if (eof && resp_parser.inMessage() && resp_parser.finish() == http::Parser::Status::Error)
        dlb::fuzz::fail("the agent closed in the middle of an answer", got);

    if ((seed & 1) != 0) {
        const linger l{1, 0}; // a reset, as a client that gives up does
        ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    ::close(fd);

    // The replica may see fewer heads (answered locally, or cut off by the close), never more
    // than the client sent: one more would be a request smuggled inside another's body.
    // Counted after the whole exchange; a head still on its way is not counted (a miss, never
    // a false finding), and the address is reused only 64,516 inputs later.
    const uint64_t forwarded = headsFrom(from) - heads_before;
    const size_t sent_heads = client.is_head.size();
    if (forwarded > sent_heads) {
        std::fprintf(stderr, "replica saw %llu request heads, the client sent %zu\n",
                     static_cast<unsigned long long>(forwarded), sent_heads);
        dlb::fuzz::fail("the replica saw more requests than the client sent", input);
    }
    return 0;
}
