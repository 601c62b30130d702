#pragma once
// The core logs through one spdlog logger named "lms", created once and never replaced. Its only
// sink is a thread-safe distribution sink (spdlog::sinks::dist_sink_mt); apps attach and detach
// their own sinks there (CLI: stderr; studio: a log model) with addLogSink()/removeLogSink(), which
// are safe while other threads log — the logger's own sink vector is never mutated at run time.

#include <spdlog/logger.h>
#include <spdlog/sinks/sink.h>
#include <memory>

namespace lms {

// The core logger; the reference stays valid for the life of the process.
spdlog::logger& log();
// Attaches `sink` (no-op for null); records logged from any thread reach it from then on.
void addLogSink(std::shared_ptr<spdlog::sinks::sink> sink);
// Detaches `sink`; once this returns no further record reaches it.
void removeLogSink(const std::shared_ptr<spdlog::sinks::sink>& sink);
// Detaches every sink the apps attached.
void clearLogSinks();
// Level of the core logger (default: info).
void setLogLevel(spdlog::level::level_enum level);

}  // namespace lms
