#include "Workspace.h"

#include "UiText.h"
#include "lms/base/Log.h"
#include "lms/distributed/Layout.h"
#include "lms/formats/ShardFolder.h"
#include "lms/merge/Job.h"
#include "lms/merge/Request.h"

#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>
#include <QtConcurrent/QtConcurrentRun>
#include <algorithm>

namespace lms::ui {
namespace {

QString tr(const char* text, int n = -1) {
    return QCoreApplication::translate("Workspace", text, nullptr, n);
}

// "0–3, 6, 8–9" from ascending ranks.
QString rankRanges(const std::vector<int64_t>& ranks) {
    QStringList parts;
    for (size_t i = 0; i < ranks.size();) {
        size_t j = i;
        while (j + 1 < ranks.size() && ranks[j + 1] == ranks[j] + 1) ++j;
        if (j == i)
            parts << QString::number(ranks[i]);
        else if (j == i + 1)
            parts << QString::number(ranks[i]) << QString::number(ranks[j]);
        else
            parts << QStringLiteral("%1–%2").arg(ranks[i]).arg(ranks[j]);
        i = j + 1;
    }
    return parts.join(QStringLiteral(", "));
}

TensorPlacement placementOf(const Strategy& strategy, const SourceTensor& tensor) {
    TensorPlacement placement;
    const auto layouts = strategy.find(tensor.name);
    if (layouts.empty()) {
        placement.summary = tr("not in the strategy");
        placement.details = tr("The strategy has no layout for this parameter.");
        return placement;
    }
    std::vector<int64_t> allRanks;
    size_t pieceCount = 0;
    QStringList lines;
    for (const auto* layout : layouts) {
        auto pieces = globalSlicePieces(*layout, tensor.dims);
        if (!pieces) {
            placement.summary = tr("layout does not fit");
            placement.details = errorText(pieces.error());
            return placement;
        }
        pieceCount = std::max(pieceCount, pieces->size());
        for (const auto& piece : *pieces) {
            allRanks.insert(allRanks.end(), piece.ranks.begin(), piece.ranks.end());
            if (lines.size() < 16)
                lines << tr("%1 on rank(s) %2", int(piece.ranks.size()))
                             .arg(qs(piece.box.text()), rankRanges(piece.ranks));
            else if (lines.size() == 16)
                lines << tr("…");
        }
    }
    std::sort(allRanks.begin(), allRanks.end());
    allRanks.erase(std::unique(allRanks.begin(), allRanks.end()), allRanks.end());
    const QString ranks = rankRanges(allRanks);
    const int rankCount = int(allRanks.size());
    placement.summary = pieceCount <= 1 ? tr("whole on rank(s) %1", rankCount).arg(ranks)
                                        : tr("%1 slices on rank(s) %2", rankCount).arg(pieceCount).arg(ranks);
    placement.details = lines.join(QLatin1Char('\n'));
    return placement;
}

LoadOutcome failure(const QString& path, const QString& title, const QString& message) {
    LoadOutcome outcome;
    outcome.path = path;
    outcome.errorTitle = title;
    outcome.error = message;
    return outcome;
}

LoadOutcome failure(const QString& path, const QString& title, const Error& error) {
    auto outcome = failure(path, title, errorText(error));
    outcome.cancelled = error.code == ErrorCode::Cancelled;
    return outcome;
}

LoadOutcome loadStrategyOnly(const QString& path) {
    auto strategy = readStrategyFile(toPath(path));
    if (!strategy)
        return failure(path, tr("Cannot read the strategy file %1").arg(QFileInfo(path).fileName()),
                       strategy.error());
    LoadOutcome outcome;
    outcome.path = path;
    outcome.strategy = std::make_shared<const Strategy>(std::move(*strategy));
    return outcome;
}

// The request's source options (adapter, file choice, replica check) for the core's openSource.
SourceSpec specOf(const OpenRequest& request, const QString& path) {
    SourceSpec spec;
    spec.src = toPath(path);
    if (auto adapters = parseAdapterList(request.adapter.toStdString()); adapters && !adapters->empty()) {
        spec.adapter = adapters->front().path;  // the weights are the merge request's (MergePanel)
        for (size_t k = 1; k < adapters->size(); ++k) spec.moreAdapters.push_back((*adapters)[k].path);
    } else {
        spec.adapter = toPath(request.adapter);
    }
    spec.ckptNameGlob = request.ckptName.toStdString();
    spec.replicaCheck = request.replicaCheck;
    return spec;
}

// A full model: a file, a shard folder or a Checkpoint 2.0 save, with the adapter when one is given.
LoadOutcome loadFull(const OpenRequest& request, const QString& path, const CancelToken* cancel) {
    std::vector<std::string> notes;
    auto source = openSource(specOf(request, path), &notes, cancel);
    const QString name = QFileInfo(path).fileName();
    if (!source) {
        // A strategy file that is not named like one is still worth recognising.
        if (request.adapter.isEmpty() && source.error().code == ErrorCode::Malformed &&
            (path.endsWith(QLatin1StringView(".ckpt"), Qt::CaseInsensitive) ||
             path.endsWith(QLatin1StringView(".json"), Qt::CaseInsensitive))) {
            if (auto strategy = readStrategyFile(toPath(path)); strategy && !strategy->layouts.empty()) {
                LoadOutcome outcome;
                outcome.path = path;
                outcome.strategy = std::make_shared<const Strategy>(std::move(*strategy));
                return outcome;
            }
        }
        return failure(path, tr("Cannot open %1").arg(name), source.error());
    }
    auto model = std::make_shared<LoadedModel>();
    model->kind = LoadedModel::Kind::Full;
    model->path = path;
    model->opened = request;
    model->opened.path = path;
    model->opened.strategy.clear();
    model->description = qs((*source)->description());
    model->source = std::shared_ptr<const ModelSource>(std::move(*source));
    for (const auto& note : notes) model->notes << qs(note);
    int64_t rank = -1;
    const QDir rankDir = QFileInfo(path).dir();
    if (isRankFolderName(rankDir.dirName().toStdString(), &rank) &&
        classifyPath(toPath(QFileInfo(rankDir.absolutePath()).absolutePath())) == PathKind::DistributedFolder)
        model->notes
            << tr("This file is the slice that rank %1 stored, not the whole model. Open the folder above "
                  "it to see full tensors.")
                   .arg(rank);
    LoadOutcome outcome;
    outcome.path = path;
    outcome.model = std::move(model);
    return outcome;
}

LoadOutcome loadDistributed(const OpenRequest& request, const CancelToken* cancel) {
    const QString name = QFileInfo(request.path).fileName();
    const QString title = tr("Cannot open the distributed checkpoint %1").arg(name);
    auto model = std::make_shared<LoadedModel>();
    model->kind = LoadedModel::Kind::Distributed;
    model->path = request.path;
    auto ranks = discoverRanks(toPath(request.path), request.ckptName.toStdString());
    if (!ranks) return failure(request.path, title, ranks.error());
    model->ranks = std::move(*ranks);
    const auto found = request.strategy.isEmpty() ? findStrategyNear(toPath(request.path)) : StrategyFound{};
    model->strategyArgument = request.strategy.isEmpty() ? qs(found.path.string()) : request.strategy;
    if (!found.note.empty()) model->notes << qs(found.note);
    if (model->strategyArgument.isEmpty())
        return failure(
            request.path, title,
            tr("A distributed checkpoint needs the parallel strategy it was saved with, and none was found "
               "next to it. Choose the strategy file (ckpt_strategy_rank_0.ckpt) or, when pipeline "
               "parallelism was used, the folder of strategy files in the Merge panel's Strategy field."));

    std::vector<std::string> notes;
    const QString fallback;  // opening merges a strategy folder in memory: nothing is written anywhere
    auto strategy = loadStrategyArgument(toPath(model->strategyArgument), toPath(fallback), &notes, false);
    if (!strategy) return failure(request.path, title, strategy.error());
    if (cancel && cancel->isCancelled()) return failure(request.path, title, tr("Cancelled."));

    SourceSpec spec = specOf(request, request.path);
    spec.strategy = strategy->file;  // the file actually used, so a folder is not merged twice
    spec.fallbackStrategyDir = toPath(fallback);
    auto source = openSource(spec, &notes, cancel);
    if (!source) return failure(request.path, title, source.error());

    model->opened = request;
    model->opened.strategy = model->strategyArgument;
    model->strategyFile = qs(strategy->file);
    model->strategy = std::make_shared<const Strategy>(std::move(*strategy));
    model->description = qs((*source)->description());
    model->source = std::shared_ptr<const ModelSource>(std::move(*source));
    // Reading the strategy and opening the source can say the same thing (a folder merged in memory).
    for (const auto& note : notes)
        if (!model->notes.contains(qs(note))) model->notes << qs(note);
    model->placement.reserve(model->source->tensors().size());
    for (const auto& tensor : model->source->tensors())
        model->placement.push_back(placementOf(*model->strategy, tensor));
    LoadOutcome outcome;
    outcome.path = request.path;
    outcome.model = std::move(model);
    return outcome;
}

}  // namespace

QString LoadedModel::displayName() const {
    const QFileInfo info(path);
    return info.fileName().isEmpty() ? path : info.fileName();
}

LoadOutcome loadPath(const OpenRequest& given, const CancelToken* cancel) {
    OpenRequest request = given;
    const QString path = QFileInfo(request.path).absoluteFilePath();
    request.path = path;
    for (QString* file : {&request.strategy, &request.loraConfig})
        if (!file->isEmpty()) *file = QFileInfo(*file).absoluteFilePath();
    request.adapter = absoluteAdapterList(request.adapter);
    switch (classifyPath(toPath(path))) {
        case PathKind::Missing:
            return failure(given.path, tr("Cannot open %1").arg(given.path),
                           tr("There is no file or folder at %1.").arg(given.path));
        case PathKind::StrategyFile:
            return loadStrategyOnly(path);
        case PathKind::FullCheckpoint:
        case PathKind::Adapter:
        case PathKind::OtherFile:
        case PathKind::Checkpoint2:
        case PathKind::ShardFolder:
            return loadFull(request, path, cancel);
        case PathKind::MergedOutput: {
            // A strategy given for it says it is distributed after all (a run missing rank_1, ...).
            if (!request.strategy.isEmpty()) return loadDistributed(request, cancel);
            // dst/rank_0/<prefix>0.ckpt of a merge of ours (or its shard folder): the full model it holds.
            auto ranks = discoverRanks(toPath(path), request.ckptName.toStdString());
            if (ranks && !ranks->empty() && !shardIndexFile(ranks->front().dir).empty())
                return loadFull(request, qs(ranks->front().dir), cancel);
            if (!ranks || ranks->empty() || ranks->front().picked.empty())
                return failure(given.path, tr("Cannot open %1").arg(given.path),
                               ranks && !ranks->empty() ? qs(ranks->front().why) : tr("No rank_0 file."));
            return loadFull(request, qs(ranks->front().picked), cancel);
        }
        case PathKind::DistributedFolder:
            return loadDistributed(request, cancel);
        case PathKind::Folder:
            return failure(
                given.path, tr("Nothing to open in %1").arg(QFileInfo(path).fileName()),
                tr("This folder is neither a checkpoint nor a distributed checkpoint. Choose a .ckpt or "
                   ".safetensors file, a folder that holds rank_0, rank_1, … folders, a Checkpoint 2.0 "
                   "save or a folder of safetensors shards with its index."));
    }
    return failure(given.path, tr("Cannot open %1").arg(given.path), tr("Unknown kind of path."));
}

ModelLoader::ModelLoader(QObject* parent) : QObject(parent) {}

ModelLoader::~ModelLoader() {
    // The running job keeps its own reference to the token and the source; it finishes on the
    // pool and its result is dropped with its watcher.
    cancel();
}

void ModelLoader::open(const OpenRequest& request) {
    cancel();
    const quint64 generation = ++m_generation;
    m_cancel = std::make_shared<CancelToken>();
    auto token = m_cancel;
    auto* watcher = new QFutureWatcher<LoadOutcome>(this);
    connect(watcher, &QFutureWatcher<LoadOutcome>::finished, this, [this, watcher, generation] {
        finish(generation, watcher->result());
        watcher->deleteLater();
    });
    m_busy = true;
    emit busyChanged(true, request.path);
    lms::log().info("opening {}", request.path.toStdString());
    watcher->setFuture(QtConcurrent::run([request, token] { return loadPath(request, token.get()); }));
}

void ModelLoader::cancel() {
    if (m_cancel) m_cancel->cancel();
}

void ModelLoader::finish(quint64 generation, const LoadOutcome& outcome) {
    if (generation != m_generation) return;  // superseded by a newer open()
    m_busy = false;
    m_cancel.reset();
    emit busyChanged(false, outcome.path);
    if (outcome.model) {
        lms::log().info("opened {}", outcome.model->description.toStdString());
        for (const auto& note : outcome.model->notes) lms::log().info("{}", note.toStdString());
        emit modelLoaded(outcome.model);
    } else if (outcome.strategy) {
        lms::log().info("read strategy {} ({} layouts)", outcome.path.toStdString(),
                        outcome.strategy->layouts.size());
        emit strategyLoaded(outcome.strategy, outcome.path);
    } else if (outcome.cancelled) {
        lms::log().info("opening {} was cancelled", outcome.path.toStdString());
    } else {
        lms::log().error("{}: {}", outcome.errorTitle.toStdString(), outcome.error.toStdString());
        emit failed(outcome.path, outcome.errorTitle, outcome.error);
    }
}

}  // namespace lms::ui
