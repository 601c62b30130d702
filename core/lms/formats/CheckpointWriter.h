#pragma once
// Writes MindSpore-compatible `.ckpt` files (spec §1.3): one Value per record, exact tensor_type
// strings, full dims on every chunk, chunks of at most 536,870,912 bytes. Output goes through
// AtomicOutputFile: nothing appears under the final name until commit().

#include "lms/formats/Checkpoint.h"
#include "lms/formats/TensorSink.h"
#include "lms/io/FileIO.h"

#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace lms {

inline constexpr uint64_t kMaxChunkBytes = 536'870'912;  // 1024 * SLICE_SIZE, spec §1.3

class CheckpointWriter final : public TensorSink {
public:
    // `inputs` are files that must never be overwritten (the sources of this run); `mode` says
    // whether publishing may replace an existing file (AtomicOutputFile).
    [[nodiscard]] static Result<CheckpointWriter> create(const std::filesystem::path& finalPath,
                                                         const std::vector<std::filesystem::path>& inputs,
                                                         Publish mode = Publish::Replace);

    // Whole tensor at once.
    [[nodiscard]] Status writeTensor(std::string_view name, std::string_view typeName,
                                     std::span<const int64_t> dims, std::span<const std::byte> content);
    // Streaming: begin with the total size, then append exactly that many bytes in any pieces.
    [[nodiscard]] Status beginTensor(std::string_view name, std::string_view typeName,
                                     std::span<const int64_t> dims, uint64_t totalBytes) override;
    [[nodiscard]] Status append(std::span<const std::byte> data) override;
    // Copies a tensor's records byte-identical from a .ckpt file.
    [[nodiscard]] Status copyRecords(const CheckpointFile& source, const TensorInfo& info);

    // Records are cut at this many content bytes (spec §1.3); tests use small values.
    void setMaxChunkBytes(uint64_t bytes) { maxChunkBytes_ = bytes ? bytes : kMaxChunkBytes; }
    uint64_t bytesWritten() const override { return out_.bytesWritten(); }
    const std::filesystem::path& finalPath() const { return out_.finalPath(); }
    // finish() completes the temp file (so it can be verified), publish() renames it into place;
    // commit() does both. Until published, destroying the writer removes the temp file.
    [[nodiscard]] Status finish() override;
    [[nodiscard]] Status publish() override { return out_.publish(); }
    [[nodiscard]] Status commit() override;
    const std::filesystem::path& tempPath() const override { return out_.tempPath(); }
    void abandon() override { out_.abandon(); }

private:
    [[nodiscard]] Status startChunk();
    AtomicOutputFile out_;
    std::string name_, typeName_;
    std::vector<int64_t> dims_;
    uint64_t remainingInTensor_ = 0, remainingInChunk_ = 0;
    uint64_t maxChunkBytes_ = kMaxChunkBytes;
    bool open_ = false;
};

// Encodes one checkpoint record header (0x0A len Value{tag, tensor{dims, type, content-len}})
// for a chunk of `contentBytes`; the content bytes follow it. Exposed for tests.
std::vector<std::byte> encodeRecordHeader(std::string_view name, std::string_view typeName,
                                          std::span<const int64_t> dims, uint64_t contentBytes);

}  // namespace lms
