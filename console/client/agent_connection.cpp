#include "client/agent_connection.hpp"

#include "client/http_channel.hpp"

#include <QRandomGenerator>
#include <QUrl>

namespace dlb::console::client {

namespace {

// A channel that the agent closes this soon after connecting, before any answer, counts as a
// failed connection (the agent's connection cap closes extra ones at once): retrying at once
// would spin.
constexpr qint64 kShortLivedChannelMs = 1000;

bool validRequestPath(const QByteArray& p)
{
    if (!p.startsWith('/'))
        return false;
    for (char c : p)
        if (c <= 0x20 || c >= 0x7f || c == '#')
            return false;
    return true;
}

} // namespace

QString stateName(ConnectionState s)
{
    switch (s) {
    case ConnectionState::Unreachable:
        return QStringLiteral("unreachable");
    case ConnectionState::Connecting:
        return QStringLiteral("connecting");
    case ConnectionState::Connected:
        return QStringLiteral("connected");
    case ConnectionState::Reconnecting:
        return QStringLiteral("reconnecting");
    }
    return {};
}

AgentConnection::AgentConnection(AgentEndpoint endpoint, QObject* parent)
    : QObject(parent), endpoint_(std::move(endpoint))
{
    qRegisterMetaType<AgentError>();
    qRegisterMetaType<ConnectionState>();
    requestTimer_.setSingleShot(true);
    connect(&requestTimer_, &QTimer::timeout, this, [this] {
        if (current_ && current_->reply)
            current_->reply->fail(QStringLiteral("timeout"),
                                  QStringLiteral("the agent did not answer %1 %2 within %3 ms")
                                      .arg(QString::fromLatin1(current_->reply->method()),
                                           QString::fromLatin1(current_->reply->path()))
                                      .arg(requestTimeoutMs_));
        current_.reset();
        dropChannel(); // its answer may still come: the connection cannot be reused
        if (opened_)
            connectNow();
    });
    retryTimer_.setSingleShot(true);
    connect(&retryTimer_, &QTimer::timeout, this, &AgentConnection::connectNow);
}

AgentConnection::~AgentConnection()
{
    dropChannel();
}

QString AgentConnection::pathSegment(const QString& segment)
{
    // Unreserved characters and ':' (ids are host:port) stay; '[' ']' and everything else are escaped.
    return QString::fromLatin1(QUrl::toPercentEncoding(segment, ":"));
}

void AgentConnection::setState(ConnectionState s, const QString& detail)
{
    if (status_.moveTo(s))
        emit stateChanged(s, detail);
}

void AgentConnection::open()
{
    if (opened_)
        return;
    opened_ = true;
    status_.everConnected = false;
    retryDelayMs_ = kReconnectInitialMs;
    setState(ConnectionState::Connecting, endpoint_.display());
    connectNow();
}

void AgentConnection::close()
{
    opened_ = false;
    retryTimer_.stop();
    requestTimer_.stop();
    dropChannel();
    failAll(QStringLiteral("connection_lost"), QStringLiteral("the console closed its connection to the agent"));
    setState(ConnectionState::Unreachable, QStringLiteral("closed"));
}

void AgentConnection::connectNow()
{
    retryTimer_.stop();
    if (channel_ || !opened_)
        return;
    channel_ = new HttpChannel(endpoint_, this);
    reused_ = false;
    connect(channel_, &HttpChannel::connected, this, &AgentConnection::onConnected);
    connect(channel_, &HttpChannel::failed, this, &AgentConnection::onConnectFailed);
    connect(channel_, &HttpChannel::closed, this, &AgentConnection::onClosed);
    connect(channel_, &HttpChannel::received, this, &AgentConnection::onReceived);
    channelAge_.start();
    channel_->open();
}

void AgentConnection::dropChannel()
{
    requestTimer_.stop();
    if (!channel_)
        return;
    channel_->disconnect(this);
    channel_->close();
    channel_->deleteLater();
    channel_ = nullptr;
}

void AgentConnection::scheduleRetry()
{
    if (!opened_)
        return;
    // +-20% so that consoles that lost the same agent do not knock again in step.
    const int jitter = int(QRandomGenerator::global()->bounded(retryDelayMs_ / 5 * 2 + 1)) - retryDelayMs_ / 5;
    retryTimer_.start(retryDelayMs_ + jitter);
    retryDelayMs_ = qMin(retryDelayMs_ * 2, kReconnectMaxMs);
}

void AgentConnection::failAll(const QString& code, const QString& message)
{
    if (current_ && current_->reply)
        current_->reply->fail(code, message);
    current_.reset();
    while (!queue_.isEmpty()) {
        Pending p = queue_.dequeue();
        if (p.reply)
            p.reply->fail(code, message);
    }
}

void AgentConnection::onConnected()
{
    status_.everConnected = true;
    lastError_.clear();
    setState(ConnectionState::Connected, endpoint_.display());
    pump();
}

void AgentConnection::onConnectFailed(const QString& reason)
{
    dropChannel();
    lastError_ = reason;
    failAll(QStringLiteral("unreachable"), QStringLiteral("cannot reach the agent at %1: %2").arg(endpoint_.display(), reason));
    setState(status_.afterLoss(), reason);
    scheduleRetry();
}

void AgentConnection::onClosed(const QString& reason)
{
    if (current_) {
        if (parser_.finish() == HttpResponseParser::Result::Complete) {
            finishCurrent(); // an answer delimited by the close
        } else if (!parser_.started() && reused_ && current_->idempotent && current_->attempts == 0) {
            // The agent closed an idle keep-alive connection as the request went out: nothing
            // of it was answered, and a GET may be sent again.
            Pending p = *current_;
            ++p.attempts;
            current_.reset();
            queue_.prepend(p);
        } else {
            if (current_->reply)
                current_->reply->fail(QStringLiteral("connection_lost"),
                                      QStringLiteral("the connection to the agent ended before its answer: %1").arg(reason));
            current_.reset();
        }
    }
    const bool shortLived = !reused_ && channelAge_.elapsed() < kShortLivedChannelMs;
    dropChannel();
    if (shortLived) {
        onConnectFailed(reason);
        return;
    }
    if (opened_)
        connectNow(); // an idle close: silently open again
}

void AgentConnection::onReceived(const QByteArray& bytes)
{
    if (!current_) {
        // Bytes nobody asked for: the connection's framing cannot be trusted any more.
        const QString reason = QStringLiteral("the agent sent bytes without a request (is %1 a dlb-agent's "
                                              "control address?)")
                                   .arg(endpoint_.display());
        if (!reused_) {
            // On a fresh connection this is a server that speaks first (SSH, SMTP): it does it
            // again on every connection, so reconnecting at once would spin. A failed connection.
            onConnectFailed(reason);
            return;
        }
        lastError_ = reason;
        dropChannel();
        if (opened_)
            connectNow();
        return;
    }
    qsizetype consumed = 0;
    const auto r = parser_.feed(bytes, &consumed);
    if (r == HttpResponseParser::Result::NeedMore)
        return;
    if (r == HttpResponseParser::Result::Error) {
        if (current_->reply)
            current_->reply->fail(QStringLiteral("bad_response"), parser_.error());
        current_.reset();
        dropChannel();
        if (opened_)
            connectNow();
        pump();
        return;
    }
    const bool extra = consumed < bytes.size();
    const bool close = parser_.closeAfter() || extra;
    finishCurrent();
    if (close) {
        // Extra bytes after a complete answer (no request was pipelined) or Connection: close.
        dropChannel();
        if (opened_)
            connectNow();
    }
    pump();
}

void AgentConnection::finishCurrent()
{
    requestTimer_.stop();
    if (current_ && current_->reply)
        current_->reply->complete(parser_.head(), parser_.body());
    current_.reset();
    reused_ = true;
    // An answer: the agent works. The next outage starts the backoff over (not at connect: an
    // agent that accepts and closes at once must keep backing off).
    retryDelayMs_ = kReconnectInitialMs;
    parser_.reset();
}

void AgentConnection::pump()
{
    if (current_ || queue_.isEmpty() || !opened_)
        return;
    if (!channel_) {
        connectNow();
        return;
    }
    if (!channel_->isConnected())
        return;
    while (!queue_.isEmpty()) {
        Pending p = queue_.dequeue();
        if (!p.reply)
            continue; // its caller deleted it
        parser_.reset();
        parser_.setNoBody(p.reply->method() == "HEAD");
        current_ = p;
        channel_->write(p.bytes);
        requestTimer_.start(requestTimeoutMs_);
        return;
    }
}

AgentReply* AgentConnection::request(const QByteArray& method, const QString& path, const QJsonDocument& body,
                                     const QByteArray& ifMatch)
{
    const QByteArray target = path.toUtf8();
    auto* reply = new AgentReply(method, target, this);
    bool methodOk = !method.isEmpty();
    for (char c : method)
        methodOk = methodOk && c >= 'A' && c <= 'Z';
    if (!methodOk || !validRequestPath(target)) {
        reply->fail(QStringLiteral("bad_request"),
                    QStringLiteral("cannot send \"%1 %2\": the method is upper-case letters and the path starts with "
                                   "'/' and holds no spaces or control characters (escape segments with pathSegment())")
                        .arg(QString::fromLatin1(method), path));
        return reply;
    }
    for (char c : ifMatch) {
        if (c < '0' || c > '9') {
            reply->fail(QStringLiteral("bad_request"),
                        QStringLiteral("If-Match is a generation number, got \"%1\"").arg(QString::fromLatin1(ifMatch)));
            return reply;
        }
    }
    if (!opened_) {
        reply->fail(QStringLiteral("unreachable"), QStringLiteral("the connection to %1 is closed").arg(endpoint_.display()));
        return reply;
    }
    if (queue_.size() >= kMaxQueuedRequests) {
        reply->fail(QStringLiteral("queue_full"),
                    QStringLiteral("%1 requests already wait for %2; try again when it answers")
                        .arg(kMaxQueuedRequests).arg(endpoint_.display()));
        return reply;
    }
    QByteArray out;
    const QByteArray json = body.isNull() ? QByteArray() : body.toJson(QJsonDocument::Compact);
    out.reserve(256 + json.size());
    out += method + ' ' + target + " HTTP/1.1\r\nHost: " + endpoint_.hostHeader() + "\r\n";
    if (!endpoint_.token.isEmpty())
        out += "Authorization: Bearer " + endpoint_.token + "\r\n";
    out += "User-Agent: dlb-console/" DLB_VERSION "\r\nAccept: application/json\r\n";
    if (!ifMatch.isEmpty())
        out += "If-Match: " + ifMatch + "\r\n";
    if (!json.isEmpty())
        out += "Content-Type: application/json\r\nContent-Length: " + QByteArray::number(json.size()) + "\r\n";
    else if (method == "POST" || method == "PUT" || method == "PATCH")
        out += "Content-Length: 0\r\n";
    out += "\r\n";
    out += json;
    queue_.enqueue({reply, out, method == "GET" || method == "HEAD", 0});
    if (!channel_)
        connectNow(); // a request does not wait for the backoff
    pump();
    return reply;
}

} // namespace dlb::console::client
