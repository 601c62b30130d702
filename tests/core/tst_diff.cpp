// Comparing two models (core/lms/analysis/Diff.*): exact statistics per tensor, every status, block sizes.
#include "TestSupport.h"

#include "lms/analysis/Diff.h"

#include <QtTest>
#include <cmath>
#include <limits>

namespace fs = std::filesystem;
using lms::test::FakeTensor;

namespace {

FakeTensor f32(const std::string& name, std::vector<int64_t> dims, const std::vector<float>& values) {
    return {name, "Float32", std::move(dims), lms::test::floatBytes(lms::DType::Float32, values)};
}

std::unique_ptr<lms::ModelSource> open(const fs::path& path) {
    auto source = lms::openFullSource(path);
    if (!source) qFatal("%s", source.error().describe().c_str());
    return std::move(*source);
}

const double kInf = std::numeric_limits<double>::infinity();
const float kNaN = std::numeric_limits<float>::quiet_NaN();

}  // namespace

Q_DECLARE_METATYPE(FakeTensor)

class TestDiff : public QObject {
    Q_OBJECT
private slots:
    void floatingStatistics_data();
    void floatingStatistics();
    void statuses();
    void blockSizeDoesNotChangeTheResult();
};

void TestDiff::floatingStatistics_data() {
    QTest::addColumn<std::vector<float>>("a");
    QTest::addColumn<std::vector<float>>("b");
    QTest::addColumn<qulonglong>("changed");
    QTest::addColumn<double>("maxAbs");
    QTest::addColumn<double>("relativeNorm");
    QTest::addColumn<double>("cosine");
    QTest::addColumn<qulonglong>("nonFinite");
    using V = std::vector<float>;
    QTest::newRow("identical") << V{1, 2, 3, 4} << V{1, 2, 3, 4} << 0ull << 0.0 << 0.0 << 1.0 << 0ull;
    // Δ = (0, 0, 0, 2): ‖Δ‖ = 2, ‖A‖ = √30; ⟨A,B⟩ = 1+4+9+24 = 38, ‖B‖ = √50.
    QTest::newRow("one element") << V{1, 2, 3, 4} << V{1, 2, 3, 6} << 1ull << 2.0 << 2 / std::sqrt(30.0)
                                 << 38 / std::sqrt(30.0 * 50.0) << 0ull;
    QTest::newRow("sign flip") << V{1, -2, 0, 3} << V{-1, 2, 0, -3} << 3ull << 6.0 << 2.0 << -1.0 << 0ull;
    QTest::newRow("from zeros") << V{0, 0, 0, 0} << V{0, 1, 0, 0} << 1ull << 1.0 << kInf << 0.0 << 0ull;
    QTest::newRow("negative zero is a bit change")
        << V{0, 1, 1, 1} << V{-0.0f, 1, 1, 1} << 1ull << 0.0 << 0.0 << 1.0 << 0ull;
    QTest::newRow("NaN left out of the norms")
        << V{1, kNaN, 3, 4} << V{1, 5, 3, 4} << 1ull << 0.0 << 0.0 << 1.0 << 1ull;
}

void TestDiff::floatingStatistics() {
    QFETCH(std::vector<float>, a);
    QFETCH(std::vector<float>, b);
    QFETCH(qulonglong, changed);
    QFETCH(double, maxAbs);
    QFETCH(double, relativeNorm);
    QFETCH(double, cosine);
    QFETCH(qulonglong, nonFinite);
    QTemporaryDir tmp;
    const fs::path dir = tmp.path().toStdString();
    lms::test::writeCheckpoint(dir / "a.ckpt", {f32("w", {2, 2}, a)});
    lms::test::writeCheckpoint(dir / "b.ckpt", {f32("w", {2, 2}, b)});
    auto report = lms::diffModels(*open(dir / "a.ckpt"), *open(dir / "b.ckpt"));
    QVERIFY(report.has_value());
    const auto& t = report->tensors.at(0);
    QCOMPARE(t.status, changed ? lms::DiffStatus::Changed : lms::DiffStatus::Identical);
    QCOMPARE(t.elements, 4ull);
    QCOMPARE(qulonglong(t.changed), changed);
    QVERIFY(t.floating);
    QCOMPARE(t.maxAbsDiff, maxAbs);
    if (std::isinf(relativeNorm))
        QVERIFY(std::isinf(t.relativeNorm));
    else
        QVERIFY2(std::abs(t.relativeNorm - relativeNorm) < 1e-12,
                 qPrintable(QString::number(t.relativeNorm)));
    QVERIFY2(std::abs(t.cosine - cosine) < 1e-12, qPrintable(QString::number(t.cosine)));
    QCOMPARE(qulonglong(t.nonFinite), nonFinite);
}

