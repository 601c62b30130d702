// The merge engine: numerics (float32 / bf16 / fp16, transposed), scaling, the streaming run with
// its refusals, cancel and verification, and that inputs never change.
#include "TestSupport.h"
#include "lms/formats/ShardFolder.h"
#include "lms/formats/Strategy.h"
#include "lms/merge/Job.h"
#include "lms/merge/Merge.h"
#include "lms/merge/MergeStages.h"
#include "lms/merge/Verify.h"

#include <QTemporaryDir>
#include <QtTest>
#include <cmath>

using namespace lms;
using namespace lms::test;

namespace {

// Reference W + s·(B·A) in double, rounded once to the base dtype through float32.
std::vector<float> reference(const std::vector<float>& w, const std::vector<float>& a,
                             const std::vector<float>& b, int64_t out, int64_t in, int64_t r, double s,
                             bool transposed) {
    std::vector<float> result(w.size());
    for (int64_t i = 0; i < out; ++i)
        for (int64_t j = 0; j < in; ++j) {
            double delta = 0;
            for (int64_t k = 0; k < r; ++k)
                delta += double(b[size_t(i * r + k)]) * double(a[size_t(k * in + j)]);
            const size_t index = transposed ? size_t(j * out + i) : size_t(i * in + j);
            result[index] = float(double(w[index]) + s * delta);
        }
    return result;
}

// A grouped (or matrix) pair's W + s·delta in float64 from the stored values, per expert e:
// delta[e] = L[e]·R[e] with L = A, R = B when aLeft (A·B), else L = B, R = A; the base holds the
// delta, or its transpose when `transposed`.
std::vector<double> groupedReference(const std::vector<float>& w, const std::vector<float>& a,
                                     const std::vector<float>& b, int64_t experts, int64_t rows, int64_t cols,
                                     int64_t r, bool aLeft, bool transposed, double s) {
    const auto& left = aLeft ? a : b;
    const auto& right = aLeft ? b : a;
    std::vector<double> result(w.begin(), w.end());
    for (int64_t e = 0; e < experts; ++e)
        for (int64_t i = 0; i < rows; ++i)
            for (int64_t j = 0; j < cols; ++j) {
                double delta = 0;
                for (int64_t k = 0; k < r; ++k)
                    delta += double(left[size_t((e * rows + i) * r + k)]) *
                             double(right[size_t((e * r + k) * cols + j)]);
                const size_t index = size_t(e * rows * cols + (transposed ? j * rows + i : i * cols + j));
                result[index] += s * delta;
            }
    return result;
}

// Distance in units in the last place between two encoded values of a 16-bit type.
int ulpDistance16(uint16_t x, uint16_t y) {
    auto key = [](uint16_t v) { return (v & 0x8000) ? -int(v & 0x7FFF) : int(v); };
    return std::abs(key(x) - key(y));
}

struct Model {
    std::vector<FakeTensor> tensors;
    std::vector<float> w, a, b;
};

// base [out,in] (or [in,out] when transposed) with a rank-r MindPet pair, an Adam copy and scalars.
Model makeModel(const std::string& baseType, int64_t out, int64_t in, int64_t r, bool transposed) {
    Model m;
    const auto dtype = dtypeFromTensorType(baseType);
    m.w = randomValues(size_t(out * in), 1);
    m.a = randomValues(size_t(r * in), 2);
    m.b = randomValues(size_t(out * r), 3);
    // Round the base to its dtype so the reference starts from the stored values.
    m.w = bytesToFloats(dtype, floatBytes(dtype, m.w));
    const std::vector<int64_t> baseDims =
        transposed ? std::vector<int64_t>{in, out} : std::vector<int64_t>{out, in};
    m.tensors = {
        {"model.embedding", "Float32", {4, 2}, floatBytes(DType::Float32, randomValues(8, 9))},
        {"model.l0.wq.weight", baseType, baseDims, floatBytes(dtype, m.w)},
        {"model.l0.wq.mindpet_delta_lora_a", "Float32", {r, in}, floatBytes(DType::Float32, m.a)},
        {"model.l0.wq.mindpet_delta_lora_b", "Float32", {out, r}, floatBytes(DType::Float32, m.b)},
        {"global_step", "Int32", {1}, std::vector<std::byte>(4, std::byte{7})},
        {"adam_m.model.l0.wq.mindpet_delta_lora_a", "Float32", {r, in}, floatBytes(DType::Float32, m.a)},
        {"epoch_num", "Int64", {}, std::vector<std::byte>(8, std::byte{1})},
    };
    return m;
}

}  // namespace

class TestMerge : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    std::filesystem::path dir() const { return tmp_.path().toStdString(); }

