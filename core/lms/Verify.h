#pragma once
// Verification of a finished merge output before it is published (RELIABILITY.md, "Verification
// after a merge"): the output is re-opened, its index compared with what was written, and merged
// values are recomputed from the inputs.

#include "lms/Layout.h"
#include "lms/LoraPlan.h"
#include "lms/Progress.h"
#include "lms/Source.h"

#include <filesystem>
#include <span>
#include <vector>

namespace lms {

// What one output file receives for one source tensor.
struct Placement {
    bool whole = true;              // the full tensor, or the box below
    Box box;
    std::vector<int64_t> dims;      // dims to write
    uint64_t bytes = 0;
};

// A pair that was merged: indexes into source.tensors() and the scaling used.
struct MergedPairRef {
    size_t baseIndex, aIndex, bIndex;
    const LoraPair* pair;
    double scaling;
};

// Re-opens `writtenFile` (the finished temp file; errors name `shownFile`, the final name) and checks
// its index against `placements` (one per source tensor, dropped ones unused); checks every merged
// parameter and spot-checks elements of W + s·B·A in double (`full`: the output holds whole tensors).
Status verifyOutput(const std::filesystem::path& writtenFile, const std::filesystem::path& shownFile,
                    std::span<const Placement> placements, bool full, const ModelSource& source,
                    const LoraPlan& plan, std::span<const MergedPairRef> merged, const CancelToken* cancel);

}  // namespace lms
