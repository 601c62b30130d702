#include "lms/Merge.h"
#include "lms/MergeStages.h"

#include "lms/CheckpointWriter.h"
#include "lms/Layout.h"
#include "lms/Safetensors.h"
#include "lms/Log.h"
#include "lms/Text.h"

#include <Eigen/Core>
#include <chrono>
#include <charconv>
#include <cmath>
#include <cstring>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>
#include <thread>

namespace lms {
namespace {


constexpr int64_t kRowsPerBlock = 256;  // base rows widened at a time: bounds the float scratch

std::optional<double> parseNumber(std::string_view text) {
    while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
    while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
    if (text.empty()) return std::nullopt;
    double value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value)) return std::nullopt;
    return value;
}

template <class Scalar>
using RowMatrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Widens any floating tensor to Scalar (float or double).
template <class Scalar>
RowMatrix<Scalar> widen(std::span<const std::byte> bytes, DType type, int64_t rows, int64_t cols) {
    RowMatrix<Scalar> m(rows, cols);
    if constexpr (std::is_same_v<Scalar, float>) {
        widenToFloat(type, bytes, std::span(m.data(), size_t(m.size())));
    } else {
        if (type == DType::Float64) {
            std::memcpy(m.data(), bytes.data(), size_t(m.size()) * 8);
        } else {
            std::vector<float> tmp(size_t(m.size()));
            widenToFloat(type, bytes, tmp);
            for (size_t i = 0; i < tmp.size(); ++i) m.data()[i] = tmp[i];
        }
    }
    return m;
}

// W (rows [row0, row0 + rows) of the base as stored) += s·(B·A) or its transpose, in blocks of
// base rows so the widened scratch stays small.
template <class Scalar>
void addDeltaRows(std::span<std::byte> bytes, DType baseType, int64_t row0, int64_t rows, int64_t storedCols,
                  bool transposed, const RowMatrix<Scalar>& a, const RowMatrix<Scalar>& scaledB) {
    const size_t elementBytes = dtypeBits(baseType) / 8;
    RowMatrix<Scalar> block;
    std::vector<float> narrowScratch;
    for (int64_t done = 0; done < rows; done += kRowsPerBlock) {
        const int64_t n = std::min(kRowsPerBlock, rows - done);
        auto part = bytes.subspan(size_t(done * storedCols) * elementBytes, size_t(n * storedCols) * elementBytes);
        block = widen<Scalar>(part, baseType, n, storedCols);
        if (!transposed) {
            block.noalias() += scaledB.middleRows(row0 + done, n) * a;                          // [n,r]·[r,in]
        } else {
            block.noalias() += a.middleCols(row0 + done, n).transpose() * scaledB.transpose();  // [n,r]·[r,out]
        }
        if constexpr (std::is_same_v<Scalar, float>) {
            narrowFromFloat(baseType, std::span<const float>(block.data(), size_t(block.size())), part);
        } else if (baseType == DType::Float64) {
            std::memcpy(part.data(), block.data(), size_t(block.size()) * 8);
        } else {
            narrowScratch.assign(block.data(), block.data() + block.size());
            narrowFromFloat(baseType, narrowScratch, part);
        }
    }
}

// One LoRA pair, widened and pre-scaled once, applied to any row range of its base.
class PairDelta {
public:
    PairDelta(DType baseType, int64_t out, int64_t in, bool transposed, std::span<const std::byte> a, DType aType,
              std::span<const std::byte> b, DType bType, int64_t rank, double scaling)
        : baseType_(baseType), storedCols_(transposed ? out : in), transposed_(transposed) {
        // Float16 has subnormals down to 6e-8, where a float32 product sum that cancels against W
        // can be off by more than one unit of the result; double keeps every value within one ulp.
        useDouble_ = baseType == DType::Float64 || baseType == DType::Float16;
        if (useDouble_) {
            aD_ = widen<double>(a, aType, rank, in);
            sbD_ = widen<double>(b, bType, out, rank) * scaling;
        } else {
            aF_ = widen<float>(a, aType, rank, in);
            sbF_ = widen<float>(b, bType, out, rank) * float(scaling);
        }
    }
    // `bytes` holds stored rows [row0, row0 + rows) of the base.
    void apply(std::span<std::byte> bytes, int64_t row0, int64_t rows) const {
        if (useDouble_) addDeltaRows<double>(bytes, baseType_, row0, rows, storedCols_, transposed_, aD_, sbD_);
        else addDeltaRows<float>(bytes, baseType_, row0, rows, storedCols_, transposed_, aF_, sbF_);
    }

private:
    DType baseType_;
    int64_t storedCols_;
    bool transposed_, useDouble_ = false;
    RowMatrix<float> aF_, sbF_;
    RowMatrix<double> aD_, sbD_;
};

