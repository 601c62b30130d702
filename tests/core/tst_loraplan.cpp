// The LoRA planner (spec §5): pairing by every naming scheme, optimizer copies, shape checks, problems.
#include "lms/lora/LoraPlan.h"

#include <QtTest>

using namespace lms;

namespace {

// "a b c" as a list; "-" stands for an empty entry.
QStringList words(const char* text) {
    auto list = QString::fromLatin1(text).split(QLatin1Char(' '), Qt::SkipEmptyParts);
    for (auto& w : list)
        if (w == QStringLiteral("-")) w.clear();
    return list;
}

SourceTensor tensor(std::string name, std::vector<int64_t> dims, std::string type = "Float32") {
    SourceTensor t;
    t.name = std::move(name);
    t.typeName = type;
    t.dtype = dtypeFromTensorType(type);
    t.dims = std::move(dims);
    uint64_t n = 4;
    for (auto d : t.dims) n *= uint64_t(d);
    t.byteSize = n;
    return t;
}

// A layer with base [out, in] = [32, 16] and a rank-4 pair named by `a`/`b`.
std::vector<SourceTensor> layer(const std::string& base, const std::string& a, const std::string& b) {
    return {tensor(base, {32, 16}), tensor(a, {4, 16}), tensor(b, {32, 4})};
}

}  // namespace

class TestLoraPlan : public QObject {
    Q_OBJECT
private slots:
    // One layer of each model family as its trainer names it, in save order, with every non-LoRA
    // tensor around the pairs (norms, MLA down-projections, routers): exactly the listed bases pair,
    // nothing else is LoRA, and no problem is reported.
    void familyNameLists_data() {
        QTest::addColumn<QStringList>("names");  // "name:d0xd1", in save order
        QTest::addColumn<QStringList>("bases");  // the bases that pair, in plan order
        const auto list = [](std::initializer_list<const char*> items) {
            QStringList out;
            for (const char* item : items) out << QString::fromLatin1(item);
            return out;
        };
        QTest::newRow("Llama, MindFormers + MindPet")
            << list({"model.tok_embeddings.embedding_weight:128x32",
                     "model.layers.0.attention_norm.weight:32", "model.layers.0.attention.wq.weight:32x32",
                     "model.layers.0.attention.wq.mindpet_delta_lora_a:4x32",
                     "model.layers.0.attention.wq.mindpet_delta_lora_b:32x4",
                     "model.layers.0.attention.wv.weight:32x32",
                     "model.layers.0.attention.wv.mindpet_delta_lora_a:4x32",
                     "model.layers.0.attention.wv.mindpet_delta_lora_b:32x4",
                     "model.layers.0.feed_forward.w1.weight:64x32",
                     "adam_m.model.layers.0.attention.wq.mindpet_delta_lora_a:4x32",
                     "model.norm_out.weight:32", "lm_head.weight:128x32"})
            << list({"model.layers.0.attention.wq.weight", "model.layers.0.attention.wv.weight"});
        QTest::newRow("Qwen3, MindFormers Mcore (fused qkv and fc1, q/k layernorm)")
            << list({"embedding.word_embeddings.weight:128x32", "decoder.layers.0.input_layernorm.weight:32",
                     "decoder.layers.0.self_attention.linear_qkv.weight:96x32",
                     "decoder.layers.0.self_attention.linear_qkv.lora_A.weight:4x32",
                     "decoder.layers.0.self_attention.linear_qkv.lora_B.weight:96x4",
                     "decoder.layers.0.self_attention.q_layernorm.weight:8",
                     "decoder.layers.0.self_attention.k_layernorm.weight:8",
                     "decoder.layers.0.self_attention.linear_proj.weight:32x32",
                     "decoder.layers.0.self_attention.linear_proj.lora_A.weight:4x32",
                     "decoder.layers.0.self_attention.linear_proj.lora_B.weight:32x4",
                     "decoder.layers.0.mlp.linear_fc1.weight:128x32",
                     "decoder.layers.0.mlp.linear_fc1.lora_A.weight:4x32",
                     "decoder.layers.0.mlp.linear_fc1.lora_B.weight:128x4",
                     "decoder.layers.0.mlp.linear_fc2.weight:32x64", "decoder.final_layernorm.weight:32",
                     "output_layer.weight:128x32"})
            << list({"decoder.layers.0.self_attention.linear_qkv.weight",
                     "decoder.layers.0.self_attention.linear_proj.weight",
                     "decoder.layers.0.mlp.linear_fc1.weight"});
        QTest::newRow("DeepSeek MLA, PyNative .lora_a/.lora_b (q_lora_rank down-projections are not LoRA)")
            << list({"decoder.layers.0.self_attention.linear_q_down_proj.weight:16x32",
                     "decoder.layers.0.self_attention.q_layernorm.weight:16",
                     "decoder.layers.0.self_attention.linear_q_up_proj.weight:64x16",
                     "decoder.layers.0.self_attention.linear_kv_down_proj.weight:24x32",
                     "decoder.layers.0.self_attention.kv_layernorm.weight:16",
                     "decoder.layers.0.self_attention.linear_proj.weight:32x64",
                     "decoder.layers.0.self_attention.linear_proj.lora_a:4x64",
                     "decoder.layers.0.self_attention.linear_proj.lora_b:32x4",
                     "decoder.layers.0.mlp.router.weight:4x32"})
            << list({"decoder.layers.0.self_attention.linear_proj.weight"});
        QTest::newRow("GLM, MindFormers + MindPet (query_key_value, dense_h_to_4h)")
            << list({"transformer.embedding.word_embeddings.weight:128x32",
                     "transformer.encoder.layers.0.input_layernorm.weight:32",
                     "transformer.encoder.layers.0.self_attention.query_key_value.weight:96x32",
                     "transformer.encoder.layers.0.self_attention.query_key_value.mindpet_delta_lora_a:4x32",
                     "transformer.encoder.layers.0.self_attention.query_key_value.mindpet_delta_lora_b:96x4",
                     "transformer.encoder.layers.0.self_attention.query_key_value.bias:96",
                     "transformer.encoder.layers.0.self_attention.dense.weight:32x32",
                     "transformer.encoder.layers.0.mlp.dense_h_to_4h.weight:128x32",
                     "transformer.encoder.layers.0.mlp.dense_h_to_4h.mindpet_delta_lora_a:4x32",
                     "transformer.encoder.layers.0.mlp.dense_h_to_4h.mindpet_delta_lora_b:128x4",
                     "transformer.output_layer.weight:128x32"})
            << list({"transformer.encoder.layers.0.self_attention.query_key_value.weight",
                     "transformer.encoder.layers.0.mlp.dense_h_to_4h.weight"});
        QTest::newRow("Llama, PEFT saved adapter merged into HF names")
            << list({"model.layers.0.self_attn.q_proj.weight:32x32",
                     "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight:4x32",
                     "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight:32x4",
                     "model.layers.0.mlp.gate_proj.weight:64x32",
                     "base_model.model.model.layers.0.mlp.gate_proj.lora_A.weight:4x32",
                     "base_model.model.model.layers.0.mlp.gate_proj.lora_B.weight:64x4",
                     "model.norm.weight:32"})
            << list({"model.layers.0.self_attn.q_proj.weight", "model.layers.0.mlp.gate_proj.weight"});
    }

