// Several adapters in one pass (Request.h SourceRequest::adapters, LoraPlan.h adapter sections):
// W' = W + Σ_k w_k·s_k·B_k·A_k checked element by element against a double recomputation, the
// --adapter PATH[:WEIGHT] rule, the plan's problems per adapter, and the CLI end to end.
#include "TestSupport.h"
#include "lms/merge/Request.h"
#include "lms/merge/Verify.h"

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

using namespace lms;
using namespace lms::test;

namespace {

namespace fs = std::filesystem;

constexpr int64_t kOut = 8, kIn = 4, kRank = 2;
const std::vector<std::string> kBases{"l0.wq", "l0.wk"};

std::vector<FakeTensor> baseModel() {
    std::vector<FakeTensor> tensors;
    for (size_t b = 0; b < kBases.size(); ++b)
        tensors.push_back({kBases[b] + ".weight",
                           "Float32",
                           {kOut, kIn},
                           floatBytes(DType::Float32, randomValues(size_t(kOut * kIn), uint32_t(10 + b)))});
    return tensors;
}

// An adapter (MindPet names, identical across adapters) adapting the bases listed by index.
std::vector<FakeTensor> adapter(const std::vector<int>& bases, uint32_t seed) {
    std::vector<FakeTensor> tensors;
    for (int b : bases) {
        const auto& stem = kBases[size_t(b)];
        tensors.push_back(
            {stem + ".mindpet_delta_lora_a",
             "Float32",
             {kRank, kIn},
             floatBytes(DType::Float32, randomValues(size_t(kRank * kIn), seed + uint32_t(b) * 2))});
        tensors.push_back(
            {stem + ".mindpet_delta_lora_b",
             "Float32",
             {kOut, kRank},
             floatBytes(DType::Float32, randomValues(size_t(kOut * kRank), seed + uint32_t(b) * 2 + 1))});
    }
    return tensors;
}

std::vector<float> valuesOf(const std::vector<FakeTensor>& tensors, const std::string& name) {
    for (const auto& t : tensors)
        if (t.name == name) return bytesToFloats(DType::Float32, t.content);
    return {};
}

// W + Σ_k w_k·s·B_k·A_k of base `b`, in double.
std::vector<double> expected(const std::vector<std::vector<FakeTensor>>& adapters,
                             const std::vector<double>& weights, double s, size_t b) {
    const auto w = valuesOf(baseModel(), kBases[b] + ".weight");
    std::vector<double> result(w.begin(), w.end());
    for (size_t k = 0; k < adapters.size(); ++k) {
        const auto a = valuesOf(adapters[k], kBases[b] + ".mindpet_delta_lora_a");
        const auto bb = valuesOf(adapters[k], kBases[b] + ".mindpet_delta_lora_b");
        if (a.empty()) continue;
        for (int64_t i = 0; i < kOut; ++i)
            for (int64_t j = 0; j < kIn; ++j) {
                double d = 0;
                for (int64_t r = 0; r < kRank; ++r)
                    d += double(bb[size_t(i * kRank + r)]) * a[size_t(r * kIn + j)];
                result[size_t(i * kIn + j)] += weights[k] * s * d;
            }
    }
    return result;
}

std::vector<float> readOutput(const fs::path& file, const std::string& name) {
    auto source = openFullSource(file);
    if (!source) return {};
    const auto& tensors = (*source)->tensors();
    for (size_t i = 0; i < tensors.size(); ++i)
        if (tensors[i].name == name) {
            std::vector<std::byte> bytes(size_t(tensors[i].byteSize));
            if (!(*source)->read(i, bytes, nullptr)) return {};
            return bytesToFloats(DType::Float32, bytes);
        }
    return {};
}

using Adapters = std::vector<std::vector<int>>;
using Weights = std::vector<double>;

QStringList strings(std::initializer_list<const char*> items) {
    QStringList list;
    for (const char* item : items) list << QString::fromUtf8(item);
    return list;
}

QString sub(QString text, const fs::path& dir) {
    return text.replace(QStringLiteral("{dir}"), QString::fromStdString(dir.string()));
}

}  // namespace

