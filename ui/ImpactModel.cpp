#include "ImpactModel.h"

#include "UiText.h"

#include <QHelpEvent>
#include <QPainter>
#include <QToolTip>
#include <algorithm>
#include <cmath>

namespace lms::ui {

QString relativeText(double relative) {
    if (std::isinf(relative)) return QStringLiteral("∞");
    if (std::isnan(relative)) return QStringLiteral("NaN");
    const double percent = relative * 100.0;
    if (percent == 0) return QStringLiteral("0 %");
    // Three significant digits: 12.3 %, 0.0456 %, 1.23e-05 %.
    if (percent < 1e-3) return QString::number(percent, 'e', 2) + QStringLiteral(" %");
    return QString::number(percent, 'g', 3) + QStringLiteral(" %");
}

ImpactModel::ImpactModel(QObject* parent) : QAbstractTableModel(parent) {}

void ImpactModel::setReport(ImpactReport report) {
    beginResetModel();
    m_report = std::move(report);
    endResetModel();
}

void ImpactModel::clear() {
    setReport({});
}

int ImpactModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : int(m_report.pairs.size());
}

int ImpactModel::columnCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant ImpactModel::sortValue(const PairImpact& p, int column) const {
    switch (column) {
        case BaseColumn:
            return qs(p.base);
        case LayerColumn:
            return p.layer;
        case ShapeColumn:
            return double(p.elements);
        case RankColumn:
            return qlonglong(p.rank);
        case ScalingColumn:
            return p.scaling;
        case RelativeColumn:
            return p.relativeNorm;
        case NumericalRankColumn:
            return qlonglong(p.numericalRank);
        case EntropyRankColumn:
            return p.entropyRank;
        case UnchangedColumn:
            return p.unchangedFraction();
        default:
            return {};
    }
}

QVariant ImpactModel::displayValue(const PairImpact& p, int column) const {
    switch (column) {
        case BaseColumn:
            return qs(p.base);
        case LayerColumn:
            return p.layer < 0 ? QStringLiteral("–") : QString::number(p.layer);
        case ShapeColumn:
            return shapeText(p.baseDims) + QLatin1Char(' ') + qs(p.baseType) +
                   (p.transposed ? tr(" (stored [in, out])") : QString());
        case RankColumn:
            return QString::number(p.rank);
        case ScalingColumn:
            return numberText(p.scaling);
        case RelativeColumn:
            return relativeText(p.relativeNorm);
        case NumericalRankColumn:
            return QString::number(p.numericalRank);
        case EntropyRankColumn:
            return QString::number(p.entropyRank, 'f', 2);
        case UnchangedColumn:
            return QString::number(p.unchangedFraction() * 100.0, 'f', 2) + QStringLiteral(" %");
        default:
            return {};
    }
}

QVariant ImpactModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.row() >= rowCount() || index.column() >= ColumnCount) return {};
    const PairImpact& p = m_report.pairs[size_t(index.row())];
    if (role == Qt::DisplayRole) return displayValue(p, index.column());
    if (role == SortRole) return sortValue(p, index.column());
    if (role == Qt::TextAlignmentRole && index.column() != BaseColumn && index.column() != ShapeColumn)
        return QVariant(Qt::AlignRight | Qt::AlignVCenter);
    if (role == Qt::ToolTipRole) {
        if (index.column() == UnchangedColumn)
            return tr("%1 of %2 elements keep their stored bits after W + s·B·A is rounded to %3")
                .arg(countText(p.unchanged), countText(p.elements), qs(p.baseType));
        if (index.column() == RelativeColumn)
            return tr("‖s·B·A‖ = %1, ‖W‖ = %2").arg(numberText(p.deltaNorm), numberText(p.baseNorm));
        if (index.column() == NumericalRankColumn || index.column() == EntropyRankColumn) {
            QStringList values;
            for (size_t i = 0; i < p.singularValues.size() && i < 16; ++i)
                values << numberText(p.singularValues[i]);
            return tr("Singular values of B·A: %1").arg(values.join(QStringLiteral(", ")));
        }
    }
    return {};
}

QVariant ImpactModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || section < 0 || section >= ColumnCount) return {};
    if (role == Qt::DisplayRole) {
        static const char* const names[] = {"Base weight",    "‖s·B·A‖ / ‖W‖", "Unchanged",
                                            "Numerical rank", "Entropy rank",  "r",
                                            "Scaling",        "Layer",         "Shape"};
        return tr(names[section]);
    }
    if (role == Qt::ToolTipRole) {
        switch (section) {
            case RelativeColumn:
                return tr("Frobenius norm of the LoRA update relative to the base weight");
            case NumericalRankColumn:
                return tr("Singular values of B·A above %1 × the largest")
                    .arg(numberText(m_report.rankTolerance));
            case EntropyRankColumn:
                return tr(
                    "exp(entropy of the normalised singular values of B·A): r when all are equal, "
                    "near 1 when one direction dominates");
            case UnchangedColumn:
                return tr("Elements of W the merge leaves bit-identical after rounding to its dtype");
            default:
                return {};
        }
    }
    return {};
}

