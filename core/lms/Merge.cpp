#include "lms/Merge.h"

#include "lms/CheckpointWriter.h"
#include "lms/Layout.h"
#include "lms/Safetensors.h"
#include "lms/Verify.h"
#include "lms/Log.h"

#include <Eigen/Core>
#include <chrono>
#include <cmath>
#include <cstring>
#include <condition_variable>
#include <deque>
#include <mutex>
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

// A merge that pairs nothing only makes sense when it also converts (the format, the layout, or
// rank files reassembled into one); otherwise the user most likely forgot the adapter.
Status checkSomethingToMerge(const ModelSource& source, const LoraPlan& plan, const MergeOptions& options) {
    if (plan.okPairs > 0 || plan.disabledPairs > 0 || options.allowNoLora || options.reshard) return {};
    const auto files = source.inputFiles();
    const bool fromCkpt = !source.tensors().empty() && source.rawRecords(0).has_value();  // only .ckpt has records
    if (files.size() != 1 || fromCkpt != (options.format == OutputFormat::Ckpt)) return {};
    if (plan.pairs.empty())
        return fail(ErrorCode::InvalidArgument, "no LoRA weights found in " + files.front().string() +
                                                    "; to merge a separate adapter use --adapter (--allow-no-lora "
                                                    "copies the checkpoint unchanged)");
    return fail(ErrorCode::InvalidArgument,
                "none of the " + std::to_string(plan.pairs.size()) + " LoRA pair(s) in " + files.front().string() +
                    " can be merged (" + describeProblems(plan, 3) +
                    "), so the output would equal the input (--allow-no-lora writes it anyway)");
}

struct CreatedDirectories {
    std::vector<std::filesystem::path> dirs;
    bool keep = false;
    ~CreatedDirectories() {
        if (keep) return;
        std::error_code ec;
        for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) std::filesystem::remove(*it, ec);  // only if empty
    }
};

Status prepareOutput(const ModelSource& source, const std::filesystem::path& output, CreatedDirectories& created) {
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

// One output file: the whole merged model, or one destination rank's share of it.
struct Target {
    std::filesystem::path file;
    std::unique_ptr<TensorSink> sink;
    CheckpointWriter* ckpt = nullptr;     // set for .ckpt output: whole tensors can be copied as records
    std::vector<Placement> placements;    // one per source tensor (dropped ones unused)
    bool full = true;
};

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
    for (auto& target : targets) {
        if (options.format == OutputFormat::Ckpt) {
            auto writer = CheckpointWriter::create(target.file, inputs);
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
        auto writer = SafetensorsWriter::create(target.file, inputs, {{"format", "ms"}}, std::move(declared));
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
                        "the output folder " + parent.string() + " holds an input file (" + input.filename().string() +
                            "); write the merged checkpoint somewhere else so the source stays untouched",
                        output.string());
    }
    return {};
}

Status checkPlanMergeable(const ModelSource& source, const LoraPlan& plan, const MergeOptions& options) {
    if (plan.tensorsToWrite == 0)
        return fail(ErrorCode::InvalidArgument,
                    "nothing to merge into: every parameter is a LoRA weight or an optimizer copy of one (is this a "
                    "LoRA-only adapter? pass it with --adapter next to the base checkpoint)");
    if (plan.problemPairs > 0 && !options.skipInvalid)
        return fail(ErrorCode::Mismatch,
                    std::to_string(plan.problemPairs) + " LoRA problem(s), nothing was written: " + describeProblems(plan, 5) +
                        " (use --skip-invalid to merge only the valid pairs)");
    return checkSomethingToMerge(source, plan, options);
}

Result<std::vector<double>> pairScalings(const LoraPlan& plan, const ScalingSpec& scaling) {
    std::vector<double> scalings(plan.pairs.size(), 0.0);
    for (size_t p = 0; p < plan.pairs.size(); ++p) {
        if (plan.pairs[p].status != PairStatus::Ok) continue;
        auto s = scaling.scalingFor(plan.pairs[p]);
        if (!s) return std::unexpected(s.error());
        scalings[p] = *s;
    }
    return scalings;
}

