#pragma once
// Algorithm: per pool, the balancing algorithm and its parameters, one editor each with its
// range, default and one-line explanation from common/. Values the agent would refuse are shown
// beside their field and never sent; Apply sends PUT .../algorithm with If-Match of the
// generation the values were read at, and the agent's own refusal lands beside the field it
// names. A 409 (someone else changed the config) keeps the edits and offers a reload.

#include "models/algorithm_form.hpp"
#include "models/steer_controller.hpp"

#include <QHash>
#include <QWidget>

class QComboBox;
class QGridLayout;
class QLabel;
class QLineEdit;
class QPushButton;

namespace dlb::console {

class ParamSpinBox;

class AlgorithmPage : public QWidget {
    Q_OBJECT
public:
    AlgorithmPage(SteerController& controller, bool maySteer, QWidget* parent = nullptr);

    const AlgorithmForm& form() const { return form_; }
    QString currentPool() const;
    void setCurrentPool(const QString& pool);
    // Loads what runs in the current pool, dropping any edit.
    void reload();
    void apply();

private:
    void poolsChanged();
    void algorithmChosen(const QString& name);
    void buildEditors();
    void showValues();
    void validate();
    void updateButtons();
    void finished(SteerController::Action action, const QString& pool, const QString& subject,
                  const SteerReply& reply);
    void showStatus(const QString& text, bool error);

    SteerController& controller_;
    const bool maySteer_;
    AlgorithmForm form_;
    bool edited_ = false;  // the form holds values the user changed and has not applied
    bool loading_ = false; // editors are being filled by the page, not the user
    QComboBox* pool_;
    QComboBox* algorithm_;
    QLabel* summary_;
    QWidget* editors_ = nullptr;
    QGridLayout* grid_ = nullptr;
    QHash<QString, ParamSpinBox*> spins_;
    QLineEdit* hashKey_ = nullptr;
    QHash<QString, QLabel*> errors_; // by field, "name" included
    QLabel* generation_;
    QPushButton* reset_;
    QPushButton* reload_;
    QPushButton* apply_;
    QPushButton* reloadOffer_;
    QLabel* status_;
};

} // namespace dlb::console
