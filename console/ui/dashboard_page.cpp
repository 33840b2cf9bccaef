#include "ui/dashboard_page.hpp"
#include "ui/page_widgets.hpp"

#include "client/stats_stream.hpp"
#include "models/agents_hub.hpp"
#include "models/replica_table.hpp"
#include "models/time_series.hpp"
#include "ui/stats_chart.hpp"

#include <QComboBox>
#include <QEvent>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QSortFilterProxyModel>
#include <QSplitter>
#include <QTableView>
#include <QVBoxLayout>

#include <cmath>

namespace dlb::console {

using client::ConnectionState;

namespace {

qint64 ms(double unixSeconds)
{
    return qint64(unixSeconds * 1000.0);
}

// The lines of each per-replica chart are named pool/id when the agent has several pools.
QString lineName(const ReplicaSample& r, bool pools)
{
    return pools ? r.pool + QLatin1Char('/') + r.id : r.id;
}

bool severalPools(const StatsPoint& p)
{
    for (const ReplicaSample& r : p.replicas)
        if (r.pool != p.replicas.front().pool)
            return true;
    return false;
}

} // namespace

DashboardPage::DashboardPage(AgentHub& hub, QWidget* parent) : QWidget(parent), hub_(hub)
{
    heading_ = new QLabel(this);
    heading_->setObjectName(QStringLiteral("dashboardHeading"));
    heading_->setTextFormat(Qt::RichText);
    window_ = new QComboBox(this);
    window_->setObjectName(QStringLiteral("window"));
    for (int s : seriesWindowsSeconds())
        window_->addItem(tr("Last %1 min").arg(s / 60), s);
    window_->setCurrentIndex(1);
    auto* windowLabel = new QLabel(tr("&Window:"), this);
    windowLabel->setBuddy(window_);
    auto* top = new QHBoxLayout;
    top->addWidget(heading_, 1);
    top->addWidget(windowLabel);
    top->addWidget(window_);

    charts_ = new QWidget(this);
    auto* grid = new QGridLayout(charts_);
    grid->setContentsMargins(0, 0, 0, 0);
    grid->setSpacing(6);
    requests_ = new StatsChart(tr("Requests"), tr("per second"), charts_);
    latency_ = new StatsChart(tr("Latency"), tr("ms"), charts_);
    errors_ = new StatsChart(tr("Errors"), tr("per second"), charts_);
    rif_ = new StatsChart(tr("RIF per replica"), tr("requests"), charts_);
    replicaLatency_ = new StatsChart(tr("p50 latency per replica"), tr("ms"), charts_);
    share_ = new StatsChart(tr("Share of traffic per replica"), tr("%"), charts_);
    grid->addWidget(requests_, 0, 0);
    grid->addWidget(latency_, 0, 1);
    grid->addWidget(errors_, 0, 2);
    grid->addWidget(rif_, 1, 0);
    grid->addWidget(replicaLatency_, 1, 1);
    grid->addWidget(share_, 1, 2);

    // Over the charts while there is nothing live to show; they stay visible beneath it.
    overlay_ = new QLabel(charts_);
    overlay_->setObjectName(QStringLiteral("overlay"));
    overlay_->setAlignment(Qt::AlignCenter);
    overlay_->setWordWrap(true);
    overlay_->setTextFormat(Qt::RichText);
    overlay_->setAutoFillBackground(false);
    charts_->installEventFilter(this);

    table_ = new ReplicaTableModel(this);
    sorted_ = new QSortFilterProxyModel(this);
    sorted_->setSourceModel(table_);
    sorted_->setSortRole(ReplicaTableModel::SortRole);
    view_ = new QTableView(this);
    view_->setObjectName(QStringLiteral("replicaTable"));
    view_->setModel(sorted_);
    view_->setSortingEnabled(true);
    view_->sortByColumn(ReplicaTableModel::Replica, Qt::AscendingOrder);
    view_->setSelectionBehavior(QAbstractItemView::SelectRows);
    view_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    view_->setAlternatingRowColors(true);
    view_->verticalHeader()->hide();
    view_->verticalHeader()->setDefaultSectionSize(view_->fontMetrics().height() + 6);
    view_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    view_->horizontalHeader()->setSectionResizeMode(ReplicaTableModel::Replica, QHeaderView::Stretch);

    auto* split = new QSplitter(Qt::Vertical, this);
    split->addWidget(charts_);
    split->addWidget(view_);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 2);
    split->setChildrenCollapsible(false);

