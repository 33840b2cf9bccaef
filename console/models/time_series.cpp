#include "models/time_series.hpp"

#include <algorithm>
#include <vector>

#include "client/json_number.hpp"

#include <QDateTime>

namespace dlb::console {

namespace {

double num(const QJsonValue& v, double otherwise = NAN)
{
    return v.isDouble() ? v.toDouble() : otherwise;
}

} // namespace

StatsPoint parseStatsPoint(const QJsonObject& o)
{
    StatsPoint p;
    p.id = quint64(jsonWholeNumber(o.value(QLatin1String("id"))).value_or(0));
    p.time = num(o.value(QLatin1String("time")), 0);
    const QJsonObject rates = o.value(QLatin1String("rates")).toObject();
    p.requestsPerS = num(rates.value(QLatin1String("requests_per_s")), 0);
    p.errorsPerS = num(rates.value(QLatin1String("errors_per_s")), 0);
    const QJsonObject lat = o.value(QLatin1String("latency_ms")).toObject();
    p.p50 = num(lat.value(QLatin1String("p50")));
    p.p99 = num(lat.value(QLatin1String("p99")));
    p.inFlight = num(o.value(QLatin1String("in_flight")), 0);
    p.full = o.contains(QLatin1String("totals"));
    for (const QJsonValue& pv : o.value(QLatin1String("pools")).toArray()) {
        const QJsonObject pool = pv.toObject();
        const QString name = pool.value(QLatin1String("name")).toString();
        for (const QJsonValue& rv : pool.value(QLatin1String("replicas")).toArray()) {
            const QJsonObject r = rv.toObject();
            ReplicaSample s;
            s.pool = name;
            s.id = r.value(QLatin1String("id")).toString();
            s.url = r.value(QLatin1String("url")).toString();
            s.state = r.value(QLatin1String("state")).toString();
            s.standing = r.value(QLatin1String("prequal")).toObject().value(QLatin1String("standing")).toString();
            s.weight = r.value(QLatin1String("weight")).toInt();
            s.inFlight = num(r.value(QLatin1String("in_flight")), 0);
            s.rif = num(r.value(QLatin1String("rif")));
            const QJsonObject rl = r.value(QLatin1String("latency_ms")).toObject();
            s.latencyP50 = num(rl.value(QLatin1String("p50")));
            s.latencyP99 = num(rl.value(QLatin1String("p99")));
            s.share = num(r.value(QLatin1String("share")), 0);
            s.requestsPerS = num(r.value(QLatin1String("requests_per_s")), 0);
            s.errorsPerS = num(r.value(QLatin1String("errors_per_s")), 0);
            p.replicas.append(s);
        }
    }
    return p;
}

TimeSeriesModel::TimeSeriesModel(QObject* parent) : QAbstractTableModel(parent)
{
    ring_.resize(kSeriesCapacity);
}

const StatsPoint& TimeSeriesModel::held(int i) const
{
    return ring_[(head_ + i) % kSeriesCapacity];
}

const StatsPoint& TimeSeriesModel::point(int row) const
{
    return held(first_ + row);
}

int TimeSeriesModel::firstInWindow() const
{
    if (count_ == 0)
        return 0;
    const double from = held(count_ - 1).time - window_;
    // Times grow: the first point inside the window, by bisection.
    int lo = 0, hi = count_ - 1;
    while (lo < hi) {
        const int mid = (lo + hi) / 2;
        if (held(mid).time > from)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

void TimeSeriesModel::clear()
{
    beginResetModel();
    head_ = 0;
    count_ = 0;
    first_ = 0;
    endResetModel();
    emit reset();
}

void TimeSeriesModel::setHistory(const QJsonArray& points)
{
    // Merged by time: a point out of order (a replay, two answers spliced) takes its place
    // instead of being dropped. Two points of the same second keep the newer sample (higher id):
    // the window needs times that grow.
    std::vector<StatsPoint> sorted;
    sorted.reserve(size_t(points.size()));
    for (const QJsonValue& v : points)
        sorted.push_back(parseStatsPoint(v.toObject()));
    std::stable_sort(sorted.begin(), sorted.end(), [](const StatsPoint& a, const StatsPoint& b) {
        return a.time < b.time || (a.time == b.time && a.id < b.id);
    });
    std::vector<StatsPoint> merged;
    merged.reserve(sorted.size());
    for (StatsPoint& p : sorted) {
        if (!std::isfinite(p.time))
            continue; // a point without a time has no place on the charts
        if (!merged.empty() && merged.back().time == p.time)
            merged.back() = std::move(p);
        else
            merged.push_back(std::move(p));
    }
    beginResetModel();
    head_ = 0;
    count_ = 0;
    // Only the newest kSeriesCapacity fit.
    const size_t from = merged.size() > size_t(kSeriesCapacity) ? merged.size() - size_t(kSeriesCapacity) : 0;
    for (size_t i = from; i < merged.size(); ++i)
        ring_[count_++] = std::move(merged[i]);
    first_ = firstInWindow();
    endResetModel();
    emit reset();
}

void TimeSeriesModel::append(const StatsPoint& point)
{
    if (count_ > 0 && point.time <= held(count_ - 1).time) {
        if (point.id <= held(count_ - 1).id)
            return; // not newer than what is held: a replay overlap
        // A newer sample with an older time: the agent's clock stepped back (or an earlier sample
        // lied about the time). Dropping it would freeze the charts for as long as the step, so
        // the series starts again from here: the window needs times that grow.
        beginResetModel();
        head_ = 0;
        count_ = 0;
        ring_[count_++] = point;
        first_ = 0;
        endResetModel();
        emit reset();
        return;
    }
    // The ring's oldest slot is reused once full; that point is always out of the window by
    // then unless the window is the whole ring, so remove it from the rows first.
    if (count_ == kSeriesCapacity) {
        if (first_ == 0) {
            beginRemoveRows({}, 0, 0);
            head_ = (head_ + 1) % kSeriesCapacity;
            --count_;
            endRemoveRows();
        } else {
            head_ = (head_ + 1) % kSeriesCapacity;
            --count_;
            --first_;
        }
    }
    const int rows = rowCount();
    beginInsertRows({}, rows, rows);
    ring_[(head_ + count_) % kSeriesCapacity] = point;
    ++count_;
    endInsertRows();
    const int newFirst = firstInWindow();
    int dropped = newFirst - first_;
    if (dropped > 0) {
        beginRemoveRows({}, 0, dropped - 1);
        first_ = newFirst;
        endRemoveRows();
    } else {
        dropped = 0;
    }
    emit appended(dropped);
}

void TimeSeriesModel::setWindowSeconds(int seconds)
{
    seconds = qBound(1, seconds, kSeriesCapacity);
    if (seconds == window_)
        return;
    beginResetModel();
    window_ = seconds;
    first_ = firstInWindow();
    endResetModel();
    emit reset();
}

int TimeSeriesModel::rowCount(const QModelIndex& parent) const
{
    return parent.isValid() ? 0 : count_ - first_;
}

int TimeSeriesModel::columnCount(const QModelIndex& parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant TimeSeriesModel::data(const QModelIndex& index, int role) const
{
    if (!index.isValid() || index.row() >= rowCount() || (role != Qt::DisplayRole && role != Qt::EditRole))
        return {};
    const StatsPoint& p = point(index.row());
    auto value = [&](double v) -> QVariant {
        if (std::isnan(v))
            return role == Qt::DisplayRole ? QVariant(QStringLiteral("—")) : QVariant();
        return v;
    };
    switch (index.column()) {
    case Time:
        return role == Qt::DisplayRole
                   ? QVariant(std::isfinite(p.time) && std::fabs(p.time) < kMaxExactJsonInteger / 1000
                                  ? QDateTime::fromMSecsSinceEpoch(qint64(p.time * 1000)).toString(QStringLiteral("HH:mm:ss"))
                                  : QString())
                   : QVariant(p.time);
    case RequestsPerS:
        return p.requestsPerS;
    case ErrorsPerS:
        return p.errorsPerS;
    case LatencyP50:
        return value(p.p50);
    case LatencyP99:
        return value(p.p99);
    case InFlight:
        return p.inFlight;
    }
    return {};
}

QVariant TimeSeriesModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    switch (section) {
    case Time:
        return tr("Time");
    case RequestsPerS:
        return tr("Requests/s");
    case ErrorsPerS:
        return tr("Errors/s");
    case LatencyP50:
        return tr("p50 (ms)");
    case LatencyP99:
        return tr("p99 (ms)");
    case InFlight:
        return tr("In flight");
    }
    return {};
}

} // namespace dlb::console
