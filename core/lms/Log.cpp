#include "lms/Log.h"

#include <mutex>
#include <spdlog/sinks/null_sink.h>

namespace lms {
namespace {
std::mutex g_mutex;
std::shared_ptr<spdlog::logger>& slot() {
    static std::shared_ptr<spdlog::logger> instance =
        std::make_shared<spdlog::logger>("lms", std::make_shared<spdlog::sinks::null_sink_mt>());
    return instance;
}
}  // namespace

spdlog::logger& log() {
    std::lock_guard lock(g_mutex);
    return *slot();
}

std::shared_ptr<spdlog::logger> logger() {
    std::lock_guard lock(g_mutex);
    return slot();
}

void setLogger(std::shared_ptr<spdlog::logger> newLogger) {
    if (!newLogger) return;
    std::lock_guard lock(g_mutex);
    slot() = std::move(newLogger);
}

}  // namespace lms
