#pragma once
// How much each LoRA pair changes its base weight, before merging (the studio's Impact tab,
// `loramerge impact`): the size of s·B·A relative to W, the rank B·A really has, and how many
// elements of W survive the merge bit-identical once W + s·B·A is rounded to the base dtype (a
// bf16 base can swallow a small adapter entirely). W streams in row blocks, so memory is one block
// plus the pair's two small factors, whatever the size of W.
//
// Definitions (singular values σ₁ ≥ σ₂ ≥ … of the unscaled product B·A):
//  * relative norm      ‖s·B·A‖_F / ‖W‖_F, with ‖s·B·A‖_F = |s|·√Σσᵢ²;
//  * numerical rank     #{ i : σᵢ > tol·σ₁ } at the relative tolerance `rankTolerance`;
//  * entropy eff. rank  exp(−Σ pᵢ ln pᵢ), pᵢ = σᵢ / Σσⱼ (Roy & Vetterli, 2007): r for r equal
//                       singular values, close to 1 when one direction dominates; 0 when B·A = 0.
// The σᵢ come from the small factors only: QR of B [out, r] and of Aᵀ [in, r] give
// B·A = Q_B (R_B R_Aᵀ) Q_Aᵀ, so the σᵢ are those of the r×r matrix R_B R_Aᵀ (double precision).

#include "lms/base/Progress.h"
#include "lms/formats/Source.h"
#include "lms/lora/LoraPlan.h"

#include <string>
#include <vector>

namespace lms {

// The tolerance `rankTolerance` defaults to: well above double rounding of the r×r SVD, well below
// the spacing of float32 factors (≈ 6e-8 relative), so a rank the float32 factors hold is counted.
inline constexpr double kDefaultRankTolerance = 1e-10;

struct PairImpact {
    std::string base, a, b;  // tensor names
    int layer = -1;          // the first integer component of the base name ("layers.3." → 3), or -1
    std::string baseType;    // tensor_type of W
    std::vector<int64_t> baseDims;
    int64_t rank = 0;         // r (rows of A)
    bool transposed = false;  // W stored [in, out]
    double scaling = 0;       // s
    double baseNorm = 0;      // ‖W‖_F
    double deltaNorm = 0;     // ‖s·B·A‖_F
    double relativeNorm = 0;  // deltaNorm / baseNorm; +inf when W = 0 and the delta is not, 0 when both are
    std::vector<double> singularValues;  // of B·A, descending (min(out, in, r) of them)
    int64_t numericalRank = 0;
    double entropyRank = 0;
    uint64_t elements = 0;   // elements of W
    uint64_t unchanged = 0;  // elements whose stored bits W + s·B·A leaves as they are
    double unchangedFraction() const { return elements ? double(unchanged) / double(elements) : 1.0; }
};

struct ImpactReport {
    std::vector<PairImpact> pairs;  // the plan's Ok pairs, in plan order
    double rankTolerance = kDefaultRankTolerance;
};

// The impact of every Ok pair of `plan` (computed by planLora from source.tensors()), with
// `scalings[p]` the scaling of pair p (pairScalings in Merge.h). The merged values are computed by
// the merge's own arithmetic (mergePairInPlace), so "unchanged" is what a merge would leave.
// Errors name the tensor (Error::parameter): a read error as the source reports it, a NaN or
// infinity in W, A or B (as the merge refuses it), a non-floating base; cancelling returns
// Cancelled. Progress counts the bytes of W read, items are pairs.
[[nodiscard]] Result<ImpactReport> computeLoraImpact(const ModelSource& source, const LoraPlan& plan,
                                                     const std::vector<double>& scalings,
                                                     const ProgressCallback& progress = {},
                                                     const CancelToken* cancel = nullptr,
                                                     uint64_t blockBytes = uint64_t(16) << 20,
                                                     double rankTolerance = kDefaultRankTolerance);

// Singular values of B·A (descending) from the factors alone, as above. `b` is [out, r] row-major,
// `a` is [r, in] row-major.
std::vector<double> productSingularValues(const std::vector<double>& b, const std::vector<double>& a,
                                          int64_t out, int64_t rank, int64_t in);

// The impact of a layer: √(Σ‖s·B·A‖²) / √(Σ‖W‖²) over its pairs, for the bar chart by layer.
struct LayerImpact {
    int layer = -1;  // -1: pairs whose name carries no layer number
    size_t pairs = 0;
    double relativeNorm = 0;
};
std::vector<LayerImpact> impactByLayer(const ImpactReport& report);  // ascending layer, -1 last

// The layer number in a parameter name: the first dotted component that is all digits, or -1.
int layerOfName(std::string_view name);

}  // namespace lms
