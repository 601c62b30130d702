// lms::exportAdapter (core/lms/merge/AdapterExport.h): a LoRA-only adapter exported without merging,
// as .ckpt, safetensors or a PEFT folder. Round trips (export, then merge the export with --adapter,
// equals merging the original), PEFT names and adapter_config.json, rank folders reassembled, and
// every refusal.
#include "TestSupport.h"
#include "lms/formats/Checkpoint.h"
#include "lms/formats/Source.h"
#include "lms/lora/LoraConfig.h"
#include "lms/merge/AdapterExport.h"
#include "lms/merge/Demo.h"
#include "lms/merge/Job.h"
#include "lms/merge/Request.h"

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

using namespace lms;
using namespace lms::test;
namespace fs = std::filesystem;

namespace {

FakeTensor f32(std::string name, std::vector<int64_t> dims, uint32_t seed) {
    size_t n = 1;
    for (auto d : dims) n *= size_t(d);
    return {std::move(name), "Float32", std::move(dims), floatBytes(DType::Float32, randomValues(n, seed))};
}

std::vector<FakeTensor> baseTensors() {
    return {f32("model.layers.0.attention.wq.weight", {8, 6}, 1),
            f32("model.layers.0.attention.wk.weight", {8, 6}, 2), f32("model.norm.weight", {6}, 3),
            f32("global_step", {}, 4)};
}

// Two pairs (wq r=2, wk r=3), an Adam copy of one LoRA tensor and epoch_num, as MindPet saves them.
std::vector<FakeTensor> adapterTensors() {
    return {f32("model.layers.0.attention.wq.mindpet_delta_lora_a", {2, 6}, 11),
            f32("model.layers.0.attention.wq.mindpet_delta_lora_b", {8, 2}, 12),
            f32("model.layers.0.attention.wk.mindpet_delta_lora_a", {3, 6}, 13),
            f32("model.layers.0.attention.wk.mindpet_delta_lora_b", {8, 3}, 14),
            f32("adam_m.model.layers.0.attention.wq.mindpet_delta_lora_a", {2, 6}, 15),
            f32("epoch_num", {}, 16)};
}

void writeText(const fs::path& file, const std::string& text) {
    fs::create_directories(file.parent_path());
    writeFileBytes(file, std::span(reinterpret_cast<const std::byte*>(text.data()), text.size()));
}

std::string readText(const fs::path& file) {
    const auto bytes = readFileBytes(file);
    return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

// Merges `src` (with `adapter` when given) at s = 2 into `dst`; the output's bytes.
std::vector<std::byte> merged(const fs::path& src, const fs::path& adapter, const fs::path& dst) {
    MergeRequest request;
    request.source.path = src;
    request.source.adapter = adapter;
    request.destination.dir = dst;
    request.scaling.spec.scaling = 2.0;
    const auto resolution = resolve(request);
    if (!resolution.ok()) qWarning("%s", resolution.refusals.front().error.describe().c_str());
    if (!resolution.ok()) return {};
    auto report = run(*resolution.job);
    if (!report) qWarning("%s", report.error().describe().c_str());
    return report ? readFileBytes(report->outputFile) : std::vector<std::byte>{};
}

// Every tensor of a file: name -> (type, dims, bytes).
std::map<std::string, std::tuple<std::string, std::vector<int64_t>, std::vector<std::byte>>> contents(
    const ModelSource& source) {
    std::map<std::string, std::tuple<std::string, std::vector<int64_t>, std::vector<std::byte>>> out;
    for (size_t i = 0; i < source.tensors().size(); ++i) {
        const auto& t = source.tensors()[i];
        std::vector<std::byte> bytes(t.byteSize);
        if (!source.read(i, bytes, nullptr)) return {};
        out[t.name] = {t.typeName, t.dims, std::move(bytes)};
    }
    return out;
}

}  // namespace

class TestAdapterExport : public QObject {
    Q_OBJECT
    QTemporaryDir fixtures_;
    QString fixturesWhy_;  // why the msfixtures scenarios are unavailable

private slots:
    void initTestCase() {
        fixturesWhy_ = generateFixtures(fs::path(fixtures_.path().toStdString()),
                                        {QStringLiteral("adapter_dist"), QStringLiteral("cfg_peft_rslora")});
    }

