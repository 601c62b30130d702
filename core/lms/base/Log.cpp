#include "lms/base/Log.h"

#include <spdlog/sinks/dist_sink.h>

namespace lms {
namespace {
// One distribution sink for the life of the process. dist_sink_mt locks its own mutex for both
// add/remove and every record, so attaching a sink while a merge worker logs is safe; mutating
// logger::sinks() instead would race with the worker iterating that vector.
const std::shared_ptr<spdlog::sinks::dist_sink_mt>& distribution() {
    static const auto instance = std::make_shared<spdlog::sinks::dist_sink_mt>();
    return instance;
}

spdlog::logger& instance() {
    static spdlog::logger logger("lms", distribution());
    return logger;
}
}  // namespace

spdlog::logger& log() {
    return instance();
}

void addLogSink(std::shared_ptr<spdlog::sinks::sink> sink) {
    if (sink) distribution()->add_sink(std::move(sink));
}

void removeLogSink(const std::shared_ptr<spdlog::sinks::sink>& sink) {
    distribution()->remove_sink(sink);
}

void clearLogSinks() {
    distribution()->set_sinks({});
}

void setLogLevel(spdlog::level::level_enum level) {
    instance().set_level(level);
}

}  // namespace lms
