// Fault injection (docs/RELIABILITY.md): the output disk failing part-way, cancel at random
// points, kill -9 in the middle of a merge, an input truncated while it is read, and merge
// verification. Each case checks the promises: the error names the problem, no file is left
// under the final name (nor a temp file, nor a folder the run created), and the inputs keep their
// sizes and checksums.
//
// The CLI cases run LMS_BINARY_DIR/app/loramerge (tests/CMakeLists.txt makes this test depend
// on the loramerge target).
#include "TestSupport.h"
#include "lms/io/FileIO.h"
#include "lms/merge/Merge.h"

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>
#include <atomic>
#include <chrono>
#include <csignal>
#include <fstream>
#include <map>
#include <random>
#include <thread>

using namespace lms;
using namespace lms::test;
namespace fs = std::filesystem;

namespace {

// ------------------------------------------------------------------ inputs and their checksums

// A LoRA-trained model as a training run saves it: per layer a norm and four projections
// [out, in] with MindPet A [r, in] / B [out, r] right after their base, Adam copies of the LoRA
// weights at the end, scalars. Values in [-1, 1).
std::vector<FakeTensor> trainedModel(int layers, int64_t out, int64_t in, int64_t rank,
                                     const std::string& baseType = "Float32") {
    const auto baseDtype = dtypeFromTensorType(baseType);
    std::vector<FakeTensor> tensors;
    uint32_t seed = 1;
    tensors.push_back({"model.tok_embeddings.embedding_weight",
                       "Float32",
                       {64, in},
                       floatBytes(DType::Float32, randomValues(size_t(64 * in), seed++))});
    std::vector<FakeTensor> adam;
    for (int l = 0; l < layers; ++l) {
        const std::string layer = "model.layers." + std::to_string(l);
        tensors.push_back({layer + ".attention_norm.weight",
                           "Float32",
                           {in},
                           floatBytes(DType::Float32, randomValues(size_t(in), seed++))});
        for (const char* proj : {"wq", "wk", "wv", "wo"}) {
            const std::string stem = layer + ".attention." + proj;
            tensors.push_back({stem + ".weight",
                               baseType,
                               {out, in},
                               floatBytes(baseDtype, randomValues(size_t(out * in), seed++))});
            tensors.push_back({stem + ".mindpet_delta_lora_a",
                               "Float32",
                               {rank, in},
                               floatBytes(DType::Float32, randomValues(size_t(rank * in), seed++))});
            tensors.push_back({stem + ".mindpet_delta_lora_b",
                               "Float32",
                               {out, rank},
                               floatBytes(DType::Float32, randomValues(size_t(out * rank), seed++))});
            adam.push_back({"adam_m." + stem + ".mindpet_delta_lora_a",
                            "Float32",
                            {rank, in},
                            floatBytes(DType::Float32, randomValues(size_t(rank * in), seed++))});
        }
    }
    tensors.insert(tensors.end(), adam.begin(), adam.end());
    tensors.push_back({"global_step", "Int32", {1}, std::vector<std::byte>(4, std::byte{9})});
    tensors.push_back({"epoch_num", "Int64", {}, std::vector<std::byte>(8, std::byte{1})});
    return tensors;
}

size_t keptTensors(const std::vector<FakeTensor>& tensors) {
    return size_t(std::count_if(tensors.begin(), tensors.end(), [](const FakeTensor& t) {
        return t.name.find("lora") == std::string::npos;
    }));
}

// ------------------------------------------------------------------ the CLI

QString qs(const fs::path& path) {
    return QString::fromStdString(path.string());
}

struct CliRun {
    int exitCode = -1;
    bool crashed = false;
    QString out, err;
};

// Runs loramerge with `args`; with `fileSizeKiB` >= 0 under `ulimit -f` (SIGXFSZ ignored, so a
// write past the limit fails with EFBIG the way a full disk fails with ENOSPC).
CliRun runCli(const QStringList& args, int fileSizeKiB = -1) {
    QProcess process;
    if (fileSizeKiB >= 0) {
        QStringList shellArgs{
            QStringLiteral("-c"),
            QStringLiteral("trap '' XFSZ; ulimit -f %1; exec \"$0\" \"$@\"").arg(fileSizeKiB), cliPath()};
        process.start(QStringLiteral("/bin/bash"), shellArgs + args);
    } else {
        process.start(cliPath(), args);
    }
    CliRun run;
    if (!process.waitForStarted(30000) || !process.waitForFinished(600000)) {
        run.err = QStringLiteral("loramerge did not start or finish: ") + process.errorString();
        process.kill();
        process.waitForFinished();
        return run;
    }
    run.crashed = process.exitStatus() != QProcess::NormalExit;
    run.exitCode = process.exitCode();
    run.out = QString::fromUtf8(process.readAllStandardOutput());
    run.err = QString::fromUtf8(process.readAllStandardError());
    return run;
}

QStringList mergeArgs(const fs::path& input, const fs::path& dst,
                      const QString& scaling = QStringLiteral("8/4")) {
    return {QStringLiteral("--src_ckpt_path_or_dir"), qs(input), QStringLiteral("--dst_ckpt_dir"), qs(dst),
            QStringLiteral("--lora_scaling"),         scaling,   QStringLiteral("--quiet")};
}

// The last line of stderr: the one "loramerge: error: ..." line a failed run prints.
QString lastLine(const QString& text) {
    const auto lines = text.trimmed().split(QLatin1Char('\n'));
    return lines.isEmpty() ? QString() : lines.back();
}

// Regular files (not folders) under `dir`; empty when `dir` does not exist.
std::vector<std::string> filesUnder(const fs::path& dir) {
    return listFiles(dir);
}

uint64_t fileSizeOr0(const fs::path& path) {
    std::error_code ec;
    const auto size = fs::file_size(path, ec);
    return ec ? 0 : uint64_t(size);
}

// Bytes written so far to the file `pid` has open under `dir` (its unnamed O_TMPFILE inode shows
// as "dir/#123 (deleted)", a named temp file by its name), or -1 while it has none: the merge's
// temp file is found through /proc whatever it is called, or whether it has a name at all.
int64_t outputPosition(qint64 pid, const fs::path& dir) {
    std::error_code ec;
    const auto fdDir = fs::path("/proc") / std::to_string(pid) / "fd";
    for (const auto& entry : fs::directory_iterator(fdDir, ec)) {
        const auto target = fs::read_symlink(entry.path(), ec).string();
        if (ec || !target.starts_with(dir.string())) continue;
        std::ifstream info(fs::path("/proc") / std::to_string(pid) / "fdinfo" / entry.path().filename());
        std::string key;
        int64_t pos = -1;
        while (info >> key)
            if (key == "pos:" && info >> pos) return pos;
    }
    return -1;
}

// Files under `dir` that are temp files of AtomicOutputFile's named fallback.
bool onlyTempLeftovers(const std::vector<std::string>& files) {
    return std::all_of(files.begin(), files.end(),
                       [](const std::string& f) { return f.ends_with(".lms-tmp"); });
}

}  // namespace

