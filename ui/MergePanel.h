#pragma once
// The Merge panel: source, strategy, adapter, rank-file choice and replica check (the inputs the
// model was opened with); destination, prefix, format, shard size and re-shard strategy;
// lora_alpha and lora_rank, the scaling directly, or a LoRA config — nothing pre-filled: the
// scaling is typed for this model or read from a config (its provenance shown). Every change
// re-runs lms::resolve() in the background (PreviewResolver) and its refusals disable Merge with
// the reason; Merge itself resolves once more before it starts. Then the merge itself on a
// worker thread with progress, throughput, time left and Cancel (Esc); at the end a result
// summary and "Open output folder".

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
class QTimer;
class QToolButton;

namespace lms::ui {

class PreviewResolver;

class MergePanel final : public QWidget {
    Q_OBJECT
public:
    explicit MergePanel(QWidget* parent = nullptr);
    ~MergePanel() override;

    // A newly opened model: fills source, strategy, adapter and the other input fields from what it
    // was opened with. Another model (a new path) also resets the destination (proposed from the
    // new path), the scaling (empty), the LoRA config, shard size and re-shard strategy; reopening
    // the same path (another strategy or adapter) keeps what the user typed.
    void setModel(std::shared_ptr<const LoadedModel> model);
    void clear();
    // The plan after the user's choices in the LoRA tab (pairs left out, orientation).
    void setPlan(const LoraPlan& plan, const PlanOptions& options);
    // While a model is being opened the merge is not possible.
    void setLoading(bool loading);
    // Sets lora_alpha / lora_rank as the user would type them (rank 0: each pair's own r).
    void setSuggestedScaling(double alpha, int rank);
    void setStrategyPath(const QString& path);
    // The input fields as an open request (what Enter in them, or Reopen, opens).
    OpenRequest openRequest() const;
    // The request the widgets describe (the preview assumes Replace: Merge asks before replacing).
    MergeRequest request(OverwritePolicy overwrite = OverwritePolicy::Replace) const;

    bool isRunning() const { return m_running; }
    // The running merge's worker, for observers that connect to it when mergeStarted is emitted;
    // null when idle. It lives on its own thread and is deleted there when the merge ends.
    MergeWorker* currentWorker() const { return m_worker; }
    // The scaling the form describes, or an error for people.
    Result<ScalingSpec> scalingSpec() const;
    // dst/rank_0/<prefix>0.ckpt, or "" when destination or prefix are missing.
    QString outputFile() const;
    // Why Merge is disabled ("" when it is enabled): the first reason; the hint under Merge lists
    // every refusal of resolve(). What the panel shows: the last preview's answer (see below).
    QString blockingReason() const;
    // The preview of resolve() runs in the background after every change; while it does, the panel
    // still shows the previous answer (or "Checking…" for a newly opened model).
    bool isPreviewPending() const;
    bool waitForPreview(int msecs = 10000);  // tests: true once no preview is pending
    // The merge the panel describes, for the read-only analyses (Impact): resolve()'s job, also
    // when only where it would write is refused (concernsOutputOnly); nullopt and the reason
    // (the first other refusal, an unapplied input field, an unreadable scaling) otherwise.
    std::optional<ResolvedJob> analysedJob(QString* reason) const;
    void requestCancel();
    // The last successful merge's result as JSON (MergeResult.h); empty before one, or after a
    // failed or cancelled merge. "Export result…" saves these bytes.
    QByteArray lastResultJson() const { return m_lastResultJson; }

signals:
    void openRequested(const lms::ui::OpenRequest& request);
    void mergeStarted(lms::ui::MergeWorker* worker);
    // After success, failure or cancel; `message` is the result in words.
    void mergeFinished(bool success, bool cancelled, const QString& message);
    // resolve()'s answer for what the panel now describes (null: no model), e.g. the destination
    // strategy a re-shard writes, for the Strategy tab's drawing.
    void previewChanged(std::shared_ptr<const lms::Resolution> resolution);

private:
    void buildUi();
    QGroupBox* buildInputGroup();
    QGroupBox* buildOutputGroup();
    QGroupBox* buildScalingGroup();
    QGroupBox* buildOptionsGroup();
    QGroupBox* buildRunGroup();
    QGroupBox* buildResultGroup();
    void connectInputs();
    // What the core says of the request, now (on this thread: for Merge and the analyses).
    Resolution resolution(OverwritePolicy overwrite = OverwritePolicy::Replace) const;
    // The last preview's answer (an empty one before the first).
    const Resolution& preview() const;
    QStringList summaryLines(const ResolvedJob& job) const;
    QString outputText(const Resolution& r) const;  // the "Writes:" line
    QString blockingReason(const Resolution& r) const;
    QString changedInputField() const;
    QString stateReason() const;  // why the panel itself blocks Merge ("" when it does not)
    QString refusalText(const Refusal& refusal) const;
    void updateScalingText(const Resolution& r);
    void resetForNewModel();
    QString proposedDestination() const;
    void chooseAdapter();
    void chooseLoraConfig();
    void updateSummary();  // asks for a new preview (once per event-loop turn)
    void requestPreview();
    void showPreview();  // the labels and Merge from preview()
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
    void chooseMergedStrategyFile();
    void exportResult();
    bool hasStrategyFolder() const;  // the open model's strategy is a folder of per-rank files

