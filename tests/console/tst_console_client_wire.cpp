// AgentConnection against a scripted fake agent on a QLocalServer: the exact request bytes, a
// keep-alive connection the agent closes as a request goes out (a GET is sent again, a POST is
// not), an agent that never answers (timeout), one that answers garbage (refused, and the next
// request goes out on a fresh connection), and a chunked answer.
#include "client/agent_connection.hpp"

#include <QLocalServer>
#include <QLocalSocket>
#include <QTemporaryDir>
#include <QtTest>

using namespace dlb::console::client;

namespace {

constexpr int kWaitMs = 5000;

// Reads one request head (and a Content-Length body) from `s`, running the event loop (the
// client under test lives in this thread too), empty if none arrives.
QByteArray readRequest(QLocalSocket* s)
{
    QByteArray in;
    const auto complete = [&] {
        in += s->readAll();
        const qsizetype end = in.indexOf("\r\n\r\n");
        if (end < 0)
            return false;
        const qsizetype cl = in.toLower().indexOf("content-length: ");
        const qsizetype len = cl >= 0 && cl < end ? in.mid(cl + 16, in.indexOf("\r\n", cl) - cl - 16).toLongLong() : 0;
        return in.size() >= end + 4 + len;
    };
    return QTest::qWaitFor(complete, kWaitMs) ? in : QByteArray();
}

struct Answer {
    int status = 0;
    QJsonDocument body;
    AgentError error;
    bool done = false;
};

Answer* watch(AgentReply* r, QObject* ctx)
{
    auto* a = new Answer;
    QObject::connect(r, &AgentReply::finished, ctx, [a](int status, const QJsonDocument& body, const AgentError& e) {
        *a = {status, body, e, true};
    });
    return a;
}

const QByteArray kOk = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}";

} // namespace

class TstConsoleClientWire : public QObject {
    Q_OBJECT
private slots:
    void init();
    void cleanup();
    void requestBytes();
    void idleCloseRetriesGetOnly();
    void timeout();
    void garbageThenFreshConnection();
    void chunkedAnswer();

private:
    QLocalSocket* nextClient();
    std::unique_ptr<QTemporaryDir> dir_;
    std::unique_ptr<QLocalServer> server_;
    std::unique_ptr<AgentConnection> conn_;
};

void TstConsoleClientWire::init()
{
    dir_ = std::make_unique<QTemporaryDir>();
    server_ = std::make_unique<QLocalServer>();
    QVERIFY(server_->listen(dir_->filePath(QStringLiteral("fake.sock"))));
    QString error;
    const auto ep = AgentEndpoint::parse(server_->fullServerName(), "tok-en", {}, &error);
    QVERIFY2(ep, qPrintable(error));
    conn_ = std::make_unique<AgentConnection>(*ep);
    conn_->open();
}

void TstConsoleClientWire::cleanup()
{
    conn_.reset();
    server_.reset();
    dir_.reset();
}

QLocalSocket* TstConsoleClientWire::nextClient()
{
    if (!QTest::qWaitFor([this] { return server_->hasPendingConnections(); }, kWaitMs))
        return nullptr;
    return server_->nextPendingConnection();
}

void TstConsoleClientWire::requestBytes()
{
    QLocalSocket* s = nextClient();
    QVERIFY(s);
    std::unique_ptr<Answer> a(watch(conn_->request("PUT", QStringLiteral("/v1/pools/web/replicas/%1/weight")
                                                                .arg(AgentConnection::pathSegment("[::1]:9001")),
                                                   QJsonDocument(QJsonObject{{"weight", 3}}), "7"),
                                    this));
    const QByteArray req = readRequest(s);
    QCOMPARE(req, QByteArray("PUT /v1/pools/web/replicas/%5B::1%5D:9001/weight HTTP/1.1\r\n"
                             "Host: localhost\r\n"
                             "Authorization: Bearer tok-en\r\n"
                             "User-Agent: dlb-console/" DLB_VERSION "\r\n"
                             "Accept: application/json\r\n"
                             "If-Match: 7\r\n"
                             "Content-Type: application/json\r\n"
                             "Content-Length: 12\r\n\r\n"
                             "{\"weight\":3}"));
    s->write(kOk);
    QTRY_VERIFY_WITH_TIMEOUT(a->done, kWaitMs);
    QCOMPARE(a->status, 200);
    QCOMPARE(a->body.object().value("ok").toBool(), true);
}

