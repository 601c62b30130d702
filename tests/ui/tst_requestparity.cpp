// The same merge request gives the same refusal in both front ends: the `loramerge` CLI (its
// last stderr line) and the studio's Merge panel (the hint under the Merge button) both show
// the refusal lms::resolve() returns, and the panel's Merge button is disabled. And the same
// inputs given as CLI flags and through the panel's widgets map onto the same request fields and
// merge to the same bytes.

#include "EnglishPlurals.h"
#include "ImpactModel.h"
#include "ImpactTab.h"
#include "LogModel.h"
#include "MainWindow.h"
#include "MergePanel.h"
#include "TestSupport.h"
#include "UiTestHelpers.h"
#include "UiText.h"
#include "lms/merge/Demo.h"
#include "lms/merge/Request.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QLineEdit>
#include <QProcess>
#include <QPushButton>
#include <QRadioButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QtTest>
#include <fstream>

using namespace lms;
using namespace lms::ui;
using namespace lms::test;
using namespace lms::ui::test;
namespace fs = std::filesystem;

namespace {

std::vector<FakeTensor> model(int64_t bRank, bool withBase) {
    std::vector<FakeTensor> tensors;
    if (withBase)
        tensors.push_back(
            {"l0.wq.weight", "Float32", {8, 4}, floatBytes(DType::Float32, randomValues(32, 1))});
    tensors.push_back({"l0.wq.lora_a", "Float32", {2, 4}, floatBytes(DType::Float32, randomValues(8, 2))});
    tensors.push_back({"l0.wq.lora_b",
                       "Float32",
                       {8, bRank},
                       floatBytes(DType::Float32, randomValues(size_t(8 * bRank), 3))});
    return tensors;
}

}  // namespace

class TestRequestParity : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() { installEnglishPlurals(); }
    void sameRefusal_data();
    void sameRefusal();
    void sameInputsSameRequestAsTheCli_data();
    void sameInputsSameRequestAsTheCli();
    void impactSameAsTheCli_data();
    void impactSameAsTheCli();
};

void TestRequestParity::sameRefusal_data() {
    QTest::addColumn<QString>("row");
    QTest::addColumn<QString>("message");  // the core's sentence, pinned
    QTest::newRow("pair problems")
        << "problems"
        << "1 LoRA problem(s), nothing was written: l0.wq.weight: rank mismatch: A [2,4] has "
           "r=2 but B [8,3] has r=3 (use --skip-invalid to merge only the valid pairs)";
    QTest::newRow("only LoRA tensors")
        << "adapter"
        << "nothing to merge into: every parameter is a LoRA weight or an optimizer copy "
           "of one (is this a LoRA-only adapter? pass it with --adapter next to the base "
           "checkpoint)";
    QTest::newRow("prefix with a slash") << "prefix"
                                         << "the prefix is part of a file name and must not contain a slash";
    QTest::newRow("destination strategy missing") << "dststrategy"
                                                  << "cannot open for reading: No such file or directory";
    QTest::newRow("output beside the input") << "beside"
                                             << "the output folder {dir}/dst/rank_0 holds an input file "
                                                "(in.ckpt); write the merged checkpoint somewhere else so "
                                                "the source stays untouched";
}

