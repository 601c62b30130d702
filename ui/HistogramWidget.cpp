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

    painter.setPen(pal.color(QPalette::Text));
    const QRectF labels(plot.left(), plot.bottom() + 3, plot.width(), fontMetrics().height() + 2);
    painter.drawText(labels, Qt::AlignLeft | Qt::AlignTop, numberText(m_min));
    painter.drawText(labels, Qt::AlignRight | Qt::AlignTop, numberText(m_max));
    if (m_min < 0 && m_max > 0) painter.drawText(labels, Qt::AlignHCenter | Qt::AlignTop, tr("dashed: 0"));
    painter.setPen(pal.color(QPalette::PlaceholderText));
    painter.drawText(
        plot.adjusted(4, 0, 0, 0), Qt::AlignLeft | Qt::AlignTop,
        m_logScale ? tr("peak %1 (log scale)").arg(countText(peak)) : tr("peak %1").arg(countText(peak)));
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
