// MindFormers Checkpoint 2.0 iterations (core/lms/distributed/Checkpoint2.*): slice ids, reassembly through
// metadata.json, saves without it, and every way the chunk cover or the files can disagree.
#include "TestSupport.h"

#include "lms/base/Json.h"
#include "lms/distributed/Checkpoint2.h"
#include "lms/formats/Source.h"
#include "lms/merge/Request.h"

#include <QtTest>
#include <fstream>
#include <functional>

namespace fs = std::filesystem;
using lms::JsonValue;
using lms::test::FakeTensor;

namespace {

struct Ck2Tensor {
    std::string name;
    std::vector<int64_t> shape;
    std::vector<int64_t> fragments;
    bool optimizer = false;  // stored in the -opt- files
};

using MetaEdit = std::function<void(JsonValue&)>;

std::vector<int64_t> unravel(int64_t id, const std::vector<int64_t>& grid) {
    std::vector<int64_t> out(grid.size());
    for (size_t d = grid.size(); d-- > 0;) out[d] = id % grid[d], id /= grid[d];
    return out;
}

// Values of block `id` (row-major) of a 1-D or 2-D tensor of `full` values.
std::vector<float> block(const std::vector<float>& full, const Ck2Tensor& t, int64_t id) {
    const auto at = unravel(id, t.fragments);
    const int64_t rows = t.shape[0] / t.fragments[0];
    const int64_t cols = t.shape.size() > 1 ? t.shape[1] / t.fragments[1] : 1;
    const int64_t fullCols = t.shape.size() > 1 ? t.shape[1] : 1;
    std::vector<float> out;
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c)
            out.push_back(
                full[size_t((at[0] * rows + r) * fullCols + (t.shape.size() > 1 ? at[1] * cols : 0) + c)]);
    return out;
}

std::string shardName(bool opt, int64_t rank, int64_t ranks) {
    char name[64];
    std::snprintf(name, sizeof name, "llama-%s-%07lld-%07lld.safetensors", opt ? "opt" : "model",
                  static_cast<long long>(rank), static_cast<long long>(ranks));
    return name;
}

JsonValue ints(const std::vector<int64_t>& v) {
    JsonValue a = JsonValue::array();
    for (auto x : v) a.push_back(x);
    return a;
}

// Writes an iteration folder of `ranks` ranks; slice id s is held by every rank r with
// r % cells == s. Returns the full values by name.
std::map<std::string, std::vector<float>> writeIteration(const fs::path& dir, int64_t ranks,
                                                         const std::vector<Ck2Tensor>& tensors,
                                                         bool metadata = true, const MetaEdit& edit = {}) {
    fs::create_directories(dir);
    std::map<std::string, std::vector<float>> full;
    std::vector<std::vector<FakeTensor>> model(static_cast<size_t>(ranks)), opt(static_cast<size_t>(ranks));
    JsonValue dict = JsonValue::object(), storage = JsonValue::object();
    uint32_t seed = 7;
    for (const auto& t : tensors) {
        int64_t count = 1, cells = 1;
        for (auto d : t.shape) count *= d;
        for (auto f : t.fragments) cells *= f;
        full[t.name] = lms::test::randomValues(size_t(count), seed++);
        JsonValue chunks = JsonValue::array();
        std::vector<int64_t> local = t.shape;
        for (size_t d = 0; d < local.size(); ++d) local[d] /= t.fragments[d];
        for (int64_t id = 0; id < cells; ++id) {
            JsonValue chunk;
            chunk.set("global_offset", ints({id})).set("local_shape", ints(local));
            chunks.push_back(chunk);
            JsonValue holders = JsonValue::array();
            for (int64_t r = id; r < ranks; r += cells) {
                (t.optimizer ? opt : model)[size_t(r)].push_back(
                    {t.name, "Float32", local,
                     lms::test::floatBytes(lms::DType::Float32, block(full[t.name], t, id))});
                JsonValue holder;
                holder.set("file_name", shardName(t.optimizer, r, ranks)).set("storage_rank", r);
                holders.push_back(holder);
            }
            storage.set("('" + t.name + "', (" + std::to_string(id) + ",))", holders);
        }
        JsonValue props;
        props.set("dtype", "Float32").set("replica_id", 0);
        JsonValue entry;
        entry.set("properties", props)
            .set("global_shape", ints(t.shape))
            .set("axis_fragmentations", ints(t.fragments));
        entry.set("layout", nullptr).set("chunk", chunks);
        dict.set(t.name, entry);
    }
    for (int64_t r = 0; r < ranks; ++r) {
        lms::test::writeSafetensors(dir / shardName(false, r, ranks), model[size_t(r)]);
        if (!opt[size_t(r)].empty())
            lms::test::writeSafetensors(dir / shardName(true, r, ranks), opt[size_t(r)]);
    }
    JsonValue meta;
    meta.set("state_dict_metadata", dict).set("storage_data", storage);
    if (edit) edit(meta);
    if (metadata) std::ofstream(dir / "metadata.json") << lms::toJson(meta);
    return full;
}

