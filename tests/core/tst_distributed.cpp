// Distributed checkpoints as one full model (spec §4.11, §4.12): rank folders, file choice,
// reassembly from slices (model parallel, optimizer shards, pipeline stages), parameters
// without layout, and the refusals (missing rank, frozen sharded weights, bad shapes).
#include "lms/distributed/Distributed.h"

#include "TestSupport.h"
#include "lms/base/Json.h"

#include <QProcess>
#include <QTemporaryDir>
#include <QTest>

#include <cstring>
#include <map>
#include <set>

using namespace lms;
namespace fs = std::filesystem;

namespace {

// ------------------------------------------------------------------ strategy files in code

using Pb = lms::test::ProtoBuilder;

struct LayoutSpec {
    std::string name;
    std::vector<int64_t> dev;
    std::vector<int64_t> map;
    int step = 0, size = 0, field = 0;
    std::vector<int64_t> splitShape = {}, offsets = {};
};

std::string repeated(const std::vector<int64_t>& values) {
    Pb out;
    for (int64_t v : values) out.integer(1, v);
    return out.bytes;
}

// A ParallelStrategyMap exactly as MindSpore's C++ writer lays it out (spec §2.1), with an
// operator item of `stage` and, as merge_pipeline_strategys leaves them (spec §3), one for every
// other stage that a "<stage>-" name prefix mentions, unless `onlyItemStage`.
std::string strategyBytes(const std::vector<LayoutSpec>& layouts, int stage = 0, bool onlyItemStage = false) {
    Pb file;
    file.integer(1, 1);
    std::set<int> stages{stage};
    for (const auto& spec : layouts)
        if (auto split = splitStagePrefix(spec.name); split && !onlyItemStage)
            stages.insert(int(split->first));
    for (int s : stages) {
        Pb strategys, item;
        strategys.integer(1, s).message(2, repeated({1, 2}));
        item.message(1, "MatMul-op" + std::to_string(s)).message(2, strategys.bytes);
        file.message(2, item.bytes);
    }
    for (const auto& spec : layouts) {
        Pb layout, layoutItem;
        layout.message(1, repeated(spec.dev)).message(2, repeated(spec.map));
        layout.message(3, repeated(spec.splitShape)).message(4, repeated(spec.offsets));
        layout.integer(5, spec.field).integer(6, spec.step).integer(7, spec.size);
        layoutItem.message(1, spec.name).message(2, layout.bytes);
        file.message(3, layoutItem.bytes);
    }
    return file.bytes;
}

void writeText(const fs::path& path, const std::string& text) {
    test::writeFileBytes(path, std::as_bytes(std::span(text.data(), text.size())));
}

// ------------------------------------------------------------------ tensors in code

// Int32 content whose value encodes the global position, so misplaced bytes show.
std::vector<std::byte> positionalInts(const std::vector<int64_t>& full, const Box& box, int32_t base = 0) {
    std::vector<std::byte> out(box.elementCount() * 4);
    std::vector<int32_t> values;
    forEachContiguousRun(full, box, 1, [&](uint64_t, uint64_t at, uint64_t count) {
        for (uint64_t i = 0; i < count; ++i) values.push_back(base + int32_t(at + i));
    });
    std::memcpy(out.data(), values.data(), out.size());
    return out;
}

Box whole(const std::vector<int64_t>& shape) {
    return Box{std::vector<int64_t>(shape.size(), 0), shape};
}

test::FakeTensor intTensor(const std::string& name, const std::vector<int64_t>& full, const Box& box,
                           int32_t base = 0) {
    return {name, "Int32", box.shape(), positionalInts(full, box, base)};
}

std::vector<std::byte> readAll(const ModelSource& source, size_t index) {
    std::vector<std::byte> out(size_t(source.tensors()[index].byteSize));
    auto status = source.read(index, out, nullptr);
    if (!status) qWarning("%s", status.error().describe().c_str());
    return status ? out : std::vector<std::byte>{};
}

// readRows() over several bands equals the same rows of read(); false (with a warning) otherwise.
bool rowBandsMatch(const ModelSource& source, size_t index) {
    const SourceTensor& t = source.tensors()[index];
    const auto full = readAll(source, index);
    const int64_t rows = rowCount(t);
    const uint64_t stride = rowBytes(t);
    const std::vector<std::pair<int64_t, int64_t>> bands{{0, rows},
                                                         {0, std::min<int64_t>(rows, 1)},
                                                         {rows / 3, rows - rows / 4},
                                                         {rows - 1, rows},
                                                         {rows / 2, rows / 2}};
    for (auto [begin, end] : bands) {
        if (begin < 0 || end < begin) continue;
        std::vector<std::byte> out(size_t(uint64_t(end - begin) * stride));
        auto status = source.readRows(index, begin, end, out, nullptr);
        if (!status ||
            !std::equal(out.begin(), out.end(), full.begin() + ptrdiff_t(uint64_t(begin) * stride))) {
            qWarning("%s rows %lld..%lld differ", t.name.c_str(), static_cast<long long>(begin),
                     static_cast<long long>(end));
            return false;
        }
    }
    return true;
}

size_t indexOf(const ModelSource& source, const std::string& name) {
    const auto& tensors = source.tensors();
    for (size_t i = 0; i < tensors.size(); ++i)
        if (tensors[i].name == name) return i;
    return SIZE_MAX;
}

QString text(const Error& error) {
    return QString::fromStdString(error.describe());
}

std::string ranksText(const std::vector<int64_t>& ranks) {
    std::string out;
    for (int64_t r : ranks) out += (out.empty() ? "" : " ") + std::to_string(r);
    return out;
}

// ------------------------------------------------------------------ msfixtures scenarios

using test::generateFixtures;

struct Scenario {
    fs::path dir;
    JsonValue json;
    std::string get(std::string_view key) const {
        const JsonValue* v = json.find(key);
        return v && v->asString() ? *v->asString() : std::string();
    }
    std::set<std::string> list(std::string_view key) const {
        std::set<std::string> out;
        if (const JsonValue* v = json.find(key))
            for (size_t i = 0; i < v->size(); ++i) out.insert(*(*v)[i].asString());
        return out;
    }
    DistributedOptions options(std::string_view srcKey = "src") const {
        DistributedOptions o;
        o.modelDir = dir / get(srcKey);
        o.strategy = dir / get("strategy");
        return o;
    }
};

std::optional<Scenario> loadScenario(const fs::path& dir) {
    const auto bytes = test::readFileBytes(dir / "scenario.json");
    auto json = parseJson(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
    if (!json) return std::nullopt;
    return Scenario{dir, std::move(*json)};
}

}  // namespace

class TestDistributed : public QObject {
    Q_OBJECT

private slots:
    void initTestCase();
    void realTwoWayCheckpoint();
    void fixtureScenarios_data();
    void fixtureScenarios();
    void adapterRanks();
    void frozenBaseMissing();
    void missingRank();
    void pipelineExample3();
    void optimizerShardExample2();
    void largeSlices_data();
    void largeSlices();
    void rankFolderFileChoice();
    void refusals_data();
    void refusals();
    void rankFolders();
    void otherRun_data();
    void otherRun();
    void sampledLargeTensor_data();
    void sampledLargeTensor();
    void stagePrefixDecision_data();
    void stagePrefixDecision();
    void integratedSaveAdapter_data();
    void integratedSaveAdapter();
    void errorNamesPickedFile_data();
    void errorNamesPickedFile();
    void cliCheckReplicas_data();
    void cliCheckReplicas();
    void removeRedundancy_data();
    void removeRedundancy();

private:
    QTemporaryDir fixtures_;
    QString fixturesWhy_;  // why the msfixtures scenarios are unavailable
    fs::path fixtureDir(const char* scenario) const {
        return fs::path(fixtures_.path().toStdString()) / scenario;
    }
};

void TestDistributed::initTestCase() {
    fixturesWhy_ =
        generateFixtures(fs::path(fixtures_.path().toStdString()),
                         {u"dist_tp2"_qs, u"dist_tp2_pp2"_qs, u"dist_dp2_tp2_optshard"_qs, u"st_dist_tp2"_qs,
                          u"adapter_dist"_qs, u"dist_frozen_base_missing"_qs, u"bad_missing_rank"_qs});
}

// The real 2-way model-parallel Llama checkpoint with a strategy written from its README:
// dev_matrix [2]; [0,-1] rows split, [-1,0] columns split, replicated otherwise.
void TestDistributed::realTwoWayCheckpoint() {
    if (test::sharedDir().empty()) QSKIP("../shared is not beside the checkout");
    const fs::path modelDir = test::sharedDir() / "real/dist/llama-tiny-fp16-mp2";
    const std::map<std::string, std::vector<int64_t>> maps{
        {"model.tok_embeddings.embedding_weight", {-1, -1}},
        {"model.layers.0.ffn_norm.weight", {-1}},
        {"model.layers.0.attention_norm.weight", {-1}},
        {"model.layers.0.attention.wq.weight", {0, -1}},
        {"model.layers.0.attention.wk.weight", {0, -1}},
        {"model.layers.0.attention.wv.weight", {0, -1}},
        {"model.layers.0.attention.wo.weight", {-1, 0}},
        {"model.layers.0.feed_forward.w1.weight", {0, -1}},
        {"model.layers.0.feed_forward.w2.weight", {-1, 0}},
        {"model.layers.0.feed_forward.w3.weight", {0, -1}},
        {"model.norm_out.weight", {-1}},
        {"lm_head.weight", {0, -1}}};
    std::vector<LayoutSpec> layouts;
    for (const auto& [name, map] : maps) layouts.push_back({name, {2}, map});
    QTemporaryDir dir;
    const fs::path strategyPath = fs::path(dir.path().toStdString()) / "ckpt_strategy_rank_0.ckpt";
    writeText(strategyPath, strategyBytes(layouts));

    auto source = openDistributedModel({modelDir, strategyPath, {}, {}});
    QVERIFY2(source.has_value(), source ? "" : source.error().describe().c_str());
    auto rank0 = CheckpointFile::open(modelDir / "rank_0/fp16.ckpt");
    auto rank1 = CheckpointFile::open(modelDir / "rank_1/fp16.ckpt");
    QVERIFY(rank0 && rank1);
    const auto& tensors = (*source)->tensors();
    QCOMPARE(tensors.size(), size_t(12));
    const std::map<std::string, std::vector<int64_t>> fullDims{
        {"model.tok_embeddings.embedding_weight", {32000, 40}},
        {"model.layers.0.attention.wq.weight", {40, 40}},
        {"model.layers.0.attention.wo.weight", {40, 40}},
        {"model.layers.0.feed_forward.w1.weight", {256, 40}},
        {"model.layers.0.feed_forward.w2.weight", {40, 256}},
        {"lm_head.weight", {32000, 40}},
        {"model.norm_out.weight", {40}}};
    for (size_t i = 0; i < tensors.size(); ++i) {
        const SourceTensor& t = tensors[i];
        QCOMPARE(t.name, (*rank0)->tensors()[i].name);  // order of rank_0's file
        if (fullDims.contains(t.name)) QCOMPARE(t.dims, fullDims.at(t.name));
        const TensorInfo& a = *(*rank0)->find(t.name);
        const TensorInfo& b = *(*rank1)->find(t.name);
        QCOMPARE(t.typeName, a.typeName);
        const auto full = readAll(**source, i);
        QVERIFY(rowBandsMatch(**source, i));
        const auto bytesA = *(*rank0)->readTensor(a), bytesB = *(*rank1)->readTensor(b);
        const auto& map = maps.at(t.name);
        const auto& placement = (*source)->placement(i);
        QVERIFY(placement.layout);
        if (map == std::vector<int64_t>{0, -1}) {  // rows: rank 0's bytes, then rank 1's
            QCOMPARE(full.size(), bytesA.size() * 2);
            QVERIFY(std::equal(bytesA.begin(), bytesA.end(), full.begin()));
            QVERIFY(std::equal(bytesB.begin(), bytesB.end(), full.begin() + ptrdiff_t(bytesA.size())));
            QVERIFY(!(*source)->rawRecords(i));
            QCOMPARE(placement.pieces.size(), size_t(2));
        } else if (map == std::vector<int64_t>{-1, 0}) {   // columns: each row is half rank 0, half rank 1
            const size_t rowHalf = size_t(a.dims[1]) * 2;  // Float16
            QCOMPARE(full.size(), bytesA.size() * 2);
            for (int64_t row = 0; row < a.dims[0]; ++row) {
                QVERIFY(std::memcmp(full.data() + row * 2 * rowHalf, bytesA.data() + row * rowHalf,
                                    rowHalf) == 0);
                QVERIFY(std::memcmp(full.data() + row * 2 * rowHalf + rowHalf, bytesB.data() + row * rowHalf,
                                    rowHalf) == 0);
            }
        } else {  // replicated: byte-identical in both ranks, copied from rank 0 as whole records
            QVERIFY(full == bytesA);
            QVERIFY(full == bytesB);
            auto raw = (*source)->rawRecords(i);
            QVERIFY(raw.has_value());
            QCOMPARE(raw->file->path(), (modelDir / "rank_0/fp16.ckpt").string());
            QCOMPARE(raw->info->name, t.name);
            QCOMPARE(ranksText(placement.pieces.front().ranks), std::string("0 1"));
        }
    }
    QCOMPARE((*source)->inputFiles().size(), size_t(3));
    QCOMPARE((*source)->inputFiles().back(), strategyPath);
    QCOMPARE((*source)->inputBytes(), uint64_t(2 * 3878282));
    QCOMPARE((*source)->strategy().devicesPerStage(), int64_t(2));
}

void TestDistributed::fixtureScenarios_data() {
    QTest::addColumn<QString>("scenario");
    QTest::addColumn<QString>("expectedNote");  // a substring of one note, or empty
    QTest::newRow("dist_tp2") << u"dist_tp2"_qs << QString();
    QTest::newRow("dist_tp2_pp2") << u"dist_tp2_pp2"_qs << u"merged the pipeline strategy files"_qs;
    QTest::newRow("dist_dp2_tp2_optshard") << u"dist_dp2_tp2_optshard"_qs << QString();
    QTest::newRow("st_dist_tp2 (safetensors ranks)") << u"st_dist_tp2"_qs << QString();
}

// Every full tensor equals the expected merged model's tensor byte for byte, except the merged
// base weights (which receive the LoRA delta) and the dropped LoRA tensors.
void TestDistributed::fixtureScenarios() {
    if (!fixturesWhy_.isEmpty()) QSKIP(qPrintable(fixturesWhy_));
    QFETCH(QString, scenario);
    QFETCH(QString, expectedNote);
    auto sc = loadScenario(fixtureDir(qPrintable(scenario)));
    QVERIFY(sc);
    std::vector<std::string> notes;
    auto source = openDistributedModel(sc->options(), &notes);
    QVERIFY2(source.has_value(), source ? "" : source.error().describe().c_str());
    if (!expectedNote.isEmpty()) {
        bool found = false;
        for (const auto& note : notes) found |= QString::fromStdString(note).contains(expectedNote);
        QVERIFY2(found, notes.empty() ? "no notes" : notes.front().c_str());
    }
    auto expected = CheckpointFile::open(sc->dir / sc->get("expected_ckpt"));
    QVERIFY2(expected.has_value(), expected ? "" : expected.error().describe().c_str());
    const auto merged = sc->list("merged"), dropped = sc->list("dropped");
    std::vector<std::string> kept;
    for (const auto& t : (*source)->tensors())
        if (!dropped.contains(t.name)) kept.push_back(t.name);
    std::vector<std::string> expectedNames;
    for (const auto& info : (*expected)->tensors()) expectedNames.push_back(info.name);
    QCOMPARE(kept, expectedNames);  // same names, same order of first appearance
    size_t compared = 0;
    for (const auto& info : (*expected)->tensors()) {
        const size_t index = indexOf(**source, info.name);
        const SourceTensor& t = (*source)->tensors()[index];
        QCOMPARE(t.dims, info.dims);
        QCOMPARE(t.dtype, info.dtype);
        if (merged.contains(info.name)) continue;
        const auto actual = readAll(**source, index);
        QVERIFY2(actual == *(*expected)->readTensor(info), info.name.c_str());
        QVERIFY(rowBandsMatch(**source, index));
        ++compared;
    }
    QCOMPARE(compared, expectedNames.size() - merged.size());
}

// The LoRA-only adapter folders of adapter_dist open with the base's strategy.
void TestDistributed::adapterRanks() {
    if (!fixturesWhy_.isEmpty()) QSKIP(qPrintable(fixturesWhy_));
    auto sc = loadScenario(fixtureDir("adapter_dist"));
    QVERIFY(sc);
    auto adapter = openDistributedModel(sc->options("adapter"));
    QVERIFY2(adapter.has_value(), adapter ? "" : adapter.error().describe().c_str());
    auto reference = openDistributedModel(loadScenario(fixtureDir("dist_tp2"))->options());
    QVERIFY(reference.has_value());
    const auto dropped = sc->list("dropped");
    QCOMPARE((*adapter)->tensors().size(), dropped.size());
    for (size_t i = 0; i < (*adapter)->tensors().size(); ++i) {
        const auto& t = (*adapter)->tensors()[i];
        QVERIFY(dropped.contains(t.name));
        const size_t same = indexOf(**reference, t.name);  // dist_tp2 holds the same LoRA values
        QVERIFY(same != SIZE_MAX);
        QCOMPARE(t.dims, (*reference)->tensors()[same].dims);
        QVERIFY(readAll(**adapter, i) == readAll(**reference, same));
    }
}

void TestDistributed::frozenBaseMissing() {
    if (!fixturesWhy_.isEmpty()) QSKIP(qPrintable(fixturesWhy_));
    auto sc = loadScenario(fixtureDir("dist_frozen_base_missing"));
    QVERIFY(sc);
    auto source = openDistributedSource(sc->options());
    QVERIFY(!source.has_value());
    const Error& error = source.error();
    QCOMPARE(error.code, ErrorCode::Mismatch);
    QVERIFY2(text(error).contains(u"differs between rank_0 and rank_1"_qs), error.describe().c_str());
    QVERIFY(text(error).contains(u"only_trainable_params=True"_qs));
    QVERIFY(text(error).contains(u"strategy_ckpt_config.only_trainable_params: False"_qs));
    // The first sharded base weight in save order (the embedding is replicated, so identical).
    QCOMPARE(error.parameter, std::string("model.layers.0.attention.wq.weight"));
}

void TestDistributed::missingRank() {
    if (!fixturesWhy_.isEmpty()) QSKIP(qPrintable(fixturesWhy_));
    auto sc = loadScenario(fixtureDir("bad_missing_rank"));
    QVERIFY(sc);
    auto source = openDistributedSource(sc->options());
    QVERIFY(!source.has_value());
    QCOMPARE(source.error().code, ErrorCode::NotFound);
    QVERIFY2(text(source.error()).contains(u"rank_1 is missing under"_qs), source.error().describe().c_str());
    QVERIFY(text(source.error()).contains(u"2 devices per stage"_qs));
}

// Spec §4.13 example 3: two stages of dev [2,2]; layer 1 only in ranks 4..7, read from 4 and 5.
void TestDistributed::pipelineExample3() {
    QTemporaryDir dir;
    const fs::path root(dir.path().toStdString());
    const std::vector<int64_t> full{8, 4};
    const std::string layer0 = "model.layers.0.attention.wq.weight",
                      layer1 = "model.layers.1.attention.wq.weight";
    for (int64_t g = 0; g < 8; ++g) {
        const int64_t local = g % 4;
        const Box rows{{local % 2 == 0 ? 0 : 4, 0}, {local % 2 == 0 ? 4 : 8, 4}};
        std::vector<test::FakeTensor> tensors;
        tensors.push_back(intTensor(g < 4 ? layer0 : layer1, full, rows, g < 4 ? 0 : 1000));
        tensors.push_back(intTensor("global_step", {1}, whole({1}), 7));
        test::writeCheckpoint(root / ("rank_" + std::to_string(g)) / "net.ckpt", tensors);
    }
    writeText(root / "merged_ckpt_strategy.ckpt",
              strategyBytes({{"0-" + layer0, {2, 2}, {0, -1}}, {"1-" + layer1, {2, 2}, {0, -1}}}));
    auto source = openDistributedModel({root, root / "merged_ckpt_strategy.ckpt", {}, {}});
    QVERIFY2(source.has_value(), source ? "" : source.error().describe().c_str());
    const auto& tensors = (*source)->tensors();
    QCOMPARE(tensors.size(), size_t(3));
    QCOMPARE(tensors[0].name, layer0);
    QCOMPARE(tensors[1].name, std::string("global_step"));  // first appearance: rank 0 before rank 4
    QCOMPARE(tensors[2].name, layer1);
    const auto& p1 = (*source)->placement(2);
    QCOMPARE(p1.pieces.size(), size_t(2));
    QCOMPARE(ranksText(p1.pieces[0].ranks), std::string("4 6"));
    QCOMPARE(ranksText(p1.pieces[1].ranks), std::string("5 7"));
    QCOMPARE(tensors[2].origin, std::string("ranks rank_4, rank_5"));
    QVERIFY(readAll(**source, 2) == positionalInts(full, whole(full), 1000));
    QVERIFY(readAll(**source, 0) == positionalInts(full, whole(full), 0));
    QCOMPARE(ranksText((*source)->placement(1).pieces[0].ranks), std::string("0 1 2 3 4 5 6 7"));
    QCOMPARE(tensors[1].origin, std::string("rank_0"));
    QVERIFY((*source)->rawRecords(1).has_value());
}

// Spec §4.13 example 2: optimizer sharding, 8 ranks each holding a [4,2] piece of [8,8].
void TestDistributed::optimizerShardExample2() {
    QTemporaryDir dir;
    const fs::path root(dir.path().toStdString());
    const std::vector<int64_t> full{8, 8};
    for (int64_t r = 0; r < 8; ++r) {
        const Box piece{{r < 4 ? 0 : 4, 2 * (r % 4)},
                        {r < 4 ? 4 : 8, 2 * (r % 4) + 2}};  // the table of §4.13
        test::writeCheckpoint(root / ("rank_" + std::to_string(r)) / "x.ckpt", {intTensor("w", full, piece)});
    }
    writeText(root / "s.ckpt",
              strategyBytes({{.name = "w", .dev = {2, 4}, .map = {-1, 0}, .step = 4, .size = -1}}));
    auto source = openDistributedModel({root, root / "s.ckpt", {}, {}});
    QVERIFY2(source.has_value(), source ? "" : source.error().describe().c_str());
    QCOMPARE((*source)->tensors()[0].dims, full);
    QCOMPARE((*source)->placement(0).pieces.size(), size_t(8));  // no replicas: every file is needed
    QVERIFY(readAll(**source, 0) == positionalInts(full, whole(full)));
    QVERIFY(rowBandsMatch(**source, 0));
}

void TestDistributed::largeSlices_data() {
    QTest::addColumn<QList<qlonglong>>("map");
    // Rows: each rank's 9 MB slice is one run, read straight into the output.
    QTest::newRow("rows, direct reads") << QList<qlonglong>{0, -1};
    // Columns: 3000-byte runs gathered through 8 MiB blocks; runs straddle block boundaries.
    QTest::newRow("columns, blocks") << QList<qlonglong>{-1, 0};
}

void TestDistributed::largeSlices() {
    QFETCH(QList<qlonglong>, map);
    QTemporaryDir dir;
    const fs::path root(dir.path().toStdString());
    const std::vector<int64_t> full{3000, 1500};
    for (int64_t r = 0; r < 2; ++r) {
        Box box = whole(full);
        const size_t axis = map[0] == 0 ? 0 : 1;
        box.begin[axis] = r * full[axis] / 2;
        box.end[axis] = (r + 1) * full[axis] / 2;
        test::writeCheckpoint(root / ("rank_" + std::to_string(r)) / "x.ckpt", {intTensor("big", full, box)},
                              5'000'000);  // several records per slice
    }
    writeText(root / "s.ckpt", strategyBytes({{"big", {2}, std::vector<int64_t>(map.begin(), map.end())}}));
    auto source = openDistributedModel({root, root / "s.ckpt", {}, {}});
    QVERIFY2(source.has_value(), source ? "" : source.error().describe().c_str());
    QVERIFY(readAll(**source, 0) == positionalInts(full, whole(full)));
    QVERIFY(rowBandsMatch(**source, 0));
    std::vector<std::byte> tooSmall(16);
    QVERIFY(!(*source)->readRows(0, 0, 1, tooSmall, nullptr).has_value());
    CancelToken cancel;
    cancel.cancel();
    std::vector<std::byte> out(size_t((*source)->tensors()[0].byteSize));
    auto cancelled = (*source)->read(0, out, &cancel);
    QVERIFY(!cancelled.has_value());
    QCOMPARE(cancelled.error().code, ErrorCode::Cancelled);
}

// Several checkpoints in a rank folder: the lexicographically last, or the glob's choice.
void TestDistributed::rankFolderFileChoice() {
    QTemporaryDir dir;
    const fs::path root(dir.path().toStdString());
    for (int r = 0; r < 2; ++r) {
        const fs::path rankDir = root / ("rank_" + std::to_string(r));
        test::writeCheckpoint(rankDir / "net-10_2.ckpt", {intTensor("step", {1}, whole({1}), 10)});
        test::writeCheckpoint(rankDir / "net-9_2.ckpt", {intTensor("step", {1}, whole({1}), 9)});
        writeText(rankDir / "notes.txt", "not a checkpoint");
    }
    writeText(root / "s.ckpt", strategyBytes({{"unused", {2}, {-1}}}));
    std::vector<std::string> notes;
    auto source = openDistributedModel({root, root / "s.ckpt", {}, {}}, &notes);
    QVERIFY2(source.has_value(), source ? "" : source.error().describe().c_str());
    // Lexicographic, not numeric: "net-9_2" sorts after "net-10_2" (spec §4.11).
    QCOMPARE((*source)->rankFiles()[0].path.filename().string(), std::string("net-9_2.ckpt"));
    QVERIFY(readAll(**source, 0) == positionalInts({1}, whole({1}), 9));
    QCOMPARE(notes.size(), size_t(3));
    QCOMPARE(notes[0],
             std::string("rank_0: picked net-9_2.ckpt of 2 checkpoint files (lexicographically last)"));
    QCOMPARE(notes[2],
             std::string("warning: 1 of the strategy's 1 parameter layouts (100 %) name parameters that "
                         "are not in the rank files: is it the strategy of another run, or were the "
                         "checkpoints saved with only_trainable_params?"));

    auto chosen = openDistributedModel({root, root / "s.ckpt", {}, "net-10_*"}, &notes);
    QVERIFY(chosen.has_value());
    QCOMPARE((*chosen)->rankFiles()[1].path.filename().string(), std::string("net-10_2.ckpt"));
    QVERIFY(readAll(**chosen, 0) == positionalInts({1}, whole({1}), 10));
    auto none = openDistributedModel({root, root / "s.ckpt", {}, "other-*.ckpt"});
    QVERIFY(!none.has_value());
    QVERIFY(text(none.error())
                .contains(u"rank_0: no checkpoint file in the rank folder matches 'other-*.ckpt'"_qs));
}

void TestDistributed::refusals_data() {
    QTest::addColumn<QString>("kind");
    QTest::addColumn<int>("code");
    QTest::addColumn<QString>("expected");
    QTest::newRow("extra rank folder")
        << u"extra rank"_qs << int(ErrorCode::Mismatch)
        << u"holds rank_2 but the strategy describes 2 devices per stage and 1 pipeline stage(s)"_qs;
    QTest::newRow("slice shape disagrees")
        << u"bad shape"_qs << int(ErrorCode::Mismatch)
        << u"rank_1/a.ckpt: parameter 'w': strategy does not describe these files: w on rank_1 is [4, 3], the strategy implies [4, 4] — is it the strategy of another run? (dev_matrix [2], tensor_map [0, -1]: slice [4:8, 0:4] of the full shape [8, 4])"_qs;
    QTest::newRow("dtype disagrees")
        << u"bad dtype"_qs << int(ErrorCode::Mismatch)
        << u"rank_1 stores the parameter as Float32 but another rank as Int32"_qs;
    QTest::newRow("field split") << u"field"_qs << int(ErrorCode::Unsupported)
                                 << u"parameter 'w': the layout uses a MatMul field split (field = 2)"_qs;
    QTest::newRow("manual split") << u"manual"_qs << int(ErrorCode::Unsupported)
                                  << u"parameter 'w': the layout uses a manual split"_qs;
    QTest::newRow("piece missing")
        << u"missing piece"_qs << int(ErrorCode::Mismatch)
        << u"parameter 'w': elements [4:8, 0:4] of the full shape [8, 4] are not held by any rank file"_qs;
    QTest::newRow("no layout, shapes differ")
        << u"copy shapes"_qs << int(ErrorCode::Mismatch)
        << u"parameter 'frozen': the parameter is not in the strategy file but differs between rank_0 and rank_1 (shapes [4, 4] and [2, 4])"_qs;
    QTest::newRow("stage without files")
        << u"stage mismatch"_qs << int(ErrorCode::NotFound) << u"rank_2 is missing under"_qs;
}

void TestDistributed::refusals() {
    QFETCH(QString, kind);
    QFETCH(int, code);
    QFETCH(QString, expected);
    QTemporaryDir dir;
    const fs::path root(dir.path().toStdString());
    const std::vector<int64_t> full{8, 4};
    const Box top{{0, 0}, {4, 4}}, bottom{{4, 0}, {8, 4}};
    std::vector<test::FakeTensor> rank0{intTensor("w", full, top)}, rank1{intTensor("w", full, bottom)};
    LayoutSpec layout{"w", {2}, {0, -1}};
    if (kind == u"bad shape"_qs) rank1 = {intTensor("w", full, Box{{4, 0}, {8, 3}})};
    if (kind == u"bad dtype"_qs) rank1[0].typeName = "Float32";
    if (kind == u"field"_qs) layout.field = 2;
    if (kind == u"manual"_qs) {
        layout.splitShape = {4, 4};
        layout.offsets = {0, 4};
    }
    if (kind == u"missing piece"_qs) rank1 = {intTensor("other", {1}, whole({1}))};
    if (kind == u"copy shapes"_qs) {
        rank0.push_back(intTensor("frozen", {4, 4}, whole({4, 4})));
        rank1.push_back(intTensor("frozen", {2, 4}, whole({2, 4})));
    }
    test::writeCheckpoint(root / "rank_0/a.ckpt", rank0);
    test::writeCheckpoint(root / "rank_1/a.ckpt", rank1);
    if (kind == u"extra rank"_qs) test::writeCheckpoint(root / "rank_2/a.ckpt", rank1);
    std::string strategy = strategyBytes({layout});
    if (kind == u"stage mismatch"_qs)
        strategy = strategyBytes({{"0-w", {2}, {0, -1}}, {"1-v", {2}, {0, -1}}});
    writeText(root / "s.ckpt", strategy);
    auto source = openDistributedSource({root, root / "s.ckpt", {}, {}});
    QVERIFY(!source.has_value());
    QCOMPARE(int(source.error().code), code);
    QVERIFY2(text(source.error()).contains(expected), source.error().describe().c_str());
}

void TestDistributed::rankFolders() {
    QTemporaryDir dir;
    const fs::path root(dir.path().toStdString());
    for (const char* name : {"rank_10", "rank_2", "rank_0", "rank_x", "ranks_1", "rank_"})
        fs::create_directories(root / name);
    writeText(root / "rank_3", "a file, not a folder");
    QVERIFY(looksDistributed(root));
    QVERIFY(!looksDistributed(root / "rank_0"));
    auto folders = findRankFolders(root);
    QVERIFY(folders.has_value());
    std::vector<int64_t> ranks;
    for (const auto& f : *folders) ranks.push_back(f.rank);
    QCOMPARE(ranks, (std::vector<int64_t>{0, 2, 10}));
    fs::create_directories(root / "rank_02");
    auto twice = findRankFolders(root);
    QVERIFY(!twice.has_value());
    QVERIFY(text(twice.error()).contains(u"name the same rank"_qs));
    writeText(root / "s.ckpt", strategyBytes({{"w", {2}, {-1}}}));
    auto empty = openDistributedSource({root / "rank_x", root / "s.ckpt", {}, {}});
    QVERIFY(!empty.has_value());
    QCOMPARE(empty.error().code, ErrorCode::NotFound);
    QVERIFY(text(empty.error()).contains(u"no rank_<n> folders"_qs));
}

// Rank files and a strategy that belong to different runs (issue 14): the slice shapes or the
// replicated copies give it away, before anything is read for a merge. `expected` is the error
// text, or for a run that must open, the replica check's note.
void TestDistributed::otherRun_data() {
    QTest::addColumn<QString>("kind");
    QTest::addColumn<QString>("mode");
    QTest::addColumn<QString>("expected");
    const QString shape = u"strategy does not describe these files: w on "_qs;
    const QString copies = u"strategy does not describe these files: w on rank_0 and "_qs;
    QTest::newRow("strategy of another model size (tensor_shape)")
        << u"bigger model"_qs << u"full"_qs
        << u"rank_0/a.ckpt: parameter 'w': "_qs + shape +
               u"rank_0 is [4, 4], the strategy implies [8, 4] — is it the strategy of another run?"_qs;
    QTest::newRow("tp2 strategy over tp4 files")
        << u"tp2 over tp4"_qs << u"full"_qs
        << u"holds rank_3 but the strategy describes 2 devices per stage and 1 pipeline stage(s)"_qs;
    QTest::newRow("tp4 strategy over tp2 files")
        << u"tp4 over tp2"_qs << u"full"_qs << u"rank_2 is missing under"_qs;
    QTest::newRow("dp2 x tp2 strategy over tp4 files")
        << u"dp2tp2 over tp4"_qs << u"full"_qs
        << u"rank_2/a.ckpt: parameter 'w': "_qs + copies +
               u"rank_2 should be identical copies of slice [0:2, 0:4], but rank_0/a.ckpt and rank_2/a.ckpt "
               u"differ, first at element [0, 0] of the full shape [4, 4] — is it the strategy of another run?"_qs;
    QTest::newRow("data-parallel strategy over model-parallel files")
        << u"dp over tp"_qs << u"full"_qs
        << u"rank_1/a.ckpt: parameter 'w': "_qs + copies +
               u"rank_1 should be identical copies of slice [0:4, 0:4], but rank_0/a.ckpt and rank_1/a.ckpt "
               u"differ, first at element [0, 0] of the full shape [4, 4]"_qs;
    const QString zeroed = copies +
                           u"rank_1 should be identical copies of slice [0:8, 0:4], but rank_0/a.ckpt and "
                           u"rank_1/a.ckpt differ, first at element [0, 1] of the full shape [8, 4]"_qs;
    QTest::newRow("replicated copy zeroed") << u"zeroed"_qs << u"full"_qs << zeroed;
    QTest::newRow("replicated copy zeroed, sampled") << u"zeroed"_qs << u"sampled"_qs << zeroed;
    QTest::newRow("replicated copy of another tensor")
        << u"other tensor"_qs << u"full"_qs
        << copies +
               u"rank_1 should be identical copies of slice [0:8, 0:4], but rank_0/a.ckpt and rank_1/a.ckpt "
               u"differ, first at element [0, 0] of the full shape [8, 4]"_qs;
    QTest::newRow("replicated copy of another shape")
        << u"other shape"_qs << u"full"_qs
        << u"rank_1/a.ckpt: parameter 'w': "_qs + shape +
               u"rank_1 is [4, 4], the strategy implies [8, 4] — is it the strategy of another run?"_qs;
    QTest::newRow("off skips the check") << u"zeroed"_qs << u"off"_qs
                                         << u"replicas: not compared (--check-replicas off): each replicated "
                                            u"slice was read from the lowest rank "
                                            u"holding it"_qs;
    QTest::newRow("identical copies")
        << u"identical"_qs << u"full"_qs
        << u"replicas: 1 replicated slice compared on 2 ranks, all identical"_qs;
    QTest::newRow("dp2 x tp2 files and strategy")
        << u"dp2tp2"_qs << u"sampled"_qs
        << u"replicas: 3 replicated slices compared on 4 ranks, all identical"_qs;
}

void TestDistributed::otherRun() {
    QFETCH(QString, kind);
    QFETCH(QString, mode);
    QFETCH(QString, expected);
    QTemporaryDir dir;
    const fs::path root(dir.path().toStdString());
    const auto rows = [](int64_t begin, int64_t end, int64_t cols = 4) {
        return Box{{begin, 0}, {end, cols}};
    };
    std::vector<std::vector<test::FakeTensor>> ranks;
    std::string strategy;
    if (kind == u"bigger model"_qs) {
        ranks = {{intTensor("w", {8, 4}, rows(0, 4))}, {intTensor("w", {8, 4}, rows(4, 8))}};
        strategy = R"({"parallel_layout_item": {"w": {"dev_matrix": [2], "tensor_map": [0, -1],
                      "tensor_shape": [16, 4]}}})";
    } else if (kind == u"tp2 over tp4"_qs || kind == u"dp2tp2 over tp4"_qs) {
        for (int64_t r = 0; r < 4; ++r) ranks.push_back({intTensor("w", {8, 4}, rows(2 * r, 2 * r + 2))});
        LayoutSpec layout{"w", {2, 2}, {0, -1}};
        if (kind == u"tp2 over tp4"_qs) layout.dev = {2};
        strategy = strategyBytes({layout});
    } else if (kind == u"tp4 over tp2"_qs || kind == u"dp over tp"_qs) {
        ranks = {{intTensor("w", {8, 4}, rows(0, 4))}, {intTensor("w", {8, 4}, rows(4, 8))}};
        LayoutSpec layout{"w", {2}, {-1, -1}};
        if (kind == u"tp4 over tp2"_qs) layout = LayoutSpec{"w", {4}, {0, -1}};
        strategy = strategyBytes({layout});
    } else if (kind == u"dp2tp2"_qs) {
        for (int64_t r = 0; r < 4; ++r)  // coordinates (r / 2, r % 2): the last axis splits the rows
            ranks.push_back({intTensor("w", {8, 4}, rows(4 * (r % 2), 4 * (r % 2) + 4)),
                             intTensor("norm", {4}, whole({4}), 50)});
        strategy = strategyBytes({{"w", {2, 2}, {0, -1}}, {"norm", {2, 2}, {-1}}});
    } else {  // data parallel: two full copies of w
        ranks = {{intTensor("w", {8, 4}, whole({8, 4}))}, {intTensor("w", {8, 4}, whole({8, 4}))}};
        if (kind == u"zeroed"_qs) ranks[1][0].content.assign(ranks[1][0].content.size(), std::byte{0});
        if (kind == u"other tensor"_qs) ranks[1][0] = intTensor("w", {8, 4}, whole({8, 4}), 1000);
        if (kind == u"other shape"_qs) ranks[1][0] = intTensor("w", {4, 4}, whole({4, 4}));
        strategy = strategyBytes({{"w", {2}, {-1, -1}}});
    }
    for (size_t r = 0; r < ranks.size(); ++r)
        test::writeCheckpoint(root / ("rank_" + std::to_string(r)) / "a.ckpt", ranks[r]);
    const fs::path strategyFile = root / (strategy.starts_with("{") ? "s.json" : "s.ckpt");
    writeText(strategyFile, strategy);
    const auto before = test::treeDigest(root);
    DistributedOptions options{root, strategyFile, {}, {}};
    options.replicaCheck = *parseReplicaCheck(mode.toStdString());
    auto source = openDistributedModel(options);
    QCOMPARE(test::treeDigest(root), before);
    if (expected.startsWith(u"replicas:"_qs)) {
        QVERIFY2(source.has_value(), source ? "" : source.error().describe().c_str());
        QCOMPARE((*source)->reportNotes(), std::vector<std::string>{expected.toStdString()});
        return;
    }
    QVERIFY(!source.has_value());
    QCOMPARE(source.error().code,
             expected.contains(u"missing"_qs) ? ErrorCode::NotFound : ErrorCode::Mismatch);
    QVERIFY2(text(source.error()).contains(expected), source.error().describe().c_str());
}

