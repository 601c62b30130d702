// The rules of a merge request (core/lms/merge/Request.h): every refusal reason and warning of
// resolve() as one row, on checkpoints generated in code.
#include "TestSupport.h"
#include "lms/merge/Request.h"

#include <QTemporaryDir>
#include <QtTest>
#include <functional>
#include <limits>

using namespace lms;
using namespace lms::test;

namespace {

namespace fs = std::filesystem;

QStringList strings(std::initializer_list<const char*> items) {
    QStringList list;
    for (const char* item : items) list << QString::fromUtf8(item);
    return list;
}

// base [8,4] with a rank-2 MindPet pair; `bRank` != 2 makes the pair a problem.
std::vector<FakeTensor> model(int64_t bRank = 2, bool withBase = true) {
    std::vector<FakeTensor> tensors;
    if (withBase)
        tensors.push_back(
            {"l0.wq.weight", "Float32", {8, 4}, floatBytes(DType::Float32, randomValues(32, 1))});
    tensors.push_back(
        {"l0.wq.mindpet_delta_lora_a", "Float32", {2, 4}, floatBytes(DType::Float32, randomValues(8, 2))});
    tensors.push_back({"l0.wq.mindpet_delta_lora_b",
                       "Float32",
                       {8, bRank},
                       floatBytes(DType::Float32, randomValues(size_t(8 * bRank), 3))});
    return tensors;
}

// The request of each row; `dir` is a fresh folder holding good.ckpt.
using Setup = std::function<void(const fs::path& dir, MergeRequest& request)>;

MergeRequest baseRequest(const fs::path& dir) {
    MergeRequest request;
    request.source.path = dir / "good.ckpt";
    request.destination.dir = dir / "out";
    request.scaling.spec.scaling = 2.0;
    request.scaling.provenance = "from --lora_scaling 2";
    return request;
}

void writeText(const fs::path& file, const std::string& text) {
    fs::create_directories(file.parent_path());
    writeFileBytes(file, std::span(reinterpret_cast<const std::byte*>(text.data()), text.size()));
}

// model() plus weights the adapter has no pair for (`extra`), in p/model.ckpt beside p/finetune.yaml
// whose target_modules selects wq and wk; the scaling comes from the YAML (s = 4 / 2).
void partialModel(const fs::path& d, MergeRequest& r, std::vector<std::string> extra) {
    auto tensors = model();
    for (const auto& name : extra)
        tensors.push_back({name, "Float32", {8, 4}, floatBytes(DType::Float32, randomValues(32, 9))});
    writeCheckpoint(d / "p" / "model.ckpt", tensors);
    writeText(d / "p" / "finetune.yaml",
              "model:\n  model_config:\n    pet_config:\n      pet_type: lora\n      lora_rank: 2\n"
              "      lora_alpha: 4\n      target_modules: '.*wq|.*wk'\n");
    r.source.path = d / "p" / "model.ckpt";
    r.scaling = {};
}

QString substituted(QString text, const fs::path& dir) {
    return text.replace(QStringLiteral("{dir}"), QString::fromStdString(dir.string()));
}

}  // namespace

Q_DECLARE_METATYPE(Setup)