void TestRequestParity::sameRefusal() {
    QFETCH(QString, row);
    QFETCH(QString, message);
    QTemporaryDir tmp;
    const fs::path dir = tmp.path().toStdString();
    fs::path src = dir / "in.ckpt";
    if (row == QLatin1StringView("beside")) {
        fs::create_directories(dir / "dst" / "rank_0");
        src = dir / "dst" / "rank_0" / "in.ckpt";
    }
    writeCheckpoint(src,
                    model(row == QLatin1StringView("problems") ? 3 : 2, row != QLatin1StringView("adapter")));
    const QString prefix =
        row == QLatin1StringView("prefix") ? QStringLiteral("a/b_") : QStringLiteral("checkpoint_");
    const bool skipInvalid = row == QLatin1StringView("adapter");
    const QString dstStrategy =
        row == QLatin1StringView("dststrategy") ? qs(dir / "none_strategy.ckpt") : QString();

    // The request, as resolve() sees it.
    MergeRequest request;
    request.source.path = src;
    request.destination.dir = dir / "dst";
    request.destination.prefix = prefix.toStdString();
    request.scaling.spec.alpha = 16;
    request.options.skipInvalid = skipInvalid;
    request.destination.strategy = dstStrategy.toStdString();
    const auto resolution = resolve(request);
    QVERIFY(!resolution.refusals.empty());
    const auto& error = resolution.refusals.front().error;
    QCOMPARE(qs(error.message), QString(message).replace(QStringLiteral("{dir}"), qs(dir)));

    // The CLI.
    QStringList args{QStringLiteral("merge"),
                     QStringLiteral("--src_ckpt_path_or_dir"),
                     qs(src),
                     QStringLiteral("--dst_ckpt_dir"),
                     qs(dir / "dst"),
                     QStringLiteral("--prefix"),
                     prefix,
                     QStringLiteral("--lora_alpha"),
                     QStringLiteral("16")};
    if (skipInvalid) args << QStringLiteral("--skip-invalid");
    if (!dstStrategy.isEmpty()) args << QStringLiteral("--dst_ckpt_strategy") << dstStrategy;
    QProcess cli;
    cli.start(cliPath(), args);
    QVERIFY(cli.waitForFinished(30000));
    QCOMPARE(cli.exitCode(), 1);
    const auto lines = QString::fromUtf8(cli.readAllStandardError()).trimmed().split(QLatin1Char('\n'));
    QCOMPARE(lines.last(), QStringLiteral("loramerge: error: ") + qs(error.describe()));

    // The studio: the same choices in the Merge panel.
    auto outcome = loadPath({qs(src), {}}, nullptr);
    QVERIFY2(outcome.model, qPrintable(outcome.error));
    MergePanel panel;
    panel.setModel(outcome.model);
    panel.findChild<QLineEdit*>(QStringLiteral("destinationEdit"))->setText(qs(dir / "dst"));
    panel.findChild<QLineEdit*>(QStringLiteral("prefixEdit"))->setText(prefix);
    panel.setSuggestedScaling(16, 0);  // α 16, each pair's r: --lora_alpha 16
    panel.findChild<QCheckBox*>(QStringLiteral("skipInvalidCheck"))->setChecked(skipInvalid);
    panel.findChild<QLineEdit*>(QStringLiteral("dstStrategyEdit"))->setText(dstStrategy);
    QVERIFY(panel.waitForPreview());
    QCOMPARE(panel.blockingReason(), errorText(error));
    QCOMPARE(panel.findChild<QLabel*>(QStringLiteral("mergeHintLabel"))->text(), errorText(error));
    QVERIFY(!panel.findChild<QPushButton*>(QStringLiteral("mergeButton"))->isEnabled());
    QVERIFY(!fs::exists(dir / "dst" / "rank_0" / "checkpoint_0.ckpt"));
}

void TestRequestParity::sameInputsSameRequestAsTheCli_data() {
    // One set of inputs per row, given once as loramerge flags and once through the panel.
    QTest::addColumn<QString>(
        "model");  // full, distributed, twofiles (rank folders with an older file), adapter
    QTest::addColumn<QVariantMap>("inputs");
    const auto map = [](std::initializer_list<std::pair<const char*, QVariant>> items) {
        QVariantMap m;
        for (const auto& [k, v] : items) m.insert(QString::fromLatin1(k), v);
        return m;
    };
    QTest::newRow("α and r") << "full" << map({{"lora_alpha", 16}, {"lora_rank", 8}});
    QTest::newRow("scaling") << "distributed" << map({{"lora_scaling", QStringLiteral("12/4")}});
    QTest::newRow("safetensors in shards") << "full"
                                           << map({{"lora_alpha", 8},
                                                   {"save_format", QStringLiteral("safetensors")},
                                                   {"max_shard_size", QStringLiteral("20KB")}});
    QTest::newRow("re-shard to a strategy")
        << "full" << map({{"lora_alpha", 8}, {"dst_ckpt_strategy", true}});
    QTest::newRow("rank file choice")
        << "twofiles" << map({{"lora_alpha", 8}, {"ckpt-name", QStringLiteral("checkpoint_*")}});
    QTest::newRow("check replicas sampled")
        << "distributed" << map({{"lora_alpha", 8}, {"check-replicas", QStringLiteral("sampled")}});
    QTest::newRow("adapter") << "adapter" << map({{"lora_alpha", 4}, {"adapter", true}});
    QTest::newRow("two adapters, one subtracted")
        << "adapter" << map({{"lora_alpha", 4}, {"adapter", true}, {"second_adapter", true}});
    QTest::newRow("LoRA config") << "full" << map({{"lora_config", true}});
    // The refusals a user may overrule: a base without LoRA copied as is, and a config whose
    // target_modules (wq and wk) selects a weight the adapter has no pair for (wk).
    QTest::newRow("no LoRA allowed") << "base" << map({{"allow-no-lora", true}});
    QTest::newRow("partial adapter allowed")
        << "adapter" << map({{"adapter", true}, {"partial_config", true}, {"allow-partial", true}});
}

