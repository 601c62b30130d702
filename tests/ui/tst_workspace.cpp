// Recognising checkpoint paths and opening them off the UI thread (ModelLoader), on the
// built-in demo and on broken input; and the browser's file filter.

#include "BrowserPanel.h"
#include "EnglishPlurals.h"
#include "TestSupport.h"
#include "Workspace.h"
#include "lms/lora/LoraPlan.h"
#include "lms/merge/Demo.h"

#include <QFileSystemModel>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>
#include <cstring>

using namespace lms;
using namespace lms::ui;

namespace {
QString q(const std::filesystem::path& p) {
    return QString::fromStdString(p.string());
}
void touch(const QString& path) {
    lms::test::writeFileBytes(path.toStdString(), std::vector<std::byte>(4));
}
}  // namespace

class TestWorkspace : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void opensOurMergedOutputFolderAsAFullCheckpoint();
    void opensEveryKindAsOneModel_data();
    void opensEveryKindAsOneModel();
    void rank0WithAGivenStrategyIsDistributed();
    void loadsTheDemoFullCheckpoint();
    void loadsTheDemoDistributedCheckpoint();
    void loadsAStrategyFileOnItsOwn();
    void reportsBrokenInputInWords();
    void loaderRunsOffTheUiThreadAndDropsSupersededResults();
    void browserFilterShowsWhatMatters();
    void realMindSporeFiles_data();
    void realMindSporeFiles();

private:
    QTemporaryDir m_dir;
    DemoInfo m_demo;
};

void TestWorkspace::initTestCase() {
    installEnglishPlurals();
    QVERIFY(m_dir.isValid());
    auto demo = writeDemo(m_dir.filePath(QStringLiteral("demo")).toStdString());
    QVERIFY2(demo.has_value(), demo ? "" : demo.error().describe().c_str());
    m_demo = *demo;
}

// Names, kinds, rank folders and strategies nearby are the core's (tst_discovery); here the
// open flow acts on them: dst/rank_0/checkpoint_0.ckpt of a merge of ours is one full model.
void TestWorkspace::opensOurMergedOutputFolderAsAFullCheckpoint() {
    QTemporaryDir dir;
    const auto merged = std::filesystem::path(dir.path().toStdString()) / "dst" / "rank_0";
    std::filesystem::create_directories(merged);
    std::filesystem::copy_file(m_demo.fullCheckpoint, merged / "checkpoint_0.ckpt");
    const auto outcome = loadPath({dir.filePath(QStringLiteral("dst")), {}}, nullptr);
    QVERIFY2(outcome.model, qPrintable(outcome.error));
    QCOMPARE(outcome.model->kind, LoadedModel::Kind::Full);
    QCOMPARE(outcome.model->path, q(merged / "checkpoint_0.ckpt"));
    QCOMPARE(outcome.model->source->tensors().size(), size_t(72));
    QVERIFY(outcome.model->notes.isEmpty());  // not "the slice that rank 0 stored"
}

void TestWorkspace::opensEveryKindAsOneModel_data() {
    QTest::addColumn<QString>("kind");
    QTest::addColumn<QString>("path");  // relative to the row's folder
    QTest::addColumn<int>("pairs");     // LoRA pairs the opened model holds
    QTest::newRow("our output") << "merged"
                                << "distributed_merged" << 0;
    QTest::newRow("our sharded safetensors output") << "sharded"
                                                    << "dst" << 1;
    QTest::newRow("a base with its adapter") << "adapter"
                                             << "base.ckpt" << 1;
    QTest::newRow("Checkpoint 2.0 save root (fixture)") << "ck2_iteration_tp2"
                                                        << "input/checkpoint" << 8;
    QTest::newRow("Hugging Face shard folder (fixture)") << "unified_hf_index"
                                                         << "input/model" << 10;
}

