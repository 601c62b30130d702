#include "lms/Verify.h"

#include "lms/DType.h"

#include <cmath>
#include <cstring>
#include <random>

namespace lms {
namespace {

// Relative rounding error of one narrowing to `dtype` (half an ulp, doubled for safety).
double roundingEpsilon(DType dtype) {
    switch (dtype) {
    case DType::BFloat16: return std::ldexp(1.0, -8);
    case DType::Float16: return std::ldexp(1.0, -11);
    case DType::Float32: return std::ldexp(1.0, -22);
    default: return std::ldexp(1.0, -50);
    }
}

double elementAt(std::span<const std::byte> bytes, DType dtype, size_t index) {
    if (dtype == DType::Float64) {
        double v;
        std::memcpy(&v, bytes.data() + index * 8, 8);
        return v;
    }
    const size_t size = dtypeBits(dtype) / 8;
    float v = 0;
    widenToFloat(dtype, bytes.subspan(index * size, size), std::span(&v, 1));
    return v;
}

// Index of the first NaN or infinity among the elements of `bytes`, judged by the exponent bits.
std::optional<uint64_t> firstNonFinite(std::span<const std::byte> bytes, DType dtype) {
    auto scan = [&](auto zero, auto exponentMask) -> std::optional<uint64_t> {
        using Bits = decltype(zero);
        const uint64_t count = bytes.size() / sizeof(Bits);
        for (uint64_t i = 0; i < count; ++i) {
            Bits v;
            std::memcpy(&v, bytes.data() + i * sizeof(Bits), sizeof(Bits));
            if ((v & exponentMask) == exponentMask) return i;
        }
        return std::nullopt;
    };
    switch (dtype) {
    case DType::BFloat16: return scan(uint16_t(0), uint16_t(0x7F80));
    case DType::Float16: return scan(uint16_t(0), uint16_t(0x7C00));
    case DType::Float32: return scan(uint32_t(0), uint32_t(0x7F800000u));
    case DType::Float64: return scan(uint64_t(0), uint64_t(0x7FF0000000000000ull));
    default: return std::nullopt;
    }
}

}  // namespace

Status verifyOutput(const std::filesystem::path& writtenFile, const std::filesystem::path& shownFile,
                    std::span<const Placement> placements, bool full, const ModelSource& source,
                    const LoraPlan& plan, std::span<const MergedPairRef> merged, const CancelToken* cancel) {
    const auto shownName = shownFile.string();
    auto output = CheckpointFile::open(writtenFile, cancel);
    if (!output) {
        auto error = output.error();
        error.file = shownName;
        error.message = "verification failed: the output does not read back: " + error.message;
        return std::unexpected(error);
    }
    const auto& tensors = source.tensors();
    const bool safetensors = (*output)->format() == CheckpointFormat::Safetensors;
    size_t next = 0;
    for (size_t i = 0; i < tensors.size(); ++i) {
        if (plan.dropped[i]) continue;
        if (next >= (*output)->tensors().size())
            return fail(ErrorCode::Io, "verification failed: the output lacks a parameter", shownName, tensors[i].name);
        const auto& got = (*output)->tensors()[next++];
        const auto& want = placements[i];
        const bool dimsOk = got.dims == want.dims || (safetensors && tensors[i].legacyScalar && got.dims.empty());
        if (got.name != tensors[i].name || got.dtype != tensors[i].dtype || !dimsOk || got.byteSize != want.bytes)
            return fail(ErrorCode::Io, "verification failed: the output's index differs from what was written",
                        shownName, tensors[i].name);
    }
    if (next != (*output)->tensors().size())
        return fail(ErrorCode::Io, "verification failed: the output has extra parameters", shownName);

    std::mt19937_64 rng(0x10AA);
    std::vector<std::byte> block;
    for (const auto& ref : merged) {
        if (cancel && cancel->isCancelled()) return fail(ErrorCode::Cancelled, "verification cancelled", shownName);
        const auto& t = tensors[ref.baseIndex];
        const auto* got = (*output)->find(t.name);
        // Every merged value must be finite: scan the exponent bits block by block.
        const uint64_t elementBytes = dtypeBits(t.dtype) / 8;
        const uint64_t blockBytes = (8u << 20) / elementBytes * elementBytes;
        for (uint64_t offset = 0; offset < got->byteSize; offset += blockBytes) {
            block.resize(size_t(std::min(blockBytes, got->byteSize - offset)));
            if (auto st = (*output)->readRange(*got, offset, block); !st) return st;
            if (const auto bad = firstNonFinite(block, t.dtype))
                return fail(ErrorCode::Mismatch,
                            "verification failed: merged value #" + std::to_string(offset / elementBytes + *bad) +
                                " is not finite (NaN or Inf)",
                            shownName, t.name);
        }
        if (!full) continue;  // slices hold the same values, cut by the layout
        if (ref.pair->bDims[0] == 0 || ref.pair->aDims[1] == 0) continue;  // an empty base has nothing to sample
        // Spot checks: a few elements recomputed in double from W, A and B.
        std::vector<std::byte> a(size_t(tensors[ref.aIndex].byteSize)), b(size_t(tensors[ref.bIndex].byteSize));
        if (auto st = source.read(ref.aIndex, a, cancel); !st) return st;
        if (auto st = source.read(ref.bIndex, b, cancel); !st) return st;
        const int64_t outDim = ref.pair->bDims[0], inDim = ref.pair->aDims[1], r = ref.pair->rank;
        const int64_t storedCols = ref.pair->transposed ? outDim : inDim;
        const auto aType = tensors[ref.aIndex].dtype, bType = tensors[ref.bIndex].dtype;
        std::vector<std::byte> storedRow(static_cast<size_t>(uint64_t(storedCols) * elementBytes));
        std::vector<std::byte> written(static_cast<size_t>(elementBytes));
        for (int sample = 0; sample < 8; ++sample) {
            const int64_t row = int64_t(rng() % uint64_t(outDim)), col = int64_t(rng() % uint64_t(inDim));
            double delta = 0, magnitude = 0;
            for (int64_t k = 0; k < r; ++k) {
                const double term = elementAt(b, bType, size_t(row * r + k)) * elementAt(a, aType, size_t(k * inDim + col));
                delta += term;
                magnitude += std::abs(term);
            }
            const int64_t rowStored = ref.pair->transposed ? col : row, colStored = ref.pair->transposed ? row : col;
            if (auto st = source.readRows(ref.baseIndex, rowStored, rowStored + 1, storedRow, cancel); !st) return st;
            const uint64_t index = uint64_t(rowStored * storedCols + colStored);
            if (auto st = (*output)->readRange(*got, index * elementBytes, written); !st) return st;
            const double base = elementAt(storedRow, t.dtype, size_t(colStored));
            const double expected = base + ref.scaling * delta;
            const double tolerance =
                4 * roundingEpsilon(t.dtype) * (std::abs(base) + std::abs(ref.scaling) * magnitude) + 1e-30;
            const double actual = elementAt(written, t.dtype, 0);
            if (std::abs(actual - expected) > tolerance)
                return fail(ErrorCode::Mismatch,
                            "verification failed at [" + std::to_string(row) + "," + std::to_string(col) + "]: wrote " +
                                std::to_string(actual) + ", expected " + std::to_string(expected),
                            shownName, t.name);
        }
    }
    return {};
}

}  // namespace lms
