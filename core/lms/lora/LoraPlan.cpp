#include "lms/lora/LoraPlan.h"

#include "lms/base/Text.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <map>
#include <set>
#include <span>
#include <unordered_map>

namespace lms {
namespace {

// Prefixes under which optimizers store their state for each parameter they update (spec §5.6,
// §6.17), so `<prefix><parameter name>` is a copy. `ParameterTuple.clone(prefix=P)` names the
// copy "P.<name>" (mindspore/python/mindspore/common/parameter.py, ParameterTuple.clone); the
// factored optimizers build "<P>_<name>" with format strings.
constexpr std::array<std::string_view, 19> kOptimizerPrefixes{
    // mindspore nn/optim/adam.py: Adam clones "moment1"/"moment2" (and "vhat" with use_amsgrad),
    // AdamWeightDecay and AdamOffload clone "adam_m"/"adam_v".
    "adam_m.",
    "adam_v.",
    "moment1.",
    "moment2.",
    "vhat.",
    // mindspore nn/optim/lamb.py, Lamb.__init__: clone(prefix="lamb_m") and "lamb_v".
    "lamb_m.",
    "lamb_v.",
    // mindformers core/optim AdamW / FusedAdamW: clone(prefix="exp_avg"), "exp_avg_sq", "max_exp_avg_sq".
    "exp_avg.",
    "exp_avg_sq.",
    "max_exp_avg_sq.",
    // mindspore nn/optim/adafactor.py (AdaFactor) and mindformers core/optim/came.py
    // (Came.init_came_state): name="exp_avg_sq_row_{}".format(param.name), likewise _col_,
    // exp_avg_insta_row_/_col_ (CAME) and exp_avg_sq_.
    "exp_avg_sq_row_",
    "exp_avg_sq_col_",
    "exp_avg_insta_row_",
    "exp_avg_insta_col_",
    "exp_avg_sq_",
    // mindspore nn/optim/momentum.py Momentum: clone(prefix="moments"); nn/optim/ada_grad.py
    // Adagrad: clone(prefix="accum").
    "moments.",
    "accum.",
    // MindFormers gradient accumulation (clone(prefix="accu_grads")) and PMA weight averaging.
    "accu_grads.",
    "pma_weight_",
};

// LoRA naming schemes (spec §5.2): suffix of the A and B names (lower case) and the scheme's name.
struct Scheme {
    std::string_view name;
    std::string_view suffixA, suffixB;
};
// The last, MoE grouped LoRA, names its base without a `.weight`: MindFormers' PyNative
// GroupedMLPWithLoRA declares Parameter(name="weight1_lora_a") [E, hidden, r] and "weight1_lora_b"
// [E, r, ffn] beside the expert weight `weight1` [E, hidden, ffn] (mindspore-ai/mindformers
// mindformers/pynative/pet/moe_lora_layer.py, GroupedMLPWithLoRA.__init__ and experts_forward:
// x·A·B per expert), and tools/lora_merge_utils.py `_merge_delta` merges it as A@B.
constexpr std::string_view kGroupedScheme = "_lora_a";
constexpr std::array<Scheme, 5> kSchemes{{
    {"mindpet_delta", ".mindpet_delta_lora_a", ".mindpet_delta_lora_b"},
    {"tk_delta", ".tk_delta_lora_a", ".tk_delta_lora_b"},
    {"lora_A.weight", ".lora_a.weight", ".lora_b.weight"},
    {".lora_a", ".lora_a", ".lora_b"},
    {kGroupedScheme, "_lora_a", "_lora_b"},
}};

// PEFT saves adapters with the PeftModel's prefix on every key (huggingface/peft
// src/peft/utils/save_and_load.py, get_peft_model_state_dict; set_peft_model_state_dict loads them
// back onto `base_model.model.<module>`), while the base model's own names lack it.
constexpr std::string_view kPeftPrefix = "base_model.model.";

enum class Marker { None, A, B, Magnitude, Other };
struct MarkerWord {
    std::string_view word;
    Marker kind;
};
constexpr std::array<MarkerWord, 10> kMarkers{{
    {"lora_magnitude", Marker::Magnitude},  // PEFT DoRA: lora_magnitude_vector
    {"lora_embedding_a", Marker::A},        // PEFT LoRA on embeddings
    {"lora_embedding_b", Marker::B},
    {"lora_down", Marker::A},  // kohya
    {"lora_up", Marker::B},
    {"lora_a", Marker::A},
    {"lora_b", Marker::B},
    {"mindpet_delta", Marker::Other},  // every MindPet delta (LoRA, adapter, prefix, ...)
    {"tk_delta", Marker::Other},
    {"modules_to_save", Marker::Other},  // PEFT: a trained copy that replaces its module's tensor
}};

struct MarkerHit {
    Marker kind = Marker::None;
    std::string_view word;
};

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

bool endsWith(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// The most specific marker the name carries as a word: not inside `lora_alpha` or `xlora_a`.
MarkerHit findMarker(std::string_view name) {
    const auto lowered = lower(name);
    MarkerHit found;
    for (const auto& marker : kMarkers) {
        for (size_t pos = lowered.find(marker.word); pos != std::string::npos;
             pos = lowered.find(marker.word, pos + 1)) {
            const size_t end = pos + marker.word.size();
            const bool before = pos == 0 || !std::isalnum(static_cast<unsigned char>(lowered[pos - 1]));
            const bool after = end == lowered.size() || lowered[end] == '.' || lowered[end] == '_' ||
                               std::isdigit(static_cast<unsigned char>(lowered[end]));
            if (!before || !after) continue;
            if (found.kind == Marker::None || found.kind == Marker::Other) found = {marker.kind, marker.word};
            break;
        }
    }
    return found;
}

struct LoraName {
    TensorRole role = TensorRole::Other;  // LoraA or LoraB when matched
    std::string scheme;
    size_t stemLength = 0;  // the layer path before the suffix
};

// PEFT's in-memory names keep the adapter's name: <module>.lora_A.<adapter>.weight (PEFT
// tuners/lora/layer.py: lora_A is a ModuleDict keyed by adapter name).
LoraName matchPeftInfix(std::string_view name, std::string_view lowered) {
    if (!endsWith(lowered, ".weight")) return {};
    const auto rest = lowered.substr(0, lowered.size() - 7);
    const size_t dot = rest.rfind('.');
    if (dot == std::string::npos || dot + 1 == rest.size()) return {};
    const auto head = rest.substr(0, dot);
    const std::string adapter(name.substr(dot + 1, rest.size() - dot - 1));
    for (const auto& [suffix, role] : {std::pair{std::string_view(".lora_a"), TensorRole::LoraA},
                                       std::pair{std::string_view(".lora_b"), TensorRole::LoraB}})
        if (endsWith(head, suffix))
            return {role, "lora_A." + adapter + ".weight", head.size() - suffix.size()};
    return {};
}

LoraName matchLora(std::string_view name) {
    const auto lowered = lower(name);
    for (const auto& scheme : kSchemes) {
        if (endsWith(lowered, scheme.suffixA))
            return {TensorRole::LoraA, std::string(scheme.name), lowered.size() - scheme.suffixA.size()};
        if (endsWith(lowered, scheme.suffixB))
            return {TensorRole::LoraB, std::string(scheme.name), lowered.size() - scheme.suffixB.size()};
    }
    return matchPeftInfix(name, lowered);
}

// PEFT's other trained tensors beside A/B: the LoRA bias and modules_to_save copies.
struct ExtraName {
    PairKind kind = PairKind::Lora;  // Lora: not one of them
    std::string stem;                // Bias: the layer path; Replace: the module path
    std::string param;               // Replace: the parameter under the module ("weight", "bias")
};

ExtraName matchExtra(std::string_view name) {
    const auto lowered = lower(name);
    // lora_bias=True: lora_B is an nn.Linear with a bias, saved as <stem>.lora_B.bias and held in memory
    // as <stem>.lora_B.<adapter>.bias; merging adds lora_B.bias * scaling to the base layer's bias
    // (huggingface/peft src/peft/tuners/lora/layer.py, LoraLayer.update_layer and Linear.merge).
    if (endsWith(lowered, ".bias")) {
        const auto rest = std::string_view(lowered).substr(0, lowered.size() - 5);
        if (endsWith(rest, ".lora_b"))
            return {PairKind::Bias, std::string(name.substr(0, rest.size() - 7)), {}};
        const size_t dot = rest.rfind('.');
        if (dot != std::string::npos && endsWith(rest.substr(0, dot), ".lora_b"))
            return {PairKind::Bias, std::string(name.substr(0, dot - 7)), {}};
    }
    // ModulesToSaveWrapper keeps the trained copy as <module>.modules_to_save.<adapter>.<param> beside
    // <module>.original_module.<param>; merge_and_unload puts the copy in the module's place
    // (huggingface/peft src/peft/utils/other.py, ModulesToSaveWrapper).
    constexpr std::string_view infix = ".modules_to_save.";
    const size_t at = name.find(infix);
    if (at == std::string::npos || at == 0) return {};
    const auto after = name.substr(at + infix.size());
    const size_t dot = after.find('.');
    if (dot == std::string::npos || dot == 0 || dot + 1 == after.size()) return {};
    return {PairKind::Replace, std::string(name.substr(0, at)), std::string(after.substr(dot + 1))};
}

std::string dimsText(const std::vector<int64_t>& dims) {
    return formatDims(dims);
}

void setProblem(LoraPair& pair, std::string text) {
    if (pair.status == PairStatus::Problem) return;  // keep the first, most basic problem
    pair.status = PairStatus::Problem;
    pair.problem = std::move(text);
}

// One reading of 3-D A/B: which factor is on the left, and whether the base holds the transpose.
struct GroupedLayout {
    bool aLeft, transposed;
};

// Grouped (MoE) LoRA: E experts, each W[e] + s·delta[e]. The shapes decide the layout (LoraPlan.h).
void validateGrouped(LoraPair& pair, const SourceTensor& base, const SourceTensor& a, const SourceTensor& b) {
    const auto shapes = "A " + dimsText(a.dims) + ", B " + dimsText(b.dims) + ", base " + dimsText(base.dims);
    if (base.dims.size() != 3)
        return setProblem(pair, "grouped LoRA needs a 3-D expert weight [E, ·, ·] (" + shapes + ")");
    const int64_t experts = base.dims[0];
    if (a.dims[0] != experts || b.dims[0] != experts)
        return setProblem(pair, "expert count mismatch: the base has " + std::to_string(experts) +
                                    " experts but A has " + std::to_string(a.dims[0]) + " and B " +
                                    std::to_string(b.dims[0]) + " (" + shapes + ")");
    std::vector<GroupedLayout> fits;
    const auto tryLayout = [&](bool aLeft, int64_t rankA, int64_t rankB, int64_t rows, int64_t cols) {
        if (rankA != rankB || rankA <= 0) return;
        if (base.dims[1] == rows && base.dims[2] == cols)
            fits.push_back({aLeft, false});  // also the square case: the layout's own orientation
        else if (base.dims[1] == cols && base.dims[2] == rows)
            fits.push_back({aLeft, true});
    };
    tryLayout(true, a.dims[2], b.dims[1], a.dims[1], b.dims[2]);   // A [E,in,r] · B [E,r,out]
    tryLayout(false, a.dims[1], b.dims[2], b.dims[1], a.dims[2]);  // B [E,out,r] · A [E,r,in]
    if (fits.empty())
        return setProblem(pair,
                          "shape mismatch: grouped LoRA fits neither A·B (A [E,in,r], B [E,r,out]) nor "
                          "B·A (A [E,r,in], B [E,out,r]) on the base (" +
                              shapes + ")");
    if (fits.size() > 1)
        return setProblem(pair,
                          "ambiguous grouped LoRA: the shapes fit both A·B (A [E,in,r], B [E,r,out]) and "
                          "B·A (A [E,r,in], B [E,out,r]) (" +
                              shapes + "), so which product was trained cannot be told");
    pair.experts = experts;
    pair.aLeft = fits.front().aLeft;
    pair.transposed = fits.front().transposed;
    pair.rank = pair.aLeft ? a.dims[2] : a.dims[1];
}

void validateShapes(LoraPair& pair, const SourceTensor& base, const SourceTensor& a, const SourceTensor& b,
                    SquareOrientation square) {
    pair.baseDims = base.dims;
    pair.aDims = a.dims;
    pair.bDims = b.dims;
    if (!isFloatingPoint(base.dtype))
        return setProblem(
            pair, "base weight has type " + base.typeName + "; only floating-point weights can be merged");
    if (!isFloatingPoint(a.dtype) || !isFloatingPoint(b.dtype))
        return setProblem(
            pair, "LoRA A/B have type " + a.typeName + "/" + b.typeName + "; expected floating point");
    if (a.dims.size() == 3 && b.dims.size() == 3) return validateGrouped(pair, base, a, b);
    if (a.dims.size() != 2 || b.dims.size() != 2)
        return setProblem(pair,
                          "LoRA A is " + dimsText(a.dims) + " and B is " + dimsText(b.dims) +
                              "; both must be 2-D (A [r, in], B [out, r]) or both 3-D (grouped experts)");
    pair.rank = a.dims[0];
    if (pair.rank <= 0) return setProblem(pair, "LoRA rank is 0 (A is " + dimsText(a.dims) + ")");
    if (b.dims[1] != pair.rank)
        return setProblem(pair, "rank mismatch: A " + dimsText(a.dims) +
                                    " has r=" + std::to_string(pair.rank) + " but B " + dimsText(b.dims) +
                                    " has r=" + std::to_string(b.dims[1]));
    if (base.dims.size() != 2)
        return setProblem(pair, "base weight is " + dimsText(base.dims) + "; expected a 2-D matrix");
    const int64_t out = b.dims[0], in = a.dims[1];
    const bool outIn = base.dims[0] == out && base.dims[1] == in;
    const bool inOut = base.dims[0] == in && base.dims[1] == out;
    if (outIn && inOut) {
        pair.transposed = square == SquareOrientation::InOut;
    } else if (outIn) {
        pair.transposed = false;
    } else if (inOut) {
        pair.transposed = true;
    } else {
        setProblem(pair, "shape mismatch: B·A is " + dimsText({out, in}) + " (B " + dimsText(b.dims) +
                             ", A " + dimsText(a.dims) + ") but the base weight is " + dimsText(base.dims));
    }
}

// DoRA: PEFT merges W' = m·(W + s·B·A) / ‖W + s·B·A‖ with the norm over dim 1 of the [out, in]
// weight, one per output row (huggingface/peft src/peft/tuners/lora/dora.py,
// DoraLinearLayer.get_weight_norm: torch.linalg.norm(weight, dim=1); tuners/lora/layer.py
// Linear.merge: dora_factor = magnitude / weight_norm, applied as dora_factor.view(-1, 1)). Each
// stored row of an [out, in] base is one output row, so a row block holds what its norm needs.
void validateMagnitude(LoraPair& pair, const SourceTensor& m) {
    pair.magnitude = m.name;
    pair.magnitudeDims = m.dims;
    if (pair.status == PairStatus::Problem) return;
    const auto dora = "DoRA adapter (" + m.name + " beside A/B): ";
    if (pair.experts > 0) return setProblem(pair, dora + "DoRA on grouped expert weights is not supported");
    if (pair.transposed)
        return setProblem(pair,
                          dora + "the base " + dimsText(pair.baseDims) +
                              " is stored [in, out], where the DoRA norm of each output row runs down a "
                              "column; only [out, in] bases are supported");
    if (!isFloatingPoint(m.dtype))
        return setProblem(pair, dora + "the magnitude has type " + m.typeName + "; expected floating point");
    if (m.dims != std::vector<int64_t>{deltaRows(pair)})
        return setProblem(pair, dora + "the magnitude is " + dimsText(m.dims) + " but the base has " +
                                    std::to_string(deltaRows(pair)) + " output rows; expected " +
                                    dimsText({deltaRows(pair)}));
}

// Name lookups: exact first, then case-folded (every tensor whose lower-case name matches).
struct NameIndex {
    std::unordered_map<std::string, size_t> exact;
    std::unordered_map<std::string, std::vector<size_t>> folded;
    explicit NameIndex(const std::vector<SourceTensor>& tensors) {
        for (size_t i = 0; i < tensors.size(); ++i) {
            exact.emplace(tensors[i].name, i);
            folded[lower(tensors[i].name)].push_back(i);
        }
    }
};

// A and B tensors of one layer path (as written) under one scheme.
struct Group {
    std::string stem;
    std::string scheme;
    std::vector<size_t> as, bs;
};

struct Sorted {
    std::vector<Group> groups;                         // in order of their first tensor
    std::map<std::string, size_t> magnitudes;          // DoRA magnitude vectors by layer path
    std::vector<size_t> unpaired;                      // LoRA-marked tensors no scheme pairs
    std::vector<std::pair<size_t, ExtraName>> extras;  // LoRA biases and modules_to_save copies
};

// Sets roles and `dropped` for every tensor and sorts the LoRA ones into groups.
Sorted sortTensors(const std::vector<SourceTensor>& tensors, LoraPlan& plan) {
    Sorted out;
    std::map<std::pair<std::string, std::string>, size_t> groupOf;
    for (size_t i = 0; i < tensors.size(); ++i) {
        const auto& name = tensors[i].name;
        if (const size_t prefix = optimizerPrefixLength(name)) {
            plan.roles[i] = TensorRole::OptimizerState;
            // Optimizer copies of LoRA weights go with the LoRA weights (spec §6.18).
            plan.dropped[i] = hasLoraMarker(std::string_view(name).substr(prefix));
            continue;
        }
        if (auto extra = matchExtra(name); extra.kind != PairKind::Lora) {
            plan.roles[i] = extra.kind == PairKind::Bias ? TensorRole::LoraB : TensorRole::LoraA;
            plan.dropped[i] = true;
            out.extras.emplace_back(i, std::move(extra));
            continue;
        }
        const auto match = matchLora(name);
        if (match.role == TensorRole::Other) {
            const auto marker = findMarker(name);
            if (marker.kind == Marker::None) continue;
            plan.roles[i] = classifyName(name);
            plan.dropped[i] = true;
            const size_t at = lower(name).find(marker.word);
            if (marker.kind == Marker::Magnitude && at > 0 && name[at - 1] == '.' &&
                out.magnitudes.emplace(name.substr(0, at - 1), i).second)
                continue;
            out.unpaired.push_back(i);
            continue;
        }
        plan.roles[i] = match.role;
        plan.dropped[i] = true;
        auto key = std::make_pair(name.substr(0, match.stemLength), match.scheme);
        auto [it, inserted] = groupOf.try_emplace(key, out.groups.size());
        if (inserted) out.groups.push_back({key.first, key.second, {}, {}});
        auto& group = out.groups[it->second];
        (match.role == TensorRole::LoraA ? group.as : group.bs).push_back(i);
    }
    return out;
}

struct BaseLookup {
    std::optional<size_t> index;
    std::string problem;  // when not found
};

// The base of a layer path: <stem>.weight or PEFT's <stem>.base_layer.weight, also without the
// PEFT prefix; exact names first, a case-insensitive match only when it is the only one.
// `<path><suffix>` for each suffix, for the stem as written and without the PEFT prefix.
std::vector<std::string> baseCandidates(const std::string& stem,
                                        std::initializer_list<std::string_view> suffixes) {
    std::vector<std::string> candidates;
    for (const auto& path :
         {stem, stem.starts_with(kPeftPrefix) ? stem.substr(kPeftPrefix.size()) : std::string()}) {
        if (path.empty()) continue;
        for (const auto suffix : suffixes) candidates.push_back(path + std::string(suffix));
    }
    return candidates;
}

BaseLookup findBase(const std::vector<std::string>& candidates, const NameIndex& index,
                    const std::vector<SourceTensor>& tensors, const std::vector<bool>& dropped) {
    for (const auto& name : candidates)
        if (const auto it = index.exact.find(name); it != index.exact.end() && !dropped[it->second])
            return {it->second, {}};
    std::vector<size_t> folded;
    for (const auto& name : candidates) {
        const auto it = index.folded.find(lower(name));
        if (it == index.folded.end()) continue;
        for (size_t i : it->second)
            if (!dropped[i] && std::find(folded.begin(), folded.end(), i) == folded.end())
                folded.push_back(i);
    }
    if (folded.size() == 1) return {folded.front(), {}};
    std::string problem = "base weight " + candidates.front() + " not found";
    if (folded.size() > 1) {
        problem += ", and " + std::to_string(folded.size()) + " weights differ from it only in case (";
        for (size_t k = 0; k < folded.size(); ++k) problem += (k ? ", " : "") + tensors[folded[k]].name;
        problem += "); MindSpore names are case-sensitive, so which one the LoRA belongs to is ambiguous";
    }
    return {std::nullopt, problem};
}

// A pair under construction: where it sorts, and the tensors it owns.
struct Built {
    size_t position = 0;
    LoraPair pair;
    std::optional<size_t> base;
    std::vector<size_t> members;    // A, B, DoRA magnitude
    std::string stem;               // the layer path of a LoRA pair
    std::optional<size_t> sibling;  // a LoRA bias: the Built of its LoRA pair
};

Built buildPair(const Group& group, const std::vector<SourceTensor>& tensors, const NameIndex& index,
                std::map<std::string, size_t>& magnitudes, const LoraPlan& plan, const PlanOptions& options) {
    Built built;
    auto& pair = built.pair;
    pair.scheme = group.scheme;
    built.stem = group.stem;
    built.position = tensors.size();
    for (const auto* list : {&group.as, &group.bs}) {
        if (list->empty()) continue;
        const auto& t = tensors[list->front()];
        (list == &group.as ? pair.a : pair.b) = t.name;
        (list == &group.as ? pair.aDims : pair.bDims) = t.dims;
        built.position = std::min(built.position, list->front());
        built.members.insert(built.members.end(), list->begin(), list->end());
    }
    const auto base = findBase(group.scheme == kGroupedScheme
                                   ? baseCandidates(group.stem, {""})
                                   : baseCandidates(group.stem, {".weight", ".base_layer.weight"}),
                               index, tensors, plan.dropped);
    if (base.index) {
        built.base = base.index;
        pair.base = tensors[*base.index].name;
        pair.baseDims = tensors[*base.index].dims;
        built.position = *base.index;
    }
    if (group.as.size() > 1 || group.bs.size() > 1)
        setProblem(pair,
                   "several LoRA tensors share the name " + group.stem + " (names differ only in case)");
    if (pair.a.empty()) setProblem(pair, "LoRA B " + pair.b + " has no matching A");
    if (pair.b.empty()) setProblem(pair, "LoRA A " + pair.a + " has no matching B");
    if (!base.index) setProblem(pair, base.problem);
    if (pair.status != PairStatus::Problem)
        validateShapes(pair, tensors[*base.index], tensors[group.as.front()], tensors[group.bs.front()],
                       options.squareOrientation);
    if (const auto it = magnitudes.find(group.stem); it != magnitudes.end()) {
        built.members.push_back(it->second);
        validateMagnitude(pair, tensors[it->second]);
        magnitudes.erase(it);
    }
    if (pair.status == PairStatus::Ok && std::find(options.disabledBases.begin(), options.disabledBases.end(),
                                                   pair.base) != options.disabledBases.end())
        pair.status = PairStatus::Disabled;
    return built;
}

// A PEFT LoRA bias or modules_to_save copy (matchExtra) as a pair of its own on its base tensor.
Built buildExtra(size_t i, const ExtraName& extra, const std::vector<SourceTensor>& tensors,
                 const NameIndex& index, const std::vector<bool>& dropped, std::span<const Built> loras) {
    const auto& t = tensors[i];
    Built built;
    built.position = i;
    built.members = {i};
    auto& pair = built.pair;
    pair.kind = extra.kind;
    const bool bias = extra.kind == PairKind::Bias;
    (bias ? pair.b : pair.a) = t.name;
    (bias ? pair.bDims : pair.aDims) = t.dims;
    pair.scheme = bias ? "lora_B.bias" : "modules_to_save";
    const auto base =
        findBase(bias ? baseCandidates(extra.stem, {".bias", ".base_layer.bias"})
                      : baseCandidates(extra.stem, {"." + extra.param, ".original_module." + extra.param}),
                 index, tensors, dropped);
    if (!base.index) {
        setProblem(pair, base.problem);
        return built;
    }
    const auto& b = tensors[*base.index];
    built.base = base.index;
    built.position = *base.index;
    pair.base = b.name;
    pair.baseDims = b.dims;
    const auto what = std::string(bias ? "LoRA bias " : "modules_to_save tensor ") + t.name;
    if (!isFloatingPoint(b.dtype) || !isFloatingPoint(t.dtype)) {
        if (bias || t.dtype != b.dtype)
            setProblem(pair,
                       what + " has type " + t.typeName + " and the base " + b.typeName +
                           (bias ? "; only floating-point biases can be merged" : "; the types must match"));
    }
    if (t.dims != b.dims || (bias && t.dims.size() != 1))
        setProblem(pair, "shape mismatch: " + what + " is " + dimsText(t.dims) + " but the base is " +
                             dimsText(b.dims));
    if (!bias) return built;
    for (size_t k = 0; k < loras.size(); ++k)
        if (loras[k].stem == extra.stem && loras[k].pair.scheme != kGroupedScheme) built.sibling = k;
    if (!built.sibling) {
        setProblem(pair, what + " has no LoRA A/B pair beside it, so its scaling is unknown");
        return built;
    }
    pair.loraOf = loras[*built.sibling].pair.base;
    pair.rank = loras[*built.sibling].pair.rank;
    return built;
}

// A LoRA bias follows its LoRA pair: left out with it, and not merged when the pair cannot be.
void followSiblings(std::vector<Built>& built) {
    for (auto& item : built) {
        if (!item.sibling || item.pair.status == PairStatus::Problem) continue;
        const auto& lora = built[*item.sibling].pair;
        if (lora.status == PairStatus::Problem)
            setProblem(item.pair,
                       "its LoRA pair on " + (lora.base.empty() ? lora.a : lora.base) + " cannot be merged");
        else if (lora.status == PairStatus::Disabled)
            item.pair.status = PairStatus::Disabled;
    }
}

Built unpairedTensor(const SourceTensor& t, size_t i, TensorRole role) {
    const auto marker = findMarker(t.name);
    std::string why = "it matches no supported naming scheme";
    if (marker.word == "lora_down" || marker.word == "lora_up")
        why = "kohya lora_down/lora_up names are not a supported scheme";
    else if (marker.kind == Marker::Magnitude)
        why = "a DoRA magnitude vector without a LoRA pair";
    else if (marker.word.starts_with("lora_embedding"))
        why = "LoRA on embeddings (lora_embedding_A/B) is not supported";
    Built built;
    built.position = i;
    built.members = {i};
    built.pair.scheme = "unpaired";
    (role == TensorRole::LoraB ? built.pair.b : built.pair.a) = t.name;
    (role == TensorRole::LoraB ? built.pair.bDims : built.pair.aDims) = t.dims;
    setProblem(built.pair, "LoRA tensor that could not be paired: " + t.name + " (" + why + ")");
    return built;
}

// Several pairs on one base weight: each of them is a problem, whatever else was wrong.
void flagSharedBases(std::vector<Built>& built) {
    std::map<size_t, std::vector<size_t>> pairsOfBase;
    for (size_t k = 0; k < built.size(); ++k)
        if (built[k].base) pairsOfBase[*built[k].base].push_back(k);
    for (auto& [base, indexes] : pairsOfBase) {
        if (indexes.size() < 2) continue;
        for (size_t index : indexes) {
            auto& pair = built[index].pair;
            pair.status = PairStatus::Ok;  // replace any lesser problem with the decisive one
            pair.problem.clear();
            setProblem(pair, "two adapters on one base weight (" + std::to_string(indexes.size()) +
                                 " LoRA pairs target " + pair.base + ")");
        }
    }
}

}  // namespace

const char* tensorRoleName(TensorRole role) {
    switch (role) {
        case TensorRole::Base:
            return "base";
        case TensorRole::LoraA:
            return "LoRA A";
        case TensorRole::LoraB:
            return "LoRA B";
        case TensorRole::OptimizerState:
            return "optimizer state";
        case TensorRole::Other:
            return "other";
    }
    return "other";
}

int64_t deltaRows(const LoraPair& pair) {
    const auto& left = pair.aLeft ? pair.aDims : pair.bDims;
    const size_t at = pair.experts > 0 ? 1 : 0;
    return left.size() > at ? left[at] : 0;
}

int64_t deltaCols(const LoraPair& pair) {
    if (pair.kind == PairKind::Bias) return 1;  // the bias as a column [out, 1]
    const auto& right = pair.aLeft ? pair.bDims : pair.aDims;
    const size_t at = pair.experts > 0 ? 2 : 1;
    return right.size() > at ? right[at] : 0;
}

std::string pairNotes(const LoraPair& pair) {
    switch (pair.kind) {
        case PairKind::Bias:
            return "LoRA bias (scaling of " + pair.loraOf + ")";
        case PairKind::Replace:
            return "modules_to_save: replaces the base";
        case PairKind::Lora:
            break;
    }
    if (pair.experts > 0) return std::to_string(pair.experts) + " experts, " + (pair.aLeft ? "A·B" : "B·A");
    if (!pair.magnitude.empty()) return "DoRA (magnitude " + pair.magnitude + ")";
    return {};
}

size_t optimizerPrefixLength(std::string_view name) {
    size_t longest = 0;
    for (const auto prefix : kOptimizerPrefixes)
        if (name.size() > prefix.size() && name.starts_with(prefix))
            longest = std::max(longest, prefix.size());
    return longest;
}

bool hasLoraMarker(std::string_view name) {
    return findMarker(name).kind != Marker::None;
}

TensorRole classifyName(std::string_view name) {
    if (optimizerPrefixLength(name) > 0) return TensorRole::OptimizerState;
    if (const auto role = matchLora(name).role; role != TensorRole::Other) return role;
    const auto marker = findMarker(name).kind;
    if (marker == Marker::None) return TensorRole::Other;
    return marker == Marker::B ? TensorRole::LoraB : TensorRole::LoraA;
}

namespace {

LoraPlan planSection(const std::vector<SourceTensor>& tensors, const PlanOptions& options) {
    LoraPlan plan;
    const size_t n = tensors.size();
    plan.roles.assign(n, TensorRole::Other);
    plan.dropped.assign(n, false);
    plan.pairOfTensor.assign(n, -1);
    const NameIndex index(tensors);
    auto sorted = sortTensors(tensors, plan);

    std::vector<Built> built;
    for (const auto& group : sorted.groups)
        built.push_back(buildPair(group, tensors, index, sorted.magnitudes, plan, options));
    const size_t loraCount = built.size();
    for (const auto& [i, extra] : sorted.extras)
        built.push_back(buildExtra(i, extra, tensors, index, plan.dropped,
                                   std::span<const Built>(built.data(), loraCount)));
    for (const auto& [stem, i] : sorted.magnitudes) sorted.unpaired.push_back(i);  // DoRA vectors left over
    for (size_t i : sorted.unpaired) built.push_back(unpairedTensor(tensors[i], i, plan.roles[i]));
    flagSharedBases(built);
    followSiblings(built);
    std::stable_sort(built.begin(), built.end(),
                     [](const Built& x, const Built& y) { return x.position < y.position; });

    for (auto& item : built) {
        const int pairIndex = int(plan.pairs.size());
        if (item.base) {
            plan.pairOfTensor[*item.base] = pairIndex;
            plan.roles[*item.base] = TensorRole::Base;
        }
        for (size_t i : item.members) plan.pairOfTensor[i] = pairIndex;
        switch (item.pair.status) {
            case PairStatus::Ok:
                ++plan.okPairs;
                break;
            case PairStatus::Problem:
                ++plan.problemPairs;
                break;
            case PairStatus::Disabled:
                ++plan.disabledPairs;
                break;
        }
        plan.pairs.push_back(std::move(item.pair));
    }
    for (size_t i = 0; i < n; ++i) {
        if (plan.dropped[i]) continue;
        plan.bytesToWrite += tensors[i].byteSize;
        ++plan.tensorsToWrite;
    }
    return plan;
}

// What keeps a pair from being summed with another adapter's pair on the same base ("" when it can
// be): the sum W + Σ s_k·B_k·A_k is exact for plain matrix LoRA (and a LoRA bias); DoRA rescales the
// merged row by its norm and modules_to_save replaces the base, so neither is a term of a sum, and
// grouped experts are not supported in a sum.
std::string notSummable(const LoraPair& pair) {
    if (pair.kind == PairKind::Replace) return "modules_to_save replaces the base";
    if (!pair.magnitude.empty()) return "DoRA rescales the merged rows by their norm";
    if (pair.experts > 0) return "grouped (MoE) LoRA is not supported in a sum";
    return {};
}

// One section's plan (`sub`, planned over `globalOf` of the combined tensors) appended to `plan`.
void addSection(LoraPlan& plan, LoraPlan&& sub, const std::vector<size_t>& globalOf, size_t adapter,
                bool tagged, const std::vector<SourceTensor>& tensors, std::vector<size_t>& positions) {
    const size_t first = plan.pairs.size();
    for (auto& pair : sub.pairs) {
        pair.adapter = adapter;
        if (tagged)
            for (auto* name : {&pair.a, &pair.b, &pair.magnitude})
                if (!name->empty()) *name = adapterTensorName(adapter, *name);
        if (pair.status == PairStatus::Problem)
            pair.problem = "in adapter " + std::to_string(adapter + 1) + ": " + pair.problem;
        plan.pairs.push_back(std::move(pair));
        positions.push_back(tensors.size());
    }
    for (size_t j = 0; j < globalOf.size(); ++j) {
        const size_t i = globalOf[j];
        const int p = sub.pairOfTensor[j];
        const bool own = tagged ? splitAdapterTag(tensors[i].name).first == adapter : true;
        if (p >= 0) positions[first + size_t(p)] = std::min(positions[first + size_t(p)], i);
        if (sub.roles[j] == TensorRole::Base) {
            plan.roles[i] = TensorRole::Base;
            if (p >= 0 && plan.pairOfTensor[i] < 0) plan.pairOfTensor[i] = int(first + size_t(p));
        }
        if (!own) continue;
        if (plan.roles[i] != TensorRole::Base) plan.roles[i] = sub.roles[j];
        plan.dropped[i] = tagged || sub.dropped[j];  // another adapter's tensors are never written
        if (p >= 0) plan.pairOfTensor[i] = int(first + size_t(p));
    }
}

// Several adapters (tagged names, adapterTensorName): each planned with the base on its own, then
// one plan in base order; bases adapted by several adapters get every adapter's pair.
LoraPlan planAdapters(const std::vector<SourceTensor>& tensors, const PlanOptions& options, size_t count) {
    LoraPlan plan;
    const size_t n = tensors.size();
    plan.roles.assign(n, TensorRole::Other);
    plan.dropped.assign(n, false);
    plan.pairOfTensor.assign(n, -1);
    std::vector<size_t> positions;
    std::vector<size_t> untagged, kept;
    for (size_t i = 0; i < n; ++i)
        if (splitAdapterTag(tensors[i].name).first == 0) untagged.push_back(i);
    const auto subTensors = [&](const std::vector<size_t>& globalOf) {
        std::vector<SourceTensor> sub;
        for (size_t i : globalOf) {
            sub.push_back(tensors[i]);
            sub.back().name = std::string(splitAdapterTag(tensors[i].name).second);
        }
        return sub;
    };
    auto first = planSection(subTensors(untagged), options);
    for (size_t j = 0; j < untagged.size(); ++j)
        if (!first.dropped[j]) kept.push_back(untagged[j]);
    addSection(plan, std::move(first), untagged, 0, false, tensors, positions);
    for (size_t k = 1; k < count; ++k) {
        auto globalOf = kept;
        for (size_t i = 0; i < n; ++i)
            if (splitAdapterTag(tensors[i].name).first == k) globalOf.push_back(i);
        addSection(plan, planSection(subTensors(globalOf), options), globalOf, k, true, tensors, positions);
    }
    // Base order, each base's pairs in adapter order; pairOfTensor follows the new indexes.
    std::vector<size_t> order(plan.pairs.size());
    for (size_t p = 0; p < order.size(); ++p) order[p] = p;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t x, size_t y) { return positions[x] < positions[y]; });
    std::vector<int> newIndex(order.size());
    std::vector<LoraPair> pairs;
    for (size_t p = 0; p < order.size(); ++p) {
        newIndex[order[p]] = int(p);
        pairs.push_back(std::move(plan.pairs[order[p]]));
    }
    plan.pairs = std::move(pairs);
    for (auto& p : plan.pairOfTensor)
        if (p >= 0) p = newIndex[size_t(p)];
    return plan;
}

// Counts, bytes and pairsOfBase of a finished plan; with several adapters, what cannot be summed
// on a shared base becomes a problem.
void finishPlan(LoraPlan& plan, const std::vector<SourceTensor>& tensors) {
    std::unordered_map<std::string, size_t> indexOf;
    for (size_t i = 0; i < tensors.size(); ++i) indexOf.emplace(tensors[i].name, i);
    plan.pairsOfBase.assign(tensors.size(), {});
    for (size_t p = 0; p < plan.pairs.size(); ++p) {
        const auto it = plan.pairs[p].base.empty() ? indexOf.end() : indexOf.find(plan.pairs[p].base);
        if (it != indexOf.end() && plan.roles[it->second] == TensorRole::Base)
            plan.pairsOfBase[it->second].push_back(int(p));
    }
    for (auto& list : plan.pairsOfBase) {
        std::set<size_t> adapters;
        for (int p : list) adapters.insert(plan.pairs[size_t(p)].adapter);
        if (adapters.size() < 2) continue;
        for (int p : list) {
            auto& pair = plan.pairs[size_t(p)];
            if (pair.status != PairStatus::Ok) continue;
            if (auto why = notSummable(pair); !why.empty())
                setProblem(pair, "in adapter " + std::to_string(pair.adapter + 1) + ": " + why +
                                     ", so it cannot be summed with another adapter's pair on " + pair.base +
                                     "; merge this adapter on its own");
        }
    }
    plan.okPairs = plan.problemPairs = plan.disabledPairs = 0;
    for (const auto& pair : plan.pairs)
        ++(pair.status == PairStatus::Ok        ? plan.okPairs
           : pair.status == PairStatus::Problem ? plan.problemPairs
                                                : plan.disabledPairs);
    plan.bytesToWrite = plan.tensorsToWrite = 0;
    for (size_t i = 0; i < tensors.size(); ++i) {
        if (plan.dropped[i]) continue;
        plan.bytesToWrite += tensors[i].byteSize;
        ++plan.tensorsToWrite;
    }
}

}  // namespace

