// The Merge panel on its own (offscreen): nothing guessed (the scaling starts empty, Merge says
// why), the scaling read from a config shows where it came from, another model resets the form,
// the adapter and the other open inputs map onto the request (tst_requestparity: the same inputs
// through the CLI's flags give the same request and the same bytes).

#include "EnglishPlurals.h"
#include "MergePanel.h"
#include "Prompts.h"
#include "TestSupport.h"
#include "UiTestHelpers.h"
#include "UiText.h"
#include "lms/merge/Demo.h"
#include "lms/merge/Request.h"

#include <QCheckBox>
#include <QDoubleSpinBox>
#include <QLabel>
#include <QLineEdit>
#include <QProcess>
#include <QPushButton>
#include <QRadioButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QThread>
#include <QToolButton>
#include <QtTest>
#include <fstream>

using namespace lms;
using namespace lms::ui;
using namespace lms::test;
using namespace lms::ui::test;
namespace fs = std::filesystem;

namespace {

const QString kNoScaling = QStringLiteral("No scaling: give α and r, a scaling, or a LoRA config.");

}  // namespace

class TestMergePanel : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void scalingStartsEmpty_data();
    void scalingStartsEmpty();
    void scalingFromAConfig_data();
    void scalingFromAConfig();
    void anotherModelResetsTheForm_data();
    void anotherModelResetsTheForm();
    void previewIsOfTheOpenModel();
    void proposedDestination_data();
    void proposedDestination();
    void adapterMapsToTheRequest();
    void hintListsEveryRefusal();
    void savesMergedStrategy_data();
    void savesMergedStrategy();
    void mergedStrategyOnlyForAFolder();
    void exportsTheResult_data();
    void exportsTheResult();

private:
    QTemporaryDir m_dir;
    DemoInfo m_demo;
};

void TestMergePanel::initTestCase() {
    installEnglishPlurals();
    auto demo = writeDemo(m_dir.filePath(QStringLiteral("demo")).toStdString());
    QVERIFY2(demo.has_value(), demo ? "" : demo.error().describe().c_str());
    m_demo = *demo;
}

void TestMergePanel::scalingStartsEmpty_data() {
    QTest::addColumn<QString>("which");
    QTest::newRow("full checkpoint") << "full";
    QTest::newRow("distributed checkpoint") << "distributed";
    QTest::newRow("base with an adapter") << "adapter";
}

// No α is pre-filled for any model (the demo included): Merge is disabled and says why.
void TestMergePanel::scalingStartsEmpty() {
    QFETCH(QString, which);
    QTemporaryDir tmp;
    OpenRequest request =
        openOf(which == QLatin1StringView("full") ? m_demo.fullCheckpoint : m_demo.distributedDir);
    if (which == QLatin1StringView("adapter")) {
        writeBaseAndAdapter(tmp.path().toStdString());
        request.path = tmp.filePath(QStringLiteral("base.ckpt"));
        request.adapter = tmp.filePath(QStringLiteral("DELTA_CKP-1_2.ckpt"));
    }
    auto model = open(request);
    QVERIFY(model);
    MergePanel panel;
    panel.setModel(model);
    // resolve() runs in the background: until its first answer, Merge waits and says so.
    QVERIFY(panel.isPreviewPending());
    QCOMPARE(panel.blockingReason(), QStringLiteral("Checking what the merge would do…"));
    QVERIFY(!child<QPushButton>(&panel, "mergeButton")->isEnabled());
    auto* alpha = child<QDoubleSpinBox>(&panel, "alphaSpin");
    QCOMPARE(alpha->value(), 0.0);
    QCOMPARE(alpha->text(), QStringLiteral("not set"));
    QCOMPARE(child<QSpinBox>(&panel, "rankSpin")->value(), 0);
    QCOMPARE(child<QLineEdit>(&panel, "scalingEdit")->text(), QString());
    QCOMPARE(child<QLineEdit>(&panel, "loraConfigEdit")->text(), QString());
    QVERIFY(child<QRadioButton>(&panel, "alphaRankRadio")->isChecked());
    QVERIFY(!panel.request().scaling.spec.isSet());
    QVERIFY(panel.waitForPreview());
    QVERIFY(!child<QPushButton>(&panel, "mergeButton")->isEnabled());
    QCOMPARE(panel.blockingReason(), kNoScaling);
    QCOMPARE(child<QLabel>(&panel, "mergeHintLabel")->text(), kNoScaling);
    QCOMPARE(child<QLabel>(&panel, "scalingResultLabel")->text(),
             QStringLiteral("No scaling yet: type α (and r) or the scaling, or choose the training config."));
    // Typing α is enough (each pair's r from the shapes), as --lora_alpha is for the CLI.
    alpha->setValue(8);
    QVERIFY(panel.isPreviewPending());
    QCOMPARE(panel.blockingReason(), kNoScaling);  // the last answer stands until the next one
    QVERIFY(panel.waitForPreview());
    QCOMPARE(panel.blockingReason(), QString());
    QVERIFY(child<QPushButton>(&panel, "mergeButton")->isEnabled());
}