// Every kind the core classifies opens in the studio as one full model (with what it was opened with).
void TestWorkspace::opensEveryKindAsOneModel() {
    QFETCH(QString, kind);
    QFETCH(QString, path);
    QFETCH(int, pairs);
    QTemporaryDir tmp;
    namespace fs = std::filesystem;
    using namespace lms::test;
    fs::path root = tmp.path().toStdString();
    const auto f32 = [](size_t n, uint32_t seed) {
        return floatBytes(DType::Float32, randomValues(n, seed));
    };
    OpenRequest request;
    if (kind == QLatin1StringView("merged")) {
        fs::create_directories(root / "distributed_merged" / "rank_0");
        writeCheckpoint(root / "distributed_merged" / "rank_0" / "checkpoint_0.ckpt",
                        {{"l0.wq.weight", "Float32", {8, 4}, f32(32, 1)}});
    } else if (kind == QLatin1StringView("sharded")) {
        const fs::path rank0 = root / "dst" / "rank_0";
        fs::create_directories(rank0);
        writeSafetensors(rank0 / "model-00001-of-00002.safetensors",
                         {{"l0.wq.weight", "Float32", {8, 4}, f32(32, 1)}});
        writeSafetensors(rank0 / "model-00002-of-00002.safetensors",
                         {{"l0.wq.lora_A.weight", "Float32", {2, 4}, f32(8, 2)},
                          {"l0.wq.lora_B.weight", "Float32", {8, 2}, f32(16, 3)}});
        lms::test::writeFileBytes(rank0 / "model.safetensors.index.json", [] {
            const std::string json =
                R"({"metadata": {}, "weight_map": {"l0.wq.weight": "model-00001-of-00002.safetensors", )"
                R"("l0.wq.lora_A.weight": "model-00002-of-00002.safetensors", )"
                R"("l0.wq.lora_B.weight": "model-00002-of-00002.safetensors"}})";
            std::vector<std::byte> bytes(json.size());
            std::memcpy(bytes.data(), json.data(), json.size());
            return bytes;
        }());
    } else if (kind == QLatin1StringView("adapter")) {
        writeCheckpoint(root / "base.ckpt", {{"l0.wq.weight", "Float32", {8, 4}, f32(32, 1)}});
        writeCheckpoint(root / "DELTA_CKP-1_2.ckpt",
                        {{"l0.wq.mindpet_delta_lora_a", "Float32", {2, 4}, f32(8, 3)},
                         {"l0.wq.mindpet_delta_lora_b", "Float32", {8, 2}, f32(16, 4)}});
        request.adapter = q(root / "DELTA_CKP-1_2.ckpt");
    } else {
        const QString why = generateFixtures(root, {kind});
        if (!why.isEmpty()) QSKIP(qPrintable(why));
        root /= kind.toStdString();
    }
    request.path = q(root / path.toStdString());
    const auto outcome = loadPath(request, nullptr);
    QVERIFY2(outcome.model, qPrintable(outcome.error));
    QCOMPARE(outcome.model->kind, LoadedModel::Kind::Full);
    QCOMPARE(outcome.model->opened.adapter, request.adapter);
    QCOMPARE(int(planLora(outcome.model->source->tensors()).pairs.size()), pairs);
}

// Only rank_0 named like our output, but a strategy given: a run missing rank_1, refused in words
// (never its rank-0 slice taken for the whole model).
void TestWorkspace::rank0WithAGivenStrategyIsDistributed() {
    QTemporaryDir tmp;
    namespace fs = std::filesystem;
    const fs::path root = tmp.path().toStdString();
    fs::create_directories(root / "m" / "rank_0");
    fs::copy_file(m_demo.distributedDir / "rank_0" / "checkpoint_0.ckpt",
                  root / "m" / "rank_0" / "checkpoint_0.ckpt");
    QCOMPARE(classifyPath(root / "m"), PathKind::MergedOutput);
    const auto outcome = loadPath({q(root / "m"), q(m_demo.strategyDir)}, nullptr);
    QVERIFY(!outcome.model);
    QVERIFY2(outcome.error.startsWith(QStringLiteral("Rank_1 is missing under ") + q(root / "m")),
             qPrintable(outcome.error));
}

