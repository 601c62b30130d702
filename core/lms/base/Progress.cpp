#include "lms/base/Progress.h"

namespace lms {

const char* stageName(Stage stage) {
    switch (stage) {
        case Stage::Checking:
            return "checking";
        case Stage::Merging:
            return "merging";
        case Stage::Finishing:
            return "finishing";
        case Stage::Verifying:
            return "verifying";
        case Stage::Publishing:
            return "publishing";
    }
    return "merging";
}

ThrottledProgress::ThrottledProgress(ProgressCallback callback, std::chrono::milliseconds interval)
    : callback_(std::move(callback)), interval_(interval) {}

void ThrottledProgress::operator()(const Progress& progress) {
    if (!callback_) return;
    const auto now = std::chrono::steady_clock::now();
    if (sent_ && progress.stageId == lastStage_ && now - last_ < interval_) {
        pending_ = progress;  // held back; flush() or a later report passes the newest state on
        held_ = true;
        return;
    }
    sent_ = true;
    held_ = false;
    last_ = now;
    lastStage_ = progress.stageId;
    callback_(progress);
}

void ThrottledProgress::flush() {
    if (!held_ || !callback_) return;
    held_ = false;
    last_ = std::chrono::steady_clock::now();
    callback_(pending_);
}

}  // namespace lms