void TestRequestParity::sameInputsSameRequestAsTheCli() {
    QFETCH(QString, model);
    QFETCH(QVariantMap, inputs);
    QTemporaryDir tmp;
    const fs::path root = tmp.path().toStdString();
    auto demo = writeDemo(root / "demo");
    QVERIFY(demo.has_value());
    fs::path src = model == QLatin1StringView("full") ? demo->fullCheckpoint : demo->distributedDir;
    fs::path adapter;
    if (model == QLatin1StringView("twofiles"))  // an older save sorts last: only --ckpt-name picks ours
        for (const char* r : {"0", "1"})
            writeText(demo->distributedDir / (std::string("rank_") + r) / "zz_old-1_1.ckpt",
                      "not a checkpoint");
    if (model == QLatin1StringView("adapter") || model == QLatin1StringView("base")) {
        writeBaseAndAdapter(root / "a");
        src = root / "a" / "base.ckpt";
        adapter = root / "a" / "DELTA_CKP-1_2.ckpt";
    }
    const fs::path second = root / "b" / "DELTA_CKP-2_2.ckpt";  // same LoRA names, weight -0.5
    if (inputs.contains(QStringLiteral("second_adapter"))) {
        fs::create_directories(second.parent_path());
        fs::copy_file(adapter, second);
    }
    const fs::path config = root / "cfg" / "finetune.yaml";
    writeText(config, petConfig(12, 4));
    const fs::path partialConfig = root / "cfg" / "partial.yaml";
    writeText(partialConfig, petConfig(4, 2) + "      target_modules: '.*wq|.*wk'\n");
    const fs::path dstStrategy = demo->strategyDir / "ckpt_strategy_rank_0.ckpt";
    const auto has = [&](const char* key) { return inputs.contains(QString::fromLatin1(key)); };
    const auto text = [&](const char* key) { return inputs.value(QString::fromLatin1(key)).toString(); };

    // The CLI.
    QStringList args{QStringLiteral("merge"), QStringLiteral("--src_ckpt_path_or_dir"), qs(src),
                     QStringLiteral("--dst_ckpt_dir"), qs(root / "cli")};
    for (const char* key : {"lora_alpha", "lora_rank", "lora_scaling", "save_format", "max_shard_size",
                            "ckpt-name", "check-replicas"})
        if (has(key)) args << QStringLiteral("--") + QString::fromLatin1(key) << text(key);
    if (has("dst_ckpt_strategy")) args << QStringLiteral("--dst_ckpt_strategy") << qs(dstStrategy);
    if (has("adapter")) args << QStringLiteral("--adapter") << qs(adapter);
    if (has("second_adapter")) args << QStringLiteral("--adapter") << qs(second) + QStringLiteral(":-0.5");
    if (has("lora_config")) args << QStringLiteral("--lora_config") << qs(config);
    if (has("partial_config")) args << QStringLiteral("--lora_config") << qs(partialConfig);
    for (const char* flag : {"allow-no-lora", "allow-partial"})
        if (has(flag)) args << QStringLiteral("--") + QString::fromLatin1(flag);
    QProcess cli;
    cli.start(cliPath(), args);
    QVERIFY(cli.waitForFinished(60000));
    QVERIFY2(cli.exitCode() == 0, cli.readAllStandardError().constData());

    // The panel: the same inputs, the open ones through the open request.
    OpenRequest request = openOf(src);
    if (has("adapter")) request.adapter = qs(adapter);
    if (has("second_adapter")) request.adapter += QStringLiteral("; ") + qs(second) + QStringLiteral(":-0.5");
    if (has("ckpt-name")) request.ckptName = text("ckpt-name");
    if (has("check-replicas"))
        request.replicaCheck = *parseReplicaCheck(text("check-replicas").toStdString());
    MergePanel panel;
    auto opened = open(request);
    QVERIFY(opened);
    panel.setModel(opened);
    child<QLineEdit>(&panel, "destinationEdit")->setText(qs(root / "panel"));
    if (has("lora_alpha"))
        child<QDoubleSpinBox>(&panel, "alphaSpin")->setValue(text("lora_alpha").toDouble());
    if (has("lora_rank")) child<QSpinBox>(&panel, "rankSpin")->setValue(text("lora_rank").toInt());
    if (has("lora_scaling")) {
        child<QRadioButton>(&panel, "scalingRadio")->setChecked(true);
        child<QLineEdit>(&panel, "scalingEdit")->setText(text("lora_scaling"));
    }
    if (has("save_format")) {
        auto* format = child<QComboBox>(&panel, "formatCombo");
        format->setCurrentIndex(format->findData(int(OutputFormat::Safetensors)));
    }
    if (has("max_shard_size")) child<QLineEdit>(&panel, "maxShardSizeEdit")->setText(text("max_shard_size"));
    if (has("dst_ckpt_strategy")) child<QLineEdit>(&panel, "dstStrategyEdit")->setText(qs(dstStrategy));
    if (has("lora_config")) child<QLineEdit>(&panel, "loraConfigEdit")->setText(qs(config));
    if (has("partial_config")) child<QLineEdit>(&panel, "loraConfigEdit")->setText(qs(partialConfig));
    if (has("allow-no-lora") || has("allow-partial")) {  // refused until the user overrules it
        QVERIFY(panel.waitForPreview());
        const auto refused = resolve(panel.request(), opened->source);
        QCOMPARE(refused.refusals.size(), size_t(1));
        QCOMPARE(refused.refusals.front().code,
                 has("allow-no-lora") ? RefusalCode::NoLoraPairs : RefusalCode::PartialMerge);
        QCOMPARE(panel.blockingReason(), errorText(refused.refusals.front().error));
    }
    if (has("allow-no-lora")) child<QCheckBox>(&panel, "allowNoLoraCheck")->setChecked(true);
    if (has("allow-partial")) child<QCheckBox>(&panel, "allowPartialCheck")->setChecked(true);
    QVERIFY(panel.waitForPreview());
    QCOMPARE(panel.blockingReason(), QString());

    // The fields the flags set, as the panel maps them.
    const auto mapped = panel.request(OverwritePolicy::Refuse);
    std::vector<std::pair<QString, double>> adapters;
    for (const auto& a : mapped.source.adapters) adapters.emplace_back(qs(a.path), a.weight);
    if (!mapped.source.adapter.empty()) adapters.emplace_back(qs(mapped.source.adapter), 1.0);
    std::vector<std::pair<QString, double>> expected;
    if (has("adapter")) expected.emplace_back(qs(adapter), 1.0);
    if (has("second_adapter")) expected.emplace_back(qs(second), -0.5);
    QCOMPARE(adapters, expected);
    QCOMPARE(qs(mapped.source.ckptNameGlob), text("ckpt-name"));
    QCOMPARE(mapped.source.replicaCheck, has("check-replicas")
                                             ? *parseReplicaCheck(text("check-replicas").toStdString())
                                             : ReplicaCheck::Full);
    QCOMPARE(mapped.destination.format, has("save_format") ? OutputFormat::Safetensors : OutputFormat::Ckpt);
    QCOMPARE(mapped.options.maxShardBytes, has("max_shard_size") ? uint64_t(20000) : uint64_t(0));
    QCOMPARE(qs(mapped.destination.strategy), has("dst_ckpt_strategy") ? qs(dstStrategy) : QString());
    QCOMPARE(qs(mapped.scaling.configFile), has("lora_config")      ? qs(config)
                                            : has("partial_config") ? qs(partialConfig)
                                                                    : QString());
    QCOMPARE(mapped.options.allowNoLora, has("allow-no-lora"));
    QCOMPARE(mapped.scaling.allowPartial, has("allow-partial"));
    QCOMPARE(mapped.scaling.spec.alpha.value_or(0), has("lora_alpha") ? text("lora_alpha").toDouble() : 0.0);
    QCOMPARE(mapped.scaling.spec.rank.value_or(0), has("lora_rank") ? text("lora_rank").toDouble() : 0.0);
    QCOMPARE(mapped.scaling.spec.scaling.value_or(0), has("lora_scaling") ? 3.0 : 0.0);

    // And the same bytes: the panel's job, merged as its worker merges it.
    auto resolution = resolve(mapped, opened->source);
    QVERIFY(resolution.ok());
    auto report = run(*resolution.job);
    QVERIFY2(report.has_value(), report ? "" : report.error().describe().c_str());
    const auto cliFiles = listFiles(root / "cli");
    QCOMPARE(listFiles(root / "panel"), cliFiles);
    QVERIFY(!cliFiles.empty());
    if (has("max_shard_size")) QVERIFY(cliFiles.size() > 2);  // shards and their index
    if (has("dst_ckpt_strategy")) QCOMPARE(cliFiles.size(), size_t(2));
    for (const auto& file : cliFiles)
        QVERIFY2(readFileBytes(root / "cli" / file) == readFileBytes(root / "panel" / file), file.c_str());
}