    void familyNameLists() {
        QFETCH(QStringList, names);
        QFETCH(QStringList, bases);
        std::vector<SourceTensor> tensors;
        for (const QString& entry : names) {
            const auto parts = entry.split(QLatin1Char(':'));
            std::vector<int64_t> dims;
            for (const QString& d : parts[1].split(QLatin1Char('x'))) dims.push_back(d.toLongLong());
            tensors.push_back(tensor(parts[0].toStdString(), dims));
        }
        const LoraPlan plan = planLora(tensors);
        QStringList paired;
        for (const auto& pair : plan.pairs) {
            QVERIFY2(pair.status == PairStatus::Ok, pair.problem.c_str());
            paired << QString::fromStdString(pair.base);
        }
        QCOMPARE(paired, bases);
        QCOMPARE(plan.problemPairs, size_t(0));
        for (size_t i = 0; i < tensors.size(); ++i) {  // every LoRA tensor is dropped, nothing else
            const bool lora = hasLoraMarker(tensors[i].name);
            QVERIFY2(plan.dropped[i] == lora, tensors[i].name.c_str());
        }
    }

    void pairsEveryNamingScheme_data() {
        QTest::addColumn<QString>("base");
        QTest::addColumn<QString>("a");
        QTest::addColumn<QString>("b");
        QTest::addColumn<QString>("scheme");
        QTest::newRow("mindpet") << "m.l0.wq.weight"
                                 << "m.l0.wq.mindpet_delta_lora_a"
                                 << "m.l0.wq.mindpet_delta_lora_b"
                                 << "mindpet_delta";
        QTest::newRow("mindpet-upper") << "m.l0.wq.weight"
                                       << "m.l0.wq.mindpet_delta_lora_A"
                                       << "m.l0.wq.mindpet_delta_lora_B"
                                       << "mindpet_delta";
        QTest::newRow("tk-legacy") << "m.l0.wq.weight"
                                   << "m.l0.wq.tk_delta_lora_a"
                                   << "m.l0.wq.tk_delta_lora_b"
                                   << "tk_delta";
        QTest::newRow("mcore") << "m.l0.linear_qkv.weight"
                               << "m.l0.linear_qkv.lora_A.weight"
                               << "m.l0.linear_qkv.lora_B.weight"
                               << "lora_A.weight";
        QTest::newRow("slora") << "m.l0.wq.weight"
                               << "m.l0.wq.lora_a"
                               << "m.l0.wq.lora_b"
                               << ".lora_a";
        QTest::newRow("digit-names") << "0.w1.weight"
                                     << "0.w1.lora_A.weight"
                                     << "0.w1.lora_B.weight"
                                     << "lora_A.weight";
        QTest::newRow("llama-mindpet") << "model.layers.31.attention.wq.weight"
                                       << "model.layers.31.attention.wq.mindpet_delta_lora_a"
                                       << "model.layers.31.attention.wq.mindpet_delta_lora_b"
                                       << "mindpet_delta";
        QTest::newRow("qwen-mcore") << "decoder.layers.0.self_attention.linear_qkv.weight"
                                    << "decoder.layers.0.self_attention.linear_qkv.lora_A.weight"
                                    << "decoder.layers.0.self_attention.linear_qkv.lora_B.weight"
                                    << "lora_A.weight";
        // PEFT in memory: the adapter's name is an infix (tuners/lora/layer.py, lora_A ModuleDict).
        QTest::newRow("qwen-peft-infix") << "model.layers.0.self_attn.q_proj.weight"
                                         << "model.layers.0.self_attn.q_proj.lora_A.default.weight"
                                         << "model.layers.0.self_attn.q_proj.lora_B.default.weight"
                                         << "lora_A.default.weight";
        QTest::newRow("qwen-peft-named-adapter") << "model.layers.0.mlp.down_proj.weight"
                                                 << "model.layers.0.mlp.down_proj.lora_A.Chat_v2.weight"
                                                 << "model.layers.0.mlp.down_proj.lora_B.Chat_v2.weight"
                                                 << "lora_A.Chat_v2.weight";
        // PEFT adapter files carry base_model.model. (save_and_load.py get_peft_model_state_dict).
        QTest::newRow("qwen-peft-saved") << "model.layers.0.self_attn.v_proj.weight"
                                         << "base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight"
                                         << "base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight"
                                         << "lora_A.weight";
        // PEFT's whole in-memory model: the wrapped layer's weight is under base_layer.
        QTest::newRow("peft-base-layer")
            << "base_model.model.model.layers.0.self_attn.q_proj.base_layer.weight"
            << "base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight"
            << "base_model.model.model.layers.0.self_attn.q_proj.lora_B.default.weight"
            << "lora_A.default.weight";
    }
    void pairsEveryNamingScheme() {
        QFETCH(QString, base);
        QFETCH(QString, a);
        QFETCH(QString, b);
        QFETCH(QString, scheme);
        auto tensors = layer(base.toStdString(), a.toStdString(), b.toStdString());
        tensors.push_back(tensor("global_step", {1}, "Int32"));
        const auto plan = planLora(tensors);
        QCOMPARE(plan.pairs.size(), size_t(1));
        const auto& pair = plan.pairs[0];
        QCOMPARE(QString::fromStdString(pair.base), base);
        QCOMPARE(QString::fromStdString(pair.a), a);
        QCOMPARE(QString::fromStdString(pair.b), b);
        QCOMPARE(QString::fromStdString(pair.scheme), scheme);
        QCOMPARE(pair.status, PairStatus::Ok);
        QCOMPARE(pair.rank, int64_t(4));
        QVERIFY(!pair.transposed);
        QCOMPARE(plan.roles, (std::vector<TensorRole>{TensorRole::Base, TensorRole::LoraA, TensorRole::LoraB,
                                                      TensorRole::Other}));
        QCOMPARE(plan.dropped, (std::vector<bool>{false, true, true, false}));
        QCOMPARE(plan.pairOfTensor, (std::vector<int>{0, 0, 0, -1}));
        QCOMPARE(plan.bytesToWrite, uint64_t(32 * 16 * 4 + 4));
        QCOMPARE(plan.tensorsToWrite, uint64_t(2));
    }

