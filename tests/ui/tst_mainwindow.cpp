// The whole window driven like a person would: the demo opens and every tab lists the right
// rows; alpha and rank drive the scaling shown; a merge runs to 100 % and writes W + s·B·A;
// a cancelled merge leaves nothing behind; a bad file is reported in words and the window keeps
// working. Dialogs are answered through ScriptedPrompts.

#include "BrowserPanel.h"
#include "ChunkMapModel.h"
#include "EnglishPlurals.h"
#include "LogDock.h"
#include "LogModel.h"
#include "LogSink.h"
#include "LoraPairModel.h"
#include "LoraTab.h"
#include "MainWindow.h"
#include "MergePanel.h"
#include "Prompts.h"
#include "SliceDiagram.h"
#include "StrategyModel.h"
#include "StrategyTab.h"
#include "TensorTreeModel.h"
#include "TensorsTab.h"
#include "TestSupport.h"
#include "UiText.h"
#include "Widgets.h"
#include "lms/Version.h"
#include "lms/formats/Checkpoint.h"

#include <QAction>
#include <QComboBox>
#include <QDockWidget>
#include <QDoubleSpinBox>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QMimeData>
#include <QProgressBar>
#include <QPushButton>
#include <QRadioButton>
#include <QScrollArea>
#include <QScrollBar>
#include <QSettings>
#include <QSignalSpy>
#include <QSpinBox>
#include <QSplitter>
#include <QStandardPaths>
#include <QTabBar>
#include <QTabWidget>
#include <QTableView>
#include <QTemporaryDir>
#include <QToolButton>
#include <QTreeView>
#include <QtTest>
#include <cmath>

using namespace lms;
using namespace lms::ui;

namespace {

QString q(const std::filesystem::path& p) {
    return QString::fromStdString(p.string());
}

template <class T>
T* child(QObject* parent, const char* name) {
    auto* found = parent->findChild<T*>(QString::fromLatin1(name));
    if (!found) qWarning("no child %s", name);
    return found;
}

std::vector<float> readFloats(const CheckpointFile& file, const std::string& name) {
    const auto* info = file.find(name);
    if (!info) return {};
    auto bytes = file.readTensor(*info);
    if (!bytes) return {};
    std::vector<float> out(info->elementCount());
    widenToFloat(info->dtype, *bytes, out);
    return out;
}

}  // namespace

class TestMainWindow : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void init();
    void cleanup();
    void cleanupTestCase();

    void demoFillsEveryTab();
    void selectingATensorShowsItsStatistics();
    void findShortcutFiltersTensors();
    void alphaAndRankDriveTheScaling();
    void mergeRunsToCompletionAndWritesMergedValues();
    void mergeOfTheFullCheckpointAsksBeforeReplacing();
    void leavingAPairOutKeepsItsBase();
    void cancelledMergeLeavesNothingBehind();
    void badFileIsReportedAndTheWindowKeepsWorking();
    void droppingAFileOpensIt();
    void strategyFileOpensInTheStrategyTab();
    void reshardIsDrawnInTheStrategyTab();
    void checkpoint2ShowsItsChunkMap_data();
    void checkpoint2ShowsItsChunkMap();
    void aboutShowsTheVersion();
    void windowStateIsRestored();
    void everyInteractiveWidgetHasAName();
    void escapeCancelsARunningMerge();
    void openOutputFolderSaysWhereWhenItCannot();
    void adapterOpensWithTheModelAndRecentRestoresIt();
    void droppingAModelWithItsAdapterOpensThemTogether();
    void anotherModelResetsFilterAndPairs();
    void windowFitsSmallScreens_data();
    void windowFitsSmallScreens();

private:
    // Opens the demo in a fresh window and waits until it is shown.
    bool openDemo();
    bool openAndWait(const OpenRequest& request);
    QString merge(const QString& destination);
    // Types α and r into the Merge panel, as a user does.
    void typeScaling(double alpha, int rank);

    QTemporaryDir m_home;
    LogModel* m_log = nullptr;
    std::shared_ptr<LogSink> m_sink;
    ScriptedPrompts m_prompts;
    std::unique_ptr<MainWindow> m_window;
};

void TestMainWindow::initTestCase() {
    QStandardPaths::setTestModeEnabled(true);
    installEnglishPlurals();
    QCoreApplication::setOrganizationName(QStringLiteral("LoRA Merge Studio Tests"));
    QCoreApplication::setApplicationName(QStringLiteral("tst_mainwindow"));
    QSettings().clear();
    m_log = new LogModel(this);
    m_sink = installLogSink(m_log);
    setPrompts(&m_prompts);
}

void TestMainWindow::init() {
    m_prompts = ScriptedPrompts();
    m_window = std::make_unique<MainWindow>(m_log);
    m_window->show();
    QVERIFY(QTest::qWaitForWindowExposed(m_window.get()));
}

void TestMainWindow::cleanup() {
    if (m_window) {
        QTRY_VERIFY(!m_window->mergePanel()->isRunning());
        m_window->close();
        m_window.reset();
    }
}

void TestMainWindow::cleanupTestCase() {
    setPrompts(nullptr);
    removeLogSink(m_sink);
    QSettings().clear();
}

bool TestMainWindow::openDemo() {
    QSignalSpy shown(m_window.get(), &MainWindow::modelShown);
    m_window->openDemoWorkspace();
    if (!shown.wait(20000)) return false;
    return m_window->currentModel() && m_window->currentModel()->isDistributed();
}

bool TestMainWindow::openAndWait(const OpenRequest& request) {
    QSignalSpy shown(m_window.get(), &MainWindow::modelShown);
    m_window->open(request);
    return shown.wait(20000);
}

void TestMainWindow::typeScaling(double alpha, int rank) {
    auto* panel = m_window->mergePanel();
    auto* alphaSpin = child<QDoubleSpinBox>(panel, "alphaSpin");
    alphaSpin->setFocus();
    alphaSpin->selectAll();
    QTest::keyClicks(alphaSpin, QString::number(alpha));
    auto* rankSpin = child<QSpinBox>(panel, "rankSpin");
    rankSpin->setFocus();
    rankSpin->selectAll();
    QTest::keyClicks(rankSpin, QString::number(rank));
    QCOMPARE(alphaSpin->value(), alpha);
    QCOMPARE(rankSpin->value(), rank);
}

