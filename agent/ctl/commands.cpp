#include "agent/ctl/commands.hpp"

#include "agent/ctl/client.hpp"
#include "agent/ctl/errors.hpp"
#include "agent/ctl/options.hpp"
#include "agent/ctl/render.hpp"
#include "agent/ctl/table.hpp"

#include "common/algorithm_params.hpp"

#include <unistd.h>

#include <charconv>
#include <cmath>
#include <optional>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

namespace dlb::ctl {

namespace {

using json = nlohmann::json;

struct Command {
    std::string_view name;
    std::string_view usage;
    std::string_view summary;
    std::string_view details;
    int min_args;
    int max_args; // -1: any number
};

constexpr Command kCommands[] = {
    {"status", "status", "the agent's version, uptime, workers, listeners and config generation",
     "GET /v1/status. Needs a viewer or admin token.", 0, 0},
    {"pools", "pools", "every pool with its algorithm, parameters and replica counts",
     "GET /v1/pools. Needs a viewer or admin token.", 0, 0},
    {"replicas", "replicas POOL", "the replicas of POOL: id, url, weight, state, rif, latency, counters",
     "GET /v1/pools, the pool POOL of it (with --json: that pool's object). A pool that does not\n"
     "exist exits 1.",
     1, 1},
    {"add", "add POOL URL [--weight N] [--id ID]", "add a replica (pending until its first passing health check)",
     "POST /v1/pools/POOL/replicas. URL is http://HOST:PORT or https://HOST:PORT; --weight is 1..1000000\n"
     "(default 1); --id defaults to HOST:PORT. Needs an admin token.\n"
     "Example: dlbctl add web http://127.0.0.1:9003 --weight 2",
     2, 2},
    {"drain", "drain POOL ID", "stop sending new requests to a replica; it is removed when its last one ends",
     "POST /v1/pools/POOL/replicas/ID/drain. ID is the replica's id (`dlbctl replicas POOL`),\n"
     "HOST:PORT by default. Needs an admin token.",
     2, 2},
    {"remove", "remove POOL ID", "remove a replica (drained first: no request in flight is lost)",
     "DELETE /v1/pools/POOL/replicas/ID. Needs an admin token.", 2, 2},
    {"weight", "weight POOL ID N", "set a replica's weight (1..1000000)",
     "PUT /v1/pools/POOL/replicas/ID/weight. Needs an admin token.", 3, 3},
    {"algorithm", "algorithm POOL NAME [KEY=VALUE ...]", "switch a pool's algorithm or set its parameters",
     "PUT /v1/pools/POOL/algorithm. Parameters not given take their defaults, not their running\n"
     "values: give every one you mean to keep (`dlbctl pools` shows them). hash_key=client|path|\n"
     "header:<Name> for ip_hash, ring_hash and maglev. Names, ranges, defaults: `dlbctl params NAME`.\n"
     "Needs an admin token.\n"
     "Example: dlbctl algorithm web prequal probe_rate=3 q_rif=0.84",
     2, -1},
    {"params", "params [NAME]", "algorithms and their parameters' ranges and defaults (no agent needed)",
     "Reads dlb's own parameter table (the one the agent validates against); contacts no agent.", 0, 1},
    {"health-check", "health-check POOL", "health-check every replica of POOL now and show the results",
     "POST /v1/pools/POOL/health-check. Exits 0 when the agent ran the checks, whatever they found.\n"
     "Needs an admin token.",
     1, 1},
    {"stats", "stats [--watch]", "requests, rates, latency percentiles, and per replica state and load",
     "GET /v1/stats. With --watch: GET /v1/stats/stream, one refreshed table per event (every\n"
     "control.stats_interval_ms) until Ctrl-C, which exits 0; with --json, one JSON line per event.\n"
     "Needs a viewer or admin token.",
     0, 0},
    {"config", "config", "the running config (token hashes redacted) and its generation",
     "GET /v1/config, printed as indented JSON. Needs a viewer or admin token.", 0, 0},
    {"version", "version", "dlbctl's version and the agent's",
     "Prints dlbctl's version, then asks the agent (GET /v1/status) for its own; `dlbctl --version`\n"
     "prints dlbctl's alone without contacting the agent.",
     0, 0},
    {"help", "help [COMMAND]", "this text, or a command's", "", 0, 1},
};

const Command* findCommand(std::string_view name)
{
    for (const auto& c : kCommands)
        if (c.name == name)
            return &c;
    return nullptr;
}

constexpr std::string_view kGlobalHelp =
    "Where the agent is:\n"
    "  --socket PATH       the control socket (default $DLB_SOCKET, else /run/dlb/control.sock)\n"
    "  --url URL           http(s)://HOST:PORT of control.address instead of the socket\n"
    "  --cacert FILE       https: the CA that signed the agent's certificate (default: the\n"
    "                      system's CAs); the certificate is always verified\n"
    "  --token-file FILE   the bearer token, alone in the file (default $DLB_TOKEN_FILE); never\n"
    "                      on the command line, where ps would show it\n"
    "  --timeout-ms N      give up on connecting or on an answer after N ms (default 5000)\n"
    "Output and changes:\n"
    "  --json              print the agent's JSON as received, for scripts and jq\n"
    "  --if-match GEN      refuse the change if the config generation is no longer GEN (409)\n"
    "  -h, --help          help (also `dlbctl help COMMAND`, `dlbctl COMMAND --help`)\n"
    "  --version           dlbctl's version\n"
    "Exit codes:\n"
    "  0 done   1 the agent refused (4xx)   2 usage error (or unreadable token file)\n"
    "  3 cannot reach the agent (connect, TLS, timeout)   4 not authorised (401, 403)\n"
    "  5 the agent failed (5xx) or its answer was malformed\n";

void printHelp(const Command* c)
{
    if (c && c->name != "help") {
        std::printf("usage: dlbctl [OPTIONS] %s\n\n%s.\n", std::string(c->usage).c_str(),
                    std::string(c->summary).c_str());
        if (!c->details.empty())
            std::printf("\n%s\n", std::string(c->details).c_str());
        std::printf("\n%s", std::string(kGlobalHelp).c_str());
        return;
    }
    std::printf("usage: dlbctl [OPTIONS] COMMAND [ARGS]\n\nThe command-line client of dlb-agent's control API.\n\n"
                "Commands:\n");
    for (const auto& k : kCommands)
        std::printf("  %-38s %s\n", std::string(k.usage).c_str(), std::string(k.summary).c_str());
    std::printf("\n%s\nMore: dlbctl help COMMAND, man dlbctl, docs/dlbctl.md.\n", std::string(kGlobalHelp).c_str());
}

CtlError usage(const std::string& what, const Command& c)
{
    return CtlError(kExitUsage, what + "; usage: dlbctl " + std::string(c.usage) + " (see dlbctl help " +
                                    std::string(c.name) + ")");
}

void print(const std::string& text)
{
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
}

// The agent's JSON as received (parsed already, so valid), with the controls a terminal would
// act on escaped: the same JSON for jq, nothing that moves the cursor or retitles the window.
void printRaw(const Answer& a)
{
    const std::string safe = terminalSafeJson(a.body);
    print(safe.empty() || safe.back() != '\n' ? safe + "\n" : safe);
}

// Everything a command that talks to the agent needs.
struct Session {
    Target target;
    std::string token;
    std::string if_match;
    bool json = false;