    // Every prefix MindSpore's and MindFormers' optimizers give their state (LoraPlan.cpp cites
    // the sources): a copy of a LoRA tensor is dropped with it, a copy of a base weight is kept.
    void optimizerCopiesAreDroppedWithTheirLora_data() {
        QTest::addColumn<QString>("prefix");
        for (const char* p :
             {"adam_m.", "adam_v.", "moment1.", "moment2.", "vhat.", "lamb_m.", "lamb_v.", "exp_avg.",
              "exp_avg_sq.", "max_exp_avg_sq.", "exp_avg_sq_row_", "exp_avg_sq_col_", "exp_avg_insta_row_",
              "exp_avg_insta_col_", "exp_avg_sq_", "moments.", "accum.", "accu_grads.", "pma_weight_"})
            QTest::newRow(p) << QString::fromLatin1(p);
    }
    void optimizerCopiesAreDroppedWithTheirLora() {
        QFETCH(QString, prefix);
        const std::string p = prefix.toStdString();
        auto tensors =
            layer("model.layers.0.attention.wq.weight", "model.layers.0.attention.wq.mindpet_delta_lora_a",
                  "model.layers.0.attention.wq.mindpet_delta_lora_b");
        tensors.push_back(tensor(p + "model.layers.0.attention.wq.mindpet_delta_lora_a", {4, 16}));
        tensors.push_back(
            tensor(p + "model.layers.0.attention.wq.mindpet_delta_lora_b", {32}));  // factored: a row
        tensors.push_back(
            tensor(p + "model.layers.0.attention.wq.weight", {32, 16}));  // a base's state is kept
        tensors.push_back(tensor(p + "model.norm.weight", {16}));
        const auto plan = planLora(tensors);
        QCOMPARE(plan.pairs.size(), size_t(1));
        QCOMPARE(plan.okPairs, size_t(1));
        QCOMPARE(plan.problemPairs, size_t(0));
        for (size_t i = 3; i < tensors.size(); ++i) {
            QCOMPARE(plan.roles[i], TensorRole::OptimizerState);
            QCOMPARE(classifyName(tensors[i].name), TensorRole::OptimizerState);
            QCOMPARE(plan.pairOfTensor[i], -1);
        }
        QCOMPARE(plan.dropped, (std::vector<bool>{false, true, true, true, true, false, false}));
        QCOMPARE(plan.tensorsToWrite, uint64_t(3));
        QCOMPARE(optimizerPrefixLength(tensors[3].name), p.size());
    }

    void notOptimizerPrefixes_data() {
        QTest::addColumn<QString>("name");
        QTest::newRow("prefix alone") << "adam_m.";
        QTest::newRow("upper case") << "ADAM_M.x.weight";
        QTest::newRow("no separator") << "adam_mx.weight";
        QTest::newRow("inside") << "model.adam_m.weight";
        QTest::newRow("moments without dot") << "moments_x.weight";
    }
    void notOptimizerPrefixes() {
        QFETCH(QString, name);
        QCOMPARE(optimizerPrefixLength(name.toStdString()), size_t(0));
        QCOMPARE(classifyName(name.toStdString()), TensorRole::Other);
    }

    void transposedBaseByShape() {
        std::vector<SourceTensor> tensors{tensor("w2.weight", {16, 32}), tensor("w2.lora_A.weight", {4, 16}),
                                          tensor("w2.lora_B.weight", {32, 4})};
        const auto plan = planLora(tensors);
        QCOMPARE(plan.pairs[0].status, PairStatus::Ok);
        QVERIFY(plan.pairs[0].transposed);
    }

    void squareBaseFollowsTheOption() {
        std::vector<SourceTensor> tensors{tensor("q.weight", {16, 16}), tensor("q.lora_a", {4, 16}),
                                          tensor("q.lora_b", {16, 4})};
        QVERIFY(!planLora(tensors).pairs[0].transposed);
        PlanOptions options;
        options.squareOrientation = SquareOrientation::InOut;
        QVERIFY(planLora(tensors, options).pairs[0].transposed);
    }

    void problemsAreListed_data() {
        QTest::addColumn<int>("variant");
        QTest::addColumn<QString>("problem");
        QTest::newRow("missing-b") << 0 << "has no matching B";
        QTest::newRow("missing-a") << 1 << "has no matching A";
        QTest::newRow("missing-base") << 2 << "base weight x.wq.weight not found";
        QTest::newRow("shape-mismatch") << 3 << "shape mismatch: B·A is [32,24]";
        QTest::newRow("rank-mismatch") << 4 << "rank mismatch";
        QTest::newRow("not-2d") << 5 << "must be 2-D";
        QTest::newRow("integer-base") << 6 << "only floating-point weights";
    }
    void problemsAreListed() {
        QFETCH(int, variant);
        QFETCH(QString, problem);
        std::vector<SourceTensor> tensors{tensor("x.wq.weight", {32, 16}),
                                          tensor("x.wq.mindpet_delta_lora_a", {4, 16}),
                                          tensor("x.wq.mindpet_delta_lora_b", {32, 4})};
        switch (variant) {
            case 0:
                tensors.erase(tensors.begin() + 2);
                break;
            case 1:
                tensors.erase(tensors.begin() + 1);
                break;
            case 2:
                tensors.erase(tensors.begin());
                break;
            case 3:
                tensors[1] = tensor("x.wq.mindpet_delta_lora_a", {4, 24});
                break;
            case 4:
                tensors[2] = tensor("x.wq.mindpet_delta_lora_b", {32, 8});
                break;
            case 5:
                tensors[1] = tensor("x.wq.mindpet_delta_lora_a", {4, 16, 1});
                break;
            case 6:
                tensors[0] = tensor("x.wq.weight", {32, 16}, "Int32");
                break;
        }
        // A healthy second pair must stay ok.
        for (auto& t : layer("y.wk.weight", "y.wk.mindpet_delta_lora_a", "y.wk.mindpet_delta_lora_b"))
            tensors.push_back(t);
        const auto plan = planLora(tensors);
        QCOMPARE(plan.pairs.size(), size_t(2));
        QCOMPARE(plan.problemPairs, size_t(1));
        QCOMPARE(plan.okPairs, size_t(1));
        const auto& bad = plan.pairs[0].status == PairStatus::Problem ? plan.pairs[0] : plan.pairs[1];
        QVERIFY2(QString::fromStdString(bad.problem).contains(problem), bad.problem.c_str());
        // LoRA tensors are dropped even when their pair cannot be merged.
        for (size_t i = 0; i < tensors.size(); ++i)
            QCOMPARE(bool(plan.dropped[i]), classifyName(tensors[i].name) == TensorRole::LoraA ||
                                                classifyName(tensors[i].name) == TensorRole::LoraB);
    }

