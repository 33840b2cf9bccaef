#include "ui/page_widgets.hpp"

#include <QAbstractButton>
#include <QAbstractItemView>
#include <QChartView>
#include <QDialogButtonBox>
#include <QScrollArea>
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

void setUpKeyboard(QWidget* root)
{
    for (QAbstractItemView* v : root->findChildren<QAbstractItemView*>())
        v->setTabKeyNavigation(false);
    for (QChartView* c : root->findChildren<QChartView*>())
        c->setFocusPolicy(Qt::NoFocus);
    for (QScrollArea* a : root->findChildren<QScrollArea*>())
        a->setFocusPolicy(Qt::NoFocus);
    for (QDialogButtonBox* box : root->findChildren<QDialogButtonBox*>()) {
        for (QAbstractButton* b : box->buttons()) {
            if (!b->objectName().isEmpty())
                continue;
            switch (box->standardButton(b)) {
            case QDialogButtonBox::Ok:
                b->setObjectName(QStringLiteral("ok"));
                break;
            case QDialogButtonBox::Cancel:
                b->setObjectName(QStringLiteral("cancel"));
                break;
            case QDialogButtonBox::Save:
                b->setObjectName(QStringLiteral("save"));
                break;
            case QDialogButtonBox::Close:
                b->setObjectName(QStringLiteral("close"));
                break;
            default:
                break;
            }
        }
    }
}

void setTabChain(std::initializer_list<QWidget*> widgets)
{
    QWidget* before = nullptr;
    for (QWidget* w : widgets) {
        if (before)
            QWidget::setTabOrder(before, w);
        before = w;
    }
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