class TestRequest : public QObject {
    Q_OBJECT

private slots:
    void rules_data() {
        QTest::addColumn<Setup>("setup");
        QTest::addColumn<QStringList>("codes");     // refusalCodeName of every refusal, in order
        QTest::addColumn<QString>("first");         // describe() of the first refusal
        QTest::addColumn<QStringList>("warnings");  // job warnings, exactly
        const QStringList none;
        QTest::newRow("ok") << Setup([](const fs::path&, MergeRequest&) {}) << none << QString() << none;
        QTest::newRow("no source")
            << Setup([](const fs::path&, MergeRequest& r) { r.source.path.clear(); })
            << strings({"no-source"})
            << "parameter 'src_ckpt_path_or_dir': no source checkpoint given: choose a checkpoint "
               "file or model_dir"
            << none;
        QTest::newRow("source missing")
            << Setup([](const fs::path& d, MergeRequest& r) { r.source.path = d / "gone.ckpt"; })
            << strings({"source-unreadable"})
            << "{dir}/gone.ckpt: parameter 'src_ckpt_path_or_dir': no such file or folder" << none;
        QTest::newRow("no destination")
            << Setup([](const fs::path&, MergeRequest& r) { r.destination.dir.clear(); })
            << strings({"no-destination"})
            << "{dir}/good.ckpt: parameter 'dst_ckpt_dir': no destination folder given: "
               "choose the folder the merged checkpoint goes to"
            << none;
        QTest::newRow("prefix with slash")
            << Setup([](const fs::path&, MergeRequest& r) { r.destination.prefix = "a/b_"; })
            << strings({"bad-prefix"})
            << "{dir}/good.ckpt: parameter 'prefix': the prefix is part of a file name "
               "and must not contain a slash"
            << none;
        QTest::newRow("prefix with backslash")
            << Setup([](const fs::path&, MergeRequest& r) { r.destination.prefix = "a\\b_"; })
            << strings({"bad-prefix"})
            << "{dir}/good.ckpt: parameter 'prefix': the prefix is part of a file name and must not contain "
               "a slash"
            << none;
        QTest::newRow("destination strategy missing") << Setup([](const fs::path& d, MergeRequest& r) {
            r.destination.strategy = d / "none_strategy.ckpt";
        }) << strings({"bad-destination-strategy"}) << "DSTSTRATEGY"
                                                      << none;
        QTest::newRow("NaN in a LoRA tensor")  // shown before Merge, in the merge's own words
            << Setup([](const fs::path& d, MergeRequest& r) {
                   auto tensors = model();
                   auto values = randomValues(16, 3);
                   values[7] = std::numeric_limits<float>::quiet_NaN();
                   tensors[2].content = floatBytes(DType::Float32, values);
                   writeCheckpoint(d / "nan.ckpt", tensors);
                   r.source.path = d / "nan.ckpt";
               })
            << strings({"non-finite-lora"})
            << "{dir}/nan.ckpt: parameter 'l0.wq.mindpet_delta_lora_b': LoRA B l0.wq.mindpet_delta_lora_b in "
               "{dir}/nan.ckpt holds NaN at [3, 1]"
            << none;
        QTest::newRow("Inf in a LoRA tensor of a pair left out: no refusal")
            << Setup([](const fs::path& d, MergeRequest& r) {
                   auto tensors = model();
                   auto values = randomValues(8, 2);
                   values[0] = std::numeric_limits<float>::infinity();
                   tensors[1].content = floatBytes(DType::Float32, values);
                   writeCheckpoint(d / "inf.ckpt", tensors);
                   r.source.path = d / "inf.ckpt";
                   r.options.plan.disabledBases = {"l0.wq.weight"};
                   r.options.allowNoLora = true;
               })
            << none << QString() << none;
        QTest::newRow("only LoRA tensors")
            << Setup([](const fs::path& d, MergeRequest& r) {
                   writeCheckpoint(d / "adapter.ckpt", model(2, false));
                   r.source.path = d / "adapter.ckpt";
                   r.options.skipInvalid = true;
               })
            << strings({"nothing-to-merge"})
            << "{dir}/adapter.ckpt: nothing to merge into: every parameter is a LoRA weight or an optimizer "
               "copy of one "
               "(is this a LoRA-only adapter? pass it with --adapter next to the base checkpoint)"
            << none;
        QTest::newRow("pair problems") << Setup([](const fs::path& d, MergeRequest& r) {
            writeCheckpoint(d / "bad.ckpt", model(3));
            r.source.path = d / "bad.ckpt";
        }) << strings({"pair-problems"})
                                       << "{dir}/bad.ckpt: 1 LoRA problem(s), nothing was written: "
                                          "l0.wq.weight: rank mismatch: A [2,4] has r=2 but "
                                          "B [8,3] has r=3 (use --skip-invalid to merge only the valid pairs)"
                                       << none;
        QTest::newRow("no scaling")
            << Setup([](const fs::path&, MergeRequest& r) { r.scaling = {}; }) << strings({"no-scaling"})
            << "{dir}/good.ckpt: parameter 'lora_scaling': no LoRA scaling given: the merge adds "
               "(lora_alpha / lora_rank)·B·A, so pass --lora_scaling ALPHA/RANK (e.g. 16/8, the "
               "values of pet_config in your training YAML) or --lora_alpha ALPHA (the rank is "
               "then read from the LoRA shapes)"
            << none;
        QTest::newRow("no destination and no scaling")
            << Setup([](const fs::path&, MergeRequest& r) {
                   r.destination.dir.clear();
                   r.scaling = {};
               })
            << strings({"no-destination", "no-scaling"})
            << "{dir}/good.ckpt: parameter 'dst_ckpt_dir': no destination folder given: choose the folder "
               "the merged "
               "checkpoint goes to"
            << none;
        QTest::newRow("output beside the input")
            << Setup([](const fs::path& d, MergeRequest& r) {
                   fs::create_directories(d / "out" / "rank_0");
                   fs::copy_file(d / "good.ckpt", d / "out" / "rank_0" / "in.ckpt");
                   r.source.path = d / "out" / "rank_0" / "in.ckpt";
               })
            << strings({"output-is-input"})
            << "{dir}/out/rank_0/checkpoint_0.ckpt: the output folder {dir}/out/rank_0 holds an input file "
               "(in.ckpt); "
               "write the merged checkpoint somewhere else so the source stays untouched"
            << none;
        QTest::newRow("output exists, refuse")
            << Setup([](const fs::path& d, MergeRequest&) {
                   fs::create_directories(d / "out" / "rank_0");
                   writeCheckpoint(d / "out" / "rank_0" / "checkpoint_0.ckpt", model());
               })
            << strings({"output-exists"})
            << "{dir}/out/rank_0/checkpoint_0.ckpt: parameter 'dst_ckpt_dir': the output file already "
               "exists; allow "
               "replacing it (--overwrite) or choose another destination folder"
            << none;
        QTest::newRow("output exists, replace")
            << Setup([](const fs::path& d, MergeRequest& r) {
                   fs::create_directories(d / "out" / "rank_0");
                   writeCheckpoint(d / "out" / "rank_0" / "checkpoint_0.ckpt", model());
                   r.overwrite = OverwritePolicy::Replace;
               })
            << none << QString()
            << strings({"the output file {dir}/out/rank_0/checkpoint_0.ckpt exists and will be replaced"});
        QTest::newRow("lora_rank differs from the shapes")
            << Setup([](const fs::path&, MergeRequest& r) {
                   r.scaling = {};
                   r.scaling.spec.alpha = 16;
                   r.scaling.spec.rank = 8;
               })
            << none << QString()
            << strings({"the LoRA weights have r = 2 but lora_rank is 8; check lora_rank"});
        QTest::newRow("target_modules weights without a pair")
            << Setup([](const fs::path& d, MergeRequest& r) {
                   partialModel(d, r, {"l0.wk.weight", "l0.wv.weight"});
               })
            << strings({"partial-merge"})
            << "{dir}/p/finetune.yaml: parameter 'target_modules': target_modules \".*wq|.*wk\" in "
               "finetune.yaml "
               "selects 1 weight(s) that have no LoRA pair: l0.wk.weight; the adapter covers only part of "
               "what it "
               "was trained on (--allow-partial merges the pairs present)"
            << none;
        QTest::newRow("target_modules, six without a pair")
            << Setup([](const fs::path& d, MergeRequest& r) {
                   partialModel(d, r,
                                {"l1.wq.weight", "l1.wk.weight", "l2.wq.weight", "l2.wk.weight",
                                 "l3.wq.weight", "l3.wk.weight"});
               })
            << strings({"partial-merge"})
            << "{dir}/p/finetune.yaml: parameter 'target_modules': target_modules \".*wq|.*wk\" in "
               "finetune.yaml "
               "selects 6 weight(s) that have no LoRA pair: l1.wq.weight, l1.wk.weight, l2.wq.weight, "
               "l2.wk.weight, "
               "l3.wq.weight and 1 more; the adapter covers only part of what it was trained on "
               "(--allow-partial "
               "merges the pairs present)"
            << none;
        QTest::newRow("target_modules, --allow-partial")
            << Setup([](const fs::path& d, MergeRequest& r) {
                   partialModel(d, r, {"l0.wk.weight"});
                   r.scaling.allowPartial = true;
               })
            << none << QString()
            << strings({"target_modules \".*wq|.*wk\" in finetune.yaml selects 1 weight(s) that have no LoRA "
                        "pair: "
                        "l0.wk.weight; merging only the pairs present (--allow-partial)"});
        QTest::newRow("target_modules, all covered")
            << Setup([](const fs::path& d, MergeRequest& r) { partialModel(d, r, {"l0.wv.weight"}); }) << none
            << QString() << none;
        QTest::newRow("S-LoRA map without --adapter_name")
            << Setup([](const fs::path& d, MergeRequest& r) {
                   writeText(d / "s" / "a1" / "adapter_config.json", R"({"r":2,"lora_alpha":4})");
                   writeText(d / "s" / "a2" / "adapter_config.json", R"({"r":2,"lora_alpha":4})");
                   writeText(d / "s" / "lora_adapter.json", R"({"a1":"a1","a2":"a2"})");
                   r.source.adapter = d / "s" / "lora_adapter.json";
               })
            << strings({"source-unreadable"})
            << "{dir}/s/lora_adapter.json: parameter 'adapter_name': an S-LoRA adapter map of 2 adapter(s) "
               "(a1, a2); "
               "choose the one to merge with --adapter_name"
            << none;
        QTest::newRow("S-LoRA map, unknown --adapter_name")
            << Setup([](const fs::path& d, MergeRequest& r) {
                   writeText(d / "s" / "a1" / "adapter_config.json", R"({"r":2,"lora_alpha":4})");
                   writeText(d / "s" / "lora_adapter.json", R"({"a1":"a1"})");
                   r.source.adapter = d / "s" / "lora_adapter.json";
                   r.source.adapterName = "A1";
               })
            << strings({"source-unreadable"})
            << "{dir}/s/lora_adapter.json: parameter 'adapter_name': no adapter \"A1\" in it (it maps a1)"
            << none;
    }

