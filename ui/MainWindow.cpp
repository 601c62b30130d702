#include "MainWindow.h"

#include "AppIcon.h"
#include "BrowserPanel.h"
#include "CompareTab.h"
#include "ImpactTab.h"
#include "LogDock.h"
#include "LoraTab.h"
#include "MergePanel.h"
#include "Prompts.h"
#include "RecentLocations.h"
#include "StrategyTab.h"
#include "TensorsTab.h"
#include "UiText.h"
#include "Widgets.h"
#include "lms/Version.h"
#include "lms/base/Log.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDir>
#include <QDockWidget>
#include <QFileInfo>
#include <QFutureWatcher>
#include <QLabel>
#include <QMenuBar>
#include <QMimeData>
#include <QProgressBar>
#include <QScreen>
#include <QScrollArea>
#include <QSettings>
#include <QSplitter>
#include <QStatusBar>
#include <QStyle>
#include <QTabWidget>
#include <QToolButton>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

namespace lms::ui {
namespace {

// The centre's layout reports no height-for-width: QScrollArea sizes a widget whose layout has it
// by the preferred height its word-wrapped labels ask for at that width (far above the minimum),
// which scrolled the tabs on a short screen although they fit. Sized by the minimum instead, the
// centre scrolls only when the screen is smaller than that.
class CentreLayout final : public QVBoxLayout {
public:
    using QVBoxLayout::QVBoxLayout;
    bool hasHeightForWidth() const override { return false; }
};

}  // namespace

MainWindow::MainWindow(LogModel* log, QWidget* parent)
    : QMainWindow(parent), m_log(log), m_loader(new ModelLoader(this)), m_recent(new RecentLocations(this)) {
    setObjectName(QStringLiteral("mainWindow"));
    setWindowIcon(appIcon());
    setAcceptDrops(true);
    setDockNestingEnabled(true);

    // Centre: messages and the three tabs. Browser (left) and Merge (right) are docks that run the
    // full height of the window; the log dock sits under the tabs.
    auto* centre = new QWidget(this);
    auto* centreLayout = new CentreLayout(centre);
    centreLayout->setContentsMargins(0, 4, 0, 0);
    m_messageBar = new MessageBar(centre);
    m_messageBar->setObjectName(QStringLiteral("messageBar"));
    m_tabs = new QTabWidget(centre);
    m_tabs->setObjectName(QStringLiteral("mainTabs"));
    m_tabs->setDocumentMode(true);
    m_tensors = new TensorsTab(m_tabs);
    m_strategy = new StrategyTab(m_tabs);
    m_lora = new LoraTab(m_tabs);
    m_tabs->addTab(m_tensors, tr("Tensors"));
    m_tabs->addTab(m_strategy, tr("Strategy"));
    m_tabs->addTab(m_lora, tr("LoRA"));
    m_impact = new ImpactTab(m_tabs);
    m_compare = new CompareTab(m_tabs);
    m_tabs->addTab(m_impact, tr("Impact"));
    m_tabs->addTab(m_compare, tr("Compare"));
    centreLayout->addWidget(m_messageBar);
    centreLayout->addWidget(m_tabs, 1);
    // In a scroll area, so the tabs' minimum size never makes the window larger than a small screen
    // (1024×700, or 1600×1000 at scale 2): they scroll instead.
    auto* centreScroll = new QScrollArea(this);
    centreScroll->setObjectName(QStringLiteral("centreScrollArea"));
    centreScroll->setWidgetResizable(true);
    centreScroll->setFrameShape(QFrame::NoFrame);
    centreScroll->setWidget(centre);
    setCentralWidget(centreScroll);

    setCorner(Qt::BottomLeftCorner, Qt::LeftDockWidgetArea);
    setCorner(Qt::TopLeftCorner, Qt::LeftDockWidgetArea);
    setCorner(Qt::BottomRightCorner, Qt::RightDockWidgetArea);
    setCorner(Qt::TopRightCorner, Qt::RightDockWidgetArea);

    m_browserDock = new QDockWidget(tr("Browser"), this);
    m_browserDock->setObjectName(QStringLiteral("browserDock"));
    m_browser = new BrowserPanel(m_recent, m_browserDock);
    m_browserDock->setWidget(m_browser);
    addDockWidget(Qt::LeftDockWidgetArea, m_browserDock);

    m_mergeDock = new QDockWidget(tr("Merge"), this);
    m_mergeDock->setObjectName(QStringLiteral("mergeDock"));
    auto* mergeScroll = new QScrollArea(m_mergeDock);
    mergeScroll->setObjectName(QStringLiteral("mergeScrollArea"));
    mergeScroll->setWidgetResizable(true);
    mergeScroll->setFrameShape(QFrame::NoFrame);
    mergeScroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    m_merge = new MergePanel(mergeScroll);
    mergeScroll->setWidget(m_merge);
    // The Impact tab measures the merge the panel would run: its source, plan and per-pair scaling.
    m_impact->setInputsProvider([this] {
        ImpactTab::Inputs inputs;
        if (auto job = m_merge->analysedJob(&inputs.reason)) {
            inputs.source = job->source;
            inputs.plan = std::move(job->plan);
            inputs.scalings = std::move(job->pairScaling);
        }
        return inputs;
    });
    mergeScroll->setMinimumWidth(m_merge->minimumSizeHint().width() +
                                 style()->pixelMetric(QStyle::PM_ScrollBarExtent));
    m_mergeDock->setWidget(mergeScroll);
    addDockWidget(Qt::RightDockWidgetArea, m_mergeDock);

    m_logDock = new LogDock(log, this);
    addDockWidget(Qt::BottomDockWidgetArea, m_logDock);

    createStatusBar();

    createActions();
    createMenus();

    connectSignals();

    restoreSettings();
    if (m_browser->currentFolder().isEmpty()) m_browser->setFolder(QDir::homePath());
    updateTitle();
}

// The status line: what the window is doing, and the progress and Stop button of an open.
void MainWindow::createStatusBar() {
    m_statusLabel = new QLabel(this);
    m_statusLabel->setObjectName(QStringLiteral("statusLabel"));
    m_busyBar = new QProgressBar(this);
    m_busyBar->setObjectName(QStringLiteral("openProgress"));
    m_busyBar->setRange(0, 0);
    m_busyBar->setMaximumWidth(160);
    m_busyBar->setMaximumHeight(m_statusLabel->sizeHint().height());
    m_busyBar->hide();
    m_cancelOpenButton = new QToolButton(this);
    m_cancelOpenButton->setObjectName(QStringLiteral("cancelOpenButton"));
    m_cancelOpenButton->setIcon(style()->standardIcon(QStyle::SP_BrowserStop));
    m_cancelOpenButton->setToolTip(tr("Stop opening"));
    m_cancelOpenButton->setAutoRaise(true);
    m_cancelOpenButton->hide();
    statusBar()->addWidget(m_statusLabel, 1);
    statusBar()->addPermanentWidget(m_busyBar);
    statusBar()->addPermanentWidget(m_cancelOpenButton);
    m_statusLabel->setText(tr("Ready. Open a checkpoint, or try Help → Open demo workspace."));
}

void MainWindow::connectSignals() {
    connect(m_browser, &BrowserPanel::openRequested, this, [this](const QString& path) { openPath(path); });
    connect(m_browser, &BrowserPanel::recentRequested, this, &MainWindow::openRecent);
    connect(m_merge, &MergePanel::openRequested, this, &MainWindow::open);
    connect(m_merge, &MergePanel::previewChanged, m_strategy, &StrategyTab::setMergePreview);
    connect(m_loader, &ModelLoader::busyChanged, this, [this](bool busy, const QString& path) {
        m_busyBar->setVisible(busy);
        m_cancelOpenButton->setVisible(busy);
        m_merge->setLoading(busy);
        if (busy) m_statusLabel->setText(tr("Opening %1…").arg(QDir::toNativeSeparators(path)));
    });
    connect(m_cancelOpenButton, &QToolButton::clicked, m_loader, &ModelLoader::cancel);
    connect(m_loader, &ModelLoader::modelLoaded, this, &MainWindow::showModel);
    connect(m_loader, &ModelLoader::strategyLoaded, this, &MainWindow::showStrategy);
    connect(m_loader, &ModelLoader::failed, this,
            [this](const QString& path, const QString& title, const QString& message) {
                showError(title, message);
                m_statusLabel->setText(m_model ? tr("Could not open %1; still showing %2.")
                                                     .arg(QFileInfo(path).fileName(), m_model->displayName())
                                               : tr("Could not open %1.").arg(QFileInfo(path).fileName()));
                emit openFailed(path, message);
            });
    connect(m_lora, &LoraTab::planOptionsChanged, this, &MainWindow::replan);
    connect(m_lora, &LoraTab::showTensorRequested, this, [this](const QString& name) {
        if (m_tensors->selectTensor(name)) m_tabs->setCurrentWidget(m_tensors);
    });
    connect(m_merge, &MergePanel::mergeStarted, this, [this] {
        m_statusLabel->setText(tr("Merging…"));
        m_messageBar->hide();
    });
    connect(m_merge, &MergePanel::mergeFinished, this,
            [this](bool success, bool cancelled, const QString& message) {
                if (success) {
                    m_statusLabel->setText(tr("Merge finished."));
                } else if (cancelled) {
                    m_statusLabel->setText(tr("Merge cancelled; nothing was written."));
                } else {
                    m_statusLabel->setText(tr("The merge failed."));
                    if (!m_closeAfterMerge) showError(tr("The merge failed"), message);
                }
                if (m_closeAfterMerge) close();
            });
}

MainWindow::~MainWindow() = default;

void MainWindow::createActions() {
    m_openFileAction =
        new QAction(style()->standardIcon(QStyle::SP_DialogOpenButton), tr("&Open Checkpoint…"), this);
    m_openFileAction->setObjectName(QStringLiteral("actionOpenFile"));
    m_openFileAction->setShortcut(QKeySequence::Open);
    m_openFileAction->setStatusTip(tr("Open a .ckpt or .safetensors file, or a strategy file"));
    connect(m_openFileAction, &QAction::triggered, this, &MainWindow::chooseFileToOpen);

    m_openFolderAction =
        new QAction(style()->standardIcon(QStyle::SP_DirOpenIcon), tr("Open &Distributed Checkpoint…"), this);
    m_openFolderAction->setObjectName(QStringLiteral("actionOpenFolder"));
    m_openFolderAction->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_O));
    m_openFolderAction->setStatusTip(tr("Open a folder holding rank_0, rank_1, … folders"));
    connect(m_openFolderAction, &QAction::triggered, this, &MainWindow::chooseFolderToOpen);

    m_quitAction = new QAction(tr("&Quit"), this);
    m_quitAction->setObjectName(QStringLiteral("actionQuit"));
    m_quitAction->setShortcut(QKeySequence::Quit);
    m_quitAction->setMenuRole(QAction::QuitRole);
    connect(m_quitAction, &QAction::triggered, this, &MainWindow::close);

    m_findAction = new QAction(tr("&Find Parameter"), this);
    m_findAction->setObjectName(QStringLiteral("actionFind"));
    m_findAction->setShortcut(QKeySequence::Find);
    connect(m_findAction, &QAction::triggered, this, [this] {
        m_tabs->setCurrentWidget(m_tensors);
        m_tensors->focusFilter();
    });

    m_demoAction = new QAction(tr("Open &Demo Workspace"), this);
    m_demoAction->setObjectName(QStringLiteral("actionDemo"));
    m_demoAction->setStatusTip(
        tr("Write small demo checkpoints with LoRA weights to a temporary folder and open them"));
    connect(m_demoAction, &QAction::triggered, this, &MainWindow::openDemoWorkspace);

    m_aboutAction = new QAction(tr("&About LoRA Merge Studio"), this);
    m_aboutAction->setObjectName(QStringLiteral("actionAbout"));
    m_aboutAction->setMenuRole(QAction::AboutRole);
    connect(m_aboutAction, &QAction::triggered, this, &MainWindow::showAbout);

    m_cancelAction = new QAction(tr("Cancel"), this);
    m_cancelAction->setObjectName(QStringLiteral("actionCancel"));
    m_cancelAction->setShortcut(QKeySequence(Qt::Key_Escape));
    m_cancelAction->setShortcutContext(Qt::WindowShortcut);
    m_cancelAction->setStatusTip(tr("Stop the running merge, or the checkpoint being opened"));
    addAction(m_cancelAction);
    connect(m_cancelAction, &QAction::triggered, this, [this] {
        if (m_merge->isRunning())
            m_merge->requestCancel();
        else if (m_loader->isBusy())
            m_loader->cancel();
    });
}

