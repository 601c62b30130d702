// LoRA impact (core/lms/analysis/LoraImpact.h) against a float64 reference computed here from the
// full matrices: ‖s·B·A‖/‖W‖, the singular values of B·A (the reference: eigenvalues of the Gram
// matrix of the whole product by cyclic Jacobi rotations; the code: QR of the small factors and an SVD),
// numerical and entropy rank, and the elements a merge leaves unchanged after rounding to the base dtype —
// streamed in blocks of a few rows.
#include "TestSupport.h"
#include "lms/analysis/LoraImpact.h"
#include "lms/merge/Merge.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <algorithm>
#include <cmath>
#include <functional>

using namespace lms;
using lms::test::FakeTensor;
using lms::test::floatBytes;

namespace {

// Row-major dense matrix, enough for the reference.
struct Mat {
    int64_t rows = 0, cols = 0;
    std::vector<double> v;
    Mat(int64_t r, int64_t c) : rows(r), cols(c), v(size_t(r * c), 0.0) {}
    double& operator()(int64_t i, int64_t j) { return v[size_t(i * cols + j)]; }
    double operator()(int64_t i, int64_t j) const { return v[size_t(i * cols + j)]; }
};

Mat multiply(const Mat& x, const Mat& y) {
    Mat out(x.rows, y.cols);
    for (int64_t i = 0; i < x.rows; ++i)
        for (int64_t k = 0; k < x.cols; ++k)
            for (int64_t j = 0; j < y.cols; ++j) out(i, j) += x(i, k) * y(k, j);
    return out;
}

// Eigenvalues of the symmetric matrix `a` by cyclic Jacobi rotations, descending.
std::vector<double> symmetricEigenvalues(Mat a) {
    const int64_t n = a.rows;
    for (int sweep = 0; sweep < 100; ++sweep) {
        double off = 0;
        for (int64_t p = 0; p < n; ++p)
            for (int64_t q = p + 1; q < n; ++q) off += a(p, q) * a(p, q);
        if (off < 1e-300) break;
        for (int64_t p = 0; p < n; ++p)
            for (int64_t q = p + 1; q < n; ++q) {
                if (a(p, q) == 0) continue;
                const double theta = (a(q, q) - a(p, p)) / (2 * a(p, q));
                const double t = (theta >= 0 ? 1 : -1) / (std::abs(theta) + std::sqrt(theta * theta + 1));
                const double c = 1 / std::sqrt(t * t + 1), s = t * c;
                for (int64_t k = 0; k < n; ++k) {  // columns p, q
                    const double akp = a(k, p), akq = a(k, q);
                    a(k, p) = c * akp - s * akq;
                    a(k, q) = s * akp + c * akq;
                }
                for (int64_t k = 0; k < n; ++k) {  // rows p, q
                    const double apk = a(p, k), aqk = a(q, k);
                    a(p, k) = c * apk - s * aqk;
                    a(q, k) = s * apk + c * aqk;
                }
            }
    }
    std::vector<double> out;
    for (int64_t i = 0; i < n; ++i) out.push_back(a(i, i));
    std::sort(out.begin(), out.end(), std::greater<>());
    return out;
}

enum class Kind { Random, Swallow, RankDeficient, ZeroB };

struct Case {
    DType baseType;
    int64_t out, in, r;
    bool transposed;
    double scaling;
    Kind kind;
};

struct Built {
    std::vector<float> w, a, b;  // values as stored (after rounding to their dtype)
};

std::vector<float> rounded(DType type, const std::vector<float>& values) {
    return test::bytesToFloats(type, floatBytes(type, values));
}

Built makeValues(const Case& c) {
    Built v;
    v.w = test::randomValues(size_t(c.out * c.in), 7);
    v.a = test::randomValues(size_t(c.r * c.in), 11);
    v.b = test::randomValues(size_t(c.out * c.r), 13);
    if (c.kind == Kind::Swallow) {
        for (float& x : v.w) x = 1.0f + 0.5f * (x + 1.0f) / 2.0f;  // [1, 1.5): bf16 spacing 2^-7
        for (float& x : v.a) x *= 1e-3f;
        for (float& x : v.b) x *= 1e-3f;
    }
    if (c.kind == Kind::RankDeficient)  // column 2 of B = 2 × column 0: rank r - 1
        for (int64_t i = 0; i < c.out; ++i) v.b[size_t(i * c.r + 2)] = 2.0f * v.b[size_t(i * c.r)];
    if (c.kind == Kind::ZeroB) std::fill(v.b.begin(), v.b.end(), 0.0f);
    v.w = rounded(c.baseType, v.w);
    return v;
}

// The checkpoint on disk: W (stored [in, out] when transposed), A, B in float32.
std::vector<FakeTensor> tensorsOf(const Case& c, const Built& v) {
    const std::string type(tensorTypeName(c.baseType));
    std::vector<int64_t> wDims =
        c.transposed ? std::vector<int64_t>{c.in, c.out} : std::vector<int64_t>{c.out, c.in};
    std::vector<float> stored = v.w;
    if (c.transposed)
        for (int64_t i = 0; i < c.out; ++i)
            for (int64_t j = 0; j < c.in; ++j) stored[size_t(j * c.out + i)] = v.w[size_t(i * c.in + j)];
    return {{"model.layers.3.attention.wq.weight", type, wDims, floatBytes(c.baseType, stored)},
            {"model.layers.3.attention.wq.mindpet_delta_lora_a",
             "Float32",
             {c.r, c.in},
             floatBytes(DType::Float32, v.a)},
            {"model.layers.3.attention.wq.mindpet_delta_lora_b",
             "Float32",
             {c.out, c.r},
             floatBytes(DType::Float32, v.b)}};
}

struct Reference {
    double baseNorm = 0, deltaNorm = 0;
    std::vector<double> sigma;
    uint64_t unchanged = 0;
};

// Float64 throughout; the merged value is rounded to the base dtype once (through float).
Reference reference(const Case& c, const Built& v) {
    Mat a(c.r, c.in), b(c.out, c.r), baT(c.in, c.out);
    std::copy(v.a.begin(), v.a.end(), a.v.begin());
    std::copy(v.b.begin(), v.b.end(), b.v.begin());
    const Mat ba = multiply(b, a);
    Reference ref;
    double w2 = 0, d2 = 0;
    for (float x : v.w) w2 += double(x) * double(x);
    for (double x : ba.v) d2 += x * x;
    ref.baseNorm = std::sqrt(w2);
    ref.deltaNorm = std::abs(c.scaling) * std::sqrt(d2);
    for (int64_t i = 0; i < c.out; ++i)
        for (int64_t j = 0; j < c.in; ++j) baT(j, i) = ba(i, j);
    // σᵢ² are the eigenvalues of (B·A)(B·A)ᵀ [out, out].
    for (double e : symmetricEigenvalues(multiply(ba, baT))) ref.sigma.push_back(std::sqrt(std::max(0.0, e)));
    ref.sigma.resize(size_t(std::min({c.r, c.out, c.in})));
    std::vector<float> merged(size_t(c.out * c.in));
    for (int64_t k = 0; k < c.out * c.in; ++k)
        merged[size_t(k)] = float(double(v.w[size_t(k)]) + c.scaling * ba.v[size_t(k)]);
    const auto mergedStored = rounded(c.baseType, merged);
    for (size_t k = 0; k < merged.size(); ++k) ref.unchanged += mergedStored[k] == v.w[k];
    return ref;
}

// Forwards to a source and records the largest row block asked of each tensor and whole reads.
class RecordingSource final : public ModelSource {
public:
    explicit RecordingSource(const ModelSource& inner) : maxRows(inner.tensors().size(), 0), inner_(inner) {}
    std::string description() const override { return inner_.description(); }
    const std::vector<SourceTensor>& tensors() const override { return inner_.tensors(); }
    Status read(size_t index, std::span<std::byte> out, const CancelToken* cancel) const override {
        wholeReads.push_back(index);
        return inner_.read(index, out, cancel);
    }
    Status readRows(size_t index, int64_t begin, int64_t end, std::span<std::byte> out,
                    const CancelToken* cancel) const override {
        maxRows[index] = std::max(maxRows[index], end - begin);
        return inner_.readRows(index, begin, end, out, cancel);
    }
    std::vector<std::filesystem::path> inputFiles() const override { return inner_.inputFiles(); }
    uint64_t inputBytes() const override { return inner_.inputBytes(); }

