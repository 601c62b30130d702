#include "lms/merge/Demo.h"

#include "lms/base/DType.h"
#include "lms/formats/CheckpointWriter.h"
#include "node_strategy.pb.h"

#include <cmath>
#include <fstream>

namespace lms {
namespace {

// A tiny Llama-shaped model: 2 layers, hidden 32, ffn 64, vocab 64, LoRA r=4 on wq/wk/wv/wo.
constexpr int64_t kHidden = 32, kFfn = 64, kVocab = 64, kLayers = 2, kRank = 4;

enum class Split { None, Rows, Cols };

struct DemoTensor {
    std::string name;
    DType dtype;
    std::vector<int64_t> dims;
    std::vector<float> values;  // row-major
    Split split = Split::None;  // how the 2-way tensor-parallel run shards it
};

// Deterministic values so every demo is the same: a cheap integer hash mapped to [-scale, scale).
std::vector<float> values(size_t count, uint32_t seed, float scale) {
    std::vector<float> out(count);
    uint32_t state = seed * 2654435761u + 12345u;
    for (auto& v : out) {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        v = (float(state % 20001u) / 10000.0f - 1.0f) * scale;
    }
    return out;
}

std::vector<DemoTensor> buildModel() {
    std::vector<DemoTensor> model;
    uint32_t seed = 1;
    auto add = [&](std::string name, DType dtype, std::vector<int64_t> dims, Split split, float scale) {
        size_t count = 1;
        for (auto d : dims) count *= size_t(d);
        model.push_back({std::move(name), dtype, dims, values(count, seed++, scale), split});
    };
    add("model.tok_embeddings.embedding_weight", DType::Float16, {kVocab, kHidden}, Split::None, 0.5f);
    for (int layer = 0; layer < kLayers; ++layer) {
        const std::string prefix = "model.layers." + std::to_string(layer) + ".";
        add(prefix + "attention_norm.weight", DType::Float32, {kHidden}, Split::None, 1.0f);
        for (const char* proj : {"wq", "wk", "wv", "wo"}) {
            const std::string base = prefix + "attention." + proj;
            const bool rowParallel = std::string(proj) == "wo";
            add(base + ".weight", DType::Float16, {kHidden, kHidden}, rowParallel ? Split::Cols : Split::Rows,
                0.2f);
            // LoRA (spec §5.5): column-parallel layers shard B like the base, row-parallel ones shard A.
            add(base + ".mindpet_delta_lora_a", DType::Float32, {kRank, kHidden},
                rowParallel ? Split::Cols : Split::None, 0.1f);
            add(base + ".mindpet_delta_lora_b", DType::Float32, {kHidden, kRank},
                rowParallel ? Split::None : Split::Rows, 0.1f);
        }
        add(prefix + "ffn_norm.weight", DType::Float32, {kHidden}, Split::None, 1.0f);
        add(prefix + "feed_forward.w1.weight", DType::Float16, {kFfn, kHidden}, Split::Rows, 0.2f);
        add(prefix + "feed_forward.w2.weight", DType::Float16, {kHidden, kFfn}, Split::Cols, 0.2f);
        add(prefix + "feed_forward.w3.weight", DType::Float16, {kFfn, kHidden}, Split::Rows, 0.2f);
    }
    add("model.norm_out.weight", DType::Float32, {kHidden}, Split::None, 1.0f);
    add("lm_head.weight", DType::Float16, {kVocab, kHidden}, Split::Rows, 0.2f);
    // Adam states of the trainable (LoRA) weights, as a LoRA fine-tune saves them.
    const size_t trainable = model.size();
    for (const char* moment : {"adam_m.", "adam_v."})
        for (size_t i = 0; i < trainable; ++i)
            if (model[i].name.find("lora_") != std::string::npos)
                add(moment + model[i].name, DType::Float32, model[i].dims, model[i].split, 0.01f);
    return model;
}

std::vector<std::byte> encode(DType dtype, const std::vector<float>& v) {
    std::vector<std::byte> out(v.size() * dtypeBits(dtype) / 8);
    narrowFromFloat(dtype, v, out);
    return out;
}

// The half of `t` that rank `rank` of a 2-way tensor-parallel run holds.
std::pair<std::vector<int64_t>, std::vector<float>> sliceFor(const DemoTensor& t, int rank) {
    if (t.split == Split::None) return {t.dims, t.values};
    const int64_t rows = t.dims[0], cols = t.dims[1];
    std::vector<float> out;
    if (t.split == Split::Rows) {
        const int64_t half = rows / 2;
        out.assign(t.values.begin() + rank * half * cols, t.values.begin() + (rank + 1) * half * cols);
        return {{half, cols}, out};
    }
    const int64_t half = cols / 2;
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = rank * half; c < (rank + 1) * half; ++c)
            out.push_back(t.values[size_t(r * cols + c)]);
    return {{rows, half}, out};
}

Status writeScalars(CheckpointWriter& writer) {
    const int32_t step = 40;
    const int64_t epoch = 2;
    const float lossScale = 1024.0f;
    auto bytes = [](const auto& value) {
        return std::span(reinterpret_cast<const std::byte*>(&value), sizeof value);
    };
    const std::vector<int64_t> one{1}, scalar{};
    if (auto st = writer.writeTensor("global_step", "Int32", one, bytes(step)); !st) return st;
    if (auto st = writer.writeTensor("epoch_num", "Int64", scalar, bytes(epoch)); !st) return st;
    return writer.writeTensor("loss_scale", "Float32", scalar, bytes(lossScale));
}

Status writeCheckpointFile(const std::filesystem::path& path, const std::vector<DemoTensor>& model,
                           int rank) {
    auto writer = CheckpointWriter::create(path, {});
    if (!writer) return std::unexpected(writer.error());
    for (const auto& t : model) {
        auto [dims, v] = rank < 0 ? std::make_pair(t.dims, t.values) : sliceFor(t, rank);
        if (auto st = writer->writeTensor(t.name, tensorTypeName(t.dtype), dims, encode(t.dtype, v)); !st)
            return st;
        if (t.name == "lm_head.weight")
            if (auto st = writeScalars(*writer); !st) return st;
    }
    return writer->commit();
}

Status writeStrategy(const std::filesystem::path& path, const std::vector<DemoTensor>& model) {
    mindspore::straspb::ParallelStrategyMap map;
    map.set_current_stage(1);
    auto* item = map.add_parallel_strategy_item();
    item->set_node_name("Default/network-LlamaForCausalLM/model-LlamaModel/MatMul-op0");
    item->mutable_parallel_strategys()->set_stage(0);
    auto* split = item->mutable_parallel_strategys()->add_parallel_strategy();
    split->add_dim(1);
    split->add_dim(2);
    for (const auto& t : model) {
        auto* layoutItem = map.add_parallel_layout_item();
        layoutItem->set_param_name(t.name);
        auto* layouts = layoutItem->mutable_parallel_layouts();
        layouts->add_dev_matrix()->add_dim(2);
        auto* tensorMap = layouts->add_tensor_map();
        for (size_t d = 0; d < t.dims.size(); ++d) {
            const bool splitHere = (t.split == Split::Rows && d == 0) || (t.split == Split::Cols && d == 1);
            tensorMap->add_dim(splitHere ? 0 : -1);
        }
        layouts->add_param_split_shape();
        layouts->add_indices_offset();
        layouts->set_field(0);
        layouts->set_opt_weight_shard_step(0);
        layouts->set_opt_weight_shard_size(0);
    }
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out || !map.SerializeToOstream(&out) || !out.flush())
        return fail(ErrorCode::Io, "cannot write the demo strategy file", path.string());
    return {};
}