void TestDiff::statuses() {
    QTemporaryDir tmp;
    const fs::path dir = tmp.path().toStdString();
    const std::vector<std::byte> ints{std::byte{1}, std::byte{0}, std::byte{0}, std::byte{0},
                                      std::byte{2}, std::byte{0}, std::byte{0}, std::byte{0}};
    auto changedInts = ints;
    changedInts[4] = std::byte{9};
    lms::test::writeCheckpoint(dir / "a.ckpt", {f32("same", {2}, {1, 2}),
                                                f32("gone", {1}, {1}),
                                                f32("retyped", {2}, {1, 2}),
                                                f32("reshaped", {2, 2}, {1, 2, 3, 4}),
                                                {"steps", "Int32", {2}, ints}});
    lms::test::writeCheckpoint(
        dir / "b.ckpt", {f32("new", {1}, {1}),
                         {"steps", "Int32", {2}, changedInts},
                         {"retyped", "Float16", {2}, lms::test::floatBytes(lms::DType::Float16, {1, 2})},
                         f32("reshaped", {4, 1}, {1, 2, 3, 4}),
                         f32("same", {2}, {1, 2})});
    auto report = lms::diffModels(*open(dir / "a.ckpt"), *open(dir / "b.ckpt"));
    QVERIFY(report.has_value());
    std::vector<std::pair<std::string, lms::DiffStatus>> got;
    for (const auto& t : report->tensors) got.emplace_back(t.name, t.status);
    using S = lms::DiffStatus;
    const std::vector<std::pair<std::string, lms::DiffStatus>> want{
        {"same", S::Identical},        {"gone", S::OnlyInA},  {"retyped", S::TypeDiffers},
        {"reshaped", S::ShapeDiffers}, {"steps", S::Changed}, {"new", S::OnlyInB}};
    QCOMPARE(got, want);
    QCOMPARE(report->tensors[4].changed, 1ull);
    QVERIFY(!report->tensors[4].floating);
    QCOMPARE(report->identical, size_t(1));
    QCOMPARE(report->changed, size_t(1));
    QCOMPARE(report->onlyInA, size_t(1));
    QCOMPARE(report->onlyInB, size_t(1));
    QCOMPARE(report->mismatched, size_t(2));
}

void TestDiff::blockSizeDoesNotChangeTheResult() {
    QTemporaryDir tmp;
    const fs::path dir = tmp.path().toStdString();
    auto a = lms::test::randomValues(64 * 48, 1), b = a;
    for (size_t i = 0; i < b.size(); i += 7) b[i] += 0.25f * float(i % 5);
    lms::test::writeCheckpoint(dir / "a.ckpt", {f32("w", {64, 48}, a)});
    lms::test::writeCheckpoint(dir / "b.ckpt", {f32("w", {64, 48}, b)});
    auto whole = lms::diffModels(*open(dir / "a.ckpt"), *open(dir / "b.ckpt"));
    size_t calls = 0;
    auto blocks = lms::diffModels(
        *open(dir / "a.ckpt"), *open(dir / "b.ckpt"), [&](const lms::Progress&) { ++calls; }, nullptr,
        48 * 4 * 5);  // 5 rows a block: 13 blocks
    QVERIFY(whole && blocks);
    QCOMPARE(calls, size_t(13));
    const auto &x = whole->tensors[0], &y = blocks->tensors[0];
    QCOMPARE(y.changed, x.changed);
    QCOMPARE(y.maxAbsDiff, x.maxAbsDiff);
    QVERIFY(std::abs(y.relativeNorm - x.relativeNorm) < 1e-12);
    QVERIFY(std::abs(y.cosine - x.cosine) < 1e-12);
    lms::CancelToken cancel;
    cancel.cancel();
    auto cancelled = lms::diffModels(*open(dir / "a.ckpt"), *open(dir / "b.ckpt"), {}, &cancel);
    QVERIFY(!cancelled.has_value());
    QCOMPARE(cancelled.error().code, lms::ErrorCode::Cancelled);
}

QTEST_APPLESS_MAIN(TestDiff)
#include "tst_diff.moc"
