// Verification of merged outputs (core/lms/merge/Verify.h): it never refuses a correctly rounded result
// (random small-magnitude models in every float dtype, down into the subnormal range), and it is
// not fooled by a delta merged into the wrong tensor, added transposed, missing or mis-scaled, in
// any pair.
#include "TestSupport.h"
#include "lms/merge/Merge.h"
#include "lms/merge/Verify.h"

#include <QTemporaryDir>
#include <QtTest>
#include <cmath>
#include <cstring>
#include <random>

using namespace lms;
using namespace lms::test;

namespace {

// Rounds to float with round-to-odd, so that a second rounding to a type with at least two fewer
// significand bits (Float16, BFloat16) gives the correctly rounded value of `x`.
float roundToOdd(long double x) {
    float f = float(x);
    if ((long double)f == x || !std::isfinite(f)) return f;
    if (std::fabs((long double)f) > std::fabs(x)) f = std::nextafter(f, 0.0f);
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    bits |= 1;
    std::memcpy(&f, &bits, 4);
    return f;
}

// `x` rounded once (to nearest even) to `dtype`, appended as little-endian bytes.
void appendRounded(std::vector<std::byte>& out, DType dtype, long double x) {
    std::byte bytes[8];
    size_t size = dtypeBits(dtype) / 8;
    if (dtype == DType::Float64) {
        const double d = double(x);
        std::memcpy(bytes, &d, 8);
    } else if (dtype == DType::Float32) {
        const float f = float(x);
        std::memcpy(bytes, &f, 4);
    } else {
        const float f = roundToOdd(x);
        const uint16_t h = dtype == DType::Float16 ? floatToHalf(f) : floatToBf16(f);
        std::memcpy(bytes, &h, 2);
    }
    out.insert(out.end(), bytes, bytes + size);
}

long double valueAt(std::span<const std::byte> bytes, DType dtype, size_t i) {
    if (dtype == DType::Float64) {
        double d;
        std::memcpy(&d, bytes.data() + 8 * i, 8);
        return d;
    }
    float f;
    widenToFloat(dtype, bytes.subspan(i * dtypeBits(dtype) / 8, dtypeBits(dtype) / 8), std::span(&f, 1));
    return f;
}

int minNormalExponent(DType dtype) {
    return dtype == DType::Float16 ? -14 : dtype == DType::Float64 ? -1022 : -126;
}

// One LoRA pair in a model: stored bytes of W, A, B (all in `dtype`), shapes and scaling.
struct Pair {
    std::string stem;
    int64_t out, in, r;
    bool transposed;
    std::vector<std::byte> w, a, b;
};

// Random values u·2^e (u in [-1, 1)), rounded to `dtype`.
std::vector<std::byte> randomTensor(DType dtype, size_t count, int exponent, std::mt19937_64& rng) {
    std::uniform_real_distribution<double> u(-1.0, 1.0);
    std::vector<std::byte> bytes;
    for (size_t i = 0; i < count; ++i) appendRounded(bytes, dtype, std::ldexp((long double)u(rng), exponent));
    return bytes;
}

// The stored base of `p` with s·(B·A) (or its transpose) added exactly and rounded once; `mode`
// makes it wrong on purpose: "transposed" adds (B·A)ᵀ, "missing" adds nothing, "twice" uses 2s,
// "sign" uses -s; `other` supplies another pair's delta ("swapped").
std::vector<std::byte> roundedMerge(DType dtype, const Pair& p, double s, const std::string& mode = {},
                                    const Pair* other = nullptr) {
    const Pair& d = other ? *other : p;
    const double scale = mode == "missing" ? 0 : mode == "twice" ? 2 * s : mode == "sign" ? -s : s;
    const int64_t rows = p.transposed ? p.in : p.out, cols = p.transposed ? p.out : p.in;
    std::vector<std::byte> out;
    for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j) {
            int64_t row = p.transposed ? j : i, col = p.transposed ? i : j;
            if (mode == "transposed") std::swap(row, col);
            long double delta = 0;
            for (int64_t k = 0; k < p.r; ++k)
                delta +=
                    valueAt(d.b, dtype, size_t(row * p.r + k)) * valueAt(d.a, dtype, size_t(k * p.in + col));
            appendRounded(out, dtype, valueAt(p.w, dtype, size_t(i * cols + j)) + (long double)scale * delta);
        }
    return out;
}

