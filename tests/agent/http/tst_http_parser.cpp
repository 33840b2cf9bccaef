// The llhttp wrapper: heads, bodies, pipelining, limits, malformed input and responses.
#include "recorder.hpp"

#include <QtTest>

#include <string>
#include <string_view>
#include <vector>

using namespace dlb::agent::http;
using namespace dlb::agent::http::test;

Q_DECLARE_METATYPE(dlb::agent::http::ParseError)

namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

std::string_view sv(const QByteArray& b)
{
    return {b.constData(), static_cast<size_t>(b.size())};
}

// A head with an empty value, a long value and a small body: the split tests cut it everywhere.
const std::string kPost = "POST /upload?id=7 HTTP/1.1\r\n"
                          "Host: example.com\r\n"
                          "X-Empty:\r\n"
                          "X-Long-Header-Name: some longer value, with commas and spaces\r\n"
                          "Content-Length: 5\r\n"
                          "\r\n"
                          "hello";

const std::string kChunked = "POST /c HTTP/1.1\r\n"
                             "Host: example.com\r\n"
                             "Transfer-Encoding: chunked\r\n"
                             "\r\n"
                             "5;name=value\r\n"
                             "hello\r\n"
                             "6;flag\r\n"
                             " world\r\n"
                             "0\r\n"
                             "X-Trailer: t\r\n"
                             "\r\n";

const std::string kGetA = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
const std::string kGetB = "GET /b HTTP/1.1\r\nHost: x\r\n\r\n";

// Parses `data` in one execute() with default limits.
struct OneShot {
    Recorder rec;
    Parser parser;
    Parser::Result result{};
    OneShot(Kind kind, std::string_view data, const ParserLimits& limits = {}, bool keep_parsing = true)
        : parser(kind, rec, limits)
    {
        rec.keep_parsing = keep_parsing;
        result = parser.execute(data.data(), data.size());
    }
};

} // namespace

class TestHttpParser : public QObject {
    Q_OBJECT

private slots:
    // ---- request heads ----------------------------------------------------------------------

    // A GET: method, target, version and the headers in their order, names and values as sent.
    void simpleGet()
    {
        const std::string in = "GET /index.html?q=1 HTTP/1.1\r\n"
                               "Host: example.com\r\n"
                               "User-Agent: t/1\r\n"
                               "Accept: */*\r\n"
                               "\r\n";
        OneShot p(Kind::Request, in);
        QCOMPARE(p.result.status, Parser::Status::Ok);
        QCOMPARE(p.result.consumed, in.size());
        QCOMPARE(p.rec.completes, 1);
        const Message& m = p.parser.message();
        QCOMPARE(m.method(), HTTP_GET);
        QCOMPARE(bytes(m.methodName()), QByteArray("GET"));
        QCOMPARE(bytes(m.url()), QByteArray("/index.html?q=1"));
        QCOMPARE(m.versionMajor(), 1u);
        QCOMPARE(m.versionMinor(), 1u);
        QVERIFY(!m.chunked());
        QVERIFY(!m.hasContentLength());
        QCOMPARE(m.headerCount(), size_t{3});
        const Headers expected{{"Host", "example.com"}, {"User-Agent", "t/1"}, {"Accept", "*/*"}};
        QVERIFY2(p.rec.heads.at(0).headers == expected, qPrintable(describe(p.rec.heads.at(0))));
        for (size_t i = 0; i < expected.size(); ++i) {
            QCOMPARE(bytes(m.headerName(i)), QByteArray::fromStdString(expected[i].first));
            QCOMPARE(bytes(m.headerValue(i)), QByteArray::fromStdString(expected[i].second));
        }
    }

    void headerLookupIgnoresCase_data()
    {
        QTest::addColumn<QByteArray>("name");
        QTest::addColumn<bool>("present");
        QTest::addColumn<QByteArray>("value");
        QTest::addColumn<QByteArray>("sole");
        QTest::newRow("as sent") << QByteArray("Content-Type") << true << QByteArray("text/plain") << QByteArray("text/plain");
        QTest::newRow("lower") << QByteArray("content-type") << true << QByteArray("text/plain") << QByteArray("text/plain");
        QTest::newRow("upper") << QByteArray("CONTENT-TYPE") << true << QByteArray("text/plain") << QByteArray("text/plain");
        QTest::newRow("duplicate: first wins") << QByteArray("x-dup") << true << QByteArray("one") << QByteArray("");
        QTest::newRow("empty value") << QByteArray("X-EMPTY") << true << QByteArray("") << QByteArray("");
        QTest::newRow("absent") << QByteArray("Content-Length") << false << QByteArray("") << QByteArray("");
        QTest::newRow("prefix of a name") << QByteArray("Content") << false << QByteArray("") << QByteArray("");
    }

    // header()/hasHeader() match names case-insensitively; the first of duplicates is returned.
    // soleHeader() answers only a name sent once.
    void headerLookupIgnoresCase()
    {
        QFETCH(QByteArray, name);
        QFETCH(bool, present);
        QFETCH(QByteArray, value);
        QFETCH(QByteArray, sole);
        const std::string in = "GET / HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nX-Dup: one\r\nx-dup: two\r\n"
                               "X-Empty:\r\n\r\n";
        OneShot p(Kind::Request, in);
        QCOMPARE(p.result.status, Parser::Status::Ok);
        QCOMPARE(p.parser.message().hasHeader(sv(name)), present);
        QCOMPARE(bytes(p.parser.message().header(sv(name))), value);
        QCOMPARE(bytes(p.parser.message().soleHeader(sv(name))), sole);
    }

