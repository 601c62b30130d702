#include "AnalysisWorker.h"

#include "UiText.h"

#include <QCoreApplication>
#include <QElapsedTimer>
#include <QThread>

namespace lms::ui {

AnalysisWorker::AnalysisWorker(AnalysisJob job, std::shared_ptr<CancelToken> cancel, QObject* parent)
    : QObject(parent), m_job(std::move(job)), m_cancel(std::move(cancel)) {}

void AnalysisWorker::run() {
    QElapsedTimer sinceLast;
    sinceLast.start();
    bool first = true;
    // The core reports per row block; the UI needs no more than about ten updates a second.
    auto onProgress = [&](const Progress& p) {
        if (!first && sinceLast.elapsed() < 100) return;
        first = false;
        sinceLast.restart();
        emit progressed(p.bytesDone, p.bytesTotal, qs(p.currentItem));
    };
    const Status status = m_job(onProgress, m_cancel.get());
    if (status) {
        emit finished();
        return;
    }
    const bool cancelled = status.error().code == ErrorCode::Cancelled;
    emit failed(cancelled ? tr("Cancelled.") : errorText(status.error()), cancelled);
}

AnalysisRunner::AnalysisRunner(QObject* parent) : QObject(parent) {}

AnalysisRunner::~AnalysisRunner() {
    if (m_cancel) m_cancel->cancel();
    if (m_thread) {
        m_thread->quit();
        m_thread->wait();
    }
}

void AnalysisRunner::stop() {
    ++m_generation;  // whatever the old job still reports is dropped
    cancel();
    if (m_thread) {  // quit() is thread-safe: the loop ends as soon as the job returns
        m_thread->quit();
        m_thread->wait();
        m_thread->deleteLater();
        m_thread = nullptr;
    }
}

void AnalysisRunner::start(AnalysisJob job) {
    stop();
    const quint64 generation = ++m_generation;
    m_cancel = std::make_shared<CancelToken>();
    auto* thread = new QThread(this);
    thread->setObjectName(QStringLiteral("analysisThread"));
    auto* worker = new AnalysisWorker(std::move(job), m_cancel);
    worker->moveToThread(thread);
    connect(thread, &QThread::started, worker, &AnalysisWorker::run);
    connect(worker, &AnalysisWorker::finished, thread, &QThread::quit);
    connect(worker, &AnalysisWorker::failed, thread, &QThread::quit);
    connect(thread, &QThread::finished, worker, &QObject::deleteLater);
    connect(worker, &AnalysisWorker::progressed, this,
            [this, generation](quint64 done, quint64 total, const QString& item) {
                if (generation == m_generation) emit progressed(done, total, item);
            });
    connect(worker, &AnalysisWorker::finished, this, [this, generation] {
        if (generation != m_generation) return;
        ended(generation);
        emit finished();
    });
    connect(worker, &AnalysisWorker::failed, this,
            [this, generation](const QString& message, bool cancelled) {
                if (generation != m_generation) return;
                ended(generation);
                emit failed(message, cancelled);
            });
    m_thread = thread;
    thread->start();
}

void AnalysisRunner::ended(quint64 generation) {
    if (generation != m_generation || !m_thread) return;
    m_thread->quit();
    m_thread->wait();
    m_thread->deleteLater();
    m_thread = nullptr;
}

void AnalysisRunner::cancel() {
    if (m_cancel) m_cancel->cancel();
}

bool AnalysisRunner::wait(int msecs) {
    QElapsedTimer clock;
    clock.start();
    while (m_thread && clock.elapsed() < msecs) QCoreApplication::processEvents(QEventLoop::AllEvents, 20);
    return m_thread == nullptr;
}

}  // namespace lms::ui
