#include "LoraPairModel.h"

#include "UiText.h"

#include <QApplication>
#include <QStyle>

namespace lms::ui {
namespace {

// "…mindpet_delta_lora_a" when the name continues the base's layer path, else the full name.
QString shortName(const std::string& name, const std::string& base) {
    const auto dot = base.rfind('.');
    const std::string stem = dot == std::string::npos ? base : base.substr(0, dot + 1);
    if (!stem.empty() && name.size() > stem.size() && name.compare(0, stem.size(), stem) == 0)
        return QStringLiteral("…") + qs(name.substr(stem.size()));
    return qs(name);
}

}  // namespace

LoraPairModel::LoraPairModel(QObject* parent) : QAbstractTableModel(parent) {}

bool LoraPairModel::samePairs(const LoraPlan& other) const {
    if (other.pairs.size() != m_plan.pairs.size()) return false;
    for (size_t i = 0; i < other.pairs.size(); ++i) {
        const auto& x = other.pairs[i];
        const auto& y = m_plan.pairs[i];
        if (x.base != y.base || x.a != y.a || x.b != y.b) return false;
    }
    return true;
}

void LoraPairModel::setPlan(const LoraPlan& plan) {
    if (samePairs(plan) && !plan.pairs.empty()) {
        m_plan = plan;
        emit dataChanged(index(0, 0), index(rowCount() - 1, ColumnCount - 1));
        return;
    }
    beginResetModel();
    m_plan = plan;
    m_disabled.clear();
    for (const auto& pair : m_plan.pairs)
        if (pair.status == PairStatus::Disabled) m_disabled.insert(qs(pair.base));
    endResetModel();
}

QStringList LoraPairModel::disabledBases() const {
    QStringList bases(m_disabled.begin(), m_disabled.end());
    bases.sort();
    return bases;
}

bool LoraPairModel::checkable(int row) const {
    const auto& pair = m_plan.pairs[size_t(row)];
    return !pair.base.empty() && pair.status != PairStatus::Problem;
}

void LoraPairModel::setAllIncluded(bool included) {
    bool changed = false;
    for (int row = 0; row < rowCount(); ++row) {
        if (!checkable(row)) continue;
        const QString base = qs(m_plan.pairs[size_t(row)].base);
        if (included) {
            changed = m_disabled.remove(base) || changed;
        } else if (!m_disabled.contains(base)) {
            m_disabled.insert(base);
            changed = true;
        }
    }
    if (!changed) return;
    emit dataChanged(index(0, BaseColumn), index(rowCount() - 1, BaseColumn), {Qt::CheckStateRole});
    emit disabledBasesChanged(disabledBases());
}

int LoraPairModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : int(m_plan.pairs.size());
}