std::string listProblems(const LoraPlan& plan, size_t limit) {
    std::string text;
    size_t shown = 0;
    for (const auto& pair : plan.pairs) {
        if (pair.status != PairStatus::Problem) continue;
        if (shown++ == limit) {
            text += "; ...";
            break;
        }
        const auto& who = !pair.base.empty() ? pair.base : !pair.a.empty() ? pair.a : pair.b;
        if (shown > 1) text += "; ";
        text += who + ": " + pair.problem;
    }
    return text;
}

Status prepareOutput(const ModelSource& source, const std::filesystem::path& output, CreatedDirectories& created) {
    if (output.empty()) return fail(ErrorCode::InvalidArgument, "no output file given");
    const auto parent = std::filesystem::absolute(output).parent_path();
    for (const auto& input : source.inputFiles()) {
        std::error_code ec;
        if (std::filesystem::equivalent(input, output, ec))
            return fail(ErrorCode::InvalidArgument, "the output would overwrite the input " + input.string(),
                        output.string());
        if (std::filesystem::equivalent(std::filesystem::absolute(input).parent_path(), parent, ec))
            return fail(ErrorCode::InvalidArgument,
                        "the output folder " + parent.string() + " holds an input file (" + input.filename().string() +
                            "); write the merged checkpoint somewhere else so the source stays untouched",
                        output.string());
    }
    // Create missing folders, remembering them so a failed run can remove them again.
    std::vector<std::filesystem::path> missing;
    for (auto dir = parent; !dir.empty() && !std::filesystem::exists(dir); dir = dir.parent_path()) {
        missing.push_back(dir);
        if (dir == dir.parent_path()) break;
    }
    for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
        std::error_code ec;
        if (!std::filesystem::create_directory(*it, ec) && ec)
            return fail(ErrorCode::Io, "cannot create the output folder: " + ec.message(), it->string());
        created.dirs.push_back(*it);
    }
    if (!std::filesystem::is_directory(parent))
        return fail(ErrorCode::InvalidArgument, "the output folder is not a folder", parent.string());
    return {};
}

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

