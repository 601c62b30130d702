#include "lms/merge/Verify.h"

#include "lms/base/DType.h"

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

// One stored element of a merged base to recompute: [row, col] of W as stored, inside the box
// this output holds; the index of that element inside the output tensor.
struct Sample {
    int64_t row, col;
    uint64_t outputIndex;
};

// kSamplesPerPair positions inside `box` ([rows, cols] of W as stored); the first is off the
// diagonal when the box has more than one column, so a transposed delta cannot hide on it.
std::vector<Sample> samplePositions(const Box& box, std::mt19937_64& rng) {
    const int64_t rows = box.end[0] - box.begin[0], cols = box.end[1] - box.begin[1];
    std::vector<Sample> samples;
    for (int k = 0; k < kSamplesPerPair; ++k) {
        int64_t r = int64_t(rng() % uint64_t(rows)), c = int64_t(rng() % uint64_t(cols));
        if (k == 0 && cols > 1 && box.begin[0] + r == box.begin[1] + c) c = (c + 1) % cols;
        samples.push_back({box.begin[0] + r, box.begin[1] + c, uint64_t(r * cols + c)});
    }
    return samples;
}

// Recomputes the sampled elements of one merged pair in double and compares them with the output.
Status spotCheckPair(const CheckpointFile& output, const TensorInfo& got, const Placement& placement,
                     const MergedPairRef& ref, const ModelSource& source, std::mt19937_64& rng,
                     const std::string& shownName, const CancelToken* cancel) {
    const auto& tensors = source.tensors();
    const auto& t = tensors[ref.baseIndex];
    const int64_t outDim = ref.pair->bDims[0], inDim = ref.pair->aDims[1], r = ref.pair->rank;
    const bool transposed = ref.pair->transposed;
    const int64_t storedRows = transposed ? inDim : outDim, storedCols = transposed ? outDim : inDim;
    const Box box = placement.whole ? Box{{0, 0}, {storedRows, storedCols}} : placement.box;
    if (box.begin.size() != 2 || box.end[0] <= box.begin[0] || box.end[1] <= box.begin[1]) return {};
    const auto aType = tensors[ref.aIndex].dtype, bType = tensors[ref.bIndex].dtype;
    const uint64_t elementBytes = dtypeBits(t.dtype) / 8;
    std::vector<std::byte> a(size_t(tensors[ref.aIndex].byteSize)),
        bRow(size_t(uint64_t(r) * dtypeBits(bType) / 8));
    std::vector<std::byte> storedRow(size_t(uint64_t(storedCols) * elementBytes));
    std::vector<std::byte> written(static_cast<size_t>(elementBytes));
    if (auto st = source.read(ref.aIndex, a, cancel); !st) return st;
    for (const auto& sample : samplePositions(box, rng)) {
        const int64_t row = transposed ? sample.col : sample.row, col = transposed ? sample.row : sample.col;
        if (auto st = source.readRows(ref.bIndex, row, row + 1, bRow, cancel); !st) return st;
        double delta = 0, magnitude = 0;
        for (int64_t k = 0; k < r; ++k) {
            const double term =
                elementAt(bRow, bType, size_t(k)) * elementAt(a, aType, size_t(k * inDim + col));
            delta += term;
            magnitude += std::abs(term);
        }
        if (auto st = source.readRows(ref.baseIndex, sample.row, sample.row + 1, storedRow, cancel); !st)
            return st;
        if (auto st = output.readRange(got, sample.outputIndex * elementBytes, written); !st) return st;
        const double base = elementAt(storedRow, t.dtype, size_t(sample.col));
        const double expected = base + ref.scaling * delta;
        const double actual = elementAt(written, t.dtype, 0);
        if (!(std::abs(actual - expected) <=
              mergeTolerance(t.dtype, base, std::abs(ref.scaling) * magnitude, r)))
            return fail(ErrorCode::Mismatch,
                        "verification failed at [" + std::to_string(sample.row) + ", " +
                            std::to_string(sample.col) + "]: wrote " + formatNumber(actual) +
                            ", but W + s·B·A recomputed from the inputs is " + formatNumber(expected),
                        shownName, t.name);
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
    for (const auto& ref : merged) {
        if (cancel && cancel->isCancelled())
            return fail(ErrorCode::Cancelled, "verification cancelled", shownName);
        if (!placements[ref.baseIndex].held) continue;  // another shard holds it
        const auto* got = (*output)->find(source.tensors()[ref.baseIndex].name);
        if (auto st =
                spotCheckPair(**output, *got, placements[ref.baseIndex], ref, source, rng, shownName, cancel);
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
    std::vector<MergedPairRef> merged;
    for (const auto& pair : plan.pairs) {
        if (pair.status != PairStatus::Ok) continue;
        auto s = options.scaling.scalingFor(pair);
        if (!s) return std::unexpected(s.error());
        merged.push_back({indexOf.at(pair.base), indexOf.at(pair.a), indexOf.at(pair.b), &pair, *s});
    }
    return verifyOutput(file, file, placements, source, plan, merged, cancel);
}

}  // namespace lms