    Answer request(const std::string& method, const std::string& path, const std::string& body = {}) const
    {
        Request req;
        req.method = method;
        req.path = path;
        req.body = body;
        req.token = token;
        if (method != "GET")
            req.if_match = if_match;
        Answer a = call(target, req);
        check(a);
        return a;
    }

    void check(const Answer& a) const
    {
        const int code = exitCodeFor(a.status);
        if (code == kExitOk)
            return;
        std::string message = errorMessage(a);
        if (a.status == 401)
            message += token.empty() ? "; pass --token-file FILE or set DLB_TOKEN_FILE"
                                     : "; is the token in the token file one of control.tokens?";
        else if (a.status == 403)
            message += "; use an admin token for changes";
        throw CtlError(code, message);
    }
};

std::string poolPath(const std::string& pool)
{
    return "/v1/pools/" + escapeSegment(pool);
}

std::string replicaPath(const std::string& pool, const std::string& id)
{
    return poolPath(pool) + "/replicas/" + escapeSegment(id);
}

// A decimal number for a JSON body, or nullopt. Whole numbers stay integers in the JSON so the
// agent's "whole number" rules see what the operator typed.
std::optional<json> parseNumber(const std::string& text)
{
    if (text.empty())
        return std::nullopt;
    long long whole = 0;
    if (auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), whole);
        ec == std::errc() && end == text.data() + text.size())
        return json(whole);
    double d = 0;
    if (auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), d);
        ec == std::errc() && end == text.data() + text.size() && std::isfinite(d))
        return json(d);
    return std::nullopt;
}

