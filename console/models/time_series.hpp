#pragma once
// The numbers the Dashboard draws, one point a second: a fixed ring of kSeriesCapacity points
// (the agent's 15 minutes), filled by the history and then by the live stream, and shown through
// a selectable window (1, 5 or 15 minutes). As a table model, a row is a point in the window,
// oldest first; charts read the rows (and point() for the per-replica numbers).

#include <QAbstractTableModel>
#include <QJsonArray>
#include <QJsonObject>
#include <QList>
#include <QString>

#include <cmath>

namespace dlb::console {

constexpr int kSeriesCapacity = 900;               // points kept: the agent's history holds 900 s
inline const QList<int>& seriesWindowsSeconds()    // what the window selector offers
{
    static const QList<int> w{60, 300, 900};
    return w;
}

// One replica in one point. NaN where the agent had no figure (no answer in that second, no
// RIF reported yet). Fields only the full (live) form carries stay empty in a history point.
struct ReplicaSample {
    QString pool;
    QString id;
    QString url;
    QString state;    // healthy, unhealthy, pending (full form only)
    QString standing; // Prequal: hot, cold, none; empty for other algorithms
    int weight = 0;   // full form only
    double inFlight = 0;
    double rif = NAN;
    double latencyP50 = NAN;
    double latencyP99 = NAN;
    double share = 0; // of its pool's attempts, 0..1
    double requestsPerS = 0;
    double errorsPerS = 0;
};

struct StatsPoint {
    quint64 id = 0;
    double time = 0; // Unix seconds
    double requestsPerS = 0;
    double errorsPerS = 0;
    double p50 = NAN; // ms, client side
    double p99 = NAN;
    double inFlight = 0;
    bool full = false; // the full /v1/stats form (has states, weights, urls)
    QList<ReplicaSample> replicas;
};

// Reads a /v1/stats sample or a /v1/stats/history point; missing numbers become NaN or 0.
StatsPoint parseStatsPoint(const QJsonObject& o);

class TimeSeriesModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { Time, RequestsPerS, ErrorsPerS, LatencyP50, LatencyP99, InFlight, ColumnCount };

    explicit TimeSeriesModel(QObject* parent = nullptr);
    Q_DISABLE_COPY_MOVE(TimeSeriesModel)

    // Replaces everything with the history: its points merged by time (one that came out of
    // order takes its place; of two with the same time the higher id stays), the newest
    // kSeriesCapacity kept.
    void setHistory(const QJsonArray& points);
    // One newer point; the oldest falls out of the ring once it is full, and out of the window
    // once it is older than the window. A point not newer (id and time) is dropped; a newer id
    // with an older time (the agent's clock stepped back) restarts the series (reset()).
    void append(const StatsPoint& point);
    void clear();

    // 60, 300 or 900 (anything else is clamped to [1, kSeriesCapacity]).
    void setWindowSeconds(int seconds);
    int windowSeconds() const { return window_; }

    // Row r of the window (0 oldest).
    const StatsPoint& point(int row) const;
    // Every point held, however old (at most kSeriesCapacity).
    int heldCount() const { return count_; }

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

signals:
    // After setHistory() or setWindowSeconds(): draw everything again.
    void reset();
    // After append(): `dropped` rows left the window's front, one came at its end.
    void appended(int dropped);

private:
    const StatsPoint& held(int i) const; // 0 oldest held
    int firstInWindow() const;           // index into held points

    QList<StatsPoint> ring_; // kSeriesCapacity slots, allocated once
    int head_ = 0;           // slot of the oldest held point
    int count_ = 0;
    int window_ = 300;
    int first_ = 0; // held index of the window's first point
};

} // namespace dlb::console
