#pragma once
// One live line chart of the Dashboard: a time axis (wall clock) and one value axis, lines
// added by name. Points are appended as samples arrive and dropped as they leave the window,
// so a second's update touches two points per line, not the whole history. The value axis
// grows to the largest value shown (rounded up to a nice number) and shrinks when it leaves.

#include <QChartView>
#include <QHash>
#include <QList>
#include <QPointF>
#include <QSet>

class QDateTimeAxis;
class QLineSeries;
class QValueAxis;

namespace dlb::console {

class StatsChart : public QChartView {
    Q_OBJECT
public:
    StatsChart(const QString& title, const QString& unit, QWidget* parent = nullptr);

    // The line `name` (made on first use); its points replaced, or one appended. Shown at the
    // next setWindow().
    void setLine(const QString& name, const QList<QPointF>& points);
    void appendPoint(const QString& name, const QPointF& point);
    // Lines not in `keep` are removed (a replica that left the pool).
    void keepOnly(const QStringList& keep);
    void clearLines();
    // x range (ms since the epoch): points before `fromMs` are dropped, the axis shows
    // [fromMs, toMs]; the value axis is fitted to what remains.
    void setWindow(qint64 fromMs, qint64 toMs);
    // Past this many lines the legend would hide the plot: it is hidden, and the title says so.
    static constexpr int kMaxLegendLines = 10;

private:
    QLineSeries* line(const QString& name);
    void fitValues();

    QString title_;
    QDateTimeAxis* x_;
    QValueAxis* y_;
    QHash<QString, QLineSeries*> lines_;
    QHash<QString, QList<QPointF>> data_; // what each line shows, handed to it by setWindow()
    QSet<QString> dirty_;                 // lines whose data changed since
    QStringList order_;
};

} // namespace dlb::console