    void rules() {
        QFETCH(Setup, setup);
        QFETCH(QStringList, codes);
        QFETCH(QString, first);
        QFETCH(QStringList, warnings);
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        writeCheckpoint(dir / "good.ckpt", model());
        auto request = baseRequest(dir);
        setup(dir, request);
        const auto before = treeDigest(dir);
        const auto resolution = resolve(request);
        QCOMPARE(treeDigest(dir), before);  // resolve never writes
        QStringList gotCodes;
        for (const auto& refusal : resolution.refusals)
            gotCodes << QString::fromLatin1(refusalCodeName(refusal.code));
        QCOMPARE(gotCodes, codes);
        QCOMPARE(resolution.ok(), codes.isEmpty());
        if (!codes.isEmpty()) {
            const auto& error = resolution.refusals.front().error;
            if (codes.front() != QStringLiteral("no-source"))
                QVERIFY2(!error.file.empty(), "every refusal names a file");
            const QString text = QString::fromStdString(error.describe());
            if (first == QStringLiteral("DSTSTRATEGY"))
                QVERIFY2(
                    text.startsWith(substituted(
                        QStringLiteral("{dir}/none_strategy.ckpt: parameter 'dst_ckpt_strategy': "), dir)),
                    qPrintable(text));
            else
                QCOMPARE(text, substituted(first, dir));
        }
        if (resolution.job) {
            QStringList gotWarnings;
            for (const auto& w : resolution.job->warnings) gotWarnings << QString::fromStdString(w);
            for (auto& w : warnings) w = substituted(w, dir);
            QCOMPARE(gotWarnings, warnings);
        }
    }

