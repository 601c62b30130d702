#pragma once
// The LoRA impact (lms/analysis/LoraImpact.h) on screen: one row per merged pair, sortable by the
// numbers themselves (SortRole), and a bar chart of the relative norm per layer.

#include "lms/analysis/LoraImpact.h"

#include <QAbstractTableModel>
#include <QWidget>

namespace lms::ui {

class ImpactModel final : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column {
        BaseColumn,
        RelativeColumn,   // ‖s·B·A‖ / ‖W‖
        UnchangedColumn,  // percent of W's elements the merge leaves bit-identical
        NumericalRankColumn,
        EntropyRankColumn,
        RankColumn,
        ScalingColumn,
        LayerColumn,
        ShapeColumn,  // "[out, in] BFloat16"
        ColumnCount
    };
    enum Role { SortRole = Qt::UserRole + 1 };

    explicit ImpactModel(QObject* parent = nullptr);
    void setReport(ImpactReport report);
    void clear();
    const ImpactReport& report() const { return m_report; }

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

private:
    QVariant sortValue(const PairImpact& p, int column) const;
    QVariant displayValue(const PairImpact& p, int column) const;
    ImpactReport m_report;
};

// Bars of LayerImpact::relativeNorm, one per layer (pairs without a layer number last, as "other").
class ImpactChart final : public QWidget {
    Q_OBJECT
public:
    explicit ImpactChart(QWidget* parent = nullptr);
    void setLayers(std::vector<LayerImpact> layers);
    const std::vector<LayerImpact>& layers() const { return m_layers; }
    QSize sizeHint() const override;
    QSize minimumSizeHint() const override;

protected:
    void paintEvent(QPaintEvent* event) override;
    bool event(QEvent* event) override;  // tooltips per bar

private:
    int barAt(QPoint pos) const;
    QRect plotRect() const;
    std::vector<LayerImpact> m_layers;
};

// "0.0123 %" style text for a relative norm; "∞" for a zero base.
QString relativeText(double relative);

}  // namespace lms::ui