void TestMergePanel::scalingFromAConfig_data() {
    QTest::addColumn<QString>("how");        // beside: finetune.yaml next to the file; given: the field
    QTest::addColumn<double>("typedAlpha");  // 0: nothing typed
    QTest::addColumn<double>("scaling");     // of every pair (r = 4)
    QTest::addColumn<QString>("provenance");
    QTest::newRow("finetune.yaml beside the checkpoint")
        << "beside" << 0.0 << 4.0
        << "from finetune.yaml: model.model_config.pet_config lora_alpha 16, lora_rank 4";
    QTest::newRow("config given in the field")
        << "given" << 0.0 << 8.0 << "from run.yaml: model.model_config.pet_config lora_alpha 32, lora_rank 4";
    // A typed value wins: a file found beside is then not read, one given says it was overridden.
    QTest::newRow("typed α wins over the file beside")
        << "beside" << 2.0 << 0.5 << "from α 2 and each pair's r";
    QTest::newRow("typed α overrides the config given")
        << "given" << 2.0 << 0.5
        << "from α 2 and each pair's r (overrides run.yaml: model.model_config.pet_config lora_alpha 32, "
           "lora_rank 4)";
}

// A value read from a config is used and shown with where it came from; one typed wins and says so.
void TestMergePanel::scalingFromAConfig() {
    QFETCH(QString, how);
    QFETCH(double, typedAlpha);
    QFETCH(double, scaling);
    QFETCH(QString, provenance);
    QTemporaryDir tmp;
    const fs::path dir = tmp.path().toStdString();
    fs::copy_file(m_demo.fullCheckpoint, dir / "model.ckpt");
    if (how == QLatin1StringView("beside")) writeText(dir / "finetune.yaml", petConfig(16, 4));
    writeText(dir / "configs" / "run.yaml", petConfig(32, 4));
    MergePanel panel;
    panel.setModel(open(openOf(dir / "model.ckpt")));
    if (how == QLatin1StringView("given"))
        child<QLineEdit>(&panel, "loraConfigEdit")->setText(qs(dir / "configs" / "run.yaml"));
    if (typedAlpha > 0) child<QDoubleSpinBox>(&panel, "alphaSpin")->setValue(typedAlpha);
    QVERIFY(panel.waitForPreview());
    QCOMPARE(panel.blockingReason(), QString());
    QVERIFY(child<QPushButton>(&panel, "mergeButton")->isEnabled());
    const QString label = child<QLabel>(&panel, "scalingResultLabel")->text();
    QVERIFY2(label.endsWith(QStringLiteral("<br>") + provenance.toHtmlEscaped()), qPrintable(label));
    QVERIFY2(label.contains(QStringLiteral("r 4 → <b>%1</b>").arg(scaling)), qPrintable(label));
    const auto resolution = resolve(panel.request(), nullptr);
    QVERIFY(resolution.ok());
    QCOMPARE(qs(resolution.job->scalingProvenance), provenance);
    QCOMPARE(resolution.job->pairScaling.size(), size_t(8));
    for (double s : resolution.job->pairScaling) QCOMPARE(s, scaling);
}

void TestMergePanel::anotherModelResetsTheForm_data() {
    QTest::addColumn<bool>("samePath");
    QTest::newRow("another model") << false;
    QTest::newRow("the same model reopened (another adapter or strategy)") << true;
}

