#include "lms/LoraPlan.h"

#include "lms/Text.h"

#include <algorithm>
#include <array>
#include <map>
#include <unordered_map>

namespace lms {
namespace {

// Optimizer-state prefixes under which training stores copies of parameters (spec §5.6, §6.17).
constexpr std::array<std::string_view, 7> kOptimizerPrefixes{
    "adam_m.", "adam_v.", "exp_avg.", "exp_avg_sq.", "max_exp_avg_sq.", "moments.", "accu_grads."};

// LoRA naming schemes (spec §5.2): suffix of the A and B names and what replaces it in the base.
struct Scheme {
    std::string_view name;
    std::string_view suffixA, suffixB;
};
constexpr std::array<Scheme, 4> kSchemes{{
    {"mindpet_delta", ".mindpet_delta_lora_a", ".mindpet_delta_lora_b"},
    {"tk_delta", ".tk_delta_lora_a", ".tk_delta_lora_b"},
    {"lora_A.weight", ".lora_a.weight", ".lora_b.weight"},
    {".lora_a", ".lora_a", ".lora_b"},
}};

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

bool endsWith(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool hasOptimizerPrefix(std::string_view lowered) {
    if (lowered.starts_with("pma_weight_") && lowered.find('.') != std::string_view::npos) return true;
    return std::any_of(kOptimizerPrefixes.begin(), kOptimizerPrefixes.end(),
                       [&](std::string_view p) { return lowered.starts_with(p); });
}

struct LoraName {
    TensorRole role = TensorRole::Other;  // LoraA or LoraB when matched
    const Scheme* scheme = nullptr;
    size_t stemLength = 0;                // the layer path before the suffix
};

LoraName matchLora(std::string_view lowered) {
    for (const auto& scheme : kSchemes) {
        if (endsWith(lowered, scheme.suffixA)) return {TensorRole::LoraA, &scheme, lowered.size() - scheme.suffixA.size()};
        if (endsWith(lowered, scheme.suffixB)) return {TensorRole::LoraB, &scheme, lowered.size() - scheme.suffixB.size()};
    }
    return {};
}

std::string dimsText(const std::vector<int64_t>& dims) { return formatDims(dims); }

void setProblem(LoraPair& pair, std::string text) {
    if (pair.status == PairStatus::Problem) return;  // keep the first, most basic problem
    pair.status = PairStatus::Problem;
    pair.problem = std::move(text);
}

void validateShapes(LoraPair& pair, const SourceTensor& base, const SourceTensor& a, const SourceTensor& b,
                    SquareOrientation square) {
    pair.baseDims = base.dims;
    pair.aDims = a.dims;
    pair.bDims = b.dims;
    if (!isFloatingPoint(base.dtype))
        return setProblem(pair, "base weight has type " + base.typeName + "; only floating-point weights can be merged");
    if (!isFloatingPoint(a.dtype) || !isFloatingPoint(b.dtype))
        return setProblem(pair, "LoRA A/B have type " + a.typeName + "/" + b.typeName + "; expected floating point");
    if (a.dims.size() != 2 || b.dims.size() != 2)
        return setProblem(pair, "LoRA A is " + dimsText(a.dims) + " and B is " + dimsText(b.dims) +
                                    "; both must be 2-D (A [r, in], B [out, r])");
    pair.rank = a.dims[0];
    if (pair.rank <= 0) return setProblem(pair, "LoRA rank is 0 (A is " + dimsText(a.dims) + ")");
    if (b.dims[1] != pair.rank)
        return setProblem(pair, "rank mismatch: A " + dimsText(a.dims) + " has r=" + std::to_string(pair.rank) +
                                    " but B " + dimsText(b.dims) + " has r=" + std::to_string(b.dims[1]));
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
        setProblem(pair, "shape mismatch: B·A is " + dimsText({out, in}) + " (B " + dimsText(b.dims) + ", A " +
                             dimsText(a.dims) + ") but the base weight is " + dimsText(base.dims));
    }
}

}  // namespace

const char* tensorRoleName(TensorRole role) {
    switch (role) {
    case TensorRole::Base: return "base";
    case TensorRole::LoraA: return "LoRA A";
    case TensorRole::LoraB: return "LoRA B";
    case TensorRole::OptimizerState: return "optimizer state";
    case TensorRole::Other: return "other";
    }
    return "other";
}

TensorRole classifyName(std::string_view name) {
    const auto lowered = lower(name);
    if (hasOptimizerPrefix(lowered)) return TensorRole::OptimizerState;
    return matchLora(lowered).role;
}

LoraPlan planLora(const std::vector<SourceTensor>& tensors, const PlanOptions& options) {
    LoraPlan plan;
    const size_t n = tensors.size();
    plan.roles.assign(n, TensorRole::Other);
    plan.dropped.assign(n, false);
    plan.pairOfTensor.assign(n, -1);

    std::unordered_map<std::string, size_t> byLowerName;
    for (size_t i = 0; i < n; ++i) byLowerName.emplace(lower(tensors[i].name), i);

    // Group A and B tensors by (layer path, scheme).
    struct Group {
        std::string stem;      // original case
        const Scheme* scheme;
        std::vector<size_t> as, bs;
    };
    std::map<std::pair<std::string, std::string_view>, Group> groups;
    std::vector<std::pair<std::string, std::string_view>> groupOrder;
    for (size_t i = 0; i < n; ++i) {
        const auto lowered = lower(tensors[i].name);
        if (hasOptimizerPrefix(lowered)) {
            plan.roles[i] = TensorRole::OptimizerState;
            // Optimizer copies of LoRA weights go with the LoRA weights (spec §6.18).
            const auto dot = lowered.find('.');
            if (matchLora(std::string_view(lowered).substr(dot + 1)).role != TensorRole::Other) plan.dropped[i] = true;
            continue;
        }
        const auto match = matchLora(lowered);
        if (match.role == TensorRole::Other) continue;
        plan.roles[i] = match.role;
        plan.dropped[i] = true;
        const auto key = std::make_pair(lowered.substr(0, match.stemLength), match.scheme->name);
        auto [it, inserted] = groups.try_emplace(key, Group{tensors[i].name.substr(0, match.stemLength), match.scheme, {}, {}});
        if (inserted) groupOrder.push_back(key);
        (match.role == TensorRole::LoraA ? it->second.as : it->second.bs).push_back(i);
    }

    std::vector<std::pair<size_t, LoraPair>> pairs;  // (sort position, pair)
    std::map<size_t, std::vector<size_t>> pairsOfBase;
    for (const auto& key : groupOrder) {
        const auto& group = groups.at(key);
        LoraPair pair;
        pair.scheme = std::string(group.scheme->name);
        size_t position = n;
        if (!group.as.empty()) {
            pair.a = tensors[group.as.front()].name;
            pair.aDims = tensors[group.as.front()].dims;
            position = std::min(position, group.as.front());
        }
        if (!group.bs.empty()) {
            pair.b = tensors[group.bs.front()].name;
            pair.bDims = tensors[group.bs.front()].dims;
            position = std::min(position, group.bs.front());
        }
        const std::string baseName = group.stem + ".weight";
        const auto baseIt = byLowerName.find(lower(baseName));
        if (baseIt != byLowerName.end() && !plan.dropped[baseIt->second]) {
            pair.base = tensors[baseIt->second].name;
            pair.baseDims = tensors[baseIt->second].dims;
            position = baseIt->second;
        }
        if (group.as.size() > 1 || group.bs.size() > 1)
            setProblem(pair, "several LoRA tensors share the name " + group.stem + " (names differ only in case)");
        if (pair.a.empty()) setProblem(pair, "LoRA B " + pair.b + " has no matching A");
        if (pair.b.empty()) setProblem(pair, "LoRA A " + pair.a + " has no matching B");
        if (pair.base.empty()) setProblem(pair, "base weight " + baseName + " not found");
        if (pair.status != PairStatus::Problem)
            validateShapes(pair, tensors[baseIt->second], tensors[group.as.front()], tensors[group.bs.front()],
                           options.squareOrientation);
        if (pair.status == PairStatus::Ok &&
            std::find(options.disabledBases.begin(), options.disabledBases.end(), pair.base) != options.disabledBases.end())
            pair.status = PairStatus::Disabled;
        if (!pair.base.empty()) pairsOfBase[baseIt->second].push_back(pairs.size());
        pairs.emplace_back(position, std::move(pair));
    }
    for (auto& [base, indexes] : pairsOfBase) {
        if (indexes.size() < 2) continue;
        for (size_t index : indexes) {
            auto& pair = pairs[index].second;
            pair.status = PairStatus::Ok;  // replace any lesser problem with the decisive one
            pair.problem.clear();
            setProblem(pair, "two adapters on one base weight (" + std::to_string(indexes.size()) +
                                 " LoRA pairs target " + pair.base + ")");
        }
    }
    std::stable_sort(pairs.begin(), pairs.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
    for (auto& [position, pair] : pairs) {
        const int index = int(plan.pairs.size());
        auto mark = [&](const std::string& name, TensorRole role) {
            if (name.empty()) return;
            const auto it = byLowerName.find(lower(name));
            plan.pairOfTensor[it->second] = index;
            if (role == TensorRole::Base) plan.roles[it->second] = role;
        };
        mark(pair.base, TensorRole::Base);
        mark(pair.a, TensorRole::LoraA);
        mark(pair.b, TensorRole::LoraB);
        switch (pair.status) {
        case PairStatus::Ok: ++plan.okPairs; break;
        case PairStatus::Problem: ++plan.problemPairs; break;
        case PairStatus::Disabled: ++plan.disabledPairs; break;
        }
        plan.pairs.push_back(std::move(pair));
    }
    for (size_t i = 0; i < n; ++i) {
        if (plan.dropped[i]) continue;
        plan.bytesToWrite += tensors[i].byteSize;
        ++plan.tensorsToWrite;
    }
    return plan;
}

}  // namespace lms
