#pragma once
// Shared by the HTTP tests: a ParserHandler that records every callback, copied out of the
// parser's buffers (a Message's views move on with the parser), helpers that feed bytes in
// chosen pieces, and a parsed Message for the header tests, built from real bytes.

#include "agent/http/headers.hpp"
#include "agent/http/parser.hpp"

#include <QByteArray>
#include <QString>
#include <QStringList>
#include <QtTest>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dlb::agent::http {

// Readable QCOMPARE failures for the library's enums (found by argument-dependent lookup).
inline char* toString(ParseError e)
{
    switch (e) {
    case ParseError::None: return qstrdup("None");
    case ParseError::Malformed: return qstrdup("Malformed");
    case ParseError::HeadersTooLarge: return qstrdup("HeadersTooLarge");
    case ParseError::TooManyHeaders: return qstrdup("TooManyHeaders");
    case ParseError::BodyTooLarge: return qstrdup("BodyTooLarge");
    case ParseError::NotImplemented: return qstrdup("NotImplemented");
    case ParseError::VersionNotSupported: return qstrdup("VersionNotSupported");
    case ParseError::MethodNotAllowed: return qstrdup("MethodNotAllowed");
    case ParseError::Aborted: return qstrdup("Aborted");
    }
    return qstrdup("?");
}

inline char* toString(Parser::Status s)
{
    switch (s) {
    case Parser::Status::Ok: return qstrdup("Ok");
    case Parser::Status::Paused: return qstrdup("Paused");
    case Parser::Status::Error: return qstrdup("Error");
    }
    return qstrdup("?");
}

inline char* toString(BodyFraming f)
{
    switch (f) {
    case BodyFraming::None: return qstrdup("None");
    case BodyFraming::ContentLength: return qstrdup("ContentLength");
    case BodyFraming::Chunked: return qstrdup("Chunked");
    case BodyFraming::UntilClose: return qstrdup("UntilClose");
    }
    return qstrdup("?");
}

namespace test {

inline QByteArray bytes(std::string_view s)
{
    return QByteArray(s.data(), static_cast<qsizetype>(s.size()));
}

// A copy of one message head, taken inside onHeaders.
struct Head {
    std::string method;
    std::string url; // the reason phrase for responses
    int status = 0;
    unsigned major = 0, minor = 0;
    bool keep_alive = false, chunked = false, has_content_length = false;
    uint64_t content_length = 0;
    std::vector<std::pair<std::string, std::string>> headers;
    bool operator==(const Head&) const = default;
};

inline Head copyHead(const Message& m)
{
    Head h;
    h.method = std::string(m.methodName());
    h.url = std::string(m.url());
    h.status = m.status();
    h.major = m.versionMajor();
    h.minor = m.versionMinor();
    h.keep_alive = m.keepAlive();
    h.chunked = m.chunked();
    h.has_content_length = m.hasContentLength();
    h.content_length = m.contentLength();
    for (size_t i = 0; i < m.headerCount(); ++i)
        h.headers.emplace_back(m.headerName(i), m.headerValue(i));
    return h;
}

inline QString describe(const Head& h)
{
    QString s = QStringLiteral("%1 [%2] status=%3 HTTP/%4.%5 keepAlive=%6 chunked=%7 CL=%8:%9")
                    .arg(QString::fromStdString(h.method), QString::fromStdString(h.url))
                    .arg(h.status)
                    .arg(h.major)
                    .arg(h.minor)
                    .arg(h.keep_alive)
                    .arg(h.chunked)
                    .arg(h.has_content_length)
                    .arg(h.content_length);
    for (const auto& [name, value] : h.headers)
        s += QStringLiteral(" {%1}={%2}").arg(QString::fromStdString(name), QString::fromStdString(value));
    return s;
}

// Records the callbacks in order. Its answers are set by the test before parsing.
class Recorder : public ParserHandler {
public:
    HeadersAction headers_action = HeadersAction::Continue;
    bool keep_parsing = true; // onMessageComplete's answer: false pauses after each message
    bool accept_body = true;  // onBody's answer

