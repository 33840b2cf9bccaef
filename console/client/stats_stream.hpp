#pragma once
// The agent's live stats for the console: on start, GET /v1/stats/history?seconds=900 (the
// charts' 15 minutes), then GET /v1/stats/stream (Server-Sent Events) on a connection of its
// own, sending Last-Event-ID = the newest point it has, so nothing between the two is lost or
// doubled. When the stream ends it reconnects after the stream's retry time (backing off while
// the agent stays away), again with Last-Event-ID: the agent replays what was missed.
//
// Another run of the agent has another history: its ids start again at 1, and by the time the
// console is back they may already be above the last id it saw (the agent then replays its new
// run's points as if they followed the old ones). So ids alone cannot tell a restart: before
// every history fetch and every reconnection it asks GET /v1/stats which run this is (the
// run's start, "time" - "uptime_s", both the agent's own clocks), and every live event says it
// again. When the run changed (or ids went backwards) the history is fetched again and
// historyLoaded() replaces everything. No widgets; lives on the thread that made it.
//
// The stall timeout (no byte for that long: the stream is dead) follows the stream's period as
// the agent announces it, not the gaps the network happened to leave: the agent sends every
// n-th one-second sample (control.stats_interval_ms), and the ids are sample numbers, so the id
// step between two live events, times the history's "interval_ms", is the period.

#include "client/agent_connection.hpp"
#include "client/sse_parser.hpp"

#include <QJsonArray>
#include <QJsonObject>
#include <QObject>
#include <QTimer>

#include <optional>

namespace dlb::console::client {

class HttpChannel;

constexpr int kHistorySeconds = 900;          // what the agent keeps, and what the charts can show
constexpr qsizetype kMaxStreamErrorBytes = 64 * 1024; // a refused stream's error body
// The stall timeout: kStreamStallPeriods periods of the stream, within [min, max]. The max is
// that many of the longest period an agent can be configured with (control.stats_interval_ms is
// at most 60 s), so no gap, however slow, makes the console wait longer for a dead stream.
constexpr int kStreamStallPeriods = 3;
constexpr int kStreamStallMinMs = 10000;
constexpr int kAgentMaxStreamPeriodMs = 60000;
constexpr int kStreamStallMaxMs = kStreamStallPeriods * kAgentMaxStreamPeriodMs;
// The stall timeout for a stream whose period is `periodMs` (clamped into the bounds above).
int streamStallTimeoutMs(qint64 periodMs);

// Which run of the agent took a sample: its start ("time" - "uptime_s", Unix seconds by the
// agent's clock) and its uptime then.
struct AgentRunMark {
    double start = 0;
    double uptime = 0;
};
// Within one run "time" - "uptime_s" stays put up to the rounding of uptime_s (1 ms) and the
// moment between reading the two clocks: kRunStartJitterS. The wall clock may also be slewed
// (NTP, chrony) by at most kMaxClockSlewRate of the time between the two samples. Anything more
// apart, or an uptime that went backwards, is another run: even one that started a moment after
// the first, before its first sample was half a second old. (A wall-clock step reads as a
// restart too, which costs one history fetch.)
constexpr double kRunStartJitterS = 0.005;
constexpr double kMaxClockSlewRate = 500e-6;
bool sameAgentRun(const AgentRunMark& known, const AgentRunMark& seen);

class StatsStream : public QObject {
    Q_OBJECT
public:
    // Uses `connection` for the history and its endpoint for the stream's own connection.
    explicit StatsStream(AgentConnection* connection, QObject* parent = nullptr);
    ~StatsStream() override;
    Q_DISABLE_COPY_MOVE(StatsStream)

    void start();
    void stop();

    ConnectionState state() const { return status_.state; }
    QString lastError() const { return lastError_; }
    // The start of the agent run the stream follows ("time" - "uptime_s" of its samples, Unix
    // seconds by the agent's clock), empty while unknown.
    std::optional<double> runStart() const
    {
        return run_ ? std::optional<double>(run_->start) : std::nullopt;
    }
    // The stream's period (ms) as the agent's ids say it, empty until they have (the third live
    // event of a run's first stream: the first one on a stream comes at once, off the beat).
    std::optional<qint64> streamPeriodMs() const { return periodMs_; }
    // The stall timeout now in force: kStreamStallMaxMs while the period is unknown (any period
    // the agent may have must survive), then streamStallTimeoutMs(period).
    int stallTimeoutMs() const { return periodMs_ ? streamStallTimeoutMs(*periodMs_) : kStreamStallMaxMs; }
    // The id of the newest sample received (0: none).
    quint64 lastId() const { return lastId_; }
    // The reconnection delay the agent asked for (its "retry:" field), default 2000 ms.
    int retryMs() const { return retryMs_; }

signals:
    // The last `seconds` of history, oldest first: replaces whatever came before.
    void historyLoaded(const QJsonArray& points);
    // One sample, newer than every one before: the full /v1/stats form for live events, the
    // shorter history form for a replay after a reconnect. Both carry what the charts draw.
    void sampleReceived(const QJsonObject& sample);
    void stateChanged(dlb::console::client::ConnectionState state, const QString& detail);

private:
    // Asks GET /v1/stats which run of the agent answers, then fetches the history (first time,
    // or another run) or reopens the stream (the same run).
    void checkRun();
    void fetchHistory();
    // Forgets the history and the last id: the agent restarted.
    void restarted();
    void openStream();
    void onStreamClosed(const QString& reason);
    void onBytes(const QByteArray& bytes);
    void onEvent(const SseEvent& e);
    void lost(const QString& reason);
    void setState(ConnectionState s, const QString& detail);
    void dropChannel();

    AgentConnection* connection_;
    HttpChannel* channel_ = nullptr;
    QPointer<AgentReply> reply_; // the run check or the history in flight
    HttpResponseParser parser_{true};
    SseParser sse_;
    bool running_ = false;
    ConnectionStatus status_;
    bool headOk_ = false;
    bool historyLoaded_ = false;
    QString pendingFailure_; // set inside a parser callback, acted on after it returns
    QByteArray errorBody_;
    QString lastError_;
    quint64 lastId_ = 0;
    // The run the history and lastId_ belong to: its start by the agent's clock (Unix seconds);
    // empty until a sample says it (an agent that has sampled nothing yet).
    std::optional<AgentRunMark> run_;
    // The history's "interval_ms" (one sample), and the period learned from the ids of two
    // consecutive live events of this run (the smallest step seen: a skipped event only widens).
    qint64 sampleMs_ = 1000;
    std::optional<qint64> periodMs_;
    quint64 lastLiveId_ = 0; // the previous live (full form) event's id on this stream
    int liveOnStream_ = 0;   // live events on this stream so far
    int retryMs_ = 2000;
    int backoffMs_ = 0;
    QTimer retryTimer_;
    QTimer stallTimer_;
    // A sample was taken since the history was loaded: a backwards id after one is an agent
    // restart; before one, the agent contradicting itself.
    bool sampleSinceHistory_ = false;
};

} // namespace dlb::console::client
