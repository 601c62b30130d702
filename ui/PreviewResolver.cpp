#include "PreviewResolver.h"

#include "AnalysisWorker.h"

#include <QCoreApplication>
#include <QElapsedTimer>

namespace lms::ui {

PreviewResolver::PreviewResolver(QObject* parent) : QObject(parent), m_runner(new AnalysisRunner(this)) {
    connect(m_runner, &AnalysisRunner::finished, this, &PreviewResolver::ended);
    connect(m_runner, &AnalysisRunner::failed, this, &PreviewResolver::ended);
}

PreviewResolver::~PreviewResolver() {
    m_waiting.reset();
    m_runner->stop();
}

void PreviewResolver::request(MergeRequest request, std::shared_ptr<const ModelSource> source) {
    m_waiting = Pending{std::move(request), std::move(source)};
    if (!m_running) return startNext();
    // The running answer is for an older request: stop it early, the newest starts when it ends.
    m_dropRunning = true;
    m_runner->cancel();
}

void PreviewResolver::clear() {
    m_waiting.reset();
    if (!m_running) return;
    m_dropRunning = true;
    m_runner->cancel();
}

bool PreviewResolver::isPending() const {
    return m_running || m_waiting.has_value();
}

void PreviewResolver::startNext() {
    if (!m_waiting) return;
    auto job = std::make_shared<Pending>(std::move(*m_waiting));
    m_waiting.reset();
    auto answer = std::make_shared<Resolution>();
    m_answer = answer;
    m_running = true;
    m_dropRunning = false;
    m_runner->start([job, answer](const ProgressCallback&, const CancelToken* cancel) -> Status {
        *answer = resolve(job->request, job->source, cancel);
        return {};
    });
}

void PreviewResolver::ended() {
    m_running = false;
    auto answer = std::move(m_answer);
    if (!m_dropRunning && !m_waiting && answer) emit resolved(std::move(answer));
    startNext();
}

bool PreviewResolver::wait(int msecs) {
    QElapsedTimer clock;
    clock.start();
    while (isPending() && clock.elapsed() < msecs) QCoreApplication::processEvents(QEventLoop::AllEvents, 20);
    return !isPending();
}

}  // namespace lms::ui
