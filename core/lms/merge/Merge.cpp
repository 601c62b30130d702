#include "lms/merge/Merge.h"
#include "lms/merge/MergeStages.h"

#include "lms/base/Log.h"
#include "lms/base/Text.h"
#include "lms/distributed/Layout.h"
#include "lms/formats/CheckpointWriter.h"
#include "lms/formats/Safetensors.h"
#include "lms/formats/Sharding.h"
#include "lms/merge/Verify.h"

#include <Eigen/Core>
#include <charconv>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <random>
#include <thread>

namespace lms {
namespace {

constexpr int64_t kRowsPerBlock = 256;  // base rows widened at a time: bounds the float scratch

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
std::optional<int64_t> rescaleRows(RowMatrix<Scalar>& block, int64_t row0,
                                   const std::vector<double>& magnitude);

// A widened block rounded once back into `part` in the base dtype (`scratch`: float staging for a
// double block of a 16-bit base).
template <class Scalar>
void narrowBlock(const RowMatrix<Scalar>& block, DType baseType, std::span<std::byte> part,
                 std::vector<float>& scratch) {
    if constexpr (std::is_same_v<Scalar, float>) {
        narrowFromFloat(baseType, std::span<const float>(block.data(), size_t(block.size())), part);
    } else if (baseType == DType::Float64) {
        std::memcpy(part.data(), block.data(), size_t(block.size()) * 8);
    } else {
        scratch.assign(block.data(), block.data() + block.size());
        narrowFromFloat(baseType, scratch, part);
    }
}

template <class Scalar>
std::optional<int64_t> addDeltaRows(std::span<std::byte> bytes, DType baseType, int64_t row0, int64_t rows,
                                    int64_t storedCols, bool transposed, const RowMatrix<Scalar>& a,
                                    const RowMatrix<Scalar>& scaledB, const std::vector<double>& magnitude) {
    const size_t elementBytes = dtypeBits(baseType) / 8;
    RowMatrix<Scalar> block;
    std::vector<float> narrowScratch;
    for (int64_t done = 0; done < rows; done += kRowsPerBlock) {
        const int64_t n = std::min(kRowsPerBlock, rows - done);
        auto part =
            bytes.subspan(size_t(done * storedCols) * elementBytes, size_t(n * storedCols) * elementBytes);
        block = widen<Scalar>(part, baseType, n, storedCols);
        if (!transposed) {
            block.noalias() += scaledB.middleRows(row0 + done, n) * a;  // [n,r]·[r,in]
        } else {
            block.noalias() +=
                a.middleCols(row0 + done, n).transpose() * scaledB.transpose();  // [n,r]·[r,out]
        }
        if (!magnitude.empty())
            if (const auto zero = rescaleRows(block, row0 + done, magnitude)) return zero;
        narrowBlock(block, baseType, part, narrowScratch);
    }
    return std::nullopt;
}

// DoRA (LoraPlan.cpp validateMagnitude): each merged row v of W + s·B·A becomes m[i]·v / ‖v‖, the
// norm in double; returns the first row (of `rows`, counted from `row0`) whose norm is 0, where the
// result would not be finite.
template <class Scalar>
std::optional<int64_t> rescaleRows(RowMatrix<Scalar>& block, int64_t row0,
                                   const std::vector<double>& magnitude) {
    for (int64_t k = 0; k < block.rows(); ++k) {
        double sum = 0;
        for (int64_t j = 0; j < block.cols(); ++j) sum += double(block(k, j)) * double(block(k, j));
        if (!(sum > 0)) return row0 + k;
        const double factor = magnitude[size_t(row0 + k)] / std::sqrt(sum);
        for (int64_t j = 0; j < block.cols(); ++j) block(k, j) = Scalar(double(block(k, j)) * factor);
    }
    return std::nullopt;
}

// One LoRA pair, widened and pre-scaled once, applied to any row range of its base: per expert e
// (one for a matrix pair) delta[e] = L[e]·R[e], L = B and R = A for B·A, L = A and R = B for A·B.
class PairDelta {
public:
    PairDelta(DType baseType, const LoraPair& pair, std::span<const std::byte> a, DType aType,
              std::span<const std::byte> b, DType bType, double scaling,
              std::span<const std::byte> magnitude = {}, DType magnitudeType = DType::Float32)
        : baseType_(baseType),
          rows_(deltaRows(pair)),
          cols_(deltaCols(pair)),
          experts_(pair.experts),
          transposed_(pair.transposed) {
        // Float16 has subnormals down to 6e-8, where a float32 product sum that cancels against W
        // can be off by more than one unit of the result; double keeps every value within one ulp.
        // DoRA divides by a norm of the merged row: double, rounded once at the end.
        useDouble_ = baseType == DType::Float64 || baseType == DType::Float16 || !magnitude.empty();
        const auto left = pair.aLeft ? a : b, right = pair.aLeft ? b : a;
        const auto leftType = pair.aLeft ? aType : bType, rightType = pair.aLeft ? bType : aType;
        const int64_t r = pair.rank;
        const size_t leftBytes = size_t(rows_ * r) * (dtypeBits(leftType) / 8);
        const size_t rightBytes = size_t(r * cols_) * (dtypeBits(rightType) / 8);
        for (int64_t e = 0; e < std::max<int64_t>(experts_, 1); ++e) {
            const auto l = left.subspan(size_t(e) * leftBytes, leftBytes);
            const auto rt = right.subspan(size_t(e) * rightBytes, rightBytes);
            if (useDouble_) {
                rightD_.push_back(widen<double>(rt, rightType, r, cols_));
                leftD_.push_back(widen<double>(l, leftType, rows_, r) * scaling);
            } else {
                rightF_.push_back(widen<float>(rt, rightType, r, cols_));
                leftF_.push_back(widen<float>(l, leftType, rows_, r) * float(scaling));
            }
        }
        if (!magnitude.empty()) {
            const auto m = widen<double>(magnitude, magnitudeType, 1, rows_);
            magnitude_.assign(m.data(), m.data() + m.size());
        }
    }
    // `bytes` holds stored rows [row0, row0 + rows) of the base (experts, for a grouped pair). Returns
    // the first stored row whose DoRA norm is 0 (nothing else can fail).
    std::optional<int64_t> apply(std::span<std::byte> bytes, int64_t row0, int64_t rows) const {
        if (experts_ == 0) return applyExpert(bytes, 0, row0, rows);
        const int64_t storedRows = transposed_ ? cols_ : rows_;
        const size_t expertBytes = size_t(storedRows * storedCols()) * (dtypeBits(baseType_) / 8);
        for (int64_t k = 0; k < rows; ++k)
            applyExpert(bytes.subspan(size_t(k) * expertBytes, expertBytes), size_t(row0 + k), 0, storedRows);
        return std::nullopt;
    }

