#pragma once
// Add a replica to a pool: URL, weight and an optional id, each checked by the agent's own rules
// (common/) before the dialog closes, every broken one shown beside its field.

#include <QDialog>

class QLabel;
class QLineEdit;
class QSpinBox;

namespace dlb::console {

class ReplicaDialog : public QDialog {
    Q_OBJECT
public:
    ReplicaDialog(const QString& pool, QWidget* parent = nullptr);

    QString url() const;
    qint64 weight() const;
    QString id() const;
    // Checks every field and shows every broken one; true when the agent would take them.
    bool validate();

    void accept() override;

private:
    QLineEdit* url_;
    QSpinBox* weight_;
    QLineEdit* id_;
    QLabel* urlError_;
    QLabel* weightError_;
    QLabel* idError_;
    bool validated_ = false; // after the first try, errors follow every edit
};

} // namespace dlb::console