// Sampled mode on a replicated copy over 64 MiB (66 blocks, 32 of them compared): a zeroed copy
// or another tensor is still caught; a single byte changed in a block it skips is not (that is
// what "sampled" means), while full mode finds that byte.
void TestDistributed::sampledLargeTensor_data() {
    QTest::addColumn<QString>("change");
    QTest::addColumn<QString>("mode");
    QTest::addColumn<QString>("expected");  // empty: opens
    const QString differ =
        u"strategy does not describe these files: big on rank_0 and rank_1 should be identical copies "
        u"of slice [0:66, 0:1048576], but rank_0/a.ckpt and rank_1/a.ckpt differ, first at element "_qs;
    QTest::newRow("zeroed, sampled") << u"zeroed"_qs << u"sampled"_qs << differ + u"[0, 0]"_qs;
    QTest::newRow("another tensor, sampled") << u"other"_qs << u"sampled"_qs << differ + u"[0, 1]"_qs;
    QTest::newRow("one byte in block 1, sampled") << u"byte"_qs << u"sampled"_qs << QString();
    QTest::newRow("one byte in block 1, full") << u"byte"_qs << u"full"_qs << differ + u"[1, 5]"_qs;
}

void TestDistributed::sampledLargeTensor() {
    QFETCH(QString, change);
    QFETCH(QString, mode);
    QFETCH(QString, expected);
    QTemporaryDir dir;
    const fs::path root(dir.path().toStdString());
    const int64_t rows = 66, cols = int64_t(1) << 20;
    test::FakeTensor big{"big", "Int8", {rows, cols}, std::vector<std::byte>(size_t(rows * cols))};
    for (size_t i = 0; i < big.content.size(); ++i) big.content[i] = std::byte(uint8_t(i * 31 + 7));
    test::writeCheckpoint(root / "rank_0/a.ckpt", {big});
    if (change == u"zeroed"_qs) std::ranges::fill(big.content, std::byte{0});
    if (change == u"other"_qs)
        for (size_t i = 0; i < big.content.size(); ++i) big.content[i] = std::byte(uint8_t(i * 17 + 7));
    if (change == u"byte"_qs) big.content[size_t(cols) + 5] ^= std::byte{1};
    test::writeCheckpoint(root / "rank_1/a.ckpt", {big});
    writeText(root / "s.ckpt", strategyBytes({{"big", {2}, {-1, -1}}}));
    DistributedOptions options{root, root / "s.ckpt", {}, {}};
    options.replicaCheck = *parseReplicaCheck(mode.toStdString());
    auto source = openDistributedModel(options);
    if (expected.isEmpty()) {
        QVERIFY2(source.has_value(), source ? "" : source.error().describe().c_str());
        QCOMPARE((*source)->reportNotes(),
                 std::vector<std::string>{
                     "replicas: 1 replicated slice compared on 2 ranks, all identical "
                     "(--check-replicas sampled: 1 slice(s) over 64 MiB compared in 32 spread "
                     "blocks of 1 MiB)"});
        return;
    }
    QVERIFY(!source.has_value());
    QVERIFY2(text(source.error()).contains(expected), source.error().describe().c_str());
}