void MainWindow::createMenus() {
    auto* file = menuBar()->addMenu(tr("&File"));
    file->setObjectName(QStringLiteral("fileMenu"));
    file->addAction(m_openFileAction);
    file->addAction(m_openFolderAction);
    m_recentMenu = file->addMenu(tr("Open &Recent"));
    m_recentMenu->setObjectName(QStringLiteral("recentMenu"));
    connect(m_recent, &RecentLocations::changed, this, &MainWindow::rebuildRecentMenu);
    rebuildRecentMenu();
    file->addSeparator();
    file->addAction(m_quitAction);

    auto* edit = menuBar()->addMenu(tr("&Edit"));
    edit->addAction(m_findAction);

    auto* view = menuBar()->addMenu(tr("&View"));
    for (int i = 0; i < m_tabs->count(); ++i) {
        auto* action = view->addAction(m_tabs->tabText(i));
        action->setObjectName(QStringLiteral("actionShowTab%1").arg(i + 1));
        action->setShortcut(QKeySequence(Qt::ALT | Qt::Key(Qt::Key_1 + i)));
        connect(action, &QAction::triggered, this, [this, i] { m_tabs->setCurrentIndex(i); });
    }
    view->addSeparator();
    auto* browserAction = m_browserDock->toggleViewAction();
    browserAction->setObjectName(QStringLiteral("actionToggleBrowser"));
    view->addAction(browserAction);
    auto* mergeAction = m_mergeDock->toggleViewAction();
    mergeAction->setObjectName(QStringLiteral("actionToggleMerge"));
    view->addAction(mergeAction);
    auto* logAction = m_logDock->toggleViewAction();
    logAction->setObjectName(QStringLiteral("actionToggleLog"));
    logAction->setText(tr("&Log"));
    logAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_L));
    view->addAction(logAction);

    auto* help = menuBar()->addMenu(tr("&Help"));
    help->addAction(m_demoAction);
    help->addSeparator();
    help->addAction(m_aboutAction);
}