    void twoAdaptersOnOneBase() {
        std::vector<SourceTensor> tensors{
            tensor("x.wq.weight", {32, 16}), tensor("x.wq.mindpet_delta_lora_a", {4, 16}),
            tensor("x.wq.mindpet_delta_lora_b", {32, 4}), tensor("x.wq.lora_A.weight", {4, 16}),
            tensor("x.wq.lora_B.weight", {32, 4})};
        const auto plan = planLora(tensors);
        QCOMPARE(plan.pairs.size(), size_t(2));
        QCOMPARE(plan.problemPairs, size_t(2));
        QVERIFY(plan.pairs[0].problem.find("two adapters on one base") != std::string::npos);
    }

    void disabledPairsAreCounted() {
        auto tensors = layer("x.wq.weight", "x.wq.lora_a", "x.wq.lora_b");
        PlanOptions options;
        options.disabledBases = {"x.wq.weight"};
        const auto plan = planLora(tensors, options);
        QCOMPARE(plan.pairs[0].status, PairStatus::Disabled);
        QCOMPARE(plan.disabledPairs, size_t(1));
        QCOMPARE(plan.okPairs, size_t(0));
    }

    void notLora() {
        // DeepSeek-style q_lora_rank parameters and plain weights are not LoRA (spec §5.2).
        std::vector<SourceTensor> tensors{tensor("m.linear_q_down_proj.weight", {16, 32}),
                                          tensor("m.lora_alpha_table", {4}),
                                          tensor("adam_m.m.linear_q_down_proj.weight", {16, 32})};
        const auto plan = planLora(tensors);
        QVERIFY(plan.pairs.empty());
        QCOMPARE(plan.dropped, (std::vector<bool>{false, false, false}));
        QCOMPARE(plan.roles[2], TensorRole::OptimizerState);
    }

    // MindSpore names are case-sensitive Cell paths: the exact base wins, a case-only match is used
    // when it is the only candidate, and two candidates are a problem.
    void caseTwins_data() {
        QTest::addColumn<QStringList>("names");  // base names [32, 16] first, then A [4, 16], B [32, 4]
        QTest::addColumn<int>("bases");
        QTest::addColumn<QStringList>("pairedBases");  // per pair, in plan order ("" when missing)
        QTest::addColumn<QString>("problem");          // of the first problem pair, "" when all ok
        QTest::newRow("exact wins over its twin")
            << words(
                   "model.layers.0.attention.wq.weight model.layers.0.attention.WQ.weight "
                   "model.layers.0.attention.wq.mindpet_delta_lora_a "
                   "model.layers.0.attention.wq.mindpet_delta_lora_b")
            << 2 << words("model.layers.0.attention.wq.weight") << "";
        QTest::newRow("unique case-only match")
            << words(
                   "model.layers.0.attention.Wq.weight model.layers.0.attention.wq.mindpet_delta_lora_a "
                   "model.layers.0.attention.wq.mindpet_delta_lora_b")
            << 1 << words("model.layers.0.attention.Wq.weight") << "";
        QTest::newRow("two case-only candidates")
            << words(
                   "model.layers.0.attention.wq.weight model.layers.0.attention.WQ.weight "
                   "model.layers.0.attention.Wq.mindpet_delta_lora_a "
                   "model.layers.0.attention.Wq.mindpet_delta_lora_b")
            << 2 << words("-")
            << "base weight model.layers.0.attention.Wq.weight not found, and 2 weights differ from it only "
               "in "
               "case (model.layers.0.attention.wq.weight, model.layers.0.attention.WQ.weight); MindSpore "
               "names "
               "are case-sensitive, so which one the LoRA belongs to is ambiguous";
        QTest::newRow("two layers that differ in case")
            << words(
                   "m.Q.weight m.q.weight m.Q.lora_A.weight m.Q.lora_B.weight m.q.lora_A.weight "
                   "m.q.lora_B.weight")
            << 2 << words("m.Q.weight m.q.weight") << "";
        QTest::newRow("one layer, suffix in two cases")
            << words("m.q.weight m.q.lora_a m.q.lora_A m.q.lora_b") << 1 << words("m.q.weight")
            << "several LoRA tensors share the name m.q (names differ only in case)";
    }
    void caseTwins() {
        QFETCH(QStringList, names);
        QFETCH(int, bases);
        QFETCH(QStringList, pairedBases);
        QFETCH(QString, problem);
        std::vector<SourceTensor> tensors;
        for (int i = 0; i < names.size(); ++i) {
            const auto role = classifyName(names[i].toStdString());
            tensors.push_back(tensor(names[i].toStdString(), i < bases ? std::vector<int64_t>{32, 16}
                                                             : role == TensorRole::LoraA
                                                                 ? std::vector<int64_t>{4, 16}
                                                                 : std::vector<int64_t>{32, 4}));
        }
        const auto plan = planLora(tensors);
        QStringList got;
        QString firstProblem;
        for (const auto& pair : plan.pairs) {
            got << QString::fromStdString(pair.base);
            if (pair.status == PairStatus::Problem && firstProblem.isEmpty())
                firstProblem = QString::fromStdString(pair.problem);
        }
        QCOMPARE(got, pairedBases);
        QCOMPARE(firstProblem, problem);
        QCOMPARE(plan.problemPairs, size_t(problem.isEmpty() ? 0 : 1));
        for (int i = 0; i < bases; ++i) QVERIFY(!plan.dropped[size_t(i)]);  // bases are always written
    }

