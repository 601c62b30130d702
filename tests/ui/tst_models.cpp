// The studio's item models under QAbstractItemModelTester: tensor tree (tree and flat), its
// filter/sort proxy, LoRA pairs, strategy and log; plus the log sink and tensor statistics.

#include "EnglishPlurals.h"
#include "LogModel.h"
#include "LogSink.h"
#include "LoraPairModel.h"
#include "StrategyModel.h"
#include "TensorTreeModel.h"
#include "lms/analysis/TensorStats.h"
#include "lms/base/Log.h"

#include <QAbstractItemModelTester>
#include <QSignalSpy>
#include <QtTest>
#include <cmath>
#include <thread>

using namespace lms;
using namespace lms::ui;

namespace {

TensorEntry entry(const char* name, std::vector<int64_t> dims, uint64_t bytes,
                  TensorRole role = TensorRole::Other) {
    TensorEntry e;
    e.name = QString::fromUtf8(name);
    e.typeName = QStringLiteral("Float32");
    e.dtype = DType::Float32;
    e.dims = std::move(dims);
    e.bytes = bytes;
    e.role = role;
    return e;
}

std::vector<TensorEntry> sampleEntries() {
    return {
        entry("model.layers.0.wq.weight", {4, 4}, 64, TensorRole::Base),
        entry("model.layers.0.wq.mindpet_delta_lora_a", {2, 4}, 32, TensorRole::LoraA),
        entry("model.layers.0.wq.mindpet_delta_lora_b", {4, 2}, 32, TensorRole::LoraB),
        entry("model.layers.10.wq.weight", {4, 4}, 100),
        entry("model.layers.2.wq.weight", {4, 4}, 20),
        entry("model.norm.weight", {4}, 3),
        entry("global_step", {1}, 4),
    };
}

SourceTensor source(const char* name, std::vector<int64_t> dims, DType dtype = DType::Float32) {
    SourceTensor t;
    t.name = name;
    t.dtype = dtype;
    t.typeName = std::string(tensorTypeName(dtype));
    t.dims = std::move(dims);
    uint64_t n = 1;
    for (auto d : dims) n *= uint64_t(d);
    t.byteSize = n * dtypeBits(dtype) / 8;
    return t;
}

QModelIndex childByLabel(const QAbstractItemModel& model, const QModelIndex& parent, const QString& label) {
    for (int row = 0; row < model.rowCount(parent); ++row) {
        const auto index = model.index(row, 0, parent);
        if (index.data().toString() == label) return index;
    }
    return {};
}

QStringList columnTexts(const QAbstractItemModel& model, int column, const QModelIndex& parent = {}) {
    QStringList out;
    for (int row = 0; row < model.rowCount(parent); ++row)
        out << model.index(row, column, parent).data().toString();
    return out;
}

}  // namespace

class TestModels : public QObject {
    Q_OBJECT
private slots:
    void tensorTreeGroupsByPrefix();
    void tensorTreeFlatAndEntryLookup();
    void tensorFilterMatchesNamesAndRoles();
    void tensorFilterSortsNumbersAndNamesNaturally();
    void loraPairModelChecksAndProblems();
    void strategyModelComputesSlices();
    void logModelCapsAndFilters();
    void logSinkForwardsFromAnotherThread();
    void statisticsOfFloats();
    void statisticsOfHalfAndIntegers_data();
    void statisticsOfHalfAndIntegers();
    void statisticsRefuseText();
    void englishPluralsDropOrAddTheS();
};