// What was typed for one model is not carried over to another; reopening the same one keeps it.
void TestMergePanel::anotherModelResetsTheForm() {
    QFETCH(bool, samePath);
    MergePanel panel;
    panel.setModel(open(openOf(m_demo.distributedDir)));
    child<QDoubleSpinBox>(&panel, "alphaSpin")->setValue(16);
    child<QSpinBox>(&panel, "rankSpin")->setValue(8);
    child<QLineEdit>(&panel, "scalingEdit")->setText(QStringLiteral("3"));
    child<QLineEdit>(&panel, "destinationEdit")->setText(m_dir.filePath(QStringLiteral("mine")));
    child<QLineEdit>(&panel, "loraConfigEdit")->setText(m_dir.filePath(QStringLiteral("x.yaml")));
    child<QLineEdit>(&panel, "dstStrategyEdit")
        ->setText(qs(m_demo.strategyDir / "ckpt_strategy_rank_0.ckpt"));
    child<QLineEdit>(&panel, "maxShardSizeEdit")->setText(QStringLiteral("5GB"));

    panel.setModel(open(openOf(samePath ? m_demo.distributedDir : m_demo.fullCheckpoint)));
    if (samePath) {
        QCOMPARE(child<QDoubleSpinBox>(&panel, "alphaSpin")->value(), 16.0);
        QCOMPARE(child<QSpinBox>(&panel, "rankSpin")->value(), 8);
        QCOMPARE(child<QLineEdit>(&panel, "scalingEdit")->text(), QStringLiteral("3"));
        QCOMPARE(child<QLineEdit>(&panel, "destinationEdit")->text(), m_dir.filePath(QStringLiteral("mine")));
        QCOMPARE(child<QLineEdit>(&panel, "maxShardSizeEdit")->text(), QStringLiteral("5GB"));
        return;
    }
    QCOMPARE(child<QDoubleSpinBox>(&panel, "alphaSpin")->value(), 0.0);
    QCOMPARE(child<QSpinBox>(&panel, "rankSpin")->value(), 0);
    QCOMPARE(child<QLineEdit>(&panel, "scalingEdit")->text(), QString());
    QVERIFY(child<QRadioButton>(&panel, "alphaRankRadio")->isChecked());
    QCOMPARE(child<QLineEdit>(&panel, "loraConfigEdit")->text(), QString());
    QCOMPARE(child<QLineEdit>(&panel, "dstStrategyEdit")->text(), QString());
    QCOMPARE(child<QLineEdit>(&panel, "maxShardSizeEdit")->text(), QString());
    QCOMPARE(child<QLineEdit>(&panel, "destinationEdit")->text(),
             qs(m_demo.fullCheckpoint.parent_path() / "merged"));
    QCOMPARE(child<QLineEdit>(&panel, "strategyEdit")->text(), QString());
    QVERIFY(panel.waitForPreview());
    QCOMPARE(panel.blockingReason(), kNoScaling);
}

// An answer worked out for the previous model is never shown for the next one, even when it is
// ready before the next model's check starts.
void TestMergePanel::previewIsOfTheOpenModel() {
    auto first = open(openOf(m_demo.fullCheckpoint));
    auto second = open(openOf(m_demo.distributedDir));
    QVERIFY(first && second);
    MergePanel panel;
    panel.setModel(first);
    QCoreApplication::processEvents();  // the first model's check starts on its thread
    QVERIFY(panel.isPreviewPending());
    QThread::msleep(300);  // and ends there; its answer waits in the event queue
    QSignalSpy previews(&panel, &MergePanel::previewChanged);
    panel.setModel(second);
    // As the event loop runs it (waitForPreview would ask for the new check first).
    QTRY_VERIFY_WITH_TIMEOUT(!panel.isPreviewPending(), 10000);
    QVERIFY(!previews.isEmpty());
    for (const auto& args : previews) {
        const auto preview = args.front().value<std::shared_ptr<const Resolution>>();
        QVERIFY(preview && preview->job);
        QCOMPARE(preview->job->source, second->source);
    }
}

void TestMergePanel::proposedDestination_data() {
    QTest::addColumn<QString>("kind");
    QTest::addColumn<QString>("opened");       // relative to the row's folder
    QTest::addColumn<QString>("destination");  // relative to the row's folder
    QTest::newRow("full file") << "full"
                               << "full/model.ckpt"
                               << "full/merged";
    QTest::newRow("distributed folder") << "distributed"
                                        << "distributed"
                                        << "distributed_merged";
    QTest::newRow("our merged output") << "merged"
                                       << "distributed_merged"
                                       << "distributed_merged_merged";
    // MindFormers' layout: output/strategy beside output/checkpoint. output/checkpoint_merged would
    // have that strategy near it and later open as a distributed checkpoint missing rank_1.
    QTest::newRow("strategy beside the model folder") << "mindformers"
                                                      << "output/checkpoint"
                                                      << "output_merged/checkpoint_merged";
    QTest::newRow("shard folder") << "shards"
                                  << "hf"
                                  << "hf_merged";
}