void TestWorkspace::loadsTheDemoFullCheckpoint() {
    const auto outcome = loadPath({q(m_demo.fullCheckpoint), {}}, nullptr);
    QVERIFY2(outcome.model, qPrintable(outcome.error));
    const auto& model = *outcome.model;
    QCOMPARE(model.kind, LoadedModel::Kind::Full);
    QCOMPARE(model.displayName(), QStringLiteral("model.ckpt"));
    QVERIFY(!model.strategy);
    QVERIFY(model.placement.empty());
    const auto& tensors = model.source->tensors();
    QCOMPARE(tensors.size(), size_t(72));
    QCOMPARE(tensors.front().name, std::string("model.tok_embeddings.embedding_weight"));
    QCOMPARE(tensors.front().dims, (std::vector<int64_t>{64, 32}));
}

void TestWorkspace::loadsTheDemoDistributedCheckpoint() {
    const auto outcome = loadPath({q(m_demo.distributedDir), {}}, nullptr);
    QVERIFY2(outcome.model, qPrintable(outcome.error));
    const auto& model = *outcome.model;
    QCOMPARE(model.kind, LoadedModel::Kind::Distributed);
    QCOMPARE(model.ranks.size(), size_t(2));
    QCOMPARE(model.ranks[1].picked.filename().string(), std::string("checkpoint_1.ckpt"));
    QCOMPARE(model.strategyArgument, q(m_demo.strategyDir));
    QVERIFY(model.strategy);
    const auto& tensors = model.source->tensors();
    QCOMPARE(tensors.size(), size_t(72));
    QCOMPARE(model.placement.size(), tensors.size());
    // wq is split by rows over the 2 ranks; the norm weights are whole on both.
    for (size_t i = 0; i < tensors.size(); ++i) {
        if (tensors[i].name == "model.layers.0.attention.wq.weight") {
            QCOMPARE(tensors[i].dims, (std::vector<int64_t>{32, 32}));  // full shape, not the [16, 32] slice
            QCOMPARE(model.placement[i].summary, QStringLiteral("2 slices on ranks 0, 1"));
            QVERIFY(model.placement[i].details.contains(QStringLiteral("[0:16, 0:32] on rank 0")));
        }
        if (tensors[i].name == "model.layers.0.attention_norm.weight")
            QCOMPARE(model.placement[i].summary, QStringLiteral("whole on ranks 0, 1"));
    }
}

void TestWorkspace::loadsAStrategyFileOnItsOwn() {
    const QString file = q(m_demo.strategyDir / "ckpt_strategy_rank_0.ckpt");
    const auto outcome = loadPath({file, {}}, nullptr);
    QVERIFY(!outcome.model);
    QVERIFY2(outcome.strategy, qPrintable(outcome.error));
    QCOMPARE(outcome.strategy->layouts.size(), size_t(72 - 3));  // every tensor but the 3 scalars
}

