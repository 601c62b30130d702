#pragma once
// The Merge panel: source, strategy, destination and prefix; lora_alpha and lora_rank (or the
// scaling directly) with the resulting scaling shown live; a dry-run summary; then the merge
// itself on a worker thread with progress, throughput, time left and Cancel; at the end a
// result summary and "Open output folder".

#include "MergeWorker.h"
#include "Workspace.h"
#include "lms/merge/Request.h"

#include <QPointer>
#include <QWidget>
#include <optional>

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QGroupBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QRadioButton;
class QSpinBox;
class QThread;
class QToolButton;

namespace lms::ui {

class MergePanel final : public QWidget {
    Q_OBJECT
public:
    explicit MergePanel(QWidget* parent = nullptr);
    ~MergePanel() override;

    // A newly opened model: fills source, strategy, destination (unless the user chose one)
    // and lora_rank from the LoRA shapes.
    void setModel(std::shared_ptr<const LoadedModel> model);
    void clear();
    // The plan after the user's choices in the LoRA tab (pairs left out, orientation).
    void setPlan(const LoraPlan& plan, const PlanOptions& options);
    // While a model is being opened the merge is not possible.
    void setLoading(bool loading);
    // Pre-fills lora_alpha / lora_rank (e.g. the demo's known values).
    void setSuggestedScaling(double alpha, int rank);
    void setStrategyPath(const QString& path);

    bool isRunning() const { return m_running; }
    // The running merge's worker, for observers that connect to it when mergeStarted is emitted;
    // null when idle. It lives on its own thread and is deleted there when the merge ends.
    MergeWorker* currentWorker() const { return m_worker; }
    // The scaling the form describes, or an error for people.
    Result<ScalingSpec> scalingSpec() const;
    // dst/rank_0/<prefix>0.ckpt, or "" when destination or prefix are missing.
    QString outputFile() const;
    // Why Merge is disabled ("" when it is enabled).
    QString blockingReason() const;
    void requestCancel();

signals:
    void openRequested(const lms::ui::OpenRequest& request);
    void mergeStarted(lms::ui::MergeWorker* worker);
    // After success, failure or cancel; `message` is the result in words.
    void mergeFinished(bool success, bool cancelled, const QString& message);

private:
    void buildUi();
    QGroupBox* buildInputGroup();
    QGroupBox* buildOutputGroup();
    QGroupBox* buildScalingGroup();
    QGroupBox* buildOptionsGroup();
    QGroupBox* buildRunGroup();
    QGroupBox* buildResultGroup();
    void connectInputs();
    // The request the widgets describe, and what the core says of it.
    MergeRequest request(OverwritePolicy overwrite = OverwritePolicy::Replace) const;
    Resolution resolution(OverwritePolicy overwrite = OverwritePolicy::Replace) const;
    QStringList summaryLines(const ResolvedJob& job) const;
    QString outputText(const Resolution& r) const;  // the "Writes:" line
    QString blockingReason(const Resolution& r) const;
    void updateScalingText();
    void updateSummary();
    void onMergeClicked();
    void startMerge(bool overwrite = false);  // overwrite: the user confirmed replacing the output
    void onProgress(const MergeProgress& progress);
    void onSucceeded(const MergeOutcome& outcome);
    void onFailed(const QString& message, bool cancelled);
    void setRunning(bool running);
    void revealResult();
    void chooseSource();
    void chooseStrategy(bool folder);
    void chooseDestination();

    std::shared_ptr<const LoadedModel> m_model;
    LoraPlan m_plan;
    PlanOptions m_planOptions;
    bool m_loading = false;
    bool m_destinationEdited = false;
    QString m_lastOutputFile;
    bool m_running = false;
    std::shared_ptr<CancelToken> m_cancel;  // of the running merge
    QPointer<MergeWorker> m_worker;         // only handed to observers, never used to cancel
    QPointer<QThread> m_thread;

    QLineEdit* m_sourceEdit = nullptr;
    QLineEdit* m_strategyEdit = nullptr;
    QToolButton* m_strategyFileButton = nullptr;
    QToolButton* m_strategyFolderButton = nullptr;
    QLineEdit* m_destinationEdit = nullptr;
    QLineEdit* m_prefixEdit = nullptr;
    QComboBox* m_formatCombo = nullptr;
    QLineEdit* m_dstStrategyEdit = nullptr;
    QLabel* m_outputLabel = nullptr;
    QRadioButton* m_alphaRadio = nullptr;
    QRadioButton* m_scalingRadio = nullptr;
    QDoubleSpinBox* m_alphaSpin = nullptr;
    QSpinBox* m_rankSpin = nullptr;
    QLineEdit* m_scalingEdit = nullptr;
    QLabel* m_scalingLabel = nullptr;
    QCheckBox* m_skipInvalidCheck = nullptr;
    QCheckBox* m_verifyCheck = nullptr;
    QCheckBox* m_crcCheck = nullptr;
    QLabel* m_summaryLabel = nullptr;
    QLabel* m_hintLabel = nullptr;
    QPushButton* m_mergeButton = nullptr;
    QPushButton* m_cancelButton = nullptr;
    QProgressBar* m_progressBar = nullptr;
    QLabel* m_currentLabel = nullptr;
    QLabel* m_speedLabel = nullptr;
    QGroupBox* m_resultBox = nullptr;
    QLabel* m_resultLabel = nullptr;
    QPushButton* m_openOutputButton = nullptr;
    QList<QWidget*> m_inputs;  // disabled while a merge runs
};

}  // namespace lms::ui
