#include "tools/replica/options.hpp"

#include "tools/common/cli_support.hpp"
#include "agent/net/listener.hpp"
#include "common/config.hpp"

#include <algorithm>

namespace dlb::tools::replica {

namespace {

constexpr unsigned kMaxWorkers = 100000;
constexpr double kMaxServiceMs = 3'600'000;   // an hour: beyond that it is a typo
constexpr double kMaxSlowFactor = 1'000'000;
constexpr size_t kMaxNameLength = 64;
constexpr double kMaxPingDelayMs = 60000;  // a probe later than a minute is no probe

// The name goes into a header and into JSON unescaped, so it is restricted to token characters.
bool validName(std::string_view name)
{
    if (name.empty() || name.size() > kMaxNameLength)
        return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
               c == '_' || c == '.' || c == ':';
    });
}

bool parseDistribution(std::string_view text, Options& o)
{
    if (text == "exp") {
        o.distribution = Distribution::Exponential;
    } else if (text == "fixed") {
        o.distribution = Distribution::Fixed;
    } else if (text == "normal") {
        o.distribution = Distribution::Normal;
    } else if (text.starts_with("uniform:")) {
        const std::string_view range = text.substr(8);
        const size_t colon = range.find(':');
        if (colon == std::string_view::npos)
            return false;
        const auto lo = parseDouble(range.substr(0, colon));
        const auto hi = parseDouble(range.substr(colon + 1));
        if (!lo || !hi || *lo < 0 || *hi < *lo || *hi > kMaxServiceMs)
            return false;
        o.distribution = Distribution::Uniform;
        o.uniform_min_ms = *lo;
        o.uniform_max_ms = *hi;
    } else {
        return false;
    }
    return true;
}

bool parseSchedule(std::string_view text, std::vector<SlowStep>& out)
{
    out.clear();
    while (!text.empty()) {
        const size_t comma = text.find(',');
        const std::string_view item = text.substr(0, comma);
        const size_t colon = item.find(':');
        if (colon == std::string_view::npos)
            return false;
        const auto at = parseDouble(item.substr(0, colon));
        const auto factor = parseDouble(item.substr(colon + 1));
        if (!at || !factor || *at < 0 || *factor <= 0 || *factor > kMaxSlowFactor)
            return false;
        out.push_back({*at, *factor});
        if (comma == std::string_view::npos)
            break;
        text.remove_prefix(comma + 1);
        if (text.empty())
            return false; // trailing comma
    }
    std::stable_sort(out.begin(), out.end(), [](const SlowStep& a, const SlowStep& b) { return a.at_s < b.at_s; });
    return !out.empty();
}

} // namespace

const char* distributionName(Distribution d)
{
    switch (d) {
    case Distribution::Exponential: return "exp";
    case Distribution::Fixed: return "fixed";
    case Distribution::Normal: return "normal";
    case Distribution::Uniform: return "uniform";
    }
    return "?";
}

const char* usage()
{
    return "usage: dlb-replica [options]\n"
           "A demo and benchmark backend: every request queues for one of --workers service slots,\n"
           "holds it for a simulated service time, and is answered 200 with the replica's name (or\n"
           "its own body echoed back). GET /ping reports RIF and a latency estimate; GET /healthz\n"
           "answers ok.\n"
           "\n"
           "  --listen HOST:PORT      address to listen on (default 127.0.0.1:9001; port 0 picks one)\n"
           "  --name NAME             X-Replica value (default replica-<port>); [A-Za-z0-9._:-], <= 64\n"
           "  --workers N             service slots (default 8)\n"
           "  --service-ms MS         mean service time in ms (default 10; 0 answers at once)\n"
           "  --dist D                exp | fixed | normal | uniform:MIN:MAX (ms) (default exp)\n"
           "  --slow FACTOR           multiplies every service time (default 1)\n"
           "  --slow-schedule T:F,... at T seconds after start the slow factor becomes F\n"
           "  --fail-rate P           answer 500 at once with probability P in [0,1] (default 0)\n"
           "  --max-queue N           answer 503 when N requests already wait (default 0: unbounded)\n"
           "  --seed N                random seed (default: from the clock)\n"
           "  --no-load-header        do not send X-Load: rif=N, latency_ms=M on every answer\n"
           "  --probes-queue          /ping and /healthz wait for a slot and a service time like a request\n"
           "  --ping-delay-ms MS      /ping holds its slot MS longer than a request (implies --probes-queue)\n"
           "  --help, --version\n"
           "\n"
           "The first line on stdout is \"listening on HOST:PORT\" with the real port.\n";
}