void MainWindow::rebuildRecentMenu() {
    m_recentMenu->clear();
    int number = 0;
    for (const auto& path : m_recent->paths()) {
        auto* action = m_recentMenu->addAction(QDir::toNativeSeparators(path));
        action->setObjectName(QStringLiteral("recentAction%1").arg(number++));
        connect(action, &QAction::triggered, this, [this, path] { openRecent(path); });
    }
    if (m_recent->paths().isEmpty()) {
        auto* none = m_recentMenu->addAction(tr("(nothing opened yet)"));
        none->setObjectName(QStringLiteral("recentNoneAction"));
        none->setEnabled(false);
    }
    m_recentMenu->addSeparator();
    auto* clear = m_recentMenu->addAction(tr("Clear list"));
    clear->setObjectName(QStringLiteral("clearRecentAction"));
    clear->setEnabled(!m_recent->paths().isEmpty());
    connect(clear, &QAction::triggered, m_recent, &RecentLocations::clear);
}

void MainWindow::restoreSettings() {
    QSettings settings;
    const auto geometry = settings.value(QStringLiteral("window/geometry")).toByteArray();
    if (geometry.isEmpty() || !restoreGeometry(geometry)) {
        const QRect available = screen() ? screen()->availableGeometry() : QRect(0, 0, 1600, 1000);
        resize(std::min(1720, available.width() * 92 / 100), std::min(1000, available.height() * 92 / 100));
    }
    if (!restoreState(settings.value(QStringLiteral("window/state")).toByteArray())) {
        // First start: docks in proportion to the window, so the tabs keep room on a 1024-wide screen.
        resizeDocks({m_browserDock, m_mergeDock},
                    {std::clamp(width() / 5, 140, 300), std::min(400, width() * 3 / 10)}, Qt::Horizontal);
        resizeDocks({m_logDock}, {std::min(150, height() / 5)}, Qt::Vertical);
    }
    m_tensors->splitter()->restoreState(
        settings.value(QStringLiteral("window/tensorsSplitter")).toByteArray());
    m_strategy->splitter()->restoreState(
        settings.value(QStringLiteral("window/strategySplitter")).toByteArray());
    const QString folder = settings.value(QStringLiteral("browser/folder")).toString();
    if (!folder.isEmpty() && QFileInfo(folder).isDir()) m_browser->setFolder(folder);
}

