#include "ui/algorithm_page.hpp"

#include "ui/account_form.hpp"
#include "ui/page_widgets.hpp"
#include "ui/param_editor.hpp"

#include <QComboBox>
#include <QFont>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QScrollArea>
#include <QVBoxLayout>

namespace dlb::console {
namespace {

QString fromStd(std::string_view s) { return QString::fromUtf8(s.data(), static_cast<qsizetype>(s.size())); }

// The grid's columns: name, editor, range and default, error (beside the editor); the help
// line goes under the editor across the rest.
enum GridColumn { NameColumn, EditorColumn, RangeColumn, ErrorColumn };

QLabel* hintLabel(const QString& text, QWidget* parent)
{
    auto* label = new QLabel(text, parent);
    label->setWordWrap(true);
    label->setTextFormat(Qt::PlainText);
    label->setForegroundRole(QPalette::PlaceholderText);
    return label;
}

} // namespace

AlgorithmPage::AlgorithmPage(SteerController& controller, bool maySteer, QWidget* parent)
    : QWidget(parent), controller_(controller), maySteer_(maySteer)
{
    pool_ = new QComboBox(this);
    pool_->setObjectName(QStringLiteral("pool"));
    pool_->setMinimumContentsLength(16);
    algorithm_ = new QComboBox(this);
    algorithm_->setObjectName(QStringLiteral("algorithm"));
    for (const common::AlgorithmSpec& algo : common::algorithms()) {
        algorithm_->addItem(fromStd(algo.name));
        algorithm_->setItemData(algorithm_->count() - 1, fromStd(algo.summary), Qt::ToolTipRole);
    }
    summary_ = hintLabel({}, this);
    summary_->setObjectName(QStringLiteral("summary"));
    generation_ = hintLabel({}, this);
    generation_->setObjectName(QStringLiteral("generation"));
    errors_.insert(AlgorithmForm::kNameField, makeErrorLabel(QStringLiteral("name_error"), this));

    auto* scroll = new QScrollArea(this);
    scroll->setObjectName(QStringLiteral("parameters"));
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);
    editors_ = new QWidget(scroll);
    scroll->setWidget(editors_);

    reset_ = new QPushButton(tr("Reset to &defaults"), this);
    reset_->setObjectName(QStringLiteral("reset"));
    reload_ = new QPushButton(tr("Re&load"), this);
    reload_->setObjectName(QStringLiteral("reload"));
    reload_->setToolTip(tr("Show what runs in the pool now, dropping any edit."));
    apply_ = new QPushButton(tr("&Apply"), this);
    apply_->setObjectName(QStringLiteral("apply"));
    apply_->setDefault(true);
    reloadOffer_ = new QPushButton(tr("Reload the pool's values"), this);
    reloadOffer_->setObjectName(QStringLiteral("reloadOffer"));
    reloadOffer_->hide();
    status_ = new QLabel(this);
    status_->setObjectName(QStringLiteral("status"));
    status_->setWordWrap(true);
    status_->setTextFormat(Qt::PlainText);
    status_->setTextInteractionFlags(Qt::TextSelectableByMouse);

    auto* title = new QLabel(tr("<h2>Algorithm</h2>How each pool picks a replica. A change applies to new "
                                "requests at once; requests in flight finish as they started."),
                             this);
    title->setWordWrap(true);
    auto* choose = new QGridLayout;
    auto* poolLabel = new QLabel(tr("&Pool:"), this);
    poolLabel->setBuddy(pool_);
    auto* algoLabel = new QLabel(tr("Al&gorithm:"), this);
    algoLabel->setBuddy(algorithm_);
    choose->addWidget(poolLabel, 0, 0);
    choose->addWidget(pool_, 0, 1);
    choose->addWidget(generation_, 0, 2);
    choose->addWidget(algoLabel, 1, 0);
    choose->addWidget(algorithm_, 1, 1);
    choose->addWidget(errors_.value(AlgorithmForm::kNameField), 1, 2);
    choose->addWidget(summary_, 2, 1, 1, 2);
    choose->setColumnStretch(2, 1);
    auto* buttons = new QHBoxLayout;
    buttons->addWidget(reset_);
    buttons->addWidget(reload_);
    buttons->addStretch(1);
    buttons->addWidget(apply_);
    auto* statusRow = new QHBoxLayout;
    statusRow->addWidget(status_, 1);
    statusRow->addWidget(reloadOffer_, 0, Qt::AlignTop);

    auto* layout = new QVBoxLayout(this);
    layout->addWidget(title);
    layout->addLayout(choose);
    layout->addWidget(scroll, 1);
    layout->addLayout(buttons);
    layout->addLayout(statusRow);

