// lms-studio-screenshots OUT_DIR PREFIX: drives the real studio window through the demo walkthrough
// of docs/STUDIO.md on a real X display (scripts/screenshots.sh runs it under Xvfb at each screen
// size) and captures the whole screen after each step with ImageMagick's `import -window root`,
// i.e. exactly what a person sees. Not a test: it asserts nothing beyond the steps completing, and
// fails (exit 1, naming the step) when one does not.
#include "CompareTab.h"
#include "ImpactTab.h"
#include "LogModel.h"
#include "LogSink.h"
#include "MainWindow.h"
#include "MergePanel.h"
#include "lms/base/Log.h"

#include <QAbstractItemView>
#include <QApplication>
#include <QCheckBox>
#include <QDeadlineTimer>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFile>
#include <QLineEdit>
#include <QProcess>
#include <QPushButton>
#include <QScreen>
#include <QSpinBox>
#include <QTabWidget>
#include <QTreeView>

#include <cstdio>
#include <functional>

namespace {

using lms::ui::MainWindow;

// Runs the event loop until `done` holds or `ms` pass; false on timeout.
bool waitFor(const std::function<bool()>& done, int ms) {
    QDeadlineTimer deadline(ms);
    while (!done()) {
        if (deadline.hasExpired()) return false;
        QCoreApplication::processEvents(QEventLoop::AllEvents, 50);
    }
    return true;
}

void settle(int ms = 600) {
    waitFor([] { return false; }, ms);
}

template <typename T>
T* child(QObject* parent, const char* name) {
    T* found = parent->findChild<T*>(QString::fromLatin1(name));
    if (!found) {
        std::fprintf(stderr, "lms-studio-screenshots: no widget '%s'\n", name);
        std::exit(1);
    }
    return found;
}

class Shooter {
public:
    Shooter(QString dir, QString prefix) : m_dir(std::move(dir)), m_prefix(std::move(prefix)) {}
    void shoot(const QString& step) {
        settle();
        const QString file =
            QDir(m_dir).filePath(m_prefix + QLatin1Char('-') + step + QStringLiteral(".png"));
        if (QProcess::execute(QStringLiteral("import"),
                              {QStringLiteral("-window"), QStringLiteral("root"), file}) != 0) {
            std::fprintf(stderr, "lms-studio-screenshots: import failed for %s\n", qPrintable(file));
            std::exit(1);
        }
        std::printf("%s\n", qPrintable(file));
    }

private:
    QString m_dir, m_prefix;
};

void require(bool ok, const char* step) {
    if (ok) return;
    std::fprintf(stderr, "lms-studio-screenshots: step '%s' did not complete\n", step);
    std::exit(1);
}

// Selects the first row whose text in column 0 contains `text` (searching the whole tree).
bool selectRow(QAbstractItemView* view, const QString& text) {
    auto* model = view->model();
    const auto hits =
        model->match(model->index(0, 0), Qt::DisplayRole, text, 1, Qt::MatchContains | Qt::MatchRecursive);
    if (hits.isEmpty()) return false;
    view->setCurrentIndex(hits.front());
    view->scrollTo(hits.front());
    return true;
}

// A 4-device destination strategy for the demo's layer 0 (MindSpore's JSON strategy form).
bool writeReshardStrategy(const QString& path) {
    const auto layout = [](const char* name, const char* dev, const char* map) {
        return QStringLiteral(R"("model.layers.0.%1": {"dev_matrix": [%2], "tensor_map": [%3],
            "tensor_shape": [32, 32], "field": 0, "opt_weight_shard_step": 0, "opt_weight_shard_size": 0})")
            .arg(QLatin1StringView(name), QLatin1StringView(dev), QLatin1StringView(map));
    };
    const QString json =
        QStringLiteral(R"({"current_stage": 0, "parallel_strategy_item": {},
        "parallel_layout_item": {%1, %2, %3}, "parallel_layout_value_item": {}})")
            .arg(layout("attention.wq.weight", "4", "0, -1"), layout("attention.wk.weight", "4", "0, -1"),
                 layout("attention.wo.weight", "2, 2", "1, 0"));
    QFile file(path);
    return file.open(QIODevice::WriteOnly) && file.write(json.toUtf8()) == json.toUtf8().size();
}

void showTab(MainWindow& window, const char* name) {
    auto* tabs = child<QTabWidget>(&window, "mainTabs");
    tabs->setCurrentWidget(child<QWidget>(&window, name));
}

}  // namespace

