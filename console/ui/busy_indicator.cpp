#include "ui/busy_indicator.hpp"

#include "db/database.hpp"

namespace dlb::console {

BusyIndicator::BusyIndicator(Database& db, QWidget* parent) : QProgressBar(parent)
{
    setObjectName(QStringLiteral("busy"));
    setRange(0, 0); // indeterminate: the database gives no progress, only "working"
    setTextVisible(false);
    setMaximumHeight(8);
    setAccessibleName(tr("Working with the database"));
    setVisible(db.busy());
    connect(&db, &Database::busyChanged, this, &QWidget::setVisible);
}

} // namespace dlb::console