    void keepAlive_data()
    {
        QTest::addColumn<QByteArray>("request");
        QTest::addColumn<unsigned>("minor");
        QTest::addColumn<bool>("keepAlive");
        QTest::newRow("1.1 default keep-alive") << QByteArray("GET / HTTP/1.1\r\nHost: x\r\n\r\n") << 1u << true;
        QTest::newRow("1.1 Connection: close")
            << QByteArray("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n") << 1u << false;
        QTest::newRow("1.1 Connection: Close (case)")
            << QByteArray("GET / HTTP/1.1\r\nHost: x\r\nConnection: Close\r\n\r\n") << 1u << false;
        QTest::newRow("1.0 default close") << QByteArray("GET / HTTP/1.0\r\n\r\n") << 0u << false;
        QTest::newRow("1.0 Connection: keep-alive")
            << QByteArray("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n") << 0u << true;
    }

    // keepAlive() follows the version default and the Connection header.
    void keepAlive()
    {
        QFETCH(QByteArray, request);
        QFETCH(unsigned, minor);
        QFETCH(bool, keepAlive);
        OneShot p(Kind::Request, sv(request));
        QCOMPARE(p.result.status, Parser::Status::Ok);
        QCOMPARE(p.rec.completes, 1);
        QCOMPARE(p.parser.message().versionMajor(), 1u);
        QCOMPARE(p.parser.message().versionMinor(), minor);
        QCOMPARE(p.parser.message().keepAlive(), keepAlive);
    }

    // Fed one byte per read, a message yields the same head and body as fed whole.
    void headSplitAtEveryByte()
    {
        OneShot whole(Kind::Request, kPost);
        QCOMPARE(whole.result.status, Parser::Status::Ok);
        QCOMPARE(whole.rec.heads.size(), size_t{1});

        Recorder rec;
        Parser parser(Kind::Request, rec, ParserLimits{});
        QCOMPARE(feedBytewise(parser, kPost), Parser::Status::Ok);
        QCOMPARE(rec.heads.size(), size_t{1});
        QVERIFY2(rec.heads[0] == whole.rec.heads[0],
                 qPrintable(describe(rec.heads[0]) + QStringLiteral("\n vs ") + describe(whole.rec.heads[0])));
        QCOMPARE(bytes(rec.allBody()), QByteArray("hello"));
        QCOMPARE(rec.completes, 1);
    }

    // Cut in two at every offset, a message yields the same head and body as fed whole.
    void headSplitInTwoEverywhere()
    {
        OneShot whole(Kind::Request, kPost);
        QCOMPARE(whole.rec.heads.size(), size_t{1});
        for (size_t cut = 1; cut < kPost.size(); ++cut) {
            Recorder rec;
            Parser parser(Kind::Request, rec, ParserLimits{});
            const QByteArray where = QByteArray("cut at ") + QByteArray::number(static_cast<qulonglong>(cut));
            QVERIFY2(feedPieces(parser, kPost, {cut}) == Parser::Status::Ok, where.constData());
            QVERIFY2(rec.heads.size() == 1, where.constData());
            QVERIFY2(rec.heads[0] == whole.rec.heads[0], qPrintable(where + " " + describe(rec.heads[0])));
            QVERIFY2(rec.allBody() == "hello", where.constData());
            QVERIFY2(rec.completes == 1, where.constData());
        }
    }

    // A header name and a value cut across three reads are joined, with their neighbours intact.
    void headerValueSpansReads()
    {
        const std::string in = "GET / HTTP/1.1\r\nHost: x\r\nX-First: alpha beta gamma\r\nX-Second: delta\r\n\r\n";
        const size_t in_name = in.find("First") + 2;      // "X-Fi" | "rst"
        const size_t in_value = in.find("beta") + 2;      // "alpha be" | "ta gamma"
        Recorder rec;
        Parser parser(Kind::Request, rec, ParserLimits{});
        QCOMPARE(feedPieces(parser, in, {in_name, in_value}), Parser::Status::Ok);
        QCOMPARE(rec.heads.size(), size_t{1});
        const Headers expected{{"Host", "x"}, {"X-First", "alpha beta gamma"}, {"X-Second", "delta"}};
        QVERIFY2(rec.heads[0].headers == expected, qPrintable(describe(rec.heads[0])));
    }

    // Empty values (with or without whitespace) are empty and do not swallow the next header.
    void emptyHeaderValues()
    {
        const std::string in = "GET / HTTP/1.1\r\nX-A:\r\nX-B: \r\nX-C:\t \r\nHost: x\r\n\r\n";
        OneShot p(Kind::Request, in);
        QCOMPARE(p.result.status, Parser::Status::Ok);
        QCOMPARE(p.rec.heads.size(), size_t{1});
        QCOMPARE(p.parser.message().headerCount(), size_t{4});
        QCOMPARE(bytes(p.parser.message().headerName(0)), QByteArray("X-A"));
        QCOMPARE(bytes(p.parser.message().headerValue(0)), QByteArray());
        QCOMPARE(bytes(p.parser.message().headerName(1)), QByteArray("X-B"));
        QCOMPARE(bytes(p.parser.message().headerValue(1)), QByteArray());
        QCOMPARE(bytes(p.parser.message().headerName(2)), QByteArray("X-C"));
        QCOMPARE(bytes(p.parser.message().headerValue(2)), QByteArray());
        QCOMPARE(bytes(p.parser.message().headerName(3)), QByteArray("Host"));
        QCOMPARE(bytes(p.parser.message().headerValue(3)), QByteArray("x"));
    }