// Re-opens a finished output and checks its index against what was written; for a full output also
// checks that every merged parameter is finite and spot-checks elements of W + s·B·A in double.
Status verifyOutput(const Target& target, const ModelSource& source, const LoraPlan& plan,
                    const std::vector<MergedPairRef>& merged, const CancelToken* cancel) {
    const auto shownName = target.file.string();
    auto output = CheckpointFile::open(target.sink->tempPath(), cancel);
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
        const auto& want = target.placements[i];
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
        if (!target.full) continue;  // slices hold the same values, cut by the layout
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

// Where each tensor goes in each output; every layout problem surfaces here, before writing.
Result<std::vector<Target>> planTargets(const ModelSource& source, const LoraPlan& plan, const MergeOptions& options) {
    const auto& tensors = source.tensors();
    std::vector<Target> targets;
    if (!options.reshard) {
        Target target;
        target.file = options.outputFile;
        for (const auto& t : tensors) target.placements.push_back({true, {}, t.dims, t.byteSize});
        targets.push_back(std::move(target));
        return targets;
    }
    const auto& strategy = *options.reshard->strategy;
    if (strategy.stageCount() != 1)
        return fail(ErrorCode::Unsupported,
                    "re-sharding into a pipeline-parallel destination is not supported; give a single-stage strategy",
                    strategy.file, "dst_ckpt_strategy");
    const int64_t ranks = strategy.devicesPerStage();
    if (ranks <= 0) return fail(ErrorCode::Malformed, "the destination strategy has no device matrix", strategy.file);
    for (int64_t rank = 0; rank < ranks; ++rank) {
        Target target;
        target.full = false;
        target.file = rankOutputFile(options.reshard->dir, options.reshard->prefix, rank, options.format);
        for (size_t i = 0; i < tensors.size(); ++i) {
            const auto& t = tensors[i];
            const auto layouts = plan.dropped[i] ? std::vector<const ParamLayout*>{} : strategy.find(t.name);
            if (layouts.empty() || t.kind != TensorKind::Dense || t.legacyScalar || dtypeBits(t.dtype) < 8) {
                target.placements.push_back({true, {}, t.dims, t.byteSize});
                continue;
            }
            auto box = rankSlice(*layouts.front(), t.dims, rank);
            if (!box) {
                auto error = box.error();
                error.file = strategy.file;
                return std::unexpected(error);
            }
            Placement placement{false, *box, {}, dtypeBits(t.dtype) / 8};
            for (size_t d = 0; d < t.dims.size(); ++d) {
                placement.dims.push_back(box->end[d] - box->begin[d]);
                placement.bytes *= uint64_t(placement.dims.back());
            }
            target.placements.push_back(std::move(placement));
        }
        targets.push_back(std::move(target));
    }
    return targets;
}

Status openSinks(std::vector<Target>& targets, const ModelSource& source, const LoraPlan& plan,
                 const MergeOptions& options) {
    const auto inputs = source.inputFiles();
    const auto& tensors = source.tensors();
    const auto publishMode = options.overwrite ? Publish::Replace : Publish::NoClobber;
    for (auto& target : targets) {
        if (options.format == OutputFormat::Ckpt) {
            auto writer = CheckpointWriter::create(target.file, inputs, publishMode);
            if (!writer) return std::unexpected(writer.error());
            auto owned = std::make_unique<CheckpointWriter>(std::move(*writer));
            target.ckpt = owned.get();
            target.sink = std::move(owned);
            continue;
        }
        std::vector<SafetensorsTensor> declared;
        for (size_t i = 0; i < tensors.size(); ++i)
            if (!plan.dropped[i])
                declared.push_back({tensors[i].name, tensors[i].dtype, target.placements[i].dims, target.placements[i].bytes});
        auto writer =
            SafetensorsWriter::create(target.file, inputs, {{"format", "ms"}}, std::move(declared), publishMode);
        if (!writer) return std::unexpected(writer.error());
        target.sink = std::make_unique<SafetensorsWriter>(std::move(*writer));
    }
    return {};
}

// Copies the box of a row-major tensor into a dense buffer.
std::vector<std::byte> extractBox(std::span<const std::byte> full, std::span<const int64_t> fullShape, const Box& box,
                                  uint64_t elementBytes, uint64_t boxBytes) {
    std::vector<std::byte> out(static_cast<size_t>(boxBytes));
    forEachContiguousRun(fullShape, box, elementBytes, [&](uint64_t sliceOffset, uint64_t fullOffset, uint64_t count) {
        std::memcpy(out.data() + sliceOffset, full.data() + fullOffset, size_t(count));
    });
    return out;
}


// A piece of the output stream, produced in order by the reader thread: a row block of one tensor,
// or (bytes empty, rowEnd == rowBegin == -1) a tensor that every output copies as raw records.
struct Block {
    size_t tensor = 0;
    int64_t rowBegin = -1, rowEnd = -1;
    bool first = false, last = false;
    std::vector<std::byte> bytes;            // merged tensors: the delta is already added
    std::optional<Error> error;              // the reader failed; nothing follows
};

// Single-producer single-consumer queue bounded by bytes (always admits one block).
class BlockQueue {
public:
    explicit BlockQueue(uint64_t budgetBytes) : budget_(budgetBytes) {}
    bool push(Block block) {
        std::unique_lock lock(mutex_);
        spaceFree_.wait(lock, [&] { return stopped_ || queued_ == 0 || queued_ + block.bytes.size() <= budget_; });
        if (stopped_) return false;
        queued_ += block.bytes.size();
        blocks_.push_back(std::move(block));
        dataReady_.notify_one();
        return true;
    }
    std::optional<Block> pop() {
        std::unique_lock lock(mutex_);
        dataReady_.wait(lock, [&] { return stopped_ || !blocks_.empty(); });
        if (blocks_.empty()) return std::nullopt;
        Block block = std::move(blocks_.front());
        blocks_.pop_front();
        queued_ -= block.bytes.size();
        spaceFree_.notify_one();
        return block;
    }
    void stop() {
        std::lock_guard lock(mutex_);
        stopped_ = true;
        spaceFree_.notify_all();
        dataReady_.notify_all();
    }

private:
    std::mutex mutex_;
    std::condition_variable spaceFree_, dataReady_;
    std::deque<Block> blocks_;
    uint64_t budget_;
    uint64_t queued_ = 0;
    bool stopped_ = false;
};

}  // namespace

