#include "lms/distributed/Assembled.h"

#include "lms/base/Text.h"

#include <cstring>

namespace lms {
namespace {

Status checkPiece(const AssembledTensor& t, const StoredPiece& piece,
                  const std::vector<std::shared_ptr<CheckpointFile>>& files) {
    const auto& file = *files.at(piece.file);
    const auto& info = *piece.info;
    if (info.dtype != t.tensor.dtype)
        return fail(ErrorCode::Mismatch,
                    "stored as " + info.typeName + " but the index says " + t.tensor.typeName, file.path(),
                    t.tensor.name);
    const auto expected = piece.box.shape();
    const auto stored = info.logicalShape();
    if (stored != expected && !(expected.empty() && stored == std::vector<int64_t>{1}))
        return fail(ErrorCode::Mismatch,
                    "stored shape " + formatDims(stored) + " but its piece " + piece.box.text() + " of " +
                        formatDims(t.tensor.dims) + " needs " + formatDims(expected),
                    file.path(), t.tensor.name);
    return {};
}

class AssembledSource final : public ModelSource {
public:
    AssembledSource(std::string description, std::vector<std::shared_ptr<CheckpointFile>> files,
                    std::vector<AssembledTensor> tensors)
        : description_(std::move(description)), files_(std::move(files)), assembled_(std::move(tensors)) {
        for (const auto& t : assembled_) tensors_.push_back(t.tensor);
    }

    std::string description() const override { return description_; }
    const std::vector<SourceTensor>& tensors() const override { return tensors_; }

    Status read(size_t index, std::span<std::byte> out, const CancelToken* cancel) const override {
        return readRows(index, 0, rowCount(tensors_.at(index)), out, cancel);
    }

    // A row range of the full tensor cuts each piece along dimension 0 only, so the rows a piece
    // contributes are contiguous in its file and land as runs of the output rows.
    Status readRows(size_t index, int64_t rowBegin, int64_t rowEnd, std::span<std::byte> out,
                    const CancelToken* cancel) const override {
        const auto& t = assembled_.at(index);
        const uint64_t stride = rowBytes(t.tensor);
        if (rowBegin < 0 || rowEnd < rowBegin || rowEnd > rowCount(t.tensor) ||
            out.size() != uint64_t(rowEnd - rowBegin) * stride)
            return fail(ErrorCode::InvalidArgument, "row range outside the tensor", {}, t.tensor.name);
        if (cancel && cancel->isCancelled())
            return fail(ErrorCode::Cancelled, "cancelled", {}, t.tensor.name);
        const bool rowed =
            !t.tensor.dims.empty() && !t.tensor.legacyScalar && rowCount(t.tensor) == t.tensor.dims[0];
        if (!rowed) return readWhole(t, out);
        for (const auto& piece : t.pieces)
            if (auto st = readPieceRows(t, piece, rowBegin, rowEnd, out); !st) return st;
        return {};
    }

    std::vector<std::filesystem::path> inputFiles() const override {
        std::vector<std::filesystem::path> out;
        for (const auto& f : files_) out.emplace_back(f->path());
        return out;
    }
    uint64_t inputBytes() const override {
        uint64_t total = 0;
        for (const auto& f : files_) total += f->fileSize();
        return total;
    }

private:
    // Scalars and tensors that do not stream by rows are one piece, read whole.
    Status readWhole(const AssembledTensor& t, std::span<std::byte> out) const {
        if (t.pieces.size() != 1)
            return fail(ErrorCode::Unsupported, "a tensor without rows stored in several pieces", {},
                        t.tensor.name);
        return files_.at(t.pieces[0].file)->readTensor(*t.pieces[0].info, out);
    }

    Status readPieceRows(const AssembledTensor& t, const StoredPiece& piece, int64_t rowBegin, int64_t rowEnd,
                         std::span<std::byte> out) const {
        const int64_t first = std::max(rowBegin, piece.box.begin[0]);
        const int64_t last = std::min(rowEnd, piece.box.end[0]);
        if (first >= last) return {};
        const uint64_t elementBytes = dtypeBits(t.tensor.dtype) / 8;
        Box rows = piece.box;
        rows.begin[0] = first - rowBegin;
        rows.end[0] = last - rowBegin;
        const uint64_t pieceRowBytes = piece.info->byteSize / uint64_t(piece.box.end[0] - piece.box.begin[0]);
        buffer_.resize(size_t(uint64_t(last - first) * pieceRowBytes));
        const auto& file = *files_.at(piece.file);
        if (auto st =
                file.readRange(*piece.info, uint64_t(first - piece.box.begin[0]) * pieceRowBytes, buffer_);
            !st) {
            auto error = st.error();
            if (error.parameter.empty()) error.parameter = t.tensor.name;
            return std::unexpected(error);
        }
        std::vector<int64_t> blockShape = t.tensor.dims;
        blockShape[0] = rowEnd - rowBegin;
        forEachContiguousRun(blockShape, rows, elementBytes, [&](uint64_t from, uint64_t to, uint64_t n) {
            std::memcpy(out.data() + to, buffer_.data() + from, n);
        });
        return {};
    }

public:
    AssembledView view() const { return {&files_, &assembled_}; }

private:
    std::string description_;
    std::vector<std::shared_ptr<CheckpointFile>> files_;
    std::vector<AssembledTensor> assembled_;
    std::vector<SourceTensor> tensors_;
    static thread_local std::vector<std::byte> buffer_;
};

thread_local std::vector<std::byte> AssembledSource::buffer_;

}  // namespace

std::optional<AssembledView> assembledView(const ModelSource& source) {
    if (const auto* assembled = dynamic_cast<const AssembledSource*>(&source)) return assembled->view();
    return std::nullopt;
}

Result<std::unique_ptr<ModelSource>> makeAssembledSource(std::string description,
                                                         const std::filesystem::path& indexFile,
                                                         std::vector<std::shared_ptr<CheckpointFile>> files,
                                                         std::vector<AssembledTensor> tensors) {
    for (const auto& t : tensors) {
        std::vector<Box> boxes;
        for (const auto& piece : t.pieces) {
            if (auto st = checkPiece(t, piece, files); !st) return std::unexpected(st.error());
            boxes.push_back(piece.box);
        }
        if (t.pieces.empty()) return fail(ErrorCode::Malformed, "no stored piece", {}, t.tensor.name);
        if (auto st = checkExactCover(boxes, t.tensor.dims, t.tensor.name); !st) {
            auto error = st.error();
            error.file = indexFile.string();
            return std::unexpected(error);
        }
    }
    return std::unique_ptr<ModelSource>(
        new AssembledSource(std::move(description), std::move(files), std::move(tensors)));
}

}  // namespace lms