std::vector<float> readAll(const lms::ModelSource& source, size_t index) {
    std::vector<std::byte> bytes(source.tensors()[index].byteSize);
    auto st = source.read(index, bytes, nullptr);
    if (!st) qWarning("%s", st.error().describe().c_str());
    return lms::test::bytesToFloats(lms::DType::Float32, bytes);
}

const std::vector<Ck2Tensor> kModel{
    {"embedding", {8, 4}, {2, 1}},  // vocab parallel
    {"wq", {6, 4}, {1, 2}},         // column cut
    {"grid", {4, 6}, {2, 2}},       // both axes
    {"norm", {4}, {1}},             // replicated on every rank
    {"adam_m.wq", {6, 4}, {1, 2}, true},
};

}  // namespace

class TestCheckpoint2 : public QObject {
    Q_OBJECT
private slots:
    void sliceOffset_data();
    void sliceOffset();
    void reassembles_data();
    void reassembles();
    void readsRowBlocksAcrossPieces();
    void tracker_data();
    void tracker();
    void refusals_data();
    void refusals();
    void withoutMetadata();
    void adapterIsAnIteration_data();
    void adapterIsAnIteration();
};

void TestCheckpoint2::sliceOffset_data() {
    QTest::addColumn<qint64>("id");
    QTest::addColumn<std::vector<int64_t>>("fragments");
    QTest::addColumn<std::vector<int64_t>>("local");
    QTest::addColumn<std::vector<int64_t>>("expected");  // empty: refused
    using V = std::vector<int64_t>;
    QTest::newRow("first") << qint64(0) << V{2, 1} << V{64, 32} << V{0, 0};
    QTest::newRow("rows") << qint64(1) << V{2, 1} << V{64, 32} << V{64, 0};
    QTest::newRow("columns") << qint64(1) << V{1, 2} << V{32, 16} << V{0, 16};
    QTest::newRow("grid last axis fastest") << qint64(5) << V{2, 3} << V{4, 2} << V{4, 4};
    QTest::newRow("3-D") << qint64(7) << V{2, 2, 2} << V{1, 2, 3} << V{1, 2, 3};
    QTest::newRow("scalar") << qint64(0) << V{} << V{} << V{};
    QTest::newRow("id past the grid") << qint64(4) << V{2, 2} << V{1, 1} << V{};
    QTest::newRow("negative id") << qint64(-1) << V{2} << V{1} << V{};
    QTest::newRow("zero fragments") << qint64(0) << V{0} << V{1} << V{};
}

void TestCheckpoint2::sliceOffset() {
    QFETCH(qint64, id);
    QFETCH(std::vector<int64_t>, fragments);
    QFETCH(std::vector<int64_t>, local);
    QFETCH(std::vector<int64_t>, expected);
    auto offset = lms::sliceOffset(id, fragments, local);
    if (expected.empty() && !fragments.empty()) {
        QVERIFY(!offset.has_value());
        return;
    }
    QVERIFY2(offset.has_value(), offset ? "" : offset.error().message.c_str());
    QCOMPARE(*offset, expected);
}

void TestCheckpoint2::reassembles_data() {
    QTest::addColumn<int>("ranks");
    QTest::newRow("2 ranks") << 2;
    QTest::newRow("4 ranks (grid on 4, the rest replicated)") << 4;
    QTest::newRow("8 ranks (every block replicated)") << 8;
}