int LoraPairModel::columnCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant LoraPairModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) return {};
    const auto& pair = m_plan.pairs[size_t(index.row())];
    if (role == StatusRole) return int(pair.status);
    const bool display = role == Qt::DisplayRole;
    switch (index.column()) {
        case BaseColumn:
            if (role == Qt::CheckStateRole)
                return checkable(index.row()) && !m_disabled.contains(qs(pair.base)) ? Qt::Checked
                                                                                     : Qt::Unchecked;
            if (display) return pair.base.empty() ? tr("(missing)") : qs(pair.base);
            if (role == RawValueRole) return qs(pair.base);
            if (role == Qt::ToolTipRole)
                return checkable(index.row())
                           ? tr("%1\nUncheck to leave this pair out of the merge.").arg(qs(pair.base))
                           : tr("%1\nThis pair cannot be merged; see its status.").arg(qs(pair.base));
            break;
        case AColumn:
            if (display) return pair.a.empty() ? tr("(missing)") : shortName(pair.a, pair.base);
            if (role == RawValueRole || role == Qt::ToolTipRole) return qs(pair.a);
            break;
        case BColumn:
            if (display) return pair.b.empty() ? tr("(missing)") : shortName(pair.b, pair.base);
            if (role == RawValueRole || role == Qt::ToolTipRole) return qs(pair.b);
            break;
        case ShapesColumn:
            if (display || role == RawValueRole) {
                if (pair.aDims.empty() || pair.bDims.empty())
                    return pair.baseDims.empty() ? QString() : shapeText(pair.baseDims);
                return tr("%1 ← %2 · %3")
                    .arg(pair.baseDims.empty() ? tr("?") : shapeText(pair.baseDims), shapeText(pair.bDims),
                         shapeText(pair.aDims));
            }
            if (role == Qt::ToolTipRole)
                return tr("W %1, B %2, A %3: the merge adds s·B·A to W")
                    .arg(pair.baseDims.empty() ? tr("missing") : shapeText(pair.baseDims),
                         pair.bDims.empty() ? tr("missing") : shapeText(pair.bDims),
                         pair.aDims.empty() ? tr("missing") : shapeText(pair.aDims));
            break;
        case RankColumn:
            if (display) return pair.rank > 0 ? QString::number(pair.rank) : QString();
            if (role == RawValueRole) return qlonglong(pair.rank);
            if (role == Qt::TextAlignmentRole)
                return QVariant::fromValue(Qt::Alignment(Qt::AlignRight | Qt::AlignVCenter));
            break;
        case TransposedColumn:
            if (display) return pair.transposed ? tr("yes") : tr("no");
            if (role == RawValueRole) return pair.transposed;
            if (role == Qt::ToolTipRole)
                return pair.transposed
                           ? tr("The base weight is stored [in, out], so the transposed product is added.")
                           : tr("The base weight is stored [out, in], like B·A.");
            break;
        case StatusColumn:
            if (display || role == Qt::ToolTipRole || role == RawValueRole) {
                switch (pair.status) {
                    case PairStatus::Ok:
                        return tr("will be merged");
                    case PairStatus::Disabled:
                        return tr("left out");
                    case PairStatus::Problem:
                        return tr("problem: %1").arg(qs(pair.problem));
                }
            }
            if (role == Qt::DecorationRole) {
                auto* style = QApplication::style();
                if (!style) return {};
                switch (pair.status) {
                    case PairStatus::Ok:
                        return style->standardIcon(QStyle::SP_DialogApplyButton);
                    case PairStatus::Disabled:
                        return style->standardIcon(QStyle::SP_DialogCancelButton);
                    case PairStatus::Problem:
                        return style->standardIcon(QStyle::SP_MessageBoxWarning);
                }
            }
            break;
    }
    return {};
}

bool LoraPairModel::setData(const QModelIndex& index, const QVariant& value, int role) {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid)) return false;
    if (role != Qt::CheckStateRole || index.column() != BaseColumn || !checkable(index.row())) return false;
    const QString base = qs(m_plan.pairs[size_t(index.row())].base);
    const bool include = value.value<Qt::CheckState>() == Qt::Checked;
    if (include == !m_disabled.contains(base)) return true;
    if (include)
        m_disabled.remove(base);
    else
        m_disabled.insert(base);
    emit dataChanged(index, index, {Qt::CheckStateRole});
    emit disabledBasesChanged(disabledBases());
    return true;
}

QVariant LoraPairModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal) return {};
    if (role == Qt::DisplayRole) {
        switch (section) {
            case BaseColumn:
                return tr("Base weight");
            case AColumn:
                return tr("LoRA A");
            case BColumn:
                return tr("LoRA B");
            case ShapesColumn:
                return tr("Shapes: W ← B · A");
            case RankColumn:
                return tr("r");
            case TransposedColumn:
                return tr("Transposed");
            case StatusColumn:
                return tr("Status");
        }
    }
    if (role == Qt::ToolTipRole && section == RankColumn) return tr("LoRA rank: the rows of A");
    return {};
}

Qt::ItemFlags LoraPairModel::flags(const QModelIndex& index) const {
    if (!index.isValid()) return Qt::NoItemFlags;
    Qt::ItemFlags flags = Qt::ItemIsEnabled | Qt::ItemIsSelectable | Qt::ItemNeverHasChildren;
    if (index.column() == BaseColumn && checkable(index.row())) flags |= Qt::ItemIsUserCheckable;
    return flags;
}

LoraPairFilterModel::LoraPairFilterModel(QObject* parent) : QSortFilterProxyModel(parent) {
    setSortRole(LoraPairModel::RawValueRole);
}

void LoraPairFilterModel::setProblemsOnly(bool problemsOnly) {
    m_problemsOnly = problemsOnly;
    invalidateFilter();
}

bool LoraPairFilterModel::filterAcceptsRow(int sourceRow, const QModelIndex& sourceParent) const {
    if (!m_problemsOnly) return true;
    const auto index = sourceModel()->index(sourceRow, 0, sourceParent);
    return index.data(LoraPairModel::StatusRole).toInt() == int(PairStatus::Problem);
}

}  // namespace lms::ui
