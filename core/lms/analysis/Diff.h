#pragma once
// Comparing two models tensor by tensor (typically the base and a merged result, or two merges):
// per tensor whether dtype and shape match, how many elements changed, and for floating tensors
// max |Δ|, the relative Frobenius norm ‖B − A‖ / ‖A‖ and the cosine similarity. Both models stream
// through row blocks, so memory stays bounded by the block size whatever the tensor size.

#include "lms/base/Progress.h"
#include "lms/formats/Source.h"

#include <string>
#include <vector>

namespace lms {

enum class DiffStatus { Identical, Changed, OnlyInA, OnlyInB, TypeDiffers, ShapeDiffers };
const char* diffStatusName(DiffStatus status);  // "identical", "changed", "only in A", ...

struct TensorDiff {
    std::string name;
    DiffStatus status = DiffStatus::Identical;
    std::string typeA, typeB;  // tensor_type in each model ("" when absent)
    std::vector<int64_t> dimsA, dimsB;
    uint64_t elements = 0;    // elements compared (0 unless dtype and shape match)
    uint64_t changed = 0;     // elements whose stored bits differ
    bool floating = false;    // the statistics below are set
    double maxAbsDiff = 0;    // over finite pairs
    double relativeNorm = 0;  // ‖B − A‖_F / ‖A‖_F; +inf when A is all zeros and B is not
    double cosine = 1;        // ⟨A, B⟩ / (‖A‖ ‖B‖); 1 when both are all zeros
    uint64_t nonFinite = 0;   // element pairs where either value is NaN or Inf (left out of the norms)
};

struct DiffReport {
    std::vector<TensorDiff> tensors;  // A's order, then the tensors only B has, in B's order
    size_t identical = 0, changed = 0, onlyInA = 0, onlyInB = 0, mismatched = 0;
};

// Compares every tensor of `a` with the tensor of the same name in `b`. Honours `cancel` between
// blocks; reports progress over the bytes of the tensors compared. Errors come from reading.
[[nodiscard]] Result<DiffReport> diffModels(const ModelSource& a, const ModelSource& b,
                                            const ProgressCallback& progress = {},
                                            const CancelToken* cancel = nullptr,
                                            uint64_t blockBytes = 8u << 20);

}  // namespace lms
