#pragma once
// The merged parallel strategy as a table: one row per layout entry (a parameter saved with
// different layouts by different pipeline stages has one row per layout), with the full shape
// taken from the opened checkpoint when it is known.

#include "lms/formats/Strategy.h"

#include <QAbstractTableModel>
#include <QHash>
#include <memory>
#include <optional>
#include <vector>

namespace lms::ui {

class StrategyModel final : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column {
        NameColumn,
        StagesColumn,
        DevMatrixColumn,
        TensorMapColumn,
        OptShardColumn,
        FullShapeColumn,
        SliceShapeColumn,
        SlicesColumn,
        ColumnCount
    };
    enum Role { RawValueRole = Qt::UserRole + 1 };

    explicit StrategyModel(QObject* parent = nullptr);

    // `fullShapes` maps parameter names to their full shapes (from the opened checkpoint);
    // layouts without an entry fall back to the strategy's own tensor_shape (JSON files).
    void setStrategy(std::shared_ptr<const Strategy> strategy,
                     const QHash<QString, std::vector<int64_t>>& fullShapes);
    const Strategy* strategy() const { return m_strategy.get(); }
    const ParamLayout* layoutAt(int row) const;
    // The full shape of the row's parameter, when known.
    std::optional<std::vector<int64_t>> fullShapeAt(int row) const;
    int rowOf(const QString& name) const;

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

private:
    struct Row {
        const ParamLayout* layout = nullptr;
        QString name, stages, devMatrix, tensorMap, optShard, optShardDetails, fullShape, sliceShape;
        std::optional<std::vector<int64_t>> shape;
        qulonglong slices = 0;
        QString problem;  // why the slice cannot be computed
    };
    std::shared_ptr<const Strategy> m_strategy;
    std::vector<Row> m_rows;
};

}  // namespace lms::ui