    mutable std::vector<int64_t> maxRows;
    mutable std::vector<size_t> wholeReads;

private:
    const ModelSource& inner_;
};

double entropyRank(const std::vector<double>& sigma) {
    double sum = 0, h = 0;
    for (double s : sigma) sum += s;
    if (sum <= 0) return 0;
    for (double s : sigma)
        if (s > 0) h -= s / sum * std::log(s / sum);
    return std::exp(h);
}

}  // namespace

Q_DECLARE_METATYPE(Case)

class TestLoraImpact : public QObject {
    Q_OBJECT
private slots:
    void againstReference_data() {
        QTest::addColumn<Case>("c");
        QTest::addColumn<int>("expectedRank");
        QTest::addColumn<double>("expectedUnchanged");  // fraction; < 0: only the reference count
        QTest::newRow("float32 plain")
            << Case{DType::Float32, 16, 24, 4, false, 0.5, Kind::Random} << 4 << -1.0;
        QTest::newRow("float32 transposed")
            << Case{DType::Float32, 16, 24, 4, true, 0.5, Kind::Random} << 4 << -1.0;
        QTest::newRow("float16 plain")
            << Case{DType::Float16, 12, 20, 3, false, 2.0, Kind::Random} << 3 << -1.0;
        QTest::newRow("bf16 transposed")
            << Case{DType::BFloat16, 10, 18, 2, true, 1.0, Kind::Random} << 2 << -1.0;
        QTest::newRow("bf16 swallows a small adapter")
            << Case{DType::BFloat16, 16, 24, 4, false, 0.1, Kind::Swallow} << 4 << 1.0;
        QTest::newRow("rank-deficient B·A")
            << Case{DType::Float32, 16, 24, 4, false, 1.0, Kind::RankDeficient} << 3 << -1.0;
        QTest::newRow("B = 0 (fresh PEFT adapter)")
            << Case{DType::Float32, 8, 12, 4, true, 2.0, Kind::ZeroB} << 0 << 1.0;
    }
    void againstReference() {
        QFETCH(Case, c);
        QFETCH(int, expectedRank);
        QFETCH(double, expectedUnchanged);
        QTemporaryDir dir;
        const auto path = std::filesystem::path(dir.path().toStdString()) / "m.ckpt";
        const Built v = makeValues(c);
        test::writeCheckpoint(path, tensorsOf(c, v));
        auto source = openFullSource(path);
        QVERIFY(source.has_value());
        const LoraPlan plan = planLora((*source)->tensors());
        QCOMPARE(plan.okPairs, size_t(1));
        QCOMPARE(plan.pairs[0].transposed, c.transposed);

        uint64_t lastBytes = 0, total = 0;
        auto progress = [&](const Progress& p) { lastBytes = p.bytesDone, total = p.bytesTotal; };
        // About two rows per block, so block edges (and A's column slices when transposed) count.
        const uint64_t rowBytes = uint64_t(c.transposed ? c.out : c.in) * (dtypeBits(c.baseType) / 8);
        const RecordingSource recorded(**source);
        auto report = computeLoraImpact(recorded, plan, {c.scaling}, progress, nullptr, 2 * rowBytes + 1);
        QVERIFY2(report.has_value(), report ? "" : report.error().describe().c_str());
        // W is read two rows at a time, never whole; only the small factors are read whole.
        QCOMPARE(recorded.maxRows[0], int64_t(2));
        QCOMPARE(recorded.wholeReads, (std::vector<size_t>{1, 2}));
        QCOMPARE(report->pairs.size(), size_t(1));
        const PairImpact& got = report->pairs[0];
        const Reference ref = reference(c, v);

        QCOMPARE(got.base, std::string("model.layers.3.attention.wq.weight"));
        QCOMPARE(got.layer, 3);
        QCOMPARE(got.rank, c.r);
        QCOMPARE(got.elements, uint64_t(c.out * c.in));
        QCOMPARE(lastBytes, uint64_t(c.out * c.in) * (dtypeBits(c.baseType) / 8));
        QCOMPARE(total, lastBytes);
        QVERIFY(std::abs(got.baseNorm - ref.baseNorm) <= 1e-12 * ref.baseNorm);
        QVERIFY(std::abs(got.deltaNorm - ref.deltaNorm) <= 1e-12 * ref.deltaNorm);
        if (ref.baseNorm > 0) QVERIFY(std::abs(got.relativeNorm - ref.deltaNorm / ref.baseNorm) <= 1e-12);
        QCOMPARE(got.singularValues.size(), size_t(c.r));
        // The non-zero σ agree closely; the reference's zeros are only zero to √ε·σ₁ (σ² rounds),
        // so they are checked through the numerical rank instead.
        const std::vector<double> kept(ref.sigma.begin(), ref.sigma.begin() + expectedRank);
        for (size_t i = 0; i < kept.size(); ++i)
            QVERIFY2(
                std::abs(got.singularValues[i] - kept[i]) <= 1e-9 * kept[0],
                qPrintable(QStringLiteral("σ%1 %2 vs %3").arg(i).arg(got.singularValues[i]).arg(kept[i])));
        QCOMPARE(got.numericalRank, int64_t(expectedRank));
        for (size_t i = kept.size(); i < got.singularValues.size(); ++i)
            QVERIFY(got.singularValues[i] <= report->rankTolerance * got.singularValues[0]);
        QVERIFY(std::abs(got.entropyRank - entropyRank(kept)) <= 1e-6);
        QVERIFY(got.entropyRank <= double(expectedRank) + 1e-9);
        QCOMPARE(got.unchanged, ref.unchanged);
        if (expectedUnchanged >= 0) QCOMPARE(got.unchangedFraction(), expectedUnchanged);
    }

