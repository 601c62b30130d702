#pragma once
// What makes the window's tables readable at any size (1024x700, 200 % scaling, long layer names):
// columns the user can resize, initial widths that fit the contents without letting one column take
// the whole view, eliding in the middle with the full text in a tooltip, Copy of rows and names
// (Ctrl+C and the context menu), and widths remembered between sessions.

#include <QStyledItemDelegate>

class QAbstractItemView;
class QHeaderView;

namespace lms::ui {

// Shows the full text of a cell as its tooltip when the cell shows it elided (and the model gives
// no tooltip of its own).
class ElidingDelegate final : public QStyledItemDelegate {
    Q_OBJECT
public:
    using QStyledItemDelegate::QStyledItemDelegate;
    // The full display text when it does not fit `option.rect`; empty when it fits.
    QString elidedText(const QStyleOptionViewItem& option, const QModelIndex& index) const;
    bool helpEvent(QHelpEvent* event, QAbstractItemView* view, const QStyleOptionViewItem& option,
                   const QModelIndex& index) override;
};

// Applies all of the above to `view` (a table or tree view) and its `header`. `nameColumn` is the
// column "Copy name" copies. Widths are stored in QSettings under "columns/<settingsKey>"; without a
// stored state they are measured once, when the view is shown and its model has rows: each column
// fits its contents up to `maxFraction` of the view's width, the name column gets what the others
// leave (but at least that fraction when its contents need it), and the last column fills the rest.
void makeColumnsUsable(QAbstractItemView* view, QHeaderView* header, int nameColumn,
                       const QString& settingsKey, double maxFraction = 0.5);

// The selected rows as tab-separated text, one line per row in view order (every column's display
// text), or only `column` when it is >= 0.
QString selectedRowsText(const QAbstractItemView* view, int column = -1);

}  // namespace lms::ui
