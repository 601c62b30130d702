#include "lms/analysis/Diff.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <unordered_map>

namespace lms {
namespace {

// Running sums over the element pairs of one tensor.
struct Sums {
    double diff2 = 0, a2 = 0, b2 = 0, ab = 0, maxAbs = 0;
    uint64_t nonFinite = 0;

    void add(double x, double y) {
        if (!std::isfinite(x) || !std::isfinite(y)) {
            ++nonFinite;
            return;
        }
        const double d = y - x;
        diff2 += d * d, a2 += x * x, b2 += y * y, ab += x * y;
        maxAbs = std::max(maxAbs, std::abs(d));
    }
};

void widenToDouble(DType type, std::span<const std::byte> bytes, std::vector<double>& out,
                   std::vector<float>& scratch) {
    const size_t count = bytes.size() / (dtypeBits(type) / 8);
    out.resize(count);
    if (type == DType::Float64) {
        std::memcpy(out.data(), bytes.data(), count * 8);
        return;
    }
    scratch.resize(count);
    widenToFloat(type, bytes, scratch);
    for (size_t i = 0; i < count; ++i) out[i] = scratch[i];
}

class Comparer {
public:
    Comparer(const ModelSource& a, const ModelSource& b, const ProgressCallback& progress,
             const CancelToken* cancel, uint64_t blockBytes)
        : a_(a),
          b_(b),
          progress_(progress),
          cancel_(cancel),
          blockBytes_(std::max<uint64_t>(blockBytes, 1)) {}

    Progress& state() { return state_; }

    Status compare(size_t ia, size_t ib, TensorDiff& diff) {
        const auto& t = a_.tensors()[ia];
        const int64_t rows = rowCount(t);
        const uint64_t stride = rowBytes(t);
        const unsigned elementBits = dtypeBits(t.dtype);
        diff.floating = isFloatingPoint(t.dtype);
        const int64_t step = stride ? int64_t(std::max<uint64_t>(1, blockBytes_ / stride)) : rows;
        Sums sums;
        for (int64_t row = 0; row < rows; row += step) {
            if (cancel_ && cancel_->isCancelled()) return fail(ErrorCode::Cancelled, "cancelled", {}, t.name);
            const int64_t end = std::min(rows, row + step);
            blockA_.resize(size_t(uint64_t(end - row) * stride));
            blockB_.resize(blockA_.size());
            if (auto st = a_.readRows(ia, row, end, blockA_, cancel_); !st) return st;
            if (auto st = b_.readRows(ib, row, end, blockB_, cancel_); !st) return st;
            countChanged(elementBits, diff);
            if (diff.floating) accumulate(t.dtype, sums);
            progress(t.name, blockA_.size());
        }
        diff.elements = elementBits ? t.byteSize * 8 / elementBits : 0;
        if (diff.floating) finish(sums, diff);
        return {};
    }

private:
    void countChanged(unsigned elementBits, TensorDiff& diff) const {
        const size_t width = std::max(1u, elementBits / 8);  // sub-byte types compare byte by byte
        for (size_t i = 0; i < blockA_.size(); i += width)
            diff.changed += std::memcmp(blockA_.data() + i, blockB_.data() + i, width) != 0;
    }

    void accumulate(DType type, Sums& sums) {
        widenToDouble(type, blockA_, wideA_, scratch_);
        widenToDouble(type, blockB_, wideB_, scratch_);
        for (size_t i = 0; i < wideA_.size(); ++i) sums.add(wideA_[i], wideB_[i]);
    }

    static void finish(const Sums& sums, TensorDiff& diff) {
        diff.maxAbsDiff = sums.maxAbs;
        diff.nonFinite = sums.nonFinite;
        diff.relativeNorm = sums.a2 > 0      ? std::sqrt(sums.diff2 / sums.a2)
                            : sums.diff2 > 0 ? std::numeric_limits<double>::infinity()
                                             : 0;
        if (sums.a2 > 0 && sums.b2 > 0)
            diff.cosine = sums.ab / std::sqrt(sums.a2 * sums.b2);
        else
            diff.cosine = sums.a2 == sums.b2 ? 1 : 0;
    }