Q_DECLARE_METATYPE(Adapters)
Q_DECLARE_METATYPE(Weights)

class TestMultiAdapter : public QObject {
    Q_OBJECT

private slots:
    // The studio's adapter field: `PATH[:WEIGHT]` entries separated by ';', blanks and empty entries
    // ignored; an unusable weight is the error of its entry.
    void adapterList() {
        auto list = lms::parseAdapterList("  a.ckpt ;dir:x/b.ckpt:-0.5;; c.ckpt:2 ; ");
        QVERIFY(list.has_value());
        QCOMPARE(list->size(), size_t(3));
        QCOMPARE((*list)[0].path, std::filesystem::path("a.ckpt"));
        QCOMPARE((*list)[0].weight, 1.0);
        QCOMPARE((*list)[1].path, std::filesystem::path("dir:x/b.ckpt"));
        QCOMPARE((*list)[1].weight, -0.5);
        QCOMPARE((*list)[2].path, std::filesystem::path("c.ckpt"));
        QCOMPARE((*list)[2].weight, 2.0);
        QVERIFY(lms::parseAdapterList(" ; ")->empty());
        auto bad = lms::parseAdapterList("a.ckpt; b.ckpt:0");
        QVERIFY(!bad.has_value());
        QCOMPARE(bad.error().file, std::string("b.ckpt"));
        QCOMPARE(bad.error().parameter, std::string("adapter"));
    }

    void adapterSpec_data() {
        QTest::addColumn<QString>("text");
        QTest::addColumn<QString>("path");
        QTest::addColumn<double>("weight");
        QTest::addColumn<QString>("error");  // describe(); empty when it parses
        QTest::newRow("no weight") << "a.ckpt"
                                   << "a.ckpt" << 1.0 << "";
        QTest::newRow("half") << "a.ckpt:0.5"
                              << "a.ckpt" << 0.5 << "";
        QTest::newRow("minus one") << "a.ckpt:-1"
                                   << "a.ckpt" << -1.0 << "";
        QTest::newRow("plus, exponent") << "a.ckpt:+2e-1"
                                        << "a.ckpt" << 0.2 << "";
        QTest::newRow("colon in a folder") << "dir:x/a.ckpt"
                                           << "dir:x/a.ckpt" << 1.0 << "";
        QTest::newRow("colon in a folder, weight") << "dir:x/a.ckpt:3"
                                                   << "dir:x/a.ckpt" << 3.0 << "";
        QTest::newRow("suffix not a number") << "a.ckpt:v2"
                                             << "a.ckpt:v2" << 1.0 << "";
        QTest::newRow("inf is a name") << "a.ckpt:inf"
                                       << "a.ckpt:inf" << 1.0 << "";
        QTest::newRow("trailing colon") << "a.ckpt:"
                                        << "a.ckpt:" << 1.0 << "";
        const QString unusable = QStringLiteral(
            " is not usable: give a finite number other than 0 (a negative weight subtracts the adapter)");
        QTest::newRow("zero") << "a.ckpt:0"
                              << "" << 0.0
                              << QString::fromUtf8("a.ckpt: parameter 'adapter': the adapter weight 0") +
                                     unusable;
        QTest::newRow("minus zero") << "a.ckpt:-0.0"
                                    << "" << 0.0
                                    << QString::fromUtf8(
                                           "a.ckpt: parameter 'adapter': the adapter weight -0.0") +
                                           unusable;
        QTest::newRow("overflow") << "a.ckpt:1e999"
                                  << "" << 0.0
                                  << QString::fromUtf8(
                                         "a.ckpt: parameter 'adapter': the adapter weight 1e999") +
                                         unusable;
        QTest::newRow("no file") << ":2"
                                 << "" << 0.0 << "parameter 'adapter': no adapter file before the weight";
    }
    void adapterSpec() {
        QFETCH(QString, text);
        QFETCH(QString, path);
        QFETCH(double, weight);
        QFETCH(QString, error);
        const auto parsed = parseAdapterSpec(text.toStdString());
        if (!error.isEmpty()) {
            QVERIFY(!parsed);
            QCOMPARE(QString::fromStdString(parsed.error().describe()), error);
            return;
        }
        QVERIFY(parsed);
        QCOMPARE(QString::fromStdString(parsed->path.string()), path);
        QCOMPARE(parsed->weight, weight);
    }