Result<double> parseScalingText(std::string_view text) {
    const auto slash = text.find('/');
    if (slash == std::string_view::npos) {
        auto value = parseNumber(text);
        if (!value) return fail(ErrorCode::InvalidArgument, "not a number: '" + std::string(text) + "'", {}, "lora_scaling");
        return *value;
    }
    auto alpha = parseNumber(text.substr(0, slash));
    auto rank = parseNumber(text.substr(slash + 1));
    if (!alpha || !rank)
        return fail(ErrorCode::InvalidArgument, "expected a number or alpha/rank such as 16/8, got '" + std::string(text) + "'",
                    {}, "lora_scaling");
    if (*rank == 0) return fail(ErrorCode::InvalidArgument, "rank 0 in '" + std::string(text) + "'", {}, "lora_scaling");
    return *alpha / *rank;
}

Result<double> ScalingSpec::scalingFor(int64_t pairRank) const {
    if (scaling) return *scaling;
    if (alpha) {
        const double r = rank ? *rank : double(pairRank);
        if (r <= 0) return fail(ErrorCode::InvalidArgument, "LoRA rank must be positive", {}, "lora_rank");
        return *alpha / r;
    }
    return fail(ErrorCode::InvalidArgument,
                "no LoRA scaling given: the merge adds (lora_alpha / lora_rank)·B·A, so pass --lora_scaling ALPHA/RANK "
                "(e.g. 16/8, the values of pet_config in your training YAML) or --lora_alpha ALPHA (the rank is then "
                "read from the LoRA shapes)",
                {}, "lora_scaling");
}

Status mergePairInPlace(std::span<std::byte> base, DType baseType, int64_t out, int64_t in, bool transposed,
                        std::span<const std::byte> a, DType aType, std::span<const std::byte> b, DType bType,
                        int64_t rank, double scaling) {
    if (!isFloatingPoint(baseType) || !isFloatingPoint(aType) || !isFloatingPoint(bType))
        return fail(ErrorCode::Unsupported, "only floating-point weights can be merged");
    const auto bytesOf = [](DType t, int64_t count) { return uint64_t(count) * (dtypeBits(t) / 8); };
    if (base.size() != bytesOf(baseType, out * in) || a.size() != bytesOf(aType, rank * in) ||
        b.size() != bytesOf(bType, out * rank))
        return fail(ErrorCode::Mismatch, "tensor sizes do not match the LoRA shapes");
    PairDelta(baseType, out, in, transposed, a, aType, b, bType, rank, scaling).apply(base, 0, transposed ? in : out);
    return {};
}

std::filesystem::path rankOutputFile(const std::filesystem::path& dir, const std::string& prefix, int64_t rank,
                                     OutputFormat format) {
    const auto r = std::to_string(rank);
    return dir / ("rank_" + r) / (prefix + r + (format == OutputFormat::Safetensors ? ".safetensors" : ".ckpt"));
}

CreatedDirectories::~CreatedDirectories() {
    if (keep) return;
    std::error_code ec;
    for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) std::filesystem::remove(*it, ec);  // only if empty
}