void TestModels::tensorTreeGroupsByPrefix() {
    TensorTreeModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.setEntries(sampleEntries());
    // Top level: the "model" group and the scalar-like global_step.
    QCOMPARE(columnTexts(model, TensorTreeModel::NameColumn),
             (QStringList{QStringLiteral("model"), QStringLiteral("global_step")}));
    const auto modelGroup = model.index(0, 0);
    QCOMPARE(modelGroup.data(TensorTreeModel::TensorIndexRole).toInt(), -1);
    QCOMPARE(model.index(0, TensorTreeModel::BytesColumn).data(TensorTreeModel::RawValueRole).toULongLong(),
             251ull);
    QCOMPARE(model.index(0, TensorTreeModel::ShapeColumn).data(TensorTreeModel::RawValueRole).toULongLong(),
             6ull);
    // "model" > "layers" > "0.wq" (a group holding only a group folds into it) > leaves.
    const auto layers = childByLabel(model, modelGroup, QStringLiteral("layers"));
    QVERIFY(layers.isValid());
    QCOMPARE(columnTexts(model, 0, layers),
             (QStringList{QStringLiteral("0.wq"), QStringLiteral("10.wq"), QStringLiteral("2.wq")}));
    const auto wq0 = childByLabel(model, layers, QStringLiteral("0.wq"));
    QCOMPARE(wq0.data(TensorTreeModel::FullNameRole).toString(), QStringLiteral("model.layers.0.wq"));
    QCOMPARE(columnTexts(model, 0, wq0),
             (QStringList{QStringLiteral("weight"), QStringLiteral("mindpet_delta_lora_a"),
                          QStringLiteral("mindpet_delta_lora_b")}));
    const auto loraA = model.index(1, TensorTreeModel::RoleColumn, wq0);
    QCOMPARE(loraA.data().toString(), QStringLiteral("LoRA A"));
    QCOMPARE(model.index(1, TensorTreeModel::ShapeColumn, wq0).data().toString(), QStringLiteral("[2, 4]"));
    QCOMPARE(
        model.index(1, TensorTreeModel::BytesColumn, wq0).data(TensorTreeModel::RawValueRole).toULongLong(),
        32ull);
    // model.norm holds one parameter: a group with a leaf, not folded (only group chains fold).
    const auto norm = childByLabel(model, modelGroup, QStringLiteral("norm"));
    QCOMPARE(model.rowCount(norm), 1);
    QVERIFY(model.flags(model.index(0, 0, norm)) & Qt::ItemNeverHasChildren);
}

void TestModels::tensorTreeFlatAndEntryLookup() {
    TensorTreeModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.setEntries(sampleEntries());
    model.setLayout(TensorTreeModel::Layout::Flat);
    QCOMPARE(model.rowCount(), 7);
    QCOMPARE(model.index(3, 0).data().toString(), QStringLiteral("model.layers.10.wq.weight"));
    for (int i = 0; i < 7; ++i) {
        const auto index = model.indexOfEntry(i);
        QCOMPARE(index.data(TensorTreeModel::TensorIndexRole).toInt(), i);
        QCOMPARE(model.entryAt(index)->name, sampleEntries()[size_t(i)].name);
    }
    model.setLayout(TensorTreeModel::Layout::Tree);
    const auto leaf = model.indexOfEntry(5);
    QCOMPARE(leaf.data(TensorTreeModel::FullNameRole).toString(), QStringLiteral("model.norm.weight"));
    QCOMPARE(leaf.parent().data().toString(), QStringLiteral("norm"));
    QVERIFY(!model.indexOfEntry(7).isValid());
    QVERIFY(model.entryAt(leaf.parent()) == nullptr);
    // The placement column is empty unless the model is distributed.
    QVERIFY(!model.index(0, TensorTreeModel::PlacementColumn, leaf.parent()).data().isValid());
}

