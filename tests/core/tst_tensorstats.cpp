// Tensor statistics in the core (core/lms/analysis/TensorStats.h): exact values for several dtypes, and the
// streamed form over ModelSource::readRows agreeing with the in-memory one while reading only
// bounded row blocks.
#include "TestSupport.h"
#include "lms/analysis/TensorStats.h"
#include "lms/formats/Source.h"

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <cstring>
#include <limits>

using namespace lms;

namespace {
template <class T>
std::vector<std::byte> bytesOf(const std::vector<T>& values) {
    std::vector<std::byte> out(values.size() * sizeof(T));
    std::memcpy(out.data(), values.data(), out.size());
    return out;
}

// One in-memory tensor as a ModelSource; records the largest row block asked for.
class MemorySource final : public ModelSource {
public:
    MemorySource(DType dtype, std::vector<int64_t> dims, std::vector<std::byte> bytes)
        : m_bytes(std::move(bytes)) {
        SourceTensor t;
        t.name = "w";
        t.dtype = dtype;
        t.typeName = std::string(tensorTypeName(dtype));
        t.dims = std::move(dims);
        t.byteSize = m_bytes.size();
        m_tensors.push_back(t);
    }
    std::string description() const override { return "memory"; }
    const std::vector<SourceTensor>& tensors() const override { return m_tensors; }
    Status read(size_t, std::span<std::byte> out, const CancelToken*) const override {
        ++wholeReads;
        std::memcpy(out.data(), m_bytes.data(), out.size());
        return {};
    }
    Status readRows(size_t, int64_t begin, int64_t end, std::span<std::byte> out,
                    const CancelToken*) const override {
        const uint64_t stride = rowBytes(m_tensors[0]);
        maxRows = std::max(maxRows, end - begin);
        ++blockReads;
        std::memcpy(out.data(), m_bytes.data() + uint64_t(begin) * stride, out.size());
        return {};
    }
    std::vector<std::filesystem::path> inputFiles() const override { return {}; }
    uint64_t inputBytes() const override { return m_bytes.size(); }

    mutable int64_t maxRows = 0;
    mutable int blockReads = 0;
    mutable int wholeReads = 0;

private:
    std::vector<std::byte> m_bytes;
    std::vector<SourceTensor> m_tensors;
};
}  // namespace

