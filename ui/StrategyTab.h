#pragma once
// The Strategy tab: the merged parallel strategy per parameter, and for the selected parameter
// a drawing of the full tensor cut into its slices. A model stored as chunks without a strategy
// (Checkpoint 2.0, shard folders) shows its chunk map instead: per tensor the chunks with their
// global offsets and the rank (or file) that stored each.

#include "Workspace.h"

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

    StrategyModel* strategyModel() const { return m_model; }
    ChunkMapModel* chunkModel() const { return m_chunks; }
    bool showsChunkMap() const;
    QTableView* view() const { return m_view; }
    SliceDiagram* diagram() const { return m_diagram; }
    QSplitter* splitter() const { return m_splitter; }

private:
    void showSelected();
    void showChunkMap(const LoadedModel& model);
    void useStrategyModel();

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
};

}  // namespace lms::ui
