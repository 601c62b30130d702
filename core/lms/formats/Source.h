#pragma once
// A ModelSource is "the whole model, one full tensor at a time", whatever is behind it: one
// checkpoint file, or rank files reassembled through a parallel strategy (Distributed.h).
// The merge engine (Merge.h) and the planner only see this interface.

#include "lms/formats/Checkpoint.h"

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

namespace lms {

struct SourceTensor {
    std::string name;
    std::string typeName;  // tensor_type to write
    DType dtype = DType::Unknown;
    std::vector<int64_t> dims;  // full dims to write (legacy [0] scalars keep [0])
    TensorKind kind = TensorKind::Dense;
    bool legacyScalar = false;
    uint64_t byteSize = 0;  // bytes of the full tensor
    std::string origin;     // for people: "model.ckpt", "ranks 0,1", ...
};

// A tensor that exists verbatim as whole records of one .ckpt file, so the writer can copy its
// bytes unchanged (and without passing them through user space).
struct RawRecords {
    const CheckpointFile* file = nullptr;
    const TensorInfo* info = nullptr;
};

class ModelSource {
public:
    virtual ~ModelSource() = default;
    // One line for people: "full checkpoint model.ckpt", "8 ranks under model_dir/ (strategy ...)".
    virtual std::string description() const = 0;
    // Every tensor of the full model, in output order (first appearance).
    virtual const std::vector<SourceTensor>& tensors() const = 0;
    // Reads the full tensor `index` (byteSize bytes) into `out`. Thread-compatible: concurrent
    // calls for different indexes are allowed.
    [[nodiscard]] virtual Status read(size_t index, std::span<std::byte> out,
                                      const CancelToken* cancel) const = 0;
    // Reads rows [rowBegin, rowEnd) of the full tensor `index` (rows = dim 0, see rowCount()) into
    // `out` ((rowEnd - rowBegin) * rowBytes() bytes), so large tensors can stream through bounded
    // buffers. The default reads the whole tensor and copies the rows; sources override it to read
    // only what is needed.
    [[nodiscard]] virtual Status readRows(size_t index, int64_t rowBegin, int64_t rowEnd,
                                          std::span<std::byte> out, const CancelToken* cancel) const;

    // Verbatim records for `index`, when the tensor can be copied byte-identical from one file.
    virtual std::optional<RawRecords> rawRecords(size_t /*index*/) const { return std::nullopt; }
    // Every input file, so the writer can refuse to overwrite one.
    virtual std::vector<std::filesystem::path> inputFiles() const = 0;
    // Total bytes of the input files.
    virtual uint64_t inputBytes() const = 0;
    // Checks that can only run by reading bytes (e.g. CRC trailers); bounded memory.
    [[nodiscard]] virtual Status verifyInputs(const CancelToken* /*cancel*/) const { return {}; }
    // Sentences for the merge report about checks made when the source was opened (e.g. "replicas:
    // 84 replicated slices compared on 2 ranks, all identical"); runMerge adds them to its notes.
    virtual std::vector<std::string> reportNotes() const { return {}; }

private:
    // The default readRows keeps the last whole tensor it read, so consecutive row blocks of one
    // tensor cost one read.
    mutable std::mutex rowsCacheMutex_;
    mutable size_t rowsCacheIndex_ = SIZE_MAX;
    mutable std::vector<std::byte> rowsCache_;
};

// Rows of a tensor for streaming: dims[0] for a dense tensor with at least one dimension, 1 for
// scalars, legacy [0] scalars, strings, map tensors and opaque types (they stream as one row).
int64_t rowCount(const SourceTensor& tensor);
uint64_t rowBytes(const SourceTensor& tensor);  // byteSize / rowCount (0 when there are no rows)

// A single full checkpoint file (.ckpt or .safetensors).
[[nodiscard]] Result<std::unique_ptr<ModelSource>> openFullSource(const std::filesystem::path& path,
                                                                  const CancelToken* cancel = nullptr);
std::unique_ptr<ModelSource> makeFullSource(std::shared_ptr<CheckpointFile> file);

}  // namespace lms
