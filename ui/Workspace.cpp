#include "Workspace.h"

#include "UiText.h"
#include "lms/Job.h"
#include "lms/Layout.h"
#include "lms/Log.h"

#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>
#include <QRegularExpression>
#include <QtConcurrent/QtConcurrentRun>
#include <algorithm>

namespace lms::ui {
namespace {

QString tr(const char* text, int n = -1) {
    return QCoreApplication::translate("Workspace", text, nullptr, n);
}

bool hasSuffix(const QString& name, QLatin1StringView suffix) {
    return name.endsWith(suffix, Qt::CaseInsensitive);
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

QStringList strategyFilesIn(const QString& dir) {
    QDir d(dir);
    QStringList out;
    for (const auto& name : d.entryList(QDir::Files, QDir::Name))
        if (isStrategyFileName(name)) out << d.filePath(name);
    return out;
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

LoadOutcome loadFull(const QString& path, const CancelToken* cancel) {
    auto source = openFullSource(toPath(path), cancel);
    const QString name = QFileInfo(path).fileName();
    if (!source) {
        // A strategy file that is not named like one is still worth recognising.
        if (source.error().code == ErrorCode::Malformed &&
            (hasSuffix(path, QLatin1StringView(".ckpt")) || hasSuffix(path, QLatin1StringView(".json")))) {
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
    model->description = qs((*source)->description());
    model->source = std::shared_ptr<const ModelSource>(std::move(*source));
    int rank = -1;
    if (isRankFolderName(QFileInfo(path).dir().dirName(), &rank))
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
    const auto info = inspectDistributedFolder(request.path);
    model->ranks = info.ranks;
    model->strategyArgument = request.strategy.isEmpty() ? info.strategy : request.strategy;
    if (request.strategy.isEmpty() && !info.strategyNote.isEmpty()) model->notes << info.strategyNote;
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

    SourceSpec spec;
    spec.src = toPath(request.path);
    spec.strategy = strategy->file;  // the file actually used, so a folder is not merged twice
    spec.fallbackStrategyDir = toPath(fallback);
    auto source = openSource(spec, &notes, cancel);
    if (!source) return failure(request.path, title, source.error());

    model->strategyFile = qs(strategy->file);
    model->strategy = std::make_shared<const Strategy>(std::move(*strategy));
    model->description = qs((*source)->description());
    model->source = std::shared_ptr<const ModelSource>(std::move(*source));
    for (const auto& note : notes) model->notes << qs(note);
    model->placement.reserve(model->source->tensors().size());
    for (const auto& tensor : model->source->tensors())
        model->placement.push_back(placementOf(*model->strategy, tensor));
    LoadOutcome outcome;
    outcome.path = request.path;
    outcome.model = std::move(model);
    return outcome;
}

}  // namespace

bool isRankFolderName(const QString& name, int* rank) {
    static const QRegularExpression pattern(QStringLiteral("^rank_([0-9]{1,9})$"));
    const auto match = pattern.match(name);
    if (!match.hasMatch()) return false;
    if (rank) *rank = match.captured(1).toInt();
    return true;
}

bool isCheckpointFileName(const QString& fileName) {
    return hasSuffix(fileName, QLatin1StringView(".ckpt")) ||
           hasSuffix(fileName, QLatin1StringView(".safetensors"));
}

bool isStrategyFileName(const QString& fileName) {
    return fileName.contains(QLatin1StringView("strategy"), Qt::CaseInsensitive) &&
           (hasSuffix(fileName, QLatin1StringView(".ckpt")) ||
            hasSuffix(fileName, QLatin1StringView(".json")));
}

PathKind classifyPath(const QString& path) {
    const QFileInfo info(path);
    if (path.isEmpty() || !info.exists()) return PathKind::Missing;
    if (info.isDir()) {
        const QDir dir(path);
        for (const auto& sub : dir.entryList(QDir::Dirs | QDir::NoDotAndDotDot))
            if (isRankFolderName(sub)) return PathKind::DistributedFolder;
        return PathKind::Folder;
    }
    if (isStrategyFileName(info.fileName())) return PathKind::StrategyFile;
    if (isCheckpointFileName(info.fileName())) return PathKind::CheckpointFile;
    return PathKind::OtherFile;
}

DistributedFolderInfo inspectDistributedFolder(const QString& dir) {
    DistributedFolderInfo info;
    const QDir root(dir);
    for (const auto& sub : root.entryList(QDir::Dirs | QDir::NoDotAndDotDot)) {
        RankFolder rank;
        if (!isRankFolderName(sub, &rank.rank)) continue;
        rank.folder = root.filePath(sub);
        // MindSpore globs *.ckpt and takes the lexicographically last (spec §4.11).
        QStringList files =
            QDir(rank.folder).entryList({QStringLiteral("*.ckpt")}, QDir::Files, QDir::NoSort);
        std::sort(files.begin(), files.end(), [](const QString& a, const QString& b) {
            return a.toUtf8() < b.toUtf8();  // byte order, as Python's sort of str does for ASCII
        });
        rank.checkpointFiles = int(files.size());
        if (!files.isEmpty()) rank.pickedFile = files.last();
        info.ranks << rank;
    }
    std::sort(info.ranks.begin(), info.ranks.end(),
              [](const auto& a, const auto& b) { return a.rank < b.rank; });
    info.strategy = findStrategyFor(dir, &info.strategyNote);
    return info;
}

QString findStrategyFor(const QString& modelDir, QString* note) {
    const QDir dir(modelDir);
    const QString parent = QFileInfo(modelDir).absolutePath();
    // Dedicated folders first: everything in them is a strategy, so the folder itself is the
    // argument (the core merges pipeline stages).
    for (const QString& candidate :
         {dir.filePath(QStringLiteral("strategy")), dir.filePath(QStringLiteral("ckpt_strategy")),
          QDir(parent).filePath(QStringLiteral("strategy"))}) {
        if (!QFileInfo(candidate).isDir()) continue;
        const auto files = strategyFilesIn(candidate);
        if (files.isEmpty()) continue;
        if (note)
            *note = QCoreApplication::translate("Workspace", "Using the strategy folder %1.").arg(candidate);
        return candidate;
    }
    for (const QString& place : {QString(modelDir), parent}) {
        const auto files = strategyFilesIn(place);
        if (files.isEmpty()) continue;
        for (const auto& file : files)
            if (isMergedStrategyFileName(QFileInfo(file).fileName().toStdString())) {
                if (note)
                    *note =
                        QCoreApplication::translate("Workspace", "Using the merged strategy %1.").arg(file);
                return file;
            }
        if (note) {
            *note =
                QCoreApplication::translate("Workspace", "Using the strategy file %1.").arg(files.first());
            if (files.size() > 1)
                *note += QLatin1Char(' ') +
                         QCoreApplication::translate("Workspace",
                                                     "Several strategy files lie there; if the run "
                                                     "used pipeline parallelism, choose their folder "
                                                     "as the strategy instead.");
        }
        return files.first();
    }
    return {};
}

QString LoadedModel::displayName() const {
    const QFileInfo info(path);
    return info.fileName().isEmpty() ? path : info.fileName();
}

LoadOutcome loadPath(const OpenRequest& request, const CancelToken* cancel) {
    const QString path = QFileInfo(request.path).absoluteFilePath();
    switch (classifyPath(path)) {
        case PathKind::Missing:
            return failure(request.path, tr("Cannot open %1").arg(request.path),
                           tr("There is no file or folder at %1.").arg(request.path));
        case PathKind::StrategyFile:
            return loadStrategyOnly(path);
        case PathKind::CheckpointFile:
        case PathKind::OtherFile:
            return loadFull(path, cancel);
        case PathKind::DistributedFolder: {
            OpenRequest absolute = request;
            absolute.path = path;
            return loadDistributed(absolute, cancel);
        }
        case PathKind::Folder:
            return failure(
                request.path, tr("Nothing to open in %1").arg(QFileInfo(path).fileName()),
                tr("This folder is neither a checkpoint nor a distributed checkpoint. Choose a .ckpt or "
                   ".safetensors file, or a folder that holds rank_0, rank_1, … folders."));
    }
    return failure(request.path, tr("Cannot open %1").arg(request.path), tr("Unknown kind of path."));
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