    // RFC 9112 5: the whitespace after a value is not part of it (llhttp hands it over).
    void trailingWhitespaceIsNotPartOfTheValue()
    {
        const std::string in = "GET / HTTP/1.1\r\nHost: x \r\nX-A: one two \t \r\nX-B:\tb\t\r\n\r\n";
        OneShot p(Kind::Request, in);
        QCOMPARE(p.result.status, Parser::Status::Ok);
        QCOMPARE(bytes(p.parser.message().headerValue(0)), QByteArray("x"));
        QCOMPARE(bytes(p.parser.message().headerValue(1)), QByteArray("one two"));
        QCOMPARE(bytes(p.parser.message().headerValue(2)), QByteArray("b"));
    }

    // ---- request head rules (as strict as nginx) ----------------------------------------------

    void requestRules_data()
    {
        QTest::addColumn<QByteArray>("request");
        QTest::addColumn<ParseError>("error");
        QTest::addColumn<int>("status");
        QTest::newRow("HTTP/1.1 with one Host") << QByteArray("GET / HTTP/1.1\r\nHost: a\r\n\r\n") << ParseError::None << 0;
        QTest::newRow("HTTP/1.1 without Host") << QByteArray("GET / HTTP/1.1\r\nX: a\r\n\r\n") << ParseError::Malformed << 400;
        QTest::newRow("HTTP/1.1 with two Host") << QByteArray("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n")
                                                << ParseError::Malformed << 400;
        QTest::newRow("HTTP/1.0 without Host") << QByteArray("GET / HTTP/1.0\r\n\r\n") << ParseError::None << 0;
        QTest::newRow("HTTP/1.0 with two Host") << QByteArray("GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n")
                                                << ParseError::Malformed << 400;
        QTest::newRow("HTTP/2.0") << QByteArray("GET / HTTP/2.0\r\nHost: a\r\n\r\n") << ParseError::VersionNotSupported << 505;
        QTest::newRow("HTTP/0.9") << QByteArray("GET / HTTP/0.9\r\nHost: a\r\n\r\n") << ParseError::VersionNotSupported << 505;
        QTest::newRow("HTTP/1.2") << QByteArray("GET / HTTP/1.2\r\nHost: a\r\n\r\n") << ParseError::VersionNotSupported << 505;
        QTest::newRow("obs-fold space") << QByteArray("GET / HTTP/1.1\r\nHost: a\r\nX-A: one\r\n two\r\n\r\n")
                                        << ParseError::Malformed << 400;
        QTest::newRow("obs-fold tab") << QByteArray("GET / HTTP/1.1\r\nX-A: one\r\n\ttwo\r\nHost: a\r\n\r\n")
                                      << ParseError::Malformed << 400;
        QTest::newRow("CONNECT") << QByteArray("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n")
                                 << ParseError::MethodNotAllowed << 405;
        QTest::newRow("Transfer-Encoding gzip") << QByteArray("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\nabc")
                                                << ParseError::NotImplemented << 501;
        QTest::newRow("Transfer-Encoding gzip, chunked")
            << QByteArray("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n")
            << ParseError::NotImplemented << 501;
        QTest::newRow("Transfer-Encoding Chunked") << QByteArray("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n0\r\n\r\n")
                                                   << ParseError::None << 0;
    }

    // Each rule fails before onHeaders() (so nothing is forwarded), with the status to answer.
    void requestRules()
    {
        QFETCH(QByteArray, request);
        QFETCH(ParseError, error);
        QFETCH(int, status);
        OneShot p(Kind::Request, sv(request));
        QCOMPARE(p.parser.error(), error);
        QCOMPARE(p.rec.heads.size(), size_t{error == ParseError::None ? 1u : 0u});
        if (error != ParseError::None) {
            QCOMPARE(requestErrorStatus(error), status);
            QVERIFY(!p.parser.errorReason().empty());
        }
    }

    // obs-fold is found when the fold starts a read of its own, too.
    void obsFoldAcrossReads()
    {
        const std::string in = "GET / HTTP/1.1\r\nHost: a\r\nX-A: one\r\n two\r\n\r\n";
        Recorder rec;
        Parser parser(Kind::Request, rec, ParserLimits{});
        QCOMPARE(feedPieces(parser, in, {in.find(" two")}), Parser::Status::Error);
        QCOMPARE(parser.error(), ParseError::Malformed);
        QCOMPARE(rec.heads.size(), size_t{0});
    }

    // ---- request bodies ---------------------------------------------------------------------

    // A Content-Length body reaches onBody exactly, then the message completes.
    void contentLengthBody()
    {
        const std::string in = "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello\r\nwor";
        OneShot p(Kind::Request, in);
        QCOMPARE(p.result.status, Parser::Status::Ok);
        QCOMPARE(p.result.consumed, in.size());
        QVERIFY(p.parser.message().hasContentLength());
        QCOMPARE(p.parser.message().contentLength(), uint64_t{10});
        QCOMPARE(bytes(p.rec.allBody()), QByteArray("hello\r\nwor"));
        QCOMPARE(p.rec.events, QStringList({"headers POST /p", "body hello\r\nwor", "complete"}));
    }

    // A Content-Length body cut at every offset still arrives whole, with one completion.
    void contentLengthBodySplitReads()
    {
        const size_t body_start = kPost.find("\r\n\r\n") + 4;
        for (size_t cut = body_start; cut < kPost.size(); ++cut) {
            Recorder rec;
            Parser parser(Kind::Request, rec, ParserLimits{});
            const QByteArray where = QByteArray("cut at ") + QByteArray::number(static_cast<qulonglong>(cut));
            QVERIFY2(feedPieces(parser, kPost, {cut}) == Parser::Status::Ok, where.constData());
            QVERIFY2(rec.allBody() == "hello", qPrintable(where + " body " + QByteArray::fromStdString(rec.allBody())));
            QVERIFY2(rec.completes == 1, where.constData());
        }
    }