QString TestMainWindow::merge(const QString& destination) {
    auto* panel = m_window->mergePanel();
    auto* edit = child<QLineEdit>(panel, "destinationEdit");
    edit->clear();
    QTest::keyClicks(edit, destination);
    auto* button = child<QPushButton>(panel, "mergeButton");
    if (!panel->waitForPreview()) return QStringLiteral("the preview did not finish");
    if (!button->isEnabled()) return panel->blockingReason();
    QSignalSpy finished(panel, &MergePanel::mergeFinished);
    QTest::mouseClick(button, Qt::LeftButton);
    if (!finished.wait(30000)) return QStringLiteral("the merge did not finish");
    return finished.at(0).at(0).toBool() ? QString() : finished.at(0).at(2).toString();
}

void TestMainWindow::demoFillsEveryTab() {
    QVERIFY(openDemo());
    const auto& demo = m_window->demoInfo();
    QVERIFY(std::filesystem::exists(demo.fullCheckpoint));
    QCOMPARE(m_window->windowTitle(), QStringLiteral("distributed — %1").arg(QString::fromUtf8(kAppName)));

    // Tensors: 72 parameters; flat list shows them all, with full (not per-rank) shapes.
    auto* tensors = m_window->tensorsTab();
    QCOMPARE(tensors->tensorModel()->entries().size(), size_t(72));
    QCOMPARE(child<QLabel>(tensors, "tensorCountLabel")->text().left(13), QStringLiteral("72 parameters"));
    auto* layoutButton = child<QAbstractButton>(tensors, "tensorTreeButton");
    layoutButton->click();
    QCOMPARE(tensors->view()->model()->rowCount(), 72);
    const auto& entries = tensors->tensorModel()->entries();
    const auto wq = std::find_if(entries.begin(), entries.end(), [](const TensorEntry& e) {
        return e.name == QStringLiteral("model.layers.0.attention.wq.weight");
    });
    QVERIFY(wq != entries.end());
    QCOMPARE(wq->dims, (std::vector<int64_t>{32, 32}));
    QCOMPARE(wq->role, TensorRole::Base);
    QCOMPARE(wq->placement, QStringLiteral("2 slices on ranks 0, 1"));
    int loraA = 0, optimizer = 0;
    for (const auto& e : entries) {
        loraA += e.role == TensorRole::LoraA;
        optimizer += e.role == TensorRole::OptimizerState;
    }
    QCOMPARE(loraA, 8);
    QCOMPARE(optimizer, 32);                            // adam_m and adam_v of the 16 LoRA weights
    layoutButton->click();                              // back to the tree
    QCOMPARE(tensors->view()->model()->rowCount(), 7);  // model, lm_head, 3 scalars, adam_m…, adam_v…

    // LoRA: 8 pairs (wq/wk/wv/wo in 2 layers), all mergeable, rank 4.
    auto* lora = m_window->loraTab();
    QCOMPARE(lora->view()->model()->rowCount(), 8);
    for (int row = 0; row < 8; ++row) {
        QCOMPARE(lora->view()->model()->index(row, LoraPairModel::StatusColumn).data().toString(),
                 QStringLiteral("will be merged"));
        QCOMPARE(lora->view()->model()->index(row, LoraPairModel::RankColumn).data().toString(),
                 QStringLiteral("4"));
    }
    QCOMPARE(lora->view()->model()->index(0, LoraPairModel::BaseColumn).data().toString(),
             QStringLiteral("model.layers.0.attention.wq.weight"));
    QVERIFY(child<QLabel>(lora, "loraCountsLabel")->text().contains(QStringLiteral("8 to merge")));
    QCOMPARE(m_window->tabs()->tabText(2), QStringLiteral("LoRA (8)"));

    // Strategy: one row per layout, the first split parameter drawn in 2 slices.
    auto* strategy = m_window->strategyTab();
    QCOMPARE(strategy->view()->model()->rowCount(), 69);
    QCOMPARE(strategy->diagram()->pieces().size(), size_t(2));
    QVERIFY(strategy->selectParameter(QStringLiteral("model.layers.0.attention.wo.weight")));
    const auto& pieces = strategy->diagram()->pieces();
    QCOMPARE(pieces.size(), size_t(2));
    // wo is row-parallel: split by columns, [0:32, 16:32] on rank 1.
    QCOMPARE(pieces[1].box.text(), std::string("[0:32, 16:32]"));
    QCOMPARE(pieces[1].ranks, (std::vector<int64_t>{1}));
    QVERIFY(strategy->selectParameter(QStringLiteral("model.norm_out.weight")));
    QCOMPARE(strategy->diagram()->pieces().size(), size_t(1));
    QCOMPARE(strategy->diagram()->pieces()[0].ranks, (std::vector<int64_t>{0, 1}));

    // Merge panel: no scaling guessed (not even the demo's), so Merge says why; the strategy found
    // next to the model; the destination beside the source.
    auto* panel = m_window->mergePanel();
    QCOMPARE(child<QDoubleSpinBox>(panel, "alphaSpin")->value(), 0.0);
    QCOMPARE(child<QSpinBox>(panel, "rankSpin")->value(), 0);
    QCOMPARE(child<QLineEdit>(panel, "strategyEdit")->text(), q(demo.strategyDir));
    QCOMPARE(child<QLineEdit>(panel, "destinationEdit")->text(),
             q(demo.distributedDir) + QStringLiteral("_merged"));
    QVERIFY(panel->waitForPreview());
    QVERIFY(!child<QPushButton>(panel, "mergeButton")->isEnabled());
    QCOMPARE(child<QLabel>(panel, "mergeHintLabel")->text(),
             QStringLiteral("No scaling: give α and r, a scaling, or a LoRA config."));
    typeScaling(8, 4);
    QVERIFY(panel->waitForPreview());
    QVERIFY(child<QPushButton>(panel, "mergeButton")->isEnabled());
    QVERIFY(child<QLabel>(panel, "dryRunLabel")->text().contains(QStringLiteral("8 pairs</b> to merge")));
    QVERIFY(child<QLabel>(panel, "dryRunLabel")->text().contains(QStringLiteral("free at the destination")));
}

