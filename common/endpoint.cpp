// Endpoints and replica URLs: the host:port forms a config may contain.

#include "config_detail.hpp"

#include <arpa/inet.h>

#include <string>

namespace dlb::common::detail {
namespace {


bool fail(std::string* why, std::string reason) {
    if (why) {
        *why = std::move(reason);
    }
    return false;
}

bool validHostName(std::string_view host) {
    if (host.size() > 253) {
        return false;
    }
    size_t label = 0;
    for (char c : host) {
        if (c == '.') {
            if (label == 0) {
                return false;
            }
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '-' || c == '_') {
            ++label;
        } else {
            return false;
        }
    }
    return label > 0 || host.ends_with('.');
}

bool validHost(std::string_view host, bool bracketed, std::string* why) {
    const std::string text(host);
    unsigned char buf[16];
    if (bracketed) {
        return inet_pton(AF_INET6, text.c_str(), buf) == 1 ||
               fail(why, "invalid IPv6 address " + quote(host));
    }
    if (host.find_first_not_of("0123456789.") == std::string_view::npos) {
        return inet_pton(AF_INET, text.c_str(), buf) == 1 ||
               fail(why, "invalid IPv4 address " + quote(host));
    }
    return validHostName(host) || fail(why, "invalid host name " + quote(host));
}

// "host:port" or "[v6]:port"; without a port only when `default_port` is given.

} // namespace

std::optional<Endpoint> parseHostPort(std::string_view text, std::optional<uint16_t> default_port,
                                      bool allow_zero_port,
                                      std::string* why) {
    const char* shape = default_port ? "host[:port]" : "host:port";
    if (text.empty()) {
        fail(why, std::string("expected ") + shape + ", got an empty string");
        return std::nullopt;
    }
    std::string_view host;
    std::optional<std::string_view> port;
    const bool bracketed = text.front() == '[';
    if (bracketed) {
        const size_t close = text.find(']');
        if (close == std::string_view::npos) {
            fail(why, "missing \"]\" after the IPv6 address");
            return std::nullopt;
        }
        host = text.substr(1, close - 1);
        const std::string_view rest = text.substr(close + 1);
        if (!rest.empty() && rest.front() != ':') {
            fail(why, "expected \":port\" after \"]\", got " + quote(rest));
            return std::nullopt;
        }
        if (!rest.empty()) {
            port = rest.substr(1);
        }
    } else {
        const size_t colon = text.rfind(':');
        if (colon != std::string_view::npos && text.find(':') != colon) {
            fail(why, "an IPv6 address must be in brackets, as in [::1]:8080");
            return std::nullopt;
        }
        host = text.substr(0, colon);
        if (colon != std::string_view::npos) {
            port = text.substr(colon + 1);
        }
    }
    if (host.empty()) {
        fail(why, std::string("missing host; expected ") + shape);
        return std::nullopt;
    }
    if (!validHost(host, bracketed, why)) {
        return std::nullopt;
    }
    Endpoint endpoint{std::string(host), default_port.value_or(0)};
    if (!port && !default_port) {
        fail(why, std::string("missing port; expected ") + shape);
        return std::nullopt;
    }
    if (port) {
        if (port->empty() || port->size() > 5 ||
            port->find_first_not_of("0123456789") != std::string_view::npos) {
            fail(why, std::string("port must be a number in [") + (allow_zero_port ? "0" : "1") + ",65535], got " + quote(*port));
            return std::nullopt;
        }
        const unsigned long value = std::stoul(std::string(*port));
        // Port 0 (listeners only) asks the kernel for a free port; the agent prints the one it got.
        if (value < (allow_zero_port ? 0UL : 1UL) || value > 65535) {
            fail(why, std::string("port must be in [") + (allow_zero_port ? "0" : "1") + ",65535], got " + std::to_string(value));
            return std::nullopt;
        }
        endpoint.port = static_cast<uint16_t>(value);
    }
    return endpoint;
}

std::string hostPort(const Endpoint& endpoint) {
    const bool v6 = endpoint.host.find(':') != std::string::npos;
    return (v6 ? "[" + endpoint.host + "]" : endpoint.host) + ":" + std::to_string(endpoint.port);
}

// "http[s]://host[:port][/]": each replica is a whole server, so a path, user information or
// another scheme would be silently ignored.
std::optional<Endpoint> parseReplicaUrl(std::string_view url, bool* https, std::string* why) {
    const size_t sep = url.find("://");
    if (sep == std::string_view::npos) {
        fail(why, "must be an http:// or https:// URL, as in http://127.0.0.1:9001");
        return std::nullopt;
    }
    std::string scheme(url.substr(0, sep));
    for (char& c : scheme) {
        c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    }
    if (scheme != "http" && scheme != "https") {
        fail(why, "only http:// and https:// replicas are supported, got " + quote(url.substr(0, sep + 3)));
        return std::nullopt;
    }
    *https = scheme == "https";
    const std::string_view rest = url.substr(sep + 3);
    const size_t end = rest.find_first_of("/?#");
    const std::string_view authority = rest.substr(0, end);
    const std::string_view tail = end == std::string_view::npos ? "" : rest.substr(end);
    if (authority.find('@') != std::string_view::npos) {
        fail(why, "must not contain user information");
        return std::nullopt;
    }
    if (!tail.empty() && tail != "/") {
        fail(why, "must not have a path, query or fragment, got " + quote(tail));
        return std::nullopt;
    }
    return parseHostPort(authority, *https ? 443 : 80, false, why);
}

// A path the agent writes into a request line itself, so it must be one.

} // namespace dlb::common::detail

namespace dlb::common {

std::optional<Endpoint> parseEndpoint(std::string_view text, std::string* why) {
    return detail::parseHostPort(text, std::nullopt, true, why);
}

} // namespace dlb::common
