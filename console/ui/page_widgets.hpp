#pragma once

// Widget set-up that several console pages share, so that they look and behave alike.

#include <QString>
#include <QStringList>

#include <initializer_list>

class QAbstractItemModel;
class QComboBox;
class QTableView;
class QWidget;

namespace dlb::console {

// A read-only table of rows: one whole row selected at a time, no row numbers, last column stretched.
void setUpRowTable(QTableView* view, QAbstractItemModel* model);

// Replaces the combo's items by names without emitting its change signals; current stays chosen
// if still there, else the first name (none when names is empty).
void refillPoolCombo(QComboBox* combo, const QStringList& names, const QString& current);

// Keyboard use of a page or dialog, called at the end of its constructor: Tab leaves a table
// (arrows move inside it; Qt's default makes Tab walk the cells, a trap for the keyboard);
// charts and scroll areas take no focus (nothing to do there by keyboard; the controls inside a
// scroll area do, and it scrolls to them); the standard buttons of a button box get object
// names (ok, cancel, save), so tests and accessibility tools can tell them apart.
void setUpKeyboard(QWidget* root);
// Tab goes through `widgets` in this order (QWidget::setTabOrder for each pair).
void setTabChain(std::initializer_list<QWidget*> widgets);

} // namespace dlb::console