    std::shared_ptr<const LoadedModel> m_model;
    PreviewResolver* m_resolver = nullptr;
    QTimer* m_previewTimer = nullptr;
    std::shared_ptr<const Resolution> m_preview;  // null: none yet for this model
    LoraPlan m_plan;
    PlanOptions m_planOptions;
    bool m_loading = false;
    QString m_lastOutputFile;
    QByteArray m_lastResultJson;
    bool m_running = false;
    std::shared_ptr<CancelToken> m_cancel;  // of the running merge
    QPointer<MergeWorker> m_worker;         // only handed to observers, never used to cancel
    QPointer<QThread> m_thread;

    QLineEdit* m_sourceEdit = nullptr;
    QLineEdit* m_strategyEdit = nullptr;
    QToolButton* m_strategyFileButton = nullptr;
    QToolButton* m_strategyFolderButton = nullptr;
    QLineEdit* m_adapterEdit = nullptr;
    QLineEdit* m_ckptNameEdit = nullptr;
    QComboBox* m_replicaCombo = nullptr;
    QPushButton* m_reopenButton = nullptr;
    QLineEdit* m_destinationEdit = nullptr;
    QLineEdit* m_shardSizeEdit = nullptr;
    QLineEdit* m_loraConfigEdit = nullptr;
    QLineEdit* m_prefixEdit = nullptr;
    QComboBox* m_formatCombo = nullptr;
    QLineEdit* m_dstStrategyEdit = nullptr;
    QLineEdit* m_mergedStrategyEdit = nullptr;
    QToolButton* m_mergedStrategyButton = nullptr;
    QLabel* m_outputLabel = nullptr;
    QRadioButton* m_alphaRadio = nullptr;
    QRadioButton* m_scalingRadio = nullptr;
    QDoubleSpinBox* m_alphaSpin = nullptr;
    QSpinBox* m_rankSpin = nullptr;
    QLineEdit* m_scalingEdit = nullptr;
    QLabel* m_scalingLabel = nullptr;
    QCheckBox* m_skipInvalidCheck = nullptr;
    QCheckBox* m_allowPartialCheck = nullptr;
    QCheckBox* m_allowNoLoraCheck = nullptr;
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
    QPushButton* m_exportResultButton = nullptr;
    QLabel* m_openFailedLabel = nullptr;
    QList<QWidget*> m_inputs;  // disabled while a merge runs
};

}  // namespace lms::ui
