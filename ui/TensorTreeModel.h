#pragma once
// Every parameter of the opened checkpoint, as a tree by dotted prefix ("model" > "layers" >
// "0" > "attention" > "wq" > "weight") or as a flat list. Groups show their parameter count and
// total bytes. RawValueRole gives sortable values (numbers as numbers), so TensorFilterModel
// sorts bytes and shapes numerically and names in natural order (layers.2 before layers.10).

#include "lms/base/DType.h"
#include "lms/lora/LoraPlan.h"

#include <QAbstractItemModel>
#include <QRegularExpression>
#include <QSortFilterProxyModel>
#include <memory>
#include <optional>
#include <vector>

namespace lms::ui {

// One parameter as the model shows it (built from a SourceTensor and the LoRA plan).
struct TensorEntry {
    QString name;
    QString typeName;
    DType dtype = DType::Unknown;
    std::vector<int64_t> dims;
    uint64_t bytes = 0;
    TensorRole role = TensorRole::Other;
    bool dropped = false;  // not written to the merged checkpoint (LoRA weights and their states)
    QString placement;     // distributed: which ranks hold it
    QString placementDetails;
};

class TensorTreeModel final : public QAbstractItemModel {
    Q_OBJECT
public:
    enum Column {
        NameColumn,
        RoleColumn,
        DTypeColumn,
        ShapeColumn,
        BytesColumn,
        PlacementColumn,
        ColumnCount
    };
    enum Role {
        RawValueRole = Qt::UserRole + 1,  // sortable value of the cell
        TensorIndexRole,                  // index into the entries, -1 for a group
        FullNameRole,                     // the parameter name, or the group's dotted prefix
        TensorRoleRole,                   // int(TensorRole) of a parameter, -1 for a group
    };
    enum class Layout { Tree, Flat };

    explicit TensorTreeModel(QObject* parent = nullptr);
    ~TensorTreeModel() override;

    void setEntries(std::vector<TensorEntry> entries);
    const std::vector<TensorEntry>& entries() const { return m_entries; }
    void setLayout(Layout layout);
    Layout layout() const { return m_layout; }
    // Whether the Placement column means anything (distributed checkpoints).
    void setShowPlacement(bool show);
    bool showsPlacement() const { return m_showPlacement; }

    // The column-0 index of parameter `entryIndex` (invalid if out of range).
    QModelIndex indexOfEntry(int entryIndex) const;
    // The parameter at `index`, or nullptr for a group.
    const TensorEntry* entryAt(const QModelIndex& index) const;

    QModelIndex index(int row, int column, const QModelIndex& parent = {}) const override;
    QModelIndex parent(const QModelIndex& child) const override;
    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;
    Qt::ItemFlags flags(const QModelIndex& index) const override;

private:
    struct Node;
    void rebuild();
    Node* nodeOf(const QModelIndex& index) const;

    std::vector<TensorEntry> m_entries;
    Layout m_layout = Layout::Tree;
    bool m_showPlacement = false;
    std::unique_ptr<Node> m_root;
    std::vector<Node*> m_leafOfEntry;
};

// Filters by a name pattern (substring, or a wildcard pattern when it holds * or ?) and by role;
// sorts on RawValueRole. Groups stay visible while any parameter below them matches.
class TensorFilterModel final : public QSortFilterProxyModel {
    Q_OBJECT
public:
    explicit TensorFilterModel(QObject* parent = nullptr);
    void setNamePattern(const QString& pattern);
    void setRoleFilter(std::optional<TensorRole> role);
    bool isFiltering() const { return m_hasPattern || m_role.has_value(); }
    // Parameters (not groups) that pass the filter.
    int acceptedTensorCount() const;

protected:
    bool filterAcceptsRow(int sourceRow, const QModelIndex& sourceParent) const override;
    bool lessThan(const QModelIndex& left, const QModelIndex& right) const override;

private:
    QRegularExpression m_pattern;
    bool m_hasPattern = false;
    std::optional<TensorRole> m_role;
};

}  // namespace lms::ui
