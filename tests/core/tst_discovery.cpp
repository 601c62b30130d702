// Discovery (core/lms/merge/Discovery.h) over folder trees generated per row: the kind of a path, the
// rank folders and the file each contributes, and the strategy found near a model folder.
#include "TestSupport.h"
#include "lms/merge/Discovery.h"

#include <QTemporaryDir>
#include <QtTest>
#include <fstream>

using namespace lms;
using namespace lms::test;

namespace {

namespace fs = std::filesystem;

QStringList strings(std::initializer_list<const char*> items) {
    QStringList list;
    for (const char* item : items) list << QString::fromUtf8(item);
    return list;
}

// Creates every file of `files` (relative to `root`); names ending in '/' are folders.
void makeTree(const fs::path& root, const QStringList& files) {
    for (const auto& file : files) {
        const fs::path path = root / file.toStdString();
        if (file.endsWith(u'/')) {
            fs::create_directories(path);
            continue;
        }
        fs::create_directories(path.parent_path());
        std::ofstream(path) << "x";
    }
}

const char* kindName(PathKind kind) {
    switch (kind) {
        case PathKind::Missing:
            return "missing";
        case PathKind::FullCheckpoint:
            return "full";
        case PathKind::DistributedFolder:
            return "distributed";
        case PathKind::MergedOutput:
            return "merged-output";
        case PathKind::Adapter:
            return "adapter";
        case PathKind::StrategyFile:
            return "strategy";
        case PathKind::Folder:
            return "folder";
        case PathKind::OtherFile:
            return "other";
        case PathKind::Checkpoint2:
            return "checkpoint2";
        case PathKind::ShardFolder:
            return "shards";
    }
    return "?";
}

}  // namespace

class TestDiscovery : public QObject {
    Q_OBJECT

private slots:
    void names_data() {
        QTest::addColumn<QString>("name");
        QTest::addColumn<bool>("rank");
        QTest::addColumn<bool>("checkpoint");
        QTest::addColumn<bool>("strategy");
        QTest::newRow("rank folder") << "rank_12" << true << false << false;
        QTest::newRow("rank without digits") << "rank_x" << false << false << false;
        QTest::newRow("rank with suffix") << "rank_1a" << false << false << false;
        QTest::newRow("rank with 10 digits") << "rank_0123456789" << false << false << false;
        QTest::newRow("ckpt upper case") << "model.CKPT" << false << true << false;
        QTest::newRow("safetensors") << "m.safetensors" << false << true << false;
        QTest::newRow("strategy ckpt") << "ckpt_strategy_rank_0.ckpt" << false << true << true;
        QTest::newRow("strategy json") << "merged_ckpt_strategy.json" << false << false << true;
        QTest::newRow("other json") << "config.json" << false << false << false;
    }
    void names() {
        QFETCH(QString, name);
        QFETCH(bool, rank);
        QFETCH(bool, checkpoint);
        QFETCH(bool, strategy);
        QCOMPARE(isRankFolderName(name.toStdString()), rank);
        QCOMPARE(isCheckpointFileName(name.toStdString()), checkpoint);
        QCOMPARE(isStrategyFileName(name.toStdString()), strategy);
    }