class TestTensorStats : public QObject {
    Q_OBJECT
private slots:
    // The same eight values {1, -2, 0, NaN, +Inf, 3, 0, -Inf} in every floating type; integers
    // without non-finite values. Expected: over the finite values only, population std.
    void exactValues_data() {
        QTest::addColumn<int>("dtype");
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<double>("min");
        QTest::addColumn<double>("max");
        QTest::addColumn<double>("mean");
        QTest::addColumn<double>("stddev");
        QTest::addColumn<int>("nan");
        QTest::addColumn<int>("posInf");
        QTest::addColumn<int>("negInf");
        QTest::addColumn<int>("zeros");
        const double inf = std::numeric_limits<double>::infinity();
        const double nan = std::numeric_limits<double>::quiet_NaN();
        auto raw = [](const std::vector<std::byte>& b) {
            return QByteArray(reinterpret_cast<const char*>(b.data()), qsizetype(b.size()));
        };
        const double floatStd = std::sqrt(13.2 / 5);
        QTest::newRow("Float32") << int(DType::Float32)
                                 << raw(bytesOf<float>({1, -2, 0, float(nan), float(inf), 3, 0, float(-inf)}))
                                 << -2.0 << 3.0 << 0.4 << floatStd << 1 << 1 << 1 << 2;
        QTest::newRow("Float64") << int(DType::Float64)
                                 << raw(bytesOf<double>({1, -2, 0, nan, inf, 3, 0, -inf})) << -2.0 << 3.0
                                 << 0.4 << floatStd << 1 << 1 << 1 << 2;
        QTest::newRow("Float16") << int(DType::Float16)
                                 << raw(bytesOf<uint16_t>(
                                        {0x3C00, 0xC000, 0, 0x7E00, 0x7C00, 0x4200, 0x8000, 0xFC00}))
                                 << -2.0 << 3.0 << 0.4 << floatStd << 1 << 1 << 1 << 2;  // -0 counts as zero
        QTest::newRow("BFloat16") << int(DType::BFloat16)
                                  << raw(bytesOf<uint16_t>(
                                         {0x3F80, 0xC000, 0, 0x7FC0, 0x7F80, 0x4040, 0, 0xFF80}))
                                  << -2.0 << 3.0 << 0.4 << floatStd << 1 << 1 << 1 << 2;
        QTest::newRow("Int8") << int(DType::Int8) << raw(bytesOf<int8_t>({-5, 0, 7, 2})) << -5.0 << 7.0 << 1.0
                              << std::sqrt(18.5) << 0 << 0 << 0 << 1;
        QTest::newRow("UInt16")
            << int(DType::UInt16) << raw(bytesOf<uint16_t>({65535, 0, 1, 0})) << 0.0 << 65535.0 << 16384.0
            << std::sqrt((std::pow(65535 - 16384.0, 2) + 2 * 16384.0 * 16384.0 + 16383.0 * 16383.0) / 4) << 0
            << 0 << 0 << 2;
        QTest::newRow("Int64") << int(DType::Int64) << raw(bytesOf<int64_t>({-3, -3, -3, -3})) << -3.0 << -3.0
                               << -3.0 << 0.0 << 0 << 0 << 0 << 0;
    }
    void exactValues() {
        QFETCH(int, dtype);
        QFETCH(QByteArray, bytes);
        QFETCH(double, min);
        QFETCH(double, max);
        QFETCH(double, mean);
        QFETCH(double, stddev);
        QFETCH(int, nan);
        QFETCH(int, posInf);
        QFETCH(int, negInf);
        QFETCH(int, zeros);
        const auto span = std::as_bytes(std::span(bytes.constData(), size_t(bytes.size())));
        const unsigned width = dtypeBits(DType(dtype)) / 8;
        const auto count = int64_t(span.size() / width);
        // Two rows, so the streamed form reads two blocks of one row each.
        MemorySource source(DType(dtype), {2, count / 2}, std::vector<std::byte>(span.begin(), span.end()));
        const auto streamed = computeStatistics(source, 0, 4, nullptr, 1);
        QVERIFY2(streamed, streamed ? "" : streamed.error().message.c_str());
        QCOMPARE(source.maxRows, int64_t(1));
        QCOMPARE(source.wholeReads, 0);
        const auto inMemory = computeStatistics(DType(dtype), span, 4);
        QVERIFY(inMemory);
        for (const auto& stats : {*streamed, *inMemory}) {
            QCOMPARE(stats.count, uint64_t(count));
            QCOMPARE(stats.min, min);
            QCOMPARE(stats.max, max);
            QVERIFY2(std::abs(stats.mean - mean) <= 1e-12 * std::max(1.0, std::abs(mean)),
                     qPrintable(QString::number(stats.mean, 'g', 17)));
            QVERIFY2(std::abs(stats.stddev - stddev) <= 1e-12 * std::max(1.0, stddev),
                     qPrintable(QString::number(stats.stddev, 'g', 17)));
            QCOMPARE(stats.nan, uint64_t(nan));
            QCOMPARE(stats.posInf, uint64_t(posInf));
            QCOMPARE(stats.negInf, uint64_t(negInf));
            QCOMPARE(stats.zeros, uint64_t(zeros));
            QCOMPARE(stats.finite, uint64_t(count - nan - posInf - negInf));
        }
        QCOMPARE(streamed->histogram, inMemory->histogram);
    }

    // 0..2999 as Float32 in a [1000, 3] tensor read in blocks of 5 rows: hundreds of blocks per
    // pass, never more than 5 rows at once, the same result as the whole-buffer computation.
    void manyRowBlocks() {
        std::vector<float> values(3000);
        for (size_t i = 0; i < values.size(); ++i) values[i] = float(i);
        MemorySource source(DType::Float32, {1000, 3}, bytesOf(values));
        const auto stats = computeStatistics(source, 0, 10, nullptr, 64);  // 64 / 12 bytes a row = 5 rows
        QVERIFY(stats);
        QCOMPARE(source.maxRows, int64_t(5));
        QCOMPARE(source.blockReads, 2 * 200);  // two passes
        QCOMPARE(source.wholeReads, 0);
        QCOMPARE(stats->count, uint64_t(3000));
        QCOMPARE(stats->min, 0.0);
        QCOMPARE(stats->max, 2999.0);
        QVERIFY(std::abs(stats->mean - 1499.5) < 1e-9);
        QVERIFY(std::abs(stats->stddev - std::sqrt((3000.0 * 3000.0 - 1) / 12)) < 1e-9);
        QCOMPARE(stats->zeros, uint64_t(1));
        QCOMPARE(stats->histogram, std::vector<uint64_t>(10, 300));
        const auto whole = computeStatistics(DType::Float32, std::as_bytes(std::span(values)), 10);
        QVERIFY(whole);
        QCOMPARE(whole->histogram, stats->histogram);
        QCOMPARE(whole->stddev, stats->stddev);
    }