namespace {

// Allocation failures are reported, not thrown: the user learns which parameter needed how much.
Error outOfMemory(const std::string& parameter, uint64_t bytes) {
    std::string message = "not enough memory: ";
    message += parameter.empty() ? "the merge" : "merging this parameter";
    if (bytes > 0) message += " needs " + std::to_string(bytes) + " bytes (" + formatBytes(bytes) + ") at once";
    else message += " could not allocate its buffers";
    message += "; free memory or raise the limit (ulimit -v)";
    return Error{ErrorCode::Io, std::move(message), {}, parameter, std::nullopt};
}

// The stage edge: no exception leaves a stage. `run` may be null before the run exists.
template <class Body>
Status guardStage(const MergeRun* run, Body&& body) {
    const auto parameter = [&] { return run ? run->state.currentItem : std::string(); };
    try {
        return body();
    } catch (const std::bad_alloc&) {
        return std::unexpected(outOfMemory(parameter(), run ? run->currentNeed : 0));
    } catch (const std::length_error&) {
        return std::unexpected(outOfMemory(parameter(), run ? run->currentNeed : 0));
    } catch (const std::system_error& e) {  // std::thread could not start
        return fail(ErrorCode::Io, std::string("cannot start a worker thread: ") + e.what(), {}, parameter());
    }
}

void report(MergeRun& run, Stage stage, ThrottledProgress& progress) {
    run.state.stageId = stage;
    run.state.stage = stageName(stage);
    progress(run.state);
}

Error cancelledError(const MergeRun& run) {
    return Error{ErrorCode::Cancelled, "merge cancelled; nothing was written", run.targets.front().file.string(), {},
                 std::nullopt};
}

// Lookups shared by the reader thread and the writing thread (read-only while streaming).
struct StreamView {
    explicit StreamView(const MergeRun& r)
        : run(r), tensors(r.source->tensors()), blockBytes(std::max<uint64_t>(r.options.streamBlockBytes, 1)) {
        for (size_t i = 0; i < tensors.size(); ++i) indexOf.emplace(tensors[i].name, i);
    }
    const LoraPair* mergedPairOf(size_t i) const {
        const int p = run.plan.pairOfTensor[i];
        const auto& pairs = run.plan.pairs;
        return p >= 0 && pairs[size_t(p)].status == PairStatus::Ok && pairs[size_t(p)].base == tensors[i].name
                   ? &pairs[size_t(p)]
                   : nullptr;
    }
    // Whole-record copies need no bytes in user space; everything else streams in row blocks.
    bool rawForAll(size_t i) const {
        if (mergedPairOf(i) || !run.source->rawRecords(i)) return false;
        return std::all_of(run.targets.begin(), run.targets.end(),
                           [&](const Target& t) { return t.ckpt && t.placements[i].whole; });
    }
    int64_t rowsPerBlock(size_t i) const {
        const uint64_t stride = rowBytes(tensors[i]);
        return stride ? std::max<int64_t>(1, int64_t(blockBytes / stride)) : std::max<int64_t>(rowCount(tensors[i]), 1);
    }
    // What tensor i holds in memory at once: one row block, plus A, B and their widened copies.
    uint64_t memoryFor(size_t i) const {
        const auto& t = tensors[i];
        uint64_t bytes = std::min<uint64_t>(t.byteSize, uint64_t(rowsPerBlock(i)) * rowBytes(t));
        if (const auto* pair = mergedPairOf(i)) {
            bytes += tensors[indexOf.at(pair->a)].byteSize + tensors[indexOf.at(pair->b)].byteSize;
            bytes += uint64_t(pair->rank) * uint64_t(pair->aDims[1] + pair->bDims[0]) * 8;
        }
        return bytes;
    }

