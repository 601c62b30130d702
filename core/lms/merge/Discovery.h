#pragma once
// Discovery in one place: what kind of thing a path is, which rank folders a model folder holds
// and which file each contributes (and why), and where the strategy of a model folder lies.
// Front ends (CLI, browser, open flow) ask here instead of looking at folders themselves.

#include "lms/base/Error.h"

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace lms {

enum class PathKind {
    Missing,
    FullCheckpoint,     // a .ckpt / .safetensors file (also a merged output's rank_0 file)
    DistributedFolder,  // rank_<n> folders of a distributed checkpoint
    // Our output (and MindSpore transform_checkpoints' for one rank): only rank_0, holding one
    // <prefix>0.<ext> file (or the shards and index of a sharded output), and no strategy near
    // (findStrategyNear). A full checkpoint. With a strategy near, the same folder is what a run
    // missing rank_1.. looks like, so it stays a distributed one (and opening it says what is missing).
    MergedOutput,
    Adapter,       // a checkpoint holding only LoRA weights (needs readIndex)
    StrategyFile,  // "strategy" in a .ckpt / .json name
    Folder,        // any other folder
    OtherFile,
    Checkpoint2,  // a MindFormers Checkpoint 2.0 save root or iteration folder (Checkpoint2.h)
    ShardFolder,  // safetensors shards with model.safetensors.index.json or param_name_map.json
};

// A short name of the kind for people: "full checkpoint", "distributed checkpoint", ...
const char* pathKindText(PathKind kind);

// "rank_<n>", n all digits (spec §4.11); `rank` receives n.
bool isRankFolderName(std::string_view name, int64_t* rank = nullptr);
bool isCheckpointFileName(std::string_view fileName);
// Strategy files are recognised by name: "strategy" in a .ckpt or .json name.
bool isStrategyFileName(std::string_view fileName);

// The kind of `path` from names alone; with `readIndex` a checkpoint file's index is read to
// tell a LoRA-only adapter from a full checkpoint.
PathKind classifyPath(const std::filesystem::path& path, bool readIndex = false);

// One rank folder and the file it contributes, with the reason in words.
struct RankEntry {
    int64_t rank = 0;
    std::filesystem::path dir;
    std::filesystem::path picked;  // empty when the folder contributes nothing
    size_t candidates = 0;         // eligible checkpoint files in the folder
    std::string why;               // "the only checkpoint file", "lexicographically last of 3", or the error
};

// The rank folders of `modelDir` in numeric order and what each contributes (pickRankCheckpoint,
// with `nameGlob` as --ckpt-name). Errors only when the folder cannot be listed or two folders
// name the same rank.
[[nodiscard]] Result<std::vector<RankEntry>> discoverRanks(const std::filesystem::path& modelDir,
                                                           const std::string& nameGlob = {});

// The strategy of a distributed checkpoint found near `modelDir`: first a folder of strategy
// files (modelDir/strategy, modelDir/ckpt_strategy, modelDir/output/strategy, ../strategy; the
// folder itself is the answer, the core merges its pipeline stages), then strategy files in
// modelDir or beside it (a merged one first). `path` is empty when nothing was found.
struct StrategyFound {
    std::filesystem::path path;
    std::string note;  // how it was chosen, for people
};
StrategyFound findStrategyNear(const std::filesystem::path& modelDir);

}  // namespace lms