    void cancelledAndUnsupported() {
        std::vector<float> values(300, 1.0f);
        MemorySource source(DType::Float32, {100, 3}, bytesOf(values));
        CancelToken cancel;
        cancel.cancel();
        const auto cancelled = computeStatistics(source, 0, 8, &cancel, 12);
        QVERIFY(!cancelled);
        QCOMPARE(cancelled.error().code, ErrorCode::Cancelled);
        QCOMPARE(source.blockReads, 0);
        MemorySource text(DType::String, {0}, {});
        const auto refused = computeStatistics(text, 0);
        QVERIFY(!refused);
        QCOMPARE(refused.error().code, ErrorCode::Unsupported);
        QCOMPARE(QString::fromStdString(refused.error().message),
                 QStringLiteral("a text value has no numeric statistics"));
    }

    // A real .ckpt whose parameter spans many records, streamed through its CheckpointFile, and
    // `loramerge inspect --stats` over the same file in both output forms.
    void checkpointFileAndCli() {
        QTemporaryDir dir;
        const std::filesystem::path path = std::filesystem::path(dir.path().toStdString()) / "model.ckpt";
        std::vector<float> big(4000);
        for (size_t i = 0; i < big.size(); ++i) big[i] = float(i % 7) - 3;  // -3..3
        std::vector<int32_t> steps = {5, 0};
        lms::test::writeCheckpoint(path,
                                   {{"w", "Float32", {2, 2}, test::floatBytes(DType::Float32, {1, -2, 0, 3})},
                                    {"steps", "Int32", {2}, bytesOf(steps)},
                                    {"big", "Float32", {1000, 4}, test::floatBytes(DType::Float32, big)}},
                                   4096);
        auto file = CheckpointFile::open(path);
        QVERIFY(file);
        const auto source = makeFullSource(*file);
        const auto streamed = computeStatistics(*source, 2, 8, nullptr, 1000);
        const auto whole = computeStatistics(DType::Float32, std::as_bytes(std::span(big)), 8);
        QVERIFY(streamed && whole);
        QCOMPARE(streamed->histogram, whole->histogram);
        QCOMPARE(streamed->mean, whole->mean);
        QCOMPARE(streamed->stddev, whole->stddev);
        QCOMPARE(streamed->min, -3.0);
        QCOMPARE(streamed->max, 3.0);

        QProcess json;
        json.start(test::cliPath(), {QStringLiteral("inspect"), QString::fromStdString(path.string()),
                                     QStringLiteral("--stats"), QStringLiteral("--json")});
        QVERIFY(json.waitForFinished(60000));
        QCOMPARE(json.exitCode(), 0);
        const QString out = QString::fromUtf8(json.readAllStandardOutput());
        QVERIFY2(out.contains(
                     QStringLiteral("{\"name\":\"w\",\"count\":4,\"finite\":4,\"min\":-2,\"max\":3,"
                                    "\"mean\":0.5,\"std\":1.80277564,\"nan\":0,\"pos_inf\":0,\"neg_inf\":0,"
                                    "\"zeros\":1}")),
                 qPrintable(out));
        QVERIFY2(
            out.contains(QStringLiteral("{\"name\":\"steps\",\"count\":2,\"finite\":2,\"min\":0,\"max\":5,"
                                        "\"mean\":2.5,\"std\":2.5,\"nan\":0,\"pos_inf\":0,\"neg_inf\":0,"
                                        "\"zeros\":1}")),
            qPrintable(out));
        QVERIFY(out.startsWith(QStringLiteral("{\"file\":\"")));

        QProcess text;
        text.start(test::cliPath(), {QStringLiteral("inspect"), QString::fromStdString(path.string()),
                                     QStringLiteral("--stats")});
        QVERIFY(text.waitForFinished(60000));
        QCOMPARE(text.exitCode(), 0);
        const QStringList lines =
            QString::fromUtf8(text.readAllStandardOutput()).split(QLatin1Char('\n'), Qt::SkipEmptyParts);
        QCOMPARE(lines.size(), 4);
        QCOMPARE(lines[0].simplified(), QStringLiteral("name min max mean std nan inf zeros"));
        QCOMPARE(lines[1].simplified(), QStringLiteral("w -2 3 0.5 1.80277564 0 0 1"));
        QCOMPARE(lines[2].simplified(), QStringLiteral("steps 0 5 2.5 2.5 0 0 1"));
        QVERIFY(lines[3].simplified().startsWith(QStringLiteral("big -3 3 ")));
    }
};

QTEST_GUILESS_MAIN(TestTensorStats)
#include "tst_tensorstats.moc"
