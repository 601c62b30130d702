#pragma once
// MindSpore parallel strategy files (spec §2, §3): which device arrangement and tensor map each
// parameter of a distributed run was saved with.
//
// Two encodings are read:
//  * protobuf `ParallelStrategyMap` (node_strategy.proto, spec §2.1): top level
//    current_stage = 1 (varint), parallel_strategy_item = 2 and parallel_layout_item = 3
//    (length-delimited). Everything is optional; repeated scalars may be packed or unpacked;
//    negative int32 are 10-byte varints. Anything else at the top level (for example a .ckpt
//    checkpoint, whose first byte 0x0A is field 1 length-delimited) is refused as foreign.
//  * JSON (spec §2.3): {"current_stage", "parallel_strategy_item": {node: {stage, ...}},
//    "parallel_layout_item": {param: {dev_matrix, tensor_map, tensor_shape, field, ...}}}.
//    Chosen when the name ends in ".json" or the first non-blank byte is '{'.
//
// Merged pipeline strategies name their layouts "<stage>-<param>" (spec §3). Readers split the
// name at the first '-' only, and only when everything before it is digits. Prefixes are split
// only from a file that IS a merged pipeline strategy: every layout name carries a prefix, and
// the operator items do not say otherwise (all items of one stage s, but a prefix naming
// another stage, is a per-rank file of stage s). Any other file is per-rank: its names are read
// as is (a parameter may be called "0-dense.weight") and belong to stage 0. The stages found
// must be exactly 0..n-1.

#include "lms/base/Error.h"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lms {

// Strategy files larger than this are refused before reading (real ones are kilobytes to a few
// megabytes; libprotobuf itself stops at 2 GiB).
inline constexpr uint64_t kMaxStrategyFileBytes = 256ull << 20;
// A device matrix describing more devices than this is refused as corrupt.
inline constexpr int64_t kMaxDevicesPerStage = int64_t(1) << 20;

inline constexpr std::string_view kMergedStrategyFileName = "merged_ckpt_strategy.ckpt";
inline constexpr std::string_view kMergedJsonStrategyFileName = "merged_ckpt_strategy.json";

enum class StrategyFormat { Protobuf, Json };

// One parameter's layout (spec §4.1) as stored in a ParallelLayouts message or a JSON
// "parallel_layout_item" entry, valid for the pipeline stages listed in `stages`.
struct ParamLayout {
    std::string name;                // checkpoint parameter name, "<stage>-" prefix removed
    std::vector<int64_t> devMatrix;  // dev_matrix[0]; its product is the devices of one stage
    // One entry per tensor dimension: the device axes splitting that dimension, counted from
    // the RIGHT of devMatrix (axis index len(devMatrix)-1-m, spec §4.2), most significant first.
    // Empty = not split (stored -1). A flat stored tensor_map [1,-1] becomes {{1},{}}; nested
    // maps (Layout API, spec §4.6) may list several axes for one dimension.
    std::vector<std::vector<int32_t>> tensorMap;
    bool nestedTensorMap = false;          // stored as one TensorMap per dimension (spec §4.6)
    int32_t field = 0;                     // MatMul field size (spec §4.7); only 0 is supported
    int32_t optShardStep = 0;              // opt_weight_shard_step (informational, spec §4.4)
    int32_t optShardSize = 0;              // opt_weight_shard_size as stored; -1 = all replicas
    std::vector<int64_t> paramSplitShape;  // manual split (spec §4.7), param_split_shape[0]
    std::vector<int64_t> indicesOffset;    // indices_offset[0]
    std::vector<int64_t> globalShape;      // JSON "tensor_shape" (full shape); empty otherwise
    std::vector<uint32_t> stages;          // ascending, never empty

    // Manual split: indices_offset non-empty (spec §2.4: param_split_shape alone means nothing).
    bool hasManualSplit() const { return !indicesOffset.empty(); }
    // Optimizer sharding of dim 0 is active (spec §4.1: step != 0 && size != 0).
    bool optShardActive() const { return optShardStep != 0 && optShardSize != 0; }
    // Same layout apart from name, stages and globalShape.
    bool sameLayoutAs(const ParamLayout& other) const;
    // The tensor map as MindSpore prints it: "[1, -1]", nested "[[1, 0], -1]".
    std::string tensorMapText() const;
    std::string devMatrixText() const;  // "[2, 4]"
};

