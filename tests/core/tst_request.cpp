// The rules of a merge request (core/lms/merge/Request.h): every refusal reason and warning of
// resolve() as one row, on checkpoints generated in code.
#include "TestSupport.h"
#include "lms/merge/Request.h"

#include <QTemporaryDir>
#include <QtTest>
#include <functional>

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