    void progress(const std::string& name, uint64_t bytes) {
        state_.bytesDone += bytes;
        state_.currentItem = name;
        if (progress_) progress_(state_);
    }

    Progress state_;
    const ModelSource& a_;
    const ModelSource& b_;
    const ProgressCallback& progress_;
    const CancelToken* cancel_;
    uint64_t blockBytes_;
    std::vector<std::byte> blockA_, blockB_;
    std::vector<double> wideA_, wideB_;
    std::vector<float> scratch_;
};

TensorDiff describe(const SourceTensor* a, const SourceTensor* b) {
    TensorDiff d;
    d.name = a ? a->name : b->name;
    if (a) d.typeA = a->typeName, d.dimsA = a->dims;
    if (b) d.typeB = b->typeName, d.dimsB = b->dims;
    if (!b)
        d.status = DiffStatus::OnlyInA;
    else if (!a)
        d.status = DiffStatus::OnlyInB;
    else if (a->dtype != b->dtype || a->typeName != b->typeName)
        d.status = DiffStatus::TypeDiffers;
    else if (a->dims != b->dims || a->byteSize != b->byteSize)
        d.status = DiffStatus::ShapeDiffers;
    return d;
}

void count(DiffReport& report, DiffStatus status) {
    switch (status) {
        case DiffStatus::Identical:
            ++report.identical;
            break;
        case DiffStatus::Changed:
            ++report.changed;
            break;
        case DiffStatus::OnlyInA:
            ++report.onlyInA;
            break;
        case DiffStatus::OnlyInB:
            ++report.onlyInB;
            break;
        default:
            ++report.mismatched;
            break;
    }
}

}  // namespace

const char* diffStatusName(DiffStatus status) {
    switch (status) {
        case DiffStatus::Identical:
            return "identical";
        case DiffStatus::Changed:
            return "changed";
        case DiffStatus::OnlyInA:
            return "only in A";
        case DiffStatus::OnlyInB:
            return "only in B";
        case DiffStatus::TypeDiffers:
            return "dtype differs";
        case DiffStatus::ShapeDiffers:
            return "shape differs";
    }
    return "?";
}

Result<DiffReport> diffModels(const ModelSource& a, const ModelSource& b, const ProgressCallback& progress,
                              const CancelToken* cancel, uint64_t blockBytes) {
    std::unordered_map<std::string, size_t> inB;
    for (size_t i = 0; i < b.tensors().size(); ++i) inB.emplace(b.tensors()[i].name, i);
    std::vector<std::pair<size_t, size_t>> pairs;  // (index in a, index in b or SIZE_MAX)
    Comparer comparer(a, b, progress, cancel, blockBytes);
    for (size_t i = 0; i < a.tensors().size(); ++i) {
        const auto it = inB.find(a.tensors()[i].name);
        pairs.emplace_back(i, it == inB.end() ? SIZE_MAX : it->second);
        if (it != inB.end()) comparer.state().bytesTotal += a.tensors()[i].byteSize, inB.erase(it);
    }
    comparer.state().stage = "comparing";
    comparer.state().itemsTotal = pairs.size();
    DiffReport report;
    for (const auto& [ia, ib] : pairs) {
        const SourceTensor* tb = ib == SIZE_MAX ? nullptr : &b.tensors()[ib];
        TensorDiff d = describe(&a.tensors()[ia], tb);
        if (tb && d.status == DiffStatus::Identical) {
            if (auto st = comparer.compare(ia, ib, d); !st) return std::unexpected(st.error());
            if (d.changed) d.status = DiffStatus::Changed;
        }
        ++comparer.state().itemsDone;
        count(report, d.status);
        report.tensors.push_back(std::move(d));
    }
    for (size_t i = 0; i < b.tensors().size(); ++i) {
        if (!inB.count(b.tensors()[i].name)) continue;
        report.tensors.push_back(describe(nullptr, &b.tensors()[i]));
        count(report, DiffStatus::OnlyInB);
    }
    return report;
}

}  // namespace lms