void TestMainWindow::selectingATensorShowsItsStatistics() {
    QVERIFY(openDemo());
    auto* tensors = m_window->tensorsTab();
    QSignalSpy done(tensors, &TensorsTab::statisticsFinished);
    QVERIFY(tensors->selectTensor(QStringLiteral("model.layers.1.feed_forward.w2.weight")));
    QVERIFY(done.wait(10000));
    QCOMPARE(done.at(0).at(0).toString(), QStringLiteral("model.layers.1.feed_forward.w2.weight"));
    // The same values straight from the full checkpoint with the core reader.
    auto file = CheckpointFile::open(m_window->demoInfo().fullCheckpoint);
    QVERIFY(file.has_value());
    const auto values = readFloats(**file, "model.layers.1.feed_forward.w2.weight");
    QCOMPARE(values.size(), size_t(32 * 64));
    const auto* stats = tensors->currentStatistics();
    QVERIFY(stats);
    QCOMPARE(stats->count, 2048ull);
    QCOMPARE(stats->min, double(*std::min_element(values.begin(), values.end())));
    QCOMPARE(stats->max, double(*std::max_element(values.begin(), values.end())));
    double mean = 0;
    for (float v : values) mean += v;
    mean /= double(values.size());
    QVERIFY(std::fabs(stats->mean - mean) < 1e-9);
    QCOMPARE(stats->nan, 0ull);
    QCOMPARE(child<QLabel>(tensors, "statMin")->text(), numberText(stats->min));
    QCOMPARE(child<QLabel>(tensors, "statNan")->text(), QStringLiteral("0"));
    // A text-less scalar also works; a group shows no statistics.
    done.clear();
    QVERIFY(tensors->selectTensor(QStringLiteral("epoch_num")));
    QVERIFY(done.wait(10000));
    QCOMPARE(tensors->currentStatistics()->max, 2.0);
}

void TestMainWindow::findShortcutFiltersTensors() {
    QVERIFY(openDemo());
    m_window->tabs()->setCurrentIndex(2);
    auto* find = child<QAction>(m_window.get(), "actionFind");
    QCOMPARE(find->shortcut(), QKeySequence(QKeySequence::Find));
    find->trigger();
    QCOMPARE(m_window->tabs()->currentWidget(), m_window->tensorsTab());
    auto* filter = child<QLineEdit>(m_window->tensorsTab(), "tensorFilterEdit");
    QTest::keyClicks(filter, QStringLiteral("lora_b"));
    auto* label = child<QLabel>(m_window->tensorsTab(), "tensorCountLabel");
    // 8 LoRA B weights and their 2 Adam moments each.
    QCOMPARE(label->text(), QStringLiteral("24 of 72 parameters match"));
    auto* role = child<QComboBox>(m_window->tensorsTab(), "tensorRoleCombo");
    role->setCurrentIndex(role->findData(int(TensorRole::LoraB)));
    QCOMPARE(label->text(), QStringLiteral("8 of 72 parameters match"));
}

void TestMainWindow::alphaAndRankDriveTheScaling() {
    QVERIFY(openDemo());
    auto* panel = m_window->mergePanel();
    auto* alpha = child<QDoubleSpinBox>(panel, "alphaSpin");
    auto* rank = child<QSpinBox>(panel, "rankSpin");
    auto* result = child<QLabel>(panel, "scalingResultLabel");
    alpha->setValue(16);
    rank->setValue(8);
    QVERIFY2(result->text().contains(QStringLiteral("16 / 8 = <b>2</b>")), qPrintable(result->text()));
    // r differs from the weights' own r = 4: the panel says so (a warning of lms::resolve()).
    auto* summary = child<QLabel>(panel, "dryRunLabel");
    QVERIFY(panel->waitForPreview());
    QVERIFY2(summary->text().contains(
                 QStringLiteral("The LoRA weights have r = 4 but lora_rank is 8; check lora_rank.")),
             qPrintable(summary->text()));
    rank->setValue(4);
    QVERIFY2(result->text().contains(QStringLiteral("16 / 4 = <b>4</b>")), qPrintable(result->text()));
    QVERIFY(panel->waitForPreview());
    QVERIFY(!summary->text().contains(QStringLiteral("check lora_rank")));
    rank->setValue(0);  // each pair's own r
    QVERIFY(panel->waitForPreview());
    QVERIFY2(result->text().contains(QStringLiteral("r 4 → <b>4</b>")), qPrintable(result->text()));
    auto spec = panel->scalingSpec();
    QVERIFY(spec && spec->alpha == 16.0 && !spec->rank);

    // The direct scaling field, for users who only have that.
    auto* scaling = child<QLineEdit>(panel, "scalingEdit");
    QTest::keyClicks(scaling, QStringLiteral("12/8"));
    QVERIFY(child<QRadioButton>(panel, "scalingRadio")->isChecked());
    QVERIFY2(result->text().contains(QStringLiteral("<b>1.5</b>")), qPrintable(result->text()));
    QVERIFY(panel->waitForPreview());
    QVERIFY(child<QPushButton>(panel, "mergeButton")->isEnabled());
    scaling->clear();
    QTest::keyClicks(scaling, QStringLiteral("two"));
    QVERIFY2(result->text().contains(QStringLiteral("Not a number: 'two'")), qPrintable(result->text()));
    QVERIFY(panel->waitForPreview());
    QVERIFY(!child<QPushButton>(panel, "mergeButton")->isEnabled());
    QVERIFY(!panel->blockingReason().isEmpty());
    child<QRadioButton>(panel, "alphaRankRadio")->click();
    QVERIFY(panel->waitForPreview());
    QVERIFY(child<QPushButton>(panel, "mergeButton")->isEnabled());
}