    const MergeRun& run;
    const std::vector<SourceTensor>& tensors;
    std::unordered_map<std::string, size_t> indexOf;
    uint64_t blockBytes;
};

// Queues tensor i in row blocks, its delta already added; false if the queue was stopped.
Result<bool> queueTensor(const StreamView& v, size_t i, BlockQueue& queue, const CancelToken* cancel) {
    const auto& source = *v.run.source;
    if (v.rawForAll(i)) return queue.push(Block{i, -1, -1, true, true, {}, std::nullopt});
    std::optional<PairDelta> delta;
    if (const auto* pair = v.mergedPairOf(i)) {
        const size_t ia = v.indexOf.at(pair->a), ib = v.indexOf.at(pair->b);
        std::vector<std::byte> a(size_t(v.tensors[ia].byteSize)), b(size_t(v.tensors[ib].byteSize));
        if (auto st = source.read(ia, a, cancel); !st) return std::unexpected(st.error());
        if (auto st = source.read(ib, b, cancel); !st) return std::unexpected(st.error());
        delta.emplace(v.tensors[i].dtype, pair->bDims[0], pair->aDims[1], pair->transposed, a, v.tensors[ia].dtype, b,
                      v.tensors[ib].dtype, pair->rank, v.run.scalings[size_t(v.run.plan.pairOfTensor[i])]);
    }
    const int64_t rows = rowCount(v.tensors[i]);
    const uint64_t stride = rowBytes(v.tensors[i]);
    const int64_t step = v.rowsPerBlock(i);
    int64_t r0 = 0;
    do {
        const int64_t r1 = std::min(rows, r0 + step);
        Block block{i, r0, r1, r0 == 0, r1 == rows, std::vector<std::byte>(size_t(uint64_t(r1 - r0) * stride)),
                    std::nullopt};
        if (auto st = source.readRows(i, r0, r1, block.bytes, cancel); !st) return std::unexpected(st.error());
        // The delta is added here, on the reader thread, so that computing overlaps writing.
        if (delta) delta->apply(block.bytes, r0, r1 - r0);
        if (!queue.push(std::move(block))) return false;
        r0 = r1;
    } while (r0 < rows);
    return true;
}

// The reader thread's body; every failure (allocation included) ends the stream with an error block.
void readerLoop(const StreamView& v, BlockQueue& queue, const CancelToken* cancel) noexcept {
    const auto failWith = [&](Error error) {
        try {
            queue.push(Block{0, -1, -1, false, false, {}, std::move(error)});
        } catch (...) {
            queue.stop();  // not even the error fits: the writer sees an ended stream
        }
    };
    for (size_t i = 0; i < v.tensors.size(); ++i) {
        if (v.run.plan.dropped[i]) continue;
        if (cancel && cancel->isCancelled()) return failWith(cancelledError(v.run));
        try {
            auto queued = queueTensor(v, i, queue, cancel);
            if (!queued) return failWith(queued.error());
            if (!*queued) return;
        } catch (const std::bad_alloc&) {
            return failWith(outOfMemory(v.tensors[i].name, v.memoryFor(i)));
        } catch (const std::length_error&) {
            return failWith(outOfMemory(v.tensors[i].name, v.memoryFor(i)));
        }
    }
    queue.push(Block{v.tensors.size(), -1, -1, true, true, {}, std::nullopt});  // end of stream
}

// Writes the part of a row block that falls inside a destination slice.
Status appendSlice(Target& target, const SourceTensor& t, const Placement& placement, const Block& block,
                   uint64_t& bytesDone) {
    Box part = placement.box;
    part.begin[0] = std::max(part.begin[0], block.rowBegin);
    part.end[0] = std::min(part.end[0], block.rowEnd);
    if (part.begin[0] >= part.end[0]) return {};
    std::vector<int64_t> blockShape = t.dims;
    blockShape[0] = block.rowEnd - block.rowBegin;
    part.begin[0] -= block.rowBegin;
    part.end[0] -= block.rowBegin;
    const uint64_t elementBytes = dtypeBits(t.dtype) / 8;
    uint64_t partBytes = elementBytes;
    for (size_t d = 0; d < blockShape.size(); ++d) partBytes *= uint64_t(part.end[d] - part.begin[d]);
    const auto slice = extractBox(block.bytes, blockShape, part, elementBytes, partBytes);
    if (auto st = target.sink->append(slice); !st) return st;
    bytesDone += slice.size();
    return {};
}

// Hands one block to every target.
Status writeBlock(MergeRun& run, const StreamView& v, const Block& block) {
    const size_t i = block.tensor;
    const auto& t = v.tensors[i];
    const auto* mergedPair = v.mergedPairOf(i);
    for (auto& target : run.targets) {
        const auto& placement = target.placements[i];
        const bool rawCopy =
            block.rowBegin < 0 || (placement.whole && target.ckpt && !mergedPair && run.source->rawRecords(i));
        if (rawCopy) {
            if (!block.first) continue;
            const auto raw = run.source->rawRecords(i);
            if (auto st = target.ckpt->copyRecords(*raw->file, *raw->info); !st) return st;
            run.state.bytesDone += placement.bytes;
            continue;
        }
        if (block.first)
            if (auto st = target.sink->beginTensor(t.name, t.typeName, placement.dims, placement.bytes); !st) return st;
        if (!placement.whole) {
            if (auto st = appendSlice(target, t, placement, block, run.state.bytesDone); !st) return st;
            continue;
        }
        if (auto st = target.sink->append(block.bytes); !st) return st;
        run.state.bytesDone += block.bytes.size();
    }
    return {};
}

// The writing side of the stream stage: pops blocks until the end of the stream.
Status writeStream(MergeRun& run, const StreamView& v, BlockQueue& queue, ThrottledProgress& progress,
                   const CancelToken* cancel) {
    while (true) {
        auto block = queue.pop();
        if (!block) return std::unexpected(cancelledError(run));
        if (block->error) return std::unexpected(*block->error);
        if (block->tensor == v.tensors.size()) return {};
        if (cancel && cancel->isCancelled()) return std::unexpected(cancelledError(run));
        const size_t i = block->tensor;
        if (block->first) {
            run.state.currentItem = v.tensors[i].name;
            run.currentNeed = v.memoryFor(i);
            progress(run.state);
            if (const auto* pair = v.mergedPairOf(i)) {
                ++run.report.pairsMerged;
                run.merged.push_back({i, v.indexOf.at(pair->a), v.indexOf.at(pair->b), pair,
                                      run.scalings[size_t(run.plan.pairOfTensor[i])]});
            }
        }
        if (auto st = writeBlock(run, v, *block); !st) return st;
        if (block->last) {
            ++run.report.tensorsWritten;
            ++run.state.itemsDone;
        } else {
            progress(run.state);
        }
    }
}

Status streamAll(MergeRun& run, ThrottledProgress& progress, const CancelToken* cancel) {
    report(run, Stage::Merging, progress);
    const StreamView view(run);
    BlockQueue queue(3 * view.blockBytes);  // read ahead is bounded to three blocks
    std::thread reader([&] { readerLoop(view, queue, cancel); });
    struct JoinOnExit {
        BlockQueue& queue;
        std::thread& thread;
        ~JoinOnExit() {
            queue.stop();
            thread.join();
        }
    } joinOnExit{queue, reader};
    return writeStream(run, view, queue, progress, cancel);
}

Status openTargets(MergeRun& run, ThrottledProgress& progress, const CancelToken* cancel) {
    const auto& source = *run.source;
    auto targets = planTargets(source, run.plan, run.options);
    if (!targets) return std::unexpected(targets.error());
    run.targets = std::move(*targets);
    for (const auto& target : run.targets)
        if (auto st = prepareOutput(source, target.file, run.created); !st) return st;
    report(run, Stage::Checking, progress);
    if (run.options.checkInputCrc)
        if (auto st = source.verifyInputs(cancel); !st) return st;
    if (auto st = openSinks(run.targets, source, run.plan, run.options); !st) return st;
    run.state.itemsTotal = run.plan.tensorsToWrite;
    for (const auto& target : run.targets)
        for (size_t i = 0; i < source.tensors().size(); ++i)
            if (!run.plan.dropped[i]) run.state.bytesTotal += target.placements[i].bytes;
    return {};
}

// Refusals that need only the plan: nothing to merge into, LoRA problems, missing scaling.
Status checkPlan(MergeRun& run) {
    const auto& plan = run.plan;
    if (plan.tensorsToWrite == 0)
        return fail(ErrorCode::InvalidArgument,
                    "nothing to merge into: every parameter is a LoRA weight or an optimizer copy of one (is this a "
                    "LoRA-only adapter? pass it with --adapter next to the base checkpoint)");
    if (plan.problemPairs > 0 && !run.options.skipInvalid)
        return fail(ErrorCode::Mismatch,
                    std::to_string(plan.problemPairs) + " LoRA problem(s), nothing was written: " + listProblems(plan, 5) +
                        " (use --skip-invalid to merge only the valid pairs)");
    run.scalings.assign(plan.pairs.size(), 0.0);
    for (size_t p = 0; p < plan.pairs.size(); ++p) {
        if (plan.pairs[p].status != PairStatus::Ok) continue;
        auto s = run.options.scaling.scalingFor(plan.pairs[p].rank);
        if (!s) return std::unexpected(s.error());
        run.scalings[p] = *s;
    }
    for (const auto& pair : plan.pairs) {
        if (pair.status == PairStatus::Problem)
            run.report.skipped.push_back((pair.base.empty() ? pair.a.empty() ? pair.b : pair.a : pair.base) + ": " +
                                         pair.problem);
        if (pair.status == PairStatus::Disabled) run.report.skipped.push_back(pair.base + ": left out by the user");
    }
    if (plan.pairs.empty()) run.report.notes.push_back("no LoRA pairs found: the checkpoint is written without changes");
    return {};
}

}  // namespace

