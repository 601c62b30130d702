#include "lms/analysis/TensorStats.h"

#include "lms/formats/Source.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <string>

namespace lms {
namespace {

constexpr size_t kChunk = 1 << 16;  // elements widened at a time

// Calls fn(span<const double>) over the tensor in chunks; false if cancelled.
template <class Fn>
bool forEachChunk(DType dtype, std::span<const std::byte> bytes, const CancelToken* cancel, Fn&& fn) {
    std::vector<float> floats;
    std::vector<double> values(kChunk);
    const size_t elementBytes = dtypeBits(dtype) / 8;
    const uint64_t count = bytes.size() / elementBytes;
    for (uint64_t start = 0; start < count; start += kChunk) {
        if (cancel && cancel->isCancelled()) return false;
        const size_t n = size_t(std::min<uint64_t>(kChunk, count - start));
        const auto in = bytes.subspan(size_t(start) * elementBytes, n * elementBytes);
        const auto* p = reinterpret_cast<const unsigned char*>(in.data());
        auto load = [&](auto zero) {
            using T = decltype(zero);
            for (size_t i = 0; i < n; ++i) {
                T v;
                std::memcpy(&v, p + i * sizeof(T), sizeof(T));
                values[i] = double(v);
            }
        };
        switch (dtype) {
            case DType::Float64:
                load(double{});
                break;
            case DType::Float32:
            case DType::Float16:
            case DType::BFloat16:
                floats.resize(n);
                widenToFloat(dtype, in, floats);
                for (size_t i = 0; i < n; ++i) values[i] = floats[i];
                break;
            case DType::Bool:
                for (size_t i = 0; i < n; ++i) values[i] = p[i] ? 1.0 : 0.0;
                break;
            case DType::Int8:
                load(int8_t{});
                break;
            case DType::UInt8:
                load(uint8_t{});
                break;
            case DType::Int16:
                load(int16_t{});
                break;
            case DType::UInt16:
                load(uint16_t{});
                break;
            case DType::Int32:
                load(int32_t{});
                break;
            case DType::UInt32:
                load(uint32_t{});
                break;
            case DType::Int64:
                load(int64_t{});
                break;
            case DType::UInt64:
                load(uint64_t{});
                break;
            default:
                return false;
        }
        fn(std::span<const double>(values.data(), n));
    }
    return true;
}

// Pass 1 (counts, range, Welford mean/variance — stable for long tensors) and pass 2 (the
// histogram over the range pass 1 found), fed one widened chunk at a time.
struct Accumulator {
    TensorStatistics stats;
    double mean = 0, m2 = 0;
    double lo = std::numeric_limits<double>::infinity(), hi = -std::numeric_limits<double>::infinity();
    double width = 0;

    void add(std::span<const double> values) {
        for (double v : values) {
            ++stats.count;
            if (std::isnan(v)) {
                ++stats.nan;
                continue;
            }
            if (std::isinf(v)) {
                ++(v > 0 ? stats.posInf : stats.negInf);
                continue;
            }
            if (v == 0) ++stats.zeros;
            ++stats.finite;
            lo = std::min(lo, v);
            hi = std::max(hi, v);
            const double delta = v - mean;
            mean += delta / double(stats.finite);
            m2 += delta * (v - mean);
        }
    }
    void finishFirstPass(int bins) {
        if (stats.finite == 0) return;
        stats.min = lo;
        stats.max = hi;
        stats.mean = mean;
        stats.stddev = std::sqrt(m2 / double(stats.finite));
        stats.histogram.assign(size_t(bins), 0);
        stats.histogramMin = lo;
        stats.histogramMax = hi;
        width = (hi - lo) / bins;
    }
    void bin(std::span<const double> values) {
        const int bins = int(stats.histogram.size());
        for (double v : values) {
            if (!std::isfinite(v)) continue;
            const int at = width > 0 ? std::clamp(int((v - lo) / width), 0, bins - 1) : 0;
            ++stats.histogram[size_t(at)];
        }
    }
};

// Runs `visit` over every block of the tensor's bytes, in order.
using BlockVisitor = std::function<Status(std::span<const std::byte>)>;
using Blocks = std::function<Status(const BlockVisitor&)>;

Status unsupported(DType dtype) {
    const unsigned bits = dtypeBits(dtype);
    if (dtype == DType::String || dtype == DType::Int4 || dtype == DType::Unknown || bits == 0 ||
        bits % 8 != 0)
        return fail(ErrorCode::Unsupported, dtype == DType::String ? "a text value has no numeric statistics"
                                                                   : "no statistics for this element type");
    return {};
}

Result<TensorStatistics> twoPasses(DType dtype, int bins, const CancelToken* cancel, const Blocks& blocks) {
    Accumulator acc;
    auto widened = [&](auto&& fn) {
        return [&, fn](std::span<const std::byte> block) -> Status {
            if (!forEachChunk(dtype, block, cancel, fn)) return fail(ErrorCode::Cancelled, "cancelled");
            return {};
        };
    };
    if (auto st = blocks(widened([&](std::span<const double> v) { acc.add(v); })); !st)
        return std::unexpected(st.error());
    acc.finishFirstPass(std::max(1, bins));
    if (acc.stats.finite == 0) return acc.stats;
    if (auto st = blocks(widened([&](std::span<const double> v) { acc.bin(v); })); !st)
        return std::unexpected(st.error());
    return acc.stats;
}

}  // namespace

Result<TensorStatistics> computeStatistics(DType dtype, std::span<const std::byte> bytes, int bins,
                                           const CancelToken* cancel) {
    if (auto st = unsupported(dtype); !st) return std::unexpected(st.error());
    if (bytes.size() % (dtypeBits(dtype) / 8) != 0)
        return fail(ErrorCode::Malformed, "the byte count is not a whole number of elements");
    return twoPasses(dtype, bins, cancel, [&](const BlockVisitor& visit) { return visit(bytes); });
}

Result<TensorStatistics> computeStatistics(const ModelSource& source, size_t index, int bins,
                                           const CancelToken* cancel, uint64_t blockBytes) {
    const SourceTensor& tensor = source.tensors().at(index);
    if (auto st = unsupported(tensor.dtype); !st) return std::unexpected(st.error());
    const int64_t rows = rowCount(tensor);
    const uint64_t stride = rowBytes(tensor);
    if (rows <= 0 || stride == 0) return computeStatistics(tensor.dtype, {}, bins, cancel);
    // Whole rows per block, at least one: the block is the only buffer this function holds.
    const int64_t perBlock = std::clamp<int64_t>(int64_t(blockBytes / stride), 1, rows);
    std::vector<std::byte> buffer;
    return twoPasses(tensor.dtype, bins, cancel, [&](const BlockVisitor& visit) -> Status {
        for (int64_t begin = 0; begin < rows; begin += perBlock) {
            if (cancel && cancel->isCancelled()) return fail(ErrorCode::Cancelled, "cancelled");
            const int64_t end = std::min(rows, begin + perBlock);
            buffer.resize(size_t(uint64_t(end - begin) * stride));
            if (auto st = source.readRows(index, begin, end, buffer, cancel); !st) return st;
            if (auto st = visit(buffer); !st) return st;
        }
        return {};
    });
}

}  // namespace lms