    // Equal singular values: the entropy rank is r exactly; one dominant direction: close to 1.
    void entropyRankValues() {
        // B = I [3,3], A = I [3,3]: σ = 1, 1, 1.
        const std::vector<double> eye{1, 0, 0, 0, 1, 0, 0, 0, 1};
        auto s = productSingularValues(eye, eye, 3, 3, 3);
        QCOMPARE(s.size(), size_t(3));
        for (double v : s) QVERIFY(std::abs(v - 1) < 1e-14);
        // B = diag(4, 2, 1)·(2 × ones): rows of A scale σ to 8, 4, 2 (sorted descending).
        const std::vector<double> b{4, 0, 0, 0, 1, 0, 0, 0, 2};
        const std::vector<double> a{2, 0, 0, 0, 2, 0, 0, 0, 2};
        s = productSingularValues(b, a, 3, 3, 3);
        QVERIFY(std::abs(s[0] - 8) < 1e-13 && std::abs(s[1] - 4) < 1e-13 && std::abs(s[2] - 2) < 1e-13);
        // out < r: B [2, 3], A [3, 4]: at most 2 values.
        s = productSingularValues({1, 0, 0, 0, 1, 0}, std::vector<double>(12, 1.0), 2, 3, 4);
        QCOMPARE(s.size(), size_t(2));
        QVERIFY(std::abs(s[0] - std::sqrt(8.0)) < 1e-13);
    }

