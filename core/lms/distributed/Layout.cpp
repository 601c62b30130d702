#include "lms/distributed/Layout.h"

#include <algorithm>
#include <map>

namespace lms {
namespace {

std::string ints(std::span<const int64_t> values) {
    std::string out = "[";
    for (size_t i = 0; i < values.size(); ++i) out += (i ? ", " : "") + std::to_string(values[i]);
    return out + "]";
}

// Device-matrix index of a tensor-map value (counted from the right).
size_t deviceAxis(const ParamLayout& layout, int32_t mapValue) {
    return layout.devMatrix.size() - 1 - size_t(mapValue);
}

std::vector<bool> usedAxes(const ParamLayout& layout) {
    std::vector<bool> used(layout.devMatrix.size(), false);
    for (const auto& axes : layout.tensorMap)
        for (int32_t m : axes) used[deviceAxis(layout, m)] = true;
    return used;
}

// Part index of tensor dimension `dim` for a rank at `coord` (mixed radix, spec §4.6).
int64_t partIndex(const ParamLayout& layout, size_t dim, std::span<const int64_t> coord) {
    int64_t part = 0;
    for (int32_t m : layout.tensorMap[dim]) {
        const size_t axis = deviceAxis(layout, m);
        part = part * layout.devMatrix[axis] + coord[axis];
    }
    return part;
}

// Position of a rank in its ascending replica group, and the group's size. Ranks of one group
// differ only on the unused axes, and rank order is row-major, so the position is the
// row-major number of the coordinates on the unused axes.
std::pair<int64_t, int64_t> replicaPosition(const ParamLayout& layout, std::span<const int64_t> coord) {
    const auto used = usedAxes(layout);
    int64_t position = 0, size = 1;
    for (size_t axis = 0; axis < layout.devMatrix.size(); ++axis) {
        if (used[axis]) continue;
        position = position * layout.devMatrix[axis] + coord[axis];
        size *= layout.devMatrix[axis];
    }
    return {position, size};
}

Status shapeError(const ParamLayout& layout, std::string message) {
    return fail(ErrorCode::Mismatch, std::move(message), {}, layout.name);
}

}  // namespace

std::vector<int64_t> Box::shape() const {
    std::vector<int64_t> out(begin.size());
    for (size_t i = 0; i < begin.size(); ++i) out[i] = end[i] - begin[i];
    return out;
}

uint64_t Box::elementCount() const {
    uint64_t count = 1;
    for (size_t i = 0; i < begin.size(); ++i) count *= uint64_t(std::max<int64_t>(0, end[i] - begin[i]));
    return count;
}

std::string Box::text() const {
    std::string out = "[";
    for (size_t i = 0; i < begin.size(); ++i)
        out += (i ? ", " : "") + std::to_string(begin[i]) + ":" + std::to_string(end[i]);
    return out + "]";
}

int64_t devicesOf(const ParamLayout& layout) {
    int64_t devices = 1;
    for (int64_t d : layout.devMatrix) devices *= d;  // bounded when the strategy was read
    return devices;
}

std::vector<int64_t> tensorSplits(const ParamLayout& layout) {
    std::vector<int64_t> splits;
    for (const auto& axes : layout.tensorMap) {
        int64_t parts = 1;
        for (int32_t m : axes) parts *= layout.devMatrix[deviceAxis(layout, m)];
        splits.push_back(parts);
    }
    return splits;
}

std::vector<int64_t> rankCoordinates(std::span<const int64_t> devMatrix, int64_t localRank) {
    std::vector<int64_t> coord(devMatrix.size(), 0);
    for (size_t a = devMatrix.size(); a-- > 0;) {
        coord[a] = localRank % devMatrix[a];
        localRank /= devMatrix[a];
    }
    return coord;
}

std::vector<int64_t> replicaGroup(const ParamLayout& layout, int64_t localRank) {
    const auto used = usedAxes(layout);
    const auto mine = rankCoordinates(layout.devMatrix, localRank);
    std::vector<int64_t> group;
    for (int64_t q = 0; q < devicesOf(layout); ++q) {
        const auto coord = rankCoordinates(layout.devMatrix, q);
        bool same = true;
        for (size_t a = 0; a < coord.size() && same; ++a) same = !used[a] || coord[a] == mine[a];
        if (same) group.push_back(q);
    }
    return group;
}

Result<int64_t> optShardPieces(const ParamLayout& layout) {
    if (!layout.optShardActive()) return 1;
    int64_t splitProduct = 1;
    for (int64_t t : tensorSplits(layout)) splitProduct *= t;
    const int64_t groupSize = devicesOf(layout) / splitProduct;
    const int64_t k = layout.optShardSize == -1 ? groupSize : layout.optShardSize;
    if (k < 1 || groupSize % k != 0)
        return std::unexpected(shapeError(layout, "opt_weight_shard_size " +
                                                      std::to_string(layout.optShardSize) +
                                                      " does not divide the " + std::to_string(groupSize) +
                                                      " ranks holding each model-parallel slice")
                                   .error());
    return k;
}

Result<Box> rankSlice(const ParamLayout& layout, std::span<const int64_t> fullShape, int64_t localRank) {
    if (fullShape.size() != layout.tensorMap.size())
        return std::unexpected(shapeError(layout, "tensor_map " + layout.tensorMapText() +
                                                      " does not fit shape " + ints(fullShape))
                                   .error());
    if (localRank < 0 || localRank >= devicesOf(layout))
        return std::unexpected(shapeError(layout, "local rank " + std::to_string(localRank) +
                                                      " is outside dev_matrix " + layout.devMatrixText())
                                   .error());
    const auto coord = rankCoordinates(layout.devMatrix, localRank);
    const auto splits = tensorSplits(layout);
    Box box;
    for (size_t i = 0; i < fullShape.size(); ++i) {
        if (fullShape[i] < 0 || fullShape[i] % splits[i] != 0)
            return std::unexpected(shapeError(layout, "dimension " + std::to_string(i) + " of shape " +
                                                          ints(fullShape) + " does not divide into " +
                                                          std::to_string(splits[i]) + " equal parts")
                                       .error());
        const int64_t part = fullShape[i] / splits[i];
        const int64_t k = partIndex(layout, i, coord);
        box.begin.push_back(k * part);
        box.end.push_back((k + 1) * part);
    }
    auto pieces = optShardPieces(layout);
    if (!pieces) return std::unexpected(pieces.error());
    if (*pieces > 1) {
        if (fullShape.empty())
            return std::unexpected(shapeError(layout, "optimizer sharding of a scalar").error());
        const int64_t rows = box.end[0] - box.begin[0];
        if (rows % *pieces != 0)
            return std::unexpected(
                shapeError(layout, "the " + std::to_string(rows) +
                                       " rows of each model-parallel slice do not divide into " +
                                       std::to_string(*pieces) + " optimizer-shard pieces")
                    .error());
        const int64_t p = replicaPosition(layout, coord).first % *pieces;
        box.begin[0] += p * rows / *pieces;
        box.end[0] = box.begin[0] + rows / *pieces;
    }
    return box;
}

Result<std::vector<int64_t>> inferFullShape(const ParamLayout& layout, std::span<const int64_t> storedShape) {
    if (storedShape.size() != layout.tensorMap.size())
        return std::unexpected(shapeError(layout, "the stored shape " + ints(storedShape) + " has " +
                                                      std::to_string(storedShape.size()) +
                                                      " dimensions but tensor_map " + layout.tensorMapText() +
                                                      " has " + std::to_string(layout.tensorMap.size()))
                                   .error());
    auto pieces = optShardPieces(layout);
    if (!pieces) return std::unexpected(pieces.error());
    const auto splits = tensorSplits(layout);
    std::vector<int64_t> full(storedShape.size());
    for (size_t i = 0; i < storedShape.size(); ++i) {
        const int64_t factor = splits[i] * (i == 0 ? *pieces : 1);
        if (storedShape[i] < 0 || __builtin_mul_overflow(storedShape[i], factor, &full[i]))
            return std::unexpected(
                shapeError(layout, "the stored shape " + ints(storedShape) + " is implausible").error());
    }
    return full;
}

Result<std::vector<SlicePiece>> localSlicePieces(const ParamLayout& layout,
                                                 std::span<const int64_t> fullShape) {
    std::map<Box, std::vector<int64_t>> byBox;
    for (int64_t rank = 0; rank < devicesOf(layout); ++rank) {
        auto box = rankSlice(layout, fullShape, rank);
        if (!box) return std::unexpected(box.error());
        byBox[std::move(*box)].push_back(rank);
    }
    std::vector<SlicePiece> pieces;
    std::vector<Box> boxes;
    for (auto& [box, ranks] : byBox) {
        boxes.push_back(box);
        pieces.push_back({box, std::move(ranks)});
    }
    if (auto s = checkExactCover(boxes, fullShape, layout.name); !s) return std::unexpected(s.error());
    return pieces;
}

Result<std::vector<SlicePiece>> globalSlicePieces(const ParamLayout& layout,
                                                  std::span<const int64_t> fullShape) {
    auto pieces = localSlicePieces(layout, fullShape);
    if (!pieces) return pieces;
    const int64_t devices = devicesOf(layout);
    for (auto& piece : *pieces) {
        std::vector<int64_t> global;
        for (uint32_t stage : layout.stages)
            for (int64_t local : piece.ranks) global.push_back(int64_t(stage) * devices + local);
        std::ranges::sort(global);
        piece.ranks = std::move(global);
    }
    return pieces;
}

Status checkExactCover(std::span<const Box> boxes, std::span<const int64_t> fullShape,
                       std::string_view parameter) {
    const auto error = [&](std::string message) {
        return fail(ErrorCode::Mismatch, std::move(message), {}, std::string(parameter));
    };
    const size_t n = fullShape.size();
    for (const Box& box : boxes) {
        if (box.begin.size() != n || box.end.size() != n)
            return error("slice " + box.text() + " has the wrong rank");
        for (size_t d = 0; d < n; ++d)
            if (box.begin[d] < 0 || box.begin[d] > box.end[d] || box.end[d] > fullShape[d])
                return error("slice " + box.text() + " lies outside the full shape " + ints(fullShape));
    }
    if (std::ranges::any_of(fullShape, [](int64_t x) { return x == 0; })) return {};
    // Cut every dimension at all box boundaries; the cells of that grid are either inside or
    // outside each box, so counting boxes per cell decides coverage exactly.
    std::vector<std::vector<int64_t>> cuts(n);
    uint64_t cellCount = 1;
    for (size_t d = 0; d < n; ++d) {
        cuts[d] = {0, fullShape[d]};
        for (const Box& box : boxes) {
            cuts[d].push_back(box.begin[d]);
            cuts[d].push_back(box.end[d]);
        }
        std::ranges::sort(cuts[d]);
        cuts[d].erase(std::unique(cuts[d].begin(), cuts[d].end()), cuts[d].end());
        cellCount *= cuts[d].size() - 1;
        if (cellCount > (uint64_t(1) << 26)) return error("the slices are too fragmented to check");
    }
    std::vector<uint8_t> counts(cellCount, 0);
    const auto cellOf = [&](size_t d, int64_t coordinate) {
        return uint64_t(std::ranges::lower_bound(cuts[d], coordinate) - cuts[d].begin());
    };
    for (const Box& box : boxes) {
        if (box.elementCount() == 0) continue;
        std::vector<uint64_t> lo(n), hi(n), at(n);
        for (size_t d = 0; d < n; ++d) {
            lo[d] = at[d] = cellOf(d, box.begin[d]);
            hi[d] = cellOf(d, box.end[d]);
        }
        while (true) {
            uint64_t flat = 0;
            for (size_t d = 0; d < n; ++d) flat = flat * (cuts[d].size() - 1) + at[d];
            if (counts[flat] < 2) ++counts[flat];
            size_t d = n;
            while (d > 0 && ++at[d - 1] == hi[d - 1]) {
                at[d - 1] = lo[d - 1];
                --d;
            }
            if (d == 0) break;
        }
    }
    for (uint64_t flat = 0; flat < cellCount; ++flat) {
        if (counts[flat] == 1) continue;
        Box cell;
        cell.begin.resize(n);
        cell.end.resize(n);
        uint64_t rest = flat;
        for (size_t d = n; d-- > 0;) {
            const uint64_t c = rest % (cuts[d].size() - 1);
            rest /= cuts[d].size() - 1;
            cell.begin[d] = cuts[d][c];
            cell.end[d] = cuts[d][c + 1];
        }
        if (n == 0) return error(counts[flat] == 0 ? "no rank holds the value" : "the value is held twice");
        return error(counts[flat] == 0 ? "elements " + cell.text() + " of the full shape " + ints(fullShape) +
                                             " are not held by any rank file"
                                       : "elements " + cell.text() + " are held by more than one slice");
    }
    return {};
}

}  // namespace lms