    // Scenarios of the independent generator (../shared/interop): LoRA-only rank folders sliced by a
    // strategy, and a PEFT folder with rank_pattern/alpha_pattern/rsLoRA. Merging the export gives
    // the bytes merging the original gives (PEFT: with the scaling read back from the exported config).
    void oracleRoundTrip_data() {
        QTest::addColumn<QString>("scenario");
        QTest::addColumn<int>("format");
        QTest::addColumn<bool>("configScaling");  // merge without a scaling flag: from the config
        QTest::newRow("adapter_dist rank folders -> ckpt")
            << "adapter_dist" << int(AdapterFormat::Ckpt) << false;
        QTest::newRow("adapter_dist rank folders -> peft")
            << "adapter_dist" << int(AdapterFormat::Peft) << false;
        QTest::newRow("cfg_peft_rslora -> peft, patterns kept")
            << "cfg_peft_rslora" << int(AdapterFormat::Peft) << true;
        QTest::newRow("cfg_peft_rslora -> safetensors")
            << "cfg_peft_rslora" << int(AdapterFormat::Safetensors) << false;
    }

    void oracleRoundTrip() {
        QFETCH(QString, scenario);
        QFETCH(int, format);
        QFETCH(bool, configScaling);
        if (!fixturesWhy_.isEmpty()) QSKIP(qPrintable(fixturesWhy_));
        const fs::path in = fs::path(fixtures_.path().toStdString()) / scenario.toStdString() / "input";
        const bool dist = scenario == QStringLiteral("adapter_dist");
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        const auto before = treeDigest(in);
        AdapterExportRequest request;
        request.source = in / "adapter";
        if (dist) request.strategy = in / "strategy" / "ckpt_strategy_rank_0.ckpt";
        request.dstDir = dir / "export";
        request.format = AdapterFormat(format);
        if (dist) request.alpha = 8.0;
        auto report = exportAdapter(request);
        QVERIFY2(report, report ? "" : report.error().describe().c_str());
        QCOMPARE(treeDigest(in), before);
        auto mergeWith = [&](const fs::path& adapter, const fs::path& out) {
            MergeRequest merge;
            merge.source.path = dist ? in / "ckpt" : in / "base.safetensors";
            if (dist) merge.strategy = {StrategyMode::Given, in / "strategy" / "ckpt_strategy_rank_0.ckpt"};
            merge.source.adapter = adapter;
            merge.destination.dir = out;
            if (!configScaling) merge.scaling.spec.scaling = 2.0;
            const auto resolution = resolve(merge);
            if (!resolution.ok()) qWarning("%s", resolution.refusals.front().error.describe().c_str());
            if (!resolution.ok()) return std::vector<std::byte>{};
            auto merged = run(*resolution.job);
            return merged ? readFileBytes(merged->outputFile) : std::vector<std::byte>{};
        };
        const fs::path exported =
            AdapterFormat(format) == AdapterFormat::Peft ? dir / "export" : report->files.front();
        const auto viaOriginal = mergeWith(in / "adapter", dir / "out1");
        const auto viaExport = mergeWith(exported, dir / "out2");
        QVERIFY(!viaOriginal.empty());
        QVERIFY(viaExport == viaOriginal);
        if (AdapterFormat(format) != AdapterFormat::Ckpt) {  // PEFT's loaders want "pt", MindSpore's "ms"
            auto file = lms::CheckpointFile::open(report->files.front());
            QVERIFY2(file.has_value(), file ? "" : file.error().describe().c_str());
            const std::string want = AdapterFormat(format) == AdapterFormat::Peft ? "pt" : "ms";
            QCOMPARE((*file)->metadata(),
                     (std::vector<std::pair<std::string, std::string>>{{"format", want}}));
        }
    }

    void roundTrip_data() {
        QTest::addColumn<int>("format");
        QTest::addColumn<bool>(
            "fromModel");  // export the LoRA of model.ckpt (--lora-only), else adapter.ckpt
        QTest::addColumn<QString>("file");
        QTest::newRow("adapter -> ckpt") << int(AdapterFormat::Ckpt) << false << "adapter_model.ckpt";
        QTest::newRow("adapter -> safetensors")
            << int(AdapterFormat::Safetensors) << false << "adapter_model.safetensors";
        QTest::newRow("adapter -> peft") << int(AdapterFormat::Peft) << false << "adapter_model.safetensors";
        QTest::newRow("model --lora-only -> ckpt")
            << int(AdapterFormat::Ckpt) << true << "adapter_model.ckpt";
        QTest::newRow("model --lora-only -> peft")
            << int(AdapterFormat::Peft) << true << "adapter_model.safetensors";
    }

