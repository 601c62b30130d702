#pragma once
// What the CLI and the studio share when they turn the user's choices into a merge: the
// MindFormers argument semantics (src file or model_dir, strategy file or folder, dst_ckpt_dir,
// prefix) mapped onto ModelSource and MergeOptions.

#include "lms/distributed/Distributed.h"
#include "lms/formats/Source.h"
#include "lms/merge/Merge.h"

#include <filesystem>
#include <string>
#include <vector>

namespace lms {

struct SourceSpec {
    std::filesystem::path src;       // full checkpoint file, or model_dir with rank_<n>/ folders
    std::filesystem::path strategy;  // empty for a full checkpoint
    std::filesystem::path
        fallbackStrategyDir;           // where a merged strategy goes if the strategy folder is read-only
    bool writeMergedStrategy = false;  // only a merge writes merged_ckpt_strategy.ckpt
    std::string ckptNameGlob;
    // Optional LoRA-only adapter (MindPet DELTA_CKP-*.ckpt, MindFormers checkpoint_trainable/): a
    // file, or a folder of rank_<n>/ folders sliced by the same strategy as `src`.
    std::filesystem::path adapter;
    // Further adapters of a multi-adapter merge (adapter 2, 3, ...), opened like `adapter`.
    std::vector<std::filesystem::path> moreAdapters;
    ReplicaCheck replicaCheck = ReplicaCheck::Full;  // for rank folders (Distributed.h)
};

// Opens a full or distributed source. `notes` receives sentences worth telling the user.
[[nodiscard]] Result<std::unique_ptr<ModelSource>> openSource(const SourceSpec& spec,
                                                              std::vector<std::string>* notes = nullptr,
                                                              const CancelToken* cancel = nullptr);

// The base model followed by the LoRA tensors of a LoRA-only adapter (every name with a LoRA
// marker, optimizer copies included; the planner judges them). Scalar and 1-element records
// without a marker (epoch_num, global_step, loss_scale, ...) are left out with one note in
// `notes`. Refuses any other tensor (all are listed, the first is the error's parameter) and LoRA
// names that the base already has.
[[nodiscard]] Result<std::unique_ptr<ModelSource>> combineWithAdapter(
    std::unique_ptr<ModelSource> base, std::unique_ptr<ModelSource> adapter,
    std::vector<std::string>* notes = nullptr);

// As above for several adapters: adapter k >= 1 (counted from 0) under tagged names
// (adapterTensorName, LoraPlan.h), so that identical LoRA names of different adapters stay apart.
[[nodiscard]] Result<std::unique_ptr<ModelSource>> combineWithAdapters(
    std::unique_ptr<ModelSource> base, std::vector<std::unique_ptr<ModelSource>> adapters,
    std::vector<std::string>* notes = nullptr);

// dst_ckpt_dir/rank_0/<prefix>0.ckpt, the layout the MindFormers docs promise.
std::filesystem::path mergedOutputFile(const std::filesystem::path& dstDir, const std::string& prefix,
                                       OutputFormat format = OutputFormat::Ckpt);

}  // namespace lms
