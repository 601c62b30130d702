#include "BrowserPanel.h"

#include "TableColumns.h"

#include "RecentLocations.h"
#include "UiText.h"
#include "Workspace.h"

#include <QApplication>
#include <QCompleter>
#include <QDir>
#include <QFileInfo>
#include <QFileSystemModel>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QPushButton>
#include <QStyle>
#include <QToolButton>
#include <QTreeView>
#include <QVBoxLayout>
#include <algorithm>

namespace lms::ui {

CheckpointFileFilter::CheckpointFileFilter(QObject* parent) : QSortFilterProxyModel(parent) {
    setDynamicSortFilter(true);
}

void CheckpointFileFilter::forgetFolders() {
    m_folderKinds.clear();
    m_distributedFolders.clear();
    m_folderTips.clear();
    if (rowCount() > 0) emit dataChanged(index(0, 0), index(rowCount() - 1, columnCount() - 1));
}

bool CheckpointFileFilter::filterAcceptsRow(int sourceRow, const QModelIndex& sourceParent) const {
    const auto* fs = qobject_cast<const QFileSystemModel*>(sourceModel());
    if (!fs) return true;
    const auto index = fs->index(sourceRow, 0, sourceParent);
    const QString name = fs->fileName(index);
    if (fs->isDir(index))
        return !name.startsWith(QLatin1Char('.')) || fs->filePath(index) == QDir::rootPath();
    return isCheckpointFileName(name.toStdString()) || isStrategyFileName(name.toStdString());
}

bool CheckpointFileFilter::lessThan(const QModelIndex& left, const QModelIndex& right) const {
    const auto* fs = qobject_cast<const QFileSystemModel*>(sourceModel());
    if (!fs) return QSortFilterProxyModel::lessThan(left, right);
    const bool leftDir = fs->isDir(left), rightDir = fs->isDir(right);
    if (leftDir != rightDir) return leftDir;
    if (left.column() == 1 && !leftDir) return fs->size(left) < fs->size(right);
    return naturalCompare(fs->fileName(left), fs->fileName(right)) < 0;
}

QString CheckpointFileFilter::kindText(const QString& path, bool isDir) const {
    const QString name = QFileInfo(path).fileName();
    if (!isDir) {
        if (isStrategyFileName(name.toStdString())) return tr("strategy");
        if (name.endsWith(QLatin1StringView(".safetensors"), Qt::CaseInsensitive)) return tr("safetensors");
        return tr("checkpoint");
    }
    auto it = m_folderKinds.find(path);
    if (it != m_folderKinds.end()) return *it;
    QString kind;
    int64_t rank = 0;
    const auto pathKind = classifyPath(toPath(path));
    if (isRankFolderName(name.toStdString(), &rank)) {
        kind = tr("rank %1").arg(rank);
    } else if (pathKind == PathKind::MergedOutput) {
        kind = tr("merged checkpoint");
        m_distributedFolders.insert(path);  // opens like a checkpoint, not a folder to browse
        m_folderTips.insert(path, tr("Merged checkpoint (rank_0 only)"));
    } else if (pathKind == PathKind::DistributedFolder) {
        const auto ranks = discoverRanks(toPath(path));
        kind = tr("%n rank(s)", nullptr, ranks ? int(ranks->size()) : 0);
        m_distributedFolders.insert(path);
        m_folderTips.insert(path, tr("Distributed checkpoint: %1").arg(kind));
    } else if (pathKind == PathKind::Checkpoint2 || pathKind == PathKind::ShardFolder) {
        kind = pathKind == PathKind::Checkpoint2 ? tr("Checkpoint 2.0") : tr("safetensors shards");
        m_distributedFolders.insert(path);  // opens as one model, like a distributed checkpoint
        m_folderTips.insert(path, pathKind == PathKind::Checkpoint2
                                      ? tr("MindFormers Checkpoint 2.0 save")
                                      : tr("Safetensors shards with their index"));
    } else {
        kind = QString();
    }
    m_folderKinds.insert(path, kind);
    return kind;
}

QVariant CheckpointFileFilter::data(const QModelIndex& index, int role) const {
    const auto* fs = qobject_cast<const QFileSystemModel*>(sourceModel());
    if (!fs || !index.isValid()) return QSortFilterProxyModel::data(index, role);
    const auto source = mapToSource(index);
    if (index.column() == 2 && role == Qt::DisplayRole)
        return kindText(fs->filePath(source), fs->isDir(source));
    if (index.column() == 0 && (role == Qt::DecorationRole || role == Qt::ToolTipRole) && fs->isDir(source)) {
        const QString kind = kindText(fs->filePath(source), true);
        if (m_distributedFolders.contains(fs->filePath(source))) {
            if (role == Qt::ToolTipRole)
                return tr("%1\nDouble-click to open it as one model.")
                    .arg(m_folderTips.value(fs->filePath(source)));
            return QApplication::style()->standardIcon(QStyle::SP_DriveHDIcon);
        }
    }
    if (index.column() == 0 && role == Qt::ToolTipRole) return fs->filePath(source);
    return QSortFilterProxyModel::data(index, role);
}

BrowserPanel::BrowserPanel(RecentLocations* recent, QWidget* parent)
    : QWidget(parent),
      m_recent(recent),
      m_fs(new QFileSystemModel(this)),
      m_filter(new CheckpointFileFilter(this)) {
    setObjectName(QStringLiteral("browserPanel"));
    m_fs->setFilter(QDir::AllDirs | QDir::Files | QDir::NoDotAndDotDot);
    m_fs->setReadOnly(true);
    m_filter->setSourceModel(m_fs);

    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(6, 6, 0, 6);
    auto* bar = new QHBoxLayout;
    m_upButton = new QToolButton(this);
    m_upButton->setObjectName(QStringLiteral("browserUpButton"));
    m_upButton->setIcon(style()->standardIcon(QStyle::SP_FileDialogToParent));
    m_upButton->setToolTip(tr("Parent folder"));
    m_pathEdit = new QLineEdit(this);
    m_pathEdit->setObjectName(QStringLiteral("browserPathEdit"));
    m_pathEdit->setPlaceholderText(tr("Folder or checkpoint path"));
    m_pathEdit->setToolTip(tr("Type or paste a folder to browse, or a checkpoint to open, then press Enter"));
    auto* completerModel = new QFileSystemModel(this);
    completerModel->setFilter(QDir::AllDirs | QDir::Files | QDir::NoDotAndDotDot);
    completerModel->setRootPath(QString());
    auto* completer = new QCompleter(completerModel, this);
    completer->setCompletionMode(QCompleter::PopupCompletion);
    m_pathEdit->setCompleter(completer);
    m_recentButton = new QToolButton(this);
    m_recentButton->setObjectName(QStringLiteral("browserRecentButton"));
    m_recentButton->setText(tr("Recent"));
    m_recentButton->setToolTip(tr("Recently opened checkpoints and folders"));
    m_recentButton->setPopupMode(QToolButton::InstantPopup);
    m_recentMenu = new QMenu(m_recentButton);
    m_recentButton->setMenu(m_recentMenu);
    bar->addWidget(m_upButton);
    bar->addWidget(m_pathEdit, 1);
    bar->addWidget(m_recentButton);
    layout->addLayout(bar);

    m_view = new QTreeView(this);
    m_view->setObjectName(QStringLiteral("browserView"));
    m_view->setModel(m_filter);
    m_view->setUniformRowHeights(true);
    m_view->setSortingEnabled(true);
    m_view->sortByColumn(0, Qt::AscendingOrder);
    // A narrow dock: the name and the kind ("2 ranks", "merged", ...) matter; a file's size is in the
    // summary below the list, so the size and date columns are hidden and the names stay legible.
    m_view->setColumnHidden(1, true);  // size
    m_view->setColumnHidden(3, true);  // date modified
    m_view->setIndentation(14);
    makeColumnsUsable(m_view, m_view->header(), 0, QStringLiteral("browser"), 0.35);
    m_view->setSelectionMode(QAbstractItemView::SingleSelection);
    m_view->setDragEnabled(false);
    layout->addWidget(m_view, 1);

    m_details = new QLabel(this);
    m_details->setObjectName(QStringLiteral("browserDetailsLabel"));
    m_details->setWordWrap(true);
    m_details->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_details->setMinimumHeight(m_details->fontMetrics().height() * 3);
    m_details->setAlignment(Qt::AlignTop | Qt::AlignLeft);
    layout->addWidget(m_details);
    m_openButton = new QPushButton(tr("&Open"), this);
    m_openButton->setObjectName(QStringLiteral("browserOpenButton"));
    m_openButton->setIcon(style()->standardIcon(QStyle::SP_DialogOpenButton));
    layout->addWidget(m_openButton);

    connect(m_upButton, &QToolButton::clicked, this, &BrowserPanel::goUp);
    connect(m_pathEdit, &QLineEdit::returnPressed, this, [this] {
        const QString path = QDir::fromNativeSeparators(m_pathEdit->text().trimmed());
        const auto kind = classifyPath(toPath(path));
        if (kind == PathKind::Folder)
            setFolder(path);
        else
            emit openRequested(path);  // files, distributed folders, and errors for missing paths
    });
    connect(m_view, &QTreeView::activated, this, &BrowserPanel::activate);
    connect(m_view->selectionModel(), &QItemSelectionModel::currentChanged, this,
            &BrowserPanel::updateDetails);
    connect(m_openButton, &QPushButton::clicked, this, [this] {
        const QString path = selectedPath();
        if (!path.isEmpty()) emit openRequested(path);
    });
    connect(m_fs, &QFileSystemModel::directoryLoaded, this, &BrowserPanel::widenNames);
    connect(m_fs, &QFileSystemModel::directoryLoaded, this, [this](const QString& loaded) {
        if (m_pendingSelection.isEmpty() || QFileInfo(m_pendingSelection).absolutePath() != loaded) return;
        const auto index = m_filter->mapFromSource(m_fs->index(m_pendingSelection));
        if (!index.isValid()) return;
        m_view->setCurrentIndex(index);
        m_view->scrollTo(index);
        m_pendingSelection.clear();
    });
    connect(m_recent, &RecentLocations::changed, this, &BrowserPanel::rebuildRecentMenu);
    rebuildRecentMenu();
    updateDetails();
}

void BrowserPanel::setFolder(const QString& folder) {
    const QString absolute = QFileInfo(folder).absoluteFilePath();
    if (!QFileInfo(absolute).isDir()) return;
    m_folder = absolute;
    m_fs->setRootPath(absolute);
    m_view->setRootIndex(m_filter->mapFromSource(m_fs->index(absolute)));
    m_pathEdit->setText(QDir::toNativeSeparators(absolute));
    m_upButton->setEnabled(!QDir(absolute).isRoot());
    m_filter->forgetFolders();
    updateDetails();
}

void BrowserPanel::reveal(const QString& path) {
    const QFileInfo info(path);
    setFolder(info.absolutePath());
    const auto index = m_filter->mapFromSource(m_fs->index(info.absoluteFilePath()));
    if (index.isValid()) {
        m_view->setCurrentIndex(index);
        m_view->scrollTo(index);
    } else {
        m_pendingSelection = info.absoluteFilePath();  // selected when the folder has been read
    }
}

QString BrowserPanel::selectedPath() const {
    const auto index = m_view->currentIndex();
    if (!index.isValid()) return {};
    return m_fs->filePath(m_filter->mapToSource(index.siblingAtColumn(0)));
}

void BrowserPanel::goUp() {
    QDir dir(m_folder);
    if (dir.cdUp()) {
        const QString previous = m_folder;
        setFolder(dir.absolutePath());
        reveal(previous);
    }
}

void BrowserPanel::activate(const QModelIndex& proxyIndex) {
    const QString path = m_fs->filePath(m_filter->mapToSource(proxyIndex.siblingAtColumn(0)));
    if (classifyPath(toPath(path)) == PathKind::Folder) {
        // A plain folder: expanding it is what a double-click on a folder usually does.
        m_view->setExpanded(proxyIndex.siblingAtColumn(0),
                            !m_view->isExpanded(proxyIndex.siblingAtColumn(0)));
        return;
    }
    emit openRequested(path);
}

QString BrowserPanel::distributedDetails(const QString& path) const {
    auto ranks = discoverRanks(toPath(path));
    if (!ranks) return errorText(ranks.error()).toHtmlEscaped();
    QString text = tr("<b>Distributed checkpoint</b>, %n rank(s):", nullptr, int(ranks->size()));
    int shown = 0;
    for (const auto& rank : *ranks) {
        if (++shown > 8) {
            text += QStringLiteral("<br>…");
            break;
        }
        // The file the merge will read and why (Discovery: pickRankCheckpoint's rule).
        text +=
            QStringLiteral("<br>") +
            (rank.picked.empty() ? tr("rank %1: <i>%2</i>").arg(rank.rank).arg(qs(rank.why).toHtmlEscaped())
                                 : tr("rank %1: %2 (%3)")
                                       .arg(rank.rank)
                                       .arg(qs(rank.picked.filename().string()).toHtmlEscaped(),
                                            qs(rank.why).toHtmlEscaped()));
    }
    const auto strategy = findStrategyNear(toPath(path));
    return text + QStringLiteral("<br>") +
           (strategy.path.empty()
                ? tr("Strategy: <i>none found nearby</i>")
                : tr("Strategy: %1")
                      .arg(QDir(path).relativeFilePath(qs(strategy.path.string())).toHtmlEscaped()));
}

void BrowserPanel::updateDetails() {
    const QString path = selectedPath();
    if (path.isEmpty()) {
        m_details->setText(
            tr("Double-click a checkpoint, a strategy file or a distributed checkpoint folder "
               "to open it."));
        m_openButton->setEnabled(false);
        return;
    }
    const QFileInfo info(path);
    QString text;
    bool openable = true;
    switch (classifyPath(toPath(path))) {
        case PathKind::DistributedFolder:
            text = distributedDetails(path);
            break;
        case PathKind::MergedOutput:
            text = tr("<b>Merged checkpoint</b> (rank_0 only, no strategy): opens as a full checkpoint");
            break;
        case PathKind::Checkpoint2:
            text = tr("<b>Checkpoint 2.0</b> (MindFormers save): opens as one model");
            break;
        case PathKind::ShardFolder:
            text = tr("<b>Safetensors shards</b> with their index: open as one model");
            break;
        case PathKind::FullCheckpoint:
        case PathKind::Adapter:
            text = tr("<b>Checkpoint</b>, %1").arg(bytesText(uint64_t(info.size())));
            break;
        case PathKind::StrategyFile:
            text = tr("<b>Parallel strategy</b>, %1 — opens in the Strategy tab")
                       .arg(bytesText(uint64_t(info.size())));
            break;
        case PathKind::Folder:
            text = tr("Folder");
            openable = false;
            break;
        default:
            text = info.fileName().toHtmlEscaped();
            break;
    }
    m_details->setText(text);
    m_openButton->setEnabled(openable);
}

void BrowserPanel::rebuildRecentMenu() {
    m_recentMenu->clear();
    const auto paths = m_recent->paths();
    int number = 0;
    for (const auto& path : paths) {
        auto* action = m_recentMenu->addAction(QDir::toNativeSeparators(path));
        action->setObjectName(QStringLiteral("browserRecentAction%1").arg(number++));
        connect(action, &QAction::triggered, this, [this, path] {
            reveal(path);
            emit recentRequested(path);
        });
    }
    if (paths.isEmpty()) {
        auto* none = m_recentMenu->addAction(tr("(nothing opened yet)"));
        none->setObjectName(QStringLiteral("browserRecentNoneAction"));
        none->setEnabled(false);
    }
    m_recentMenu->addSeparator();
    auto* clearAction = m_recentMenu->addAction(tr("Clear list"));
    clearAction->setObjectName(QStringLiteral("browserClearRecentAction"));
    clearAction->setEnabled(!paths.isEmpty());
    connect(clearAction, &QAction::triggered, m_recent, &RecentLocations::clear);
}

// The folder's entries arrive after the columns were first fitted (QFileSystemModel loads in the
// background), so the name column widens to the names it now holds, up to two thirds of the view.
void BrowserPanel::widenNames() {
    const int before = m_view->columnWidth(0);
    m_view->resizeColumnToContents(0);
    m_view->setColumnWidth(
        0, std::max(before, std::min(m_view->columnWidth(0), m_view->viewport()->width() * 2 / 3)));
}

}  // namespace lms::ui
