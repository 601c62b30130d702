#pragma once
// The browser: a folder tree filtered to what matters here (.ckpt and .safetensors files,
// strategy files, folders), with a path field, recent locations and the details of the
// selected item. A folder of rank_<n> folders is marked as one distributed checkpoint.

#include <QHash>
#include <QSet>
#include <QSortFilterProxyModel>
#include <QWidget>

class QFileSystemModel;
class QLabel;
class QLineEdit;
class QMenu;
class QPushButton;
class QToolButton;
class QTreeView;

namespace lms::ui {

class RecentLocations;

// Over a QFileSystemModel: keeps folders and relevant files, and names what each one is.
class CheckpointFileFilter final : public QSortFilterProxyModel {
    Q_OBJECT
public:
    explicit CheckpointFileFilter(QObject* parent = nullptr);
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    // Forgets what was learnt about folders (after they changed on disk).
    void forgetFolders();

protected:
    bool filterAcceptsRow(int sourceRow, const QModelIndex& sourceParent) const override;
    bool lessThan(const QModelIndex& left, const QModelIndex& right) const override;

private:
    QString kindText(const QString& path, bool isDir) const;
    mutable QHash<QString, QString> m_folderKinds;  // listing a folder costs a system call
    mutable QSet<QString> m_distributedFolders;     // folders that open as one model
    mutable QHash<QString, QString> m_folderTips;
};

class BrowserPanel final : public QWidget {
    Q_OBJECT
public:
    explicit BrowserPanel(RecentLocations* recent, QWidget* parent = nullptr);

    QString currentFolder() const { return m_folder; }
    // Shows `folder` (or the folder of a file) and selects the file/folder itself.
    void reveal(const QString& path);
    void setFolder(const QString& folder);
    QString selectedPath() const;
    QTreeView* view() const { return m_view; }
    CheckpointFileFilter* filterModel() const { return m_filter; }
    QFileSystemModel* fileSystemModel() const { return m_fs; }

signals:
    void openRequested(const QString& path);
    // A path picked from the recent list: opened again with the options it was opened with.
    void recentRequested(const QString& path);

private:
    void activate(const QModelIndex& proxyIndex);
    QString distributedDetails(const QString& path) const;
    void updateDetails();
    void widenNames();
    void rebuildRecentMenu();
    void goUp();

    RecentLocations* m_recent;
    QFileSystemModel* m_fs;
    CheckpointFileFilter* m_filter;
    QString m_folder;
    QString m_pendingSelection;
    QLineEdit* m_pathEdit;
    QToolButton* m_upButton;
    QToolButton* m_recentButton;
    QMenu* m_recentMenu;
    QTreeView* m_view;
    QLabel* m_details;
    QPushButton* m_openButton;
};

}  // namespace lms::ui
