// Proxy header rules: hop-by-hop fields, forwarded heads, framing, the proxy's own answers, chunks.
#include "recorder.hpp"

#include <QtTest>

#include <string>
#include <string_view>

using namespace dlb::agent::http;
using namespace dlb::agent::http::test;
namespace http = dlb::agent::http;

Q_DECLARE_METATYPE(dlb::agent::http::BodyFraming)

namespace {

std::string_view sv(const QByteArray& b)
{
    return {b.constData(), static_cast<size_t>(b.size())};
}

const ForwardInfo kFwd{"10.1.2.3", "http"};

// The values of every field line called `name` (any case) in a head, in order.
QStringList fieldValues(const QStringList& lines, const QString& name)
{
    QStringList values;
    for (qsizetype i = 1; i < lines.size(); ++i) {
        const qsizetype colon = lines[i].indexOf(QLatin1Char(':'));
        if (colon > 0 && lines[i].left(colon).compare(name, Qt::CaseInsensitive) == 0)
            values << lines[i].mid(colon + 1).trimmed();
    }
    return values;
}

// The head forwarded upstream for `request`, with the framing requestFraming() picks.
std::string upstreamHead(const Parsed& req, const ForwardInfo& fwd = kFwd)
{
    std::string out;
    appendUpstreamRequestHead(out, req.msg(), requestFraming(req.msg()), fwd);
    return out;
}

} // namespace

class TestHttpHeaders : public QObject {
    Q_OBJECT

private slots:
    // ---- hop-by-hop -------------------------------------------------------------------------

    void isHopByHop_data()
    {
        QTest::addColumn<QByteArray>("name");
        QTest::addColumn<QByteArray>("connection");
        QTest::addColumn<bool>("hop");
        QTest::newRow("Connection") << QByteArray("Connection") << QByteArray() << true;
        QTest::newRow("keep-alive lower") << QByteArray("keep-alive") << QByteArray() << true;
        QTest::newRow("PROXY-CONNECTION upper") << QByteArray("PROXY-CONNECTION") << QByteArray() << true;
        QTest::newRow("Proxy-Authenticate") << QByteArray("Proxy-Authenticate") << QByteArray() << true;
        QTest::newRow("proxy-AUTHORIZATION mixed") << QByteArray("proxy-AUTHORIZATION") << QByteArray() << true;
        QTest::newRow("TE") << QByteArray("TE") << QByteArray() << true;
        QTest::newRow("te lower") << QByteArray("te") << QByteArray() << true;
        QTest::newRow("Trailer") << QByteArray("Trailer") << QByteArray() << true;
        QTest::newRow("Transfer-Encoding") << QByteArray("Transfer-Encoding") << QByteArray() << true;
        QTest::newRow("uPgRaDe") << QByteArray("uPgRaDe") << QByteArray() << true;
        QTest::newRow("named by Connection") << QByteArray("X-Foo") << QByteArray("close, X-Foo") << true;
        QTest::newRow("named in another case") << QByteArray("x-foo") << QByteArray("close,X-FOO") << true;
        QTest::newRow("named last, spaces around")
            << QByteArray("X-Bar") << QByteArray("X-Foo ,  X-Bar  ") << true;
        QTest::newRow("named first, tab before") << QByteArray("X-Foo") << QByteArray("\tX-Foo, close") << true;
        QTest::newRow("named alone") << QByteArray("X-Foo") << QByteArray("X-Foo") << true;
        QTest::newRow("Host") << QByteArray("Host") << QByteArray() << false;
        QTest::newRow("Content-Length") << QByteArray("Content-Length") << QByteArray("close") << false;
        QTest::newRow("Trailers is not Trailer") << QByteArray("Trailers") << QByteArray() << false;
        QTest::newRow("X-Forwarded-For") << QByteArray("X-Forwarded-For") << QByteArray("keep-alive") << false;
        QTest::newRow("token is a longer name") << QByteArray("X-Foo") << QByteArray("X-Foobar") << false;
        QTest::newRow("token is a shorter name") << QByteArray("X-Foobar") << QByteArray("X-Foo") << false;
        QTest::newRow("empty tokens") << QByteArray("Accept") << QByteArray(" , ,") << false;
    }

    // The fixed hop-by-hop names in any case, and the names a Connection value lists.
    void isHopByHop()
    {
        QFETCH(QByteArray, name);
        QFETCH(QByteArray, connection);
        QFETCH(bool, hop);
        QCOMPARE(http::isHopByHop(sv(name), sv(connection)), hop);
    }

    // ---- requests upstream ------------------------------------------------------------------