void TestModels::tensorFilterMatchesNamesAndRoles() {
    TensorTreeModel model;
    TensorFilterModel filter;
    filter.setSourceModel(&model);
    QAbstractItemModelTester tester(&filter, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.setEntries(sampleEntries());
    QCOMPARE(filter.acceptedTensorCount(), 7);
    filter.setNamePattern(QStringLiteral("LORA"));  // case-insensitive substring
    QCOMPARE(filter.acceptedTensorCount(), 2);
    // Groups stay only on the way to a match.
    QCOMPARE(filter.rowCount(), 1);
    const auto layers = filter.index(0, 0, filter.index(0, 0));
    QCOMPARE(layers.data().toString(), QStringLiteral("layers"));
    QCOMPARE(filter.rowCount(layers), 1);
    filter.setNamePattern(QStringLiteral("layers.*.wq.weight"));  // wildcard
    QCOMPARE(filter.acceptedTensorCount(), 3);
    filter.setRoleFilter(TensorRole::Base);
    QCOMPARE(filter.acceptedTensorCount(), 1);
    filter.setNamePattern(QString());
    filter.setRoleFilter(TensorRole::LoraB);
    QCOMPARE(filter.acceptedTensorCount(), 1);
    filter.setRoleFilter(std::nullopt);
    QVERIFY(!filter.isFiltering());
    QCOMPARE(filter.rowCount(), 2);
}

void TestModels::tensorFilterSortsNumbersAndNamesNaturally() {
    TensorTreeModel model;
    TensorFilterModel filter;
    filter.setSourceModel(&model);
    QAbstractItemModelTester tester(&filter, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.setEntries(sampleEntries());
    model.setLayout(TensorTreeModel::Layout::Flat);
    filter.sort(TensorTreeModel::BytesColumn, Qt::AscendingOrder);
    QStringList bytes;
    for (int row = 0; row < filter.rowCount(); ++row)
        bytes << QString::number(filter.index(row, TensorTreeModel::BytesColumn)
                                     .data(TensorTreeModel::RawValueRole)
                                     .toULongLong());
    // Numeric order: text order would put 100 before 20 and 3.
    QCOMPARE(bytes, (QStringList{QStringLiteral("3"), QStringLiteral("4"), QStringLiteral("20"),
                                 QStringLiteral("32"), QStringLiteral("32"), QStringLiteral("64"),
                                 QStringLiteral("100")}));
    filter.sort(TensorTreeModel::NameColumn, Qt::AscendingOrder);
    const auto names = columnTexts(filter, 0);
    QVERIFY(names.indexOf(QStringLiteral("model.layers.2.wq.weight")) <
            names.indexOf(QStringLiteral("model.layers.10.wq.weight")));
    QCOMPARE(names.front(), QStringLiteral("global_step"));
    filter.sort(TensorTreeModel::ShapeColumn, Qt::DescendingOrder);  // by element count
    QCOMPARE(filter.index(filter.rowCount() - 1, 0).data().toString(), QStringLiteral("global_step"));
}

void TestModels::loraPairModelChecksAndProblems() {
    std::vector<SourceTensor> tensors{
        source("a.wq.weight", {8, 6}),
        source("a.wq.mindpet_delta_lora_a", {2, 6}),
        source("a.wq.mindpet_delta_lora_b", {8, 2}),
        source("a.wk.weight", {6, 8}),  // stored [in, out]: transposed
        source("a.wk.mindpet_delta_lora_a", {2, 6}),
        source("a.wk.mindpet_delta_lora_b", {8, 2}),
        source("a.wv.mindpet_delta_lora_a", {2, 6}),  // no base, no B
    };
    LoraPairModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    const auto plan = planLora(tensors);
    model.setPlan(plan);
    QCOMPARE(model.rowCount(), 3);
    QCOMPARE(model.index(0, LoraPairModel::BaseColumn).data().toString(), QStringLiteral("a.wq.weight"));
    QCOMPARE(model.index(0, LoraPairModel::AColumn).data().toString(),
             QStringLiteral("…mindpet_delta_lora_a"));
    QCOMPARE(model.index(0, LoraPairModel::AColumn).data(Qt::ToolTipRole).toString(),
             QStringLiteral("a.wq.mindpet_delta_lora_a"));
    QCOMPARE(model.index(0, LoraPairModel::RankColumn).data().toString(), QStringLiteral("2"));
    QCOMPARE(model.index(0, LoraPairModel::ShapesColumn).data().toString(),
             QStringLiteral("[8, 6] ← [8, 2] · [2, 6]"));
    QCOMPARE(model.index(0, LoraPairModel::TransposedColumn).data(LoraPairModel::RawValueRole).toBool(),
             false);
    QCOMPARE(model.index(1, LoraPairModel::TransposedColumn).data(LoraPairModel::RawValueRole).toBool(),
             true);
    QCOMPARE(model.index(0, LoraPairModel::StatusColumn).data().toString(), QStringLiteral("will be merged"));
    QVERIFY(model.index(2, LoraPairModel::StatusColumn)
                .data()
                .toString()
                .startsWith(QStringLiteral("problem: ")));
    QCOMPARE(model.index(0, 0).data(Qt::CheckStateRole).value<Qt::CheckState>(), Qt::Checked);
    // A problem pair cannot be checked.
    QVERIFY(!(model.flags(model.index(2, 0)) & Qt::ItemIsUserCheckable));
    QCOMPARE(model.index(2, 0).data(Qt::CheckStateRole).value<Qt::CheckState>(), Qt::Unchecked);
    QVERIFY(!model.setData(model.index(2, 0), Qt::Unchecked, Qt::CheckStateRole));

    QSignalSpy spy(&model, &LoraPairModel::disabledBasesChanged);
    QVERIFY(model.setData(model.index(1, 0), Qt::Unchecked, Qt::CheckStateRole));
    QCOMPARE(spy.count(), 1);
    QCOMPARE(spy.at(0).at(0).toStringList(), QStringList{QStringLiteral("a.wk.weight")});
    // The owner replans with the pair left out; rows stay, statuses change.
    PlanOptions options;
    options.disabledBases = {"a.wk.weight"};
    model.setPlan(planLora(tensors, options));
    QCOMPARE(model.index(1, LoraPairModel::StatusColumn).data().toString(), QStringLiteral("left out"));
    QCOMPARE(model.index(1, 0).data(Qt::CheckStateRole).value<Qt::CheckState>(), Qt::Unchecked);
    model.setAllIncluded(true);
    QCOMPARE(spy.count(), 2);
    QVERIFY(spy.at(1).at(0).toStringList().isEmpty());
    model.setAllIncluded(false);
    QCOMPARE(spy.at(2).at(0).toStringList(),
             (QStringList{QStringLiteral("a.wk.weight"), QStringLiteral("a.wq.weight")}));

    LoraPairFilterModel filter;
    filter.setSourceModel(&model);
    QAbstractItemModelTester filterTester(&filter, QAbstractItemModelTester::FailureReportingMode::QtTest);
    filter.setProblemsOnly(true);
    QCOMPARE(filter.rowCount(), 1);
    QCOMPARE(filter.index(0, LoraPairModel::AColumn).data(Qt::ToolTipRole).toString(),
             QStringLiteral("a.wv.mindpet_delta_lora_a"));
}

void TestModels::strategyModelComputesSlices() {
    auto strategy = std::make_shared<Strategy>();
    ParamLayout rows;
    rows.name = "w.rows";
    rows.devMatrix = {2, 4};
    rows.tensorMap = {{1}, {0}};  // dim 0 by axis 0 (2 parts), dim 1 by axis 1 (4 parts)
    rows.stages = {0};
    ParamLayout replicated;
    replicated.name = "norm";
    replicated.devMatrix = {2, 4};
    replicated.tensorMap = {{}};
    replicated.stages = {0, 1};
    ParamLayout unknown;
    unknown.name = "not.in.checkpoint";
    unknown.devMatrix = {8};
    unknown.tensorMap = {{0}};
    unknown.stages = {0};
    strategy->layouts = {rows, replicated, unknown};
    StrategyModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QHash<QString, std::vector<int64_t>> shapes;
    shapes.insert(QStringLiteral("w.rows"), {32, 64});
    shapes.insert(QStringLiteral("norm"), {64});
    model.setStrategy(strategy, shapes);
    QCOMPARE(model.rowCount(), 3);
    QCOMPARE(model.index(0, StrategyModel::DevMatrixColumn).data().toString(), QStringLiteral("[2, 4]"));
    QCOMPARE(model.index(0, StrategyModel::TensorMapColumn).data().toString(), QStringLiteral("[1, 0]"));
    QCOMPARE(model.index(0, StrategyModel::FullShapeColumn).data().toString(), QStringLiteral("[32, 64]"));
    QCOMPARE(model.index(0, StrategyModel::SliceShapeColumn).data().toString(), QStringLiteral("[16, 16]"));
    QCOMPARE(model.index(0, StrategyModel::SlicesColumn).data(StrategyModel::RawValueRole).toULongLong(),
             8ull);
    QCOMPARE(model.index(1, StrategyModel::StagesColumn).data().toString(), QStringLiteral("0, 1"));
    QCOMPARE(model.index(1, StrategyModel::SliceShapeColumn).data().toString(), QStringLiteral("[64]"));
    QCOMPARE(model.index(1, StrategyModel::SlicesColumn).data(StrategyModel::RawValueRole).toULongLong(),
             1ull);
    QCOMPARE(model.index(1, StrategyModel::OptShardColumn).data().toString(), QStringLiteral("off"));
    QCOMPARE(model.index(2, StrategyModel::FullShapeColumn).data().toString(), QStringLiteral("unknown"));
    QVERIFY(!model.fullShapeAt(2).has_value());
    QCOMPARE(model.rowOf(QStringLiteral("norm")), 1);
    model.setStrategy(nullptr, {});
    QCOMPARE(model.rowCount(), 0);
}

void TestModels::logModelCapsAndFilters() {
    LogModel model(nullptr, 3);
    LogFilterModel filter;
    filter.setSourceModel(&model);
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QAbstractItemModelTester filterTester(&filter, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QSignalSpy warnings(&model, &LogModel::warningOrWorse);
    const LogLevel levels[] = {LogLevel::Debug, LogLevel::Info, LogLevel::Warning, LogLevel::Error};
    for (int i = 0; i < 4; ++i)
        model.append({QDateTime::currentDateTime(), levels[i], QStringLiteral("message %1").arg(i)});
    QCOMPARE(model.rowCount(), 3);  // the oldest (debug) record was dropped
    QCOMPARE(model.index(0, LogModel::MessageColumn).data().toString(), QStringLiteral("message 1"));
    QCOMPARE(model.index(2, LogModel::LevelColumn).data().toString(), QStringLiteral("Error"));
    QCOMPARE(warnings.count(), 2);
    QCOMPARE(filter.rowCount(), 3);  // Info and above
    filter.setMinimumLevel(LogLevel::Warning);
    QCOMPARE(filter.rowCount(), 2);
    filter.setMinimumLevel(LogLevel::Error);
    QCOMPARE(filter.rowCount(), 1);
    QVERIFY(model.text().contains(QStringLiteral("message 3")));
    model.clear();
    QCOMPARE(model.rowCount(), 0);
}

void TestModels::logSinkForwardsFromAnotherThread() {
    LogModel model;
    const auto sink = installLogSink(&model);
    std::thread worker([] { lms::log().warn("from a worker thread: {}", 42); });
    worker.join();
    // The record crosses threads through a queued signal: it arrives once events are processed.
    QCOMPARE(model.rowCount(), 0);
    QTRY_COMPARE(model.rowCount(), 1);
    QCOMPARE(model.record(0).level, LogLevel::Warning);
    QCOMPARE(model.record(0).message, QStringLiteral("from a worker thread: 42"));
    removeLogSink(sink);
    lms::log().warn("not forwarded");
    QTest::qWait(20);
    QCOMPARE(model.rowCount(), 1);
}

void TestModels::statisticsOfFloats() {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const float inf = std::numeric_limits<float>::infinity();
    const std::vector<float> values{-2.0f, 0.0f, 1.0f, 3.0f, nan, inf, -inf, 0.0f};
    std::vector<std::byte> bytes(values.size() * 4);
    std::memcpy(bytes.data(), values.data(), bytes.size());
    auto stats = computeStatistics(DType::Float32, bytes, 5);
    QVERIFY(stats.has_value());
    QCOMPARE(stats->count, 8ull);
    QCOMPARE(stats->finite, 5ull);
    QCOMPARE(stats->nan, 1ull);
    QCOMPARE(stats->posInf, 1ull);
    QCOMPARE(stats->negInf, 1ull);
    QCOMPARE(stats->zeros, 2ull);
    QCOMPARE(stats->min, -2.0);
    QCOMPARE(stats->max, 3.0);
    QCOMPARE(stats->mean, 0.4);  // (-2 + 0 + 1 + 3 + 0) / 5
    // Population std: sqrt(mean of squares - mean²) = sqrt(14/5 - 0.16) = sqrt(2.64).
    QVERIFY(std::fabs(stats->stddev - std::sqrt(2.64)) < 1e-12);
    // Bins of width 1 over [-2, 3]: -2 | (none) | 0,0 | 1 | 3 (the maximum goes to the last bin).
    QCOMPARE(stats->histogram, (std::vector<uint64_t>{1, 0, 2, 1, 1}));
    CancelToken cancel;
    cancel.cancel();
    auto cancelled = computeStatistics(DType::Float32, bytes, 5, &cancel);
    QVERIFY(!cancelled);
    QCOMPARE(cancelled.error().code, ErrorCode::Cancelled);
}

void TestModels::statisticsOfHalfAndIntegers_data() {
    QTest::addColumn<int>("dtype");
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<double>("min");
    QTest::addColumn<double>("max");
    QTest::addColumn<double>("mean");
    // Float16 0x3C00 = 1.0, 0xC000 = -2.0, 0x3800 = 0.5 (IEEE binary16).
    QTest::newRow("Float16") << int(DType::Float16) << QByteArray::fromHex("003c00c00038") << -2.0 << 1.0
                             << -0.5 / 3.0;
    // BFloat16 0x3F80 = 1.0, 0x4040 = 3.0.
    QTest::newRow("BFloat16") << int(DType::BFloat16) << QByteArray::fromHex("803f4040") << 1.0 << 3.0 << 2.0;
    QTest::newRow("Int32") << int(DType::Int32) << QByteArray::fromHex("feffffff0a000000") << -2.0 << 10.0
                           << 4.0;
    QTest::newRow("UInt8") << int(DType::UInt8) << QByteArray::fromHex("00ff") << 0.0 << 255.0 << 127.5;
    QTest::newRow("Bool") << int(DType::Bool) << QByteArray::fromHex("010001") << 0.0 << 1.0 << 2.0 / 3.0;
}

void TestModels::statisticsOfHalfAndIntegers() {
    QFETCH(int, dtype);
    QFETCH(QByteArray, bytes);
    QFETCH(double, min);
    QFETCH(double, max);
    QFETCH(double, mean);
    auto stats =
        computeStatistics(DType(dtype), std::as_bytes(std::span(bytes.constData(), size_t(bytes.size()))));
    QVERIFY(stats.has_value());
    QCOMPARE(stats->min, min);
    QCOMPARE(stats->max, max);
    QVERIFY(std::fabs(stats->mean - mean) < 1e-12);
    uint64_t binned = 0;
    for (auto b : stats->histogram) binned += b;
    QCOMPARE(binned, stats->finite);
}

void TestModels::statisticsRefuseText() {
    const std::vector<std::byte> text(8);
    auto stats = computeStatistics(DType::String, text);
    QVERIFY(!stats);
    QCOMPARE(stats.error().code, ErrorCode::Unsupported);
    auto odd = computeStatistics(DType::Float32, std::span(text).first(6));
    QVERIFY(!odd);
    QCOMPARE(odd.error().code, ErrorCode::Malformed);
}

void TestModels::englishPluralsDropOrAddTheS() {
    installEnglishPlurals();
    QCOMPARE(QCoreApplication::translate("Test", "%n pair(s)", nullptr, 1), QStringLiteral("1 pair"));
    QCOMPARE(QCoreApplication::translate("Test", "%n pair(s)", nullptr, 0), QStringLiteral("0 pairs"));
    QCOMPARE(QCoreApplication::translate("Test", "<b>%n LoRA pair(s)</b>", nullptr, 12),
             QStringLiteral("<b>12 LoRA pairs</b>"));
    // Without a count, or without "(s)", the text is left alone.
    QCOMPARE(QCoreApplication::translate("Test", "pair(s)"), QStringLiteral("pair(s)"));
    QCOMPARE(QCoreApplication::translate("Test", "%n items", nullptr, 1), QStringLiteral("1 items"));
    TensorTreeModel model;
    model.setEntries(sampleEntries());
    QCOMPARE(model.index(0, TensorTreeModel::ShapeColumn).data().toString(), QStringLiteral("6 parameters"));
    const auto norm = childByLabel(model, model.index(0, 0), QStringLiteral("norm"));
    QCOMPARE(model.index(norm.row(), TensorTreeModel::ShapeColumn, norm.parent()).data().toString(),
             QStringLiteral("1 parameter"));
}

QTEST_MAIN(TestModels)
#include "tst_models.moc"
