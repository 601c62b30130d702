#include "Widgets.h"

#include <QApplication>
#include <QEvent>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QStyle>
#include <QTableView>
#include <QToolButton>
#include <QVBoxLayout>

namespace lms::ui {
namespace {

QColor blend(const QColor& a, const QColor& b, double t) {
    return QColor::fromRgbF(float(a.redF() * (1 - t) + b.redF() * t),
                            float(a.greenF() * (1 - t) + b.greenF() * t),
                            float(a.blueF() * (1 - t) + b.blueF() * t));
}

bool isDark(const QPalette& palette) {
    return palette.color(QPalette::Window).lightnessF() < 0.5;
}

}  // namespace

MessageBar::MessageBar(QWidget* parent) : QFrame(parent) {
    setFrameShape(QFrame::StyledPanel);
    setAutoFillBackground(true);
    auto* layout = new QHBoxLayout(this);
    layout->setContentsMargins(10, 6, 6, 6);
    m_icon = new QLabel(this);
    m_icon->setAlignment(Qt::AlignTop);
    auto* texts = new QVBoxLayout;
    texts->setSpacing(2);
    m_title = new QLabel(this);
    QFont bold = m_title->font();
    bold.setBold(true);
    m_title->setFont(bold);
    m_title->setWordWrap(true);
    m_title->setObjectName(QStringLiteral("messageTitle"));
    m_text = new QLabel(this);
    m_text->setWordWrap(true);
    m_text->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_text->setObjectName(QStringLiteral("messageText"));
    texts->addWidget(m_title);
    texts->addWidget(m_text);
    m_close = new QToolButton(this);
    m_close->setObjectName(QStringLiteral("messageCloseButton"));
    m_close->setAutoRaise(true);
    m_close->setIcon(style()->standardIcon(QStyle::SP_TitleBarCloseButton));
    m_close->setToolTip(tr("Dismiss"));
    layout->addWidget(m_icon);
    layout->addLayout(texts, 1);
    layout->addWidget(m_close, 0, Qt::AlignTop);
    connect(m_close, &QToolButton::clicked, this, [this] {
        hide();
        emit dismissed();
    });
    hide();
}

QString MessageBar::title() const {
    return m_title->text();
}
QString MessageBar::text() const {
    return m_text->text();
}

void MessageBar::showMessage(Kind kind, const QString& title, const QString& text) {
    m_kind = kind;
    m_title->setText(title);
    m_title->setVisible(!title.isEmpty());
    m_text->setText(text);
    m_text->setVisible(!text.isEmpty());
    QStyle::StandardPixmap icon = QStyle::SP_MessageBoxInformation;
    if (kind == Kind::Warning) icon = QStyle::SP_MessageBoxWarning;
    if (kind == Kind::Error) icon = QStyle::SP_MessageBoxCritical;
    if (kind == Kind::Positive) icon = QStyle::SP_DialogApplyButton;
    const int size = style()->pixelMetric(QStyle::PM_SmallIconSize) * 3 / 2;
    m_icon->setPixmap(style()->standardIcon(icon).pixmap(size, size, QIcon::Normal));
    applyColours();
    show();
}

void MessageBar::changeEvent(QEvent* event) {
    QFrame::changeEvent(event);
    if (event->type() == QEvent::PaletteChange || event->type() == QEvent::StyleChange) applyColours();
}

void MessageBar::applyColours() {
    const QPalette base = QApplication::palette(this);
    QColor tint(0x3d, 0xae, 0xe9);  // information: blue
    if (m_kind == Kind::Positive) tint = QColor(0x27, 0xae, 0x60);
    if (m_kind == Kind::Warning) tint = QColor(0xf6, 0x74, 0x00);
    if (m_kind == Kind::Error) tint = QColor(0xda, 0x44, 0x53);
    QPalette pal = base;
    const QColor window = base.color(QPalette::Window);
    pal.setColor(QPalette::Window, blend(window, tint, isDark(base) ? 0.28 : 0.18));
    pal.setColor(QPalette::WindowText, base.color(QPalette::WindowText));
    setPalette(pal);
}

void setUpRowTable(QTableView* view, int rowPadding) {
    view->setSelectionBehavior(QAbstractItemView::SelectRows);
    view->setAlternatingRowColors(true);
    view->setShowGrid(false);
    view->setWordWrap(false);
    view->verticalHeader()->hide();
    view->verticalHeader()->setSectionResizeMode(QHeaderView::Fixed);
    view->verticalHeader()->setDefaultSectionSize(view->fontMetrics().height() + rowPadding);
}

QWidget* makePlaceholder(const QString& text, QWidget* parent, const QString& objectName) {
    auto* label = new QLabel(text, parent);
    label->setObjectName(objectName);
    label->setAlignment(Qt::AlignCenter);
    label->setWordWrap(true);
    label->setMargin(24);
    label->setTextFormat(Qt::RichText);
    QPalette pal = label->palette();
    pal.setColor(QPalette::WindowText, pal.color(QPalette::PlaceholderText));
    label->setPalette(pal);
    return label;
}

QColor seriesColour(int index, const QPalette& palette) {
    // Evenly spaced hues starting from the highlight's, spread by the golden angle so that
    // neighbours differ even when there are many pieces.
    const int baseHue = std::max(0, palette.color(QPalette::Highlight).hslHue());
    const int hue = (baseHue + int(index * 137.508)) % 360;
    const bool dark = palette.color(QPalette::Base).lightnessF() < 0.5;
    return QColor::fromHsl(hue, dark ? 120 : 150, dark ? 90 : 200);
}

}  // namespace lms::ui