// "<digits>-" is a pipeline stage only in a merged pipeline strategy (spec §3); a per-rank file
// whose parameter names start with digits and a dash is read as is.
void TestDistributed::stagePrefixDecision_data() {
    QTest::addColumn<QStringList>("layouts");  // names in the strategy, dev [2], tensor_map [0, -1]
    QTest::addColumn<bool>("onlyItemStage");   // operator items of stage 0 only
    QTest::addColumn<QStringList>("stored");   // names in the rank files
    QTest::addColumn<bool>("merged");
    QTest::newRow("per-rank, one digit-dash name") << QStringList{u"0-dense.weight"_qs, u"norm"_qs} << false
                                                   << QStringList{u"0-dense.weight"_qs, u"norm"_qs} << false;
    QTest::newRow("per-rank of stage 0, every name '1-'")
        << QStringList{u"1-w"_qs, u"1-v"_qs} << true << QStringList{u"1-w"_qs, u"1-v"_qs} << false;
    QTest::newRow("merged, one stage")
        << QStringList{u"0-w"_qs, u"0-v"_qs} << false << QStringList{u"w"_qs, u"v"_qs} << true;
    QTest::newRow("merged, a name with its own digit-dash")
        << QStringList{u"0-3-w"_qs, u"0-v"_qs} << false << QStringList{u"3-w"_qs, u"v"_qs} << true;
}