void MainWindow::saveSettings() const {
    QSettings settings;
    settings.setValue(QStringLiteral("window/geometry"), saveGeometry());
    settings.setValue(QStringLiteral("window/state"), saveState());
    settings.setValue(QStringLiteral("window/tensorsSplitter"), m_tensors->splitter()->saveState());
    settings.setValue(QStringLiteral("window/strategySplitter"), m_strategy->splitter()->saveState());
    // A demo folder is temporary: do not come back to it next time.
    const QString folder = m_browser->currentFolder();
    if (!m_demoDir || !folder.startsWith(m_demoDir->path()))
        settings.setValue(QStringLiteral("browser/folder"), folder);
}

bool MainWindow::isLoading() const {
    return m_loader->isBusy();
}

void MainWindow::openPath(const QString& path, const QString& strategy) {
    OpenRequest request;
    request.path = path;
    request.strategy = strategy;
    open(request);
}

void MainWindow::open(const OpenRequest& given) {
    OpenRequest request = given;
    for (QString* text : {&request.path, &request.strategy, &request.adapter, &request.loraConfig})
        *text = QDir::fromNativeSeparators(text->trimmed());
    if (request.path.isEmpty()) return;
    m_messageBar->hide();
    m_loader->open(request);
}

namespace {

// The options of an open request worth restoring from the recent list, and back.
QVariantMap optionsOf(const OpenRequest& request) {
    QVariantMap options;
    const auto put = [&](const char* key, const QString& value) {
        if (!value.isEmpty()) options.insert(QString::fromLatin1(key), value);
    };
    put("strategy", request.strategy);
    put("adapter", request.adapter);
    put("loraConfig", request.loraConfig);
    put("ckptName", request.ckptName);
    if (request.replicaCheck != ReplicaCheck::Full)
        options.insert(QStringLiteral("replicaCheck"), int(request.replicaCheck));
    return options;
}

OpenRequest requestOf(const QString& path, const QVariantMap& options) {
    OpenRequest request;
    request.path = path;
    request.strategy = options.value(QStringLiteral("strategy")).toString();
    request.adapter = options.value(QStringLiteral("adapter")).toString();
    request.loraConfig = options.value(QStringLiteral("loraConfig")).toString();
    request.ckptName = options.value(QStringLiteral("ckptName")).toString();
    const int check = options.value(QStringLiteral("replicaCheck"), int(ReplicaCheck::Full)).toInt();
    if (check >= int(ReplicaCheck::Full) && check <= int(ReplicaCheck::Off))
        request.replicaCheck = ReplicaCheck(check);
    return request;
}

bool isLoraConfigName(const QString& path) {
    const QString name = QFileInfo(path).fileName().toLower();
    return name.endsWith(QLatin1StringView(".yaml")) || name.endsWith(QLatin1StringView(".yml")) ||
           name == QLatin1StringView("adapter_config.json");
}

}  // namespace

