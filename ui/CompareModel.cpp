#include "CompareModel.h"

#include "UiText.h"

#include <cmath>

namespace lms::ui {

namespace {
QString pairText(const QString& a, const QString& b) {
    if (a.isEmpty()) return b;
    if (b.isEmpty() || a == b) return a;
    return a + QStringLiteral(" → ") + b;
}
}  // namespace

CompareModel::CompareModel(QObject* parent) : QAbstractTableModel(parent) {}

void CompareModel::setReport(DiffReport report) {
    beginResetModel();
    m_report = std::move(report);
    endResetModel();
}

void CompareModel::clear() {
    setReport({});
}

int CompareModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : int(m_report.tensors.size());
}

int CompareModel::columnCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant CompareModel::displayValue(const TensorDiff& d, int column) const {
    const bool compared = d.status == DiffStatus::Identical || d.status == DiffStatus::Changed;
    switch (column) {
        case NameColumn:
            return qs(d.name);
        case StatusColumn:
            return qs(std::string_view(diffStatusName(d.status)));
        case TypeColumn:
            return pairText(qs(d.typeA), qs(d.typeB));
        case ShapeColumn:
            return pairText(d.typeA.empty() ? QString() : shapeText(d.dimsA),
                            d.typeB.empty() ? QString() : shapeText(d.dimsB));
        case ChangedColumn:
            return compared ? tr("%1 of %2").arg(countText(d.changed), countText(d.elements))
                            : QStringLiteral("–");
        case MaxAbsColumn:
            return compared && d.floating ? numberText(d.maxAbsDiff) : QStringLiteral("–");
        case RelativeColumn:
            return compared && d.floating ? numberText(d.relativeNorm) : QStringLiteral("–");
        case CosineColumn:
            return compared && d.floating ? QString::number(d.cosine, 'f', 6) : QStringLiteral("–");
        default:
            return {};
    }
}

QVariant CompareModel::sortValue(const TensorDiff& d, int column) const {
    switch (column) {
        case ChangedColumn:
            return qulonglong(d.changed);
        case MaxAbsColumn:
            return d.floating ? d.maxAbsDiff : -1.0;
        case RelativeColumn:
            return d.floating ? d.relativeNorm : -1.0;
        case CosineColumn:
            return d.floating ? d.cosine : 2.0;
        case StatusColumn:
            return int(d.status);
        default:
            return displayValue(d, column);
    }
}

QVariant CompareModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.row() >= rowCount() || index.column() >= ColumnCount) return {};
    const TensorDiff& d = m_report.tensors[size_t(index.row())];
    if (role == Qt::DisplayRole) return displayValue(d, index.column());
    if (role == SortRole) return sortValue(d, index.column());
    if (role == DiffersRole) return d.status != DiffStatus::Identical;
    if (role == Qt::TextAlignmentRole && index.column() >= ChangedColumn && index.column() <= CosineColumn)
        return QVariant(Qt::AlignRight | Qt::AlignVCenter);
    if (role == Qt::ToolTipRole && index.column() == ChangedColumn && d.nonFinite)
        return tr("%1 element pairs hold NaN or ±Inf and are left out of the norms")
            .arg(countText(d.nonFinite));
    return {};
}

QVariant CompareModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || section < 0 || section >= ColumnCount) return {};
    if (role == Qt::DisplayRole) {
        static const char* const names[] = {"Tensor",        "Status", "Changed", "Max |Δ|",
                                            "‖B − A‖ / ‖A‖", "Cosine", "Dtype",   "Shape"};
        return tr(names[section]);
    }
    if (role == Qt::ToolTipRole && section == ChangedColumn) return tr("Elements whose stored bits differ");
    return {};
}

CompareFilterModel::CompareFilterModel(QObject* parent) : QSortFilterProxyModel(parent) {
    setSortRole(CompareModel::SortRole);
}

void CompareFilterModel::setOnlyDifferences(bool only) {
    if (only == m_only) return;
    m_only = only;
    invalidateFilter();
}

bool CompareFilterModel::filterAcceptsRow(int row, const QModelIndex& parent) const {
    if (!m_only) return true;
    return sourceModel()->index(row, 0, parent).data(CompareModel::DiffersRole).toBool();
}

}  // namespace lms::ui
