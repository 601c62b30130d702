#include "lms/distributed/Distributed.h"

#include "lms/base/Log.h"
#include "lms/io/Hash.h"

#include <fnmatch.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <system_error>
#include <unordered_map>

namespace lms {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kBlockBytes = 8ull << 20;    // bounded reads when scattering slices
constexpr uint64_t kCompareBytes = 1ull << 20;  // per file, when comparing copies
constexpr size_t kMaxPickNotes = 8;
// Replica comparison (ReplicaCheck): XXH64 per block of each copy; sampled mode reads
// kSampleBlocks spread blocks of copies larger than kSampleAboveBlocks blocks.
constexpr uint64_t kHashBlockBytes = 1ull << 20;
constexpr uint64_t kSampleAboveBlocks = 64;
constexpr uint64_t kSampleBlocks = 32;

std::string rankName(int64_t rank) {
    return "rank_" + std::to_string(rank);
}

std::string dimsText(std::span<const int64_t> dims) {
    std::string out = "[";
    for (size_t i = 0; i < dims.size(); ++i) out += (i ? ", " : "") + std::to_string(dims[i]);
    return out + "]";
}

std::string rankListText(std::span<const int64_t> ranks) {
    std::string out;
    for (size_t i = 0; i < ranks.size(); ++i) {
        if (i == 6 && ranks.size() > 8)
            return out + ", ... (" + std::to_string(ranks.size()) + " ranks in all)";
        out += (i ? ", " : "") + rankName(ranks[i]);
    }
    return out;
}

Status cancelled(const CancelToken* cancel) {
    if (cancel && cancel->isCancelled()) return fail(ErrorCode::Cancelled, "cancelled");
    return {};
}

bool hasSuffix(const std::string& name, std::string_view suffix) {
    return name.ends_with(suffix);
}

// Reads consecutive bytes of a tensor whose content is spread over byte ranges of a file.
class RangeStream {
public:
    // Starts `start` bytes into the content.
    RangeStream(const CheckpointFile& file, std::span<const ByteRange> ranges, uint64_t start = 0)
        : file_(file), ranges_(ranges) {
        while (range_ < ranges_.size() && start >= ranges_[range_].length) start -= ranges_[range_++].length;
        within_ = start;
    }

    Status read(std::span<std::byte> out) {
        size_t done = 0;
        while (done < out.size()) {
            if (range_ >= ranges_.size())
                return fail(ErrorCode::Malformed, "tensor content shorter than its dims promise",
                            file_.path());
            const ByteRange& r = ranges_[range_];
            const uint64_t take = std::min<uint64_t>(r.length - within_, out.size() - done);
            if (auto s = file_.input().readAt(r.offset + within_, out.subspan(done, size_t(take))); !s)
                return s;
            done += size_t(take);
            within_ += take;
            if (within_ == r.length) {
                ++range_;
                within_ = 0;
            }
        }
        return {};
    }

private:
    const CheckpointFile& file_;
    std::span<const ByteRange> ranges_;
    size_t range_ = 0;
    uint64_t within_ = 0;
};

// Streams one stored slice, in its own order, into runs of the full tensor: long runs are read
// straight into the output, short ones through a block buffer of at most kBlockBytes, so memory
// stays bounded and small runs do not cost one read each.
class SliceScatter {
public:
    // Streams `length` slice bytes starting at byte `start` of the stored slice.
    SliceScatter(const CheckpointFile& file, const TensorInfo& info, uint64_t start, uint64_t length,
                 std::span<std::byte> out, const CancelToken* cancel)
        : stream_(file, info.chunks, start), out_(out), sliceLeft_(length), cancel_(cancel) {}

    // Fills out[fullOffset, fullOffset + length) with the next `length` bytes of the slice.
    Status copyRun(uint64_t fullOffset, uint64_t length) {
        while (length > 0) {
            if (used_ == block_.size() && length >= kBlockBytes) {
                if (length > sliceLeft_)
                    return fail(ErrorCode::Malformed, "the stored slice is shorter than its box");
                sliceLeft_ -= length;
                return stream_.read(out_.subspan(size_t(fullOffset), size_t(length)));
            }
            if (used_ == block_.size())
                if (auto s = refill(); !s) return s;
            const size_t take = size_t(std::min<uint64_t>(length, block_.size() - used_));
            std::memcpy(out_.data() + fullOffset, block_.data() + used_, take);
            used_ += take;
            fullOffset += take;
            length -= take;
        }
        return {};
    }

private:
    Status refill() {
        if (cancel_ && cancel_->isCancelled()) return fail(ErrorCode::Cancelled, "cancelled");
        if (sliceLeft_ == 0) return fail(ErrorCode::Malformed, "the stored slice is shorter than its box");
        block_.resize(size_t(std::min(kBlockBytes, sliceLeft_)));
        used_ = 0;
        sliceLeft_ -= block_.size();
        return stream_.read(block_);
    }

