#include "LogSink.h"

#include "lms/base/Log.h"

#include <algorithm>
#include <chrono>

namespace lms::ui {

LogSink::LogSink() : m_bridge(std::make_unique<LogBridge>()) {
    qRegisterMetaType<lms::ui::LogRecord>();
}

void LogSink::sink_it_(const spdlog::details::log_msg& message) {
    LogRecord record;
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(message.time.time_since_epoch()).count();
    record.time = QDateTime::fromMSecsSinceEpoch(ms);
    record.level = LogLevel(std::clamp(int(message.level), int(LogLevel::Trace), int(LogLevel::Critical)));
    record.message = QString::fromUtf8(message.payload.data(), qsizetype(message.payload.size()));
    emit m_bridge->record(record);
}

std::shared_ptr<LogSink> installLogSink(LogModel* model) {
    auto sink = std::make_shared<LogSink>();
    // Queued even on the model's own thread: a record logged while the model is being changed
    // (for example from a slot of the model's view) must not re-enter it.
    QObject::connect(sink->bridge(), &LogBridge::record, model, &LogModel::append, Qt::QueuedConnection);
    lms::addLogSink(sink);
    return sink;
}

void removeLogSink(const std::shared_ptr<LogSink>& sink) {
    lms::removeLogSink(sink);
}

}  // namespace lms::ui