    connect(pool_, &QComboBox::currentTextChanged, this, [this] { reload(); });
    connect(algorithm_, &QComboBox::currentTextChanged, this, &AlgorithmPage::algorithmChosen);
    connect(reset_, &QPushButton::clicked, this, [this] {
        form_.resetToDefaults();
        edited_ = true;
        showValues();
    });
    connect(reload_, &QPushButton::clicked, this, [this] { controller_.refresh(); reload(); });
    connect(reloadOffer_, &QPushButton::clicked, this, [this] { controller_.refresh(); reload(); });
    connect(apply_, &QPushButton::clicked, this, &AlgorithmPage::apply);
    connect(&controller_, &SteerController::poolsChanged, this, &AlgorithmPage::poolsChanged);
    connect(&controller_, &SteerController::refreshFailed, this,
            [this](const QString& why) { showStatus(tr("Could not read the pools: %1").arg(why), true); });
    connect(&controller_, &SteerController::finished, this, &AlgorithmPage::finished);
    connect(&controller_, &SteerController::busyChanged, this, &AlgorithmPage::updateButtons);

    if (!maySteer_) {
        const QString why = tr("Viewers only watch; operators and admins steer agents.");
        for (QWidget* w : std::initializer_list<QWidget*>{algorithm_, reset_, apply_})
            w->setToolTip(why);
    }
    poolsChanged();
    setUpKeyboard(this);
}

QString AlgorithmPage::currentPool() const { return pool_->currentText(); }

void AlgorithmPage::setCurrentPool(const QString& pool) { pool_->setCurrentText(pool); }

void AlgorithmPage::poolsChanged()
{
    const QString current = currentPool();
    QStringList names;
    for (const PoolInfo& p : controller_.pools().pools)
        names << p.name;
    refillPoolCombo(pool_, names, current);
    // Edits stay until applied or reloaded: a refresh (after a 409 too) must not overwrite them,
    // nor move the generation they are sent against.
    if (!edited_ || currentPool() != current)
        reload();
    else
        updateButtons();
}

void AlgorithmPage::reload()
{
    edited_ = false;
    reloadOffer_->hide();
    const PoolInfo* pool = controller_.pools().find(currentPool());
    form_.load(currentPool(), pool ? pool->algorithm : AlgorithmInfo{}, controller_.pools().generation);
    generation_->setText(pool ? tr("read at generation %2: %1").arg(pool->algorithm.name).arg(form_.generation())
                              : QString());
    {
        const QSignalBlocker block(algorithm_);
        algorithm_->setCurrentIndex(pool ? algorithm_->findText(form_.algorithm()) : -1);
    }
    buildEditors();
}

void AlgorithmPage::algorithmChosen(const QString& name)
{
    form_.setAlgorithm(name);
    edited_ = true;
    buildEditors();
}

