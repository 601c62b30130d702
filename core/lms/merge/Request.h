#pragma once
// One merge request, as both front ends describe it, and the one place its rules live.
// A front end maps its inputs (flags, widgets) onto MergeRequest fields, calls resolve() and
// shows what it says: either the refusal reasons, or the resolved job (outputs, per-pair
// scaling, bytes, free space, warnings). run() then merges a resolved job.

#include "lms/base/Progress.h"
#include "lms/distributed/Distributed.h"
#include "lms/formats/Source.h"
#include "lms/merge/Merge.h"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace lms {

// One adapter of a multi-adapter merge: W' = W + Σ_k weight_k·s_k·B_k·A_k.
struct AdapterRequest {
    std::filesystem::path path;  // a file or rank folders, as SourceRequest::adapter
    double weight = 1;           // any finite number but 0 (negative subtracts the adapter)
    std::string name;            // with an S-LoRA lora_adapter.json (first adapter only), as adapterName
};

// `PATH[:WEIGHT]` as --adapter takes it: the text after the LAST colon is the weight only when it is a
// decimal number (optional sign, digits with an optional fraction and exponent: "0.5", "-1", "2e-1"),
// so "dir:x/a.ckpt" or "a.ckpt:v2" are paths of weight 1. The weight must be finite and not 0.
[[nodiscard]] Result<AdapterRequest> parseAdapterSpec(std::string_view text);
// Several `PATH[:WEIGHT]` separated by ';' (the studio's adapter field; blanks around each are
// ignored, empty entries skipped): the adapters in order, or the first entry's error.
[[nodiscard]] Result<std::vector<AdapterRequest>> parseAdapterList(std::string_view text);

// Where the model comes from. A path is a full checkpoint file or a folder of rank_<n> folders
// (later: Checkpoint-2.0 / shard folders as further kinds).
struct SourceRequest {
    std::filesystem::path path;
    std::string ckptNameGlob;       // which file a rank folder contributes (--ckpt-name)
    std::filesystem::path adapter;  // optional LoRA-only adapter: a file or rank folders
    // With an S-LoRA lora_adapter.json as `adapter`: the adapter to merge (its folder's
    // adapter_model.ckpt, with its adapter_config.json as the LoRA config). Required then.
    std::string adapterName;
    // Adapters merged in one pass; `adapter`, when set, is the first (weight 1, adapterName). Each
    // takes its own config found beside it unless a scaling, alpha or config file is given for all.
    std::vector<AdapterRequest> adapters;
    ReplicaCheck replicaCheck = ReplicaCheck::Full;  // how replicated slices of rank files are compared
    // A strategy folder is merged in memory; only a merge writes merged_ckpt_strategy.ckpt into it, as
    // the MindFormers docs promise (the CLI's merge command sets this).
    bool writeMergedStrategy = false;
};

enum class StrategyMode {
    Auto,   // for a distributed source: `path` if given, else findStrategyNear() (Discovery.h)
    None,   // refuse a distributed source without a strategy ("None" in MindFormers' flags)
    Given,  // `path` as given: a file, or a folder of per-rank files
};
struct StrategyRequest {
    StrategyMode mode = StrategyMode::Auto;
    std::filesystem::path path;
};

// The scaling and where it came from, so every output can say "s = 2 (from --lora_scaling 16/8)".
enum class ScalingOrigin { None, Scaling, AlphaRank, AlphaPerPair, Config };
struct ScalingRequest {
    ScalingSpec spec;
    ScalingOrigin origin = ScalingOrigin::None;
    std::string provenance;  // the front end's words: "from --lora_scaling 16/8", "from α 16 and r 8"
    // A training config to read the settings from (--lora_config). resolve() reads it; with a scaling
    // or alpha given as well, those win and the provenance says they overrode the file. Empty and no
    // scaling given: resolve() looks for one (findLoraConfig next to the adapter, else the source).
    std::filesystem::path configFile;
    // The config's target_modules select base weights that have no LoRA pair: a refusal
    // (PartialMerge) unless this is set, then a warning.
    bool allowPartial = false;
};

enum class OverwritePolicy {
    Refuse,   // an existing output is a refusal (the CLI without --overwrite)
    Replace,  // an existing output is replaced (a warning says so)
};

struct DestinationRequest {
    std::filesystem::path dir;           // dst_ckpt_dir
    std::string prefix = "checkpoint_";  // file name: <prefix><rank>.<ext>
    OutputFormat format = OutputFormat::Ckpt;
    std::filesystem::path strategy;  // re-shard to this strategy's ranks; empty: one full file
    // Where run() saves the merged pipeline strategy of a strategy folder (strategy.path, the
    // per-rank files of a pipeline run, merged in memory): the bytes `loramerge strategy merge`
    // writes, published atomically after the merge, no-clobber unless `overwrite` is Replace.
    // Empty: not saved. A strategy that is not such a folder is refused (NotAStrategyFolder).
    std::filesystem::path mergedStrategyFile;
};