    void kinds_data() {
        QTest::addColumn<QStringList>("tree");
        QTest::addColumn<QString>("path");
        QTest::addColumn<QString>("kind");
        QTest::newRow("full file") << strings({"m.ckpt"}) << "m.ckpt"
                                   << "full";
        QTest::newRow("safetensors file") << strings({"m.safetensors"}) << "m.safetensors"
                                          << "full";
        QTest::newRow("missing") << QStringList() << "m.ckpt"
                                 << "missing";
        QTest::newRow("strategy file")
            << strings({"ckpt_strategy_rank_0.ckpt"}) << "ckpt_strategy_rank_0.ckpt"
            << "strategy";
        QTest::newRow("other file") << strings({"notes.txt"}) << "notes.txt"
                                    << "other";
        QTest::newRow("plain folder") << strings({"d/notes.txt"}) << "d"
                                      << "folder";
        QTest::newRow("a rank folder itself") << strings({"m/rank_0/a.ckpt"}) << "m/rank_0"
                                              << "folder";
        QTest::newRow("two ranks of .ckpt") << strings({"m/rank_0/a.ckpt", "m/rank_1/a.ckpt"}) << "m"
                                            << "distributed";
        QTest::newRow("ranks of .safetensors")
            << strings({"m/rank_0/a.safetensors", "m/rank_1/a.safetensors"}) << "m"
            << "distributed";
        QTest::newRow("our output: only rank_0, no strategy")
            << strings({"dst/rank_0/checkpoint_0.ckpt"}) << "dst"
            << "merged-output";
        QTest::newRow("only rank_0 with MindSpore's name, no strategy")
            << strings({"m/rank_0/llama-1_2.ckpt"}) << "m"
            << "distributed";
        QTest::newRow("our safetensors output") << strings({"dst/rank_0/checkpoint_0.safetensors"}) << "dst"
                                                << "merged-output";
        QTest::newRow("1-rank run with its strategy")
            << strings({"m/rank_0/a.ckpt", "m/strategy/ckpt_strategy_rank_0.ckpt"}) << "m"
            << "distributed";
        // A strategy beside the folder: the same as a run missing rank_1.. (bad_missing_rank), so
        // not taken for ours; the studio proposes destinations without a strategy near.
        QTest::newRow("only rank_0 of ours, ../strategy beside")
            << strings({"strategy/ckpt_strategy_rank_0.ckpt", "m_merged/rank_0/checkpoint_0.ckpt"})
            << "m_merged"
            << "distributed";
        QTest::newRow("our output with another prefix")
            << strings({"dst/rank_0/llama_0.safetensors"}) << "dst"
            << "merged-output";
        QTest::newRow("only rank_0, strategy folder inside")
            << strings({"m/rank_0/checkpoint_0.ckpt", "m/strategy/ckpt_strategy_rank_0.ckpt"}) << "m"
            << "distributed";
        QTest::newRow("only rank_0, strategy file inside")
            << strings({"m/rank_0/checkpoint_0.ckpt", "m/ckpt_strategy.ckpt"}) << "m"
            << "distributed";
        QTest::newRow("MindSpore's name ending in _0") << strings({"m/rank_0/llama-1_0.ckpt"}) << "m"
                                                       << "distributed";
        QTest::newRow("rank 10 of ours is not rank 0") << strings({"m/rank_0/checkpoint_10.ckpt"}) << "m"
                                                       << "distributed";
        QTest::newRow("two files in rank_0")
            << strings({"m/rank_0/checkpoint_0.ckpt", "m/rank_0/b_0.ckpt"}) << "m"
            << "distributed";
        QTest::newRow("our sharded output") << strings({"dst/rank_0/model-00001-of-00002.safetensors",
                                                        "dst/rank_0/model-00002-of-00002.safetensors",
                                                        "dst/rank_0/model.safetensors.index.json"})
                                            << "dst"
                                            << "merged-output";
        QTest::newRow("Checkpoint 2.0 save root")
            << strings({"save/latest_checkpointed_iteration.txt",
                        "save/iteration_00000010/model-0000000-0000002.safetensors"})
            << "save"
            << "checkpoint2";
        QTest::newRow("Checkpoint 2.0 iteration folder")
            << strings({"save/iteration_00000010/model-0000000-0000002.safetensors",
                        "save/iteration_00000010/metadata.json"})
            << "save/iteration_00000010"
            << "checkpoint2";
        QTest::newRow("HF shard folder")
            << strings({"hf/model-00001-of-00002.safetensors", "hf/model.safetensors.index.json"}) << "hf"
            << "shards";
        QTest::newRow("unified safetensors with param_name_map.json")
            << strings({"u/a.safetensors", "u/param_name_map.json"}) << "u"
            << "shards";
        QTest::newRow("only rank_1") << strings({"m/rank_1/a.ckpt"}) << "m"
                                     << "distributed";
        QTest::newRow("duplicate rank names") << strings({"m/rank_1/a.ckpt", "m/rank_01/a.ckpt"}) << "m"
                                              << "distributed";
    }
    void kinds() {
        QFETCH(QStringList, tree);
        QFETCH(QString, path);
        QFETCH(QString, kind);
        QTemporaryDir tmp;
        const fs::path root = tmp.path().toStdString();
        makeTree(root, tree);
        QCOMPARE(QString::fromLatin1(kindName(classifyPath(root / path.toStdString()))), kind);
    }

    // readIndex tells a LoRA-only adapter from a full checkpoint.
    void adapterByIndex() {
        QTemporaryDir tmp;
        const fs::path root = tmp.path().toStdString();
        const auto f32 = [](size_t n) { return floatBytes(DType::Float32, randomValues(n, 1)); };
        writeCheckpoint(root / "adapter.ckpt", {{"l0.wq.lora_a", "Float32", {2, 4}, f32(8)},
                                                {"l0.wq.lora_b", "Float32", {8, 2}, f32(16)},
                                                {"adam_m.l0.wq.lora_a", "Float32", {2, 4}, f32(8)}});
        writeCheckpoint(root / "full.ckpt", {{"l0.wq.weight", "Float32", {8, 4}, f32(32)},
                                             {"l0.wq.lora_a", "Float32", {2, 4}, f32(8)}});
        QCOMPARE(kindName(classifyPath(root / "adapter.ckpt", true)), "adapter");
        QCOMPARE(kindName(classifyPath(root / "adapter.ckpt", false)), "full");
        QCOMPARE(kindName(classifyPath(root / "full.ckpt", true)), "full");
    }

