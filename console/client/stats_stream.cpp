#include "client/stats_stream.hpp"

#include "client/http_channel.hpp"

#include <QJsonDocument>

namespace dlb::console::client {

StatsStream::StatsStream(AgentConnection* connection, QObject* parent) : QObject(parent), connection_(connection)
{
    qRegisterMetaType<ConnectionState>();
    retryTimer_.setSingleShot(true);
    connect(&retryTimer_, &QTimer::timeout, this, [this] {
        if (!running_)
            return;
        if (historyLoaded_)
            openStream();
        else
            fetchHistory();
    });
    stallTimer_.setSingleShot(true);
    connect(&stallTimer_, &QTimer::timeout, this, [this] {
        lost(QStringLiteral("no event from the agent for %1 ms").arg(stallTimer_.interval()));
    });
    parser_.onHead = [this](const HttpHead& head) {
        headOk_ = head.status == 200 && head.header("content-type").toLower().startsWith("text/event-stream");
        if (!headOk_ && head.status == 200)
            pendingFailure_ = QStringLiteral("the agent answered the stream with Content-Type \"%1\", not "
                                             "text/event-stream")
                                  .arg(QString::fromLatin1(head.header("content-type").left(80)));
        if (headOk_)
            setState(ConnectionState::Connected, connection_->endpoint().display());
    };
    parser_.onBody = [this](const char* data, qsizetype size) {
        if (!pendingFailure_.isEmpty())
            return;
        if (!headOk_) {
            if (errorBody_.size() + size > kMaxStreamErrorBytes)
                pendingFailure_ = QStringLiteral("the agent refused the stream with an error body over %1 bytes")
                                      .arg(kMaxStreamErrorBytes);
            else
                errorBody_.append(data, size);
            return;
        }
        if (!sse_.feed(data, size) && pendingFailure_.isEmpty())
            pendingFailure_ = sse_.error();
    };
    sse_.onEvent = [this](const SseEvent& e) { onEvent(e); };
}

StatsStream::~StatsStream()
{
    dropChannel();
}

void StatsStream::setState(ConnectionState s, const QString& detail)
{
    if (s == state_)
        return;
    state_ = s;
    emit stateChanged(s, detail);
}

void StatsStream::start()
{
    if (running_)
        return;
    running_ = true;
    everConnected_ = false;
    historyLoaded_ = false;
    lastId_ = 0;
    backoffMs_ = 0;
    setState(ConnectionState::Connecting, connection_->endpoint().display());
    fetchHistory();
}

void StatsStream::stop()
{
    running_ = false;
    retryTimer_.stop();
    stallTimer_.stop();
    if (historyReply_)
        historyReply_->disconnect(this);
    dropChannel();
    setState(ConnectionState::Unreachable, QStringLiteral("stopped"));
}

void StatsStream::dropChannel()
{
    stallTimer_.stop();
    if (!channel_)
        return;
    channel_->disconnect(this);
    channel_->close();
    channel_->deleteLater();
    channel_ = nullptr;
}

void StatsStream::fetchHistory()
{
    dropChannel();
    if (historyReply_)
        historyReply_->disconnect(this);
    historyReply_ = connection_->request("GET", QStringLiteral("/v1/stats/history?seconds=%1").arg(kHistorySeconds));
    connect(historyReply_, &AgentReply::finished, this,
            [this](int status, const QJsonDocument& body, const AgentError& error) {
                if (!running_)
                    return;
                if (error.isError() || status != 200) {
                    lost(QStringLiteral("the history: %1").arg(error.text()));
                    return;
                }
                const QJsonValue points = body.object().value(QLatin1String("points"));
                if (!points.isArray()) {
                    lost(QStringLiteral("the agent's history has no \"points\" array"));
                    return;
                }
                const QJsonArray arr = points.toArray();
                lastId_ = arr.isEmpty() ? 0 : quint64(arr.last().toObject().value(QLatin1String("id")).toDouble());
                historyLoaded_ = true;
                sampleSinceHistory_ = false;
                emit historyLoaded(arr);
                openStream();
            });
}

void StatsStream::openStream()
{
    dropChannel();
    parser_.reset();
    sse_.resetConnection();
    headOk_ = false;
    errorBody_.clear();
    pendingFailure_.clear();
    channel_ = new HttpChannel(connection_->endpoint(), this);
    connect(channel_, &HttpChannel::failed, this, [this](const QString& reason) { lost(reason); });
    connect(channel_, &HttpChannel::closed, this, &StatsStream::onStreamClosed);
    connect(channel_, &HttpChannel::received, this, &StatsStream::onBytes);
    connect(channel_, &HttpChannel::connected, this, [this] {
        const AgentEndpoint& ep = connection_->endpoint();
        QByteArray out = "GET /v1/stats/stream HTTP/1.1\r\nHost: " + ep.hostHeader() + "\r\n";
        if (!ep.token.isEmpty())
            out += "Authorization: Bearer " + ep.token + "\r\n";
        out += "User-Agent: dlb-console/" DLB_VERSION "\r\nAccept: text/event-stream\r\n";
        if (lastId_ > 0)
            out += "Last-Event-ID: " + QByteArray::number(lastId_) + "\r\n";
        out += "\r\n";
        channel_->write(out);
        stallTimer_.start(qMax<qint64>(kStreamStallMinMs, 3 * lastGapMs_));
    });
    channel_->open();
}

void StatsStream::onBytes(const QByteArray& bytes)
{
    stallTimer_.start(int(qMax<qint64>(kStreamStallMinMs, 3 * lastGapMs_)));
    const auto r = parser_.feed(bytes);
    if (!running_ || !channel_)
        return; // an event handler stopped us, or the agent restarted and the history is refetched
    if (r == HttpResponseParser::Result::Error) {
        lost(parser_.error());
        return;
    }
    if (!pendingFailure_.isEmpty()) {
        lost(pendingFailure_);
        return;
    }
    if (r == HttpResponseParser::Result::Complete && !headOk_) {
        const QJsonObject e = QJsonDocument::fromJson(errorBody_).object().value(QLatin1String("error")).toObject();
        lost(QStringLiteral("the agent refused the stream: %1 %2 (%3)")
                 .arg(parser_.head().status)
                 .arg(e.value(QLatin1String("message")).toString(), e.value(QLatin1String("code")).toString()));
    }
}

void StatsStream::onStreamClosed(const QString& reason)
{
    if (!headOk_ && parser_.finish() == HttpResponseParser::Result::Complete) {
        onBytes({}); // an error answer delimited by the close
        if (!channel_)
            return;
    }
    lost(QStringLiteral("the stream ended: %1").arg(reason));
}

void StatsStream::onEvent(const SseEvent& e)
{
    if (e.type != "stats" || !pendingFailure_.isEmpty() || !channel_)
        return;
    QJsonParseError pe;
    const QJsonDocument doc = QJsonDocument::fromJson(e.data, &pe);
    if (pe.error != QJsonParseError::NoError || !doc.isObject()) {
        pendingFailure_ = QStringLiteral("the agent sent a stats event that is not a JSON object");
        return;
    }
    bool ok = false;
    const quint64 id = e.lastEventId.toULongLong(&ok);
    if (!ok) {
        pendingFailure_ = QStringLiteral("the agent sent a stats event without a numeric id");
        return;
    }
    if (id <= lastId_) {
        if (!sampleSinceHistory_) {
            // The stream contradicts the history just fetched (a broken agent, not a restart):
            // refetching at once would loop without pause, so it is a lost stream, retried with
            // the backoff, and the history is fetched again then.
            historyLoaded_ = false;
            pendingFailure_ = QStringLiteral("the agent's stream went backwards from its own history (event id %1 "
                                             "after history id %2): check the agent")
                                  .arg(id)
                                  .arg(lastId_);
            return;
        }
        // Ids went backwards: another run of the agent. Its past is another history.
        lastId_ = 0;
        historyLoaded_ = false;
        fetchHistory(); // drops this stream; a new one follows the history
        return;
    }
    if (sinceEvent_.isValid())
        lastGapMs_ = sinceEvent_.restart();
    else
        sinceEvent_.start();
    lastId_ = id;
    sampleSinceHistory_ = true;
    everConnected_ = true;
    backoffMs_ = 0;
    if (sse_.retryMs())
        retryMs_ = int(qBound(qint64(100), qint64(*sse_.retryMs()), qint64(kReconnectMaxMs)));
    emit sampleReceived(doc.object());
}

void StatsStream::lost(const QString& reason)
{
    dropChannel();
    lastError_ = reason;
    if (!running_)
        return;
    setState(everConnected_ ? ConnectionState::Reconnecting : ConnectionState::Unreachable, reason);
    const int delay = backoffMs_ == 0 ? retryMs_ : backoffMs_;
    backoffMs_ = qMin(delay * 2, kReconnectMaxMs);
    retryTimer_.start(delay);
}

} // namespace dlb::console::client
