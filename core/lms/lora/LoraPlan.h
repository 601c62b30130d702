#pragma once
// The LoRA plan (spec §5): which A/B pairs belong to which base weight, with shapes, rank,
// orientation and every problem listed — computed from names and shapes only, before any
// tensor byte is read, so the studio can show it and the CLI can print it as a dry run.

#include "lms/formats/Source.h"

#include <optional>
#include <string>
#include <vector>

namespace lms {

enum class TensorRole { Base, LoraA, LoraB, OptimizerState, Other };
const char* tensorRoleName(TensorRole role);

// How a square base weight is oriented (the shape cannot tell). MindFormers stores [out, in].
enum class SquareOrientation { OutIn, InOut };

enum class PairStatus { Ok, Problem, Disabled };

// What a pair does to its base. Lora: W + s·delta. Bias (PEFT lora_bias): `b` names
// `<stem>.lora_B[.<adapter>].bias`, and the base bias `<stem>.bias` gains s·b with the scaling of the
// LoRA pair on `loraOf`. Replace (PEFT modules_to_save): `a` names
// `<module>.modules_to_save.<adapter>.<param>`, whose values replace the base `<module>.<param>` (or
// `<module>.original_module.<param>`), converted to the base dtype.
enum class PairKind { Lora, Bias, Replace };

struct LoraPair {
    std::string base;  // empty when the base is missing
    std::string a, b;  // empty when missing
    // "mindpet_delta", "tk_delta", "lora_A.weight", "lora_A.<adapter>.weight" (PEFT in memory,
    // e.g. "lora_A.default.weight"), ".lora_a"; "unpaired" for a tensor that carries a LoRA marker
    // but matches no scheme (its name is in `a` or `b`, the problem says why).
    std::string scheme;
    std::vector<int64_t> baseDims, aDims, bDims;
    int64_t rank = 0;  // r, from A's rows (A's columns when aLeft; 0 when unknown)
    bool transposed =
        false;  // base stored as the delta's transpose (e.g. [in, out] for B·A): add it transposed
    // Grouped (MoE) pair: base, A and B are 3-D with the expert count E first, and expert e merges
    // W[e] + s·delta[e]; 0 for a matrix pair.
    int64_t experts = 0;
    // The delta is A·B (MindFormers GroupedMLPWithLoRA: A [E,in,r], B [E,r,out]) rather than B·A.
    bool aLeft = false;
    // DoRA (PEFT lora_magnitude_vector m [out]): the merged row i is m[i]·(W + s·B·A)[i] / ‖(W + s·B·A)[i]‖;
    // empty for plain LoRA.
    std::string magnitude;
    std::vector<int64_t> magnitudeDims;
    PairKind kind = PairKind::Lora;
    std::string loraOf;  // Bias: the base weight of the LoRA pair whose scaling applies
    PairStatus status = PairStatus::Ok;
    std::string problem;  // in words, when status == Problem
    // Which adapter of a multi-adapter merge the pair belongs to (0: the first adapter, or the
    // source's own LoRA); its a/b/magnitude carry that adapter's tag (adapterTensorName).
    size_t adapter = 0;
};

struct PlanOptions {
    SquareOrientation squareOrientation = SquareOrientation::OutIn;
    std::vector<std::string> disabledBases;  // pairs the user chose to leave out
};

struct LoraPlan {
    std::vector<LoraPair> pairs;    // in order of the base's position
    std::vector<TensorRole> roles;  // one per source tensor
    std::vector<bool> dropped;      // one per source tensor: not written
    std::vector<int> pairOfTensor;  // one per source tensor: pair index or -1 (a base: its first pair)
    // One per source tensor: every pair whose base it is, in adapter order (several only when
    // several adapters adapt it; the merge sums them).
    std::vector<std::vector<int>> pairsOfBase;
    size_t okPairs = 0, problemPairs = 0, disabledPairs = 0;
    uint64_t bytesToWrite = 0;  // payload bytes of the output (excluding headers)
    uint64_t tensorsToWrite = 0;
};

// The delta's [rows, cols] per expert, as computed: B·A is [out, in], A·B (aLeft) is [in, out], a LoRA
// bias is [out, 1]. The base stores it as is, or transposed when `transposed`.
int64_t deltaRows(const LoraPair& pair);
int64_t deltaCols(const LoraPair& pair);

// What sets a pair apart from a plain matrix LoRA, in words for a plan listing ("" for plain LoRA):
// "4 experts, A·B", "DoRA (magnitude m)", "LoRA bias (scaling of x.weight)", "modules_to_save: replaces the
// base".
std::string pairNotes(const LoraPair& pair);

// The internal name of adapter k's tensor (k >= 1, counted from 0) in a multi-adapter source:
// "adapter<k+1>:<name>". Adapters usually carry identical LoRA names; the tag keeps them apart. It
// is never written (LoRA tensors are dropped).
std::string adapterTensorName(size_t adapter, std::string_view name);
// {k, name} for a tagged name, {0, name} for any other name.
std::pair<size_t, std::string_view> splitAdapterTag(std::string_view name);

// Pure function of names, dtypes and shapes. Rules:
// - the LoRA suffixes of a scheme match in any case; the layer path (stem) is taken as written, and
//   a pair's base is `<stem>.weight` (or PEFT's `<stem>.base_layer.weight`; a PEFT
//   `base_model.model.` prefix on the stem is dropped). The base is found by its exact name first;
//   a weight whose name differs only in case is used when it is the only one, and two such
//   candidates are a problem (MindSpore names are case-sensitive Cell paths).
// - grouped MoE LoRA `<w>_lora_a` / `<w>_lora_b` pairs with the base `<w>` itself. 3-D A/B decide the
//   layout by shape: A [E,in,r] with B [E,r,out] (delta A·B) or A [E,r,in] with B [E,out,r] (delta B·A),
//   the base [E,·,·] holding the delta or its transpose; a square delta takes the layout's own
//   orientation, and shapes that fit both layouts (in == out == r) are a problem.
// - `<optimizer prefix><name>` is an optimizer copy; it is dropped when <name> carries a LoRA
//   marker and kept otherwise.
// - Every other tensor with a LoRA marker (hasLoraMarker) that no scheme pairs is a problem pair
//   of scheme "unpaired". A DoRA magnitude vector beside a pair makes it a DoRA pair when the
//   magnitude is floating point of shape [out] and the base is a matrix stored [out, in]; otherwise
//   the pair is a problem.
// - PEFT `lora_B.bias` pairs with the base bias (kind Bias) and needs a mergeable LoRA pair on the
//   same layer; PEFT `modules_to_save` tensors replace their base (kind Replace) and need its dims.
// LoRA tensors, optimizer copies of them and unpaired LoRA tensors are never written.
// - Several adapters (tagged names): each adapter is planned with the base on its own, so two pairs
//   for one base inside one adapter stay a problem while pairs of different adapters on one base
//   sum; a pair that cannot be a term of a sum (DoRA, grouped, modules_to_save) on a base another
//   adapter also adapts is a problem. Problems of a multi-adapter plan say "in adapter N: ...".
LoraPlan planLora(const std::vector<SourceTensor>& tensors, const PlanOptions& options = {});

// The role a name plays, from its name alone. A LoRA-marked name no scheme pairs is LoraB when the
// marker says B (`lora_b`, `lora_up`), else LoraA.
TensorRole classifyName(std::string_view name);

// Whether the name carries a LoRA marker as a word of its own (any case): lora_a, lora_b, lora_down,
// lora_up, lora_embedding_a/_b, lora_magnitude (DoRA), mindpet_delta, tk_delta. `lora_alpha` or
// `q_lora_rank` do not count.
bool hasLoraMarker(std::string_view name);

// Length of the optimizer-state prefix the name starts with (`adam_m.`, `exp_avg_sq_row_`, ...), or 0.
size_t optimizerPrefixLength(std::string_view name);

// The problems of a plan in one sentence for an error message: the unpaired tensors first, as
// "LoRA tensors that could not be paired (N): a, b, ...", then up to `limit` pair problems as
// "<base or A or B>: <problem>", separated by "; ".
std::string describeProblems(const LoraPlan& plan, size_t limit);

}  // namespace lms