    bool usesDouble() const { return useDouble_; }
    int64_t storedCols() const { return transposed_ ? rows_ : cols_; }
    // A matrix pair without DoRA: block (n stored rows from row0, widened) += its delta.
    template <class Scalar>
    void addTo(RowMatrix<Scalar>& block, int64_t row0) const {
        const auto& a = [&]() -> const RowMatrix<Scalar>& {
            if constexpr (std::is_same_v<Scalar, double>)
                return rightD_[0];
            else
                return rightF_[0];
        }();
        const auto& scaledB = [&]() -> const RowMatrix<Scalar>& {
            if constexpr (std::is_same_v<Scalar, double>)
                return leftD_[0];
            else
                return leftF_[0];
        }();
        const int64_t n = block.rows();
        if (!transposed_)
            block.noalias() += scaledB.middleRows(row0, n) * a;
        else
            block.noalias() += a.middleCols(row0, n).transpose() * scaledB.transpose();
    }

private:
    std::optional<int64_t> applyExpert(std::span<std::byte> bytes, size_t e, int64_t row0,
                                       int64_t rows) const {
        if (useDouble_)
            return addDeltaRows<double>(bytes, baseType_, row0, rows, storedCols(), transposed_, rightD_[e],
                                        leftD_[e], magnitude_);
        return addDeltaRows<float>(bytes, baseType_, row0, rows, storedCols(), transposed_, rightF_[e],
                                   leftF_[e], magnitude_);
    }

