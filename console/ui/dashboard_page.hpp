#pragma once
// The Dashboard: live charts of the current agent (requests/s, p50/p99 latency, errors; per
// replica RIF, latency and share of traffic), drawn from the agent's 15-minute history and then
// its stats stream; a window selector (1, 5, 15 min); the replica table with health and
// Prequal's hot/cold standing; and an overlay over the charts while the agent is unreachable or
// the stream is reconnecting. Read-only for everyone: it only watches.

#include "client/agent_connection.hpp"

#include <QPointer>
#include <QWidget>

class QComboBox;
class QLabel;
class QSortFilterProxyModel;
class QTableView;

namespace dlb::console {

class AgentHub;
class ReplicaTableModel;
class StatsChart;
class TimeSeriesModel;

class DashboardPage : public QWidget {
    Q_OBJECT
public:
    explicit DashboardPage(AgentHub& hub, QWidget* parent = nullptr);

    // For tests and screenshots.
    QLabel* overlay() const { return overlay_; }
    ReplicaTableModel* replicaTable() const { return table_; }

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;

private:
    static constexpr int kOverlayWidth = 560;
    static constexpr int kOverlayPadding = 24;
    void placeOverlay();
    void bind(const QString& agent);
    void redraw();
    void appended(int dropped);
    void showState(client::ConnectionState state, const QString& detail);
    void setWindowFromSelector();

    AgentHub& hub_;
    QPointer<TimeSeriesModel> series_;
    QString agent_;
    QLabel* heading_;
    QComboBox* window_;
    QWidget* charts_;
    QLabel* overlay_;
    StatsChart* requests_;
    StatsChart* latency_;
    StatsChart* errors_;
    StatsChart* rif_;
    StatsChart* replicaLatency_;
    StatsChart* share_;
    ReplicaTableModel* table_;
    QSortFilterProxyModel* sorted_;
    QTableView* view_;
    QList<QMetaObject::Connection> bound_;
};

} // namespace dlb::console