void TestCheckpoint2::reassembles() {
    QFETCH(int, ranks);
    QTemporaryDir tmp;
    const fs::path dir = fs::path(tmp.path().toStdString()) / "iteration_00000010";
    std::vector<Ck2Tensor> model = kModel;
    if (ranks == 2) model.erase(model.begin() + 2);  // a 2x2 grid needs 4 ranks
    auto full = writeIteration(dir, ranks, model);
    std::vector<std::string> notes;
    auto source = lms::openCheckpoint2Source(dir, &notes);
    QVERIFY2(source.has_value(), source ? "" : source.error().describe().c_str());
    const auto& tensors = (*source)->tensors();
    QCOMPARE(tensors.size(), model.size() - 1);  // adam_m.wq lives in the -opt- files
    for (size_t i = 0; i < tensors.size(); ++i) {
        QCOMPARE(tensors[i].name, model[i].name);
        QCOMPARE(tensors[i].dims, model[i].shape);
        QCOMPARE(readAll(**source, i), full[model[i].name]);
    }
    QCOMPARE((*source)->inputFiles().size(), size_t(ranks));
    QVERIFY(!notes.empty());
}

void TestCheckpoint2::readsRowBlocksAcrossPieces() {
    QTemporaryDir tmp;
    const fs::path dir = fs::path(tmp.path().toStdString()) / "it";
    auto full = writeIteration(dir, 4, {{"grid", {8, 6}, {2, 2}}});
    auto source = lms::openCheckpoint2Source(dir);
    QVERIFY(source.has_value());
    for (auto [begin, end] : std::vector<std::pair<int64_t, int64_t>>{{0, 3}, {3, 5}, {5, 8}, {2, 6}}) {
        std::vector<std::byte> rows(size_t(end - begin) * 6 * 4);
        QVERIFY((*source)->readRows(0, begin, end, rows, nullptr).has_value());
        const auto values = lms::test::bytesToFloats(lms::DType::Float32, rows);
        QCOMPARE(values,
                 std::vector<float>(full["grid"].begin() + begin * 6, full["grid"].begin() + end * 6));
    }
}

void TestCheckpoint2::tracker_data() {
    QTest::addColumn<QString>("tracker");
    QTest::addColumn<QString>("expected");  // iteration folder name, or an error fragment
    QTest::newRow("no newline") << "20"
                                << "iteration_00000020";
    QTest::newRow("newline") << "20\n"
                             << "iteration_00000020";
    QTest::newRow("names a missing iteration") << "30"
                                               << "does not exist";
    QTest::newRow("not a number") << "latest"
                                  << "does not hold an iteration number";
    QTest::newRow("empty") << ""
                           << "does not hold an iteration number";
    QTest::newRow("two numbers") << "20 30"
                                 << "does not hold an iteration number";
}

void TestCheckpoint2::tracker() {
    QFETCH(QString, tracker);
    QFETCH(QString, expected);
    QTemporaryDir tmp;
    const fs::path root = tmp.path().toStdString();
    writeIteration(root / "iteration_00000020", 2, {{"w", {4, 2}, {2, 1}}});
    writeIteration(root / "iteration_00000010", 2, {{"w", {4, 2}, {2, 1}}});
    std::ofstream(root / "latest_checkpointed_iteration.txt") << tracker.toStdString();
    QVERIFY(lms::looksLikeCheckpoint2(root));
    auto dir = lms::checkpoint2IterationDir(root);
    if (expected.startsWith(QStringLiteral("iteration_"))) {
        QVERIFY2(dir.has_value(), dir ? "" : dir.error().describe().c_str());
        QCOMPARE(QString::fromStdString(dir->filename().string()), expected);
        QVERIFY(lms::openCheckpoint2Source(root).has_value());
    } else {
        QVERIFY(!dir.has_value());
        QVERIFY2(QString::fromStdString(dir.error().message).contains(expected), dir.error().message.c_str());
        QVERIFY(!lms::openCheckpoint2Source(root).has_value());
    }
}

