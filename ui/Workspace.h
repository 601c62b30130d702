#pragma once
// What the studio has open, and how it gets there. Recognising paths is the core's
// (lms/Discovery.h); opening reads files and
// therefore runs off the UI thread in ModelLoader, which hands back an immutable LoadedModel.

#include "lms/base/Progress.h"
#include "lms/distributed/Distributed.h"
#include "lms/formats/Source.h"
#include "lms/formats/Strategy.h"
#include "lms/merge/Discovery.h"

#include <QFutureWatcher>
#include <QList>
#include <QObject>
#include <QString>
#include <QStringList>
#include <memory>
#include <vector>

namespace lms::ui {

// Kinds of paths, rank folders and strategies nearby come from the core (lms/Discovery.h).

// Which ranks hold a tensor of a distributed checkpoint, for the Tensors tab.
struct TensorPlacement {
    QString summary;  // "ranks 0–1, 2 slices"
    QString details;  // one line per slice: "[0:16, 0:32] on rank 0"
};

// What to open: a model with its strategy and adapter, as the open dialog, a drop, the recent list,
// the command line and the Merge panel's input fields give them. The fields map onto
// lms::SourceRequest / StrategyRequest / ScalingRequest.configFile.
struct OpenRequest {
    OpenRequest() = default;
    OpenRequest(QString path_, QString strategy_) : path(std::move(path_)), strategy(std::move(strategy_)) {}
    QString path;
    QString strategy;    // distributed only; "" = look for it (lms::findStrategyNear)
    QString adapter;     // a LoRA-only adapter merged into `path` ("" = none)
    QString loraConfig;  // the training config for the scaling; resolve() reads it, opening does not
    QString ckptName;    // which file a rank folder contributes (--ckpt-name); "" = the last one
    ReplicaCheck replicaCheck = ReplicaCheck::Full;  // --check-replicas
    bool operator==(const OpenRequest&) const = default;
};

struct LoadedModel {
    enum class Kind { Full, Distributed };
    Kind kind = Kind::Full;
    QString path;              // the file, or the model_dir
    OpenRequest opened;        // what was asked for (absolute paths; strategy as found)
    QString strategyArgument;  // the strategy file or folder used (distributed only)
    QString strategyFile;      // the strategy file actually read (a merged one for a folder)
    std::shared_ptr<const ModelSource> source;
    std::shared_ptr<const Strategy> strategy;  // distributed only
    std::vector<RankEntry> ranks;              // distributed only
    std::vector<TensorPlacement> placement;    // one per source tensor (distributed only)
    QStringList notes;                         // sentences worth telling the user
    QString description;

    bool isDistributed() const { return kind == Kind::Distributed; }
    // Display name: the file name, or the folder name for a distributed checkpoint.
    QString displayName() const;
};

// The result of one open: a model, a strategy on its own, or an error for people.
struct LoadOutcome {
    std::shared_ptr<const LoadedModel> model;
    std::shared_ptr<const Strategy> strategy;  // a strategy file opened on its own
    QString path;
    QString errorTitle;
    QString error;
    bool cancelled = false;
};

// Opens synchronously; runs on a worker thread (or in tests directly). Never throws.
LoadOutcome loadPath(const OpenRequest& request, const CancelToken* cancel);

// Opens paths one at a time on the thread pool. A new open() cancels the previous one, whose
// result is then dropped.
class ModelLoader final : public QObject {
    Q_OBJECT
public:
    explicit ModelLoader(QObject* parent = nullptr);
    ~ModelLoader() override;
    bool isBusy() const { return m_busy; }
    void open(const OpenRequest& request);
    void cancel();

signals:
    void busyChanged(bool busy, const QString& path);
    void modelLoaded(std::shared_ptr<const lms::ui::LoadedModel> model);
    void strategyLoaded(std::shared_ptr<const lms::Strategy> strategy, const QString& path);
    void failed(const QString& path, const QString& title, const QString& message);

private:
    void finish(quint64 generation, const LoadOutcome& outcome);

    quint64 m_generation = 0;
    bool m_busy = false;
    std::shared_ptr<CancelToken> m_cancel;
};

}  // namespace lms::ui

Q_DECLARE_METATYPE(std::shared_ptr<const lms::ui::LoadedModel>)
