#pragma once
// The LoRA plan (spec §5): which A/B pairs belong to which base weight, with shapes, rank,
// orientation and every problem listed — computed from names and shapes only, before any
// tensor byte is read, so the studio can show it and the CLI can print it as a dry run.

#include "lms/Source.h"

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
    std::string base;              // empty when the base is missing
    std::string a, b;              // empty when missing
    std::string scheme;            // "mindpet_delta", "tk_delta", "lora_A.weight", ".lora_a"
    std::vector<int64_t> baseDims, aDims, bDims;
    int64_t rank = 0;              // r, from A's rows (0 when unknown)
    bool transposed = false;       // base stored [in, out]: add (B·A)ᵀ
    PairStatus status = PairStatus::Ok;
    std::string problem;           // in words, when status == Problem
};

struct PlanOptions {
    SquareOrientation squareOrientation = SquareOrientation::OutIn;
    std::vector<std::string> disabledBases;  // pairs the user chose to leave out
};

struct LoraPlan {
    std::vector<LoraPair> pairs;                 // in order of the base's position
    std::vector<TensorRole> roles;               // one per source tensor
    std::vector<bool> dropped;                   // one per source tensor: not written
    std::vector<int> pairOfTensor;               // one per source tensor: pair index or -1
    size_t okPairs = 0, problemPairs = 0, disabledPairs = 0;
    uint64_t bytesToWrite = 0;                   // payload bytes of the output (excluding headers)
    uint64_t tensorsToWrite = 0;
};

// Pure function of names, dtypes and shapes. Names are matched case-insensitively.
LoraPlan planLora(const std::vector<SourceTensor>& tensors, const PlanOptions& options = {});

// The role a name plays, from its name alone.
TensorRole classifyName(std::string_view name);

}  // namespace lms