Result<MergeReport> runMerge(const ModelSource& source, const MergeOptions& options, const ProgressCallback& progress,
                             const CancelToken* cancel) {
    const auto started = std::chrono::steady_clock::now();
    const auto& tensors = source.tensors();
    const auto plan = planLora(tensors, options.plan);
    MergeReport report;

    if (auto st = checkPlanMergeable(source, plan, options); !st) return std::unexpected(st.error());
    auto scalingsOk = pairScalings(plan, options.scaling);
    if (!scalingsOk) return std::unexpected(scalingsOk.error());
    const std::vector<double> scalings = std::move(*scalingsOk);
    for (const auto& pair : plan.pairs) {
        if (pair.status == PairStatus::Problem)
            report.skipped.push_back((pair.base.empty() ? pair.a.empty() ? pair.b : pair.a : pair.base) + ": " + pair.problem);
        if (pair.status == PairStatus::Disabled) report.skipped.push_back(pair.base + ": left out by the user");
    }
    if (plan.pairs.empty()) report.notes.push_back("no LoRA pairs found: the checkpoint is written without changes");
    for (auto& note : source.reportNotes()) report.notes.push_back(std::move(note));  // e.g. the replica check

    CreatedDirectories created;  // declared first: destroyed last, after the sinks removed their temp files
    auto targets = planTargets(source, plan, options);
    if (!targets) return std::unexpected(targets.error());
    for (const auto& target : *targets)
        if (auto st = prepareOutput(source, target.file, created); !st) return std::unexpected(st.error());
    if (options.checkInputCrc)
        if (auto st = source.verifyInputs(cancel); !st) return std::unexpected(st.error());
    if (auto st = openSinks(*targets, source, plan, options); !st) return std::unexpected(st.error());

    Progress state;
    state.stage = "merging";
    state.itemsTotal = plan.tensorsToWrite;
    for (const auto& target : *targets)
        for (size_t i = 0; i < tensors.size(); ++i)
            if (!plan.dropped[i]) state.bytesTotal += target.placements[i].bytes;
    std::unordered_map<std::string, size_t> indexOf;
    for (size_t i = 0; i < tensors.size(); ++i) indexOf.emplace(tensors[i].name, i);
    std::vector<MergedPairRef> merged;
    const auto cancelled = [&] {
        return fail(ErrorCode::Cancelled, "merge cancelled; nothing was written", (*targets).front().file.string());
    };
    const auto mergedPairOf = [&](size_t i) -> const LoraPair* {
        const int p = plan.pairOfTensor[i];
        return p >= 0 && plan.pairs[size_t(p)].status == PairStatus::Ok && plan.pairs[size_t(p)].base == tensors[i].name
                   ? &plan.pairs[size_t(p)]
                   : nullptr;
    };
    // Whole-record copies need no bytes in user space; everything else streams in row blocks.
    const auto rawForAll = [&](size_t i) {
        if (mergedPairOf(i) || !source.rawRecords(i)) return false;
        return std::all_of(targets->begin(), targets->end(),
                           [&](const Target& t) { return t.ckpt && t.placements[i].whole; });
    };

    // Reader thread: reads ahead (bounded by kQueueBudgetBytes) while this thread merges and writes.
    const uint64_t blockBytes = std::max<uint64_t>(options.streamBlockBytes, 1);
    BlockQueue queue(3 * blockBytes);
    std::thread reader([&] {
        auto readAll = [&](size_t index) -> Result<std::vector<std::byte>> {
            std::vector<std::byte> bytes(size_t(tensors[index].byteSize));
            if (auto st = source.read(index, bytes, cancel); !st) return std::unexpected(st.error());
            return bytes;
        };
        auto failWith = [&](Error error) { queue.push(Block{0, -1, -1, false, false, {}, std::move(error)}); };
        for (size_t i = 0; i < tensors.size(); ++i) {
            if (plan.dropped[i]) continue;
            if (cancel && cancel->isCancelled()) return failWith(cancelled().error());
            if (rawForAll(i)) {
                if (!queue.push(Block{i, -1, -1, true, true, {}, std::nullopt})) return;
                continue;
            }
            std::optional<PairDelta> delta;
            if (const auto* pair = mergedPairOf(i)) {
                const size_t ia = indexOf.at(pair->a), ib = indexOf.at(pair->b);
                auto a = readAll(ia);
                if (!a) return failWith(a.error());
                if (auto st = checkInputFinite(source, ia, "LoRA A", *a); !st) return failWith(st.error());
                auto b = readAll(ib);
                if (!b) return failWith(b.error());
                if (auto st = checkInputFinite(source, ib, "LoRA B", *b); !st) return failWith(st.error());
                delta.emplace(tensors[i].dtype, pair->bDims[0], pair->aDims[1], pair->transposed, *a,
                                                    tensors[ia].dtype, *b, tensors[ib].dtype, pair->rank,
                                                    scalings[size_t(plan.pairOfTensor[i])]);
            }
            const auto& t = tensors[i];
            const int64_t rows = rowCount(t);
            const uint64_t stride = rowBytes(t);
            const int64_t step = stride ? std::max<int64_t>(1, int64_t(blockBytes / stride)) : std::max<int64_t>(rows, 1);
            int64_t r0 = 0;
            do {
                const int64_t r1 = std::min(rows, r0 + step);
                Block block{i, r0, r1, r0 == 0, r1 == rows, std::vector<std::byte>(size_t(uint64_t(r1 - r0) * stride)),
                            std::nullopt};
                if (auto st = source.readRows(i, r0, r1, block.bytes, cancel); !st) return failWith(st.error());
                // The delta is added here, on the reader thread, so that computing overlaps writing;
                // non-finite inputs and results fail the run here, naming the input (Verify.h).
                if (delta) {
                    if (auto st = checkInputFinite(source, i, "base weight", block.bytes, r0); !st) return failWith(st.error());
                    delta->apply(block.bytes, r0, r1 - r0);
                    if (auto st = checkMergedInRange(source, i, block.bytes, r0); !st) return failWith(st.error());
                }
                if (!queue.push(std::move(block))) return;
                r0 = r1;
            } while (r0 < rows);
        }
        queue.push(Block{tensors.size(), -1, -1, true, true, {}, std::nullopt});  // end of stream
    });
    struct JoinOnExit {
        BlockQueue& queue;
        std::thread& thread;
        ~JoinOnExit() {
            queue.stop();
            thread.join();
        }
    } joinOnExit{queue, reader};

    while (true) {
        auto block = queue.pop();
        if (!block) return cancelled();
        if (block->error) return std::unexpected(*block->error);
        if (block->tensor == tensors.size()) break;
        if (cancel && cancel->isCancelled()) return cancelled();
        const size_t i = block->tensor;
        const auto& t = tensors[i];
        const auto* mergedPair = mergedPairOf(i);
        if (block->first) {
            state.currentItem = t.name;
            if (progress) progress(state);
            if (const auto* pair = mergedPair) {
                ++report.pairsMerged;
                merged.push_back({i, indexOf.at(pair->a), indexOf.at(pair->b), pair, scalings[size_t(plan.pairOfTensor[i])]});
            }
        }
        for (auto& target : *targets) {
            const auto& placement = target.placements[i];
            const bool rawCopy = block->rowBegin < 0 || (placement.whole && target.ckpt && !mergedPair && source.rawRecords(i));
            if (rawCopy) {
                if (block->first) {
                    const auto raw = source.rawRecords(i);
                    if (auto st = target.ckpt->copyRecords(*raw->file, *raw->info); !st) return std::unexpected(st.error());
                    state.bytesDone += placement.bytes;
                }
                continue;
            }
            if (block->first)
                if (auto st = target.sink->beginTensor(t.name, t.typeName, placement.dims, placement.bytes); !st)
                    return std::unexpected(st.error());
            if (placement.whole) {
                if (auto st = target.sink->append(block->bytes); !st) return std::unexpected(st.error());
                state.bytesDone += block->bytes.size();
                continue;
            }
            // A destination slice: the part of this row block inside the slice's box.
            Box part = placement.box;
            part.begin[0] = std::max(part.begin[0], block->rowBegin);
            part.end[0] = std::min(part.end[0], block->rowEnd);
            if (part.begin[0] >= part.end[0]) continue;
            std::vector<int64_t> blockShape = t.dims;
            blockShape[0] = block->rowEnd - block->rowBegin;
            part.begin[0] -= block->rowBegin;
            part.end[0] -= block->rowBegin;
            const uint64_t elementBytes = dtypeBits(t.dtype) / 8;
            uint64_t partBytes = elementBytes;
            for (size_t d = 0; d < blockShape.size(); ++d) partBytes *= uint64_t(part.end[d] - part.begin[d]);
            const auto slice = extractBox(block->bytes, blockShape, part, elementBytes, partBytes);
            if (auto st = target.sink->append(slice); !st) return std::unexpected(st.error());
            state.bytesDone += slice.size();
        }
        if (block->last) {
            ++report.tensorsWritten;
            ++state.itemsDone;
        } else if (progress) {
            progress(state);
        }
    }
    report.tensorsDropped = size_t(std::count(plan.dropped.begin(), plan.dropped.end(), true));
    if (cancel && cancel->isCancelled()) return cancelled();
    state.stage = "finishing";
    state.currentItem.clear();
    if (progress) progress(state);
    for (auto& target : *targets) {
        if (auto st = target.sink->finish(); !st) return std::unexpected(st.error());
        report.bytesWritten += target.sink->bytesWritten();
    }
    if (options.verify) {
        state.stage = "verifying";
        if (progress) progress(state);
        for (const auto& target : *targets)
            if (auto st = verifyOutput(target.sink->tempPath(), target.file, target.placements, source, plan, merged, cancel); !st) return std::unexpected(st.error());
        report.notes.push_back("verified: the output reads back with the expected index, finite merged values and "
                               "spot-checked elements");
    }
    for (size_t k = 0; k < targets->size(); ++k) {
        if (auto st = (*targets)[k].sink->publish(); !st) {
            std::error_code ec;
            for (size_t j = 0; j < k; ++j) std::filesystem::remove((*targets)[j].file, ec);  // all or nothing
            return std::unexpected(st.error());
        }
        report.outputFiles.push_back((*targets)[k].file);
    }
    created.keep = true;
    report.outputFile = report.outputFiles.front();
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    log().info("merged {} LoRA pair(s) into {} ({} parameters, {} bytes) in {:.2f} s", report.pairsMerged,
               report.outputFile.string(), report.tensorsWritten, report.bytesWritten, report.seconds);
    return report;
}

}  // namespace lms
