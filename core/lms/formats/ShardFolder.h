#pragma once
// Folders of safetensors shards with an index, as Hugging Face and MindSpore write them:
//  * model.safetensors.index.json: {"metadata": {"total_size": N}, "weight_map": {name: file}}
//    (huggingface_hub; MindSpore's unified_safetensors writes the same form);
//  * param_name_map.json: the same map, either flat {name: file} (MindFormers _convert_index_json)
//    or with "weight_map"; hyper_param.safetensors beside it holds the training scalars, which the
//    map does not list and MindSpore's loader adds (transform_safetensors.py _process_hyper_params).
// Every file named must exist inside the folder and hold the tensors the map gives it; a tensor in
// a file the map does not name for it, and a shard file the map does not name, are errors.

#include "lms/formats/Source.h"

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace lms {

// The index file of a shard folder (model.safetensors.index.json first, then param_name_map.json),
// or an empty path when there is none.
std::filesystem::path shardIndexFile(const std::filesystem::path& dir);

// Opens the folder as one full model: shards in file-name order, each in its data order, then the
// tensors of hyper_param.safetensors.
[[nodiscard]] Result<std::unique_ptr<ModelSource>> openShardFolderSource(
    const std::filesystem::path& dir, std::vector<std::string>* notes = nullptr,
    const CancelToken* cancel = nullptr);

}  // namespace lms
