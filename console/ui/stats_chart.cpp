#include "ui/stats_chart.hpp"

#include "models/status_colors.hpp"

#include <QChart>
#include <QDateTime>
#include <QDateTimeAxis>
#include <QLegend>
#include <QLineSeries>
#include <QPen>
#include <QValueAxis>

#include <cmath>

namespace dlb::console {

namespace {

// 1, 2, 2.5, 5 x 10^n at or above v: axis ends that read well (2.5 keeps 22 from going to 50).
double niceCeil(double v)
{
    if (v <= 0)
        return 1;
    const double p = std::pow(10.0, std::floor(std::log10(v)));
    for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
        if (m * p >= v)
            return m * p;
    return 10 * p;
}

} // namespace

StatsChart::StatsChart(const QString& title, const QString& unit, QWidget* parent)
    : QChartView(parent), title_(title)
{
    auto* chart = new QChart;
    // The palette's darkness picks the theme (first: a theme resets the fonts set below). It is
    // read when the page is built; a palette switched later applies from the next login.
    chart->setTheme(isDarkPalette(palette()) ? QChart::ChartThemeDark : QChart::ChartThemeLight);
    chart->setTitle(title);
    QFont tf = chart->titleFont();
    tf.setBold(true);
    chart->setTitleFont(tf);
    chart->setMargins(QMargins(4, 4, 4, 4));
    chart->legend()->setAlignment(Qt::AlignBottom);
    QFont lf = chart->legend()->font();
    lf.setPointSizeF(lf.pointSizeF() * 0.85);
    chart->legend()->setFont(lf);
    chart->setAnimationOptions(QChart::NoAnimation); // 1 s updates: animation would only cost CPU
    x_ = new QDateTimeAxis(chart);
    x_->setFormat(QStringLiteral("HH:mm:ss"));
    x_->setTickCount(4);
    y_ = new QValueAxis(chart);
    y_->setTitleText(unit);
    y_->setLabelFormat(QStringLiteral("%.2f"));
    y_->setTickCount(5);
    y_->setRange(0, 1);
    QFont af = x_->labelsFont();
    af.setPointSizeF(af.pointSizeF() * 0.85);
    x_->setLabelsFont(af);
    y_->setLabelsFont(af);
    chart->addAxis(x_, Qt::AlignBottom);
    chart->addAxis(y_, Qt::AlignLeft);
    // QChartView(QWidget*) made a default chart; setChart() releases it rather than deleting it
    // (Qt's documented ownership rule), and LeakSanitizer found six per Dashboard.
    QChart* const made = this->chart();
    setChart(chart);
    delete made;
    setRenderHint(QPainter::Antialiasing);
    setMinimumSize(260, 180);
}

QLineSeries* StatsChart::line(const QString& name)
{
    if (QLineSeries* s = lines_.value(name))
        return s;
    auto* s = new QLineSeries(chart());
    s->setName(name);
    chart()->addSeries(s); // the theme gives it its colour here: widen that pen, not the default black one
    QPen pen = s->pen();
    pen.setWidthF(order_.size() >= kMaxLegendLines ? 1.0 : 1.6);
    s->setPen(pen);
    s->attachAxis(x_);
    s->attachAxis(y_);
    lines_.insert(name, s);
    order_.append(name);
    const bool legend = order_.size() <= kMaxLegendLines;
    chart()->legend()->setVisible(legend);
    chart()->setTitle(legend ? title_ : tr("%1 (%2 lines)").arg(title_).arg(order_.size()));
    return s;
}

void StatsChart::setLine(const QString& name, const QList<QPointF>& points)
{
    line(name);
    data_[name] = points;
    dirty_.insert(name);
}

void StatsChart::appendPoint(const QString& name, const QPointF& point)
{
    line(name);
    data_[name].append(point);
    dirty_.insert(name);
}

void StatsChart::keepOnly(const QStringList& keep)
{
    for (const QString& name : QStringList(order_)) {
        if (keep.contains(name))
            continue;
        QLineSeries* s = lines_.take(name);
        data_.remove(name);
        dirty_.remove(name);
        order_.removeAll(name);
        chart()->removeSeries(s);
        delete s;
    }
}

void StatsChart::clearLines()
{
    keepOnly({});
    chart()->setTitle(title_);
}

void StatsChart::setWindow(qint64 fromMs, qint64 toMs)
{
    // Each line is handed over once (replace): QtCharts lays a line out again on every change,
    // so an append plus a removal would cost two layouts a second per line.
    for (auto it = data_.begin(); it != data_.end(); ++it) {
        QList<QPointF>& pts = it.value();
        qsizetype drop = 0;
        while (drop < pts.size() && pts[drop].x() < double(fromMs))
            ++drop;
        if (drop > 0) {
            pts.remove(0, drop);
            dirty_.insert(it.key());
        }
        if (dirty_.contains(it.key()))
            lines_.value(it.key())->replace(pts);
    }
    dirty_.clear();
    x_->setRange(QDateTime::fromMSecsSinceEpoch(fromMs), QDateTime::fromMSecsSinceEpoch(toMs));
    fitValues();
}

void StatsChart::fitValues()
{
    double top = 0;
    for (const QList<QPointF>& pts : std::as_const(data_)) {
        for (const QPointF& p : pts)
            if (std::isfinite(p.y()))
                top = std::max(top, p.y());
    }
    const double nice = niceCeil(top * 1.1);
    if (nice != y_->max()) {
        y_->setRange(0, nice);
        // Steps of 1, 2 or 5 x 10^n (a range of 2 x 10^n in quarters, the others in fifths), and
        // plain numbers with only the decimals a step needs: never 1e+04, never 3.8 for 3.75.
        const double mantissa = nice / std::pow(10.0, std::floor(std::log10(nice)));
        const int ticks = std::abs(mantissa - 2.0) < 1e-9 ? 5 : 6;
        const double step = nice / (ticks - 1);
        y_->setTickCount(ticks);
        y_->setLabelFormat(step >= 1 ? QStringLiteral("%.0f") : step >= 0.1 ? QStringLiteral("%.1f") : QStringLiteral("%.2f"));
    }
}

} // namespace dlb::console
