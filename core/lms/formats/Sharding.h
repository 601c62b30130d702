#pragma once
// Splitting a merged model into safetensors shards exactly as huggingface_hub does
// (serialization/_base.py split_state_dict_into_shards_factory, parse_size_to_int), so the output
// folder is what transformers' save_pretrained would write: model-0000k-of-0000N.safetensors plus
// model.safetensors.index.json, or a single model.safetensors when everything fits in one shard.

#include "lms/base/Error.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lms {

// "12000" (bytes) or a number with KB/MB/GB/TB, decimal as huggingface_hub reads it ("5GB" =
// 5,000,000,000; "1.5MB" = 1,500,000; the unit is case-insensitive). Errors: anything else, or not > 0.
[[nodiscard]] Result<uint64_t> parseShardSize(std::string_view text);

struct ShardPlan {
    std::vector<std::string> fileNames;  // one per shard, in shard order
    std::vector<size_t> shardOf;         // one per tensor: index into fileNames
    uint64_t totalSize = 0;              // sum of the tensor data bytes
};

// Tensors in order with their data sizes. A tensor larger than `maxShardBytes` gets a shard of its
// own, appended before the shard being filled; otherwise a shard is closed when the next tensor would
// take it past the limit. Only data bytes count (headers do not).
ShardPlan planShards(const std::vector<uint64_t>& tensorBytes, uint64_t maxShardBytes);

// model.safetensors.index.json for the plan: {"metadata": {"total_size": N}, "weight_map": {...}}
// with sorted keys and an indent of 2, as transformers writes it, and a final newline.
std::string shardIndexJson(const std::vector<std::string>& tensorNames, const ShardPlan& plan);

}  // namespace lms
