#pragma once
// Progress reporting and cancellation for long core operations. Plain C++, no Qt:
// the UI adapts these to signals, the CLI to a terminal progress bar.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace lms {

// The stages of a merge, in order (runMerge in Merge.h).
enum class Stage {
    Checking,    // planning the outputs, checking inputs (CRC), opening the temp files
    Merging,     // streaming parameters into the outputs
    Finishing,   // flushing and fsyncing the outputs
    Verifying,   // re-reading the finished outputs
    Publishing,  // putting the outputs under their final names
};
// The display name: "checking", "merging", "finishing", "verifying", "publishing".
const char* stageName(Stage stage);

struct Progress {
    uint64_t bytesDone = 0;   // bytes of the output written (or input processed) so far
    uint64_t bytesTotal = 0;  // expected total; 0 when unknown
    size_t itemsDone = 0;     // parameters finished
    size_t itemsTotal = 0;
    std::string currentItem;  // the parameter being processed
    std::string stage;        // display name of the stage: stageName(stageId), or "indexing", ...
    Stage stageId = Stage::Merging;
};

// Called from the thread that runs the operation; must be cheap and must not throw.
using ProgressCallback = std::function<void(const Progress&)>;

// Passes progress on at most once per `interval`, except that the first report and every change
// of stage always go through; flush() passes on the last report if it was held back. The merge
// wraps its callback in one, so front ends get a calm stream without throttling themselves.
class ThrottledProgress {
public:
    explicit ThrottledProgress(ProgressCallback callback,
                               std::chrono::milliseconds interval = std::chrono::milliseconds(100));
    void operator()(const Progress& progress);
    void flush();

private:
    ProgressCallback callback_;
    std::chrono::milliseconds interval_;
    std::chrono::steady_clock::time_point last_{};
    bool sent_ = false, held_ = false;
    Stage lastStage_ = Stage::Checking;
    Progress pending_;
};

// Shared between the thread that runs an operation and any thread that wants to stop it.
// Operations poll it at least once per parameter (and per chunk of a large one).
class CancelToken {
public:
    void cancel() noexcept { cancelled_.store(true, std::memory_order_relaxed); }
    bool isCancelled() const noexcept { return cancelled_.load(std::memory_order_relaxed); }
    void reset() noexcept { cancelled_.store(false, std::memory_order_relaxed); }

private:
    std::atomic<bool> cancelled_{false};
};

}  // namespace lms
