// Parallel strategy files (spec §2, §3): protobuf and JSON parsing, refusal of foreign files,
// "<stage>-" names, and merge_pipeline_strategys for a folder of per-rank files.
#include "lms/formats/Strategy.h"

#include "TestSupport.h"

#include <QProcess>
#include <QTemporaryDir>
#include <QTest>

#include <map>
#include <random>
#include <set>

using namespace lms;
namespace fs = std::filesystem;

namespace {

using Pb = lms::test::ProtoBuilder;

// Repeated integer field 1, unpacked (as MindSpore writes) or packed.
Pb repeated(const std::vector<int64_t>& values, bool packed) {
    Pb out;
    if (!packed) {
        for (int64_t v : values) out.integer(1, v);
        return out;
    }
    Pb data;
    for (int64_t v : values) data.varint(uint64_t(v));
    return out.message(1, data);
}

struct LayoutSpec {
    std::string name;
    std::vector<int64_t> dev;
    std::vector<int64_t> map;
    int step = 0, size = 0;
    bool packed = false;
    bool withOptFields = true;  // pre-2021 files lack fields 5-7
};

std::string layoutItem(const LayoutSpec& spec) {
    Pb layouts;
    layouts.message(1, repeated(spec.dev, spec.packed)).message(2, repeated(spec.map, spec.packed));
    layouts.message(3, std::string()).message(4, std::string());
    if (spec.withOptFields) layouts.integer(5, 0).integer(6, spec.step).integer(7, spec.size);
    Pb item;
    item.message(1, spec.name).message(2, layouts);
    return item.bytes;
}

std::string strategyItem(const std::string& node, int stage) {
    Pb strategys;
    strategys.integer(1, stage).message(2, repeated({1, 2}, false));
    Pb item;
    item.message(1, node).message(2, strategys);
    return item.bytes;
}

// With `withItem`, one operator item of `stage` and, as merge_pipeline_strategys leaves them,
// one more for every other stage that a "<stage>-" name prefix mentions (spec §3).
std::string strategyFile(const std::vector<LayoutSpec>& layouts, int stage = 0, bool withItem = true) {
    Pb file;
    file.integer(1, 1);
    std::set<int> stages{stage};
    for (const auto& layout : layouts)
        if (auto split = splitStagePrefix(layout.name)) stages.insert(int(split->first));
    if (withItem)
        for (int s : stages) file.message(2, strategyItem("MatMul_op_" + std::to_string(s), s));
    for (const auto& layout : layouts) file.message(3, layoutItem(layout));
    return file.bytes;
}

std::span<const std::byte> asBytes(const std::string& text) {
    return std::as_bytes(std::span(text.data(), text.size()));
}

void writeText(const fs::path& path, const std::string& text) {
    test::writeFileBytes(path, asBytes(text));
}

std::string readText(const fs::path& path) {
    const auto bytes = test::readFileBytes(path);
    return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

QString text(const Error& error) {
    return QString::fromStdString(error.describe());
}

using test::generateFixtures;

const ParamLayout* only(const Strategy& strategy, std::string_view name) {
    auto found = strategy.find(name);
    return found.size() == 1 ? found.front() : nullptr;
}

std::string stagesText(const ParamLayout& layout) {
    std::string out;
    for (uint32_t s : layout.stages) out += (out.empty() ? "" : ",") + std::to_string(s);
    return out;
}

}  // namespace

class TestStrategy : public QObject {
    Q_OBJECT

private slots:
    void realFiles_data();
    void realFiles();
    void realPerRankMapHistogram();
    void wireExample_data();
    void wireExample();
    void foreignBytes_data();
    void foreignBytes();
    void foreignFileNamesTheFile();
    void stagePrefix_data();
    void stagePrefix();
    void mergedNames();
    void mergedNameErrors_data();
    void mergedNameErrors();
    void jsonStrategy();
    void mergeFixtureFolder();
    void strategyArgumentFolder();
    void strategyArgumentFallback();
    void strategyArgumentOnlyMerged();
    void folderErrors_data();
    void folderErrors();
    void jsonFolderMerge();
};

void TestStrategy::realFiles_data() {
    QTest::addColumn<QString>("file");
    QTest::addColumn<int>("layoutItems");
    QTest::addColumn<int>("operatorItems");
    QTest::addColumn<int>("parameters");
    QTest::addColumn<int>("stages");
    QTest::addColumn<bool>("prefixed");
    QTest::addColumn<QString>("sample");
    QTest::addColumn<QString>("sampleMap");
    QTest::addColumn<QString>("sampleStages");
    // Counts from /work/shared/real/README.md (and msfixtures.py dump).
    QTest::newRow("llama2-13b per rank")
        << u"strategy/llama2-13b-mp2/ckpt_strategy_rank_0.ckpt"_qs << 363 << 363 << 363 << 1 << false
        << u"model.layers.28.feed_forward.w2.weight"_qs << u"[-1, 0]"_qs << u"0"_qs;
    QTest::newRow("llama2-13b wq") << u"strategy/llama2-13b-mp2/ckpt_strategy_rank_0.ckpt"_qs << 363 << 363
                                   << 363 << 1 << false << u"model.layers.6.attention.wq.weight"_qs
                                   << u"[0, -1]"_qs << u"0"_qs;
    // 148 items of which the embedding and its 3 optimizer copies appear in both stages.
    QTest::newRow("gpt2 merged pp2") << u"strategy/merged-pp2-mp2/merged_ckpt_strategy.ckpt"_qs << 148 << 34
                                     << 144 << 2 << true << u"backbone.blocks.0.attention.dense2.weight"_qs
                                     << u"[0, -1]"_qs << u"0"_qs;
    QTest::newRow("gpt2 shared embedding")
        << u"strategy/merged-pp2-mp2/merged_ckpt_strategy.ckpt"_qs << 148 << 34 << 144 << 2 << true
        << u"adam_m.backbone.embedding.word_embedding.embedding_table"_qs << u"[-1, -1]"_qs << u"0,1"_qs;
    QTest::newRow("gpt2 bias") << u"strategy/merged-pp2-mp2/merged_ckpt_strategy.ckpt"_qs << 148 << 34 << 144
                               << 2 << true << u"adam_v.backbone.blocks.0.attention.dense1.bias"_qs
                               << u"[0]"_qs << u"0"_qs;
}

void TestStrategy::realFiles() {
    if (test::sharedDir().empty()) QSKIP("../shared is not beside the checkout");
    QFETCH(QString, file);
    QFETCH(int, layoutItems);
    QFETCH(int, operatorItems);
    QFETCH(int, parameters);
    QFETCH(int, stages);
    QFETCH(bool, prefixed);
    QFETCH(QString, sample);
    QFETCH(QString, sampleMap);
    QFETCH(QString, sampleStages);
    auto strategy = readStrategyFile(test::sharedDir() / "real" / file.toStdString());
    QVERIFY2(strategy.has_value(), strategy ? "" : strategy.error().describe().c_str());
    QCOMPARE(int(strategy->layoutItemCount), layoutItems);
    QCOMPARE(int(strategy->operatorItemCount), operatorItems);
    QCOMPARE(int(strategy->parameterCount()), parameters);
    QCOMPARE(int(strategy->stageCount()), stages);
    QCOMPARE(strategy->stagePrefixed, prefixed);
    QCOMPARE(strategy->currentStage, 1u);
    QCOMPARE(strategy->firstOperatorStage, std::optional<uint32_t>(0));
    QCOMPARE(strategy->devicesPerStage(), int64_t(2));
    const ParamLayout* layout = only(*strategy, sample.toStdString());
    QVERIFY(layout);
    QCOMPARE(layout->devMatrix, std::vector<int64_t>{2});
    QCOMPARE(QString::fromStdString(layout->tensorMapText()), sampleMap);
    QCOMPARE(QString::fromStdString(stagesText(*layout)), sampleStages);
    QCOMPARE(layout->optShardSize, 0);
    QVERIFY(!layout->hasManualSplit());
}

void TestStrategy::realPerRankMapHistogram() {
    if (test::sharedDir().empty()) QSKIP("../shared is not beside the checkout");
    auto strategy =
        readStrategyFile(test::sharedDir() / "real/strategy/llama2-13b-mp2/ckpt_strategy_rank_0.ckpt");
    QVERIFY(strategy.has_value());
    std::map<std::string, int> histogram;
    for (const auto& layout : strategy->layouts) ++histogram[layout.tensorMapText()];
    const std::map<std::string, int> expected{
        {"[0, -1]", 200}, {"[-1]", 81}, {"[-1, 0]", 80}, {"[-1, -1]", 2}};
    QCOMPARE(histogram, expected);
}

void TestStrategy::wireExample_data() {
    QTest::addColumn<QByteArray>("bytes");
    // Spec §2.1 worked bytes of layout item `w` (dev [2,4], map [1,-1]) after current_stage 1.
    const QByteArray spec = QByteArray::fromHex(
        "0801"
        "1a24"
        "0a0177"
        "121f"
        "0a0408020804"
        "120d0801"
        "08ffffffffffffffffff01"
        "1a00"
        "2200"
        "2800"
        "3000"
        "3800");
    QTest::newRow("spec 2.1 bytes") << spec;
    QTest::newRow("encoder, unpacked")
        << QByteArray::fromStdString(strategyFile({{"w", {2, 4}, {1, -1}}}, 0, false));
    QTest::newRow("packed") << QByteArray::fromStdString(
        strategyFile({{.name = "w", .dev = {2, 4}, .map = {1, -1}, .packed = true}}, 0, false));
    QTest::newRow("pre-2021 without fields 5-7") << QByteArray::fromStdString(
        strategyFile({{.name = "w", .dev = {2, 4}, .map = {1, -1}, .withOptFields = false}}));
}

void TestStrategy::wireExample() {
    QFETCH(QByteArray, bytes);
    auto strategy = parseStrategy(std::as_bytes(std::span(bytes.constData(), size_t(bytes.size()))), "w.ckpt",
                                  StrategyFormat::Protobuf);
    QVERIFY2(strategy.has_value(), strategy ? "" : strategy.error().describe().c_str());
    QCOMPARE(strategy->layouts.size(), size_t(1));
    const ParamLayout& w = strategy->layouts.front();
    QCOMPARE(w.name, std::string("w"));
    QCOMPARE(w.devMatrix, (std::vector<int64_t>{2, 4}));
    QCOMPARE(w.tensorMap, (std::vector<std::vector<int32_t>>{{1}, {}}));
    QVERIFY(!w.nestedTensorMap);
    QCOMPARE(w.field, 0);
    QCOMPARE(w.optShardStep, 0);
    QCOMPARE(w.optShardSize, 0);
    QCOMPARE(w.stages, std::vector<uint32_t>{0});
    QCOMPARE(strategy->devicesPerStage(), int64_t(8));
}

void TestStrategy::foreignBytes_data() {
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<QString>("expected");
    if (!test::sharedDir().empty()) {
        const auto ckpt = test::readFileBytes(test::sharedDir() / "real/ckpt/lenet_fc_momentum.ckpt");
        QTest::newRow("real .ckpt checkpoint")
            << QByteArray(reinterpret_cast<const char*>(ckpt.data()), qsizetype(ckpt.size()))
            << u"this looks like a MindSpore .ckpt checkpoint"_qs;
        const auto real =
            test::readFileBytes(test::sharedDir() / "real/strategy/llama2-13b-mp2/ckpt_strategy_rank_0.ckpt");
        QTest::newRow("truncated real strategy")
            << QByteArray(reinterpret_cast<const char*>(real.data()), qsizetype(real.size() / 2))
            << u"truncated"_qs;
    }
    std::mt19937 rng(20240601);
    QByteArray random(4096, '\0');
    for (char& c : random) c = char(rng());
    random[0] = char(0x0A);
    QTest::newRow("random bytes, first 0x0A") << random << u"not a parallel strategy file"_qs;
    random[0] = char(0x08);
    QTest::newRow("random bytes, first 0x08") << random << QString();
    QTest::newRow("empty") << QByteArray() << u"empty strategy file"_qs;
    QTest::newRow("only current_stage") << QByteArray::fromHex("0801") << u"no parallel layout items"_qs;
    QTest::newRow("strategy items only")
        << QByteArray::fromStdString(strategyFile({}, 0, true)) << u"no parallel layout items"_qs;
    // A layout item whose param_name (field 1) is a varint: the declared type is a string.
    QTest::newRow("wrong inner wire type")
        << QByteArray::fromHex("08011a020801") << u"has the wrong wire type"_qs;
    QTest::newRow("top-level field 4")
        << QByteArray::fromHex("08012200") << u"unexpected top-level field 4"_qs;
    QTest::newRow("overlong varint") << QByteArray::fromHex("08ffffffffffffffffffff01") << u"truncated"_qs;
    QTest::newRow("map axis outside dev_matrix")
        << QByteArray::fromStdString(strategyFile({{"w", {2}, {1, -1}}}))
        << u"refers to a device axis outside"_qs;
    QTest::newRow("zero devices") << QByteArray::fromStdString(strategyFile({{"w", {2, 0}, {1, -1}}}))
                                  << u"implausible dev_matrix"_qs;
    QTest::newRow("name not UTF-8") << QByteArray::fromStdString(strategyFile({{"w\xff", {2}, {0}}}))
                                    << u"not valid UTF-8"_qs;
    QTest::newRow("axis used twice") << QByteArray::fromStdString(strategyFile({{"w", {2, 2}, {1, 1}}}))
                                     << u"uses device axis 1 twice"_qs;
}

void TestStrategy::foreignBytes() {
    QFETCH(QByteArray, bytes);
    QFETCH(QString, expected);
    auto strategy = parseStrategy(std::as_bytes(std::span(bytes.constData(), size_t(bytes.size()))),
                                  "given.ckpt", StrategyFormat::Protobuf);
    QVERIFY(!strategy.has_value());
    QCOMPARE(strategy.error().code, ErrorCode::Malformed);
    QCOMPARE(strategy.error().file, std::string("given.ckpt"));
    QVERIFY2(text(strategy.error()).contains(expected), strategy.error().describe().c_str());
}

void TestStrategy::foreignFileNamesTheFile() {
    QTemporaryDir dir;
    const fs::path path = fs::path(dir.path().toStdString()) / "ckpt_strategy_rank_0.ckpt";
    writeText(path, "\x0a\x05hello");
    auto strategy = readStrategyFile(path);
    QVERIFY(!strategy.has_value());
    QCOMPARE(strategy.error().file, path.string());
    QVERIFY(text(strategy.error()).contains(u"ckpt_strategy_rank_0.ckpt"_qs));
    auto missing = readStrategyFile(path.parent_path() / "absent.ckpt");
    QVERIFY(!missing.has_value());
    QVERIFY(text(missing.error()).contains(u"absent.ckpt"_qs));
}

void TestStrategy::stagePrefix_data() {
    QTest::addColumn<QString>("stored");
    QTest::addColumn<int>("stage");  // -1: no prefix
    QTest::addColumn<QString>("name");
    QTest::newRow("stage 0") << u"0-model.w"_qs << 0 << u"model.w"_qs;
    QTest::newRow("two digits") << u"12-model.w"_qs << 12 << u"model.w"_qs;
    QTest::newRow("split at first dash only") << u"1-a-b"_qs << 1 << u"a-b"_qs;
    QTest::newRow("letters before dash") << u"model.layers.0-x"_qs << -1 << QString();
    QTest::newRow("digits then letters") << u"0x-y"_qs << -1 << QString();
    QTest::newRow("leading dash") << u"-x"_qs << -1 << QString();
    QTest::newRow("nothing after dash") << u"3-"_qs << -1 << QString();
    QTest::newRow("no dash") << u"0.w1.weight"_qs << -1 << QString();
}

void TestStrategy::stagePrefix() {
    QFETCH(QString, stored);
    QFETCH(int, stage);
    QFETCH(QString, name);
    const std::string storedText = stored.toStdString();
    auto split = splitStagePrefix(storedText);
    QCOMPARE(split.has_value(), stage >= 0);
    if (split) {
        QCOMPARE(int(split->first), stage);
        QCOMPARE(QString::fromStdString(std::string(split->second)), name);
    }
}

void TestStrategy::mergedNames() {
    const std::string bytes = strategyFile({{"0-a-b", {2}, {0, -1}},
                                            {"1-a-b", {2}, {0, -1}},
                                            {"1-emb", {2}, {-1, -1}},
                                            {"0-emb", {2}, {0, -1}}});
    auto strategy = parseStrategy(asBytes(bytes), "merged.ckpt", StrategyFormat::Protobuf);
    QVERIFY2(strategy.has_value(), strategy ? "" : strategy.error().describe().c_str());
    QVERIFY(strategy->stagePrefixed);
    QCOMPARE(strategy->stageCount(), 2u);
    QCOMPARE(strategy->parameterCount(), size_t(2));
    const ParamLayout* ab = only(*strategy, "a-b");
    QVERIFY(ab);
    QCOMPARE(ab->stages, (std::vector<uint32_t>{0, 1}));
    // Different layouts per stage stay separate entries, lowest stage first.
    auto emb = strategy->find("emb");
    QCOMPARE(emb.size(), size_t(2));
    QCOMPARE(emb[0]->stages, std::vector<uint32_t>{0});
    QCOMPARE(emb[0]->tensorMapText(), std::string("[0, -1]"));
    QCOMPARE(emb[1]->stages, std::vector<uint32_t>{1});
}

void TestStrategy::mergedNameErrors_data() {
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<QString>("expected");
    QTest::newRow("stage gap") << QByteArray::fromStdString(
                                      strategyFile({{"0-a", {2}, {0}}, {"2-b", {2}, {0}}}))
                               << u"stages {0, 2}"_qs;
    QTest::newRow("only stage 1") << QByteArray::fromStdString(strategyFile({{"1-a", {2}, {0}}}))
                                  << u"stages {1}"_qs;
    QTest::newRow("same stage, two layouts")
        << QByteArray::fromStdString(strategyFile({{"0-a", {2}, {0}}, {"0-a", {2}, {-1}}}))
        << u"listed twice for stage 0"_qs;
}

void TestStrategy::mergedNameErrors() {
    QFETCH(QByteArray, bytes);
    QFETCH(QString, expected);
    auto strategy = parseStrategy(std::as_bytes(std::span(bytes.constData(), size_t(bytes.size()))), "m.ckpt",
                                  StrategyFormat::Protobuf);
    QVERIFY(!strategy.has_value());
    QVERIFY2(text(strategy.error()).contains(expected), strategy.error().describe().c_str());
}

void TestStrategy::jsonStrategy() {
    QTemporaryDir dir;
    const fs::path path = fs::path(dir.path().toStdString()) / "strategy.json";
    writeText(path, R"({"current_stage": 1,
        "parallel_strategy_item": {"MatMul-op0": {"stage": 1, "parallel_strategy": [[1, 2], [2, 1]]}},
        "parallel_layout_item": {
          "model.w": {"dev_matrix": [2, 4], "tensor_map": [1, -1], "tensor_shape": [8, 6], "field": 0,
                      "opt_weight_shard_step": 4, "opt_weight_shard_size": -1},
          "model.nested": {"dev_matrix": [2, 2], "tensor_map": [[1, 0], -1], "tensor_shape": [8, 3], "field": 0,
                           "opt_weight_shard_step": 0, "opt_weight_shard_size": 0},
          "model.gather": {"dev_matrix": [2], "tensor_map": [0, -1], "tensor_shape": [8, 2], "field": 0,
                           "opt_weight_shard_step": 0, "opt_weight_shard_size": 0,
                           "param_split_shape": [3, 5], "indices_offset": [0, 3]}},
        "parallel_layout_value_item": {}})");
    auto strategy = readStrategyFile(path);
    QVERIFY2(strategy.has_value(), strategy ? "" : strategy.error().describe().c_str());
    QCOMPARE(strategy->format, StrategyFormat::Json);
    QCOMPARE(strategy->layoutItemCount, size_t(3));
    QCOMPARE(strategy->operatorItemCount, size_t(1));
    QCOMPARE(strategy->firstOperatorStage, std::optional<uint32_t>(1));
    const ParamLayout* w = only(*strategy, "model.w");
    QVERIFY(w);
    QCOMPARE(w->globalShape, (std::vector<int64_t>{8, 6}));
    QCOMPARE(w->optShardSize, -1);
    QCOMPARE(w->optShardStep, 4);
    QCOMPARE(w->tensorMapText(), std::string("[1, -1]"));
    const ParamLayout* nested = only(*strategy, "model.nested");
    QVERIFY(nested);
    QVERIFY(nested->nestedTensorMap);
    QCOMPARE(nested->tensorMap, (std::vector<std::vector<int32_t>>{{1, 0}, {}}));
    QCOMPARE(nested->tensorMapText(), std::string("[[1, 0], -1]"));
    const ParamLayout* gather = only(*strategy, "model.gather");
    QVERIFY(gather);
    QVERIFY(gather->hasManualSplit());
    QCOMPARE(gather->paramSplitShape, (std::vector<int64_t>{3, 5}));

