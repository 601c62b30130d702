#pragma once
// Runs lms::resolve() for the Merge panel's preview off the UI thread, newest request wins:
// resolve() reads the training config, the free space, a strategy folder and up to 64 MiB of LoRA
// values (the NaN/Inf check), too slow to repeat on every keystroke in the UI thread. While one
// resolve runs, a newer request cancels it and waits its turn (only the newest waits); the
// answer of a request that was superseded is dropped, so `resolved` always answers the last
// request made.

#include "lms/merge/Request.h"

#include <QObject>
#include <memory>
#include <optional>

namespace lms::ui {

class AnalysisRunner;

class PreviewResolver final : public QObject {
    Q_OBJECT
public:
    explicit PreviewResolver(QObject* parent = nullptr);
    ~PreviewResolver() override;  // cancels and waits for a running resolve

    // Resolves `request` against `source` (the open model's) in the background.
    void request(MergeRequest request, std::shared_ptr<const ModelSource> source);
    // Forgets the waiting request and drops the answer of the running one.
    void clear();
    // A request is running or waiting: the last answer may no longer describe the panel.
    bool isPending() const;
    // Waits until no request is pending (tests); true if none is afterwards.
    bool wait(int msecs);

signals:
    // The answer to the last request made.
    void resolved(std::shared_ptr<const lms::Resolution> resolution);

private:
    struct Pending {
        MergeRequest request;
        std::shared_ptr<const ModelSource> source;
    };
    void startNext();
    void ended();

    AnalysisRunner* m_runner;
    std::optional<Pending> m_waiting;
    std::shared_ptr<Resolution> m_answer;  // filled by the running job
    bool m_running = false;
    bool m_dropRunning = false;  // the running job's answer is no longer wanted
};

}  // namespace lms::ui