    // Errors name the tensor; cancel returns Cancelled; scalings must match the plan.
    void errors_data() {
        QTest::addColumn<QString>("poison");  // which tensor gets a NaN ("" = none)
        QTest::addColumn<bool>("cancel");
        QTest::addColumn<int>("code");
        QTest::addColumn<QString>("parameter");
        QTest::newRow("NaN in W") << QStringLiteral("model.layers.3.attention.wq.weight") << false
                                  << int(ErrorCode::Malformed)
                                  << QStringLiteral("model.layers.3.attention.wq.weight");
        QTest::newRow("NaN in B") << QStringLiteral("model.layers.3.attention.wq.mindpet_delta_lora_b")
                                  << false << int(ErrorCode::Malformed)
                                  << QStringLiteral("model.layers.3.attention.wq.mindpet_delta_lora_b");
        QTest::newRow("cancelled") << QString() << true << int(ErrorCode::Cancelled) << QString();
    }
    void errors() {
        QFETCH(QString, poison);
        QFETCH(bool, cancel);
        QFETCH(int, code);
        QFETCH(QString, parameter);
        const Case c{DType::Float32, 8, 12, 2, false, 1.0, Kind::Random};
        Built v = makeValues(c);
        auto tensors = tensorsOf(c, v);
        for (auto& t : tensors)
            if (QString::fromStdString(t.name) == poison) {
                auto values = test::bytesToFloats(DType::Float32, t.content);
                values[5] = std::numeric_limits<float>::quiet_NaN();
                t.content = floatBytes(DType::Float32, values);
            }
        QTemporaryDir dir;
        const auto path = std::filesystem::path(dir.path().toStdString()) / "m.ckpt";
        test::writeCheckpoint(path, tensors);
        auto source = openFullSource(path);
        QVERIFY(source.has_value());
        const LoraPlan plan = planLora((*source)->tensors());
        CancelToken token;
        if (cancel) token.cancel();
        auto report = computeLoraImpact(**source, plan, {1.0}, {}, &token);
        QVERIFY(!report.has_value());
        QCOMPARE(int(report.error().code), code);
        if (!parameter.isEmpty()) {
            QCOMPARE(QString::fromStdString(report.error().parameter), parameter);
            QVERIFY2(report.error().message.find("NaN") != std::string::npos, report.error().message.c_str());
        }
        auto wrong = computeLoraImpact(**source, plan, {});
        QVERIFY(!wrong.has_value());
        QCOMPARE(wrong.error().message, std::string("one scaling per LoRA pair is needed"));
    }