    RangeStream stream_;
    std::span<std::byte> out_;
    uint64_t sliceLeft_;
    const CancelToken* cancel_;
    std::vector<std::byte> block_;
    size_t used_ = 0;
};

uint64_t totalLength(std::span<const ByteRange> ranges) {
    uint64_t total = 0;
    for (const auto& r : ranges) total += r.length;
    return total;
}

// The bytes to compare for a copy: tensor content, or whole records for map tensors.
std::span<const ByteRange> comparableRanges(const TensorInfo& info) {
    return info.kind == TensorKind::Dense ? std::span<const ByteRange>(info.chunks)
                                          : std::span<const ByteRange>(info.records);
}

// Stream-compares two tensors' bytes in bounded blocks.
Result<bool> sameBytes(const CheckpointFile& fileA, const TensorInfo& a, const CheckpointFile& fileB,
                       const TensorInfo& b, const CancelToken* cancel) {
    const auto rangesA = comparableRanges(a), rangesB = comparableRanges(b);
    uint64_t left = totalLength(rangesA);
    if (left != totalLength(rangesB)) return false;
    RangeStream streamA(fileA, rangesA), streamB(fileB, rangesB);
    std::vector<std::byte> blockA(size_t(std::min(left, kCompareBytes))), blockB(blockA.size());
    while (left > 0) {
        if (auto s = cancelled(cancel); !s) return std::unexpected(s.error());
        const size_t n = size_t(std::min<uint64_t>(left, blockA.size()));
        if (auto s = streamA.read(std::span(blockA).first(n)); !s) return std::unexpected(s.error());
        if (auto s = streamB.read(std::span(blockB).first(n)); !s) return std::unexpected(s.error());
        if (std::memcmp(blockA.data(), blockB.data(), n) != 0) return false;
        left -= n;
    }
    return true;
}

// The blocks of a copy of `total` bytes that a replica check compares (ascending).
std::vector<uint64_t> blocksToCompare(uint64_t total, ReplicaCheck mode) {
    const uint64_t count = (total + kHashBlockBytes - 1) / kHashBlockBytes;
    std::vector<uint64_t> blocks;
    if (mode == ReplicaCheck::Sampled && count > kSampleAboveBlocks) {
        // Spread evenly, first and last included: a copy of another tensor, a zeroed copy or a
        // copy shifted by a wrong layout differs almost everywhere, so any spread sample sees it.
        for (uint64_t i = 0; i < kSampleBlocks; ++i) blocks.push_back(i * (count - 1) / (kSampleBlocks - 1));
        return blocks;
    }
    for (uint64_t i = 0; i < count; ++i) blocks.push_back(i);
    return blocks;
}

// XXH64 of each listed block of a tensor's content, read in one pass (ascending blocks).
Result<std::vector<uint64_t>> blockHashes(const CheckpointFile& file, const TensorInfo& info,
                                          std::span<const uint64_t> blocks, std::vector<std::byte>& buffer,
                                          const CancelToken* cancel) {
    const auto ranges = comparableRanges(info);
    const uint64_t total = totalLength(ranges);
    std::vector<uint64_t> hashes;
    hashes.reserve(blocks.size());
    std::optional<RangeStream> stream;
    uint64_t position = 0;
    for (uint64_t block : blocks) {
        if (auto s = cancelled(cancel); !s) return std::unexpected(s.error());
        const uint64_t at = block * kHashBlockBytes;
        if (!stream || position != at) stream.emplace(file, ranges, at);
        buffer.resize(size_t(std::min(kHashBlockBytes, total - at)));
        if (auto s = stream->read(buffer); !s) {
            Error error = s.error();
            if (error.file.empty()) error.file = file.path();
            if (error.parameter.empty()) error.parameter = info.name;
            return std::unexpected(error);
        }
        position = at + buffer.size();
        hashes.push_back(xxh64(buffer));
    }
    return hashes;
}

// Byte offset of the first difference of two equally long contents inside `block`.
Result<uint64_t> firstDifference(const CheckpointFile& fileA, const TensorInfo& a,
                                 const CheckpointFile& fileB, const TensorInfo& b, uint64_t block) {
    const auto rangesA = comparableRanges(a), rangesB = comparableRanges(b);
    const uint64_t at = block * kHashBlockBytes;
    const size_t n = size_t(std::min(kHashBlockBytes, totalLength(rangesA) - at));
    std::vector<std::byte> bytesA(n), bytesB(n);
    RangeStream streamA(fileA, rangesA, at), streamB(fileB, rangesB, at);
    if (auto s = streamA.read(bytesA); !s) return std::unexpected(s.error());
    if (auto s = streamB.read(bytesB); !s) return std::unexpected(s.error());
    const auto diff = std::ranges::mismatch(bytesA, bytesB);
    return at + uint64_t(diff.in1 - bytesA.begin());
}

// Bytes per element when a tensor can be cut at element boundaries; 0 otherwise.
uint64_t sliceableElementBytes(DType dtype) {
    const unsigned bits = dtypeBits(dtype);
    return (dtype == DType::Unknown || dtype == DType::String || bits == 0 || bits % 8 != 0) ? 0 : bits / 8;
}

std::optional<int64_t> parseRankFolderName(const std::string& name) {
    if (!name.starts_with("rank_") || name.size() == 5 || name.size() > 5 + 9) return std::nullopt;
    int64_t rank = 0;
    for (char c : std::string_view(name).substr(5)) {
        if (c < '0' || c > '9') return std::nullopt;
        rank = rank * 10 + (c - '0');
    }
    return rank;
}

// One opened rank file.
struct RankInput {
    RankFile info;
    std::shared_ptr<CheckpointFile> file;
};

// Where the bytes of one piece of one tensor are read from.
struct PieceRead {
    const CheckpointFile* file = nullptr;
    const TensorInfo* info = nullptr;
};

struct TensorPlan {
    TensorPlacement placement;
    std::vector<PieceRead> reads;  // parallel to placement.pieces
    uint64_t elementBytes = 0;     // 0: copied whole (no slicing)
    uint64_t byteSize = 0;         // of the full tensor, when sliced
};

// The layout variant used for a parameter and the global ranks whose files hold it.
struct LayoutChoice {
    const ParamLayout* layout = nullptr;
    std::vector<int64_t> holders;
};

class DistributedSourceImpl final : public DistributedSource {
public:
    static Result<std::unique_ptr<DistributedSourceImpl>> open(const DistributedOptions& options,
                                                               std::vector<std::string>* notes,
                                                               const CancelToken* cancel);

    std::string description() const override {
        return std::to_string(ranks_.size()) + " ranks under " + modelDir_.string() + " (" +
               std::to_string(strategy_.stageCount()) + " stage(s) x " + std::to_string(devicesPerStage_) +
               " devices, strategy " + strategy_.file + ")";
    }
    const std::vector<SourceTensor>& tensors() const override { return tensors_; }
    Status read(size_t index, std::span<std::byte> out, const CancelToken* cancel) const override;
    Status readRows(size_t index, int64_t rowBegin, int64_t rowEnd, std::span<std::byte> out,
                    const CancelToken* cancel) const override;
    std::optional<RawRecords> rawRecords(size_t index) const override;
    std::vector<std::filesystem::path> inputFiles() const override;
    uint64_t inputBytes() const override;
    Status verifyInputs(const CancelToken* cancel) const override;
    std::vector<std::string> reportNotes() const override {
        return replicaNote_.empty() ? std::vector<std::string>{} : std::vector<std::string>{replicaNote_};
    }

