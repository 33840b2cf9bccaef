#include "agent/ctl/client.hpp"

#include "agent/ctl/errors.hpp"
#include "agent/ctl/sse.hpp"
#include "agent/ctl/table.hpp"
#include "agent/http/parser.hpp"

#include <exception>
#include <optional>

namespace dlb::ctl {

namespace {

namespace http = agent::http;

std::string requestText(const Target& target, const Request& req, bool event_stream)
{
    std::string out = req.method + " " + req.path + " HTTP/1.1\r\nHost: ";
    if (target.host.empty())
        out += "localhost";
    else if (target.host.find(':') != std::string::npos)
        out += "[" + target.host + "]:" + std::to_string(target.port);
    else
        out += target.host + ":" + std::to_string(target.port);
    out += "\r\nUser-Agent: dlbctl/" DLB_VERSION "\r\nConnection: close\r\n";
    out += event_stream ? "Accept: text/event-stream\r\n" : "Accept: application/json\r\n";
    if (!req.token.empty())
        out += "Authorization: Bearer " + req.token + "\r\n";
    if (!req.if_match.empty())
        out += "If-Match: " + req.if_match + "\r\n";
    if (!req.body.empty())
        out += "Content-Type: application/json\r\n";
    if (!req.body.empty() || req.method == "POST" || req.method == "PUT")
        out += "Content-Length: " + std::to_string(req.body.size()) + "\r\n";
    out += "\r\n";
    out += req.body;
    return out;
}

// Collects one answer; in stream mode, a 200 text/event-stream body goes to the SSE parser.
class Collector : public http::ParserHandler {
public:
    Collector(bool stream_mode, SseParser::Handler on_event)
        : stream_mode_(stream_mode), sse_(std::move(on_event))
    {
    }

    HeadersAction onHeaders(const http::Message& msg) override
    {
        answer.status = msg.status();
        answer.content_type = std::string(msg.header("content-type"));
        if (answer.status >= 100 && answer.status < 200)
            return HeadersAction::Continue; // an interim answer: the real one follows
        streaming = stream_mode_ && answer.status == 200 &&
                    answer.content_type.rfind("text/event-stream", 0) == 0;
        return HeadersAction::Continue;
    }

    bool onBody(std::string_view data) override
    {
        if (!streaming) {
            if (answer.body.size() + data.size() > kMaxAnswerBytes) {
                too_large = true;
                return false;
            }
            answer.body.append(data);
            return true;
        }
        try {
            switch (sse_.feed(data)) {
            case SseParser::Result::Ok:
                return true;
            case SseParser::Result::Stopped:
                stopped = true;
                return false;
            case SseParser::Result::TooLarge:
                too_large = true;
                return false;
            }
        } catch (...) {
            // Never unwind through llhttp's C frames: rethrown once execute() returned.
            failure = std::current_exception();
        }
        return false;
    }

    bool onMessageComplete() override
    {
        if (answer.status >= 100 && answer.status < 200) {
            answer = {};
            return true;
        }
        done = true;
        return false;
    }