void MainWindow::openRecent(const QString& path) {
    open(requestOf(path, m_recent->options(path)));
}

OpenRequest MainWindow::requestForPaths(const QStringList& paths) const {
    OpenRequest request;
    for (const QString& path : paths) {
        if (isLoraConfigName(path)) {
            request.loraConfig = path;
            continue;
        }
        switch (classifyPath(toPath(path), paths.size() > 1 || m_model != nullptr)) {
            case PathKind::StrategyFile:
                request.strategy = path;
                break;
            case PathKind::Adapter:
                // The adapter of the model dropped with it, or of the one open; alone it opens as itself.
                if (request.adapter.isEmpty() && (paths.size() > 1 || m_model))
                    request.adapter = path;
                else if (request.path.isEmpty())
                    request.path = path;
                break;
            default:
                if (request.path.isEmpty()) request.path = path;
                break;
        }
    }
    if (request.path.isEmpty() && m_model && (!request.adapter.isEmpty() || !request.loraConfig.isEmpty())) {
        // Only an adapter or a config dropped: they go with the model that is open.
        const OpenRequest current = m_model->opened;
        request.path = current.path;
        if (request.strategy.isEmpty()) request.strategy = current.strategy;
        if (request.adapter.isEmpty()) request.adapter = current.adapter;
        request.ckptName = current.ckptName;
        request.replicaCheck = current.replicaCheck;
    }
    if (request.path.isEmpty() && !request.strategy.isEmpty())
        request.path = request.strategy;  // shown alone
    return request;
}