    std::vector<Head> heads;
    std::vector<std::string> bodies; // one per message head, de-chunked
    int completes = 0;
    // "headers <method or status> <url or reason>", "body <bytes>", "complete"
    QStringList events;

    HeadersAction onHeaders(const Message& msg) override
    {
        heads.push_back(copyHead(msg));
        bodies.emplace_back();
        const Head& h = heads.back();
        events << QStringLiteral("headers %1 %2")
                      .arg(h.status != 0 ? QString::number(h.status) : QString::fromStdString(h.method),
                           QString::fromStdString(h.url));
        return headers_action;
    }

    bool onBody(std::string_view data) override
    {
        if (bodies.empty())
            bodies.emplace_back(); // body without a head: recorded so the test can see it
        bodies.back().append(data);
        events << QStringLiteral("body ") + QString::fromUtf8(data.data(), static_cast<qsizetype>(data.size()));
        return accept_body;
    }

    bool onMessageComplete() override
    {
        ++completes;
        events << QStringLiteral("complete");
        return keep_parsing;
    }

    // All body bytes of all messages, in order.
    std::string allBody() const
    {
        std::string all;
        for (const auto& b : bodies)
            all += b;
        return all;
    }
};

// Feeds `data` cut at the given offsets (ascending, each inside the data), one execute() per
// piece, and stops at the first result that is not Ok. Returns that result's status.
inline Parser::Status feedPieces(Parser& parser, std::string_view data, const std::vector<size_t>& cuts)
{
    size_t start = 0;
    std::vector<size_t> ends = cuts;
    ends.push_back(data.size());
    for (const size_t end : ends) {
        const auto r = parser.execute(data.data() + start, end - start);
        if (r.status != Parser::Status::Ok)
            return r.status;
        start = end;
    }
    return Parser::Status::Ok;
}

// Feeds `data` one byte per execute().
inline Parser::Status feedBytewise(Parser& parser, std::string_view data)
{
    std::vector<size_t> cuts;
    for (size_t i = 1; i < data.size(); ++i)
        cuts.push_back(i);
    return feedPieces(parser, data, cuts);
}

// A message parsed from real bytes in one execute(), kept alive with its parser so the header
// tests can hand Message references to the functions under test. `ok` is false when the bytes
// did not parse or no head was seen.
struct Parsed {
    Recorder rec;
    Parser parser;
    bool ok = false;

    Parsed(Kind kind, std::string_view data, ParserHandler::HeadersAction action = ParserHandler::HeadersAction::Continue)
        : parser(kind, rec, ParserLimits{})
    {
        rec.headers_action = action;
        rec.keep_parsing = false; // stop after the first message: its views stay valid
        const auto r = parser.execute(data.data(), data.size());
        ok = r.status != Parser::Status::Error && rec.heads.size() == 1;
    }
    const Message& msg() const { return parser.message(); }
};

// A head split into its lines, without the CRLFs and without the blank line that ends it;
// anything after the blank line is dropped. QStringList comparisons print a readable diff.
inline QStringList headLines(std::string_view out)
{
    QStringList lines;
    const size_t end = out.find("\r\n\r\n");
    std::string_view head = out.substr(0, end == std::string_view::npos ? out.size() : end + 2);
    while (!head.empty()) {
        const size_t eol = head.find("\r\n");
        if (eol == std::string_view::npos) {
            lines << QStringLiteral("<no CRLF>") + QString::fromUtf8(head.data(), static_cast<qsizetype>(head.size()));
            break;
        }
        lines << QString::fromUtf8(head.data(), static_cast<qsizetype>(eol));
        head.remove_prefix(eol + 2);
    }
    return lines;
}

} // namespace test
} // namespace dlb::agent::http