    // A tensor with a LoRA marker that no scheme pairs is never copied through silently.
    void unpairedLoraIsAProblem_data() {
        QTest::addColumn<QString>("name");
        QTest::addColumn<int>("role");
        QTest::addColumn<QString>("why");
        QTest::newRow("kohya down") << "model.layers.1.attention.wq.lora_down.weight"
                                    << int(TensorRole::LoraA)
                                    << "kohya lora_down/lora_up names are not a supported scheme";
        QTest::newRow("kohya up") << "lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight"
                                  << int(TensorRole::LoraB)
                                  << "kohya lora_down/lora_up names are not a supported scheme";
        QTest::newRow("peft embedding")
            << "base_model.model.model.embed_tokens.lora_embedding_A" << int(TensorRole::LoraA)
            << "LoRA on embeddings (lora_embedding_A/B) is not supported";
        QTest::newRow("peft no weight suffix")
            << "model.layers.0.q_proj.lora_B.default" << int(TensorRole::LoraB)
            << "it matches no supported naming scheme";
        QTest::newRow("lone DoRA magnitude")
            << "base_model.model.model.layers.0.self_attn.k_proj.lora_magnitude_vector"
            << int(TensorRole::LoraA) << "a DoRA magnitude vector without a LoRA pair";
        QTest::newRow("mindpet adapter delta")
            << "model.layers.0.attention.mindpet_delta_adapter_down.weight" << int(TensorRole::LoraA)
            << "it matches no supported naming scheme";
        QTest::newRow("upper-case marker") << "model.layers.0.wq.LORA_DOWN.weight" << int(TensorRole::LoraA)
                                           << "kohya lora_down/lora_up names are not a supported scheme";
        QTest::newRow("tk legacy other") << "model.tk_delta_prefix_key" << int(TensorRole::LoraA)
                                         << "it matches no supported naming scheme";
    }
    void unpairedLoraIsAProblem() {
        QFETCH(QString, name);
        QFETCH(int, role);
        QFETCH(QString, why);
        auto tensors =
            layer("model.layers.0.attention.wk.weight", "model.layers.0.attention.wk.mindpet_delta_lora_a",
                  "model.layers.0.attention.wk.mindpet_delta_lora_b");
        tensors.push_back(tensor(name.toStdString(), {4, 16}));
        tensors.push_back(tensor("model.norm.weight", {16}));
        QVERIFY(hasLoraMarker(name.toStdString()));
        const auto plan = planLora(tensors);
        QCOMPARE(plan.pairs.size(), size_t(2));
        QCOMPARE(plan.okPairs, size_t(1));
        QCOMPARE(plan.problemPairs, size_t(1));
        const auto& bad = plan.pairs[1];
        QCOMPARE(bad.scheme, std::string("unpaired"));
        QCOMPARE(QString::fromStdString(bad.problem),
                 QStringLiteral("LoRA tensor that could not be paired: ") + name + QStringLiteral(" (") +
                     why + QStringLiteral(")"));
        QCOMPARE(QString::fromStdString(role == int(TensorRole::LoraB) ? bad.b : bad.a), name);
        QCOMPARE(int(plan.roles[3]), role);
        QCOMPARE(plan.pairOfTensor[3], 1);
        QCOMPARE(plan.dropped, (std::vector<bool>{false, true, true, true, false}));
        QCOMPARE(plan.tensorsToWrite, uint64_t(2));
        QCOMPARE(QString::fromStdString(describeProblems(plan, 5)),
                 QStringLiteral("LoRA tensors that could not be paired (1): ") + name +
                     (why.startsWith(u"kohya")
                          ? QStringLiteral(" (kohya lora_down/lora_up names are not a supported scheme)")
                          : QStringLiteral(" (no supported naming scheme pairs them)")));
    }

    void notLoraMarkers_data() {
        QTest::addColumn<QString>("name");
        for (const char* n : {"model.lora_alpha_table", "model.layers.0.attention.q_lora_rank",
                              "model.xlora_a_scale", "model.layers.0.linear_q_down_proj.weight",
                              "model.lora_bias", "model.lora_upsample.weight", "glora_b.weight"})
            QTest::newRow(n) << QString::fromLatin1(n);
    }
    void notLoraMarkers() {
        QFETCH(QString, name);
        QVERIFY(!hasLoraMarker(name.toStdString()));
        std::vector<SourceTensor> tensors{tensor(name.toStdString(), {4, 16})};
        const auto plan = planLora(tensors);
        QVERIFY(plan.pairs.empty());
        QCOMPARE(plan.dropped, std::vector<bool>{false});
    }

    // DoRA (PEFT use_dora: lora_magnitude_vector beside A/B) is refused, never merged as plain LoRA.
    // PEFT DoRA: the magnitude m [out] beside A/B makes a DoRA pair (Merge.cpp rescales each row).
    void doraPairs_data() {
        QTest::addColumn<QString>("stem");
        QTest::addColumn<QString>("aSuffix");
        QTest::addColumn<QString>("bSuffix");
        QTest::addColumn<QString>("magnitude");
        QTest::newRow("peft saved") << "base_model.model.model.layers.0.self_attn.q_proj"
                                    << ".lora_A.weight"
                                    << ".lora_B.weight"
                                    << ".lora_magnitude_vector";
        QTest::newRow("peft in memory") << "model.layers.0.self_attn.q_proj"
                                        << ".lora_A.default.weight"
                                        << ".lora_B.default.weight"
                                        << ".lora_magnitude_vector.default.weight";
        QTest::newRow("mcore") << "decoder.layers.0.self_attention.linear_proj"
                               << ".lora_A.weight"
                               << ".lora_B.weight"
                               << ".lora_magnitude_vector";
    }
    void doraPairs() {
        QFETCH(QString, stem);
        QFETCH(QString, aSuffix);
        QFETCH(QString, bSuffix);
        QFETCH(QString, magnitude);
        const auto s = stem.toStdString();
        const std::string base = (s.starts_with("base_model.model.") ? s.substr(17) : s) + ".weight";
        auto tensors = layer(base, s + aSuffix.toStdString(), s + bSuffix.toStdString());
        tensors.push_back(tensor(s + magnitude.toStdString(), {32}));
        const auto plan = planLora(tensors);
        QCOMPARE(plan.pairs.size(), size_t(1));
        QCOMPARE(plan.okPairs, size_t(1));
        QCOMPARE(plan.pairs[0].status, PairStatus::Ok);
        QCOMPARE(QString::fromStdString(plan.pairs[0].magnitude), stem + magnitude);
        QCOMPARE(plan.pairs[0].magnitudeDims, (std::vector<int64_t>{32}));
        QCOMPARE(QString::fromStdString(pairNotes(plan.pairs[0])),
                 QStringLiteral("DoRA (magnitude ") + stem + magnitude + QStringLiteral(")"));
        QCOMPARE(plan.pairs[0].base, base);
        QCOMPARE(plan.pairOfTensor, (std::vector<int>{0, 0, 0, 0}));
        QCOMPARE(plan.dropped, (std::vector<bool>{false, true, true, true}));
    }

