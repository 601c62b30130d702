#pragma once
// Which part of a full tensor each rank stores (spec §4.2–§4.9): pure arithmetic on a
// ParamLayout, no files.
//
// Conventions (spec §4.2):
//  * A device matrix dev[0..n-1] arranges the D = prod(dev) devices of ONE pipeline stage.
//    Local rank l -> coordinates row-major, the LAST axis varying fastest.
//  * tensorMap[i] lists the device axes splitting tensor dimension i, each counted from the
//    RIGHT (value m means axis n-1-m); empty = not split. Dimension i is cut into
//    t_i = prod(dev[axis]) equal parts; its part index is the mixed-radix number of the rank's
//    coordinates on those axes, the first listed axis most significant (§4.6).
//  * Optimizer sharding (§4.4), when active: the ranks holding the same model-parallel slice
//    (the replica group, ascending) are cut into consecutive chunks of k ranks
//    (k = opt_weight_shard_size, or the group size for -1); a rank stores piece p = (its index
//    in the group) % k of its slice's dim 0, cut in k equal parts.
//  * Global rank g belongs to stage g / D with local rank g % D (§4.5).
// All boxes are half-open [begin, end) in full-tensor coordinates, row-major.

#include "lms/base/Error.h"
#include "lms/formats/Strategy.h"

#include <compare>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace lms {

// A hyper-rectangle of a tensor: [begin[i], end[i]) for each dimension i.
struct Box {
    std::vector<int64_t> begin;
    std::vector<int64_t> end;

    std::vector<int64_t> shape() const;
    uint64_t elementCount() const;  // 1 for a 0-dimensional box
    std::string text() const;       // "[0:4, 0:6]"; "[]" for a scalar
    friend bool operator==(const Box&, const Box&) = default;
    friend auto operator<=>(const Box&, const Box&) = default;  // lexicographic: begin, then end
};

// prod(devMatrix): the devices of one pipeline stage.
int64_t devicesOf(const ParamLayout& layout);

// Per tensor dimension, the number of equal parts it is split into (spec §4.2 tensor_strategy).
std::vector<int64_t> tensorSplits(const ParamLayout& layout);

// Coordinates of `localRank` in `devMatrix`, row-major with the last axis fastest.
// Precondition: 0 <= localRank < prod(devMatrix).
std::vector<int64_t> rankCoordinates(std::span<const int64_t> devMatrix, int64_t localRank);

// Ascending local ranks holding the same model-parallel slice as `localRank` (spec §4.4 step 1).
std::vector<int64_t> replicaGroup(const ParamLayout& layout, int64_t localRank);

// k, the number of dim-0 optimizer-shard pieces: 1 when optimizer sharding is inactive; the
// replica-group size for opt_weight_shard_size -1. Error (Malformed, naming the parameter)
// when k does not divide the replica group.
[[nodiscard]] Result<int64_t> optShardPieces(const ParamLayout& layout);

// The part of the full tensor that local rank `localRank` stores. Errors name the parameter:
// tensor_map length differs from the shape, a dimension does not divide evenly, a bad rank.
[[nodiscard]] Result<Box> rankSlice(const ParamLayout& layout, std::span<const int64_t> fullShape,
                                    int64_t localRank);

// The full shape from one rank's stored shape (spec §4.9): N_i = s_i * t_i, and dim 0 also
// times k with optimizer sharding. Errors when the dimension counts disagree or on overflow.
[[nodiscard]] Result<std::vector<int64_t>> inferFullShape(const ParamLayout& layout,
                                                          std::span<const int64_t> storedShape);

// A distinct piece of a parameter and the ranks storing it (ascending).
struct SlicePiece {
    Box box;
    std::vector<int64_t> ranks;
};

// Every distinct piece of a parameter of `fullShape`, sorted by box, with the LOCAL ranks
// (0..D-1) holding each. The pieces cover the tensor exactly once (checked).
[[nodiscard]] Result<std::vector<SlicePiece>> localSlicePieces(const ParamLayout& layout,
                                                               std::span<const int64_t> fullShape);
// The same with GLOBAL ranks: every stage s in layout.stages contributes s * D + local.
// This is what a user interface shows for one parameter: the slices and who holds them.
[[nodiscard]] Result<std::vector<SlicePiece>> globalSlicePieces(const ParamLayout& layout,
                                                                std::span<const int64_t> fullShape);

// Checks that `boxes` lie inside `fullShape` and cover every element exactly once. The error
// (Mismatch, naming `parameter`) describes the first uncovered or doubly covered region.
[[nodiscard]] Status checkExactCover(std::span<const Box> boxes, std::span<const int64_t> fullShape,
                                     std::string_view parameter);

// Calls fn(sliceByteOffset, fullByteOffset, byteCount) for each maximal contiguous run of
// `box` inside a row-major tensor of `fullShape` whose elements are `elementBytes` wide, in
// the slice's own row-major order (sliceByteOffset increases run after run without gaps).
// Precondition: box lies inside fullShape.
template <class Fn>
void forEachContiguousRun(std::span<const int64_t> fullShape, const Box& box, uint64_t elementBytes, Fn&& fn);

// ---------------------------------------------------------------- implementation

template <class Fn>
void forEachContiguousRun(std::span<const int64_t> fullShape, const Box& box, uint64_t elementBytes,
                          Fn&& fn) {
    const size_t n = fullShape.size();
    if (n == 0) {
        fn(uint64_t(0), uint64_t(0), elementBytes);
        return;
    }
    for (size_t d = 0; d < n; ++d)
        if (box.end[d] <= box.begin[d]) return;
    std::vector<uint64_t> stride(n, 1);  // in elements
    for (size_t d = n - 1; d > 0; --d) stride[d - 1] = stride[d] * uint64_t(fullShape[d]);
    // Dimensions after `inner` are taken whole, so one run spans them and `inner`'s extent.
    size_t inner = n - 1;
    while (inner > 0 && box.begin[inner] == 0 && box.end[inner] == fullShape[inner]) --inner;
    const uint64_t runBytes = uint64_t(box.end[inner] - box.begin[inner]) * stride[inner] * elementBytes;
    std::vector<int64_t> index(box.begin.begin(), box.begin.begin() + ptrdiff_t(inner));
    uint64_t sliceOffset = 0;
    while (true) {
        uint64_t full = uint64_t(box.begin[inner]) * stride[inner];
        for (size_t d = 0; d < inner; ++d) full += uint64_t(index[d]) * stride[d];
        fn(sliceOffset, full * elementBytes, runBytes);
        sliceOffset += runBytes;
        size_t d = inner;
        while (d > 0) {
            --d;
            if (++index[d] < box.end[d]) break;
            index[d] = box.begin[d];
            if (d == 0) return;
        }
        if (inner == 0) return;
    }
}

}  // namespace lms
