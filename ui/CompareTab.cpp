#include "CompareTab.h"

#include "AnalysisWorker.h"
#include "CompareModel.h"
#include "TableColumns.h"
#include "TableExport.h"
#include "UiText.h"
#include "Widgets.h"

#include <QCheckBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QTableView>
#include <QVBoxLayout>

namespace lms::ui {

struct CompareTab::Pending {
    QString otherPath;
    std::shared_ptr<const LoadedModel> other;  // kept so the report's source outlives the job
    DiffReport report;
};

CompareTab::CompareTab(QWidget* parent)
    : QWidget(parent),
      m_runner(new AnalysisRunner(this)),
      m_model(new CompareModel(this)),
      m_filter(new CompareFilterModel(this)) {
    setObjectName(QStringLiteral("compareTab"));
    m_filter->setSourceModel(m_model);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(6, 6, 6, 6);
    auto* row = new QHBoxLayout;
    m_otherEdit = new QLineEdit(this);
    m_otherEdit->setObjectName(QStringLiteral("compareOtherEdit"));
    m_otherEdit->setPlaceholderText(tr("Second checkpoint (B), e.g. the merged output"));
    m_browseButton = new QPushButton(tr("Browse…"), this);
    m_browseButton->setObjectName(QStringLiteral("compareBrowseButton"));
    m_compareButton = new QPushButton(tr("Compare"), this);
    m_compareButton->setObjectName(QStringLiteral("compareButton"));
    m_cancelButton = new QPushButton(tr("Cancel"), this);
    m_cancelButton->setObjectName(QStringLiteral("compareCancelButton"));
    row->addWidget(m_otherEdit, 1);
    row->addWidget(m_browseButton);
    row->addWidget(m_compareButton);
    row->addWidget(m_cancelButton);
    layout->addLayout(row);
    auto* row2 = new QHBoxLayout;
    m_onlyDiff = new QCheckBox(tr("Only what differs"), this);
    m_onlyDiff->setObjectName(QStringLiteral("compareOnlyDiff"));
    m_progress = new QProgressBar(this);
    m_progress->setObjectName(QStringLiteral("compareProgress"));
    m_progress->setRange(0, 1000);
    m_progress->setTextVisible(false);
    row2->addWidget(m_onlyDiff);
    row2->addWidget(m_progress, 1);
    layout->addLayout(row2);
    m_status = new QLabel(this);
    m_status->setObjectName(QStringLiteral("compareStatus"));
    m_status->setWordWrap(true);
    m_status->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layout->addWidget(m_status);
    m_view = new QTableView(this);
    m_view->setObjectName(QStringLiteral("compareView"));
    setUpRowTable(m_view, 6);
    m_view->setModel(m_filter);
    m_view->setSortingEnabled(true);
    m_view->horizontalHeader()->setSortIndicator(-1, Qt::AscendingOrder);
    makeColumnsUsable(m_view, m_view->horizontalHeader(), CompareModel::NameColumn,
                      QStringLiteral("compare"));
    addExportActions(m_view, QStringLiteral("compare"));
    layout->addWidget(m_view, 1);

    connect(m_browseButton, &QPushButton::clicked, this, &CompareTab::chooseOther);
    connect(m_compareButton, &QPushButton::clicked, this,
            [this] { compareWith(m_otherEdit->text().trimmed()); });
    connect(m_otherEdit, &QLineEdit::returnPressed, this,
            [this] { compareWith(m_otherEdit->text().trimmed()); });
    connect(m_cancelButton, &QPushButton::clicked, this, &CompareTab::cancel);
    connect(m_onlyDiff, &QCheckBox::toggled, m_filter, &CompareFilterModel::setOnlyDifferences);
    connect(m_runner, &AnalysisRunner::progressed, this,
            [this](quint64 done, quint64 total, const QString& item) {
                m_progress->setValue(total ? int(double(done) / double(total) * 1000.0) : 0);
                m_status->setText(item.isEmpty() ? tr("Opening…") : tr("Comparing %1…").arg(item));
            });
    connect(m_runner, &AnalysisRunner::finished, this, &CompareTab::onFinished);
    connect(m_runner, &AnalysisRunner::failed, this, &CompareTab::onFailed);
    clear();
}

CompareTab::~CompareTab() = default;

QString CompareTab::statusText() const {
    return m_status->text();
}

void CompareTab::setRunning(bool running) {
    m_compareButton->setEnabled(!running && m_loaded);
    m_browseButton->setEnabled(!running && m_loaded);
    m_otherEdit->setEnabled(!running && m_loaded);
    m_cancelButton->setEnabled(running);
    m_progress->setVisible(running);
}

void CompareTab::setModel(std::shared_ptr<const LoadedModel> model) {
    m_runner->stop();
    m_loaded = std::move(model);
    m_model->clear();
    setRunning(false);
    m_status->setText(m_loaded ? tr("Compare %1 (A) with a second checkpoint (B): per tensor the "
                                    "elements that changed, max |Δ|, ‖B − A‖ / ‖A‖ and the cosine.")
                                     .arg(m_loaded->displayName())
                               : tr("Open a checkpoint first; then pick a second one to compare it with."));
}

void CompareTab::clear() {
    setModel(nullptr);
}

void CompareTab::chooseOther() {
    const QString start = m_loaded ? QFileInfo(m_loaded->path).absolutePath() : QString();
    const QString file =
        QFileDialog::getOpenFileName(this, tr("Checkpoint to compare with"), start,
                                     tr("Checkpoints (*.ckpt *.safetensors);;All files (*)"));
    if (file.isEmpty()) return;
    m_otherEdit->setText(file);
    compareWith(file);
}

bool CompareTab::compareWith(const QString& path) {
    if (!m_loaded) return false;
    if (path.isEmpty()) {
        m_status->setText(tr("Give the second checkpoint (B) first."));
        return false;
    }
    m_otherEdit->setText(path);
    m_pending = std::make_shared<Pending>();
    m_pending->otherPath = path;
    m_runner->start([a = m_loaded, out = m_pending](const ProgressCallback& progress,
                                                    const CancelToken* cancel) -> Status {
        // Opening B (a file, a rank folder with its strategy, a merged output) is the studio's own
        // open, so B is read exactly as if it had been opened in the window.
        LoadOutcome opened = loadPath(OpenRequest{out->otherPath, {}}, cancel);
        if (opened.cancelled) return fail(ErrorCode::Cancelled, "cancelled");
        if (!opened.model)
            return fail(
                ErrorCode::InvalidArgument,
                (opened.error.isEmpty() ? QStringLiteral("not a checkpoint") : opened.error).toStdString(),
                out->otherPath.toStdString());
        out->other = opened.model;
        auto report = diffModels(*a->source, *opened.model->source, progress, cancel);
        if (!report) return std::unexpected(report.error());
        out->report = std::move(*report);
        return {};
    });
    m_model->clear();
    m_progress->setValue(0);
    m_status->setText(tr("Opening %1…").arg(QFileInfo(path).fileName()));
    setRunning(true);
    return true;
}

void CompareTab::cancel() {
    m_runner->cancel();
    m_cancelButton->setEnabled(false);
    m_status->setText(tr("Cancelling…"));
}

void CompareTab::onFinished() {
    setRunning(false);
    const auto pending = std::move(m_pending);
    const DiffReport& r = pending->report;
    m_status->setText(
        tr("A: %1 — B: %2. %3 identical, %4 changed, %5 only in A, %6 only in B, %7 with another "
           "dtype or shape.")
            .arg(m_loaded->displayName(), pending->other->displayName(), countText(r.identical),
                 countText(r.changed), countText(r.onlyInA), countText(r.onlyInB), countText(r.mismatched)));
    m_model->setReport(pending->report);
    emit comparisonFinished(true);
}

void CompareTab::onFailed(const QString& message, bool cancelled) {
    setRunning(false);
    m_pending.reset();
    m_status->setText(cancelled ? tr("Cancelled.") : tr("The comparison failed: %1").arg(message));
    emit comparisonFinished(false);
}

}  // namespace lms::ui