    // Content decides, too: a JSON file without the .json extension.
    const fs::path renamed = path.parent_path() / "strategy.ckpt";
    fs::copy_file(path, renamed);
    QVERIFY(readStrategyFile(renamed).has_value());
    // A bad JSON strategy names the file.
    writeText(path, R"({"parallel_layout_item": {"w": {"dev_matrix": [2], "tensor_map": "x"}}})");
    auto bad = readStrategyFile(path);
    QVERIFY(!bad.has_value());
    QCOMPARE(bad.error().file, path.string());
    QCOMPARE(bad.error().parameter, std::string("w"));
    writeText(path, "{\"parallel_layout_item\": {}}");
    QVERIFY(!readStrategyFile(path).has_value());
    writeText(path, "{\"parallel_layout_item\": ");
    QVERIFY(!readStrategyFile(path).has_value());
}

// dist_tp2_pp2: merging the per-rank folder gives exactly expected/merged_ckpt_strategy.ckpt.
void TestStrategy::mergeFixtureFolder() {
    QTemporaryDir dir;
    const fs::path root(dir.path().toStdString());
    if (auto why = generateFixtures(root, {u"dist_tp2_pp2"_qs}); !why.isEmpty()) QSKIP(qPrintable(why));
    const fs::path scenario = root / "dist_tp2_pp2";
    auto merged = mergeStrategyFolder(scenario / "input/strategy");
    QVERIFY2(merged.has_value(), merged ? "" : merged.error().describe().c_str());
    QCOMPARE(merged->stageFiles,
             (std::vector<std::string>{"ckpt_strategy_rank_0.ckpt", "ckpt_strategy_rank_2.ckpt"}));
    QCOMPARE(merged->skippedFiles,
             (std::vector<std::string>{"ckpt_strategy_rank_1.ckpt", "ckpt_strategy_rank_3.ckpt"}));
    const std::string expected = readText(scenario / "expected/merged_ckpt_strategy.ckpt");
    QCOMPARE(merged->bytes.size(), expected.size());
    QVERIFY(merged->bytes == expected);
    QCOMPARE(merged->strategy.layoutItemCount, size_t(69));
    QCOMPARE(merged->strategy.operatorItemCount, size_t(21));
    QCOMPARE(merged->strategy.stageCount(), 2u);
    QCOMPARE(merged->strategy.currentStage, 1u);
    const ParamLayout* wq1 = only(merged->strategy, "model.layers.1.attention.wq.weight");
    QVERIFY(wq1);
    QCOMPARE(wq1->stages, std::vector<uint32_t>{1});
    QCOMPARE(wq1->tensorMapText(), std::string("[0, -1]"));
    // The merged file reads back as the same strategy.
    auto reread = parseStrategy(asBytes(expected), "expected", StrategyFormat::Protobuf);
    QVERIFY(reread.has_value());
    QCOMPARE(reread->parameterCount(), merged->strategy.parameterCount());
}

