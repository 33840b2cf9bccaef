#pragma once
// The control API's request model and route table: {method, path pattern, role, handler}.
// The server (server.hpp) parses, authenticates and calls the handler a route names; handlers
// answer through a Reply, at once or later (a health check that runs first), or as a stream
// (Server-Sent Events). Threading: the main thread's loop only.

#include <llhttp.h>
#include <nlohmann/json_fwd.hpp>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dlb::agent::control {

// What a route asks of the caller's token. None: no token at all (/healthz, /readyz).
enum class Role { None, Viewer, Admin };
std::string_view roleName(Role role);

using HeaderFields = std::vector<std::pair<std::string, std::string>>;

struct Request {
    llhttp_method_t method = HTTP_GET;
    std::string path;                // as sent, without the query
    std::string query;               // after "?", undecoded; empty when none
    std::vector<std::string> params; // the pattern's {name} segments, in order, percent-decoded
    HeaderFields headers;            // names lower-cased
    std::string body;
    std::string token_name;          // the token that authenticated it; empty for Role::None routes
    Role role = Role::None;          // the token's role
    std::string peer;                // "uid:1000" (Unix socket) or "ip:127.0.0.1" (TCP)

    // The first field with this (lower-case) name; empty when absent.
    std::string_view header(std::string_view name) const;
    bool hasHeader(std::string_view name) const;
};

struct Response {
    int status = 200;
    std::string content_type = "application/json";
    HeaderFields headers;
    std::string body;

    static Response json(int status, const nlohmann::json& body);
    // {"error": {"code": ..., "message": ..., "path": ...}}; `path` is a JSON path into the
    // request body or the config, empty when the error is about no field.
    static Response error(int status, std::string_view code, std::string_view message, std::string_view path = {});
};

// How a handler answers. send() once; or beginStream(), write()s, end(). Calls after the
// connection went away do nothing (open() says whether it still is).
class Reply {
public:
    virtual ~Reply() = default;
    virtual bool open() const = 0;
    virtual void send(Response response) = 0;
    // A response whose body is written as it comes, delimited by the connection's close (the
    // connection then serves nothing else). `headers` are added to the head.
    virtual void beginStream(int status, std::string_view content_type, const HeaderFields& headers) = 0;
    virtual void write(std::string_view data) = 0;
    // Bytes written but not yet taken by the peer: a stream should skip or stop when it grows.
    virtual size_t pendingBytes() const = 0;
    virtual void end() = 0;
    // Called once when the connection closes (a stream's owner forgets the Reply then).
    virtual void onClose(std::function<void()> callback) = 0;
};

using Handler = std::function<void(const Request&, const std::shared_ptr<Reply>&)>;

struct Route {
    llhttp_method_t method;
    std::string pattern; // "/v1/pools/{pool}/replicas/{id}": a {name} matches one segment
    Role role;
    Handler handler;
};

class Router {
public:
    void add(llhttp_method_t method, std::string pattern, Role role, Handler handler);

    enum class Outcome { Found, NotFound, MethodNotAllowed, BadPath };
    struct Match {
        Outcome outcome = Outcome::NotFound;
        const Route* route = nullptr;
        std::vector<std::string> params;
        std::string allow; // for MethodNotAllowed: "GET, POST"
    };
    // `path` as sent (percent-encoded). BadPath: a malformed %-escape or an empty segment.
    Match match(llhttp_method_t method, std::string_view path) const;
    const std::vector<Route>& routes() const { return routes_; }

private:
    std::vector<Route> routes_;
};

// "Not Found" for 404 and so on: the reason phrases the control server writes.
std::string_view reasonPhrase(int status);

// %XX-decodes one path segment; false when an escape is malformed or decodes to NUL or "/".
bool percentDecode(std::string_view in, std::string* out);
// One path segment as a URL carries it: every byte but RFC 3986's unreserved characters and
// ":" and "@" %XX-escaped (percentDecode() gives it back).
std::string percentEncode(std::string_view segment);

} // namespace dlb::agent::control