void TestMergePanel::proposedDestination() {
    QFETCH(QString, kind);
    QFETCH(QString, opened);
    QFETCH(QString, destination);
    QTemporaryDir tmp;
    const fs::path root = tmp.path().toStdString();
    auto demo = writeDemo(root);
    QVERIFY(demo.has_value());
    if (kind == QLatin1StringView("mindformers")) {
        fs::create_directories(root / "output");
        fs::copy(demo->distributedDir, root / "output" / "checkpoint", fs::copy_options::recursive);
        fs::rename(root / "output" / "checkpoint" / "strategy", root / "output" / "strategy");
    }
    if (kind == QLatin1StringView("merged")) {
        fs::create_directories(root / "distributed_merged" / "rank_0");
        fs::copy_file(demo->fullCheckpoint, root / "distributed_merged" / "rank_0" / "checkpoint_0.ckpt");
    }
    if (kind == QLatin1StringView("shards")) {
        const auto f32 = [](size_t n) { return floatBytes(DType::Float32, randomValues(n, 7)); };
        fs::create_directories(root / "hf");
        writeSafetensors(root / "hf" / "model-00001-of-00001.safetensors",
                         {{"l0.wq.weight", "Float32", {8, 4}, f32(32)},
                          {"l0.wq.lora_A.weight", "Float32", {2, 4}, f32(8)},
                          {"l0.wq.lora_B.weight", "Float32", {8, 2}, f32(16)}});
        writeText(root / "hf" / "model.safetensors.index.json",
                  R"({"metadata": {}, "weight_map": {"l0.wq.weight": "model-00001-of-00001.safetensors", )"
                  R"("l0.wq.lora_A.weight": "model-00001-of-00001.safetensors", )"
                  R"("l0.wq.lora_B.weight": "model-00001-of-00001.safetensors"}})");
    }
    auto model = open(openOf(root / opened.toStdString()));
    QVERIFY(model);
    MergePanel panel;
    panel.setModel(model);
    QCOMPARE(child<QLineEdit>(&panel, "destinationEdit")->text(), qs(root / destination.toStdString()));
    panel.setSuggestedScaling(8, 0);
    QVERIFY(panel.waitForPreview());
    QCOMPARE(panel.blockingReason(), QString());  // the proposal is a place the merge may write to
}

// The adapter field shows what the model was opened with and maps to SourceRequest.adapter; changing
// it asks for a reopen instead of merging something else than the preview shows.
void TestMergePanel::adapterMapsToTheRequest() {
    QTemporaryDir tmp;
    const fs::path dir = tmp.path().toStdString();
    writeBaseAndAdapter(dir);
    OpenRequest request = openOf(dir / "base.ckpt");
    request.adapter = qs(dir / "DELTA_CKP-1_2.ckpt");
    MergePanel panel;
    panel.setModel(open(request));
    auto* adapter = child<QLineEdit>(&panel, "adapterEdit");
    QCOMPARE(adapter->text(), qs(dir / "DELTA_CKP-1_2.ckpt"));
    panel.setSuggestedScaling(4, 0);
    QVERIFY(panel.waitForPreview());
    QCOMPARE(panel.blockingReason(), QString());
    const auto mapped = panel.request();
    QCOMPARE(qs(mapped.source.adapter), qs(dir / "DELTA_CKP-1_2.ckpt"));
    QCOMPARE(qs(mapped.source.path), qs(dir / "base.ckpt"));
    const auto resolution = resolve(mapped);  // opened from the request alone, as the CLI does
    QVERIFY(resolution.ok());
    QCOMPARE(resolution.job->plan.okPairs, size_t(1));
    QVERIFY(!child<QPushButton>(&panel, "reopenButton")->isVisibleTo(&panel));

    adapter->setText(qs(dir / "other.ckpt"));
    QVERIFY(panel.waitForPreview());
    QCOMPARE(panel.blockingReason(), QStringLiteral("The adapter field was changed: press Enter in it, or "
                                                    "Reopen, to reopen the checkpoint with it."));
    QVERIFY(panel.waitForPreview());
    QVERIFY(!child<QPushButton>(&panel, "mergeButton")->isEnabled());
    QVERIFY(child<QPushButton>(&panel, "reopenButton")->isVisibleTo(&panel));
    QSignalSpy reopen(&panel, &MergePanel::openRequested);
    QTest::mouseClick(child<QPushButton>(&panel, "reopenButton"), Qt::LeftButton);
    QCOMPARE(reopen.count(), 1);
    const auto asked = reopen.at(0).at(0).value<OpenRequest>();
    QCOMPARE(asked.path, qs(dir / "base.ckpt"));
    QCOMPARE(asked.adapter, qs(dir / "other.ckpt"));
}