int main(int argc, char** argv) {
    QApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("LoRA Merge Studio"));
    QApplication::setApplicationName(QStringLiteral("loramerge-studio"));
    if (argc != 3) {
        std::fprintf(stderr, "usage: lms-studio-screenshots OUT_DIR PREFIX\n");
        return 2;
    }
    Shooter shooter(QString::fromLocal8Bit(argv[1]), QString::fromLocal8Bit(argv[2]));
    lms::ui::LogModel logModel;
    const auto sink = lms::ui::installLogSink(&logModel);

    MainWindow window(&logModel);
    // No window manager under Xvfb: fill the screen as a maximised window would.
    window.setGeometry(QGuiApplication::primaryScreen()->availableGeometry());
    window.show();
    bool shown = false;
    QObject::connect(&window, &MainWindow::modelShown, [&shown] { shown = true; });
    window.openDemoWorkspace();
    require(waitFor([&] { return shown; }, 30000), "open the demo");

    showTab(window, "tensorsTab");
    require(selectRow(child<QTreeView>(&window, "tensorView"), QStringLiteral("wq")), "find wq");
    auto* tree = child<QTreeView>(&window, "tensorView");
    const QModelIndex wq = tree->currentIndex();
    tree->expand(wq);
    tree->setCurrentIndex(tree->model()->index(0, 0, wq));
    child<QDoubleSpinBox>(&window, "alphaSpin")->setValue(window.demoInfo().loraAlpha);
    child<QSpinBox>(&window, "rankSpin")->setValue(window.demoInfo().loraRank);
    shooter.shoot(QStringLiteral("1-tensors"));

    showTab(window, "strategyTab");
    require(selectRow(child<QAbstractItemView>(&window, "strategyView"), QStringLiteral("wq.weight")),
            "find wq in the strategy");
    shooter.shoot(QStringLiteral("2-strategy"));

    showTab(window, "loraTab");
    shooter.shoot(QStringLiteral("3-lora"));

    auto* merge = child<QPushButton>(&window, "mergeButton");
    require(window.mergePanel()->waitForPreview(), "the merge preview");
    require(merge->isEnabled(), "Merge enabled after α and r");
    auto* result = child<QWidget>(&window, "resultBox");
    merge->click();
    require(waitFor([&] { return result->isVisible() && merge->isVisible(); }, 60000), "merge");
    showTab(window, "tensorsTab");
    shooter.shoot(QStringLiteral("4-merged"));

    showTab(window, "impactTab");
    bool analysed = false;
    QObject::connect(child<lms::ui::ImpactTab>(&window, "impactTab"), &lms::ui::ImpactTab::analysisFinished,
                     [&analysed] { analysed = true; });
    child<QPushButton>(&window, "impactAnalyseButton")->click();
    require(waitFor([&] { return analysed; }, 60000), "impact");
    shooter.shoot(QStringLiteral("5-impact"));

    showTab(window, "compareTab");
    const QString merged = QString::fromStdString((window.demoInfo().distributedDir.parent_path() /
                                                   "distributed_merged" / "rank_0" / "checkpoint_0.ckpt")
                                                      .string());
    child<QLineEdit>(&window, "compareOtherEdit")->setText(merged);
    bool compared = false;
    QObject::connect(child<lms::ui::CompareTab>(&window, "compareTab"),
                     &lms::ui::CompareTab::comparisonFinished, [&compared] { compared = true; });
    child<QPushButton>(&window, "compareButton")->click();
    require(waitFor([&] { return compared; }, 60000), "compare");
    child<QCheckBox>(&window, "compareOnlyDiff")->setChecked(true);
    shooter.shoot(QStringLiteral("6-compare"));

    // Re-sharding to 4 ranks: wq by rows, wo on a 2×2 grid; the Strategy tab draws both layouts.
    const QString dst = QString::fromStdString(
        (window.demoInfo().distributedDir.parent_path() / "tp4_strategy.json").string());
    require(writeReshardStrategy(dst), "write the destination strategy");
    child<QLineEdit>(&window, "dstStrategyEdit")->setText(dst);
    require(window.mergePanel()->waitForPreview(), "the re-shard preview");
    showTab(window, "strategyTab");
    require(
        selectRow(child<QAbstractItemView>(&window, "strategyView"), QStringLiteral("layers.0.attention.wo")),
        "find wo in the strategy");
    shooter.shoot(QStringLiteral("7-reshard"));

    lms::ui::removeLogSink(sink);
    return 0;
}
