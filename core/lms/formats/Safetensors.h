#pragma once
// MindSpore safetensors files (spec §1.9): content sniffing and a streaming writer. Reading is
// done by CheckpointFile (Checkpoint.h), which detects the format with looksLikeSafetensors().
//
// File layout: u64 LE header length N, N bytes of UTF-8 JSON, then the data area. The JSON holds
// "__metadata__": {str: str} and per tensor {"dtype", "shape", "data_offsets": [begin, end]}
// relative to the data area. MindSpore's reader checks the entries in header order, so header
// order must equal data order and the offsets must be gap-free from 0 (spec §6.19).

#include "lms/base/DType.h"
#include "lms/base/Error.h"
#include "lms/formats/TensorSink.h"
#include "lms/io/FileIO.h"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace lms {

inline constexpr uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;  // MindSpore's and HF's limit

// True when the first 9 bytes are a u64 LE header length in [2, 100,000,000] followed by '{'.
// Fewer than 9 bytes: false.
bool looksLikeSafetensors(std::span<const std::byte> first9Bytes);

// One tensor as it will appear in the output, declared before any data is written.
struct SafetensorsTensor {
    std::string name;
    DType dtype = DType::Unknown;  // must have a safetensors dtype, or be Int4 (stored as I8)
    std::vector<int64_t> dims;  // as stored; a numeric legacy scalar (dims [0], one element) is written as []
    uint64_t byteSize = 0;
};

// Writes a MindSpore-compatible safetensors file in one pass: the header (compact JSON,
// "__metadata__" first, entries in data order with gap-free offsets, padded with spaces to a
// multiple of 8 bytes, as the Hugging Face writer does) goes out in create(), then tensor bytes
// are streamed in the declared order. Output goes through AtomicOutputFile: nothing appears under
// the final name until commit().
//
// Metadata: given pairs are written in the given order, with "format": "ms" always present
// (added first when missing, forced to "ms" otherwise). A "crc_num" entry is dropped, because it
// would describe other data (spec §1.6). Every Int4 tensor gets the "<name>": "Int4" entry
// MindSpore's loader uses to re-type it (spec §1.9); its bytes are stored as dtype I8 with the
// tensor's dims, so prod(dims) must equal its byte size.
class SafetensorsWriter final : public TensorSink {
public:
    // Validates everything up front (InvalidArgument naming the parameter: duplicate or reserved
    // names, invalid UTF-8, negative dims, a byte size that does not match the dims; Unsupported for a
    // dtype safetensors cannot hold such as "str"), refuses to overwrite any of `inputs`, then
    // creates the unique temp file (AtomicOutputFile, publishing per `mode`) and writes the header.
    // The metadata's "format" is `format` whatever `metadata` says: "ms" for what MindSpore loads, "pt"
    // for a PEFT adapter (transformers' loader refuses other formats).
    [[nodiscard]] static Result<SafetensorsWriter> create(
        const std::filesystem::path& finalPath, const std::vector<std::filesystem::path>& inputs,
        std::vector<std::pair<std::string, std::string>> metadata, std::vector<SafetensorsTensor> tensors,
        Publish mode = Publish::Replace, std::string_view format = "ms");

    SafetensorsWriter(SafetensorsWriter&&) noexcept = default;
    SafetensorsWriter& operator=(SafetensorsWriter&&) noexcept = default;

    // `name` must be the next declared tensor, `typeName` its tensor_type (tensorTypeName(dtype)),
    // `dims` its declared dims (or the written shape) and `totalBytes` its byte size.
    [[nodiscard]] Status beginTensor(std::string_view name, std::string_view typeName,
                                     std::span<const int64_t> dims, uint64_t totalBytes) override;
    [[nodiscard]] Status append(std::span<const std::byte> data) override;
    // Whole tensor at once: beginTensor + append.
    [[nodiscard]] Status writeTensor(std::string_view name, std::string_view typeName,
                                     std::span<const int64_t> dims, std::span<const std::byte> content);
    // Fails (InvalidArgument) unless every declared tensor was written completely.
    [[nodiscard]] Status commit() override;
    [[nodiscard]] Status finish() override;
    [[nodiscard]] Status publish() override { return out_.publish(); }
    const std::filesystem::path& tempPath() const override { return out_.tempPath(); }
    void abandon() override { out_.abandon(); }
    uint64_t bytesWritten() const override { return out_.bytesWritten(); }

    const std::filesystem::path& finalPath() const { return out_.finalPath(); }
    uint64_t headerBytes() const { return headerBytes_; }  // the JSON length N (padding included)
    // The metadata actually written, in header order.
    const std::vector<std::pair<std::string, std::string>>& metadata() const { return metadata_; }

private:
    SafetensorsWriter() = default;

    AtomicOutputFile out_;
    std::vector<SafetensorsTensor> tensors_;
    std::vector<std::pair<std::string, std::string>> metadata_;
    uint64_t headerBytes_ = 0;
    size_t next_ = 0;  // index of the next tensor to begin
    uint64_t remainingInTensor_ = 0;
    bool open_ = false;  // a tensor has begun and may still need bytes
};

// The JSON header (without the 8-byte length, padding included) that SafetensorsWriter writes
// for these tensors and metadata, metadata already normalised. Exposed for tests.
std::string encodeSafetensorsHeader(const std::vector<SafetensorsTensor>& tensors,
                                    const std::vector<std::pair<std::string, std::string>>& metadata);

}  // namespace lms