    // Merged values of every base: W + Σ w_k·s·B_k·A_k, verified, one pair per adapter and base.
    void merge_data() {
        QTest::addColumn<Adapters>("adapters");  // bases each adapter adapts
        QTest::addColumn<Weights>("weights");
        QTest::newRow("two adapters, same base") << Adapters{{0}, {0}} << Weights{1, 1};
        QTest::newRow("two adapters, different bases") << Adapters{{0}, {1}} << Weights{1, 1};
        QTest::newRow("three adapters, negative weight") << Adapters{{0, 1}, {0}, {1}} << Weights{1, -1, 0.5};
        QTest::newRow("one adapter with a weight") << Adapters{{0, 1}} << Weights{0.25};
        QTest::newRow("same adapter twice cancels") << Adapters{{0}, {0}} << Weights{2, -2};
    }
    void merge() {
        QFETCH(Adapters, adapters);
        QFETCH(Weights, weights);
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        writeCheckpoint(dir / "base" / "base.ckpt", baseModel());
        MergeRequest request;
        request.source.path = dir / "base" / "base.ckpt";
        request.destination.dir = dir / "out";
        request.scaling.spec.scaling = 2.0;
        std::vector<std::vector<FakeTensor>> written;
        const bool cancels = weights.size() == 2 && weights[0] == -weights[1];
        for (size_t k = 0; k < adapters.size(); ++k) {
            written.push_back(adapter(adapters[k], cancels ? 100 : uint32_t(100 + 20 * k)));
            const auto file = dir / ("a" + std::to_string(k)) / "adapter.ckpt";
            writeCheckpoint(file, written.back());
            request.source.adapters.push_back({file, weights[k], {}});
        }
        const auto resolution = resolve(request);
        QVERIFY2(resolution.ok(), resolution.refusals.empty()
                                      ? "no job"
                                      : resolution.refusals.front().error.describe().c_str());
        const auto& job = *resolution.job;
        size_t pairs = 0;
        for (const auto& a : adapters) pairs += a.size();
        QCOMPARE(job.plan.pairs.size(), pairs);
        QCOMPARE(job.plan.okPairs, pairs);
        QCOMPARE(job.adapters.size(), adapters.size());
        for (size_t p = 0; p < job.plan.pairs.size(); ++p)
            QCOMPARE(job.pairScaling[p], 2.0 * weights[job.plan.pairs[p].adapter]);
        QCOMPARE(job.plan.tensorsToWrite, uint64_t(kBases.size()));  // no adapter tensor is written
        auto report = run(job);
        QVERIFY2(report, report ? "" : report.error().describe().c_str());
        QCOMPARE(report->pairsMerged, pairs);
        // Verification recomputes every term: it passes with the options used and fails with a
        // sign flipped.
        QVERIFY(verifyMergedFile(report->outputFile, *job.source, job.options));
        auto wrong = job.options;
        wrong.adapters.back().weight = -wrong.adapters.back().weight;
        const auto refuted = verifyMergedFile(report->outputFile, *job.source, wrong);
        QVERIFY(!refuted);
        const QString text = QString::fromStdString(refuted.error().message);
        QVERIFY2(text.startsWith(QStringLiteral("verification failed at ")), qPrintable(text));
        // The first base that differs is the last adapter's first; the message counts its terms.
        const int changed = adapters.back().front();
        int terms = 0;
        for (const auto& a : adapters) terms += std::count(a.begin(), a.end(), changed) > 0;
        QVERIFY2(
            text.contains(terms > 1 ? QStringLiteral("but W + Σ s·B·A of %1 adapters recomputed").arg(terms)
                                    : QStringLiteral("but W + s·B·A recomputed")),
            qPrintable(text));
        const auto out = job.outputFiles.front();
        for (size_t b = 0; b < kBases.size(); ++b) {
            const auto want = expected(written, weights, 2.0, b);
            const auto got = readOutput(out, kBases[b] + ".weight");
            QCOMPARE(got.size(), want.size());
            for (size_t e = 0; e < got.size(); ++e)
                QVERIFY2(std::abs(double(got[e]) - want[e]) <= 1e-5 * (1 + std::abs(want[e])),
                         qPrintable(QStringLiteral("%1[%2]: %3 vs %4")
                                        .arg(QString::fromStdString(kBases[b]))
                                        .arg(e)
                                        .arg(got[e])
                                        .arg(want[e])));
        }
    }

