#include "TensorTreeModel.h"

#include "UiText.h"

#include <QFont>
#include <QHash>

namespace lms::ui {

struct TensorTreeModel::Node {
    Node* parent = nullptr;
    int row = 0;
    QString label;
    QString path;  // the group's dotted prefix, or the parameter's full name
    int entry = -1;
    std::vector<std::unique_ptr<Node>> children;
    uint64_t bytes = 0;
    int tensorCount = 0;

    Node* addChild(QString childLabel, QString childPath, int childEntry) {
        auto child = std::make_unique<Node>();
        child->parent = this;
        child->row = int(children.size());
        child->label = std::move(childLabel);
        child->path = std::move(childPath);
        child->entry = childEntry;
        children.push_back(std::move(child));
        return children.back().get();
    }
};

namespace {

// A group holding exactly one group adds a level without adding information: fold the two into
// one row labelled "a.b".
template <class N>
void collapseChains(N* node) {
    for (auto& child : node->children) {
        if (child->entry >= 0) continue;
        while (child->children.size() == 1 && child->children.front()->entry < 0) {
            auto only = std::move(child->children.front());
            child->label += QLatin1Char('.') + only->label;
            child->path = only->path;
            child->children = std::move(only->children);
            for (auto& grandChild : child->children) grandChild->parent = child.get();
        }
        collapseChains(child.get());
    }
}

template <class N>
void finishNodes(N* node, const std::vector<TensorEntry>& entries) {
    node->bytes = 0;
    node->tensorCount = 0;
    for (size_t i = 0; i < node->children.size(); ++i) {
        auto* child = node->children[i].get();
        child->row = int(i);
        if (child->entry >= 0) {
            child->bytes = entries[size_t(child->entry)].bytes;
            child->tensorCount = 1;
        } else {
            finishNodes(child, entries);
        }
        node->bytes += child->bytes;
        node->tensorCount += child->tensorCount;
    }
}

qulonglong elementCount(const std::vector<int64_t>& dims) {
    qulonglong count = 1;
    for (auto d : dims)
        if (d < 0 || __builtin_mul_overflow(count, qulonglong(d), &count))
            return std::numeric_limits<qulonglong>::max();
    return count;
}

}  // namespace

TensorTreeModel::TensorTreeModel(QObject* parent)
    : QAbstractItemModel(parent), m_root(std::make_unique<Node>()) {}

TensorTreeModel::~TensorTreeModel() = default;

void TensorTreeModel::setEntries(std::vector<TensorEntry> entries) {
    beginResetModel();
    m_entries = std::move(entries);
    rebuild();
    endResetModel();
}

void TensorTreeModel::setLayout(Layout layout) {
    if (layout == m_layout) return;
    beginResetModel();
    m_layout = layout;
    rebuild();
    endResetModel();
}

void TensorTreeModel::setShowPlacement(bool show) {
    if (show == m_showPlacement) return;
    m_showPlacement = show;
    emit headerDataChanged(Qt::Horizontal, PlacementColumn, PlacementColumn);
    if (!m_entries.empty())
        emit dataChanged(index(0, PlacementColumn), index(rowCount() - 1, PlacementColumn));
}

void TensorTreeModel::rebuild() {
    m_root = std::make_unique<Node>();
    m_leafOfEntry.assign(m_entries.size(), nullptr);
    if (m_layout == Layout::Flat) {
        for (size_t i = 0; i < m_entries.size(); ++i)
            m_leafOfEntry[i] = m_root->addChild(m_entries[i].name, m_entries[i].name, int(i));
    } else {
        QHash<QString, Node*> groups;
        for (size_t i = 0; i < m_entries.size(); ++i) {
            const QString& name = m_entries[i].name;
            const auto segments = name.split(QLatin1Char('.'));
            Node* at = m_root.get();
            QString prefix;
            for (qsizetype k = 0; k + 1 < segments.size(); ++k) {
                if (k) prefix += QLatin1Char('.');
                prefix += segments[k];
                auto it = groups.find(prefix);
                if (it == groups.end()) it = groups.insert(prefix, at->addChild(segments[k], prefix, -1));
                at = *it;
            }
            m_leafOfEntry[i] = at->addChild(segments.last(), name, int(i));
        }
        collapseChains(m_root.get());
    }
    finishNodes(m_root.get(), m_entries);
}

TensorTreeModel::Node* TensorTreeModel::nodeOf(const QModelIndex& index) const {
    return index.isValid() ? static_cast<Node*>(index.internalPointer()) : m_root.get();
}

QModelIndex TensorTreeModel::indexOfEntry(int entryIndex) const {
    if (entryIndex < 0 || size_t(entryIndex) >= m_leafOfEntry.size()) return {};
    Node* leaf = m_leafOfEntry[size_t(entryIndex)];
    return createIndex(leaf->row, 0, leaf);
}

const TensorEntry* TensorTreeModel::entryAt(const QModelIndex& index) const {
    if (!index.isValid()) return nullptr;
    const Node* node = nodeOf(index);
    return node->entry >= 0 ? &m_entries[size_t(node->entry)] : nullptr;
}

QModelIndex TensorTreeModel::index(int row, int column, const QModelIndex& parent) const {
    if (column < 0 || column >= ColumnCount || row < 0) return {};
    if (parent.isValid() && parent.column() != 0) return {};
    const Node* node = nodeOf(parent);
    if (size_t(row) >= node->children.size()) return {};
    return createIndex(row, column, node->children[size_t(row)].get());
}

QModelIndex TensorTreeModel::parent(const QModelIndex& child) const {
    if (!child.isValid()) return {};
    const Node* node = nodeOf(child);
    Node* up = node->parent;
    if (!up || up == m_root.get()) return {};
    return createIndex(up->row, 0, up);
}

int TensorTreeModel::rowCount(const QModelIndex& parent) const {
    if (parent.isValid() && parent.column() != 0) return 0;
    return int(nodeOf(parent)->children.size());
}

int TensorTreeModel::columnCount(const QModelIndex&) const {
    return ColumnCount;
}

QVariant TensorTreeModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid)) return {};
    const Node* node = nodeOf(index);
    const int column = index.column();
    if (role == TensorIndexRole) return node->entry;
    if (role == FullNameRole) return node->path;
    if (role == Qt::TextAlignmentRole && column == BytesColumn)
        return QVariant::fromValue(Qt::Alignment(Qt::AlignRight | Qt::AlignVCenter));

    if (node->entry < 0) {  // a group
        if (role == TensorRoleRole) return -1;
        switch (column) {
            case NameColumn:
                if (role == Qt::DisplayRole) return node->label;
                if (role == Qt::ToolTipRole)
                    return tr("%1 — %n parameter(s)", nullptr, node->tensorCount).arg(node->path);
                if (role == RawValueRole) return node->path;
                break;
            case ShapeColumn:
                if (role == Qt::DisplayRole) return tr("%n parameter(s)", nullptr, node->tensorCount);
                if (role == RawValueRole) return qulonglong(node->tensorCount);
                break;
            case BytesColumn:
                if (role == Qt::DisplayRole) return bytesText(node->bytes);
                if (role == RawValueRole) return qulonglong(node->bytes);
                if (role == Qt::ToolTipRole) return tr("%1 bytes").arg(countText(node->bytes));
                break;
            default:
                break;
        }
        return {};
    }

    const auto& e = m_entries[size_t(node->entry)];
    if (role == TensorRoleRole) return int(e.role);
    if (role == Qt::FontRole && e.dropped) {
        QFont font;
        font.setItalic(true);
        return font;
    }
    switch (column) {
        case NameColumn:
            if (role == Qt::DisplayRole) return node->label;
            if (role == RawValueRole) return e.name;
            if (role == Qt::ToolTipRole)
                return e.dropped
                           ? tr("%1\nNot written to the merged checkpoint (LoRA weights and their optimizer "
                                "states are folded into the base).")
                                 .arg(e.name)
                           : e.name;
            break;
        case RoleColumn:
            if (role == Qt::DisplayRole) return roleText(e.role);
            if (role == RawValueRole) return int(e.role);
            break;
        case DTypeColumn:
            if (role == Qt::DisplayRole || role == RawValueRole) return e.typeName;
            break;
        case ShapeColumn:
            if (role == Qt::DisplayRole) return shapeText(e.dims);
            if (role == RawValueRole) return elementCount(e.dims);
            if (role == Qt::ToolTipRole) return tr("%1 elements").arg(countText(elementCount(e.dims)));
            break;
        case BytesColumn:
            if (role == Qt::DisplayRole) return bytesText(e.bytes);
            if (role == RawValueRole) return qulonglong(e.bytes);
            if (role == Qt::ToolTipRole) return tr("%1 bytes").arg(countText(e.bytes));
            break;
        case PlacementColumn:
            if (!m_showPlacement) break;
            if (role == Qt::DisplayRole || role == RawValueRole) return e.placement;
            if (role == Qt::ToolTipRole) return e.placementDetails;
            break;
        default:
            break;
    }
    return {};
}

