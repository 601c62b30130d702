#include "MergePanel.h"

#include "PreviewResolver.h"
#include "Prompts.h"
#include "TableExport.h"
#include "UiText.h"
#include "lms/base/Log.h"
#include "lms/formats/Sharding.h"
#include "lms/merge/Discovery.h"
#include "lms/merge/Request.h"

#include <QButtonGroup>
#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QRadioButton>
#include <QScrollArea>
#include <QSignalBlocker>
#include <QSpinBox>
#include <QStyle>
#include <QThread>
#include <QTimer>
#include <QToolButton>
#include <QVBoxLayout>
#include <set>

namespace lms::ui {
namespace {

const QColor kErrorColour(0xda, 0x44, 0x53);

QString coloured(const QString& text, const QColor& colour) {
    return QStringLiteral("<span style='color:%1'>%2</span>").arg(colour.name(), text);
}

// The closest existing folder at or above `path`, for the free-space check.
QString existingAncestor(QString path) {
    QFileInfo info(path);
    while (!path.isEmpty() && !info.exists()) {
        const QString up = info.absolutePath();
        if (up == path) break;
        path = up;
        info = QFileInfo(path);
    }
    return info.exists() ? info.absoluteFilePath() : QString();
}

QString numberOrFraction(double value) {
    return QString::number(value, 'g', 8);
}

// The max shard size field: empty is no sharding (0).
Result<uint64_t> shardBytes(const QString& text) {
    const QString trimmed = text.trimmed();
    if (trimmed.isEmpty()) return uint64_t(0);
    return parseShardSize(trimmed.toStdString());
}

}  // namespace

MergePanel::MergePanel(QWidget* parent)
    : QWidget(parent), m_resolver(new PreviewResolver(this)), m_previewTimer(new QTimer(this)) {
    setObjectName(QStringLiteral("mergePanel"));
    // Setting several fields at once (opening a model) asks for one preview, not one per field.
    m_previewTimer->setSingleShot(true);
    m_previewTimer->setInterval(0);
    connect(m_previewTimer, &QTimer::timeout, this, &MergePanel::requestPreview);
    connect(m_resolver, &PreviewResolver::resolved, this, [this](std::shared_ptr<const Resolution> r) {
        m_preview = std::move(r);
        showPreview();
        emit previewChanged(m_preview);
    });
    buildUi();
    clear();
}

MergePanel::~MergePanel() {
    // Normally the window waits for the merge to end before closing; this is the last resort
    // (e.g. a test tearing the window down): stop it and let the thread finish.
    if (m_cancel) m_cancel->cancel();
    if (m_thread) {
        m_thread->quit();
        m_thread->wait();
    }
}

void MergePanel::buildUi() {
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(6, 6, 6, 6);
    auto* input = buildInputGroup();
    auto* output = buildOutputGroup();
    auto* scaling = buildScalingGroup();
    auto* options = buildOptionsGroup();
    for (QWidget* group : {input, output, scaling, options, buildRunGroup(), buildResultGroup()})
        layout->addWidget(group);
    layout->addStretch(1);
    m_inputs = {input, output, scaling, options};
    connectInputs();
}

QGroupBox* MergePanel::buildInputGroup() {
    auto* input = new QGroupBox(tr("Input"), this);
    auto* inputForm = new QFormLayout(input);
    inputForm->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
    m_sourceEdit = new QLineEdit(input);
    m_sourceEdit->setObjectName(QStringLiteral("sourceEdit"));
    m_sourceEdit->setPlaceholderText(tr("checkpoint file or model_dir"));
    m_sourceEdit->setToolTip(
        tr("A full checkpoint file, or the folder holding rank_0, rank_1, … of a distributed one. "
           "Press Enter to open it."));
    auto* sourceBrowse = new QToolButton(input);
    sourceBrowse->setObjectName(QStringLiteral("sourceBrowseButton"));
    sourceBrowse->setText(tr("…"));
    sourceBrowse->setToolTip(tr("Choose a checkpoint file"));
    auto* sourceRow = new QHBoxLayout;
    sourceRow->addWidget(m_sourceEdit, 1);
    sourceRow->addWidget(sourceBrowse);
    auto* sourceLabel = new QLabel(tr("&Source:"), input);
    sourceLabel->setBuddy(m_sourceEdit);
    inputForm->addRow(sourceLabel, sourceRow);
    m_strategyEdit = new QLineEdit(input);
    m_strategyEdit->setObjectName(QStringLiteral("strategyEdit"));
    m_strategyEdit->setPlaceholderText(tr("not needed for a full checkpoint"));
    m_strategyEdit->setToolTip(
        tr("The parallel strategy of a distributed checkpoint: a strategy file, or the folder "
           "of per-rank strategy files when pipeline parallelism was used. Press Enter to "
           "reopen with it."));
    m_strategyFileButton = new QToolButton(input);
    m_strategyFileButton->setObjectName(QStringLiteral("strategyFileButton"));
    m_strategyFileButton->setText(tr("File…"));
    m_strategyFolderButton = new QToolButton(input);
    m_strategyFolderButton->setObjectName(QStringLiteral("strategyFolderButton"));
    m_strategyFolderButton->setText(tr("Folder…"));
    auto* strategyRow = new QHBoxLayout;
    strategyRow->addWidget(m_strategyEdit, 1);
    strategyRow->addWidget(m_strategyFileButton);
    strategyRow->addWidget(m_strategyFolderButton);
    auto* strategyLabel = new QLabel(tr("S&trategy:"), input);
    strategyLabel->setBuddy(m_strategyEdit);
    inputForm->addRow(strategyLabel, strategyRow);
    m_adapterEdit = new QLineEdit(input);
    m_adapterEdit->setObjectName(QStringLiteral("adapterEdit"));
    m_adapterEdit->setPlaceholderText(tr("none: the LoRA weights are in the source"));
    m_adapterEdit->setToolTip(
        tr("A LoRA-only adapter (e.g. MindPet's DELTA_CKP-*.ckpt, or rank folders of one) merged into the "
           "source, as loramerge's --adapter. Several adapters are summed in one pass: separate them with "
           "';', each as PATH or PATH:WEIGHT (e.g. a.ckpt; b.ckpt:-0.5). Press Enter to reopen with them."));
    auto* adapterBrowse = new QToolButton(input);
    adapterBrowse->setObjectName(QStringLiteral("adapterBrowseButton"));
    adapterBrowse->setText(tr("…"));
    adapterBrowse->setToolTip(tr("Choose the adapter file"));
    auto* adapterRow = new QHBoxLayout;
    adapterRow->addWidget(m_adapterEdit, 1);
    adapterRow->addWidget(adapterBrowse);
    auto* adapterLabel = new QLabel(tr("&Adapter:"), input);
    adapterLabel->setBuddy(m_adapterEdit);
    inputForm->addRow(adapterLabel, adapterRow);
    m_ckptNameEdit = new QLineEdit(input);
    m_ckptNameEdit->setObjectName(QStringLiteral("ckptNameEdit"));
    m_ckptNameEdit->setPlaceholderText(tr("the lexicographically last file"));
    m_ckptNameEdit->setToolTip(
        tr("Which file each rank folder contributes, a glob such as llama_rank_*-10_2.ckpt "
           "(loramerge's --ckpt-name). Press Enter to reopen with it."));
    inputForm->addRow(tr("Rank &file:"), m_ckptNameEdit);
    m_replicaCombo = new QComboBox(input);
    m_replicaCombo->setObjectName(QStringLiteral("replicaCheckCombo"));
    m_replicaCombo->addItem(tr("every byte (full)"), int(ReplicaCheck::Full));
    m_replicaCombo->addItem(tr("sampled blocks"), int(ReplicaCheck::Sampled));
    m_replicaCombo->addItem(tr("off"), int(ReplicaCheck::Off));
    m_replicaCombo->setToolTip(
        tr("How replicated slices of the rank files are compared "
           "(loramerge's --check-replicas)"));
    inputForm->addRow(tr("Check &replicas:"), m_replicaCombo);
    m_reopenButton = new QPushButton(tr("Reopen with these inputs"), input);
    m_reopenButton->setObjectName(QStringLiteral("reopenButton"));
    m_reopenButton->setVisible(false);
    inputForm->addRow(QString(), m_reopenButton);
    connect(sourceBrowse, &QToolButton::clicked, this, &MergePanel::chooseSource);
    connect(adapterBrowse, &QToolButton::clicked, this, &MergePanel::chooseAdapter);
    return input;
}

QGroupBox* MergePanel::buildOutputGroup() {
    auto* output = new QGroupBox(tr("Output"), this);
    auto* outputForm = new QFormLayout(output);
    outputForm->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
    m_destinationEdit = new QLineEdit(output);
    m_destinationEdit->setObjectName(QStringLiteral("destinationEdit"));
    m_destinationEdit->setPlaceholderText(tr("dst_ckpt_dir"));
    auto* destinationBrowse = new QToolButton(output);
    destinationBrowse->setObjectName(QStringLiteral("destinationBrowseButton"));
    destinationBrowse->setText(tr("…"));
    destinationBrowse->setToolTip(tr("Choose the destination folder"));
    auto* destinationRow = new QHBoxLayout;
    destinationRow->addWidget(m_destinationEdit, 1);
    destinationRow->addWidget(destinationBrowse);
    auto* destinationLabel = new QLabel(tr("&Destination:"), output);
    destinationLabel->setBuddy(m_destinationEdit);
    outputForm->addRow(destinationLabel, destinationRow);
    m_prefixEdit = new QLineEdit(QStringLiteral("checkpoint_"), output);
    m_prefixEdit->setObjectName(QStringLiteral("prefixEdit"));
    m_prefixEdit->setToolTip(tr("File name prefix, as MindFormers' --prefix: the file is <prefix>0.ckpt"));
    outputForm->addRow(tr("&Prefix:"), m_prefixEdit);
    m_formatCombo = new QComboBox(output);
    m_formatCombo->setObjectName(QStringLiteral("formatCombo"));
    m_formatCombo->addItem(tr("MindSpore checkpoint (.ckpt)"), int(OutputFormat::Ckpt));
    m_formatCombo->addItem(tr("safetensors"), int(OutputFormat::Safetensors));
    m_formatCombo->setToolTip(tr("The output format, as loramerge's --save_format"));
    outputForm->addRow(tr("&Format:"), m_formatCombo);
    connect(m_formatCombo, &QComboBox::currentIndexChanged, this, &MergePanel::updateSummary);
    m_shardSizeEdit = new QLineEdit(output);
    m_shardSizeEdit->setObjectName(QStringLiteral("maxShardSizeEdit"));
    m_shardSizeEdit->setPlaceholderText(tr("empty: one file"));
    m_shardSizeEdit->setToolTip(
        tr("Split a safetensors output into shards of at most this size, e.g. 5GB or 500MB, with "
           "model.safetensors.index.json (loramerge's --max_shard_size)"));
    outputForm->addRow(tr("Max &shard size:"), m_shardSizeEdit);
    connect(m_shardSizeEdit, &QLineEdit::textChanged, this, &MergePanel::updateSummary);
    m_dstStrategyEdit = new QLineEdit(output);
    m_dstStrategyEdit->setObjectName(QStringLiteral("dstStrategyEdit"));
    m_dstStrategyEdit->setPlaceholderText(tr("empty: one full checkpoint"));
    m_dstStrategyEdit->setToolTip(
        tr("Re-shard: a single-stage strategy file; one file is written per rank, as loramerge's "
           "--dst_ckpt_strategy"));
    outputForm->addRow(tr("Re-shard &to:"), m_dstStrategyEdit);
    connect(m_dstStrategyEdit, &QLineEdit::textChanged, this, &MergePanel::updateSummary);
    m_mergedStrategyEdit = new QLineEdit(output);
    m_mergedStrategyEdit->setObjectName(QStringLiteral("mergedStrategyEdit"));
    m_mergedStrategyEdit->setPlaceholderText(tr("empty: not saved"));
    m_mergedStrategyEdit->setToolTip(
        tr("The strategy folder of a pipeline run is merged in memory; save the merged strategy "
           "(as loramerge strategy merge writes it) to this file with the merge"));
    m_mergedStrategyButton = new QToolButton(output);
    m_mergedStrategyButton->setObjectName(QStringLiteral("mergedStrategyBrowseButton"));
    m_mergedStrategyButton->setText(tr("…"));
    m_mergedStrategyButton->setToolTip(tr("Save merged strategy…"));
    auto* mergedStrategyRow = new QHBoxLayout;
    mergedStrategyRow->addWidget(m_mergedStrategyEdit, 1);
    mergedStrategyRow->addWidget(m_mergedStrategyButton);
    auto* mergedStrategyLabel = new QLabel(tr("Sa&ve strategy:"), output);
    mergedStrategyLabel->setBuddy(m_mergedStrategyEdit);
    outputForm->addRow(mergedStrategyLabel, mergedStrategyRow);
    connect(m_mergedStrategyEdit, &QLineEdit::textChanged, this, &MergePanel::updateSummary);
    connect(m_mergedStrategyButton, &QToolButton::clicked, this, &MergePanel::chooseMergedStrategyFile);
    m_outputLabel = new QLabel(output);
    m_outputLabel->setObjectName(QStringLiteral("outputFileLabel"));
    m_outputLabel->setWordWrap(true);
    m_outputLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_outputLabel->setForegroundRole(QPalette::PlaceholderText);
    outputForm->addRow(tr("Writes:"), m_outputLabel);
    connect(destinationBrowse, &QToolButton::clicked, this, &MergePanel::chooseDestination);
    return output;
}

QGroupBox* MergePanel::buildScalingGroup() {
    auto* scaling = new QGroupBox(tr("LoRA scaling"), this);
    auto* scalingLayout = new QVBoxLayout(scaling);
    m_alphaRadio = new QRadioButton(tr("From lora_alpha and lora_rank"), scaling);
    m_alphaRadio->setObjectName(QStringLiteral("alphaRankRadio"));
    m_alphaRadio->setChecked(true);
    auto* alphaRow = new QHBoxLayout;
    alphaRow->setContentsMargins(20, 0, 0, 0);
    m_alphaSpin = new QDoubleSpinBox(scaling);
    m_alphaSpin->setObjectName(QStringLiteral("alphaSpin"));
    // Nothing is guessed: at its minimum (0) the field shows "not set" and gives no alpha.
    m_alphaSpin->setRange(0, 1e6);
    m_alphaSpin->setDecimals(4);
    m_alphaSpin->setSpecialValueText(tr("not set"));
    m_alphaSpin->setValue(0);
    m_alphaSpin->setToolTip(tr("lora_alpha from pet_config in the training YAML"));
    m_rankSpin = new QSpinBox(scaling);
    m_rankSpin->setObjectName(QStringLiteral("rankSpin"));
    m_rankSpin->setRange(0, 1 << 20);
    m_rankSpin->setSpecialValueText(tr("each pair's r"));
    m_rankSpin->setToolTip(
        tr("lora_rank from pet_config. At its minimum, each pair's own r (the rows of A) is used."));
    auto* alphaLabel = new QLabel(tr("α"), scaling);
    alphaLabel->setBuddy(m_alphaSpin);
    auto* rankLabel = new QLabel(tr("r"), scaling);
    rankLabel->setBuddy(m_rankSpin);
    alphaRow->addWidget(alphaLabel);
    alphaRow->addWidget(m_alphaSpin, 1);
    alphaRow->addSpacing(8);
    alphaRow->addWidget(rankLabel);
    alphaRow->addWidget(m_rankSpin, 1);
    m_scalingRadio = new QRadioButton(tr("Scaling directly"), scaling);
    m_scalingRadio->setObjectName(QStringLiteral("scalingRadio"));
    m_scalingEdit = new QLineEdit(scaling);
    m_scalingEdit->setObjectName(QStringLiteral("scalingEdit"));
    m_scalingEdit->setPlaceholderText(tr("e.g. 2 or 16/8"));
    m_scalingEdit->setToolTip(tr("The --lora_scaling value: a number, or alpha/rank such as 16/8"));
    auto* scalingRow = new QHBoxLayout;
    scalingRow->setContentsMargins(20, 0, 0, 0);
    scalingRow->addWidget(m_scalingEdit);
    auto* group = new QButtonGroup(scaling);
    group->addButton(m_alphaRadio);
    group->addButton(m_scalingRadio);
    m_scalingLabel = new QLabel(scaling);
    m_scalingLabel->setObjectName(QStringLiteral("scalingResultLabel"));
    m_scalingLabel->setWordWrap(true);
    scalingLayout->addWidget(m_alphaRadio);
    scalingLayout->addLayout(alphaRow);
    scalingLayout->addWidget(m_scalingRadio);
    scalingLayout->addLayout(scalingRow);
    m_loraConfigEdit = new QLineEdit(scaling);
    m_loraConfigEdit->setObjectName(QStringLiteral("loraConfigEdit"));
    m_loraConfigEdit->setPlaceholderText(tr("LoRA config: none (one beside the model is read)"));
    m_loraConfigEdit->setToolTip(
        tr("The training YAML (pet_config) or PEFT adapter_config.json to read lora_alpha and lora_rank "
           "from (loramerge's --lora_config); α or a scaling typed above override it"));
    auto* configBrowse = new QToolButton(scaling);
    configBrowse->setObjectName(QStringLiteral("loraConfigBrowseButton"));
    configBrowse->setText(tr("…"));
    configBrowse->setToolTip(tr("Choose the LoRA config"));
    auto* configRow = new QHBoxLayout;
    configRow->addWidget(m_loraConfigEdit, 1);
    configRow->addWidget(configBrowse);
    connect(configBrowse, &QToolButton::clicked, this, &MergePanel::chooseLoraConfig);
    scalingLayout->addLayout(configRow);
    scalingLayout->addWidget(m_scalingLabel);
    return scaling;
}

QGroupBox* MergePanel::buildOptionsGroup() {
    auto* options = new QGroupBox(tr("Options"), this);
    auto* optionsLayout = new QVBoxLayout(options);
    m_skipInvalidCheck = new QCheckBox(tr("Skip pairs with problems"), options);
    m_skipInvalidCheck->setObjectName(QStringLiteral("skipInvalidCheck"));
    m_skipInvalidCheck->setToolTip(
        tr("Merge the valid pairs and leave the others out (their LoRA weights are still "
           "dropped)"));
    m_verifyCheck = new QCheckBox(tr("Verify the output afterwards"), options);
    m_verifyCheck->setObjectName(QStringLiteral("verifyCheck"));
    m_verifyCheck->setChecked(true);
    m_crcCheck = new QCheckBox(tr("Check input CRC trailers"), options);
    m_crcCheck->setObjectName(QStringLiteral("crcCheck"));
    m_crcCheck->setChecked(true);
    // The refusals a user may overrule, as --allow-partial and --allow-no-lora do; reset per model.
    m_allowPartialCheck = new QCheckBox(tr("Merge a partial adapter"), options);
    m_allowPartialCheck->setObjectName(QStringLiteral("allowPartialCheck"));
    m_allowPartialCheck->setToolTip(
        tr("The LoRA config's target_modules selects base weights that have no LoRA pair (an adapter "
           "saved in part?). Merge the pairs there are anyway (--allow-partial)."));
    m_allowNoLoraCheck = new QCheckBox(tr("Allow no LoRA (copy as is)"), options);
    m_allowNoLoraCheck->setObjectName(QStringLiteral("allowNoLoraCheck"));
    m_allowNoLoraCheck->setToolTip(
        tr("Without a LoRA pair the merge is refused (a forgotten adapter?); this copies the "
           "checkpoint unchanged instead (--allow-no-lora)."));
    for (QCheckBox* check : {m_allowPartialCheck, m_allowNoLoraCheck})
        connect(check, &QCheckBox::toggled, this, &MergePanel::updateSummary);
    optionsLayout->addWidget(m_skipInvalidCheck);
    optionsLayout->addWidget(m_allowPartialCheck);
    optionsLayout->addWidget(m_allowNoLoraCheck);
    optionsLayout->addWidget(m_verifyCheck);
    optionsLayout->addWidget(m_crcCheck);
    return options;
}

QGroupBox* MergePanel::buildRunGroup() {
    auto* run = new QGroupBox(tr("Merge"), this);
    auto* runLayout = new QVBoxLayout(run);
    m_summaryLabel = new QLabel(run);
    m_summaryLabel->setObjectName(QStringLiteral("dryRunLabel"));
    m_summaryLabel->setWordWrap(true);
    m_summaryLabel->setTextFormat(Qt::RichText);
    m_hintLabel = new QLabel(run);
    m_hintLabel->setObjectName(QStringLiteral("mergeHintLabel"));
    m_hintLabel->setWordWrap(true);
    m_hintLabel->setForegroundRole(QPalette::PlaceholderText);
    auto* buttons = new QHBoxLayout;
    m_mergeButton = new QPushButton(tr("&Merge"), run);
    m_mergeButton->setObjectName(QStringLiteral("mergeButton"));
    m_mergeButton->setDefault(true);
    m_mergeButton->setIcon(style()->standardIcon(QStyle::SP_DialogSaveButton));
    m_cancelButton = new QPushButton(tr("Cancel"), run);
    m_cancelButton->setObjectName(QStringLiteral("cancelButton"));
    m_cancelButton->setIcon(style()->standardIcon(QStyle::SP_BrowserStop));
    m_cancelButton->setToolTip(tr("Stop the merge; nothing of it is kept (Esc)"));
    buttons->addWidget(m_mergeButton, 1);
    buttons->addWidget(m_cancelButton, 1);
    m_progressBar = new QProgressBar(run);
    m_progressBar->setObjectName(QStringLiteral("mergeProgressBar"));
    m_progressBar->setRange(0, 1000);
    m_progressBar->setValue(0);
    m_currentLabel = new QLabel(run);
    m_currentLabel->setObjectName(QStringLiteral("currentParameterLabel"));
    m_currentLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_speedLabel = new QLabel(run);
    m_speedLabel->setObjectName(QStringLiteral("throughputLabel"));
    runLayout->addWidget(m_summaryLabel);
    runLayout->addLayout(buttons);
    runLayout->addWidget(m_hintLabel);
    runLayout->addWidget(m_progressBar);
    runLayout->addWidget(m_currentLabel);
    runLayout->addWidget(m_speedLabel);
    return run;
}

QGroupBox* MergePanel::buildResultGroup() {
    m_resultBox = new QGroupBox(tr("Result"), this);
    m_resultBox->setObjectName(QStringLiteral("resultBox"));
    auto* resultLayout = new QVBoxLayout(m_resultBox);
    m_resultLabel = new QLabel(m_resultBox);
    m_resultLabel->setObjectName(QStringLiteral("resultLabel"));
    m_resultLabel->setWordWrap(true);
    m_resultLabel->setTextFormat(Qt::RichText);
    m_resultLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_openOutputButton = new QPushButton(tr("Open output folder"), m_resultBox);
    m_openOutputButton->setObjectName(QStringLiteral("openOutputButton"));
    m_openOutputButton->setIcon(style()->standardIcon(QStyle::SP_DirOpenIcon));
    m_openFailedLabel = new QLabel(m_resultBox);
    m_openFailedLabel->setObjectName(QStringLiteral("openOutputFailedLabel"));
    m_openFailedLabel->setWordWrap(true);
    m_openFailedLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_openFailedLabel->hide();
    m_exportResultButton = new QPushButton(tr("Export result…"), m_resultBox);
    m_exportResultButton->setObjectName(QStringLiteral("exportResultButton"));
    m_exportResultButton->setToolTip(
        tr("Save the result as JSON: outputs, the scaling of each pair and where it came from, notes, "
           "warnings and the verification outcome"));
    connect(m_exportResultButton, &QPushButton::clicked, this, &MergePanel::exportResult);
    resultLayout->addWidget(m_resultLabel);
    auto* resultButtons = new QHBoxLayout;
    resultButtons->addWidget(m_openOutputButton);
    resultButtons->addWidget(m_exportResultButton);
    resultButtons->addStretch(1);
    resultLayout->addLayout(resultButtons);
    resultLayout->addWidget(m_openFailedLabel);
    return m_resultBox;
}

void MergePanel::connectInputs() {
    // The inputs the model is opened with: Enter in any of them (or Reopen) opens it with them all.
    const auto reopen = [this] {
        const auto open = openRequest();
        if (!open.path.isEmpty()) emit openRequested(open);
    };
    for (QLineEdit* edit : {m_sourceEdit, m_strategyEdit, m_adapterEdit, m_ckptNameEdit}) {
        connect(edit, &QLineEdit::returnPressed, this, reopen);
        connect(edit, &QLineEdit::textChanged, this, &MergePanel::updateSummary);
    }
    connect(m_replicaCombo, &QComboBox::currentIndexChanged, this, &MergePanel::updateSummary);
    connect(m_reopenButton, &QPushButton::clicked, this, reopen);
    connect(m_loraConfigEdit, &QLineEdit::textChanged, this, &MergePanel::updateSummary);
    connect(m_strategyFileButton, &QToolButton::clicked, this, [this] { chooseStrategy(false); });
    connect(m_strategyFolderButton, &QToolButton::clicked, this, [this] { chooseStrategy(true); });
    connect(m_destinationEdit, &QLineEdit::textChanged, this, &MergePanel::updateSummary);
    connect(m_prefixEdit, &QLineEdit::textChanged, this, &MergePanel::updateSummary);
    // Editing a field selects its way of giving the scaling; programmatic changes (the rank
    // pre-filled from the shapes) leave the choice alone.
    connect(m_alphaSpin, &QDoubleSpinBox::valueChanged, this, [this] {
        if (m_alphaSpin->hasFocus()) m_alphaRadio->setChecked(true);
        updateSummary();
    });
    connect(m_rankSpin, &QSpinBox::valueChanged, this, [this] {
        if (m_rankSpin->hasFocus()) m_alphaRadio->setChecked(true);
        updateSummary();
    });
    connect(m_scalingEdit, &QLineEdit::textEdited, this, [this] { m_scalingRadio->setChecked(true); });
    connect(m_scalingEdit, &QLineEdit::textChanged, this, &MergePanel::updateSummary);
    connect(m_alphaRadio, &QRadioButton::toggled, this, &MergePanel::updateSummary);
    connect(m_skipInvalidCheck, &QCheckBox::toggled, this, &MergePanel::updateSummary);
    connect(m_mergeButton, &QPushButton::clicked, this, &MergePanel::onMergeClicked);
    connect(m_cancelButton, &QPushButton::clicked, this, &MergePanel::requestCancel);
    connect(m_openOutputButton, &QPushButton::clicked, this, [this] {
        if (m_lastOutputFile.isEmpty()) return;
        const QString folder = QFileInfo(m_lastOutputFile).absolutePath();
        if (prompts().openFolder(folder)) return;
        // No file manager answered (a server, a bare X session): say where the output is instead.
        m_openFailedLabel->setText(
            tr("No file manager could be opened. The merged checkpoint is %1 (in %2).")
                .arg(QDir::toNativeSeparators(m_lastOutputFile), QDir::toNativeSeparators(folder)));
        m_openFailedLabel->show();
    });
}

void MergePanel::clear() {
    m_model.reset();
    m_preview.reset();
    m_resolver->clear();
    m_plan = {};
    m_sourceEdit->clear();
    m_strategyEdit->clear();
    m_adapterEdit->clear();
    m_ckptNameEdit->clear();
    m_replicaCombo->setCurrentIndex(0);
    resetForNewModel();
    m_destinationEdit->clear();
    m_resultBox->hide();
    m_progressBar->setValue(0);
    m_progressBar->setVisible(false);
    m_currentLabel->clear();
    m_speedLabel->clear();
    setRunning(false);
}

void MergePanel::resetForNewModel() {
    // Nothing of the previous model is carried over: a scaling, config or re-shard strategy typed
    // for it would be a guess for this one.
    m_alphaRadio->setChecked(true);
    m_alphaSpin->setValue(0);
    m_rankSpin->setValue(0);
    m_scalingEdit->clear();
    m_loraConfigEdit->clear();
    m_dstStrategyEdit->clear();
    m_mergedStrategyEdit->clear();
    m_shardSizeEdit->clear();
    m_allowPartialCheck->setChecked(false);
    m_allowNoLoraCheck->setChecked(false);
}

bool MergePanel::hasStrategyFolder() const {
    return m_model && m_model->isDistributed() && QFileInfo(m_model->strategyArgument).isDir();
}

QString MergePanel::proposedDestination() const {
    // Beside the model: <folder>_merged for a folder (rank folders, shards, a Checkpoint 2.0 save, or
    // the rank_0 of a merged output), <dir>/merged for a file.
    const QFileInfo info(m_model->path);
    QString proposal;
    if (info.isDir()) {
        proposal = info.absoluteFilePath() + QStringLiteral("_merged");
    } else {
        const QDir dir = info.absoluteDir();
        proposal = isRankFolderName(dir.dirName().toStdString())
                       ? QFileInfo(dir.absolutePath()).absolutePath() + QStringLiteral("_merged")
                       : dir.filePath(QStringLiteral("merged"));
    }
    // With a strategy near it (MindFormers' output/strategy beside output/checkpoint) the output
    // would later open as a distributed checkpoint missing ranks: one level up instead, as
    // MindFormers nests outputs under dst/<source-dir-name>/ (spec §4.11).
    if (!findStrategyNear(toPath(proposal)).path.empty()) {
        const QFileInfo at(proposal);
        proposal = QDir(at.absolutePath() + QStringLiteral("_merged")).filePath(at.fileName());
    }
    return proposal;
}

void MergePanel::setModel(std::shared_ptr<const LoadedModel> model) {
    const bool samePath = m_model && model && m_model->opened.path == model->opened.path;
    m_model = std::move(model);
    // The last answer, and one still being worked out, are for another model: "Checking…" until this one's.
    m_preview.reset();
    m_resolver->clear();
    const auto& opened = m_model->opened;
    {
        const QSignalBlocker blockSource(m_sourceEdit);  // one summary update at the end
        m_sourceEdit->setText(m_model->path);
    }
    m_strategyEdit->setText(m_model->isDistributed() ? m_model->strategyArgument : QString());
    m_adapterEdit->setText(opened.adapter);
    m_ckptNameEdit->setText(opened.ckptName);
    m_replicaCombo->setCurrentIndex(std::max(0, m_replicaCombo->findData(int(opened.replicaCheck))));
    if (!samePath) {
        resetForNewModel();
        m_destinationEdit->setText(proposedDestination());
    }
    if (!opened.loraConfig.isEmpty()) m_loraConfigEdit->setText(opened.loraConfig);
    if (!m_running) {  // a running merge keeps its progress on screen; it holds its own source
        m_resultBox->hide();
        m_progressBar->setValue(0);
        m_progressBar->setVisible(false);
        m_currentLabel->clear();
        m_speedLabel->clear();
    }
    m_plan = planLora(m_model->source->tensors());
    updateSummary();
}

void MergePanel::setPlan(const LoraPlan& plan, const PlanOptions& options) {
    m_plan = plan;
    m_planOptions = options;
    updateSummary();
}

void MergePanel::setLoading(bool loading) {
    m_loading = loading;
    updateSummary();
}

void MergePanel::setSuggestedScaling(double alpha, int rank) {
    m_alphaRadio->setChecked(true);
    m_alphaSpin->setValue(alpha);
    m_rankSpin->setValue(rank);
}

void MergePanel::setStrategyPath(const QString& path) {
    m_strategyEdit->setText(path);
}

OpenRequest MergePanel::openRequest() const {
    const auto absolute = [](const QString& text) {
        const QString path = QDir::fromNativeSeparators(text.trimmed());
        return path.isEmpty() ? path : QFileInfo(path).absoluteFilePath();
    };
    OpenRequest open;
    open.path = absolute(m_sourceEdit->text());
    open.strategy = absolute(m_strategyEdit->text());
    open.adapter = absoluteAdapterList(m_adapterEdit->text());
    open.loraConfig = absolute(m_loraConfigEdit->text());
    open.ckptName = m_ckptNameEdit->text().trimmed();
    open.replicaCheck = ReplicaCheck(m_replicaCombo->currentData().toInt());
    return open;
}

Result<ScalingSpec> MergePanel::scalingSpec() const {
    ScalingSpec spec;
    if (m_scalingRadio->isChecked()) {
        const QString text = m_scalingEdit->text().trimmed();
        if (text.isEmpty()) return spec;  // none given: resolve() says so, or reads a config
        auto value = parseScalingText(text.toStdString());
        if (!value) return std::unexpected(value.error());
        spec.scaling = *value;
        return spec;
    }
    if (m_alphaSpin->value() <= 0) return spec;  // "not set": r alone says nothing
    spec.alpha = m_alphaSpin->value();
    if (m_rankSpin->value() > 0) spec.rank = m_rankSpin->value();
    return spec;
}

void MergePanel::updateScalingText(const Resolution& r) {
    auto spec = scalingSpec();
    if (!spec) {
        m_scalingLabel->setText(coloured(errorText(spec.error()).toHtmlEscaped(), kErrorColour));
        return;
    }
    const ResolvedJob* job = r.job ? &*r.job : nullptr;
    QString text;
    if (spec->scaling) {
        text = tr("Scaling s = <b>%1</b>").arg(numberOrFraction(*spec->scaling));
    } else if (spec->alpha && spec->rank) {
        text = tr("Scaling s = α / r = %1 / %2 = <b>%3</b>")
                   .arg(numberOrFraction(*spec->alpha), numberOrFraction(*spec->rank),
                        numberOrFraction(*spec->alpha / *spec->rank));
    } else if (spec->alpha || (job && job->options.scaling.config)) {
        // α and each pair's r, or the config's settings: the scaling of each pair, as resolve() has it.
        std::set<std::pair<int64_t, double>> values;
        if (job)
            for (size_t p = 0; p < job->plan.pairs.size() && p < job->pairScaling.size(); ++p)
                if (job->plan.pairs[p].status == PairStatus::Ok)
                    values.insert({job->plan.pairs[p].rank, job->pairScaling[p]});
        if (values.empty() && spec->alpha)
            for (const auto& pair : m_plan.pairs)
                if (pair.rank > 0) values.insert({pair.rank, *spec->alpha / double(pair.rank)});
        QStringList parts;
        for (const auto& [rank, value] : values)
            parts << tr("r %1 → <b>%2</b>").arg(rank).arg(numberOrFraction(value));
        text = (spec->alpha ? tr("Scaling s = α / r of each pair") : tr("Scaling s per pair")) +
               (parts.isEmpty() ? QString() : QStringLiteral(": ") + parts.join(QStringLiteral(", ")));
    } else {
        text = tr("No scaling yet: type α (and r) or the scaling, or choose the training config.");
    }
    // Where the value comes from, as resolve() says ("from finetune.yaml: pet_config lora_alpha 16, ...").
    if (job && !job->scalingProvenance.empty())
        text += QStringLiteral("<br>") + qs(job->scalingProvenance).toHtmlEscaped();
    m_scalingLabel->setText(text);
}

MergeRequest MergePanel::request(OverwritePolicy overwrite) const {
    // The widgets map onto request fields; every rule about them is resolve()'s.
    MergeRequest request;
    if (m_model) {
        const auto& opened = m_model->opened;
        request.source.path = toPath(m_model->path);
        // Several adapters (`a.ckpt; b.ckpt:-0.5`) are summed in one pass, as repeated --adapter flags.
        auto adapters = parseAdapterList(opened.adapter.toStdString());
        if (adapters && (adapters->size() > 1 || (adapters->size() == 1 && adapters->front().weight != 1)))
            request.source.adapters = std::move(*adapters);
        else  // one plain adapter (or text resolve() will name the error in)
            request.source.adapter =
                adapters && !adapters->empty() ? adapters->front().path : toPath(opened.adapter);
        request.source.ckptNameGlob = opened.ckptName.toStdString();
        request.source.replicaCheck = opened.replicaCheck;
        if (m_model->isDistributed())
            request.strategy = {StrategyMode::Given, toPath(m_model->strategyArgument)};
    }
    if (auto spec = scalingSpec()) {
        auto& scaling = request.scaling;
        scaling.spec = *spec;
        if (spec->scaling) {
            scaling.origin = ScalingOrigin::Scaling;
            scaling.provenance = "from the scaling " + m_scalingEdit->text().trimmed().toStdString();
        } else if (spec->alpha) {
            const std::string alpha = numberOrFraction(*spec->alpha).toStdString();
            scaling.origin = spec->rank ? ScalingOrigin::AlphaRank : ScalingOrigin::AlphaPerPair;
            scaling.provenance = spec->rank
                                     ? "from α " + alpha + " and r " + std::to_string(int64_t(*spec->rank))
                                     : "from α " + alpha + " and each pair's r";
        }
    }
    request.scaling.configFile = toPath(QDir::fromNativeSeparators(m_loraConfigEdit->text().trimmed()));
    request.destination.dir = toPath(m_destinationEdit->text().trimmed());
    request.destination.prefix = m_prefixEdit->text().toStdString();
    request.destination.format = OutputFormat(m_formatCombo->currentData().toInt());
    request.destination.strategy = toPath(m_dstStrategyEdit->text().trimmed());
    if (hasStrategyFolder())  // the field is disabled (and ignored) for anything else
        request.destination.mergedStrategyFile =
            toPath(QDir::fromNativeSeparators(m_mergedStrategyEdit->text().trimmed()));
    if (auto bytes = shardBytes(m_shardSizeEdit->text())) request.options.maxShardBytes = *bytes;
    request.options.plan = m_planOptions;
    request.options.skipInvalid = m_skipInvalidCheck->isChecked();
    request.options.allowNoLora = m_allowNoLoraCheck->isChecked();
    request.scaling.allowPartial = m_allowPartialCheck->isChecked();
    request.options.verify = m_verifyCheck->isChecked();
    request.options.checkInputCrc = m_crcCheck->isChecked();
    request.overwrite = overwrite;  // the preview assumes Replace: onMergeClicked asks before replacing
    return request;
}

Resolution MergePanel::resolution(OverwritePolicy overwrite) const {
    if (!m_model) return {};
    return resolve(request(overwrite), m_model->source);
}

const Resolution& MergePanel::preview() const {
    static const Resolution none;
    return m_preview ? *m_preview : none;
}

bool MergePanel::isPreviewPending() const {
    return m_previewTimer->isActive() || m_resolver->isPending();
}

bool MergePanel::waitForPreview(int msecs) {
    if (m_previewTimer->isActive()) {
        m_previewTimer->stop();
        requestPreview();
    }
    return m_resolver->wait(msecs);
}

QString MergePanel::outputFile() const {
    if (m_destinationEdit->text().trimmed().isEmpty()) return {};
    const auto& r = preview();
    return r.job && !r.job->outputFiles.empty() ? qs(r.job->outputFiles.front()) : QString();
}

QString MergePanel::outputText(const Resolution& r) const {
    if (!r.job || r.job->outputFiles.empty()) return tr("(choose a destination)");
    const QString first = QDir::toNativeSeparators(qs(r.job->outputFiles.front()));
    const int more = int(r.job->outputFiles.size()) - 1;
    return more > 0 ? tr("%1 and %n more rank file(s)", nullptr, more).arg(first) : first;
}

QString MergePanel::blockingReason() const {
    // A newly opened model's first answer is still on its way.
    if (m_model && !m_preview && stateReason().isEmpty()) return tr("Checking what the merge would do…");
    return blockingReason(preview());
}

std::optional<ResolvedJob> MergePanel::analysedJob(QString* reason) const {
    const auto refuse = [&](const QString& why) {
        if (reason) *reason = why;
        return std::nullopt;
    };
    if (!m_model) return refuse(tr("Open a checkpoint first."));
    // An input field not yet applied: the open model is not what the merge would read.
    if (const QString changed = changedInputField(); !changed.isEmpty())
        return refuse(tr("the %1 field was changed; apply it (Enter or Reopen) first.").arg(changed));
    if (auto spec = scalingSpec(); !spec) return refuse(errorText(spec.error()));
    // The preview is the answer when it is current; otherwise resolved now, for what is on screen.
    auto r = m_preview && !isPreviewPending() ? *m_preview : resolution();
    for (const auto& refusal : r.refusals)
        if (!concernsOutputOnly(refusal.code)) return refuse(refusalText(refusal));
    if (!r.job || !r.job->source) return refuse(tr("Open a checkpoint first."));
    if (reason) reason->clear();
    return std::move(r.job);
}

QString MergePanel::changedInputField() const {
    // Which input field differs from what the model was opened with ("" when none does).
    if (!m_model) return {};
    const auto open = openRequest();
    const auto& was = m_model->opened;
    if (open.path != QFileInfo(m_model->path).absoluteFilePath()) return tr("source");
    if (m_model->isDistributed() && !open.strategy.isEmpty() &&
        open.strategy != QFileInfo(m_model->strategyArgument).absoluteFilePath())
        return tr("strategy");
    if (open.adapter != was.adapter) return tr("adapter");
    if (open.ckptName != was.ckptName) return tr("rank file");
    if (open.replicaCheck != was.replicaCheck) return tr("check replicas");
    return {};
}

QString MergePanel::stateReason() const {
    // The panel's own state: a run in progress, a field not yet applied or not understood.
    if (isRunning()) return tr("A merge is running.");
    if (m_loading) return tr("Opening the checkpoint…");
    if (!m_model) return tr("Open a checkpoint first.");
    const QString changed = changedInputField();
    if (changed == tr("source"))
        return tr("The source field was changed: press Enter in it to open that checkpoint.");
    if (changed == tr("strategy"))
        return tr(
            "The strategy field was changed: press Enter in it to reopen the checkpoint with that strategy.");
    if (!changed.isEmpty())
        return tr("The %1 field was changed: press Enter in it, or Reopen, to reopen the checkpoint with it.")
            .arg(changed);
    if (auto spec = scalingSpec(); !spec) return errorText(spec.error());
    if (auto bytes = shardBytes(m_shardSizeEdit->text()); !bytes)
        return tr("Max shard size: %1").arg(errorText(bytes.error()));
    return {};
}

QString MergePanel::refusalText(const Refusal& refusal) const {
    // The studio's words for its own fields; every other refusal as the core (and the CLI) says it.
    if (refusal.code == RefusalCode::NoScaling)
        return tr("No scaling: give α and r, a scaling, or a LoRA config.");
    return errorText(refusal.error);
}

QString MergePanel::blockingReason(const Resolution& r) const {
    if (QString state = stateReason(); !state.isEmpty()) return state;
    return r.refusals.empty() ? QString() : refusalText(r.refusals.front());
}

QStringList MergePanel::summaryLines(const ResolvedJob& job) const {
    const auto& plan = job.plan;
    QStringList lines;
    lines << tr("<b>%n pair(s)</b> to merge", nullptr, int(plan.okPairs)) +
                 (plan.disabledPairs ? tr(", %n left out", nullptr, int(plan.disabledPairs)) : QString()) +
                 (plan.problemPairs
                      ? QStringLiteral(", ") +
                            coloured(tr("%n with a problem", nullptr, int(plan.problemPairs)), kErrorColour)
                      : QString());
    size_t dropped = 0;
    for (bool d : plan.dropped) dropped += d ? 1 : 0;
    lines << tr("%1 parameters written, %2 LoRA and optimizer-state parameters dropped")
                 .arg(countText(plan.tensorsToWrite), countText(dropped));
    lines << tr("About <b>%1</b> to write").arg(bytesText(job.bytesToWrite));
    if (job.freeBytes) lines << tr("%1 free at the destination").arg(bytesText(*job.freeBytes));
    for (const auto& warning : job.warnings) {
        // (Not said of the file this panel has just written: the result above already names it.)
        if (job.existingOutputs.size() == 1 && qs(job.existingOutputs.front()) == m_lastOutputFile &&
            warning.find(" will be replaced") != std::string::npos)
            continue;
        QString text = qs(warning);
        if (!text.isEmpty()) text[0] = text[0].toUpper();
        lines << coloured(text.toHtmlEscaped() + QLatin1Char('.'), QColor(0xf6, 0x74, 0x00));
    }
    return lines;
}

void MergePanel::updateSummary() {
    m_previewTimer->start();
    showPreview();  // the panel's own state (a field being edited, a run) shows at once
}

void MergePanel::requestPreview() {
    if (!m_model) {
        m_resolver->clear();
        m_preview.reset();
        showPreview();
        emit previewChanged(nullptr);
        return;
    }
    m_resolver->request(request(), m_model->source);
}

void MergePanel::showPreview() {
    const auto& r = preview();  // every line below shows this one answer
    m_mergedStrategyEdit->setEnabled(hasStrategyFolder());
    m_mergedStrategyButton->setEnabled(hasStrategyFolder());
    updateScalingText(r);
    m_reopenButton->setVisible(!changedInputField().isEmpty() && changedInputField() != tr("source"));
    m_outputLabel->setText(outputText(r));
    if (m_model && !m_preview)
        m_summaryLabel->setText(tr("Checking what the merge would do…"));
    else if (!m_model || !r.job)
        m_summaryLabel->setText(tr("Open a checkpoint to see what the merge will do."));
    else
        m_summaryLabel->setText(summaryLines(*r.job).join(QStringLiteral("<br>")));
    const QString reason = blockingReason();
    m_mergeButton->setEnabled(reason.isEmpty());
    // Every refusal, not only the first, so one look shows all that stands in the way.
    QStringList reasons;
    if (stateReason().isEmpty())
        for (const auto& refusal : r.refusals) reasons << refusalText(refusal);
    m_hintLabel->setText(isRunning()         ? QString()
                         : reasons.isEmpty() ? reason
                                             : reasons.join(QLatin1Char('\n')));
    m_hintLabel->setVisible(!reason.isEmpty() && !isRunning());
}

void MergePanel::setRunning(bool running) {
    for (auto* widget : m_inputs) widget->setEnabled(!running);
    // Cancel takes Merge's place while the merge runs, so the pointer (and Enter) stay on it.
    m_mergeButton->setVisible(!running);
    m_cancelButton->setEnabled(running);
    m_cancelButton->setVisible(running);
    if (running) m_progressBar->setVisible(true);
    // While the merge runs nothing can change the request; after it, the outputs exist.
    if (running)
        showPreview();
    else
        updateSummary();
}

void MergePanel::onMergeClicked() {
    // Resolved now, not taken from the preview: the files may have changed since it ran.
    auto r = resolution();
    if (!blockingReason(r).isEmpty()) {
        m_preview = std::make_shared<const Resolution>(std::move(r));  // show why
        showPreview();
        return;
    }
    const QString out =
        r.job && !r.job->existingOutputs.empty() ? qs(r.job->existingOutputs.front()) : QString();
    if (!out.isEmpty()) {
        prompts().confirm(this, tr("Replace the merged checkpoint?"),
                          tr("%1 already exists. Replace it with the new merge?").arg(out), tr("Replace"),
                          [self = QPointer<MergePanel>(this)](bool yes) {
                              if (self && yes) self->startMerge(true);
                          });
        return;
    }
    startMerge();
}

void MergePanel::startMerge(bool overwrite) {
    // Resolved again: the files may have changed while the prompt was open. Without the user's
    // "Replace", a file that appears meanwhile is refused (here, or at publish by the core).
    auto resolved = resolution(overwrite ? OverwritePolicy::Replace : OverwritePolicy::Refuse);
    if (!blockingReason(resolved).isEmpty() || !resolved.ok()) return;

    auto* thread = new QThread(this);
    thread->setObjectName(QStringLiteral("mergeThread"));
    m_cancel = std::make_shared<CancelToken>();
    auto* worker = new MergeWorker(std::move(*resolved.job), m_cancel);
    worker->moveToThread(thread);
    connect(thread, &QThread::started, worker, &MergeWorker::run);
    connect(worker, &MergeWorker::done, thread, &QThread::quit);
    connect(thread, &QThread::finished, worker, &QObject::deleteLater);
    connect(thread, &QThread::finished, thread, &QObject::deleteLater);
    connect(worker, &MergeWorker::progressed, this, &MergePanel::onProgress);
    connect(worker, &MergeWorker::succeeded, this, &MergePanel::onSucceeded);
    connect(worker, &MergeWorker::failed, this, &MergePanel::onFailed);
    m_running = true;
    m_worker = worker;
    m_thread = thread;
    m_lastOutputFile.clear();
    m_resultBox->hide();
    m_progressBar->setValue(0);
    m_progressBar->setFormat(tr("%p%"));
    m_currentLabel->setText(tr("Starting…"));
    m_speedLabel->clear();
    setRunning(true);
    emit mergeStarted(worker);
    thread->start();
}

void MergePanel::requestCancel() {
    if (!m_running || !m_cancel) return;
    if (!m_cancel->isCancelled()) lms::log().info("cancelling the merge");
    m_cancel->cancel();
    m_cancelButton->setEnabled(false);
    m_currentLabel->setText(tr("Cancelling…"));
}

void MergePanel::onProgress(const MergeProgress& p) {
    if (!m_running) return;
    const int value = p.bytesTotal
                          ? int(double(p.bytesDone) / double(p.bytesTotal) * 1000.0)
                          : (p.itemsTotal ? int(double(p.itemsDone) / double(p.itemsTotal) * 1000.0) : 0);
    m_progressBar->setValue(std::clamp(value, 0, 1000));
    if (m_cancel->isCancelled()) return;
    if (p.stage == QLatin1StringView("merging") && !p.currentItem.isEmpty())
        m_currentLabel->setText(tr("%1 of %2: %3").arg(p.itemsDone + 1).arg(p.itemsTotal).arg(p.currentItem));
    else if (p.stage == QLatin1StringView("finishing"))
        m_currentLabel->setText(tr("Writing the file to disk…"));
    else if (!p.stage.isEmpty() && p.stage != QLatin1StringView("done"))
        m_currentLabel->setText(p.stage);
    if (p.elapsedSeconds > 0.05 && p.bytesDone > 0) {
        const double rate = double(p.bytesDone) / p.elapsedSeconds;
        const double left = p.bytesTotal > p.bytesDone ? double(p.bytesTotal - p.bytesDone) / rate : 0;
        m_speedLabel->setText(
            left < 1 ? tr("%1/s, almost done").arg(bytesText(uint64_t(rate)))
                     : tr("%1/s, about %2 left").arg(bytesText(uint64_t(rate)), durationText(left)));
    }
}

void MergePanel::onSucceeded(const MergeOutcome& o) {
    m_running = false;
    m_worker = nullptr;
    m_lastOutputFile = o.outputFile;
    m_lastResultJson = o.resultJson;
    m_progressBar->setValue(m_progressBar->maximum());
    m_currentLabel->setText(tr("Done."));
    m_speedLabel->setText(o.seconds > 0 ? tr("%1 in %2 (%3/s)")
                                              .arg(bytesText(o.bytesWritten), durationText(o.seconds),
                                                   bytesText(uint64_t(double(o.bytesWritten) / o.seconds)))
                                        : QString());
    QString text =
        tr("<b>Merged %n LoRA pair(s)</b> into", nullptr, int(o.pairsMerged)) +
        QStringLiteral(" <code>%1</code>.<br>").arg(QDir::toNativeSeparators(o.outputFile).toHtmlEscaped()) +
        tr("%1 parameters written (%2), %3 dropped, in %4.")
            .arg(countText(uint64_t(o.tensorsWritten)), bytesText(o.bytesWritten),
                 countText(uint64_t(o.tensorsDropped)), durationText(o.seconds));
    for (QString note : o.notes) {
        if (!note.isEmpty()) note[0] = note[0].toUpper();
        text += QStringLiteral("<br>") + note.toHtmlEscaped();
    }
    if (!o.skipped.isEmpty()) {
        text += QStringLiteral("<br>") + tr("Not merged:");
        for (int i = 0; i < o.skipped.size() && i < 8; ++i)
            text += QStringLiteral("<br>• ") + o.skipped[i].toHtmlEscaped();
        if (o.skipped.size() > 8) text += QStringLiteral("<br>• …");
    }
    m_resultLabel->setText(text);
    m_openOutputButton->setVisible(true);
    m_exportResultButton->setVisible(!m_lastResultJson.isEmpty());
    m_openFailedLabel->hide();
    m_resultBox->show();
    setRunning(false);
    revealResult();
    emit mergeFinished(true, false, m_resultLabel->text());
}

void MergePanel::onFailed(const QString& message, bool cancelled) {
    m_running = false;
    m_worker = nullptr;
    m_progressBar->setValue(0);
    m_progressBar->setVisible(false);
    m_currentLabel->clear();
    m_speedLabel->clear();
    m_resultLabel->setText(cancelled ? message.toHtmlEscaped()
                                     : coloured(tr("<b>The merge failed.</b>"), kErrorColour) +
                                           QStringLiteral("<br>") + message.toHtmlEscaped());
    m_openOutputButton->setVisible(false);
    m_lastResultJson.clear();
    m_exportResultButton->setVisible(false);
    m_openFailedLabel->hide();
    m_resultBox->show();
    setRunning(false);
    revealResult();
    emit mergeFinished(false, cancelled, message);
}

void MergePanel::revealResult() {
    // The panel usually sits in a scroll area; bring the result into view once it is laid out.
    QTimer::singleShot(0, this, [this] {
        for (QWidget* up = parentWidget(); up; up = up->parentWidget())
            if (auto* scroll = qobject_cast<QScrollArea*>(up)) {
                scroll->ensureWidgetVisible(m_resultBox, 0, 0);
                break;
            }
    });
}

void MergePanel::chooseSource() {
    const QString start = m_model ? QFileInfo(m_model->path).absolutePath() : QDir::homePath();
    prompts().chooseFile(this, tr("Open checkpoint"), start,
                         tr("Checkpoints (*.ckpt *.safetensors);;All files (*)"),
                         [self = QPointer<MergePanel>(this)](const QString& path) {
                             if (!self || path.isEmpty()) return;
                             OpenRequest open;
                             open.path = path;
                             emit self->openRequested(open);
                         });
}

void MergePanel::chooseStrategy(bool folder) {
    const QString start = m_model ? QFileInfo(m_model->path).absoluteFilePath() : QDir::homePath();
    auto done = [self = QPointer<MergePanel>(this)](const QString& path) {
        if (!self || path.isEmpty()) return;
        self->m_strategyEdit->setText(path);
        const auto open = self->openRequest();
        if (!open.path.isEmpty()) emit self->openRequested(open);
    };
    if (folder)
        prompts().chooseDirectory(this, tr("Choose the folder of strategy files"), start, done);
    else
        prompts().chooseFile(this, tr("Choose the strategy file"), start,
                             tr("Strategy files (*.ckpt *.json);;All files (*)"), done);
}

void MergePanel::chooseAdapter() {
    const QString start = m_model ? QFileInfo(m_model->path).absolutePath() : QDir::homePath();
    prompts().chooseFile(this, tr("Choose the LoRA adapter"), start,
                         tr("Checkpoints (*.ckpt *.safetensors);;All files (*)"),
                         [self = QPointer<MergePanel>(this)](const QString& path) {
                             if (!self || path.isEmpty()) return;
                             self->m_adapterEdit->setText(path);
                             const auto open = self->openRequest();
                             if (!open.path.isEmpty()) emit self->openRequested(open);
                         });
}

void MergePanel::chooseLoraConfig() {
    const QString start = m_model ? QFileInfo(m_model->path).absolutePath() : QDir::homePath();
    prompts().chooseFile(this, tr("Choose the LoRA config"), start,
                         tr("Training configs (*.yaml *.yml *.json);;All files (*)"),
                         [self = QPointer<MergePanel>(this)](const QString& path) {
                             if (self && !path.isEmpty()) self->m_loraConfigEdit->setText(path);
                         });
}

void MergePanel::chooseDestination() {
    const QString start = m_destinationEdit->text().isEmpty() ? QDir::homePath() : m_destinationEdit->text();
    prompts().chooseDirectory(this, tr("Choose the destination folder"), existingAncestor(start),
                              [self = QPointer<MergePanel>(this)](const QString& path) {
                                  if (!self || path.isEmpty()) return;
                                  self->m_destinationEdit->setText(path);
                              });
}

void MergePanel::exportResult() {
    if (m_lastResultJson.isEmpty()) return;
    const QString start =
        QFileInfo(m_lastOutputFile).absoluteDir().filePath(QStringLiteral("merge-result.json"));
    prompts().chooseSaveFile(
        this, tr("Export the merge result"), start, tr("JSON (*.json);;All files (*)"),
        [self = QPointer<MergePanel>(this), bytes = m_lastResultJson](const QString& path) {
            if (!self || path.isEmpty()) return;
            if (const QString error = writeExport(path, bytes); !error.isEmpty())
                prompts().inform(self, tr("Export failed"), error.toHtmlEscaped());
        });
}

void MergePanel::chooseMergedStrategyFile() {
    const QString start =
        m_mergedStrategyEdit->text().trimmed().isEmpty()
            ? QDir(m_destinationEdit->text().trimmed()).filePath(QStringLiteral("merged_ckpt_strategy.ckpt"))
            : m_mergedStrategyEdit->text().trimmed();
    prompts().chooseSaveFile(this, tr("Save merged strategy"), start,
                             tr("Strategy files (*.ckpt *.json);;All files (*)"),
                             [self = QPointer<MergePanel>(this)](const QString& path) {
                                 if (self && !path.isEmpty()) self->m_mergedStrategyEdit->setText(path);
                             });
}

}  // namespace lms::ui
