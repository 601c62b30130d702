#pragma once
// A spdlog sink that forwards the core's log records to a LogModel. spdlog calls the sink on
// whatever thread logs (merge workers included); the record crosses into the model's thread
// through a queued signal, so the model is only ever touched on its own thread, and records
// logged after the model is gone are dropped instead of reaching a dead object.

#include "LogModel.h"

#include <spdlog/sinks/base_sink.h>
#include <QObject>
#include <memory>
#include <mutex>

namespace lms::ui {

class LogBridge final : public QObject {
    Q_OBJECT
signals:
    void record(const lms::ui::LogRecord& record);
};

class LogSink final : public spdlog::sinks::base_sink<std::mutex> {
public:
    LogSink();
    LogBridge* bridge() const { return m_bridge.get(); }

protected:
    void sink_it_(const spdlog::details::log_msg& message) override;
    void flush_() override {}

private:
    std::unique_ptr<LogBridge> m_bridge;
};

// Creates a sink feeding `model` and attaches it to the core logger's distribution sink
// (lms::addLogSink); safe while other threads log.
std::shared_ptr<LogSink> installLogSink(LogModel* model);
// Detaches `sink` (lms::removeLogSink); no record reaches it afterwards.
void removeLogSink(const std::shared_ptr<LogSink>& sink);

}  // namespace lms::ui
