#include "TableColumns.h"

#include <QAbstractItemView>
#include <QAction>
#include <QApplication>
#include <QClipboard>
#include <QHeaderView>
#include <QHelpEvent>
#include <QSettings>
#include <QToolTip>
#include <algorithm>

namespace lms::ui {
namespace {

QString settingsPath(const QString& key) { return QStringLiteral("columns/") + key; }

// Fits each column to its contents once, capped at maxFraction of the view, the last one stretched.
void fitColumns(QAbstractItemView* view, QHeaderView* header, double maxFraction) {
    const int cap = std::max(80, int(view->viewport()->width() * maxFraction));
    header->resizeSections(QHeaderView::ResizeToContents);
    for (int c = 0; c < header->count(); ++c)
        if (header->sectionSize(c) > cap) header->resizeSection(c, cap);
}

void addCopyActions(QAbstractItemView* view, int nameColumn) {
    auto* copyRows = new QAction(QObject::tr("&Copy"), view);
    copyRows->setObjectName(QStringLiteral("copyRowsAction"));
    copyRows->setShortcut(QKeySequence::Copy);
    copyRows->setShortcutContext(Qt::WidgetWithChildrenShortcut);
    QObject::connect(copyRows, &QAction::triggered, view,
                     [view] { QApplication::clipboard()->setText(selectedRowsText(view)); });
    auto* copyName = new QAction(QObject::tr("Copy &name"), view);
    copyName->setObjectName(QStringLiteral("copyNameAction"));
    QObject::connect(copyName, &QAction::triggered, view,
                     [view, nameColumn] { QApplication::clipboard()->setText(selectedRowsText(view, nameColumn)); });
    view->addAction(copyRows);
    view->addAction(copyName);
    view->setContextMenuPolicy(Qt::ActionsContextMenu);
}

}  // namespace

QString ElidingDelegate::elidedText(const QStyleOptionViewItem& option, const QModelIndex& index) const {
    QStyleOptionViewItem opt = option;
    initStyleOption(&opt, index);
    const QString text = index.data(Qt::DisplayRole).toString();
    if (text.isEmpty()) return {};
    const QWidget* widget = opt.widget;
    const QStyle* style = widget ? widget->style() : QApplication::style();
    const QRect textRect = style->subElementRect(QStyle::SE_ItemViewItemText, &opt, widget);
    const int margin = style->pixelMetric(QStyle::PM_FocusFrameHMargin, nullptr, widget) + 1;
    return opt.fontMetrics.horizontalAdvance(text) > textRect.width() - 2 * margin ? text : QString();
}

bool ElidingDelegate::helpEvent(QHelpEvent* event, QAbstractItemView* view, const QStyleOptionViewItem& option,
                                const QModelIndex& index) {
    if (event->type() != QEvent::ToolTip || index.data(Qt::ToolTipRole).isValid())
        return QStyledItemDelegate::helpEvent(event, view, option, index);
    const QString full = elidedText(option, index);
    if (full.isEmpty()) QToolTip::hideText();
    else QToolTip::showText(event->globalPos(), full, view);
    return true;
}

QString selectedRowsText(const QAbstractItemView* view, int column) {
    if (!view->selectionModel() || !view->model()) return {};
    QModelIndexList rows = view->selectionModel()->selectedRows();
    // In the order the user sees them (a sorted proxy or an expanded tree), not the selection's order.
    std::stable_sort(rows.begin(), rows.end(), [view](const QModelIndex& a, const QModelIndex& b) {
        return view->visualRect(a).top() < view->visualRect(b).top();
    });
    QStringList lines;
    for (const auto& row : rows) {
        QStringList cells;
        const int columns = view->model()->columnCount(row.parent());
        for (int c = column >= 0 ? column : 0; c < (column >= 0 ? column + 1 : columns); ++c)
            cells << row.siblingAtColumn(c).data(Qt::DisplayRole).toString();
        lines << cells.join(QLatin1Char('\t'));
    }
    return lines.join(QLatin1Char('\n'));
}

void makeColumnsUsable(QAbstractItemView* view, QHeaderView* header, int nameColumn, const QString& settingsKey,
                       double maxFraction) {
    view->setTextElideMode(Qt::ElideMiddle);  // long layer paths keep their start and their end
    view->setItemDelegate(new ElidingDelegate(view));
    header->setSectionResizeMode(QHeaderView::Interactive);
    header->setStretchLastSection(true);
    header->setMinimumSectionSize(header->fontMetrics().horizontalAdvance(QStringLiteral("M")) * 3);
    addCopyActions(view, nameColumn);
    const QByteArray saved = QSettings().value(settingsPath(settingsKey)).toByteArray();
    auto fitted = std::make_shared<bool>(false);
    auto fitOnce = [view, header, maxFraction, saved, fitted] {
        if (*fitted || !view->model() || view->model()->rowCount() == 0) return;
        *fitted = true;
        if (saved.isEmpty() || !header->restoreState(saved)) fitColumns(view, header, maxFraction);
        header->setSectionResizeMode(QHeaderView::Interactive);  // a stored state must not bring back other modes
    };
    if (view->model()) {
        QObject::connect(view->model(), &QAbstractItemModel::modelReset, view, fitOnce);
        QObject::connect(view->model(), &QAbstractItemModel::rowsInserted, view, fitOnce);
        QObject::connect(view->model(), &QAbstractItemModel::layoutChanged, view, fitOnce);
    }
    QObject::connect(header, &QHeaderView::sectionResized, view, [header, settingsKey, fitted] {
        if (*fitted) QSettings().setValue(settingsPath(settingsKey), header->saveState());
    });
    fitOnce();
}

}  // namespace lms::ui