    void roundTrip() {
        QFETCH(int, format);
        QFETCH(bool, fromModel);
        QFETCH(QString, file);
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        writeCheckpoint(dir / "in" / "base.ckpt", baseTensors());
        writeCheckpoint(dir / "in" / "adapter.ckpt", adapterTensors());
        auto model = baseTensors();
        for (auto& t : adapterTensors()) model.insert(model.end() - 1, t);
        writeCheckpoint(dir / "in" / "model.ckpt", model);
        const auto before = treeDigest(dir / "in");

        AdapterExportRequest request;
        request.source = dir / "in" / (fromModel ? "model.ckpt" : "adapter.ckpt");
        request.dstDir = dir / "export";
        request.format = AdapterFormat(format);
        request.loraOnly = fromModel;
        request.alpha = 4.0;
        auto report = exportAdapter(request);
        QVERIFY2(report, report ? "" : report.error().describe().c_str());
        QCOMPARE(treeDigest(dir / "in"), before);  // inputs untouched
        QCOMPARE(report->files.front(), dir / "export" / file.toStdString());
        QCOMPARE(report->tensorsWritten, size_t(4));
        QCOMPARE(report->pairs, size_t(2));
        QCOMPARE(report->bytesWritten, uint64_t((12 + 16 + 18 + 24) * 4));

        // The export holds exactly the LoRA tensors, bytes unchanged (PEFT: renamed).
        auto exported = openFullSource(report->files.front());
        QVERIFY(exported);
        auto original = openFullSource(dir / "in" / "adapter.ckpt");
        QVERIFY(original);
        auto got = contents(**exported);
        auto want = contents(**original);
        want.erase("adam_m.model.layers.0.attention.wq.mindpet_delta_lora_a");
        want.erase("epoch_num");
        if (AdapterFormat(format) == AdapterFormat::Peft) {
            decltype(want) renamed;
            for (auto& [name, value] : want) {
                std::string peft = "base_model.model." + name;
                peft.replace(peft.find(".mindpet_delta_lora_"), 20, ".lora_");
                peft.back() = char(std::toupper(peft.back()));
                renamed[peft + ".weight"] = value;
            }
            want = renamed;
        }
        QCOMPARE(got.size(), want.size());
        for (const auto& [name, value] : want) {
            QVERIFY2(got.count(name), name.c_str());
            QCOMPARE(std::get<0>(got[name]), std::get<0>(value));
            QCOMPARE(std::get<1>(got[name]), std::get<1>(value));
            QVERIFY2(std::get<2>(got[name]) == std::get<2>(value), name.c_str());
        }
        // Merging the export equals merging the original.
        const fs::path adapterArg =
            AdapterFormat(format) == AdapterFormat::Peft ? dir / "export" : report->files.front();
        const auto viaExport = merged(dir / "in" / "base.ckpt", adapterArg, dir / "out1");
        const auto viaOriginal = merged(dir / "in" / "base.ckpt", dir / "in" / "adapter.ckpt", dir / "out2");
        QVERIFY(!viaOriginal.empty());
        QVERIFY(viaExport == viaOriginal);
    }

    // PEFT adapter_config.json without a training config: lora_alpha given, r from the shapes (the
    // rank most pairs have) with rank_pattern for the rest, target_modules from the pairs.
    void peftConfig_data() {
        QTest::addColumn<QString>("expected");
        QTest::newRow("no config, --lora_alpha 4")
            << R"({"alpha_pattern":{},"base_model_name_or_path":null,"bias":"none","fan_in_fan_out":false,)"
               R"("inference_mode":true,"lora_alpha":4.0,"lora_dropout":0.0,"peft_type":"LORA","r":2,)"
               R"("rank_pattern":{"model.layers.0.attention.wk":3},"target_modules":["wq","wk"],"task_type":null,)"
               R"("use_rslora":false})"
               "\n";
    }

