#pragma once
// Reading MindSpore checkpoints in two phases (spec §1):
//  1. CheckpointFile::open() streams the file record by record and builds an index — names,
//     tensor types, dims and the byte ranges of each parameter's chunks — without reading any
//     tensor bytes. Memory is proportional to the number of parameters, not their size.
//  2. readTensor() reads one parameter's bytes on demand with positional reads.
// Both `.ckpt` (protobuf records) and MindSpore `.safetensors` files are accepted; the format is
// detected from the content. Every length is checked against the bytes left in the file.

#include "lms/base/DType.h"
#include "lms/base/Error.h"
#include "lms/base/Progress.h"
#include "lms/io/FileIO.h"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace lms {

struct ByteRange {
    uint64_t offset = 0;
    uint64_t length = 0;
};

enum class TensorKind {
    Dense,      // a TensorProto: dims + tensor_type + content
    MapTensor,  // a MapParameter record (Value.maptensor): kept as opaque records
};

struct TensorInfo {
    std::string name;
    std::string typeName;  // tensor_type exactly as stored ("Float32", "str", ...)
    DType dtype = DType::Unknown;
    std::vector<int64_t> dims;  // as stored; [] = scalar
    TensorKind kind = TensorKind::Dense;
    bool legacyScalar = false;       // numeric dims [0] with one element (old MindSpore scalars)
    uint64_t byteSize = 0;           // total content bytes over all chunks
    std::vector<ByteRange> chunks;   // content bytes, in order
    std::vector<ByteRange> records;  // whole records (ckpt only), for byte-identical copies

    // Number of elements implied by dims (1 for a scalar or legacy scalar). For strings and
    // unknown types this is byteSize / element size when that is defined.
    uint64_t elementCount() const;
    // The shape MindSpore loads: [] for a legacy scalar, otherwise dims.
    std::vector<int64_t> logicalShape() const;
};

enum class CheckpointFormat { Ckpt, Safetensors };

struct CrcInfo {
    bool present = false;
    uint32_t stored = 0;
};

class CheckpointFile {
public:
    // Phase 1. Fails with Malformed (naming the byte offset) on truncated or foreign files,
    // Unsupported on encrypted ones. Honours `cancel` between records.
    [[nodiscard]] static Result<std::shared_ptr<CheckpointFile>> open(const std::filesystem::path& path,
                                                                      const CancelToken* cancel = nullptr);

    const std::string& path() const { return file_.path(); }
    CheckpointFormat format() const { return format_; }
    uint64_t fileSize() const { return file_.size(); }
    const std::vector<TensorInfo>& tensors() const { return tensors_; }
    const TensorInfo* find(std::string_view name) const;
    const InputFile& input() const { return file_; }
    const CrcInfo& crc() const { return crc_; }
    // Safetensors "__metadata__" (empty for .ckpt).
    const std::vector<std::pair<std::string, std::string>>& metadata() const { return metadata_; }

    // Phase 2: the parameter's content bytes (chunks concatenated). out.size() must equal
    // info.byteSize.
    [[nodiscard]] Status readTensor(const TensorInfo& info, std::span<std::byte> out) const;
    [[nodiscard]] Result<std::vector<std::byte>> readTensor(const TensorInfo& info) const;
    // `out.size()` content bytes of the parameter starting at content offset `offset` (across
    // chunk boundaries).
    [[nodiscard]] Status readRange(const TensorInfo& info, uint64_t offset, std::span<std::byte> out) const;

    // Recomputes the CRC-32 of the records and compares it with the trailer (a no-op without
    // one). Reads the file once in bounded blocks.
    [[nodiscard]] Status verifyCrc(const CancelToken* cancel = nullptr) const;

private:
    CheckpointFile() = default;
    [[nodiscard]] Status indexCkpt(const CancelToken* cancel);
    [[nodiscard]] Status indexSafetensors();

    InputFile file_;
    CheckpointFormat format_ = CheckpointFormat::Ckpt;
    CrcInfo crc_;
    uint64_t recordsEnd_ = 0;  // end of the record area (before a CRC trailer)
    std::vector<TensorInfo> tensors_;
    std::unordered_map<std::string, size_t> byName_;
    std::vector<std::pair<std::string, std::string>> metadata_;
};

// CRC-32 (zlib polynomial), continuing from `crc` (0 to start).
uint32_t crc32Update(uint32_t crc, std::span<const std::byte> data);

}  // namespace lms
