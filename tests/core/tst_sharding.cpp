// Sharded safetensors output (core/lms/formats/Sharding.*): huggingface_hub's size units and split rule.
#include "lms/base/Json.h"
#include "lms/formats/Sharding.h"

#include <QtTest>

class TestSharding : public QObject {
    Q_OBJECT
private slots:
    void parseShardSize_data();
    void parseShardSize();
    void planShards_data();
    void planShards();
    void indexJson();
};

void TestSharding::parseShardSize_data() {
    QTest::addColumn<QString>("text");
    QTest::addColumn<qulonglong>("bytes");  // 0: refused
    QTest::newRow("bytes") << "12000" << 12000ull;
    QTest::newRow("KB is decimal") << "12KB" << 12000ull;
    QTest::newRow("lower case unit") << "5gb" << 5000000000ull;
    QTest::newRow("fraction") << "1.5MB" << 1500000ull;
    QTest::newRow("space before the unit") << "2 TB" << 2000000000000ull;
    QTest::newRow("truncated like int()") << "1.0000005KB" << 1000ull;
    QTest::newRow("KiB is not a unit") << "12KiB" << 0ull;
    QTest::newRow("bare unit") << "GB" << 0ull;
    QTest::newRow("zero") << "0" << 0ull;
    QTest::newRow("negative") << "-5GB" << 0ull;
    QTest::newRow("words") << "big" << 0ull;
    QTest::newRow("empty") << "" << 0ull;
}

void TestSharding::parseShardSize() {
    QFETCH(QString, text);
    QFETCH(qulonglong, bytes);
    auto got = lms::parseShardSize(text.toStdString());
    if (bytes == 0) {
        QVERIFY(!got.has_value());
        QCOMPARE(got.error().parameter, std::string("max_shard_size"));
        return;
    }
    QVERIFY2(got.has_value(), got ? "" : got.error().message.c_str());
    QCOMPARE(qulonglong(*got), bytes);
}

void TestSharding::planShards_data() {
    QTest::addColumn<std::vector<uint64_t>>("sizes");
    QTest::addColumn<qulonglong>("limit");
    QTest::addColumn<std::vector<size_t>>("shardOf");
    QTest::addColumn<int>("shards");
    using S = std::vector<uint64_t>;
    using K = std::vector<size_t>;
    // The example of split_state_dict_into_shards_factory's docstring: [6], [6+2], [6+2+2].
    QTest::newRow("huggingface example") << S{6, 6, 2, 6, 2, 2} << 10ull << K{0, 1, 1, 2, 2, 2} << 3;
    // A tensor over the limit is appended before the shard being filled.
    QTest::newRow("big tensor first") << S{2, 12, 3} << 10ull << K{1, 0, 1} << 2;
    QTest::newRow("exactly the limit stays") << S{5, 5} << 10ull << K{0, 0} << 1;
    QTest::newRow("one byte over") << S{5, 6} << 10ull << K{0, 1} << 2;
    QTest::newRow("all over the limit") << S{11, 12} << 10ull << K{0, 1} << 2;
    QTest::newRow("empty tensors") << S{0, 10, 0} << 10ull << K{0, 0, 0} << 1;
    QTest::newRow("no tensors") << S{} << 10ull << K{} << 0;
}

void TestSharding::planShards() {
    QFETCH(std::vector<uint64_t>, sizes);
    QFETCH(qulonglong, limit);
    QFETCH(std::vector<size_t>, shardOf);
    QFETCH(int, shards);
    const auto plan = lms::planShards(sizes, limit);
    QCOMPARE(plan.shardOf, shardOf);
    QCOMPARE(int(plan.fileNames.size()), shards);
    uint64_t total = 0;
    for (auto s : sizes) total += s;
    QCOMPARE(plan.totalSize, total);
    if (shards == 1) QCOMPARE(plan.fileNames[0], std::string("model.safetensors"));
    if (shards == 3) QCOMPARE(plan.fileNames[1], std::string("model-00002-of-00003.safetensors"));
}

void TestSharding::indexJson() {
    const auto plan = lms::planShards({8, 2, 4}, 10);
    const std::string json = lms::shardIndexJson({"lm_head.weight", "b\"q", "a.weight"}, plan);
    QCOMPARE(json, std::string("{\n  \"metadata\": {\n    \"total_size\": 14\n  },\n  \"weight_map\": {\n"
                               "    \"a.weight\": \"model-00002-of-00002.safetensors\",\n"
                               "    \"b\\\"q\": \"model-00001-of-00002.safetensors\",\n"
                               "    \"lm_head.weight\": \"model-00001-of-00002.safetensors\"\n  }\n}\n"));
    QVERIFY(lms::parseJson(json).has_value());
}

QTEST_APPLESS_MAIN(TestSharding)
#include "tst_sharding.moc"
