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

struct LoraPair {
    std::string base;  // empty when the base is missing
    std::string a, b;  // empty when missing
    // "mindpet_delta", "tk_delta", "lora_A.weight", "lora_A.<adapter>.weight" (PEFT in memory,
    // e.g. "lora_A.default.weight"), ".lora_a"; "unpaired" for a tensor that carries a LoRA marker
    // but matches no scheme (its name is in `a` or `b`, the problem says why).
    std::string scheme;
    std::vector<int64_t> baseDims, aDims, bDims;
    int64_t rank = 0;         // r, from A's rows (0 when unknown)
    bool transposed = false;  // base stored [in, out]: add (B·A)ᵀ
    PairStatus status = PairStatus::Ok;
    std::string problem;  // in words, when status == Problem
};

struct PlanOptions {
    SquareOrientation squareOrientation = SquareOrientation::OutIn;
    std::vector<std::string> disabledBases;  // pairs the user chose to leave out
};

struct LoraPlan {
    std::vector<LoraPair> pairs;    // in order of the base's position
    std::vector<TensorRole> roles;  // one per source tensor
    std::vector<bool> dropped;      // one per source tensor: not written
    std::vector<int> pairOfTensor;  // one per source tensor: pair index or -1
    size_t okPairs = 0, problemPairs = 0, disabledPairs = 0;
    uint64_t bytesToWrite = 0;  // payload bytes of the output (excluding headers)
    uint64_t tensorsToWrite = 0;
};

// Pure function of names, dtypes and shapes. Rules:
// - the LoRA suffixes of a scheme match in any case; the layer path (stem) is taken as written, and
//   a pair's base is `<stem>.weight` (or PEFT's `<stem>.base_layer.weight`; a PEFT
//   `base_model.model.` prefix on the stem is dropped). The base is found by its exact name first;
//   a weight whose name differs only in case is used when it is the only one, and two such
//   candidates are a problem (MindSpore names are case-sensitive Cell paths).
// - `<optimizer prefix><name>` is an optimizer copy; it is dropped when <name> carries a LoRA
//   marker and kept otherwise.
// - Every other tensor with a LoRA marker (hasLoraMarker) that no scheme pairs is a problem pair
//   of scheme "unpaired"; a DoRA magnitude vector beside a pair makes that pair a problem.
// LoRA tensors, optimizer copies of them and unpaired LoRA tensors are never written.
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