// The preview is the result: every refusal resolve() has is on screen before Merge is pressed.
void TestMergePanel::hintListsEveryRefusal() {
    MergePanel panel;
    panel.setModel(open(openOf(m_demo.fullCheckpoint)));
    child<QLineEdit>(&panel, "prefixEdit")->setText(QStringLiteral("a/b_"));
    const auto resolution = resolve(panel.request(), nullptr);
    QCOMPARE(resolution.refusals.size(), size_t(2));
    QVERIFY(panel.waitForPreview());
    QCOMPARE(panel.blockingReason(), errorText(resolution.refusals.front().error));
    QCOMPARE(child<QLabel>(&panel, "mergeHintLabel")->text(),
             errorText(resolution.refusals.front().error) + QLatin1Char('\n') + kNoScaling);
    QVERIFY(panel.waitForPreview());
    QVERIFY(!child<QPushButton>(&panel, "mergeButton")->isEnabled());
}

void TestMergePanel::savesMergedStrategy_data() {
    // Where "Save strategy" points (relative to the scenario), what is there first, and the refusal
    // the panel shows ("" when the merge writes the file), {s} standing for the scenario folder.
    QTest::addColumn<QString>("file");
    QTest::addColumn<bool>("exists");
    QTest::addColumn<QString>("refusal");
    QTest::newRow("a new file elsewhere") << "out/pp.ckpt" << false << "";
    QTest::newRow("the conventional name in the strategy folder")
        << "input/strategy/merged_ckpt_strategy.ckpt" << false << "";
    QTest::newRow("an existing file")
        << "out/pp.ckpt" << true
        << "The merged strategy file already exists; allow replacing it (--overwrite) or choose another "
           "file (file {s}/out/pp.ckpt, parameter merged_strategy_file).";
    QTest::newRow("a per-rank name in the strategy folder")
        << "input/strategy/ckpt_strategy_rank_9.ckpt" << false
        << "The merged strategy would go into the strategy folder under a name later merges read as a "
           "per-rank file; name it merged_ckpt_strategy.ckpt or save it elsewhere (file "
           "{s}/input/strategy/ckpt_strategy_rank_9.ckpt, parameter merged_strategy_file).";
}

