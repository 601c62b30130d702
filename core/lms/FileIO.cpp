#include "lms/FileIO.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>
#include <algorithm>

namespace lms {
namespace {

constexpr size_t kWriteBufferBytes = 1 << 20;

std::string osError(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

}  // namespace

Result<InputFile> InputFile::open(const std::filesystem::path& path) {
    InputFile file;
    file.path_ = path.string();
    file.fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (file.fd_ < 0) {
        const auto code = errno == ENOENT ? ErrorCode::NotFound : ErrorCode::Io;
        return fail(code, osError("cannot open for reading"), file.path_);
    }
    struct stat st {};
    if (::fstat(file.fd_, &st) != 0) return fail(ErrorCode::Io, osError("cannot stat"), file.path_);
    if (S_ISDIR(st.st_mode)) return fail(ErrorCode::InvalidArgument, "is a folder, not a file", file.path_);
    if (!S_ISREG(st.st_mode)) return fail(ErrorCode::InvalidArgument, "is not a regular file", file.path_);
    file.size_ = uint64_t(st.st_size);
    ::posix_fadvise(file.fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
    return file;
}

InputFile::InputFile(InputFile&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), size_(other.size_), path_(std::move(other.path_)) {}

InputFile& InputFile::operator=(InputFile&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = std::exchange(other.fd_, -1);
        size_ = other.size_;
        path_ = std::move(other.path_);
    }
    return *this;
}

InputFile::~InputFile() {
    if (fd_ >= 0) ::close(fd_);
}

Status InputFile::readAt(uint64_t offset, std::span<std::byte> out) const {
    if (offset > size_ || out.size() > size_ - offset)
        return fail(ErrorCode::Malformed,
                    "unexpected end of file (need " + std::to_string(out.size()) + " bytes, " +
                        std::to_string(offset > size_ ? 0 : size_ - offset) + " left)",
                    path_, {}, offset);
    size_t done = 0;
    while (done < out.size()) {
        const ssize_t n = ::pread(fd_, out.data() + done, out.size() - done, off_t(offset + done));
        if (n < 0) {
            if (errno == EINTR) continue;
            return fail(ErrorCode::Io, osError("read failed"), path_, {}, offset + done);
        }
        if (n == 0) return fail(ErrorCode::Io, "file shrank while reading", path_, {}, offset + done);
        done += size_t(n);
    }
    return {};
}

Result<AtomicOutputFile> AtomicOutputFile::create(const std::filesystem::path& finalPath) {
    AtomicOutputFile out;
    out.finalPath_ = finalPath;
    out.tempPath_ = finalPath;
    out.tempPath_ += ".tmp";
    // A stale temp file (e.g. from a killed run) is replaced; a symlink planted there is removed,
    // never followed, so the merge cannot write through it into another file.
    ::unlink(out.tempPath_.c_str());
    out.fd_ = ::open(out.tempPath_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (out.fd_ < 0) return fail(ErrorCode::Io, osError("cannot create output file"), out.tempPath_.string());
    out.pending_ = true;
    out.buffer_.reserve(kWriteBufferBytes);
    return out;
}

AtomicOutputFile::AtomicOutputFile(AtomicOutputFile&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      pending_(std::exchange(other.pending_, false)),
      written_(other.written_),
      finalPath_(std::move(other.finalPath_)),
      tempPath_(std::move(other.tempPath_)),
      buffer_(std::move(other.buffer_)) {}

AtomicOutputFile& AtomicOutputFile::operator=(AtomicOutputFile&& other) noexcept {
    if (this != &other) {
        abandon();
        fd_ = std::exchange(other.fd_, -1);
        pending_ = std::exchange(other.pending_, false);
        written_ = other.written_;
        finalPath_ = std::move(other.finalPath_);
        tempPath_ = std::move(other.tempPath_);
        buffer_ = std::move(other.buffer_);
    }
    return *this;
}

AtomicOutputFile::~AtomicOutputFile() { abandon(); }

void AtomicOutputFile::abandon() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    if (pending_) ::unlink(tempPath_.c_str());
    pending_ = false;
}

Status AtomicOutputFile::writeAll(std::span<const std::byte> data) {
    size_t done = 0;
    while (done < data.size()) {
        const ssize_t n = ::write(fd_, data.data() + done, data.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            return fail(ErrorCode::Io, osError("write failed"), tempPath_.string());
        }
        done += size_t(n);
    }
    return {};
}

Status AtomicOutputFile::flushBuffer() {
    auto st = writeAll(buffer_);
    buffer_.clear();
    return st;
}

Status AtomicOutputFile::write(std::span<const std::byte> data) {
    if (fd_ < 0) return fail(ErrorCode::Io, "output file is closed", tempPath_.string());
    written_ += data.size();
    if (buffer_.size() + data.size() <= kWriteBufferBytes) {
        buffer_.insert(buffer_.end(), data.begin(), data.end());
        return {};
    }
    if (auto st = flushBuffer(); !st) return st;
    if (data.size() < kWriteBufferBytes) {
        buffer_.insert(buffer_.end(), data.begin(), data.end());
        return {};
    }
    return writeAll(data);  // large block: no copy through the buffer
}

Status AtomicOutputFile::copyFrom(const InputFile& source, uint64_t offset, uint64_t length) {
    if (fd_ < 0) return fail(ErrorCode::Io, "output file is closed", tempPath_.string());
    if (offset > source.size() || length > source.size() - offset)
        return fail(ErrorCode::Malformed, "record extends past the end of the file", source.path(), {}, offset);
    if (auto st = flushBuffer(); !st) return st;
    // copy_file_range lets the kernel move the bytes without a round trip through user space;
    // it is not available across all file systems, so fall back to a bounded copy loop.
    loff_t in = loff_t(offset);
    uint64_t left = length;
    while (left > 0) {
        const ssize_t n = ::copy_file_range(source.fd(), &in, fd_, nullptr, size_t(std::min<uint64_t>(left, 1u << 30)), 0);
        if (n > 0) {
            left -= uint64_t(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno != EXDEV && errno != ENOSYS && errno != EOPNOTSUPP && errno != EINVAL)
            return fail(ErrorCode::Io, osError("copy failed"), tempPath_.string());
        break;  // n == 0 (source shrank) or unsupported: fall back
    }
    std::vector<std::byte> block(std::min<uint64_t>(left, 4u << 20));
    while (left > 0) {
        const size_t n = size_t(std::min<uint64_t>(left, block.size()));
        if (auto st = source.readAt(uint64_t(in), std::span(block.data(), n)); !st) return st;
        if (auto st = writeAll(std::span(block.data(), n)); !st) return st;
        in += loff_t(n);
        left -= n;
    }
    written_ += length;
    return {};
}

Status AtomicOutputFile::finish() {
    if (fd_ < 0) return fail(ErrorCode::Io, "output file is closed", tempPath_.string());
    if (auto st = flushBuffer(); !st) return st;
    if (::fsync(fd_) != 0) return fail(ErrorCode::Io, osError("fsync failed"), tempPath_.string());
    const int fd = std::exchange(fd_, -1);
    if (::close(fd) != 0) return fail(ErrorCode::Io, osError("close failed"), tempPath_.string());
    return {};
}

Status AtomicOutputFile::publish() {
    if (!pending_ || fd_ >= 0) return fail(ErrorCode::Io, "output file is not finished", tempPath_.string());
    if (::rename(tempPath_.c_str(), finalPath_.c_str()) != 0)
        return fail(ErrorCode::Io, osError("cannot rename the finished file into place"), finalPath_.string());
    pending_ = false;
    // Make the rename itself durable.
    const auto dir = finalPath_.has_parent_path() ? finalPath_.parent_path() : std::filesystem::path(".");
    if (int dirFd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dirFd >= 0) {
        ::fsync(dirFd);
        ::close(dirFd);
    }
    return {};
}

Status AtomicOutputFile::commit() {
    if (auto st = finish(); !st) return st;
    return publish();
}

bool sameFile(const std::filesystem::path& a, const std::filesystem::path& b) {
    struct stat sa {}, sb {};
    if (::stat(a.c_str(), &sa) != 0 || ::stat(b.c_str(), &sb) != 0) return false;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

}  // namespace lms