void TestDistributed::stagePrefixDecision() {
    QFETCH(QStringList, layouts);
    QFETCH(bool, onlyItemStage);
    QFETCH(QStringList, stored);
    QFETCH(bool, merged);
    QTemporaryDir dir;
    const fs::path root(dir.path().toStdString());
    std::vector<LayoutSpec> specs;
    for (const auto& name : layouts) specs.push_back({name.toStdString(), {2}, {0, -1}});
    for (int r = 0; r < 2; ++r) {
        std::vector<test::FakeTensor> tensors;
        for (const auto& name : stored)
            tensors.push_back(intTensor(name.toStdString(), {8, 4}, Box{{4 * r, 0}, {4 * r + 4, 4}}));
        test::writeCheckpoint(root / ("rank_" + std::to_string(r)) / "a.ckpt", tensors);
    }
    writeText(root / "s.ckpt", strategyBytes(specs, 0, onlyItemStage));
    std::vector<std::string> notes;
    auto source = openDistributedModel({root, root / "s.ckpt", {}, {}}, &notes);
    QVERIFY2(source.has_value(), source ? "" : source.error().describe().c_str());
    QCOMPARE((*source)->strategy().stagePrefixed, merged);
    QCOMPARE((*source)->tensors().size(), size_t(stored.size()));
    for (qsizetype i = 0; i < stored.size(); ++i) {
        QCOMPARE(QString::fromStdString((*source)->tensors()[size_t(i)].name), stored[i]);
        QCOMPARE((*source)->tensors()[size_t(i)].dims, (std::vector<int64_t>{8, 4}));  // sliced by its layout
        QVERIFY(readAll(**source, size_t(i)) == positionalInts({8, 4}, whole({8, 4})));
    }
    QVERIFY(notes.empty());  // every layout was found
}