    // Without a global scaling each adapter takes the config found beside it: s_k = alpha_k / r.
    void ownConfigs() {
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        writeCheckpoint(dir / "base" / "base.ckpt", baseModel());
        MergeRequest request;
        request.source.path = dir / "base" / "base.ckpt";
        request.destination.dir = dir / "out";
        const std::vector<int> alphas{4, 10};
        const Weights weights{1, -0.5};
        for (size_t k = 0; k < alphas.size(); ++k) {
            const auto folder = dir / ("a" + std::to_string(k));
            writeCheckpoint(folder / "adapter.ckpt", adapter({0}, uint32_t(60 + 10 * k)));
            const std::string config = R"({"r":2,"lora_alpha":)" + std::to_string(alphas[k]) + "}";
            writeFileBytes(folder / "adapter_config.json",
                           std::span(reinterpret_cast<const std::byte*>(config.data()), config.size()));
            request.source.adapters.push_back({folder / "adapter.ckpt", weights[k], {}});
        }
        const auto resolution = resolve(request);
        QVERIFY2(resolution.ok(), resolution.refusals.empty()
                                      ? "no job"
                                      : resolution.refusals.front().error.describe().c_str());
        const auto& job = *resolution.job;
        QCOMPARE(job.plan.pairs.size(), size_t(2));
        QCOMPARE(job.pairScaling[0], 2.0);   // adapter 1: 4 / 2, weight 1
        QCOMPARE(job.pairScaling[1], -2.5);  // adapter 2: 10 / 2, weight -0.5
        QCOMPARE(QString::fromStdString(job.adapters[1].scalingProvenance),
                 QStringLiteral("from adapter_config.json: r 2, lora_alpha 10"));
        auto report = run(job);
        QVERIFY2(report, report ? "" : report.error().describe().c_str());
        QCOMPARE(report->pairsMerged, size_t(2));
    }

    // One adapter in `adapters` with weight 1 is the single-adapter merge: the same bytes as `adapter`.
    void oneAdapterSameBytes() {
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        writeCheckpoint(dir / "base" / "base.ckpt", baseModel());
        writeCheckpoint(dir / "a" / "adapter.ckpt", adapter({0, 1}, 7));
        std::vector<std::vector<std::byte>> outputs;
        for (int form = 0; form < 2; ++form) {
            MergeRequest request;
            request.source.path = dir / "base" / "base.ckpt";
            request.destination.dir = dir / ("out" + std::to_string(form));
            request.scaling.spec.scaling = 2.0;
            if (form == 0)
                request.source.adapter = dir / "a" / "adapter.ckpt";
            else
                request.source.adapters.push_back({dir / "a" / "adapter.ckpt", 1, {}});
            const auto resolution = resolve(request);
            QVERIFY(resolution.ok());
            QVERIFY(resolution.job->options.adapters.empty());  // the single-adapter path, unchanged
            QVERIFY(resolution.job->adapters.empty());
            auto report = run(*resolution.job);
            QVERIFY(report);
            outputs.push_back(readFileBytes(report->outputFile));
        }
        QCOMPARE(outputs[0], outputs[1]);
    }