QVariant TensorTreeModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
    switch (section) {
        case NameColumn:
            return tr("Name");
        case RoleColumn:
            return tr("Role");
        case DTypeColumn:
            return tr("Type");
        case ShapeColumn:
            return tr("Shape");
        case BytesColumn:
            return tr("Bytes");
        case PlacementColumn:
            return tr("Held by");
    }
    return {};
}

Qt::ItemFlags TensorTreeModel::flags(const QModelIndex& index) const {
    if (!index.isValid()) return Qt::NoItemFlags;
    Qt::ItemFlags flags = Qt::ItemIsEnabled | Qt::ItemIsSelectable;
    if (nodeOf(index)->entry >= 0) flags |= Qt::ItemNeverHasChildren;
    return flags;
}

TensorFilterModel::TensorFilterModel(QObject* parent) : QSortFilterProxyModel(parent) {
    setRecursiveFilteringEnabled(true);
}

void TensorFilterModel::setNamePattern(const QString& pattern) {
    const QString trimmed = pattern.trimmed();
    if (trimmed.contains(QLatin1Char('*')) || trimmed.contains(QLatin1Char('?')))
        m_pattern = QRegularExpression(QRegularExpression::wildcardToRegularExpression(
                                           trimmed, QRegularExpression::UnanchoredWildcardConversion),
                                       QRegularExpression::CaseInsensitiveOption);
    else
        m_pattern = QRegularExpression(QRegularExpression::escape(trimmed),
                                       QRegularExpression::CaseInsensitiveOption);
    m_hasPattern = !trimmed.isEmpty() && m_pattern.isValid();
    invalidateFilter();
}