void TestMainWindow::mergeRunsToCompletionAndWritesMergedValues() {
    QVERIFY(openDemo());
    auto* panel = m_window->mergePanel();
    child<QDoubleSpinBox>(panel, "alphaSpin")->setValue(12);
    child<QSpinBox>(panel, "rankSpin")->setValue(4);  // s = 3
    QTemporaryDir out;
    QSignalSpy progress(panel, &MergePanel::mergeStarted);
    const QString error = merge(out.filePath(QStringLiteral("merged")));
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QCOMPARE(progress.count(), 1);
    auto* bar = child<QProgressBar>(panel, "mergeProgressBar");
    QCOMPARE(bar->value(), bar->maximum());
    QVERIFY(child<QLabel>(panel, "resultLabel")->text().contains(QStringLiteral("Merged 8 LoRA pairs")));
    QVERIFY(child<QPushButton>(panel, "openOutputButton")->isVisible());
    QTest::mouseClick(child<QPushButton>(panel, "openOutputButton"), Qt::LeftButton);
    QCOMPARE(m_prompts.openedFolders, QStringList{out.filePath(QStringLiteral("merged/rank_0"))});

    // Read the output with the core reader and compare with W + s·B·A computed here.
    const auto outputPath = out.filePath(QStringLiteral("merged/rank_0/checkpoint_0.ckpt")).toStdString();
    auto output = CheckpointFile::open(outputPath);
    QVERIFY2(output.has_value(), output ? "" : output.error().describe().c_str());
    auto input = CheckpointFile::open(m_window->demoInfo().fullCheckpoint);
    QVERIFY(input.has_value());
    QCOMPARE((*output)->tensors().size(),
             size_t(72 - 16 - 32));  // LoRA weights and their Adam states dropped
    QVERIFY(!(*output)->find("model.layers.0.attention.wq.mindpet_delta_lora_a"));
    const double s = 3.0;
    int checkedPairs = 0;
    for (int layer = 0; layer < 2; ++layer) {
        for (const char* proj : {"wq", "wk", "wv", "wo"}) {
            const std::string base = "model.layers." + std::to_string(layer) + ".attention." + proj;
            const auto w = readFloats(**input, base + ".weight");
            const auto a = readFloats(**input, base + ".mindpet_delta_lora_a");  // [4, 32]
            const auto b = readFloats(**input, base + ".mindpet_delta_lora_b");  // [32, 4]
            const auto merged = readFloats(**output, base + ".weight");
            QCOMPARE((*output)->find(base + ".weight")->typeName, std::string("Float16"));
            QCOMPARE(merged.size(), size_t(32 * 32));
            double largestChange = 0;
            for (int o = 0; o < 32; ++o) {
                for (int i = 0; i < 32; ++i) {
                    double delta = 0;
                    for (int r = 0; r < 4; ++r)
                        delta += double(b[size_t(o * 4 + r)]) * double(a[size_t(r * 32 + i)]);
                    const double expected = double(w[size_t(o * 32 + i)]) + s * delta;
                    // Float16 keeps 11 significant bits: allow half a unit in the last place, plus slack.
                    const double tolerance = std::max(std::fabs(expected), 1.0 / 16384) / 1024.0;
                    const double got = merged[size_t(o * 32 + i)];
                    if (std::fabs(got - expected) > tolerance)
                        QFAIL(qPrintable(QStringLiteral("%1[%2,%3]: got %4, expected %5")
                                             .arg(QString::fromStdString(base))
                                             .arg(o)
                                             .arg(i)
                                             .arg(got)
                                             .arg(expected)));
                    largestChange = std::max(largestChange, std::fabs(s * delta));
                }
            }
            QVERIFY(largestChange > 1e-3);  // the merge really changed the weight
            ++checkedPairs;
        }
    }
    QCOMPARE(checkedPairs, 8);
    // Parameters without LoRA are copied unchanged.
    QCOMPARE(readFloats(**output, "lm_head.weight"), readFloats(**input, "lm_head.weight"));
    QCOMPARE(readFloats(**output, "model.layers.1.ffn_norm.weight"),
             readFloats(**input, "model.layers.1.ffn_norm.weight"));
}

void TestMainWindow::mergeOfTheFullCheckpointAsksBeforeReplacing() {
    QVERIFY(openDemo());
    QSignalSpy shown(m_window.get(), &MainWindow::modelShown);
    m_window->openPath(q(m_window->demoInfo().fullCheckpoint));
    QVERIFY(shown.wait(10000));
    QVERIFY(!m_window->currentModel()->isDistributed());
    QCOMPARE(child<QLineEdit>(m_window->mergePanel(), "strategyEdit")->text(), QString());
    typeScaling(8, 4);
    QVERIFY(m_window->strategyTab()
                ->findChild<QLabel*>(QStringLiteral("strategyPlaceholder"))
                ->text()
                .contains(QStringLiteral("full checkpoint")));
    QTemporaryDir out;
    const QString dst = out.filePath(QStringLiteral("m"));
    QVERIFY(merge(dst).isEmpty());
    const auto file = out.filePath(QStringLiteral("m/rank_0/checkpoint_0.ckpt"));
    const auto firstSize = QFileInfo(file).size();
    QVERIFY(firstSize > 0);
    // Again into the same place: asked first; "no" leaves the file alone.
    m_prompts.nextAnswers = {false};
    QSignalSpy finished(m_window->mergePanel(), &MergePanel::mergeFinished);
    QVERIFY(m_window->mergePanel()->waitForPreview());
    QTest::mouseClick(child<QPushButton>(m_window->mergePanel(), "mergeButton"), Qt::LeftButton);
    QCOMPARE(m_prompts.asked, QStringList{QStringLiteral("Replace the merged checkpoint?")});
    QTest::qWait(50);
    QCOMPARE(finished.count(), 0);
    m_prompts.nextAnswers = {true};
    QVERIFY(m_window->mergePanel()->waitForPreview());
    QTest::mouseClick(child<QPushButton>(m_window->mergePanel(), "mergeButton"), Qt::LeftButton);
    QVERIFY(finished.wait(30000));
    QVERIFY(finished.at(0).at(0).toBool());
    QCOMPARE(QFileInfo(file).size(), firstSize);
}

void TestMainWindow::leavingAPairOutKeepsItsBase() {
    QVERIFY(openDemo());
    auto* lora = m_window->loraTab();
    auto* model = lora->view()->model();
    QVERIFY(model->setData(model->index(0, 0), Qt::Unchecked, Qt::CheckStateRole));
    QCOMPARE(model->index(0, LoraPairModel::StatusColumn).data().toString(), QStringLiteral("left out"));
    QCOMPARE(m_window->currentPlan().disabledPairs, size_t(1));
    QVERIFY(m_window->mergePanel()->waitForPreview());
    QVERIFY(
        child<QLabel>(m_window->mergePanel(), "dryRunLabel")->text().contains(QStringLiteral("1 left out")));
    typeScaling(8, 4);
    QTemporaryDir out;
    QVERIFY(merge(out.filePath(QStringLiteral("m"))).isEmpty());
    auto output =
        CheckpointFile::open(out.filePath(QStringLiteral("m/rank_0/checkpoint_0.ckpt")).toStdString());
    auto input = CheckpointFile::open(m_window->demoInfo().fullCheckpoint);
    QVERIFY(output && input);
    // The left-out base is written unchanged; its LoRA weights are still dropped.
    QCOMPARE(readFloats(**output, "model.layers.0.attention.wq.weight"),
             readFloats(**input, "model.layers.0.attention.wq.weight"));
    QVERIFY(readFloats(**output, "model.layers.0.attention.wk.weight") !=
            readFloats(**input, "model.layers.0.attention.wk.weight"));
    QVERIFY(child<QLabel>(m_window->mergePanel(), "resultLabel")
                ->text()
                .contains(QStringLiteral("Merged 7 LoRA pairs")));
}