volatile std::sig_atomic_t g_stop = 0;

extern "C" void onStopSignal(int)
{
    g_stop = 1;
}

int watchStats(const Session& s, unsigned idle_ms)
{
    struct sigaction sa{};
    sa.sa_handler = &onStopSignal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    Connection::setStopFlag(&g_stop);
    const bool tty = ::isatty(STDOUT_FILENO) == 1;
    Request req;
    req.path = "/v1/stats/stream";
    req.token = s.token;
    try {
        const Answer a = stream(s.target, req, idle_ms, [&](const std::string& event, const std::string& data) {
            if (event != "stats")
                return true;
            // Parsed also for --json: a script must not get garbage (nor raw controls) with exit 0.
            const json doc = json::parse(data, nullptr, false);
            if (!doc.is_object())
                throw CtlError(kExitAgentError, "a stats event is not a JSON object; is that the agent?");
            if (s.json) {
                print(terminalSafeJson(data) + "\n");
                return true;
            }
            // A terminal gets one table in place; a pipe or file gets them one after another.
            print((tty ? "\033[H\033[2J" : "\n") + renderStats(doc));
            return true;
        });
        if (g_stop)
            return kExitOk;
        s.check(a);
        // A 2xx that is not an event stream: something else answers on that address.
        throw CtlError(kExitAgentError, "the answer to GET /v1/stats/stream is not an event stream (Content-Type \"" +
                                            a.content_type + "\"); is that address the agent's control socket?");
    } catch (const CtlError& e) {
        if (e.exitCode() == kExitOk && g_stop)
            return kExitOk; // Ctrl-C: the watch ends as asked
        throw;
    }
}

