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
    parser.addPositionalArgument(
        QStringLiteral("path"),
        QStringLiteral("A checkpoint file, a distributed checkpoint folder or a strategy file."),
        QStringLiteral("[path]"));
    parser.process(app);

    lms::ui::LogModel logModel;
    const auto sink = lms::ui::installLogSink(&logModel);
    lms::setLogLevel(spdlog::level::debug);

    lms::ui::MainWindow window(&logModel);
    window.show();
    // Start the work once the window is on screen, so the first paint is not delayed.
    const QStringList paths = parser.positionalArguments();
    QTimer::singleShot(0, &window, [&window, &parser, &demo, paths] {
        if (parser.isSet(demo))
            window.openDemoWorkspace();
        else if (!paths.isEmpty())
            window.openPath(paths.front());
    });
    const int status = QApplication::exec();
    lms::ui::removeLogSink(sink);
    return status;
}
