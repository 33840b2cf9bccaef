#include "ui/replica_dialog.hpp"
#include "ui/page_widgets.hpp"

#include "common/config.hpp"
#include "models/steer_pools.hpp"
#include "ui/account_form.hpp"

#include <QDialogButtonBox>
#include <QGridLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QVBoxLayout>

namespace dlb::console {

ReplicaDialog::ReplicaDialog(const QString& pool, QWidget* parent) : QDialog(parent)
{
    setWindowTitle(tr("Add a replica to %1").arg(pool));
    setObjectName(QStringLiteral("replicaDialog"));

    url_ = new QLineEdit(this);
    url_->setObjectName(QStringLiteral("url"));
    url_->setPlaceholderText(QStringLiteral("http://127.0.0.1:9001"));
    url_->setMinimumWidth(320);
    weight_ = new QSpinBox(this);
    weight_->setObjectName(QStringLiteral("weight"));
    weight_->setRange(static_cast<int>(common::kMinReplicaWeight), static_cast<int>(common::kMaxReplicaWeight));
    weight_->setValue(1);
    weight_->setToolTip(tr("Its share of traffic relative to the pool's other replicas, for the algorithms that "
                           "weigh (%1 to %2).")
                            .arg(common::kMinReplicaWeight)
                            .arg(common::kMaxReplicaWeight));
    id_ = new QLineEdit(this);
    id_->setObjectName(QStringLiteral("id"));
    id_->setPlaceholderText(tr("host:port (the default)"));
    urlError_ = makeErrorLabel(QStringLiteral("urlError"), this);
    weightError_ = makeErrorLabel(QStringLiteral("weightError"), this);
    idError_ = makeErrorLabel(QStringLiteral("idError"), this);

    auto* grid = new QGridLayout;
    const auto row = [&](int r, const QString& label, QWidget* field, QLabel* error) {
        auto* l = new QLabel(label, this);
        l->setBuddy(field);
        grid->addWidget(l, r, 0);
        grid->addWidget(field, r, 1);
        grid->addWidget(error, r + 1, 1);
    };
    row(0, tr("&URL:"), url_, urlError_);
    row(2, tr("&Weight:"), weight_, weightError_);
    row(4, tr("&ID (optional):"), id_, idError_);
    grid->setColumnStretch(1, 1);

    auto* note = new QLabel(tr("http:// or https://, a host and a port, no path. The replica takes no traffic until "
                               "its first health check passes."),
                            this);
    note->setWordWrap(true);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    buttons->button(QDialogButtonBox::Ok)->setText(tr("&Add"));
    buttons->button(QDialogButtonBox::Ok)->setObjectName(QStringLiteral("ok"));
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(grid);
    layout->addWidget(note);
    layout->addWidget(buttons);
    connect(buttons, &QDialogButtonBox::accepted, this, &ReplicaDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &ReplicaDialog::reject);
    const auto revalidate = [this] {
        if (validated_)
            validate();
    };
    connect(url_, &QLineEdit::textChanged, this, revalidate);
    connect(id_, &QLineEdit::textChanged, this, revalidate);
    connect(weight_, &QSpinBox::valueChanged, this, revalidate);
    setUpKeyboard(this);
}

QString ReplicaDialog::url() const { return url_->text(); }
qint64 ReplicaDialog::weight() const { return weight_->value(); }
QString ReplicaDialog::id() const { return id_->text(); }

bool ReplicaDialog::validate()
{
    validated_ = true;
    const QMap<QString, QString> errors = checkNewReplica(url(), weight(), id());
    setError(urlError_, errors.value(QStringLiteral("url")));
    setError(weightError_, errors.value(QStringLiteral("weight")));
    setError(idError_, errors.value(QStringLiteral("id")));
    return errors.isEmpty();
}

void ReplicaDialog::accept()
{
    if (validate())
        QDialog::accept();
}

} // namespace dlb::console