    // A chunked body is de-chunked exactly; chunk extensions are ignored; trailers are not headers.
    void chunkedBodyDechunked()
    {
        OneShot p(Kind::Request, kChunked);
        QCOMPARE(p.result.status, Parser::Status::Ok);
        QCOMPARE(p.result.consumed, kChunked.size());
        QCOMPARE(p.rec.completes, 1);
        QVERIFY(p.parser.message().chunked());
        QCOMPARE(bytes(p.rec.allBody()), QByteArray("hello world"));
        const Headers expected{{"Host", "example.com"}, {"Transfer-Encoding", "chunked"}};
        QVERIFY2(p.rec.heads[0].headers == expected, qPrintable(describe(p.rec.heads[0])));
        // The trailer did not reach the Message after the head either.
        QCOMPARE(p.parser.message().headerCount(), size_t{2});
        QVERIFY(!p.parser.message().hasHeader("x-trailer"));
    }

    // A chunked body fed one byte per read de-chunks to the same bytes.
    void chunkedBodyBytewise()
    {
        Recorder rec;
        Parser parser(Kind::Request, rec, ParserLimits{});
        QCOMPARE(feedBytewise(parser, kChunked), Parser::Status::Ok);
        QCOMPARE(bytes(rec.allBody()), QByteArray("hello world"));
        QCOMPARE(rec.completes, 1);
        QCOMPARE(parser.message().headerCount(), size_t{2});
    }

    // onBody returning false stops parsing with Aborted.
    void bodyAbortedByHandler()
    {
        Recorder rec;
        rec.accept_body = false;
        Parser parser(Kind::Request, rec, ParserLimits{});
        const auto r = parser.execute(kPost.data(), kPost.size());
        QCOMPARE(r.status, Parser::Status::Error);
        QCOMPARE(parser.error(), ParseError::Aborted);
        QCOMPARE(rec.completes, 0);
    }

    // ---- pipelining -------------------------------------------------------------------------

    // onMessageComplete returning false pauses exactly at the end of the first request.
    void pipelinedPausesAfterFirst()
    {
        const std::string in = kGetA + kGetB;
        OneShot p(Kind::Request, in, {}, /*keep_parsing=*/false);
        QCOMPARE(p.result.status, Parser::Status::Paused);
        QCOMPARE(p.result.consumed, kGetA.size());
        QCOMPARE(p.rec.events, QStringList({"headers GET /a", "complete"}));
        QCOMPARE(bytes(p.parser.message().url()), QByteArray("/a"));
        QVERIFY(!p.parser.inMessage());
    }

    // The pause after a request with a body falls just past its last body byte.
    void pipelinedPausesAfterBody()
    {
        const std::string first = "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc";
        const std::string in = first + kGetB;
        OneShot p(Kind::Request, in, {}, /*keep_parsing=*/false);
        QCOMPARE(p.result.status, Parser::Status::Paused);
        QCOMPARE(p.result.consumed, first.size());
        QCOMPARE(bytes(p.rec.allBody()), QByteArray("abc"));
        QCOMPARE(p.rec.completes, 1);
    }

    // resume() and execute() on the rest of the buffer parse the second request.
    void pipelinedResumeParsesSecond()
    {
        const std::string in = kGetA + kGetB;
        OneShot p(Kind::Request, in, {}, /*keep_parsing=*/false);
        QCOMPARE(p.result.status, Parser::Status::Paused);
        p.parser.resume();
        p.rec.keep_parsing = true;
        const std::string_view rest = std::string_view(in).substr(p.result.consumed);
        const auto r = p.parser.execute(rest.data(), rest.size());
        QCOMPARE(r.status, Parser::Status::Ok);
        QCOMPARE(r.consumed, kGetB.size());
        QCOMPARE(p.rec.events, QStringList({"headers GET /a", "complete", "headers GET /b", "complete"}));
        QCOMPARE(bytes(p.parser.message().url()), QByteArray("/b"));
    }

    // onMessageComplete returning true parses both pipelined requests in one execute().
    void pipelinedBothWhenContinuing()
    {
        const std::string in = kGetA + kGetB;
        OneShot p(Kind::Request, in);
        QCOMPARE(p.result.status, Parser::Status::Ok);
        QCOMPARE(p.result.consumed, in.size());
        QCOMPARE(p.rec.events, QStringList({"headers GET /a", "complete", "headers GET /b", "complete"}));
    }

    // An Upgrade the proxy does not perform is parsed on as HTTP: the next request follows.
    void upgradeParsedOnAsHttp()
    {
        const std::string in = "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n" + kGetB;
        OneShot p(Kind::Request, in);
        QCOMPARE(p.result.status, Parser::Status::Ok);
        QCOMPARE(p.result.consumed, in.size());
        QCOMPARE(p.rec.events, QStringList({"headers GET /ws", "complete", "headers GET /b", "complete"}));
        QVERIFY(!p.parser.message().upgrade());
    }

    // inMessage() is true from the first byte of a message until it completes.
    void inMessageSpansOneMessage()
    {
        Recorder rec;
        Parser parser(Kind::Request, rec, ParserLimits{});
        QVERIFY(!parser.inMessage());
        QCOMPARE(parser.execute(kGetA.data(), 1).status, Parser::Status::Ok);
        QVERIFY(parser.inMessage());
        QCOMPARE(parser.execute(kGetA.data() + 1, kGetA.size() - 1).status, Parser::Status::Ok);
        QVERIFY(!parser.inMessage());
    }