    DType baseType_;
    int64_t rows_, cols_, experts_;
    bool transposed_, useDouble_ = false;
    std::vector<RowMatrix<float>> rightF_, leftF_;
    std::vector<RowMatrix<double>> rightD_, leftD_;
    std::vector<double> magnitude_;  // DoRA m, one per output row; empty for plain LoRA
};

// Several adapters' plain matrix deltas on one base (LoraPlan.h): W + Σ_k s_k·L_k·R_k, added in the
// working precision and rounded once to the base dtype. One delta: exactly PairDelta::apply.
template <class Scalar>
void addSummedRows(std::span<const PairDelta> deltas, std::span<std::byte> bytes, DType baseType,
                   int64_t row0, int64_t rows) {
    const int64_t cols = deltas.front().storedCols();
    const size_t elementBytes = dtypeBits(baseType) / 8;
    std::vector<float> narrowScratch;
    for (int64_t done = 0; done < rows; done += kRowsPerBlock) {
        const int64_t n = std::min(kRowsPerBlock, rows - done);
        auto part = bytes.subspan(size_t(done * cols) * elementBytes, size_t(n * cols) * elementBytes);
        RowMatrix<Scalar> block = widen<Scalar>(part, baseType, n, cols);
        for (const auto& delta : deltas) delta.addTo(block, row0 + done);
        narrowBlock(block, baseType, part, narrowScratch);
    }
}

std::optional<int64_t> applyDeltas(std::span<const PairDelta> deltas, std::span<std::byte> bytes,
                                   DType baseType, int64_t row0, int64_t rows) {
    if (deltas.size() == 1) return deltas.front().apply(bytes, row0, rows);
    if (deltas.front().usesDouble())
        addSummedRows<double>(deltas, bytes, baseType, row0, rows);
    else
        addSummedRows<float>(deltas, bytes, baseType, row0, rows);
    return std::nullopt;
}

// A merge that pairs nothing only makes sense when it also converts (the format, the layout, or
// rank files reassembled into one); otherwise the user most likely forgot the adapter.
Status checkSomethingToMerge(const ModelSource& source, const LoraPlan& plan, const MergeOptions& options) {
    if (plan.okPairs > 0 || plan.disabledPairs > 0 || options.allowNoLora || options.reshard) return {};
    const auto files = source.inputFiles();
    const bool fromCkpt =
        !source.tensors().empty() && source.rawRecords(0).has_value();  // only .ckpt has records
    if (files.size() != 1 || fromCkpt != (options.format == OutputFormat::Ckpt)) return {};
    if (plan.pairs.empty())
        return fail(ErrorCode::InvalidArgument,
                    "no LoRA weights found in " + files.front().string() +
                        "; to merge a separate adapter use --adapter (--allow-no-lora "
                        "copies the checkpoint unchanged)");
    return fail(ErrorCode::InvalidArgument,
                "none of the " + std::to_string(plan.pairs.size()) + " LoRA pair(s) in " +
                    files.front().string() + " can be merged (" + describeProblems(plan, 3) +
                    "), so the output would equal the input (--allow-no-lora writes it anyway)");
}

Status prepareOutput(const ModelSource& source, const std::filesystem::path& output,
                     CreatedDirectories& created) {
    if (auto st = checkOutputLocation(source, output); !st) return st;
    const auto parent = std::filesystem::absolute(output).parent_path();
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

// Where each tensor goes in each output; every layout problem surfaces here, before writing.
// One target per shard of the huggingface_hub split (Sharding.h); each holds its tensors whole.
Result<std::vector<Target>> shardTargets(const ModelSource& source, const LoraPlan& plan,
                                         const MergeOptions& options) {
    if (options.format != OutputFormat::Safetensors)
        return fail(ErrorCode::InvalidArgument,
                    "sharded output is safetensors: add --save_format safetensors", {}, "max_shard_size");
    const auto& tensors = source.tensors();
    const auto shards = planOutputShards(source, plan, options.maxShardBytes);
    std::vector<Target> targets(shards.fileNames.size());
    for (size_t k = 0; k < targets.size(); ++k)
        targets[k].file = options.outputFile.parent_path() / shards.fileNames[k];
    for (size_t i = 0, kept = 0; i < tensors.size(); ++i) {
        const size_t shard = plan.dropped[i] ? SIZE_MAX : shards.shardOf[kept++];
        for (size_t k = 0; k < targets.size(); ++k)
            targets[k].placements.push_back({true, {}, tensors[i].dims, tensors[i].byteSize, k == shard});
    }
    return targets;
}

Result<std::vector<Target>> planTargets(const ModelSource& source, const LoraPlan& plan,
                                        const MergeOptions& options) {
    const auto& tensors = source.tensors();
    std::vector<Target> targets;
    if (options.maxShardBytes > 0 && !options.reshard) return shardTargets(source, plan, options);
    if (!options.reshard) {
        Target target;
        target.file = options.outputFile;
        for (const auto& t : tensors) target.placements.push_back({true, {}, t.dims, t.byteSize});
        targets.push_back(std::move(target));
        return targets;
    }
    const auto& strategy = *options.reshard->strategy;
    if (auto st = checkReshard(source, plan, strategy); !st) return std::unexpected(st.error());
    for (int64_t rank = 0; rank < strategy.devicesPerStage(); ++rank) {
        Target target;
        target.full = false;
        target.file = rankOutputFile(options.reshard->dir, options.reshard->prefix, rank, options.format);
        for (size_t i = 0; i < tensors.size(); ++i) {
            const auto& t = tensors[i];
            const ParamLayout* layout = reshardLayout(strategy, t, plan.dropped[i]);
            if (!layout) {
                target.placements.push_back({true, {}, t.dims, t.byteSize});
                continue;
            }
            auto box = rankSlice(*layout, t.dims, rank);  // checkReshard above cut the same slices
            if (!box) return std::unexpected(box.error());
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
            if (!plan.dropped[i] && target.placements[i].held)
                declared.push_back({tensors[i].name, tensors[i].dtype, target.placements[i].dims,
                                    target.placements[i].bytes});
        auto writer = SafetensorsWriter::create(target.file, inputs, {{"format", "ms"}}, std::move(declared),
                                                publishMode);
        if (!writer) return std::unexpected(writer.error());
        target.sink = std::make_unique<SafetensorsWriter>(std::move(*writer));
    }
    return {};
}

// Copies the box of a row-major tensor into a dense buffer.
std::vector<std::byte> extractBox(std::span<const std::byte> full, std::span<const int64_t> fullShape,
                                  const Box& box, uint64_t elementBytes, uint64_t boxBytes) {
    std::vector<std::byte> out(static_cast<size_t>(boxBytes));
    forEachContiguousRun(fullShape, box, elementBytes,
                         [&](uint64_t sliceOffset, uint64_t fullOffset, uint64_t count) {
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
    std::vector<std::byte> bytes;  // merged tensors: the delta is already added
    std::optional<Error> error;    // the reader failed; nothing follows
};

// Single-producer single-consumer queue bounded by bytes (always admits one block).
class BlockQueue {
public:
    explicit BlockQueue(uint64_t budgetBytes) : budget_(budgetBytes) {}
    bool push(Block block) {
        std::unique_lock lock(mutex_);
        spaceFree_.wait(lock,
                        [&] { return stopped_ || queued_ == 0 || queued_ + block.bytes.size() <= budget_; });
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

Status mergePairInPlace(std::span<std::byte> base, DType baseType, int64_t out, int64_t in, bool transposed,
                        std::span<const std::byte> a, DType aType, std::span<const std::byte> b, DType bType,
                        int64_t rank, double scaling) {
    if (!isFloatingPoint(baseType) || !isFloatingPoint(aType) || !isFloatingPoint(bType))
        return fail(ErrorCode::Unsupported, "only floating-point weights can be merged");
    const auto bytesOf = [](DType t, int64_t count) { return uint64_t(count) * (dtypeBits(t) / 8); };
    if (base.size() != bytesOf(baseType, out * in) || a.size() != bytesOf(aType, rank * in) ||
        b.size() != bytesOf(bType, out * rank))
        return fail(ErrorCode::Mismatch, "tensor sizes do not match the LoRA shapes");
    LoraPair pair;
    pair.aDims = {rank, in};
    pair.bDims = {out, rank};
    pair.rank = rank;
    pair.transposed = transposed;
    PairDelta(baseType, pair, a, aType, b, bType, scaling).apply(base, 0, transposed ? in : out);
    return {};
}

Status mergeLoraPairInPlace(std::span<std::byte> base, DType baseType, const LoraPair& pair,
                            std::span<const std::byte> a, DType aType, std::span<const std::byte> b,
                            DType bType, double scaling, std::span<const std::byte> magnitude,
                            DType magnitudeType) {
    if (pair.status != PairStatus::Ok) return fail(ErrorCode::InvalidArgument, "the pair cannot be merged");
    if (!isFloatingPoint(baseType) || !isFloatingPoint(aType) || !isFloatingPoint(bType) ||
        (!magnitude.empty() && !isFloatingPoint(magnitudeType)))
        return fail(ErrorCode::Unsupported, "only floating-point weights can be merged");
    const auto bytesOf = [](DType t, const std::vector<int64_t>& dims) {
        uint64_t n = dtypeBits(t) / 8;
        for (auto d : dims) n *= uint64_t(d);
        return n;
    };
    const bool doraOk = pair.magnitude.empty()
                            ? magnitude.empty()
                            : magnitude.size() == bytesOf(magnitudeType, pair.magnitudeDims);
    if (base.size() != bytesOf(baseType, pair.baseDims) || a.size() != bytesOf(aType, pair.aDims) ||
        b.size() != bytesOf(bType, pair.bDims) || !doraOk)
        return fail(ErrorCode::Mismatch, "tensor sizes do not match the LoRA shapes");
    const int64_t rows = pair.baseDims.empty() ? 0 : pair.baseDims[0];
    if (const auto zero = PairDelta(baseType, pair, a, aType, b, bType, scaling, magnitude, magnitudeType)
                              .apply(base, 0, rows))
        return fail(ErrorCode::Mismatch, "DoRA: row " + std::to_string(*zero) + " of W + s·B·A has norm 0");
    return {};
}

std::filesystem::path rankOutputFile(const std::filesystem::path& dir, const std::string& prefix,
                                     int64_t rank, OutputFormat format) {
    const auto r = std::to_string(rank);
    return dir / ("rank_" + r) /
           (prefix + r + (format == OutputFormat::Safetensors ? ".safetensors" : ".ckpt"));
}

Status checkOutputLocation(const ModelSource& source, const std::filesystem::path& output) {
    if (output.empty()) return fail(ErrorCode::InvalidArgument, "no output file given");
    const auto parent = std::filesystem::absolute(output).parent_path();
    for (const auto& input : source.inputFiles()) {
        std::error_code ec;
        if (std::filesystem::equivalent(input, output, ec))
            return fail(ErrorCode::InvalidArgument, "the output would overwrite the input " + input.string(),
                        output.string());
        if (std::filesystem::equivalent(std::filesystem::absolute(input).parent_path(), parent, ec))
            return fail(ErrorCode::InvalidArgument,
                        "the output folder " + parent.string() + " holds an input file (" +
                            input.filename().string() +
                            "); write the merged checkpoint somewhere else so the source stays untouched",
                        output.string());
    }
    return {};
}

Status checkReshardStrategy(const Strategy& strategy) {
    if (strategy.stageCount() != 1)
        return fail(
            ErrorCode::Unsupported,
            "re-sharding into a pipeline-parallel destination is not supported; give a single-stage strategy",
            strategy.file, "dst_ckpt_strategy");
    if (strategy.devicesPerStage() <= 0)
        return fail(ErrorCode::Malformed, "the destination strategy has no device matrix", strategy.file,
                    "dst_ckpt_strategy");
    return {};
}

const ParamLayout* reshardLayout(const Strategy& strategy, const SourceTensor& tensor, bool dropped) {
    // Parameters without a destination layout are stored whole on every rank, as MindSpore's
    // transform_checkpoints copies parameters absent from the strategy (spec §4.10, §4.11 step 5);
    // so are those that cannot be cut (not dense, legacy scalars, sub-byte types).
    if (dropped || tensor.kind != TensorKind::Dense || tensor.legacyScalar || dtypeBits(tensor.dtype) < 8)
        return nullptr;
    const auto layouts = strategy.find(tensor.name);
    return layouts.empty() ? nullptr : layouts.front();
}

Status checkReshard(const ModelSource& source, const LoraPlan& plan, const Strategy& strategy) {
    if (auto st = checkReshardStrategy(strategy); !st) return st;
    const auto& tensors = source.tensors();
    for (size_t i = 0; i < tensors.size(); ++i) {
        const ParamLayout* layout = reshardLayout(strategy, tensors[i], plan.dropped[i]);
        if (!layout) continue;
        // Every rank's slice, as planTargets cuts it: the check is the arithmetic of the merge itself.
        for (int64_t rank = 0; rank < strategy.devicesPerStage(); ++rank)
            if (auto box = rankSlice(*layout, tensors[i].dims, rank); !box) {
                auto error = box.error();
                error.message = "the layout of " + tensors[i].name + " cannot cut it: " + error.message;
                error.file = strategy.file;
                error.parameter = "dst_ckpt_strategy";
                return std::unexpected(error);
            }
    }
    return {};
}

Status checkPlanMergeable(const ModelSource& source, const LoraPlan& plan, const MergeOptions& options) {
    if (plan.tensorsToWrite == 0)
        return fail(
            ErrorCode::InvalidArgument,
            "nothing to merge into: every parameter is a LoRA weight or an optimizer copy of one (is this a "
            "LoRA-only adapter? pass it with --adapter next to the base checkpoint)");
    if (plan.problemPairs > 0 && !options.skipInvalid)
        return fail(ErrorCode::Mismatch,
                    std::to_string(plan.problemPairs) + " LoRA problem(s), nothing was written: " +
                        describeProblems(plan, 5) + " (use --skip-invalid to merge only the valid pairs)");
    return checkSomethingToMerge(source, plan, options);
}

Result<std::vector<double>> pairScalings(const LoraPlan& plan, const ScalingSpec& scaling) {
    std::vector<double> scalings(plan.pairs.size(), 0.0);
    for (size_t p = 0; p < plan.pairs.size(); ++p) {
        const auto& pair = plan.pairs[p];
        if (pair.status != PairStatus::Ok || pair.kind == PairKind::Replace) continue;  // a copy: no scaling
        auto s = [&] {
            if (pair.kind != PairKind::Bias) return scaling.scalingFor(pair);
            LoraPair lora = pair;  // a LoRA bias takes the scaling of its LoRA pair
            lora.base = pair.loraOf;
            return scaling.scalingFor(lora);
        }();
        if (!s) return std::unexpected(s.error());
        scalings[p] = *s;
    }
    return scalings;
}

Result<std::vector<double>> pairScalings(const LoraPlan& plan, const MergeOptions& options) {
    if (options.adapters.empty()) return pairScalings(plan, options.scaling);
    std::vector<double> scalings(plan.pairs.size(), 0.0);
    for (size_t k = 0; k <= options.adapters.size(); ++k) {
        // adapter k's pairs alone, so each takes that adapter's scaling (past the list: `scaling`)
        const bool listed = k < options.adapters.size();
        LoraPlan part;
        std::vector<size_t> index;
        for (size_t p = 0; p < plan.pairs.size(); ++p)
            if (listed ? plan.pairs[p].adapter == k : plan.pairs[p].adapter >= options.adapters.size()) {
                part.pairs.push_back(plan.pairs[p]);
                index.push_back(p);
            }
        if (index.empty()) continue;
        auto s = pairScalings(part, listed ? options.adapters[k].scaling : options.scaling);
        if (!s) return std::unexpected(s.error());
        const double weight = listed ? options.adapters[k].weight : 1.0;
        for (size_t q = 0; q < index.size(); ++q) scalings[index[q]] = weight * (*s)[q];
    }
    return scalings;
}

ShardPlan planOutputShards(const ModelSource& source, const LoraPlan& plan, uint64_t maxShardBytes) {
    std::vector<uint64_t> sizes;
    for (size_t i = 0; i < source.tensors().size(); ++i)
        if (!plan.dropped[i]) sizes.push_back(source.tensors()[i].byteSize);
    return planShards(sizes, maxShardBytes);
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
    if (bytes > 0)
        message += " needs " + std::to_string(bytes) + " bytes (" + formatBytes(bytes) + ") at once";
    else
        message += " could not allocate its buffers";
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
    return Error{ErrorCode::Cancelled,
                 "merge cancelled; nothing was written",
                 run.targets.front().file.string(),
                 {},
                 std::nullopt};
}

// Lookups shared by the reader thread and the writing thread (read-only while streaming).
struct StreamView {
    explicit StreamView(const MergeRun& r)
        : run(r),
          tensors(r.source->tensors()),
          blockBytes(std::max<uint64_t>(r.options.streamBlockBytes, 1)) {
        for (size_t i = 0; i < tensors.size(); ++i) indexOf.emplace(tensors[i].name, i);
    }
    // The pairs merged into base i (plan indexes): one, or one per adapter that adapts it.
    std::vector<size_t> mergedPairsOf(size_t i) const {
        std::vector<size_t> merged;
        const auto& pairs = run.plan.pairs;
        for (int p : run.plan.pairsOfBase[i])
            if (pairs[size_t(p)].status == PairStatus::Ok && pairs[size_t(p)].base == tensors[i].name)
                merged.push_back(size_t(p));
        return merged;
    }
    const LoraPair* mergedPairOf(size_t i) const {
        const auto merged = mergedPairsOf(i);
        return merged.empty() ? nullptr : &run.plan.pairs[merged.front()];
    }
    // Whole-record copies need no bytes in user space; everything else streams in row blocks.
    bool rawForAll(size_t i) const {
        if (mergedPairOf(i) || !run.source->rawRecords(i)) return false;
        return std::all_of(run.targets.begin(), run.targets.end(),
                           [&](const Target& t) { return t.ckpt && t.placements[i].whole; });
    }
    int64_t rowsPerBlock(size_t i) const {
        const uint64_t stride = rowBytes(tensors[i]);
        return stride ? std::max<int64_t>(1, int64_t(blockBytes / stride))
                      : std::max<int64_t>(rowCount(tensors[i]), 1);
    }
    // What tensor i holds in memory at once: one row block, plus A, B and their widened copies.
    uint64_t memoryFor(size_t i) const {
        const auto& t = tensors[i];
        uint64_t bytes = std::min<uint64_t>(t.byteSize, uint64_t(rowsPerBlock(i)) * rowBytes(t));
        for (size_t p : mergedPairsOf(i)) {
            const auto* pair = &run.plan.pairs[p];
            for (const auto* name : {&pair->a, &pair->b, &pair->magnitude}) {
                if (name->empty()) continue;
                const auto& f = tensors[indexOf.at(*name)];
                // a factor: read whole and widened to double; a replacement: one row block of it
                // read, widened to double and narrowed through float
                const uint64_t elements = pair->kind == PairKind::Replace
                                              ? bytes / std::max<uint64_t>(dtypeBits(t.dtype) / 8, 1)
                                              : f.byteSize / (dtypeBits(f.dtype) / 8);
                bytes += elements * (dtypeBits(f.dtype) / 8 + 8 + (pair->kind == PairKind::Replace ? 4 : 0));
            }
        }
        return bytes;
    }

    const MergeRun& run;
    const std::vector<SourceTensor>& tensors;
    std::unordered_map<std::string, size_t> indexOf;
    uint64_t blockBytes;
};

// Reads tensor `index` whole and checks it is finite ("LoRA A", "LoRA B", ...).
Result<std::vector<std::byte>> readChecked(const StreamView& v, size_t index, std::string_view role,
                                           const CancelToken* cancel) {
    std::vector<std::byte> bytes(size_t(v.tensors[index].byteSize));
    if (auto st = v.run.source->read(index, bytes, cancel); !st) return std::unexpected(st.error());
    if (auto st = checkInputFinite(*v.run.source, index, role, bytes); !st)
        return std::unexpected(st.error());
    return bytes;
}

// The delta of a LoRA or LoRA-bias pair, read, checked and widened once. A bias b [out] is the
// rank-1 product b·[1] ([out, 1] · [1, 1]) on the base bias seen as [out, 1].
Result<std::optional<PairDelta>> makeDelta(const StreamView& v, size_t i, size_t pairIndex,
                                           const CancelToken* cancel) {
    const auto& pair = v.run.plan.pairs[pairIndex];
    const double scaling = v.run.scalings[pairIndex];
    const auto baseType = v.tensors[i].dtype;
    const size_t ib = v.indexOf.at(pair.b);
    auto b = readChecked(v, ib, pair.kind == PairKind::Bias ? "LoRA bias" : "LoRA B", cancel);
    if (!b) return std::unexpected(b.error());
    if (pair.kind == PairKind::Bias) {
        LoraPair column;
        column.rank = 1;
        column.aDims = {1, 1};
        column.bDims = {pair.bDims[0], 1};
        const float one = 1.0f;
        return std::optional<PairDelta>(std::in_place, baseType, column, std::as_bytes(std::span(&one, 1)),
                                        DType::Float32, *b, v.tensors[ib].dtype, scaling);
    }
    const size_t ia = v.indexOf.at(pair.a);
    auto a = readChecked(v, ia, "LoRA A", cancel);
    if (!a) return std::unexpected(a.error());
    std::vector<std::byte> m;
    DType mType = DType::Float32;
    if (!pair.magnitude.empty()) {
        const size_t im = v.indexOf.at(pair.magnitude);
        auto read = readChecked(v, im, "DoRA magnitude", cancel);
        if (!read) return std::unexpected(read.error());
        m = std::move(*read);
        mType = v.tensors[im].dtype;
    }
    return std::optional<PairDelta>(std::in_place, baseType, pair, *a, v.tensors[ia].dtype, *b,
                                    v.tensors[ib].dtype, scaling, m, mType);
}

// Rows [r0, r1) of a modules_to_save copy (`replacement`, same dims as base `i`) in the base dtype.
Status readReplacementRows(const StreamView& v, size_t i, size_t replacement, int64_t r0, int64_t r1,
                           std::span<std::byte> out, const CancelToken* cancel) {
    const auto& source = *v.run.source;
    const auto& t = v.tensors[i];
    const auto& r = v.tensors[replacement];
    if (r.dtype == t.dtype) {
        if (auto st = source.readRows(replacement, r0, r1, out, cancel); !st) return st;
        return isFloatingPoint(t.dtype)
                   ? checkInputFinite(source, replacement, "modules_to_save tensor", out, r0)
                   : Status{};
    }
    std::vector<std::byte> raw(size_t(uint64_t(r1 - r0) * rowBytes(r)));
    if (auto st = source.readRows(replacement, r0, r1, raw, cancel); !st) return st;
    if (auto st = checkInputFinite(source, replacement, "modules_to_save tensor", raw, r0); !st) return st;
    const int64_t cols = int64_t(rowBytes(r) / (dtypeBits(r.dtype) / 8));
    const auto values = widen<double>(raw, r.dtype, r1 - r0, cols);
    if (t.dtype == DType::Float64) {
        std::memcpy(out.data(), values.data(), out.size());
        return {};
    }
    const std::vector<float> narrow(values.data(), values.data() + values.size());
    narrowFromFloat(t.dtype, narrow, out);
    return checkMergedInRange(source, i, out, r0);
}

// Queues tensor i in row blocks, its delta already added (or its modules_to_save copy in its
// place); false if the queue was stopped.
Result<bool> queueTensor(const StreamView& v, size_t i, BlockQueue& queue, const CancelToken* cancel) {
    const auto& source = *v.run.source;
    if (v.rawForAll(i)) return queue.push(Block{i, -1, -1, true, true, {}, std::nullopt});
    std::vector<PairDelta> deltas;
    std::optional<size_t> replacement;
    for (size_t p : v.mergedPairsOf(i)) {
        const auto& pair = v.run.plan.pairs[p];
        if (pair.kind == PairKind::Replace) {
            replacement = v.indexOf.at(pair.a);  // alone on its base (LoraPlan.h)
        } else {
            auto made = makeDelta(v, i, p, cancel);
            if (!made) return std::unexpected(made.error());
            deltas.push_back(std::move(**made));
        }
    }
    const int64_t rows = rowCount(v.tensors[i]);
    const uint64_t stride = rowBytes(v.tensors[i]);
    const int64_t step = v.rowsPerBlock(i);
    int64_t r0 = 0;
    do {
        const int64_t r1 = std::min(rows, r0 + step);
        Block block{i,           r0,         r1,
                    r0 == 0,     r1 == rows, std::vector<std::byte>(size_t(uint64_t(r1 - r0) * stride)),
                    std::nullopt};
        if (auto st = replacement ? readReplacementRows(v, i, *replacement, r0, r1, block.bytes, cancel)
                                  : source.readRows(i, r0, r1, block.bytes, cancel);
            !st)
            return std::unexpected(st.error());
        // The delta is added here, on the reader thread, so that computing overlaps writing;
        // non-finite inputs and results fail the run here, naming the input (Verify.h).
        if (!deltas.empty()) {
            if (auto st = checkInputFinite(source, i, "base weight", block.bytes, r0); !st)
                return std::unexpected(st.error());
            if (const auto zero = applyDeltas(deltas, block.bytes, v.tensors[i].dtype, r0, r1 - r0))
                return fail(
                    ErrorCode::Mismatch,
                    "DoRA: row " + std::to_string(*zero) +
                        " of W + s·B·A is all zeros, so it has no norm to rescale to the magnitude",
                    source.inputFiles().empty() ? std::string() : source.inputFiles().front().string(),
                    v.tensors[i].name);
            if (auto st = checkMergedInRange(source, i, block.bytes, r0); !st)
                return std::unexpected(st.error());
        }
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
        if (!placement.held) continue;
        const bool rawCopy = block.rowBegin < 0 ||
                             (placement.whole && target.ckpt && !mergedPair && run.source->rawRecords(i));
        if (rawCopy) {
            if (!block.first) continue;
            const auto raw = run.source->rawRecords(i);
            if (auto st = target.ckpt->copyRecords(*raw->file, *raw->info); !st) return st;
            run.state.bytesDone += placement.bytes;
            continue;
        }
        if (block.first)
            if (auto st = target.sink->beginTensor(t.name, t.typeName, placement.dims, placement.bytes); !st)
                return st;
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
            for (size_t p : v.mergedPairsOf(i)) {
                const auto* pair = &run.plan.pairs[p];
                ++run.report.pairsMerged;
                const auto indexOf = [&](const std::string& name) {
                    return name.empty() ? SIZE_MAX : v.indexOf.at(name);
                };
                run.merged.push_back({i, indexOf(pair->a), indexOf(pair->b), pair, run.scalings[p]});
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
            if (!run.plan.dropped[i] && target.placements[i].held)
                run.state.bytesTotal += target.placements[i].bytes;
    return {};
}

// Refusals that need only the plan: nothing to merge into, LoRA problems, no pair to merge in a run
// that does not convert either, missing scaling (the same sentences resolve() reports up front).
Status checkPlan(MergeRun& run) {
    const auto& plan = run.plan;
    if (auto st = checkPlanMergeable(*run.source, plan, run.options); !st) return st;
    auto scalings = pairScalings(plan, run.options);
    if (!scalings) return std::unexpected(scalings.error());
    run.scalings = std::move(*scalings);
    for (const auto& pair : plan.pairs) {
        if (pair.status == PairStatus::Problem)
            run.report.skipped.push_back((pair.base.empty() ? pair.a.empty() ? pair.b : pair.a : pair.base) +
                                         ": " + pair.problem);
        if (pair.status == PairStatus::Disabled)
            run.report.skipped.push_back(pair.base + ": left out by the user");
    }
    if (plan.pairs.empty())
        run.report.notes.push_back("no LoRA pairs found: the checkpoint is written without changes");
    for (auto& note : run.source->reportNotes())
        run.report.notes.push_back(std::move(note));  // e.g. the replica check
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
        run.report.tensorsDropped =
            size_t(std::count(run.plan.dropped.begin(), run.plan.dropped.end(), true));
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
            if (auto st = verifyOutput(target.sink->tempPath(), target.file, target.placements, *run.source,
                                       run.plan, run.merged, cancel);
                !st)
                return st;
        run.report.notes.push_back(
            "verified: the output reads back with the expected index, finite merged values "
            "and spot-checked elements");
        return {};
    });
}

namespace {

// model.safetensors.index.json beside the shards, published last (huggingface_hub writes no index for
// a single shard).
Status publishShardIndex(MergeRun& run) {
    if (run.options.maxShardBytes == 0 || run.targets.size() < 2) return {};
    const auto& tensors = run.source->tensors();
    std::vector<std::string> names;
    for (size_t i = 0; i < tensors.size(); ++i)
        if (!run.plan.dropped[i]) names.push_back(tensors[i].name);
    const auto shards = planOutputShards(*run.source, run.plan, run.options.maxShardBytes);
    const auto text = shardIndexJson(names, shards);
    const auto path = run.targets.front().file.parent_path() / "model.safetensors.index.json";
    auto file = AtomicOutputFile::create(path, run.options.overwrite ? Publish::Replace : Publish::NoClobber);
    if (!file) return std::unexpected(file.error());
    if (auto st = file->write(std::as_bytes(std::span(text.data(), text.size()))); !st) return st;
    if (auto st = file->commit(); !st) return st;
    run.report.outputFiles.push_back(path);
    return {};
}

}  // namespace

Status mergePublishStage(MergeRun& run, ThrottledProgress& progress) {
    return guardStage(&run, [&]() -> Status {
        report(run, Stage::Publishing, progress);
        for (size_t k = 0; k < run.targets.size(); ++k) {
            if (auto st = run.targets[k].sink->publish(); !st) {
                std::error_code ec;
                for (size_t j = 0; j < k; ++j)
                    std::filesystem::remove(run.targets[j].file, ec);  // all or nothing
                return st;
            }
            run.report.outputFiles.push_back(run.targets[k].file);
        }
        if (auto st = publishShardIndex(run); !st) {
            std::error_code ec;
            for (const auto& file : run.report.outputFiles)
                std::filesystem::remove(file, ec);  // all or nothing
            return st;
        }
        run.created.keep = true;
        run.report.outputFile = run.report.outputFiles.front();
        progress.flush();
        return {};
    });
}

// The stages in order (MergeStages.h); each refuses or fails with nothing published.
Result<MergeReport> runMerge(const ModelSource& source, const MergeOptions& options,
                             const ProgressCallback& progress, const CancelToken* cancel) {
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
               r.report.outputFile.string(), r.report.tensorsWritten, r.report.bytesWritten,
               r.report.seconds);
    return std::move(r.report);
}
}  // namespace lms
