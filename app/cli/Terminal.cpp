#include "Terminal.h"

#include "lms/base/Text.h"

#include <unistd.h>
#include <cstdio>

namespace cli {

std::string formatNumber(double value) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", value);
    return text;
}

ProgressPrinter::ProgressPrinter(bool quiet)
    : quiet_(quiet), tty_(::isatty(STDERR_FILENO) != 0), start_(std::chrono::steady_clock::now()) {}

void ProgressPrinter::update(const lms::Progress& p) {
    if (quiet_) return;
    const double fraction = p.bytesTotal ? double(p.bytesDone) / double(p.bytesTotal) : 0.0;
    const auto now = std::chrono::steady_clock::now();
    if (tty_) {
        // No throttle here: lms::runMerge passes progress on at most every 100 ms.
        const double seconds = std::chrono::duration<double>(now - start_).count();
        const double rate = seconds > 0 ? double(p.bytesDone) / seconds : 0;
        constexpr int kWidth = 30;
        const int filled = int(fraction * kWidth);
        std::string bar(size_t(filled), '#');
        bar.resize(kWidth, '.');
        std::string item = p.currentItem;
        if (item.size() > 40) item = "..." + item.substr(item.size() - 37);
        std::fprintf(stderr, "\r[%s] %3d%% %s/s  %-40s", bar.c_str(), int(fraction * 100),
                     lms::formatBytes(uint64_t(rate)).c_str(), item.c_str());
        std::fflush(stderr);
        drawn_ = true;
        return;
    }
    const int decile = int(fraction * 10);
    if (decile == lastDecile_) return;
    lastDecile_ = decile;
    std::fprintf(stderr, "loramerge: %s %d%% (%zu/%zu parameters)\n", p.stage.c_str(), decile * 10,
                 p.itemsDone, p.itemsTotal);
}

void ProgressPrinter::finish() {
    if (drawn_) std::fprintf(stderr, "\r%*s\r", 110, "");
    drawn_ = false;
}

}  // namespace cli
