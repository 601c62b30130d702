#pragma once
// Terminal output helpers: a progress bar on a TTY, plain progress lines otherwise.

#include "lms/base/Progress.h"

#include <chrono>
#include <string>

namespace cli {

std::string formatNumber(double value);

class ProgressPrinter {
public:
    explicit ProgressPrinter(bool quiet);
    void update(const lms::Progress& progress);
    void finish();

private:
    bool quiet_;
    bool tty_;
    bool drawn_ = false;
    int lastDecile_ = -1;
    std::chrono::steady_clock::time_point start_;
};

}  // namespace cli