ParsedArgs parseArgs(int argc, char** argv)
{
    ParsedArgs out;
    Options& o = out.options;
    ArgCursor args(argc, argv);
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
        if (flag == "--no-load-header") {
            o.load_header = false;
            continue;
        }
        if (flag == "--probes-queue") {
            o.probes_queue = true;
            continue;
        }
        static const char* const kWithValue[] = {"--listen", "--name", "--workers", "--service-ms", "--dist",
                                                 "--slow", "--slow-schedule", "--fail-rate", "--max-queue",
                                                 "--seed", "--ping-delay-ms"};
        if (std::find(std::begin(kWithValue), std::end(kWithValue), flag) == std::end(kWithValue))
            return out.fail("unknown option \"" + flag + "\" (see --help)");
        const auto value = args.value();
        if (!value)
            return out.fail(flag + " needs a value (see --help)");
        const std::string v(*value);
        auto bad = [&](const std::string& expected) { return out.fail(expectedGot(flag, expected, v)); };

        if (flag == "--listen") {
            std::string why;
            const auto hp = common::parseEndpoint(v, &why);
            if (!hp)
                return out.fail("--listen: " + why);
            o.host = hp->host;
            o.port = hp->port;
        } else if (flag == "--name") {
            if (!validName(v))
                return bad("1 to 64 characters from [A-Za-z0-9._:-]");
            o.name = v;
        } else if (flag == "--workers") {
            const auto n = parseUnsigned(v);
            if (!n || *n < 1 || *n > kMaxWorkers)
                return bad("an integer in [1, " + std::to_string(kMaxWorkers) + "]");
            o.workers = static_cast<unsigned>(*n);
        } else if (flag == "--service-ms") {
            const auto d = parseDouble(v);
            if (!d || *d < 0 || *d > kMaxServiceMs)
                return bad("milliseconds in [0, 3600000]");
            o.service_ms = *d;
        } else if (flag == "--dist") {
            if (!parseDistribution(v, o))
                return bad("exp, fixed, normal or uniform:MIN:MAX with 0 <= MIN <= MAX (ms)");
        } else if (flag == "--slow") {
            const auto d = parseDouble(v);
            if (!d || *d <= 0 || *d > kMaxSlowFactor)
                return bad("a factor > 0");
            o.slow = *d;
        } else if (flag == "--slow-schedule") {
            if (!parseSchedule(v, o.slow_schedule))
                return bad("SECONDS:FACTOR[,SECONDS:FACTOR...] with SECONDS >= 0 and FACTOR > 0");
        } else if (flag == "--fail-rate") {
            const auto d = parseDouble(v);
            if (!d || *d < 0 || *d > 1)
                return bad("a probability in [0, 1]");
            o.fail_rate = *d;
        } else if (flag == "--max-queue") {
            const auto n = parseUnsigned(v);
            if (!n)
                return bad("a non-negative integer (0: unbounded)");
            o.max_queue = *n;
        } else if (flag == "--ping-delay-ms") {
            const auto d = parseDouble(v);
            if (!d || *d < 0 || *d > kMaxPingDelayMs)
                return bad("milliseconds in [0, 60000]");
            o.ping_delay_ms = *d;
            o.probes_queue = o.probes_queue || *d > 0;
        } else if (flag == "--seed") {
            const auto n = parseUnsigned(v);
            if (!n)
                return bad("a non-negative integer");
            o.seed = *n;
            o.seed_given = true;
        }
    }
    return out;
}

} // namespace dlb::tools::replica