    void requestFraming_data()
    {
        QTest::addColumn<QByteArray>("request");
        QTest::addColumn<BodyFraming>("framing");
        QTest::newRow("GET") << QByteArray("GET / HTTP/1.1\r\nHost: x\r\n\r\n") << BodyFraming::None;
        QTest::newRow("POST Content-Length 5") << QByteArray("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
                                               << BodyFraming::ContentLength;
        // Forwarded as sent: some servers want the length on a POST even when it is 0.
        QTest::newRow("POST Content-Length 0") << QByteArray("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
                                               << BodyFraming::ContentLength;
        QTest::newRow("POST chunked")
            << QByteArray("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n") << BodyFraming::Chunked;
    }

    // A request body is forwarded with its length, chunked, or not at all.
    void requestFraming()
    {
        QFETCH(QByteArray, request);
        QFETCH(BodyFraming, framing);
        const Parsed req(Kind::Request, sv(request));
        QVERIFY(req.ok);
        QCOMPARE(http::requestFraming(req.msg()), framing);
    }

    // The whole forwarded head: HTTP/1.1 request line, end-to-end fields in order, hop-by-hop
    // fields (fixed and Connection-named) dropped, X-Forwarded-* added, one blank line.
    void upstreamHeadExact()
    {
        const std::string in = "GET /p?x=1 HTTP/1.1\r\n"
                               "Host: example.com\r\n"
                               "Connection: keep-alive, X-Hop\r\n"
                               "Keep-Alive: timeout=5\r\n"
                               "X-Hop: secret\r\n"
                               "TE: trailers\r\n"
                               "Accept: */*\r\n"
                               "Proxy-Authorization: Basic eA==\r\n"
                               "Proxy-Connection: keep-alive\r\n"
                               "Trailer: X-T\r\n"
                               "Upgrade: h2c\r\n"
                               "User-Agent: t/1\r\n"
                               "\r\n";
        const Parsed req(Kind::Request, in);
        QVERIFY(req.ok);
        const std::string out = upstreamHead(req);
        const std::string expected = "GET /p?x=1 HTTP/1.1\r\n"
                                     "Host: example.com\r\n"
                                     "Accept: */*\r\n"
                                     "User-Agent: t/1\r\n"
                                     "X-Forwarded-For: 10.1.2.3\r\n"
                                     "X-Forwarded-Proto: http\r\n"
                                     "Via: 1.1 dlb\r\n"
                                     "\r\n";
        QCOMPARE(bytes(out), bytes(expected));
    }

    void upstreamRequestLine_data()
    {
        QTest::addColumn<QByteArray>("request");
        QTest::addColumn<QString>("line");
        QTest::newRow("1.1 GET") << QByteArray("GET /a/b?c=d&e HTTP/1.1\r\nHost: x\r\n\r\n")
                                 << QString("GET /a/b?c=d&e HTTP/1.1");
        QTest::newRow("1.0 GET becomes 1.1") << QByteArray("GET / HTTP/1.0\r\nHost: x\r\n\r\n")
                                             << QString("GET / HTTP/1.1");
        QTest::newRow("DELETE") << QByteArray("DELETE /item/7 HTTP/1.1\r\nHost: x\r\n\r\n")
                                << QString("DELETE /item/7 HTTP/1.1");
        QTest::newRow("absolute form kept") << QByteArray("GET http://x/a HTTP/1.1\r\nHost: x\r\n\r\n")
                                            << QString("GET http://x/a HTTP/1.1");
    }

    // The request line keeps method and target and always says HTTP/1.1.
    void upstreamRequestLine()
    {
        QFETCH(QByteArray, request);
        QFETCH(QString, line);
        const Parsed req(Kind::Request, sv(request));
        QVERIFY(req.ok);
        const QStringList lines = headLines(upstreamHead(req));
        QVERIFY(!lines.isEmpty());
        QCOMPARE(lines.first(), line);
    }

    void upstreamDropsConnectionNamed_data()
    {
        QTest::addColumn<QByteArray>("connection");
        QTest::newRow("one name") << QByteArray("X-Secret, X-Other");
        QTest::newRow("names in other case, with close") << QByteArray("close,x-secret ,  X-OTHER");
    }

    // Fields named by the request's Connection value are not forwarded, nor is Connection.
    void upstreamDropsConnectionNamed()
    {
        QFETCH(QByteArray, connection);
        const std::string in = "GET / HTTP/1.1\r\nHost: x\r\nX-Secret: s\r\nConnection: " + connection.toStdString() +
                               "\r\nX-Other: o\r\nX-Kept: k\r\n\r\n";
        const Parsed req(Kind::Request, in);
        QVERIFY(req.ok);
        const QStringList lines = headLines(upstreamHead(req));
        QCOMPARE(fieldValues(lines, "X-Secret"), QStringList());
        QCOMPARE(fieldValues(lines, "X-Other"), QStringList());
        QCOMPARE(fieldValues(lines, "Connection"), QStringList());
        QCOMPARE(fieldValues(lines, "X-Kept"), QStringList({"k"}));
        QCOMPARE(fieldValues(lines, "Host"), QStringList({"x"}));
    }

    void xForwardedFor_data()
    {
        QTest::addColumn<QByteArray>("fields");
        QTest::addColumn<QString>("value");
        QTest::newRow("none") << QByteArray() << QString("10.1.2.3");
        QTest::newRow("one earlier proxy") << QByteArray("X-Forwarded-For: 1.1.1.1\r\n") << QString("1.1.1.1, 10.1.2.3");
        QTest::newRow("a list, lower-case name") << QByteArray("x-forwarded-for: 1.1.1.1, 2.2.2.2\r\n")
                                                 << QString("1.1.1.1, 2.2.2.2, 10.1.2.3");
        // RFC 9110 §5.3: two field lines of one name are one comma-separated list.
        QTest::newRow("two field lines") << QByteArray("X-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2\r\n")
                                         << QString("1.1.1.1, 2.2.2.2, 10.1.2.3");
    }

    // One X-Forwarded-For goes upstream: the earlier list, ", ", then this client.
    void xForwardedFor()
    {
        QFETCH(QByteArray, fields);
        QFETCH(QString, value);
        const std::string in = "GET / HTTP/1.1\r\nHost: x\r\n" + fields.toStdString() + "\r\n";
        const Parsed req(Kind::Request, in);
        QVERIFY(req.ok);
        QCOMPARE(fieldValues(headLines(upstreamHead(req)), "X-Forwarded-For"), QStringList({value}));
    }

    void xForwardedProto_data()
    {
        QTest::addColumn<QByteArray>("fields");
        QTest::addColumn<QByteArray>("proto");
        QTest::addColumn<QStringList>("values");
        QTest::newRow("absent: http") << QByteArray() << QByteArray("http") << QStringList({"http"});
        QTest::newRow("absent: https") << QByteArray() << QByteArray("https") << QStringList({"https"});
        QTest::newRow("client's replaced")
            << QByteArray("X-Forwarded-Proto: https\r\n") << QByteArray("http") << QStringList({"http"});
        QTest::newRow("client's in lower case replaced")
            << QByteArray("x-forwarded-proto: https\r\n") << QByteArray("http") << QStringList({"http"});
    }

    // X-Forwarded-Proto says how the client reached us; a client's own value is not trusted
    // (a plain-http client could claim https), so exactly one, ours, goes upstream.
    void xForwardedProto()
    {
        QFETCH(QByteArray, fields);
        QFETCH(QByteArray, proto);
        QFETCH(QStringList, values);
        const std::string in = "GET / HTTP/1.1\r\nHost: x\r\n" + fields.toStdString() + "\r\n";
        const Parsed req(Kind::Request, in);
        QVERIFY(req.ok);
        const QStringList lines = headLines(upstreamHead(req, ForwardInfo{"10.1.2.3", sv(proto)}));
        QCOMPARE(fieldValues(lines, "X-Forwarded-Proto"), values);
    }

    // ContentLength framing forwards the Content-Length as sent and no Transfer-Encoding.
    void upstreamContentLengthKept()
    {
        const Parsed req(Kind::Request, "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
        QVERIFY(req.ok);
        std::string out;
        appendUpstreamRequestHead(out, req.msg(), BodyFraming::ContentLength, kFwd);
        const QStringList lines = headLines(out);
        QCOMPARE(fieldValues(lines, "Content-Length"), QStringList({"5"}));
        QCOMPARE(fieldValues(lines, "Transfer-Encoding"), QStringList());
    }

    // A chunked request goes upstream with exactly one Transfer-Encoding: chunked.
    void upstreamChunkedOnce()
    {
        const Parsed req(Kind::Request,
                         "POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
        QVERIFY(req.ok);
        std::string out;
        appendUpstreamRequestHead(out, req.msg(), BodyFraming::Chunked, kFwd);
        const QStringList lines = headLines(out);
        QCOMPARE(fieldValues(lines, "Transfer-Encoding"), QStringList({"chunked"}));
        QCOMPARE(fieldValues(lines, "Content-Length"), QStringList());
    }

    // Issue 6 item 1: a Connection header naming the framing or Host does not remove them; the
    // length sent is the one the parser framed the body by. Every Connection header counts.
    void upstreamConnectionCannotDropFraming_data()
    {
        QTest::addColumn<QByteArray>("request");
        QTest::addColumn<QString>("field");
        QTest::addColumn<QStringList>("values");
        QTest::newRow("Connection: Content-Length")
            << QByteArray("POST / HTTP/1.1\r\nHost: a\r\nConnection: Content-Length\r\nContent-Length: 35\r\n\r\n"
                          "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n")
            << "Content-Length" << QStringList({"35"});
        QTest::newRow("Connection: Transfer-Encoding")
            << QByteArray("POST / HTTP/1.1\r\nHost: a\r\nConnection: close, Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "0\r\n\r\n")
            << "Transfer-Encoding" << QStringList({"chunked"});
        QTest::newRow("Connection: Host") << QByteArray("GET / HTTP/1.1\r\nHost: a\r\nConnection: host\r\n\r\n")
                                          << "Host" << QStringList({"a"});
        QTest::newRow("second Connection header names X-Hop")
            << QByteArray("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nConnection: X-Hop\r\nX-Hop: 1\r\n\r\n")
            << "X-Hop" << QStringList();
        QTest::newRow("Content-Length: 0 forwarded")
            << QByteArray("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n") << "Content-Length" << QStringList({"0"});
        QTest::newRow("length written from the parser, not copied")
            << QByteArray("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 005\r\n\r\nhello")
            << "Content-Length" << QStringList({"5"});
    }

    void upstreamConnectionCannotDropFraming()
    {
        QFETCH(QByteArray, request);
        QFETCH(QString, field);
        QFETCH(QStringList, values);
        const Parsed req(Kind::Request, sv(request));
        QVERIFY(req.ok);
        QCOMPARE(fieldValues(headLines(upstreamHead(req)), field), values);
    }

    // Via (RFC 9110 7.6.3): earlier hops kept, ours added with the version we received.
    void viaAdded()
    {
        const Parsed req(Kind::Request, "GET / HTTP/1.0\r\nVia: 1.1 edge\r\n\r\n");
        QVERIFY(req.ok);
        QCOMPARE(fieldValues(headLines(upstreamHead(req)), "Via"), QStringList({"1.1 edge", "1.0 dlb"}));
        const Parsed resp(Kind::Response, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        std::string out;
        appendClientResponseHead(out, resp.msg(), BodyFraming::ContentLength, true);
        QCOMPARE(fieldValues(headLines(out), "Via"), QStringList({"1.1 dlb"}));
    }

    // A local answer to HEAD has the head a GET would get and no body.
    void simpleResponseToHeadHasNoBody()
    {
        std::string get, head;
        appendSimpleResponse(get, 404, "no route", true, false, false);
        appendSimpleResponse(head, 404, "no route", true, false, true);
        QVERIFY(get.size() > head.size());
        QCOMPARE(bytes(head), bytes(get.substr(0, head.size())));
        QVERIFY(head.ends_with("\r\n\r\n"));
        QVERIFY(head.find("Content-Length: 9\r\n") != std::string::npos);
    }

    void originForm_data()
    {
        QTest::addColumn<QString>("target");
        QTest::addColumn<QString>("origin");
        QTest::newRow("origin form") << "/a/b?c=1" << "/a/b?c=1";
        QTest::newRow("absolute with path") << "http://h.example:8080/a?q" << "/a?q";
        QTest::newRow("absolute, upper-case scheme") << "HTTP://h.example/x" << "/x";
        QTest::newRow("absolute https") << "https://h.example/s" << "/s";
        QTest::newRow("absolute without path") << "http://h.example" << "/";
        QTest::newRow("asterisk") << "*" << "*";
    }

    // An absolute-form target (RFC 9112 3.2.2) is routed and forwarded in origin form.
    void originForm()
    {
        QFETCH(QString, target);
        QFETCH(QString, origin);
        const std::string t = target.toStdString();
        QCOMPARE(QString::fromStdString(std::string(dlb::agent::http::originForm(t))), origin);
    }

    // The target handed in ForwardInfo replaces the request's own in the request line.
    void upstreamUsesGivenTarget()
    {
        const Parsed req(Kind::Request, "GET http://h.example/abs HTTP/1.1\r\nHost: h.example\r\n\r\n");
        QVERIFY(req.ok);
        std::string out;
        appendUpstreamRequestHead(out, req.msg(), BodyFraming::None, ForwardInfo{"10.1.2.3", "http", "/abs"});
        QCOMPARE(headLines(out).value(0), QStringLiteral("GET /abs HTTP/1.1"));
    }

    // An HTTP/1.0 client that keeps the connection is told so; an HTTP/1.1 one needs no header.
    void clientHeadHttp10KeepAlive()
    {
        const Parsed resp(Kind::Response, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        QVERIFY(resp.ok);
        std::string v10, v11;
        appendClientResponseHead(v10, resp.msg(), BodyFraming::ContentLength, true, true);
        appendClientResponseHead(v11, resp.msg(), BodyFraming::ContentLength, true, false);
        QCOMPARE(fieldValues(headLines(v10), "Connection"), QStringList({"keep-alive"}));
        QCOMPARE(fieldValues(headLines(v11), "Connection"), QStringList());
    }

    // Chunked framing drops the request's Content-Length and adds Transfer-Encoding: chunked.
    void upstreamChunkedDropsContentLength()
    {
        const Parsed req(Kind::Request, "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
        QVERIFY(req.ok);
        std::string out;
        appendUpstreamRequestHead(out, req.msg(), BodyFraming::Chunked, kFwd);
        const QStringList lines = headLines(out);
        QCOMPARE(fieldValues(lines, "Content-Length"), QStringList());
        QCOMPARE(fieldValues(lines, "Transfer-Encoding"), QStringList({"chunked"}));
    }

    // An HTTP/1.0 request without Host gets an empty Host (HTTP/1.1 requires the field).
    void upstreamHostForHttp10()
    {
        const Parsed bare(Kind::Request, "GET / HTTP/1.0\r\n\r\n");
        QVERIFY(bare.ok);
        QCOMPARE(fieldValues(headLines(upstreamHead(bare)), "Host"), QStringList({""}));
        const Parsed with_host(Kind::Request, "GET / HTTP/1.0\r\nHost: a.example\r\n\r\n");
        QVERIFY(with_host.ok);
        QCOMPARE(fieldValues(headLines(upstreamHead(with_host)), "Host"), QStringList({"a.example"}));
    }

    // The forwarded head and a re-chunked body parse back with our own parser.
    void upstreamHeadParsesBack()
    {
        const Parsed req(Kind::Request, "PUT /doc HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                                        "Connection: X-A\r\nX-A: 1\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
        QVERIFY(req.ok);
        std::string out = upstreamHead(req);
        http::appendChunk(out, "abc");
        out.append(kLastChunk);
        const Parsed back(Kind::Request, out);
        QVERIFY(back.ok);
        QCOMPARE(back.rec.completes, 1);
        QCOMPARE(bytes(back.msg().url()), QByteArray("/doc"));
        QCOMPARE(bytes(back.rec.allBody()), QByteArray("abc"));
        QCOMPARE(bytes(back.msg().header("x-forwarded-for")), QByteArray("10.1.2.3"));
        QVERIFY(!back.msg().hasHeader("x-a"));
    }

    // ---- responses to the client ------------------------------------------------------------

    void responseFraming_data()
    {
        QTest::addColumn<QByteArray>("response");
        QTest::addColumn<QByteArray>("request");
        QTest::addColumn<bool>("wasHead");
        QTest::addColumn<BodyFraming>("framing");
        const QByteArray get11("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        const QByteArray get10("GET / HTTP/1.0\r\n\r\n");
        const QByteArray withLength("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
        const QByteArray chunked("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        const QByteArray unknown("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n");
        QTest::newRow("HEAD") << withLength << QByteArray("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n") << true
                              << BodyFraming::None;
        QTest::newRow("204") << QByteArray("HTTP/1.1 204 No Content\r\n\r\n") << get11 << false << BodyFraming::None;
        QTest::newRow("304") << QByteArray("HTTP/1.1 304 Not Modified\r\n\r\n") << get11 << false
                             << BodyFraming::None;
        QTest::newRow("100") << QByteArray("HTTP/1.1 100 Continue\r\n\r\n") << get11 << false << BodyFraming::None;
        QTest::newRow("103") << QByteArray("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n") << get11 << false
                             << BodyFraming::None;
        QTest::newRow("Content-Length") << withLength << get11 << false << BodyFraming::ContentLength;
        QTest::newRow("Content-Length to 1.0 client") << withLength << get10 << false << BodyFraming::ContentLength;
        QTest::newRow("chunked to 1.1 client") << chunked << get11 << false << BodyFraming::Chunked;
        QTest::newRow("unknown length to 1.1 client") << unknown << get11 << false << BodyFraming::Chunked;
        QTest::newRow("unknown length to 1.0 client") << unknown << get10 << false << BodyFraming::UntilClose;
        QTest::newRow("chunked to 1.0 client") << chunked << get10 << false << BodyFraming::UntilClose;
    }

    // How a response body is framed towards the client.
    void responseFraming()
    {
        QFETCH(QByteArray, response);
        QFETCH(QByteArray, request);
        QFETCH(bool, wasHead);
        QFETCH(BodyFraming, framing);
        const Parsed req(Kind::Request, sv(request));
        QVERIFY(req.ok);
        const Parsed resp(Kind::Response, sv(response),
                          wasHead ? ParserHandler::HeadersAction::SkipBody : ParserHandler::HeadersAction::Continue);
        QVERIFY(resp.ok);
        QCOMPARE(http::responseFraming(resp.msg(), wasHead, req.msg()), framing);
    }

    // The client head: HTTP/1.1 status line, end-to-end fields, the upstream's Connection and
    // Keep-Alive dropped; a kept-alive client gets no Connection field.
    void clientHeadKeepAlive()
    {
        const Parsed resp(Kind::Response, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
                                          "Connection: keep-alive\r\nKeep-Alive: timeout=5\r\nX-Replica: r1\r\n\r\nhello");
        QVERIFY(resp.ok);
        std::string out;
        appendClientResponseHead(out, resp.msg(), BodyFraming::ContentLength, true);
        // The length is written from the parser after the copied fields, then Via.
        const std::string expected = "HTTP/1.1 200 OK\r\n"
                                     "Content-Type: text/plain\r\n"
                                     "X-Replica: r1\r\n"
                                     "Via: 1.1 dlb\r\n"
                                     "Content-Length: 5\r\n"
                                     "\r\n";
        QCOMPARE(bytes(out), bytes(expected));
    }

    // keep_alive false adds exactly one Connection: close, last.
    void clientHeadCloseAddsConnectionClose()
    {
        const Parsed resp(Kind::Response,
                          "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\nX-Replica: r1\r\n\r\nok");
        QVERIFY(resp.ok);
        std::string out;
        appendClientResponseHead(out, resp.msg(), BodyFraming::ContentLength, false);
        QCOMPARE(headLines(out),
                 QStringList({"HTTP/1.1 200 OK", "X-Replica: r1", "Via: 1.1 dlb", "Content-Length: 2", "Connection: close"}));
    }

    // UntilClose framing closes the connection even when the client could be kept alive.
    void clientHeadUntilCloseAddsConnectionClose()
    {
        const Parsed resp(Kind::Response, "HTTP/1.1 200 OK\r\nX-Replica: r1\r\n\r\nabc");
        QVERIFY(resp.ok);
        std::string out;
        appendClientResponseHead(out, resp.msg(), BodyFraming::UntilClose, true);
        QCOMPARE(headLines(out), QStringList({"HTTP/1.1 200 OK", "X-Replica: r1", "Via: 1.1 dlb", "Connection: close"}));
    }

    // Chunked framing sends exactly one Transfer-Encoding: chunked and no Content-Length.
    void clientHeadChunked()
    {
        const Parsed chunked(Kind::Response, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Replica: r1\r\n\r\n");
        QVERIFY(chunked.ok);
        std::string out;
        appendClientResponseHead(out, chunked.msg(), BodyFraming::Chunked, true);
        QCOMPARE(headLines(out), QStringList({"HTTP/1.1 200 OK", "X-Replica: r1", "Via: 1.1 dlb", "Transfer-Encoding: chunked"}));
    }

    // A read-until-close upstream body is re-chunked for an HTTP/1.1 client.
    void clientHeadChunkedFromUnknownLength()
    {
        const Parsed resp(Kind::Response, "HTTP/1.0 200 OK\r\nX-Replica: r1\r\n\r\nabc");
        QVERIFY(resp.ok);
        std::string out;
        appendClientResponseHead(out, resp.msg(), BodyFraming::Chunked, true);
        QCOMPARE(headLines(out), QStringList({"HTTP/1.1 200 OK", "X-Replica: r1", "Via: 1.0 dlb", "Transfer-Encoding: chunked"}));
    }

    // Re-chunking keeps the replica's codings and ends the list with chunked, from every
    // Transfer-Encoding field (found by fuzz_response: `gzip` alone was passed on over a
    // chunked body, and the client read chunk sizes as body). An answer whose codings do not
    // end in chunked is refused by the parser (502, tst_attack_http).
    void clientHeadChunkedKeepsCodings_data()
    {
        QTest::addColumn<QByteArray>("response");
        QTest::addColumn<QString>("line");
        QTest::newRow("gzip, chunked") << QByteArray("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n")
                                       << QString("Transfer-Encoding: gzip, chunked");
        QTest::newRow("two fields") << QByteArray("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding:  chunked \r\n\r\n")
                                    << QString("Transfer-Encoding: gzip, chunked");
        QTest::newRow("two codings") << QByteArray("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip,br, chunked\r\n\r\n")
                                     << QString("Transfer-Encoding: gzip, br, chunked");
    }

    void clientHeadChunkedKeepsCodings()
    {
        QFETCH(QByteArray, response);
        QFETCH(QString, line);
        const Parsed resp(Kind::Response, response.toStdString());
        QVERIFY(resp.ok);
        std::string out;
        appendClientResponseHead(out, resp.msg(), BodyFraming::Chunked, true);
        const QStringList lines = headLines(out);
        QCOMPARE(lines.filter("Transfer-Encoding", Qt::CaseInsensitive), QStringList({line}));
    }

    // A response to HEAD keeps the Content-Length that describes the entity.
    void clientHeadKeepsLengthForHead()
    {
        const Parsed resp(Kind::Response, "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n",
                          ParserHandler::HeadersAction::SkipBody);
        QVERIFY(resp.ok);
        std::string out;
        appendClientResponseHead(out, resp.msg(), BodyFraming::None, true);
        QCOMPARE(headLines(out), QStringList({"HTTP/1.1 200 OK", "Content-Length: 1234", "Via: 1.1 dlb"}));
    }

    void clientStatusLine_data()
    {
        QTest::addColumn<QByteArray>("response");
        QTest::addColumn<QString>("line");
        QTest::newRow("1.0 upstream") << QByteArray("HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                                      << QString("HTTP/1.1 404 Not Found");
        QTest::newRow("own reason kept") << QByteArray("HTTP/1.1 200 Fine Thanks\r\nContent-Length: 0\r\n\r\n")
                                         << QString("HTTP/1.1 200 Fine Thanks");
        QTest::newRow("no reason: standard one") << QByteArray("HTTP/1.1 503\r\nContent-Length: 0\r\n\r\n")
                                                 << QString("HTTP/1.1 503 Service Unavailable");
    }

    // The client's status line is HTTP/1.1 with the upstream's code and reason.
    void clientStatusLine()
    {
        QFETCH(QByteArray, response);
        QFETCH(QString, line);
        const Parsed resp(Kind::Response, sv(response));
        QVERIFY(resp.ok);
        std::string out;
        appendClientResponseHead(out, resp.msg(), BodyFraming::ContentLength, true);
        const QStringList lines = headLines(out);
        QVERIFY(!lines.isEmpty());
        QCOMPARE(lines.first(), line);
    }

    void interimHead_data()
    {
        QTest::addColumn<QByteArray>("response");
        QTest::addColumn<QByteArray>("expected");
        QTest::newRow("100") << QByteArray("HTTP/1.1 100 Continue\r\n\r\n") << QByteArray("HTTP/1.1 100 Continue\r\n\r\n");
        QTest::newRow("103 with Link")
            << QByteArray("HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n")
            << QByteArray("HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n");
        QTest::newRow("100 without reason") << QByteArray("HTTP/1.1 100\r\n\r\n")
                                            << QByteArray("HTTP/1.1 100 Continue\r\n\r\n");
    }

    // A 1xx is relayed as it came, as HTTP/1.1.
    void interimHead()
    {
        QFETCH(QByteArray, response);
        QFETCH(QByteArray, expected);
        const Parsed resp(Kind::Response, sv(response));
        QVERIFY(resp.ok);
        std::string out;
        appendInterimResponseHead(out, resp.msg());
        QCOMPARE(bytes(out), expected);
    }

    // ---- the proxy's own answers ------------------------------------------------------------

    void simpleResponse_data()
    {
        QTest::addColumn<int>("status");
        QTest::addColumn<QByteArray>("body");
        QTest::addColumn<bool>("keepAlive");
        QTest::addColumn<QByteArray>("expected");
        const QByteArray type("Content-Type: text/plain; charset=utf-8\r\n");
        QTest::newRow("400 close") << 400 << QByteArray("malformed request") << false
                                   << QByteArray("HTTP/1.1 400 Bad Request\r\n" + type +
                                                 "Content-Length: 18\r\nConnection: close\r\n\r\nmalformed request\n");
        QTest::newRow("503 close") << 503 << QByteArray("no healthy replica") << false
                                   << QByteArray("HTTP/1.1 503 Service Unavailable\r\n" + type +
                                                 "Content-Length: 19\r\nConnection: close\r\n\r\nno healthy replica\n");
        QTest::newRow("504 keep-alive") << 504 << QByteArray("replica timed out") << true
                                        << QByteArray("HTTP/1.1 504 Gateway Timeout\r\n" + type +
                                                      "Content-Length: 18\r\n\r\nreplica timed out\n");
        QTest::newRow("431") << 431 << QByteArray("headers too large") << false
                             << QByteArray("HTTP/1.1 431 Request Header Fields Too Large\r\n" + type +
                                           "Content-Length: 18\r\nConnection: close\r\n\r\nheaders too large\n");
        QTest::newRow("413") << 413 << QByteArray("body too large") << false
                             << QByteArray("HTTP/1.1 413 Content Too Large\r\n" + type +
                                           "Content-Length: 15\r\nConnection: close\r\n\r\nbody too large\n");
        QTest::newRow("408") << 408 << QByteArray("headers not received in time") << false
                             << QByteArray("HTTP/1.1 408 Request Timeout\r\n" + type +
                                           "Content-Length: 29\r\nConnection: close\r\n\r\nheaders not received in time\n");
        QTest::newRow("502 empty body") << 502 << QByteArray() << true
                                        << QByteArray("HTTP/1.1 502 Bad Gateway\r\n" + type + "Content-Length: 1\r\n\r\n\n");
    }

    // The proxy's own answer, byte for byte: Content-Length counts the body and its newline;
    // Connection: close only when the connection will not be kept.
    void simpleResponse()
    {
        QFETCH(int, status);
        QFETCH(QByteArray, body);
        QFETCH(bool, keepAlive);
        QFETCH(QByteArray, expected);
        std::string out;
        appendSimpleResponse(out, status, sv(body), keepAlive);
        QCOMPARE(bytes(out), expected);
    }

    // The proxy's own answer parses back: its status, its body plus newline, its keep-alive.
    void simpleResponseParsesBack()
    {
        for (const bool keep : {true, false}) {
            std::string out;
            appendSimpleResponse(out, 503, "no healthy replica", keep);
            const Parsed back(Kind::Response, out);
            QVERIFY(back.ok);
            QCOMPARE(back.rec.completes, 1);
            QCOMPARE(back.msg().status(), 503);
            QCOMPARE(bytes(back.rec.allBody()), QByteArray("no healthy replica\n"));
            QCOMPARE(back.msg().keepAlive(), keep);
        }
    }

    // ---- chunks -----------------------------------------------------------------------------

    void appendChunk_data()
    {
        QTest::addColumn<QByteArray>("data");
        QTest::addColumn<QByteArray>("expected");
        QTest::newRow("5 bytes") << QByteArray("hello") << QByteArray("5\r\nhello\r\n");
        QTest::newRow("10 bytes: a") << QByteArray(10, 'x') << QByteArray("a\r\n" + QByteArray(10, 'x') + "\r\n");
        QTest::newRow("16 bytes: 10") << QByteArray(16, 'x') << QByteArray("10\r\n" + QByteArray(16, 'x') + "\r\n");
        QTest::newRow("255 bytes: ff") << QByteArray(255, 'x') << QByteArray("ff\r\n" + QByteArray(255, 'x') + "\r\n");
        QTest::newRow("4096 bytes: 1000") << QByteArray(4096, 'x')
                                          << QByteArray("1000\r\n" + QByteArray(4096, 'x') + "\r\n");
        QTest::newRow("CRLF inside data") << QByteArray("a\r\nb") << QByteArray("4\r\na\r\nb\r\n");
        QTest::newRow("1 byte") << QByteArray("z") << QByteArray("1\r\nz\r\n");
    }

    // One chunk: the size in hex, CRLF, the bytes, CRLF.
    void appendChunk()
    {
        QFETCH(QByteArray, data);
        QFETCH(QByteArray, expected);
        std::string out;
        http::appendChunk(out, sv(data));
        QCOMPARE(bytes(out), expected);
    }

    // An empty slice writes nothing: a zero-size chunk would end the body.
    void appendChunkEmptyWritesNothing()
    {
        std::string out = "prefix";
        http::appendChunk(out, {});
        QCOMPARE(bytes(out), QByteArray("prefix"));
    }

    // appendChunk appends to what the buffer already holds.
    void appendChunkAppends()
    {
        std::string out = "HEAD\r\n\r\n";
        http::appendChunk(out, "ab");
        http::appendChunk(out, "c");
        QCOMPARE(bytes(out), QByteArray("HEAD\r\n\r\n2\r\nab\r\n1\r\nc\r\n"));
    }

    // Chunks and the last chunk de-chunk back to the original bytes.
    void chunksRoundTrip()
    {
        std::string out = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
        const std::string body(1000, 'q');
        for (size_t off = 0; off < body.size(); off += 333)
            http::appendChunk(out, std::string_view(body).substr(off, 333));
        out.append(kLastChunk);
        const Parsed back(Kind::Request, out);
        QVERIFY(back.ok);
        QCOMPARE(back.rec.completes, 1);
        QCOMPARE(back.rec.allBody().size(), body.size());
        QVERIFY(back.rec.allBody() == body);
    }
};

QTEST_GUILESS_MAIN(TestHttpHeaders)
#include "tst_http_headers.moc"