    // DoRA that cannot be merged exactly is refused with the reason.
    void doraRefusals_data() {
        QTest::addColumn<int>("variant");
        QTest::addColumn<QString>("problem");
        const auto dora = [](const char* why) {
            return QStringLiteral("DoRA adapter (q.lora_magnitude_vector beside A/B): ") +
                   QString::fromUtf8(why);
        };
        QTest::newRow("magnitude-length") << 0
                                          << dora(
                                                 "the magnitude is [16] but the base has 32 output rows; "
                                                 "expected [32]");
        QTest::newRow("magnitude-2d") << 1
                                      << dora(
                                             "the magnitude is [32,1] but the base has 32 output rows; "
                                             "expected [32]");
        QTest::newRow("magnitude-int") << 2 << dora("the magnitude has type Int32; expected floating point");
        QTest::newRow("transposed-base")
            << 3
            << dora(
                   "the base [16,32] is stored [in, out], where the DoRA norm of each output row runs down a "
                   "column; only [out, in] bases are supported");
    }
    void doraRefusals() {
        QFETCH(int, variant);
        QFETCH(QString, problem);
        auto tensors = layer("q.weight", "q.lora_A.weight", "q.lora_B.weight");
        const std::vector<SourceTensor> magnitudes{
            tensor("q.lora_magnitude_vector", {16}), tensor("q.lora_magnitude_vector", {32, 1}),
            tensor("q.lora_magnitude_vector", {32}, "Int32"), tensor("q.lora_magnitude_vector", {16})};
        if (variant == 3) tensors[0] = tensor("q.weight", {16, 32});
        tensors.push_back(magnitudes[size_t(variant)]);
        const auto plan = planLora(tensors);
        QCOMPARE(plan.problemPairs, size_t(1));
        QCOMPARE(QString::fromStdString(plan.pairs[0].problem), problem);
        QCOMPARE(plan.dropped, (std::vector<bool>{false, true, true, true}));
    }

    // MoE grouped LoRA (MindFormers GroupedMLPWithLoRA): `<w>_lora_a`/`_lora_b` on the expert weight
    // `<w>` itself; the shapes decide A·B or B·A and whether the base holds the transpose.
    void groupedLora_data() {
        QTest::addColumn<QList<qlonglong>>("baseDims");
        QTest::addColumn<QList<qlonglong>>("aDims");
        QTest::addColumn<QList<qlonglong>>("bDims");
        QTest::addColumn<bool>("aLeft");
        QTest::addColumn<bool>("transposed");
        QTest::addColumn<int>("rank");
        QTest::addColumn<int>("rows");
        QTest::addColumn<int>("cols");
        using L = QList<qlonglong>;
        // GroupedMLP stores [E,in,out]: weight1 [E,H,F] with A [E,H,r], B [E,r,F] (the interop fixture).
        QTest::newRow("A·B [E,in,out]")
            << L{4, 32, 64} << L{4, 32, 4} << L{4, 4, 64} << true << false << 4 << 32 << 64;
        QTest::newRow("A·B weight2") << L{4, 64, 32} << L{4, 64, 4} << L{4, 4, 32} << true << false << 4 << 64
                                     << 32;
        QTest::newRow("A·B on [E,out,in]")
            << L{4, 64, 32} << L{4, 32, 4} << L{4, 4, 64} << true << true << 4 << 32 << 64;
        // The per-expert Linear layout: W [E,out,in], A [E,r,in], B [E,out,r].
        QTest::newRow("B·A [E,out,in]")
            << L{2, 24, 16} << L{2, 8, 16} << L{2, 24, 8} << false << false << 8 << 24 << 16;
        QTest::newRow("B·A on [E,in,out]")
            << L{2, 16, 24} << L{2, 8, 16} << L{2, 24, 8} << false << true << 8 << 24 << 16;
        QTest::newRow("square experts")
            << L{3, 16, 16} << L{3, 16, 4} << L{3, 4, 16} << true << false << 4 << 16 << 16;
        QTest::newRow("one expert") << L{1, 8, 12} << L{1, 8, 2} << L{1, 2, 12} << true << false << 2 << 8
                                    << 12;
    }
    void groupedLora() {
        QFETCH(QList<qlonglong>, baseDims);
        QFETCH(QList<qlonglong>, aDims);
        QFETCH(QList<qlonglong>, bDims);
        QFETCH(bool, aLeft);
        QFETCH(bool, transposed);
        QFETCH(int, rank);
        QFETCH(int, rows);
        QFETCH(int, cols);
        const auto dims = [](const QList<qlonglong>& l) { return std::vector<int64_t>(l.begin(), l.end()); };
        const std::string w = "decoder.layers.0.mlp.experts.weight1";
        std::vector<SourceTensor> tensors{
            tensor(w, dims(baseDims), "BFloat16"), tensor(w + "_lora_a", dims(aDims), "BFloat16"),
            tensor(w + "_lora_b", dims(bDims), "BFloat16"), tensor("adam_m." + w + "_lora_a", dims(aDims))};
        const auto plan = planLora(tensors);
        QCOMPARE(plan.pairs.size(), size_t(1));
        const auto& pair = plan.pairs[0];
        QVERIFY2(pair.status == PairStatus::Ok, pair.problem.c_str());
        QCOMPARE(pair.base, w);
        QCOMPARE(pair.scheme, std::string("_lora_a"));
        QCOMPARE(pair.experts, int64_t(baseDims[0]));
        QCOMPARE(pair.aLeft, aLeft);
        QCOMPARE(pair.transposed, transposed);
        QCOMPARE(pair.rank, int64_t(rank));
        QCOMPARE(deltaRows(pair), int64_t(rows));
        QCOMPARE(deltaCols(pair), int64_t(cols));
        QCOMPARE(pairNotes(pair), std::to_string(baseDims[0]) + " experts, " + (aLeft ? "A·B" : "B·A"));
        QCOMPARE(plan.dropped, (std::vector<bool>{false, true, true, true}));
        QCOMPARE(plan.roles, (std::vector<TensorRole>{TensorRole::Base, TensorRole::LoraA, TensorRole::LoraB,
                                                      TensorRole::OptimizerState}));
    }