void TestCheckpoint2::refusals_data() {
    QTest::addColumn<MetaEdit>("edit");
    QTest::addColumn<QString>("removeFile");
    QTest::addColumn<QString>("message");
    auto chunks = [](JsonValue& m, const char* name) -> JsonValue::Array& {
        return *m.find("state_dict_metadata")->find(name)->find("chunk")->asArray();
    };
    QTest::newRow("gap: a block no chunk names")
        << MetaEdit([=](JsonValue& m) { chunks(m, "embedding").pop_back(); }) << QString()
        << "metadata.json: parameter 'embedding': elements [4:8, 0:4] of the full shape [8, 4] are not held "
           "by any";
    QTest::newRow("overlap: one block twice")
        << MetaEdit([=](JsonValue& m) { chunks(m, "embedding")[1] = chunks(m, "embedding")[0]; }) << QString()
        << "metadata.json: parameter 'embedding': elements [0:4, 0:4] are held by more than one";
    QTest::newRow("local shape that is not what the file stores") << MetaEdit([=](JsonValue& m) {
        chunks(m, "wq")[0].set("local_shape", ints({6, 3}));
    }) << QString() << "stored shape [6,2]";
    QTest::newRow("slice id outside the grid")
        << MetaEdit([=](JsonValue& m) { chunks(m, "wq")[1].set("global_offset", ints({2})); }) << QString()
        << "outside the grid";
    QTest::newRow("element offsets instead of a slice id") << MetaEdit([=](JsonValue& m) {
        chunks(m, "wq")[1].set("global_offset", ints({0, 2}));
    }) << QString() << "one slice id";
    QTest::newRow("storage key missing") << MetaEdit([](JsonValue& m) {
        auto& s = *m.find("storage_data")->asObject();
        std::erase_if(s, [](const JsonValue::Member& e) { return e.first == "('wq', (1,))"; });
    }) << QString() << "storage_data has no file";
    QTest::newRow("dtype differs from the file") << MetaEdit([](JsonValue& m) {
        m.find("state_dict_metadata")->find("norm")->find("properties")->set("dtype", "BFloat16");
    }) << QString() << "metadata.json says BFloat16";
    QTest::newRow("not JSON") << MetaEdit([](JsonValue& m) { m = JsonValue("x"); }) << QString()
                              << "lacks state_dict_metadata";
    QTest::newRow("rank file missing")
        << MetaEdit() << QStringLiteral("llama-model-0000001-0000002.safetensors")
        << "rank 1 of 2 is missing";
}

void TestCheckpoint2::refusals() {
    QFETCH(MetaEdit, edit);
    QFETCH(QString, removeFile);
    QFETCH(QString, message);
    QTemporaryDir tmp;
    const fs::path dir = fs::path(tmp.path().toStdString()) / "it";
    std::vector<Ck2Tensor> model = kModel;
    model.erase(model.begin() + 2);
    writeIteration(dir, 2, model, true, edit);
    if (!removeFile.isEmpty()) fs::remove(dir / removeFile.toStdString());
    const auto before = lms::test::treeDigest(dir);
    auto source = lms::openCheckpoint2Source(dir);
    QVERIFY(!source.has_value());
    const auto text = QString::fromStdString(source.error().describe());
    QVERIFY2(text.contains(message), qPrintable(text));
    QVERIFY2(!source.error().file.empty(), qPrintable(text));
    QCOMPARE(lms::test::treeDigest(dir), before);
}

void TestCheckpoint2::withoutMetadata() {
    QTemporaryDir tmp;
    const fs::path one = fs::path(tmp.path().toStdString()) / "single";
    auto full = writeIteration(
        one, 1, {{"a", {4, 2}, {1, 1}}, {"b", {3}, {1}}, {"adam_m.a", {4, 2}, {1, 1}, true}}, false);
    auto source = lms::openCheckpoint2Source(one);
    QVERIFY2(source.has_value(), source ? "" : source.error().describe().c_str());
    QCOMPARE((*source)->tensors().size(), size_t(2));
    QCOMPARE(readAll(**source, 0), full["a"]);
    QCOMPARE(readAll(**source, 1), full["b"]);

    const fs::path sharded = fs::path(tmp.path().toStdString()) / "sharded";
    writeIteration(sharded, 2, {{"w", {4, 2}, {2, 1}}}, false);
    auto refused = lms::openCheckpoint2Source(sharded);
    QVERIFY(!refused.has_value());
    QVERIFY2(QString::fromStdString(refused.error().message).contains(QStringLiteral("has no metadata.json")),
             refused.error().message.c_str());
    QCOMPARE(refused.error().parameter, std::string("w"));
}