// MindPet integrated_save: every rank holds the whole LoRA tensor although the strategy splits it.
void TestDistributed::integratedSaveAdapter_data() {
    QTest::addColumn<QString>("kind");
    QTest::addColumn<QString>("expected");  // the note, or the error
    QTest::newRow("identical full copies") << u"full copies"_qs
                                           << u"the adapter holds full copies of its 1 split LoRA tensor(s) "
                                              u"in every rank (MindPet integrated_save), "
                                              u"all identical: one copy of each is used"_qs;
    QTest::newRow("slices (no integrated_save)") << u"slices"_qs << QString();
    QTest::newRow("full-size copies differ (tensor_shape)")
        << u"differing full"_qs
        << u"rank_1/a.ckpt: parameter 'l.mindpet_delta_lora_b': every rank stores the full shape [8, 2] "
           u"(integrated_save), but the copies in rank_0/a.ckpt and rank_1/a.ckpt differ"_qs;
    QTest::newRow("one split tensor differs among full copies")
        << u"mixed"_qs
        << u"rank_1/a.ckpt: parameter 'm.mindpet_delta_lora_b': 1 split LoRA tensor(s) of this adapter are "
           u"identical "
           u"full copies in every rank (MindPet integrated_save), but this one differs between rank_0 and rank_1"_qs;
}