    // ---- limits -----------------------------------------------------------------------------

    void headerBytesLimit_data()
    {
        const QByteArray big(100, 'a');
        QTest::addColumn<QByteArray>("request");
        QTest::addColumn<ParseError>("error");
        QTest::newRow("small head") << QByteArray("GET /x HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n") << ParseError::None;
        QTest::newRow("long target") << QByteArray("GET /" + big + " HTTP/1.1\r\nHost: x\r\n\r\n")
                                     << ParseError::HeadersTooLarge;
        QTest::newRow("long name") << QByteArray("GET / HTTP/1.1\r\nX-" + big + ": v\r\n\r\n")
                                   << ParseError::HeadersTooLarge;
        QTest::newRow("long value") << QByteArray("GET / HTTP/1.1\r\nX-A: " + big + "\r\n\r\n")
                                    << ParseError::HeadersTooLarge;
        QByteArray many("GET / HTTP/1.1\r\nHost: x\r\n");
        for (int i = 0; i < 10; ++i)
            many += "X-H" + QByteArray::number(i) + ": vvvvv\r\n";
        QTest::newRow("many small headers") << QByteArray(many + "\r\n") << ParseError::HeadersTooLarge;
    }

    // Start line and header bytes over max_header_bytes fail with HeadersTooLarge before onHeaders.
    void headerBytesLimit()
    {
        QFETCH(QByteArray, request);
        QFETCH(ParseError, error);
        OneShot p(Kind::Request, sv(request), ParserLimits{64, 100, 0});
        QCOMPARE(p.parser.error(), error);
        if (error == ParseError::None) {
            QCOMPARE(p.result.status, Parser::Status::Ok);
            QCOMPARE(p.rec.completes, 1);
        } else {
            QCOMPARE(p.result.status, Parser::Status::Error);
            QVERIFY(!p.parser.errorReason().empty());
            QCOMPARE(p.rec.heads.size(), size_t{0});
        }
    }

    // The header byte limit counts bytes across reads, not per read.
    void headerBytesLimitAcrossReads()
    {
        const std::string in = "GET / HTTP/1.1\r\nX-A: " + std::string(100, 'a') + "\r\n\r\n";
        Recorder rec;
        Parser parser(Kind::Request, rec, ParserLimits{64, 100, 0});
        QCOMPARE(feedBytewise(parser, in), Parser::Status::Error);
        QCOMPARE(parser.error(), ParseError::HeadersTooLarge);
        QCOMPARE(rec.heads.size(), size_t{0});
    }

    void headerCountLimit_data()
    {
        QTest::addColumn<int>("count");
        QTest::addColumn<ParseError>("error");
        QTest::newRow("at the limit") << 3 << ParseError::None;
        QTest::newRow("one over") << 4 << ParseError::TooManyHeaders;
        QTest::newRow("far over") << 50 << ParseError::TooManyHeaders;
    }

    // More header fields than max_headers fail with TooManyHeaders before onHeaders.
    void headerCountLimit()
    {
        QFETCH(int, count);
        QFETCH(ParseError, error);
        std::string in = "GET / HTTP/1.1\r\nHost: x\r\n";
        for (int i = 0; i < count; ++i)
            in += "X-" + std::to_string(i) + ": v\r\n";
        in += "\r\n";
        OneShot p(Kind::Request, in, ParserLimits{16384, 4, 0}); // Host and the X- fields
        QCOMPARE(p.parser.error(), error);
        QCOMPARE(p.result.status, error == ParseError::None ? Parser::Status::Ok : Parser::Status::Error);
        QCOMPARE(p.rec.heads.size(), size_t{error == ParseError::None ? 1u : 0u});
    }

    void bodyLimitByContentLength_data()
    {
        QTest::addColumn<int>("length");
        QTest::addColumn<ParseError>("error");
        QTest::newRow("at the limit") << 10 << ParseError::None;
        QTest::newRow("one over") << 11 << ParseError::BodyTooLarge;
    }

    // A Content-Length over max_body_bytes fails with BodyTooLarge at the head, before onHeaders.
    void bodyLimitByContentLength()
    {
        QFETCH(int, length);
        QFETCH(ParseError, error);
        const std::string in = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(length) + "\r\n\r\n" +
                               std::string(static_cast<size_t>(length), 'b');
        OneShot p(Kind::Request, in, ParserLimits{16384, 100, 10});
        QCOMPARE(p.parser.error(), error);
        if (error == ParseError::None) {
            QCOMPARE(p.rec.completes, 1);
            QCOMPARE(p.rec.allBody().size(), size_t{10});
        } else {
            QCOMPARE(p.result.status, Parser::Status::Error);
            QVERIFY(!p.parser.errorReason().empty());
            QCOMPARE(p.rec.heads.size(), size_t{0});
            QCOMPARE(p.rec.allBody().size(), size_t{0});
        }
    }

    void bodyLimitByChunkedStream_data()
    {
        QTest::addColumn<QByteArray>("chunks");
        QTest::addColumn<ParseError>("error");
        QTest::addColumn<QByteArray>("delivered");
        QTest::newRow("6+4 at the limit") << QByteArray("6\r\nabcdef\r\n4\r\nghij\r\n0\r\n\r\n") << ParseError::None
                                          << QByteArray("abcdefghij");
        QTest::newRow("6+5 one over") << QByteArray("6\r\nabcdef\r\n5\r\nghijk\r\n0\r\n\r\n")
                                      << ParseError::BodyTooLarge << QByteArray("abcdef");
        QTest::newRow("one chunk over") << QByteArray("b\r\nabcdefghijk\r\n0\r\n\r\n") << ParseError::BodyTooLarge
                                        << QByteArray();
    }