    // Problems in a multi-adapter merge name the adapter (and its file); nothing is written.
    void refusals_data() {
        QTest::addColumn<int>("kind");
        QTest::addColumn<QString>("code");
        QTest::addColumn<QString>("message");
        const QString legend =
            QStringLiteral("; adapter 1 is {dir}/a0/adapter.ckpt, adapter 2 is {dir}/a1/adapter.ckpt");
        QTest::newRow("two pairs for one base inside adapter 2")
            << 0 << "pair-problems"
            << QString::fromUtf8(
                   "{dir}/base/base.ckpt: 2 LoRA problem(s), nothing was written: l0.wq.weight: in adapter "
                   "2: two "
                   "adapters on one base weight (2 LoRA pairs target l0.wq.weight); l0.wq.weight: in adapter "
                   "2: two "
                   "adapters on one base weight (2 LoRA pairs target l0.wq.weight) (use --skip-invalid to "
                   "merge only "
                   "the valid pairs)") +
                   legend;
        QTest::newRow("adapter 2's base is missing")
            << 1 << "pair-problems"
            << QString::fromUtf8(
                   "{dir}/base/base.ckpt: 1 LoRA problem(s), nothing was written: "
                   "adapter2:l9.wq.mindpet_delta_lora_a: in adapter 2: base "
                   "weight l9.wq.weight not found (use --skip-invalid to merge only the valid pairs)") +
                   legend;
        QTest::newRow("DoRA on a base another adapter adapts")
            << 3 << "pair-problems"
            << QString::fromUtf8(
                   "{dir}/base/base.ckpt: 1 LoRA problem(s), nothing was written: l0.wq.weight: in "
                   "adapter 2: DoRA rescales the merged rows by their norm, so it cannot be summed "
                   "with another adapter's pair on l0.wq.weight; merge this adapter on its own (use "
                   "--skip-invalid to merge only the valid pairs)") +
                   legend;
        QTest::newRow("weight 0") << 2 << "bad-adapter-weight"
                                  << "{dir}/a1/adapter.ckpt: parameter 'adapter': the adapter weight 0 is "
                                     "not usable: give a finite "
                                     "number other than 0 (a negative weight subtracts the adapter)";
    }
    void refusals() {
        QFETCH(int, kind);
        QFETCH(QString, code);
        QFETCH(QString, message);
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        writeCheckpoint(dir / "base" / "base.ckpt", baseModel());
        auto second = adapter({0}, 30);
        if (kind == 0) {  // the same base once more, under PEFT names
            second.push_back({"l0.wq.lora_A.weight",
                              "Float32",
                              {kRank, kIn},
                              floatBytes(DType::Float32, randomValues(size_t(kRank * kIn), 41))});
            second.push_back({"l0.wq.lora_B.weight",
                              "Float32",
                              {kOut, kRank},
                              floatBytes(DType::Float32, randomValues(size_t(kOut * kRank), 42))});
        }
        if (kind == 3) {  // PEFT DoRA: A, B and the magnitude vector m [out]
            second.clear();
            second.push_back({"l0.wq.lora_A.weight",
                              "Float32",
                              {kRank, kIn},
                              floatBytes(DType::Float32, randomValues(size_t(kRank * kIn), 51))});
            second.push_back({"l0.wq.lora_B.weight",
                              "Float32",
                              {kOut, kRank},
                              floatBytes(DType::Float32, randomValues(size_t(kOut * kRank), 52))});
            second.push_back({"l0.wq.lora_magnitude_vector",
                              "Float32",
                              {kOut},
                              floatBytes(DType::Float32, randomValues(size_t(kOut), 53))});
        }
        if (kind == 1)
            for (auto& t : second) t.name.replace(0, 2, "l9");
        writeCheckpoint(dir / "a0" / "adapter.ckpt", adapter({0}, 20));
        writeCheckpoint(dir / "a1" / "adapter.ckpt", second);
        MergeRequest request;
        request.source.path = dir / "base" / "base.ckpt";
        request.destination.dir = dir / "out";
        request.scaling.spec.scaling = 2.0;
        request.source.adapters = {{dir / "a0" / "adapter.ckpt", 1, {}},
                                   {dir / "a1" / "adapter.ckpt", kind == 2 ? 0.0 : 1.0, {}}};
        const auto resolution = resolve(request);
        QVERIFY(!resolution.refusals.empty());
        QCOMPARE(QString::fromLatin1(refusalCodeName(resolution.refusals.front().code)), code);
        const QString text = QString::fromStdString(resolution.refusals.front().error.describe());
        QCOMPARE(text, sub(message, dir));
        QVERIFY(!fs::exists(dir / "out"));
    }

