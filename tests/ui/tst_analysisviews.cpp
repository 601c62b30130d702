// The studio's analysis views: the Impact tab (ImpactModel, its chart, the worker) and the Compare
// tab (CompareModel, "only what differs", the worker) on checkpoints written here, every model
// under QAbstractItemModelTester, and the CSV / JSON export of tables byte for byte.

#include "AnalysisWorker.h"
#include "ChunkMapModel.h"
#include "CompareModel.h"
#include "CompareTab.h"
#include "ImpactModel.h"
#include "ImpactTab.h"
#include "LogModel.h"
#include "MainWindow.h"
#include "MergePanel.h"
#include "SliceDiagram.h"
#include "StrategyTab.h"
#include "TableExport.h"
#include "TestSupport.h"
#include "Workspace.h"
#include "lms/distributed/Checkpoint2.h"
#include "lms/merge/Merge.h"

#include <QAbstractItemModelTester>
#include <QCheckBox>
#include <QSignalSpy>
#include <QSortFilterProxyModel>
#include <QStandardItemModel>
#include <QTableView>
#include <QTemporaryDir>
#include <QtTest>

using namespace lms;
using namespace lms::ui;
using lms::test::FakeTensor;
using lms::test::floatBytes;

namespace {

// Two layers with a float32 pair each, and a bf16 layer whose tiny adapter the rounding swallows.
std::vector<FakeTensor> impactModelTensors(float bScale) {
    std::vector<FakeTensor> t;
    auto layer = [&](int n, DType baseType, float scale, uint32_t seed) {
        const std::string stem = "model.layers." + std::to_string(n) + ".attention.wq";
        auto w = test::randomValues(8 * 6, seed);
        if (baseType == DType::BFloat16)
            for (float& x : w) x = 1.0f + 0.25f * (x + 1.0f);
        auto a = test::randomValues(2 * 6, seed + 1), b = test::randomValues(8 * 2, seed + 2);
        for (float& x : a) x *= scale;
        for (float& x : b) x *= scale * bScale;
        t.push_back(
            {stem + ".weight", std::string(tensorTypeName(baseType)), {8, 6}, floatBytes(baseType, w)});
        t.push_back({stem + ".mindpet_delta_lora_a", "Float32", {2, 6}, floatBytes(DType::Float32, a)});
        t.push_back({stem + ".mindpet_delta_lora_b", "Float32", {8, 2}, floatBytes(DType::Float32, b)});
    };
    layer(0, DType::Float32, 1.0f, 3);
    layer(1, DType::Float32, 0.5f, 9);
    layer(2, DType::BFloat16, 1e-3f, 21);
    return t;
}

std::shared_ptr<const LoadedModel> open(const std::filesystem::path& path) {
    LoadOutcome outcome = loadPath(OpenRequest{QString::fromStdString(path.string()), {}}, nullptr);
    return outcome.model;
}

QString cell(const QAbstractItemModel& model, int row, int column) {
    return model.index(row, column).data().toString();
}

}  // namespace