// dist_tp2_pp2 (a pipeline run: its strategy folder is merged in memory): the merged strategy is
// saved where the field says, with the bytes `loramerge strategy merge DIR -o F` writes, and the
// strategy folder itself stays as it was unless the conventional name in it was chosen.
void TestMergePanel::savesMergedStrategy() {
    QFETCH(QString, file);
    QFETCH(bool, exists);
    QFETCH(QString, refusal);
    QTemporaryDir tmp;
    const fs::path root = tmp.path().toStdString();
    if (const QString why = generateFixtures(root, {QStringLiteral("dist_tp2_pp2")}); !why.isEmpty())
        QSKIP(qPrintable(why));
    const fs::path scenario = root / "dist_tp2_pp2", folder = scenario / "input/strategy";
    const fs::path target = scenario / file.toStdString();
    if (exists) writeText(target, "an older file");
    const auto folderBefore = listFiles(folder);

    OpenRequest request = openOf(scenario / "input/ckpt");
    request.strategy = qs(folder);
    MergePanel panel;
    panel.setModel(open(request));
    auto* edit = child<QLineEdit>(&panel, "mergedStrategyEdit");
    QVERIFY(edit->isEnabled());
    QVERIFY(child<QToolButton>(&panel, "mergedStrategyBrowseButton")->isEnabled());
    child<QLineEdit>(&panel, "destinationEdit")->setText(qs(root / "merged"));
    child<QRadioButton>(&panel, "scalingRadio")->setChecked(true);
    child<QLineEdit>(&panel, "scalingEdit")->setText(QStringLiteral("2"));
    edit->setText(qs(target));
    QCOMPARE(qs(panel.request().destination.mergedStrategyFile), qs(target));

    const auto resolution = resolve(panel.request(OverwritePolicy::Refuse), nullptr);
    if (!refusal.isEmpty()) {
        QCOMPARE(resolution.refusals.size(), size_t(1));
        QCOMPARE(errorText(resolution.refusals.front().error),
                 QString(refusal).replace(QStringLiteral("{s}"), qs(scenario)));
        QVERIFY(panel.waitForPreview());
        if (!exists)
            QCOMPARE(child<QLabel>(&panel, "mergeHintLabel")->text(),
                     refusal.replace(QStringLiteral("{s}"), qs(scenario)));
        QCOMPARE(fs::exists(target), exists);
        if (exists) QCOMPARE(readFileBytes(target).size(), size_t(13));
        QCOMPARE(listFiles(folder), folderBefore);
        return;
    }
    QVERIFY(resolution.ok());
    QSignalSpy finished(&panel, &MergePanel::mergeFinished);
    QVERIFY(panel.waitForPreview());
    child<QPushButton>(&panel, "mergeButton")->click();
    QVERIFY(finished.wait(60000));
    QVERIFY2(finished.first().at(0).toBool(), qPrintable(finished.first().at(2).toString()));
    QVERIFY(
        finished.first().at(2).toString().contains(QStringLiteral("Saved the merged pipeline strategy to ")));

    QProcess cli;
    cli.start(cliPath(), {QStringLiteral("strategy"), QStringLiteral("merge"), qs(folder),
                          QStringLiteral("-o"), qs(root / "cli.ckpt")});
    QVERIFY(cli.waitForFinished(30000));
    QVERIFY2(cli.exitCode() == 0, cli.readAllStandardError().constData());
    const auto bytes = readFileBytes(target);
    QVERIFY(!bytes.empty());
    QVERIFY(bytes == readFileBytes(root / "cli.ckpt"));
    QVERIFY(bytes == readFileBytes(scenario / "expected/merged_ckpt_strategy.ckpt"));
    auto after = listFiles(folder);
    if (target.parent_path() == folder) std::erase(after, target.filename().string());
    QCOMPARE(after, folderBefore);  // nothing else there: no temp file left, no stage file touched
}

// "Save strategy" is for a strategy folder only: disabled (and not in the request) for a full
// checkpoint or a strategy file; a request that asks anyway is refused by the core.
void TestMergePanel::mergedStrategyOnlyForAFolder() {
    const fs::path strategyFile = m_demo.strategyDir / "ckpt_strategy_rank_0.ckpt";
    OpenRequest distributed = openOf(m_demo.distributedDir);
    distributed.strategy = qs(strategyFile);
    for (const OpenRequest& request : {openOf(m_demo.fullCheckpoint), distributed}) {
        MergePanel panel;
        panel.setModel(open(request));
        auto* edit = child<QLineEdit>(&panel, "mergedStrategyEdit");
        QVERIFY(!edit->isEnabled());
        QVERIFY(!child<QToolButton>(&panel, "mergedStrategyBrowseButton")->isEnabled());
        edit->setText(QStringLiteral("/tmp/x.ckpt"));
        QVERIFY(panel.request().destination.mergedStrategyFile.empty());
    }
    MergeRequest request;
    request.source.path = m_demo.distributedDir;
    request.strategy = {StrategyMode::Given, strategyFile};
    request.scaling.spec.scaling = 2;
    request.destination.dir = m_dir.filePath(QStringLiteral("out")).toStdString();
    request.destination.mergedStrategyFile = m_dir.filePath(QStringLiteral("s.ckpt")).toStdString();
    const auto resolution = resolve(request);
    QCOMPARE(resolution.refusals.size(), size_t(1));
    QCOMPARE(resolution.refusals.front().code, RefusalCode::NotAStrategyFolder);
    QCOMPARE(
        qs(resolution.refusals.front().error.message),
        QStringLiteral("a merged strategy is saved only for a strategy folder (the per-rank strategy files "
                       "of a pipeline run); this merge has the strategy file ") +
            qs(strategyFile));
}

