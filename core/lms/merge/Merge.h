#pragma once
// The merge engine: W' = W + s·(B·A) for every planned pair, streamed one parameter at a time
// from a ModelSource into one full checkpoint, with progress, cancel and an atomic output.

#include "lms/base/Progress.h"
#include "lms/formats/Sharding.h"
#include "lms/formats/Source.h"
#include "lms/formats/Strategy.h"
#include "lms/lora/LoraPlan.h"

#include <chrono>
#include <memory>

#include <filesystem>
#include <optional>
#include <string>

namespace lms {

struct LoraSettings;

// How the user gave the scaling: `--lora_scaling 2` or `16/8`, or `--lora_alpha A [--lora_rank R]`.
struct ScalingSpec {
    std::optional<double> scaling;  // s directly
    std::optional<double> alpha;    // s = alpha / (rank ? rank : r of each pair)
    std::optional<double> rank;
    // Settings read from the training config (LoraConfig.h); used only when neither scaling nor alpha is set.
    std::shared_ptr<const LoraSettings> config;
    bool isSet() const { return scaling.has_value() || alpha.has_value() || config != nullptr; }
    // The scaling for a pair of rank r; error if nothing was given or the rank is 0.
    [[nodiscard]] Result<double> scalingFor(int64_t pairRank) const;
    // The scaling of one pair: as above, or from `config` for the pair's module (its base name
    // without ".weight"), the config's rank cross-checked against the pair's A shape.
    [[nodiscard]] Result<double> scalingFor(const LoraPair& pair) const;
};

// Parses a scaling as MindFormers' --lora_scaling does (Python float(): surrounding whitespace and a
// leading + or - allowed; a negative scaling subtracts the adapter) or "ALPHA/RANK" such as "16/8"
// (as written in the MindFormers docs) where RANK must be a positive integer. Refuses what is not a
// finite number: "inf", "nan", "1e999", "1e308/1e-308" (the quotient overflows).
[[nodiscard]] Result<double> parseScalingText(std::string_view text);
// Parses --lora_rank: a positive integer ("8", "+8"); "8.5", "0", "-4" are refused.
[[nodiscard]] Result<double> parseLoraRank(std::string_view text);

enum class OutputFormat { Ckpt, Safetensors };

// Re-sharding: instead of one full file, write dir/rank_<r>/<prefix><r>.<ext> for every rank of a
// single-stage destination strategy, each holding its slice (spec §4.3) of the merged model;
// parameters without a destination layout are written whole to every rank.
struct ReshardSpec {
    std::shared_ptr<const Strategy> strategy;
    std::filesystem::path dir;
    std::string prefix = "checkpoint_";
};

// One adapter of a multi-adapter merge: its pairs (LoraPair::adapter) merge with weight·s, s from
// its own scaling (its config, or the global --lora_scaling/--lora_alpha).
struct AdapterTerm {
    ScalingSpec scaling;
    double weight = 1;
};

struct MergeOptions {
    std::filesystem::path outputFile;  // the final file to write (ignored when `reshard` is set)
    OutputFormat format = OutputFormat::Ckpt;
    std::optional<ReshardSpec> reshard;
    ScalingSpec scaling;
    // Per adapter k (LoraPair::adapter): W' = W + Σ_k weight_k·s_k·B_k·A_k. Empty: every pair takes
    // `scaling` with weight 1 (one adapter, or the source's own LoRA).
    std::vector<AdapterTerm> adapters;
    PlanOptions plan;
    bool skipInvalid = false;   // merge the valid pairs, report the rest
    bool allowNoLora = false;   // write a checkpoint even when no pair is merged and nothing converts
    bool verify = false;        // re-open the output and spot-check merged values
    bool checkInputCrc = true;  // verify a crc_num trailer when present
    // Tensors stream through memory in row blocks of about this many bytes (read ahead is bounded
    // to three blocks); tests use small values to exercise block boundaries.
    uint64_t streamBlockBytes = 16 << 20;
    // Replace existing output files. Without it the refusal happens when publishing, atomically
    // (no-clobber link/rename), with AtomicOutputFile's "already exists" error naming the file.
    bool overwrite = false;
    // With Safetensors output: split into shards of at most this many tensor-data bytes, as
    // huggingface_hub does (Sharding.h), plus model.safetensors.index.json; 0: one file.
    uint64_t maxShardBytes = 0;
    // Progress reports are passed on at most this often (stage changes always); 0: every report.
    std::chrono::milliseconds progressInterval{100};
};

struct MergeReport {
    std::filesystem::path outputFile;  // the first (with re-sharding: rank 0's) output file
    std::vector<std::filesystem::path> outputFiles;
    size_t pairsMerged = 0;
    size_t tensorsWritten = 0;
    size_t tensorsDropped = 0;
    uint64_t bytesWritten = 0;
    std::vector<std::string> skipped;  // pairs not merged and why (with skipInvalid)
    std::vector<std::string> notes;    // e.g. "no LoRA pairs: the checkpoint was copied as is"
    double seconds = 0;
};

// The output file for a rank: dir/rank_<r>/<prefix><r>.ckpt (or .safetensors).
std::filesystem::path rankOutputFile(const std::filesystem::path& dir, const std::string& prefix,
                                     int64_t rank, OutputFormat format);

// Runs the stages of MergeStages.h in order: targets (plan, refusals, temp outputs), stream,
// verify, publish. Refuses to start when the plan has problems (unless skipInvalid), when no pair
// would be merged and the run does not convert (format, re-sharding, rank files into one; unless
// allowNoLora), when the scaling is not given, or when the output would overwrite an input. Cancel
// stops within one parameter and leaves no output and no temp file; so does any failure, out of
// memory included. `progress` is throttled here (options.progressInterval); front ends need not throttle.
[[nodiscard]] Result<MergeReport> runMerge(const ModelSource& source, const MergeOptions& options,
                                           const ProgressCallback& progress = {},
                                           const CancelToken* cancel = nullptr);

// The refusals runMerge makes before it writes anything, exposed so that resolve() (Request.h)
// reports the same sentences up front. None of them touches the disk.
// Nothing to merge into (only LoRA tensors), pair problems unless `options.skipInvalid`, or no LoRA
// pair to merge in a run that does not convert either (unless `options.allowNoLora`).
[[nodiscard]] Status checkPlanMergeable(const ModelSource& source, const LoraPlan& plan,
                                        const MergeOptions& options);
// The scaling of every pair of `plan` (0 for pairs not merged); error when none was given.
[[nodiscard]] Result<std::vector<double>> pairScalings(const LoraPlan& plan, const ScalingSpec& scaling);
// As above with each pair's adapter term (options.adapters; `options.scaling` when it has none):
// weight_k·s_k.
[[nodiscard]] Result<std::vector<double>> pairScalings(const LoraPlan& plan, const MergeOptions& options);
// Re-sharding (ReshardSpec): a destination strategy the merge can write, i.e. one pipeline stage
// and a device matrix; errors name the strategy file and dst_ckpt_strategy.
[[nodiscard]] Status checkReshardStrategy(const Strategy& strategy);
// The destination layout that cuts `tensor`, or null when every destination rank stores it whole
// (no layout for it, or it cannot be cut); `dropped`: the plan drops it (no layout needed).
const ParamLayout* reshardLayout(const Strategy& strategy, const SourceTensor& tensor, bool dropped);
// checkReshardStrategy, and every layout cuts its tensor of `source` evenly for every rank: what
// the merge would otherwise find only when it starts writing. Reads no file.
[[nodiscard]] Status checkReshard(const ModelSource& source, const LoraPlan& plan, const Strategy& strategy);
// The output must not be an input, nor sit in the folder of one.
[[nodiscard]] Status checkOutputLocation(const ModelSource& source, const std::filesystem::path& output);
// The shards of a sharded output (options.maxShardBytes): the kept tensors of `plan`, split as
// huggingface_hub splits them (Sharding.h).
ShardPlan planOutputShards(const ModelSource& source, const LoraPlan& plan, uint64_t maxShardBytes);

// Adds s·(B·A) (or its transpose) to the base, in float32, rounding once to the base dtype.
// `base` is the base tensor's bytes in `baseType`; A and B in their own types. Exposed for tests.
[[nodiscard]] Status mergePairInPlace(std::span<std::byte> base, DType baseType, int64_t out, int64_t in,
                                      bool transposed, std::span<const std::byte> a, DType aType,
                                      std::span<const std::byte> b, DType bType, int64_t rank,
                                      double scaling);

// Merges one planned pair (planLora: Ok status, any layout — matrix or grouped experts, B·A or A·B,
// transposed, DoRA when the pair names a magnitude, given in `magnitude`) into the whole base tensor,
// exactly as the streaming merge does. Exposed for tests.
[[nodiscard]] Status mergeLoraPairInPlace(std::span<std::byte> base, DType baseType, const LoraPair& pair,
                                          std::span<const std::byte> a, DType aType,
                                          std::span<const std::byte> b, DType bType, double scaling,
                                          std::span<const std::byte> magnitude = {},
                                          DType magnitudeType = DType::Float32);

}  // namespace lms
