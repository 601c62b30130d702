#pragma once
// Distributed checkpoints (spec §2–§4): `model_dir/rank_<n>/*.ckpt` slices plus a parallel
// strategy, presented as one full model (a ModelSource) whose tensors are reassembled from the
// slices on demand, one parameter at a time.
//
// Rules applied when opening (all checked before any tensor is read for a merge):
//  * rank_<n> folders are found by name (digits only) and taken in numeric order. The
//    strategy fixes how many are needed: stages x devices per stage; a missing one is an
//    error naming it, and so are rank folders beyond that count.
//  * In each rank folder the checkpoint (.ckpt or .safetensors) is the one matching
//    ckptNameGlob (fnmatch), or else the lexicographically last name, as MindSpore does; a
//    note says which one when there was a choice.
//  * A parameter with a layout is reassembled from the rank files of its stages (global rank
//    g is local rank g % D of stage g / D): its full shape is inferred from the lowest rank
//    holding it and checked against every other rank; every element must be covered exactly
//    once; each distinct piece is read from the lowest rank holding it. `field` != 0 and
//    manual splits are refused as unsupported.
//  * A parameter without a layout must be identical (type, dims, bytes) in every rank file
//    holding it and is then copied once; if the copies differ it is refused (spec §4.10: most
//    likely a frozen sharded weight left out by only_trainable_params=True).

#include "lms/Layout.h"
#include "lms/Source.h"
#include "lms/Strategy.h"

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace lms {

struct DistributedOptions {
    std::filesystem::path modelDir;  // holds rank_<n>/ folders
    // A strategy file (per-rank or merged, protobuf or JSON), or a folder of per-rank strategy
    // files (pipeline parallelism), merged into <folder>/merged_ckpt_strategy.ckpt as the
    // MindFormers docs describe.
    std::filesystem::path strategy;
    // Where to write merged_ckpt_strategy.ckpt when the strategy folder is not writable.
    std::filesystem::path fallbackStrategyDir;
    std::string ckptNameGlob;  // pick this file in each rank folder; empty: lexicographically last
    // Write merged_ckpt_strategy.ckpt for a strategy folder (a merge); otherwise merge in memory.
    bool writeMergedStrategy = false;
};

// A rank_<n> folder under a model folder.
struct RankFolder {
    int64_t rank = 0;
    std::filesystem::path dir;
};

// The rank_<n> folders directly under `modelDir`, ascending by n. Errors: Io when the folder
// cannot be listed, Malformed when two folders name the same rank (rank_1 and rank_01).
Result<std::vector<RankFolder>> findRankFolders(const std::filesystem::path& modelDir);

// The checkpoint file of one rank folder: the .ckpt/.safetensors file matching `nameGlob`
// (fnmatch), or the lexicographically last one when `nameGlob` is empty. `candidates`
// receives how many files were eligible. Errors: NotFound (no file / no match), InvalidArgument
// (the folder mixes .ckpt and .safetensors files and no glob chooses).
Result<std::filesystem::path> pickRankCheckpoint(const std::filesystem::path& rankDir,
                                                 const std::string& nameGlob, size_t* candidates = nullptr);

// One rank's checkpoint file as used by a DistributedSource.
struct RankFile {
    int64_t rank = 0;  // global rank
    std::filesystem::path path;
    size_t candidates = 1;  // checkpoint files that were in its folder
};

// Where one full tensor of a DistributedSource comes from.
struct TensorPlacement {
    // The layout used (one of the parameter's stage variants), or nullptr when the parameter
    // has no layout and is copied whole from the lowest rank holding it.
    const ParamLayout* layout = nullptr;
    std::vector<int64_t> fullShape;  // logical full shape ([] for scalars)
    // Distinct pieces, sorted by box: the GLOBAL ranks whose files hold each piece (ascending);
    // the data is read from ranks.front(). For a parameter without layout: one piece, the
    // whole tensor, with every rank file that holds it.
    std::vector<SlicePiece> pieces;
};

// A ModelSource over rank files, with the strategy details a user interface shows.
// inputFiles() lists the rank files (ascending rank) and then the strategy file in use;
// inputBytes() counts the rank files only.
class DistributedSource : public ModelSource {
public:
    // The strategy in use (after merging a folder, the merged one; `file` names it).
    virtual const Strategy& strategy() const = 0;
    virtual const std::vector<RankFile>& rankFiles() const = 0;
    // Parallel to tensors(): the layout and pieces of tensor `index`.
    virtual const TensorPlacement& placement(size_t index) const = 0;
};

// Opens the rank files and the strategy and checks that they agree (ranks present, shapes
// consistent, every element covered once, parameters without layout identical across ranks —
// this reads their bytes once, in bounded blocks). `notes` receives sentences for the user
// (which file was picked per rank, where the merged strategy was written). Errors name the
// file or rank folder and the parameter concerned.
Result<std::unique_ptr<DistributedSource>> openDistributedModel(const DistributedOptions& options,
                                                                std::vector<std::string>* notes = nullptr,
                                                                const CancelToken* cancel = nullptr);

// The same, as a plain ModelSource.
Result<std::unique_ptr<ModelSource>> openDistributedSource(const DistributedOptions& options,
                                                           std::vector<std::string>* notes = nullptr,
                                                           const CancelToken* cancel = nullptr);

// True if `dir` contains at least one rank_<n> folder.
bool looksDistributed(const std::filesystem::path& dir);

}  // namespace lms