void MainWindow::openDemoWorkspace() {
    m_demoDir =
        std::make_unique<QTemporaryDir>(QDir::temp().filePath(QStringLiteral("loramerge-demo-XXXXXX")));
    if (!m_demoDir->isValid()) {
        showError(tr("Cannot create the demo workspace"), m_demoDir->errorString());
        return;
    }
    const QString dir = m_demoDir->path();
    m_statusLabel->setText(tr("Writing the demo checkpoints…"));
    auto* watcher = new QFutureWatcher<Result<DemoInfo>>(this);
    connect(watcher, &QFutureWatcher<Result<DemoInfo>>::finished, this, [this, watcher, dir] {
        const auto result = watcher->result();
        watcher->deleteLater();
        if (!result) {
            showError(tr("Cannot write the demo workspace"), errorText(result.error()));
            return;
        }
        m_demo = *result;
        lms::log().info("demo workspace written to {}", dir.toStdString());
        m_browser->setFolder(dir);
        emit demoReady(dir);
        openPath(qs(m_demo.distributedDir));
    });
    watcher->setFuture(QtConcurrent::run([dir] { return writeDemo(toPath(dir)); }));
}

void MainWindow::showModel(std::shared_ptr<const LoadedModel> model) {
    m_model = std::move(model);
    m_messageBar->hide();
    // A new model starts with every pair included.
    m_lora->clear();
    PlanOptions options = m_lora->planOptions();
    options.disabledBases.clear();
    m_plan = planLora(m_model->source->tensors(), options);
    m_lora->setPlan(m_plan);
    m_tensors->setModel(m_model, m_plan);
    m_tensors->clearFilter();  // a filter typed for the previous model would hide this one's tensors
    m_strategy->setModel(m_model);
    m_merge->setModel(m_model);
    m_merge->setPlan(m_plan, options);
    m_impact->setModel(m_model, m_plan);
    m_compare->setModel(m_model);
    m_recent->add(m_model->opened.path, optionsOf(m_model->opened));
    m_browser->reveal(m_model->path);
    if (!m_model->notes.isEmpty()) {
        QStringList notes;
        for (QString note : m_model->notes) {
            if (!note.isEmpty()) note[0] = note[0].toUpper();
            if (!note.endsWith(QLatin1Char('.'))) note += QLatin1Char('.');
            notes << note;
        }
        m_messageBar->showMessage(MessageBar::Kind::Information, QString(), notes.join(QLatin1Char('\n')));
    }
    m_statusLabel->setText(tr("%1: %2 parameters, %3 LoRA pairs")
                               .arg(m_model->description, countText(m_model->source->tensors().size()),
                                    countText(m_plan.pairs.size())));
    updateTitle();
    updateTabTitles();
    emit modelShown(m_model->path);
}

void MainWindow::showStrategy(std::shared_ptr<const Strategy> strategy, const QString& path) {
    if (m_model && m_model->isDistributed() &&
        QFileInfo(path).absoluteFilePath() != QFileInfo(m_model->strategyFile).absoluteFilePath()) {
        // A strategy chosen for the open distributed checkpoint: reopen the checkpoint with it.
        m_merge->setStrategyPath(path);
        openPath(m_model->path, path);
        return;
    }
    m_strategy->setStrategy(std::move(strategy), path, m_model);
    if (!m_model || !m_model->isDistributed()) m_merge->setStrategyPath(path);
    m_tabs->setCurrentWidget(m_strategy);
    if (!isStrategyFileName(QFileInfo(path).fileName().toStdString()))
        m_messageBar->showMessage(MessageBar::Kind::Information, QString(),
                                  tr("%1 is a parallel strategy file, not a checkpoint: "
                                     "it is shown in the Strategy tab.")
                                      .arg(QFileInfo(path).fileName()));
    m_statusLabel->setText(tr("Strategy %1 read.").arg(QFileInfo(path).fileName()));
    m_recent->add(path);
    emit modelShown(path);
}