int runCommand(const Command& c, const Options& o)
{
    const auto& a = o.args;
    if (o.weight && c.name != "add")
        throw usage("--weight is for `add` (to change a weight: dlbctl weight POOL ID N)", c);
    if (o.id && c.name != "add")
        throw usage("--id is for `add`", c);
    if (o.watch && c.name != "stats")
        throw usage("--watch is for `stats`", c);
    if (static_cast<int>(a.size()) < c.min_args || (c.max_args >= 0 && static_cast<int>(a.size()) > c.max_args))
        throw usage(a.size() < static_cast<size_t>(c.min_args) ? "missing arguments" : "too many arguments", c);

    if (c.name == "params") {
        const std::string name = a.empty() ? "" : a[0];
        if (!name.empty() && !common::findAlgorithm(name)) {
            std::string names;
            for (const auto& k : common::algorithms())
                names += (names.empty() ? "" : ", ") + std::string(k.name);
            throw usage("unknown algorithm \"" + name + "\"; one of: " + names, c);
        }
        print(o.json ? paramsJson(name).dump(2) + "\n" : renderParams(name));
        return kExitOk;
    }

    Session s;
    s.target = resolveTarget(o);
    s.token = loadToken(o);
    s.if_match = o.if_match;
    s.json = o.json;

    // Body checks before the agent is asked, so a typo never reaches it.
    json body;
    if (c.name == "add") {
        body["url"] = a[1];
        if (o.weight) {
            const auto w = parseNumber(*o.weight);
            if (!w || !w->is_number_integer())
                throw usage("--weight: a whole number in [1, 1000000], got \"" + *o.weight + "\"", c);
            body["weight"] = *w;
        }
        if (o.id)
            body["id"] = *o.id;
    } else if (c.name == "weight") {
        const auto w = parseNumber(a[2]);
        if (!w || !w->is_number_integer())
            throw usage("the weight is a whole number in [1, 1000000], got \"" + a[2] + "\"", c);
        body["weight"] = *w;
    } else if (c.name == "algorithm") {
        body["name"] = a[1];
        json params = json::object();
        for (size_t i = 2; i < a.size(); ++i) {
            const size_t eq = a[i].find('=');
            if (eq == std::string::npos || eq == 0)
                throw usage("\"" + a[i] + "\" is not KEY=VALUE", c);
            const std::string key = a[i].substr(0, eq), value = a[i].substr(eq + 1);
            if (params.contains(key) || (key == "hash_key" && body.contains("hash_key")))
                throw usage(key + " given twice", c);
            if (key == "hash_key") {
                body["hash_key"] = value;
                continue;
            }
            const auto n = parseNumber(value);
            if (!n)
                throw usage(key + ": \"" + value + "\" is not a number", c);
            params[key] = *n;
        }
        body["params"] = params;
    }

    if (c.name == "version") {
        print("dlbctl " DLB_VERSION "\n");
        const Answer ans = s.request("GET", "/v1/status");
        const json doc = parseJson(ans);
        print("dlb-agent " + cell(doc.value("version", json())) + " (" + s.target.describe() + ")\n");
        return kExitOk;
    }
    if (c.name == "stats" && o.watch)
        return watchStats(s, s.target.timeout_ms + common::kMaxStatsIntervalMs);

    Answer ans;
    std::string method = "GET", path;
    if (c.name == "status")
        path = "/v1/status";
    else if (c.name == "pools" || c.name == "replicas")
        path = "/v1/pools";
    else if (c.name == "config")
        path = "/v1/config";
    else if (c.name == "stats")
        path = "/v1/stats";
    else if (c.name == "add")
        method = "POST", path = poolPath(a[0]) + "/replicas";
    else if (c.name == "drain")
        method = "POST", path = replicaPath(a[0], a[1]) + "/drain";
    else if (c.name == "remove")
        method = "DELETE", path = replicaPath(a[0], a[1]);
    else if (c.name == "weight")
        method = "PUT", path = replicaPath(a[0], a[1]) + "/weight";
    else if (c.name == "algorithm")
        method = "PUT", path = poolPath(a[0]) + "/algorithm";
    else if (c.name == "health-check")
        method = "POST", path = poolPath(a[0]) + "/health-check";
    ans = s.request(method, path, body.is_null() ? std::string() : body.dump());
    const json doc = parseJson(ans); // also with --json: a script must not get garbage with exit 0

    if (c.name == "replicas") {
        const json* pool = nullptr;
        std::string names;
        const json& pools = doc.contains("pools") && doc["pools"].is_array() ? doc["pools"] : json::array();
        for (const auto& p : pools) {
            names += (names.empty() ? "" : ", ") + cell(p.value("name", json()));
            if (p.value("name", json()) == a[0])
                pool = &p;
        }
        if (!pool)
            throw CtlError(kExitRefused, "no pool named \"" + a[0] + "\" (pools: " + names + ")");
        print(o.json ? terminalSafeJson(pool->dump()) + "\n" : renderReplicas(*pool));
        return kExitOk;
    }
    if (o.json) {
        printRaw(ans);
        return kExitOk;
    }
    if (c.name == "status")
        print(renderStatus(doc));
    else if (c.name == "pools")
        print(renderPools(doc));
    else if (c.name == "config")
        print(terminalSafeJson(doc.dump(2)) + "\n");
    else if (c.name == "stats")
        print(renderStats(doc));
    else if (c.name == "add")
        print(renderReplicaChange(doc, a[0], "added: it takes requests after its first passing health check"));
    else if (c.name == "drain" || c.name == "remove")
        print(renderReplicaChange(doc, a[0], "draining: no new requests; removed when its last request ends"));
    else if (c.name == "weight")
        print(renderReplicaChange(doc, a[0], "weight set"));
    else if (c.name == "algorithm")
        print(renderAlgorithm(doc));
    else if (c.name == "health-check")
        print(renderHealthCheck(doc));
    return kExitOk;
}

} // namespace

int run(int argc, char** argv)
{
    try {
        const Options o = parseOptions(argc, argv);
        if (o.version && o.command.empty()) {
            print("dlbctl " DLB_VERSION "\n");
            return kExitOk;
        }
        if (o.command.empty()) {
            if (o.help) {
                printHelp(nullptr);
                return kExitOk;
            }
            throw CtlError(kExitUsage, "no command given; `dlbctl --help` lists them");
        }
        const Command* c = findCommand(o.command);
        if (!c)
            throw CtlError(kExitUsage, "unknown command \"" + o.command + "\"; `dlbctl --help` lists them");
        if (c->name == "help") {
            const Command* about = o.args.empty() ? nullptr : findCommand(o.args[0]);
            if (!o.args.empty() && !about)
                throw CtlError(kExitUsage, "unknown command \"" + o.args[0] + "\"; `dlbctl --help` lists them");
            if (o.args.size() > 1)
                throw usage("too many arguments", *c);
            printHelp(about);
            return kExitOk;
        }
        if (o.help) {
            printHelp(c);
            return kExitOk;
        }
        return runCommand(*c, o);
    } catch (const CtlError& e) {
        if (!std::string_view(e.what()).empty())
            std::fprintf(stderr, "dlbctl: %s\n", e.what());
        return e.exitCode();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "dlbctl: internal error: %s (please report it)\n", e.what());
        return kExitAgentError;
    }
}

} // namespace dlb::ctl