    // `loramerge impact`: the same numbers through the merge flags (--json), and a bad input as one
    // error line naming the file and the tensor.
    void cli() {
        const Case c{DType::BFloat16, 8, 12, 2, false, 0.5, Kind::Random};
        Built v = makeValues(c);
        QTemporaryDir dir;
        const auto path = std::filesystem::path(dir.path().toStdString()) / "m.ckpt";
        test::writeCheckpoint(path, tensorsOf(c, v));
        auto source = openFullSource(path);
        QVERIFY(source.has_value());
        auto expected = computeLoraImpact(**source, planLora((*source)->tensors()), {0.5});
        QVERIFY(expected.has_value());
        QProcess run;
        const QString in = QString::fromStdString(path.string());
        run.start(test::cliPath(), {QStringLiteral("impact"), in, QStringLiteral("--lora_scaling"),
                                    QStringLiteral("1/2"), QStringLiteral("--json")});
        QVERIFY(run.waitForFinished(60000));
        QCOMPARE(run.exitCode(), 0);
        const QJsonObject root = QJsonDocument::fromJson(run.readAllStandardOutput()).object();
        QCOMPARE(root.value(QStringLiteral("rank_tolerance")).toDouble(), kDefaultRankTolerance);
        const QJsonArray pairs = root.value(QStringLiteral("pairs")).toArray();
        QCOMPARE(pairs.size(), qsizetype(1));
        const QJsonObject p = pairs[0].toObject();
        const PairImpact& e = expected->pairs[0];
        QCOMPARE(p.value(QStringLiteral("base")).toString(), QString::fromStdString(e.base));
        QCOMPARE(p.value(QStringLiteral("dtype")).toString(), QStringLiteral("BFloat16"));
        QCOMPARE(p.value(QStringLiteral("scaling")).toDouble(), 0.5);
        QCOMPARE(p.value(QStringLiteral("relative_norm")).toDouble(), e.relativeNorm);
        QCOMPARE(p.value(QStringLiteral("numerical_rank")).toInt(), 2);
        QCOMPARE(p.value(QStringLiteral("elements")).toInteger(), qint64(96));
        QCOMPARE(p.value(QStringLiteral("unchanged")).toInteger(), qint64(e.unchanged));
        QCOMPARE(p.value(QStringLiteral("singular_values")).toArray().size(), qsizetype(2));

        // No scaling: the merge's own refusal; a NaN in W: the merge's own error.
        run.start(test::cliPath(), {QStringLiteral("impact"), in});
        QVERIFY(run.waitForFinished(60000));
        QCOMPARE(run.exitCode(), 1);
        QVERIFY(QString::fromUtf8(run.readAllStandardError())
                    .startsWith(QStringLiteral(
                                    "loramerge: error: %1: parameter 'lora_scaling': no LoRA scaling given")
                                    .arg(in)));
        auto tensors = tensorsOf(c, v);
        auto w = test::bytesToFloats(DType::BFloat16, tensors[0].content);
        w[17] = std::numeric_limits<float>::quiet_NaN();  // [1, 5]
        tensors[0].content = floatBytes(DType::BFloat16, w);
        test::writeCheckpoint(path, tensors);
        run.start(test::cliPath(),
                  {QStringLiteral("impact"), in, QStringLiteral("--lora_scaling"), QStringLiteral("2")});
        QVERIFY(run.waitForFinished(60000));
        QCOMPARE(run.exitCode(), 1);
        QCOMPARE(QString::fromUtf8(run.readAllStandardError()).trimmed(),
                 QStringLiteral(
                     "loramerge: error: %1: parameter 'model.layers.3.attention.wq.weight': base weight "
                     "model.layers.3.attention.wq.weight in %1 holds NaN at [1, 5]")
                     .arg(in));
    }