std::vector<FakeTensor> inputTensors(DType dtype, const std::vector<Pair>& pairs) {
    const std::string type(tensorTypeName(dtype));
    std::vector<FakeTensor> tensors;
    for (const auto& p : pairs) {
        const std::vector<int64_t> dims =
            p.transposed ? std::vector<int64_t>{p.in, p.out} : std::vector<int64_t>{p.out, p.in};
        tensors.push_back({p.stem + ".weight", type, dims, p.w});
        tensors.push_back({p.stem + ".mindpet_delta_lora_a", type, {p.r, p.in}, p.a});
        tensors.push_back({p.stem + ".mindpet_delta_lora_b", type, {p.out, p.r}, p.b});
    }
    return tensors;
}

std::vector<FakeTensor> outputTensors(DType dtype, const std::vector<Pair>& pairs,
                                      const std::vector<std::vector<std::byte>>& merged) {
    std::vector<FakeTensor> tensors;
    for (size_t k = 0; k < pairs.size(); ++k) {
        const auto& p = pairs[k];
        const std::vector<int64_t> dims =
            p.transposed ? std::vector<int64_t>{p.in, p.out} : std::vector<int64_t>{p.out, p.in};
        tensors.push_back({p.stem + ".weight", std::string(tensorTypeName(dtype)), dims, merged[k]});
    }
    return tensors;
}

const char* kDtypes[] = {"Float16", "BFloat16", "Float32", "Float64"};

}  // namespace

class TestVerify : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    std::filesystem::path dir() const { return tmp_.path().toStdString(); }

