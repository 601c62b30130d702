// The Strategy tab with a re-shard in the merge preview: beside the tensor as stored now, the
// drawing of how the destination ranks store it, each slice named by the file it goes to, for a
// distributed source and for a full checkpoint (which then lists the destination strategy); a
// destination strategy the merge cannot use says why; without one the second drawing is hidden.

#include "SliceDiagram.h"
#include "StrategyModel.h"
#include "StrategyTab.h"
#include "UiTestHelpers.h"
#include "lms/merge/Demo.h"

#include <QTableView>
#include <QTemporaryDir>
#include <QtTest>

using namespace lms;
using namespace lms::ui;
using namespace lms::ui::test;
namespace fs = std::filesystem;

namespace {

std::string layoutJson(const std::string& name, const std::string& dev, const std::string& map,
                       const std::string& shape) {
    return "\"" + name + "\": {\"dev_matrix\": [" + dev + "], \"tensor_map\": [" + map +
           "], \"tensor_shape\": [" + shape +
           "], \"field\": 0, \"opt_weight_shard_step\": 0, \"opt_weight_shard_size\": 0}";
}

void writeStrategyJson(const fs::path& file, const std::vector<std::string>& layouts) {
    std::string items;
    for (const auto& layout : layouts) items += (items.empty() ? "" : ", ") + layout;
    writeText(file, R"({"current_stage": 0, "parallel_strategy_item": {}, "parallel_layout_item": {)" +
                        items + R"(}, "parallel_layout_value_item": {}})");
}

const char* kWq = "model.layers.0.attention.wq.weight";
const char* kWo = "model.layers.0.attention.wo.weight";
const char* kNorm = "model.norm_out.weight";
const char* kLoraA = "model.layers.0.attention.wq.mindpet_delta_lora_a";

}  // namespace

class TestStrategyTab : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void destinationBesideTheSource_data();
    void destinationBesideTheSource();
    void unusableDestinationSaysWhy();

private:
    std::shared_ptr<const Resolution> previewOf(const std::shared_ptr<const LoadedModel>& model,
                                                const fs::path& dstStrategy) const;
    std::vector<std::string> boxes(const SliceDiagram* diagram) const;

    QTemporaryDir m_dir;
    DemoInfo m_demo;
    fs::path m_dst4;  // 4 devices: wq by rows, wo on a 2×2 grid, a LoRA tensor's layout
};

void TestStrategyTab::initTestCase() {
    auto demo = writeDemo(m_dir.filePath(QStringLiteral("demo")).toStdString());
    QVERIFY2(demo.has_value(), demo ? "" : demo.error().describe().c_str());
    m_demo = *demo;
    m_dst4 = fs::path(m_dir.path().toStdString()) / "dst_strategy.json";
    writeStrategyJson(m_dst4,
                      {layoutJson(kWq, "4", "0, -1", "32, 32"), layoutJson(kWo, "2, 2", "1, 0", "32, 32"),
                       layoutJson(kLoraA, "4", "-1, 0", "4, 32")});
}

std::shared_ptr<const Resolution> TestStrategyTab::previewOf(const std::shared_ptr<const LoadedModel>& model,
                                                             const fs::path& dstStrategy) const {
    MergeRequest request;
    request.source.path = toPath(model->path);
    if (model->isDistributed()) request.strategy = {StrategyMode::Given, toPath(model->strategyArgument)};
    request.destination.dir = fs::path(m_dir.path().toStdString()) / "out";
    request.destination.strategy = dstStrategy;
    request.scaling.spec.scaling = 2;
    return std::make_shared<const Resolution>(resolve(request, model->source));
}

std::vector<std::string> TestStrategyTab::boxes(const SliceDiagram* diagram) const {
    std::vector<std::string> out;
    for (const auto& piece : diagram->pieces()) out.push_back(piece.box.text());
    return out;
}

void TestStrategyTab::destinationBesideTheSource_data() {
    QTest::addColumn<bool>("distributed");
    QTest::newRow("distributed source (2 ranks)") << true;
    QTest::newRow("full checkpoint") << false;
}