    void peftConfig() {
        QFETCH(QString, expected);
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        writeCheckpoint(dir / "in" / "adapter.ckpt", adapterTensors());
        AdapterExportRequest request;
        request.source = dir / "in" / "adapter.ckpt";
        request.dstDir = dir / "export";
        request.format = AdapterFormat::Peft;
        request.alpha = 4.0;
        auto report = exportAdapter(request);
        QVERIFY2(report, report ? "" : report.error().describe().c_str());
        QCOMPARE(report->files.back(), dir / "export" / "adapter_config.json");
        QCOMPARE(QString::fromStdString(readText(dir / "export" / "adapter_config.json")), expected);
        // Read back by our own reader: the scaling per module is alpha / r of that module.
        auto settings = readLoraConfig(dir / "export" / "adapter_config.json");
        QVERIFY(settings);
        QCOMPARE(*settings->scalingFor("model.layers.0.attention.wq", 2), 2.0);
        QCOMPARE(*settings->scalingFor("model.layers.0.attention.wk", 3), 4.0 / 3.0);
    }

    // With a training config: its r and lora_alpha (cross-checked with the shapes) and rsLoRA.
    void peftConfigFromTrainingConfig() {
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        auto tensors = adapterTensors();
        tensors.resize(2);  // the wq pair only, r = 2
        writeCheckpoint(dir / "in" / "adapter.ckpt", tensors);
        writeText(dir / "in" / "adapter_config.json", R"({"r":2,"lora_alpha":16,"use_rslora":true})");
        AdapterExportRequest request;
        request.source = dir / "in" / "adapter.ckpt";
        request.dstDir = dir / "export";
        request.format = AdapterFormat::Peft;
        auto report = exportAdapter(request);
        QVERIFY2(report, report ? "" : report.error().describe().c_str());
        QCOMPARE(
            QString::fromStdString(readText(dir / "export" / "adapter_config.json")),
            QStringLiteral(
                R"({"alpha_pattern":{},"base_model_name_or_path":null,"bias":"none","fan_in_fan_out":false,)"
                R"("inference_mode":true,"lora_alpha":16.0,"lora_dropout":0.0,"peft_type":"LORA","r":2,)"
                R"("rank_pattern":{},"target_modules":["wq"],"task_type":null,"use_rslora":true})"
                "\n"));
        QCOMPARE(QString::fromStdString(report->notes.back()),
                 QStringLiteral(
                     "r and lora_alpha from adapter_config.json: r 2, lora_alpha 16, use_rslora (alpha/√r)"));
    }

    // Rank folders (the demo's 2-rank model, LoRA taken out with --lora-only) are reassembled through
    // their strategy: the export holds the full LoRA tensors, as the merge engine reads them.
    void rankFolders() {
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        auto demo = writeDemo(dir / "demo");
        QVERIFY(demo);
        const auto before = treeDigest(dir / "demo");
        AdapterExportRequest request;
        request.source = demo->distributedDir;
        request.dstDir = dir / "export";
        request.format = AdapterFormat::Safetensors;
        request.loraOnly = true;
        auto report = exportAdapter(request);
        QVERIFY2(report, report ? "" : report.error().describe().c_str());
        QCOMPARE(treeDigest(dir / "demo"), before);
        SourceSpec spec;
        spec.src = demo->distributedDir;
        spec.strategy = demo->strategyDir;
        auto model = openSource(spec);
        QVERIFY2(model, model ? "" : model.error().describe().c_str());
        auto all = contents(**model);
        auto exported = openFullSource(report->files.front());
        QVERIFY(exported);
        const auto got = contents(**exported);
        size_t lora = 0;
        for (const auto& [name, value] : all)
            if (name.find("mindpet_delta_lora_") != std::string::npos && !name.starts_with("adam")) {
                ++lora;
                QVERIFY2(got.count(name) && got.at(name) == value, name.c_str());
            }
        QVERIFY(lora >= 2);
        QCOMPARE(got.size(), lora);
    }

