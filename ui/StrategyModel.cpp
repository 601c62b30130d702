#include "StrategyModel.h"

#include "UiText.h"
#include "lms/distributed/Layout.h"

namespace lms::ui {

StrategyModel::StrategyModel(QObject* parent) : QAbstractTableModel(parent) {}

void StrategyModel::setStrategy(std::shared_ptr<const Strategy> strategy,
                                const QHash<QString, std::vector<int64_t>>& fullShapes) {
    beginResetModel();
    m_strategy = std::move(strategy);
    m_rows.clear();
    if (m_strategy) {
        m_rows.reserve(m_strategy->layouts.size());
        for (const auto& layout : m_strategy->layouts) {
            Row row;
            row.layout = &layout;
            row.name = qs(layout.name);
            QStringList stages;
            for (auto s : layout.stages) stages << QString::number(s);
            row.stages = stages.join(QStringLiteral(", "));
            row.devMatrix = qs(layout.devMatrixText());
            row.tensorMap = qs(layout.tensorMapText());
            if (layout.optShardActive()) {
                const auto pieces = optShardPieces(layout);
                row.optShard = pieces ? tr("dim 0 ÷ %1").arg(*pieces) : tr("invalid");
                row.optShardDetails = tr("opt_weight_shard_size %1, opt_weight_shard_step %2")
                                          .arg(layout.optShardSize)
                                          .arg(layout.optShardStep);
            } else {
                row.optShard = tr("off");
            }
            const auto it = fullShapes.find(row.name);
            if (it != fullShapes.end())
                row.shape = *it;
            else if (!layout.globalShape.empty())
                row.shape = layout.globalShape;
            if (row.shape) {
                row.fullShape = shapeText(*row.shape);
                if (auto slice = rankSlice(layout, *row.shape, 0)) {
                    const auto sliceDims = slice->shape();
                    row.sliceShape = shapeText(sliceDims);
                } else {
                    row.problem = errorText(slice.error());
                    row.sliceShape = tr("does not fit");
                }
            } else {
                row.fullShape = tr("unknown");
                row.problem =
                    tr("The full shape is unknown: the opened checkpoint has no parameter of this name.");
            }
            qulonglong slices = 1;
            for (auto t : tensorSplits(layout)) slices *= qulonglong(std::max<int64_t>(1, t));
            if (auto k = optShardPieces(layout)) slices *= qulonglong(std::max<int64_t>(1, *k));
            row.slices = slices;
            m_rows.push_back(std::move(row));
        }
    }
    endResetModel();
}

const ParamLayout* StrategyModel::layoutAt(int row) const {
    return row >= 0 && size_t(row) < m_rows.size() ? m_rows[size_t(row)].layout : nullptr;
}

std::optional<std::vector<int64_t>> StrategyModel::fullShapeAt(int row) const {
    if (row < 0 || size_t(row) >= m_rows.size()) return std::nullopt;
    return m_rows[size_t(row)].shape;
}

int StrategyModel::rowOf(const QString& name) const {
    for (size_t i = 0; i < m_rows.size(); ++i)
        if (m_rows[i].name == name) return int(i);
    return -1;
}

int StrategyModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : int(m_rows.size());
}

int StrategyModel::columnCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant StrategyModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) return {};
    const Row& r = m_rows[size_t(index.row())];
    const bool display = role == Qt::DisplayRole;
    switch (index.column()) {
        case NameColumn:
            if (display || role == RawValueRole || role == Qt::ToolTipRole) return r.name;
            break;
        case StagesColumn:
            if (display) return r.stages;
            if (role == RawValueRole) return r.layout->stages.empty() ? 0u : r.layout->stages.front();
            break;
        case DevMatrixColumn:
            if (display || role == RawValueRole) return r.devMatrix;
            break;
        case TensorMapColumn:
            if (display || role == RawValueRole) return r.tensorMap;
            if (role == Qt::ToolTipRole)
                return tr(
                    "One entry per tensor dimension: the device-matrix axis (counted from the right) "
                    "that splits it, or -1 when it is not split.");
            break;
        case OptShardColumn:
            if (display || role == RawValueRole) return r.optShard;
            if (role == Qt::ToolTipRole)
                return r.optShardDetails.isEmpty() ? tr("No optimizer sharding") : r.optShardDetails;
            break;
        case FullShapeColumn:
            if (display || role == RawValueRole) return r.fullShape;
            break;
        case SliceShapeColumn:
            if (display || role == RawValueRole) return r.sliceShape;
            if (role == Qt::ToolTipRole && !r.problem.isEmpty()) return r.problem;
            break;
        case SlicesColumn:
            if (display) return countText(r.slices);
            if (role == RawValueRole) return r.slices;
            if (role == Qt::TextAlignmentRole)
                return QVariant::fromValue(Qt::Alignment(Qt::AlignRight | Qt::AlignVCenter));
            break;
    }
    return {};
}

QVariant StrategyModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal) return {};
    if (role == Qt::DisplayRole) {
        switch (section) {
            case NameColumn:
                return tr("Parameter");
            case StagesColumn:
                return tr("Stages");
            case DevMatrixColumn:
                return tr("dev_matrix");
            case TensorMapColumn:
                return tr("tensor_map");
            case OptShardColumn:
                return tr("Opt. shard");
            case FullShapeColumn:
                return tr("Full shape");
            case SliceShapeColumn:
                return tr("Slice shape");
            case SlicesColumn:
                return tr("Slices");
        }
    }
    if (role == Qt::ToolTipRole && section == SliceShapeColumn)
        return tr("The part of the tensor one rank stores");
    if (role == Qt::ToolTipRole && section == OptShardColumn)
        return tr("Optimizer sharding: dim 0 of the slice is further cut across data-parallel replicas");
    if (role == Qt::ToolTipRole && section == StagesColumn)
        return tr("The pipeline stages that hold this parameter");
    return {};
}

}  // namespace lms::ui