void TestRequestParity::impactSameAsTheCli_data() {
    // How the scaling is given, once as loramerge flags and once in the window's merge panel.
    QTest::addColumn<QString>("flag");
    QTest::addColumn<QString>("value");
    QTest::addColumn<double>("scaling");  // what every pair gets
    QTest::newRow("scaling") << "lora_scaling"
                             << "12/4" << 3.0;
    QTest::newRow("α and each pair's r") << "lora_alpha"
                                         << "5" << 2.5;
    QTest::newRow("LoRA config") << "lora_config"
                                 << "" << 3.0;  // pet_config α 6, r 2
}

// The window's Impact tab measures the merge the panel describes — the base with the adapter, the
// scaling from the panel or a config — with the numbers `loramerge impact --json` prints.
void TestRequestParity::impactSameAsTheCli() {
    QFETCH(QString, flag);
    QFETCH(QString, value);
    QFETCH(double, scaling);
    QTemporaryDir tmp;
    const fs::path root = tmp.path().toStdString();
    writeBaseAndAdapter(root / "a");
    const fs::path base = root / "a" / "base.ckpt", adapter = root / "a" / "DELTA_CKP-1_2.ckpt";
    const fs::path config = root / "cfg" / "finetune.yaml";
    writeText(config, petConfig(6, 2));
    const bool byConfig = flag == QLatin1StringView("lora_config");

    QProcess cli;
    cli.start(cliPath(),
              {QStringLiteral("impact"), qs(base), QStringLiteral("--adapter"), qs(adapter),
               QStringLiteral("--") + flag, byConfig ? qs(config) : value, QStringLiteral("--json")});
    QVERIFY(cli.waitForFinished(60000));
    QVERIFY2(cli.exitCode() == 0, cli.readAllStandardError().constData());
    const auto pairs = QJsonDocument::fromJson(cli.readAllStandardOutput()).object()[u"pairs"].toArray();
    QCOMPARE(pairs.size(), 1);

    LogModel log;
    MainWindow window(&log);
    QSignalSpy shown(&window, &MainWindow::modelShown);
    OpenRequest request = openOf(base);
    request.adapter = qs(adapter);
    window.open(request);
    QVERIFY(shown.wait(30000));
    MergePanel* panel = window.mergePanel();
    if (flag == QLatin1StringView("lora_scaling")) {
        child<QRadioButton>(panel, "scalingRadio")->setChecked(true);
        child<QLineEdit>(panel, "scalingEdit")->setText(value);
    } else if (flag == QLatin1StringView("lora_alpha")) {
        panel->setSuggestedScaling(value.toDouble(), 0);
    } else {
        child<QLineEdit>(panel, "loraConfigEdit")->setText(qs(config));
    }
    child<QLineEdit>(panel, "destinationEdit")->clear();  // where a merge would write does not matter
    ImpactTab* tab = window.impactTab();
    QSignalSpy analysed(tab, &ImpactTab::analysisFinished);
    QVERIFY2(tab->analyse(), qPrintable(tab->statusText()));
    QVERIFY(analysed.wait(30000));
    QCOMPARE(analysed.first().first().toBool(), true);
    const auto& report = tab->impactModel()->report();
    QCOMPARE(report.pairs.size(), size_t(1));
    const PairImpact& p = report.pairs.front();
    const QJsonObject e = pairs.first().toObject();
    QCOMPARE(qs(p.base), e[u"base"].toString());
    QCOMPARE(qs(p.a), e[u"a"].toString());
    QCOMPARE(p.scaling, scaling);
    QCOMPARE(p.scaling, e[u"scaling"].toDouble());
    QCOMPARE(p.baseNorm, e[u"base_norm"].toDouble());
    QCOMPARE(p.deltaNorm, e[u"delta_norm"].toDouble());
    QCOMPARE(p.relativeNorm, e[u"relative_norm"].toDouble());
    QCOMPARE(p.numericalRank, e[u"numerical_rank"].toInteger());
    QCOMPARE(p.entropyRank, e[u"entropy_rank"].toDouble());
    QCOMPARE(qint64(p.unchanged), e[u"unchanged"].toInteger());
    QCOMPARE(qsizetype(p.singularValues.size()), e[u"singular_values"].toArray().size());
    for (size_t i = 0; i < p.singularValues.size(); ++i)
        QCOMPARE(p.singularValues[i], e[u"singular_values"].toArray()[qsizetype(i)].toDouble());
}

QTEST_MAIN(TestRequestParity)
#include "tst_requestparity.moc"
