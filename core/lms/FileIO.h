#pragma once
// Thin POSIX file helpers with errors as values: a read-only file for positional reads,
// and an atomic output file (write "<name>.tmp", fsync, rename) that never leaves a
// partial file under the final name.

#include "lms/Error.h"

#include <cstddef>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace lms {

class InputFile {
public:
    static Result<InputFile> open(const std::filesystem::path& path);
    InputFile() = default;
    InputFile(InputFile&& other) noexcept;
    InputFile& operator=(InputFile&& other) noexcept;
    InputFile(const InputFile&) = delete;
    InputFile& operator=(const InputFile&) = delete;
    ~InputFile();

    const std::string& path() const { return path_; }
    uint64_t size() const { return size_; }
    int fd() const { return fd_; }
    // Reads exactly out.size() bytes at `offset`; an error if the file is shorter or the read fails.
    Status readAt(uint64_t offset, std::span<std::byte> out) const;

private:
    int fd_ = -1;
    uint64_t size_ = 0;
    std::string path_;
};

// Writes to "<final>.tmp" next to the final path; commit() fsyncs and renames. Destroying an
// uncommitted file (error, cancel) removes the temp file, so nothing is left behind.
class AtomicOutputFile {
public:
    static Result<AtomicOutputFile> create(const std::filesystem::path& finalPath);
    AtomicOutputFile() = default;
    AtomicOutputFile(AtomicOutputFile&& other) noexcept;
    AtomicOutputFile& operator=(AtomicOutputFile&& other) noexcept;
    AtomicOutputFile(const AtomicOutputFile&) = delete;
    AtomicOutputFile& operator=(const AtomicOutputFile&) = delete;
    ~AtomicOutputFile();

    Status write(std::span<const std::byte> data);
    // Appends `length` bytes of `source` from `offset` (copy_file_range when the kernel allows,
    // otherwise a bounded read/write loop).
    Status copyFrom(const InputFile& source, uint64_t offset, uint64_t length);
    uint64_t bytesWritten() const { return written_; }
    const std::filesystem::path& finalPath() const { return finalPath_; }
    const std::filesystem::path& tempPath() const { return tempPath_; }
    // finish() flushes, fsyncs and closes the temp file; publish() renames it to the final name.
    // commit() does both. Until publish() succeeds, destruction or abandon() removes the temp file.
    Status finish();
    Status publish();
    Status commit();
    void abandon();  // removes the temp file now

private:
    Status flushBuffer();
    Status writeAll(std::span<const std::byte> data);
    int fd_ = -1;
    bool pending_ = false;  // a temp file exists that is not yet published
    uint64_t written_ = 0;
    std::filesystem::path finalPath_, tempPath_;
    std::vector<std::byte> buffer_;  // small writes are coalesced
};

// True if both paths name the same existing file (same device and inode).
bool sameFile(const std::filesystem::path& a, const std::filesystem::path& b);

}  // namespace lms
