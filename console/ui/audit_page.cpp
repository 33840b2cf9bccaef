#include "ui/audit_page.hpp"
#include "ui/page_widgets.hpp"

#include "db/database.hpp"
#include "models/audit_model.hpp"

#include <QComboBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSortFilterProxyModel>
#include <QTableView>
#include <QVBoxLayout>

namespace dlb::console {

AuditPage::AuditPage(Database& db, QWidget* parent) : QWidget(parent), db_(db)
{
    model_ = new AuditModel(this);
    proxy_ = new QSortFilterProxyModel(this);
    proxy_->setSourceModel(model_);
    proxy_->setFilterCaseSensitivity(Qt::CaseInsensitive);
    proxy_->setFilterKeyColumn(-1);
    proxy_->setSortRole(AuditModel::SortRole);

    filter_ = new QLineEdit(this);
    filter_->setObjectName(QStringLiteral("filter"));
    filter_->setPlaceholderText(tr("Filter, e.g. account.role or an agent's name"));
    filter_->setClearButtonEnabled(true);
    column_ = new QComboBox(this);
    column_->setObjectName(QStringLiteral("column"));
    column_->addItem(tr("All columns"), -1);
    for (int c = 0; c < AuditModel::ColumnCount; ++c)
        column_->addItem(model_->headerData(c, Qt::Horizontal).toString(), c);
    auto* refresh = new QPushButton(tr("Re&fresh"), this);
    refresh->setObjectName(QStringLiteral("refresh"));
    auto* filterLabel = new QLabel(tr("F&ilter"), this);
    filterLabel->setBuddy(filter_);
    auto* bar = new QHBoxLayout;
    bar->addWidget(filterLabel);
    bar->addWidget(filter_, 1);
    bar->addWidget(column_);
    bar->addWidget(refresh);

    view_ = new QTableView(this);
    view_->setObjectName(QStringLiteral("audit"));
    view_->setModel(proxy_);
    view_->setSortingEnabled(true);
    view_->sortByColumn(AuditModel::When, Qt::DescendingOrder);
    view_->setSelectionBehavior(QAbstractItemView::SelectRows);
    view_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    view_->setAlternatingRowColors(true);
    view_->setWordWrap(false);
    view_->verticalHeader()->hide();
    view_->horizontalHeader()->setStretchLastSection(true);

    count_ = new QLabel(this);
    count_->setObjectName(QStringLiteral("count"));
    auto* title = new QLabel(tr("<h2>Audit log</h2>Every change to accounts and agents, with who made it. "
                                "Nobody can edit or delete these rows."),
                             this);
    title->setWordWrap(true);
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(title);
    layout->addLayout(bar);
    layout->addWidget(view_, 1);
    layout->addWidget(count_);

    connect(filter_, &QLineEdit::textChanged, proxy_, &QSortFilterProxyModel::setFilterFixedString);
    connect(column_, &QComboBox::currentIndexChanged, this,
            [this] { proxy_->setFilterKeyColumn(column_->currentData().toInt()); });
    connect(proxy_, &QAbstractItemModel::rowsInserted, this, &AuditPage::updateCount);
    connect(proxy_, &QAbstractItemModel::rowsRemoved, this, &AuditPage::updateCount);
    connect(proxy_, &QAbstractItemModel::modelReset, this, &AuditPage::updateCount);
    connect(proxy_, &QAbstractItemModel::layoutChanged, this, &AuditPage::updateCount);
    connect(refresh, &QPushButton::clicked, this, &AuditPage::reload);
    connect(&db_, &Database::auditLoaded, this, [this](const QList<AuditEntry>& entries, const QString& error) {
        model_->setEntries(entries);
        view_->resizeColumnsToContents();
        updateCount();
        if (!error.isEmpty())
            count_->setText(tr("Could not load the audit log: %1").arg(error));
    });
    // Account changes are audited: show them without a manual refresh.
    connect(&db_, &Database::changeFinished, this, [this](const ChangeResult& r) {
        if (r.ok)
            reload();
    });
    connect(&db_, &Database::registerFinished, this, [this](const ChangeResult& r) {
        if (r.ok)
            reload();
    });
    updateCount();
    setUpKeyboard(this);
}

void AuditPage::reload() { db_.loadAudit(); }

void AuditPage::updateCount()
{
    count_->setText(tr("%1 of %2 entries shown (the newest %3 are loaded).")
                        .arg(proxy_->rowCount())
                        .arg(model_->rowCount())
                        .arg(kAuditRowsShown));
}

} // namespace dlb::console