// A folder argument writes <folder>/merged_ckpt_strategy.ckpt, replacing (never reading) an old one.
void TestStrategy::strategyArgumentFolder() {
    QTemporaryDir dir;
    const fs::path root(dir.path().toStdString());
    if (auto why = generateFixtures(root, {u"dist_tp2_pp2"_qs}); !why.isEmpty()) QSKIP(qPrintable(why));
    const fs::path folder = root / "dist_tp2_pp2/input/strategy";
    writeText(folder / kMergedStrategyFileName, "stale garbage from an older merge");
    std::vector<std::string> notes;
    auto strategy = loadStrategyArgument(folder, {}, &notes);
    QVERIFY2(strategy.has_value(), strategy ? "" : strategy.error().describe().c_str());
    QCOMPARE(strategy->file, (folder / kMergedStrategyFileName).string());
    QVERIFY(readText(folder / kMergedStrategyFileName) ==
            readText(root / "dist_tp2_pp2/expected/merged_ckpt_strategy.ckpt"));
    QVERIFY(!fs::exists(folder / "merged_ckpt_strategy.ckpt.tmp"));
    QCOMPARE(notes.size(), size_t(1));
    QVERIFY(notes[0].find("ckpt_strategy_rank_0.ckpt, ckpt_strategy_rank_2.ckpt") != std::string::npos);
    // A second run merges the same files again (the merged file is not a stage).
    auto again = loadStrategyArgument(folder, {}, nullptr);
    QVERIFY(again.has_value());
    QCOMPARE(again->layoutItemCount, size_t(69));
    // A single per-rank file is used as is.
    auto single = loadStrategyArgument(folder / "ckpt_strategy_rank_2.ckpt", {}, nullptr);
    QVERIFY(single.has_value());
    QVERIFY(!single->stagePrefixed);
    QCOMPARE(single->firstOperatorStage, std::optional<uint32_t>(1));
}