class TestFaults : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    fs::path root() const { return tmp_.path().toStdString(); }

    // A fresh folder per test row.
    fs::path caseDir(const QString& name) const {
        const auto dir = root() / (QTest::currentTestFunction() + std::string("-") + name.toStdString());
        fs::remove_all(dir);
        fs::create_directories(dir);
        return dir;
    }

private slots:
    void initTestCase() {
        QVERIFY2(QFileInfo::exists(cliPath()),
                 qPrintable(QStringLiteral("build the loramerge target first (") + cliPath() +
                            QStringLiteral(")")));
    }

    // (a) The output disk fails part-way: a file-size limit makes the n-th KiB of the temp file
    // unwritable (EFBIG, as ENOSPC on a full disk; tst_badinputs covers a real full tmpfs).
    void diskFailsPartWay_data() {
        QTest::addColumn<int>("limitKiB");
        for (int kib : {0, 1, 8, 40, 120})
            QTest::newRow(qPrintable(QStringLiteral("%1 KiB").arg(kib))) << kib;
    }
    void diskFailsPartWay() {
        QFETCH(int, limitKiB);
        const auto dir = caseDir(QString::number(limitKiB));
        const auto input = dir / "in" / "model.ckpt";
        const auto model = trainedModel(3, 64, 48, 4);
        writeCheckpoint(input, model);
        const auto before = treeDigest(input.parent_path());
        const auto dst = dir / "out";
        const auto output = dst / "rank_0" / "checkpoint_0.ckpt";

        // The merged output is larger than every limit, so each run fails at a different point.
        const auto full = runCli(mergeArgs(input, dir / "unlimited"));
        QCOMPARE(full.exitCode, 0);
        QVERIFY(fileSizeOr0(dir / "unlimited" / "rank_0" / "checkpoint_0.ckpt") >
                uint64_t(limitKiB + 8) * 1024);

        const auto run = runCli(mergeArgs(input, dst), limitKiB);
        QVERIFY2(!run.crashed, qPrintable(run.err));
        QCOMPARE(run.exitCode, 1);
        const QString line = lastLine(run.err);
        QVERIFY2(line.startsWith(QStringLiteral("loramerge: error: ") + qs(output)), qPrintable(line));
        QVERIFY2(line.endsWith(QStringLiteral(": File too large")), qPrintable(line));
        QVERIFY2(
            line.contains(QStringLiteral("write failed")) || line.contains(QStringLiteral("copy failed")),
            qPrintable(line));
        QCOMPARE(filesUnder(dst), std::vector<std::string>{});  // no output, no temp file
        QCOMPARE(treeDigest(input.parent_path()), before);
    }

    // (b) Cancel before a random parameter (and in the finishing and verifying stages): the run
    // ends Cancelled and leaves nothing.
    void cancelAtRandomParameter_data() {
        QTest::addColumn<int>("seed");
        QTest::addColumn<QString>("stage");
        for (int seed = 1; seed <= 12; ++seed)
            QTest::newRow(qPrintable(QStringLiteral("merging #%1").arg(seed)))
                << seed << QStringLiteral("merging");
        QTest::newRow("finishing") << 0 << QStringLiteral("finishing");
        QTest::newRow("verifying") << 0 << QStringLiteral("verifying");
    }
    void cancelAtRandomParameter() {
        QFETCH(int, seed);
        QFETCH(QString, stage);
        const auto dir = caseDir(QString::number(seed) + stage);
        const auto input = dir / "in" / "model.ckpt";
        const auto model = trainedModel(4, 32, 24, 4, "BFloat16");
        writeCheckpoint(input, model);
        const auto before = treeDigest(input.parent_path());
        auto source = openFullSource(input);
        QVERIFY(source);
        MergeOptions options;
        options.progressInterval = {};  // every report: the test acts on a given parameter
        options.outputFile = dir / "out" / "rank_0" / "checkpoint_0.ckpt";
        options.scaling.scaling = 2;
        options.verify = true;
        const size_t written = keptTensors(model);
        const size_t cancelAt = std::mt19937(uint32_t(seed))() % written;
        CancelToken token;
        std::vector<std::string> seen;
        auto report = runMerge(
            **source, options,
            [&](const Progress& p) {
                seen.push_back(p.stage);
                if (stage == QStringLiteral("merging") ? p.itemsDone == cancelAt
                                                       : p.stage == stage.toStdString())
                    token.cancel();
            },
            &token);
        QVERIFY2(!report, "the merge finished although it was cancelled");
        QCOMPARE(report.error().code, ErrorCode::Cancelled);
        QVERIFY2(report.error().describe().find("cancelled") != std::string::npos,
                 report.error().describe().c_str());
        QVERIFY(std::find(seen.begin(), seen.end(), stage.toStdString()) != seen.end());
        QCOMPARE(filesUnder(dir / "out"), std::vector<std::string>{});
        QCOMPARE(treeDigest(input.parent_path()), before);
    }

    // Cancel from another thread at a random moment: either the merge completes (and its output
    // is whole) or it is cancelled and leaves nothing.
    void cancelFromAnotherThread_data() {
        QTest::addColumn<int>("delayUs");
        for (int us : {0, 200, 1000, 3000, 10000, 30000, 100000})
            QTest::newRow(qPrintable(QString::number(us))) << us;
    }
    void cancelFromAnotherThread() {
        QFETCH(int, delayUs);
        const auto dir = caseDir(QString::number(delayUs));
        const auto input = dir / "in" / "model.ckpt";
        const auto model = trainedModel(6, 128, 96, 8, "Float16");
        writeCheckpoint(input, model);
        const auto before = treeDigest(input.parent_path());
        auto source = openFullSource(input);
        QVERIFY(source);
        MergeOptions options;
        options.outputFile = dir / "out" / "rank_0" / "checkpoint_0.ckpt";
        options.scaling.scaling = 2;
        options.verify = true;
        CancelToken token;
        std::thread canceller([&] {
            std::this_thread::sleep_for(std::chrono::microseconds(delayUs));
            token.cancel();
        });
        auto report = runMerge(**source, options, {}, &token);
        canceller.join();
        if (report) {
            auto out = CheckpointFile::open(options.outputFile);
            QVERIFY(out);
            QCOMPARE((*out)->tensors().size(), keptTensors(model));
            QCOMPARE(filesUnder(dir / "out"), std::vector<std::string>{"rank_0/checkpoint_0.ckpt"});
        } else {
            QCOMPARE(report.error().code, ErrorCode::Cancelled);
            QCOMPARE(filesUnder(dir / "out"), std::vector<std::string>{});
        }
        QCOMPARE(treeDigest(input.parent_path()), before);
    }

    // A failed run removes the folders it created for the output (dst_ckpt_dir and rank_0), not
    // only the files: the user finds the disk as it was.
    void failedRunRemovesCreatedFolders_data() {
        QTest::addColumn<QString>("fault");
        QTest::newRow("cancel") << QStringLiteral("cancel");
        QTest::newRow("disk full") << QStringLiteral("disk full");
        QTest::newRow("verification fails") << QStringLiteral("nan");
    }
    void failedRunRemovesCreatedFolders() {
        QFETCH(QString, fault);
        const auto dir = caseDir(fault);
        const auto input = dir / "in" / "model.ckpt";
        auto model = trainedModel(2, 32, 24, 4);
        if (fault == QStringLiteral("nan")) {
            const float nan = std::numeric_limits<float>::quiet_NaN();
            std::memcpy(model[4].content.data(), &nan, 4);  // layer 0 wq's LoRA B
            QVERIFY(model[4].name.ends_with("wq.mindpet_delta_lora_b"));
        }
        writeCheckpoint(input, model);
        const auto before = treeDigest(input.parent_path());
        const auto dst = dir / "out";
        if (fault == QStringLiteral("cancel")) {
            auto source = openFullSource(input);
            QVERIFY(source);
            MergeOptions options;
            options.progressInterval = {};  // every report: the test acts on a given parameter
            options.outputFile = dst / "rank_0" / "checkpoint_0.ckpt";
            options.scaling.scaling = 2;
            CancelToken token;
            auto report = runMerge(
                **source, options,
                [&](const Progress& p) {
                    if (p.itemsDone == 3) token.cancel();
                },
                &token);
            QVERIFY(!report);
        } else {
            const auto run = runCli(mergeArgs(input, dst), fault == QStringLiteral("disk full") ? 4 : -1);
            QCOMPARE(run.exitCode, 1);
        }
        QVERIFY2(!fs::exists(dst),
                 qPrintable(QStringLiteral("a failed run left the folder ") + qs(dst) +
                            QStringLiteral(" it created (files: %1)").arg(filesUnder(dst).size())));
        QCOMPARE(treeDigest(input.parent_path()), before);
    }

    // (c) kill -9 in the middle of a ~150 MB merge: nothing under the final name, at most the
    // killed run's own uniquely named temp file (none with O_TMPFILE), and the next run succeeds.
    void killNineMidMerge_data() {
        QTest::addColumn<double>("killAtFraction");  // of the expected output size in the temp file
        QTest::newRow("temp file just created") << 0.0;
        QTest::newRow("temp file half written") << 0.5;
    }
    void killNineMidMerge() {
        QFETCH(double, killAtFraction);
        const auto input = root() / "kill-input" / "model.ckpt";
        constexpr int kLayers = 9;  // 36 base weights of 1024 x 1024 Float32: 144 MiB
        constexpr int64_t kDim = 1024, kRank = 8;
        if (!fs::exists(input)) {
            // Streamed through the writer so the test never holds the whole model in memory.
            fs::create_directories(input.parent_path());
            auto writer = CheckpointWriter::create(input, {});
            QVERIFY(writer);
            uint32_t seed = 100;
            const std::vector<int64_t> base{kDim, kDim}, a{kRank, kDim}, b{kDim, kRank};
            for (int l = 0; l < kLayers; ++l)
                for (const char* proj : {"wq", "wk", "wv", "wo"}) {
                    const std::string stem = "model.layers." + std::to_string(l) + ".attention." + proj;
                    QVERIFY(writer->writeTensor(
                        stem + ".weight", "Float32", base,
                        floatBytes(DType::Float32, randomValues(size_t(kDim * kDim), seed++))));
                    QVERIFY(writer->writeTensor(
                        stem + ".mindpet_delta_lora_a", "Float32", a,
                        floatBytes(DType::Float32, randomValues(size_t(kRank * kDim), seed++))));
                    QVERIFY(writer->writeTensor(
                        stem + ".mindpet_delta_lora_b", "Float32", b,
                        floatBytes(DType::Float32, randomValues(size_t(kDim * kRank), seed++))));
                }
            QVERIFY(writer->writeTensor("global_step", "Int32", std::vector<int64_t>{1},
                                        std::vector<std::byte>(4)));
            QVERIFY(writer->commit());
        }
        const auto before = treeDigest(input.parent_path());
        const auto dst = root() / ("kill-out-" + std::to_string(int(killAtFraction * 100)));
        fs::remove_all(dst);
        const auto output = dst / "rank_0" / "checkpoint_0.ckpt";
        const uint64_t expectedBytes = uint64_t(kLayers) * 4 * kDim * kDim * 4;

        QProcess process;
        process.start(cliPath(), mergeArgs(input, dst));
        QVERIFY(process.waitForStarted());
        bool killed = false;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
        while (process.state() == QProcess::Running && std::chrono::steady_clock::now() < deadline) {
            const int64_t written = outputPosition(process.processId(), dst);
            if (written >= 0 && double(written) >= killAtFraction * double(expectedBytes)) {
                ::kill(pid_t(process.processId()), SIGKILL);
                killed = true;
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        process.waitForFinished(60000);
        QVERIFY2(killed, "the merge ended before it could be killed; make the input larger");
        QCOMPARE(process.exitStatus(), QProcess::CrashExit);
        const auto left = filesUnder(dst);
        QVERIFY2(!fs::exists(output), "kill -9 left a file under the final name");
        QVERIFY(left.size() <= 1 && onlyTempLeftovers(left));

        // The next run does not trip over a leftover: it uses its own temp file and publishes.
        const auto again = runCli(mergeArgs(input, dst));
        QVERIFY2(again.exitCode == 0, qPrintable(again.err));
        auto expected = left;
        expected.push_back("rank_0/checkpoint_0.ckpt");
        std::sort(expected.begin(), expected.end());
        QCOMPARE(filesUnder(dst), expected);
        auto merged = CheckpointFile::open(output);
        QVERIFY(merged);
        QCOMPARE((*merged)->tensors().size(), size_t(kLayers * 4 + 1));
        QCOMPARE(treeDigest(input.parent_path()), before);
    }

    // Files where older versions put their temp file ("<output>.tmp"), or a leftover of a killed
    // run, are never opened: not followed if a symlink (a stale or hostile link would otherwise
    // make the merge overwrite its target), not removed (they are not this run's), not published.
    void staleTempFileIsReplaced_data() {
        QTest::addColumn<QString>("kind");
        QTest::newRow("stale partial file") << QStringLiteral("file");
        QTest::newRow("symlink to another file") << QStringLiteral("symlink");
    }
    void staleTempFileIsReplaced() {
        QFETCH(QString, kind);
        const auto dir = caseDir(kind);
        const auto input = dir / "in" / "model.ckpt";
        writeCheckpoint(input, trainedModel(1, 16, 8, 2));
        const auto output = dir / "out" / "rank_0" / "checkpoint_0.ckpt";
        auto temp = output;
        temp += ".tmp";
        fs::create_directories(output.parent_path());
        const auto victim = dir / "victim.txt";
        writeFileBytes(victim, std::as_bytes(std::span("precious", 8)));
        if (kind == QStringLiteral("file"))
            writeFileBytes(temp, std::vector<std::byte>(100, std::byte{0x0A}));  // a truncated record
        else
            fs::create_symlink(victim, temp);
        const auto inputsBefore = treeDigest(input.parent_path());
        const auto run = runCli(mergeArgs(input, dir / "out"));
        QVERIFY2(run.exitCode == 0, qPrintable(run.err));
        QCOMPARE(fs::file_size(victim), uintmax_t(8));  // "precious", untouched
        QVERIFY2(!fs::is_symlink(output), "the output was published as a symlink to another file");
        QVERIFY(fs::is_regular_file(fs::symlink_status(output)));
        QVERIFY(kind == QStringLiteral("file") ? fs::is_regular_file(fs::symlink_status(temp))
                                               : fs::is_symlink(fs::symlink_status(temp)));  // left as it was
        QCOMPARE(fileSizeOr0(temp), uintmax_t(kind == QStringLiteral("file") ? 100 : 8));
        QVERIFY(CheckpointFile::open(output));
        QCOMPARE(treeDigest(input.parent_path()), inputsBefore);
    }

    // (d) An input is truncated by someone else while it is read (the file shrinks between the
    // index and the read of a later parameter): the run fails naming the file and the parameter,
    // and leaves nothing.
    void inputTruncatedMidRun_data() {
        QTest::addColumn<QString>("victim");  // the parameter whose bytes disappear
        QTest::newRow("merged base weight") << QStringLiteral("model.layers.1.attention.wk.weight");
        QTest::newRow("copied parameter") << QStringLiteral("model.layers.1.attention_norm.weight");
        QTest::newRow("LoRA B read for a merge")
            << QStringLiteral("model.layers.1.attention.wv.mindpet_delta_lora_b");
    }
    void inputTruncatedMidRun() {
        QFETCH(QString, victim);
        const auto dir = caseDir(victim);
        const auto input = dir / "in" / "model.ckpt";
        writeCheckpoint(input, trainedModel(2, 32, 24, 4));
        auto source = openFullSource(input);
        QVERIFY(source);
        auto index = CheckpointFile::open(input);
        QVERIFY(index);
        const auto* info = (*index)->find(victim.toStdString());
        QVERIFY(info);
        const uint64_t cutAt = info->chunks.front().offset + 2;  // inside the victim's content
        MergeOptions options;
        options.progressInterval = {};  // every report: the test acts on a given parameter
        options.outputFile = dir / "out" / "rank_0" / "checkpoint_0.ckpt";
        options.scaling.scaling = 2;
        bool truncated = false;
        auto report = runMerge(**source, options, [&](const Progress& p) {
            if (!truncated && p.stage == "merging" && p.itemsDone == 2) {
                fs::resize_file(input, cutAt);
                truncated = true;
            }
        });
        QVERIFY(truncated);
        QVERIFY2(!report, "the merge succeeded on a truncated input");
        const auto& error = report.error();
        QCOMPARE(error.code, ErrorCode::Io);
        QCOMPARE(error.file, input.string());
        QVERIFY2(error.message.find("shrank") != std::string::npos, error.describe().c_str());
        // The user learns which parameter could not be read: the victim, or one stored after it
        // (reads may run ahead of the parameter being written), never none.
        const auto* failed = (*index)->find(error.parameter);
        QVERIFY2(failed, ("the error names no parameter of the file: '" + error.parameter + "'").c_str());
        QVERIFY2(failed->records.back().offset + failed->records.back().length > cutAt,
                 error.describe().c_str());
        QCOMPARE(filesUnder(dir / "out"), std::vector<std::string>{});
    }

    // --verify (the default) reports success; --no-verify skips it.
    void verificationIsReported_data() {
        QTest::addColumn<bool>("verify");
        QTest::newRow("default") << true;
        QTest::newRow("--no-verify") << false;
    }
    void verificationIsReported() {
        QFETCH(bool, verify);
        const auto dir = caseDir(QString::number(verify));
        const auto input = dir / "in" / "model.ckpt";
        writeCheckpoint(input, trainedModel(2, 32, 24, 4, "BFloat16"));
        const auto before = treeDigest(input.parent_path());
        QStringList args{QStringLiteral("--src_ckpt_path_or_dir"), qs(input),
                         QStringLiteral("--dst_ckpt_dir"),         qs(dir / "out"),
                         QStringLiteral("--lora_scaling"),         QStringLiteral("8/4")};
        if (!verify) args << QStringLiteral("--no-verify");
        const auto run = runCli(args);
        QVERIFY2(run.exitCode == 0, qPrintable(run.err));
        const QString note = QStringLiteral(
            "note: verified: the output reads back with the expected index, finite merged values and "
            "spot-checked "
            "elements");
        QCOMPARE(run.out.split(QLatin1Char('\n')).contains(note), verify);
        QVERIFY(run.out.contains(QStringLiteral("merged 8 LoRA pair(s)")));
        QCOMPARE(treeDigest(input.parent_path()), before);
    }

    // A merge whose result would not be finite is refused while streaming and not published: a NaN
    // in an input (the line names the input file, the tensor and the position), or a Float16 base
    // pushed past 65504 by the delta (the line names the range, the position and the pair).
    void verificationRejectsNonFiniteMerge_data() {
        QTest::addColumn<QString>("cause");
        QTest::addColumn<QString>("scaling");
        QTest::newRow("NaN in LoRA B") << QStringLiteral("nan") << QStringLiteral("2");
        // 60000 + 4000 * (1 * 1 + 1 * 1) = 68000 > 65504, the largest Float16.
        QTest::newRow("Float16 overflow") << QStringLiteral("overflow") << QStringLiteral("4000");
    }
    void verificationRejectsNonFiniteMerge() {
        QFETCH(QString, cause);
        QFETCH(QString, scaling);
        const auto dir = caseDir(cause);
        const auto input = dir / "in" / "model.ckpt";
        std::vector<FakeTensor> model;
        if (cause == QStringLiteral("nan")) {
            auto b = randomValues(8 * 2, 3);
            b[5] = std::numeric_limits<float>::quiet_NaN();
            model = {
                {"w.weight", "Float32", {8, 4}, floatBytes(DType::Float32, randomValues(32, 1))},
                {"w.mindpet_delta_lora_a", "Float32", {2, 4}, floatBytes(DType::Float32, randomValues(8, 2))},
                {"w.mindpet_delta_lora_b", "Float32", {8, 2}, floatBytes(DType::Float32, b)}};
        } else {
            model = {
                {"w.weight", "Float16", {8, 4}, floatBytes(DType::Float16, std::vector<float>(32, 60000.0f))},
                {"w.mindpet_delta_lora_a",
                 "Float32",
                 {2, 4},
                 floatBytes(DType::Float32, std::vector<float>(8, 1.0f))},
                {"w.mindpet_delta_lora_b",
                 "Float32",
                 {8, 2},
                 floatBytes(DType::Float32, std::vector<float>(16, 1.0f))}};
        }
        writeCheckpoint(input, model);
        const auto before = treeDigest(input.parent_path());
        const auto dst = dir / "out";
        const auto run = runCli(mergeArgs(input, dst, scaling));
        QCOMPARE(run.exitCode, 1);
        // Element 5 of B [8, 2] is [2, 1].
        const QString expected =
            cause == QStringLiteral("nan")
                ? QStringLiteral(
                      "loramerge: error: %1: parameter 'w.mindpet_delta_lora_b': LoRA B "
                      "w.mindpet_delta_lora_b in %1 holds NaN at [2, 1]")
                : QStringLiteral(
                      "loramerge: error: %1: parameter 'w.weight': W + s\u00B7B\u00B7A exceeds the "
                      "Float16 range (\u00B165504) at [0, 0] of w.weight");
        QCOMPARE(lastLine(run.err), expected.arg(qs(input)));
        QCOMPARE(filesUnder(dst), std::vector<std::string>{});
        QCOMPARE(treeDigest(input.parent_path()), before);
    }

    // Two runs into one folder at the same time: different outputs never clobber each other (each
    // has its own temp file); the same output without --overwrite is published by exactly one run,
    // the other fails at publish time with "already exists" and leaves nothing.
    void concurrentRunsIntoOneFolder_data() {
        QTest::addColumn<bool>("sameOutput");
        QTest::newRow("different outputs") << false;
        QTest::newRow("same output") << true;
    }
    void concurrentRunsIntoOneFolder() {
        QFETCH(bool, sameOutput);
        const auto dir = caseDir(sameOutput ? QStringLiteral("same") : QStringLiteral("different"));
        const auto input = dir / "in" / "model.ckpt";
        writeCheckpoint(input, trainedModel(4, 256, 192, 8));
        const auto dst = dir / "out";
        QProcess first, second;
        auto argsFor = [&](const QString& prefix) {
            return mergeArgs(input, dst)
                   << QStringLiteral("--prefix") << prefix << QStringLiteral("--no-verify");
        };
        first.start(cliPath(), argsFor(QStringLiteral("a_")));
        second.start(cliPath(), argsFor(sameOutput ? QStringLiteral("a_") : QStringLiteral("b_")));
        QVERIFY(first.waitForFinished(120000) && second.waitForFinished(120000));
        const QString errors =
            QString::fromUtf8(first.readAllStandardError() + second.readAllStandardError());
        std::vector<std::string> expected{"rank_0/a_0.ckpt"};
        if (!sameOutput) {
            QVERIFY2(first.exitCode() == 0 && second.exitCode() == 0, qPrintable(errors));
            expected.push_back("rank_0/b_0.ckpt");
        } else {
            QCOMPARE(first.exitCode() + second.exitCode(), 1);  // one published, one refused
            QVERIFY2(errors.contains(QStringLiteral("the output file already exists")), qPrintable(errors));
        }
        QCOMPARE(filesUnder(dst), expected);
        for (const auto& name : expected) {
            auto out = CheckpointFile::open(dst / name);
            QVERIFY(out);
            QCOMPARE((*out)->tensors().size(), keptTensors(trainedModel(4, 256, 192, 8)));
        }
    }

    // The no-clobber race: the target appears after any up-front check but before publishing
    // (here: created by the progress callback in a late stage). Without overwrite the run fails
    // at publish with "already exists" and the newcomer keeps its bytes; with overwrite the
    // merged file replaces it.
    void noClobberAtPublish_data() {
        QTest::addColumn<QString>("stage");
        QTest::addColumn<bool>("safetensors");
        QTest::addColumn<bool>("overwrite");
        QTest::newRow("ckpt, created while verifying") << QStringLiteral("verifying") << false << false;
        QTest::newRow("ckpt, created while finishing") << QStringLiteral("finishing") << false << false;
        QTest::newRow("safetensors, created while publishing")
            << QStringLiteral("publishing") << true << false;
        QTest::newRow("ckpt, overwrite") << QStringLiteral("verifying") << false << true;
    }
    void noClobberAtPublish() {
        QFETCH(QString, stage);
        QFETCH(bool, safetensors);
        QFETCH(bool, overwrite);
        const auto dir = caseDir(QString::fromLatin1(QTest::currentDataTag()));
        const auto input = dir / "in" / "model.ckpt";
        writeCheckpoint(input, trainedModel(1, 16, 8, 2));
        auto source = openFullSource(input);
        QVERIFY(source);
        MergeOptions options;
        options.outputFile = dir / "out" / (safetensors ? "m.safetensors" : "m.ckpt");
        options.format = safetensors ? OutputFormat::Safetensors : OutputFormat::Ckpt;
        options.scaling.scaling = 2;
        options.verify = true;
        options.overwrite = overwrite;
        const std::vector<std::byte> newcomer(7, std::byte{'x'});
        auto report = runMerge(**source, options, [&](const Progress& p) {
            if (p.stage == stage.toStdString() && !fs::exists(options.outputFile))
                writeFileBytes(options.outputFile, newcomer);
        });
        if (overwrite) {
            QVERIFY2(report, report ? "" : report.error().describe().c_str());
            QVERIFY(CheckpointFile::open(options.outputFile));
        } else {
            QVERIFY(!report);
            QCOMPARE(report.error().describe(),
                     options.outputFile.string() + ": parameter 'dst_ckpt_dir': " + kOutputExistsMessage);
            QCOMPARE(readFileBytes(options.outputFile), newcomer);
        }
        QCOMPARE(filesUnder(dir / "out"), std::vector<std::string>{options.outputFile.filename().string()});
    }

    // Allocation failure: the CLI runs under an address-space limit (ulimit -v) that leaves room
    // to start and index the model but not for the row blocks of the large parameters. The run
    // fails with one line naming the parameter and the bytes it needed, exits 1 (no crash, no
    // std::terminate) and leaves nothing.
    void allocationFailureIsReported_data() {
        QTest::addColumn<QString>("format");
        QTest::addColumn<int>("headroomMiB");  // above the address space the CLI needs to start
        QTest::newRow("ckpt, 16 MiB headroom") << QStringLiteral("ckpt") << 16;
        QTest::newRow("ckpt, 20 MiB headroom") << QStringLiteral("ckpt") << 20;
        QTest::newRow("safetensors, 24 MiB headroom") << QStringLiteral("safetensors") << 24;
    }
    void allocationFailureIsReported() {
#if defined(__SANITIZE_ADDRESS__)
        // AddressSanitizer reserves terabytes of address space at start-up, so no ulimit -v lets the
        // CLI start; the normal (unsanitized) build of scripts/test.sh runs these rows.
        QSKIP("address-space limits cannot be tested under AddressSanitizer");
#endif
        QFETCH(QString, format);
        QFETCH(int, headroomMiB);
        const auto input = root() / "alloc-input" / "model.ckpt";
        constexpr int64_t kDim = 4096, kRank = 16;  // one 64 MiB Float32 base weight, merged
        if (!fs::exists(input)) {
            fs::create_directories(input.parent_path());
            auto writer = CheckpointWriter::create(input, {});
            QVERIFY(writer);
            const std::vector<int64_t> base{kDim, kDim}, a{kRank, kDim}, b{kDim, kRank};
            QVERIFY(writer->writeTensor("big.weight", "Float32", base,
                                        floatBytes(DType::Float32, randomValues(size_t(kDim * kDim), 7))));
            QVERIFY(writer->writeTensor("big.mindpet_delta_lora_a", "Float32", a,
                                        floatBytes(DType::Float32, randomValues(size_t(kRank * kDim), 8))));
            QVERIFY(writer->writeTensor("big.mindpet_delta_lora_b", "Float32", b,
                                        floatBytes(DType::Float32, randomValues(size_t(kDim * kRank), 9))));
            QVERIFY(writer->commit());
        }
        const auto before = treeDigest(input.parent_path());
        const auto dst = root() / ("alloc-out-" + std::to_string(headroomMiB) + format.toStdString());
        fs::remove_all(dst);
        // What the CLI needs to start: `loramerge --version` under shrinking limits.
        int startKiB = 0;
        for (int kib = 16 * 1024; kib <= 512 * 1024 && !startKiB; kib += 8 * 1024) {
            QProcess probe;
            probe.start(QStringLiteral("/bin/sh"),
                        {QStringLiteral("-c"), QStringLiteral("ulimit -v %1; exec \"$0\" --version").arg(kib),
                         cliPath()});
            if (probe.waitForFinished(30000) && probe.exitStatus() == QProcess::NormalExit &&
                probe.exitCode() == 0)
                startKiB = kib;
        }
        QVERIFY2(startKiB > 0, "loramerge --version does not run under any tested address-space limit");
        QProcess process;
        const QString script =
            QStringLiteral("ulimit -v %1; exec \"$0\" \"$@\"").arg(startKiB + headroomMiB * 1024);
        process.start(QStringLiteral("/bin/sh"), QStringList{QStringLiteral("-c"), script, cliPath()} +
                                                     mergeArgs(input, dst) +
                                                     QStringList{QStringLiteral("--save_format"), format});
        QVERIFY(process.waitForFinished(120000));
        const QString err = QString::fromUtf8(process.readAllStandardError());
        QVERIFY2(process.exitStatus() == QProcess::NormalExit, qPrintable(err));
        QCOMPARE(process.exitCode(), 1);
        static const QRegularExpression line(
            QStringLiteral("^loramerge: error: .+: parameter 'big\\.weight': not enough memory: merging this "
                           "parameter needs (\\d+) bytes \\([0-9.]+ MiB\\) at once; free memory or raise the "
                           "limit \\(ulimit -v\\)$"));
        const auto match = line.match(lastLine(err));
        QVERIFY2(match.hasMatch(), qPrintable(err));
        QVERIFY(match.captured(1).toULongLong() >= 16u << 20);  // at least one 16 MiB row block
        QCOMPARE(filesUnder(dst), std::vector<std::string>{});
        QCOMPARE(treeDigest(input.parent_path()), before);
    }
};

QTEST_GUILESS_MAIN(TestFaults)
#include "tst_faults.moc"
