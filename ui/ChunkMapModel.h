#pragma once
// Where the pieces of a model stored as chunks live (a MindFormers Checkpoint 2.0 iteration, whose
// metadata.json places every chunk by slice id, or a shard folder): one row per tensor with its
// chunk count and the files / ranks holding them; piecesAt() gives the chunks with their global
// element boxes for the SliceDiagram, labelled with the rank that saved them (or the file name).

#include "lms/distributed/Assembled.h"

#include <QAbstractTableModel>
#include <QStringList>
#include <memory>

namespace lms::ui {

class ChunkMapModel final : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column {
        NameColumn,
        ChunksColumn,
        HoldersColumn,
        FullShapeColumn,
        ChunkShapeColumn,
        TypeColumn,
        ColumnCount
    };

    explicit ChunkMapModel(QObject* parent = nullptr);
    // Shows the chunks of `source` when it is assembled from pieces (false, and empty, otherwise).
    bool setSource(std::shared_ptr<const ModelSource> source);
    bool isEmpty() const { return !m_view; }
    size_t fileCount() const { return m_view ? m_view->files->size() : 0; }
    // True when no file is named like a Checkpoint 2.0 shard (the holders are shown by file name).
    bool holdersAreFiles() const;

    // The chunks of row `row`: global boxes with the saving ranks, and one label per chunk.
    struct Pieces {
        std::vector<SlicePiece> pieces;
        QStringList labels;
    };
    Pieces piecesAt(int row) const;
    const SourceTensor* tensorAt(int row) const;
    int rowOf(const QString& name) const;

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

private:
    // The holder of a piece for people: "rank 3" for a Checkpoint 2.0 shard, else the file name.
    QString holderOf(size_t file) const;
    QString holdersText(const AssembledTensor& t) const;

    std::shared_ptr<const ModelSource> m_source;
    std::optional<AssembledView> m_view;
};

}  // namespace lms::ui
