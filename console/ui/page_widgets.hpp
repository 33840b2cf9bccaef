#pragma once

// Widget set-up that several console pages share, so that they look and behave alike.

#include <QString>
#include <QStringList>

class QAbstractItemModel;
class QComboBox;
class QTableView;

namespace dlb::console {

// A read-only table of rows: one whole row selected at a time, no row numbers, last column stretched.
void setUpRowTable(QTableView* view, QAbstractItemModel* model);

// Replaces the combo's items by names without emitting its change signals; current stays chosen
// if still there, else the first name (none when names is empty).
void refillPoolCombo(QComboBox* combo, const QStringList& names, const QString& current);

} // namespace dlb::console
