// Shard folders with an index (core/lms/formats/ShardFolder.*): the Hugging Face index, MindSpore's
// param_name_map.json in both forms, hyper_param.safetensors, and every way map and files disagree.
#include "TestSupport.h"

#include "lms/formats/ShardFolder.h"

#include <QtTest>
#include <fstream>

namespace fs = std::filesystem;
using lms::test::FakeTensor;

namespace {

FakeTensor tensor(const std::string& name, std::vector<int64_t> dims, uint32_t seed) {
    int64_t n = 1;
    for (auto d : dims) n *= d;
    return {name, "Float32", dims,
            lms::test::floatBytes(lms::DType::Float32, lms::test::randomValues(size_t(n), seed))};
}

// Two shards: a.safetensors {x, y}, b.safetensors {z}; hyper_param.safetensors {step} when asked.
void writeShards(const fs::path& dir, bool hyper) {
    fs::create_directories(dir);
    lms::test::writeSafetensors(dir / "a.safetensors", {tensor("x", {4, 2}, 1), tensor("y", {3}, 2)});
    lms::test::writeSafetensors(dir / "b.safetensors", {tensor("z", {2, 2}, 3)});
    if (hyper)
        lms::test::writeSafetensors(dir / "hyper_param.safetensors",
                                    {{"step", "Int64", {}, std::vector<std::byte>(8)}});
}

void writeText(const fs::path& path, const std::string& text) {
    std::ofstream(path) << text;
}

const std::string kMap = R"({"x": "a.safetensors", "y": "a.safetensors", "z": "b.safetensors"})";
const std::string kHfIndex =
    R"({"metadata": {"total_size": 60}, "weight_map": {"x": "a.safetensors", "y": "a.safetensors", "z": "b.safetensors"}})";

}  // namespace

class TestShardFolder : public QObject {
    Q_OBJECT
private slots:
    void opens_data();
    void opens();
    void refusals_data();
    void refusals();
};

void TestShardFolder::opens_data() {
    QTest::addColumn<QString>("indexName");
    QTest::addColumn<QString>("index");
    QTest::addColumn<bool>("hyper");
    QTest::addColumn<QStringList>("names");
    const QStringList three{QStringLiteral("x"), QStringLiteral("y"), QStringLiteral("z")};
    QTest::newRow("HF index") << "model.safetensors.index.json" << QString::fromStdString(kHfIndex) << false
                              << three;
    QTest::newRow("flat param_name_map")
        << "param_name_map.json" << QString::fromStdString(kMap) << false << three;
    QTest::newRow("param_name_map with weight_map")
        << "param_name_map.json" << QString::fromStdString(kHfIndex) << false << three;
    QTest::newRow("hyper_param last") << "param_name_map.json" << QString::fromStdString(kMap) << true
                                      << (three + QStringList{QStringLiteral("step")});
}

void TestShardFolder::opens() {
    QFETCH(QString, indexName);
    QFETCH(QString, index);
    QFETCH(bool, hyper);
    QFETCH(QStringList, names);
    QTemporaryDir tmp;
    const fs::path dir = tmp.path().toStdString();
    writeShards(dir, hyper);
    writeText(dir / indexName.toStdString(), index.toStdString());
    QCOMPARE(lms::shardIndexFile(dir).filename().string(), indexName.toStdString());
    auto source = lms::openShardFolderSource(dir);
    QVERIFY2(source.has_value(), source ? "" : source.error().describe().c_str());
    QStringList got;
    for (const auto& t : (*source)->tensors()) got << QString::fromStdString(t.name);
    QCOMPARE(got, names);
    std::vector<std::byte> z((*source)->tensors()[2].byteSize);
    QVERIFY((*source)->read(2, z, nullptr).has_value());
    QCOMPARE(z, tensor("z", {2, 2}, 3).content);
}

void TestShardFolder::refusals_data() {
    QTest::addColumn<QString>("index");
    QTest::addColumn<QString>("extraFile");  // a further shard written into the folder
    QTest::addColumn<QString>("message");
    QTest::newRow("map names a missing file")
        << R"({"x": "a.safetensors", "y": "a.safetensors", "z": "c.safetensors"})" << QString()
        << "index names c.safetensors, which is not in the folder";
    QTest::newRow("tensor missing from its file")
        << R"({"x": "a.safetensors", "y": "a.safetensors", "z": "b.safetensors", "w": "b.safetensors"})"
        << QString()
        << "parameter 'w': the index puts this tensor in b.safetensors, but that file does not hold it";
    QTest::newRow("tensor in another file than the map says")
        << R"({"x": "b.safetensors", "y": "a.safetensors", "z": "b.safetensors"})" << QString()
        << "parameter 'x': the index puts this tensor in b.safetensors, but it is (also) here";
    QTest::newRow("tensor stored in two files")
        << QString::fromStdString(kMap) << QStringLiteral("c.safetensors")
        << "the folder holds c.safetensors, which the index does not name";
    QTest::newRow("tensor the map does not list")
        << R"({"x": "a.safetensors", "z": "b.safetensors"})" << QString()
        << "parameter 'y': the tensor is not in the index";
    QTest::newRow("file outside the folder")
        << R"({"x": "../a.safetensors", "y": "a.safetensors", "z": "b.safetensors"})" << QString()
        << "names a file outside the folder: ../a.safetensors";
    QTest::newRow("empty map") << "{}" << QString() << "the weight map is empty";
    QTest::newRow("not a file name") << R"({"x": 3})" << QString()
                                     << "parameter 'x': the map gives no file name";
    QTest::newRow("not JSON") << "{x" << QString() << "model.safetensors.index.json";
}

void TestShardFolder::refusals() {
    QFETCH(QString, index);
    QFETCH(QString, extraFile);
    QFETCH(QString, message);
    QTemporaryDir tmp;
    const fs::path dir = tmp.path().toStdString();
    writeShards(dir, false);
    if (!extraFile.isEmpty())
        lms::test::writeSafetensors(dir / extraFile.toStdString(), {tensor("x", {4, 2}, 1)});
    writeText(dir / "model.safetensors.index.json", index.toStdString());
    const auto before = lms::test::treeDigest(dir);
    auto source = lms::openShardFolderSource(dir);
    QVERIFY(!source.has_value());
    const auto text = QString::fromStdString(source.error().describe());
    QVERIFY2(text.contains(message), qPrintable(text));
    QCOMPARE(lms::test::treeDigest(dir), before);
}

QTEST_APPLESS_MAIN(TestShardFolder)
#include "tst_shardfolder.moc"