    // What an accepted request resolves to: the output, per-pair scaling with its provenance,
    // the bytes to write and the free space of the destination's file system.
    void resolvedJob_data() {
        QTest::addColumn<bool>("alpha");
        QTest::addColumn<int>("format");
        QTest::addColumn<double>("scaling");
        QTest::addColumn<QString>("output");
        QTest::newRow("scaling 2, ckpt")
            << false << int(OutputFormat::Ckpt) << 2.0 << "out/rank_0/checkpoint_0.ckpt";
        QTest::newRow("alpha 16 per pair r=2, safetensors")
            << true << int(OutputFormat::Safetensors) << 8.0 << "out/rank_0/checkpoint_0.safetensors";
    }

    void resolvedJob() {
        QFETCH(bool, alpha);
        QFETCH(int, format);
        QFETCH(double, scaling);
        QFETCH(QString, output);
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        writeCheckpoint(dir / "good.ckpt", model());
        auto request = baseRequest(dir);
        request.destination.format = OutputFormat(format);
        if (alpha)
            request.scaling = {
                {std::nullopt, 16.0, std::nullopt, nullptr}, ScalingOrigin::AlphaPerPair, "from α 16", {}};
        const auto resolution = resolve(request);
        QVERIFY(resolution.ok());
        const auto& job = *resolution.job;
        QCOMPARE(job.outputFiles, (std::vector<fs::path>{dir / output.toStdString()}));
        QCOMPARE(job.options.outputFile, dir / output.toStdString());
        QCOMPARE(job.pairScaling, (std::vector<double>{scaling}));
        QCOMPARE(job.scalingProvenance, request.scaling.provenance);
        QCOMPARE(job.bytesToWrite, uint64_t(8 * 4 * 4));
        QVERIFY(job.options.verify);  // both front ends verify by default
        QVERIFY(job.freeBytes.has_value());
        // The nearest existing folder (out/ is not made yet), read with statvfs; other processes write to
        // the same disk meanwhile, so the two readings agree only to within what they wrote.
        const auto now = lms::freeSpace(dir);
        QVERIFY(now.has_value());
        const uint64_t drift = *job.freeBytes > *now ? *job.freeBytes - *now : *now - *job.freeBytes;
        QVERIFY2(drift <= std::max<uint64_t>(64u << 20, *now / 100), qPrintable(QString::number(drift)));
        QVERIFY(*job.freeBytes > 0);
        auto report = run(job);
        QVERIFY2(report.has_value(), report ? "" : report.error().describe().c_str());
        QCOMPARE(report->pairsMerged, size_t(1));
        QVERIFY(fs::exists(dir / output.toStdString()));
    }

