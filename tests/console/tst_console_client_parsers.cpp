// The console client's parsers with hostile input: HTTP answers and event streams split at every
// byte, past every limit, with bad chunk sizes and smuggling shapes; and the endpoint rules.
#include "client/agent_endpoint.hpp"
#include "client/http_response_parser.hpp"
#include "client/sse_parser.hpp"

#include <QtTest>

using namespace dlb::console::client;

namespace {

struct Parsed {
    HttpResponseParser::Result result = HttpResponseParser::Result::NeedMore;
    HttpHead head;
    QByteArray body;
    QString error;
    qsizetype consumed = 0;
};

// Feeds `wire` in pieces cut at `cuts` (offsets), then, if still incomplete and `close`, the end
// of the connection.
Parsed parse(const QByteArray& wire, const QList<qsizetype>& cuts, bool close = false, bool streaming = false)
{
    HttpResponseParser p(streaming);
    Parsed out;
    p.onBody = [&](const char* d, qsizetype n) { out.body.append(d, n); };
    qsizetype at = 0;
    QList<qsizetype> ends = cuts;
    ends.append(wire.size());
    for (qsizetype end : ends) {
        qsizetype consumed = 0;
        out.result = p.feed(wire.constData() + at, end - at, &consumed);
        out.consumed = at + consumed;
        at = end;
        if (out.result != HttpResponseParser::Result::NeedMore)
            break;
    }
    if (out.result == HttpResponseParser::Result::NeedMore && close)
        out.result = p.finish();
    out.head = p.head();
    if (!streaming)
        out.body = p.body();
    out.error = p.error();
    return out;
}

QList<SseEvent> parseSse(const QByteArray& wire, const QList<qsizetype>& cuts, SseParser* parser = nullptr)
{
    SseParser local;
    SseParser& p = parser ? *parser : local;
    QList<SseEvent> events;
    p.onEvent = [&](const SseEvent& e) { events.append(e); };
    qsizetype at = 0;
    QList<qsizetype> ends = cuts;
    ends.append(wire.size());
    for (qsizetype end : ends) {
        if (!p.feed(wire.constData() + at, end - at))
            break;
        at = end;
    }
    return events;
}

const QByteArray kChunked = "HTTP/1.1 200 OK\r\n"
                            "Content-Type: application/json\r\n"
                            "Transfer-Encoding: chunked\r\n"
                            "\r\n"
                            "5;name=value\r\n{\"a\":\r\n"
                            "A\r\n [1,2,3]} \r\n"
                            "0\r\n"
                            "X-Trailer: yes\r\n"
                            "\r\n";

} // namespace

class TstConsoleClientParsers : public QObject {
    Q_OBJECT
private slots:
    void contentLengthSplitAtEveryByte();
    void chunkedSplitAtEveryByte();
    void twoAnswersOnOneConnection();
    void untilCloseBody();
    void interimAnswerSkipped();
    void truncatedAnswerIsAnError();
    void hostileAnswers_data();
    void hostileAnswers();
    void oversizedHead();
    void tooManyHeaders();
    void oversizedBody();
    void streamingBodyIsNotCollected();
    void sseSplitAtEveryByte();
    void sseFields();
    void sseLineEndings();
    void sseLimits();
    void sseBom();
    void endpoints_data();
    void endpoints();
};

// The same answer, cut once at every offset and cut at every byte, parses the same.
void TstConsoleClientParsers::contentLengthSplitAtEveryByte()
{
    const QByteArray wire = "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nLocation: /v1/x\r\n"
                            "Content-Length: 13\r\n\r\n{\"generation\"";
    for (qsizetype cut = 0; cut <= wire.size(); ++cut) {
        const Parsed p = parse(wire, {cut});
        QCOMPARE(p.result, HttpResponseParser::Result::Complete);
        QCOMPARE(p.head.status, 201);
        QCOMPARE(p.head.reason, QByteArray("Created"));
        QCOMPARE(p.head.header("location"), QByteArray("/v1/x"));
        QCOMPARE(p.body, QByteArray("{\"generation\""));
    }
    QList<qsizetype> every;
    for (qsizetype i = 1; i < wire.size(); ++i)
        every.append(i);
    const Parsed p = parse(wire, every);
    QCOMPARE(p.result, HttpResponseParser::Result::Complete);
    QCOMPARE(p.body, QByteArray("{\"generation\""));
}

