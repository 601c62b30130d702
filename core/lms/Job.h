#pragma once
// What the CLI and the studio share when they turn the user's choices into a merge: the
// MindFormers argument semantics (src file or model_dir, strategy file or folder, dst_ckpt_dir,
// prefix) mapped onto ModelSource and MergeOptions.

#include "lms/Merge.h"
#include "lms/Source.h"

#include <filesystem>
#include <string>
#include <vector>

namespace lms {

struct SourceSpec {
    std::filesystem::path src;       // full checkpoint file, or model_dir with rank_<n>/ folders
    std::filesystem::path strategy;  // empty for a full checkpoint
    std::filesystem::path fallbackStrategyDir;  // where a merged strategy goes if the strategy folder is read-only
    bool writeMergedStrategy = false;           // only a merge writes merged_ckpt_strategy.ckpt
    std::string ckptNameGlob;
    // Optional LoRA-only adapter (MindPet DELTA_CKP-*.ckpt, MindFormers checkpoint_trainable/): a
    // file, or a folder of rank_<n>/ folders sliced by the same strategy as `src`.
    std::filesystem::path adapter;
};

// Opens a full or distributed source. `notes` receives sentences worth telling the user.
Result<std::unique_ptr<ModelSource>> openSource(const SourceSpec& spec, std::vector<std::string>* notes = nullptr,
                                                const CancelToken* cancel = nullptr);

// The base model followed by the tensors of a LoRA-only adapter. Refuses adapter tensors that are
// not LoRA weights (or their optimizer copies) and names that the base already has.
Result<std::unique_ptr<ModelSource>> combineWithAdapter(std::unique_ptr<ModelSource> base,
                                                        std::unique_ptr<ModelSource> adapter);

// dst_ckpt_dir/rank_0/<prefix>0.ckpt, the layout the MindFormers docs promise.
std::filesystem::path mergedOutputFile(const std::filesystem::path& dstDir, const std::string& prefix,
                                       OutputFormat format = OutputFormat::Ckpt);

}  // namespace lms
