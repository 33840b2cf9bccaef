#include "tools/loadgen/options.hpp"

#include "tools/common/cli_support.hpp"
#include "agent/net/listener.hpp"
#include "common/config.hpp"

#include <algorithm>
#include <iterator>

namespace dlb::tools::loadgen {

namespace {

constexpr unsigned kMaxConnections = 100000;
constexpr double kMaxRate = 10'000'000;
constexpr double kMaxDurationS = 7 * 24 * 3600;
constexpr uint64_t kMaxTimeoutMs = 3'600'000;

bool parseUrl(std::string_view url, Target& out, std::string& why)
{
    constexpr std::string_view kScheme = "http://";
    if (!url.starts_with(kScheme)) {
        why = url.starts_with("https://") ? "only http:// URLs are supported" : "expected http://HOST[:PORT][/PATH]";
        return false;
    }
    std::string_view rest = url.substr(kScheme.size());
    const size_t slash = rest.find_first_of("/?#");
    const std::string_view authority = rest.substr(0, slash);
    std::string path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
    if (const size_t hash = path.find('#'); hash != std::string::npos)
        path.erase(hash);
    if (path.empty() || path.front() == '?')
        path.insert(0, "/");
    if (authority.empty() || authority.find('@') != std::string_view::npos) {
        why = "expected http://HOST[:PORT][/PATH]";
        return false;
    }
    // Without a port, the default one; parseEndpoint wants one, so add it.
    const bool has_port = authority.front() == '[' ? authority.find("]:") != std::string_view::npos
                                                   : authority.find(':') != std::string_view::npos;
    const auto hp = common::parseEndpoint(has_port ? std::string(authority) : std::string(authority) + ":80", &why);
    if (!hp)
        return false;
    if (hp->port == 0) {
        why = "port 0 is not a destination";
        return false;
    }
    out.host = hp->host;
    out.port = hp->port;
    out.authority = std::string(authority);
    out.path = path;
    return true;
}

} // namespace

const char* usage()
{
    return "usage: dlb-loadgen --url URL (open loop options | closed loop options) [options]\n"
           "An HTTP/1.1 load generator over keep-alive connections.\n"
           "\n"
           "open loop (requests leave on a schedule; latency counts from the scheduled time):\n"
           "  --rate R                requests per second\n"
           "  --duration S            seconds of measurement (default 10)\n"
           "  --warmup S              seconds sent first and not measured (default 0)\n"
           "  --connections N         at most N connections, opened as needed (default 256)\n"
           "  --arrivals A            uniform | poisson spacing (default uniform)\n"
           "closed loop (the ab style: each connection sends its next request on an answer):\n"
           "  --requests N            requests in all\n"
           "  --concurrency C         connections (default 1)\n"
           "both:\n"
           "  --url http://HOST[:PORT][/PATH]  the target (required)\n"
           "  --timeout-ms MS         a request older than this fails as timeout (default 5000)\n"
           "  --json FILE             also write the results as JSON\n"
           "  --seed N                seed of the Poisson arrivals\n"
           "  --help, --version\n"
           "Exit status: 0 when the run happened (errors are reported), 2 on bad arguments.\n";
}

ParsedArgs parseArgs(int argc, char** argv)
{
    ParsedArgs out;
    Options& o = out.options;
    ArgCursor args(argc, argv);
    bool open_flag = false;   // --rate, --duration, --warmup, --connections, --arrivals given
    bool closed_flag = false; // --requests, --concurrency given
    std::string open_name, closed_name;
    while (args.next()) {
        const std::string flag(args.flag());
        if (flag == "--help" || flag == "-h") {
            out.action = ParsedArgs::Action::Help;
            return out;
        }
        if (flag == "--version") {
            out.action = ParsedArgs::Action::Version;
            return out;
        }
        static const char* const kWithValue[] = {"--url", "--rate", "--duration", "--warmup", "--connections",
                                                 "--arrivals", "--requests", "--concurrency", "--timeout-ms",
                                                 "--json", "--seed"};
        if (std::find(std::begin(kWithValue), std::end(kWithValue), flag) == std::end(kWithValue))
            return out.fail("unknown option \"" + flag + "\" (see --help)");
        const auto value = args.value();
        if (!value)
            return out.fail(flag + " needs a value (see --help)");
        const std::string v(*value);
        auto bad = [&](const std::string& expected) { return out.fail(expectedGot(flag, expected, v)); };

        if (flag == "--rate" || flag == "--duration" || flag == "--warmup" || flag == "--connections" ||
            flag == "--arrivals") {
            open_flag = true;
            open_name = flag;
        } else if (flag == "--requests" || flag == "--concurrency") {
            closed_flag = true;
            closed_name = flag;
        }

        if (flag == "--url") {
            std::string why;
            if (!parseUrl(v, o.target, why))
                return out.fail("--url: " + why + ", got \"" + v + "\"");
            o.url = v;
        } else if (flag == "--rate") {
            const auto d = parseDouble(v);
            if (!d || *d <= 0 || *d > kMaxRate)
                return bad("requests per second in (0, 10000000]");
            o.rate = *d;
        } else if (flag == "--duration") {
            const auto d = parseDouble(v);
            if (!d || *d <= 0 || *d > kMaxDurationS)
                return bad("seconds > 0");
            o.duration_s = *d;
        } else if (flag == "--warmup") {
            const auto d = parseDouble(v);
            if (!d || *d < 0 || *d > kMaxDurationS)
                return bad("seconds >= 0");
            o.warmup_s = *d;
        } else if (flag == "--connections" || flag == "--concurrency") {
            const auto n = parseUnsigned(v);
            if (!n || *n < 1 || *n > kMaxConnections)
                return bad("an integer in [1, " + std::to_string(kMaxConnections) + "]");
            (flag == "--connections" ? o.connections : o.concurrency) = static_cast<unsigned>(*n);
        } else if (flag == "--arrivals") {
            if (v == "uniform")
                o.arrivals = Arrivals::Uniform;
            else if (v == "poisson")
                o.arrivals = Arrivals::Poisson;
            else
                return bad("uniform or poisson");
        } else if (flag == "--requests") {
            const auto n = parseUnsigned(v);
            if (!n || *n < 1)
                return bad("an integer >= 1");
            o.requests = *n;
        } else if (flag == "--timeout-ms") {
            const auto n = parseUnsigned(v);
            if (!n || *n < 1 || *n > kMaxTimeoutMs)
                return bad("milliseconds in [1, 3600000]");
            o.timeout_ms = *n;
        } else if (flag == "--json") {
            if (v.empty())
                return bad("a file name");
            o.json_path = v;
        } else if (flag == "--seed") {
            const auto n = parseUnsigned(v);
            if (!n)
                return bad("a non-negative integer");
            o.seed = *n;
            o.seed_given = true;
        }
    }
    if (o.url.empty())
        return out.fail("--url is required, e.g. --url http://127.0.0.1:8080/ (see --help)");
    if (open_flag && closed_flag)
        return out.fail(open_name + " (open loop) and " + closed_name +
                    " (closed loop) do not mix: give --rate/--duration or --requests/--concurrency");
    if (closed_flag) {
        if (o.requests == 0)
            return out.fail("the closed loop needs --requests N (and --concurrency C)");
        o.mode = Mode::Closed;
    } else {
        if (o.rate == 0)
            return out.fail("give --rate R [--duration S] (open loop) or --requests N [--concurrency C] (closed loop)");
        o.mode = Mode::Open;
    }
    return out;
}

} // namespace dlb::tools::loadgen
