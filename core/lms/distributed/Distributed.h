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
//    g is local rank g % D of stage g / D): its full shape is the JSON strategy's tensor_shape,
//    or else inferred from the lowest rank holding it; every rank file must store exactly the
//    slice shape the strategy implies for it; every element must be covered exactly once; each
//    distinct piece is read from the lowest rank holding it. `field` != 0 and manual splits are
//    refused as unsupported.
//  * A slice held by several ranks (replicated over a device axis) is compared across them
//    when opening (ReplicaCheck): copies that differ mean the strategy is not the one these
//    files were saved with, and are refused naming both files and the first differing element.
//  * An adapter (DistributedOptions::adapter) whose split LoRA tensors are identical full
//    copies in every rank (MindPet integrated_save) is read from one copy.
//  * A parameter without a layout must be identical (type, dims, bytes) in every rank file
//    holding it and is then copied once; if the copies differ it is refused (spec §4.10: most
//    likely a frozen sharded weight left out by only_trainable_params=True).

#include "lms/distributed/Layout.h"
#include "lms/formats/Source.h"
#include "lms/formats/Strategy.h"

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lms {

// How replicated slices are compared when a distributed source is opened.
enum class ReplicaCheck {
    Full,     // every byte of every copy (XXH64 of each 1 MiB block), the default
    Sampled,  // copies over 64 MiB: 32 blocks spread over the copy, first and last included
    Off,      // not compared: the lowest rank's copy is used unseen
};
// "full", "sampled", "off"; nullopt for anything else.
std::optional<ReplicaCheck> parseReplicaCheck(std::string_view text);

struct DistributedOptions {
    std::filesystem::path modelDir;  // holds rank_<n>/ folders
    // A strategy file (per-rank or merged, protobuf or JSON), or a folder of per-rank strategy
    // files (pipeline parallelism), merged into <folder>/merged_ckpt_strategy.ckpt as the
    // MindFormers docs describe.
    std::filesystem::path strategy;
    // Where to write merged_ckpt_strategy.ckpt when the strategy folder is not writable.
    std::filesystem::path fallbackStrategyDir;
    std::string ckptNameGlob;  // pick this file in each rank folder; empty: lexicographically last
    ReplicaCheck replicaCheck = ReplicaCheck::Full;
    // The rank files are a LoRA-only adapter: most strategy layouts (the base weights) are
    // naturally absent, and integrated_save full copies are recognised.
    bool adapter = false;
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
[[nodiscard]] Result<std::vector<RankFolder>> findRankFolders(const std::filesystem::path& modelDir);

// The checkpoint file of one rank folder: the .ckpt/.safetensors file matching `nameGlob`
// (fnmatch), or the lexicographically last one when `nameGlob` is empty. `candidates`
// receives how many files were eligible. Errors: NotFound (no file / no match), InvalidArgument
// (the folder mixes .ckpt and .safetensors files and no glob chooses).
[[nodiscard]] Result<std::filesystem::path> pickRankCheckpoint(const std::filesystem::path& rankDir,
                                                               const std::string& nameGlob,
                                                               size_t* candidates = nullptr);

// One rank's checkpoint file as used by a DistributedSource.
struct RankFile {
    int64_t rank = 0;  // global rank
    std::filesystem::path path;
    size_t candidates = 1;  // checkpoint files that were in its folder
    std::string choice;     // why this file: "the lexicographically last of 3 .ckpt files"
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
// consistent, every element covered once, parameters without layout identical across ranks,
// replicated slices identical per options.replicaCheck — this reads their bytes once, in
// bounded blocks). `notes` receives sentences for the user (which file was picked per rank,
// where the merged strategy was written, a "warning: ..." when most strategy layouts are absent
// from the files); reportNotes() of the source says what the replica check found. Errors name
// the file or rank folder and the parameter concerned; an error about a rank file whose folder
// held several checkpoints also says which one was used and why.
[[nodiscard]] Result<std::unique_ptr<DistributedSource>> openDistributedModel(
    const DistributedOptions& options, std::vector<std::string>* notes = nullptr,
    const CancelToken* cancel = nullptr);

// The same, as a plain ModelSource.
[[nodiscard]] Result<std::unique_ptr<ModelSource>> openDistributedSource(
    const DistributedOptions& options, std::vector<std::string>* notes = nullptr,
    const CancelToken* cancel = nullptr);

// True if `dir` contains at least one rank_<n> folder.
bool looksDistributed(const std::filesystem::path& dir);

}  // namespace lms