void TestMergePanel::exportsTheResult_data() {
    QTest::addColumn<QString>("scaling");  // typed, or "config" (pet_config α 6, r 2 in {dir}/cfg.yaml)
    QTest::addColumn<bool>("verify");
    QTest::addColumn<QString>("expected");  // {dir} stands for the folder
    const QString head = QStringLiteral(
        R"({"source":"{dir}/base.ckpt","source_description":"checkpoint {dir}/base.ckpt with the adapter )"
        R"(checkpoint {dir}/DELTA_CKP-1_2.ckpt",)"
        R"("outputs":["{dir}/out/rank_0/checkpoint_0.ckpt"],"pairs_merged":1,"tensors_written":2,)"
        R"("tensors_dropped":2,"bytes_written":328,)");
    QTest::newRow("scaling, verified")
        << "12/4" << true
        << head +
               QStringLiteral(
                   R"("scaling_provenance":"from the scaling 12/4","pairs":[{"base":"l0.wq.weight",)"
                   R"("a":"l0.wq.mindpet_delta_lora_a","b":"l0.wq.mindpet_delta_lora_b","rank":2,)"
                   R"("scaling":3.0,"scaling_source":""}],"skipped":[],"notes":["verified: the output reads back )"
                   R"(with the expected index, finite merged values and spot-checked elements"],"warnings":[],)"
                   R"("verification":{"enabled":true,"outcome":"passed"}})"
                   "\n");
    QTest::newRow("config, not verified")
        << "config" << false
        << head +
               QStringLiteral(
                   R"("scaling_provenance":"from cfg.yaml: model.model_config.pet_config lora_alpha 6, lora_rank 2",)"
                   R"("pairs":[{"base":"l0.wq.weight","a":"l0.wq.mindpet_delta_lora_a",)"
                   R"("b":"l0.wq.mindpet_delta_lora_b","rank":2,"scaling":3.0,"scaling_source":""}],)"
                   R"("skipped":[],"notes":[],"warnings":[],"verification":{"enabled":false,"outcome":"not run"}})"
                   "\n");
}

// After a merge, "Export result…" saves the result as JSON: exactly these bytes for a small merge.
void TestMergePanel::exportsTheResult() {
    QFETCH(QString, scaling);
    QFETCH(bool, verify);
    QFETCH(QString, expected);
    QTemporaryDir tmp;
    const fs::path dir = tmp.path().toStdString();
    writeBaseAndAdapter(dir);
    writeText(dir / "cfg.yaml", petConfig(6, 2));
    OpenRequest request = openOf(dir / "base.ckpt");
    request.adapter = qs(dir / "DELTA_CKP-1_2.ckpt");
    MergePanel panel;
    panel.setModel(open(request));
    child<QLineEdit>(&panel, "destinationEdit")->setText(qs(dir / "out"));
    if (scaling == QLatin1StringView("config")) {
        child<QLineEdit>(&panel, "loraConfigEdit")->setText(qs(dir / "cfg.yaml"));
    } else {
        child<QRadioButton>(&panel, "scalingRadio")->setChecked(true);
        child<QLineEdit>(&panel, "scalingEdit")->setText(scaling);
    }
    child<QCheckBox>(&panel, "verifyCheck")->setChecked(verify);
    QVERIFY(panel.waitForPreview());
    QCOMPARE(panel.blockingReason(), QString());
    QVERIFY(panel.lastResultJson().isEmpty());
    QSignalSpy finished(&panel, &MergePanel::mergeFinished);
    QVERIFY(panel.waitForPreview());
    child<QPushButton>(&panel, "mergeButton")->click();
    QVERIFY(finished.wait(30000));
    QVERIFY2(finished.first().at(0).toBool(), qPrintable(finished.first().at(2).toString()));
    const QByteArray want = QString(expected).replace(QStringLiteral("{dir}"), qs(dir)).toUtf8();
    QCOMPARE(panel.lastResultJson(), want);

    ScriptedPrompts scripted;
    scripted.nextPaths.push_back(qs(dir / "result.json"));
    setPrompts(&scripted);
    auto* button = child<QPushButton>(&panel, "exportResultButton");
    QVERIFY(button->isVisibleTo(&panel));
    button->click();
    setPrompts(nullptr);
    QCOMPARE(scripted.asked, QStringList{QStringLiteral("Export the merge result")});
    const auto written = readFileBytes(dir / "result.json");
    QCOMPARE(QByteArray(reinterpret_cast<const char*>(written.data()), qsizetype(written.size())), want);
}

QTEST_MAIN(TestMergePanel)
#include "tst_mergepanel.moc"