    Answer answer;
    bool streaming = false;
    bool done = false;
    bool stopped = false;
    bool too_large = false;
    std::exception_ptr failure;

private:
    bool stream_mode_;
    SseParser sse_;
};

Answer exchange(const Target& target, const Request& req, std::optional<unsigned> idle_ms,
                const SseParser::Handler& on_event)
{
    const auto deadline = Clock::now() + std::chrono::milliseconds(target.timeout_ms);
    auto conn = Connection::open(target, deadline);
    conn->sendAll(requestText(target, req, idle_ms.has_value()), deadline);

    http::ParserLimits limits;
    limits.max_header_bytes = kMaxAnswerHeaderBytes;
    limits.max_headers = kMaxAnswerHeaders;
    Collector collector(idle_ms.has_value(), on_event);
    http::Parser parser(http::Kind::Response, collector, limits);
    const auto malformed = [&](const std::string& why) {
        return CtlError(kExitAgentError, "the answer from " + target.describe() + " is not the control API's: " + why);
    };
    const auto tooLarge = [&] {
        return CtlError(kExitAgentError, "the answer from " + target.describe() + " is larger than " +
                                             std::to_string(collector.streaming ? kMaxEventBytes : kMaxAnswerBytes) +
                                             " bytes, more than the control API sends; is that the agent?");
    };
    char buf[16384];
    bool received = false;
    while (!collector.done) {
        const auto read_deadline =
            collector.streaming ? Clock::now() + std::chrono::milliseconds(*idle_ms) : deadline;
        const size_t n = conn->readSome(buf, sizeof buf, read_deadline);
        if (n == 0) {
            if (collector.streaming)
                throw CtlError(kExitUnreachable, "the agent closed the stats stream (stopping or restarting?)");
            if (!received)
                throw CtlError(kExitUnreachable, target.describe() +
                                                     " closed the connection without answering (is the agent stopping, "
                                                     "or at its limit of control connections? does it speak TLS there?)");
            if (parser.finish() == http::Parser::Status::Error || !collector.done)
                throw malformed("it was cut short (the connection closed in the middle)");
            break;
        }
        received = true;
        const auto r = parser.execute(buf, n);
        if (collector.failure)
            std::rethrow_exception(collector.failure);
        if (collector.stopped)
            return collector.answer;
        if (collector.too_large)
            throw tooLarge();
        if (r.status == http::Parser::Status::Error)
            throw malformed(parser.errorReason().empty() ? "malformed HTTP" : std::string(parser.errorReason()));
    }
    return collector.answer;
}

} // namespace

Answer call(const Target& target, const Request& req)
{
    return exchange(target, req, std::nullopt, {});
}

Answer stream(const Target& target, const Request& req, unsigned idle_ms,
              const std::function<bool(const std::string& event, const std::string& data)>& on_event)
{
    return exchange(target, req, idle_ms, on_event);
}

int exitCodeFor(int status)
{
    if (status >= 200 && status < 300)
        return kExitOk;
    if (status == 401 || status == 403)
        return kExitAuth;
    if (status >= 400 && status < 500)
        return kExitRefused;
    return kExitAgentError;
}

std::string errorMessage(const Answer& answer)
{
    nlohmann::json doc = nlohmann::json::parse(answer.body, nullptr, false);
    if (doc.is_object() && doc.contains("error") && doc["error"].is_object()) {
        const auto& e = doc["error"];
        const auto text = [&](const char* key) {
            return e.contains(key) && e[key].is_string() ? e[key].get<std::string>() : std::string();
        };
        const std::string message = text("message"), code = text("code"), path = text("path");
        if (!message.empty() && !code.empty()) // the agent's text goes to a terminal
            return printable(message + " (" + code + (path.empty() ? "" : " at " + path) + ")");
    }
    return "the agent answered HTTP " + std::to_string(answer.status) +
           " without the control API's error object; is that address the agent's control socket?";
}

nlohmann::json parseJson(const Answer& answer)
{
    if (answer.content_type.rfind("application/json", 0) != 0)
        throw CtlError(kExitAgentError, "the answer is not JSON (Content-Type \"" + answer.content_type +
                                            "\"); is that address the agent's control socket?");
    nlohmann::json doc = nlohmann::json::parse(answer.body, nullptr, false);
    if (doc.is_discarded())
        throw CtlError(kExitAgentError, "the answer is not valid JSON; is that address the agent's control socket?");
    return doc;
}

std::string escapeSegment(std::string_view segment)
{
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char ch : segment) {
        const bool plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                           std::string_view("-._~!$&'()*+,;=:@").find(static_cast<char>(ch)) != std::string_view::npos;
        if (plain) {
            out.push_back(static_cast<char>(ch));
        } else {
            out.push_back('%');
            out.push_back(kHex[ch >> 4]);
            out.push_back(kHex[ch & 15]);
        }
    }
    return out;
}

} // namespace dlb::ctl
