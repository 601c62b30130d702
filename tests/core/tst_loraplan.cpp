// The LoRA planner (spec §5): pairing by every naming scheme, optimizer copies, shape checks, problems.
#include "lms/LoraPlan.h"

#include <QtTest>

using namespace lms;

namespace {

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
    void pairsEveryNamingScheme_data() {
        QTest::addColumn<QString>("base");
        QTest::addColumn<QString>("a");
        QTest::addColumn<QString>("b");
        QTest::addColumn<QString>("scheme");
        QTest::newRow("mindpet") << "m.l0.wq.weight" << "m.l0.wq.mindpet_delta_lora_a" << "m.l0.wq.mindpet_delta_lora_b" << "mindpet_delta";
        QTest::newRow("mindpet-upper") << "m.l0.wq.weight" << "m.l0.wq.mindpet_delta_lora_A" << "m.l0.wq.mindpet_delta_lora_B" << "mindpet_delta";
        QTest::newRow("tk-legacy") << "m.l0.wq.weight" << "m.l0.wq.tk_delta_lora_a" << "m.l0.wq.tk_delta_lora_b" << "tk_delta";
        QTest::newRow("mcore") << "m.l0.linear_qkv.weight" << "m.l0.linear_qkv.lora_A.weight" << "m.l0.linear_qkv.lora_B.weight" << "lora_A.weight";
        QTest::newRow("slora") << "m.l0.wq.weight" << "m.l0.wq.lora_a" << "m.l0.wq.lora_b" << ".lora_a";
        QTest::newRow("digit-names") << "0.w1.weight" << "0.w1.lora_A.weight" << "0.w1.lora_B.weight" << "lora_A.weight";
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
        QCOMPARE(plan.roles, (std::vector<TensorRole>{TensorRole::Base, TensorRole::LoraA, TensorRole::LoraB, TensorRole::Other}));
        QCOMPARE(plan.dropped, (std::vector<bool>{false, true, true, false}));
        QCOMPARE(plan.pairOfTensor, (std::vector<int>{0, 0, 0, -1}));
        QCOMPARE(plan.bytesToWrite, uint64_t(32 * 16 * 4 + 4));
        QCOMPARE(plan.tensorsToWrite, uint64_t(2));
    }

    void optimizerCopiesAreDroppedWithTheirLora_data() {
        QTest::addColumn<QString>("prefix");
        for (const char* p : {"adam_m.", "adam_v.", "exp_avg.", "exp_avg_sq.", "max_exp_avg_sq.", "moments.", "accu_grads."})
            QTest::newRow(p) << QString::fromLatin1(p);
    }
    void optimizerCopiesAreDroppedWithTheirLora() {
        QFETCH(QString, prefix);
        auto tensors = layer("x.wq.weight", "x.wq.mindpet_delta_lora_a", "x.wq.mindpet_delta_lora_b");
        tensors.push_back(tensor(prefix.toStdString() + "x.wq.mindpet_delta_lora_a", {4, 16}));
        tensors.push_back(tensor(prefix.toStdString() + "x.wq.weight", {32, 16}));  // a base's state is kept
        const auto plan = planLora(tensors);
        QCOMPARE(plan.pairs.size(), size_t(1));
        QCOMPARE(plan.okPairs, size_t(1));
        QCOMPARE(plan.roles[3], TensorRole::OptimizerState);
        QCOMPARE(plan.roles[4], TensorRole::OptimizerState);
        QVERIFY(plan.dropped[3]);
        QVERIFY(!plan.dropped[4]);
    }

    void transposedBaseByShape() {
        std::vector<SourceTensor> tensors{tensor("w2.weight", {16, 32}), tensor("w2.lora_A.weight", {4, 16}),
                                          tensor("w2.lora_B.weight", {32, 4})};
        const auto plan = planLora(tensors);
        QCOMPARE(plan.pairs[0].status, PairStatus::Ok);
        QVERIFY(plan.pairs[0].transposed);
    }

    void squareBaseFollowsTheOption() {
        std::vector<SourceTensor> tensors{tensor("q.weight", {16, 16}), tensor("q.lora_a", {4, 16}), tensor("q.lora_b", {16, 4})};
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
        std::vector<SourceTensor> tensors{tensor("x.wq.weight", {32, 16}), tensor("x.wq.mindpet_delta_lora_a", {4, 16}),
                                          tensor("x.wq.mindpet_delta_lora_b", {32, 4})};
        switch (variant) {
        case 0: tensors.erase(tensors.begin() + 2); break;
        case 1: tensors.erase(tensors.begin() + 1); break;
        case 2: tensors.erase(tensors.begin()); break;
        case 3: tensors[1] = tensor("x.wq.mindpet_delta_lora_a", {4, 24}); break;
        case 4: tensors[2] = tensor("x.wq.mindpet_delta_lora_b", {32, 8}); break;
        case 5: tensors[1] = tensor("x.wq.mindpet_delta_lora_a", {4, 16, 1}); break;
        case 6: tensors[0] = tensor("x.wq.weight", {32, 16}, "Int32"); break;
        }
        // A healthy second pair must stay ok.
        for (auto& t : layer("y.wk.weight", "y.wk.mindpet_delta_lora_a", "y.wk.mindpet_delta_lora_b")) tensors.push_back(t);
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
        std::vector<SourceTensor> tensors{tensor("x.wq.weight", {32, 16}), tensor("x.wq.mindpet_delta_lora_a", {4, 16}),
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
        std::vector<SourceTensor> tensors{tensor("m.linear_q_down_proj.weight", {16, 32}), tensor("m.lora_alpha_table", {4}),
                                          tensor("adam_m.m.linear_q_down_proj.weight", {16, 32})};
        const auto plan = planLora(tensors);
        QVERIFY(plan.pairs.empty());
        QCOMPARE(plan.dropped, (std::vector<bool>{false, false, false}));
        QCOMPARE(plan.roles[2], TensorRole::OptimizerState);
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
