#pragma once
// An indeterminate progress bar that shows while the database worker has work queued.

#include <QProgressBar>

namespace dlb::console {

class Database;

class BusyIndicator : public QProgressBar {
    Q_OBJECT
public:
    BusyIndicator(Database& db, QWidget* parent = nullptr);
};

} // namespace dlb::console