    const Strategy& strategy() const override { return strategy_; }
    const std::vector<RankFile>& rankFiles() const override { return rankFiles_; }
    const TensorPlacement& placement(size_t index) const override { return plans_.at(index).placement; }

private:
    Status checkDeviceCounts() const;
    Result<std::vector<fs::path>> neededRankFolders() const;
    Status openRankFiles(const DistributedOptions& options, std::vector<std::string>* notes,
                         const CancelToken* cancel);
    Status planTensors(std::vector<std::string>* notes, const CancelToken* cancel);
    Result<LayoutChoice> chooseLayout(const std::string& name,
                                      const std::vector<const ParamLayout*>& variants) const;
    Status checkSupported(const std::string& name, const ParamLayout& layout, const TensorInfo& first,
                          const std::string& path) const;
    Result<std::vector<int64_t>> fullShapeOf(const std::string& name, const ParamLayout& layout, int64_t rank,
                                             const TensorInfo& first) const;
    Status setSliceSizes(TensorPlan& plan, const TensorInfo& first, const std::string& path) const;
    Result<TensorPlan> planSharded(const std::string& name, const std::vector<const ParamLayout*>& variants,
                                   const CancelToken* cancel);
    Result<TensorPlan> planCopied(const std::string& name, const CancelToken* cancel) const;
    std::string unheldSliceText(const ParamLayout& layout, const LayoutChoice& choice,
                                std::span<const int64_t> full,
                                const std::map<Box, std::vector<int64_t>>& held) const;
    bool savedWithRemoveRedundancy() const;
    Result<std::optional<TensorPlan>> planIntegratedCopy(const std::string& name, const ParamLayout& layout,
                                                         const std::vector<int64_t>& holders,
                                                         const CancelToken* cancel);
    Result<std::optional<size_t>> firstDifferingCopy(const std::string& name,
                                                     std::span<const int64_t> holders, ReplicaCheck mode,
                                                     std::vector<std::byte>& buffer, uint64_t* block,
                                                     const CancelToken* cancel) const;
    void noteAbsentLayouts(const std::set<std::string_view>& seen, std::vector<std::string>* notes) const;
    Status compareReplicas(ReplicaCheck mode, const CancelToken* cancel);
    Error replicaMismatch(const std::string& name, const TensorPlan& plan, const SlicePiece& piece,
                          size_t other, uint64_t block) const;
    std::string rankFileText(int64_t rank) const;
    Error explainRankFile(Error error) const;
    Status checkPieceDims(const std::string& name, const ParamLayout& layout, int64_t rank,
                          const TensorInfo& info, const TensorInfo& first, const Box& box,
                          std::span<const int64_t> full) const;
    Status scatterRows(const TensorPlan& plan, int64_t rowBegin, int64_t rowEnd, std::span<std::byte> out,
                       const CancelToken* cancel) const;
    Error withModelDir(Error error) const {
        if (error.file.empty()) error.file = modelDir_.string();
        return error;
    }

