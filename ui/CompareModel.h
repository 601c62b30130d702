#pragma once
// Two checkpoints compared tensor by tensor (lms/analysis/Diff.h) as a table: one row per tensor
// of either model, sortable by the numbers themselves (SortRole), and a filter that keeps only the
// tensors that differ (changed, missing on one side, dtype or shape mismatch).

#include "lms/analysis/Diff.h"

#include <QAbstractTableModel>
#include <QSortFilterProxyModel>

namespace lms::ui {

class CompareModel final : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column {
        NameColumn,
        StatusColumn,
        ChangedColumn,
        MaxAbsColumn,
        RelativeColumn,  // ‖B − A‖ / ‖A‖
        CosineColumn,
        TypeColumn,   // "Float32" or "Float32 → BFloat16"
        ShapeColumn,  // "[4, 8]" or "[4, 8] → [8, 4]"
        ColumnCount
    };
    enum Role { SortRole = Qt::UserRole + 1, DiffersRole };

    explicit CompareModel(QObject* parent = nullptr);
    void setReport(DiffReport report);
    void clear();
    const DiffReport& report() const { return m_report; }

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

private:
    QVariant displayValue(const TensorDiff& d, int column) const;
    QVariant sortValue(const TensorDiff& d, int column) const;
    DiffReport m_report;
};

class CompareFilterModel final : public QSortFilterProxyModel {
    Q_OBJECT
public:
    explicit CompareFilterModel(QObject* parent = nullptr);
    void setOnlyDifferences(bool only);
    bool onlyDifferences() const { return m_only; }

protected:
    bool filterAcceptsRow(int row, const QModelIndex& parent) const override;

private:
    bool m_only = false;
};

}  // namespace lms::ui
