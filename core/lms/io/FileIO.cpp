#include "lms/io/FileIO.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>
#include <utility>

namespace lms {
namespace {

constexpr size_t kWriteBufferBytes = 1 << 20;

std::string osError(const char* what) {
    return std::string(what) + ": " + std::strerror(errno);
}

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

namespace {

// "<final>.<16 hex digits>.lms-tmp": unique per run, so concurrent runs and the leftovers of a
// killed one never collide with this run's temp file.
std::filesystem::path uniqueTempName(const std::filesystem::path& finalPath) {
    static thread_local std::mt19937_64 rng{std::random_device{}() ^ uint64_t(::getpid()) << 32};
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(rng()));
    auto name = finalPath;
    name += std::string(".") + hex + ".lms-tmp";
    return name;
}

std::filesystem::path folderOf(const std::filesystem::path& file) {
    return file.has_parent_path() ? file.parent_path() : std::filesystem::path(".");
}

// An unnamed file in `dir` (O_TMPFILE), usable only if /proc/self/fd can name it for linkat()
// and for re-reading: a chroot without /proc falls back to a named temp file.
int openUnnamed(const std::filesystem::path& dir) {
    if (::access("/proc/self/fd", X_OK) != 0) return -1;
    return ::open(dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
}

}  // namespace

Result<AtomicOutputFile> AtomicOutputFile::create(const std::filesystem::path& finalPath, Publish mode) {
    AtomicOutputFile out;
    out.finalPath_ = finalPath;
    out.mode_ = mode;
    out.fd_ = openUnnamed(folderOf(finalPath));
    if (out.fd_ >= 0) {
        out.unnamed_ = true;
        out.tempPath_ = "/proc/self/fd/" + std::to_string(out.fd_);
    } else {
        // O_EXCL | O_NOFOLLOW: never an existing file, never through a planted symlink.
        for (int attempt = 0; attempt < 64 && out.fd_ < 0; ++attempt) {
            out.tempPath_ = uniqueTempName(finalPath);
            out.fd_ =
                ::open(out.tempPath_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
            if (out.fd_ < 0 && errno != EEXIST) break;
        }
    }
    if (out.fd_ < 0) return fail(ErrorCode::Io, osError("cannot create output file"), finalPath.string());
    out.pending_ = true;
    out.buffer_.reserve(kWriteBufferBytes);
    return out;
}

AtomicOutputFile::AtomicOutputFile(AtomicOutputFile&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      pending_(std::exchange(other.pending_, false)),
      finished_(other.finished_),
      unnamed_(other.unnamed_),
      mode_(other.mode_),
      written_(other.written_),
      finalPath_(std::move(other.finalPath_)),
      tempPath_(std::move(other.tempPath_)),
      buffer_(std::move(other.buffer_)) {}

AtomicOutputFile& AtomicOutputFile::operator=(AtomicOutputFile&& other) noexcept {
    if (this != &other) {
        abandon();
        fd_ = std::exchange(other.fd_, -1);
        pending_ = std::exchange(other.pending_, false);
        finished_ = other.finished_;
        unnamed_ = other.unnamed_;
        mode_ = other.mode_;
        written_ = other.written_;
        finalPath_ = std::move(other.finalPath_);
        tempPath_ = std::move(other.tempPath_);
        buffer_ = std::move(other.buffer_);
    }
    return *this;
}

AtomicOutputFile::~AtomicOutputFile() {
    abandon();
}

void AtomicOutputFile::abandon() {
    if (fd_ >= 0) ::close(fd_);  // an unnamed file disappears with its last descriptor
    fd_ = -1;
    if (pending_ && !unnamed_) ::unlink(tempPath_.c_str());
    pending_ = false;
    tempPath_.clear();
}

Status AtomicOutputFile::writeAll(std::span<const std::byte> data) {
    size_t done = 0;
    while (done < data.size()) {
        const ssize_t n = ::write(fd_, data.data() + done, data.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            return fail(ErrorCode::Io, osError("write failed"), finalPath_.string());
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
    if (fd_ < 0) return fail(ErrorCode::Io, "output file is closed", finalPath_.string());
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
    if (fd_ < 0) return fail(ErrorCode::Io, "output file is closed", finalPath_.string());
    if (offset > source.size() || length > source.size() - offset)
        return fail(ErrorCode::Malformed, "record extends past the end of the file", source.path(), {},
                    offset);
    if (auto st = flushBuffer(); !st) return st;
    // copy_file_range lets the kernel move the bytes without a round trip through user space;
    // it is not available across all file systems, so fall back to a bounded copy loop.
    loff_t in = loff_t(offset);
    uint64_t left = length;
    while (left > 0) {
        const ssize_t n =
            ::copy_file_range(source.fd(), &in, fd_, nullptr, size_t(std::min<uint64_t>(left, 1u << 30)), 0);
        if (n > 0) {
            left -= uint64_t(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno != EXDEV && errno != ENOSYS && errno != EOPNOTSUPP && errno != EINVAL)
            return fail(ErrorCode::Io, osError("copy failed"), finalPath_.string());
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
    if (fd_ < 0 || finished_) return fail(ErrorCode::Io, "output file is closed", finalPath_.string());
    if (auto st = flushBuffer(); !st) return st;
    if (::fsync(fd_) != 0) return fail(ErrorCode::Io, osError("fsync failed"), finalPath_.string());
    finished_ = true;
    if (unnamed_) return {};  // closing would delete it: the descriptor lives until publish()
    const int fd = std::exchange(fd_, -1);
    if (::close(fd) != 0) return fail(ErrorCode::Io, osError("close failed"), finalPath_.string());
    return {};
}

Status AtomicOutputFile::publish() {
    if (!pending_ || !finished_)
        return fail(ErrorCode::Io, "output file is not finished", finalPath_.string());
    auto st = unnamed_ ? publishUnnamed() : publishNamed();
    if (!st) return st;
    pending_ = false;
    if (fd_ >= 0) ::close(std::exchange(fd_, -1));
    tempPath_.clear();
    syncFolder();
    return {};
}

// linkat() never replaces an existing name: that is the no-clobber publish. To replace, the inode
// is first linked under a unique name and then renamed over the target (rename is atomic).
Status AtomicOutputFile::publishUnnamed() {
    if (::linkat(AT_FDCWD, tempPath_.c_str(), AT_FDCWD, finalPath_.c_str(), AT_SYMLINK_FOLLOW) == 0)
        return {};
    if (errno != EEXIST)
        return fail(ErrorCode::Io, osError("cannot link the finished file into place"), finalPath_.string());
    if (mode_ == Publish::NoClobber)
        return fail(ErrorCode::InvalidArgument, kOutputExistsMessage, finalPath_.string(), "dst_ckpt_dir");
    std::filesystem::path named;
    int rc = -1;
    for (int attempt = 0; attempt < 64 && rc != 0; ++attempt) {
        named = uniqueTempName(finalPath_);
        rc = ::linkat(AT_FDCWD, tempPath_.c_str(), AT_FDCWD, named.c_str(), AT_SYMLINK_FOLLOW);
        if (rc != 0 && errno != EEXIST) break;
    }
    if (rc != 0)
        return fail(ErrorCode::Io, osError("cannot link the finished file into place"), finalPath_.string());
    if (::rename(named.c_str(), finalPath_.c_str()) != 0) {
        auto error =
            fail(ErrorCode::Io, osError("cannot rename the finished file into place"), finalPath_.string());
        ::unlink(named.c_str());
        return error;
    }
    return {};
}

Status AtomicOutputFile::publishNamed() {
    if (mode_ == Publish::Replace) {
        if (::rename(tempPath_.c_str(), finalPath_.c_str()) == 0) return {};
        return fail(ErrorCode::Io, osError("cannot rename the finished file into place"),
                    finalPath_.string());
    }
    int rc = ::renameat2(AT_FDCWD, tempPath_.c_str(), AT_FDCWD, finalPath_.c_str(), RENAME_NOREPLACE);
    if (rc != 0 && (errno == EINVAL || errno == ENOSYS)) {
        // No RENAME_NOREPLACE on this file system: link() fails on an existing name just as well.
        rc = ::link(tempPath_.c_str(), finalPath_.c_str());
        if (rc == 0) ::unlink(tempPath_.c_str());
    }
    if (rc == 0) return {};
    if (errno == EEXIST)
        return fail(ErrorCode::InvalidArgument, kOutputExistsMessage, finalPath_.string(), "dst_ckpt_dir");
    return fail(ErrorCode::Io, osError("cannot rename the finished file into place"), finalPath_.string());
}

// Makes the new directory entry itself durable.
void AtomicOutputFile::syncFolder() const {
    if (int dirFd = ::open(folderOf(finalPath_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dirFd >= 0) {
        ::fsync(dirFd);
        ::close(dirFd);
    }
}

Status AtomicOutputFile::commit() {
    if (auto st = finish(); !st) return st;
    return publish();
}

Result<uint64_t> freeSpace(const std::filesystem::path& path) {
    std::error_code ec;
    auto probe = std::filesystem::absolute(path, ec);
    if (ec) return fail(ErrorCode::Io, "cannot resolve the path: " + ec.message(), path.string());
    while (!std::filesystem::exists(probe, ec) && probe.has_parent_path() && probe != probe.parent_path())
        probe = probe.parent_path();
    struct statvfs info {};
    if (::statvfs(probe.c_str(), &info) != 0)
        return fail(ErrorCode::Io, osError("cannot read the free space"), probe.string());
    return uint64_t(info.f_bavail) * uint64_t(info.f_frsize);
}

bool sameFile(const std::filesystem::path& a, const std::filesystem::path& b) {
    struct stat sa {
    }, sb{};
    if (::stat(a.c_str(), &sa) != 0 || ::stat(b.c_str(), &sb) != 0) return false;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

}  // namespace lms
