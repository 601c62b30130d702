#include "TensorStats.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

namespace lms::ui {
namespace {

constexpr size_t kChunk = 1 << 16;  // elements widened at a time

// Calls fn(span<const double>) over the tensor in chunks; false if cancelled.
template <class Fn>
bool forEachChunk(DType dtype, std::span<const std::byte> bytes, uint64_t count, const CancelToken* cancel,
                  Fn&& fn) {
    std::vector<float> floats;
    std::vector<double> values(kChunk);
    const size_t elementBytes = dtypeBits(dtype) / 8;
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

}  // namespace

Result<TensorStatistics> computeStatistics(DType dtype, std::span<const std::byte> bytes, int bins,
                                           const CancelToken* cancel) {
    const unsigned bits = dtypeBits(dtype);
    if (dtype == DType::String || dtype == DType::Int4 || dtype == DType::Unknown || bits == 0 ||
        bits % 8 != 0)
        return fail(ErrorCode::Unsupported, dtype == DType::String ? "a text value has no numeric statistics"
                                                                   : "no statistics for this element type");
    TensorStatistics stats;
    stats.count = bytes.size() / (bits / 8);
    if (bytes.size() % (bits / 8) != 0)
        return fail(ErrorCode::Malformed, "the byte count is not a whole number of elements");
    bins = std::max(1, bins);

    // Pass 1: counts, range, and mean/variance by Welford's method (stable for long tensors).
    double mean = 0, m2 = 0;
    double lo = std::numeric_limits<double>::infinity(), hi = -std::numeric_limits<double>::infinity();
    const bool complete =
        forEachChunk(dtype, bytes, stats.count, cancel, [&](std::span<const double> values) {
            for (double v : values) {
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
        });
    if (!complete) return fail(ErrorCode::Cancelled, "cancelled");
    if (stats.finite == 0) return stats;
    stats.min = lo;
    stats.max = hi;
    stats.mean = mean;
    stats.stddev = std::sqrt(m2 / double(stats.finite));

    // Pass 2: the histogram over [min, max].
    stats.histogram.assign(size_t(bins), 0);
    stats.histogramMin = lo;
    stats.histogramMax = hi;
    const double width = (hi - lo) / bins;
    const bool binned = forEachChunk(dtype, bytes, stats.count, cancel, [&](std::span<const double> values) {
        for (double v : values) {
            if (!std::isfinite(v)) continue;
            int bin = width > 0 ? int((v - lo) / width) : 0;
            bin = std::clamp(bin, 0, bins - 1);
            ++stats.histogram[size_t(bin)];
        }
    });
    if (!binned) return fail(ErrorCode::Cancelled, "cancelled");
    return stats;
}

}  // namespace lms::ui
