#pragma once
// The Strategy tab: the merged parallel strategy per parameter, and for the selected parameter
// a drawing of the full tensor cut into its slices. A model stored as chunks without a strategy
// (Checkpoint 2.0, shard folders) shows its chunk map instead: per tensor the chunks with their
// global offsets and the rank (or file) that stored each. When the merge the panel describes
// re-shards (a destination strategy), a second drawing beside the first shows the selected tensor
// as the destination ranks will store it, each slice with the file it goes to.

#include "Workspace.h"
#include "lms/merge/Request.h"

#include <QWidget>

class QLabel;
class QLineEdit;
class QSortFilterProxyModel;
class QSplitter;
class QStackedWidget;
class QTableView;

namespace lms::ui {

class ChunkMapModel;
class SliceDiagram;
class StrategyModel;

class StrategyTab final : public QWidget {
    Q_OBJECT
public:
    explicit StrategyTab(QWidget* parent = nullptr);

    // A distributed checkpoint: its strategy with full shapes. A full checkpoint has none.
    void setModel(const std::shared_ptr<const LoadedModel>& model);
    // A strategy file opened on its own (full shapes unknown unless `model` has the names).
    void setStrategy(std::shared_ptr<const Strategy> strategy, const QString& path,
                     const std::shared_ptr<const LoadedModel>& model);
    void clear();
    bool selectParameter(const QString& name);
    // resolve()'s answer for the merge the panel describes (MergePanel::previewChanged); null or
    // one without a destination strategy hides the destination drawing. A full checkpoint with a
    // destination strategy lists that strategy's parameters.
    void setMergePreview(std::shared_ptr<const Resolution> preview);

    StrategyModel* strategyModel() const { return m_model; }
    ChunkMapModel* chunkModel() const { return m_chunks; }
    bool showsChunkMap() const;
    QTableView* view() const { return m_view; }
    SliceDiagram* diagram() const { return m_diagram; }
    SliceDiagram* destinationDiagram() const { return m_destination; }  // hidden without a re-shard
    bool listsDestinationStrategy() const { return !m_listedDestinationFile.isEmpty(); }
    QSplitter* splitter() const { return m_splitter; }

private:
    void showSelected();
    void showSource();  // m_loaded's strategy, chunk map or placeholder
    void showChunkMap(const LoadedModel& model);
    void useStrategyModel();
    void listDestinationStrategy(const ResolvedJob& job);
    void showDestination(const QString& name, const std::vector<int64_t>& shape);
    QString destinationFileLabel(int64_t rank) const;  // "rank_3/checkpoint_3.ckpt"
    const ResolvedJob* reshardJob() const;             // the preview's job when it re-shards
    QString destinationRefusal() const;                // why the destination strategy cannot be used

    StrategyModel* m_model;
    ChunkMapModel* m_chunks;
    QSortFilterProxyModel* m_filter;
    QStackedWidget* m_stack;
    QLabel* m_placeholder;
    QLabel* m_infoLabel;
    QLineEdit* m_filterEdit;
    QSplitter* m_splitter;
    QTableView* m_view;
    SliceDiagram* m_diagram;
    SliceDiagram* m_destination;
    std::shared_ptr<const LoadedModel> m_loaded;  // the open model (setModel)
    std::shared_ptr<const Resolution> m_preview;
    // The destination strategy the table lists instead of a full checkpoint's none ("" otherwise).
    QString m_listedDestinationFile;
};

}  // namespace lms::ui