// A parsed strategy file (or the result of merging a folder of them).
struct Strategy {
    std::string file;  // the file read or written, for messages
    StrategyFormat format = StrategyFormat::Protobuf;
    uint32_t currentStage = 0;     // a save counter, normally 1 (spec §2.2), not a stage
    size_t operatorItemCount = 0;  // parallel_strategy_item entries
    size_t layoutItemCount = 0;    // parallel_layout_item entries as stored
    // Stage of the first parallel_strategy_item: the pipeline stage of a per-rank file (§3).
    std::optional<uint32_t> firstOperatorStage;
    bool stagePrefixed = false;  // a merged pipeline strategy: the "<stage>-" prefixes were split off
    // Layouts in file order of first appearance. A name occurs more than once only when
    // different stages store different layouts for it (e.g. a pipeline-shared embedding);
    // the entries' stage lists are then disjoint.
    std::vector<ParamLayout> layouts;

    // Every layout entry for `name`, lowest first stage first; empty when absent.
    std::vector<const ParamLayout*> find(std::string_view name) const;
    // max stage + 1 over all layouts (1 for an unmerged file).
    uint32_t stageCount() const;
    // Product of the first layout's dev_matrix (MindSpore's choice, spec §4.1); 0 if none.
    int64_t devicesPerStage() const;
    // Distinct parameter names, in file order.
    size_t parameterCount() const;
};

// Splits a merged layout name "<digits>-<name>" into (stage, name); nullopt when the name has
// no such prefix (split at the first '-' only, prefix all digits and at most 9 of them).
std::optional<std::pair<uint32_t, std::string_view>> splitStagePrefix(std::string_view name);

// True for merged_ckpt_strategy*.ckpt / *.json, the names merges write (never a stage file).
bool isMergedStrategyFileName(std::string_view fileName);

// Parses strategy bytes. `fileName` only names the file in errors. Errors are Malformed (naming
// the file, and the parameter when one is concerned) for foreign, truncated or inconsistent
// content, including a file without any layout item.
[[nodiscard]] Result<Strategy> parseStrategy(std::span<const std::byte> bytes, std::string_view fileName,
                                             StrategyFormat format);
// Reads and parses one strategy file (format by extension or content, see the top of this file).
[[nodiscard]] Result<Strategy> readStrategyFile(const std::filesystem::path& path);

// merge_pipeline_strategys (spec §3) done in memory: the per-rank strategy files of `dir`
// (*.ckpt, or *.json; mixing both is an error; merged_ckpt_strategy* files are never read)
// are taken in sorted name order; the first file of each pipeline stage (stage of its first
// strategy item) contributes all its strategy items and its layouts renamed "<stage>-<name>";
// later files of a known stage are skipped. The stages must be exactly 0..n-1.
// current_stage of the result is 1.
struct MergedStrategy {
    Strategy strategy;  // the merged layouts (strategy.file is empty)
    StrategyFormat format = StrategyFormat::Protobuf;
    std::string bytes;                      // the merged file's content (protobuf or compact JSON)
    std::vector<std::string> stageFiles;    // file names used, one per stage, stage order
    std::vector<std::string> skippedFiles;  // further files of an already merged stage
    // The conventional output name: merged_ckpt_strategy.ckpt (or .json for JSON inputs).
    std::string_view defaultFileName() const;
};
[[nodiscard]] Result<MergedStrategy> mergeStrategyFolder(const std::filesystem::path& dir);

// Writes `bytes` to `path` atomically (temp file + rename), replacing an existing file.
[[nodiscard]] Status writeStrategyBytes(const std::filesystem::path& path, std::string_view bytes);

// True when files may be created in `dir`: the process has write access AND the folder's mode
// grants write permission to someone. The second condition keeps root (which ignores
// permission bits) from writing into folders that were deliberately made read-only.
bool isWritableFolder(const std::filesystem::path& dir);

// Interprets a --src_ckpt_strategy argument as the MindFormers docs describe (spec §3, F2):
//  * a file: read as is (any per-rank file without pipeline parallelism, or a merged file);
//  * a folder: merged as above and written to <folder>/merged_ckpt_strategy.ckpt (replacing
//    an old one); when the folder is not writable the merged file goes to
//    `fallbackDir` instead and a note says so. A folder holding only a merged file is used
//    directly (with a note).
// The returned Strategy's `file` names the file actually used. `notes` may be null.
// With writeMerged false a folder is merged in memory only and nothing is written anywhere (plan,
// inspect, strategy show, opening in the studio); `file` then names the folder.
[[nodiscard]] Result<Strategy> loadStrategyArgument(const std::filesystem::path& fileOrDir,
                                                    const std::filesystem::path& fallbackDir,
                                                    std::vector<std::string>* notes, bool writeMerged = true);

}  // namespace lms