    // loramerge merge/plan with repeated --adapter: exit codes, the per-adapter report, exact errors.
    void cli_data() {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<int>("exitCode");
        QTest::addColumn<QStringList>("lines");  // stdout lines that must appear (exit 0), or the stderr
        QTest::newRow("merge two adapters")
            << strings({"merge", "{dir}/base/base.ckpt", "--adapter", "{dir}/a0/adapter.ckpt", "--adapter",
                        "{dir}/a1/adapter.ckpt:-0.5", "--lora_scaling", "2", "--dst_ckpt_dir", "{dir}/out"})
            << 0
            << strings({"adapter 1: {dir}/a0/adapter.ckpt  weight 1  2 pair(s) merged  scaling from "
                        "--lora_scaling 2",
                        "adapter 2: {dir}/a1/adapter.ckpt  weight -0.5  1 pair(s) merged  scaling from "
                        "--lora_scaling 2"});
        QTest::newRow("plan lists each adapter")
            << strings({"plan", "{dir}/base/base.ckpt", "--adapter", "{dir}/a0/adapter.ckpt", "--adapter",
                        "{dir}/a1/adapter.ckpt:-0.5", "--lora_scaling", "2"})
            << 0
            << strings(
                   {"adapter 1: {dir}/a0/adapter.ckpt  weight 1  2 pair(s)  scaling from --lora_scaling 2",
                    "  ok       l0.wq.weight  base [8,4]  A [2,4]  B [8,2]  r=2  s=2",
                    "adapter 2: {dir}/a1/adapter.ckpt  weight -0.5  1 pair(s)  scaling from --lora_scaling 2",
                    "  ok       l0.wq.weight  base [8,4]  A [2,4]  B [8,2]  r=2  s=-1"});
        QTest::newRow("weight 0 is a usage error")
            << strings({"merge", "{dir}/base/base.ckpt", "--adapter", "{dir}/a0/adapter.ckpt:0",
                        "--lora_scaling", "2", "--dst_ckpt_dir", "{dir}/out"})
            << 2
            << strings(
                   {"loramerge: --adapter {dir}/a0/adapter.ckpt:0: the adapter weight 0 is not usable: give "
                    "a finite number other than 0 (a negative weight subtracts the adapter)"});
    }
    void cli() {
        QFETCH(QStringList, args);
        QFETCH(int, exitCode);
        QFETCH(QStringList, lines);
        QTemporaryDir tmp;
        const fs::path dir = tmp.path().toStdString();
        writeCheckpoint(dir / "base" / "base.ckpt", baseModel());
        writeCheckpoint(dir / "a0" / "adapter.ckpt", adapter({0, 1}, 20));
        writeCheckpoint(dir / "a1" / "adapter.ckpt", adapter({0}, 40));
        for (auto& a : args) a = sub(a, dir);
        QProcess process;
        process.start(cliPath(), args);
        QVERIFY(process.waitForFinished(60000));
        const QString out = QString::fromUtf8(process.readAllStandardOutput());
        const QString err = QString::fromUtf8(process.readAllStandardError());
        QVERIFY2(process.exitCode() == exitCode, qPrintable(out + err));
        const QStringList got = (exitCode == 0 ? out : err).trimmed().split(QLatin1Char('\n'));
        for (const auto& line : lines) QVERIFY2(got.contains(sub(line, dir)), qPrintable(out + err));
        QCOMPARE(fs::exists(dir / "out"), exitCode == 0 && args.front() == QStringLiteral("merge"));
    }
};

QTEST_GUILESS_MAIN(TestMultiAdapter)
#include "tst_multiadapter.moc"
