#pragma once
// Thin POSIX file helpers with errors as values: a read-only file for positional reads,
// and an atomic output file (unique temp file, fsync, no-clobber publish) that never leaves a
// partial file under the final name.

#include "lms/base/Error.h"

#include <cstddef>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace lms {

class InputFile {
public:
    [[nodiscard]] static Result<InputFile> open(const std::filesystem::path& path);
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
    [[nodiscard]] Status readAt(uint64_t offset, std::span<std::byte> out) const;

private:
    int fd_ = -1;
    uint64_t size_ = 0;
    std::string path_;
};

// How publish() treats an existing file under the final name.
enum class Publish {
    NoClobber,  // fail with "already exists" if the final name exists when publishing (atomically)
    Replace,    // atomically replace whatever is there
};

// Writes a new file beside its final path without ever showing a partial file under that name:
// an unnamed O_TMPFILE inode where the file system supports it (linked in by publish()), else a
// uniquely named "<final>.<random>.lms-tmp" created O_EXCL. Two writers of different (or the same)
// final names never share a temp file, and a killed run leaves at most its own unique temp file,
// which no later run opens. finish() flushes and fsyncs; publish() puts the file in place —
// with Publish::NoClobber via linkat()/renameat2(RENAME_NOREPLACE), so "already exists" is decided
// by the kernel at that moment, not by an earlier check. Destroying an unpublished file removes it.
// Errors name the final path (the file the user asked for), never the temp name.
class AtomicOutputFile {
public:
    [[nodiscard]] static Result<AtomicOutputFile> create(const std::filesystem::path& finalPath,
                                                         Publish mode = Publish::Replace);
    AtomicOutputFile() = default;
    AtomicOutputFile(AtomicOutputFile&& other) noexcept;
    AtomicOutputFile& operator=(AtomicOutputFile&& other) noexcept;
    AtomicOutputFile(const AtomicOutputFile&) = delete;
    AtomicOutputFile& operator=(const AtomicOutputFile&) = delete;
    ~AtomicOutputFile();

    [[nodiscard]] Status write(std::span<const std::byte> data);
    // Appends `length` bytes of `source` from `offset` (copy_file_range when the kernel allows,
    // otherwise a bounded read/write loop).
    [[nodiscard]] Status copyFrom(const InputFile& source, uint64_t offset, uint64_t length);
    uint64_t bytesWritten() const { return written_; }
    const std::filesystem::path& finalPath() const { return finalPath_; }
    // A path that opens the unpublished file for reading (verification): the unique temp name, or
    // /proc/self/fd/N for an unnamed file. Empty once published or abandoned.
    const std::filesystem::path& tempPath() const { return tempPath_; }
    bool isUnnamed() const { return unnamed_; }
    // finish() flushes, fsyncs (and for a named temp closes) the file; publish() puts it under the
    // final name. commit() does both. Until publish() succeeds, destruction or abandon() removes it.
    [[nodiscard]] Status finish();
    [[nodiscard]] Status publish();
    [[nodiscard]] Status commit();
    void abandon();  // removes the temp file now

private:
    [[nodiscard]] Status flushBuffer();
    [[nodiscard]] Status writeAll(std::span<const std::byte> data);
    [[nodiscard]] Status publishUnnamed();
    [[nodiscard]] Status publishNamed();
    void syncFolder() const;
    int fd_ = -1;
    bool pending_ = false;   // a temp file exists that is not yet published
    bool finished_ = false;  // finish() succeeded
    bool unnamed_ = false;   // O_TMPFILE: fd_ stays open until publish
    Publish mode_ = Publish::Replace;
    uint64_t written_ = 0;
    std::filesystem::path finalPath_, tempPath_;
    std::vector<std::byte> buffer_;  // small writes are coalesced
};

// The message publish() gives when Publish::NoClobber meets an existing file.
inline constexpr const char* kOutputExistsMessage =
    "the output file already exists; pass --overwrite to replace it or choose another --dst_ckpt_dir";

// Bytes available to an unprivileged user on the file system holding `path` (statvfs f_bavail ×
// f_frsize); `path` may be a file or a folder that does not exist yet (its nearest existing
// ancestor is asked).
[[nodiscard]] Result<uint64_t> freeSpace(const std::filesystem::path& path);

// True if both paths name the same existing file (same device and inode).
bool sameFile(const std::filesystem::path& a, const std::filesystem::path& b);

}  // namespace lms