    void ranks_data() {
        QTest::addColumn<QStringList>("tree");
        QTest::addColumn<QString>("glob");
        QTest::addColumn<QStringList>("expected");  // "rank: picked (why)"
        QTest::newRow("numeric order, lexicographic pick")
            << strings({"rank_0/x-10_2.ckpt", "rank_0/x-9_2.ckpt", "rank_10/a.ckpt", "rank_2/notes.txt"})
            << ""
            << strings({"0: x-9_2.ckpt (lexicographically last of 2)",
                        "2:  (the rank folder holds no .ckpt or .safetensors file)",
                        "10: a.ckpt (the only checkpoint file)"});
        QTest::newRow("safetensors rank folders")
            << strings({"rank_0/a.safetensors", "rank_1/a.safetensors"}) << ""
            << strings({"0: a.safetensors (the only checkpoint file)",
                        "1: a.safetensors (the only checkpoint file)"});
        QTest::newRow("glob chooses") << strings({"rank_0/a-1.ckpt", "rank_0/b-1.ckpt"}) << "a-*"
                                      << strings({"0: a-1.ckpt (the only checkpoint file)"});
        QTest::newRow("glob of several") << strings({"rank_0/a-1.ckpt", "rank_0/a-2.ckpt", "rank_0/b.ckpt"})
                                         << "a-*" << strings({"0: a-2.ckpt (matches a-*)"});
    }
    void ranks() {
        QFETCH(QStringList, tree);
        QFETCH(QString, glob);
        QFETCH(QStringList, expected);
        QTemporaryDir tmp;
        const fs::path root = tmp.path().toStdString();
        makeTree(root, tree);
        auto entries = discoverRanks(root, glob.toStdString());
        QVERIFY2(entries.has_value(), entries ? "" : entries.error().describe().c_str());
        QStringList got;
        for (const auto& e : *entries)
            got << QStringLiteral("%1: %2 (%3)")
                       .arg(e.rank)
                       .arg(QString::fromStdString(e.picked.filename().string()),
                            QString::fromStdString(e.why));
        QCOMPARE(got, expected);
    }

    void strategy_data() {
        QTest::addColumn<QStringList>("tree");
        QTest::addColumn<QString>("found");  // relative to the root; "" = none
        QTest::addColumn<QString>("note");
        const QStringList ranks = strings({"model/rank_0/a.ckpt", "model/rank_1/a.ckpt"});
        QTest::newRow("model/strategy/")
            << ranks + strings({"model/strategy/ckpt_strategy_rank_0.ckpt"}) << "model/strategy"
            << "Using the strategy folder {root}/model/strategy.";
        QTest::newRow("../strategy/") << ranks + strings({"strategy/ckpt_strategy_rank_0.ckpt"}) << "strategy"
                                      << "Using the strategy folder {root}/strategy.";
        QTest::newRow("output/strategy/")
            << ranks + strings({"model/output/strategy/ckpt_strategy_rank_0.ckpt"}) << "model/output/strategy"
            << "Using the strategy folder {root}/model/output/strategy.";
        QTest::newRow("empty strategy folder is skipped")
            << ranks + strings({"model/strategy/", "s_strategy.json"}) << "s_strategy.json"
            << "Using the strategy file {root}/s_strategy.json.";
        QTest::newRow("merged file beside")
            << ranks + strings({"ckpt_strategy_rank_0.ckpt", "merged_ckpt_strategy.ckpt"})
            << "merged_ckpt_strategy.ckpt"
            << "Using the merged strategy {root}/merged_ckpt_strategy.ckpt.";
        QTest::newRow("several per-rank files beside")
            << ranks + strings({"ckpt_strategy_rank_0.ckpt", "ckpt_strategy_rank_1.ckpt"})
            << "ckpt_strategy_rank_0.ckpt"
            << "Using the strategy file {root}/ckpt_strategy_rank_0.ckpt. Several strategy files lie there; "
               "if the run "
               "used pipeline parallelism, choose their folder as the strategy instead.";
        QTest::newRow("none") << ranks << ""
                              << "";
    }
    void strategy() {
        QFETCH(QStringList, tree);
        QFETCH(QString, found);
        QFETCH(QString, note);
        QTemporaryDir tmp;
        const fs::path root = fs::path(tmp.path().toStdString()).lexically_normal();
        makeTree(root, tree);
        const auto result = findStrategyNear(root / "model");
        QCOMPARE(QString::fromStdString(result.path.string()),
                 found.isEmpty() ? QString() : QString::fromStdString((root / found.toStdString()).string()));
        QCOMPARE(QString::fromStdString(result.note),
                 note.replace(QStringLiteral("{root}"), QString::fromStdString(root.string())));
    }
};

QTEST_GUILESS_MAIN(TestDiscovery)
#include "tst_discovery.moc"
