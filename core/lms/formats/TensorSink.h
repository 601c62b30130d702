#pragma once
// The common streaming interface of the output writers (CheckpointWriter for .ckpt,
// SafetensorsWriter for .safetensors), so the merge engine can write either format.
//
// Protocol: for each parameter, beginTensor() with its total size, then append() exactly that many
// bytes in any pieces; finally commit() (everything written, file published under its final name)
// or abandon() (nothing is left behind). Destroying an uncommitted sink abandons it.

#include "lms/base/Error.h"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string_view>

namespace lms {

class TensorSink {
public:
    virtual ~TensorSink() = default;

    // Starts the next parameter. `typeName` is the MindSpore tensor_type ("BFloat16", "Float32", ...)
    // and `dims` the stored dims; `totalBytes` is the content size that append() must deliver.
    [[nodiscard]] virtual Status beginTensor(std::string_view name, std::string_view typeName,
                                             std::span<const int64_t> dims, uint64_t totalBytes) = 0;
    // Appends content bytes of the current parameter; more than declared is an error.
    [[nodiscard]] virtual Status append(std::span<const std::byte> data) = 0;
    // Checks that every parameter is complete, then publishes the file atomically.
    [[nodiscard]] virtual Status commit() = 0;
    // commit() in two steps, so the finished temp file can be verified before anyone sees it:
    // finish() checks completeness, flushes, fsyncs and closes; publish() renames into place.
    [[nodiscard]] virtual Status finish() = 0;
    [[nodiscard]] virtual Status publish() = 0;
    virtual const std::filesystem::path& tempPath() const = 0;
    // Discards the output (removes the temporary file) now.
    virtual void abandon() = 0;
    // Bytes written to the output file so far, headers included.
    virtual uint64_t bytesWritten() const = 0;

protected:
    TensorSink() = default;
    TensorSink(const TensorSink&) = default;
    TensorSink(TensorSink&&) = default;
    TensorSink& operator=(const TensorSink&) = default;
    TensorSink& operator=(TensorSink&&) = default;
};

}  // namespace lms