    auto* layout = new QVBoxLayout(this);
    layout->addLayout(top);
    layout->addWidget(split, 1);

    connect(window_, &QComboBox::currentIndexChanged, this, &DashboardPage::setWindowFromSelector);
    connect(&hub_, &AgentHub::currentChanged, this, &DashboardPage::bind);
    bind(hub_.current());
    setUpKeyboard(this);
}

bool DashboardPage::eventFilter(QObject* watched, QEvent* event)
{
    if (watched == charts_ && event->type() == QEvent::Resize)
        placeOverlay();
    return QWidget::eventFilter(watched, event);
}

void DashboardPage::placeOverlay()
{
    // A card in the middle of the charts: the last data stays readable around it.
    const QRect area = charts_->rect();
    const int w = qMin(kOverlayWidth, area.width() - 40);
    // heightForWidth() leaves out the style sheet's padding: add it, or the last line touches the edge.
    const int h = qMin(overlay_->heightForWidth(w) + kOverlayPadding, area.height() - 20);
    overlay_->setGeometry(QRect(area.center().x() - w / 2, area.center().y() - h / 2, w, h));
}

void DashboardPage::bind(const QString& agent)
{
    for (const auto& c : bound_)
        disconnect(c);
    bound_.clear();
    agent_ = agent;
    series_ = hub_.series(agent);
    table_->clear();
    client::StatsStream* stream = hub_.stream(agent);
    if (agent.isEmpty()) {
        heading_->setText(tr("<b>No agent.</b> Add one on the Agents page."));
        showState(ConnectionState::Unreachable, tr("No agent is chosen: add one on the Agents page."));
    } else {
        heading_->setText(tr("<b>%1</b>").arg(agent.toHtmlEscaped()));
        if (stream) {
            bound_ << connect(stream, &client::StatsStream::stateChanged, this, &DashboardPage::showState);
            showState(stream->state(), stream->lastError());
        } else {
            showState(ConnectionState::Unreachable, tr("Its control URL is not valid: fix it on the Agents page."));
        }
    }
    if (series_) {
        series_->setWindowSeconds(window_->currentData().toInt());
        bound_ << connect(series_, &TimeSeriesModel::reset, this, &DashboardPage::redraw);
        bound_ << connect(series_, &TimeSeriesModel::appended, this, &DashboardPage::appended);
    }
    redraw();
}

void DashboardPage::setWindowFromSelector()
{
    if (series_)
        series_->setWindowSeconds(window_->currentData().toInt()); // emits reset: redraw
}

void DashboardPage::showState(ConnectionState state, const QString& detail)
{
    QString text;
    switch (state) {
    case ConnectionState::Connected:
        overlay_->hide();
        return;
    case ConnectionState::Connecting:
        text = tr("<h2>Connecting…</h2>");
        break;
    case ConnectionState::Reconnecting:
        text = tr("<h2>Reconnecting</h2><p>The charts stopped at the last sample; the missed seconds "
                  "are filled in when the agent is back.</p>");
        break;
    case ConnectionState::Unreachable:
        text = agent_.isEmpty() ? QString() : tr("<h2>Agent unreachable</h2>");
        break;
    }
    if (!detail.isEmpty()) {
        QString d = detail;
        d[0] = d[0].toUpper();
        text += QStringLiteral("<p>%1.</p>").arg(d.endsWith(QLatin1Char('.')) ? d.chopped(1).toHtmlEscaped() : d.toHtmlEscaped());
    }
    overlay_->setText(text);
    // The colour says how bad it is: red when the agent was never reached, orange while it is
    // being reached again.
    const QString tint = state == ConnectionState::Unreachable ? QStringLiteral("rgba(183, 28, 28, 235)")
                                                                : QStringLiteral("rgba(230, 81, 0, 235)");
    overlay_->setStyleSheet(QStringLiteral("QLabel#overlay { background: %1; color: white; border-radius: 8px; "
                                           "padding: 24px; }")
                                .arg(tint));
    overlay_->show();
    placeOverlay();
    overlay_->raise();
}