void TestMainWindow::cancelledMergeLeavesNothingBehind() {
    QVERIFY(openDemo());
    typeScaling(8, 4);
    auto* panel = m_window->mergePanel();
    auto* cancel = child<QPushButton>(panel, "cancelButton");
    // Click Cancel while the worker is held inside its first progress report, so the merge is
    // certainly mid-way (the demo merges in milliseconds otherwise).
    bool clicked = false;
    connect(panel, &MergePanel::mergeStarted, this, [&](MergeWorker* worker) {
        connect(
            worker, &MergeWorker::progressed, panel,
            [&] {
                if (clicked) return;
                clicked = true;
                QVERIFY(cancel->isVisible() && cancel->isEnabled());
                QTest::mouseClick(cancel, Qt::LeftButton);
            },
            Qt::BlockingQueuedConnection);
    });
    QTemporaryDir out;
    const QString dst = out.filePath(QStringLiteral("cancelled"));
    QSignalSpy finished(panel, &MergePanel::mergeFinished);
    auto* destination = child<QLineEdit>(panel, "destinationEdit");
    destination->setText(dst);
    QVERIFY(panel->waitForPreview());
    QTest::mouseClick(child<QPushButton>(panel, "mergeButton"), Qt::LeftButton);
    QVERIFY(panel->isRunning());
    QVERIFY(finished.wait(30000));
    QVERIFY(clicked);
    QCOMPARE(finished.at(0).at(0).toBool(), false);
    QCOMPARE(finished.at(0).at(1).toBool(), true);
    QVERIFY(child<QLabel>(panel, "resultLabel")->text().contains(QStringLiteral("cancelled")));
    // Nothing left: no output, no temp file, not even the folders the merge created.
    QVERIFY2(!QFileInfo::exists(dst), qPrintable(dst));
    QVERIFY(lms::test::listFiles(out.path().toStdString()).empty());
    QVERIFY(!panel->isRunning());
    QVERIFY(panel->waitForPreview());
    QVERIFY(child<QPushButton>(panel, "mergeButton")->isEnabled());
    QVERIFY(!m_window->messageBar()->isVisible());  // a cancel is not an error
}

void TestMainWindow::badFileIsReportedAndTheWindowKeepsWorking() {
    QTemporaryDir dir;
    const QString bad = dir.filePath(QStringLiteral("broken.ckpt"));
    std::vector<std::byte> junk(64);
    for (size_t i = 0; i < junk.size(); ++i) junk[i] = std::byte(0xA5 ^ i);
    lms::test::writeFileBytes(bad.toStdString(), junk);
    QSignalSpy failed(m_window.get(), &MainWindow::openFailed);
    m_window->openPath(bad);
    QVERIFY(failed.wait(10000));
    auto* bar = m_window->messageBar();
    QVERIFY(bar->isVisible());
    QCOMPARE(bar->kind(), MessageBar::Kind::Error);
    QCOMPARE(bar->title(), QStringLiteral("Cannot open broken.ckpt"));
    QVERIFY2(bar->text().contains(bad), qPrintable(bar->text()));
    QVERIFY(!m_window->currentModel());
    const auto loggedError = [this] {
        for (int row = 0; row < m_log->rowCount(); ++row)
            if (m_log->record(row).level == LogLevel::Error) return true;
        return false;
    };
    QTRY_VERIFY(loggedError());

    // The window still works: the demo opens, and a second bad file keeps the model shown.
    QVERIFY(openDemo());
    typeScaling(8, 4);
    QVERIFY(!bar->isVisible() || bar->kind() != MessageBar::Kind::Error);
    failed.clear();
    m_window->openPath(dir.filePath(QStringLiteral("missing.ckpt")));
    QVERIFY(failed.wait(10000));
    QVERIFY(bar->text().contains(QStringLiteral("There is no file or folder")));
    QVERIFY(m_window->currentModel());
    QCOMPARE(m_window->tensorsTab()->tensorModel()->entries().size(), size_t(72));
    QVERIFY(m_window->mergePanel()->waitForPreview());
    QVERIFY(child<QPushButton>(m_window->mergePanel(), "mergeButton")->isEnabled());
    QTest::mouseClick(bar->findChild<QToolButton*>(QStringLiteral("messageCloseButton")), Qt::LeftButton);
    QVERIFY(!bar->isVisible());
}

