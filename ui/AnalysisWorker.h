#pragma once
// One read-only analysis (LoRA impact, comparing two checkpoints) run off the UI thread: the job is
// a function of a progress callback and a cancel token that keeps its result itself; the worker runs
// it on its own QThread and reports progress (at most about ten times a second), then exactly one
// of finished / failed. AnalysisRunner owns the thread of the job it started and a cancel that
// works from the UI thread; starting again cancels the previous job, whose signals are dropped.

#include "lms/base/Error.h"
#include "lms/base/Progress.h"

#include <QObject>
#include <QString>
#include <functional>
#include <memory>

class QThread;

namespace lms::ui {

using AnalysisJob = std::function<Status(const ProgressCallback&, const CancelToken*)>;

class AnalysisWorker final : public QObject {
    Q_OBJECT
public:
    AnalysisWorker(AnalysisJob job, std::shared_ptr<CancelToken> cancel, QObject* parent = nullptr);

public slots:
    void run();

signals:
    // `done` of `total` bytes (total 0: unknown), `item` the tensor at hand.
    void progressed(quint64 done, quint64 total, const QString& item);
    void finished();
    void failed(const QString& message, bool cancelled);

private:
    AnalysisJob m_job;
    std::shared_ptr<CancelToken> m_cancel;
};

class AnalysisRunner final : public QObject {
    Q_OBJECT
public:
    explicit AnalysisRunner(QObject* parent = nullptr);
    ~AnalysisRunner() override;  // cancels and waits for a running job

    // Starts `job` (cancelling a running one); the signals below belong to this job only.
    void start(AnalysisJob job);
    // Asks the running job to stop; it then reports failed(…, cancelled = true).
    void cancel();
    // Cancels the running job, waits for it (within one row block) and drops its signals: for when
    // its result no longer applies (another model was opened).
    void stop();
    bool isRunning() const { return m_thread != nullptr; }
    // Waits until the running job has ended (tests); true if none is running afterwards.
    bool wait(int msecs);

signals:
    void progressed(quint64 done, quint64 total, const QString& item);
    void finished();
    void failed(const QString& message, bool cancelled);

private:
    void ended(quint64 generation);

    quint64 m_generation = 0;
    QThread* m_thread = nullptr;
    std::shared_ptr<CancelToken> m_cancel;
};

}  // namespace lms::ui
