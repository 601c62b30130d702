#pragma once
// The Tensors tab: every parameter of the opened checkpoint in a sortable, filterable tree, and
// for the selected parameter its statistics and histogram, computed on a worker thread.

#include "Workspace.h"
#include "lms/analysis/TensorStats.h"
#include "lms/lora/LoraPlan.h"

#include <QFutureWatcher>
#include <QWidget>
#include <memory>

class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QSplitter;
class QStackedWidget;
class QToolButton;
class QTreeView;

namespace lms::ui {

class HistogramWidget;
class TensorFilterModel;
class TensorTreeModel;

class TensorsTab final : public QWidget {
    Q_OBJECT
public:
    explicit TensorsTab(QWidget* parent = nullptr);
    ~TensorsTab() override;

    void setModel(std::shared_ptr<const LoadedModel> model, const LoraPlan& plan);
    void clear();
    // Empties the name filter and the role choice.
    void clearFilter();
    void focusFilter();
    // Selects and shows the parameter `name`; false when it does not exist.
    bool selectTensor(const QString& name);

    TensorTreeModel* tensorModel() const { return m_model; }
    TensorFilterModel* filterModel() const { return m_filter; }
    QTreeView* view() const { return m_view; }
    QSplitter* splitter() const { return m_splitter; }
    const TensorStatistics* currentStatistics() const { return m_haveStats ? &m_stats : nullptr; }

signals:
    // Statistics of `name` are shown (or its error is).
    void statisticsFinished(const QString& name);

private:
    struct StatsOutcome;
    // The details pane (labels, statistics grid, histogram); sets the m_ widgets it creates.
    QWidget* buildDetails(QWidget* parent);
    void applyLayout(bool tree);
    void updateCount();
    void showSelected(const QModelIndex& proxyIndex);
    void showStatistics(quint64 generation, const StatsOutcome& outcome);
    void clearStatistics(const QString& message);

    std::shared_ptr<const LoadedModel> m_loaded;
    TensorTreeModel* m_model;
    TensorFilterModel* m_filter;
    QStackedWidget* m_stack;
    QLineEdit* m_filterEdit;
    QComboBox* m_roleCombo;
    QToolButton* m_treeButton;
    QLabel* m_countLabel;
    QSplitter* m_splitter;
    QTreeView* m_view;
    QLabel* m_titleLabel;
    QLabel* m_infoLabel;
    QLabel* m_statusLabel;
    QList<QLabel*> m_statValues;  // min, max, mean, std, NaN, ±Inf, zeros
    QCheckBox* m_logCheck;
    HistogramWidget* m_histogram;

    quint64 m_statsGeneration = 0;
    std::shared_ptr<CancelToken> m_statsCancel;
    TensorStatistics m_stats;
    bool m_haveStats = false;
};

}  // namespace lms::ui
