#pragma once
// An incremental, strict parser of HTTP/1.1 answers, for the console's control-API client.
// No Qt networking and no widgets: it is fed bytes as they arrive (split anywhere) and says
// when an answer is complete. What it refuses, it refuses with a message naming the rule, and
// the connection that carried it must be closed (nothing after a malformed answer is trusted).
//
// Bodies are delimited by Content-Length, by chunked transfer coding, or (for the event
// stream, whose answer has neither) by the end of the connection. In streaming mode the body
// is handed out as it arrives and not kept; otherwise it is collected up to kMaxBodyBytes.

#include <QByteArray>
#include <QList>
#include <QPair>
#include <QString>

#include <functional>

namespace dlb::console::client {

// Limits on what an agent may send. The agent's largest answer is the 15-minute history
// (900 points; about 6 KB a point with 30 replicas, so ~5.4 MB): 32 MiB leaves room for ~150
// replicas. Anything past a limit is an answer the console refuses, not one it truncates.
constexpr qsizetype kMaxHeadBytes = 64 * 1024;       // status line + headers (+ trailers)
constexpr int kMaxHeaderCount = 100;                 // header fields in one head
constexpr qsizetype kMaxBodyBytes = 32 * 1024 * 1024; // a collected (non-streaming) body
constexpr qsizetype kMaxChunkLineBytes = 1024;       // "1a2b;ext=..." chunk-size line
constexpr int kMaxChunkSizeDigits = 15;              // hex digits of a chunk size (< 2^60)

struct HttpHead {
    int status = 0;
    QByteArray reason;
    QList<QPair<QByteArray, QByteArray>> headers; // names lower-cased, values trimmed
    // The first value of a header (name in lower case), empty if absent.
    QByteArray header(const QByteArray& lowerName) const;
    bool hasHeader(const QByteArray& lowerName) const;
};

class HttpResponseParser {
public:
    enum class Result { NeedMore, Complete, Error };

    // streaming: the body is passed to onBody as it arrives and never collected; an answer
    // delimited by the end of the connection is then allowed to run without limit.
    explicit HttpResponseParser(bool streaming = false) : streaming_(streaming) {}

    // Called once the head is parsed (before any body byte), and for each piece of body in
    // streaming mode.
    std::function<void(const HttpHead&)> onHead;
    std::function<void(const char* data, qsizetype size)> onBody;

    // Feeds bytes. Complete: one answer ended; *consumed says how many of `data` belong to it
    // (the rest belongs to the next answer: call reset() and feed it again). Error: error() says
    // why; stop reading.
    Result feed(const char* data, qsizetype size, qsizetype* consumed = nullptr);
    Result feed(const QByteArray& data, qsizetype* consumed = nullptr)
    {
        return feed(data.constData(), data.size(), consumed);
    }
    // The peer closed the connection: completes an answer delimited by the close, and is an
    // error anywhere else (a truncated answer).
    Result finish();
    // Ready for the next answer on the same connection.
    void reset();

    const HttpHead& head() const { return head_; }
    const QByteArray& body() const { return body_; }
    const QString& error() const { return error_; }
    // True once any byte of the current answer has been fed (a keep-alive connection that the
    // agent closed before answering can be retried safely only when this is false).
    bool started() const { return started_; }
    // The answer asked for the connection to be closed after it (Connection: close, or an
    // answer delimited by the close).
    bool closeAfter() const { return closeAfter_; }
    // A HEAD request's answer has no body whatever its headers say.
    void setNoBody(bool noBody) { noBody_ = noBody; }

private:
    enum class State { StatusLine, Headers, Body, ChunkSize, ChunkData, ChunkDataEnd, Trailers, UntilClose, Done, Failed };

    Result fail(QString message);
    // A complete line (without its CRLF) from buf_+input, or false when more is needed.
    bool takeLine(const char*& p, const char* end, QByteArray* line, qsizetype limit, const char* what);
    bool parseStatusLine(const QByteArray& line);
    bool parseHeaderLine(const QByteArray& line, bool trailer);
    bool headDone(); // decides how the body is delimited
    void body(const char* data, qsizetype size);

    bool streaming_ = false;
    bool noBody_ = false;
    State state_ = State::StatusLine;
    HttpHead head_;
    QByteArray line_; // a line split across feeds
    QByteArray body_;
    QString error_;
    qsizetype headBytes_ = 0;
    qint64 remaining_ = 0; // of a Content-Length body or of a chunk
    bool started_ = false;
    bool closeAfter_ = false;
};

} // namespace dlb::console::client
