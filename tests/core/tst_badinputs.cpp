// The bad-input catalogue of docs/RELIABILITY.md as a data-driven table: each row builds one kind
// of bad input in code, runs the `loramerge` CLI on it and checks the exact line the user sees,
// the exit code, that nothing is written and that the inputs keep their sizes and checksums.
// Also replays every saved fuzzing reproducer (tests/data/fuzz-regressions/<target>/) through
// the same checks the fuzz target makes (tests/fuzz/FuzzHarness.h).
#include "../fuzz/FuzzHarness.h"
#include "TestSupport.h"

#include <QDir>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>
#include <algorithm>
#include <fstream>
#include <functional>
#include <limits>
#include <map>

using namespace lms;
using namespace lms::test;
namespace fs = std::filesystem;

namespace {

QString qs(const fs::path& path) {
    return QString::fromStdString(path.string());
}

std::vector<std::byte> bytesOf(std::string_view text) {
    const auto span = std::as_bytes(std::span(text.data(), text.size()));
    return {span.begin(), span.end()};
}

// A small LoRA-trained model: two layers, base [32, 24] Float32 with MindPet pairs of rank 4.
std::vector<FakeTensor> smallModel() {
    std::vector<FakeTensor> t;
    uint32_t seed = 1;
    t.push_back(
        {"model.embedding", "Float32", {16, 24}, floatBytes(DType::Float32, randomValues(16 * 24, seed++))});
    for (int l = 0; l < 2; ++l) {
        const std::string stem = "model.layers." + std::to_string(l) + ".wq";
        t.push_back({stem + ".weight",
                     "Float32",
                     {32, 24},
                     floatBytes(DType::Float32, randomValues(32 * 24, seed++))});
        t.push_back({stem + ".mindpet_delta_lora_a",
                     "Float32",
                     {4, 24},
                     floatBytes(DType::Float32, randomValues(4 * 24, seed++))});
        t.push_back({stem + ".mindpet_delta_lora_b",
                     "Float32",
                     {32, 4},
                     floatBytes(DType::Float32, randomValues(32 * 4, seed++))});
    }
    t.push_back({"global_step", "Int32", {1}, std::vector<std::byte>(4, std::byte{3})});
    return t;
}

FakeTensor* findTensor(std::vector<FakeTensor>& tensors, const std::string& name) {
    for (auto& t : tensors)
        if (t.name == name) return &t;
    return nullptr;
}

// A JSON strategy (spec §2.3) with one layout per (name, tensor_map) on dev_matrix `dev`.
std::string jsonStrategy(const std::string& dev, const std::vector<std::pair<std::string, std::string>>& maps,
                         const std::string& extra = {}) {
    std::string text = R"({"current_stage":1,"parallel_layout_item":{)";
    for (size_t i = 0; i < maps.size(); ++i) {
        if (i) text += ",";
        text += "\"" + maps[i].first + R"(":{"dev_matrix":)" + dev + R"(,"tensor_map":)" + maps[i].second +
                R"(,"field":0,"opt_weight_shard_step":0,"opt_weight_shard_size":0)" + extra + "}";
    }
    return text + "}}";
}

// What one catalogue row needs: the arguments after the binary, what the user must see, and where
// the inputs and the output are.
struct Case {
    QStringList args;
    QString expected;  // the exact last stderr line; {in} {dst} {out} {strategy} are substituted
    fs::path in;       // the --src_ckpt_path_or_dir
    fs::path inputs;   // folder whose files must not change
    fs::path strategy;
    fs::path adapter;      // the --adapter, when given
    bool noSpace = false;  // run with the output folder on a 192 KiB tmpfs
};

using Builder = std::function<Case(const fs::path& dir)>;

Case fullCase(const fs::path& dir, const std::vector<FakeTensor>& tensors, const QString& expected) {
    Case c;
    c.in = dir / "in" / "model.ckpt";
    writeCheckpoint(c.in, tensors);
    c.inputs = c.in.parent_path();
    c.expected = expected;
    return c;
}

Case rawCase(const fs::path& dir, std::span<const std::byte> bytes, const QString& expected) {
    Case c;
    c.in = dir / "in" / "model.ckpt";
    writeFileBytes(c.in, bytes);
    c.inputs = c.in.parent_path();
    c.expected = expected;
    return c;
}

// Two rank folders of a 2-way model-parallel run of smallModel() (wq split by rows), and its JSON
// strategy in dir/strategy.json.
Case distributedCase(const fs::path& dir, int rankFolders, const std::string& dev, const QString& expected) {
    Case c;
    c.in = dir / "in" / "model";
    auto full = smallModel();
    for (int r = 0; r < rankFolders; ++r) {
        std::vector<FakeTensor> slice;
        for (const auto& t : full) {
            FakeTensor s = t;
            if (t.name.ends_with("wq.weight") || t.name.ends_with("lora_b")) {
                s.dims[0] /= 2;  // rows of this rank (dev_matrix [2], tensor_map [0, -1])
                const size_t half = t.content.size() / 2;
                const size_t part = size_t(r % 2);
                s.content.assign(t.content.begin() + long(part * half),
                                 t.content.begin() + long((part + 1) * half));
            }
            slice.push_back(std::move(s));
        }
        writeCheckpoint(c.in / ("rank_" + std::to_string(r)) / ("checkpoint_" + std::to_string(r) + ".ckpt"),
                        slice);
    }
    std::vector<std::pair<std::string, std::string>> maps;
    for (const auto& t : full) {
        if (t.name.ends_with("wq.weight") || t.name.ends_with("lora_b"))
            maps.emplace_back(t.name, "[0,-1]");
        else if (t.dims.size() == 2)
            maps.emplace_back(t.name, "[-1,-1]");
    }
    maps[0].second = "[-1,-1]";  // the embedding is replicated
    c.strategy = dir / "in" / "strategy.json";
    const auto text = jsonStrategy(dev, maps);
    writeFileBytes(c.strategy, bytesOf(text));
    c.inputs = dir / "in";
    c.args << QStringLiteral("--src_ckpt_strategy") << qs(c.strategy);
    c.expected = expected;
    return c;
}

std::vector<std::pair<QString, Builder>> catalogue() {
    std::vector<std::pair<QString, Builder>> rows;
    const auto add = [&](const char* name, Builder builder) {
        rows.emplace_back(QString::fromLatin1(name), std::move(builder));
    };

    add("empty file", [](const fs::path& dir) {
        return rawCase(dir, {}, QStringLiteral("loramerge: error: {in}: the file is empty"));
    });
    add("truncated", [](const fs::path& dir) {
        auto c = fullCase(dir, smallModel(),
                          QStringLiteral("loramerge: error: {in} at byte 4695: the file is truncated: "
                                         "the record here needs 443 bytes but only 14 are left"));
        fs::resize_file(c.in, 4712);
        return c;
    });
    add("foreign protobuf: a strategy file", [](const fs::path& dir) {
        // ParallelStrategyMap{current_stage: 1, parallel_layout_item {param_name: "w"}}
        const auto bytes = bytesOf(std::string_view("\x08\x01\x1a\x03\x0a\x01w", 7));
        return rawCase(
            dir, bytes,
            QStringLiteral("loramerge: error: {in} at byte 0: not a checkpoint: this looks like a "
                           "parallel strategy file (give it as the strategy, --src_ckpt_strategy)"));
    });
    add("foreign protobuf: MindIR model", [](const fs::path& dir) {
        // mind_ir.ModelProto{ir_version: "1.1.0", producer_name: "MindSpore", model_version: "2.3.0"}
        const auto bytes =
            bytesOf(std::string_view("\x0a\x05"
                                     "1.1.0"
                                     "\x12\x09"
                                     "MindSpore"
                                     "\x1a\x05"
                                     "2.3.0",
                                     25));
        return rawCase(dir, bytes,
                       QStringLiteral("loramerge: error: {in} at byte 3: not a MindSpore checkpoint: the "
                                      "first record does not hold a parameter (truncated fixed-size field)"));
    });
    add("encrypted", [](const fs::path& dir) {
        std::vector<std::byte> bytes{std::byte{0xD8}, std::byte{0x5E}, std::byte{0x3A}, std::byte{0x7F}};
        bytes.resize(4 + 16 + 4 + 4 + 16 + 4 + 64, std::byte{0x5A});
        return rawCase(
            dir, bytes,
            QStringLiteral("loramerge: error: {in}: encrypted checkpoint (AES-GCM), not supported: load "
                           "it in MindSpore with its dec_key and save it without enc_key first"));
    });
    add("wrong dtype string", [](const fs::path& dir) {
        auto model = smallModel();
        findTensor(model, "model.layers.1.wq.weight")->typeName =
            "float32";  // lower case: not a MindSpore type
        return fullCase(dir, model,
                        QStringLiteral("loramerge: error: {in}: 1 LoRA problem(s), nothing was written: "
                                       "model.layers.1.wq.weight: base weight has type float32; only "
                                       "floating-point weights can be merged (use --skip-invalid to merge "
                                       "only the valid pairs)"));
    });
    add("wrong dtype string (safetensors)", [](const fs::path& dir) {
        const std::string header = R"({"w":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}})";
        std::string file(8, '\0');
        for (int i = 0; i < 8; ++i) file[size_t(i)] = char((header.size() >> (8 * i)) & 0xFF);
        file += header + std::string(8, '\0');
        auto c = rawCase(dir, bytesOf(file),
                         QStringLiteral("loramerge: error: {in}: parameter 'w' at byte 22: dtype \"F33\" "
                                        "is not one MindSpore reads (BOOL U8 I8 I16 U16 I32 U32 I64 U64 "
                                        "F16 BF16 F32 F64)"));
        return c;
    });
    add("content length differs from dims", [](const fs::path& dir) {
        auto model = smallModel();
        findTensor(model, "model.embedding")->content.resize(16 * 24 * 4 - 4);
        return fullCase(
            dir, model,
            QStringLiteral("loramerge: error: {in}: parameter 'model.embedding' at byte 0: content "
                           "has 1532 bytes but dims and Float32 need 1536"));
    });
    add("dims overflow", [](const fs::path& dir) {
        auto model = smallModel();
        model.insert(model.begin(), {"huge", "Float32", {int64_t(1) << 62, 16}, {}});
        return fullCase(dir, model,
                        QStringLiteral("loramerge: error: {in}: parameter 'huge' at byte 0: dims overflow a "
                                       "64-bit size"));
    });
    add("missing rank", [](const fs::path& dir) {
        auto c = distributedCase(dir, 2, "[2]",
                                 QStringLiteral("loramerge: error: {in}: rank_1 is missing under {in}: the "
                                                "strategy describes 2 devices per stage and 1 pipeline "
                                                "stage(s), so rank_0 to rank_1 are needed"));
        fs::remove_all(c.in / "rank_1");
        return c;
    });
    add("strategy does not match the files", [](const fs::path& dir) {
        // Four rank folders (a 4-way run) with the strategy of a 2-way run.
        return distributedCase(
            dir, 4, "[2]",
            QStringLiteral("loramerge: error: {in}: holds rank_3 but the strategy describes "
                           "2 devices per stage and 1 pipeline stage(s), so rank_0 to rank_1 "
                           "are needed; with pipeline parallelism pass the folder of "
                           "per-rank strategy files (or the merged strategy) instead of "
                           "one rank's file"));
    });
    add("strategy of another model size", [](const fs::path& dir) {
        auto c = distributedCase(
            dir, 2, "[2]",
            QStringLiteral(
                "loramerge: error: {in}/rank_0/checkpoint_0.ckpt: parameter 'model.layers.0.wq.weight': "
                "strategy does not describe these files: model.layers.0.wq.weight on rank_0 is [16, 24], "
                "the strategy implies [32, 24] — is it the strategy of another run? (dev_matrix [2], "
                "tensor_map [0, -1]: slice [0:32, 0:24] of the full shape [64, 24])"));
        writeFileBytes(c.strategy, bytesOf(jsonStrategy("[2]", {{"model.layers.0.wq.weight", "[0,-1]"}},
                                                        R"(,"tensor_shape":[64,24])")));
        return c;
    });
    add("data-parallel strategy over model-parallel files", [](const fs::path& dir) {
        auto c = distributedCase(
            dir, 2, "[2]",
            QStringLiteral(
                "loramerge: error: {in}/rank_1/checkpoint_1.ckpt: parameter 'model.layers.0.wq.weight': "
                "strategy does not describe these files: model.layers.0.wq.weight on rank_0 and rank_1 "
                "should be identical copies of slice [0:16, 0:24], but rank_0/checkpoint_0.ckpt and "
                "rank_1/checkpoint_1.ckpt differ, first at element [0, 0] of the full shape [16, 24] — "
                "is it the strategy of another run?"));
        std::vector<std::pair<std::string, std::string>> maps;
        for (const auto& t : smallModel())
            if (t.dims.size() == 2) maps.emplace_back(t.name, "[-1,-1]");
        writeFileBytes(c.strategy, bytesOf(jsonStrategy("[2]", maps)));
        return c;
    });
    add("replicated copy zeroed", [](const fs::path& dir) {
        auto c = distributedCase(
            dir, 2, "[2]",
            QStringLiteral(
                "loramerge: error: {in}/rank_1/checkpoint_1.ckpt: parameter 'model.embedding': strategy "
                "does not describe these files: model.embedding on rank_0 and rank_1 should be identical "
                "copies of slice [0:16, 0:24], but rank_0/checkpoint_0.ckpt and rank_1/checkpoint_1.ckpt "
                "differ, first at element [0, 0] of the full shape [16, 24] — is it the strategy of "
                "another run?"));
        const fs::path rank1 = c.in / "rank_1" / "checkpoint_1.ckpt";
        auto bytes = readFileBytes(rank1);
        const auto embedding = smallModel().front().content;
        auto at = std::search(bytes.begin(), bytes.end(), embedding.begin(), embedding.end());
        std::fill(at, at + ptrdiff_t(embedding.size()), std::byte{0});
        writeFileBytes(rank1, bytes);
        return c;
    });
    add("shapes that do not divide", [](const fs::path& dir) {
        auto c = fullCase(dir, smallModel(),
                          QStringLiteral("loramerge: error: {strategy}: parameter 'dst_ckpt_strategy': the "
                                         "layout of model.layers.0.wq.weight cannot cut it: dimension 0 of "
                                         "shape [32, 24] does not divide into 3 equal parts"));
        c.strategy = dir / "dst_strategy.json";
        writeFileBytes(c.strategy, bytesOf(jsonStrategy("[3]", {{"model.layers.0.wq.weight", "[0,-1]"}})));
        c.args << QStringLiteral("--dst_ckpt_strategy") << qs(c.strategy);
        return c;
    });
    add("missing base", [](const fs::path& dir) {
        auto model = smallModel();
        model.erase(model.begin() + 4);  // model.layers.1.wq.weight
        return fullCase(dir, model,
                        QStringLiteral("loramerge: error: {in}: 1 LoRA problem(s), nothing was written: "
                                       "model.layers.1.wq.mindpet_delta_lora_a: base weight "
                                       "model.layers.1.wq.weight not found (use --skip-invalid to merge only "
                                       "the valid pairs)"));
    });
    add("A/B rank mismatch", [](const fs::path& dir) {
        auto model = smallModel();
        auto* b = findTensor(model, "model.layers.0.wq.mindpet_delta_lora_b");
        b->dims = {32, 3};
        b->content.resize(32 * 3 * 4);
        return fullCase(dir, model,
                        QStringLiteral("loramerge: error: {in}: 1 LoRA problem(s), nothing was written: "
                                       "model.layers.0.wq.weight: rank mismatch: A [4,24] has r=4 but B "
                                       "[32,3] has r=3 (use --skip-invalid to merge only the valid pairs)"));
    });
    add("A/B shape does not fit the base", [](const fs::path& dir) {
        auto model = smallModel();
        auto* a = findTensor(model, "model.layers.1.wq.mindpet_delta_lora_a");
        a->dims = {4, 20};
        a->content.resize(4 * 20 * 4);
        return fullCase(dir, model,
                        QStringLiteral("loramerge: error: {in}: 1 LoRA problem(s), nothing was written: "
                                       "model.layers.1.wq.weight: shape mismatch: B·A is [32,20] (B [32,4], "
                                       "A [4,20]) but the base weight is [32,24] (use --skip-invalid to "
                                       "merge only the valid pairs)"));
    });
    add("only LoRA tensors (an adapter given as the model)", [](const fs::path& dir) {
        auto model = smallModel();
        std::erase_if(model, [](const FakeTensor& t) { return t.name.find("lora") == std::string::npos; });
        auto c =
            fullCase(dir, model,
                     QStringLiteral("loramerge: error: {in}: nothing to merge into: every parameter is a "
                                    "LoRA weight or an optimizer copy of one (is this a LoRA-only "
                                    "adapter? pass it with --adapter next to the base checkpoint)"));
        c.args << QStringLiteral("--skip-invalid");
        return c;
    });
    add("LoRA tensors no scheme pairs (kohya lora_down/lora_up)", [](const fs::path& dir) {
        auto model = smallModel();
        findTensor(model, "model.layers.1.wq.mindpet_delta_lora_a")->name =
            "model.layers.1.wq.lora_down.weight";
        findTensor(model, "model.layers.1.wq.mindpet_delta_lora_b")->name =
            "model.layers.1.wq.lora_up.weight";
        return fullCase(
            dir, model,
            QStringLiteral("loramerge: error: {in}: 2 LoRA problem(s), nothing was written: LoRA tensors "
                           "that could not be paired (2): model.layers.1.wq.lora_down.weight, "
                           "model.layers.1.wq.lora_up.weight (kohya lora_down/lora_up names are not a "
                           "supported scheme) (use --skip-invalid to merge only the valid pairs)"));
    });
    add("DoRA magnitude vector of the wrong length", [](const fs::path& dir) {
        auto model = smallModel();
        model.insert(model.begin() + 4, {"model.layers.0.wq.lora_magnitude_vector",
                                         "Float32",
                                         {24},
                                         floatBytes(DType::Float32, randomValues(24, 77))});
        return fullCase(
            dir, model,
            QStringLiteral(
                "loramerge: error: {in}: 1 LoRA problem(s), nothing was written: "
                "model.layers.0.wq.weight: DoRA adapter (model.layers.0.wq.lora_magnitude_vector "
                "beside A/B): the magnitude is [24] but the base has 32 output rows; expected [32] "
                "(use --skip-invalid to merge only the valid pairs)"));
    });
    add("grouped MoE LoRA whose shapes fit A·B and B·A (in == out == r)", [](const fs::path& dir) {
        auto model = smallModel();
        const std::vector<int64_t> cube{2, 4, 4};
        for (const char* name :
             {"model.experts.weight1", "model.experts.weight1_lora_a", "model.experts.weight1_lora_b"})
            model.insert(model.end() - 1,
                         {name, "Float32", cube, floatBytes(DType::Float32, randomValues(32, 78))});
        return fullCase(
            dir, model,
            QStringLiteral(
                "loramerge: error: {in}: 1 LoRA problem(s), nothing was written: model.experts.weight1: "
                "ambiguous grouped LoRA: the shapes fit both A·B (A [E,in,r], B [E,r,out]) and B·A (A "
                "[E,r,in], B [E,out,r]) (A [2,4,4], B [2,4,4], base [2,4,4]), so which product was "
                "trained cannot be told (use --skip-invalid to merge only the valid pairs)"));
    });
    add("PEFT modules_to_save copy of another shape", [](const fs::path& dir) {
        auto model = smallModel();
        model.insert(
            model.end() - 1,
            {"lm_head.weight", "Float32", {16, 24}, floatBytes(DType::Float32, randomValues(16 * 24, 79))});
        model.insert(model.end() - 1, {"lm_head.modules_to_save.default.weight",
                                       "Float32",
                                       {16, 20},
                                       floatBytes(DType::Float32, randomValues(16 * 20, 80))});
        return fullCase(
            dir, model,
            QStringLiteral(
                "loramerge: error: {in}: 1 LoRA problem(s), nothing was written: lm_head.weight: shape "
                "mismatch: modules_to_save tensor lm_head.modules_to_save.default.weight is [16,20] but "
                "the base is [16,24] (use --skip-invalid to merge only the valid pairs)"));
    });
    add("base names that differ only in case", [](const fs::path& dir) {
        auto model = smallModel();
        findTensor(model, "model.layers.1.wq.mindpet_delta_lora_a")->name =
            "model.layers.1.Wq.mindpet_delta_lora_a";
        findTensor(model, "model.layers.1.wq.mindpet_delta_lora_b")->name =
            "model.layers.1.Wq.mindpet_delta_lora_b";
        auto twin = *findTensor(model, "model.layers.1.wq.weight");
        twin.name = "model.layers.1.WQ.weight";
        model.push_back(twin);
        return fullCase(
            dir, model,
            QStringLiteral("loramerge: error: {in}: 1 LoRA problem(s), nothing was written: "
                           "model.layers.1.Wq.mindpet_delta_lora_a: base weight model.layers.1.Wq.weight "
                           "not found, and 2 weights differ from it only in case (model.layers.1.wq.weight, "
                           "model.layers.1.WQ.weight); MindSpore names are case-sensitive, so which one "
                           "the LoRA belongs to is ambiguous (use --skip-invalid to merge only the valid "
                           "pairs)"));
    });
    add("no LoRA at all (a plain copy)", [](const fs::path& dir) {
        auto model = smallModel();
        std::erase_if(model, [](const FakeTensor& t) { return t.name.find("lora") != std::string::npos; });
        return fullCase(
            dir, model,
            QStringLiteral("loramerge: error: {in}: no LoRA weights found in {in}; to merge a separate "
                           "adapter use --adapter (--allow-no-lora copies the checkpoint unchanged)"));
    });
    add("adapter with tensors that are not LoRA", [](const fs::path& dir) {
        auto model = smallModel();
        std::vector<FakeTensor> base, adapter;
        for (const auto& t : model) (t.name.find("lora") == std::string::npos ? base : adapter).push_back(t);
        adapter.push_back({"epoch_num", "Int64", {}, std::vector<std::byte>(8)});  // bookkeeping: ignored
        adapter.push_back(*findTensor(model, "model.layers.0.wq.weight"));
        adapter.back().name = "adam_m.model.layers.0.wq.weight";
        adapter.push_back(*findTensor(model, "model.embedding"));
        auto c = fullCase(
            dir, base,
            QStringLiteral("loramerge: error: {adapter}: parameter 'adam_m.model.layers.0.wq.weight': "
                           "the adapter holds 2 tensor(s) that are not LoRA weights "
                           "(adam_m.model.layers.0.wq.weight, model.embedding); an adapter must hold "
                           "only LoRA A/B tensors, their optimizer copies and scalar records"));
        c.adapter = dir / "in" / "adapter.ckpt";
        writeCheckpoint(c.adapter, adapter);
        c.args << QStringLiteral("--adapter") << qs(c.adapter);
        return c;
    });
    add("output would overwrite the input", [](const fs::path& dir) {
        auto c = distributedCase(dir, 2, "[2]",
                                 QStringLiteral("loramerge: error: {out}: the output would overwrite the "
                                                "input {out}"));
        c.args << QStringLiteral("--overwrite");
        return c;  // --dst_ckpt_dir is the model folder: see run()
    });
    add("output inside the input's folder", [](const fs::path& dir) {
        // A full checkpoint kept in a rank_0 folder, merged into the folder above it.
        Case c;
        c.in = dir / "in" / "rank_0" / "llama_rank_0-10_2.ckpt";
        writeCheckpoint(c.in, smallModel());
        c.inputs = dir / "in";
        c.expected = QStringLiteral(
            "loramerge: error: {out}: the output folder {inrank} holds an input file "
            "(llama_rank_0-10_2.ckpt); write the merged checkpoint somewhere else so the source "
            "stays untouched");
        return c;  // --dst_ckpt_dir is dir/in: see run()
    });
    add("no space left on the output disk", [](const fs::path& dir) {
        auto model = smallModel();
        model.push_back(
            {"model.head", "Float32", {256, 256}, floatBytes(DType::Float32, randomValues(256 * 256, 99))});
        auto c = fullCase(
            dir, model,
            QStringLiteral(
                "loramerge: error: {out}: parameter 'model.head': write failed: No space left on device"));
        c.noSpace = true;
        return c;
    });
    // Non-finite inputs and merged values are found while streaming and name the input file.
    const auto setElement = [](FakeTensor& t, size_t index, float value) {
        auto values = bytesToFloats(DType::Float32, t.content);
        values[index] = value;
        t.content = floatBytes(DType::Float32, values);
    };
    add("NaN in a base weight", [setElement](const fs::path& dir) {
        auto model = smallModel();
        setElement(*findTensor(model, "model.layers.1.wq.weight"), 3 * 24 + 5,
                   std::numeric_limits<float>::quiet_NaN());
        return fullCase(
            dir, model,
            QStringLiteral("loramerge: error: {in}: parameter 'model.layers.1.wq.weight': base weight "
                           "model.layers.1.wq.weight in {in} holds NaN at [3, 5]"));
    });
    add("Inf in a LoRA A", [setElement](const fs::path& dir) {
        auto model = smallModel();
        setElement(*findTensor(model, "model.layers.0.wq.mindpet_delta_lora_a"), 2 * 24 + 7,
                   std::numeric_limits<float>::infinity());
        return fullCase(
            dir, model,
            QStringLiteral("loramerge: error: {in}: parameter 'model.layers.0.wq.mindpet_delta_lora_a': "
                           "LoRA A model.layers.0.wq.mindpet_delta_lora_a in {in} holds Inf at [2, 7]"));
    });
    add("-Inf in a LoRA B", [setElement](const fs::path& dir) {
        auto model = smallModel();
        setElement(*findTensor(model, "model.layers.1.wq.mindpet_delta_lora_b"), 31 * 4 + 3,
                   -std::numeric_limits<float>::infinity());
        return fullCase(
            dir, model,
            QStringLiteral("loramerge: error: {in}: parameter 'model.layers.1.wq.mindpet_delta_lora_b': "
                           "LoRA B model.layers.1.wq.mindpet_delta_lora_b in {in} holds -Inf at [31, 3]"));
    });
    // W[5, 9] = 65500 plus 2·(4 · 100 · 100): beyond the largest Float16; every other element stays small.
    add("merged value beyond the Float16 range", [setElement](const fs::path& dir) {
        auto model = smallModel();
        auto* w = findTensor(model, "model.layers.0.wq.weight");
        auto values = bytesToFloats(DType::Float32, w->content);
        values[5 * 24 + 9] = 65500;
        w->typeName = "Float16";
        w->content = floatBytes(DType::Float16, values);
        for (int k = 0; k < 4; ++k) {
            setElement(*findTensor(model, "model.layers.0.wq.mindpet_delta_lora_b"), size_t(5 * 4 + k), 100);
            setElement(*findTensor(model, "model.layers.0.wq.mindpet_delta_lora_a"), size_t(k * 24 + 9), 100);
        }
        return fullCase(dir, model,
                        QStringLiteral("loramerge: error: {in}: parameter 'model.layers.0.wq.weight': W + "
                                       "s\u00B7B\u00B7A exceeds the Float16 range (\u00B165504) at [5, 9] of "
                                       "model.layers.0.wq.weight"));
    });
    add("merged value beyond the BFloat16 range", [setElement](const fs::path& dir) {
        auto model = smallModel();
        auto* w = findTensor(model, "model.layers.1.wq.weight");
        auto values = bytesToFloats(DType::Float32, w->content);
        values[1] = 3e38f;
        w->typeName = "BFloat16";
        w->content = floatBytes(DType::BFloat16, values);
        for (int k = 0; k < 4; ++k) {
            setElement(*findTensor(model, "model.layers.1.wq.mindpet_delta_lora_b"), size_t(k), 1e19f);
            setElement(*findTensor(model, "model.layers.1.wq.mindpet_delta_lora_a"), size_t(k * 24 + 1),
                       1e19f);
        }
        return fullCase(
            dir, model,
            QStringLiteral("loramerge: error: {in}: parameter 'model.layers.1.wq.weight': W + "
                           "s\u00B7B\u00B7A exceeds the BFloat16 range (\u00B13.38953e+38) at [0, 1] of "
                           "model.layers.1.wq.weight"));
    });
    return rows;
}

struct Outcome {
    int exitCode = -1;
    bool crashed = false;
    QString stderrText;
    std::vector<std::string> leftFiles;  // files under the output folder afterwards
    bool skipped = false;
};

Outcome runCase(const Case& c, const fs::path& dst) {
    QStringList args{QStringLiteral("--src_ckpt_path_or_dir"),
                     qs(c.in),
                     QStringLiteral("--dst_ckpt_dir"),
                     qs(dst),
                     QStringLiteral("--lora_scaling"),
                     QStringLiteral("2"),
                     QStringLiteral("--quiet")};
    args += c.args;
    QProcess process;
    if (c.noSpace) {
        // A private mount namespace (user namespace: no privileges needed) with a tiny tmpfs on
        // the output folder; the files left on it are listed before the namespace disappears.
        fs::create_directories(dst);
        const QString script = QStringLiteral(
            "dst=$1; shift; mount -t tmpfs -o size=192k lms-nospace \"$dst\" || exit 99; echo "
            "LMS-NS-MOUNTED; \"$@\"; rc=$?; "
            "find \"$dst\" -type f -printf 'LEFT %P\\n'; exit $rc");
        process.start(QStringLiteral("unshare"),
                      QStringList{QStringLiteral("--user"), QStringLiteral("--map-root-user"),
                                  QStringLiteral("--mount"), QStringLiteral("/bin/sh"), QStringLiteral("-c"),
                                  script, QStringLiteral("sh"), qs(dst), cliPath()} +
                          args);
    } else {
        process.start(cliPath(), args);
    }
    Outcome outcome;
    if (!process.waitForStarted(30000) || !process.waitForFinished(300000)) {
        outcome.stderrText = process.errorString();
        outcome.skipped = c.noSpace && process.error() == QProcess::FailedToStart;  // no unshare(1) here
        return outcome;
    }
    outcome.crashed = process.exitStatus() != QProcess::NormalExit;
    outcome.exitCode = process.exitCode();
    outcome.stderrText = QString::fromUtf8(process.readAllStandardError());
    if (c.noSpace) {
        // Skipped unless the privileged steps themselves worked: the user namespace (unshare fails
        // in unprivileged containers and chroots) and the tmpfs mount both precede the marker.
        const QString shellOut = QString::fromUtf8(process.readAllStandardOutput());
        if (!shellOut.contains(QStringLiteral("LMS-NS-MOUNTED"))) outcome.skipped = true;
        for (const auto& line : shellOut.split(QLatin1Char('\n')))
            if (line.startsWith(QStringLiteral("LEFT ")))
                outcome.leftFiles.push_back(line.mid(5).toStdString());
    } else {
        outcome.leftFiles = listFiles(dst);
    }
    return outcome;
}

QString lastLine(const QString& text) {
    const auto lines = text.trimmed().split(QLatin1Char('\n'));
    return lines.isEmpty() ? QString() : lines.back();
}

QStringList regressionFiles(const QString& target) {
    QDir dir(QStringLiteral(LMS_SOURCE_DIR "/tests/data/fuzz-regressions/") + target);
    QStringList out;
    for (const auto& name : dir.entryList(QDir::Files, QDir::Name)) out << dir.filePath(name);
    return out;
}

}  // namespace