    // A chunked body growing past max_body_bytes fails with BodyTooLarge; no byte past the limit
    // reaches onBody.
    void bodyLimitByChunkedStream()
    {
        QFETCH(QByteArray, chunks);
        QFETCH(ParseError, error);
        QFETCH(QByteArray, delivered);
        const std::string in = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks.toStdString();
        OneShot p(Kind::Request, in, ParserLimits{16384, 100, 10});
        QCOMPARE(p.parser.error(), error);
        QCOMPARE(p.result.status, error == ParseError::None ? Parser::Status::Ok : Parser::Status::Error);
        QCOMPARE(bytes(p.rec.allBody()), delivered);
        QCOMPARE(p.rec.completes, error == ParseError::None ? 1 : 0);
    }

    // ---- malformed requests -----------------------------------------------------------------

    void malformed_data()
    {
        QTest::addColumn<QByteArray>("request");
        const QByteArray start("POST / HTTP/1.1\r\nHost: x\r\n");
        const QByteArray chunked = start + "Transfer-Encoding: chunked\r\n\r\n";
        QTest::newRow("bad method token") << QByteArray("G@T / HTTP/1.1\r\nHost: x\r\n\r\n");
        QTest::newRow("unknown method") << QByteArray("get / HTTP/1.1\r\nHost: x\r\n\r\n");
        QTest::newRow("space in target") << QByteArray("GET /a b HTTP/1.1\r\nHost: x\r\n\r\n");
        QTest::newRow("space in header name") << QByteArray("GET / HTTP/1.1\r\nX Y: a\r\n\r\n");
        QTest::newRow("space before colon") << QByteArray("GET / HTTP/1.1\r\nHost : a\r\n\r\n");
        QTest::newRow("tab before colon") << QByteArray("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n");
        QTest::newRow("empty header name") << QByteArray("GET / HTTP/1.1\r\n: a\r\nHost: x\r\n\r\n");
        QTest::newRow("separator in header name") << QByteArray("GET / HTTP/1.1\r\nX@Y: a\r\n\r\n");
        static constexpr char kNul[] = "GET / HTTP/1.1\r\nX-A: a\0b\r\n\r\n";
        QTest::newRow("NUL in header value") << QByteArray(kNul, sizeof kNul - 1);
        QTest::newRow("lone CR in header value") << QByteArray("GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n");
        QTest::newRow("DEL in header value") << QByteArray("GET / HTTP/1.1\r\nX-A: a\x7f b\r\n\r\n");
        // Request smuggling: each of these would pass with one of llhttp's lenient flags.
        QTest::newRow("Content-Length then chunked")
            << QByteArray(start + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
        QTest::newRow("chunked then Content-Length")
            << QByteArray(start + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n");
        QTest::newRow("two different Content-Length")
            << QByteArray(start + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!");
        QTest::newRow("two equal Content-Length lines")
            << QByteArray(start + "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello");
        QTest::newRow("Content-Length list") << QByteArray(start + "Content-Length: 5, 5\r\n\r\nhello");
        QTest::newRow("negative Content-Length") << QByteArray(start + "Content-Length: -1\r\n\r\n");
        QTest::newRow("chunked twice") << QByteArray(start + "Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n");
        QTest::newRow("invalid chunk size") << QByteArray(chunked + "zz\r\nabc\r\n0\r\n\r\n");
        QTest::newRow("chunk size overflow") << QByteArray(chunked + "ffffffffffffffffff\r\n");
        QTest::newRow("chunk data not followed by CRLF") << QByteArray(chunked + "5\r\nhelloXX0\r\n\r\n");
    }

    // Malformed requests fail with Malformed and a reason, and never complete.
    void malformed()
    {
        QFETCH(QByteArray, request);
        OneShot p(Kind::Request, sv(request));
        QCOMPARE(p.result.status, Parser::Status::Error);
        QCOMPARE(p.parser.error(), ParseError::Malformed);
        QVERIFY(!p.parser.errorReason().empty());
        QCOMPARE(p.rec.completes, 0);
        QVERIFY(p.result.consumed <= static_cast<size_t>(request.size()));
    }

    void bareLf_data()
    {
        QTest::addColumn<QByteArray>("request");
        QTest::addColumn<ParseError>("error");
        const QByteArray chunked("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
        // RFC 9112 §2.2 lets a recipient accept a bare LF as a line end; llhttp 8 does so for
        // the start line and the blank line, but not after a header value or in chunk framing.
        QTest::newRow("request line ends in LF") << QByteArray("GET / HTTP/1.1\nHost: x\r\n\r\n") << ParseError::None;
        QTest::newRow("blank line is a bare LF") << QByteArray("GET / HTTP/1.1\r\nHost: x\r\n\n") << ParseError::None;
        QTest::newRow("header line ends in LF")
            << QByteArray("GET / HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n") << ParseError::Malformed;
        QTest::newRow("all lines end in LF") << QByteArray("GET / HTTP/1.1\nHost: x\n\n") << ParseError::Malformed;
        QTest::newRow("chunk size line ends in LF") << QByteArray(chunked + "5\nhello\r\n0\r\n\r\n")
                                                    << ParseError::Malformed;
        QTest::newRow("chunk data ends in LF") << QByteArray(chunked + "5\r\nhello\n0\r\n\r\n")
                                               << ParseError::Malformed;
    }

    // Bare LF line endings: accepted where llhttp accepts them, Malformed elsewhere.
    void bareLf()
    {
        QFETCH(QByteArray, request);
        QFETCH(ParseError, error);
        OneShot p(Kind::Request, sv(request));
        QCOMPARE(p.parser.error(), error);
        if (error == ParseError::None) {
            QCOMPARE(p.result.status, Parser::Status::Ok);
            QCOMPARE(p.rec.completes, 1);
            QCOMPARE(bytes(p.parser.message().header("host")), QByteArray("x"));
        } else {
            QCOMPARE(p.result.status, Parser::Status::Error);
            QCOMPARE(p.rec.completes, 0);
        }
    }

    // After an error the parser refuses further bytes until reset().
    void errorIsSticky()
    {
        OneShot p(Kind::Request, "G@T / HTTP/1.1\r\n\r\n");
        QCOMPARE(p.result.status, Parser::Status::Error);
        const auto r = p.parser.execute(kGetA.data(), kGetA.size());
        QCOMPARE(r.status, Parser::Status::Error);
        QCOMPARE(r.consumed, size_t{0});
        QCOMPARE(p.rec.heads.size(), size_t{0});
        QCOMPARE(p.parser.error(), ParseError::Malformed);
    }

    // ---- responses --------------------------------------------------------------------------

    void responseStatusLine_data()
    {
        QTest::addColumn<QByteArray>("response");
        QTest::addColumn<int>("status");
        QTest::addColumn<QByteArray>("reason");
        QTest::addColumn<unsigned>("minor");
        QTest::newRow("404") << QByteArray("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n") << 404
                             << QByteArray("Not Found") << 1u;
        QTest::newRow("1.0 503") << QByteArray("HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
                                 << 503 << QByteArray("Service Unavailable") << 0u;
        QTest::newRow("no reason") << QByteArray("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n") << 200 << QByteArray()
                                   << 1u;
        QTest::newRow("no reason, no space") << QByteArray("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n") << 200
                                             << QByteArray() << 1u;
    }

    // A response's status code, reason phrase and version.
    void responseStatusLine()
    {
        QFETCH(QByteArray, response);
        QFETCH(int, status);
        QFETCH(QByteArray, reason);
        QFETCH(unsigned, minor);
        OneShot p(Kind::Response, sv(response));
        QCOMPARE(p.result.status, Parser::Status::Ok);
        QCOMPARE(p.rec.completes, 1);
        QCOMPARE(p.parser.message().status(), status);
        QCOMPARE(bytes(p.parser.message().reason()), reason);
        QCOMPARE(p.parser.message().versionMinor(), minor);
    }

    void noBodyStatuses_data()
    {
        QTest::addColumn<QByteArray>("response");
        QTest::addColumn<QString>("head");
        QTest::newRow("204") << QByteArray("HTTP/1.1 204 No Content\r\n\r\n") << QString("headers 204 No Content");
        QTest::newRow("304") << QByteArray("HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n")
                             << QString("headers 304 Not Modified");
        // RFC 9112 §6.3: 204 and 304 end at the blank line whatever their header fields say;
        // RFC 9110 §8.6 lets a 304 carry the Content-Length of the selected representation.
        QTest::newRow("304 with Content-Length") << QByteArray("HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n")
                                                 << QString("headers 304 Not Modified");
        QTest::newRow("204 with Content-Length") << QByteArray("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n")
                                                 << QString("headers 204 No Content");
    }

    // 204 and 304 have no body: the message completes at its head and the next response follows.
    void noBodyStatuses()
    {
        QFETCH(QByteArray, response);
        QFETCH(QString, head);
        const std::string next = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        const std::string in = response.toStdString() + next;
        OneShot p(Kind::Response, in);
        QCOMPARE(p.rec.events, QStringList({head, "complete", "headers 200 OK", "body ok", "complete"}));
        QCOMPARE(p.result.status, Parser::Status::Ok);
    }

    // SkipBody (a response to HEAD) reads no body even with a Content-Length.
    void headResponseSkipsBody()
    {
        const std::string in = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
                               "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\n";
        Recorder rec;
        rec.headers_action = ParserHandler::HeadersAction::SkipBody;
        Parser parser(Kind::Response, rec, ParserLimits{});
        const auto r = parser.execute(in.data(), in.size());
        QCOMPARE(r.status, Parser::Status::Ok);
        QCOMPARE(r.consumed, in.size());
        QCOMPARE(rec.events, QStringList({"headers 200 OK", "complete", "headers 404 Not Found", "complete"}));
        QCOMPARE(parser.message().contentLength(), uint64_t{9});
    }

    // A HEAD response announcing more than max_body_bytes is fine: no body follows it.
    void headResponseIgnoresBodyLimit()
    {
        const std::string in = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
        Recorder rec;
        rec.headers_action = ParserHandler::HeadersAction::SkipBody;
        Parser parser(Kind::Response, rec, ParserLimits{16384, 100, 10});
        const auto r = parser.execute(in.data(), in.size());
        QCOMPARE(parser.error(), ParseError::None);
        QCOMPARE(r.status, Parser::Status::Ok);
        QCOMPARE(rec.events, QStringList({"headers 200 OK", "complete"}));
    }

    // 100 Continue then 200 on one parser: each is reported as a message (head and completion);
    // the caller tells the interim one by its status.
    void continueThenFinal()
    {
        const std::string in = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        OneShot p(Kind::Response, in);
        QCOMPARE(p.result.status, Parser::Status::Ok);
        QCOMPARE(p.result.consumed, in.size());
        QCOMPARE(p.rec.events,
                 QStringList({"headers 100 Continue", "complete", "headers 200 OK", "body ok", "complete"}));
        QCOMPARE(p.parser.message().status(), 200);
    }

    // A response without length is read until the peer closes: finish() completes it.
    void readUntilCloseCompletedByFinish()
    {
        Recorder rec;
        Parser parser(Kind::Response, rec, ParserLimits{});
        const std::string head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nabc";
        QCOMPARE(parser.execute(head.data(), head.size()).status, Parser::Status::Ok);
        QCOMPARE(parser.execute("def", 3).status, Parser::Status::Ok);
        QCOMPARE(rec.completes, 0);
        QVERIFY(parser.inMessage());
        QVERIFY(!parser.message().keepAlive());
        QCOMPARE(parser.finish(), Parser::Status::Ok);
        QCOMPARE(rec.events, QStringList({"headers 200 OK", "body abc", "body def", "complete"}));
        QCOMPARE(parser.error(), ParseError::None);
    }

    // finish() in the middle of a Content-Length body is an Error, and nothing completes.
    void finishMidContentLengthBody()
    {
        Recorder rec;
        Parser parser(Kind::Response, rec, ParserLimits{});
        const std::string in = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
        QCOMPARE(parser.execute(in.data(), in.size()).status, Parser::Status::Ok);
        QCOMPARE(parser.finish(), Parser::Status::Error);
        QCOMPARE(parser.error(), ParseError::Malformed);
        QVERIFY(!parser.errorReason().empty());
        QCOMPARE(rec.completes, 0);
    }

    // finish() in the middle of a head is an Error too.
    void finishMidHead()
    {
        Recorder rec;
        Parser parser(Kind::Response, rec, ParserLimits{});
        const std::string in = "HTTP/1.1 200 OK\r\nContent-Le";
        QCOMPARE(parser.execute(in.data(), in.size()).status, Parser::Status::Ok);
        QCOMPARE(parser.finish(), Parser::Status::Error);
        QCOMPARE(parser.error(), ParseError::Malformed);
    }

    // finish() before any byte is Ok: nothing was cut short.
    void finishWhenIdle()
    {
        Recorder rec;
        Parser parser(Kind::Response, rec, ParserLimits{});
        QCOMPARE(parser.finish(), Parser::Status::Ok);
        QCOMPARE(parser.error(), ParseError::None);
        QCOMPARE(rec.completes, 0);
    }

    // finish() right after a complete message is Ok and completes nothing more.
    void finishAfterCompleteMessage()
    {
        Recorder rec;
        Parser parser(Kind::Response, rec, ParserLimits{});
        const std::string in = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        QCOMPARE(parser.execute(in.data(), in.size()).status, Parser::Status::Ok);
        QCOMPARE(parser.finish(), Parser::Status::Ok);
        QCOMPARE(rec.events, QStringList({"headers 200 OK", "body ok", "complete"}));
    }

    // A chunked response is de-chunked like a request.
    void chunkedResponseDechunked()
    {
        const std::string in = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n1;x=y\r\nd\r\n0\r\n\r\n";
        OneShot p(Kind::Response, in);
        QCOMPARE(p.result.status, Parser::Status::Ok);
        QVERIFY(p.parser.message().chunked());
        QCOMPARE(p.rec.events, QStringList({"headers 200 OK", "body abc", "body d", "complete"}));
    }

    // ---- reset ------------------------------------------------------------------------------

    // reset() drops a half-parsed message: the next bytes start a fresh one.
    void resetDropsPartialMessage()
    {
        Recorder rec;
        Parser parser(Kind::Request, rec, ParserLimits{});
        const std::string partial = "POST /old HTTP/1.1\r\nHost: x\r\nX-Old: 1\r\nContent-Length: 100\r\n\r\nabc";
        QCOMPARE(parser.execute(partial.data(), partial.size()).status, Parser::Status::Ok);
        QVERIFY(parser.inMessage());
        parser.reset();
        QVERIFY(!parser.inMessage());
        const auto r = parser.execute(kGetB.data(), kGetB.size());
        QCOMPARE(r.status, Parser::Status::Ok);
        QCOMPARE(rec.completes, 1);
        QCOMPARE(bytes(parser.message().url()), QByteArray("/b"));
        QVERIFY(!parser.message().hasHeader("x-old"));
        QCOMPARE(parser.message().headerCount(), size_t{1});
    }

    // reset() clears an error and its reason: the parser works again.
    void resetClearsError()
    {
        OneShot p(Kind::Request, "G@T / HTTP/1.1\r\n\r\n");
        QCOMPARE(p.parser.error(), ParseError::Malformed);
        p.parser.reset();
        QCOMPARE(p.parser.error(), ParseError::None);
        QVERIFY(p.parser.errorReason().empty());
        const auto r = p.parser.execute(kGetA.data(), kGetA.size());
        QCOMPARE(r.status, Parser::Status::Ok);
        QCOMPARE(p.rec.events, QStringList({"headers GET /a", "complete"}));
    }

    // reset() after a pause lets the next message parse without resume().
    void resetClearsPause()
    {
        const std::string in = kGetA + kGetB;
        OneShot p(Kind::Request, in, {}, /*keep_parsing=*/false);
        QCOMPARE(p.result.status, Parser::Status::Paused);
        p.parser.reset();
        p.rec.keep_parsing = true;
        const auto r = p.parser.execute(kGetB.data(), kGetB.size());
        QCOMPARE(r.status, Parser::Status::Ok);
        QCOMPARE(r.consumed, kGetB.size());
        QCOMPARE(bytes(p.parser.message().url()), QByteArray("/b"));
    }
};

QTEST_GUILESS_MAIN(TestHttpParser)
#include "tst_http_parser.moc"