std::string adapterTensorName(size_t adapter, std::string_view name) {
    return "adapter" + std::to_string(adapter + 1) + ":" + std::string(name);
}

std::pair<size_t, std::string_view> splitAdapterTag(std::string_view name) {
    if (!name.starts_with("adapter")) return {0, name};
    size_t k = 7, number = 0;
    while (k < name.size() && k < 12 && name[k] >= '0' && name[k] <= '9')
        number = number * 10 + size_t(name[k++] - '0');
    if (k == 7 || k >= name.size() || name[k] != ':' || number < 2 || name[7] == '0') return {0, name};
    return {number - 1, name.substr(k + 1)};
}

LoraPlan planLora(const std::vector<SourceTensor>& tensors, const PlanOptions& options) {
    size_t count = 1;
    for (const auto& t : tensors) count = std::max(count, splitAdapterTag(t.name).first + 1);
    auto plan = count == 1 ? planSection(tensors, options) : planAdapters(tensors, options, count);
    finishPlan(plan, tensors);
    return plan;
}

std::string describeProblems(const LoraPlan& plan, size_t limit) {
    std::vector<std::string_view> unpaired;
    bool kohya = false;
    for (const auto& pair : plan.pairs) {
        if (pair.status != PairStatus::Problem || pair.scheme != "unpaired") continue;
        unpaired.push_back(pair.a.empty() ? pair.b : pair.a);
        const auto word = findMarker(unpaired.back()).word;
        kohya = kohya || word == "lora_down" || word == "lora_up";
    }
    std::string text;
    if (!unpaired.empty()) {
        text = "LoRA tensors that could not be paired (" + std::to_string(unpaired.size()) + "): ";
        for (size_t k = 0; k < unpaired.size() && k < 8; ++k)
            text += (k ? ", " : "") + std::string(unpaired[k]);
        if (unpaired.size() > 8) text += ", ...";
        text += kohya ? " (kohya lora_down/lora_up names are not a supported scheme)"
                      : " (no supported naming scheme pairs them)";
    }
    size_t shown = 0;
    for (const auto& pair : plan.pairs) {
        if (pair.status != PairStatus::Problem || pair.scheme == "unpaired") continue;
        if (shown++ == limit) {
            text += "; ...";
            break;
        }
        const auto& who = !pair.base.empty() ? pair.base : !pair.a.empty() ? pair.a : pair.b;
        text += (text.empty() ? "" : "; ") + who + ": " + pair.problem;
    }
    return text;
}

}  // namespace lms
