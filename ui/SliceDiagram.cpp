#include "SliceDiagram.h"

#include "UiText.h"
#include "Widgets.h"

#include <QPainter>
#include <QPainterPath>
#include <algorithm>
#include <map>

namespace lms::ui {

QString ranksLabel(const std::vector<int64_t>& ranks) {
    if (ranks.empty()) return SliceDiagram::tr("no rank");
    if (ranks.size() == 1) return SliceDiagram::tr("rank %1").arg(ranks.front());
    bool consecutive = true;
    for (size_t i = 1; i < ranks.size(); ++i) consecutive = consecutive && ranks[i] == ranks[i - 1] + 1;
    if (consecutive && ranks.size() > 2)
        return SliceDiagram::tr("ranks %1–%2").arg(ranks.front()).arg(ranks.back());
    QStringList parts;
    for (size_t i = 0; i < ranks.size() && i < 6; ++i) parts << QString::number(ranks[i]);
    if (ranks.size() > 6) parts << QStringLiteral("…");
    return SliceDiagram::tr("ranks %1").arg(parts.join(QStringLiteral(", ")));
}

SliceDiagram::SliceDiagram(QWidget* parent) : QWidget(parent) {
    setObjectName(QStringLiteral("sliceDiagram"));
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
    m_message = tr("Select a parameter to see how its tensor is cut across ranks.");
}

QSize SliceDiagram::sizeHint() const {
    return {480, 260};
}
QSize SliceDiagram::minimumSizeHint() const {
    // Small enough for two drawings side by side in the centre of an 800×500 (200 %) screen.
    return {100, 90};
}

void SliceDiagram::setSlices(const QString& name, std::vector<int64_t> fullShape,
                             std::vector<SlicePiece> pieces, QStringList labels) {
    m_name = name;
    m_labels = std::move(labels);
    m_shape = std::move(fullShape);
    m_pieces = std::move(pieces);
    m_message.clear();
    update();
}

void SliceDiagram::setCaption(const QString& caption) {
    m_caption = caption;
    update();
}

void SliceDiagram::setMessage(const QString& message) {
    m_pieces.clear();
    m_labels.clear();
    m_shape.clear();
    m_message = message;
    update();
}

namespace {

// One drawn rectangle: the pieces that project onto it, their ranks and colour.
struct Cell {
    QRectF rect;
    QStringList labels;
    QString boxText;
    int colour = 0;
};
using Cells = std::map<std::pair<std::pair<double, double>, std::pair<double, double>>, Cell>;

// Projects every piece onto the drawn dimensions (dim 0 down, dim 1 across) inside `frame`.
Cells collectCells(const std::vector<SlicePiece>& pieces, const QStringList& labels, size_t ndim,
                   int64_t rows, int64_t cols, const QRectF& frame) {
    auto span = [&](const Box& box, size_t d, int64_t extent) -> std::pair<double, double> {
        if (d >= ndim) return {0.0, 1.0};
        return {double(box.begin[d]) / double(extent), double(box.end[d]) / double(extent)};
    };
    Cells cells;
    int colour = 0;
    for (size_t i = 0; i < pieces.size(); ++i) {
        const SlicePiece& piece = pieces[i];
        const auto [r0, r1] = ndim >= 2 ? span(piece.box, 0, rows) : std::pair(0.0, 1.0);
        const auto [c0, c1] = ndim >= 2   ? span(piece.box, 1, cols)
                              : ndim == 1 ? span(piece.box, 0, cols)
                                          : std::pair(0.0, 1.0);
        auto key = std::make_pair(std::make_pair(r0, r1), std::make_pair(c0, c1));
        auto [it, inserted] = cells.try_emplace(key);
        Cell& cell = it->second;
        if (inserted) {
            cell.rect = QRectF(frame.left() + c0 * frame.width(), frame.top() + r0 * frame.height(),
                               (c1 - c0) * frame.width(), (r1 - r0) * frame.height());
            cell.colour = colour++;
            cell.boxText = qs(piece.box.text());
        } else {
            cell.boxText =
                SliceDiagram::tr("%1 parts along the other dimensions").arg(cell.labels.size() + 1);
        }
        cell.labels << (qsizetype(i) < labels.size() ? labels[qsizetype(i)] : ranksLabel(piece.ranks));
    }
    return cells;
}

// Fills each cell with its colour and writes its ranks (and box, when two lines fit).
void drawCells(QPainter& painter, const Cells& cells, const QPalette& pal, const QFont& font, int line) {
    const QFontMetrics fm(font);
    for (const auto& [key, cell] : cells) {
        QColor fill = seriesColour(cell.colour, pal);
        painter.setPen(QPen(pal.color(QPalette::Text), 1));
        painter.setBrush(fill);
        painter.drawRect(cell.rect.adjusted(0.5, 0.5, -0.5, -0.5));
        const QRectF inner = cell.rect.adjusted(4, 2, -4, -2);
        if (inner.width() < 24 || inner.height() < line) continue;
        const QString ranks = cell.labels.join(QStringLiteral(" | "));
        const bool twoLines = inner.height() >= 2 * line + 2;
        painter.setPen(pal.color(QPalette::Text));
        QFont labelFont = font;
        labelFont.setBold(true);
        painter.setFont(labelFont);
        const QFontMetrics lfm(labelFont);
        const QRectF first =
            twoLines ? QRectF(inner.left(), inner.center().y() - line, inner.width(), line) : inner;
        // In the middle: file labels (rank_3/checkpoint_3.ckpt) differ at both ends.
        painter.drawText(first, Qt::AlignCenter, lfm.elidedText(ranks, Qt::ElideMiddle, int(inner.width())));
        painter.setFont(font);
        if (twoLines)
            painter.drawText(QRectF(inner.left(), inner.center().y(), inner.width(), line), Qt::AlignCenter,
                             fm.elidedText(cell.boxText, Qt::ElideRight, int(inner.width())));
    }
}

// The legend in `box`: a swatch and "ranks: box" per cell, in the order the slices were met.
void drawLegend(QPainter& painter, const Cells& cells, const QRectF& box, const QPalette& pal,
                const QFontMetrics& fm) {
    const double left = box.left(), legendWidth = box.width();
    const int line = fm.height();
    double y = box.top();
    const int swatch = line - 4;
    std::vector<std::pair<int, const Cell*>> ordered;  // in the order the slices were met
    for (const auto& [key, cell] : cells) ordered.emplace_back(cell.colour, &cell);
    std::sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& [index, cell] : ordered) {
        if (y + line > box.bottom()) {
            painter.setPen(pal.color(QPalette::PlaceholderText));
            painter.drawText(QPointF(left, y + fm.ascent()), SliceDiagram::tr("…"));
            break;
        }
        painter.setPen(QPen(pal.color(QPalette::Text), 1));
        painter.setBrush(seriesColour(index, pal));
        painter.drawRect(QRectF(left, y + 2, swatch, swatch));
        painter.setBrush(Qt::NoBrush);
        const QString text = cell->labels.join(QStringLiteral(" | ")) + QStringLiteral(": ") + cell->boxText;
        painter.drawText(QRectF(left + swatch + 6, y, legendWidth - swatch - 18, line),
                         Qt::AlignLeft | Qt::AlignVCenter,
                         fm.elidedText(text, Qt::ElideRight, int(legendWidth - swatch - 18)));
        y += line + 2;
    }
}

}  // namespace

