#include "agent/ctl/options.hpp"

#include "agent/ctl/errors.hpp"
#include "common/config.hpp"

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>

namespace dlb::ctl {

namespace {

CtlError usage(const std::string& what)
{
    return CtlError(kExitUsage, what + " (see dlbctl --help)");
}

bool isDigits(const std::string& s)
{
    return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

} // namespace

Options parseOptions(int argc, char** argv)
{
    Options o;
    bool options_done = false;
    std::vector<std::string> positional;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (options_done || arg.size() < 2 || arg[0] != '-') {
            positional.push_back(arg);
            continue;
        }
        if (arg == "--") {
            options_done = true;
            continue;
        }
        if (arg == "-h" || arg == "--help") {
            o.help = true;
            continue;
        }
        if (arg.rfind("--", 0) != 0) {
            positional.push_back(arg); // "-1": a value, for the agent to judge
            continue;
        }
        std::string name = arg, value;
        bool has_value = false;
        if (const size_t eq = arg.find('='); eq != std::string::npos) {
            name = arg.substr(0, eq);
            value = arg.substr(eq + 1);
            has_value = true;
        }
        const auto flag = [&](bool& out) {
            if (has_value)
                throw usage(name + " takes no value");
            out = true;
        };
        const auto takeValue = [&]() -> std::string {
            if (has_value)
                return value;
            if (i + 1 >= argc)
                throw usage(name + " needs a value");
            return argv[++i];
        };
        if (name == "--json")
            flag(o.json);
        else if (name == "--watch")
            flag(o.watch);
        else if (name == "--version")
            flag(o.version);
        else if (name == "--socket")
            o.socket = takeValue();
        else if (name == "--url")
            o.url = takeValue();
        else if (name == "--token-file")
            o.token_file = takeValue();
        else if (name == "--cacert")
            o.cacert = takeValue();
        else if (name == "--weight")
            o.weight = takeValue();
        else if (name == "--id")
            o.id = takeValue();
        else if (name == "--if-match") {
            o.if_match = takeValue();
            if (!isDigits(o.if_match) || o.if_match.size() > 19)
                throw usage("--if-match: a generation is a whole number (as `dlbctl status` shows it), got \"" +
                            o.if_match + "\"");
        } else if (name == "--timeout-ms") {
            const std::string v = takeValue();
            unsigned ms = 0;
            const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), ms);
            if (!isDigits(v) || ec != std::errc() || end != v.data() + v.size() || ms < 1 || ms > kMaxTimeoutMs)
                throw usage("--timeout-ms: must be a whole number of milliseconds in [1, " +
                            std::to_string(kMaxTimeoutMs) + "], got \"" + v + "\"");
            o.timeout_ms = ms;
        } else if (name == "--token") {
            throw usage("--token: a token on the command line shows in ps and shell histories; put it in a file "
                        "(mode 0600) and pass --token-file FILE or set DLB_TOKEN_FILE");
        } else {
            throw usage("unknown option " + name);
        }
    }
    if (!positional.empty()) {
        o.command = positional.front();
        o.args.assign(positional.begin() + 1, positional.end());
    }
    if (o.socket && o.url)
        throw usage("--socket and --url both given; pick one");
    if (o.cacert && !(o.url && o.url->rfind("https://", 0) == 0))
        throw usage("--cacert is for an https:// --url only");
    return o;
}

Target resolveTarget(const Options& o)
{
    Target t;
    t.timeout_ms = o.timeout_ms;
    if (!o.url) {
        if (o.socket)
            t.socket_path = *o.socket;
        else if (const char* env = std::getenv("DLB_SOCKET"); env && *env)
            t.socket_path = env;
        else
            t.socket_path = kDefaultSocket;
        return t;
    }
    std::string rest = *o.url;
    const auto bad = [&](const std::string& why) {
        return usage("--url " + *o.url + ": " + why + "; write it as http(s)://HOST:PORT, as control.address says");
    };
    if (rest.rfind("https://", 0) == 0) {
        t.tls = true;
        rest.erase(0, 8);
    } else if (rest.rfind("http://", 0) == 0) {
        rest.erase(0, 7);
    } else {
        throw bad("the scheme must be http or https");
    }
    if (!rest.empty() && rest.back() == '/')
        rest.pop_back();
    if (rest.find_first_of("/?#@") != std::string::npos)
        throw bad("only a host and a port, no path, query or user");
    std::string why;
    const auto ep = common::parseEndpoint(rest, &why);
    if (!ep || ep->port == 0)
        throw bad(ep ? "the port must not be 0" : why);
    t.host = ep->host;
    t.port = ep->port;
    if (o.cacert)
        t.cacert = *o.cacert;
    return t;
}

std::string readTokenFile(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw CtlError(kExitUsage, "cannot read the token file " + path + ": " + std::strerror(errno) +
                                       " (it must be readable by the user running dlbctl)");
    std::string token(kMaxTokenFileBytes + 1, '\0');
    in.read(token.data(), static_cast<std::streamsize>(token.size()));
    if (in.bad())
        throw CtlError(kExitUsage, "cannot read the token file " + path + ": " + std::strerror(errno));
    token.resize(static_cast<size_t>(in.gcount()));
    if (token.size() > kMaxTokenFileBytes)
        throw CtlError(kExitUsage, "the token file " + path + " is over " + std::to_string(kMaxTokenFileBytes) +
                                       " bytes; it must hold the token alone, on one line");
    // Editors and `echo` end a file with a newline; one is not part of the token.
    if (!token.empty() && token.back() == '\n')
        token.pop_back();
    if (token.empty())
        throw CtlError(kExitUsage, "the token file " + path + " is empty; put the token in it");
    // RFC 6750 b64token: what the agent accepts after "Bearer ".
    const size_t body_end = token.find_last_not_of('=');
    const bool ok = body_end != std::string::npos &&
                    token.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/") >
                        body_end;
    if (!ok)
        throw CtlError(kExitUsage, "the token file " + path +
                                       " holds a character no bearer token has (a space, a second line, "
                                       "a carriage return?); it must hold the token alone, on one line");
    return token;
}

std::string loadToken(const Options& o)
{
    if (o.token_file)
        return readTokenFile(*o.token_file);
    if (const char* env = std::getenv("DLB_TOKEN_FILE"); env && *env)
        return readTokenFile(env);
    return {};
}

} // namespace dlb::ctl
