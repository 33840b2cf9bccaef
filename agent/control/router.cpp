#include "agent/control/router.hpp"

#include "agent/http/path.hpp"

#include <nlohmann/json.hpp>

namespace dlb::agent::control {

namespace {

std::vector<std::string_view> segments(std::string_view path)
{
    std::vector<std::string_view> out;
    if (path.starts_with('/'))
        path.remove_prefix(1);
    while (true) {
        const size_t slash = path.find('/');
        out.push_back(path.substr(0, slash));
        if (slash == std::string_view::npos)
            break;
        path.remove_prefix(slash + 1);
    }
    return out;
}

const char* statusReason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 417: return "Expectation Failed";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Status";
    }
}

} // namespace

std::string_view reasonPhrase(int status)
{
    return statusReason(status);
}

std::string_view roleName(Role role)
{
    switch (role) {
    case Role::None: return "none";
    case Role::Viewer: return "viewer";
    case Role::Admin: return "admin";
    }
    return "none";
}

std::string_view Request::header(std::string_view name) const
{
    for (const auto& [k, v] : headers)
        if (k == name)
            return v;
    return {};
}

bool Request::hasHeader(std::string_view name) const
{
    for (const auto& [k, v] : headers)
        if (k == name)
            return true;
    return false;
}

Response Response::json(int status, const nlohmann::json& body)
{
    Response r;
    r.status = status;
    r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    r.body += '\n';
    return r;
}

Response Response::error(int status, std::string_view code, std::string_view message, std::string_view path)
{
    return json(status, {{"error", {{"code", code}, {"message", message}, {"path", path}}}});
}

std::string percentEncode(std::string_view segment)
{
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (const char c : segment) {
        const auto b = static_cast<unsigned char>(c);
        if ((b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z') || (b >= '0' && b <= '9') || b == '-' || b == '.' ||
            b == '_' || b == '~' || b == ':' || b == '@') {
            out += c;
        } else {
            out += '%';
            out += kHex[b >> 4];
            out += kHex[b & 15];
        }
    }
    return out;
}

bool percentDecode(std::string_view in, std::string* out)
{
    out->clear();
    for (size_t i = 0; i < in.size(); ++i) {
        char c = in[i];
        if (c == '%') {
            const int hi = i + 1 < in.size() ? http::hexDigitValue(in[i + 1]) : -1;
            const int lo = i + 2 < in.size() ? http::hexDigitValue(in[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return false;
            c = static_cast<char>(hi * 16 + lo);
            if (c == '\0' || c == '/')
                return false;
            i += 2;
        }
        out->push_back(c);
    }
    return true;
}

void Router::add(llhttp_method_t method, std::string pattern, Role role, Handler handler)
{
    routes_.push_back({method, std::move(pattern), role, std::move(handler)});
}

Router::Match Router::match(llhttp_method_t method, std::string_view path) const
{
    Match m;
    if (!path.starts_with('/')) {
        m.outcome = Outcome::BadPath;
        return m;
    }
    const auto given = segments(path);
    for (const auto& route : routes_) {
        const auto want = segments(route.pattern);
        if (want.size() != given.size())
            continue;
        std::vector<std::string> params;
        bool same = true;
        for (size_t i = 0; i < want.size() && same; ++i) {
            if (want[i].starts_with('{')) {
                std::string decoded;
                if (given[i].empty() || !percentDecode(given[i], &decoded)) {
                    m.outcome = Outcome::BadPath;
                    return m;
                }
                params.push_back(std::move(decoded));
            } else {
                same = want[i] == given[i];
            }
        }
        if (!same)
            continue;
        if (route.method != method) {
            const std::string_view name = llhttp_method_name(route.method);
            if (m.allow.find(name) == std::string::npos)
                m.allow += (m.allow.empty() ? "" : ", ") + std::string(name);
            if (m.outcome != Outcome::Found)
                m.outcome = Outcome::MethodNotAllowed;
            continue;
        }
        m.outcome = Outcome::Found;
        m.route = &route;
        m.params = std::move(params);
        return m;
    }
    return m;
}

} // namespace dlb::agent::control