    fs::path modelDir_;
    bool adapter_ = false;
    std::string replicaNote_;      // the replica check's outcome, for the merge report
    size_t integratedCopies_ = 0;  // adapter tensors read from one full copy (integrated_save)
    struct SlicedAdapterTensor {
        std::string name;
        int64_t rank = 0, other = 0;  // two holders with different bytes
    };
    std::optional<SlicedAdapterTensor> firstSlicedAdapterTensor_;  // a split LoRA tensor really sliced
    Strategy strategy_;
    int64_t devicesPerStage_ = 0;
    std::vector<RankInput> ranks_;  // index = global rank
    std::vector<RankFile> rankFiles_;
    std::unordered_map<std::string, std::vector<const ParamLayout*>> layoutsByName_;
    std::vector<SourceTensor> tensors_;
    std::vector<TensorPlan> plans_;
};

Result<std::unique_ptr<DistributedSourceImpl>> DistributedSourceImpl::open(const DistributedOptions& options,
                                                                           std::vector<std::string>* notes,
                                                                           const CancelToken* cancel) {
    auto source = std::make_unique<DistributedSourceImpl>();
    source->modelDir_ = options.modelDir;
    source->adapter_ = options.adapter;
    auto strategy = loadStrategyArgument(options.strategy, options.fallbackStrategyDir, notes,
                                         options.writeMergedStrategy);
    if (!strategy) return std::unexpected(strategy.error());
    source->strategy_ = std::move(*strategy);
    source->devicesPerStage_ = source->strategy_.devicesPerStage();
    for (const auto& layout : source->strategy_.layouts)
        source->layoutsByName_[layout.name].push_back(&layout);
    for (auto& [name, variants] : source->layoutsByName_)
        std::ranges::sort(variants, {}, [](const ParamLayout* l) { return l->stages.front(); });
    if (auto s = source->checkDeviceCounts(); !s) return std::unexpected(s.error());
    if (auto s = source->openRankFiles(options, notes, cancel); !s)
        return std::unexpected(source->explainRankFile(s.error()));
    if (auto s = source->planTensors(notes, cancel); !s)
        return std::unexpected(source->explainRankFile(s.error()));
    if (auto s = source->compareReplicas(options.replicaCheck, cancel); !s)
        return std::unexpected(source->explainRankFile(s.error()));
    log().info("distributed source: {}", source->description());
    if (!source->replicaNote_.empty()) log().info("{}", source->replicaNote_);
    return source;
}

// Every layout must describe the same number of devices per stage (spec §4.1, S20).
Status DistributedSourceImpl::checkDeviceCounts() const {
    for (const auto& layout : strategy_.layouts)
        if (devicesOf(layout) != devicesPerStage_)
            return fail(
                ErrorCode::Malformed,
                "dev_matrix " + layout.devMatrixText() + " describes " + std::to_string(devicesOf(layout)) +
                    " devices per stage, but the first layout describes " + std::to_string(devicesPerStage_),
                strategy_.file, layout.name);
    return {};
}

// The rank folders the strategy needs (0 .. stages x D - 1), refusing gaps and extras.
Result<std::vector<fs::path>> DistributedSourceImpl::neededRankFolders() const {
    auto folders = findRankFolders(modelDir_);
    if (!folders) return std::unexpected(folders.error());
    if (folders->empty())
        return fail(ErrorCode::NotFound, "no rank_<n> folders: not a distributed checkpoint folder",
                    modelDir_.string());
    const int64_t stages = strategy_.stageCount(), needed = stages * devicesPerStage_;
    const std::string shapeText = "the strategy describes " + std::to_string(devicesPerStage_) +
                                  " devices per stage and " + std::to_string(stages) +
                                  " pipeline stage(s), so rank_0 to " + rankName(needed - 1) + " are needed";
    std::map<int64_t, fs::path> byRank;
    for (const auto& folder : *folders) byRank[folder.rank] = folder.dir;
    std::vector<fs::path> dirs;
    for (int64_t rank = 0; rank < needed; ++rank) {
        if (!byRank.contains(rank))
            return fail(ErrorCode::NotFound,
                        rankName(rank) + " is missing under " + modelDir_.string() + ": " + shapeText,
                        modelDir_.string());
        dirs.push_back(byRank[rank]);
    }
    if (byRank.rbegin()->first >= needed) {
        std::string message = "holds " + rankName(byRank.rbegin()->first) + " but " + shapeText;
        if (stages == 1)
            message +=
                "; with pipeline parallelism pass the folder of per-rank strategy files (or the merged "
                "strategy) instead of one rank's file";
        return fail(ErrorCode::Mismatch, message, modelDir_.string());
    }
    return dirs;
}

Status DistributedSourceImpl::openRankFiles(const DistributedOptions& options,
                                            std::vector<std::string>* notes, const CancelToken* cancel) {
    auto dirs = neededRankFolders();
    if (!dirs) return std::unexpected(dirs.error());
    const std::string how = options.ckptNameGlob.empty() ? std::string("lexicographically last")
                                                         : "last matching '" + options.ckptNameGlob + "'";
    size_t picked = 0;
    for (int64_t rank = 0; rank < int64_t(dirs->size()); ++rank) {
        if (auto s = cancelled(cancel); !s) return s;
        RankInput input;
        input.info.rank = rank;
        auto path = pickRankCheckpoint((*dirs)[size_t(rank)], options.ckptNameGlob, &input.info.candidates);
        if (!path) return std::unexpected(path.error());
        input.info.path = *path;
        if (input.info.candidates > 1)
            input.info.choice =
                (options.ckptNameGlob.empty() ? std::string("the lexicographically last")
                                              : "the last matching '" + options.ckptNameGlob + "'") +
                " of " + std::to_string(input.info.candidates) + " " + path->extension().string() + " files";
        if (input.info.candidates > 1 && notes && picked++ < kMaxPickNotes)
            notes->push_back(rankName(rank) + ": picked " + path->filename().string() + " of " +
                             std::to_string(input.info.candidates) + " checkpoint files (" + how + ")");
        rankFiles_.push_back(input.info);  // before opening, so an error can explain the choice
        auto file = CheckpointFile::open(*path, cancel);
        if (!file) return std::unexpected(file.error());
        input.file = std::move(*file);
        ranks_.push_back(std::move(input));
    }
    if (picked > kMaxPickNotes && notes)
        notes->push_back("... and " + std::to_string(picked - kMaxPickNotes) +
                         " more rank folders with several files");
    return {};
}

Status DistributedSourceImpl::planTensors(std::vector<std::string>* notes, const CancelToken* cancel) {
    std::vector<std::string> order;
    std::set<std::string_view> seen;
    for (const auto& rank : ranks_)
        for (const auto& info : rank.file->tensors())
            if (seen.insert(info.name).second) order.push_back(info.name);
    for (const auto& name : order) {
        if (auto s = cancelled(cancel); !s) return s;
        const auto it = layoutsByName_.find(name);
        auto plan =
            it != layoutsByName_.end() ? planSharded(name, it->second, cancel) : planCopied(name, cancel);
        if (!plan) return std::unexpected(withModelDir(plan.error()));
        const auto& front = plan->reads.front();
        SourceTensor tensor;
        tensor.name = name;
        tensor.typeName = front.info->typeName;
        tensor.dtype = front.info->dtype;
        tensor.kind = front.info->kind;
        if (plan->elementBytes == 0) {
            tensor.dims = front.info->dims;
            tensor.legacyScalar = front.info->legacyScalar;
            tensor.byteSize = front.info->byteSize;
        } else {
            tensor.dims = plan->placement.fullShape;
            tensor.byteSize = plan->byteSize;
        }
        std::vector<int64_t> sources;
        for (const auto& piece : plan->placement.pieces) sources.push_back(piece.ranks.front());
        tensor.origin = sources.size() == 1 ? rankName(sources.front()) : "ranks " + rankListText(sources);
        tensors_.push_back(std::move(tensor));
        plans_.push_back(std::move(*plan));
    }
    if (integratedCopies_ > 0 && firstSlicedAdapterTensor_) {
        const auto& sliced = *firstSlicedAdapterTensor_;
        return fail(
            ErrorCode::Mismatch,
            std::to_string(integratedCopies_) +
                " split LoRA tensor(s) of this adapter are identical full copies in every rank (MindPet "
                "integrated_save), but this one differs between " +
                rankName(sliced.rank) + " and " + rankName(sliced.other) +
                ": the rank files do not hold copies of one adapter",
            ranks_[size_t(sliced.other)].info.path.string(), sliced.name);
    }
    if (integratedCopies_ > 0 && notes)
        notes->push_back(
            "the adapter holds full copies of its " + std::to_string(integratedCopies_) +
            " split LoRA tensor(s) in every rank (MindPet integrated_save), all identical: one copy of "
            "each is used");
    noteAbsentLayouts(seen, notes);
    return {};
}

// Strategy layouts whose parameter no rank file holds; most of them absent is a warning.
void DistributedSourceImpl::noteAbsentLayouts(const std::set<std::string_view>& seen,
                                              std::vector<std::string>* notes) const {
    size_t unused = 0;
    for (const auto& [name, variants] : layoutsByName_)
        if (!seen.contains(name)) ++unused;
    if (!unused || !notes) return;
    const size_t total = layoutsByName_.size();
    // An adapter holds only the LoRA tensors, so the base weights' layouts are absent by nature.
    if (!adapter_ && unused * 2 > total) {
        const std::string text =
            "warning: " + std::to_string(unused) + " of the strategy's " + std::to_string(total) +
            " parameter layouts (" + std::to_string(unused * 100 / total) +
            " %) name parameters that are not in the rank files: is it the strategy of another "
            "run, or were the checkpoints saved with only_trainable_params?";
        log().warn("{}", text);
        notes->push_back(text);
        return;
    }
    notes->push_back(std::to_string(unused) +
                     " parameter(s) of the strategy are not in the rank files (ignored)");
}

// The first stage variant whose ranks actually hold the parameter (spec §4.5), with those
// holders in ascending global rank.
Result<LayoutChoice> DistributedSourceImpl::chooseLayout(
    const std::string& name, const std::vector<const ParamLayout*>& variants) const {
    for (const ParamLayout* variant : variants) {
        LayoutChoice choice{variant, {}};
        for (uint32_t stage : variant->stages)
            for (int64_t local = 0; local < devicesPerStage_; ++local) {
                const int64_t rank = int64_t(stage) * devicesPerStage_ + local;
                if (ranks_[size_t(rank)].file->find(name)) choice.holders.push_back(rank);
            }
        if (!choice.holders.empty()) {
            std::ranges::sort(choice.holders);
            return choice;
        }
    }
    return fail(ErrorCode::Mismatch,
                "the strategy places the parameter in pipeline stage(s) where no rank file holds it; the "
                "strategy does not belong to these rank files",
                modelDir_.string(), name);
}

// Layout features we refuse rather than guess (spec §4.7).
Status DistributedSourceImpl::checkSupported(const std::string& name, const ParamLayout& layout,
                                             const TensorInfo& first, const std::string& path) const {
    if (layout.field != 0)
        return fail(ErrorCode::Unsupported,
                    "the layout uses a MatMul field split (field = " + std::to_string(layout.field) +
                        "), which is not supported",
                    strategy_.file, name);
    if (layout.hasManualSplit())
        return fail(
            ErrorCode::Unsupported,
            "the layout uses a manual split (param_split_shape / indices_offset), which is not supported",
            strategy_.file, name);
    if (first.kind != TensorKind::Dense)
        return fail(ErrorCode::Unsupported, "a map tensor cannot be reassembled from slices", path, name);
    return {};
}

// The full shape inferred from the lowest holder (spec §4.9), checked against JSON's tensor_shape.
Result<std::vector<int64_t>> DistributedSourceImpl::fullShapeOf(const std::string& name,
                                                                const ParamLayout& layout, int64_t rank,
                                                                const TensorInfo& first) const {
    // JSON strategies record the full shape; every slice, the first included, is then checked
    // against it (checkPieceDims). Protobuf ones do not, so it is inferred as MindSpore does
    // (spec §4.9; _parallel_serialization.py _transform_parallel_checkpoint).
    if (!layout.globalShape.empty()) return layout.globalShape;
    if (first.dims.size() != layout.tensorMap.size())
        return fail(ErrorCode::Mismatch,
                    "strategy does not describe these files: " + name + " on " + rankName(rank) + " is " +
                        dimsText(first.dims) + ", the strategy implies a " +
                        std::to_string(layout.tensorMap.size()) + "-dimensional slice (tensor_map " +
                        layout.tensorMapText() + ") — is it the strategy of another run?",
                    ranks_[size_t(rank)].file->path(), name);
    return inferFullShape(layout, first.dims);
}

// For a gap in the cover: the ranks of the stage whose slice no file holds, i.e. the rank files
// that should have held it (with remove_redundancy, spec §4.10, any one of a slice's replicas).
std::string DistributedSourceImpl::unheldSliceText(const ParamLayout& layout, const LayoutChoice& choice,
                                                   std::span<const int64_t> full,
                                                   const std::map<Box, std::vector<int64_t>>& held) const {
    std::vector<int64_t> owners;
    const int64_t stageBase = choice.holders.front() / devicesPerStage_ * devicesPerStage_;
    for (int64_t local = 0; local < devicesPerStage_; ++local) {
        auto box = rankSlice(layout, full, local);
        if (box && !held.contains(*box)) owners.push_back(stageBase + local);
    }
    if (owners.empty()) return {};
    std::string text = "; the strategy places the missing slice on " + rankListText(owners) +
                       ", and none of their files holds the parameter";
    if (savedWithRemoveRedundancy())
        text +=
            " (the files were saved with remove_redundancy, so each slice is in one replica's file "
            "only: is a rank file from another save?)";
    return text;
}

// Whether any rank file says it was saved with remove_redundancy (safetensors metadata, spec §4.10).
bool DistributedSourceImpl::savedWithRemoveRedundancy() const {
    return std::ranges::any_of(ranks_, [](const RankInput& rank) {
        return std::ranges::any_of(rank.file->metadata(), [](const auto& entry) {
            return entry.first == "remove_redundancy" && entry.second == "True";
        });
    });
}

Result<TensorPlan> DistributedSourceImpl::planSharded(const std::string& name,
                                                      const std::vector<const ParamLayout*>& variants,
                                                      const CancelToken* cancel) {
    auto choice = chooseLayout(name, variants);
    if (!choice) return std::unexpected(choice.error());
    const ParamLayout& layout = *choice->layout;
    const int64_t firstHolder = choice->holders.front();
    const CheckpointFile& firstFile = *ranks_[size_t(firstHolder)].file;
    const TensorInfo& first = *firstFile.find(name);
    if (auto s = checkSupported(name, layout, first, firstFile.path()); !s) return std::unexpected(s.error());
    if (adapter_) {
        auto copy = planIntegratedCopy(name, layout, choice->holders, cancel);
        if (!copy) return std::unexpected(copy.error());
        if (*copy) return std::move(**copy);
    }
    auto full = fullShapeOf(name, layout, firstHolder, first);
    if (!full) return std::unexpected(full.error());

    std::map<Box, std::vector<int64_t>> byBox;  // distinct pieces, ranks ascending
    for (int64_t rank : choice->holders) {
        auto box = rankSlice(layout, *full, rank % devicesPerStage_);
        if (!box) return std::unexpected(box.error());
        if (auto s = checkPieceDims(name, layout, rank, *ranks_[size_t(rank)].file->find(name), first, *box,
                                    *full);
            !s)
            return std::unexpected(s.error());
        byBox[*box].push_back(rank);
    }
    TensorPlan plan;
    plan.placement.layout = &layout;
    plan.placement.fullShape = *full;
    std::vector<Box> boxes;
    for (auto& [box, ranks] : byBox) {
        boxes.push_back(box);
        const auto& source = ranks_[size_t(ranks.front())];
        plan.reads.push_back({source.file.get(), source.file->find(name)});
        plan.placement.pieces.push_back({box, std::move(ranks)});
    }
    if (auto s = checkExactCover(boxes, *full, name); !s) {
        Error error = s.error();
        error.message += " (the parameter is in " + rankListText(choice->holders) + "; layout dev_matrix " +
                         layout.devMatrixText() + ", tensor_map " + layout.tensorMapText() + ")" +
                         unheldSliceText(layout, *choice, *full, byBox);
        return std::unexpected(withModelDir(error));
    }
    if (plan.placement.pieces.size() == 1) return plan;  // replicated: copied whole from the lowest rank
    if (auto s = setSliceSizes(plan, first, firstFile.path()); !s) return std::unexpected(s.error());
    return plan;
}

// Element and full-tensor byte sizes of a tensor reassembled from several slices.
Status DistributedSourceImpl::setSliceSizes(TensorPlan& plan, const TensorInfo& first,
                                            const std::string& path) const {
    plan.elementBytes = sliceableElementBytes(first.dtype);
    if (plan.elementBytes == 0)
        return fail(ErrorCode::Unsupported, "tensor_type " + first.typeName + " cannot be cut into slices",
                    path, first.name);
    plan.byteSize = plan.elementBytes;
    for (int64_t n : plan.placement.fullShape)
        if (__builtin_mul_overflow(plan.byteSize, uint64_t(n), &plan.byteSize))
            return fail(ErrorCode::Malformed, "the full tensor size overflows", path, first.name);
    return {};
}

// A rank's stored piece must have the same type as the others and the shape its slice implies.
Status DistributedSourceImpl::checkPieceDims(const std::string& name, const ParamLayout& layout, int64_t rank,
                                             const TensorInfo& info, const TensorInfo& first, const Box& box,
                                             std::span<const int64_t> full) const {
    const std::string& path = ranks_[size_t(rank)].file->path();
    if (info.typeName != first.typeName || info.kind != first.kind)
        return fail(ErrorCode::Mismatch,
                    rankName(rank) + " stores the parameter as " + info.typeName + " but another rank as " +
                        first.typeName,
                    path, name);
    if (info.dims != box.shape())
        return fail(ErrorCode::Mismatch,
                    "strategy does not describe these files: " + name + " on " + rankName(rank) + " is " +
                        dimsText(info.dims) + ", the strategy implies " + dimsText(box.shape()) +
                        " — is it the strategy of another run? (dev_matrix " + layout.devMatrixText() +
                        ", tensor_map " + layout.tensorMapText() + ": slice " + box.text() +
                        " of the full shape " + dimsText(full) + ")",
                    path, name);
    return {};
}

Result<TensorPlan> DistributedSourceImpl::planCopied(const std::string& name,
                                                     const CancelToken* cancel) const {
    std::vector<int64_t> holders;
    for (const auto& rank : ranks_)
        if (rank.file->find(name)) holders.push_back(rank.info.rank);
    const RankInput& firstRank = ranks_[size_t(holders.front())];
    const TensorInfo& first = *firstRank.file->find(name);
    for (size_t i = 1; i < holders.size(); ++i) {
        const RankInput& other = ranks_[size_t(holders[i])];
        const TensorInfo& info = *other.file->find(name);
        std::string difference;
        if (info.typeName != first.typeName || info.kind != first.kind)
            difference = "tensor types " + first.typeName + " and " + info.typeName;
        else if (info.dims != first.dims)
            difference = "shapes " + dimsText(first.dims) + " and " + dimsText(info.dims);
        else {
            auto same = sameBytes(*firstRank.file, first, *other.file, info, cancel);
            if (!same) return std::unexpected(same.error());
            if (!*same) difference = "same shape " + dimsText(first.dims) + ", different values";
        }
        if (!difference.empty())
            return fail(
                ErrorCode::Mismatch,
                "the parameter is not in the strategy file but differs between " + rankName(holders.front()) +
                    " and " + rankName(holders[i]) + " (" + difference +
                    "): it is probably a frozen sharded weight left out because the training run saved the "
                    "strategy with only_trainable_params=True; re-save the strategy with "
                    "strategy_ckpt_config.only_trainable_params: False",
                strategy_.file, name);
    }
    TensorPlan plan;
    plan.placement.fullShape = first.logicalShape();
    const std::vector<int64_t> zeros(plan.placement.fullShape.size(), 0);
    plan.placement.pieces.push_back({Box{zeros, plan.placement.fullShape}, holders});
    plan.reads.push_back({firstRank.file.get(), &first});
    return plan;
}

// MindPet integrated_save (spec §4.9: "detect it and adapt rather than multiplying blindly"): every
// rank stores the whole LoRA tensor. Recognised when the layout splits the tensor, all holders
// store one shape and type, and every copy is byte-identical; nullopt when the copies are slices.
Result<std::optional<TensorPlan>> DistributedSourceImpl::planIntegratedCopy(
    const std::string& name, const ParamLayout& layout, const std::vector<int64_t>& holders,
    const CancelToken* cancel) {
    auto optPieces = optShardPieces(layout);
    int64_t parts = optPieces ? *optPieces : 1;
    for (int64_t t : tensorSplits(layout)) parts *= t;
    if (parts <= 1 || holders.size() < 2) return std::nullopt;
    const CheckpointFile& firstFile = *ranks_[size_t(holders.front())].file;
    const TensorInfo& first = *firstFile.find(name);
    for (int64_t rank : holders) {
        const TensorInfo& info = *ranks_[size_t(rank)].file->find(name);
        if (info.dims != first.dims || info.typeName != first.typeName)
            return std::nullopt;  // checkPieceDims says why
    }
    std::vector<std::byte> buffer;
    uint64_t block = 0;
    auto differing = firstDifferingCopy(name, holders, ReplicaCheck::Full, buffer, &block, cancel);
    if (!differing) return std::unexpected(differing.error());
    if (*differing) {
        const int64_t other = holders[**differing];
        if (!layout.globalShape.empty() && first.dims == layout.globalShape)
            return fail(ErrorCode::Mismatch,
                        "every rank stores the full shape " + dimsText(first.dims) +
                            " (integrated_save), but the copies in " + rankFileText(holders.front()) +
                            " and " + rankFileText(other) +
                            " differ: the rank files do not hold copies of one adapter",
                        ranks_[size_t(other)].info.path.string(), name);
        if (!firstSlicedAdapterTensor_)
            firstSlicedAdapterTensor_ = SlicedAdapterTensor{name, holders.front(), other};
        return std::nullopt;
    }
    ++integratedCopies_;
    TensorPlan plan;
    plan.placement.fullShape = first.logicalShape();
    const std::vector<int64_t> zeros(plan.placement.fullShape.size(), 0);
    plan.placement.pieces.push_back({Box{zeros, plan.placement.fullShape}, holders});
    plan.reads.push_back({&firstFile, &first});
    return plan;
}

// Compares the copies of one tensor held by `holders` (equal dims and type, checked before)
// with the first one: the index in `holders` of the first differing copy, and in `block` the
// first compared block where it differs.
Result<std::optional<size_t>> DistributedSourceImpl::firstDifferingCopy(
    const std::string& name, std::span<const int64_t> holders, ReplicaCheck mode,
    std::vector<std::byte>& buffer, uint64_t* block, const CancelToken* cancel) const {
    const CheckpointFile& firstFile = *ranks_[size_t(holders.front())].file;
    const TensorInfo& first = *firstFile.find(name);
    const auto blocks = blocksToCompare(totalLength(comparableRanges(first)), mode);
    auto reference = blockHashes(firstFile, first, blocks, buffer, cancel);
    if (!reference) return std::unexpected(reference.error());
    for (size_t i = 1; i < holders.size(); ++i) {
        const CheckpointFile& file = *ranks_[size_t(holders[i])].file;
        auto hashes = blockHashes(file, *file.find(name), blocks, buffer, cancel);
        if (!hashes) return std::unexpected(hashes.error());
        const auto diff = std::ranges::mismatch(*reference, *hashes);
        if (diff.in1 == reference->end()) continue;
        *block = blocks[size_t(diff.in1 - reference->begin())];
        return i;
    }
    return std::nullopt;
}

// Every slice the strategy places on several ranks must be the same bytes in each of them
// (spec §4.8). MindSpore assumes so and reads one copy (parallel/_utils.py _infer_rank_list,
// _remove_repeated_slices: the replica with coordinate 0 on every unused device axis); a
// strategy of another run breaks the assumption silently, so the copies are compared.
Status DistributedSourceImpl::compareReplicas(ReplicaCheck mode, const CancelToken* cancel) {
    if (mode == ReplicaCheck::Off) {
        replicaNote_ =
            "replicas: not compared (--check-replicas off): each replicated slice was read from the lowest "
            "rank holding it";
        return {};
    }
    std::vector<std::byte> buffer;
    size_t slices = 0, sampled = 0;
    std::set<int64_t> ranks;
    for (size_t t = 0; t < plans_.size(); ++t) {
        const TensorPlan& plan = plans_[t];
        if (!plan.placement.layout) continue;  // without layout: compared in full by planCopied
        for (const SlicePiece& piece : plan.placement.pieces) {
            if (piece.ranks.size() < 2) continue;
            uint64_t block = 0;
            auto differing = firstDifferingCopy(tensors_[t].name, piece.ranks, mode, buffer, &block, cancel);
            if (!differing) return std::unexpected(differing.error());
            if (*differing)
                return std::unexpected(replicaMismatch(tensors_[t].name, plan, piece, **differing, block));
            ++slices;
            ranks.insert(piece.ranks.begin(), piece.ranks.end());
            const TensorInfo& info = *ranks_[size_t(piece.ranks.front())].file->find(tensors_[t].name);
            if (mode == ReplicaCheck::Sampled &&
                totalLength(comparableRanges(info)) > kSampleAboveBlocks * kHashBlockBytes)
                ++sampled;
        }
    }
    if (slices == 0) {
        replicaNote_ = "replicas: no slice is held by more than one rank";
        return {};
    }
    replicaNote_ = "replicas: " + std::to_string(slices) +
                   (slices == 1 ? " replicated slice" : " replicated slices") + " compared on " +
                   std::to_string(ranks.size()) + " ranks, all identical";
    if (sampled)
        replicaNote_ += " (--check-replicas sampled: " + std::to_string(sampled) + " slice(s) over " +
                        std::to_string(kSampleAboveBlocks) + " MiB compared in " +
                        std::to_string(kSampleBlocks) + " spread blocks of 1 MiB)";
    return {};
}

// The error for copies of one slice that differ, naming both files and the first differing element.
Error DistributedSourceImpl::replicaMismatch(const std::string& name, const TensorPlan& plan,
                                             const SlicePiece& piece, size_t other, uint64_t block) const {
    const int64_t a = piece.ranks.front(), b = piece.ranks[other];
    const CheckpointFile& fileA = *ranks_[size_t(a)].file;
    const CheckpointFile& fileB = *ranks_[size_t(b)].file;
    const TensorInfo& infoA = *fileA.find(name);
    std::string where =
        "in the 1 MiB block at byte " + std::to_string(block * kHashBlockBytes) + " of the slice";
    auto offset = firstDifference(fileA, infoA, fileB, *fileB.find(name), block);
    const uint64_t elementBytes = sliceableElementBytes(infoA.dtype);
    const auto shape = piece.box.shape();
    if (offset && elementBytes && !shape.empty()) {
        uint64_t index = *offset / elementBytes;  // row-major in the slice
        std::vector<int64_t> at(shape.size());
        for (size_t d = shape.size(); d-- > 0;) {
            at[d] = piece.box.begin[d] + int64_t(index % uint64_t(shape[d]));
            index /= uint64_t(shape[d]);
        }
        where =
            "first at element " + dimsText(at) + " of the full shape " + dimsText(plan.placement.fullShape);
    }
    return Error{ErrorCode::Mismatch,
                 "strategy does not describe these files: " + name + " on " + rankName(a) + " and " +
                     rankName(b) + " should be identical copies of slice " + piece.box.text() + ", but " +
                     rankFileText(a) + " and " + rankFileText(b) + " differ, " + where +
                     " — is it the strategy of another run?",
                 fileB.path(), name, std::nullopt};
}

// "rank_1/checkpoint_1-2_40.ckpt": a rank file as people find it under the model folder.
std::string DistributedSourceImpl::rankFileText(int64_t rank) const {
    const fs::path& path = rankFiles_[size_t(rank)].path;
    return (path.parent_path().filename() / path.filename()).string();
}

// When the file concerned is a rank file picked among several, says which one and why.
Error DistributedSourceImpl::explainRankFile(Error error) const {
    for (const RankFile& rank : rankFiles_) {
        if (rank.choice.empty() || error.file != rank.path.string()) continue;
        error.message += " (" + rankFileText(rank.rank) + " is " + rank.choice +
                         " in its folder; choose another with --ckpt-name)";
        break;
    }
    return error;
}

Status DistributedSourceImpl::read(size_t index, std::span<std::byte> out, const CancelToken* cancel) const {
    if (index >= plans_.size())
        return fail(ErrorCode::InvalidArgument, "tensor index out of range", modelDir_.string());
    const SourceTensor& tensor = tensors_[index];
    if (out.size() != tensor.byteSize)
        return fail(ErrorCode::InvalidArgument, "buffer size does not match the parameter",
                    modelDir_.string(), tensor.name);
    if (auto s = cancelled(cancel); !s) return s;
    const TensorPlan& plan = plans_[index];
    auto status = plan.elementBytes == 0
                      ? plan.reads.front().file->readTensor(*plan.reads.front().info, out)
                      : scatterRows(plan, 0, plan.placement.fullShape.front(), out, cancel);
    if (!status) return std::unexpected(explainRankFile(status.error()));
    return status;
}

Status DistributedSourceImpl::readRows(size_t index, int64_t rowBegin, int64_t rowEnd,
                                       std::span<std::byte> out, const CancelToken* cancel) const {
    if (index >= plans_.size())
        return fail(ErrorCode::InvalidArgument, "tensor index out of range", modelDir_.string());
    const SourceTensor& tensor = tensors_[index];
    const uint64_t stride = rowBytes(tensor);
    if (rowBegin < 0 || rowEnd < rowBegin || rowEnd > rowCount(tensor) ||
        out.size() != uint64_t(rowEnd - rowBegin) * stride)
        return fail(ErrorCode::InvalidArgument, "row range outside the tensor", modelDir_.string(),
                    tensor.name);
    if (auto s = cancelled(cancel); !s) return s;
    const TensorPlan& plan = plans_[index];
    auto status = plan.elementBytes == 0 ? plan.reads.front().file->readRange(
                                               *plan.reads.front().info, uint64_t(rowBegin) * stride, out)
                                         : scatterRows(plan, rowBegin, rowEnd, out, cancel);
    if (!status) return std::unexpected(explainRankFile(status.error()));
    return status;
}

// Fills `out`, rows [rowBegin, rowEnd) of a sliced tensor, from every piece overlapping them.
Status DistributedSourceImpl::scatterRows(const TensorPlan& plan, int64_t rowBegin, int64_t rowEnd,
                                          std::span<std::byte> out, const CancelToken* cancel) const {
    std::vector<int64_t> band = plan.placement.fullShape;
    band.front() = rowEnd - rowBegin;
    for (size_t piece = 0; piece < plan.placement.pieces.size(); ++piece) {
        const Box& box = plan.placement.pieces[piece].box;
        const int64_t first = std::max(box.begin.front(), rowBegin), last = std::min(box.end.front(), rowEnd);
        if (first >= last) continue;
        // The overlapping rows are contiguous in the stored slice (row-major).
        const uint64_t sliceRowBytes =
            box.elementCount() / uint64_t(box.end.front() - box.begin.front()) * plan.elementBytes;
        Box target = box;
        target.begin.front() = first - rowBegin;
        target.end.front() = last - rowBegin;
        const PieceRead& source = plan.reads[piece];
        SliceScatter scatter(*source.file, *source.info, uint64_t(first - box.begin.front()) * sliceRowBytes,
                             uint64_t(last - first) * sliceRowBytes, out, cancel);
        Status status;
        forEachContiguousRun(band, target, plan.elementBytes, [&](uint64_t, uint64_t at, uint64_t length) {
            if (status) status = scatter.copyRun(at, length);
        });
        if (!status) {
            Error error = status.error();
            if (error.parameter.empty()) error.parameter = source.info->name;
            if (error.file.empty()) error.file = source.file->path();
            return std::unexpected(error);
        }
    }
    return {};
}

std::optional<RawRecords> DistributedSourceImpl::rawRecords(size_t index) const {
    const TensorPlan& plan = plans_.at(index);
    const PieceRead& source = plan.reads.front();
    if (plan.elementBytes != 0 || source.file->format() != CheckpointFormat::Ckpt) return std::nullopt;
    return RawRecords{source.file, source.info};
}

std::vector<std::filesystem::path> DistributedSourceImpl::inputFiles() const {
    std::vector<std::filesystem::path> files;
    for (const auto& rank : ranks_) files.push_back(rank.info.path);
    files.push_back(strategy_.file);
    return files;
}

uint64_t DistributedSourceImpl::inputBytes() const {
    uint64_t total = 0;
    for (const auto& rank : ranks_) total += rank.file->fileSize();
    return total;
}

Status DistributedSourceImpl::verifyInputs(const CancelToken* cancel) const {
    for (const auto& rank : ranks_)
        if (auto s = rank.file->verifyCrc(cancel); !s) return std::unexpected(explainRankFile(s.error()));
    return {};
}

}  // namespace