void TensorFilterModel::setRoleFilter(std::optional<TensorRole> role) {
    m_role = role;
    invalidateFilter();
}

int TensorFilterModel::acceptedTensorCount() const {
    const auto* tensors = qobject_cast<const TensorTreeModel*>(sourceModel());
    if (!tensors) return 0;
    if (!isFiltering()) return int(tensors->entries().size());
    int count = 0;
    for (const auto& e : tensors->entries())
        if ((!m_role || e.role == *m_role) && (!m_hasPattern || m_pattern.match(e.name).hasMatch())) ++count;
    return count;
}

bool TensorFilterModel::filterAcceptsRow(int sourceRow, const QModelIndex& sourceParent) const {
    const auto index = sourceModel()->index(sourceRow, 0, sourceParent);
    const int role = index.data(TensorTreeModel::TensorRoleRole).toInt();
    if (role < 0) return !isFiltering();  // groups: shown when a parameter below matches
    if (m_role && role != int(*m_role)) return false;
    return !m_hasPattern || m_pattern.match(index.data(TensorTreeModel::FullNameRole).toString()).hasMatch();
}

bool TensorFilterModel::lessThan(const QModelIndex& left, const QModelIndex& right) const {
    const QVariant a = left.data(TensorTreeModel::RawValueRole);
    const QVariant b = right.data(TensorTreeModel::RawValueRole);
    if (!a.isValid() || !b.isValid()) return !a.isValid() && b.isValid();
    if (a.typeId() == QMetaType::QString && b.typeId() == QMetaType::QString)
        return naturalCompare(a.toString(), b.toString()) < 0;
    return QVariant::compare(a, b) == QPartialOrdering::Less;
}

}  // namespace lms::ui
