#include "lms/formats/Source.h"

#include <cstring>

namespace lms {
namespace {

class FullSource final : public ModelSource {
public:
    explicit FullSource(std::shared_ptr<CheckpointFile> file) : file_(std::move(file)) {
        const auto origin = std::filesystem::path(file_->path()).filename().string();
        for (const auto& info : file_->tensors()) {
            SourceTensor t;
            t.name = info.name;
            t.typeName = info.typeName;
            t.dtype = info.dtype;
            t.dims = info.dims;
            t.kind = info.kind;
            t.legacyScalar = info.legacyScalar;
            t.byteSize = info.byteSize;
            t.origin = origin;
            tensors_.push_back(std::move(t));
        }
    }

    std::string description() const override {
        return std::string(file_->format() == CheckpointFormat::Safetensors ? "safetensors file "
                                                                            : "checkpoint ") +
               file_->path();
    }
    const std::vector<SourceTensor>& tensors() const override { return tensors_; }

    Status read(size_t index, std::span<std::byte> out, const CancelToken* cancel) const override {
        if (cancel && cancel->isCancelled()) return fail(ErrorCode::Cancelled, "cancelled", file_->path());
        return file_->readTensor(file_->tensors().at(index), out);
    }

    Status readRows(size_t index, int64_t rowBegin, int64_t rowEnd, std::span<std::byte> out,
                    const CancelToken* cancel) const override {
        if (cancel && cancel->isCancelled()) return fail(ErrorCode::Cancelled, "cancelled", file_->path());
        const uint64_t stride = rowBytes(tensors_.at(index));
        if (rowBegin < 0 || rowEnd < rowBegin || out.size() != uint64_t(rowEnd - rowBegin) * stride)
            return fail(ErrorCode::InvalidArgument, "row range does not match the buffer", file_->path(),
                        tensors_.at(index).name);
        return file_->readRange(file_->tensors().at(index), uint64_t(rowBegin) * stride, out);
    }

    std::optional<RawRecords> rawRecords(size_t index) const override {
        if (file_->format() != CheckpointFormat::Ckpt) return std::nullopt;
        return RawRecords{file_.get(), &file_->tensors().at(index)};
    }

    std::vector<std::filesystem::path> inputFiles() const override { return {file_->path()}; }
    uint64_t inputBytes() const override { return file_->fileSize(); }
    Status verifyInputs(const CancelToken* cancel) const override { return file_->verifyCrc(cancel); }

private:
    std::shared_ptr<CheckpointFile> file_;
    std::vector<SourceTensor> tensors_;
};

}  // namespace

int64_t rowCount(const SourceTensor& tensor) {
    const bool rowed = tensor.kind == TensorKind::Dense && !tensor.dims.empty() && !tensor.legacyScalar &&
                       dtypeBits(tensor.dtype) >= 8 && tensor.dtype != DType::String;
    if (!rowed) return 1;
    return tensor.dims[0];
}

uint64_t rowBytes(const SourceTensor& tensor) {
    const int64_t rows = rowCount(tensor);
    return rows > 0 ? tensor.byteSize / uint64_t(rows) : 0;
}

Status ModelSource::readRows(size_t index, int64_t rowBegin, int64_t rowEnd, std::span<std::byte> out,
                             const CancelToken* cancel) const {
    const auto& t = tensors().at(index);
    const uint64_t stride = rowBytes(t);
    if (rowBegin < 0 || rowEnd < rowBegin || rowEnd > rowCount(t) ||
        out.size() != uint64_t(rowEnd - rowBegin) * stride)
        return fail(ErrorCode::InvalidArgument, "row range outside the tensor", {}, t.name);
    if (out.empty()) return {};
    std::lock_guard lock(rowsCacheMutex_);
    if (rowsCacheIndex_ != index) {
        rowsCacheIndex_ = SIZE_MAX;
        rowsCache_.assign(size_t(t.byteSize), std::byte{0});
        if (auto st = read(index, rowsCache_, cancel); !st) return st;
        rowsCacheIndex_ = index;
    }
    std::memcpy(out.data(), rowsCache_.data() + uint64_t(rowBegin) * stride, out.size());
    if (rowEnd == rowCount(t)) {  // the last rows: release the memory
        rowsCacheIndex_ = SIZE_MAX;
        std::vector<std::byte>().swap(rowsCache_);
    }
    return {};
}

std::unique_ptr<ModelSource> makeFullSource(std::shared_ptr<CheckpointFile> file) {
    return std::make_unique<FullSource>(std::move(file));
}

Result<std::unique_ptr<ModelSource>> openFullSource(const std::filesystem::path& path,
                                                    const CancelToken* cancel) {
    auto file = CheckpointFile::open(path, cancel);
    if (!file) return std::unexpected(file.error());
    return makeFullSource(std::move(*file));
}

}  // namespace lms
