#include "StrategyTab.h"

#include "ChunkMapModel.h"
#include "SliceDiagram.h"
#include "StrategyModel.h"
#include "TableColumns.h"
#include "TableExport.h"
#include "UiText.h"
#include "Widgets.h"
#include "lms/distributed/Layout.h"
#include "lms/merge/Merge.h"

#include <QFileInfo>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QSortFilterProxyModel>
#include <QSplitter>
#include <QStackedWidget>
#include <QTableView>
#include <QVBoxLayout>

namespace lms::ui {
namespace {

// The whole tensor as one piece, held by `ranks`.
SlicePiece wholeTensor(const std::vector<int64_t>& shape, std::vector<int64_t> ranks) {
    return {Box{std::vector<int64_t>(shape.size(), 0), shape}, std::move(ranks)};
}

}  // namespace

StrategyTab::StrategyTab(QWidget* parent)
    : QWidget(parent),
      m_model(new StrategyModel(this)),
      m_chunks(new ChunkMapModel(this)),
      m_filter(new QSortFilterProxyModel(this)) {
    setObjectName(QStringLiteral("strategyTab"));
    m_filter->setSourceModel(m_model);
    m_filter->setSortRole(StrategyModel::RawValueRole);
    m_filter->setFilterCaseSensitivity(Qt::CaseInsensitive);
    m_filter->setFilterKeyColumn(StrategyModel::NameColumn);

    auto* outer = new QVBoxLayout(this);
    outer->setContentsMargins(0, 0, 0, 0);
    m_stack = new QStackedWidget(this);
    outer->addWidget(m_stack);
    m_placeholder =
        qobject_cast<QLabel*>(makePlaceholder(QString(), m_stack, QStringLiteral("strategyPlaceholder")));
    m_stack->addWidget(m_placeholder);

    auto* page = new QWidget(m_stack);
    auto* layout = new QVBoxLayout(page);
    layout->setContentsMargins(6, 6, 6, 6);
    m_infoLabel = new QLabel(page);
    m_infoLabel->setObjectName(QStringLiteral("strategyInfoLabel"));
    m_infoLabel->setWordWrap(true);
    m_infoLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_filterEdit = new QLineEdit(page);
    m_filterEdit->setObjectName(QStringLiteral("strategyFilterEdit"));
    m_filterEdit->setPlaceholderText(tr("Filter parameters by name"));
    m_filterEdit->setClearButtonEnabled(true);
    layout->addWidget(m_infoLabel);
    layout->addWidget(m_filterEdit);

    m_splitter = new QSplitter(Qt::Vertical, page);
    m_splitter->setObjectName(QStringLiteral("strategySplitter"));
    m_splitter->setChildrenCollapsible(false);
    m_view = new QTableView(m_splitter);
    m_view->setObjectName(QStringLiteral("strategyView"));
    m_view->setModel(m_filter);
    setUpRowTable(m_view, 8);
    m_view->setSelectionMode(QAbstractItemView::SingleSelection);
    m_view->horizontalHeader()->setSortIndicator(-1, Qt::AscendingOrder);
    m_view->setSortingEnabled(true);
    makeColumnsUsable(m_view, m_view->horizontalHeader(), StrategyModel::NameColumn,
                      QStringLiteral("strategy"));
    addExportActions(m_view, QStringLiteral("strategy"));
    // The tensor as stored now and, when the merge re-shards, as the destination ranks store it.
    auto* diagrams = new QSplitter(Qt::Horizontal, m_splitter);
    diagrams->setObjectName(QStringLiteral("strategyDiagramSplitter"));
    diagrams->setChildrenCollapsible(false);
    m_diagram = new SliceDiagram(diagrams);
    m_destination = new SliceDiagram(diagrams);
    m_destination->setObjectName(QStringLiteral("destinationSliceDiagram"));
    m_destination->hide();
    diagrams->addWidget(m_diagram);
    diagrams->addWidget(m_destination);
    m_splitter->addWidget(m_view);
    m_splitter->addWidget(diagrams);
    m_splitter->setStretchFactor(0, 1);
    m_splitter->setStretchFactor(1, 1);
    layout->addWidget(m_splitter, 1);
    m_stack->addWidget(page);

    connect(m_filterEdit, &QLineEdit::textChanged, m_filter, &QSortFilterProxyModel::setFilterFixedString);
    connect(m_view->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
            &StrategyTab::showSelected);
    clear();
}

bool StrategyTab::showsChunkMap() const {
    return m_filter->sourceModel() == m_chunks;
}

void StrategyTab::useStrategyModel() {
    if (m_filter->sourceModel() == m_model) return;
    m_filter->setSourceModel(m_model);
    m_filter->setSortRole(StrategyModel::RawValueRole);
    m_chunks->setSource(nullptr);
}

void StrategyTab::showChunkMap(const LoadedModel& model) {
    m_filter->setSourceModel(m_chunks);
    m_filter->setSortRole(Qt::DisplayRole);
    const bool ckpt2 = !m_chunks->holdersAreFiles();
    m_infoLabel->setText(
        tr("<b>%1</b>: %n parameter(s) stored as chunks in %2 file(s)", nullptr, m_chunks->rowCount())
            .arg(model.displayName().toHtmlEscaped())
            .arg(m_chunks->fileCount()) +
        (ckpt2 ? tr(" (Checkpoint 2.0: metadata.json places each chunk by slice id; the drawing shows its "
                    "global offset and the rank that saved it).")
               : tr(" (a shard folder: each tensor is stored whole in the file named).")));
    m_infoLabel->setToolTip(model.path);
    m_stack->setCurrentIndex(1);
    m_diagram->setMessage(tr("Select a parameter to see its chunks."));
    // Start on the first tensor that is actually cut into chunks.
    for (int row = 0; row < m_chunks->rowCount(); ++row)
        if (m_chunks->piecesAt(row).pieces.size() > 1) {
            m_view->selectRow(m_filter->mapFromSource(m_chunks->index(row, 0)).row());
            break;
        }
}

void StrategyTab::clear() {
    useStrategyModel();
    m_listedDestinationFile.clear();
    m_diagram->setCaption({});
    m_destination->hide();
    m_model->setStrategy(nullptr, {});
    m_placeholder->setText(
        tr("<p style='font-size:large'>No parallel strategy</p>"
           "<p>A distributed checkpoint (a folder of rank_0, rank_1, … folders) is saved with a "
           "parallel strategy that says which part of each tensor every rank holds. Open one, or "
           "open a strategy file such as <b>ckpt_strategy_rank_0.ckpt</b>, to see it here.</p>"));
    m_stack->setCurrentIndex(0);
    m_diagram->setMessage(tr("Select a parameter to see how its tensor is cut across ranks."));
}

void StrategyTab::setModel(const std::shared_ptr<const LoadedModel>& model) {
    m_loaded = model;
    m_preview.reset();  // the merge of another model; the panel sends this one's
    showSource();
}

void StrategyTab::showSource() {
    const auto& model = m_loaded;
    if (!model || !model->strategy) {
        clear();
        if (model && m_chunks->setSource(model->source)) return showChunkMap(*model);
        if (model)
            m_placeholder->setText(
                tr("<p style='font-size:large'>%1 is a full checkpoint</p>"
                   "<p>It holds every tensor whole, so it has no parallel strategy. Distributed "
                   "checkpoints (folders of rank_0, rank_1, … folders) show their strategy "
                   "here.</p>")
                    .arg(model->displayName().toHtmlEscaped()));
        return;
    }
    setStrategy(model->strategy, model->strategyFile, model);
}

void StrategyTab::setStrategy(std::shared_ptr<const Strategy> strategy, const QString& path,
                              const std::shared_ptr<const LoadedModel>& model) {
    useStrategyModel();
    m_listedDestinationFile.clear();
    QHash<QString, std::vector<int64_t>> shapes;
    if (model)
        for (const auto& t : model->source->tensors()) shapes.insert(qs(t.name), t.dims);
    const Strategy& s = *strategy;
    QString info =
        tr("<b>%1</b> (%2): %n parameter(s), ", nullptr, int(s.parameterCount()))
            .arg(QFileInfo(path).fileName().toHtmlEscaped(),
                 s.format == StrategyFormat::Json ? tr("JSON") : tr("protobuf")) +
        tr("%n pipeline stage(s), ", nullptr, int(s.stageCount())) +
        tr("%n device(s) per stage.", nullptr, int(s.devicesPerStage())) +
        (model ? QString() : tr(" Full shapes are known once the distributed checkpoint is open."));
    bool anyOptimizerSharding = false;
    for (const auto& layout : s.layouts)
        anyOptimizerSharding = anyOptimizerSharding || layout.optShardActive();
    if (!anyOptimizerSharding) info += QLatin1Char(' ') + tr("No optimizer sharding.");
    m_infoLabel->setText(info);
    m_infoLabel->setToolTip(path);
    m_model->setStrategy(std::move(strategy), shapes);
    m_stack->setCurrentIndex(1);
    m_diagram->setMessage(tr("Select a parameter to see how its tensor is cut across ranks."));
    // Start on the first parameter that is actually split: the drawing explains the tab.
    for (int row = 0; row < m_model->rowCount(); ++row) {
        const auto* layout = m_model->layoutAt(row);
        bool split = false;
        for (const auto& axes : layout->tensorMap) split = split || !axes.empty();
        if (split && m_model->fullShapeAt(row)) {
            m_view->selectRow(m_filter->mapFromSource(m_model->index(row, 0)).row());
            break;
        }
    }
}

bool StrategyTab::selectParameter(const QString& name) {
    const int row = showsChunkMap() ? m_chunks->rowOf(name) : m_model->rowOf(name);
    if (row < 0) return false;
    m_filterEdit->clear();
    const auto proxy = m_filter->mapFromSource(m_filter->sourceModel()->index(row, 0));
    m_view->selectRow(proxy.row());
    m_view->scrollTo(proxy);
    return true;
}

void StrategyTab::showSelected() {
    const auto current = m_filter->mapToSource(m_view->currentIndex());
    const int row = current.row();
    m_destination->setMessage(tr("Select a parameter to see how the merge cuts it."));
    if (showsChunkMap()) {
        const SourceTensor* tensor = m_chunks->tensorAt(row);
        if (!tensor) {
            m_diagram->setMessage(tr("Select a parameter to see its chunks."));
            return;
        }
        auto chunks = m_chunks->piecesAt(row);
        m_diagram->setSlices(qs(tensor->name), tensor->dims, std::move(chunks.pieces),
                             std::move(chunks.labels));
        showDestination(qs(tensor->name), tensor->dims);
        return;
    }
    const auto* layout = m_model->layoutAt(row);
    if (!layout) {
        m_diagram->setMessage(tr("Select a parameter to see how its tensor is cut across ranks."));
        return;
    }
    const auto shape = m_model->fullShapeAt(row);
    if (!shape) {
        m_diagram->setMessage(
            tr("The full shape of %1 is unknown, so its slices cannot be drawn. Open the distributed "
               "checkpoint with this strategy to see them.")
                .arg(qs(layout->name)));
        return;
    }
    showDestination(qs(layout->name), *shape);
    if (listsDestinationStrategy()) {  // a full checkpoint: every tensor whole in its one file
        m_diagram->setSlices(qs(layout->name), *shape, {wholeTensor(*shape, {})},
                             {QFileInfo(m_loaded->path).fileName()});
        return;
    }
    auto pieces = globalSlicePieces(*layout, *shape);
    if (!pieces) {
        m_diagram->setMessage(tr("This layout does not fit the tensor: %1").arg(errorText(pieces.error())));
        return;
    }
    m_diagram->setSlices(qs(layout->name), *shape, std::move(*pieces));
}

const ResolvedJob* StrategyTab::reshardJob() const {
    // A destination strategy resolve() refused is not drawn: its refusal is shown instead.
    if (!m_preview || !m_preview->job || !m_preview->job->options.reshard || !destinationRefusal().isEmpty())
        return nullptr;
    return &*m_preview->job;
}

QString StrategyTab::destinationRefusal() const {
    if (!m_preview) return {};
    for (const auto& refusal : m_preview->refusals)
        if (refusal.code == RefusalCode::BadDestinationStrategy) return errorText(refusal.error);
    return {};
}

void StrategyTab::setMergePreview(std::shared_ptr<const Resolution> preview) {
    m_preview = std::move(preview);
    const ResolvedJob* job = reshardJob();
    const QString refusal = destinationRefusal();
    // A full checkpoint has no strategy of its own: the destination's lists what gets cut.
    const bool listable = job && m_loaded && !m_loaded->strategy && !showsChunkMap();
    if (listable)
        listDestinationStrategy(*job);
    else if (listsDestinationStrategy())
        showSource();
    m_diagram->setCaption(job || !refusal.isEmpty() ? tr("As stored now") : QString());
    if (!job && refusal.isEmpty()) {
        m_destination->hide();
        return;
    }
    m_destination->show();
    showSelected();
}

void StrategyTab::listDestinationStrategy(const ResolvedJob& job) {
    const auto& strategy = job.options.reshard->strategy;
    const QString file = qs(strategy->file);
    if (file == m_listedDestinationFile) return;  // keeps the selection
    setStrategy(strategy, file, m_loaded);
    m_listedDestinationFile = file;
    m_infoLabel->setText(tr("<b>%1</b> is a full checkpoint; the merge re-shards it to the destination "
                            "strategy: ")
                             .arg(m_loaded->displayName().toHtmlEscaped()) +
                         m_infoLabel->text());
}

QString StrategyTab::destinationFileLabel(int64_t rank) const {
    const auto& files = reshardJob()->outputFiles;
    if (rank < 0 || size_t(rank) >= files.size()) return ranksLabel({rank});
    const auto& file = files[size_t(rank)];
    return qs(file.parent_path().filename()) + QLatin1Char('/') + qs(file.filename());
}

void StrategyTab::showDestination(const QString& name, const std::vector<int64_t>& shape) {
    if (m_destination->isHidden()) return;
    const ResolvedJob* job = reshardJob();
    if (!job) return m_destination->setMessage(tr("The merge cannot re-shard. %1").arg(destinationRefusal()));
    const auto& strategy = *job->options.reshard->strategy;
    const auto& tensors = job->source->tensors();
    const auto found =
        std::ranges::find_if(tensors, [&](const SourceTensor& t) { return qs(t.name) == name; });
    if (found == tensors.end())
        return m_destination->setMessage(tr("%1 is not in the checkpoint the merge reads.").arg(name));
    const size_t index = size_t(found - tensors.begin());
    if (index < job->plan.dropped.size() && job->plan.dropped[index])
        return m_destination->setMessage(
            tr("%1 is not written: the merge drops LoRA and optimizer-state tensors.").arg(name));
    m_destination->setCaption(tr("As the merge writes it (%1)").arg(QFileInfo(qs(strategy.file)).fileName()));
    std::vector<SlicePiece> pieces;
    if (const ParamLayout* layout = reshardLayout(strategy, *found, false)) {
        auto cut = globalSlicePieces(*layout, shape);
        if (!cut) return m_destination->setMessage(errorText(cut.error()));
        pieces = std::move(*cut);
    } else {  // stored whole on every destination rank
        std::vector<int64_t> ranks;
        for (int64_t rank = 0; rank < strategy.devicesPerStage(); ++rank) ranks.push_back(rank);
        pieces.push_back(wholeTensor(shape, std::move(ranks)));
    }
    QStringList labels;
    for (const auto& piece : pieces)
        labels << (piece.ranks.size() == 1 ? destinationFileLabel(piece.ranks.front())
                                           : ranksLabel(piece.ranks));
    m_destination->setSlices(name, shape, std::move(pieces), std::move(labels));
}

}  // namespace lms::ui