void TestDistributed::integratedSaveAdapter() {
    QFETCH(QString, kind);
    QFETCH(QString, expected);
    QTemporaryDir dir;
    const fs::path root(dir.path().toStdString());
    const std::string a = "l.mindpet_delta_lora_a", b = "l.mindpet_delta_lora_b",
                      m = "m.mindpet_delta_lora_b";
    const std::vector<int64_t> full{8, 2};
    for (int64_t r = 0; r < 2; ++r) {
        std::vector<test::FakeTensor> tensors{intTensor(a, {2, 4}, whole({2, 4}), 500)};
        if (kind == u"slices"_qs)
            tensors.push_back(intTensor(b, full, Box{{4 * r, 0}, {4 * r + 4, 2}}));
        else
            tensors.push_back(intTensor(b, full, whole(full), kind == u"differing full"_qs ? int32_t(r) : 0));
        if (kind == u"mixed"_qs) tensors.push_back(intTensor(m, full, Box{{4 * r, 0}, {4 * r + 4, 2}}));
        test::writeCheckpoint(root / ("rank_" + std::to_string(r)) / "a.ckpt", tensors);
    }
    const fs::path strategyFile = root / (kind == u"differing full"_qs ? "s.json" : "s.ckpt");
    if (kind == u"differing full"_qs)
        writeText(strategyFile, R"({"parallel_layout_item": {
            "l.mindpet_delta_lora_a": {"dev_matrix": [2], "tensor_map": [-1, -1], "tensor_shape": [2, 4]},
            "l.mindpet_delta_lora_b": {"dev_matrix": [2], "tensor_map": [0, -1], "tensor_shape": [8, 2]}}})");
    else
        writeText(
            strategyFile,
            strategyBytes(
                {{a, {2}, {-1, -1}}, {b, {2}, {0, -1}}, {m, {2}, {0, -1}}, {"l.weight", {2}, {0, -1}}}));
    DistributedOptions options{root, strategyFile, {}, {}};
    options.adapter = true;
    std::vector<std::string> notes;
    auto source = openDistributedModel(options, &notes);
    if (kind == u"differing full"_qs || kind == u"mixed"_qs) {
        QVERIFY(!source.has_value());
        QCOMPARE(source.error().code, ErrorCode::Mismatch);
        QVERIFY2(text(source.error()).contains(expected), source.error().describe().c_str());
        return;
    }
    QVERIFY2(source.has_value(), source ? "" : source.error().describe().c_str());
    const size_t index = indexOf(**source, b);
    QCOMPARE((*source)->tensors()[index].dims, full);
    QVERIFY(readAll(**source, index) == positionalInts(full, whole(full)));
    // The base weight and m are absent (2 of 4 layouts); in an adapter that is a plain note, no warning.
    const std::vector<std::string> plain{
        "2 parameter(s) of the strategy are not in the rank files (ignored)"};
    const std::vector<std::string> wanted =
        expected.isEmpty() ? plain : std::vector<std::string>{expected.toStdString(), plain.front()};
    QCOMPARE(notes, wanted);
}