void TstConsoleClientParsers::chunkedSplitAtEveryByte()
{
    for (qsizetype cut = 0; cut <= kChunked.size(); ++cut) {
        const Parsed p = parse(kChunked, {cut});
        QVERIFY2(p.result == HttpResponseParser::Result::Complete, qPrintable(QString::number(cut) + p.error));
        QCOMPARE(p.body, QByteArray("{\"a\": [1,2,3]} "));
        QCOMPARE(p.consumed, kChunked.size());
        QVERIFY(!p.head.hasHeader("x-trailer")); // trailers are dropped
    }
    QList<qsizetype> every;
    for (qsizetype i = 1; i < kChunked.size(); ++i)
        every.append(i);
    QCOMPARE(parse(kChunked, every).body, QByteArray("{\"a\": [1,2,3]} "));
}

// Keep-alive: the parser stops at the end of the first answer and says where.
void TstConsoleClientParsers::twoAnswersOnOneConnection()
{
    const QByteArray first = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
    const QByteArray second = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    HttpResponseParser p;
    qsizetype consumed = 0;
    QCOMPARE(p.feed(first + second, &consumed), HttpResponseParser::Result::Complete);
    QCOMPARE(consumed, first.size());
    QCOMPARE(p.body(), QByteArray("hi"));
    QVERIFY(!p.closeAfter());
    p.reset();
    QVERIFY(!p.started());
    QCOMPARE(p.feed(second, &consumed), HttpResponseParser::Result::Complete);
    QCOMPARE(p.head().status, 404);
    QVERIFY(p.body().isEmpty());
}

void TstConsoleClientParsers::untilCloseBody()
{
    const QByteArray wire = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\nretry: 2000\n\n";
    const Parsed open = parse(wire, {});
    QCOMPARE(open.result, HttpResponseParser::Result::NeedMore);
    const Parsed closed = parse(wire, {10}, true);
    QCOMPARE(closed.result, HttpResponseParser::Result::Complete);
    QCOMPARE(closed.body, QByteArray("retry: 2000\n\n"));
}

void TstConsoleClientParsers::interimAnswerSkipped()
{
    const Parsed p = parse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", {});
    QCOMPARE(p.result, HttpResponseParser::Result::Complete);
    QCOMPARE(p.head.status, 200);
    QCOMPARE(p.body, QByteArray("x"));
}

void TstConsoleClientParsers::truncatedAnswerIsAnError()
{
    for (const QByteArray& wire : {QByteArray("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"),
                                   QByteArray("HTTP/1.1 200 OK\r\nContent-Le"), QByteArray(),
                                   kChunked.left(kChunked.size() - 3)}) {
        const Parsed p = parse(wire, {}, true);
        QVERIFY2(p.result == HttpResponseParser::Result::Error, wire.constData());
        QVERIFY(p.error.contains(QLatin1String("closed the connection")));
    }
}