Result<std::unique_ptr<MergeRun>> mergeTargetsStage(const ModelSource& source, const MergeOptions& options,
                                                    ThrottledProgress& progress, const CancelToken* cancel) {
    std::unique_ptr<MergeRun> run;
    auto st = guardStage(nullptr, [&]() -> Status {
        run = std::make_unique<MergeRun>();
        run->started = std::chrono::steady_clock::now();
        run->source = &source;
        run->options = options;
        run->plan = planLora(source.tensors(), options.plan);
        if (auto checked = checkPlan(*run); !checked) return checked;
        return openTargets(*run, progress, cancel);
    });
    if (!st) return std::unexpected(st.error());
    return run;
}

Status mergeStreamStage(MergeRun& run, ThrottledProgress& progress, const CancelToken* cancel) {
    return guardStage(&run, [&]() -> Status {
        if (auto st = streamAll(run, progress, cancel); !st) return st;
        run.report.tensorsDropped = size_t(std::count(run.plan.dropped.begin(), run.plan.dropped.end(), true));
        if (cancel && cancel->isCancelled()) return std::unexpected(cancelledError(run));
        run.state.currentItem.clear();
        run.currentNeed = 0;
        report(run, Stage::Finishing, progress);
        for (auto& target : run.targets) {
            if (auto st = target.sink->finish(); !st) return st;
            run.report.bytesWritten += target.sink->bytesWritten();
        }
        return {};
    });
}