    // A destination strategy: one output per device of its stage, as runMerge writes them.
    void reshardOutputs() {
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        writeCheckpoint(dir / "good.ckpt", model());
        const std::string json = R"({"current_stage": 0, "parallel_strategy_item": {},
            "parallel_layout_item": {"l0.wq.weight": {"dev_matrix": [2], "tensor_map": [0, -1], "tensor_shape": [8, 4],
                                     "field": 0, "opt_weight_shard_step": 0, "opt_weight_shard_size": 0}},
            "parallel_layout_value_item": {}})";
        const auto* bytes = reinterpret_cast<const std::byte*>(json.data());
        writeFileBytes(dir / "dst_strategy.json", std::span(bytes, json.size()));
        auto request = baseRequest(dir);
        request.destination.strategy = dir / "dst_strategy.json";
        const auto resolution = resolve(request);
        QVERIFY2(resolution.ok(),
                 resolution.refusals.empty() ? "" : resolution.refusals.front().error.describe().c_str());
        const auto& job = *resolution.job;
        QCOMPARE(job.outputFiles, (std::vector<fs::path>{dir / "out/rank_0/checkpoint_0.ckpt",
                                                         dir / "out/rank_1/checkpoint_1.ckpt"}));
        QVERIFY(job.options.reshard.has_value());
        auto report = run(job);
        QVERIFY2(report.has_value(), report ? "" : report.error().describe().c_str());
        QCOMPARE(report->outputFiles, job.outputFiles);
    }

    // A destination strategy that cannot cut these tensors is refused by resolve() with the merge's
    // own words (the preview shows it before Merge); layouts of tensors the merge drops, or of names
    // the model does not have, do not matter.
    void reshardRefusedUpFront_data() {
        QTest::addColumn<QString>("layouts");  // parallel_layout_item entries
        QTest::addColumn<QString>("refusal");  // describe() of the one refusal; "" for none
        const QString wq = QStringLiteral(R"("l0.wq.weight": {"dev_matrix": [%1], "tensor_map": [%2],
            "tensor_shape": [8, 4], "field": 0, "opt_weight_shard_step": 0, "opt_weight_shard_size": 0})");
        const QString lora = QStringLiteral(R"("l0.wq.mindpet_delta_lora_a": {"dev_matrix": [3],
            "tensor_map": [0, -1], "tensor_shape": [2, 4], "field": 0, "opt_weight_shard_step": 0,
            "opt_weight_shard_size": 0})");
        QTest::newRow("fits") << wq.arg(QStringLiteral("2"), QStringLiteral("0, -1")) << QString();
        QTest::newRow("dim 0 not divisible")
            << wq.arg(QStringLiteral("3"), QStringLiteral("0, -1"))
            << QStringLiteral(
                   "{dir}/dst_strategy.json: parameter 'dst_ckpt_strategy': the layout of l0.wq.weight "
                   "cannot cut it: dimension 0 of shape [8, 4] does not divide into 3 equal parts");
        QTest::newRow("layout of a 1-D tensor of that name")
            << QStringLiteral(R"("l0.wq.weight": {"dev_matrix": [2], "tensor_map": [0], "tensor_shape": [8],
                "field": 0, "opt_weight_shard_step": 0, "opt_weight_shard_size": 0})")
            << QStringLiteral(
                   "{dir}/dst_strategy.json: parameter 'dst_ckpt_strategy': the layout of l0.wq.weight "
                   "cannot cut it: tensor_map [0] does not fit shape [8, 4]");
        QTest::newRow("pipeline stages")
            << QStringLiteral(
                   R"("0-l0.wq.weight": {"dev_matrix": [2], "tensor_map": [0, -1], "tensor_shape": [8, 4],
                "field": 0, "opt_weight_shard_step": 0, "opt_weight_shard_size": 0},
                "1-l0.wk.weight": {"dev_matrix": [2], "tensor_map": [-1, -1], "tensor_shape": [8, 4],
                "field": 0, "opt_weight_shard_step": 0, "opt_weight_shard_size": 0})")
            << QStringLiteral(
                   "{dir}/dst_strategy.json: parameter 'dst_ckpt_strategy': re-sharding into a "
                   "pipeline-parallel destination is not supported; give a single-stage strategy");
        QTest::newRow("misfit only on a dropped LoRA tensor")
            << wq.arg(QStringLiteral("2"), QStringLiteral("0, -1")) + QStringLiteral(", ") + lora
            << QString();
        QTest::newRow("misfit on a name the model lacks")
            << wq.arg(QStringLiteral("2"), QStringLiteral("0, -1")) +
                   QStringLiteral(
                       R"(, "l9.other.weight": {"dev_matrix": [3], "tensor_map": [0], "tensor_shape": [8],
                   "field": 0, "opt_weight_shard_step": 0, "opt_weight_shard_size": 0})")
            << QString();
    }

    void reshardRefusedUpFront() {
        QFETCH(QString, layouts);
        QFETCH(QString, refusal);
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        writeCheckpoint(dir / "good.ckpt", model());
        writeText(dir / "dst_strategy.json",
                  R"({"current_stage": 0, "parallel_strategy_item": {}, "parallel_layout_item": {)" +
                      layouts.toStdString() + R"(}, "parallel_layout_value_item": {}})");
        auto request = baseRequest(dir);
        request.destination.strategy = dir / "dst_strategy.json";
        const auto resolution = resolve(request);
        QStringList said;
        for (const auto& r : resolution.refusals)
            said << QString::fromStdString(std::string(refusalCodeName(r.code)) + ": " + r.error.describe());
        QCOMPARE(said.join(QLatin1Char('\n')),
                 refusal.isEmpty()
                     ? QString()
                     : QStringLiteral("bad-destination-strategy: ") + substituted(refusal, dir));
        if (!refusal.isEmpty()) {
            // The merge itself says the same when it is run regardless, and writes nothing.
            auto report = runMerge(*resolution.job->source, resolution.job->options);
            QVERIFY(!report);
            QCOMPARE(QString::fromStdString(report.error().describe()), substituted(refusal, dir));
            QVERIFY(!fs::exists(dir / "out"));
        }
    }

    // Configs where users keep them: a MindFormers manifest up the tree (its fingerprint noted as not
    // checked), and an S-LoRA adapter chosen by name with its own adapter_config.json.
    void configsWhereUsersKeepThem_data() {
        QTest::addColumn<bool>("slora");
        QTest::addColumn<double>("scaling");
        QTest::addColumn<QString>("provenance");
        QTest::addColumn<QString>("note");
        QTest::newRow("manifest two folders up")
            << false << 3.0 << "from mindformers_adapter_config.json: lora_config lora_alpha 6, r 2"
            << "{dir}/run/mindformers_adapter_config.json records base_fingerprint \"sha256:00ff\"; it was "
               "not "
               "checked (how MindFormers computes it is not published)";
        QTest::newRow("S-LoRA adapter b") << true << 5.0 << "from adapter_config.json: r 2, lora_alpha 10"
                                          << "S-LoRA adapter \"b\" of {dir}/slora/lora_adapter.json: merging "
                                             "{dir}/slora/b/adapter_model.ckpt";
    }

    void configsWhereUsersKeepThem() {
        QFETCH(bool, slora);
        QFETCH(double, scaling);
        QFETCH(QString, provenance);
        QFETCH(QString, note);
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        writeCheckpoint(
            dir / "base.ckpt",
            {{"l0.wq.weight", "Float32", {8, 4}, floatBytes(DType::Float32, randomValues(32, 1))}});
        auto adapter = model(2, false);
        MergeRequest request = baseRequest(dir);
        request.source.path = dir / "base.ckpt";
        request.scaling = {};
        if (slora) {
            for (auto& t : adapter)
                t.name = t.name.ends_with("_a") ? "l0.wq.lora_a" : "l0.wq.lora_b";  // S-LoRA names
            writeCheckpoint(dir / "slora" / "b" / "adapter_model.ckpt", adapter);
            writeText(dir / "slora" / "a" / "adapter_config.json", R"({"r":2,"lora_alpha":4})");
            writeText(dir / "slora" / "b" / "adapter_config.json", R"({"r":2,"lora_alpha":10})");
            writeText(dir / "slora" / "lora_adapter.json", R"({"a":"a","b":"b"})");
            request.source.adapter = dir / "slora" / "lora_adapter.json";
            request.source.adapterName = "b";
        } else {
            fs::create_directories(dir / "run" / "ckpt" / "rank_0");
            writeCheckpoint(dir / "run" / "ckpt" / "rank_0" / "adapter.ckpt", adapter);
            writeText(dir / "run" / "ckpt" / "rank_0" / "adapter_config.json", R"({"r":2,"lora_alpha":100})");
            writeText(dir / "run" / "mindformers_adapter_config.json",
                      R"({"format":"mindformers_pynative_lora_adapter_v1","base_fingerprint":"sha256:00ff",)"
                      R"("lora_config":{"r":2,"lora_alpha":6}})");
            request.source.adapter = dir / "run" / "ckpt" / "rank_0" / "adapter.ckpt";
        }
        const auto resolution = resolve(request);
        QVERIFY2(resolution.ok(),
                 resolution.refusals.empty() ? "" : resolution.refusals.front().error.describe().c_str());
        const auto& job = *resolution.job;
        QCOMPARE(job.pairScaling, (std::vector<double>{scaling}));
        QCOMPARE(job.pairScalingSource,
                 (std::vector<std::string>{""}));  // no pattern: the global r and alpha
        QCOMPARE(QString::fromStdString(job.scalingProvenance), provenance);
        QVERIFY2(std::find(job.notes.begin(), job.notes.end(), substituted(note, dir).toStdString()) !=
                     job.notes.end(),
                 qPrintable(QString::fromStdString(job.notes.empty() ? "no notes" : job.notes.back())));
        auto report = run(job);
        QVERIFY2(report.has_value(), report ? "" : report.error().describe().c_str());
        QCOMPARE(report->pairsMerged, size_t(1));
    }

    // A folder of ours (only rank_0, no strategy) is read as the full checkpoint it holds.
    void mergedOutputFolderIsAFullCheckpoint() {
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        fs::create_directories(dir / "merged" / "rank_0");
        writeCheckpoint(dir / "merged" / "rank_0" / "checkpoint_0.ckpt", model());
        auto request = baseRequest(dir);
        request.source.path = dir / "merged";
        const auto resolution = resolve(request);
        QVERIFY(resolution.ok());
        QCOMPARE(resolution.job->notes.front(),
                 (dir / "merged").string() +
                     " holds only rank_0 and no strategy, as a merged output does: reading " +
                     (dir / "merged" / "rank_0" / "checkpoint_0.ckpt").string() + " as a full checkpoint");
        QCOMPARE(resolution.job->plan.okPairs, size_t(1));
    }
};

QTEST_GUILESS_MAIN(TestRequest)
#include "tst_request.moc"