class TestAnalysisViews : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() { QStandardPaths::setTestModeEnabled(true); }

    // The tab's rows are the core's numbers for the scaling the provider gives, shown in words.
    void impactTab() {
        QTemporaryDir dir;
        const auto path = std::filesystem::path(dir.path().toStdString()) / "m.ckpt";
        test::writeCheckpoint(path, impactModelTensors(1.0f));
        auto model = open(path);
        QVERIFY(model);
        const LoraPlan plan = planLora(model->source->tensors());
        QCOMPARE(plan.okPairs, size_t(3));

        ImpactTab tab;
        QAbstractItemModelTester tester(tab.impactModel(),
                                        QAbstractItemModelTester::FailureReportingMode::QtTest);
        QAbstractItemModelTester sortTester(tab.sortModel(),
                                            QAbstractItemModelTester::FailureReportingMode::QtTest);
        tab.setModel(model, plan);
        QVERIFY(!tab.analyse());  // no scaling provider yet
        QCOMPARE(tab.statusText(), QStringLiteral("No scaling: set it in the merge panel."));
        tab.setInputsProvider([&] { return ImpactTab::Inputs{model->source, plan, {0.5, 0.5, 0.5}, {}}; });
        QSignalSpy done(&tab, &ImpactTab::analysisFinished);
        QVERIFY(tab.analyse());
        QVERIFY(done.wait(20000));
        QCOMPARE(done.first().first().toBool(), true);

        auto expected = computeLoraImpact(*model->source, plan, {0.5, 0.5, 0.5});
        QVERIFY(expected.has_value());
        const ImpactModel& m = *tab.impactModel();
        QCOMPARE(m.rowCount(), 3);
        for (int row = 0; row < 3; ++row) {
            const PairImpact& e = expected->pairs[size_t(row)];
            QCOMPARE(cell(m, row, ImpactModel::BaseColumn), QString::fromStdString(e.base));
            QCOMPARE(cell(m, row, ImpactModel::LayerColumn), QString::number(row));
            QCOMPARE(cell(m, row, ImpactModel::RankColumn), QStringLiteral("2"));
            QCOMPARE(cell(m, row, ImpactModel::ScalingColumn), QStringLiteral("0.5"));
            QCOMPARE(m.index(row, ImpactModel::RelativeColumn).data(ImpactModel::SortRole).toDouble(),
                     e.relativeNorm);
            QCOMPARE(cell(m, row, ImpactModel::RelativeColumn), relativeText(e.relativeNorm));
            QCOMPARE(cell(m, row, ImpactModel::NumericalRankColumn), QStringLiteral("2"));
        }
        QCOMPARE(cell(m, 0, ImpactModel::ShapeColumn), QStringLiteral("[8, 6] Float32"));
        QCOMPARE(cell(m, 2, ImpactModel::ShapeColumn), QStringLiteral("[8, 6] BFloat16"));
        QCOMPARE(cell(m, 2, ImpactModel::UnchangedColumn), QStringLiteral("100.00 %"));
        QVERIFY(tab.statusText().contains(QStringLiteral("1 base weight(s) would not change at all")));
        // Sorted by the relative norm, largest first (the view's initial order).
        const auto* sorted = tab.sortModel();
        for (int row = 1; row < 3; ++row)
            QVERIFY(
                sorted->index(row - 1, ImpactModel::RelativeColumn).data(ImpactModel::SortRole).toDouble() >=
                sorted->index(row, ImpactModel::RelativeColumn).data(ImpactModel::SortRole).toDouble());
        const auto& layers = tab.chart()->layers();
        QCOMPARE(layers.size(), size_t(3));
        QCOMPARE(layers[1].relativeNorm, expected->pairs[1].relativeNorm);
        tab.setModel(nullptr, {});
        QCOMPARE(m.rowCount(), 0);
    }

    // A cancelled analysis reports Cancelled and leaves the table empty.
    void impactCancel() {
        QTemporaryDir dir;
        const auto path = std::filesystem::path(dir.path().toStdString()) / "m.ckpt";
        test::writeCheckpoint(path, impactModelTensors(1.0f));
        auto model = open(path);
        QVERIFY(model);
        ImpactTab tab;
        tab.setModel(model, planLora(model->source->tensors()));
        tab.setInputsProvider([] {
            return ImpactTab::Inputs{{}, {}, {}, QStringLiteral("No scaling set.")};
        });
        QVERIFY(!tab.analyse());
        QCOMPARE(tab.statusText(), QStringLiteral("The merge panel is needed first: No scaling set."));
        // A job that waits for the cancel, so the cancel certainly lands while it runs.
        AnalysisRunner runner;
        QSignalSpy failed(&runner, &AnalysisRunner::failed);
        runner.start([](const ProgressCallback&, const CancelToken* cancel) -> Status {
            while (!cancel->isCancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
            return fail(ErrorCode::Cancelled, "cancelled");
        });
        QVERIFY(runner.isRunning());
        runner.cancel();
        QVERIFY(failed.wait(10000));
        QCOMPARE(failed.first().at(0).toString(), QStringLiteral("Cancelled."));
        QCOMPARE(failed.first().at(1).toBool(), true);
        QVERIFY(runner.wait(5000));
        // stop(): the job ends before it returns and whatever it reports is dropped.
        failed.clear();
        QSignalSpy finished(&runner, &AnalysisRunner::finished);
        runner.start([](const ProgressCallback&, const CancelToken* cancel) -> Status {
            while (!cancel->isCancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
            return fail(ErrorCode::Cancelled, "cancelled");
        });
        runner.stop();
        QVERIFY(!runner.isRunning());
        QTest::qWait(50);
        QCOMPARE(failed.count(), 0);
        QCOMPARE(finished.count(), 0);
    }

    // A and B differ in one tensor's values and B lacks another: the table and the filter say so.
    void compareTab() {
        QTemporaryDir dir;
        const auto root = std::filesystem::path(dir.path().toStdString());
        std::filesystem::create_directories(root / "a");
        std::filesystem::create_directories(root / "b");
        const std::vector<FakeTensor> a{{"w1", "Float32", {2, 2}, floatBytes(DType::Float32, {1, 2, 3, 4})},
                                        {"w2", "Float32", {2}, floatBytes(DType::Float32, {5, 6})},
                                        {"w3", "Float32", {1}, floatBytes(DType::Float32, {7})}};
        std::vector<FakeTensor> b = a;
        b[0].content = floatBytes(DType::Float32, {1, 2, 3, 4.5f});
        b.pop_back();
        test::writeCheckpoint(root / "a" / "a.ckpt", a);
        test::writeCheckpoint(root / "b" / "b.ckpt", b);
        auto model = open(root / "a" / "a.ckpt");
        QVERIFY(model);

        CompareTab tab;
        QAbstractItemModelTester tester(tab.compareModel(),
                                        QAbstractItemModelTester::FailureReportingMode::QtTest);
        QAbstractItemModelTester filterTester(tab.filterModel(),
                                              QAbstractItemModelTester::FailureReportingMode::QtTest);
        QVERIFY(!tab.compareWith(QStringLiteral("x")));  // nothing open
        tab.setModel(model);
        QSignalSpy done(&tab, &CompareTab::comparisonFinished);
        QVERIFY(tab.compareWith(QString::fromStdString((root / "b" / "b.ckpt").string())));
        QVERIFY(done.wait(20000));
        QVERIFY2(done.first().first().toBool(), qPrintable(tab.statusText()));
        const CompareModel& m = *tab.compareModel();
        QCOMPARE(m.rowCount(), 3);
        QCOMPARE(cell(m, 0, CompareModel::NameColumn), QStringLiteral("w1"));
        QCOMPARE(cell(m, 0, CompareModel::StatusColumn), QStringLiteral("changed"));
        QCOMPARE(cell(m, 0, CompareModel::ChangedColumn), QStringLiteral("1 of 4"));
        QCOMPARE(cell(m, 0, CompareModel::MaxAbsColumn), QStringLiteral("0.5"));
        QCOMPARE(m.index(0, CompareModel::RelativeColumn).data(CompareModel::SortRole).toDouble(),
                 0.5 / std::sqrt(30.0));
        QCOMPARE(cell(m, 1, CompareModel::StatusColumn), QStringLiteral("identical"));
        QCOMPARE(cell(m, 1, CompareModel::CosineColumn), QStringLiteral("1.000000"));
        QCOMPARE(cell(m, 2, CompareModel::StatusColumn), QStringLiteral("only in A"));
        QCOMPARE(cell(m, 2, CompareModel::ShapeColumn), QStringLiteral("[1]"));
        QCOMPARE(cell(m, 2, CompareModel::ChangedColumn), QStringLiteral("–"));
        QVERIFY2(tab.statusText().endsWith(QStringLiteral(
                     "1 identical, 1 changed, 1 only in A, 0 only in B, 0 with another dtype or shape.")),
                 qPrintable(tab.statusText()));
        tab.onlyDifferences()->setChecked(true);
        QCOMPARE(tab.filterModel()->rowCount(), 2);
        QCOMPARE(tab.filterModel()->index(1, 0).data().toString(), QStringLiteral("w3"));

        // B that is not a checkpoint: one error naming it.
        done.clear();
        const auto bogus = root / "b" / "notes.txt";
        test::writeFileBytes(bogus, std::vector<std::byte>(16, std::byte{'x'}));
        QVERIFY(tab.compareWith(QString::fromStdString(bogus.string())));
        QVERIFY(done.wait(20000));
        QCOMPARE(done.first().first().toBool(), false);
        QVERIFY2(tab.statusText().startsWith(QStringLiteral("The comparison failed: ")),
                 qPrintable(tab.statusText()));
        QVERIFY2(tab.statusText().contains(QStringLiteral("notes.txt")), qPrintable(tab.statusText()));
        QCOMPARE(m.rowCount(), 0);
    }

    // A Checkpoint 2.0 iteration (the independent generator's ck2_iteration_tp2: 2-way TP, vocab-parallel
    // embedding, replicated norms) in the Strategy tab: one row per tensor, chunks at their global
    // offsets, labelled with the rank whose file stores them.
    void chunkMap() {
        QTemporaryDir dir;
        const auto root = std::filesystem::path(dir.path().toStdString());
        if (const QString why = test::generateFixtures(root, {QStringLiteral("ck2_iteration_tp2")});
            !why.isEmpty())
            QSKIP(qPrintable(why));
        const auto iteration = root / "ck2_iteration_tp2" / "input" / "checkpoint";
        auto source = openCheckpoint2Source(iteration);
        QVERIFY2(source.has_value(), source ? "" : source.error().describe().c_str());
        auto model = std::make_shared<LoadedModel>();
        model->path = QString::fromStdString(iteration.string());
        model->source = std::shared_ptr<const ModelSource>(std::move(*source));

        StrategyTab tab;
        QAbstractItemModelTester tester(tab.chunkModel(),
                                        QAbstractItemModelTester::FailureReportingMode::QtTest);
        tab.setModel(model);
        QVERIFY(tab.showsChunkMap());
        const ChunkMapModel& m = *tab.chunkModel();
        QCOMPARE(m.rowCount(), int(model->source->tensors().size()));
        QCOMPARE(m.fileCount(), size_t(2));
        QVERIFY(!m.holdersAreFiles());
        const int emb = m.rowOf(QStringLiteral("model.tok_embeddings.embedding_weight"));
        QVERIFY(emb >= 0);
        QCOMPARE(cell(m, emb, ChunkMapModel::FullShapeColumn), QStringLiteral("[128, 32]"));
        QCOMPARE(cell(m, emb, ChunkMapModel::ChunkShapeColumn), QStringLiteral("[64, 32]"));
        QCOMPARE(cell(m, emb, ChunkMapModel::ChunksColumn), QStringLiteral("2"));
        QCOMPARE(cell(m, emb, ChunkMapModel::HoldersColumn), QStringLiteral("rank 0, rank 1"));
        const auto pieces = m.piecesAt(emb);
        QCOMPARE(pieces.pieces.size(), size_t(2));
        QCOMPARE(pieces.pieces[0].box.text(), std::string("[0:64, 0:32]"));
        QCOMPARE(pieces.pieces[1].box.text(), std::string("[64:128, 0:32]"));
        QCOMPARE(pieces.labels, (QStringList{QStringLiteral("rank 0"), QStringLiteral("rank 1")}));
        // A replicated norm: one chunk, stored by both ranks.
        const int norm = m.rowOf(QStringLiteral("model.layers.0.ffn_norm.weight"));
        QVERIFY(norm >= 0);
        QCOMPARE(cell(m, norm, ChunkMapModel::ChunksColumn), QStringLiteral("1"));
        QCOMPARE(m.piecesAt(norm).labels, QStringList{QStringLiteral("ranks 0, 1")});
        QCOMPARE(m.piecesAt(norm).pieces[0].ranks, (std::vector<int64_t>{0, 1}));
        // The tab starts on a tensor cut into chunks and draws it with the chunk labels.
        QVERIFY(tab.diagram()->pieces().size() > 1);
        QCOMPARE(tab.diagram()->labels().size(), qsizetype(tab.diagram()->pieces().size()));
        QVERIFY(tab.selectParameter(QStringLiteral("model.tok_embeddings.embedding_weight")));
        QCOMPARE(tab.diagram()->labels(), pieces.labels);
        // A full checkpoint has no chunk map; the strategy view comes back.
        QTemporaryDir other;
        const auto file = std::filesystem::path(other.path().toStdString()) / "m.ckpt";
        test::writeCheckpoint(file, impactModelTensors(1.0f));
        tab.setModel(open(file));
        QVERIFY(!tab.showsChunkMap());
        QCOMPARE(m.rowCount(), 0);
    }

    // Not a check: with LMS_SCREENSHOT_DIR set (and a real display, e.g. Xvfb), writes what the new
    // views look like in the window at 1024×700 — impact.png, compare.png, chunkmap.png — for people to
    // look at (also under QT_SCALE_FACTOR=2).
    void screenshots() {
        const QString out = qEnvironmentVariable("LMS_SCREENSHOT_DIR");
        if (out.isEmpty()) QSKIP("set LMS_SCREENSHOT_DIR to write screenshots of the views");
        LogModel log;
        MainWindow window(&log);
        window.resize(1024, 700);
        window.show();
        QSignalSpy shown(&window, &MainWindow::modelShown);
        window.openDemoWorkspace();
        QVERIFY(shown.wait(30000));
        auto* impact = window.impactTab();
        window.mergePanel()->setSuggestedScaling(16, 0);  // the Impact tab measures the panel's merge
        QSignalSpy analysed(impact, &ImpactTab::analysisFinished);
        QVERIFY2(impact->analyse(), qPrintable(impact->statusText()));
        QVERIFY(analysed.wait(30000));
        window.tabs()->setCurrentWidget(impact);
        QTest::qWait(300);
        QVERIFY(window.grab().save(out + QStringLiteral("/impact.png")));

        // B: the demo's full checkpoint merged with s = 2.
        QTemporaryDir dir;
        auto full = openFullSource(window.demoInfo().fullCheckpoint);
        QVERIFY(full.has_value());
        MergeOptions options;
        options.outputFile = std::filesystem::path(dir.path().toStdString()) / "merged.ckpt";
        options.scaling.scaling = 2.0;
        QVERIFY(runMerge(**full, options).has_value());
        auto* compare = window.compareTab();
        QSignalSpy compared(compare, &CompareTab::comparisonFinished);
        QVERIFY(compare->compareWith(QString::fromStdString(options.outputFile.string())));
        QVERIFY(compared.wait(30000));
        window.tabs()->setCurrentWidget(compare);
        QTest::qWait(300);
        QVERIFY(window.grab().save(out + QStringLiteral("/compare.png")));

        if (test::generateFixtures(std::filesystem::path(dir.path().toStdString()),
                                   {QStringLiteral("ck2_iteration_tp2")})
                .isEmpty()) {
            const auto root =
                std::filesystem::path(dir.path().toStdString()) / "ck2_iteration_tp2/input/checkpoint";
            auto source = openCheckpoint2Source(root);
            QVERIFY(source.has_value());
            auto model = std::make_shared<LoadedModel>();
            model->path = QString::fromStdString(root.string());
            model->source = std::shared_ptr<const ModelSource>(std::move(*source));
            window.strategyTab()->setModel(model);
            window.tabs()->setCurrentWidget(window.strategyTab());
            QTest::qWait(300);
            QVERIFY(window.grab().save(out + QStringLiteral("/chunkmap.png")));
        }
    }

    // RFC 4180 quoting and JSON escaping over a class of awkward cells.
    void exportBytes_data() {
        QTest::addColumn<QString>("text");
        QTest::addColumn<QByteArray>("csvField");
        QTest::addColumn<QByteArray>("jsonValue");
        QTest::newRow("plain") << QStringLiteral("w1") << QByteArray("w1") << QByteArray("\"w1\"");
        QTest::newRow("comma") << QStringLiteral("[4, 8]") << QByteArray("\"[4, 8]\"")
                               << QByteArray("\"[4, 8]\"");
        QTest::newRow("quote") << QStringLiteral("say \"hi\"") << QByteArray("\"say \"\"hi\"\"\"")
                               << QByteArray("\"say \\\"hi\\\"\"");
        QTest::newRow("newline") << QStringLiteral("a\nb") << QByteArray("\"a\nb\"")
                                 << QByteArray("\"a\\nb\"");
        QTest::newRow("CR") << QStringLiteral("a\rb") << QByteArray("\"a\rb\"") << QByteArray("\"a\\rb\"");
        QTest::newRow("backslash, unicode")
            << QStringLiteral("‖Δ‖\\x") << QByteArray("‖Δ‖\\x") << QByteArray("\"‖Δ‖\\\\x\"");
        QTest::newRow("control") << QStringLiteral("a\x01") << QByteArray("a\x01")
                                 << QByteArray("\"a\\u0001\"");
        QTest::newRow("empty") << QString() << QByteArray("") << QByteArray("\"\"");
    }
    void exportBytes() {
        QFETCH(QString, text);
        QFETCH(QByteArray, csvField);
        QFETCH(QByteArray, jsonValue);
        QStandardItemModel model(2, 2);
        model.setHorizontalHeaderLabels({QStringLiteral("Name"), QStringLiteral("Shape, dims")});
        model.setItem(0, 0, new QStandardItem(QStringLiteral("x")));
        model.setItem(0, 1, new QStandardItem(text));
        model.setItem(1, 0, new QStandardItem(QStringLiteral("y")));
        model.setItem(1, 1, new QStandardItem(QStringLiteral("2")));
        QCOMPARE(tableToCsv(model), QByteArray("Name,\"Shape, dims\"\r\nx,") + csvField + "\r\ny,2\r\n");
        QCOMPARE(tableToJson(model),
                 QByteArray("[\n  {\n    \"Name\": \"x\",\n    \"Shape, dims\": ") + jsonValue +
                     "\n  },\n  {\n    \"Name\": \"y\",\n    \"Shape, dims\": \"2\"\n  }\n]\n");
    }

    // A tree exports depth first, parents before children; an empty table is "[]" / the header.
    void exportTreeAndEmpty() {
        QStandardItemModel tree;
        tree.setHorizontalHeaderLabels({QStringLiteral("Name")});
        auto* model = new QStandardItem(QStringLiteral("model"));
        model->appendRow(new QStandardItem(QStringLiteral("w")));
        tree.appendRow(model);
        tree.appendRow(new QStandardItem(QStringLiteral("step")));
        QCOMPARE(tableToCsv(tree), QByteArray("Name\r\nmodel\r\nw\r\nstep\r\n"));
        QStandardItemModel empty(0, 2);
        empty.setHorizontalHeaderLabels({QStringLiteral("A"), QStringLiteral("B")});
        QCOMPARE(tableToCsv(empty), QByteArray("A,B\r\n"));
        QCOMPARE(tableToJson(empty), QByteArray("[]\n"));
    }

    // What the Compare table shows, exported: the exact bytes, and the file written atomically.
    void exportCompareTable() {
        DiffReport r;
        TensorDiff d;
        d.name = "w1";
        d.status = DiffStatus::Changed;
        d.typeA = d.typeB = "Float32";
        d.dimsA = d.dimsB = {2, 2};
        d.elements = 4, d.changed = 1, d.floating = true, d.maxAbsDiff = 0.5, d.relativeNorm = 0.25,
        d.cosine = 0.5;
        r.tensors.push_back(d);
        TensorDiff only;
        only.name = "w3";
        only.status = DiffStatus::OnlyInB;
        only.typeB = "BFloat16";
        only.dimsB = {1};
        r.tensors.push_back(only);
        CompareModel model;
        model.setReport(r);
        const QByteArray csv = tableToCsv(model);
        QCOMPARE(csv, QByteArray("Tensor,Status,Changed,Max |Δ|,‖B − A‖ / ‖A‖,Cosine,Dtype,Shape\r\n"
                                 "w1,changed,1 of 4,0.5,0.25,0.500000,Float32,\"[2, 2]\"\r\n"
                                 "w3,only in B,–,–,–,–,BFloat16,[1]\r\n"));
        QTemporaryDir dir;
        const QString file = dir.filePath(QStringLiteral("compare.csv"));
        QCOMPARE(writeExport(file, csv), QString());
        QFile f(file);
        QVERIFY(f.open(QIODevice::ReadOnly));
        QCOMPARE(f.readAll(), csv);
        const QString error = writeExport(dir.filePath(QStringLiteral("missing/compare.csv")), csv);
        QVERIFY2(error.startsWith(QStringLiteral("Could not write ")), qPrintable(error));
        // The view gets the two context-menu actions.
        QTableView view;
        view.setModel(&model);
        addExportActions(&view, QStringLiteral("compare"));
        QStringList names;
        for (auto* action : view.actions()) names << action->objectName();
        QVERIFY(names.contains(QStringLiteral("exportCSVAction")));
        QVERIFY(names.contains(QStringLiteral("exportJSONAction")));
    }
};

QTEST_MAIN(TestAnalysisViews)
#include "tst_analysisviews.moc"
