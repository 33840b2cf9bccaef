#include "ui/page_widgets.hpp"

#include <QAbstractItemView>
#include <QComboBox>
#include <QHeaderView>
#include <QSignalBlocker>
#include <QTableView>

namespace dlb::console {

void setUpRowTable(QTableView* view, QAbstractItemModel* model)
{
    view->setModel(model);
    view->setSelectionBehavior(QAbstractItemView::SelectRows);
    view->setSelectionMode(QAbstractItemView::SingleSelection);
    view->setEditTriggers(QAbstractItemView::NoEditTriggers);
    view->setAlternatingRowColors(true);
    view->verticalHeader()->hide();
    view->horizontalHeader()->setStretchLastSection(true);
}

void refillPoolCombo(QComboBox* combo, const QStringList& names, const QString& current)
{
    const QSignalBlocker block(combo);
    combo->clear();
    combo->addItems(names);
    const int index = static_cast<int>(names.indexOf(current));
    combo->setCurrentIndex(index >= 0 ? index : (names.isEmpty() ? -1 : 0));
}

} // namespace dlb::console