    void groupedLoraProblems_data() {
        QTest::addColumn<QList<qlonglong>>("baseDims");
        QTest::addColumn<QList<qlonglong>>("aDims");
        QTest::addColumn<QList<qlonglong>>("bDims");
        QTest::addColumn<QString>("problem");
        using L = QList<qlonglong>;
        QTest::newRow("in == out == r")
            << L{2, 4, 4} << L{2, 4, 4} << L{2, 4, 4}
            << "ambiguous grouped LoRA: the shapes fit both A·B (A [E,in,r], B "
               "[E,r,out]) and B·A (A [E,r,in], B [E,out,r]) (A [2,4,4], B [2,4,4], "
               "base [2,4,4]), so which product was trained cannot be told";
        QTest::newRow("expert count")
            << L{4, 32, 64} << L{2, 32, 4} << L{2, 4, 64}
            << "expert count mismatch: the base has 4 experts but A has 2 and B 2 (A "
               "[2,32,4], B [2,4,64], base [4,32,64])";
        QTest::newRow("fits nothing")
            << L{4, 32, 64} << L{4, 32, 4} << L{4, 4, 48}
            << "shape mismatch: grouped LoRA fits neither A·B (A [E,in,r], B [E,r,out]) "
               "nor B·A (A [E,r,in], B [E,out,r]) on the base (A [4,32,4], B [4,4,48], "
               "base [4,32,64])";
        QTest::newRow("2-D base")
            << L{32, 64} << L{4, 32, 4} << L{4, 4, 64}
            << "grouped LoRA needs a 3-D expert weight [E, ·, ·] (A [4,32,4], B [4,4,64], "
               "base [32,64])";
        QTest::newRow("A 3-D, B 2-D") << L{4, 32, 64} << L{4, 32, 4} << L{4, 64}
                                      << "LoRA A is [4,32,4] and B is [4,64]; both must be 2-D (A [r, in], B "
                                         "[out, r]) or both 3-D (grouped experts)";
    }
    void groupedLoraProblems() {
        QFETCH(QList<qlonglong>, baseDims);
        QFETCH(QList<qlonglong>, aDims);
        QFETCH(QList<qlonglong>, bDims);
        QFETCH(QString, problem);
        const auto dims = [](const QList<qlonglong>& l) { return std::vector<int64_t>(l.begin(), l.end()); };
        std::vector<SourceTensor> tensors{tensor("e.weight2", dims(baseDims)),
                                          tensor("e.weight2_lora_a", dims(aDims)),
                                          tensor("e.weight2_lora_b", dims(bDims))};
        const auto plan = planLora(tensors);
        QCOMPARE(plan.problemPairs, size_t(1));
        QCOMPARE(QString::fromStdString(plan.pairs[0].problem), problem);
        QCOMPARE(plan.dropped, (std::vector<bool>{false, true, true}));
    }

    // PEFT lora_bias: lora_B's bias adds to the base bias with its LoRA pair's scaling.
    void loraBiasPairs_data() {
        QTest::addColumn<QString>("stem");
        QTest::addColumn<QString>("weightSuffix");
        QTest::addColumn<QString>("biasSuffix");
        QTest::addColumn<QString>("aSuffix");
        QTest::addColumn<QString>("bSuffix");
        QTest::addColumn<QString>("loraBias");
        QTest::newRow("saved") << "m.q_proj"
                               << ".weight"
                               << ".bias"
                               << ".lora_A.weight"
                               << ".lora_B.weight"
                               << ".lora_B.bias";
        QTest::newRow("in memory") << "m.q_proj"
                                   << ".base_layer.weight"
                                   << ".base_layer.bias"
                                   << ".lora_A.default.weight"
                                   << ".lora_B.default.weight"
                                   << ".lora_B.default.bias";
    }
    void loraBiasPairs() {
        QFETCH(QString, stem);
        QFETCH(QString, weightSuffix);
        QFETCH(QString, biasSuffix);
        QFETCH(QString, aSuffix);
        QFETCH(QString, bSuffix);
        QFETCH(QString, loraBias);
        const auto st = stem.toStdString();
        auto tensors =
            layer(st + weightSuffix.toStdString(), st + aSuffix.toStdString(), st + bSuffix.toStdString());
        tensors.insert(tensors.begin() + 1, tensor(st + biasSuffix.toStdString(), {32}));
        tensors.push_back(tensor(st + loraBias.toStdString(), {32}));
        const auto plan = planLora(tensors);
        QCOMPARE(plan.pairs.size(), size_t(2));
        QCOMPARE(plan.okPairs, size_t(2));
        const auto& bias = plan.pairs[1];
        QCOMPARE(bias.kind, PairKind::Bias);
        QCOMPARE(bias.base, st + biasSuffix.toStdString());
        QCOMPARE(bias.b, st + loraBias.toStdString());
        QCOMPARE(bias.loraOf, st + weightSuffix.toStdString());
        QCOMPARE(bias.rank, int64_t(4));
        QCOMPARE(deltaRows(bias), int64_t(32));
        QCOMPARE(deltaCols(bias), int64_t(1));
        QCOMPARE(pairNotes(bias), "LoRA bias (scaling of " + st + weightSuffix.toStdString() + ")");
        QCOMPARE(pairNotes(plan.pairs[0]), std::string());
        QCOMPARE(plan.dropped, (std::vector<bool>{false, false, true, true, true}));
        QCOMPARE(plan.pairOfTensor, (std::vector<int>{0, 1, 0, 0, 1}));
    }