void MainWindow::showError(const QString& title, const QString& message) {
    m_messageBar->showMessage(MessageBar::Kind::Error, title, message);
}

void MainWindow::replan() {
    if (!m_model) return;
    const auto options = m_lora->planOptions();
    m_plan = planLora(m_model->source->tensors(), options);
    m_lora->setPlan(m_plan);
    m_merge->setPlan(m_plan, options);
    m_impact->setModel(m_model, m_plan);
    updateTabTitles();
}

void MainWindow::updateTitle() {
    setWindowTitle(m_model ? tr("%1 — %2").arg(m_model->displayName(), QString::fromUtf8(kAppName))
                           : QString::fromUtf8(kAppName));
}

void MainWindow::updateTabTitles() {
    const size_t tensors = m_model ? m_model->source->tensors().size() : 0;
    m_tabs->setTabText(0, m_model ? tr("Tensors (%1)").arg(countText(tensors)) : tr("Tensors"));
    m_tabs->setTabText(1, tr("Strategy"));
    QString lora = m_model ? tr("LoRA (%1)").arg(m_plan.pairs.size()) : tr("LoRA");
    if (m_plan.problemPairs) lora += QStringLiteral(" ⚠");
    m_tabs->setTabText(2, lora);
}

void MainWindow::chooseFileToOpen() {
    const QString start = m_model ? QFileInfo(m_model->path).absolutePath() : m_browser->currentFolder();
    prompts().chooseFile(this, tr("Open checkpoint"), start,
                         tr("Checkpoints and strategies (*.ckpt *.safetensors *.json);;All files (*)"),
                         [self = QPointer<MainWindow>(this)](const QString& path) {
                             if (self && !path.isEmpty()) self->openPath(path);
                         });
}

void MainWindow::chooseFolderToOpen() {
    prompts().chooseDirectory(this, tr("Open distributed checkpoint (the folder holding rank_0, rank_1, …)"),
                              m_browser->currentFolder(),
                              [self = QPointer<MainWindow>(this)](const QString& path) {
                                  if (self && !path.isEmpty()) self->openPath(path);
                              });
}

void MainWindow::showAbout() {
    prompts().inform(
        this, tr("About %1").arg(QString::fromUtf8(kAppName)),
        tr("<h3>%1 %2</h3>"
           "<p>Merge LoRA adapters into MindSpore checkpoints — full or distributed — and see what is "
           "inside before you do.</p>"
           "<p>Application id: %3<br>Built with Qt %4 (running on Qt %5).</p>")
            .arg(QString::fromUtf8(kAppName), QString::fromUtf8(kVersion), QString::fromUtf8(kAppId),
                 QStringLiteral(QT_VERSION_STR), QString::fromUtf8(qVersion())));
}

void MainWindow::closeEvent(QCloseEvent* event) {
    if (m_merge->isRunning()) {
        event->ignore();
        if (m_closeAfterMerge) return;
        prompts().confirm(
            this, tr("Stop the merge?"),
            tr("A merge is running. Stop it and quit? Nothing of the unfinished output is kept."),
            tr("Stop and Quit"), [self = QPointer<MainWindow>(this)](bool yes) {
                if (!self || !yes) return;
                self->m_closeAfterMerge = true;
                self->m_merge->requestCancel();
            });
        return;
    }
    m_loader->cancel();
    saveSettings();
    event->accept();
}

void MainWindow::dragEnterEvent(QDragEnterEvent* event) {
    const auto urls = event->mimeData()->urls();
    if (!urls.isEmpty() && urls.front().isLocalFile()) event->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* event) {
    QStringList paths;
    for (const auto& url : event->mimeData()->urls())
        if (url.isLocalFile()) paths << url.toLocalFile();
    if (paths.isEmpty()) return;
    event->acceptProposedAction();
    open(requestForPaths(paths));
}

}  // namespace lms::ui