private slots:
    // As MindFormers' --lora_scaling (Python float(): whitespace, a leading sign) plus ALPHA/RANK with
    // a positive integer rank; never a non-finite scaling.
    void parseScaling_data() {
        QTest::addColumn<QString>("text");
        QTest::addColumn<double>("expected");
        QTest::addColumn<QString>("message");  // empty when accepted
        QTest::newRow("fraction") << "16/8" << 2.0 << "";
        QTest::newRow("number") << "0.5" << 0.5 << "";
        QTest::newRow("spaces") << " 32 / 16 " << 2.0 << "";
        QTest::newRow("tabs and newline") << "\t2\n" << 2.0 << "";
        QTest::newRow("integer") << "4" << 4.0 << "";
        QTest::newRow("leading plus") << "+2" << 2.0 << "";
        QTest::newRow("plus on both") << "+16/+8" << 2.0 << "";
        QTest::newRow("exponent") << "1e-3" << 0.001 << "";
        QTest::newRow("no integer part") << ".5" << 0.5 << "";
        QTest::newRow("negative: subtracts the adapter") << "-0.5" << -0.5 << "";
        QTest::newRow("negative alpha") << "-16/8" << -2.0 << "";
        QTest::newRow("rank written 8.0") << "16/8.0" << 2.0 << "";
        QTest::newRow("zero-rank") << "16/0" << 0.0 << "the rank in '16/0' must be a positive integer";
        QTest::newRow("negative rank") << "16/-8" << 0.0 << "the rank in '16/-8' must be a positive integer";
        QTest::newRow("fractional rank")
            << "16/8.5" << 0.0 << "the rank in '16/8.5' must be a positive integer";
        QTest::newRow("quotient overflows")
            << "1e308/1e-308" << 0.0 << "'1e308/1e-308' overflows: the scaling must be a finite number";
        QTest::newRow("inf") << "inf" << 0.0 << "'inf' is not a finite number";
        QTest::newRow("-inf") << "-inf" << 0.0 << "'-inf' is not a finite number";
        QTest::newRow("nan") << "nan" << 0.0 << "'nan' is not a finite number";
        QTest::newRow("overflows to inf") << "1e999" << 0.0 << "'1e999' is not a finite number";
        QTest::newRow("inf alpha") << "inf/8" << 0.0 << "'inf/8' is not a finite number";
        QTest::newRow("words") << "alpha/rank" << 0.0
                               << "expected a number or alpha/rank such as 16/8, got 'alpha/rank'";
        QTest::newRow("empty") << "" << 0.0 << "not a number: ''";
        QTest::newRow("sign only") << "+" << 0.0 << "not a number: '+'";
        QTest::newRow("two signs") << "+-2" << 0.0 << "not a number: '+-2'";
        QTest::newRow("trailing") << "2x" << 0.0 << "not a number: '2x'";
    }
    void parseScaling() {
        QFETCH(QString, text);
        QFETCH(double, expected);
        QFETCH(QString, message);
        auto value = parseScalingText(text.toStdString());
        QCOMPARE(value.has_value(), message.isEmpty());
        if (value) {
            QCOMPARE(*value, expected);
        } else {
            QCOMPARE(QString::fromStdString(value.error().message), message);
            QCOMPARE(value.error().parameter, std::string("lora_scaling"));
        }
    }

    void parseRank_data() {
        QTest::addColumn<QString>("text");
        QTest::addColumn<double>("expected");  // 0: refused
        QTest::newRow("8") << "8" << 8.0;
        QTest::newRow("+8") << "+8" << 8.0;
        QTest::newRow("8.0") << "8.0" << 8.0;
        QTest::newRow("8.5") << "8.5" << 0.0;
        QTest::newRow("0") << "0" << 0.0;
        QTest::newRow("-4") << "-4" << 0.0;
        QTest::newRow("inf") << "inf" << 0.0;
        QTest::newRow("16/8") << "16/8" << 0.0;
    }
    void parseRank() {
        QFETCH(QString, text);
        QFETCH(double, expected);
        auto value = parseLoraRank(text.toStdString());
        QCOMPARE(value.has_value(), expected > 0);
        if (value)
            QCOMPARE(*value, expected);
        else
            QCOMPARE(value.error().message, "expected a positive integer, got " + text.toStdString());
    }

    void scalingSpec() {
        ScalingSpec none;
        auto missing = none.scalingFor(8);
        QVERIFY(!missing);
        QVERIFY(missing.error().message.find("lora_alpha / lora_rank") != std::string::npos);
        ScalingSpec alphaOnly;
        alphaOnly.alpha = 16;
        QCOMPARE(*alphaOnly.scalingFor(8), 2.0);  // rank from the shapes
        QCOMPARE(*alphaOnly.scalingFor(4), 4.0);
        alphaOnly.rank = 32;
        QCOMPARE(*alphaOnly.scalingFor(8), 0.5);  // explicit rank wins
        ScalingSpec direct;
        direct.scaling = 1.5;
        QCOMPARE(*direct.scalingFor(99), 1.5);
    }

    // Hand-computed: W = [[1,2],[3,4]], A = [[1,0]], B = [[1],[2]], s = 0.5 -> W + 0.5*[[1,0],[2,0]].
    void handComputedFloat32() {
        auto w = floatBytes(DType::Float32, {1, 2, 3, 4});
        const auto a = floatBytes(DType::Float32, {1, 0});
        const auto b = floatBytes(DType::Float32, {1, 2});
        QVERIFY(
            mergePairInPlace(w, DType::Float32, 2, 2, false, a, DType::Float32, b, DType::Float32, 1, 0.5));
        QCOMPARE(bytesToFloats(DType::Float32, w), (std::vector<float>{1.5f, 2, 4, 4}));
        auto wt = floatBytes(DType::Float32, {1, 2, 3, 4});
        QVERIFY(
            mergePairInPlace(wt, DType::Float32, 2, 2, true, a, DType::Float32, b, DType::Float32, 1, 0.5));
        QCOMPARE(bytesToFloats(DType::Float32, wt), (std::vector<float>{1.5f, 3, 3, 4}));
    }

    void numericsAgainstReference_data() {
        QTest::addColumn<QString>("baseType");
        QTest::addColumn<bool>("transposed");
        QTest::addColumn<int>("out");
        QTest::addColumn<int>("in");
        for (const char* type : {"Float32", "BFloat16", "Float16", "Float64"})
            for (bool t : {false, true}) {
                const auto name = std::string(type) + (t ? "-transposed" : "");
                QTest::newRow(name.c_str())
                    << QString::fromLatin1(type) << t << 300 << 70;  // crosses the 256-row block
            }
    }
    void numericsAgainstReference() {
        QFETCH(QString, baseType);
        QFETCH(bool, transposed);
        QFETCH(int, out);
        QFETCH(int, in);
        const auto dtype = dtypeFromTensorType(baseType.toStdString());
        const int64_t r = 8;
        const double s = 16.0 / 8.0;
        auto m = makeModel(baseType.toStdString(), out, in, r, transposed);
        auto bytes = m.tensors[1].content;
        QVERIFY(mergePairInPlace(bytes, dtype, out, in, transposed, m.tensors[2].content, DType::Float32,
                                 m.tensors[3].content, DType::Float32, r, s));
        const auto expected = reference(m.w, m.a, m.b, out, in, r, s, transposed);
        const auto expectedBytes = floatBytes(dtype, expected);
        if (dtype == DType::BFloat16 || dtype == DType::Float16) {
            for (size_t i = 0; i < expected.size(); ++i) {
                uint16_t got, want;
                std::memcpy(&got, bytes.data() + 2 * i, 2);
                std::memcpy(&want, expectedBytes.data() + 2 * i, 2);
                QVERIFY2(ulpDistance16(got, want) <= 1, qPrintable(QStringLiteral("%1: got %2 want %3 (w %4)")
                                                                       .arg(i)
                                                                       .arg(got, 0, 16)
                                                                       .arg(want, 0, 16)
                                                                       .arg(m.w[i])));
            }
        } else {
            const auto got = dtype == DType::Float64 ? std::vector<float>() : bytesToFloats(dtype, bytes);
            for (size_t i = 0; i < expected.size(); ++i) {
                double value;
                if (dtype == DType::Float64)
                    std::memcpy(&value, bytes.data() + 8 * i, 8);
                else
                    value = got[i];
                QVERIFY(std::abs(value - double(expected[i])) <= 1e-5 * (1 + std::abs(double(expected[i]))));
            }
        }
    }

    // Grouped MoE LoRA by hand, s = 0.5, E = 2: A [2,2,1] = {[1;2], [0;1]}, B [2,1,3] = {[1 0 -1], [2 2 2]},
    // so A·B = {[[1,0,-1],[2,0,-2]], [[0,0,0],[2,2,2]]}; the same numbers as B [2,2,1], A [2,1,3] are B·A.
    void groupedHandComputed_data() {
        QTest::addColumn<bool>("swapNames");
        QTest::addColumn<bool>("transposed");
        QTest::addColumn<QList<float>>("expected");
        using L = QList<float>;
        QTest::newRow("A·B [E,in,out]") << false << false << L{1.5f, 1, 0.5f, 2, 1, 0, 0, 1, 2, 4, 5, 6};
        QTest::newRow("B·A [E,out,in]") << true << false << L{1.5f, 1, 0.5f, 2, 1, 0, 0, 1, 2, 4, 5, 6};
        QTest::newRow("A·B on [E,out,in]") << false << true << L{1.5f, 2, 1, 1, 0.5f, 0, 0, 2, 2, 4, 4, 6};
    }
    void groupedHandComputed() {
        QFETCH(bool, swapNames);
        QFETCH(bool, transposed);
        QFETCH(QList<float>, expected);
        const std::vector<float> w{1, 1, 1, 1, 1, 1, 0, 1, 2, 3, 4, 5};
        const std::vector<float> left{1, 2, 0, 1}, right{1, 0, -1, 2, 2, 2};
        const std::vector<int64_t> leftDims{2, 2, 1}, rightDims{2, 1, 3};
        const std::vector<int64_t> baseDims =
            transposed ? std::vector<int64_t>{2, 3, 2} : std::vector<int64_t>{2, 2, 3};
        SourceTensor base{}, a{}, b{};
        base.name = "experts.weight1";
        base.dims = baseDims;
        a.name = "experts.weight1_lora_a";
        a.dims = swapNames ? rightDims : leftDims;
        b.name = "experts.weight1_lora_b";
        b.dims = swapNames ? leftDims : rightDims;
        for (auto* t : {&base, &a, &b}) {
            t->typeName = "Float32";
            t->dtype = DType::Float32;
        }
        const auto plan = planLora({base, a, b});
        QCOMPARE(plan.okPairs, size_t(1));
        QCOMPARE(plan.pairs[0].aLeft, !swapNames);
        QCOMPARE(plan.pairs[0].transposed, transposed);
        auto bytes = floatBytes(DType::Float32, w);
        const auto aBytes = floatBytes(DType::Float32, swapNames ? right : left);
        const auto bBytes = floatBytes(DType::Float32, swapNames ? left : right);
        QVERIFY(mergeLoraPairInPlace(bytes, DType::Float32, plan.pairs[0], aBytes, DType::Float32, bBytes,
                                     DType::Float32, 0.5));
        QCOMPARE(bytesToFloats(DType::Float32, bytes), std::vector<float>(expected.begin(), expected.end()));
    }

    // Grouped LoRA against a float64 reference, every layout, BF16 (within 1 ulp) and Float32 bases.
    void groupedAgainstReference_data() {
        QTest::addColumn<QString>("baseType");
        QTest::addColumn<bool>("aLeft");
        QTest::addColumn<bool>("transposed");
        for (const char* type : {"BFloat16", "Float32", "Float16"})
            for (bool aLeft : {true, false})
                for (bool t : {false, true})
                    QTest::newRow(qPrintable(QStringLiteral("%1 %2%3").arg(
                        QLatin1String(type), aLeft ? QStringLiteral("A·B") : QStringLiteral("B·A"),
                        t ? QStringLiteral(" transposed") : QString())))
                        << QString::fromLatin1(type) << aLeft << t;
    }
    void groupedAgainstReference() {
        QFETCH(QString, baseType);
        QFETCH(bool, aLeft);
        QFETCH(bool, transposed);
        const auto dtype = dtypeFromTensorType(baseType.toStdString());
        const int64_t experts = 3, rows = 300, cols = 40, r = 4;  // 300 stored rows cross the 256-row block
        const double s = 2.0;
        auto w = bytesToFloats(dtype, floatBytes(dtype, randomValues(size_t(experts * rows * cols), 11)));
        const auto left = randomValues(size_t(experts * rows * r), 12);
        const auto right = randomValues(size_t(experts * r * cols), 13);
        const auto& a = aLeft ? left : right;
        const auto& b = aLeft ? right : left;
        LoraPair pair;
        pair.experts = experts;
        pair.aLeft = aLeft;
        pair.transposed = transposed;
        pair.rank = r;
        pair.baseDims = transposed ? std::vector<int64_t>{experts, cols, rows}
                                   : std::vector<int64_t>{experts, rows, cols};
        pair.aDims = aLeft ? std::vector<int64_t>{experts, rows, r} : std::vector<int64_t>{experts, r, cols};
        pair.bDims = aLeft ? std::vector<int64_t>{experts, r, cols} : std::vector<int64_t>{experts, rows, r};
        auto bytes = floatBytes(dtype, w);
        QVERIFY(mergeLoraPairInPlace(bytes, dtype, pair, floatBytes(DType::Float32, a), DType::Float32,
                                     floatBytes(DType::Float32, b), DType::Float32, s));
        const auto expected = groupedReference(w, a, b, experts, rows, cols, r, aLeft, transposed, s);
        const auto got = bytesToFloats(dtype, bytes);
        for (size_t i = 0; i < expected.size(); ++i) {
            if (dtype == DType::Float32) {
                QVERIFY2(
                    std::abs(double(got[i]) - expected[i]) <= 1e-6 * (1 + std::abs(expected[i])),
                    qPrintable(QStringLiteral("%1: got %2 want %3").arg(i).arg(got[i]).arg(expected[i])));
                continue;
            }
            const auto want = floatBytes(dtype, {float(expected[i])});
            uint16_t g, e;
            std::memcpy(&g, bytes.data() + 2 * i, 2);
            std::memcpy(&e, want.data(), 2);
            QVERIFY2(ulpDistance16(g, e) <= 1,
                     qPrintable(QStringLiteral("%1: got %2 want %3").arg(i).arg(got[i]).arg(expected[i])));
        }
    }

    // DoRA by hand (s = 1): W = [[3, 0], [0, 1]], A = [[1, 0]], B = [[1], [0]] -> W + B·A = [[4, 0], [0, 1]];
    // row norms 4 and 1, m = [2, 3] -> [[2, 0], [0, 3]]. A second case: W = [[1, 2], [2, 1]], s = 0.5,
    // A = [[2, 0]], B = [[1], [1]] -> [[2, 2], [3, 1]], norms √8 and √10, m = [1, 1].
    void doraHandComputed() {
        LoraPair pair;
        pair.rank = 1;
        pair.baseDims = {2, 2};
        pair.aDims = {1, 2};
        pair.bDims = {2, 1};
        pair.magnitude = "m";
        pair.magnitudeDims = {2};
        auto w = floatBytes(DType::Float32, {3, 0, 0, 1});
        QVERIFY(mergeLoraPairInPlace(w, DType::Float32, pair, floatBytes(DType::Float32, {1, 0}),
                                     DType::Float32, floatBytes(DType::Float32, {1, 0}), DType::Float32, 1.0,
                                     floatBytes(DType::Float32, {2, 3}), DType::Float32));
        QCOMPARE(bytesToFloats(DType::Float32, w), (std::vector<float>{2, 0, 0, 3}));
        auto w2 = floatBytes(DType::Float64, {1, 2, 2, 1});
        QVERIFY(mergeLoraPairInPlace(w2, DType::Float64, pair, floatBytes(DType::Float32, {2, 0}),
                                     DType::Float32, floatBytes(DType::Float32, {1, 1}), DType::Float32, 0.5,
                                     floatBytes(DType::BFloat16, {1, 1}), DType::BFloat16));
        std::vector<double> got(4);
        std::memcpy(got.data(), w2.data(), 32);
        QCOMPARE(got, (std::vector<double>{2 / std::sqrt(8.0), 2 / std::sqrt(8.0), 3 / std::sqrt(10.0),
                                           1 / std::sqrt(10.0)}));
        // A row that merges to all zeros has no norm: refused, not divided by zero.
        auto zero = floatBytes(DType::Float32, {-1, 0, 0, 1});
        const auto st =
            mergeLoraPairInPlace(zero, DType::Float32, pair, floatBytes(DType::Float32, {1, 0}),
                                 DType::Float32, floatBytes(DType::Float32, {1, 0}), DType::Float32, 1.0,
                                 floatBytes(DType::Float32, {2, 3}), DType::Float32);
        QVERIFY(!st);
        QCOMPARE(st.error().message, std::string("DoRA: row 0 of W + s·B·A has norm 0"));
    }

    void refusesWrongSizes() {
        auto w = floatBytes(DType::Float32, {1, 2, 3, 4});
        const auto a = floatBytes(DType::Float32, {1, 0, 0});
        const auto b = floatBytes(DType::Float32, {1, 2});
        const auto st =
            mergePairInPlace(w, DType::Float32, 2, 2, false, a, DType::Float32, b, DType::Float32, 1, 1);
        QVERIFY(!st);
        QCOMPARE(st.error().code, ErrorCode::Mismatch);
    }

    void fullRun() {
        auto m = makeModel("BFloat16", 40, 24, 4, false);
        const auto input = dir() / "fullRun" / "model.ckpt";
        writeCheckpoint(input, m.tensors);
        const auto before = treeDigest(input.parent_path());
        auto source = openFullSource(input);
        QVERIFY(source);
        MergeOptions options;
        options.progressInterval = {};  // every report: the test acts on a given parameter
        options.outputFile = dir() / "fullRun-out" / "rank_0" / "checkpoint_0.ckpt";
        options.scaling.scaling = 2.0;
        options.verify = true;
        std::vector<std::string> seen;
        auto report = runMerge(**source, options, [&](const Progress& p) {
            if (!p.currentItem.empty()) seen.push_back(p.currentItem);
        });
        QVERIFY2(report, report ? "" : report.error().describe().c_str());
        QCOMPARE(report->pairsMerged, size_t(1));
        QCOMPARE(report->tensorsWritten, size_t(4));
        QCOMPARE(report->tensorsDropped, size_t(3));
        QCOMPARE(seen, (std::vector<std::string>{"model.embedding", "model.l0.wq.weight", "global_step",
                                                 "epoch_num"}));
        QCOMPARE(treeDigest(input.parent_path()), before);  // the input is untouched
        QCOMPARE(listFiles(dir() / "fullRun-out"), std::vector<std::string>{"rank_0/checkpoint_0.ckpt"});

        auto out = CheckpointFile::open(options.outputFile);
        QVERIFY(out);
        std::vector<std::string> names;
        for (const auto& t : (*out)->tensors()) names.push_back(t.name);
        QCOMPARE(names, (std::vector<std::string>{"model.embedding", "model.l0.wq.weight", "global_step",
                                                  "epoch_num"}));
        // Untouched parameters are byte-identical records.
        auto in = CheckpointFile::open(input);
        const auto inBytes = readFileBytes(input), outBytes = readFileBytes(options.outputFile);
        for (const char* name : {"model.embedding", "global_step", "epoch_num"}) {
            const auto& ri = (*in)->find(name)->records[0];
            const auto& ro = (*out)->find(name)->records[0];
            QCOMPARE(ri.length, ro.length);
            QVERIFY(std::equal(inBytes.begin() + long(ri.offset),
                               inBytes.begin() + long(ri.offset + ri.length),
                               outBytes.begin() + long(ro.offset)));
        }
        const auto merged = *(*out)->readTensor(*(*out)->find("model.l0.wq.weight"));
        const auto expected = floatBytes(DType::BFloat16, reference(m.w, m.a, m.b, 40, 24, 4, 2.0, false));
        QCOMPARE((*out)->find("model.l0.wq.weight")->typeName, std::string("BFloat16"));
        for (size_t i = 0; i < expected.size() / 2; ++i) {
            uint16_t got, want;
            std::memcpy(&got, merged.data() + 2 * i, 2);
            std::memcpy(&want, expected.data() + 2 * i, 2);
            QVERIFY(ulpDistance16(got, want) <= 1);
        }
    }

    // Small stream blocks split every tensor into many row blocks: results must not change.
    void streamsInRowBlocks_data() {
        QTest::addColumn<int>("blockBytes");
        QTest::addColumn<bool>("transposed");
        for (int bytes : {1, 100, 1000, 1 << 20})
            for (bool t : {false, true})
                QTest::newRow(qPrintable(
                    QStringLiteral("%1%2").arg(bytes).arg(t ? QStringLiteral("-transposed") : QString())))
                    << bytes << t;
    }
    void streamsInRowBlocks() {
        QFETCH(int, blockBytes);
        QFETCH(bool, transposed);
        auto m = makeModel("Float32", 40, 24, 4, transposed);
        const auto input = dir() / "blocks" / "model.ckpt";
        writeCheckpoint(input, m.tensors);
        auto source = openFullSource(input);
        MergeOptions options;
        options.outputFile = dir() / "blocks-out" / "b.ckpt";
        options.scaling.scaling = 0.5;
        options.streamBlockBytes = uint64_t(blockBytes);
        options.verify = true;
        std::filesystem::remove_all(dir() / "blocks-out");
        auto report = runMerge(**source, options);
        QVERIFY2(report, report ? "" : report.error().describe().c_str());
        auto out = CheckpointFile::open(options.outputFile);
        const auto got =
            bytesToFloats(DType::Float32, *(*out)->readTensor(*(*out)->find("model.l0.wq.weight")));
        const auto want = reference(m.w, m.a, m.b, 40, 24, 4, 0.5, transposed);
        for (size_t i = 0; i < want.size(); ++i)
            QVERIFY(std::abs(got[i] - want[i]) <= 1e-5f * (1 + std::abs(want[i])));
        QCOMPARE(*(*out)->readTensor(*(*out)->find("model.embedding")), m.tensors[0].content);
    }

    // A grouped MoE pair (both layouts) and a DoRA pair through the streaming run, one row (= one
    // expert) per block, verified before publishing; then verification must catch outputs that
    // lack the grouped delta or the DoRA rescale.
    void streamsGroupedAndDora_data() {
        QTest::addColumn<bool>("aLeft");
        QTest::addColumn<int>("blockBytes");
        QTest::newRow("A·B one expert per block") << true << 1;
        QTest::newRow("B·A one expert per block") << false << 1;
        QTest::newRow("A·B whole") << true << (1 << 20);
    }
    void streamsGroupedAndDora() {
        QFETCH(bool, aLeft);
        QFETCH(int, blockBytes);
        const int64_t E = 3, rows = 40, cols = 24, r = 4;
        const auto w = randomValues(size_t(E * rows * cols), 21);
        const auto left = randomValues(size_t(E * rows * r), 22),
                   right = randomValues(size_t(E * r * cols), 23);
        const auto& a = aLeft ? left : right;
        const auto& b = aLeft ? right : left;
        const auto q = randomValues(20 * 16, 24), qa = randomValues(4 * 16, 25),
                   qb = randomValues(20 * 4, 26);
        auto m = randomValues(20, 27);
        for (auto& v : m) v += 2;  // magnitudes are norms: positive
        const std::vector<int64_t> aDims =
            aLeft ? std::vector<int64_t>{E, rows, r} : std::vector<int64_t>{E, r, cols};
        const std::vector<int64_t> bDims =
            aLeft ? std::vector<int64_t>{E, r, cols} : std::vector<int64_t>{E, rows, r};
        std::vector<FakeTensor> tensors{
            {"experts.weight1", "Float32", {E, rows, cols}, floatBytes(DType::Float32, w)},
            {"experts.weight1_lora_a", "Float32", aDims, floatBytes(DType::Float32, a)},
            {"experts.weight1_lora_b", "Float32", bDims, floatBytes(DType::Float32, b)},
            {"q.weight", "Float32", {20, 16}, floatBytes(DType::Float32, q)},
            {"q.lora_A.weight", "Float32", {4, 16}, floatBytes(DType::Float32, qa)},
            {"q.lora_B.weight", "Float32", {20, 4}, floatBytes(DType::Float32, qb)},
            {"q.lora_magnitude_vector", "Float32", {20}, floatBytes(DType::Float32, m)}};
        const auto input = dir() / "grouped" / "model.ckpt";
        writeCheckpoint(input, tensors);
        const auto before = treeDigest(input.parent_path());
        auto source = openFullSource(input);
        QVERIFY(source);
        MergeOptions options;
        options.outputFile = dir() / "grouped-out" / "g.ckpt";
        options.scaling.scaling = 2.0;
        options.streamBlockBytes = uint64_t(blockBytes);
        options.verify = true;
        std::filesystem::remove_all(dir() / "grouped-out");
        auto report = runMerge(**source, options);
        QVERIFY2(report, report ? "" : report.error().describe().c_str());
        QCOMPARE(report->pairsMerged, size_t(2));
        QCOMPARE(report->tensorsWritten, size_t(2));
        QCOMPARE(treeDigest(input.parent_path()), before);
        auto out = CheckpointFile::open(options.outputFile);
        QVERIFY(out);
        const auto experts =
            bytesToFloats(DType::Float32, *(*out)->readTensor(*(*out)->find("experts.weight1")));
        const auto want = groupedReference(w, a, b, E, rows, cols, r, aLeft, false, 2.0);
        for (size_t i = 0; i < want.size(); ++i)
            QVERIFY(std::abs(experts[i] - want[i]) <= 1e-6 * (1 + std::abs(want[i])));
        // DoRA in float64: m[i]·v / ‖v‖ for each row v of W + s·B·A.
        const auto qGot = bytesToFloats(DType::Float32, *(*out)->readTensor(*(*out)->find("q.weight")));
        const auto plain = groupedReference(q, qa, qb, 1, 20, 16, 4, false, false, 2.0);
        for (int i = 0; i < 20; ++i) {
            double norm = 0;
            for (int j = 0; j < 16; ++j) norm += plain[size_t(i * 16 + j)] * plain[size_t(i * 16 + j)];
            norm = std::sqrt(norm);
            for (int j = 0; j < 16; ++j) {
                const float expected = float(double(m[size_t(i)]) * plain[size_t(i * 16 + j)] / norm);
                QCOMPARE(qGot[size_t(i * 16 + j)], expected);  // rounded once from float64
            }
        }

        // Outputs that verification must refuse: the expert weight without its delta, and q merged
        // as plain LoRA (no DoRA rescale).
        for (int wrong = 0; wrong < 2; ++wrong) {
            std::vector<FakeTensor> outTensors{tensors[0], tensors[3]};
            if (wrong == 1) {
                outTensors[0].content = floatBytes(DType::Float32, experts);
                std::vector<float> lora(plain.begin(), plain.end());
                outTensors[1].content = floatBytes(DType::Float32, lora);
            }
            const auto bad = dir() / "grouped-bad" / ("bad" + std::to_string(wrong) + ".ckpt");
            writeCheckpoint(bad, outTensors);
            const auto verdict = verifyMergedFile(bad, **source, options);
            QVERIFY(!verdict);
            QCOMPARE(verdict.error().parameter, std::string(wrong == 0 ? "experts.weight1" : "q.weight"));
            QVERIFY2(verdict.error().message.starts_with(wrong == 0 ? "verification failed at ["
                                                                    : "verification failed at ["),
                     verdict.error().message.c_str());
        }
    }

    // PEFT lora_bias and modules_to_save through the streaming run: the base bias gains s·b (with
    // its LoRA pair's scaling), the modules_to_save copy replaces its base (converted from BF16 to
    // the base's Float32 exactly, and kept byte for byte when the dtypes match).
    void streamsLoraBiasAndModulesToSave_data() {
        QTest::addColumn<int>("blockBytes");
        QTest::newRow("row blocks") << 8;
        QTest::newRow("whole") << (1 << 20);
    }
    void streamsLoraBiasAndModulesToSave() {
        QFETCH(int, blockBytes);
        const auto w = randomValues(20 * 16, 31), qa = randomValues(4 * 16, 32),
                   qb = randomValues(20 * 4, 33);
        const auto bias = randomValues(20, 34), loraBias = randomValues(20, 35);
        const auto head = randomValues(10 * 16, 36);
        const auto headCopy =
            bytesToFloats(DType::BFloat16, floatBytes(DType::BFloat16, randomValues(10 * 16, 37)));
        const auto scoreCopy = floatBytes(DType::Float16, randomValues(6, 38));
        std::vector<FakeTensor> tensors{
            {"m.q_proj.weight", "Float32", {20, 16}, floatBytes(DType::Float32, w)},
            {"m.q_proj.bias", "Float32", {20}, floatBytes(DType::Float32, bias)},
            {"m.q_proj.lora_A.weight", "Float32", {4, 16}, floatBytes(DType::Float32, qa)},
            {"m.q_proj.lora_B.weight", "Float32", {20, 4}, floatBytes(DType::Float32, qb)},
            {"m.q_proj.lora_B.bias", "Float32", {20}, floatBytes(DType::Float32, loraBias)},
            {"lm_head.weight", "Float32", {10, 16}, floatBytes(DType::Float32, head)},
            {"lm_head.modules_to_save.default.weight",
             "BFloat16",
             {10, 16},
             floatBytes(DType::BFloat16, headCopy)},
            {"score.weight", "Float16", {6}, floatBytes(DType::Float16, randomValues(6, 39))},
            {"score.modules_to_save.default.weight", "Float16", {6}, scoreCopy}};
        const auto input = dir() / "extras" / "model.ckpt";
        writeCheckpoint(input, tensors);
        auto source = openFullSource(input);
        QVERIFY(source);
        MergeOptions options;
        options.outputFile = dir() / "extras-out" / "x.ckpt";
        options.scaling.scaling = 0.5;
        options.streamBlockBytes = uint64_t(blockBytes);
        options.verify = true;
        std::filesystem::remove_all(dir() / "extras-out");
        auto report = runMerge(**source, options);
        QVERIFY2(report, report ? "" : report.error().describe().c_str());
        QCOMPARE(report->pairsMerged, size_t(4));
        auto out = CheckpointFile::open(options.outputFile);
        QVERIFY(out);
        std::vector<std::string> names;
        for (const auto& t : (*out)->tensors()) names.push_back(t.name);
        QCOMPARE(names, (std::vector<std::string>{"m.q_proj.weight", "m.q_proj.bias", "lm_head.weight",
                                                  "score.weight"}));
        const auto gotBias =
            bytesToFloats(DType::Float32, *(*out)->readTensor(*(*out)->find("m.q_proj.bias")));
        for (size_t i = 0; i < 20; ++i)
            QCOMPARE(gotBias[i], float(double(bias[i]) + 0.5 * double(loraBias[i])));
        QCOMPARE(bytesToFloats(DType::Float32, *(*out)->readTensor(*(*out)->find("lm_head.weight"))),
                 headCopy);
        QCOMPARE(*(*out)->readTensor(*(*out)->find("score.weight")), scoreCopy);
        const auto gotW =
            bytesToFloats(DType::Float32, *(*out)->readTensor(*(*out)->find("m.q_proj.weight")));
        const auto want = reference(w, qa, qb, 20, 16, 4, 0.5, false);
        for (size_t i = 0; i < want.size(); ++i)
            QVERIFY(std::abs(gotW[i] - want[i]) <= 1e-5f * (1 + std::abs(want[i])));

        // Verification refuses an output whose bias lacks s·b, or whose head is the base's.
        for (int wrong = 0; wrong < 2; ++wrong) {
            std::vector<FakeTensor> outTensors{tensors[0], tensors[1], tensors[5], tensors[7]};
            outTensors[0].content = floatBytes(DType::Float32, gotW);
            if (wrong == 1) outTensors[1].content = floatBytes(DType::Float32, gotBias);
            outTensors[3].content = scoreCopy;
            const auto bad = dir() / "extras-bad" / ("bad" + std::to_string(wrong) + ".ckpt");
            writeCheckpoint(bad, outTensors);
            const auto verdict = verifyMergedFile(bad, **source, options);
            QVERIFY(!verdict);
            QCOMPARE(verdict.error().parameter, std::string(wrong == 0 ? "m.q_proj.bias" : "lm_head.weight"));
        }
    }

    // Re-sharding into 2 ranks (rows split for the merged weight, columns split for the embedding),
    // with stream blocks small enough that slices are assembled from several row blocks.
    void reshardsIntoRankFiles_data() {
        QTest::addColumn<int>("blockBytes");
        QTest::addColumn<bool>("safetensors");
        QTest::newRow("blocks-ckpt") << 64 << false;
        QTest::newRow("whole-ckpt") << (1 << 20) << false;
        QTest::newRow("blocks-safetensors") << 64 << true;
    }
    void reshardsIntoRankFiles() {
        QFETCH(int, blockBytes);
        QFETCH(bool, safetensors);
        auto m = makeModel("Float32", 40, 24, 4, false);
        const auto input = dir() / "reshard" / "model.ckpt";
        writeCheckpoint(input, m.tensors);
        auto source = openFullSource(input);
        auto strategy = std::make_shared<Strategy>();
        strategy->file = "dst_strategy.ckpt";
        auto layout = [](std::string name, std::vector<std::vector<int32_t>> map) {
            ParamLayout l;
            l.name = std::move(name);
            l.devMatrix = {2};
            l.tensorMap = std::move(map);
            l.stages = {0};
            return l;
        };
        strategy->layouts = {layout("model.l0.wq.weight", {{0}, {}}), layout("model.embedding", {{}, {0}})};
        MergeOptions options;
        options.scaling.scaling = 2;
        options.streamBlockBytes = uint64_t(blockBytes);
        options.verify = true;
        options.format = safetensors ? OutputFormat::Safetensors : OutputFormat::Ckpt;
        const auto outDir = dir() / ("reshard-out-" + std::to_string(blockBytes) + (safetensors ? "st" : ""));
        options.reshard = ReshardSpec{strategy, outDir, "checkpoint_"};
        auto report = runMerge(**source, options);
        QVERIFY2(report, report ? "" : report.error().describe().c_str());
        QCOMPARE(report->outputFiles.size(), size_t(2));
        const char* ext = safetensors ? ".safetensors" : ".ckpt";
        QCOMPARE(listFiles(outDir), (std::vector<std::string>{std::string("rank_0/checkpoint_0") + ext,
                                                              std::string("rank_1/checkpoint_1") + ext}));
        const auto merged = reference(m.w, m.a, m.b, 40, 24, 4, 2.0, false);
        const auto embedding = bytesToFloats(DType::Float32, m.tensors[0].content);  // [4, 2]
        for (int rank = 0; rank < 2; ++rank) {
            auto file = CheckpointFile::open(rankOutputFile(outDir, "checkpoint_", rank, options.format));
            QVERIFY(file);
            QCOMPARE((*file)->tensors().size(), size_t(4));
            const auto* w = (*file)->find("model.l0.wq.weight");
            QCOMPARE(w->dims, (std::vector<int64_t>{20, 24}));
            const auto got = bytesToFloats(DType::Float32, *(*file)->readTensor(*w));
            for (size_t k = 0; k < got.size(); ++k)
                QVERIFY(std::abs(got[k] - merged[size_t(rank) * 20 * 24 + k]) <=
                        1e-5f * (1 + std::abs(got[k])));
            const auto* e = (*file)->find("model.embedding");
            QCOMPARE(e->dims, (std::vector<int64_t>{4, 1}));
            const auto column = bytesToFloats(DType::Float32, *(*file)->readTensor(*e));
            for (size_t row = 0; row < 4; ++row) QCOMPARE(column[row], embedding[row * 2 + size_t(rank)]);
            QCOMPARE((*file)->find("global_step")->dims, std::vector<int64_t>{1});  // no layout: whole
        }
    }

    // Sharded safetensors output: shards as huggingface_hub splits them, each tensor exactly once
    // and merged as in the single file, the index last; nothing is left when a shard exists.
    void shardsTheOutput_data() {
        QTest::addColumn<qulonglong>("limit");
        QTest::addColumn<int>("files");  // shards + index (1: a single model.safetensors)
        QTest::newRow("every tensor its own shard") << 1ull << 5;  // 4 kept tensors + index
        QTest::newRow("weight alone, the rest together") << 1000ull << 3;
        QTest::newRow("everything fits") << 1000000ull << 1;
    }
    void shardsTheOutput() {
        QFETCH(qulonglong, limit);
        QFETCH(int, files);
        auto m = makeModel("Float32", 40, 24, 4, false);
        const auto input = dir() / ("shard-in-" + std::to_string(limit)) / "model.ckpt";
        writeCheckpoint(input, m.tensors);
        auto source = openFullSource(input);
        QVERIFY(source);
        MergeOptions options;
        options.scaling.scaling = 2;
        options.verify = true;
        options.format = OutputFormat::Safetensors;
        options.maxShardBytes = limit;
        const auto outDir = dir() / ("shard-out-" + std::to_string(limit));
        options.outputFile = outDir / "rank_0" / "checkpoint_0.safetensors";
        auto report = runMerge(**source, options);
        QVERIFY2(report, report ? "" : report.error().describe().c_str());
        const auto names = listFiles(outDir);
        QCOMPARE(int(names.size()), files);
        QCOMPARE(report->outputFiles.size(), size_t(files));
        if (files == 1)
            QCOMPARE(names.front(), std::string("rank_0/model.safetensors"));
        else
            QCOMPARE(names.back(), std::string("rank_0/model.safetensors.index.json"));
        auto folder = files == 1 ? openFullSource(outDir / "rank_0" / "model.safetensors")
                                 : openShardFolderSource(outDir / "rank_0");
        QVERIFY2(folder, folder ? "" : folder.error().describe().c_str());
        std::vector<std::string> got;
        for (const auto& t : (*folder)->tensors()) got.push_back(t.name);
        QCOMPARE(got.size(), size_t(4));
        const auto merged = reference(m.w, m.a, m.b, 40, 24, 4, 2.0, false);
        for (size_t i = 0; i < got.size(); ++i) {
            if (got[i] != "model.l0.wq.weight") continue;
            std::vector<std::byte> bytes((*folder)->tensors()[i].byteSize);
            QVERIFY((*folder)->read(i, bytes, nullptr));
            const auto values = bytesToFloats(DType::Float32, bytes);
            for (size_t k = 0; k < values.size(); ++k)
                QVERIFY(std::abs(values[k] - merged[k]) <= 1e-5f * (1 + std::abs(values[k])));
        }
        // A second run without overwrite refuses at publish and leaves the first output as it was.
        const auto before = treeDigest(outDir);
        auto again = runMerge(**source, options);
        QVERIFY(!again);
        QVERIFY2(QString::fromStdString(again.error().message).contains(QStringLiteral("already exists")),
                 again.error().describe().c_str());
        QCOMPARE(treeDigest(outDir), before);
    }

    // A NaN already in a base weight fails the run while streaming, with or without verification,
    // naming the input file, the tensor and the position; nothing is published.
    void nonFiniteBaseIsRefused_data() {
        QTest::addColumn<bool>("verify");
        QTest::newRow("verified") << true;
        QTest::newRow("--no-verify") << false;
    }
    void nonFiniteBaseIsRefused() {
        QFETCH(bool, verify);
        auto m = makeModel("BFloat16", 16, 8, 2, false);
        const auto nanBits =
            std::vector<std::byte>{std::byte{0xC0}, std::byte{0x7F}};  // bf16 NaN, little-endian
        std::copy(nanBits.begin(), nanBits.end(), m.tensors[1].content.begin() + 2 * 37);
        const auto input = dir() / "nan" / "model.ckpt";
        writeCheckpoint(input, m.tensors);
        auto source = openFullSource(input);
        MergeOptions options;
        options.outputFile = dir() / "nan-out" / "n.ckpt";
        options.scaling.scaling = 1;
        options.verify = verify;
        auto report = runMerge(**source, options);
        QVERIFY(!report);
        QCOMPARE(
            report.error().message,
            "base weight model.l0.wq.weight in " + input.string() + " holds NaN at [4, 5]");  // 37 = 4·8 + 5
        QCOMPARE(report.error().file, input.string());
        QCOMPARE(report.error().parameter, std::string("model.l0.wq.weight"));
        QVERIFY(!std::filesystem::exists(dir() / "nan-out"));  // nothing published, no folder left
    }

    void noScalingIsAnError() {
        auto m = makeModel("Float32", 8, 8, 2, false);
        const auto input = dir() / "noScaling" / "model.ckpt";
        writeCheckpoint(input, m.tensors);
        auto source = openFullSource(input);
        MergeOptions options;
        options.outputFile = dir() / "noScaling-out" / "rank_0" / "x.ckpt";
        auto report = runMerge(**source, options);
        QVERIFY(!report);
        QCOMPARE(report.error().code, ErrorCode::InvalidArgument);
        QVERIFY(report.error().message.find("--lora_scaling") != std::string::npos);
        QVERIFY(!std::filesystem::exists(dir() / "noScaling-out"));
    }

    void problemsStopOrAreSkipped() {
        auto m = makeModel("Float32", 8, 8, 2, false);
        m.tensors[3].dims = {8, 3};  // B's rank disagrees with A's
        m.tensors[3].content.resize(8 * 3 * 4);
        const auto input = dir() / "problems" / "model.ckpt";
        writeCheckpoint(input, m.tensors);
        auto source = openFullSource(input);
        MergeOptions options;
        options.outputFile = dir() / "problems-out" / "m.ckpt";
        options.scaling.scaling = 1;
        auto refused = runMerge(**source, options);
        QVERIFY(!refused);
        QVERIFY(refused.error().message.find("rank mismatch") != std::string::npos);
        QVERIFY(refused.error().message.find("--skip-invalid") != std::string::npos);
        QVERIFY(!std::filesystem::exists(dir() / "problems-out"));
        options.skipInvalid = true;
        auto nothingLeft = runMerge(**source, options);  // skipping the only pair would merge nothing
        QVERIFY(!nothingLeft);
        QCOMPARE(nothingLeft.error().message,
                 "none of the 1 LoRA pair(s) in " + input.string() +
                     " can be merged (model.l0.wq.weight: rank "
                     "mismatch: A [2,8] has r=2 but B [8,3] has r=3), so the output would equal the input "
                     "(--allow-no-lora writes it anyway)");
        QVERIFY(!std::filesystem::exists(dir() / "problems-out"));
        options.allowNoLora = true;
        auto report = runMerge(**source, options);
        QVERIFY(report);
        QCOMPARE(report->pairsMerged, size_t(0));
        QCOMPARE(report->skipped.size(), size_t(1));
        auto out = CheckpointFile::open(options.outputFile);
        QVERIFY(out);
        QCOMPARE((*out)->tensors().size(), size_t(4));
        QCOMPARE(*(*out)->readTensor(*(*out)->find("model.l0.wq.weight")),
                 m.tensors[1].content);  // unchanged base
    }

    void cancelLeavesNothing_data() {
        QTest::addColumn<int>("cancelAt");
        for (int i = 0; i < 4; ++i) QTest::newRow(qPrintable(QString::number(i))) << i;
    }
    void cancelLeavesNothing() {
        QFETCH(int, cancelAt);
        auto m = makeModel("Float16", 16, 8, 2, false);
        const auto input = dir() / "cancel" / "model.ckpt";
        writeCheckpoint(input, m.tensors);
        auto source = openFullSource(input);
        MergeOptions options;
        options.progressInterval = {};  // every report: the test acts on a given parameter
        options.outputFile = dir() / "cancel-out" / "rank_0" / "c.ckpt";
        options.scaling.scaling = 1;
        CancelToken token;
        int calls = 0;
        auto report = runMerge(
            **source, options,
            [&](const Progress&) {
                if (calls++ == cancelAt) token.cancel();
            },
            &token);
        QVERIFY(!report);
        QCOMPARE(report.error().code, ErrorCode::Cancelled);
        QVERIFY(!std::filesystem::exists(dir() / "cancel-out"));  // no file, no temp file, no folder
    }

    // The stages one by one: nothing is visible under the final name before the publish stage;
    // a run abandoned after any stage removes its temp file and the folders it created; the
    // stage names and ids reach the progress callback in order.
    void stagesOneByOne_data() {
        QTest::addColumn<int>("stopAfter");  // 0 targets, 1 stream, 2 verify, 3 publish
        QTest::newRow("after targets") << 0;
        QTest::newRow("after stream") << 1;
        QTest::newRow("after verify") << 2;
        QTest::newRow("published") << 3;
    }
    void stagesOneByOne() {
        QFETCH(int, stopAfter);
        auto m = makeModel("Float32", 16, 8, 2, false);
        const auto input = dir() / "stages" / "model.ckpt";
        writeCheckpoint(input, m.tensors);
        auto source = openFullSource(input);
        QVERIFY(source);
        const auto outDir = dir() / ("stages-out-" + std::to_string(stopAfter));
        MergeOptions options;
        options.outputFile = outDir / "rank_0" / "c.ckpt";
        options.scaling.scaling = 2;
        options.verify = true;
        std::vector<std::string> stages;
        ThrottledProgress progress(
            [&](const Progress& p) {
                if (stages.empty() || stages.back() != p.stage) stages.push_back(p.stage);
                QCOMPARE(p.stage, std::string(stageName(p.stageId)));
            },
            std::chrono::milliseconds(0));
        {
            auto run = mergeTargetsStage(**source, options, progress);
            QVERIFY2(run, run ? "" : run.error().describe().c_str());
            QCOMPARE((*run)->targets.size(), size_t(1));
            QCOMPARE((*run)->targets[0].file, options.outputFile);
            QVERIFY(std::filesystem::is_directory(outDir / "rank_0"));  // created for the output
            if (stopAfter >= 1) QVERIFY(mergeStreamStage(**run, progress));
            if (stopAfter >= 1) QCOMPARE((*run)->report.pairsMerged, size_t(1));
            if (stopAfter >= 2) QVERIFY(mergeVerifyStage(**run, progress));
            QVERIFY(!std::filesystem::exists(options.outputFile));  // not visible before publishing
            if (stopAfter >= 3) QVERIFY(mergePublishStage(**run, progress));
        }
        const std::vector<std::string> all{"checking", "merging", "finishing", "verifying", "publishing"};
        const size_t seen[] = {1, 3, 4, 5};
        QCOMPARE(stages, std::vector<std::string>(all.begin(), all.begin() + long(seen[stopAfter])));
        if (stopAfter == 3) {
            QCOMPARE(listFiles(outDir), std::vector<std::string>{"rank_0/c.ckpt"});
            QVERIFY(CheckpointFile::open(options.outputFile));
        } else {
            QVERIFY(!std::filesystem::exists(outDir));  // no temp file, no folder left
        }
    }

    // The targets stage refuses before anything exists on disk.
    void targetsStageRefuses_data() {
        QTest::addColumn<QString>("why");
        QTest::addColumn<QString>("message");
        QTest::newRow("no scaling") << QStringLiteral("scaling") << QStringLiteral("no LoRA scaling given");
        QTest::newRow("into the input") << QStringLiteral("input") << QStringLiteral("overwrite the input");
        QTest::newRow("no output") << QStringLiteral("empty") << QStringLiteral("no output file given");
    }
    void targetsStageRefuses() {
        QFETCH(QString, why);
        QFETCH(QString, message);
        auto m = makeModel("Float32", 8, 8, 2, false);
        const auto input = dir() / "refuse" / "model.ckpt";
        writeCheckpoint(input, m.tensors);
        auto source = openFullSource(input);
        MergeOptions options;
        options.scaling.scaling = 1;
        options.outputFile = dir() / "refuse-out" / "c.ckpt";
        if (why == QStringLiteral("scaling")) options.scaling = {};
        if (why == QStringLiteral("input")) options.outputFile = input;
        if (why == QStringLiteral("empty")) options.outputFile.clear();
        ThrottledProgress progress({});
        auto run = mergeTargetsStage(**source, options, progress);
        QVERIFY(!run);
        QVERIFY2(run.error().message.find(message.toStdString()) != std::string::npos,
                 run.error().message.c_str());
        QVERIFY(!std::filesystem::exists(dir() / "refuse-out"));
        QCOMPARE(listFiles(dir() / "refuse"), std::vector<std::string>{"model.ckpt"});
    }

    void refusesToWriteIntoTheInput() {
        auto m = makeModel("Float32", 8, 8, 2, false);
        const auto input = dir() / "self" / "model.ckpt";
        writeCheckpoint(input, m.tensors);
        const auto before = treeDigest(input.parent_path());
        auto source = openFullSource(input);
        MergeOptions options;
        options.scaling.scaling = 1;
        options.outputFile = input;
        auto sameFile = runMerge(**source, options);
        QVERIFY(!sameFile);
        QVERIFY(sameFile.error().message.find("overwrite the input") != std::string::npos);
        options.outputFile = input.parent_path() / "other.ckpt";
        auto sameFolder = runMerge(**source, options);
        QVERIFY(!sameFolder);
        QVERIFY(sameFolder.error().message.find("holds an input file") != std::string::npos);
        QCOMPARE(treeDigest(input.parent_path()), before);
    }

    // MindSpore and MindPet save bookkeeping records into every file, adapters included: scalars
    // and 1-element records without a LoRA marker are ignored with one note; the base's are written.
    void adapterBookkeepingIsIgnored_data() {
        QTest::addColumn<QString>("records");  // name:type:dims(0 = scalar)
        QTest::newRow("mindspore") << "epoch_num:Int64:0 step_num:Int64:0 global_step:Int32:1";
        QTest::newRow("mindformers")
            << "loss_scale:Float32:0 learning_rate:Float32:1 current_iterator_step:Int32:0 "
               "last_overflow_iterator_step:Int32:0 scale_sense:Float32:0";
        QTest::newRow("none") << "";
    }
    void adapterBookkeepingIsIgnored() {
        QFETCH(QString, records);
        auto m = makeModel("Float32", 8, 6, 2, false);
        std::vector<FakeTensor> base, adapter;
        for (const auto& t : m.tensors)
            (t.name.find("lora") == std::string::npos ? base : adapter).push_back(t);
        std::string listed;
        for (const auto& record : records.split(QLatin1Char(' '), Qt::SkipEmptyParts)) {
            const auto parts = record.split(QLatin1Char(':'));
            const auto type = parts[1].toStdString();
            const auto bytes = size_t(dtypeBits(dtypeFromTensorType(type)) / 8);
            adapter.push_back(
                {parts[0].toStdString(), type,
                 parts[2] == QStringLiteral("0") ? std::vector<int64_t>{} : std::vector<int64_t>{1},
                 std::vector<std::byte>(bytes, std::byte{2})});
            listed += (listed.empty() ? "" : ", ") + parts[0].toStdString();
        }
        const auto folder = dir() / (std::string("bookkeeping-") + QTest::currentDataTag());
        SourceSpec spec;
        spec.src = folder / "base.ckpt";
        spec.adapter = folder / "adapter.ckpt";
        writeCheckpoint(spec.src, base);
        writeCheckpoint(spec.adapter, adapter);
        std::vector<std::string> notes;
        auto source = openSource(spec, &notes);
        QVERIFY2(source, source ? "" : source.error().describe().c_str());
        const auto count = records.split(QLatin1Char(' '), Qt::SkipEmptyParts).size();
        QCOMPARE(notes, count ? std::vector<std::string>{"ignored " + std::to_string(count) +
                                                         " scalar record(s) of the adapter (" + listed +
                                                         "); the base checkpoint's records are written"}
                              : std::vector<std::string>{});
        QCOMPARE((*source)->tensors().size(), base.size() + 3);  // A, B and A's optimizer copy
        MergeOptions options;
        options.outputFile = folder / "out" / "m.ckpt";
        options.scaling.scaling = 2.0;
        auto report = runMerge(**source, options);
        QVERIFY2(report, report ? "" : report.error().describe().c_str());
        QCOMPARE(report->pairsMerged, size_t(1));
        auto out = CheckpointFile::open(options.outputFile);
        QVERIFY(out);
        std::vector<std::string> names;
        for (const auto& t : (*out)->tensors()) names.push_back(t.name);
        QCOMPARE(names, (std::vector<std::string>{"model.embedding", "model.l0.wq.weight", "global_step",
                                                  "epoch_num"}));
        QCOMPARE(*(*out)->readTensor(*(*out)->find("global_step")), base[2].content);  // the base's record
        const auto merged =
            bytesToFloats(DType::Float32, *(*out)->readTensor(*(*out)->find("model.l0.wq.weight")));
        const auto expected = reference(m.w, m.a, m.b, 8, 6, 2, 2.0, false);
        for (size_t i = 0; i < expected.size(); ++i) QVERIFY(std::abs(merged[i] - expected[i]) < 1e-5);
    }

    // Without LoRA a plain copy is refused (the adapter was probably forgotten); converting the
    // format, or --allow-no-lora, writes the model unchanged.
    void noPairsIsRefusedUnlessConverting() {
        const auto input = dir() / "plain" / "model.ckpt";
        writeCheckpoint(input, {{"a", "Float32", {2}, floatBytes(DType::Float32, {1, 2})},
                                {"b", "Int64", {}, std::vector<std::byte>(8)}});
        auto source = openFullSource(input);
        MergeOptions options;
        options.outputFile = dir() / "plain-out" / "p.ckpt";
        auto refused = runMerge(**source, options);
        QVERIFY(!refused);
        QCOMPARE(refused.error().message,
                 "no LoRA weights found in " + input.string() +
                     "; to merge a separate adapter use --adapter (--allow-no-lora copies "
                     "the checkpoint unchanged)");
        QVERIFY(!std::filesystem::exists(options.outputFile.parent_path()));
        options.allowNoLora = true;
        auto report = runMerge(**source, options);  // no scaling needed without pairs
        QVERIFY(report);
        QCOMPARE(report->notes.front(),
                 std::string("no LoRA pairs found: the checkpoint is written without changes"));
        QCOMPARE(readFileBytes(options.outputFile), readFileBytes(input));

        MergeOptions convert;
        convert.format = OutputFormat::Safetensors;
        convert.outputFile = dir() / "plain-st" / "p.safetensors";
        auto converted = runMerge(**source, convert);
        QVERIFY2(converted, converted ? "" : converted.error().message.c_str());
        auto out = CheckpointFile::open(convert.outputFile);
        QVERIFY(out);
        QCOMPARE((*out)->tensors().size(), size_t(2));
        QCOMPARE(*(*out)->readTensor(*(*out)->find("a")), floatBytes(DType::Float32, {1, 2}));
    }
};

QTEST_GUILESS_MAIN(TestMerge)
#include "tst_merge.moc"