    void loraBiasProblems_data() {
        QTest::addColumn<int>("variant");
        QTest::addColumn<QString>("problem");
        QTest::newRow("no base bias") << 0 << "base weight m.q.bias not found";
        QTest::newRow("length") << 1
                                << "shape mismatch: LoRA bias m.q.lora_B.bias is [16] but the base is [32]";
        QTest::newRow("no LoRA pair") << 2
                                      << "LoRA bias m.q.lora_B.bias has no LoRA A/B pair beside it, so its "
                                         "scaling is unknown";
        QTest::newRow("LoRA pair broken") << 3 << "its LoRA pair on m.q.weight cannot be merged";
    }
    void loraBiasProblems() {
        QFETCH(int, variant);
        QFETCH(QString, problem);
        auto tensors = layer("m.q.weight", "m.q.lora_A.weight", "m.q.lora_B.weight");
        tensors.push_back(tensor("m.q.bias", {32}));
        tensors.push_back(tensor("m.q.lora_B.bias", {32}));
        if (variant == 0) tensors.erase(tensors.begin() + 3);
        if (variant == 1) tensors.back() = tensor("m.q.lora_B.bias", {16});
        if (variant == 2) tensors.erase(tensors.begin() + 1, tensors.begin() + 3);
        if (variant == 3) tensors[1] = tensor("m.q.lora_A.weight", {4, 24});
        const auto plan = planLora(tensors);
        const auto it = std::find_if(plan.pairs.begin(), plan.pairs.end(),
                                     [](const LoraPair& p) { return p.kind == PairKind::Bias; });
        QVERIFY(it != plan.pairs.end());
        QCOMPARE(it->status, PairStatus::Problem);
        QCOMPARE(QString::fromStdString(it->problem), problem);
    }

    // PEFT modules_to_save: the trained copy replaces its module's tensor.
    void modulesToSave_data() {
        QTest::addColumn<QString>("base");
        QTest::addColumn<QString>("copy");
        QTest::newRow("beside the weight") << "lm_head.weight"
                                           << "lm_head.modules_to_save.default.weight";
        QTest::newRow("original_module") << "score.original_module.weight"
                                         << "score.modules_to_save.default.weight";
        QTest::newRow("peft prefix") << "model.embed_tokens.weight"
                                     << "base_model.model.model.embed_tokens.modules_to_save.chat.weight";
        QTest::newRow("bias") << "score.bias"
                              << "score.modules_to_save.default.bias";
    }
    void modulesToSave() {
        QFETCH(QString, base);
        QFETCH(QString, copy);
        std::vector<SourceTensor> tensors{tensor(base.toStdString(), {8, 4}, "BFloat16"),
                                          tensor(copy.toStdString(), {8, 4}, "Float32"),
                                          tensor("adam_m." + copy.toStdString(), {8, 4})};
        const auto plan = planLora(tensors);
        QCOMPARE(plan.pairs.size(), size_t(1));
        QCOMPARE(plan.pairs[0].status, PairStatus::Ok);
        QCOMPARE(plan.pairs[0].kind, PairKind::Replace);
        QCOMPARE(QString::fromStdString(plan.pairs[0].base), base);
        QCOMPARE(QString::fromStdString(plan.pairs[0].a), copy);
        QCOMPARE(pairNotes(plan.pairs[0]), std::string("modules_to_save: replaces the base"));
        QCOMPARE(plan.dropped, (std::vector<bool>{false, true, true}));
    }

    void modulesToSaveProblems_data() {
        QTest::addColumn<int>("variant");
        QTest::addColumn<QString>("problem");
        QTest::newRow("shape")
            << 0
            << "shape mismatch: modules_to_save tensor head.modules_to_save.default.weight "
               "is [8,5] but the base is [8,4]";
        QTest::newRow("types")
            << 1
            << "modules_to_save tensor head.modules_to_save.default.weight has type Int32 and "
               "the base Float32; the types must match";
        QTest::newRow("no base") << 2 << "base weight head.weight not found";
        QTest::newRow("LoRA too") << 3 << "two adapters on one base weight (2 LoRA pairs target head.weight)";
    }
    void modulesToSaveProblems() {
        QFETCH(int, variant);
        QFETCH(QString, problem);
        std::vector<SourceTensor> tensors{tensor("head.weight", {8, 4}),
                                          tensor("head.modules_to_save.default.weight", {8, 4})};
        if (variant == 0) tensors[1] = tensor("head.modules_to_save.default.weight", {8, 5});
        if (variant == 1) tensors[1] = tensor("head.modules_to_save.default.weight", {8, 4}, "Int32");
        if (variant == 2) tensors[0] = tensor("body.weight", {8, 4});
        if (variant == 3) {
            tensors.push_back(tensor("head.lora_A.weight", {2, 4}));
            tensors.push_back(tensor("head.lora_B.weight", {8, 2}));
        }
        const auto plan = planLora(tensors);
        const auto it = std::find_if(plan.pairs.begin(), plan.pairs.end(),
                                     [](const LoraPair& p) { return p.kind == PairKind::Replace; });
        QVERIFY(it != plan.pairs.end());
        QCOMPARE(it->status, PairStatus::Problem);
        QCOMPARE(QString::fromStdString(it->problem), problem);
    }

    void describeProblemsListsUnpairedFirst() {
        std::vector<SourceTensor> tensors{
            tensor("x.wq.weight", {32, 16}), tensor("x.wq.mindpet_delta_lora_a", {4, 24}),
            tensor("x.wq.mindpet_delta_lora_b", {32, 4}), tensor("x.wk.lora_down.weight", {4, 16}),
            tensor("x.wk.lora_up.weight", {32, 4})};
        const auto plan = planLora(tensors);
        QCOMPARE(plan.problemPairs, size_t(3));
        QCOMPARE(describeProblems(plan, 5),
                 std::string(
                     "LoRA tensors that could not be paired (2): x.wk.lora_down.weight, x.wk.lora_up.weight "
                     "(kohya lora_down/lora_up names are not a supported scheme); x.wq.weight: shape "
                     "mismatch: B·A is [32,24] (B [32,4], A [4,24]) but the base weight is [32,16]"));
        QCOMPARE(describeProblems(plan, 0),
                 std::string(
                     "LoRA tensors that could not be paired (2): x.wk.lora_down.weight, x.wk.lora_up.weight "
                     "(kohya lora_down/lora_up names are not a supported scheme); ..."));
    }

    void pairsFollowBaseOrder() {
        auto tensors = layer("b.weight", "b.lora_a", "b.lora_b");
        for (auto& t : layer("a.weight", "a.lora_a", "a.lora_b")) tensors.push_back(t);
        const auto plan = planLora(tensors);
        QCOMPARE(plan.pairs[0].base, std::string("b.weight"));
        QCOMPARE(plan.pairs[1].base, std::string("a.weight"));
    }
};

QTEST_GUILESS_MAIN(TestLoraPlan)
#include "tst_loraplan.moc"