    void refusals_data() {
        QTest::addColumn<QString>("source");  // in/<source>
        QTest::addColumn<int>("format");
        QTest::addColumn<bool>("alpha");
        QTest::addColumn<QString>("message");  // describe(); {dir} is the temp folder
        QTest::newRow("a model without --lora-only")
            << "model.ckpt" << int(AdapterFormat::Ckpt) << true
            << "{dir}/in/model.ckpt: parameter 'model.layers.0.attention.wq.weight': the source holds 3 "
               "tensor(s) "
               "that are not LoRA weights (model.layers.0.attention.wq.weight, "
               "model.layers.0.attention.wk.weight, "
               "model.norm.weight): it is a model, not an adapter (--lora-only exports only its LoRA "
               "tensors)";
        QTest::newRow("no LoRA")
            << "base.ckpt" << int(AdapterFormat::Ckpt) << true
            << "{dir}/in/base.ckpt: parameter 'model.layers.0.attention.wq.weight': the source holds "
               "3 tensor(s) that are not LoRA weights (model.layers.0.attention.wq.weight, "
               "model.layers.0.attention.wk.weight, model.norm.weight): it is a model, not an "
               "adapter (--lora-only exports only its LoRA tensors)";
        QTest::newRow("only scalars") << "scalars.ckpt" << int(AdapterFormat::Ckpt) << true
                                      << "{dir}/in/scalars.ckpt: the source holds no LoRA tensors";
        QTest::newRow("peft: an A without its B")
            << "loose.ckpt" << int(AdapterFormat::Peft) << true
            << "{dir}/in/loose.ckpt: parameter 'model.layers.0.attention.wk.mindpet_delta_lora_a': 1 LoRA "
               "tensor(s) "
               "are not half of an A/B pair and have no PEFT name "
               "(model.layers.0.attention.wk.mindpet_delta_lora_a); "
               "export them with --format ckpt or safetensors";
        QTest::newRow("peft: no lora_alpha")
            << "adapter.ckpt" << int(AdapterFormat::Peft) << false
            << "{dir}/in/adapter.ckpt: parameter 'lora_alpha': no LoRA config found for the adapter, and "
               "adapter_config.json needs lora_alpha: pass --lora_config FILE or --lora_alpha A";
        QTest::newRow("output exists")
            << "adapter.ckpt" << int(AdapterFormat::Ckpt) << true
            << "{dir}/export/adapter_model.ckpt: parameter 'dst': the output file already "
               "exists; pass --overwrite to replace it or choose another --dst";
        QTest::newRow("missing source")
            << "gone.ckpt" << int(AdapterFormat::Ckpt) << true
            << "{dir}/in/gone.ckpt: parameter 'src_ckpt_path_or_dir': no such file or folder";
    }

    void refusals() {
        QFETCH(QString, source);
        QFETCH(int, format);
        QFETCH(bool, alpha);
        QFETCH(QString, message);
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        writeCheckpoint(dir / "in" / "base.ckpt", baseTensors());
        writeCheckpoint(dir / "in" / "adapter.ckpt", adapterTensors());
        auto model = baseTensors();
        for (auto& t : adapterTensors()) model.push_back(t);
        writeCheckpoint(dir / "in" / "model.ckpt", model);
        writeCheckpoint(dir / "in" / "scalars.ckpt", {f32("epoch_num", {}, 1)});
        auto loose = adapterTensors();
        loose.erase(loose.begin() + 3);  // wk's B
        writeCheckpoint(dir / "in" / "loose.ckpt", loose);
        writeCheckpoint(dir / "export" / "adapter_model.ckpt", {f32("x", {1}, 1)});
        const auto before = treeDigest(dir);
        AdapterExportRequest request;
        request.source = dir / "in" / source.toStdString();
        request.dstDir =
            source == QStringLiteral("adapter.ckpt") && AdapterFormat(format) == AdapterFormat::Ckpt
                ? dir / "export"
                : dir / "fresh";
        request.format = AdapterFormat(format);
        if (alpha) request.alpha = 4.0;
        auto report = exportAdapter(request);
        QVERIFY(!report);
        QCOMPARE(QString::fromStdString(report.error().describe()),
                 message.replace(QStringLiteral("{dir}"), QString::fromStdString(dir.string())));
        QCOMPARE(treeDigest(dir), before);  // nothing written, nothing changed
        QVERIFY(!fs::exists(dir / "fresh" / "adapter_model.ckpt"));
    }

