// Distributed checkpoints as one full model (spec §4.11, §4.12): rank folders, file choice,
// reassembly from slices (model parallel, optimizer shards, pipeline stages), parameters
// without layout, and the refusals (missing rank, frozen sharded weights, bad shapes).
#include "lms/Distributed.h"

#include "TestSupport.h"
#include "lms/Json.h"

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

// A ParallelStrategyMap exactly as MindSpore's C++ writer lays it out (spec §2.1).
std::string strategyBytes(const std::vector<LayoutSpec>& layouts, int stage = 0) {
    Pb file;
    file.integer(1, 1);
    Pb strategys, item;
    strategys.integer(1, stage).message(2, repeated({1, 2}));
    item.message(1, "MatMul-op").message(2, strategys.bytes);
    file.message(2, item.bytes);
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
    QVERIFY(notes[2].find("1 parameter(s) of the strategy are not in the rank files") != std::string::npos);

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
        << u"parameter 'w': rank_1 stores shape [4, 3], but with dev_matrix [2] and tensor_map [0, -1] it should hold slice [4:8, 0:4]"_qs;
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

QTEST_GUILESS_MAIN(TestDistributed)
#include "tst_distributed.moc"
