#pragma once
// Replicas: one pool's replicas of the current agent; add, drain, remove (after a confirmation
// naming the replica), set a weight, and run the pool's health checks now with each result shown
// beside its replica. Viewers see the same page with the steering buttons disabled.

#include "models/steer_controller.hpp"

#include <QWidget>

class QComboBox;
class QLabel;
class QPushButton;
class QTableView;

namespace dlb::console {

class SteerReplicasModel;

class ReplicasPage : public QWidget {
    Q_OBJECT
public:
    ReplicasPage(SteerController& controller, bool maySteer, QWidget* parent = nullptr);

    SteerReplicasModel* model() const { return model_; }
    QString currentPool() const;
    void setCurrentPool(const QString& pool);

private:
    const ReplicaInfo* selected() const;
    void poolsChanged();
    void showPool();
    void updateButtons();
    void addReplica();
    void drain();
    void remove();
    void setWeight();
    void finished(SteerController::Action action, const QString& pool, const QString& subject,
                  const SteerReply& reply);
    void showStatus(const QString& text, bool error);

    SteerController& controller_;
    const bool maySteer_;
    SteerReplicasModel* model_;
    QComboBox* pool_;
    QTableView* view_;
    QPushButton* add_;
    QPushButton* drain_;
    QPushButton* remove_;
    QPushButton* weight_;
    QPushButton* check_;
    QPushButton* refresh_;
    QLabel* status_;
};

} // namespace dlb::console