void TestMainWindow::droppingAFileOpensIt() {
    QVERIFY(openDemo());
    QSignalSpy shown(m_window.get(), &MainWindow::modelShown);
    QMimeData mime;
    mime.setUrls({QUrl::fromLocalFile(q(m_window->demoInfo().fullCheckpoint))});
    QDragEnterEvent enter(QPoint(10, 10), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(m_window.get(), &enter);
    QVERIFY(enter.isAccepted());
    QDropEvent drop(QPointF(10, 10), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(m_window.get(), &drop);
    QVERIFY(shown.wait(10000));
    QCOMPARE(m_window->currentModel()->path, q(m_window->demoInfo().fullCheckpoint));
}

void TestMainWindow::strategyFileOpensInTheStrategyTab() {
    QTemporaryDir dir;
    auto demo = writeDemo(dir.path().toStdString());
    QVERIFY(demo.has_value());
    QSignalSpy shown(m_window.get(), &MainWindow::modelShown);
    m_window->openPath(q(demo->strategyDir / "ckpt_strategy_rank_1.ckpt"));
    QVERIFY(shown.wait(10000));
    QCOMPARE(m_window->tabs()->currentWidget(), m_window->strategyTab());
    QCOMPARE(m_window->strategyTab()->view()->model()->rowCount(), 69);
    // Without the checkpoint the full shapes are unknown, and the drawing says why.
    QVERIFY(m_window->strategyTab()->selectParameter(QStringLiteral("lm_head.weight")));
    QVERIFY(m_window->strategyTab()->diagram()->pieces().empty());
    // Opening the checkpoint afterwards uses this strategy folder's files and knows the shapes.
    shown.clear();
    m_window->openPath(q(demo->distributedDir));
    QVERIFY(shown.wait(10000));
    QVERIFY(m_window->strategyTab()->selectParameter(QStringLiteral("lm_head.weight")));
    QCOMPARE(m_window->strategyTab()->diagram()->pieces().size(), size_t(2));
}

void TestMainWindow::checkpoint2ShowsItsChunkMap_data() {
    QTest::addColumn<QString>("path");  // under ck2_iteration_tp2/input/checkpoint
    QTest::newRow("save root (the tracker's iteration)") << "";
    QTest::newRow("iteration 40") << "iteration_00000040";
    QTest::newRow("iteration 20") << "iteration_00000020";
}

// A Checkpoint 2.0 save root or iteration opened in the window (as Discovery classifies it): the
// Strategy tab shows its chunk map, each tensor's chunks with the ranks that saved them.
void TestMainWindow::checkpoint2ShowsItsChunkMap() {
    QFETCH(QString, path);
    QTemporaryDir dir;
    const auto root = std::filesystem::path(dir.path().toStdString());
    if (const QString why = lms::test::generateFixtures(root, {QStringLiteral("ck2_iteration_tp2")});
        !why.isEmpty())
        QSKIP(qPrintable(why));
    const auto opened = root / "ck2_iteration_tp2/input/checkpoint" / path.toStdString();
    QSignalSpy shown(m_window.get(), &MainWindow::modelShown);
    m_window->openPath(q(opened));
    QVERIFY(shown.wait(20000));
    auto model = m_window->currentModel();
    QVERIFY(model);
    QVERIFY(!model->isDistributed());
    auto* tab = m_window->strategyTab();
    QVERIFY(m_window->tabs()->isTabEnabled(m_window->tabs()->indexOf(tab)));
    m_window->tabs()->setCurrentWidget(tab);
    QVERIFY(tab->showsChunkMap());
    const ChunkMapModel& chunks = *tab->chunkModel();
    QCOMPARE(chunks.rowCount(), int(model->source->tensors().size()));
    QCOMPARE(chunks.fileCount(), size_t(2));
    const int emb = chunks.rowOf(QStringLiteral("model.tok_embeddings.embedding_weight"));
    QVERIFY(emb >= 0);
    const auto text = [&](int row, int column) { return chunks.index(row, column).data().toString(); };
    QCOMPARE(text(emb, ChunkMapModel::FullShapeColumn), QStringLiteral("[128, 32]"));
    QCOMPARE(text(emb, ChunkMapModel::ChunkShapeColumn), QStringLiteral("[64, 32]"));
    QCOMPARE(text(emb, ChunkMapModel::HoldersColumn), QStringLiteral("rank 0, rank 1"));
    QVERIFY(tab->selectParameter(QStringLiteral("model.tok_embeddings.embedding_weight")));
    QCOMPARE(tab->diagram()->labels(), (QStringList{QStringLiteral("rank 0"), QStringLiteral("rank 1")}));
}

void TestMainWindow::aboutShowsTheVersion() {
    child<QAction>(m_window.get(), "actionAbout")->trigger();
    QCOMPARE(m_prompts.informed.size(), 1);
    QVERIFY(m_prompts.informed.front().contains(QString::fromUtf8(kVersion)));
    QCOMPARE(child<QAction>(m_window.get(), "actionOpenFile")->shortcut(), QKeySequence(QKeySequence::Open));
    QCOMPARE(child<QAction>(m_window.get(), "actionQuit")->shortcut(), QKeySequence(QKeySequence::Quit));
    // File → Open goes through the prompts: a cancelled dialog does nothing.
    child<QAction>(m_window.get(), "actionOpenFile")->trigger();
    QCOMPARE(m_prompts.asked.last(), QStringLiteral("Open checkpoint"));
    QVERIFY(!m_window->isLoading());
    QVERIFY(!m_window->windowIcon().isNull());
}

void TestMainWindow::windowStateIsRestored() {
    m_window->resize(1333, 801);
    auto* splitter = m_window->tensorsTab()->splitter();
    splitter->setSizes({300, 200});
    const auto state = splitter->saveState();
    m_window->close();  // saves
    m_window = std::make_unique<MainWindow>(m_log);
    QCOMPARE(m_window->size(), QSize(1333, 801));
    QCOMPARE(m_window->tensorsTab()->splitter()->saveState(), state);
    // Recent locations survive too.
    QVERIFY(openDemo());
    m_window->close();
    m_window = std::make_unique<MainWindow>(m_log);
    QSettings settings;
    const auto recent = settings.value(QStringLiteral("browser/recentLocations")).toStringList();
    QVERIFY(!recent.isEmpty());
    QVERIFY(recent.front().endsWith(QStringLiteral("/distributed")));
}

void TestMainWindow::everyInteractiveWidgetHasAName() {
    QVERIFY(openDemo());
    // Widgets that Qt builds inside its own composite widgets are not ours to name.
    const auto insideQtComposite = [](const QWidget* w) {
        for (const QObject* p = w->parent(); p; p = p->parent())
            if (qobject_cast<const QAbstractSpinBox*>(p) || qobject_cast<const QComboBox*>(p) ||
                qobject_cast<const QLineEdit*>(p) || qobject_cast<const QTabBar*>(p) ||
                qobject_cast<const QTabWidget*>(p) || qobject_cast<const QHeaderView*>(p) ||
                qobject_cast<const QMenu*>(p) || qobject_cast<const QAbstractItemView*>(p))
                return true;
        return false;
    };
    QStringList unnamed;
    for (auto* w : m_window->findChildren<QWidget*>()) {
        const bool interactive = qobject_cast<QAbstractButton*>(w) || qobject_cast<QLineEdit*>(w) ||
                                 qobject_cast<QComboBox*>(w) || qobject_cast<QAbstractSpinBox*>(w) ||
                                 qobject_cast<QAbstractItemView*>(w) || qobject_cast<QTabWidget*>(w) ||
                                 qobject_cast<QSplitter*>(w) || qobject_cast<QDockWidget*>(w);
        if (!interactive || insideQtComposite(w) || qobject_cast<QHeaderView*>(w)) continue;
        if (w->objectName().isEmpty())
            unnamed << QString::fromLatin1(w->metaObject()->className()) + QStringLiteral(" in ") +
                           (w->parent() ? w->parent()->objectName() : QString());
    }
    QVERIFY2(unnamed.isEmpty(), qPrintable(unnamed.join(QStringLiteral("; "))));
    for (auto* action : m_window->findChildren<QAction*>())
        if (!action->isSeparator() && !action->text().isEmpty() && action->objectName().isEmpty() &&
            !action->menu())
            unnamed << action->text();
    QVERIFY2(unnamed.isEmpty(), qPrintable(unnamed.join(QStringLiteral("; "))));
}

namespace {

// A base checkpoint without LoRA and a LoRA-only adapter for it (MindPet's DELTA_CKP-*.ckpt).
void writeBaseAndAdapter(const std::filesystem::path& dir) {
    using namespace lms::test;
    const auto f32 = [](size_t n, uint32_t seed) {
        return floatBytes(DType::Float32, randomValues(n, seed));
    };
    writeCheckpoint(dir / "base.ckpt", {{"l0.wq.weight", "Float32", {8, 4}, f32(32, 1)}});
    writeCheckpoint(dir / "DELTA_CKP-1_2.ckpt",
                    {{"l0.wq.mindpet_delta_lora_a", "Float32", {2, 4}, f32(8, 3)},
                     {"l0.wq.mindpet_delta_lora_b", "Float32", {8, 2}, f32(16, 4)}});
}

}  // namespace

void TestMainWindow::escapeCancelsARunningMerge() {
    QVERIFY(openDemo());
    typeScaling(8, 4);
    auto* panel = m_window->mergePanel();
    auto* mergeButton = child<QPushButton>(panel, "mergeButton");
    auto* cancel = child<QPushButton>(panel, "cancelButton");
    QVERIFY(!cancel->isVisible());
    QTemporaryDir out;
    const QString dst = out.filePath(QStringLiteral("esc"));
    child<QLineEdit>(panel, "destinationEdit")->setText(dst);
    m_window->activateWindow();
    QVERIFY(QTest::qWaitForWindowActive(m_window.get()));
    QApplication::processEvents();
    const QRect mergeAt = mergeButton->geometry();
    bool pressed = false;
    connect(panel, &MergePanel::mergeStarted, this, [&](MergeWorker* worker) {
        connect(
            worker, &MergeWorker::progressed, panel,
            [&] {
                if (pressed) return;
                pressed = true;
                // Cancel stands where Merge was; Esc anywhere in the window presses it.
                QVERIFY(cancel->isVisible() && !mergeButton->isVisible());
                QCOMPARE(cancel->geometry().left(), mergeAt.left());
                QTest::keyClick(m_window->tensorsTab(), Qt::Key_Escape);
            },
            Qt::BlockingQueuedConnection);
    });
    QSignalSpy finished(panel, &MergePanel::mergeFinished);
    QVERIFY(panel->waitForPreview());
    QTest::mouseClick(mergeButton, Qt::LeftButton);
    QVERIFY(finished.wait(30000));
    QVERIFY(pressed);
    QCOMPARE(finished.at(0).at(1).toBool(), true);  // cancelled
    QVERIFY(!QFileInfo::exists(dst));
    QVERIFY(mergeButton->isVisible() && !cancel->isVisible());
}

void TestMainWindow::openOutputFolderSaysWhereWhenItCannot() {
    QVERIFY(openDemo());
    typeScaling(8, 4);
    QTemporaryDir out;
    QVERIFY(merge(out.filePath(QStringLiteral("m"))).isEmpty());
    auto* panel = m_window->mergePanel();
    auto* label = child<QLabel>(panel, "openOutputFailedLabel");
    QVERIFY(!label->isVisible());
    m_prompts.openFolderWorks = false;
    QTest::mouseClick(child<QPushButton>(panel, "openOutputButton"), Qt::LeftButton);
    QVERIFY(label->isVisible());
    QCOMPARE(label->text(),
             QStringLiteral("No file manager could be opened. The merged checkpoint is %1 (in %2).")
                 .arg(out.filePath(QStringLiteral("m/rank_0/checkpoint_0.ckpt")),
                      out.filePath(QStringLiteral("m/rank_0"))));
}

void TestMainWindow::adapterOpensWithTheModelAndRecentRestoresIt() {
    QTemporaryDir dir;
    writeBaseAndAdapter(dir.path().toStdString());
    const QString base = dir.filePath(QStringLiteral("base.ckpt"));
    const QString adapter = dir.filePath(QStringLiteral("DELTA_CKP-1_2.ckpt"));
    OpenRequest request;
    request.path = base;
    request.adapter = adapter;
    QVERIFY(openAndWait(request));
    auto* panel = m_window->mergePanel();
    QCOMPARE(child<QLineEdit>(panel, "adapterEdit")->text(), adapter);
    QCOMPARE(m_window->currentPlan().okPairs, size_t(1));  // the adapter's pair, with the base's weight
    // Another model: the adapter field is empty again.
    QVERIFY(openAndWait([&] {
        OpenRequest other;
        other.path = dir.filePath(QStringLiteral("DELTA_CKP-1_2.ckpt"));
        return other;
    }()));
    QCOMPARE(child<QLineEdit>(panel, "adapterEdit")->text(), QString());
    // File → Open Recent → base.ckpt opens it with its adapter again.
    QAction* recent = nullptr;
    for (auto* action : child<QMenu>(m_window.get(), "recentMenu")->actions())
        if (action->text() == QDir::toNativeSeparators(base)) recent = action;
    QVERIFY(recent);
    QSignalSpy shown(m_window.get(), &MainWindow::modelShown);
    recent->trigger();
    QVERIFY(shown.wait(10000));
    QCOMPARE(m_window->currentModel()->opened.adapter, adapter);
    QCOMPARE(child<QLineEdit>(panel, "adapterEdit")->text(), adapter);
}

void TestMainWindow::droppingAModelWithItsAdapterOpensThemTogether() {
    QTemporaryDir dir;
    writeBaseAndAdapter(dir.path().toStdString());
    const QString base = dir.filePath(QStringLiteral("base.ckpt"));
    const QString adapter = dir.filePath(QStringLiteral("DELTA_CKP-1_2.ckpt"));
    const QString config = dir.filePath(QStringLiteral("finetune.yaml"));
    lms::test::writeFileBytes(config.toStdString(), std::vector<std::byte>(1, std::byte('\n')));
    // Any order: each path is recognised by its kind.
    const auto request = m_window->requestForPaths({adapter, config, base});
    QCOMPARE(request.path, base);
    QCOMPARE(request.adapter, adapter);
    QCOMPARE(request.loraConfig, config);
    QSignalSpy shown(m_window.get(), &MainWindow::modelShown);
    QMimeData mime;
    mime.setUrls({QUrl::fromLocalFile(adapter), QUrl::fromLocalFile(base)});
    QSignalSpy failed(m_window.get(), &MainWindow::openFailed);
    QDragEnterEvent enter(QPoint(10, 10), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(m_window.get(), &enter);  // Qt delivers a drop to the drag's current target
    QVERIFY(enter.isAccepted());
    QDropEvent drop(QPointF(10, 10), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(m_window.get(), &drop);
    QVERIFY(drop.isAccepted());
    QVERIFY(m_window->isLoading());
    QVERIFY2(shown.wait(10000), failed.isEmpty() ? "" : qPrintable(failed.at(0).at(1).toString()));
    QCOMPARE(m_window->currentModel()->opened.path, base);
    QCOMPARE(m_window->currentModel()->opened.adapter, adapter);
}

void TestMainWindow::anotherModelResetsFilterAndPairs() {
    QVERIFY(openDemo());
    auto* filter = child<QLineEdit>(m_window->tensorsTab(), "tensorFilterEdit");
    QTest::keyClicks(filter, QStringLiteral("lora_b"));
    auto* pairs = m_window->loraTab()->view()->model();
    QVERIFY(pairs->setData(pairs->index(0, 0), Qt::Unchecked, Qt::CheckStateRole));
    QCOMPARE(m_window->currentPlan().disabledPairs, size_t(1));
    QSignalSpy shown(m_window.get(), &MainWindow::modelShown);
    m_window->openPath(q(m_window->demoInfo().fullCheckpoint));
    QVERIFY(shown.wait(10000));
    QCOMPARE(filter->text(), QString());
    QCOMPARE(child<QLabel>(m_window->tensorsTab(), "tensorCountLabel")->text().left(13),
             QStringLiteral("72 parameters"));
    QCOMPARE(m_window->currentPlan().disabledPairs, size_t(0));
    QCOMPARE(child<QLineEdit>(m_window->mergePanel(), "destinationEdit")->text(),
             q(m_window->demoInfo().fullCheckpoint.parent_path() / "merged"));
}

// A destination strategy typed into the Merge panel reaches the Strategy tab's second drawing
// (through the panel's background preview): the demo's own 2-rank layout, one file per rank.
void TestMainWindow::reshardIsDrawnInTheStrategyTab() {
    QVERIFY(openDemo());
    auto* panel = m_window->mergePanel();
    auto* strategy = m_window->strategyTab();
    QVERIFY(panel->waitForPreview());
    QVERIFY(strategy->destinationDiagram()->isHidden());
    child<QLineEdit>(panel, "dstStrategyEdit")
        ->setText(QDir(m_window->currentModel()->strategyFile)
                      .filePath(QStringLiteral("ckpt_strategy_rank_0.ckpt")));
    QVERIFY(panel->waitForPreview());
    QVERIFY(!strategy->destinationDiagram()->isHidden());
    QVERIFY(strategy->selectParameter(QStringLiteral("model.layers.0.attention.wo.weight")));
    QVERIFY2(strategy->destinationDiagram()->message().isEmpty(),
             qPrintable(strategy->destinationDiagram()->message()));
    QCOMPARE(strategy->destinationDiagram()->labels(),
             (QStringList{QStringLiteral("rank_0/checkpoint_0.ckpt"),
                          QStringLiteral("rank_1/checkpoint_1.ckpt")}));
    QCOMPARE(strategy->destinationDiagram()->pieces()[1].box.text(), std::string("[0:32, 16:32]"));
    child<QLineEdit>(panel, "dstStrategyEdit")->clear();
    QVERIFY(panel->waitForPreview());
    QVERIFY(strategy->destinationDiagram()->isHidden());
}

void TestMainWindow::windowFitsSmallScreens_data() {
    QTest::addColumn<QSize>("screen");  // in device-independent pixels
    QTest::newRow("1024×700") << QSize(1024, 700);
    QTest::newRow("1600×1000 at scale 2") << QSize(800, 500);
}

// No minimum size larger than the screen, and the Merge button can be scrolled to.
void TestMainWindow::windowFitsSmallScreens() {
    QFETCH(QSize, screen);
    QVERIFY(openDemo());
    QVERIFY(m_window->mergePanel()->waitForPreview());  // the summary's final lines are laid out
    const QSize minimum = m_window->minimumSizeHint().expandedTo(m_window->minimumSize());
    QVERIFY2(minimum.width() <= screen.width() && minimum.height() <= screen.height(),
             qPrintable(QStringLiteral("%1×%2").arg(minimum.width()).arg(minimum.height())));
    m_window->resize(screen);
    QTRY_COMPARE(m_window->size(), screen);
    auto* scroll = child<QScrollArea>(m_window.get(), "mergeScrollArea");
    auto* button = child<QPushButton>(m_window->mergePanel(), "mergeButton");
    // Reachable as a user reaches it: scrolled to the end of the panel, the button is in view. (The
    // resize relayouts the docks through posted events, so this is retried until they settle.)
    const auto reachableAtTheEnd = [&] {
        QApplication::processEvents();
        scroll->verticalScrollBar()->setValue(scroll->verticalScrollBar()->maximum());
        QApplication::processEvents();
        const QRect inViewport(button->mapTo(scroll->viewport(), QPoint(0, 0)), button->size());
        return scroll->viewport()->rect().contains(inViewport) && !button->visibleRegion().isEmpty();
    };
    QTRY_VERIFY_WITH_TIMEOUT(reachableAtTheEnd(), 5000);
}

QTEST_MAIN(TestMainWindow)
#include "tst_mainwindow.moc"