struct MergeRequest {
    SourceRequest source;
    StrategyRequest strategy;
    ScalingRequest scaling;
    DestinationRequest destination;
    OverwritePolicy overwrite = OverwritePolicy::Refuse;
    // skipInvalid, verify, checkInputCrc, plan (pairs left out, square orientation) and any later
    // lms::MergeOptions field: copied into the job as they are. outputFile, format, reshard and
    // scaling are set by resolve() from the fields above.
    MergeOptions options = [] {
        MergeOptions o;
        o.verify = true;  // both front ends verify unless told not to
        return o;
    }();
};

enum class RefusalCode {
    NoSource,                // no source path
    SourceUnreadable,        // opening the source (or its strategy, or the adapter) failed
    NoDestination,           // no destination folder
    BadPrefix,               // the prefix holds a path separator
    BadDestinationStrategy,  // the destination strategy cannot be read, or cannot cut these tensors
    NothingToMerge,          // only LoRA tensors
    PairProblems,            // LoRA problems and no skipInvalid
    NoLoraPairs,             // nothing would be merged and nothing converted (allowNoLora not set)
    NoScaling,               // LoRA pairs but no scaling
    BadLoraConfig,           // the LoRA config (given or found) cannot be read or holds no usable settings
    PartialMerge,            // target_modules selects base weights without a LoRA pair (allowPartial not set)
    OutputIsInput,           // the output is an input or sits in an input's folder
    OutputExists,            // an output file exists and the policy is Refuse
    BadAdapterWeight,        // an adapter weight is 0 or not finite
    NotAStrategyFolder,      // a merged strategy file is asked for, but the strategy is no folder to merge
    NonFiniteLora,           // a LoRA tensor of a pair to merge holds NaN or Inf
};
const char* refusalCodeName(RefusalCode code);
// True for the refusals that concern only where a merge would write (destination, prefix,
// destination strategy, existing or misplaced outputs); the read-only analyses (`loramerge
// impact`, the studio's Impact tab) measure the merge the request describes despite them.
bool concernsOutputOnly(RefusalCode code);

// One reason the merge would not start; `error` names the file and the parameter.
struct Refusal {
    RefusalCode code;
    Error error;
};

struct ResolvedJob {
    std::shared_ptr<const ModelSource> source;
    std::filesystem::path sourcePath;  // as the user gave it (errors without a file name it)
    MergeOptions options;              // complete: what run() passes to runMerge
    LoraPlan plan;
    std::vector<std::filesystem::path> outputFiles;  // one, or one per destination rank
    std::vector<std::filesystem::path>
        existingOutputs;              // of outputFiles (and mergedStrategyFile), those that exist now
    std::vector<double> pairScaling;  // parallel to plan.pairs (0: not merged)
    // parallel to pairScaling: the config's pattern keys that set a pair's r or alpha (empty: global)
    std::vector<std::string> pairScalingSource;
    std::string scalingProvenance;
    // Several adapters (or one with a weight): per adapter, parallel to options.adapters.
    struct Adapter {
        std::filesystem::path path;
        double weight = 1;
        std::string scalingProvenance;
    };
    std::vector<Adapter> adapters;
    uint64_t bytesToWrite = 0;                 // tensor data of one full model
    std::optional<uint64_t> freeBytes;         // at the destination (nearest existing folder)
    std::vector<std::string> notes;            // from opening the source (files picked, ...)
    std::vector<std::string> warnings;         // not refusals: little free space, replacing ...
    std::filesystem::path mergedStrategyFile;  // destination.mergedStrategyFile (empty: none)
    std::string mergedStrategyBytes;           // its content (mergeStrategyFolder of strategy.path)
};

struct Resolution {
    std::vector<Refusal> refusals;   // in the order the checks run; empty when the merge may start
    std::optional<ResolvedJob> job;  // whatever could be resolved (absent when the source did not open)
    bool ok() const { return refusals.empty() && job.has_value(); }
};

// Applies every rule of a merge request. `opened` is the source when the front end has it open
// already (the studio); otherwise the source is opened from `request` (strategy found by
// StrategyMode). Writes no output; the one file opening may write is the merged strategy of a
// strategy folder (merged_ckpt_strategy.ckpt, the documented exception in RELIABILITY.md).
Resolution resolve(const MergeRequest& request, std::shared_ptr<const ModelSource> opened = nullptr,
                   const CancelToken* cancel = nullptr);

// Merges a resolved job (runMerge with job.options); errors name a file.
[[nodiscard]] Result<MergeReport> run(const ResolvedJob& job, const ProgressCallback& progress = {},
                                      const CancelToken* cancel = nullptr);

}  // namespace lms