// An unwritable folder: the merged file goes to the fallback folder, with a note.
void TestStrategy::strategyArgumentFallback() {
    QTemporaryDir dir;
    const fs::path root(dir.path().toStdString());
    const fs::path folder = root / "strategy";
    writeText(folder / "ckpt_strategy_rank_0.ckpt", strategyFile({{"a", {2}, {0, -1}}}, 0));
    writeText(folder / "ckpt_strategy_rank_1.ckpt", strategyFile({{"b", {2}, {-1, 0}}}, 1));
    // A folder squatting on the target name makes the write fail even for root (temp names are
    // unique, so squatting on "<name>.tmp" no longer blocks anything).
    fs::create_directories(folder / "merged_ckpt_strategy.ckpt");
    auto refused = loadStrategyArgument(folder, {}, nullptr);
    QVERIFY(!refused.has_value());
    QVERIFY2(text(refused.error()).contains(u"cannot write the merged strategy"_qs),
             refused.error().describe().c_str());

    std::vector<std::string> notes;
    const fs::path fallback = root / "cache" / "strategy";
    auto strategy = loadStrategyArgument(folder, fallback, &notes);
    QVERIFY2(strategy.has_value(), strategy ? "" : strategy.error().describe().c_str());
    QCOMPARE(strategy->file, (fallback / kMergedStrategyFileName).string());
    QVERIFY(fs::exists(fallback / kMergedStrategyFileName));
    QVERIFY(fs::is_directory(folder / kMergedStrategyFileName));  // the squatter, untouched
    QCOMPARE(notes.size(), size_t(2));
    QVERIFY(notes[0].find("is not writable") != std::string::npos);
    QVERIFY(notes[0].find(fallback.string()) != std::string::npos);
    QCOMPARE(only(*strategy, "b")->stages, std::vector<uint32_t>{1});

    // A folder whose mode forbids writing is respected even when running as root.
    const fs::path readOnly = root / "read-only";
    fs::create_directories(readOnly);
    fs::copy_file(folder / "ckpt_strategy_rank_0.ckpt", readOnly / "ckpt_strategy_rank_0.ckpt");
    fs::permissions(readOnly, fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read |
                                  fs::perms::group_exec | fs::perms::others_read | fs::perms::others_exec);
    QVERIFY(!isWritableFolder(readOnly));
    QVERIFY(isWritableFolder(folder));
    notes.clear();
    auto fromReadOnly = loadStrategyArgument(readOnly, fallback, &notes);
    fs::permissions(readOnly, fs::perms::owner_all);
    QVERIFY2(fromReadOnly.has_value(), fromReadOnly ? "" : fromReadOnly.error().describe().c_str());
    QCOMPARE(fromReadOnly->file, (fallback / kMergedStrategyFileName).string());
    QVERIFY(!fs::exists(readOnly / kMergedStrategyFileName));
    QVERIFY(notes[0].find("is not writable (the folder is read-only)") != std::string::npos);
}

