#include "MergeWorker.h"

#include "MergeResult.h"

#include "UiText.h"
#include "lms/base/Log.h"

namespace lms::ui {

MergeWorker::MergeWorker(ResolvedJob job, std::shared_ptr<CancelToken> cancel, QObject* parent)
    : QObject(parent), m_job(std::move(job)), m_cancel(std::move(cancel)) {
    qRegisterMetaType<lms::ui::MergeProgress>();
    qRegisterMetaType<lms::ui::MergeOutcome>();
}

MergeWorker::~MergeWorker() = default;

void MergeWorker::requestCancel() {
    if (!m_cancel->isCancelled()) lms::log().info("cancelling the merge");
    m_cancel->cancel();
}

void MergeWorker::run() {
    QElapsedTimer clock;
    clock.start();
    MergeProgress last;
    auto toQt = [&](const Progress& p) {
        MergeProgress q;
        q.bytesDone = p.bytesDone;
        q.bytesTotal = p.bytesTotal;
        q.itemsDone = qint64(p.itemsDone);
        q.itemsTotal = qint64(p.itemsTotal);
        q.currentItem = qs(p.currentItem);
        q.stage = qs(p.stage);
        q.elapsedSeconds = double(clock.nsecsElapsed()) / 1e9;
        return q;
    };
    // runMerge throttles its reports (MergeOptions::progressInterval), so each one is passed on.
    auto onProgress = [&](const Progress& p) {
        last = toQt(p);
        emit progressed(last);
    };
    lms::log().info("merge started: {} -> {}", m_job.source->description(),
                    m_job.options.outputFile.string());
    auto report = lms::run(m_job, onProgress, m_cancel.get());
    if (!report) {
        const bool cancelled = report.error().code == ErrorCode::Cancelled;
        if (cancelled)
            lms::log().info("merge cancelled; nothing was written");
        else
            lms::log().error("merge failed: {}", report.error().describe());
        emit failed(
            cancelled ? tr("The merge was cancelled; nothing was written.") : errorText(report.error()),
            cancelled);
        emit done();
        return;
    }
    // The final state, so the bar reaches 100 % whatever the throttle dropped.
    last.bytesDone = last.bytesTotal;
    last.itemsDone = last.itemsTotal;
    last.currentItem.clear();
    last.stage = QStringLiteral("done");
    last.elapsedSeconds = double(clock.nsecsElapsed()) / 1e9;
    emit progressed(last);

    MergeOutcome outcome;
    outcome.outputFile = qs(report->outputFile);
    outcome.pairsMerged = qint64(report->pairsMerged);
    outcome.tensorsWritten = qint64(report->tensorsWritten);
    outcome.tensorsDropped = qint64(report->tensorsDropped);
    outcome.bytesWritten = report->bytesWritten;
    for (const auto& s : report->skipped) outcome.skipped << qs(s);
    for (const auto& n : report->notes) outcome.notes << qs(n);
    outcome.seconds = report->seconds;
    outcome.resultJson = mergeResultJson(m_job, *report);
    emit succeeded(outcome);
    emit done();
}

}  // namespace lms::ui
