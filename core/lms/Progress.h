#pragma once
// Progress reporting and cancellation for long core operations. Plain C++, no Qt:
// the UI adapts these to signals, the CLI to a terminal progress bar.

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

namespace lms {

struct Progress {
    uint64_t bytesDone = 0;     // bytes of the output written (or input processed) so far
    uint64_t bytesTotal = 0;    // expected total; 0 when unknown
    size_t itemsDone = 0;       // parameters finished
    size_t itemsTotal = 0;
    std::string currentItem;    // the parameter being processed
    std::string stage;          // short phrase: "indexing", "merging", "verifying", ...
};

// Called from the thread that runs the operation; must be cheap and must not throw.
using ProgressCallback = std::function<void(const Progress&)>;

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