void TestStrategy::strategyArgumentOnlyMerged() {
    QTemporaryDir dir;
    const fs::path folder(dir.path().toStdString());
    writeText(folder / kMergedStrategyFileName, strategyFile({{"0-a", {2}, {0, -1}}, {"1-b", {2}, {0, -1}}}));
    std::vector<std::string> notes;
    auto strategy = loadStrategyArgument(folder, {}, &notes);
    QVERIFY2(strategy.has_value(), strategy ? "" : strategy.error().describe().c_str());
    QCOMPARE(strategy->stageCount(), 2u);
    QCOMPARE(notes.size(), size_t(1));
    QVERIFY(notes[0].find("holds no per-rank strategy files") != std::string::npos);
}

void TestStrategy::folderErrors_data() {
    QTest::addColumn<QStringList>(
        "files");  // name=content-kind pairs: "name:stageN" / "name:json" / "name:noitems"
    QTest::addColumn<QString>("expected");
    QTest::newRow("stage 0 missing") << QStringList{u"ckpt_strategy_rank_2.ckpt:stage1"_qs,
                                                    u"ckpt_strategy_rank_3.ckpt:stage1"_qs}
                                     << u"stages {1}"_qs;
    QTest::newRow("mixed kinds") << QStringList{u"ckpt_strategy_rank_0.ckpt:stage0"_qs,
                                                u"ckpt_strategy_rank_1.json:json"_qs}
                                 << u"mixes .ckpt and .json"_qs;
    QTest::newRow("no strategy items")
        << QStringList{u"ckpt_strategy_rank_0.ckpt:noitems"_qs}
        << u"ckpt_strategy_rank_0.ckpt: the strategy file has no strategy items"_qs;
    QTest::newRow("empty folder") << QStringList{} << u"no per-rank strategy files"_qs;
    QTest::newRow("already merged inside")
        << QStringList{u"old_merged.ckpt:merged"_qs} << u"already a merged strategy"_qs;
    QTest::newRow("checkpoint in folder") << QStringList{u"ckpt_strategy_rank_0.ckpt:checkpoint"_qs}
                                          << u"looks like a MindSpore .ckpt checkpoint"_qs;
}

