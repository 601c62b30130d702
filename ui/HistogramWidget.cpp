#include "HistogramWidget.h"

#include "UiText.h"

#include <QHelpEvent>
#include <QPainter>
#include <QToolTip>
#include <algorithm>
#include <cmath>

namespace lms::ui {

HistogramWidget::HistogramWidget(QWidget* parent) : QWidget(parent) {
    setObjectName(QStringLiteral("histogram"));
    setMouseTracking(true);
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
    m_message = tr("Select a parameter to see the distribution of its values.");
}

QSize HistogramWidget::sizeHint() const {
    return {360, 160};
}
QSize HistogramWidget::minimumSizeHint() const {
    return {160, 90};
}

void HistogramWidget::setHistogram(std::vector<uint64_t> bins, double min, double max) {
    m_bins = std::move(bins);
    m_min = min;
    m_max = max;
    m_message.clear();
    update();
}

void HistogramWidget::setMessage(const QString& message) {
    m_bins.clear();
    m_message = message;
    update();
}

void HistogramWidget::setLogScale(bool logScale) {
    m_logScale = logScale;
    update();
}

QRectF HistogramWidget::plotRect() const {
    const int line = fontMetrics().height();
    return QRectF(rect()).adjusted(8, line / 2.0 + 2, -8, -(line + 6));
}

int HistogramWidget::binAt(QPointF position) const {
    const QRectF plot = plotRect();
    if (m_bins.empty() || !plot.contains(position)) return -1;
    const int bin = int((position.x() - plot.left()) / plot.width() * double(m_bins.size()));
    return std::clamp(bin, 0, int(m_bins.size()) - 1);
}

void HistogramWidget::paintEvent(QPaintEvent*) {
    QPainter painter(this);
    painter.setRenderHint(QPainter::Antialiasing, false);
    const QPalette& pal = palette();
    painter.fillRect(rect(), pal.color(QPalette::Base));
    painter.setPen(pal.color(QPalette::Mid));
    painter.drawRect(rect().adjusted(0, 0, -1, -1));
    if (m_bins.empty()) {
        painter.setPen(pal.color(QPalette::PlaceholderText));
        painter.drawText(rect().adjusted(12, 8, -12, -8), Qt::AlignCenter | Qt::TextWordWrap, m_message);
        return;
    }
    const QRectF plot = plotRect();
    const uint64_t peak = *std::max_element(m_bins.begin(), m_bins.end());
    auto height = [&](uint64_t count) {
        if (peak == 0 || count == 0) return 0.0;
        if (m_logScale) return std::log1p(double(count)) / std::log1p(double(peak));
        return double(count) / double(peak);
    };
    const double barWidth = plot.width() / double(m_bins.size());
    QColor fill = pal.color(QPalette::Highlight);
    QColor edge = fill.darker(130);
    painter.setPen(Qt::NoPen);
    for (size_t i = 0; i < m_bins.size(); ++i) {
        const double h = height(m_bins[i]) * plot.height();
        if (h <= 0) continue;
        QRectF bar(plot.left() + double(i) * barWidth, plot.bottom() - h, barWidth, h);
        painter.fillRect(bar.adjusted(0, 0, barWidth > 3 ? -1 : 0, 0), fill);
    }
    painter.setPen(edge);
    painter.drawLine(plot.bottomLeft(), plot.bottomRight());

    // Zero marker when the range spans it: a quick check of centring.
    if (m_min < 0 && m_max > 0) {
        const double x = plot.left() + (0 - m_min) / (m_max - m_min) * plot.width();
        QPen dashed(pal.color(QPalette::Text));
        dashed.setStyle(Qt::DashLine);
        painter.setPen(dashed);
        painter.drawLine(QPointF(x, plot.top()), QPointF(x, plot.bottom()));
    }

    drawLabels(painter, plot, peak);
}

std::vector<HistogramWidget::AxisLabel> HistogramWidget::axisLabels() const {
    // Only what fits: in a narrow pane the range becomes one elided line and the zero caption goes,
    // so labels never overlap (1600×1000 at 200 %).
    const QRectF plot = plotRect();
    const QFontMetricsF fm(font());
    const double top = plot.bottom() + 3, line = fm.height() + 2;
    const QString low = numberText(m_min), high = numberText(m_max), zero = tr("dashed: 0");
    const double gap = fm.horizontalAdvance(QStringLiteral("  "));
    const double lowWidth = fm.horizontalAdvance(low), highWidth = fm.horizontalAdvance(high);
    std::vector<AxisLabel> out;
    if (lowWidth + gap + highWidth > plot.width()) {
        const QString range =
            fm.elidedText(low + QStringLiteral(" … ") + high, Qt::ElideMiddle, plot.width());
        out.push_back({range, QRectF(plot.left(), top, fm.horizontalAdvance(range), line)});
        return out;
    }
    out.push_back({low, QRectF(plot.left(), top, lowWidth, line)});
    out.push_back({high, QRectF(plot.right() - highWidth, top, highWidth, line)});
    const double zeroWidth = fm.horizontalAdvance(zero), left = plot.center().x() - zeroWidth / 2;
    if (m_min < 0 && m_max > 0 && left >= plot.left() + lowWidth + gap &&
        left + zeroWidth <= plot.right() - highWidth - gap)
        out.push_back({zero, QRectF(left, top, zeroWidth, line)});
    return out;
}

void HistogramWidget::drawLabels(QPainter& painter, const QRectF& plot, uint64_t peak) const {
    const QPalette& pal = palette();
    painter.setPen(pal.color(QPalette::Text));
    for (const auto& label : axisLabels())
        painter.drawText(label.rect, Qt::AlignLeft | Qt::AlignTop, label.text);
    const QFontMetrics fm = fontMetrics();
    if (plot.height() < 2 * fm.height()) return;  // the caption would cover the bars
    painter.setPen(pal.color(QPalette::PlaceholderText));
    const QString caption =
        m_logScale ? tr("peak %1 (log scale)").arg(countText(peak)) : tr("peak %1").arg(countText(peak));
    painter.drawText(plot.adjusted(4, 0, 0, 0), Qt::AlignLeft | Qt::AlignTop,
                     fm.elidedText(caption, Qt::ElideRight, int(plot.width()) - 4));
}

bool HistogramWidget::event(QEvent* event) {
    if (event->type() == QEvent::ToolTip) {
        auto* help = static_cast<QHelpEvent*>(event);
        const int bin = binAt(help->pos());
        if (bin < 0) {
            QToolTip::hideText();
            event->ignore();
            return true;
        }
        const double width = (m_max - m_min) / double(m_bins.size());
        const double from = m_min + width * bin, to = m_min + width * (bin + 1);
        QToolTip::showText(
            help->globalPos(),
            tr("[%1, %2): %3 values").arg(numberText(from), numberText(to), countText(m_bins[size_t(bin)])),
            this);
        return true;
    }
    return QWidget::event(event);
}

}  // namespace lms::ui
