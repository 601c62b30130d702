#include "lms/merge/Verify.h"

#include "lms/base/DType.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>

namespace lms {
namespace {

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

std::string formatNumber(double value) {
    char text[32];
    std::snprintf(text, sizeof text, "%.9g", value);
    return text;
}

// "[r, c]" of the flat element `flat` of a tensor with `dims`.
std::string positionText(std::span<const int64_t> dims, uint64_t flat) {
    std::vector<int64_t> index(dims.size(), 0);
    for (size_t d = dims.size(); d-- > 0;) {
        const auto extent = uint64_t(std::max<int64_t>(dims[d], 1));
        index[d] = int64_t(flat % extent);
        flat /= extent;
    }
    std::string text = "[";
    for (size_t d = 0; d < index.size(); ++d) text += (d ? ", " : "") + std::to_string(index[d]);
    return text + "]";
}

// "[i, j, ...]".
std::string indexText(const std::vector<int64_t>& index) {
    std::string text = "[";
    for (size_t d = 0; d < index.size(); ++d) {
        if (d) text += ", ";
        text += std::to_string(index[d]);
    }
    return text + "]";
}

// Elements per row of a streamed tensor: rows are dims[0] (Source.h rowCount()).
uint64_t elementsPerRow(const SourceTensor& t) {
    uint64_t count = 1;
    for (size_t d = 1; d < t.dims.size(); ++d) count *= uint64_t(std::max<int64_t>(t.dims[d], 0));
    return count;
}

// The input file that holds tensor `t`, for messages: the only input, or the one its origin names;
// otherwise the origin itself ("ranks 0,1").
std::string inputFileOf(const ModelSource& source, const SourceTensor& t) {
    const auto files = source.inputFiles();
    if (files.size() == 1) return files.front().string();
    for (const auto& file : files)
        if (file.filename().string() == t.origin) return file.string();
    return t.origin.empty() ? source.description() : t.origin;
}

}  // namespace

double mergeTolerance(DType dtype, double base, double scaledMagnitude, int64_t rank) {
    const double size = std::abs(base) + scaledMagnitude;
    // The merge computes in float32 (double for Float64 bases; Float16 uses double too, float32 is
    // the looser bound): every product and sum of the r terms, the scaling of B and the add to W
    // may each round once in that precision.
    const DType working = dtype == DType::Float64 ? DType::Float64 : DType::Float32;
    const double steps = 2.0 * double(std::max<int64_t>(rank, 0) + 2);
    const double rounding = 2 * std::ldexp(size, -significandBits(dtype));  // 2 × half an ulp
    const double arithmetic = steps * std::ldexp(size, -significandBits(working));
    // Below the normal range the spacing of representable values no longer shrinks with |x|.
    const double floor = subnormalSpacing(dtype) + steps * subnormalSpacing(working);
    return rounding + arithmetic + floor;
}

Status checkInputFinite(const ModelSource& source, size_t index, std::string_view role,
                        std::span<const std::byte> bytes, int64_t row0) {
    const auto& t = source.tensors()[index];
    const auto bad = firstNonFinite(bytes, t.dtype);
    if (!bad) return {};
    const double value = elementAt(bytes, t.dtype, size_t(*bad));
    const char* what = std::isnan(value) ? "NaN" : value > 0 ? "Inf" : "-Inf";
    const auto file = inputFileOf(source, t);
    return fail(ErrorCode::Malformed,
                std::string(role) + " " + t.name + " in " + file + " holds " + what + " at " +
                    positionText(t.dims, uint64_t(row0) * elementsPerRow(t) + *bad),
                file, t.name);
}

Status checkMergedInRange(const ModelSource& source, size_t index, std::span<const std::byte> bytes,
                          int64_t row0) {
    const auto& t = source.tensors()[index];
    const auto bad = firstNonFinite(bytes, t.dtype);
    if (!bad) return {};
    char range[48];
    std::snprintf(range, sizeof range, "%g", largestFinite(t.dtype));
    return fail(ErrorCode::Mismatch,
                "W + s·B·A exceeds the " + std::string(tensorTypeName(t.dtype)) + " range (±" + range +
                    ") at " + positionText(t.dims, uint64_t(row0) * elementsPerRow(t) + *bad) + " of " +
                    t.name,
                inputFileOf(source, t), t.name);
}

namespace {

// Checks that the output's index lists exactly the kept tensors with the dims and sizes written.
Status checkIndex(const CheckpointFile& output, std::span<const Placement> placements,
                  const ModelSource& source, const LoraPlan& plan, const std::string& shownName) {
    const auto& tensors = source.tensors();
    const bool safetensors = output.format() == CheckpointFormat::Safetensors;
    size_t next = 0;
    for (size_t i = 0; i < tensors.size(); ++i) {
        if (plan.dropped[i] || !placements[i].held) continue;
        if (next >= output.tensors().size())
            return fail(ErrorCode::Io, "verification failed: the output lacks a parameter", shownName,
                        tensors[i].name);
        const auto& got = output.tensors()[next++];
        const auto& want = placements[i];
        const bool dimsOk =
            got.dims == want.dims || (safetensors && tensors[i].legacyScalar && got.dims.empty());
        if (got.name != tensors[i].name || got.dtype != tensors[i].dtype || !dimsOk ||
            got.byteSize != want.bytes)
            return fail(ErrorCode::Io,
                        "verification failed: the output's index differs from what was written", shownName,
                        tensors[i].name);
    }
    if (next != output.tensors().size())
        return fail(ErrorCode::Io, "verification failed: the output has extra parameters", shownName);
    return {};
}

// One stored element of a merged base to recompute: [expert, row, col] of W as stored (expert 0 for
// a matrix), inside the box this output holds; the index of that element inside the output tensor.
struct Sample {
    int64_t expert, row, col;
    uint64_t outputIndex;
};

// kSamplesPerPair positions inside `box` ([rows, cols] or [experts, rows, cols] of W as stored); the
// first is off the diagonal when the box has more than one column, so a transposed delta cannot
// hide on it.
std::vector<Sample> samplePositions(const Box& box, std::mt19937_64& rng) {
    const size_t d = box.begin.size() - 2;  // 0 for a matrix, 1 for grouped experts
    const int64_t experts = d ? box.end[0] - box.begin[0] : 1;
    const int64_t rows = box.end[d] - box.begin[d], cols = box.end[d + 1] - box.begin[d + 1];
    std::vector<Sample> samples;
    for (int k = 0; k < kSamplesPerPair; ++k) {
        const int64_t e = int64_t(rng() % uint64_t(experts));
        int64_t r = int64_t(rng() % uint64_t(rows)), c = int64_t(rng() % uint64_t(cols));
        if (k == 0 && cols > 1 && box.begin[d] + r == box.begin[d + 1] + c) c = (c + 1) % cols;
        samples.push_back({(d ? box.begin[0] : 0) + e, box.begin[d] + r, box.begin[d + 1] + c,
                           uint64_t((e * rows + r) * cols + c)});
    }
    return samples;
}

// The factors of one merged pair as read: delta[e] = L[e]·R[e] (LoraPlan.h deltaRows/deltaCols).
struct Factors {
    std::vector<std::byte> left, right, magnitude;
    DType leftType, rightType, magnitudeType = DType::Float32;
    int64_t rows, cols, rank;
    // delta[e][i, j] and Σ_k |L·R| over its terms.
    std::pair<double, double> at(int64_t e, int64_t i, int64_t j) const {
        double delta = 0, magnitude = 0;
        for (int64_t k = 0; k < rank; ++k) {
            const double term = elementAt(left, leftType, size_t((e * rows + i) * rank + k)) *
                                elementAt(right, rightType, size_t((e * rank + k) * cols + j));
            delta += term;
            magnitude += std::abs(term);
        }
        return {delta, magnitude};
    }
};

Result<Factors> readFactors(const MergedPairRef& ref, const ModelSource& source, const CancelToken* cancel) {
    const auto& tensors = source.tensors();
    const auto& pair = *ref.pair;
    if (pair.kind == PairKind::Bias) {  // b [out] · [1]
        const float one = 1.0f;
        const auto oneBytes = std::as_bytes(std::span(&one, 1));
        Factors f{std::vector<std::byte>(size_t(tensors[ref.bIndex].byteSize)),
                  std::vector<std::byte>(oneBytes.begin(), oneBytes.end()),
                  {},
                  tensors[ref.bIndex].dtype,
                  DType::Float32,
                  DType::Float32,
                  deltaRows(pair),
                  1,
                  1};
        if (auto st = source.read(ref.bIndex, f.left, cancel); !st) return std::unexpected(st.error());
        return f;
    }
    const size_t left = pair.aLeft ? ref.aIndex : ref.bIndex, right = pair.aLeft ? ref.bIndex : ref.aIndex;
    Factors f{std::vector<std::byte>(size_t(tensors[left].byteSize)),
              std::vector<std::byte>(size_t(tensors[right].byteSize)),
              {},
              tensors[left].dtype,
              tensors[right].dtype,
              DType::Float32,
              deltaRows(pair),
              deltaCols(pair),
              pair.rank};
    if (auto st = source.read(left, f.left, cancel); !st) return std::unexpected(st.error());
    if (auto st = source.read(right, f.right, cancel); !st) return std::unexpected(st.error());
    if (!pair.magnitude.empty()) {
        const auto it = std::find_if(tensors.begin(), tensors.end(),
                                     [&](const SourceTensor& t) { return t.name == pair.magnitude; });
        f.magnitude.resize(size_t(it->byteSize));
        f.magnitudeType = it->dtype;
        if (auto st = source.read(size_t(it - tensors.begin()), f.magnitude, cancel); !st)
            return std::unexpected(st.error());
    }
    return f;
}

// DoRA: the factor m[i] / ‖(W + s·B·A)[i]‖ of stored row `row` (`storedRow` holds W's row).
double doraFactor(const Factors& f, const SourceTensor& t, std::span<const std::byte> storedRow, int64_t row,
                  double scaling) {
    double sum = 0;
    for (int64_t j = 0; j < f.cols; ++j) {
        const double v = elementAt(storedRow, t.dtype, size_t(j)) + scaling * f.at(0, row, j).first;
        sum += v * v;
    }
    return elementAt(f.magnitude, f.magnitudeType, size_t(row)) / std::sqrt(sum);
}

// A modules_to_save copy: sampled elements of the output must equal the copy's, converted to the
// base dtype (exactly when the dtypes match).
Status spotCheckReplace(const CheckpointFile& output, const TensorInfo& got, const Placement& placement,
                        const MergedPairRef& ref, const ModelSource& source, std::mt19937_64& rng,
                        const std::string& shownName) {
    const auto& t = source.tensors()[ref.baseIndex];
    const auto& r = source.tensors()[ref.aIndex];
    const uint64_t perRow = elementsPerRow(t), rows = uint64_t(std::max<int64_t>(rowCount(t), 0));
    if (!placement.whole || perRow == 0 || rows == 0) return {};
    const uint64_t elementBytes = dtypeBits(t.dtype) / 8;
    std::vector<std::byte> row(static_cast<size_t>(rowBytes(r))), written(static_cast<size_t>(elementBytes));
    for (int k = 0; k < kSamplesPerPair; ++k) {
        const uint64_t flat = rng() % (rows * perRow);
        if (auto st =
                source.readRows(ref.aIndex, int64_t(flat / perRow), int64_t(flat / perRow) + 1, row, nullptr);
            !st)
            return st;
        if (auto st = output.readRange(got, flat * elementBytes, written); !st) return st;
        const bool same = r.dtype == t.dtype;
        const size_t at = size_t(flat % perRow);
        const bool equal =
            same ? std::memcmp(written.data(), row.data() + at * elementBytes, size_t(elementBytes)) == 0
                 : std::abs(elementAt(written, t.dtype, 0) - elementAt(row, r.dtype, at)) <=
                       mergeTolerance(t.dtype, elementAt(row, r.dtype, at), 0, 0);
        if (!equal)
            return fail(ErrorCode::Mismatch,
                        "verification failed at " + positionText(t.dims, flat) +
                            ": the output does not hold the modules_to_save tensor " + r.name,
                        shownName, t.name);
    }
    return {};
}

// Recomputes the sampled elements of one merged pair in double and compares them with the output.
// `refs` are every pair merged into one base (several in a multi-adapter merge: plain matrix pairs of
// one shape, LoraPlan.h), the expected value W + Σ s_k·L_k·R_k.
Status spotCheckPair(const CheckpointFile& output, const TensorInfo& got, const Placement& placement,
                     std::span<const MergedPairRef> refs, const ModelSource& source, std::mt19937_64& rng,
                     const std::string& shownName, const CancelToken* cancel) {
    const auto& ref = refs.front();
    const auto& t = source.tensors()[ref.baseIndex];
    const bool transposed = ref.pair->transposed;
    const int64_t outDim = deltaRows(*ref.pair), inDim = deltaCols(*ref.pair);
    const int64_t storedRows = transposed ? inDim : outDim, storedCols = transposed ? outDim : inDim;
    const size_t d = ref.pair->experts > 0 ? 1 : 0;
    Box box = placement.box;
    if (placement.whole) {
        box.begin.assign(d + 2, 0);
        box.end = d ? std::vector<int64_t>{ref.pair->experts, storedRows, storedCols}
                    : std::vector<int64_t>{storedRows, storedCols};
    }
    if (box.begin.size() != d + 2) return {};
    for (size_t k = 0; k < box.begin.size(); ++k)
        if (box.end[k] <= box.begin[k]) return {};
    std::vector<Factors> terms;
    int64_t rankSum = 0;
    for (const auto& term : refs) {
        auto read = readFactors(term, source, cancel);
        if (!read) return std::unexpected(read.error());
        terms.push_back(std::move(*read));
        rankSum += term.pair->rank;
    }
    const auto* factors = &terms.front();
    const uint64_t elementBytes = dtypeBits(t.dtype) / 8;
    // A row of the base as streamed: one stored row of a matrix, one whole expert of a grouped weight.
    std::vector<std::byte> storedRow(
        size_t(uint64_t(d ? storedRows : 1) * uint64_t(storedCols) * elementBytes));
    std::vector<std::byte> written(static_cast<size_t>(elementBytes));
    for (const auto& sample : samplePositions(box, rng)) {
        const int64_t row = transposed ? sample.col : sample.row, col = transposed ? sample.row : sample.col;
        double sum = 0, scaledMagnitude = 0;
        for (size_t k = 0; k < terms.size(); ++k) {
            const auto [delta, magnitude] = terms[k].at(sample.expert, row, col);
            sum += refs[k].scaling * delta;
            scaledMagnitude += std::abs(refs[k].scaling) * magnitude;
        }
        const int64_t streamed = d ? sample.expert : sample.row;
        if (auto st = source.readRows(ref.baseIndex, streamed, streamed + 1, storedRow, cancel); !st)
            return st;
        if (auto st = output.readRange(got, sample.outputIndex * elementBytes, written); !st) return st;
        const auto inRow = std::span<const std::byte>(storedRow).subspan(
            size_t(uint64_t(d ? sample.row : 0) * uint64_t(storedCols) * elementBytes));
        const double base = elementAt(inRow, t.dtype, size_t(sample.col));
        double expected = base + sum;
        double bound = mergeTolerance(t.dtype, base, scaledMagnitude, rankSum);
        if (!factors->magnitude.empty()) {
            const double factor = doraFactor(*factors, t, inRow, sample.row, ref.scaling);
            expected *= factor;
            bound *= std::abs(factor);
        }
        const double actual = elementAt(written, t.dtype, 0);
        if (!(std::abs(actual - expected) <= bound)) {
            std::vector<int64_t> at{sample.row, sample.col};
            if (d) at.insert(at.begin(), sample.expert);
            return fail(
                ErrorCode::Mismatch,
                "verification failed at " + indexText(at) + ": wrote " + formatNumber(actual) +
                    (refs.size() > 1 ? ", but W + Σ s·B·A of " + std::to_string(refs.size()) +
                                           " adapters recomputed from the inputs is "
                                     : std::string(", but W + s·B·A recomputed from the inputs is ")) +
                    formatNumber(expected),
                shownName, t.name);
        }
    }
    return {};
}

}  // namespace

Status verifyOutput(const std::filesystem::path& writtenFile, const std::filesystem::path& shownFile,
                    std::span<const Placement> placements, const ModelSource& source, const LoraPlan& plan,
                    std::span<const MergedPairRef> merged, const CancelToken* cancel) {
    const auto shownName = shownFile.string();
    auto output = CheckpointFile::open(writtenFile, cancel);
    if (!output) {
        auto error = output.error();
        error.file = shownName;
        error.message = "verification failed: the output does not read back: " + error.message;
        return std::unexpected(error);
    }
    if (auto st = checkIndex(**output, placements, source, plan, shownName); !st) return st;
    // Finite values were checked while streaming (checkInputFinite, checkMergedInRange); here every
    // pair is sampled, in every output file, at positions a fixed seed makes reproducible.
    std::mt19937_64 rng(0x10AA);
    for (size_t r = 0; r < merged.size();) {
        // The pairs summed into one base are consecutive (the stream stage lists them together).
        size_t end = r + 1;
        while (end < merged.size() && merged[end].baseIndex == merged[r].baseIndex) ++end;
        const auto refs = merged.subspan(r, end - r);
        const auto& ref = merged[r];
        r = end;
        if (cancel && cancel->isCancelled())
            return fail(ErrorCode::Cancelled, "verification cancelled", shownName);
        if (!placements[ref.baseIndex].held) continue;  // another shard holds it
        const auto* got = (*output)->find(source.tensors()[ref.baseIndex].name);
        if (auto st =
                ref.pair->kind == PairKind::Replace
                    ? spotCheckReplace(**output, *got, placements[ref.baseIndex], ref, source, rng, shownName)
                    : spotCheckPair(**output, *got, placements[ref.baseIndex], refs, source, rng, shownName,
                                    cancel);
            !st)
            return st;
    }
    return {};
}

Status verifyMergedFile(const std::filesystem::path& file, const ModelSource& source,
                        const MergeOptions& options, const CancelToken* cancel) {
    const auto& tensors = source.tensors();
    const auto plan = planLora(tensors, options.plan);
    std::vector<Placement> placements;
    for (const auto& t : tensors) placements.push_back({true, {}, t.dims, t.byteSize});
    std::unordered_map<std::string, size_t> indexOf;
    for (size_t i = 0; i < tensors.size(); ++i) indexOf.emplace(tensors[i].name, i);
    auto scalings = pairScalings(plan, options);
    if (!scalings) return std::unexpected(scalings.error());
    const auto find = [&](const std::string& name) { return name.empty() ? SIZE_MAX : indexOf.at(name); };
    std::vector<MergedPairRef> merged;
    for (size_t i = 0; i < tensors.size(); ++i)
        for (int p : plan.pairsOfBase[i]) {
            const auto& pair = plan.pairs[size_t(p)];
            if (pair.status == PairStatus::Ok)
                merged.push_back({i, find(pair.a), find(pair.b), &pair, (*scalings)[size_t(p)]});
        }
    return verifyOutput(file, file, placements, source, plan, merged, cancel);
}

}  // namespace lms