    // The CLI only parses: `loramerge adapter export` runs exportAdapter and prints its one error line.
    void cli_data() {
        QTest::addColumn<QStringList>("args");  // {dir} is the temp folder
        QTest::addColumn<int>("exitCode");
        QTest::addColumn<QString>("lastLine");  // of stdout for 0, of stderr otherwise
        QTest::newRow("peft")
            << QStringList{QStringLiteral("{dir}/in/adapter.ckpt"),
                           QStringLiteral("--dst"),
                           QStringLiteral("{dir}/exp"),
                           QStringLiteral("--format"),
                           QStringLiteral("peft"),
                           QStringLiteral("--lora_alpha"),
                           QStringLiteral("4")}
            << 0
            << "exported 4 LoRA tensor(s) (2 pair(s), 280 B) to {dir}/exp/adapter_model.safetensors "
               "{dir}/exp/adapter_config.json";
        QTest::newRow("model without --lora-only")
            << QStringList{QStringLiteral("{dir}/in/base.ckpt"), QStringLiteral("--dst"),
                           QStringLiteral("{dir}/exp")}
            << 1
            << "loramerge: error: {dir}/in/base.ckpt: parameter 'model.layers.0.attention.wq.weight': the "
               "source "
               "holds 3 tensor(s) that are not LoRA weights (model.layers.0.attention.wq.weight, "
               "model.layers.0.attention.wk.weight, model.norm.weight): it is a model, not an adapter "
               "(--lora-only "
               "exports only its LoRA tensors)";
        QTest::newRow("unknown format")
            << QStringList{QStringLiteral("{dir}/in/adapter.ckpt"), QStringLiteral("--dst"),
                           QStringLiteral("{dir}/exp"), QStringLiteral("--format"), QStringLiteral("onnx")}
            << 2 << "Try 'loramerge --help'.";
        QTest::newRow("no --dst") << QStringList{QStringLiteral("{dir}/in/adapter.ckpt")} << 2
                                  << "Try 'loramerge --help'.";
    }

    void cli() {
        QFETCH(QStringList, args);
        QFETCH(int, exitCode);
        QFETCH(QString, lastLine);
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        writeCheckpoint(dir / "in" / "base.ckpt", baseTensors());
        writeCheckpoint(dir / "in" / "adapter.ckpt", adapterTensors());
        const QString d = QString::fromStdString(dir.string());
        for (auto& a : args) a.replace(QStringLiteral("{dir}"), d);
        QProcess process;
        process.start(
            cliPath(),
            QStringList{QStringLiteral("-q"), QStringLiteral("adapter"), QStringLiteral("export")} + args);
        QVERIFY(process.waitForFinished(60000));
        QCOMPARE(process.exitCode(), exitCode);
        const QString out = QString::fromUtf8(exitCode == 0 ? process.readAllStandardOutput()
                                                            : process.readAllStandardError());
        const QStringList lines = out.trimmed().split(QLatin1Char('\n'));
        if (exitCode == 0) {
            // -q prints nothing; run again without it to see the summary line.
            QCOMPARE(out, QString());
            fs::remove_all(dir / "exp");
            process.start(cliPath(), QStringList{QStringLiteral("adapter"), QStringLiteral("export")} + args);
            QVERIFY(process.waitForFinished(60000));
            QCOMPARE(process.exitCode(), 0);
            const QStringList again =
                QString::fromUtf8(process.readAllStandardOutput()).trimmed().split(QLatin1Char('\n'));
            QCOMPARE(again.last(), lastLine.replace(QStringLiteral("{dir}"), d));
            QVERIFY(fs::exists(dir / "exp" / "adapter_config.json"));
        } else {
            QCOMPARE(lines.last(), lastLine.replace(QStringLiteral("{dir}"), d));
            QVERIFY(!fs::exists(dir / "exp"));
        }
    }

    void moduleNames_data() {
        QTest::addColumn<QString>("a");
        QTest::addColumn<QString>("module");
        QTest::newRow("mindpet") << "model.layers.0.attention.wq.mindpet_delta_lora_a"
                                 << "model.layers.0.attention.wq";
        QTest::newRow("legacy tk_delta") << "m.wq.tk_delta_lora_a"
                                         << "m.wq";
        QTest::newRow("mcore") << "decoder.layers.0.linear_qkv.lora_A.weight"
                               << "decoder.layers.0.linear_qkv";
        QTest::newRow("PEFT prefix, adapter name") << "base_model.model.model.q_proj.lora_A.default.weight"
                                                   << "model.q_proj";
        QTest::newRow("S-LoRA") << "model.layers.0.attention.wq.lora_a"
                                << "model.layers.0.attention.wq";
        QTest::newRow("not an A") << "model.layers.0.attention.wq.lora_b"
                                  << "";
        QTest::newRow("no module") << "lora_a"
                                   << "";
    }

    void moduleNames() {
        QFETCH(QString, a);
        QFETCH(QString, module);
        QCOMPARE(QString::fromStdString(loraModuleOf(a.toStdString())), module);
    }
};

QTEST_GUILESS_MAIN(TestAdapterExport)
#include "tst_adapterexport.moc"