void SliceDiagram::paintEvent(QPaintEvent*) {
    QPainter painter(this);
    painter.setRenderHint(QPainter::Antialiasing, true);
    const QPalette& pal = palette();
    painter.fillRect(rect(), pal.color(QPalette::Base));
    const QFontMetrics fm = fontMetrics();
    if (m_pieces.empty()) {
        painter.setPen(pal.color(QPalette::PlaceholderText));
        painter.drawText(rect().adjusted(16, 8, -16, -8), Qt::AlignCenter | Qt::TextWordWrap, m_message);
        return;
    }

    const int line = fm.height();
    // Title: the parameter, its shape and how it is cut.
    QRect titleRect = rect().adjusted(10, 6, -10, 0);
    titleRect.setHeight(line);
    QFont bold = font();
    bold.setBold(true);
    painter.setFont(bold);
    painter.setPen(pal.color(QPalette::Text));
    const QString title = m_name + QStringLiteral("  ") + shapeText(m_shape);
    painter.drawText(titleRect, Qt::AlignLeft | Qt::AlignVCenter,
                     QFontMetrics(bold).elidedText(title, Qt::ElideMiddle, titleRect.width()));
    painter.setFont(font());
    QString subtitle =
        m_pieces.size() == 1
            ? tr("Not split: every rank listed holds the whole tensor")
            : tr("%1 slices of %2").arg(m_pieces.size()).arg(shapeText(m_pieces.front().box.shape()));
    if (!m_caption.isEmpty()) subtitle = m_caption + QStringLiteral(" — ") + subtitle;
    painter.setPen(pal.color(QPalette::PlaceholderText));
    painter.drawText(titleRect.translated(0, line + 2), Qt::AlignLeft | Qt::AlignVCenter,
                     fm.elidedText(subtitle, Qt::ElideRight, titleRect.width()));

    // Which two dimensions are drawn: dim 0 down and dim 1 across; a vector is one row.
    const size_t ndim = m_shape.size();
    const int64_t rows = ndim >= 2 ? std::max<int64_t>(1, m_shape[0]) : 1;
    const int64_t cols = ndim >= 2   ? std::max<int64_t>(1, m_shape[1])
                         : ndim == 1 ? std::max<int64_t>(1, m_shape[0])
                                     : 1;
    // A legend on the right lists every slice with its ranks, when there is room for it.
    const bool legend = width() >= 420 && m_pieces.size() <= 64;
    const double legendWidth = legend ? std::min(300.0, width() * 0.42) : 0.0;
    const QRectF area =
        QRectF(rect()).adjusted(12 + line * 1.6, 2 * line + 18 + line * 1.4, -12 - legendWidth, -10);
    if (area.width() < 20 || area.height() < 20) return;
    // Keep the true aspect ratio within 1:3 … 3:1 so thin tensors remain readable.
    double aspect = double(cols) / double(rows);
    if (ndim == 1) aspect = 12;
    aspect = std::clamp(aspect, ndim == 1 ? 6.0 : 1.0 / 3.0, ndim == 1 ? 40.0 : 3.0);
    double w = area.width(), h = w / aspect;
    if (h > area.height()) {
        h = area.height();
        w = h * aspect;
    }
    if (ndim == 1) h = std::min(h, double(line) * 4);
    const QRectF frame(area.left(), area.top(), w, h);

    // Axis captions.
    painter.setPen(pal.color(QPalette::Text));
    const QString across = ndim >= 2   ? tr("dim 1: %1").arg(m_shape[1])
                           : ndim == 1 ? tr("dim 0: %1").arg(m_shape[0])
                                       : QString();
    // A narrow frame (a tall tensor) would clip the caption: then it starts at the frame's left edge.
    const double acrossWidth = fm.horizontalAdvance(across) + 4;
    painter.drawText(QRectF(frame.left(), frame.top() - line - 4, std::max(frame.width(), acrossWidth), line),
                     (acrossWidth > frame.width() ? Qt::AlignLeft : Qt::AlignHCenter) | Qt::AlignBottom,
                     across);
    if (ndim >= 2) {
        painter.save();
        painter.translate(frame.left() - 6, frame.center().y());
        painter.rotate(-90);
        painter.drawText(QRectF(-frame.height() / 2, -line, frame.height(), line), Qt::AlignCenter,
                         tr("dim 0: %1").arg(m_shape[0]));
        painter.restore();
    }

    // Pieces projected onto the drawn dimensions; pieces sharing a rectangle are listed together.
    const Cells cells = collectCells(m_pieces, m_labels, ndim, rows, cols, frame);
    drawCells(painter, cells, pal, font(), line);
    painter.setBrush(Qt::NoBrush);
    painter.setPen(QPen(pal.color(QPalette::Text), 2));
    painter.drawRect(frame.adjusted(0.5, 0.5, -0.5, -0.5));

    if (!legend) return;
    drawLegend(
        painter, cells,
        QRectF(std::min(std::max(frame.right(), frame.left() + acrossWidth) + 28, width() - legendWidth),
               area.top() - line - 4, legendWidth, height() - 6 - (area.top() - line - 4)),
        pal, fm);
}

}  // namespace lms::ui