void TestStrategy::folderErrors() {
    QFETCH(QStringList, files);
    QFETCH(QString, expected);
    QTemporaryDir dir;
    const fs::path folder(dir.path().toStdString());
    for (const QString& entry : files) {
        const auto parts = entry.split(u':');
        const fs::path path = folder / parts[0].toStdString();
        const QString kind = parts[1];
        if (kind == u"stage0"_qs) writeText(path, strategyFile({{"a", {2}, {0}}}, 0));
        if (kind == u"stage1"_qs) writeText(path, strategyFile({{"a", {2}, {0}}}, 1));
        if (kind == u"noitems"_qs) writeText(path, strategyFile({{"a", {2}, {0}}}, 0, false));
        if (kind == u"merged"_qs) writeText(path, strategyFile({{"0-a", {2}, {0}}}, 0));
        if (kind == u"checkpoint"_qs) writeText(path, std::string("\x0a\x05\x0a\x01w\x12\x00", 7));
        if (kind == u"json"_qs)
            writeText(path, R"({"parallel_layout_item": {"a": {"dev_matrix": [2], "tensor_map": [0]}}})");
    }
    auto merged = mergeStrategyFolder(folder);
    QVERIFY(!merged.has_value());
    QVERIFY2(text(merged.error()).contains(expected), merged.error().describe().c_str());
    QVERIFY(!fs::exists(folder / kMergedStrategyFileName));
}

