#include "ImpactTab.h"

#include "AnalysisWorker.h"
#include "ImpactModel.h"
#include "TableColumns.h"
#include "TableExport.h"
#include "UiText.h"
#include "Widgets.h"

#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QSortFilterProxyModel>
#include <QSplitter>
#include <QTableView>
#include <QVBoxLayout>

namespace lms::ui {

ImpactTab::ImpactTab(QWidget* parent)
    : QWidget(parent),
      m_runner(new AnalysisRunner(this)),
      m_model(new ImpactModel(this)),
      m_sort(new QSortFilterProxyModel(this)) {
    setObjectName(QStringLiteral("impactTab"));
    m_sort->setSourceModel(m_model);
    m_sort->setSortRole(ImpactModel::SortRole);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(6, 6, 6, 6);
    auto* bar = new QHBoxLayout;
    m_analyseButton = new QPushButton(tr("Analyse"), this);
    m_analyseButton->setObjectName(QStringLiteral("impactAnalyseButton"));
    m_analyseButton->setToolTip(
        tr("Read every base weight that has a LoRA pair and measure what the "
           "merge would change (the source, adapter and scaling of the merge panel)"));
    m_cancelButton = new QPushButton(tr("Cancel"), this);
    m_cancelButton->setObjectName(QStringLiteral("impactCancelButton"));
    m_progress = new QProgressBar(this);
    m_progress->setObjectName(QStringLiteral("impactProgress"));
    m_progress->setRange(0, 1000);
    m_progress->setTextVisible(false);
    QSizePolicy keep = m_progress->sizePolicy();
    keep.setRetainSizeWhenHidden(true);  // the buttons keep their size when the bar hides
    m_progress->setSizePolicy(keep);
    m_status = new QLabel(this);
    m_status->setObjectName(QStringLiteral("impactStatus"));
    m_status->setWordWrap(true);
    m_status->setTextInteractionFlags(Qt::TextSelectableByMouse);
    bar->addWidget(m_analyseButton);
    bar->addWidget(m_cancelButton);
    bar->addWidget(m_progress, 1);
    layout->addLayout(bar);
    layout->addWidget(m_status);

    m_splitter = new QSplitter(Qt::Vertical, this);
    m_splitter->setObjectName(QStringLiteral("impactSplitter"));
    m_splitter->setChildrenCollapsible(false);
    m_view = new QTableView(m_splitter);
    m_view->setObjectName(QStringLiteral("impactView"));
    setUpRowTable(m_view, 6);
    m_view->setModel(m_sort);
    m_view->setSortingEnabled(true);
    m_view->horizontalHeader()->setSortIndicator(ImpactModel::RelativeColumn, Qt::DescendingOrder);
    makeColumnsUsable(m_view, m_view->horizontalHeader(), ImpactModel::BaseColumn, QStringLiteral("impact"));
    addExportActions(m_view, QStringLiteral("lora-impact"));
    m_chart = new ImpactChart(m_splitter);
    m_splitter->addWidget(m_view);
    m_splitter->addWidget(m_chart);
    m_splitter->setStretchFactor(0, 3);
    m_splitter->setStretchFactor(1, 1);
    layout->addWidget(m_splitter, 1);

    connect(m_analyseButton, &QPushButton::clicked, this, [this] { analyse(); });
    connect(m_cancelButton, &QPushButton::clicked, this, &ImpactTab::cancel);
    connect(m_runner, &AnalysisRunner::progressed, this,
            [this](quint64 done, quint64 total, const QString& item) {
                m_progress->setValue(total ? int(double(done) / double(total) * 1000.0) : 0);
                m_status->setText(tr("Reading %1…").arg(item));
            });
    connect(m_runner, &AnalysisRunner::finished, this, &ImpactTab::onFinished);
    connect(m_runner, &AnalysisRunner::failed, this, &ImpactTab::onFailed);
    clear();
}

ImpactTab::~ImpactTab() = default;

QString ImpactTab::statusText() const {
    return m_status->text();
}

void ImpactTab::setRunning(bool running) {
    m_analyseButton->setEnabled(!running && m_loaded && m_plan.okPairs > 0);
    m_cancelButton->setEnabled(running);
    m_progress->setVisible(running);
}

void ImpactTab::setModel(std::shared_ptr<const LoadedModel> model, const LoraPlan& plan) {
    m_runner->stop();
    m_loaded = std::move(model);
    m_plan = plan;
    m_model->clear();
    m_chart->setLayers({});
    setRunning(false);
    if (!m_loaded)
        m_status->setText(tr("Open a checkpoint with LoRA weights to see what the merge would change."));
    else if (m_plan.okPairs == 0)
        m_status->setText(tr("This model has no LoRA pair that can be merged."));
    else
        m_status->setText(tr("%n LoRA pair(s). Analyse reads their base weights (%1) and measures the "
                             "update each adds, with the scaling set in the merge panel.",
                             nullptr, int(m_plan.okPairs))
                              .arg(bytesText([&] {
                                  uint64_t bytes = 0;
                                  for (const auto& t : m_loaded->source->tensors())
                                      for (const auto& p : m_plan.pairs)
                                          if (p.status == PairStatus::Ok && p.base == t.name)
                                              bytes += t.byteSize;
                                  return bytes;
                              }())));
}

void ImpactTab::clear() {
    setModel(nullptr, {});
}

bool ImpactTab::analyse() {
    if (!m_loaded || m_plan.okPairs == 0) return false;
    if (!m_inputs) {
        m_status->setText(tr("No scaling: set it in the merge panel."));
        return false;
    }
    // The merge's own source, plan and scalings (resolve()), never a rule of this tab's.
    Inputs inputs = m_inputs();
    if (!inputs.reason.isEmpty() || !inputs.source) {
        m_status->setText(tr("The merge panel is needed first: %1").arg(inputs.reason));
        return false;
    }
    m_pending = std::make_shared<ImpactReport>();
    m_runner->start([source = std::move(inputs.source), plan = std::move(inputs.plan),
                     s = std::move(inputs.scalings),
                     out = m_pending](const ProgressCallback& progress, const CancelToken* cancel) -> Status {
        auto report = computeLoraImpact(*source, plan, s, progress, cancel);
        if (!report) return std::unexpected(report.error());
        *out = std::move(*report);
        return {};
    });
    m_model->clear();
    m_chart->setLayers({});
    m_progress->setValue(0);
    m_status->setText(tr("Analysing…"));
    setRunning(true);
    return true;
}

void ImpactTab::cancel() {
    m_runner->cancel();
    m_cancelButton->setEnabled(false);
    m_status->setText(tr("Cancelling…"));
}

void ImpactTab::onFinished() {
    setRunning(false);
    const ImpactReport report = std::move(*m_pending);
    m_pending.reset();
    m_chart->setLayers(impactByLayer(report));
    size_t swallowed = 0;
    for (const auto& p : report.pairs) swallowed += p.unchanged == p.elements;
    QString text = tr("%n pair(s) analysed.", nullptr, int(report.pairs.size()));
    if (swallowed)
        text += QLatin1Char(' ') + tr("%n base weight(s) would not change at all: the update is below the "
                                      "precision of their dtype.",
                                      nullptr, int(swallowed));
    m_model->setReport(report);
    m_status->setText(text);
    emit analysisFinished(true);
}

void ImpactTab::onFailed(const QString& message, bool cancelled) {
    setRunning(false);
    m_pending.reset();
    m_status->setText(cancelled ? tr("Cancelled; nothing was analysed.")
                                : tr("The analysis failed: %1").arg(message));
    emit analysisFinished(false);
}

}  // namespace lms::ui
