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

QString settingsPath(const QString& key) {
    return QStringLiteral("columns/") + key;
}

// Fits the columns to their contents, each capped at maxFraction of the view. The name column then gets
// what the others leave, but at least maxFraction of the view when its contents need it (the others
// scroll into view then): names are what people read, sizes and types can wait.
void fitColumns(QAbstractItemView* view, QHeaderView* header, int nameColumn, double maxFraction) {
    const int available = view->viewport()->width();
    const int cap = std::max(80, int(available * maxFraction));
    header->resizeSections(QHeaderView::ResizeToContents);
    int others = 0;
    for (int c = 0; c < header->count(); ++c) {
        if (header->sectionSize(c) > cap) header->resizeSection(c, cap);
        if (c != nameColumn && !header->isSectionHidden(c)) others += header->sectionSize(c);
    }
    if (nameColumn < 0 || nameColumn >= header->count()) return;
    const int wanted = header->sectionSize(nameColumn);
    header->resizeSection(nameColumn, std::min(wanted, std::max(available - others, cap)));
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
    QObject::connect(copyName, &QAction::triggered, view, [view, nameColumn] {
        QApplication::clipboard()->setText(selectedRowsText(view, nameColumn));
    });
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

bool ElidingDelegate::helpEvent(QHelpEvent* event, QAbstractItemView* view,
                                const QStyleOptionViewItem& option, const QModelIndex& index) {
    if (event->type() != QEvent::ToolTip || index.data(Qt::ToolTipRole).isValid())
        return QStyledItemDelegate::helpEvent(event, view, option, index);
    const QString full = elidedText(option, index);
    if (full.isEmpty())
        QToolTip::hideText();
    else
        QToolTip::showText(event->globalPos(), full, view);
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

namespace {

// Measures the columns once, when the view is on screen with its real width and the model has rows
// (measuring a hidden view would cap every column at the width of a widget never laid out).
class ColumnFitter final : public QObject {
public:
    ColumnFitter(QAbstractItemView* view, QHeaderView* header, int nameColumn, QString key,
                 double maxFraction)
        : QObject(view),
          m_view(view),
          m_header(header),
          m_nameColumn(nameColumn),
          m_key(std::move(key)),
          m_maxFraction(maxFraction) {
        m_saved = QSettings().value(settingsPath(m_key)).toByteArray();
        view->installEventFilter(this);
        if (auto* model = view->model()) {
            connect(model, &QAbstractItemModel::modelReset, this, &ColumnFitter::tryFit);
            connect(model, &QAbstractItemModel::rowsInserted, this, &ColumnFitter::tryFit);
            connect(model, &QAbstractItemModel::layoutChanged, this, &ColumnFitter::tryFit);
        }
        connect(header, &QHeaderView::sectionResized, this, [this] {
            if (m_fitted) QSettings().setValue(settingsPath(m_key), m_header->saveState());
        });
        // A stored state applies at once: it does not depend on the contents.
        if (!m_saved.isEmpty() && header->count() > 0 && header->restoreState(m_saved)) finish();
        tryFit();
    }

protected:
    bool eventFilter(QObject* watched, QEvent* event) override {
        if (watched == m_view && (event->type() == QEvent::Show || event->type() == QEvent::Resize)) tryFit();
        return false;
    }

private:
    void tryFit() {
        if (m_fitted || !m_view->isVisible() || !m_view->model() || m_view->model()->rowCount() == 0) return;
        if (m_saved.isEmpty() || !m_header->restoreState(m_saved))
            fitColumns(m_view, m_header, m_nameColumn, m_maxFraction);
        finish();
    }
    void finish() {
        m_fitted = true;
        m_header->setSectionResizeMode(
            QHeaderView::Interactive);  // a stored state must not bring back other modes
    }

    QAbstractItemView* m_view;
    QHeaderView* m_header;
    int m_nameColumn;
    QString m_key;
    double m_maxFraction;
    QByteArray m_saved;
    bool m_fitted = false;
};

}  // namespace

void makeColumnsUsable(QAbstractItemView* view, QHeaderView* header, int nameColumn,
                       const QString& settingsKey, double maxFraction) {
    view->setTextElideMode(Qt::ElideMiddle);  // long layer paths keep their start and their end
    view->setItemDelegate(new ElidingDelegate(view));
    header->setSectionResizeMode(QHeaderView::Interactive);
    header->setStretchLastSection(true);
    header->setMinimumSectionSize(header->fontMetrics().horizontalAdvance(QStringLiteral("M")) * 3);
    addCopyActions(view, nameColumn);
    new ColumnFitter(view, header, nameColumn, settingsKey, maxFraction);
}

}  // namespace lms::ui
