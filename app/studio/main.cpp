// loramerge-studio: the desktop application. Parses the command line, routes the core's log into
// the window's log model, and shows the main window (optionally with the demo workspace open).

#include "AppIcon.h"
#include "EnglishPlurals.h"
#include "LogModel.h"
#include "LogSink.h"
#include "MainWindow.h"
#include "lms/Version.h"
#include "lms/base/Log.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QTimer>
#include <cstdio>

int main(int argc, char** argv) {
    QApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("LoRA Merge Studio"));
    QApplication::setOrganizationDomain(QStringLiteral("loramerge.github.io"));
    QApplication::setApplicationName(QStringLiteral("loramerge-studio"));
    QApplication::setApplicationDisplayName(QString::fromUtf8(lms::kAppName));
    QApplication::setApplicationVersion(QString::fromUtf8(lms::kVersion));
    QApplication::setDesktopFileName(QString::fromUtf8(lms::kAppId));
    QApplication::setWindowIcon(lms::ui::appIcon());
    lms::ui::installEnglishPlurals();

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("Merge LoRA adapters into MindSpore checkpoints."));
    parser.addHelpOption();
    parser.addVersionOption();
    const QCommandLineOption demo(
        QStringLiteral("demo"),
        QStringLiteral("Write the built-in demo checkpoints to a temporary folder and open them."));
    parser.addOption(demo);
    // The names of loramerge's flags (README): --strategy is --src_ckpt_strategy.
    const QCommandLineOption strategy(
        QStringLiteral("strategy"),
        QStringLiteral("The parallel strategy of a distributed checkpoint: a file, or the folder of per-rank "
                       "strategy files."),
        QStringLiteral("S"));
    const QCommandLineOption adapter(QStringLiteral("adapter"),
                                     QStringLiteral("A LoRA-only adapter to merge into the checkpoint."),
                                     QStringLiteral("A"));
    const QCommandLineOption loraConfig(
        QStringLiteral("lora-config"),
        QStringLiteral(
            "The training YAML or PEFT adapter_config.json to read lora_alpha and lora_rank from."),
        QStringLiteral("C"));
    const QCommandLineOption ckptName(QStringLiteral("ckpt-name"),
                                      QStringLiteral("Which file each rank folder contributes (a glob)."),
                                      QStringLiteral("GLOB"));
    for (const auto* option : {&strategy, &adapter, &loraConfig, &ckptName}) parser.addOption(*option);
    parser.addPositionalArgument(
        QStringLiteral("path"),
        QStringLiteral("A checkpoint file, a distributed checkpoint folder, a Checkpoint 2.0 save, a shard "
                       "folder or a strategy file."),
        QStringLiteral("[path]"));
    parser.process(app);
    const QStringList paths = parser.positionalArguments();
    if (paths.size() > 1) {
        std::fprintf(stderr, "loramerge-studio: error: one path at a time, got %lld\n",
                     static_cast<long long>(paths.size()));
        return 2;
    }
    if (paths.isEmpty() && (parser.isSet(strategy) || parser.isSet(adapter) || parser.isSet(ckptName))) {
        std::fprintf(stderr,
                     "loramerge-studio: error: --strategy, --adapter and --ckpt-name go with a path\n");
        return 2;
    }
    lms::ui::OpenRequest request;
    if (!paths.isEmpty()) request.path = paths.front();
    request.strategy = parser.value(strategy);
    request.adapter = parser.value(adapter);
    request.loraConfig = parser.value(loraConfig);
    request.ckptName = parser.value(ckptName);

    lms::ui::LogModel logModel;
    const auto sink = lms::ui::installLogSink(&logModel);
    lms::setLogLevel(spdlog::level::debug);

    lms::ui::MainWindow window(&logModel);
    window.show();
    // Start the work once the window is on screen, so the first paint is not delayed.
    QTimer::singleShot(0, &window, [&window, &parser, &demo, request] {
        if (parser.isSet(demo))
            window.openDemoWorkspace();
        else if (!request.path.isEmpty())
            window.open(request);
    });
    const int status = QApplication::exec();
    lms::ui::removeLogSink(sink);
    return status;
}
