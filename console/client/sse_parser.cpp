#include "client/sse_parser.hpp"

namespace dlb::console::client {

void SseParser::resetConnection()
{
    line_.clear();
    type_.clear();
    data_.clear();
    hasData_ = false;
    afterCr_ = false;
    start_ = true;
    bomHeld_.clear();
    failed_ = false;
    error_.clear();
}

bool SseParser::feed(const char* data, qsizetype size)
{
    if (failed_)
        return false;
    if (!start_)
        return feedLines(data, size);
    // The BOM (EF BB BF) may itself arrive split: hold its bytes until it is decided.
    static const QByteArray bom("\xEF\xBB\xBF");
    qsizetype i = 0;
    while (i < size && bomHeld_.size() < 3 && bom.at(bomHeld_.size()) == data[i])
        bomHeld_.append(data[i++]);
    if (bomHeld_.size() == 3) {
        start_ = false;
        bomHeld_.clear();
        return feedLines(data + i, size - i);
    }
    if (i == size)
        return true; // a prefix of the BOM so far
    start_ = false; // not a BOM: what was held is ordinary text
    const QByteArray held = std::move(bomHeld_);
    bomHeld_.clear();
    return feedLines(held.constData(), held.size()) && feedLines(data + i, size - i);
}

bool SseParser::feedLines(const char* data, qsizetype size)
{
    const char* p = data;
    const char* const end = data + size;
    while (p < end) {
        const char c = *p;
        if (afterCr_) {
            afterCr_ = false;
            if (c == '\n') {
                ++p;
                continue; // the LF of a CRLF whose CR ended the line already
            }
        }
        // Find the next line end.
        const char* q = p;
        while (q < end && *q != '\n' && *q != '\r')
            ++q;
        if (line_.size() + (q - p) > kMaxSseLineBytes) {
            failed_ = true;
            error_ = QStringLiteral("the agent's event stream has a line longer than %1 bytes").arg(kMaxSseLineBytes);
            return false;
        }
        line_.append(p, q - p);
        if (q == end)
            break;
        afterCr_ = *q == '\r';
        p = q + 1;
        const QByteArray l = std::move(line_);
        line_.clear();
        if (!line(l))
            return false;
    }
    return true;
}

bool SseParser::line(const QByteArray& l)
{
    if (l.isEmpty()) {
        // Dispatch. An event without data is dropped, but its type is reset all the same.
        if (hasData_ && onEvent) {
            SseEvent e;
            if (!type_.isEmpty())
                e.type = type_;
            e.data = data_;
            if (e.data.endsWith('\n'))
                e.data.chop(1);
            e.lastEventId = lastEventId_;
            onEvent(e);
        }
        type_.clear();
        data_.clear();
        hasData_ = false;
        return true;
    }
    if (l.startsWith(':'))
        return true; // a comment (keep-alive)
    const qsizetype colon = l.indexOf(':');
    QByteArray field = colon < 0 ? l : l.left(colon);
    QByteArray value;
    if (colon >= 0) {
        value = l.mid(colon + 1);
        if (value.startsWith(' '))
            value.remove(0, 1);
    }
    if (field == "event") {
        type_ = value;
    } else if (field == "data") {
        if (data_.size() + value.size() + 1 > kMaxSseEventBytes) {
            failed_ = true;
            error_ = QStringLiteral("the agent's event stream has an event over %1 bytes").arg(kMaxSseEventBytes);
            return false;
        }
        data_.append(value).append('\n');
        hasData_ = true;
    } else if (field == "id") {
        if (!value.contains('\0'))
            lastEventId_ = value;
    } else if (field == "retry") {
        bool digits = !value.isEmpty() && value.size() <= 12;
        for (char c : value)
            digits = digits && c >= '0' && c <= '9';
        if (digits)
            retryMs_ = value.toLongLong();
    }
    return true;
}

} // namespace dlb::console::client
