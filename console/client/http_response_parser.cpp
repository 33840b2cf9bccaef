#include "client/http_response_parser.hpp"

#include <cstring>

namespace dlb::console::client {

namespace {

// RFC 9110 5.6.2 tchar.
bool isTokenChar(char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0';
}

bool isDigits(const QByteArray& s)
{
    if (s.isEmpty())
        return false;
    for (char c : s)
        if (c < '0' || c > '9')
            return false;
    return true;
}

int hexValue(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

} // namespace

QByteArray HttpHead::header(const QByteArray& lowerName) const
{
    for (const auto& [k, v] : headers)
        if (k == lowerName)
            return v;
    return {};
}

bool HttpHead::hasHeader(const QByteArray& lowerName) const
{
    for (const auto& h : headers)
        if (h.first == lowerName)
            return true;
    return false;
}

void HttpResponseParser::reset()
{
    state_ = State::StatusLine;
    head_ = {};
    line_.clear();
    body_.clear();
    error_.clear();
    headBytes_ = 0;
    remaining_ = 0;
    started_ = false;
    closeAfter_ = false;
    noBody_ = false;
}

HttpResponseParser::Result HttpResponseParser::fail(QString message)
{
    state_ = State::Failed;
    error_ = std::move(message);
    return Result::Error;
}

bool HttpResponseParser::takeLine(const char*& p, const char* end, QByteArray* line, qsizetype limit,
                                  const char* what)
{
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', size_t(end - p)));
    const qsizetype take = (nl ? nl : end) - p;
    if (line_.size() + take + (nl ? 1 : 0) > limit) { // the LF counts too
        fail(QStringLiteral("the agent's answer has a %1 longer than %2 bytes").arg(QLatin1String(what)).arg(limit));
        return false;
    }
    line_.append(p, take);
    if (!nl) {
        p = end;
        return false;
    }
    p = nl + 1;
    if (!line_.endsWith('\r')) {
        fail(QStringLiteral("the agent's answer has a %1 ended by a bare LF (HTTP needs CRLF)").arg(QLatin1String(what)));
        return false;
    }
    line_.chop(1);
    if (line_.contains('\r') || line_.contains('\0')) {
        fail(QStringLiteral("the agent's answer has a CR or NUL inside a %1").arg(QLatin1String(what)));
        return false;
    }
    *line = std::move(line_);
    line_.clear();
    return true;
}

bool HttpResponseParser::parseStatusLine(const QByteArray& line)
{
    // "HTTP/1.1 200 OK": one space each side of a three-digit code; the reason may be empty.
    if (!line.startsWith("HTTP/1.1 ") && !line.startsWith("HTTP/1.0 "))
        return fail(QStringLiteral("the agent's answer does not start with an HTTP/1.1 status line: %1")
                        .arg(QString::fromLatin1(line.left(80)))), false;
    if (line.size() < 12 || (line.size() > 12 && line[12] != ' '))
        return fail(QStringLiteral("the agent's status line is malformed: %1").arg(QString::fromLatin1(line.left(80)))), false;
    const QByteArray code = line.mid(9, 3);
    if (!isDigits(code) || code[0] < '1' || code[0] > '5')
        return fail(QStringLiteral("the agent's status code is not a number in [100, 599]: %1")
                        .arg(QString::fromLatin1(line.left(80)))), false;
    head_.status = code.toInt();
    head_.reason = line.mid(13);
    if (line.startsWith("HTTP/1.0 "))
        closeAfter_ = true; // no keep-alive without asking for it, and the console never asks
    return true;
}

bool HttpResponseParser::parseHeaderLine(const QByteArray& line, bool trailer)
{
    if (line.startsWith(' ') || line.startsWith('\t'))
        return fail(QStringLiteral("the agent's answer folds a header over lines (obsolete, refused)")), false;
    const qsizetype colon = line.indexOf(':');
    if (colon <= 0)
        return fail(QStringLiteral("the agent's answer has a header line without a name and a colon")), false;
    QByteArray name = line.left(colon);
    for (char c : name)
        if (!isTokenChar(c))
            return fail(QStringLiteral("the agent's answer has a header name with a character HTTP does not allow")),
                   false;
    if (head_.headers.size() >= kMaxHeaderCount)
        return fail(QStringLiteral("the agent's answer has more than %1 headers").arg(kMaxHeaderCount)), false;
    if (trailer)
        return true; // trailers are checked and dropped: nothing the console uses comes in them
    head_.headers.append({name.toLower(), line.mid(colon + 1).trimmed()});
    return true;
}

bool HttpResponseParser::headDone()
{
    const int s = head_.status;
    const QByteArray te = head_.header("transfer-encoding");
    const bool hasTe = head_.hasHeader("transfer-encoding");
    const bool hasCl = head_.hasHeader("content-length");
    for (const auto& [k, v] : head_.headers) {
        if (k == "connection") {
            for (const QByteArray& t : v.toLower().split(','))
                if (t.trimmed() == "close")
                    closeAfter_ = true;
        }
    }
    if (hasTe && hasCl)
        return fail(QStringLiteral("the agent's answer has both Transfer-Encoding and Content-Length")), false;
    if (noBody_ || s == 204 || s == 304) {
        state_ = State::Done;
        return true;
    }
    if (hasTe) {
        int count = 0;
        for (const auto& h : head_.headers)
            count += h.first == "transfer-encoding";
        if (count != 1 || te.toLower() != "chunked")
            return fail(QStringLiteral("the agent's answer has a Transfer-Encoding other than \"chunked\": %1")
                            .arg(QString::fromLatin1(te.left(80)))), false;
        state_ = State::ChunkSize;
        return true;
    }
    if (hasCl) {
        QByteArray value;
        for (const auto& [k, v] : head_.headers) {
            if (k != "content-length")
                continue;
            if (!isDigits(v) || v.size() > 18)
                return fail(QStringLiteral("the agent's answer has a Content-Length that is not a number: %1")
                                .arg(QString::fromLatin1(v.left(40)))), false;
            if (!value.isNull() && v != value)
                return fail(QStringLiteral("the agent's answer has two different Content-Lengths")), false;
            value = v;
        }
        remaining_ = value.toLongLong();
        if (!streaming_ && remaining_ > kMaxBodyBytes)
            return fail(QStringLiteral("the agent's answer announces %1 bytes of body; the console takes at most %2")
                            .arg(remaining_).arg(kMaxBodyBytes)), false;
        state_ = remaining_ == 0 ? State::Done : State::Body;
        return true;
    }
    // Neither: the body runs until the agent closes (the event stream's answer).
    closeAfter_ = true;
    state_ = State::UntilClose;
    return true;
}

void HttpResponseParser::body(const char* data, qsizetype size)
{
    if (size <= 0)
        return;
    if (streaming_) {
        if (onBody)
            onBody(data, size);
        return;
    }
    body_.append(data, size);
}

HttpResponseParser::Result HttpResponseParser::feed(const char* data, qsizetype size, qsizetype* consumed)
{
    const char* p = data;
    const char* const end = data + size;
    if (size > 0)
        started_ = true;
    auto done = [&] {
        if (consumed)
            *consumed = p - data;
    };
    while (true) {
        switch (state_) {
        case State::Failed:
            done();
            return Result::Error;
        case State::Done:
            done();
            return Result::Complete;
        case State::StatusLine:
        case State::Headers:
        case State::Trailers: {
            if (p == end) {
                done();
                return Result::NeedMore;
            }
            QByteArray line;
            const qsizetype budget = kMaxHeadBytes - headBytes_;
            const bool got = takeLine(p, end, &line, budget, "head");
            if (state_ == State::Failed)
                return Result::Error;
            if (!got) {
                done();
                return Result::NeedMore;
            }
            headBytes_ += line.size() + 2;
            if (state_ == State::StatusLine) {
                if (!parseStatusLine(line))
                    return Result::Error;
                state_ = State::Headers;
            } else if (!line.isEmpty()) {
                if (!parseHeaderLine(line, state_ == State::Trailers))
                    return Result::Error;
            } else if (state_ == State::Trailers) {
                state_ = State::Done;
            } else if (head_.status < 200) {
                // An interim answer (100 Continue, 103 Early Hints): the real one follows.
                if (head_.status == 101)
                    return fail(QStringLiteral("the agent switched protocols (101), which the console never asks for"));
                const bool close = closeAfter_;
                head_ = {};
                closeAfter_ = close;
                state_ = State::StatusLine;
            } else {
                if (!headDone())
                    return Result::Error;
                if (onHead)
                    onHead(head_);
            }
            break;
        }
        case State::Body: {
            const qsizetype n = qsizetype(qMin<qint64>(remaining_, end - p));
            body(p, n);
            p += n;
            remaining_ -= n;
            if (remaining_ == 0)
                state_ = State::Done;
            else {
                done();
                return Result::NeedMore;
            }
            break;
        }
        case State::ChunkSize: {
            QByteArray line;
            if (p == end) {
                done();
                return Result::NeedMore;
            }
            const bool got = takeLine(p, end, &line, kMaxChunkLineBytes, "chunk-size line");
            if (state_ == State::Failed)
                return Result::Error;
            if (!got) {
                done();
                return Result::NeedMore;
            }
            // chunk-size [ chunk-ext ]: hex digits, then nothing or ';' extensions (ignored).
            qsizetype i = 0;
            qint64 n = 0;
            while (i < line.size() && hexValue(line[i]) >= 0) {
                if (i >= kMaxChunkSizeDigits)
                    return fail(QStringLiteral("the agent's answer has a chunk size of more than %1 hex digits")
                                    .arg(kMaxChunkSizeDigits));
                n = n * 16 + hexValue(line[i]);
                ++i;
            }
            if (i == 0)
                return fail(QStringLiteral("the agent's answer has a chunk size that is not hexadecimal: %1")
                                .arg(QString::fromLatin1(line.left(40))));
            qsizetype j = i;
            while (j < line.size() && (line[j] == ' ' || line[j] == '\t'))
                ++j;
            if (j != line.size() && line[j] != ';')
                return fail(QStringLiteral("the agent's answer has a chunk size followed by junk: %1")
                                .arg(QString::fromLatin1(line.left(40))));
            if (n == 0) {
                state_ = State::Trailers;
                break;
            }
            if (!streaming_ && body_.size() + n > kMaxBodyBytes)
                return fail(QStringLiteral("the agent's chunked answer is longer than the console takes (%1 bytes)")
                                .arg(kMaxBodyBytes));
            remaining_ = n;
            state_ = State::ChunkData;
            break;
        }
        case State::ChunkData: {
            const qsizetype n = qsizetype(qMin<qint64>(remaining_, end - p));
            body(p, n);
            p += n;
            remaining_ -= n;
            if (remaining_ > 0) {
                done();
                return Result::NeedMore;
            }
            state_ = State::ChunkDataEnd;
            break;
        }
        case State::ChunkDataEnd: {
            // Exactly CRLF after the chunk's data; anything else means the chunk was longer
            // than its size said (or the size lied): the framing is lost.
            while (p < end && line_.size() < 2) {
                const char want = line_.isEmpty() ? '\r' : '\n';
                if (*p != want)
                    return fail(QStringLiteral("the agent's chunk is longer than its announced size"));
                line_.append(*p++);
            }
            if (line_.size() < 2) {
                done();
                return Result::NeedMore;
            }
            line_.clear();
            state_ = State::ChunkSize;
            break;
        }
        case State::UntilClose: {
            if (!streaming_ && body_.size() + (end - p) > kMaxBodyBytes)
                return fail(QStringLiteral("the agent's answer is longer than the console takes (%1 bytes)")
                                .arg(kMaxBodyBytes));
            body(p, end - p);
            p = end;
            done();
            return Result::NeedMore;
        }
        }
    }
}

HttpResponseParser::Result HttpResponseParser::finish()
{
    switch (state_) {
    case State::UntilClose:
        state_ = State::Done;
        return Result::Complete;
    case State::Done:
        return Result::Complete;
    case State::Failed:
        return Result::Error;
    default:
        return fail(started_ ? QStringLiteral("the agent closed the connection in the middle of an answer")
                             : QStringLiteral("the agent closed the connection before answering"));
    }
}

} // namespace dlb::console::client