// A failure about a rank file picked among several says which one and why (issue 14).
void TestDistributed::errorNamesPickedFile_data() {
    QTest::addColumn<QString>("glob");
    QTest::addColumn<QString>("expected");
    QTest::newRow("lexicographically last")
        << QString()
        << u"(rank_1/net-9_2.ckpt is the lexicographically last of 2 .ckpt files in its folder; "
           u"choose another with --ckpt-name)"_qs;
    QTest::newRow("last matching the glob")
        << u"net-*"_qs
        << u"(rank_1/net-9_2.ckpt is the last matching 'net-*' of 2 .ckpt files in its folder; "
           u"choose another with --ckpt-name)"_qs;
}

void TestDistributed::errorNamesPickedFile() {
    QFETCH(QString, glob);
    QFETCH(QString, expected);
    QTemporaryDir dir;
    const fs::path root(dir.path().toStdString());
    test::writeCheckpoint(root / "rank_0/net-9_2.ckpt", {intTensor("w", {8, 4}, Box{{0, 0}, {4, 4}})});
    test::writeCheckpoint(root / "rank_1/net-10_2.ckpt", {intTensor("w", {8, 4}, Box{{4, 0}, {8, 4}})});
    test::writeCheckpoint(root / "rank_1/net-9_2.ckpt", {intTensor("w", {8, 4}, Box{{4, 0}, {8, 3}})});
    writeText(root / "s.ckpt", strategyBytes({{"w", {2}, {0, -1}}}));
    auto source = openDistributedModel({root, root / "s.ckpt", {}, glob.toStdString()});
    QVERIFY(!source.has_value());
    QCOMPARE(source.error().file, (root / "rank_1/net-9_2.ckpt").string());
    QVERIFY2(text(source.error()).endsWith(expected), source.error().describe().c_str());
    QVERIFY(text(source.error()).contains(u"w on rank_1 is [4, 3], the strategy implies [4, 4]"_qs));
}

