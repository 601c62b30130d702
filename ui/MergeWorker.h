#pragma once
// One resolved merge job, run by lms::run on its own QThread. Progress reaches the UI thread as queued
// signals, at most about ten a second (plus the first and the last), so a fast merge of many
// small parameters cannot flood the event loop. requestCancel() may be called from any thread.

#include "lms/merge/Request.h"

#include <QByteArray>
#include <QElapsedTimer>
#include <QObject>
#include <QString>
#include <QStringList>
#include <memory>

namespace lms::ui {

struct MergeProgress {
    quint64 bytesDone = 0;
    quint64 bytesTotal = 0;
    qint64 itemsDone = 0;
    qint64 itemsTotal = 0;
    QString currentItem;
    QString stage;
    double elapsedSeconds = 0;
};

struct MergeOutcome {
    QString outputFile;
    qint64 pairsMerged = 0;
    qint64 tensorsWritten = 0;
    qint64 tensorsDropped = 0;
    quint64 bytesWritten = 0;
    QStringList skipped;
    QStringList notes;
    double seconds = 0;
    QByteArray resultJson;  // mergeResultJson (MergeResult.h) of the job and its report
};

class MergeWorker final : public QObject {
    Q_OBJECT
public:
    // `cancel` is shared with whoever may stop the merge, so stopping never needs the worker
    // object itself (which is deleted on its own thread when it is done).
    MergeWorker(ResolvedJob job, std::shared_ptr<CancelToken> cancel, QObject* parent = nullptr);
    ~MergeWorker() override;

    // Thread-safe: the merge stops within one parameter and leaves nothing behind.
    void requestCancel();
    bool isCancelRequested() const { return m_cancel->isCancelled(); }
    const MergeOptions& options() const { return m_job.options; }

public slots:
    // Runs the merge on the calling thread (the worker's QThread); emits progressed* and then
    // exactly one of succeeded / failed, then done.
    void run();

signals:
    void progressed(const lms::ui::MergeProgress& progress);
    void succeeded(const lms::ui::MergeOutcome& outcome);
    void failed(const QString& message, bool cancelled);
    void done();

private:
    ResolvedJob m_job;  // what lms::resolve() accepted; run() hands it to lms::run()
    std::shared_ptr<CancelToken> m_cancel;
};

}  // namespace lms::ui

Q_DECLARE_METATYPE(lms::ui::MergeProgress)
Q_DECLARE_METATYPE(lms::ui::MergeOutcome)