class TestBadInputs : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;

private slots:
    void initTestCase() {
        QVERIFY2(QFileInfo::exists(cliPath()),
                 qPrintable(QStringLiteral("build the loramerge target first (") + cliPath() +
                            QStringLiteral(")")));
    }

    void catalogue_data() {
        QTest::addColumn<int>("row");
        const auto rows = ::catalogue();
        for (size_t i = 0; i < rows.size(); ++i) QTest::newRow(qPrintable(rows[i].first)) << int(i);
    }
    void catalogue() {
        QFETCH(int, row);
        const auto rows = ::catalogue();
        const fs::path dir = fs::path(tmp_.path().toStdString()) / ("row" + std::to_string(row));
        fs::remove_all(dir);
        const Case c = rows[size_t(row)].second(dir);
        fs::path dst = dir / "out";
        if (rows[size_t(row)].first == QStringLiteral("output would overwrite the input")) dst = c.in;
        if (rows[size_t(row)].first == QStringLiteral("output inside the input's folder")) dst = dir / "in";
        const auto before = treeDigest(c.inputs);
        QVERIFY(!before.empty());
        const auto outcome = runCase(c, dst);
        if (outcome.skipped)
            QSKIP(qPrintable(
                QStringLiteral("cannot mount a tmpfs in a user namespace here (unshare --user --mount): ") +
                outcome.stderrText.trimmed()));
        QVERIFY2(!outcome.crashed, qPrintable(outcome.stderrText));
        QCOMPARE(outcome.exitCode, 1);
        QString expected = c.expected;
        expected.replace(QStringLiteral("{in}"), qs(c.in))
            .replace(QStringLiteral("{inrank}"), qs(c.in.parent_path()))
            .replace(QStringLiteral("{out}"), qs(dst / "rank_0" / "checkpoint_0.ckpt"))
            .replace(QStringLiteral("{strategy}"), qs(c.strategy))
            .replace(QStringLiteral("{adapter}"), qs(c.adapter));
        QCOMPARE(lastLine(outcome.stderrText), expected);
        // Nothing is written: no output, no temp file (the overwrite rows' folder holds only inputs).
        if (dst == dir / "out") QCOMPARE(outcome.leftFiles, std::vector<std::string>{});
        QCOMPARE(treeDigest(c.inputs), before);
    }

    // Scalings and ranks that are not finite or not positive integers are usage errors (exit 2):
    // the first stderr line, and nothing written.
    void usageErrors_data() {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<QString>("expected");
        const auto row = [](const char* name, QStringList args, const char* expected) {
            QTest::newRow(name) << args << QString::fromUtf8(expected);
        };
        const QString scaling = QStringLiteral("--lora_scaling"), alpha = QStringLiteral("--lora_alpha"),
                      rank = QStringLiteral("--lora_rank");
        row("negative rank", {scaling, QStringLiteral("16/-8")},
            "loramerge: --lora_scaling: the rank in '16/-8' must be a positive integer");
        row("zero rank", {scaling, QStringLiteral("16/0")},
            "loramerge: --lora_scaling: the rank in '16/0' must be a positive integer");
        row("fractional rank", {scaling, QStringLiteral("16/8.5")},
            "loramerge: --lora_scaling: the rank in '16/8.5' must be a positive integer");
        row("quotient overflows", {scaling, QStringLiteral("1e308/1e-308")},
            "loramerge: --lora_scaling: '1e308/1e-308' overflows: the scaling must be a finite number");
        row("inf", {scaling, QStringLiteral("inf")},
            "loramerge: --lora_scaling: 'inf' is not a finite number");
        row("nan", {scaling, QStringLiteral("nan")},
            "loramerge: --lora_scaling: 'nan' is not a finite number");
        row("1e999", {scaling, QStringLiteral("1e999")},
            "loramerge: --lora_scaling: '1e999' is not a finite number");
        row("a global flag as the value", {scaling, QStringLiteral("-q")},
            "loramerge: --lora_scaling: not a number: '-q'");
        row("--lora_rank 8.5", {alpha, QStringLiteral("16"), rank, QStringLiteral("8.5")},
            "loramerge: --lora_rank: expected a positive integer, got 8.5");
        row("--lora_rank 0", {alpha, QStringLiteral("16"), rank, QStringLiteral("0")},
            "loramerge: --lora_rank: expected a positive integer, got 0");
        row("--lora_rank -4", {alpha, QStringLiteral("16"), rank, QStringLiteral("-4")},
            "loramerge: --lora_rank: expected a positive integer, got -4");
        row("--lora_alpha inf", {alpha, QStringLiteral("inf")},
            "loramerge: --lora_alpha: 'inf' is not a finite number");
    }
    void usageErrors() {
        QFETCH(QStringList, args);
        QFETCH(QString, expected);
        const fs::path dir = fs::path(tmp_.path().toStdString()) / "usage" / QTest::currentDataTag();
        const auto input = dir / "in" / "model.ckpt";
        writeCheckpoint(input, smallModel());
        QProcess process;
        process.start(cliPath(), QStringList{QStringLiteral("--src_ckpt_path_or_dir"), qs(input),
                                             QStringLiteral("--dst_ckpt_dir"), qs(dir / "out")} +
                                     args);
        QVERIFY(process.waitForFinished(60000));
        QCOMPARE(process.exitCode(), 2);
        QCOMPARE(QString::fromUtf8(process.readAllStandardError()).split(QLatin1Char('\n')).front(),
                 expected);
        QVERIFY(!fs::exists(dir / "out"));
    }

    // -q, -v, -h are options only: as the value of an option they are that value.
    void globalFlagsAreOptionsOnly_data() {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<QString>("outputName");  // the file written under DST/rank_0
        QTest::addColumn<bool>("quiet");          // nothing on stdout
        const auto prefix = QStringLiteral("--prefix");
        QTest::newRow("--prefix -v") << QStringList{prefix, QStringLiteral("-v")} << "-v0.ckpt" << false;
        QTest::newRow("--prefix -q") << QStringList{prefix, QStringLiteral("-q")} << "-q0.ckpt" << false;
        QTest::newRow("--prefix -h") << QStringList{prefix, QStringLiteral("-h")} << "-h0.ckpt" << false;
        QTest::newRow("--prefix=-v") << QStringList{QStringLiteral("--prefix=-v")} << "-v0.ckpt" << false;
        QTest::newRow("--prefix --quiet")
            << QStringList{prefix, QStringLiteral("--quiet")} << "--quiet0.ckpt" << false;
        QTest::newRow("-q after --prefix x")
            << QStringList{prefix, QStringLiteral("x"), QStringLiteral("-q")} << "x0.ckpt" << true;
        QTest::newRow("-v then --prefix -q")
            << QStringList{QStringLiteral("-v"), prefix, QStringLiteral("-q")} << "-q0.ckpt" << false;
    }
    void globalFlagsAreOptionsOnly() {
        QFETCH(QStringList, args);
        QFETCH(QString, outputName);
        QFETCH(bool, quiet);
        const fs::path dir = fs::path(tmp_.path().toStdString()) / "global" / QTest::currentDataTag();
        const auto input = dir / "in" / "model.ckpt";
        writeCheckpoint(input, smallModel());
        QProcess process;
        process.start(cliPath(), QStringList{QStringLiteral("--src_ckpt_path_or_dir"), qs(input),
                                             QStringLiteral("--dst_ckpt_dir"), qs(dir / "out"),
                                             QStringLiteral("--lora_scaling"), QStringLiteral("2")} +
                                     args);
        QVERIFY(process.waitForFinished(60000));
        QVERIFY2(process.exitCode() == 0, process.readAllStandardError().constData());
        QCOMPARE(listFiles(dir / "out"), std::vector<std::string>{"rank_0/" + outputName.toStdString()});
        QCOMPARE(process.readAllStandardOutput().isEmpty(), quiet);
    }

    // Every saved fuzzing reproducer, through the same checks as its fuzz target (a broken check
    // aborts this test with the message of FuzzHarness.h).
    void fuzzRegressions_data() {
        QTest::addColumn<QString>("target");
        QTest::addColumn<QString>("file");
        for (const char* target : {"checkpoint", "strategy_proto", "strategy_json", "loraplan"})
            for (const auto& file : regressionFiles(QString::fromLatin1(target)))
                QTest::newRow(
                    qPrintable(QString::fromLatin1(target) + QLatin1Char('/') + QFileInfo(file).fileName()))
                    << QString::fromLatin1(target) << file;
    }
    void fuzzRegressions() {
        QFETCH(QString, target);
        QFETCH(QString, file);
        const auto bytes = readFileBytes(file.toStdString());
        const auto data = std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
        if (target == QStringLiteral("checkpoint")) lms::fuzz::fuzzCheckpoint(data);
        if (target == QStringLiteral("strategy_proto"))
            lms::fuzz::fuzzStrategy(data, StrategyFormat::Protobuf);
        if (target == QStringLiteral("strategy_json")) lms::fuzz::fuzzStrategy(data, StrategyFormat::Json);
        if (target == QStringLiteral("loraplan")) lms::fuzz::fuzzLoraPlan(data);
        if (target != QStringLiteral("checkpoint")) return;
        // A hostile checkpoint through the CLI: a clean refusal or a merge, never a crash.
        const fs::path dst =
            fs::path(tmp_.path().toStdString()) / ("fuzz-" + QFileInfo(file).fileName().toStdString());
        Case c;
        c.in = file.toStdString();
        c.args << QStringLiteral("--skip-invalid");
        const auto outcome = runCase(c, dst);
        QVERIFY2(!outcome.crashed, qPrintable(outcome.stderrText));
        QVERIFY2(outcome.exitCode == 0 ||
                     (outcome.exitCode == 1 &&
                      lastLine(outcome.stderrText).startsWith(QStringLiteral("loramerge: error: "))),
                 qPrintable(outcome.stderrText));
        if (outcome.exitCode == 1) QCOMPARE(outcome.leftFiles, std::vector<std::string>{});
    }

    void regressionFilesExist() {
        // The folder is part of the suite: an empty catalogue of reproducers would test nothing.
        int count = 0;
        for (const char* target : {"checkpoint", "strategy_proto", "strategy_json", "loraplan"})
            count += int(regressionFiles(QString::fromLatin1(target)).size());
        QVERIFY2(count > 0, "no reproducers under tests/data/fuzz-regressions/");
    }
};

QTEST_GUILESS_MAIN(TestBadInputs)
#include "tst_badinputs.moc"