Status writeReadme(const DemoInfo& info, const std::filesystem::path& dir) {
    std::ofstream out(dir / "README.txt", std::ios::trunc);
    out << "LoRA Merge Studio demo checkpoints\n\n"
           "full/model.ckpt: a tiny Llama-shaped model (2 layers, hidden 32) with MindPet LoRA\n"
           "  (lora_rank 4, lora_alpha 8) on wq/wk/wv/wo, Adam states and scalars.\n"
           "distributed/: the same model saved by a 2-way tensor-parallel run:\n"
           "  rank_0/checkpoint_0.ckpt, rank_1/checkpoint_1.ckpt and "
           "strategy/ckpt_strategy_rank_{0,1}.ckpt\n\n"
           "Merge them:\n"
        << "  loramerge --src_ckpt_path_or_dir " << info.fullCheckpoint.string()
        << " --dst_ckpt_dir OUT_FULL --lora_scaling 8/4\n"
        << "  loramerge --src_ckpt_path_or_dir " << info.distributedDir.string() << " --src_ckpt_strategy "
        << (info.strategyDir / "ckpt_strategy_rank_0.ckpt").string()
        << " --dst_ckpt_dir OUT_DIST --lora_scaling 8/4\n";
    if (!out.flush())
        return fail(ErrorCode::Io, "cannot write the demo README", (dir / "README.txt").string());
    return {};
}

}  // namespace

Result<DemoInfo> writeDemo(const std::filesystem::path& dir) {
    DemoInfo info;
    info.fullCheckpoint = dir / "full" / "model.ckpt";
    info.distributedDir = dir / "distributed";
    info.strategyDir = info.distributedDir / "strategy";
    std::error_code ec;
    for (const auto& sub :
         {dir / "full", info.distributedDir / "rank_0", info.distributedDir / "rank_1", info.strategyDir}) {
        std::filesystem::create_directories(sub, ec);
        if (ec) return fail(ErrorCode::Io, "cannot create the folder: " + ec.message(), sub.string());
    }
    const auto model = buildModel();
    if (auto st = writeCheckpointFile(info.fullCheckpoint, model, -1); !st)
        return std::unexpected(st.error());
    for (int rank = 0; rank < 2; ++rank) {
        const auto r = std::to_string(rank);
        if (auto st = writeCheckpointFile(info.distributedDir / ("rank_" + r) / ("checkpoint_" + r + ".ckpt"),
                                          model, rank);
            !st)
            return std::unexpected(st.error());
        if (auto st = writeStrategy(info.strategyDir / ("ckpt_strategy_rank_" + r + ".ckpt"), model); !st)
            return std::unexpected(st.error());
    }
    if (auto st = writeReadme(info, dir); !st) return std::unexpected(st.error());
    return info;
}

}  // namespace lms