void TestWorkspace::reportsBrokenInputInWords() {
    QTemporaryDir dir;
    const QString garbage = dir.filePath(QStringLiteral("garbage.ckpt"));
    lms::test::writeFileBytes(garbage.toStdString(), std::vector<std::byte>(100, std::byte{0xff}));
    auto outcome = loadPath({garbage, {}}, nullptr);
    QVERIFY(!outcome.model && !outcome.strategy);
    QCOMPARE(outcome.errorTitle, QStringLiteral("Cannot open garbage.ckpt"));
    QVERIFY2(outcome.error.contains(garbage), qPrintable(outcome.error));

    // A truncated checkpoint: the error says where the bytes ran out.
    const auto bytes = lms::test::readFileBytes(m_demo.fullCheckpoint);
    const QString truncated = dir.filePath(QStringLiteral("truncated.ckpt"));
    lms::test::writeFileBytes(truncated.toStdString(), std::span(bytes).first(bytes.size() / 2));
    outcome = loadPath({truncated, {}}, nullptr);
    QVERIFY(!outcome.model);
    QVERIFY2(outcome.error.contains(QStringLiteral("byte")), qPrintable(outcome.error));

    outcome = loadPath({dir.filePath(QStringLiteral("nothing-here")), {}}, nullptr);
    QVERIFY(outcome.error.contains(QStringLiteral("There is no file or folder")));

    outcome = loadPath({dir.path(), {}}, nullptr);
    QVERIFY(outcome.error.contains(QStringLiteral("neither a checkpoint nor a distributed checkpoint")));

    // A distributed checkpoint without any strategy nearby.
    touch(dir.filePath(QStringLiteral("model/rank_0/a.ckpt")));
    outcome = loadPath({dir.filePath(QStringLiteral("model")), {}}, nullptr);
    QVERIFY(outcome.error.contains(QStringLiteral("needs the parallel strategy")));

    CancelToken cancel;
    cancel.cancel();
    outcome = loadPath({q(m_demo.fullCheckpoint), {}}, &cancel);
    QVERIFY(outcome.cancelled);
}

void TestWorkspace::loaderRunsOffTheUiThreadAndDropsSupersededResults() {
    ModelLoader loader;
    QSignalSpy loaded(&loader, &ModelLoader::modelLoaded);
    QSignalSpy failed(&loader, &ModelLoader::failed);
    QSignalSpy busy(&loader, &ModelLoader::busyChanged);
    loader.open({q(m_demo.fullCheckpoint), {}});
    QVERIFY(loader.isBusy());
    // Superseded at once: only the second request's result is delivered.
    loader.open({q(m_demo.distributedDir), {}});
    QVERIFY(loaded.wait(10000));
    QTest::qWait(50);
    QCOMPARE(loaded.count(), 1);
    QCOMPARE(failed.count(), 0);
    QVERIFY(!loader.isBusy());
    const auto model = loaded.at(0).at(0).value<std::shared_ptr<const LoadedModel>>();
    QVERIFY(model->isDistributed());
    QCOMPARE(busy.last().at(0).toBool(), false);

    loader.open({m_dir.filePath(QStringLiteral("nope.ckpt")), {}});
    QVERIFY(failed.wait(10000));
    QCOMPARE(failed.at(0).at(1).toString(),
             QStringLiteral("Cannot open %1").arg(m_dir.filePath(QStringLiteral("nope.ckpt"))));
}