// The CLI flag: `loramerge plan --check-replicas MODE` prints the check's outcome as a note line.
void TestDistributed::cliCheckReplicas_data() {
    QTest::addColumn<QString>("mode");  // empty: the flag is not given
    QTest::addColumn<int>("exitCode");
    QTest::addColumn<QString>("expected");  // a line of stdout (exit 0) or the last line of stderr
    const QString compared = u"note: replicas: 1 replicated slice compared on 2 ranks, all identical"_qs;
    QTest::newRow("default is full") << QString() << 0 << compared;
    QTest::newRow("full") << u"full"_qs << 0 << compared;
    QTest::newRow("sampled") << u"sampled"_qs << 0 << compared;
    QTest::newRow("off")
        << u"off"_qs << 0
        << u"note: replicas: not compared (--check-replicas off): each replicated slice was read "
           u"from the lowest rank holding it"_qs;
    QTest::newRow("bad value") << u"some"_qs << 2 << u"Try 'loramerge --help'."_qs;
}

void TestDistributed::cliCheckReplicas() {
    QFETCH(QString, mode);
    QFETCH(int, exitCode);
    QFETCH(QString, expected);
    QTemporaryDir dir;
    const fs::path root(dir.path().toStdString());
    for (int r = 0; r < 2; ++r)
        test::writeCheckpoint(root / ("rank_" + std::to_string(r)) / "a.ckpt",
                              {intTensor("w", {8, 4}, whole({8, 4}))});
    writeText(root / "s.ckpt", strategyBytes({{"w", {2}, {-1, -1}}}));
    QStringList args{u"plan"_qs, u"--src_ckpt_path_or_dir"_qs, QString::fromStdString(root.string()),
                     u"--src_ckpt_strategy"_qs, QString::fromStdString((root / "s.ckpt").string())};
    if (!mode.isEmpty()) args << u"--check-replicas"_qs << mode;
    QProcess process;
    process.start(test::cliPath(), args);
    QVERIFY(process.waitForFinished(60000));
    const QString out = QString::fromUtf8(process.readAllStandardOutput());
    const QString err = QString::fromUtf8(process.readAllStandardError());
    QCOMPARE(process.exitCode(), exitCode);
    if (exitCode == 0) {
        QVERIFY2(out.split(u'\n').contains(expected), qPrintable(out));
        return;
    }
    QVERIFY2(err.contains(u"loramerge: --check-replicas takes full, sampled or off\n"_qs), qPrintable(err));
    QCOMPARE(err.trimmed().split(u'\n').last(), expected);
}

// remove_redundancy saves (spec §4.10, MindFormers CheckpointMonitor): each rank file holds only
// the slices assigned to it within its replica group, so a slice is read from whichever replica's
// file holds it. dp2 x tp2: w's row halves are replicated on ranks {0, 2} and {1, 3}; norm on all
// four. `holders` says which rank holds which w half and norm; the result must equal the full
// tensors whatever replica saved them, and a slice no replica saved is a gap naming the slice.
void TestDistributed::removeRedundancy_data() {
    QTest::addColumn<QString>("format");
    QTest::addColumn<std::vector<int>>("wHalf0");  // ranks holding rows 0:4 of w
    QTest::addColumn<std::vector<int>>("wHalf1");  // ranks holding rows 4:8
    QTest::addColumn<std::vector<int>>("norm");
    QTest::addColumn<QString>("expected");  // empty: opens and reassembles
    QTest::newRow("lowest replicas, safetensors") << u"safetensors"_qs << std::vector<int>{0}
                                                  << std::vector<int>{1} << std::vector<int>{0} << QString();
    QTest::newRow("higher replicas, safetensors") << u"safetensors"_qs << std::vector<int>{2}
                                                  << std::vector<int>{3} << std::vector<int>{3} << QString();
    QTest::newRow("mixed, ckpt") << u"ckpt"_qs << std::vector<int>{2} << std::vector<int>{1}
                                 << std::vector<int>{1} << QString();
    QTest::newRow("one half saved twice") << u"safetensors"_qs << std::vector<int>{0, 2}
                                          << std::vector<int>{3} << std::vector<int>{2} << QString();
    QTest::newRow("a half no replica saved")
        << u"safetensors"_qs << std::vector<int>{0} << std::vector<int>{} << std::vector<int>{0}
        << u"elements [4:8, 0:4] of the full shape [8, 4] are not held by any rank file (the parameter is in "
           u"rank_0; layout dev_matrix [2, 2], tensor_map [0, -1]); the strategy places the missing slice on "
           u"rank_1, rank_3, and none of their files holds the parameter (the files were saved with "
           u"remove_redundancy, so each slice is in one replica's file only: is a rank file from another "
           u"save?)"_qs;
}

void TestDistributed::removeRedundancy() {
    QFETCH(QString, format);
    QFETCH(std::vector<int>, wHalf0);
    QFETCH(std::vector<int>, wHalf1);
    QFETCH(std::vector<int>, norm);
    QFETCH(QString, expected);
    QTemporaryDir dir;
    const fs::path root(dir.path().toStdString());
    const Box half0{{0, 0}, {4, 4}}, half1{{4, 0}, {8, 4}};
    std::vector<std::vector<test::FakeTensor>> ranks(4);
    for (int r = 0; r < 4; ++r) {
        if (std::ranges::count(wHalf0, r)) ranks[r].push_back(intTensor("w", {8, 4}, half0));
        if (std::ranges::count(wHalf1, r)) ranks[r].push_back(intTensor("w", {8, 4}, half1));
        if (std::ranges::count(norm, r)) ranks[r].push_back(intTensor("norm", {4}, whole({4}), 50));
        ranks[r].push_back(intTensor("global_step", {1}, whole({1}), 7));  // not in the layout: in every file
    }
    for (int r = 0; r < 4; ++r) {
        const fs::path folder = root / ("rank_" + std::to_string(r));
        fs::create_directories(folder);
        if (format == u"ckpt"_qs)
            test::writeCheckpoint(folder / "a.ckpt", ranks[r]);
        else
            test::writeSafetensors(folder / "a.safetensors", ranks[r],
                                   {{"format", "ms"}, {"remove_redundancy", "True"}});
    }
    writeText(root / "s.ckpt", strategyBytes({{"w", {2, 2}, {0, -1}}, {"norm", {2, 2}, {-1}}}));
    const auto before = test::treeDigest(root);
    auto source = openDistributedModel({root, root / "s.ckpt", {}, {}});
    QCOMPARE(test::treeDigest(root), before);
    if (!expected.isEmpty()) {
        QVERIFY(!source.has_value());
        QCOMPARE(source.error().code, ErrorCode::Mismatch);
        QVERIFY2(text(source.error()).contains(expected), source.error().describe().c_str());
        return;
    }
    QVERIFY2(source.has_value(), source ? "" : source.error().describe().c_str());
    const auto& tensors = (*source)->tensors();
    QCOMPARE(tensors.size(), size_t(3));
    std::map<std::string, size_t> index;
    for (size_t i = 0; i < tensors.size(); ++i) index[tensors[i].name] = i;
    QCOMPARE(tensors[index.at("w")].dims, (std::vector<int64_t>{8, 4}));
    QVERIFY(readAll(**source, index.at("w")) == positionalInts({8, 4}, whole({8, 4})));
    QVERIFY(rowBandsMatch(**source, index.at("w")));
    QVERIFY(readAll(**source, index.at("norm")) == positionalInts({4}, whole({4}), 50));
    QVERIFY(readAll(**source, index.at("global_step")) == positionalInts({1}, whole({1}), 7));
}

QTEST_GUILESS_MAIN(TestDistributed)
#include "tst_distributed.moc"
