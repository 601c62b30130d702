#pragma once
// The checks that stand between a merge and its published output (RELIABILITY.md, "Verification
// after a merge"):
//  * while streaming, every merged pair's inputs (base rows, A, B) must be finite and every merged
//    value must fit the base dtype — these run on every merge, verified or not;
//  * before publishing (MergeOptions::verify), the finished output is re-opened, its index compared
//    with what was written, and a few elements of every merged pair in every output file are
//    recomputed from the inputs.

#include "lms/base/Progress.h"
#include "lms/distributed/Layout.h"
#include "lms/formats/Source.h"
#include "lms/lora/LoraPlan.h"
#include "lms/merge/Merge.h"

#include <filesystem>
#include <span>
#include <string_view>
#include <vector>

namespace lms {

// What one output file receives for one source tensor.
struct Placement {
    bool whole = true;  // the full tensor, or the box below
    Box box;
    std::vector<int64_t> dims;  // dims to write
    uint64_t bytes = 0;
    bool held = true;  // false: another output file (shard) holds this tensor
};

// A pair that was merged: indexes into source.tensors() (SIZE_MAX for a tensor the pair's kind has
// not, e.g. A of a LoRA bias) and the scaling used.
struct MergedPairRef {
    size_t baseIndex, aIndex, bIndex;
    const LoraPair* pair;
    double scaling;
};

// Elements recomputed per merged pair and output file.
inline constexpr int kSamplesPerPair = 8;

// The largest |written − recomputed| accepted for one merged element of a `dtype` base:
// `base` is W at that element, `scaledMagnitude` = |s|·Σ_k |B[i,k]·A[k,j]|, `rank` = r. It covers
// one rounding to `dtype` (half an ulp, relative to |W| + |s·B·A|, doubled), the float32 (double
// for Float64) arithmetic of the merge over r terms, and has an absolute floor at the subnormal
// spacing of `dtype`, so a correctly rounded result in the subnormal range always passes.
double mergeTolerance(DType dtype, double base, double scaledMagnitude, int64_t rank);

// Streaming check of an input: fails when `bytes`, rows [row0, ...) of source tensor `index`,
// hold a NaN or an infinity. The error names the input file, the tensor and the position:
// "<role> X in <file> holds NaN at [r, c]" (role: "base weight", "LoRA A", "LoRA B").
[[nodiscard]] Status checkInputFinite(const ModelSource& source, size_t index, std::string_view role,
                                      std::span<const std::byte> bytes, int64_t row0 = 0);

// Streaming check of merged rows [row0, ...) of base `index` (whose inputs were finite): fails
// when a value is not finite, i.e. W + s·B·A left the range of the base dtype:
// "W + s·B·A exceeds the Float16 range (±65504) at [r, c] of X".
[[nodiscard]] Status checkMergedInRange(const ModelSource& source, size_t index,
                                        std::span<const std::byte> bytes, int64_t row0);

// Re-opens `writtenFile` (the finished temp file; errors name `shownFile`, the final name) and
// checks its index against `placements` (one per source tensor; dropped ones unused). Then, for
// every merged pair, recomputes kSamplesPerPair elements inside this file's placement of the base
// (the whole tensor, or this rank's slice) in double from W, A and B (and the DoRA magnitude, whose
// row norm it recomputes), reading A, B and the sampled rows of W (whole experts of a grouped pair);
// the first sample is off the diagonal when the shape allows, so a delta added transposed is caught.
[[nodiscard]] Status verifyOutput(const std::filesystem::path& writtenFile,
                                  const std::filesystem::path& shownFile,
                                  std::span<const Placement> placements, const ModelSource& source,
                                  const LoraPlan& plan, std::span<const MergedPairRef> merged,
                                  const CancelToken* cancel);

// Verifies `file`, a whole-model output of merging `source` with `options` (as runMerge does before
// publishing, with the same plan and scalings), for outputs written or received elsewhere.
[[nodiscard]] Status verifyMergedFile(const std::filesystem::path& file, const ModelSource& source,
                                      const MergeOptions& options, const CancelToken* cancel = nullptr);

}  // namespace lms