void AlgorithmPage::buildEditors()
{
    delete editors_->layout();
    qDeleteAll(editors_->findChildren<QWidget*>(Qt::FindDirectChildrenOnly));
    spins_.clear();
    hashKey_ = nullptr;
    for (auto it = errors_.begin(); it != errors_.end();)
        it = it.key() == AlgorithmForm::kNameField ? std::next(it) : errors_.erase(it);

    grid_ = new QGridLayout(editors_);
    grid_->setColumnStretch(ErrorColumn, 1);
    grid_->setVerticalSpacing(2);
    const common::AlgorithmSpec* algo = form_.spec();
    summary_->setText(algo ? fromStd(algo->summary) : QString());
    int row = 0;
    const auto addRow = [&](const QString& field, QWidget* editor, const QString& range, const QString& help) {
        auto* name = new QLabel(field, editors_);
        name->setBuddy(editor);
        QFont mono = name->font();
        mono.setFamily(QStringLiteral("monospace"));
        mono.setStyleHint(QFont::Monospace);
        name->setFont(mono);
        auto* error = makeErrorLabel(field + QStringLiteral("_error"), editors_);
        errors_.insert(field, error);
        grid_->addWidget(name, row, NameColumn);
        grid_->addWidget(editor, row, EditorColumn);
        auto* rangeLabel = hintLabel(range, editors_);
        rangeLabel->setWordWrap(false);
        grid_->addWidget(rangeLabel, row, RangeColumn);
        grid_->addWidget(error, row, ErrorColumn);
        auto* explanation = hintLabel(help, editors_);
        explanation->setObjectName(field + QStringLiteral("_help"));
        grid_->addWidget(explanation, row + 1, EditorColumn, 1, 3);
        grid_->setRowMinimumHeight(row + 2, 8);
        row += 3;
    };
    if (algo) {
        for (const common::ParamSpec& spec : algo->params) {
            auto* spin = new ParamSpinBox(spec, editors_);
            spin->setMinimumWidth(110);
            const QString field = fromStd(spec.name);
            spins_.insert(field, spin);
            addRow(field, spin, describeRange(spec), fromStd(spec.help));
            connect(spin, &QDoubleSpinBox::valueChanged, this, [this, field](double value) {
                if (loading_)
                    return;
                form_.setValue(field, value);
                edited_ = true;
                validate();
            });
        }
        if (algo->uses_hash_key) {
            hashKey_ = new QLineEdit(editors_);
            hashKey_->setObjectName(AlgorithmForm::kHashKeyField);
            hashKey_->setPlaceholderText(QStringLiteral("client, path or header:<name>"));
            hashKey_->setMinimumWidth(110);
            addRow(AlgorithmForm::kHashKeyField, hashKey_, tr("default client"), fromStd(common::kHashKeyHelp));
            connect(hashKey_, &QLineEdit::textEdited, this, [this](const QString& text) {
                form_.setHashKey(text);
                edited_ = true;
                validate();
            });
        }
        if (algo->params.empty() && !algo->uses_hash_key)
            grid_->addWidget(hintLabel(tr("%1 has no parameters.").arg(form_.algorithm()), editors_), 0, 0, 1, 4);
    }
    grid_->setRowStretch(row + 1, 1);
    // Tab order: algorithm, then the editors top to bottom, then the buttons.
    QWidget* previous = algorithm_;
    if (algo)
        for (const common::ParamSpec& spec : algo->params) {
            QWidget* next = spins_.value(fromStd(spec.name));
            setTabOrder(previous, next);
            previous = next;
        }
    if (hashKey_) {
        setTabOrder(previous, hashKey_);
        previous = hashKey_;
    }
    setTabOrder(previous, reset_);
    setTabOrder(reset_, reload_);
    setTabOrder(reload_, apply_);
    for (QWidget* w : editors_->findChildren<QWidget*>())
        if (qobject_cast<QAbstractSpinBox*>(w) || qobject_cast<QLineEdit*>(w))
            w->setEnabled(maySteer_);
    // A layout shows the children it is given only later (queued): until then they count for
    // nothing in its size, and the scroll area squeezes the rows into its viewport. Show them now;
    // the error labels show themselves when they have something to say.
    for (QWidget* w : editors_->findChildren<QWidget*>(Qt::FindDirectChildrenOnly))
        if (!w->objectName().endsWith(QLatin1String("_error")))
            w->show();
    showValues();
}

void AlgorithmPage::showValues()
{
    loading_ = true;
    for (auto it = spins_.begin(); it != spins_.end(); ++it)
        it.value()->setValue(form_.value(it.key()));
    if (hashKey_)
        hashKey_->setText(form_.hashKey());
    loading_ = false;
    validate();
}

void AlgorithmPage::validate()
{
    const QMap<QString, QString> found = form_.errors();
    for (auto it = errors_.begin(); it != errors_.end(); ++it)
        setError(it.value(), found.value(it.key()));
    updateButtons();
}

void AlgorithmPage::updateButtons()
{
    const bool pool = controller_.pools().find(currentPool()) != nullptr;
    algorithm_->setEnabled(maySteer_ && pool);
    reset_->setEnabled(maySteer_ && pool);
    reload_->setEnabled(controller_.hasTransport());
    apply_->setEnabled(maySteer_ && pool && form_.changed() && controller_.pending() == 0);
}

void AlgorithmPage::apply()
{
    if (!maySteer_ || !controller_.pools().find(form_.pool()))
        return;
    const QMap<QString, QString> found = form_.errors();
    if (!found.isEmpty()) {
        validate();
        QStringList fields = found.keys();
        showStatus(tr("Not sent: the agent would refuse %1; the reason is beside each field.")
                       .arg(fields.join(QStringLiteral(", "))),
                   true);
        return;
    }
    showStatus(tr("Applying to %1…").arg(form_.pool()), false);
    controller_.applyAlgorithm(form_);
}

void AlgorithmPage::finished(SteerController::Action action, const QString& pool, const QString& subject,
                             const SteerReply& reply)
{
    if (action != SteerController::Action::Algorithm)
        return;
    if (reply.ok()) {
        // What the agent runs now is the form's new starting point.
        edited_ = false;
    } else if (const QString field = AlgorithmForm::fieldOfPath(reply.path); !field.isEmpty() && errors_.contains(field)) {
        QString why = reply.message;
        if (why.startsWith(reply.path + QStringLiteral(": ")))
            why.remove(0, reply.path.size() + 2);
        setError(errors_.value(field), tr("refused by the agent: %1").arg(why));
    }
    reloadOffer_->setVisible(reply.status == 409);
    showStatus(describeOutcome(action, pool, subject, reply), !reply.ok());
    updateButtons();
}

void AlgorithmPage::showStatus(const QString& text, bool error)
{
    status_->setStyleSheet(error ? errorStyleSheet() : QString());
    status_->setText(text);
}

} // namespace dlb::console
