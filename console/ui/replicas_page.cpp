#include "ui/replicas_page.hpp"

#include "common/config.hpp"
#include "models/steer_replicas_model.hpp"
#include "ui/account_form.hpp"
#include "ui/page_widgets.hpp"
#include "ui/replica_dialog.hpp"

#include <QComboBox>
#include <QHBoxLayout>
#include <QInputDialog>
#include <QItemSelectionModel>
#include <QLabel>
#include <QMessageBox>
#include <QPushButton>
#include <QTableView>
#include <QVBoxLayout>

namespace dlb::console {

ReplicasPage::ReplicasPage(SteerController& controller, bool maySteer, QWidget* parent)
    : QWidget(parent), controller_(controller), maySteer_(maySteer)
{
    model_ = new SteerReplicasModel(this);
    pool_ = new QComboBox(this);
    pool_->setObjectName(QStringLiteral("pool"));
    pool_->setMinimumContentsLength(16);
    view_ = new QTableView(this);
    view_->setObjectName(QStringLiteral("replicas"));
    setUpRowTable(view_, model_);

    const auto button = [this](const QString& text, const char* name) {
        auto* b = new QPushButton(text, this);
        b->setObjectName(QLatin1String(name));
        return b;
    };
    add_ = button(tr("&Add…"), "add");
    drain_ = button(tr("&Drain"), "drain");
    remove_ = button(tr("Re&move…"), "remove");
    weight_ = button(tr("Set &weight…"), "weight");
    check_ = button(tr("&Health-check now"), "healthCheck");
    refresh_ = button(tr("Re&fresh"), "refresh");
    drain_->setToolTip(tr("No new requests; removed when its last request in flight ends."));
    check_->setToolTip(tr("Check every replica of the pool now and show each result."));

    auto* poolLabel = new QLabel(tr("&Pool:"), this);
    poolLabel->setBuddy(pool_);
    auto* top = new QHBoxLayout;
    top->addWidget(poolLabel);
    top->addWidget(pool_);
    top->addStretch(1);
    top->addWidget(refresh_);
    auto* buttons = new QHBoxLayout;
    for (QPushButton* b : {add_, drain_, remove_, weight_, check_})
        buttons->addWidget(b);
    buttons->addStretch(1);

    status_ = new QLabel(this);
    status_->setObjectName(QStringLiteral("status"));
    status_->setWordWrap(true);
    status_->setTextFormat(Qt::PlainText);
    status_->setTextInteractionFlags(Qt::TextSelectableByMouse);

    auto* title = new QLabel(tr("<h2>Replicas</h2>The servers each pool balances over. A replica added here "
                                "takes traffic after its first passing health check; one removed drains first."),
                             this);
    title->setWordWrap(true);
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(title);
    layout->addLayout(top);
    layout->addLayout(buttons);
    layout->addWidget(view_, 1);
    layout->addWidget(status_);

    // Tab order follows reading order: pool, the actions, the table.
    setTabOrder(pool_, refresh_);
    setTabOrder(refresh_, add_);
    setTabOrder(add_, drain_);
    setTabOrder(drain_, remove_);
    setTabOrder(remove_, weight_);
    setTabOrder(weight_, check_);
    setTabOrder(check_, view_);

    connect(pool_, &QComboBox::currentTextChanged, this, [this] {
        model_->clearHealthResults();
        showPool();
    });
    connect(add_, &QPushButton::clicked, this, &ReplicasPage::addReplica);
    connect(drain_, &QPushButton::clicked, this, &ReplicasPage::drain);
    connect(remove_, &QPushButton::clicked, this, &ReplicasPage::remove);
    connect(weight_, &QPushButton::clicked, this, &ReplicasPage::setWeight);
    connect(check_, &QPushButton::clicked, this, [this] {
        if (!currentPool().isEmpty())
            controller_.healthCheck(currentPool());
    });
    connect(refresh_, &QPushButton::clicked, &controller_, &SteerController::refresh);
    connect(view_->selectionModel(), &QItemSelectionModel::selectionChanged, this, &ReplicasPage::updateButtons);
    connect(model_, &QAbstractItemModel::modelReset, this, &ReplicasPage::updateButtons);
    connect(&controller_, &SteerController::poolsChanged, this, &ReplicasPage::poolsChanged);
    connect(&controller_, &SteerController::refreshFailed, this,
            [this](const QString& why) { showStatus(tr("Could not read the pools: %1").arg(why), true); });
    connect(&controller_, &SteerController::finished, this, &ReplicasPage::finished);
    connect(&controller_, &SteerController::healthChecked, this,
            [this](const QString& pool, const QList<HealthResult>& results) {
                if (pool == currentPool())
                    model_->setHealthResults(results);
            });
    connect(&controller_, &SteerController::busyChanged, this, &ReplicasPage::updateButtons);

    if (!maySteer_) {
        const QString why = tr("Viewers only watch; operators and admins steer agents.");
        for (QPushButton* b : {add_, drain_, remove_, weight_, check_})
            b->setToolTip(why);
    }
    poolsChanged();
    setUpKeyboard(this);
}

QString ReplicasPage::currentPool() const { return pool_->currentText(); }

void ReplicasPage::setCurrentPool(const QString& pool) { pool_->setCurrentText(pool); }

const ReplicaInfo* ReplicasPage::selected() const
{
    const auto rows = view_->selectionModel()->selectedRows();
    return rows.isEmpty() ? nullptr : model_->replica(rows.front().row());
}

void ReplicasPage::poolsChanged()
{
    const QString current = currentPool();
    QStringList names;
    for (const PoolInfo& p : controller_.pools().pools)
        names << p.name;
    refillPoolCombo(pool_, names, current);
    if (names.isEmpty() || currentPool() != current)
        model_->clearHealthResults();
    showPool();
}

void ReplicasPage::showPool()
{
    const QString id = selected() ? selected()->id : QString();
    const PoolInfo* pool = controller_.pools().find(currentPool());
    model_->setReplicas(pool ? pool->replicas : QList<ReplicaInfo>{});
    view_->resizeColumnsToContents();
    if (const int row = model_->rowOf(id); row >= 0)
        view_->selectRow(row);
    updateButtons();
}

void ReplicasPage::updateButtons()
{
    const ReplicaInfo* r = selected();
    const bool pool = controller_.pools().find(currentPool()) != nullptr;
    const bool live = r && r->state != QLatin1String("draining");
    add_->setEnabled(maySteer_ && pool);
    check_->setEnabled(maySteer_ && pool);
    drain_->setEnabled(maySteer_ && live);
    remove_->setEnabled(maySteer_ && live);
    weight_->setEnabled(maySteer_ && live);
    refresh_->setEnabled(controller_.hasTransport());
}

void ReplicasPage::addReplica()
{
    const QString pool = currentPool();
    ReplicaDialog dialog(pool, this);
    if (dialog.exec() == QDialog::Accepted)
        controller_.addReplica(pool, dialog.url(), dialog.weight(), dialog.id());
}

void ReplicasPage::drain()
{
    if (const ReplicaInfo* r = selected())
        controller_.drainReplica(currentPool(), r->id);
}

void ReplicasPage::remove()
{
    const ReplicaInfo* r = selected();
    if (!r)
        return;
    const QString id = r->id;
    QMessageBox box(QMessageBox::Question, tr("Remove replica"),
                    tr("Remove %1 (%2) from pool %3?").arg(id, r->url, currentPool()),
                    QMessageBox::Yes | QMessageBox::Cancel, this);
    box.setObjectName(QStringLiteral("confirmRemove"));
    box.setInformativeText(tr("It gets no new requests at once, leaves the config file, and is gone when its last "
                              "request in flight ends."));
    box.button(QMessageBox::Yes)->setText(tr("Remove %1").arg(id));
    box.setDefaultButton(QMessageBox::Cancel);
    if (box.exec() == QMessageBox::Yes)
        controller_.removeReplica(currentPool(), id);
}

void ReplicasPage::setWeight()
{
    const ReplicaInfo* r = selected();
    if (!r)
        return;
    const QString id = r->id;
    bool ok = false;
    const int weight = QInputDialog::getInt(this, tr("Set weight"), tr("Weight of %1 in %2:").arg(id, currentPool()),
                                            static_cast<int>(r->weight), static_cast<int>(common::kMinReplicaWeight),
                                            static_cast<int>(common::kMaxReplicaWeight), 1, &ok);
    if (ok)
        controller_.setWeight(currentPool(), id, weight);
}

void ReplicasPage::finished(SteerController::Action action, const QString& pool, const QString& subject,
                            const SteerReply& reply)
{
    if (action == SteerController::Action::Algorithm)
        return;
    showStatus(describeOutcome(action, pool, subject, reply), !reply.ok());
}

void ReplicasPage::showStatus(const QString& text, bool error)
{
    status_->setStyleSheet(error ? errorStyleSheet() : QString());
    status_->setText(text);
}

} // namespace dlb::console
