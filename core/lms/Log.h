#pragma once
// The core logs through one spdlog logger named "lms". It never creates sinks: the app
// (CLI: stderr; studio: a log model) installs them with setLogger() or by adding sinks.

#include <memory>
#include <spdlog/logger.h>

namespace lms {

spdlog::logger& log();
void setLogger(std::shared_ptr<spdlog::logger> logger);
std::shared_ptr<spdlog::logger> logger();

}  // namespace lms
