#include "lms/analysis/LoraImpact.h"

#include "lms/merge/Merge.h"
#include "lms/merge/Verify.h"

#include <Eigen/Core>
#include <Eigen/QR>
#include <Eigen/SVD>
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <unordered_map>

namespace lms {
namespace {

using MatrixD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

std::vector<double> widenAll(DType type, std::span<const std::byte> bytes) {
    const size_t count = bytes.size() / (dtypeBits(type) / 8);
    std::vector<double> out(count);
    if (type == DType::Float64) {
        std::memcpy(out.data(), bytes.data(), count * sizeof(double));
        return out;
    }
    std::vector<float> tmp(count);
    widenToFloat(type, bytes, tmp);
    std::copy(tmp.begin(), tmp.end(), out.begin());
    return out;
}

// Σ v² over the elements of `bytes`, widened 64 Ki elements at a time (no buffer of the block's size).
double sumOfSquares(DType type, std::span<const std::byte> bytes, size_t elementBytes) {
    constexpr size_t kChunk = size_t(1) << 16;
    double sum = 0;
    for (size_t at = 0; at < bytes.size(); at += kChunk * elementBytes) {
        const auto part = bytes.subspan(at, std::min(bytes.size() - at, kChunk * elementBytes));
        for (double v : widenAll(type, part)) sum += v * v;
    }
    return sum;
}

// The upper-triangular factor R (min(rows, cols) × cols) of the QR decomposition of `m`.
MatrixD triangularFactor(const MatrixD& m) {
    const Eigen::HouseholderQR<MatrixD> qr(m);
    const Eigen::Index k = std::min(m.rows(), m.cols());
    return qr.matrixQR().topRows(k).triangularView<Eigen::Upper>();
}

struct Indexes {
    size_t base, a, b;
};

Result<Indexes> indexesOf(const ModelSource& source, const LoraPair& pair) {
    std::unordered_map<std::string_view, size_t> at;
    const auto& tensors = source.tensors();
    for (size_t i = 0; i < tensors.size(); ++i)
        if (tensors[i].name == pair.base || tensors[i].name == pair.a || tensors[i].name == pair.b)
            at.emplace(tensors[i].name, i);
    for (const std::string* name : {&pair.base, &pair.a, &pair.b})
        if (!at.contains(*name))
            return fail(ErrorCode::NotFound, "the tensor is not in the model", {}, *name);
    return Indexes{at[pair.base], at[pair.a], at[pair.b]};
}

Result<std::vector<std::byte>> readFactor(const ModelSource& source, size_t index, std::string_view role,
                                          const CancelToken* cancel) {
    const SourceTensor& t = source.tensors()[index];
    if (!isFloatingPoint(t.dtype))
        return fail(ErrorCode::Unsupported, std::string(role) + " is not a floating-point tensor", {},
                    t.name);
    std::vector<std::byte> bytes(size_t(t.byteSize));
    if (auto st = source.read(index, bytes, cancel); !st) return std::unexpected(st.error());
    if (auto st = checkInputFinite(source, index, role, bytes); !st) return std::unexpected(st.error());
    return bytes;
}

// Columns [c0, c0 + n) of A [rank, in] as a [rank, n] tensor in A's own dtype, for a transposed
// base whose stored rows are A's columns.
std::vector<std::byte> columnsOf(std::span<const std::byte> a, size_t elementBytes, int64_t rank, int64_t in,
                                 int64_t c0, int64_t n) {
    std::vector<std::byte> out(size_t(rank * n) * elementBytes);
    for (int64_t k = 0; k < rank; ++k)
        std::memcpy(out.data() + size_t(k * n) * elementBytes, a.data() + size_t(k * in + c0) * elementBytes,
                    size_t(n) * elementBytes);
    return out;
}

void setRanks(PairImpact& impact, double tolerance) {
    const auto& s = impact.singularValues;
    double sumSquares = 0, sum = 0;
    for (double v : s) sumSquares += v * v, sum += v;
    impact.deltaNorm = std::abs(impact.scaling) * std::sqrt(sumSquares);
    if (s.empty() || s.front() <= 0) return;
    impact.numericalRank =
        std::count_if(s.begin(), s.end(), [&](double v) { return v > tolerance * s.front(); });
    double entropy = 0;
    for (double v : s)
        if (v > 0) entropy -= (v / sum) * std::log(v / sum);
    impact.entropyRank = std::exp(entropy);
}

struct PairContext {
    const ModelSource& source;
    const LoraPair& pair;
    Indexes at;
    std::span<const std::byte> a, b;
    const ProgressCallback& progress;
    Progress& report;
    const CancelToken* cancel;
    uint64_t blockBytes;
};

// Streams W once: ‖W‖_F and the elements that W + s·B·A leaves bit-identical.
Status streamBase(const PairContext& c, PairImpact& impact) {
    const SourceTensor& w = c.source.tensors()[c.at.base];
    const SourceTensor& ta = c.source.tensors()[c.at.a];
    const SourceTensor& tb = c.source.tensors()[c.at.b];
    const int64_t rows = rowCount(w), stride = int64_t(rowBytes(w));
    const int64_t out = c.pair.bDims[0], in = c.pair.aDims[1], r = c.pair.rank;
    const size_t elementBytes = dtypeBits(w.dtype) / 8;
    const size_t aElement = dtypeBits(ta.dtype) / 8, bElement = dtypeBits(tb.dtype) / 8;
    const int64_t perBlock =
        std::clamp<int64_t>(int64_t(c.blockBytes) / std::max<int64_t>(stride, 1), 1, rows);
    std::vector<std::byte> block, merged;
    double sumSquares = 0;
    for (int64_t r0 = 0; r0 < rows; r0 += perBlock) {
        if (c.cancel && c.cancel->isCancelled()) return fail(ErrorCode::Cancelled, "cancelled");
        const int64_t r1 = std::min(rows, r0 + perBlock), n = r1 - r0;
        block.resize(size_t(n * stride));
        if (auto st = c.source.readRows(c.at.base, r0, r1, block, c.cancel); !st) return st;
        if (auto st = checkInputFinite(c.source, c.at.base, "base weight", block, r0); !st) return st;
        sumSquares += sumOfSquares(w.dtype, block, elementBytes);
        merged = block;
        // The merge's own arithmetic on this block: stored rows are B's rows (W [out, in]) or A's
        // columns (W stored [in, out]).
        Status st =
            c.pair.transposed
                ? mergePairInPlace(merged, w.dtype, out, n, true, columnsOf(c.a, aElement, r, in, r0, n),
                                   ta.dtype, c.b, tb.dtype, r, impact.scaling)
                : mergePairInPlace(merged, w.dtype, n, in, false, c.a, ta.dtype,
                                   c.b.subspan(size_t(r0 * r) * bElement, size_t(n * r) * bElement), tb.dtype,
                                   r, impact.scaling);
        if (!st) return fail(st.error().code, st.error().message, {}, w.name);
        for (size_t e = 0; e < block.size(); e += elementBytes)
            impact.unchanged += std::memcmp(block.data() + e, merged.data() + e, elementBytes) == 0;
        c.report.bytesDone += block.size();
        if (c.progress) c.progress(c.report);
    }
    impact.elements = uint64_t(rows) * uint64_t(stride) / elementBytes;
    impact.baseNorm = std::sqrt(sumSquares);
    return {};
}

Result<PairImpact> pairImpact(const ModelSource& source, const LoraPair& pair, double scaling,
                              const ProgressCallback& progress, Progress& report, const CancelToken* cancel,
                              uint64_t blockBytes, double tolerance) {
    auto at = indexesOf(source, pair);
    if (!at) return std::unexpected(at.error());
    const SourceTensor& w = source.tensors()[at->base];
    if (!isFloatingPoint(w.dtype))
        return fail(ErrorCode::Unsupported, "the base weight is not a floating-point tensor", {}, w.name);
    auto a = readFactor(source, at->a, "LoRA A", cancel);
    if (!a) return std::unexpected(a.error());
    auto b = readFactor(source, at->b, "LoRA B", cancel);
    if (!b) return std::unexpected(b.error());

    PairImpact impact;
    impact.base = pair.base, impact.a = pair.a, impact.b = pair.b;
    impact.layer = layerOfName(pair.base);
    impact.baseType = w.typeName, impact.baseDims = w.dims;
    impact.rank = pair.rank, impact.transposed = pair.transposed, impact.scaling = scaling;
    const int64_t out = pair.bDims[0], in = pair.aDims[1];
    impact.singularValues =
        productSingularValues(widenAll(source.tensors()[at->b].dtype, *b),
                              widenAll(source.tensors()[at->a].dtype, *a), out, pair.rank, in);
    setRanks(impact, tolerance);
    const PairContext context{source, pair, *at, *a, *b, progress, report, cancel, blockBytes};
    if (auto st = streamBase(context, impact); !st) return std::unexpected(st.error());
    if (impact.baseNorm > 0)
        impact.relativeNorm = impact.deltaNorm / impact.baseNorm;
    else
        impact.relativeNorm = impact.deltaNorm > 0 ? std::numeric_limits<double>::infinity() : 0.0;
    return impact;
}

}  // namespace

std::vector<double> productSingularValues(const std::vector<double>& b, const std::vector<double>& a,
                                          int64_t out, int64_t rank, int64_t in) {
    if (out <= 0 || rank <= 0 || in <= 0) return {};
    const MatrixD mb = Eigen::Map<const MatrixD>(b.data(), out, rank);
    const MatrixD maT = Eigen::Map<const MatrixD>(a.data(), rank, in).transpose();
    // B·A = Q_B R_B (Q_A R_A)ᵀ = Q_B (R_B R_Aᵀ) Q_Aᵀ with orthonormal Q's: same singular values.
    const MatrixD core = triangularFactor(mb) * triangularFactor(maT).transpose();
    const Eigen::JacobiSVD<MatrixD> svd(core);
    const auto& values = svd.singularValues();  // descending
    return std::vector<double>(values.data(), values.data() + values.size());
}

Result<ImpactReport> computeLoraImpact(const ModelSource& source, const LoraPlan& plan,
                                       const std::vector<double>& scalings, const ProgressCallback& progress,
                                       const CancelToken* cancel, uint64_t blockBytes, double rankTolerance) {
    if (scalings.size() != plan.pairs.size())
        return fail(ErrorCode::InvalidArgument, "one scaling per LoRA pair is needed");
    ImpactReport result;
    result.rankTolerance = rankTolerance;
    Progress report;
    report.stage = "analysing";
    std::map<std::string_view, uint64_t> baseBytes;
    for (const auto& t : source.tensors()) baseBytes.emplace(t.name, t.byteSize);
    for (const auto& pair : plan.pairs) {
        if (pair.status != PairStatus::Ok) continue;
        ++report.itemsTotal;
        report.bytesTotal += baseBytes.contains(pair.base) ? baseBytes[pair.base] : 0;
    }
    for (size_t p = 0; p < plan.pairs.size(); ++p) {
        const LoraPair& pair = plan.pairs[p];
        if (pair.status != PairStatus::Ok) continue;
        if (cancel && cancel->isCancelled()) return fail(ErrorCode::Cancelled, "cancelled");
        report.currentItem = pair.base;
        auto impact =
            pairImpact(source, pair, scalings[p], progress, report, cancel, blockBytes, rankTolerance);
        if (!impact) return std::unexpected(impact.error());
        result.pairs.push_back(std::move(*impact));
        ++report.itemsDone;
        if (progress) progress(report);
    }
    return result;
}

std::vector<LayerImpact> impactByLayer(const ImpactReport& report) {
    struct Sums {
        size_t pairs = 0;
        double delta = 0, base = 0;
    };
    std::map<int, Sums> byLayer;
    for (const auto& p : report.pairs) {
        auto& s = byLayer[p.layer];
        ++s.pairs;
        s.delta += p.deltaNorm * p.deltaNorm;
        s.base += p.baseNorm * p.baseNorm;
    }
    std::vector<LayerImpact> out;
    for (const auto& [layer, s] : byLayer) {
        const double rel = s.base > 0 ? std::sqrt(s.delta / s.base)
                                      : (s.delta > 0 ? std::numeric_limits<double>::infinity() : 0.0);
        out.push_back({layer, s.pairs, rel});
    }
    // std::map puts -1 first; the pairs without a layer go last.
    if (!out.empty() && out.front().layer == -1) std::rotate(out.begin(), out.begin() + 1, out.end());
    return out;
}

int layerOfName(std::string_view name) {
    size_t start = 0;
    while (start <= name.size()) {
        const size_t end = std::min(name.find('.', start), name.size());
        const auto part = name.substr(start, end - start);
        if (!part.empty() && part.size() <= 9 && std::all_of(part.begin(), part.end(), [](char ch) {
                return std::isdigit((unsigned char)ch) != 0;
            }))
            return std::stoi(std::string(part));
        start = end + 1;
    }
    return -1;
}

}  // namespace lms