    void layers_data() {
        QTest::addColumn<QString>("name");
        QTest::addColumn<int>("layer");
        QTest::newRow("mindformers") << QStringLiteral("model.layers.12.attention.wq.weight") << 12;
        QTest::newRow("peft") << QStringLiteral("base_model.model.model.layers.0.self_attn.q_proj.weight")
                              << 0;
        QTest::newRow("none") << QStringLiteral("lm_head.weight") << -1;
        QTest::newRow("digits inside a word") << QStringLiteral("h2.mlp.w1.weight") << -1;
        QTest::newRow("leading") << QStringLiteral("7.weight") << 7;
    }
    void layers() {
        QFETCH(QString, name);
        QFETCH(int, layer);
        QCOMPARE(layerOfName(name.toStdString()), layer);
    }

    // Per layer: √(Σ‖Δ‖²)/√(Σ‖W‖²), ascending layers, the pairs without a layer last.
    void byLayer() {
        ImpactReport r;
        auto pair = [](int layer, double base, double delta) {
            PairImpact p;
            p.layer = layer, p.baseNorm = base, p.deltaNorm = delta;
            return p;
        };
        r.pairs = {pair(1, 3, 1), pair(-1, 1, 1), pair(0, 2, 0.5), pair(1, 4, 2)};
        const auto layers = impactByLayer(r);
        QCOMPARE(layers.size(), size_t(3));
        QCOMPARE(layers[0].layer, 0);
        QCOMPARE(layers[0].relativeNorm, 0.25);
        QCOMPARE(layers[1].layer, 1);
        QCOMPARE(layers[1].pairs, size_t(2));
        QCOMPARE(layers[1].relativeNorm, std::sqrt(5.0 / 25.0));
        QCOMPARE(layers[2].layer, -1);
        QCOMPARE(layers[2].relativeNorm, 1.0);
    }
};

QTEST_GUILESS_MAIN(TestLoraImpact)
#include "tst_loraimpact.moc"
