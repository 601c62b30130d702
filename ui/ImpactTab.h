#pragma once
// The Impact tab: for every LoRA pair of the open model, how much the merge changes its base
// weight (ImpactModel columns) and a bar chart of that by layer. The analysis reads every base
// weight, so it runs only on request (Analyse), on a worker thread, with progress and Cancel.

#include "Workspace.h"
#include "lms/analysis/LoraImpact.h"
#include "lms/lora/LoraPlan.h"
#include "lms/merge/Merge.h"

#include <QWidget>
#include <functional>
#include <memory>
#include <vector>

class QLabel;
class QProgressBar;
class QPushButton;
class QSortFilterProxyModel;
class QSplitter;
class QTableView;

namespace lms::ui {

class AnalysisRunner;
class ImpactChart;
class ImpactModel;

class ImpactTab final : public QWidget {
    Q_OBJECT
public:
    // What the analysis measures: the source, plan and per-pair scaling of the merge the panel
    // would run (resolve()'s job: the adapter, the config's scaling), or why there is none yet.
    struct Inputs {
        std::shared_ptr<const ModelSource> source;
        LoraPlan plan;
        std::vector<double> scalings;  // parallel to plan.pairs
        QString reason;                // not empty: nothing to measure, and why
    };
    using InputsProvider = std::function<Inputs()>;

    explicit ImpactTab(QWidget* parent = nullptr);
    ~ImpactTab() override;

    void setInputsProvider(InputsProvider provider) { m_inputs = std::move(provider); }
    // A new model or plan: the previous results no longer apply and are cleared.
    void setModel(std::shared_ptr<const LoadedModel> model, const LoraPlan& plan);
    void clear();
    // Starts the analysis; false (with the reason in statusText()) when it cannot start.
    bool analyse();
    void cancel();

    ImpactModel* impactModel() const { return m_model; }
    QSortFilterProxyModel* sortModel() const { return m_sort; }
    QTableView* view() const { return m_view; }
    ImpactChart* chart() const { return m_chart; }
    AnalysisRunner* runner() const { return m_runner; }
    QString statusText() const;

signals:
    void analysisFinished(bool ok);

private:
    void setRunning(bool running);
    void onFinished();
    void onFailed(const QString& message, bool cancelled);

    std::shared_ptr<const LoadedModel> m_loaded;
    LoraPlan m_plan;
    InputsProvider m_inputs;
    std::shared_ptr<ImpactReport> m_pending;  // written by the worker, read after `finished`
    AnalysisRunner* m_runner;
    ImpactModel* m_model;
    QSortFilterProxyModel* m_sort;
    QPushButton* m_analyseButton;
    QPushButton* m_cancelButton;
    QProgressBar* m_progress;
    QLabel* m_status;
    QSplitter* m_splitter;
    QTableView* m_view;
    ImpactChart* m_chart;
};

}  // namespace lms::ui
