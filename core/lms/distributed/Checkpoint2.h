#pragma once
// MindFormers "Checkpoint 2.0" saves (mindformers/checkpoint/: checkpoint.py, metadata.py,
// utils.py, sharded_tensor.py; spec §8 of shared/spec and the msfixtures README):
//
//   save_root/latest_checkpointed_iteration.txt      the iteration number, written last
//   save_root/iteration_%08d/[prefix-]model-%07d-%07d.safetensors   network weights, one per rank
//   save_root/iteration_%08d/[prefix-]opt-%07d-%07d.safetensors     optimizer state (never read here)
//   save_root/iteration_%08d/metadata.json, common.json
//
// metadata.json maps each parameter to its global shape, axis_fragmentations and chunks. A
// chunk's global_offset is a 1-tuple holding the SLICE ID (row-major index of the block in the
// grid of axis_fragmentations), not an element offset (sharded_tensor.py
// _rank_id_with_slice_id); storage_data["('name', (id,))"] lists the files holding that block.
// It is written only when more than one rank saves and remove_redundancy is off
// (checkpoint.py save_metadata_json). Without it every tensor is taken whole and a name seen in
// two files is refused, as generate_default_metadata_from_checkpoint does.

#include "lms/formats/Source.h"

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace lms {

// True when `dir` is a save root (holds latest_checkpointed_iteration.txt) or an iteration folder
// (holds at least one [prefix-]model-NNNNNNN-NNNNNNN.safetensors file).
bool looksLikeCheckpoint2(const std::filesystem::path& dir);

// The iteration folder a save root's tracker names, or `dir` itself when it is an iteration
// folder. Errors: the tracker holds no number, or names a folder that does not exist.
[[nodiscard]] Result<std::filesystem::path> checkpoint2IterationDir(const std::filesystem::path& dir);

// Opens the model files of the iteration as one full model (reassembled through metadata.json when
// there is one). `notes` receives which iteration was chosen and what was skipped.
[[nodiscard]] Result<std::unique_ptr<ModelSource>> openCheckpoint2Source(
    const std::filesystem::path& dir, std::vector<std::string>* notes = nullptr,
    const CancelToken* cancel = nullptr);

// The rank that wrote a shard, from its name "[prefix-]model-RRRRRRR-NNNNNNN.safetensors" (or opt-);
// nullopt for any other name.
std::optional<int64_t> checkpoint2ShardRank(const std::string& fileName);

// Element offset of a block: unravel `sliceId` over `fragments` (row-major, last axis fastest)
// times `localShape`. Errors when the id is outside the grid. Exposed for tests.
[[nodiscard]] Result<std::vector<int64_t>> sliceOffset(int64_t sliceId, std::span<const int64_t> fragments,
                                                       std::span<const int64_t> localShape);

}  // namespace lms
