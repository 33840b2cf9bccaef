#include "client/stats_stream.hpp"

#include "client/http_channel.hpp"
#include "client/json_number.hpp"

#include <QJsonDocument>

#include <algorithm>
#include <cmath>

namespace dlb::console::client {

namespace {

// Which agent run took `sample`: "time" - "uptime_s" of the full /v1/stats form, and the uptime.
// Empty for the history form (a replay), which has no uptime.
std::optional<AgentRunMark> runOf(const QJsonObject& sample)
{
    const QJsonValue time = sample.value(QLatin1String("time"));
    const QJsonValue uptime = sample.value(QLatin1String("uptime_s"));
    if (!time.isDouble() || !uptime.isDouble())
        return std::nullopt;
    return AgentRunMark{time.toDouble() - uptime.toDouble(), uptime.toDouble()};
}

} // namespace

int streamStallTimeoutMs(qint64 periodMs)
{
    const qint64 bounded = std::clamp<qint64>(periodMs, 0, kAgentMaxStreamPeriodMs);
    return int(std::clamp<qint64>(kStreamStallPeriods * bounded, kStreamStallMinMs, kStreamStallMaxMs));
}

bool sameAgentRun(const AgentRunMark& known, const AgentRunMark& seen)
{
    if (!std::isfinite(seen.start) || !std::isfinite(seen.uptime) || seen.uptime < known.uptime - kRunStartJitterS)
        return false;
    const double allowed = kRunStartJitterS + kMaxClockSlewRate * (seen.uptime - known.uptime);
    return std::abs(seen.start - known.start) <= allowed;
}

StatsStream::StatsStream(AgentConnection* connection, QObject* parent) : QObject(parent), connection_(connection)
{
    qRegisterMetaType<ConnectionState>();
    retryTimer_.setSingleShot(true);
    connect(&retryTimer_, &QTimer::timeout, this, [this] {
        if (running_)
            checkRun();
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
    if (status_.moveTo(s))
        emit stateChanged(s, detail);
}

void StatsStream::start()
{
    if (running_)
        return;
    running_ = true;
    status_.everConnected = false;
    restarted();
    backoffMs_ = 0;
    setState(ConnectionState::Connecting, connection_->endpoint().display());
    checkRun();
}

void StatsStream::restarted()
{
    historyLoaded_ = false;
    lastId_ = 0;
    run_.reset();
    periodMs_.reset();
}

void StatsStream::stop()
{
    running_ = false;
    retryTimer_.stop();
    stallTimer_.stop();
    if (reply_)
        reply_->disconnect(this);
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

void StatsStream::checkRun()
{
    dropChannel();
    if (reply_)
        reply_->disconnect(this);
    reply_ = connection_->request("GET", QStringLiteral("/v1/stats"));
    connect(reply_, &AgentReply::finished, this, [this](int status, const QJsonDocument& body, const AgentError& error) {
        if (!running_)
            return;
        if (error.isError() || status != 200) {
            lost(QStringLiteral("the agent's stats: %1").arg(error.text()));
            return;
        }
        const QJsonObject sample = body.object();
        const std::optional<std::uint64_t> sampleId = jsonWholeNumber(sample.value(QLatin1String("id")));
        if (!sampleId) {
            lost(QStringLiteral("the agent's GET /v1/stats has no whole-number \"id\""));
            return;
        }
        const auto id = quint64(*sampleId);
        std::optional<AgentRunMark> run; // id 0: the agent has sampled nothing yet, its run is unknown
        if (id > 0) {
            run = runOf(sample);
            if (!run) {
                lost(QStringLiteral("the agent's GET /v1/stats has no numeric \"time\" and \"uptime_s\", which "
                                    "tell one run of the agent from the next; run a dlb-agent of this console's version"));
                return;
            }
        }
        if (historyLoaded_ && run_ && run && sameAgentRun(*run_, *run) && id >= lastId_) {
            run_ = run;
            openStream(); // the same run: Last-Event-ID replays what was missed
            return;
        }
        // First time, or another run (or one not known yet): its past is another history.
        restarted();
        run_ = run;
        fetchHistory();
    });
}

void StatsStream::fetchHistory()
{
    dropChannel();
    if (reply_)
        reply_->disconnect(this);
    reply_ = connection_->request("GET", QStringLiteral("/v1/stats/history?seconds=%1").arg(kHistorySeconds));
    connect(reply_, &AgentReply::finished, this,
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
                // The length of one sample, which the ids count: whole milliseconds, at most the
                // longest period (else the agent is not one this console knows).
                const std::optional<std::uint64_t> sampleMs =
                    jsonWholeNumber(body.object().value(QLatin1String("interval_ms")));
                if (!sampleMs || *sampleMs == 0 || *sampleMs > std::uint64_t(kAgentMaxStreamPeriodMs)) {
                    lost(QStringLiteral("the agent's history has no \"interval_ms\" in [1, %1]; run a dlb-agent of "
                                        "this console's version")
                             .arg(kAgentMaxStreamPeriodMs));
                    return;
                }
                sampleMs_ = qint64(*sampleMs);
                const QJsonArray arr = points.toArray();
                lastId_ = arr.isEmpty()
                    ? 0
                    : quint64(jsonWholeNumber(arr.last().toObject().value(QLatin1String("id"))).value_or(0));
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
    lastLiveId_ = 0;
    liveOnStream_ = 0;
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
        stallTimer_.start(stallTimeoutMs());
    });
    channel_->open();
}

void StatsStream::onBytes(const QByteArray& bytes)
{
    stallTimer_.start(stallTimeoutMs());
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
    // Ids going backwards, or a live event (full form) from a run that started at another
    // time, say the agent restarted since the history (between the run check and the stream
    // opening): its past is another history.
    const std::optional<AgentRunMark> run = runOf(doc.object());
    const bool otherRun = run && run_ && !sameAgentRun(*run_, *run);
    if (id <= lastId_ || otherRun) {
        if (!otherRun && !sampleSinceHistory_) {
            // The stream contradicts the history just fetched from the same run (a broken agent,
            // not a restart): refetching at once would loop without pause, so it is a lost
            // stream, retried with the backoff, and the history is fetched again then.
            historyLoaded_ = false;
            pendingFailure_ = QStringLiteral("the agent's stream went backwards from its own history (event id %1 "
                                             "after history id %2): check the agent")
                                  .arg(id)
                                  .arg(lastId_);
            return;
        }
        restarted();
        checkRun(); // drops this stream; a new one follows the history
        return;
    }
    if (run) {
        run_ = run;
        // Two broadcast events in a row on this stream (not the first, sent at once on
        // connecting): the id step is the period in samples.
        if (++liveOnStream_ >= 3) {
            const qint64 period = qint64(qMin<quint64>(id - lastLiveId_, quint64(kAgentMaxStreamPeriodMs))) * sampleMs_;
            periodMs_ = periodMs_ ? qMin(*periodMs_, period) : period;
        }
        lastLiveId_ = id;
    }
    lastId_ = id;
    sampleSinceHistory_ = true;
    status_.everConnected = true;
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
    setState(status_.afterLoss(), reason);
    const int delay = backoffMs_ == 0 ? retryMs_ : backoffMs_;
    backoffMs_ = qMin(delay * 2, kReconnectMaxMs);
    retryTimer_.start(delay);
}

} // namespace dlb::console::client