Status mergeVerifyStage(MergeRun& run, ThrottledProgress& progress, const CancelToken* cancel) {
    if (!run.options.verify) return {};
    return guardStage(&run, [&]() -> Status {
        report(run, Stage::Verifying, progress);
        for (const auto& target : run.targets)
            if (auto st = verifyOutput(target, *run.source, run.plan, run.merged, cancel); !st) return st;
        run.report.notes.push_back("verified: the output reads back with the expected index, finite merged values "
                                   "and spot-checked elements");
        return {};
    });
}

Status mergePublishStage(MergeRun& run, ThrottledProgress& progress) {
    return guardStage(&run, [&]() -> Status {
        report(run, Stage::Publishing, progress);
        for (size_t k = 0; k < run.targets.size(); ++k) {
            if (auto st = run.targets[k].sink->publish(); !st) {
                std::error_code ec;
                for (size_t j = 0; j < k; ++j) std::filesystem::remove(run.targets[j].file, ec);  // all or nothing
                return st;
            }
            run.report.outputFiles.push_back(run.targets[k].file);
        }
        run.created.keep = true;
        run.report.outputFile = run.report.outputFiles.front();
        progress.flush();
        return {};
    });
}

// The stages in order (MergeStages.h); each refuses or fails with nothing published.
Result<MergeReport> runMerge(const ModelSource& source, const MergeOptions& options, const ProgressCallback& progress,
                             const CancelToken* cancel) {
    ThrottledProgress throttled(progress, options.progressInterval);
    auto run = mergeTargetsStage(source, options, throttled, cancel);
    if (!run) return std::unexpected(run.error());
    auto& r = **run;
    if (auto st = mergeStreamStage(r, throttled, cancel); !st) return std::unexpected(st.error());
    if (auto st = mergeVerifyStage(r, throttled, cancel); !st) return std::unexpected(st.error());
    if (cancel && cancel->isCancelled()) return std::unexpected(cancelledError(r));
    if (auto st = mergePublishStage(r, throttled); !st) return std::unexpected(st.error());
    r.report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - r.started).count();
    log().info("merged {} LoRA pair(s) into {} ({} parameters, {} bytes) in {:.2f} s", r.report.pairsMerged,
               r.report.outputFile.string(), r.report.tensorsWritten, r.report.bytesWritten, r.report.seconds);
    return std::move(r.report);
}
}  // namespace lms
