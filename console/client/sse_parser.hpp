#pragma once
// A parser of text/event-stream (WHATWG HTML, "Server-sent events", 9.2.6), fed bytes as they
// arrive, split anywhere. Lines end in CRLF, LF or CR (a CR at the end of one feed and an LF at
// the start of the next are one line end); a leading BOM is dropped; lines starting with ':' are
// comments; "data" lines are joined with LF; "id" sets the last event id (kept across events,
// ignored when it holds a NUL); "retry" with only digits sets the reconnection time; a blank
// line dispatches the event, unless it has no data. Unknown fields are ignored, as the standard
// says. Limits are the console's: past them the stream is refused, not truncated.

#include <QByteArray>
#include <QString>

#include <functional>
#include <optional>

namespace dlb::console::client {

// One line, and one event's data. A stats event with 30 replicas is ~30 KB; 4 MiB is ~100 times
// that, so only a broken or hostile agent reaches it.
constexpr qsizetype kMaxSseLineBytes = 4 * 1024 * 1024;
constexpr qsizetype kMaxSseEventBytes = 4 * 1024 * 1024;

struct SseEvent {
    QByteArray type = "message"; // "event:" field, "message" when absent
    QByteArray data;
    QByteArray lastEventId; // the stream's last event id when the event was dispatched
};

class SseParser {
public:
    std::function<void(const SseEvent&)> onEvent;

    // false once a limit is passed (error() says which); the stream must then be dropped.
    bool feed(const char* data, qsizetype size);
    bool feed(const QByteArray& data) { return feed(data.constData(), data.size()); }

    const QByteArray& lastEventId() const { return lastEventId_; }
    // The reconnection time the stream asked for ("retry:"), if it did.
    std::optional<qint64> retryMs() const { return retryMs_; }
    const QString& error() const { return error_; }
    // Forgets the event being built and any partial line (a new connection), but keeps the last
    // event id and the retry time, as the standard says.
    void resetConnection();

private:
    bool feedLines(const char* data, qsizetype size);
    bool line(const QByteArray& l);

    QByteArray line_;
    QByteArray bomHeld_;
    QByteArray type_;
    QByteArray data_;
    bool hasData_ = false;
    QByteArray lastEventId_;
    std::optional<qint64> retryMs_;
    bool afterCr_ = false;
    bool start_ = true; // before the first byte: a BOM may come
    bool failed_ = false;
    QString error_;
};

} // namespace dlb::console::client
