#pragma once
// Small shared widgets: an in-window message bar (errors in words, without a modal box) and
// the placeholder pages that tell a first-time user what to do.

#include <QFrame>

class QLabel;
class QToolButton;

class QTableView;

namespace lms::ui {

class MessageBar final : public QFrame {
    Q_OBJECT
public:
    enum class Kind { Information, Positive, Warning, Error };
    explicit MessageBar(QWidget* parent = nullptr);
    // Shows `text` under a bold `title` (plain text, both optional).
    void showMessage(Kind kind, const QString& title, const QString& text);
    Kind kind() const { return m_kind; }
    QString title() const;
    QString text() const;

signals:
    void dismissed();

protected:
    void changeEvent(QEvent* event) override;

private:
    void applyColours();

    Kind m_kind = Kind::Information;
    QLabel* m_icon;
    QLabel* m_title;
    QLabel* m_text;
    QToolButton* m_close;
};

// A centred, word-wrapped hint in the placeholder colour.
QWidget* makePlaceholder(const QString& text, QWidget* parent, const QString& objectName);

// The look every row table of the window shares: whole-row selection, alternating rows, no grid,
// no word wrap, no row numbers and fixed rows of the font's height plus `rowPadding` pixels.
void setUpRowTable(QTableView* view, int rowPadding);

// A colour for slice / series number `index` that reads well on the palette's base colour.
QColor seriesColour(int index, const QPalette& palette);

}  // namespace lms::ui
