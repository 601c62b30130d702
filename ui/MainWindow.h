#pragma once
// The studio's main window. It owns the loader and the panels and routes between them; the
// panels do the work: BrowserPanel (left), the Tensors / Strategy / LoRA tabs (centre),
// MergePanel (right) and LogDock (bottom).

#include "Workspace.h"
#include "lms/lora/LoraPlan.h"
#include "lms/merge/Demo.h"

#include <QMainWindow>
#include <QTemporaryDir>
#include <memory>

class QAction;
class QDockWidget;
class QLabel;
class QMenu;
class QProgressBar;
class QTabWidget;
class QToolButton;

namespace lms::ui {

class BrowserPanel;
class LogDock;
class LogModel;
class CompareTab;
class ImpactTab;
class LoraTab;
class MergePanel;
class MessageBar;
class RecentLocations;
class StrategyTab;
class TensorsTab;

class MainWindow final : public QMainWindow {
    Q_OBJECT
public:
    // `log` is the application's log model (not owned; it outlives the window).
    explicit MainWindow(LogModel* log, QWidget* parent = nullptr);
    ~MainWindow() override;

    // Opens a checkpoint file, a distributed checkpoint folder or a strategy file, off the UI
    // thread; the result (or the error) shows up in the window.
    void openPath(const QString& path, const QString& strategy = QString());
    // Opens a model with its strategy, adapter and the other open options.
    void open(const OpenRequest& request);
    // Opens a recent location again with the options it was last opened with.
    void openRecent(const QString& path);
    // What a drop of these paths opens: the model, a strategy file, an adapter and a LoRA config
    // each recognised by kind (lms::classifyPath); a strategy or adapter alone goes with the model
    // that is open. Empty path when nothing to open.
    OpenRequest requestForPaths(const QStringList& paths) const;
    // Writes the built-in demo into a temporary folder and opens its distributed checkpoint.
    void openDemoWorkspace();

    std::shared_ptr<const LoadedModel> currentModel() const { return m_model; }
    const LoraPlan& currentPlan() const { return m_plan; }
    bool isLoading() const;
    // The demo written by openDemoWorkspace() (empty paths before).
    const DemoInfo& demoInfo() const { return m_demo; }

    BrowserPanel* browser() const { return m_browser; }
    TensorsTab* tensorsTab() const { return m_tensors; }
    StrategyTab* strategyTab() const { return m_strategy; }
    LoraTab* loraTab() const { return m_lora; }
    ImpactTab* impactTab() const { return m_impact; }
    CompareTab* compareTab() const { return m_compare; }
    MergePanel* mergePanel() const { return m_merge; }
    LogDock* logDock() const { return m_logDock; }
    MessageBar* messageBar() const { return m_messageBar; }
    QTabWidget* tabs() const { return m_tabs; }

signals:
    // A model finished opening and every panel shows it.
    void modelShown(const QString& path);
    // Opening failed; the message bar shows `message`.
    void openFailed(const QString& path, const QString& message);
    void demoReady(const QString& dir);

protected:
    void closeEvent(QCloseEvent* event) override;
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dropEvent(QDropEvent* event) override;

private:
    void createStatusBar();
    void connectSignals();
    void createActions();
    void createMenus();
    void restoreSettings();
    void saveSettings() const;
    void showModel(std::shared_ptr<const LoadedModel> model);
    void showStrategy(std::shared_ptr<const Strategy> strategy, const QString& path);
    void showError(const QString& title, const QString& message);
    void replan();
    void updateTitle();
    void updateTabTitles();
    void chooseFileToOpen();
    void chooseFolderToOpen();
    void showAbout();
    void rebuildRecentMenu();

    LogModel* m_log;
    ModelLoader* m_loader;
    RecentLocations* m_recent;
    std::shared_ptr<const LoadedModel> m_model;
    LoraPlan m_plan;

    QDockWidget* m_browserDock;
    QDockWidget* m_mergeDock;
    BrowserPanel* m_browser;
    MessageBar* m_messageBar;
    QTabWidget* m_tabs;
    TensorsTab* m_tensors;
    StrategyTab* m_strategy;
    LoraTab* m_lora;
    ImpactTab* m_impact;
    CompareTab* m_compare;
    MergePanel* m_merge;
    LogDock* m_logDock;
    QLabel* m_statusLabel;
    QProgressBar* m_busyBar;
    QToolButton* m_cancelOpenButton;

    QAction* m_openFileAction = nullptr;
    QAction* m_openFolderAction = nullptr;
    QAction* m_quitAction = nullptr;
    QAction* m_findAction = nullptr;
    QAction* m_demoAction = nullptr;
    QAction* m_aboutAction = nullptr;
    QAction* m_cancelAction = nullptr;  // Esc: stops a running merge, else an open in progress
    QMenu* m_recentMenu = nullptr;

    std::unique_ptr<QTemporaryDir> m_demoDir;
    DemoInfo m_demo;
    bool m_closeAfterMerge = false;
};

}  // namespace lms::ui