// The adapter of a merge may itself be a Checkpoint 2.0 save (issue 13: a save_trainable_only
// iteration holds only the LoRA tensors): B split by rows over the ranks, A replicated. The merged
// base equals W + s·B·A computed here in double, whichever way the ranks cut B.
void TestCheckpoint2::adapterIsAnIteration_data() {
    QTest::addColumn<int>("ranks");
    QTest::addColumn<bool>("saveRoot");  // give the save root (tracker) instead of the iteration
    QTest::newRow("2 ranks, iteration folder") << 2 << false;
    QTest::newRow("3 ranks, save root") << 3 << true;
    QTest::newRow("1 rank, iteration folder") << 1 << false;
}

void TestCheckpoint2::adapterIsAnIteration() {
    QFETCH(int, ranks);
    QFETCH(bool, saveRoot);
    QTemporaryDir tmp;
    const fs::path root = tmp.path().toStdString();
    const int64_t out = 6, in = 4, r = 2;
    const auto base = lms::test::randomValues(size_t(out * in), 99);
    lms::test::writeCheckpoint(
        root / "base.ckpt",
        {{"l0.wq.weight", "Float32", {out, in}, lms::test::floatBytes(lms::DType::Float32, base)},
         {"l0.norm", "Float32", {in}, lms::test::floatBytes(lms::DType::Float32, {1, 2, 3, 4})}});
    const fs::path iteration = root / "save" / "iteration_00000020";
    auto lora = writeIteration(
        iteration, ranks,
        {{"l0.wq.lora_A.weight", {r, in}, {1, 1}}, {"l0.wq.lora_B.weight", {out, r}, {ranks, 1}}});
    std::ofstream(root / "save" / "latest_checkpointed_iteration.txt") << "20";

    lms::MergeRequest request;
    request.source.path = root / "base.ckpt";
    request.source.adapter = saveRoot ? root / "save" : iteration;
    request.destination.dir = root / "out";
    request.scaling.spec.scaling = 2.0;
    request.scaling.provenance = "from --lora_scaling 2";
    const auto resolution = lms::resolve(request);
    QVERIFY2(resolution.ok(),
             resolution.refusals.empty() ? "" : resolution.refusals[0].error.describe().c_str());
    QCOMPARE(resolution.job->plan.okPairs, size_t(1));
    auto report = lms::run(*resolution.job);
    QVERIFY2(report.has_value(), report ? "" : report.error().describe().c_str());

    auto merged = lms::openFullSource(resolution.job->outputFiles.front());
    QVERIFY2(merged.has_value(), merged ? "" : merged.error().describe().c_str());
    QCOMPARE((*merged)->tensors().size(), size_t(2));  // the LoRA tensors are folded away
    const auto values = readAll(**merged, 0);
    const auto& A = lora["l0.wq.lora_A.weight"];
    const auto& B = lora["l0.wq.lora_B.weight"];
    for (int64_t o = 0; o < out; ++o)
        for (int64_t i = 0; i < in; ++i) {
            double delta = 0;
            for (int64_t k = 0; k < r; ++k) delta += double(B[size_t(o * r + k)]) * A[size_t(k * in + i)];
            const float expected = float(double(base[size_t(o * in + i)]) + 2.0 * delta);
            QVERIFY2(std::abs(values[size_t(o * in + i)] - expected) <= 1e-6f * (1 + std::abs(expected)),
                     qPrintable(QStringLiteral("[%1, %2]").arg(o).arg(i)));
        }
    QCOMPARE(readAll(**merged, 1), (std::vector<float>{1, 2, 3, 4}));
}

QTEST_APPLESS_MAIN(TestCheckpoint2)
#include "tst_checkpoint2.moc"