void TestStrategyTab::destinationBesideTheSource() {
    QFETCH(bool, distributed);
    auto model = open(openOf(distributed ? m_demo.distributedDir : m_demo.fullCheckpoint));
    QVERIFY(model);
    StrategyTab tab;
    tab.setModel(model);
    QVERIFY(tab.destinationDiagram()->isHidden());
    const auto preview = previewOf(model, m_dst4);
    QVERIFY(preview->ok());
    tab.setMergePreview(preview);
    QVERIFY(!tab.destinationDiagram()->isHidden());
    QCOMPARE(tab.listsDestinationStrategy(), !distributed);
    // A full checkpoint lists the destination's layouts; a distributed one keeps its own 69.
    QCOMPARE(tab.view()->model()->rowCount(), distributed ? 69 : 3);
    QCOMPARE(tab.diagram()->caption(), QStringLiteral("As stored now"));
    QCOMPARE(tab.destinationDiagram()->caption(),
             QStringLiteral("As the merge writes it (dst_strategy.json)"));

    // wq by rows over 4 ranks, each slice named by its file.
    QVERIFY(tab.selectParameter(QString::fromLatin1(kWq)));
    QCOMPARE(boxes(tab.destinationDiagram()),
             (std::vector<std::string>{"[0:8, 0:32]", "[8:16, 0:32]", "[16:24, 0:32]", "[24:32, 0:32]"}));
    QCOMPARE(tab.destinationDiagram()->labels(),
             (QStringList{
                 QStringLiteral("rank_0/checkpoint_0.ckpt"), QStringLiteral("rank_1/checkpoint_1.ckpt"),
                 QStringLiteral("rank_2/checkpoint_2.ckpt"), QStringLiteral("rank_3/checkpoint_3.ckpt")}));
    if (distributed) {  // the source drawing is the source's own 2 slices, the full file its one file
        QCOMPARE(tab.diagram()->pieces().size(), size_t(2));
    } else {
        QCOMPARE(boxes(tab.diagram()), (std::vector<std::string>{"[0:32, 0:32]"}));
        QCOMPARE(tab.diagram()->labels(), QStringList{QStringLiteral("model.ckpt")});
    }

    // wo on a 2×2 device grid: dim 0 by axis 1, dim 1 by axis 0 (counted from the right).
    QVERIFY(tab.selectParameter(QString::fromLatin1(kWo)));
    QCOMPARE(boxes(tab.destinationDiagram()),
             (std::vector<std::string>{"[0:16, 0:16]", "[0:16, 16:32]", "[16:32, 0:16]", "[16:32, 16:32]"}));
    QCOMPARE(tab.destinationDiagram()->pieces()[1].ranks, (std::vector<int64_t>{1}));
    QCOMPARE(tab.destinationDiagram()->pieces()[2].ranks, (std::vector<int64_t>{2}));

    if (distributed) {
        // Not in the destination strategy: whole on every destination rank.
        QVERIFY(tab.selectParameter(QString::fromLatin1(kNorm)));
        QCOMPARE(boxes(tab.destinationDiagram()), (std::vector<std::string>{"[0:32]"}));
        QCOMPARE(tab.destinationDiagram()->labels(), QStringList{QStringLiteral("ranks 0–3")});
    }
    // A LoRA tensor is not written at all, whatever the destination says of it.
    QVERIFY(tab.selectParameter(QString::fromLatin1(kLoraA)));
    QVERIFY(tab.destinationDiagram()->pieces().empty());
    QCOMPARE(tab.destinationDiagram()->message(),
             QStringLiteral("%1 is not written: the merge drops LoRA and optimizer-state tensors.")
                 .arg(QString::fromLatin1(kLoraA)));

    // Without a destination strategy the second drawing goes, and a full checkpoint lists nothing.
    tab.setMergePreview(previewOf(model, {}));
    QVERIFY(tab.destinationDiagram()->isHidden());
    QVERIFY(!tab.listsDestinationStrategy());
    QCOMPARE(tab.diagram()->caption(), QString());
    QCOMPARE(tab.view()->model()->rowCount(), distributed ? 69 : 0);
}

void TestStrategyTab::unusableDestinationSaysWhy() {
    const fs::path pipeline = fs::path(m_dir.path().toStdString()) / "pipeline_strategy.json";
    writeStrategyJson(pipeline, {layoutJson(std::string("0-") + kWq, "2", "0, -1", "32, 32"),
                                 layoutJson(std::string("1-") + kWo, "2", "0, -1", "32, 32")});
    auto model = open(openOf(m_demo.distributedDir));
    QVERIFY(model);
    StrategyTab tab;
    tab.setModel(model);
    const auto preview = previewOf(model, pipeline);
    QVERIFY(!preview->ok());
    tab.setMergePreview(preview);
    QVERIFY(!tab.destinationDiagram()->isHidden());
    QVERIFY(tab.selectParameter(QString::fromLatin1(kWq)));
    QVERIFY(tab.destinationDiagram()->pieces().empty());
    QCOMPARE(
        tab.destinationDiagram()->message(),
        QStringLiteral("The merge cannot re-shard. Re-sharding into a pipeline-parallel destination is not "
                       "supported; give a single-stage strategy (file %1, parameter dst_ckpt_strategy).")
            .arg(qs(pipeline)));
    QCOMPARE(tab.diagram()->pieces().size(), size_t(2));  // the source still drawn
}

QTEST_MAIN(TestStrategyTab)
#include "tst_strategytab.moc"