void DashboardPage::redraw()
{
    for (StatsChart* c : {requests_, latency_, errors_, rif_, replicaLatency_, share_})
        c->clearLines();
    if (!series_ || series_->rowCount() == 0) {
        table_->clear();
        return;
    }
    const int n = series_->rowCount();
    QList<QPointF> rps, eps, p50, p99;
    QHash<QString, QList<QPointF>> rif, lat, share;
    rps.reserve(n);
    eps.reserve(n);
    const bool pools = severalPools(series_->point(n - 1));
    for (int i = 0; i < n; ++i) {
        const StatsPoint& p = series_->point(i);
        const double x = double(ms(p.time));
        rps.append({x, p.requestsPerS});
        eps.append({x, p.errorsPerS});
        if (!std::isnan(p.p50))
            p50.append({x, p.p50});
        if (!std::isnan(p.p99))
            p99.append({x, p.p99});
        for (const ReplicaSample& r : p.replicas) {
            const QString name = lineName(r, pools);
            if (!std::isnan(r.rif))
                rif[name].append({x, r.rif});
            if (!std::isnan(r.latencyP50))
                lat[name].append({x, r.latencyP50});
            share[name].append({x, r.share * 100});
        }
    }
    requests_->setLine(tr("requests/s"), rps);
    errors_->setLine(tr("5xx answers/s"), eps);
    latency_->setLine(tr("p50"), p50);
    latency_->setLine(tr("p99"), p99);
    // Lines in the order of the newest sample's replicas, so colours stay put.
    for (const ReplicaSample& r : series_->point(n - 1).replicas) {
        const QString name = lineName(r, pools);
        rif_->setLine(name, rif.value(name));
        replicaLatency_->setLine(name, lat.value(name));
        share_->setLine(name, share.value(name));
    }
    const qint64 to = ms(series_->point(n - 1).time);
    for (StatsChart* c : {requests_, latency_, errors_, rif_, replicaLatency_, share_})
        c->setWindow(to - qint64(series_->windowSeconds()) * 1000, to);
    table_->update(series_->point(n - 1));
}

void DashboardPage::appended(int)
{
    const int n = series_ ? series_->rowCount() : 0;
    if (n == 0)
        return;
    const StatsPoint& p = series_->point(n - 1);
    const bool pools = severalPools(p);
    // A replica that is new, or one that left: draw everything again (rare: a change of the pool).
    const int prev = n - 2;
    bool same = prev >= 0 && series_->point(prev).replicas.size() == p.replicas.size();
    for (qsizetype i = 0; same && i < p.replicas.size(); ++i)
        same = series_->point(prev).replicas[i].id == p.replicas[i].id &&
               series_->point(prev).replicas[i].pool == p.replicas[i].pool;
    if (!same) {
        redraw();
        return;
    }
    const double x = double(ms(p.time));
    requests_->appendPoint(tr("requests/s"), {x, p.requestsPerS});
    errors_->appendPoint(tr("5xx answers/s"), {x, p.errorsPerS});
    if (!std::isnan(p.p50))
        latency_->appendPoint(tr("p50"), {x, p.p50});
    if (!std::isnan(p.p99))
        latency_->appendPoint(tr("p99"), {x, p.p99});
    for (const ReplicaSample& r : p.replicas) {
        const QString name = lineName(r, pools);
        if (!std::isnan(r.rif))
            rif_->appendPoint(name, {x, r.rif});
        if (!std::isnan(r.latencyP50))
            replicaLatency_->appendPoint(name, {x, r.latencyP50});
        share_->appendPoint(name, {x, r.share * 100});
    }
    const qint64 to = ms(p.time);
    for (StatsChart* c : {requests_, latency_, errors_, rif_, replicaLatency_, share_})
        c->setWindow(to - qint64(series_->windowSeconds()) * 1000, to);
    table_->update(p);
}

} // namespace dlb::console