// The agent closes an idle keep-alive connection just as a request goes out (it read none of
// it): a GET goes again on a new connection; a POST fails, since it might have been applied.
void TstConsoleClientWire::idleCloseRetriesGetOnly()
{
    QLocalSocket* s = nextClient();
    QVERIFY(s);
    std::unique_ptr<Answer> first(watch(conn_->request("GET", QStringLiteral("/v1/status")), this));
    QVERIFY(!readRequest(s).isEmpty());
    s->write(kOk);
    QTRY_VERIFY_WITH_TIMEOUT(first->done, kWaitMs);

    std::unique_ptr<Answer> get(watch(conn_->request("GET", QStringLiteral("/v1/status")), this));
    QVERIFY(!readRequest(s).isEmpty());
    s->abort(); // closed without answering
    QLocalSocket* s2 = nextClient();
    QVERIFY(s2);
    QVERIFY(readRequest(s2).startsWith("GET /v1/status "));
    s2->write(kOk);
    QTRY_VERIFY_WITH_TIMEOUT(get->done, kWaitMs);
    QCOMPARE(get->status, 200);

    std::unique_ptr<Answer> post(watch(conn_->request("POST", QStringLiteral("/v1/pools/web/health-check")), this));
    QVERIFY(!readRequest(s2).isEmpty());
    s2->abort();
    QTRY_VERIFY_WITH_TIMEOUT(post->done, kWaitMs);
    QCOMPARE(post->status, 0);
    QCOMPARE(post->error.code, QStringLiteral("connection_lost"));
}

void TstConsoleClientWire::timeout()
{
    conn_->setRequestTimeout(200);
    QLocalSocket* s = nextClient();
    QVERIFY(s);
    std::unique_ptr<Answer> a(watch(conn_->request("GET", QStringLiteral("/v1/status")), this));
    QVERIFY(!readRequest(s).isEmpty());
    QTRY_VERIFY_WITH_TIMEOUT(a->done, kWaitMs);
    QCOMPARE(a->error.code, QStringLiteral("timeout"));
    // The late answer cannot be taken for the next request's: that one goes on a new connection.
    s->write(kOk);
    std::unique_ptr<Answer> b(watch(conn_->request("GET", QStringLiteral("/v1/pools")), this));
    QLocalSocket* s2 = nextClient();
    QVERIFY(s2);
    QVERIFY(readRequest(s2).startsWith("GET /v1/pools "));
    s2->write("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
    QTRY_VERIFY_WITH_TIMEOUT(b->done, kWaitMs);
    QCOMPARE(b->status, 200);
    QVERIFY(b->body.object().isEmpty());
}

void TstConsoleClientWire::garbageThenFreshConnection()
{
    QLocalSocket* s = nextClient();
    QVERIFY(s);
    std::unique_ptr<Answer> a(watch(conn_->request("GET", QStringLiteral("/v1/status")), this));
    QVERIFY(!readRequest(s).isEmpty());
    s->write("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n");
    QTRY_VERIFY_WITH_TIMEOUT(a->done, kWaitMs);
    QCOMPARE(a->error.code, QStringLiteral("bad_response"));
    QVERIFY2(a->error.message.contains(QLatin1String("both")), qPrintable(a->error.message));
    // A JSON answer that is not JSON.
    std::unique_ptr<Answer> b(watch(conn_->request("GET", QStringLiteral("/v1/status")), this));
    QLocalSocket* s2 = nextClient();
    QVERIFY(s2);
    QVERIFY(!readRequest(s2).isEmpty());
    s2->write("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 3\r\n\r\n{x}");
    QTRY_VERIFY_WITH_TIMEOUT(b->done, kWaitMs);
    QCOMPARE(b->error.code, QStringLiteral("bad_response"));
    // An error status without the agent's error body.
    std::unique_ptr<Answer> c(watch(conn_->request("GET", QStringLiteral("/v1/status")), this));
    QVERIFY(!readRequest(s2).isEmpty());
    s2->write("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
    QTRY_VERIFY_WITH_TIMEOUT(c->done, kWaitMs);
    QCOMPARE(c->status, 502);
    QCOMPARE(c->error.code, QStringLiteral("http_502"));
}

void TstConsoleClientWire::chunkedAnswer()
{
    QLocalSocket* s = nextClient();
    QVERIFY(s);
    std::unique_ptr<Answer> a(watch(conn_->request("GET", QStringLiteral("/v1/status")), this));
    QVERIFY(!readRequest(s).isEmpty());
    const QByteArray wire = "HTTP/1.1 409 Conflict\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                            "10\r\n{\"error\":{\"code\"\r\n"
                            "2d\r\n:\"stale_generation\",\"message\":\"m\",\"path\":\"\"}}\r\n0\r\n\r\n";
    for (char ch : wire) { // a byte at a time
        s->write(&ch, 1);
        s->flush();
    }
    QTRY_VERIFY_WITH_TIMEOUT(a->done, kWaitMs);
    QVERIFY2(a->status == 409, qPrintable(a->error.text()));
    QCOMPARE(a->error.code, QStringLiteral("stale_generation"));
    QCOMPARE(a->error.message, QStringLiteral("m"));
}

QTEST_GUILESS_MAIN(TstConsoleClientWire)
#include "tst_console_client_wire.moc"