std::optional<ReplicaCheck> parseReplicaCheck(std::string_view text) {
    if (text == "full") return ReplicaCheck::Full;
    if (text == "sampled") return ReplicaCheck::Sampled;
    if (text == "off") return ReplicaCheck::Off;
    return std::nullopt;
}

Result<std::vector<RankFolder>> findRankFolders(const fs::path& modelDir) {
    std::error_code ec;
    fs::directory_iterator it(modelDir, ec);
    if (ec) return fail(ErrorCode::Io, "cannot list the folder: " + ec.message(), modelDir.string());
    std::vector<RankFolder> folders;
    for (const auto& entry : it) {
        const auto rank = parseRankFolderName(entry.path().filename().string());
        if (rank && entry.is_directory(ec)) folders.push_back({*rank, entry.path()});
    }
    std::ranges::sort(folders, {}, &RankFolder::rank);
    for (size_t i = 1; i < folders.size(); ++i)
        if (folders[i].rank == folders[i - 1].rank)
            return fail(ErrorCode::Malformed,
                        folders[i - 1].dir.filename().string() + " and " +
                            folders[i].dir.filename().string() + " name the same rank",
                        modelDir.string());
    return folders;
}

Result<fs::path> pickRankCheckpoint(const fs::path& rankDir, const std::string& nameGlob,
                                    size_t* candidates) {
    std::error_code ec;
    fs::directory_iterator it(rankDir, ec);
    if (ec) return fail(ErrorCode::Io, "cannot list the rank folder: " + ec.message(), rankDir.string());
    std::vector<std::string> ckpt, safetensors;
    for (const auto& entry : it) {
        const std::string name = entry.path().filename().string();
        if (!entry.is_regular_file(ec)) continue;
        if (!nameGlob.empty() && ::fnmatch(nameGlob.c_str(), name.c_str(), 0) != 0) continue;
        if (hasSuffix(name, ".ckpt")) ckpt.push_back(name);
        if (hasSuffix(name, ".safetensors")) safetensors.push_back(name);
    }
    if (!ckpt.empty() && !safetensors.empty())
        return fail(
            ErrorCode::InvalidArgument,
            "the rank folder mixes .ckpt and .safetensors files; choose one with a checkpoint name pattern",
            rankDir.string());
    auto& names = ckpt.empty() ? safetensors : ckpt;
    if (names.empty())
        return fail(ErrorCode::NotFound,
                    nameGlob.empty() ? "the rank folder holds no .ckpt or .safetensors file"
                                     : "no checkpoint file in the rank folder matches '" + nameGlob + "'",
                    rankDir.string());
    std::ranges::sort(names);
    if (candidates) *candidates = names.size();
    return rankDir / names.back();
}

Result<std::unique_ptr<DistributedSource>> openDistributedModel(const DistributedOptions& options,
                                                                std::vector<std::string>* notes,
                                                                const CancelToken* cancel) {
    auto source = DistributedSourceImpl::open(options, notes, cancel);
    if (!source) return std::unexpected(source.error());
    return std::unique_ptr<DistributedSource>(std::move(*source));
}

Result<std::unique_ptr<ModelSource>> openDistributedSource(const DistributedOptions& options,
                                                           std::vector<std::string>* notes,
                                                           const CancelToken* cancel) {
    auto source = DistributedSourceImpl::open(options, notes, cancel);
    if (!source) return std::unexpected(source.error());
    return std::unique_ptr<ModelSource>(std::move(*source));
}

bool looksDistributed(const fs::path& dir) {
    auto folders = findRankFolders(dir);
    return folders && !folders->empty();
}

}  // namespace lms
