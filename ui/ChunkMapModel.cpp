#include "ChunkMapModel.h"

#include "SliceDiagram.h"
#include "UiText.h"
#include "lms/distributed/Checkpoint2.h"

#include <QSet>
#include <algorithm>
#include <filesystem>

namespace lms::ui {

ChunkMapModel::ChunkMapModel(QObject* parent) : QAbstractTableModel(parent) {}

bool ChunkMapModel::setSource(std::shared_ptr<const ModelSource> source) {
    beginResetModel();
    m_view = source ? assembledView(*source) : std::nullopt;
    m_source = m_view ? std::move(source) : nullptr;
    endResetModel();
    return m_view.has_value();
}

const SourceTensor* ChunkMapModel::tensorAt(int row) const {
    if (!m_view || row < 0 || row >= rowCount()) return nullptr;
    return &(*m_view->tensors)[size_t(row)].tensor;
}

int ChunkMapModel::rowOf(const QString& name) const {
    for (int row = 0; row < rowCount(); ++row)
        if (qs(tensorAt(row)->name) == name) return row;
    return -1;
}

bool ChunkMapModel::holdersAreFiles() const {
    if (!m_view) return true;
    for (const auto& file : *m_view->files)
        if (checkpoint2ShardRank(std::filesystem::path(file->path()).filename().string())) return false;
    return true;
}

QString ChunkMapModel::holderOf(size_t file) const {
    const std::string name = std::filesystem::path((*m_view->files)[file]->path()).filename().string();
    if (auto rank = checkpoint2ShardRank(name)) return tr("rank %1").arg(*rank);
    return qs(name);
}

QString ChunkMapModel::holdersText(const AssembledTensor& t) const {
    QStringList holders;
    for (const auto& piece : t.pieces) {
        if (!holders.contains(holderOf(piece.file))) holders << holderOf(piece.file);
        for (size_t copy : piece.copies)
            if (!holders.contains(holderOf(copy))) holders << holderOf(copy);
    }
    return holders.join(QStringLiteral(", "));
}

ChunkMapModel::Pieces ChunkMapModel::piecesAt(int row) const {
    Pieces out;
    if (!tensorAt(row)) return out;
    for (const auto& piece : (*m_view->tensors)[size_t(row)].pieces) {
        SlicePiece slice;
        slice.box = piece.box;
        QStringList holders;
        std::vector<size_t> files{piece.file};
        files.insert(files.end(), piece.copies.begin(), piece.copies.end());
        for (size_t file : files) {
            holders << holderOf(file);
            if (auto rank = checkpoint2ShardRank(
                    std::filesystem::path((*m_view->files)[file]->path()).filename().string()))
                slice.ranks.push_back(*rank);
        }
        std::sort(slice.ranks.begin(), slice.ranks.end());
        // Ranks read as the Strategy tab writes them ("ranks 0–3"); files by name.
        out.labels << (slice.ranks.size() == files.size() ? ranksLabel(slice.ranks)
                                                          : holders.join(QStringLiteral(", ")));
        out.pieces.push_back(std::move(slice));
    }
    return out;
}

int ChunkMapModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() || !m_view ? 0 : int(m_view->tensors->size());
}

int ChunkMapModel::columnCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant ChunkMapModel::data(const QModelIndex& index, int role) const {
    const SourceTensor* tensor = tensorAt(index.row());
    if (!index.isValid() || !tensor || index.column() >= ColumnCount) return {};
    const AssembledTensor& t = (*m_view->tensors)[size_t(index.row())];
    if (role == Qt::DisplayRole) {
        switch (index.column()) {
            case NameColumn:
                return qs(tensor->name);
            case TypeColumn:
                return qs(tensor->typeName);
            case FullShapeColumn:
                return shapeText(tensor->dims);
            case ChunkShapeColumn: {
                QStringList shapes;
                for (const auto& piece : t.pieces)
                    if (!shapes.contains(shapeText(piece.box.shape())))
                        shapes << shapeText(piece.box.shape());
                return shapes.join(QStringLiteral(", "));
            }
            case ChunksColumn:
                return QString::number(t.pieces.size());
            case HoldersColumn:
                return holdersText(t);
            default:
                return {};
        }
    }
    if (role == Qt::TextAlignmentRole && index.column() == ChunksColumn)
        return QVariant(Qt::AlignRight | Qt::AlignVCenter);
    return {};
}

QVariant ChunkMapModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole || section < 0 || section >= ColumnCount)
        return {};
    static const char* const names[] = {"Parameter",  "Chunks",      "Stored by",
                                        "Full shape", "Chunk shape", "Dtype"};
    return tr(names[section]);
}

}  // namespace lms::ui