ImpactChart::ImpactChart(QWidget* parent) : QWidget(parent) {
    setObjectName(QStringLiteral("impactChart"));
    setMouseTracking(true);
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
}

QSize ImpactChart::sizeHint() const {
    return {360, 150};
}
QSize ImpactChart::minimumSizeHint() const {
    return {160, 80};
}

void ImpactChart::setLayers(std::vector<LayerImpact> layers) {
    m_layers = std::move(layers);
    update();
}

QRect ImpactChart::plotRect() const {
    const int line = fontMetrics().height();
    return rect().adjusted(8, line + 4, -8, -(line + 6));
}

int ImpactChart::barAt(QPoint pos) const {
    const QRect plot = plotRect();
    if (m_layers.empty() || !plot.contains(pos)) return -1;
    return std::clamp(int(double(pos.x() - plot.left()) / plot.width() * double(m_layers.size())), 0,
                      int(m_layers.size()) - 1);
}

void ImpactChart::paintEvent(QPaintEvent*) {
    QPainter painter(this);
    const QPalette& pal = palette();
    painter.fillRect(rect(), pal.color(QPalette::Base));
    painter.setPen(pal.color(QPalette::Mid));
    painter.drawRect(rect().adjusted(0, 0, -1, -1));
    if (m_layers.empty()) {
        painter.setPen(pal.color(QPalette::PlaceholderText));
        painter.drawText(rect().adjusted(12, 8, -12, -8), Qt::AlignCenter | Qt::TextWordWrap,
                         tr("‖s·B·A‖ / ‖W‖ by layer appears here after the analysis."));
        return;
    }
    const QRect plot = plotRect();
    double peak = 0;
    for (const auto& l : m_layers)
        if (std::isfinite(l.relativeNorm)) peak = std::max(peak, l.relativeNorm);
    const double barWidth = double(plot.width()) / double(m_layers.size());
    const QColor fill = pal.color(QPalette::Highlight);
    for (size_t i = 0; i < m_layers.size(); ++i) {
        const double v = m_layers[i].relativeNorm;
        const double h = std::isinf(v) ? plot.height() : (peak > 0 ? v / peak * plot.height() : 0);
        const QRectF bar(plot.left() + double(i) * barWidth, plot.bottom() - h, barWidth, h);
        painter.fillRect(bar.adjusted(barWidth > 4 ? 1 : 0, 0, barWidth > 4 ? -1 : 0, 0), fill);
    }
    painter.setPen(pal.color(QPalette::Text));
    painter.drawLine(plot.bottomLeft(), plot.bottomRight());
    // Layer labels: as many as fit without overlapping.
    const int labelWidth = fontMetrics().horizontalAdvance(QStringLiteral("000")) + 6;
    const int every = std::max(1, int(std::ceil(labelWidth / std::max(1.0, barWidth))));
    for (size_t i = 0; i < m_layers.size(); i += size_t(every)) {
        const QString label = m_layers[i].layer < 0 ? tr("other") : QString::number(m_layers[i].layer);
        const QRectF cell(plot.left() + double(i) * barWidth - labelWidth, plot.bottom() + 2,
                          barWidth + 2 * labelWidth, fontMetrics().height() + 2);
        painter.drawText(cell, Qt::AlignHCenter | Qt::AlignTop, label);
    }
    painter.setPen(pal.color(QPalette::PlaceholderText));
    painter.drawText(rect().adjusted(8, 2, -8, 0), Qt::AlignLeft | Qt::AlignTop,
                     tr("‖s·B·A‖ / ‖W‖ by layer, peak %1").arg(relativeText(peak)));
}

bool ImpactChart::event(QEvent* event) {
    if (event->type() == QEvent::ToolTip) {
        auto* help = static_cast<QHelpEvent*>(event);
        const int bar = barAt(help->pos());
        if (bar < 0) {
            QToolTip::hideText();
            event->ignore();
            return true;
        }
        const auto& l = m_layers[size_t(bar)];
        QToolTip::showText(help->globalPos(),
                           tr("%1: %2 over %n pair(s)", nullptr, int(l.pairs))
                               .arg(l.layer < 0 ? tr("no layer number") : tr("layer %1").arg(l.layer),
                                    relativeText(l.relativeNorm)),
                           this);
        return true;
    }
    return QWidget::event(event);
}

}  // namespace lms::ui
