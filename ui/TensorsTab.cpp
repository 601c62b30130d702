#include "TensorsTab.h"

#include "HistogramWidget.h"
#include "TableColumns.h"
#include "TableExport.h"
#include "TensorTreeModel.h"
#include "UiText.h"
#include "Widgets.h"

#include <QCheckBox>
#include <QComboBox>
#include <QCoreApplication>
#include <QElapsedTimer>
#include <QFormLayout>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QScrollArea>
#include <QSplitter>
#include <QStackedWidget>
#include <QToolButton>
#include <QTreeView>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

namespace lms::ui {

// Tensors larger than this are not loaded for statistics (the whole tensor is read at once).
constexpr uint64_t kMaxStatisticsBytes = 2ull << 30;

struct TensorsTab::StatsOutcome {
    QString name;
    bool ok = false;
    TensorStatistics stats;
    QString error;
    double seconds = 0;
};

TensorsTab::TensorsTab(QWidget* parent)
    : QWidget(parent), m_model(new TensorTreeModel(this)), m_filter(new TensorFilterModel(this)) {
    setObjectName(QStringLiteral("tensorsTab"));
    m_filter->setSourceModel(m_model);

    auto* outer = new QVBoxLayout(this);
    outer->setContentsMargins(0, 0, 0, 0);
    m_stack = new QStackedWidget(this);
    outer->addWidget(m_stack);
    m_stack->addWidget(makePlaceholder(tr("<p style='font-size:large'>No checkpoint open</p>"
                                          "<p>Pick a <b>.ckpt</b> or <b>.safetensors</b> file, or a folder "
                                          "of <b>rank_0, rank_1, …</b> folders, in "
                                          "the browser on the left — or drop one onto the window.</p>"
                                          "<p>New here? <b>Help → Open demo workspace</b> writes a small "
                                          "model with LoRA weights and opens it.</p>"),
                                       m_stack, QStringLiteral("tensorsPlaceholder")));

    auto* page = new QWidget(m_stack);
    auto* layout = new QVBoxLayout(page);
    layout->setContentsMargins(6, 6, 6, 6);
    auto* bar = new QHBoxLayout;
    m_filterEdit = new QLineEdit(page);
    m_filterEdit->setObjectName(QStringLiteral("tensorFilterEdit"));
    m_filterEdit->setPlaceholderText(tr("Filter by name (Ctrl+F) — e.g. wq or layers.*.lora"));
    m_filterEdit->setClearButtonEnabled(true);
    m_roleCombo = new QComboBox(page);
    m_roleCombo->setObjectName(QStringLiteral("tensorRoleCombo"));
    m_roleCombo->setToolTip(tr("Show only parameters of one role"));
    // May elide its choice so that the bar fits a narrow centre (200 % on a small screen).
    m_roleCombo->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    m_roleCombo->setMinimumContentsLength(6);
    m_roleCombo->addItem(tr("All roles"), -1);
    for (auto role : {TensorRole::Base, TensorRole::LoraA, TensorRole::LoraB, TensorRole::OptimizerState,
                      TensorRole::Other})
        m_roleCombo->addItem(roleText(role), int(role));
    m_treeButton = new QToolButton(page);
    m_treeButton->setObjectName(QStringLiteral("tensorTreeButton"));
    m_treeButton->setText(tr("Group by prefix"));
    m_treeButton->setToolTip(tr("Show names as a tree by dotted prefix, or as one flat list"));
    m_treeButton->setCheckable(true);
    m_treeButton->setChecked(true);
    m_countLabel = new QLabel(page);
    m_countLabel->setObjectName(QStringLiteral("tensorCountLabel"));
    bar->addWidget(m_filterEdit, 1);
    bar->addWidget(m_roleCombo);
    bar->addWidget(m_treeButton);
    layout->addLayout(bar);
    layout->addWidget(m_countLabel);

    m_splitter = new QSplitter(Qt::Vertical, page);
    m_splitter->setObjectName(QStringLiteral("tensorsSplitter"));
    m_splitter->setChildrenCollapsible(false);
    m_view = new QTreeView(m_splitter);
    m_view->setObjectName(QStringLiteral("tensorView"));
    m_view->setModel(m_filter);
    m_view->setUniformRowHeights(true);
    m_view->setIndentation(14);  // deep name trees (model.layers.0.attention.wq) keep room for the names
    m_view->setAlternatingRowColors(true);
    m_view->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_view->setSelectionMode(QAbstractItemView::SingleSelection);
    m_view->header()->setSortIndicator(-1, Qt::AscendingOrder);
    m_view->setSortingEnabled(true);
    makeColumnsUsable(m_view, m_view->header(), TensorTreeModel::NameColumn, QStringLiteral("tensors"));
    addExportActions(m_view, QStringLiteral("tensors"));

    auto* details = buildDetails(m_splitter);
    m_splitter->addWidget(m_view);
    m_splitter->addWidget(details);
    m_splitter->setStretchFactor(0, 1);  // half each: on a 700-pixel screen the statistics stay in view
    m_splitter->setStretchFactor(1, 1);
    layout->addWidget(m_splitter, 1);
    m_stack->addWidget(page);

    connect(m_filterEdit, &QLineEdit::textChanged, this, [this](const QString& text) {
        m_filter->setNamePattern(text);
        if (m_filter->isFiltering() && m_filter->acceptedTensorCount() <= 2000) m_view->expandAll();
        updateCount();
    });
    connect(m_roleCombo, &QComboBox::currentIndexChanged, this, [this] {
        const int role = m_roleCombo->currentData().toInt();
        m_filter->setRoleFilter(role < 0 ? std::nullopt : std::optional(TensorRole(role)));
        if (m_filter->isFiltering() && m_filter->acceptedTensorCount() <= 2000) m_view->expandAll();
        updateCount();
    });
    connect(m_treeButton, &QToolButton::toggled, this, &TensorsTab::applyLayout);
    connect(m_logCheck, &QCheckBox::toggled, m_histogram, &HistogramWidget::setLogScale);
    connect(m_view->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
            [this](const QModelIndex& current) { showSelected(current); });
    clear();
}

// Details: what the selected parameter is, its statistics and its histogram. The text column
// scrolls when the splitter leaves it less height than its wrapped lines need (a 1024×700 screen),
// so labels never overlap.
QWidget* TensorsTab::buildDetails(QWidget* parent) {
    auto* details = new QWidget(parent);
    auto* detailsLayout = new QHBoxLayout(details);
    detailsLayout->setContentsMargins(0, 4, 0, 0);
    auto* leftScroll = new QScrollArea(details);
    leftScroll->setObjectName(QStringLiteral("tensorDetailsScroll"));
    leftScroll->setWidgetResizable(true);
    leftScroll->setFrameShape(QFrame::NoFrame);
    leftScroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    auto* leftWidget = new QWidget(leftScroll);
    auto* left = new QVBoxLayout(leftWidget);
    left->setContentsMargins(0, 0, 4, 0);
    m_titleLabel = new QLabel(details);
    m_titleLabel->setObjectName(QStringLiteral("tensorTitleLabel"));
    m_titleLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_titleLabel->setWordWrap(true);
    QFont bold = m_titleLabel->font();
    bold.setBold(true);
    m_titleLabel->setFont(bold);
    m_infoLabel = new QLabel(details);
    m_infoLabel->setObjectName(QStringLiteral("tensorInfoLabel"));
    m_infoLabel->setWordWrap(true);
    m_infoLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
    auto* grid = new QGridLayout;
    grid->setHorizontalSpacing(12);
    const QStringList names{tr("Min"), tr("Max"),  tr("Mean"), tr("Std dev"),
                            tr("NaN"), tr("±Inf"), tr("Zeros")};
    const QStringList ids{QStringLiteral("statMin"),  QStringLiteral("statMax"), QStringLiteral("statMean"),
                          QStringLiteral("statStd"),  QStringLiteral("statNan"), QStringLiteral("statInf"),
                          QStringLiteral("statZeros")};
    for (int i = 0; i < names.size(); ++i) {
        auto* caption = new QLabel(names[i] + QLatin1Char(':'), details);
        auto* value = new QLabel(QStringLiteral("–"), details);
        value->setObjectName(ids[i]);
        value->setTextInteractionFlags(Qt::TextSelectableByMouse);
        grid->addWidget(caption, i, 0);  // one column of pairs: nothing cut off in a narrow pane
        grid->addWidget(value, i, 1);
        m_statValues << value;
    }
    grid->setColumnStretch(1, 1);
    m_statusLabel = new QLabel(details);
    m_statusLabel->setObjectName(QStringLiteral("statsStatusLabel"));
    m_statusLabel->setWordWrap(true);
    left->addWidget(m_titleLabel);
    left->addWidget(m_infoLabel);
    left->addLayout(grid);
    left->addWidget(m_statusLabel);
    left->addStretch(1);
    auto* right = new QVBoxLayout;
    m_histogram = new HistogramWidget(details);
    m_logCheck = new QCheckBox(tr("Logarithmic counts"), details);
    m_logCheck->setObjectName(QStringLiteral("histogramLogCheck"));
    right->addWidget(m_histogram, 1);
    right->addWidget(m_logCheck, 0, Qt::AlignRight);
    leftScroll->setWidget(leftWidget);
    detailsLayout->addWidget(leftScroll, 1);
    detailsLayout->addLayout(right, 1);
    return details;
}

TensorsTab::~TensorsTab() {
    if (m_statsCancel) m_statsCancel->cancel();
}

void TensorsTab::setModel(std::shared_ptr<const LoadedModel> model, const LoraPlan& plan) {
    m_loaded = std::move(model);
    std::vector<TensorEntry> entries;
    const auto& tensors = m_loaded->source->tensors();
    entries.reserve(tensors.size());
    for (size_t i = 0; i < tensors.size(); ++i) {
        const auto& t = tensors[i];
        TensorEntry e;
        e.name = qs(t.name);
        e.typeName = qs(t.typeName);
        e.dtype = t.dtype;
        e.dims = t.dims;
        e.bytes = t.byteSize;
        if (i < plan.roles.size()) e.role = plan.roles[i];
        if (i < plan.dropped.size()) e.dropped = plan.dropped[i];
        if (i < m_loaded->placement.size()) {
            e.placement = m_loaded->placement[i].summary;
            e.placementDetails = m_loaded->placement[i].details;
        }
        entries.push_back(std::move(e));
    }
    m_model->setShowPlacement(m_loaded->isDistributed());
    m_model->setEntries(std::move(entries));
    m_view->setColumnHidden(TensorTreeModel::PlacementColumn, !m_loaded->isDistributed());
    if (m_model->layout() == TensorTreeModel::Layout::Tree) m_view->expandToDepth(0);
    m_stack->setCurrentIndex(1);
    clearStatistics(tr("Select a parameter to see its statistics."));
    updateCount();
}

void TensorsTab::clear() {
    m_loaded.reset();
    m_model->setEntries({});
    m_stack->setCurrentIndex(0);
    clearStatistics(tr("Select a parameter to see its statistics."));
    updateCount();
}

void TensorsTab::clearFilter() {
    m_filterEdit->clear();
    m_roleCombo->setCurrentIndex(0);
}

void TensorsTab::focusFilter() {
    m_filterEdit->setFocus(Qt::ShortcutFocusReason);
    m_filterEdit->selectAll();
}

bool TensorsTab::selectTensor(const QString& name) {
    const auto& entries = m_model->entries();
    for (size_t i = 0; i < entries.size(); ++i) {
        if (entries[i].name != name) continue;
        QModelIndex proxy = m_filter->mapFromSource(m_model->indexOfEntry(int(i)));
        if (!proxy.isValid()) {  // hidden by the filter: clear it so the parameter can be shown
            m_filterEdit->clear();
            m_roleCombo->setCurrentIndex(0);
            proxy = m_filter->mapFromSource(m_model->indexOfEntry(int(i)));
        }
        m_view->scrollTo(proxy);
        m_view->selectionModel()->setCurrentIndex(
            proxy, QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
        return true;
    }
    return false;
}

void TensorsTab::applyLayout(bool tree) {
    m_model->setLayout(tree ? TensorTreeModel::Layout::Tree : TensorTreeModel::Layout::Flat);
    if (tree) m_view->expandToDepth(m_filter->isFiltering() ? 99 : 0);
    m_view->setRootIsDecorated(tree);
    updateCount();
}

void TensorsTab::updateCount() {
    const auto& entries = m_model->entries();
    if (entries.empty()) {
        m_countLabel->clear();
        return;
    }
    uint64_t total = 0;
    for (const auto& e : entries) total += e.bytes;
    const int shown = m_filter->acceptedTensorCount();
    if (shown == int(entries.size()))
        m_countLabel->setText(tr("%1 parameters, %2").arg(countText(entries.size()), bytesText(total)));
    else
        m_countLabel->setText(
            tr("%1 of %2 parameters match").arg(countText(uint64_t(shown)), countText(entries.size())));
}

void TensorsTab::clearStatistics(const QString& message) {
    ++m_statsGeneration;
    if (m_statsCancel) m_statsCancel->cancel();
    m_statsCancel.reset();
    m_haveStats = false;
    m_titleLabel->clear();
    m_infoLabel->clear();
    m_statusLabel->setText(message);
    for (auto* value : m_statValues) value->setText(QStringLiteral("–"));
    m_histogram->setMessage(message);
}

void TensorsTab::showSelected(const QModelIndex& proxyIndex) {
    const auto* entry = m_model->entryAt(m_filter->mapToSource(proxyIndex));
    if (!entry || !m_loaded) {
        clearStatistics(proxyIndex.isValid() ? tr("A group: select one parameter to see its statistics.")
                                             : tr("Select a parameter to see its statistics."));
        if (proxyIndex.isValid()) {
            m_titleLabel->setText(
                proxyIndex.siblingAtColumn(0).data(TensorTreeModel::FullNameRole).toString());
            m_infoLabel->setText(proxyIndex.siblingAtColumn(TensorTreeModel::ShapeColumn).data().toString() +
                                 QStringLiteral(", ") +
                                 proxyIndex.siblingAtColumn(TensorTreeModel::BytesColumn).data().toString());
        }
        return;
    }
    clearStatistics(tr("Computing statistics…"));
    const int entryIndex =
        m_filter->mapToSource(proxyIndex).siblingAtColumn(0).data(TensorTreeModel::TensorIndexRole).toInt();
    m_titleLabel->setText(entry->name);
    QString info = tr("%1, %2, %3 (%4 bytes) — %5")
                       .arg(entry->typeName, shapeText(entry->dims), bytesText(entry->bytes),
                            countText(entry->bytes), roleText(entry->role));
    if (!entry->placement.isEmpty()) info += QLatin1Char('\n') + tr("Held by: %1").arg(entry->placement);
    if (entry->dropped) info += QLatin1Char('\n') + tr("Not written to the merged checkpoint.");
    m_infoLabel->setText(info);

    if (entry->bytes > kMaxStatisticsBytes) {
        clearStatistics(tr("This parameter is %1; statistics are computed for parameters up to %2.")
                            .arg(bytesText(entry->bytes), bytesText(kMaxStatisticsBytes)));
        m_titleLabel->setText(entry->name);
        m_infoLabel->setText(info);
        return;
    }
    const quint64 generation = m_statsGeneration;
    m_statsCancel = std::make_shared<CancelToken>();
    auto token = m_statsCancel;
    auto source = m_loaded->source;
    const QString name = entry->name;
    auto* watcher = new QFutureWatcher<StatsOutcome>(this);
    connect(watcher, &QFutureWatcher<StatsOutcome>::finished, this, [this, watcher, generation] {
        showStatistics(generation, watcher->result());
        watcher->deleteLater();
    });
    watcher->setFuture(QtConcurrent::run([source, token, entryIndex, name] {
        StatsOutcome outcome;
        outcome.name = name;
        QElapsedTimer timer;
        timer.start();
        // Row blocks through the source: no buffer of the parameter's size.
        auto stats = computeStatistics(*source, size_t(entryIndex), 64, token.get());
        if (!stats) {
            outcome.error = errorText(stats.error());
            return outcome;
        }
        outcome.ok = true;
        outcome.stats = std::move(*stats);
        outcome.seconds = double(timer.nsecsElapsed()) / 1e9;
        return outcome;
    }));
}

void TensorsTab::showStatistics(quint64 generation, const StatsOutcome& outcome) {
    if (generation != m_statsGeneration) return;  // the selection moved on
    m_statsCancel.reset();
    if (!outcome.ok) {
        m_statusLabel->setText(outcome.error);
        m_histogram->setMessage(outcome.error);
        emit statisticsFinished(outcome.name);
        return;
    }
    m_stats = outcome.stats;
    m_haveStats = true;
    const auto& s = m_stats;
    const bool any = s.finite > 0;
    m_statValues[0]->setText(any ? numberText(s.min) : QStringLiteral("–"));
    m_statValues[1]->setText(any ? numberText(s.max) : QStringLiteral("–"));
    m_statValues[2]->setText(any ? numberText(s.mean) : QStringLiteral("–"));
    m_statValues[3]->setText(any ? numberText(s.stddev) : QStringLiteral("–"));
    m_statValues[4]->setText(countText(s.nan));
    m_statValues[5]->setText(s.posInf + s.negInf == 0 ? QStringLiteral("0")
                                                      : tr("%1 (+%2 / −%3)")
                                                            .arg(countText(s.posInf + s.negInf),
                                                                 countText(s.posInf), countText(s.negInf)));
    m_statusLabel->setText(
        s.nan + s.posInf + s.negInf > 0
            ? tr("Warning: this parameter holds values that are not finite.")
            : tr("%1 values, read and summarised in %2")
                  .arg(countText(s.count), outcome.seconds < 0.001
                                               ? tr("under a millisecond")
                                               : tr("%1 ms").arg(qRound(outcome.seconds * 1000))));
    m_statValues[6]->setText(countText(s.zeros));
    if (any)
        m_histogram->setHistogram(s.histogram, s.histogramMin, s.histogramMax);
    else
        m_histogram->setMessage(tr("No finite values to plot."));
    emit statisticsFinished(outcome.name);
}

}  // namespace lms::ui