void TstConsoleClientParsers::hostileAnswers_data()
{
    QTest::addColumn<QByteArray>("wire");
    QTest::addColumn<QString>("error"); // a word the message must hold
    const QByteArray ok = "HTTP/1.1 200 OK\r\n";
    QTest::newRow("not http") << QByteArray("SSH-2.0-OpenSSH\r\n\r\n") << "status line";
    QTest::newRow("http/2") << QByteArray("HTTP/2 200\r\n\r\n") << "status line";
    QTest::newRow("two-digit status") << QByteArray("HTTP/1.1 20 OK\r\n\r\n") << "status";
    QTest::newRow("status 999") << QByteArray("HTTP/1.1 999 What\r\n\r\n") << "status code";
    QTest::newRow("status letters") << QByteArray("HTTP/1.1 2x0 OK\r\n\r\n") << "status code";
    QTest::newRow("bare LF") << QByteArray("HTTP/1.1 200 OK\nContent-Length: 0\n\n") << "bare LF";
    QTest::newRow("CR inside") << (ok + "X-A: a\rb\r\n\r\n") << "CR or NUL";
    QTest::newRow("NUL inside") << (ok + QByteArray("X-A: a\0b\r\n\r\n", 13)) << "CR or NUL";
    QTest::newRow("folded header") << (ok + "X-A: a\r\n b\r\nContent-Length: 0\r\n\r\n") << "folds";
    QTest::newRow("no colon") << (ok + "Content-Length 0\r\n\r\n") << "colon";
    QTest::newRow("space in name") << (ok + "Content Length: 0\r\n\r\n") << "header name";
    QTest::newRow("space before colon") << (ok + "Content-Length : 0\r\n\r\n") << "header name";
    QTest::newRow("CL and TE") << (ok + "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n") << "both";
    QTest::newRow("two CLs") << (ok + "Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd") << "two different";
    QTest::newRow("CL sign") << (ok + "Content-Length: +3\r\n\r\nabc") << "not a number";
    QTest::newRow("CL hex") << (ok + "Content-Length: 0x3\r\n\r\nabc") << "not a number";
    QTest::newRow("CL empty") << (ok + "Content-Length: \r\n\r\n") << "not a number";
    QTest::newRow("CL huge") << (ok + "Content-Length: 99999999999999999999\r\n\r\n") << "not a number";
    QTest::newRow("TE gzip") << (ok + "Transfer-Encoding: gzip, chunked\r\n\r\n") << "other than";
    QTest::newRow("TE twice") << (ok + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
                              << "other than";
    const QByteArray te = ok + "Transfer-Encoding: chunked\r\n\r\n";
    QTest::newRow("chunk size letters") << (te + "zz\r\n") << "not hexadecimal";
    QTest::newRow("chunk size negative") << (te + "-1\r\n") << "not hexadecimal";
    QTest::newRow("chunk size empty") << (te + "\r\n") << "not hexadecimal";
    QTest::newRow("chunk size junk") << (te + "5 x\r\nabcde\r\n0\r\n\r\n") << "junk";
    QTest::newRow("chunk size 0x") << (te + "0x5\r\nabcde\r\n0\r\n\r\n") << "junk";
    QTest::newRow("chunk size overflow") << (te + "10000000000000000\r\n") << "hex digits";
    QTest::newRow("chunk size 16 fs") << (te + "ffffffffffffffff\r\n") << "hex digits";
    QTest::newRow("chunk too long") << (te + "3\r\nabcd\r\n0\r\n\r\n") << "longer than its announced";
    QTest::newRow("chunk line too long") << (te + "1;" + QByteArray(kMaxChunkLineBytes, 'x') + "\r\n")
                                         << "chunk-size line";
    QTest::newRow("chunk over body limit") << (te + QByteArray::number(kMaxBodyBytes + 1, 16) + "\r\n") << "longer";
    QTest::newRow("switching protocols") << QByteArray("HTTP/1.1 101 Switching\r\n\r\n") << "101";
}

// Each refused with a message that says what is wrong, however the bytes are split.
void TstConsoleClientParsers::hostileAnswers()
{
    QFETCH(QByteArray, wire);
    QFETCH(QString, error);
    for (qsizetype cut = 0; cut <= wire.size(); ++cut) {
        const Parsed p = parse(wire, {cut}, true);
        QVERIFY2(p.result == HttpResponseParser::Result::Error,
                 qPrintable(QStringLiteral("cut %1: accepted").arg(cut)));
        QVERIFY2(p.error.contains(error), qPrintable(QStringLiteral("cut %1: %2").arg(cut).arg(p.error)));
    }
}

void TstConsoleClientParsers::oversizedHead()
{
    const QByteArray big = "HTTP/1.1 200 OK\r\nX-Big: " + QByteArray(kMaxHeadBytes, 'a') + "\r\n\r\n";
    const Parsed p = parse(big, {100, 5000, 40000});
    QCOMPARE(p.result, HttpResponseParser::Result::Error);
    QVERIFY2(p.error.contains(QLatin1String("head longer")), qPrintable(p.error));
    // Just under the limit is fine.
    const QByteArray line = "HTTP/1.1 200 OK\r\n";
    const QByteArray justFits = line + "X-B: " + QByteArray(kMaxHeadBytes - line.size() - 5 - 2 - 2, 'a') + "\r\n\r\n";
    QCOMPARE(justFits.size(), kMaxHeadBytes);
    QCOMPARE(parse(justFits, {}, true).result, HttpResponseParser::Result::Complete);
    QCOMPARE(parse(line + "X-B: " + QByteArray(kMaxHeadBytes - line.size() - 5 - 2 - 1, 'a') + "\r\n\r\n", {}, true).result,
             HttpResponseParser::Result::Error);
}

void TstConsoleClientParsers::tooManyHeaders()
{
    QByteArray wire = "HTTP/1.1 200 OK\r\n";
    for (int i = 0; i < kMaxHeaderCount; ++i)
        wire += "X-" + QByteArray::number(i) + ": v\r\n";
    QCOMPARE(parse(wire + "\r\n", {}, true).result, HttpResponseParser::Result::Complete);
    const Parsed p = parse(wire + "X-One-More: v\r\n\r\n", {}, true);
    QCOMPARE(p.result, HttpResponseParser::Result::Error);
    QVERIFY(p.error.contains(QLatin1String("headers")));
}

void TstConsoleClientParsers::oversizedBody()
{
    const Parsed announced = parse("HTTP/1.1 200 OK\r\nContent-Length: " + QByteArray::number(kMaxBodyBytes + 1) + "\r\n\r\n", {});
    QCOMPARE(announced.result, HttpResponseParser::Result::Error);
    QVERIFY(announced.error.contains(QLatin1String("at most")));
    // A body delimited by the close stops at the limit too.
    HttpResponseParser p;
    QCOMPARE(p.feed("HTTP/1.1 200 OK\r\n\r\n"), HttpResponseParser::Result::NeedMore);
    const QByteArray mib(1024 * 1024, 'x');
    HttpResponseParser::Result r = HttpResponseParser::Result::NeedMore;
    for (qsizetype sent = 0; sent <= kMaxBodyBytes && r == HttpResponseParser::Result::NeedMore; sent += mib.size())
        r = p.feed(mib);
    QCOMPARE(r, HttpResponseParser::Result::Error);
    QVERIFY(p.body().size() <= kMaxBodyBytes);
}

void TstConsoleClientParsers::streamingBodyIsNotCollected()
{
    HttpResponseParser p(true);
    qsizetype seen = 0;
    p.onBody = [&](const char*, qsizetype n) { seen += n; };
    QCOMPARE(p.feed("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n"), HttpResponseParser::Result::NeedMore);
    const QByteArray mib(1024 * 1024, ':');
    for (int i = 0; i < 40; ++i) // past kMaxBodyBytes: a stream has no end
        QCOMPARE(p.feed(mib), HttpResponseParser::Result::NeedMore);
    QCOMPARE(seen, 40 * mib.size());
    QVERIFY(p.body().isEmpty());
}

void TstConsoleClientParsers::sseSplitAtEveryByte()
{
    const QByteArray wire = "retry: 2000\r\n\r\n: a comment\n"
                            "id: 41\nevent: stats\ndata: {\"id\":41,\ndata:  \"x\":1}\n\n"
                            "id: 42\revent: stats\rdata: {}\r\r"
                            "event: other\ndata\n\n"
                            "id: 43\r\nevent: stats\r\ndata: {\"id\":43}\r\n\r\n";
    for (qsizetype cut = 0; cut <= wire.size(); ++cut) {
        for (qsizetype cut2 = cut; cut2 <= wire.size(); cut2 += 7) {
            SseParser p;
            const QList<SseEvent> ev = parseSse(wire, {cut, cut2}, &p);
            QCOMPARE(ev.size(), 4);
            QCOMPARE(ev[0].type, QByteArray("stats"));
            QCOMPARE(ev[0].data, QByteArray("{\"id\":41,\n \"x\":1}"));
            QCOMPARE(ev[0].lastEventId, QByteArray("41"));
            QCOMPARE(ev[1].data, QByteArray("{}"));
            QCOMPARE(ev[1].lastEventId, QByteArray("42"));
            QCOMPARE(ev[2].type, QByteArray("other"));
            QCOMPARE(ev[2].data, QByteArray(""));
            QCOMPARE(ev[2].lastEventId, QByteArray("42")); // the id is kept across events
            QCOMPARE(ev[3].data, QByteArray("{\"id\":43}"));
            QCOMPARE(p.retryMs(), std::optional<qint64>(2000));
        }
    }
}

void TstConsoleClientParsers::sseFields()
{
    SseParser p;
    const QList<SseEvent> ev = parseSse("event: stats\n\n"           // no data: not dispatched
                                        "data: a\n\n"                // type back to "message"
                                        "retry: 12x\nretry: -1\n\n"  // ignored
                                        "unknown: field\ndata:c\n\n",
                                        {}, &p);
    QCOMPARE(ev.size(), 2);
    QCOMPARE(ev[0].type, QByteArray("message"));
    QCOMPARE(ev[0].data, QByteArray("a"));
    QCOMPARE(p.retryMs(), std::nullopt);
    QCOMPARE(ev[1].data, QByteArray("c"));
    // An id holding a NUL is ignored.
    SseParser q;
    const QByteArray withNul("id: 7\0x\ndata: b\n\n", 17);
    const QList<SseEvent> ev2 = parseSse(withNul, {}, &q);
    QCOMPARE(ev2.size(), 1);
    QCOMPARE(ev2[0].lastEventId, QByteArray());
    // A new connection forgets a half event but keeps the last id.
    SseParser r;
    parseSse("id: 9\ndata: x\n\nid: 10\ndata: half", {}, &r);
    r.resetConnection();
    QList<SseEvent> after;
    r.onEvent = [&](const SseEvent& e) { after.append(e); };
    QVERIFY(r.feed("\n\n"));
    QVERIFY(after.isEmpty());
    QCOMPARE(r.lastEventId(), QByteArray("10")); // the id line was complete before the drop
}

void TstConsoleClientParsers::sseLineEndings()
{
    // A CR that ends one feed and an LF that starts the next are one line end, not two.
    SseParser p;
    QList<SseEvent> ev;
    p.onEvent = [&](const SseEvent& e) { ev.append(e); };
    QVERIFY(p.feed("data: a\r"));
    QVERIFY(p.feed("\ndata: b\r"));
    QVERIFY(p.feed("\n\r"));
    QVERIFY(p.feed("\n"));
    QCOMPARE(ev.size(), 1);
    QCOMPARE(ev[0].data, QByteArray("a\nb"));
}

void TstConsoleClientParsers::sseLimits()
{
    SseParser p;
    QVERIFY(p.feed("data: "));
    const QByteArray mib(1024 * 1024, 'x');
    bool ok = true;
    for (int i = 0; i < 5 && ok; ++i)
        ok = p.feed(mib);
    QVERIFY(!ok);
    QVERIFY(p.error().contains(QLatin1String("line longer")));
    QVERIFY(!p.feed("\n\n")); // stays refused

    // Many short data lines adding up past the event limit.
    SseParser q;
    QByteArray lines;
    const QByteArray line = "data: " + QByteArray(1000, 'y') + "\n";
    while (lines.size() < kMaxSseEventBytes / 10 * 11)
        lines += line;
    QVERIFY(!q.feed(lines));
    QVERIFY(q.error().contains(QLatin1String("event over")));
}

void TstConsoleClientParsers::sseBom()
{
    const QByteArray bom = "\xEF\xBB\xBF";
    for (qsizetype cut = 0; cut <= 5; ++cut) {
        const QList<SseEvent> ev = parseSse(bom + "data: x\n\n", {cut});
        QCOMPARE(ev.size(), 1);
        QCOMPARE(ev[0].data, QByteArray("x"));
    }
    // Only the first bytes of a stream can be a BOM; a partial BOM is ordinary text.
    const QList<SseEvent> partial = parseSse("\xEF\xBB" "data: x\n\n", {1});
    QCOMPARE(partial.size(), 0); // the line "\xEF\xBBdata: x" is an unknown field
}

void TstConsoleClientParsers::endpoints_data()
{
    QTest::addColumn<QString>("target");
    QTest::addColumn<QByteArray>("token");
    QTest::addColumn<QString>("ca");
    QTest::addColumn<QString>("display"); // empty: refused
    QTest::newRow("socket") << "/run/dlb/control.sock" << QByteArray("tok") << "" << "/run/dlb/control.sock";
    QTest::newRow("unix:") << "unix:/run/dlb/c.sock" << QByteArray("tok") << "" << "/run/dlb/c.sock";
    QTest::newRow("relative socket") << "unix:run/c.sock" << QByteArray("tok") << "" << "";
    QTest::newRow("http") << "http://127.0.0.1:9090" << QByteArray("a+b/c==") << "" << "http://127.0.0.1:9090";
    QTest::newRow("http no port") << "http://127.0.0.1" << QByteArray("t") << "" << "";
    QTest::newRow("https default port") << "https://agent.example" << QByteArray("t") << "/ca.pem"
                                        << "https://agent.example:443";
    QTest::newRow("https v6") << "https://[::1]:9443/" << QByteArray("t") << "" << "https://[::1]:9443";
    QTest::newRow("path") << "http://127.0.0.1:9090/v1" << QByteArray("t") << "" << "";
    QTest::newRow("query") << "http://127.0.0.1:9090/?token=x" << QByteArray("t") << "" << "";
    QTest::newRow("user") << "http://u:p@127.0.0.1:9090" << QByteArray("t") << "" << "";
    QTest::newRow("ftp") << "ftp://127.0.0.1:21" << QByteArray("t") << "" << "";
    QTest::newRow("port 0") << "http://127.0.0.1:0" << QByteArray("t") << "" << "";
    QTest::newRow("ca on http") << "http://127.0.0.1:9090" << QByteArray("t") << "/ca.pem" << "";
    QTest::newRow("ca on socket") << "/run/c.sock" << QByteArray("t") << "/ca.pem" << "";
    QTest::newRow("token with space") << "/run/c.sock" << QByteArray("a b") << "" << "";
    QTest::newRow("token with CRLF") << "/run/c.sock" << QByteArray("a\r\nX: y") << "" << "";
    QTest::newRow("token = inside") << "/run/c.sock" << QByteArray("a=b") << "" << "";
    QTest::newRow("no token") << "/run/c.sock" << QByteArray() << "" << "/run/c.sock";
}

void TstConsoleClientParsers::endpoints()
{
    QFETCH(QString, target);
    QFETCH(QByteArray, token);
    QFETCH(QString, ca);
    QFETCH(QString, display);
    QString error;
    const auto e = AgentEndpoint::parse(target, token, ca, &error);
    if (display.isEmpty()) {
        QVERIFY2(!e, qPrintable(target));
        QVERIFY(!error.isEmpty());
    } else {
        QVERIFY2(e, qPrintable(error));
        QCOMPARE(e->display(), display);
    }
}

QTEST_GUILESS_MAIN(TstConsoleClientParsers)
#include "tst_console_client_parsers.moc"