void TestStrategy::jsonFolderMerge() {
    QTemporaryDir dir;
    const fs::path folder(dir.path().toStdString());
    const auto rankFile = [](int stage, const char* param) {
        return std::string(R"({"current_stage": 1, "parallel_strategy_item": {"op)") + std::to_string(stage) +
               R"(": {"stage": )" + std::to_string(stage) + R"(, "parallel_strategy": [[2, 1]]}},
                   "parallel_layout_item": {")" +
               param + R"(": {"dev_matrix": [2], "tensor_map": [0, -1],
                   "tensor_shape": [4, 2], "field": 0, "opt_weight_shard_step": 0, "opt_weight_shard_size": 0}}})";
    };
    writeText(folder / "ckpt_strategy_rank_0.json", rankFile(0, "a"));
    writeText(folder / "ckpt_strategy_rank_1.json", rankFile(0, "a"));
    writeText(folder / "ckpt_strategy_rank_2.json", rankFile(1, "b"));
    std::vector<std::string> notes;
    auto strategy = loadStrategyArgument(folder, {}, &notes);
    QVERIFY2(strategy.has_value(), strategy ? "" : strategy.error().describe().c_str());
    QCOMPARE(strategy->file, (folder / kMergedJsonStrategyFileName).string());
    QCOMPARE(strategy->format, StrategyFormat::Json);
    const std::string written = readText(folder / kMergedJsonStrategyFileName);
    QVERIFY(written.find("\"0-a\"") != std::string::npos);
    QVERIFY(written.find("\"1-b\"") != std::string::npos);
    QVERIFY(written.find("\"current_stage\":1") != std::string::npos);
    QCOMPARE(only(*strategy, "b")->stages, std::vector<uint32_t>{1});
    QCOMPARE(only(*strategy, "b")->globalShape, (std::vector<int64_t>{4, 2}));
}

QTEST_GUILESS_MAIN(TestStrategy)
#include "tst_strategy.moc"