private slots:
    // Property: over random small-magnitude models (W and s·B·A between a few binades below the
    // smallest normal and a few above it), the correctly rounded W + s·B·A always passes, element
    // by element (mergeTolerance) and through verifyMergedFile; so does the merge's own output.
    void correctResultsPass_data() {
        QTest::addColumn<QString>("dtypeName");
        QTest::addColumn<bool>("transposed");
        QTest::addColumn<int>("seed");
        for (const char* dtype : kDtypes)
            for (bool transposed : {false, true})
                for (int seed = 1; seed <= 16; ++seed)
                    QTest::addRow("%s%s seed %d", dtype, transposed ? " transposed" : "", seed)
                        << QString::fromLatin1(dtype) << transposed << seed;
    }
    void correctResultsPass() {
        QFETCH(QString, dtypeName);
        QFETCH(bool, transposed);
        QFETCH(int, seed);
        const DType dtype = dtypeFromTensorType(dtypeName.toStdString());
        std::mt19937_64 rng(uint64_t(seed) * 7919 + (transposed ? 1 : 0));
        const auto pick = [&](int lo, int hi) { return lo + int(rng() % uint64_t(hi - lo + 1)); };
        Pair p;
        p.stem = "layers.0.wq";
        p.r = pick(1, 4);
        p.out = pick(2, 9);
        p.in = pick(2, 9);
        if (transposed && p.in == p.out) ++p.in;
        p.transposed = transposed;
        const int e0 = minNormalExponent(dtype);
        const int eW = e0 + pick(-6, 8), eD = e0 + pick(-6, 8);  // magnitudes of W and of B·A
        p.w = randomTensor(dtype, size_t(p.out * p.in), eW, rng);
        p.a = randomTensor(dtype, size_t(p.r * p.in), eD / 2, rng);
        p.b = randomTensor(dtype, size_t(p.out * p.r), eD - eD / 2, rng);
        const double s = std::vector<double>{0.5, 1, 2, -1.5, 3.25}[rng() % 5];

        const auto caseDir =
            dir() / (dtypeName.toStdString() + (transposed ? "T" : "") + std::to_string(seed));
        writeCheckpoint(caseDir / "in" / "model.ckpt", inputTensors(dtype, {p}));
        auto source = openFullSource(caseDir / "in" / "model.ckpt");
        QVERIFY(source);
        MergeOptions options;
        options.scaling.scaling = s;
        options.outputFile = caseDir / "out" / "merged.ckpt";

        const auto reference = roundedMerge(dtype, p, s);
        writeCheckpoint(caseDir / "reference.ckpt", outputTensors(dtype, {p}, {reference}));
        auto verdict = verifyMergedFile(caseDir / "reference.ckpt", **source, options);
        QVERIFY2(verdict, verdict ? "" : verdict.error().describe().c_str());

        auto report = runMerge(**source, options);  // options.verify is off
        QVERIFY2(report, report ? "" : report.error().describe().c_str());
        auto output = CheckpointFile::open(options.outputFile);
        QVERIFY(output);
        const auto merged = *(*output)->readTensor(*(*output)->find("layers.0.wq.weight"));
        verdict = verifyMergedFile(options.outputFile, **source, options);
        QVERIFY2(verdict, verdict ? "" : verdict.error().describe().c_str());

        // Every element, not only the sampled ones: the correctly rounded value and the merge's
        // own value lie within the tolerance of the value recomputed in double.
        const int64_t cols = transposed ? p.out : p.in;
        for (size_t e = 0; e < reference.size() / (dtypeBits(dtype) / 8); ++e) {
            const int64_t i = int64_t(e) / cols, j = int64_t(e) % cols;
            const int64_t row = transposed ? j : i, col = transposed ? i : j;
            double delta = 0, magnitude = 0;
            for (int64_t k = 0; k < p.r; ++k) {
                const double term = double(valueAt(p.b, dtype, size_t(row * p.r + k)) *
                                           valueAt(p.a, dtype, size_t(k * p.in + col)));
                delta += term;
                magnitude += std::abs(term);
            }
            const double w = double(valueAt(p.w, dtype, e)), expected = w + s * delta;
            const double tolerance = mergeTolerance(dtype, w, std::abs(s) * magnitude, p.r);
            QVERIFY2(std::abs(double(valueAt(reference, dtype, e)) - expected) <= tolerance,
                     qPrintable(QStringLiteral("rounded %1, expected %2, tolerance %3")
                                    .arg(double(valueAt(reference, dtype, e)), 0, 'g', 17)
                                    .arg(expected, 0, 'g', 17)
                                    .arg(tolerance, 0, 'g', 17)));
            QVERIFY(std::abs(double(valueAt(merged, dtype, e)) - expected) <= tolerance);
        }
        options.verify = true;
        options.outputFile = caseDir / "out2" / "merged.ckpt";
        report = runMerge(**source, options);
        QVERIFY2(report, report ? "" : report.error().describe().c_str());
    }

    // A correctly rounded Float16 result in the subnormal range: W = 0, s·B·A = 1.25·2^-25, which
    // rounds to 2^-24 (an error of 0.75·2^-25, far above a purely relative bound).
    void subnormalFloat16Passes() {
        const double exact = 1.25 * std::ldexp(1.0, -25);
        QCOMPARE(double(halfToFloat(floatToHalf(float(exact)))), std::ldexp(1.0, -24));
        QVERIFY(mergeTolerance(DType::Float16, 0, exact, 1) >= std::ldexp(1.0, -24) - exact);
        QVERIFY(mergeTolerance(DType::Float16, 0, exact, 1) < std::ldexp(1.0, -22));  // still tight
    }

    // Wrong results in one pair of six are caught and name that pair's base.
    void wrongResultsAreCaught_data() {
        QTest::addColumn<QString>("dtypeName");
        QTest::addColumn<QString>("mode");
        QTest::addColumn<int>("pair");
        for (const char* dtype : kDtypes)
            for (const char* mode : {"swapped", "transposed", "missing", "twice", "sign"})
                for (int pair : {0, 3, 5})
                    QTest::addRow("%s %s pair %d", dtype, mode, pair)
                        << QString::fromLatin1(dtype) << QString::fromLatin1(mode) << pair;
    }
    void wrongResultsAreCaught() {
        QFETCH(QString, dtypeName);
        QFETCH(QString, mode);
        QFETCH(int, pair);
        const DType dtype = dtypeFromTensorType(dtypeName.toStdString());
        std::mt19937_64 rng(uint64_t(pair) * 31 + uint64_t(mode.size()));
        std::vector<Pair> pairs;
        for (int k = 0; k < 6; ++k) {
            Pair p{"layers." + std::to_string(k) + ".wq", 6, 6, 3, false, {}, {}, {}};
            p.w = randomTensor(dtype, 36, 0, rng);
            p.a = randomTensor(dtype, 18, 0, rng);
            p.b = randomTensor(dtype, 18, 0, rng);
            pairs.push_back(std::move(p));
        }
        const double s = 2;
        std::vector<std::vector<std::byte>> merged;
        for (const auto& p : pairs) merged.push_back(roundedMerge(dtype, p, s));
        const size_t k = size_t(pair), other = (k + 1) % pairs.size();
        if (mode == QStringLiteral("swapped")) {
            merged[k] = roundedMerge(dtype, pairs[k], s, {}, &pairs[other]);
            merged[other] = roundedMerge(dtype, pairs[other], s, {}, &pairs[k]);
        } else {
            merged[k] = roundedMerge(dtype, pairs[k], s, mode.toStdString());
        }
        const auto caseDir =
            dir() / ("wrong-" + dtypeName.toStdString() + mode.toStdString() + std::to_string(pair));
        writeCheckpoint(caseDir / "in" / "model.ckpt", inputTensors(dtype, pairs));
        writeCheckpoint(caseDir / "out.ckpt", outputTensors(dtype, pairs, merged));
        auto source = openFullSource(caseDir / "in" / "model.ckpt");
        QVERIFY(source);
        MergeOptions options;
        options.scaling.scaling = s;
        const auto verdict = verifyMergedFile(caseDir / "out.ckpt", **source, options);
        QVERIFY2(!verdict, "a wrong result passed verification");
        QCOMPARE(verdict.error().code, ErrorCode::Mismatch);
        const size_t first =
            mode == QStringLiteral("swapped") ? std::min(k, other) : k;  // the first wrong pair
        QCOMPARE(verdict.error().parameter, pairs[first].stem + ".weight");
        QVERIFY2(verdict.error().message.starts_with("verification failed at ["),
                 verdict.error().message.c_str());
        // The same pairs merged correctly pass.
        merged.clear();
        for (const auto& p : pairs) merged.push_back(roundedMerge(dtype, p, s));
        writeCheckpoint(caseDir / "good.ckpt", outputTensors(dtype, pairs, merged));
        QVERIFY(verifyMergedFile(caseDir / "good.ckpt", **source, options));
    }

    // A rank file of a re-sharded output is sampled inside its own slice: rank 1 of a 2-way row
    // split holding rank 0's rows (or a slice of the unmerged base) is refused, its right slice passes.
    void rankSlicesAreSampled_data() {
        QTest::addColumn<QString>("content");
        QTest::addColumn<bool>("passes");
        QTest::newRow("its own rows") << "own" << true;
        QTest::newRow("rank 0's rows") << "other" << false;
        QTest::newRow("unmerged rows") << "missing" << false;
    }
    void rankSlicesAreSampled() {
        QFETCH(QString, content);
        QFETCH(bool, passes);
        const DType dtype = DType::Float32;
        std::mt19937_64 rng(5);
        Pair p{"layers.0.wq", 8, 6, 2, false, {}, {}, {}};
        p.w = randomTensor(dtype, 48, 0, rng);
        p.a = randomTensor(dtype, 12, 0, rng);
        p.b = randomTensor(dtype, 16, 0, rng);
        const auto caseDir = dir() / ("slices-" + content.toStdString());
        writeCheckpoint(caseDir / "in" / "model.ckpt", inputTensors(dtype, {p}));
        auto source = openFullSource(caseDir / "in" / "model.ckpt");
        QVERIFY(source);
        const auto merged = roundedMerge(dtype, p, 2, content == QStringLiteral("missing") ? "missing" : "");
        const size_t half = merged.size() / 2;  // rows [0, 4) and [4, 8)
        const bool own = content != QStringLiteral("other");
        const std::vector<std::byte> slice(merged.begin() + long(own ? half : 0),
                                           merged.begin() + long(own ? 2 * half : half));
        writeCheckpoint(caseDir / "rank_1.ckpt", {{"layers.0.wq.weight", "Float32", {4, 6}, slice}});
        const auto& tensors = (*source)->tensors();
        const auto plan = planLora(tensors, {});
        QCOMPARE(plan.okPairs, size_t(1));
        std::vector<Placement> placements;
        for (const auto& t : tensors) placements.push_back({true, {}, t.dims, t.byteSize});
        placements[0] = {false, Box{{4, 0}, {8, 6}}, {4, 6}, 4 * 6 * 4};
        const std::vector<MergedPairRef> refs{{0, 1, 2, &plan.pairs[0], 2.0}};
        const auto verdict = verifyOutput(caseDir / "rank_1.ckpt", caseDir / "rank_1.ckpt", placements,
                                          **source, plan, refs, nullptr);
        QCOMPARE(bool(verdict), passes);
        if (!passes) QCOMPARE(verdict.error().parameter, std::string("layers.0.wq.weight"));
    }
};

QTEST_GUILESS_MAIN(TestVerify)
#include "tst_verify.moc"