void TestWorkspace::browserFilterShowsWhatMatters() {
    QTemporaryDir dir;
    touch(dir.filePath(QStringLiteral("model.ckpt")));
    touch(dir.filePath(QStringLiteral("notes.txt")));
    touch(dir.filePath(QStringLiteral("ckpt_strategy_rank_0.ckpt")));
    touch(dir.filePath(QStringLiteral("dist/rank_0/a.ckpt")));
    touch(dir.filePath(QStringLiteral("plain/readme.md")));
    touch(dir.filePath(QStringLiteral("save/latest_checkpointed_iteration.txt")));
    touch(dir.filePath(QStringLiteral("hf/model.safetensors.index.json")));
    QFileSystemModel fs;
    CheckpointFileFilter filter;
    filter.setSourceModel(&fs);
    filter.sort(0);
    const auto root = fs.setRootPath(dir.path());
    QSignalSpy loaded(&fs, &QFileSystemModel::directoryLoaded);
    QTRY_COMPARE(fs.rowCount(root), 7);
    const auto proxyRoot = filter.mapFromSource(root);
    QStringList names, kinds;
    for (int row = 0; row < filter.rowCount(proxyRoot); ++row) {
        names << filter.index(row, 0, proxyRoot).data().toString();
        kinds << filter.index(row, 2, proxyRoot).data().toString();
    }
    // Folders first, then checkpoints and strategies; notes.txt is hidden.
    QCOMPARE(names, (QStringList{QStringLiteral("dist"), QStringLiteral("hf"), QStringLiteral("plain"),
                                 QStringLiteral("save"), QStringLiteral("ckpt_strategy_rank_0.ckpt"),
                                 QStringLiteral("model.ckpt")}));
    QCOMPARE(kinds, (QStringList{QStringLiteral("1 rank"), QStringLiteral("safetensors shards"), QString(),
                                 QStringLiteral("Checkpoint 2.0"), QStringLiteral("strategy"),
                                 QStringLiteral("checkpoint")}));
    QCOMPARE(filter.index(0, 0, proxyRoot).data(Qt::ToolTipRole).toString(),
             QStringLiteral("Distributed checkpoint: 1 rank\nDouble-click to open it as one model."));
    QCOMPARE(filter.index(3, 0, proxyRoot).data(Qt::ToolTipRole).toString(),
             QStringLiteral("MindFormers Checkpoint 2.0 save\nDouble-click to open it as one model."));
}

void TestWorkspace::realMindSporeFiles_data() {
    QTest::addColumn<QString>("path");
    QTest::addColumn<QString>(
        "expect");  // "model N" (N parameters), "strategy N" (N stored layout items) or "error WORDS"
    const auto shared = lms::test::sharedDir();
    if (shared.empty()) QSKIP("../shared is not beside the checkout");
    const QString real = q(shared / "real");
    // Counts as the README of shared/real describes the files.
    QTest::newRow("lenet lossscale") << real + QStringLiteral("/ckpt/lenet_momentum_lossscale.ckpt")
                                     << QStringLiteral("model 21");
    QTest::newRow("lenet fc") << real + QStringLiteral("/ckpt/lenet_fc_momentum.ckpt")
                              << QStringLiteral("model 23");
    QTest::newRow("digit names") << real + QStringLiteral("/ckpt/sequential_mlp_digit_names.ckpt")
                                 << QStringLiteral("model 12");
    QTest::newRow("13b strategy") << real +
                                         QStringLiteral("/strategy/llama2-13b-mp2/ckpt_strategy_rank_0.ckpt")
                                  << QStringLiteral("strategy 363");
    QTest::newRow("merged pp2") << real + QStringLiteral("/strategy/merged-pp2-mp2/merged_ckpt_strategy.ckpt")
                                << QStringLiteral("strategy 148");
    QTest::newRow("ranks without strategy") << real + QStringLiteral("/dist/llama-tiny-fp16-mp2")
                                            << QStringLiteral("error needs the parallel strategy");
}

void TestWorkspace::realMindSporeFiles() {
    QFETCH(QString, path);
    QFETCH(QString, expect);
    const auto outcome = loadPath({path, {}}, nullptr);
    const QString kind = expect.section(QLatin1Char(' '), 0, 0);
    const QString rest = expect.section(QLatin1Char(' '), 1);
    if (kind == QLatin1StringView("model")) {
        QVERIFY2(outcome.model, qPrintable(outcome.error));
        QCOMPARE(QString::number(outcome.model->source->tensors().size()), rest);
    } else if (kind == QLatin1StringView("strategy")) {
        QVERIFY2(outcome.strategy, qPrintable(outcome.error));
        QCOMPARE(QString::number(outcome.strategy->layoutItemCount), rest);  // as stored in the file
        QVERIFY(!outcome.strategy->layouts.empty());
    } else {
        QVERIFY(!outcome.model && !outcome.strategy);
        QVERIFY2(outcome.error.contains(rest), qPrintable(outcome.error));
    }
}

QTEST_MAIN(TestWorkspace)
#include "tst_workspace.moc"
