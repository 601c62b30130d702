// Event-loop latency probe for the studio's merge worker (issue: the UI must stay responsive).
// Runs one merge through lms::ui::MergeWorker on its own QThread, exactly as the studio does, while
// a 5 ms timer on the UI thread records the longest gap between its ticks (a stall) and the
// progress signals received. Prints one JSON line. Run offscreen: QT_QPA_PLATFORM=offscreen.
//
//   lms-ui-latency-probe SRC DST_DIR SCALING [STRATEGY]

#include "MergeWorker.h"

#include "lms/merge/Request.h"

#include <QCoreApplication>
#include <QElapsedTimer>
#include <QThread>
#include <QTimer>
#include <cstdio>

int main(int argc, char** argv) {
    QCoreApplication app(argc, argv);
    if (argc < 4) {
        std::fprintf(stderr, "usage: %s SRC DST_DIR SCALING [STRATEGY]\n", argv[0]);
        return 2;
    }
    // The request the studio would build; resolve() opens the source and applies the rules.
    lms::MergeRequest request;
    request.source.path = argv[1];
    if (argc > 4) request.strategy = {lms::StrategyMode::Given, argv[4]};
    request.destination.dir = argv[2];
    request.scaling.spec.scaling = lms::parseScalingText(argv[3]).value_or(1.0);
    request.overwrite = lms::OverwritePolicy::Replace;
    auto resolution = lms::resolve(request);
    if (!resolution.ok()) {
        std::fprintf(stderr, "%s\n", resolution.refusals.front().error.describe().c_str());
        return 1;
    }

    auto cancel = std::make_shared<lms::CancelToken>();
    auto* thread = new QThread;
    auto* worker = new lms::ui::MergeWorker(std::move(*resolution.job), cancel);
    worker->moveToThread(thread);

    QElapsedTimer clock;
    qint64 lastTick = 0, maxStallMs = 0, progressSignals = 0, firstProgress = -1, lastProgress = -1;
    bool ok = false;
    QTimer ticker;
    ticker.setInterval(5);
    QObject::connect(&ticker, &QTimer::timeout, &app, [&] {
        const qint64 now = clock.elapsed();
        maxStallMs = std::max(maxStallMs, now - lastTick);
        lastTick = now;
    });
    QObject::connect(worker, &lms::ui::MergeWorker::progressed, &app, [&](const lms::ui::MergeProgress&) {
        ++progressSignals;
        lastProgress = clock.elapsed();
        if (firstProgress < 0) firstProgress = lastProgress;
    });
    QObject::connect(worker, &lms::ui::MergeWorker::succeeded, &app,
                     [&](const lms::ui::MergeOutcome&) { ok = true; });
    QObject::connect(worker, &lms::ui::MergeWorker::failed, &app, [&](const QString& message, bool) {
        std::fprintf(stderr, "merge failed: %s\n", qPrintable(message));
    });
    QObject::connect(worker, &lms::ui::MergeWorker::done, &app, [&] {
        ticker.stop();
        const double seconds = double(clock.elapsed()) / 1000.0;
        const double span = double(lastProgress - firstProgress) / 1000.0;
        std::printf(
            "{\"ok\": %s, \"seconds\": %.3f, \"max_stall_ms\": %lld, \"progress_signals\": %lld, "
            "\"progress_per_second\": %.1f}\n",
            ok ? "true" : "false", seconds, static_cast<long long>(maxStallMs),
            static_cast<long long>(progressSignals), span > 0 ? double(progressSignals - 1) / span : 0.0);
        thread->quit();
    });
    QObject::connect(thread, &QThread::finished, &app, [&] { app.exit(ok ? 0 : 1); });
    QObject::connect(thread, &QThread::started, worker, &lms::ui::MergeWorker::run);
    QObject::connect(thread, &QThread::finished, worker, &QObject::deleteLater);
    clock.start();
    ticker.start();
    thread->start();
    const int code = app.exec();
    thread->wait();
    delete thread;
    return code;
}
