#include "lms/formats/Checkpoint.h"

#include "lms/base/Log.h"
#include "lms/formats/Safetensors.h"
#include "lms/io/Wire.h"

#include <zlib.h>
#include <algorithm>
#include <array>
#include <cstring>

namespace lms {
namespace {

constexpr uint64_t kMaxNameBytes = 1 << 20;  // a parameter name longer than 1 MiB is not a name
constexpr uint64_t kMaxDims = 64;            // more dimensions than any real tensor has
constexpr size_t kWindowBytes = 1 << 20;     // index reads go through a 1 MiB window
constexpr uint64_t kCrcTrailerBytes = 17;    // "crc_num" + 10-byte big-endian integer

constexpr std::array<uint32_t, 3> kEncryptedMagics{0x7F3A5ED8u, 0x7F3A5ED9u, 0x7F3A5EDAu};
constexpr std::array<const char*, 3> kEncryptedModes{"AES-GCM", "AES-CBC", "SM4-CBC"};

// Positional reads through a window so that indexing many small records costs few syscalls.
// Every access is bounds-checked against a caller-given limit (the end of the enclosing message).
class WindowReader {
public:
    explicit WindowReader(const InputFile& file) : file_(file), window_(kWindowBytes) {}

    // Makes [pos, pos + n) available; n <= kWindowBytes.
    Result<const std::byte*> bytes(uint64_t pos, size_t n) {
        if (pos < start_ || pos + n > start_ + length_) {
            const uint64_t left = file_.size() - std::min(pos, file_.size());
            const size_t want = size_t(std::min<uint64_t>(kWindowBytes, left));
            if (want < n) return fail(ErrorCode::Malformed, "unexpected end of file", file_.path(), {}, pos);
            if (auto st = file_.readAt(pos, std::span(window_.data(), want)); !st)
                return std::unexpected(st.error());
            start_ = pos;
            length_ = want;
        }
        return window_.data() + (pos - start_);
    }

    // A protobuf field key at `pos` (advanced past it): field number, wire type, where it began.
    struct Key {
        uint64_t field;
        uint32_t wire;
        uint64_t at;
    };
    Result<Key> key(uint64_t& pos, uint64_t limit) {
        const uint64_t at = pos;
        auto value = varint(pos, limit);
        if (!value) return std::unexpected(value.error());
        return Key{*value >> 3, uint32_t(*value & 7), at};
    }

    // Reads a base-128 varint at `pos` (advanced past it); it must end before `limit`.
    Result<uint64_t> varint(uint64_t& pos, uint64_t limit) {
        if (pos >= limit) return fail(ErrorCode::Malformed, "truncated varint", file_.path(), {}, pos);
        // A varint has at most 10 bytes: make those (or the bytes up to `limit`) visible at once.
        const size_t n = size_t(std::min<uint64_t>(wire::kMaxVarintBytes, limit - pos));
        auto b = bytes(pos, n);
        if (!b) return std::unexpected(b.error());
        size_t used = 0;
        uint64_t value = 0;
        switch (wire::decodeVarint(std::span(*b, n), used, value)) {
            case wire::VarintStatus::Ok:
                pos += used;
                return value;
            case wire::VarintStatus::Truncated:
                return fail(ErrorCode::Malformed, "truncated varint", file_.path(), {}, limit);
            case wire::VarintStatus::Overlong:
                break;
        }
        return fail(ErrorCode::Malformed, "varint longer than 10 bytes", file_.path(), {}, pos);
    }

    // Reads a length prefix and checks that the field fits before `limit`.
    Result<uint64_t> length(uint64_t& pos, uint64_t limit, const std::string& parameter) {
        const uint64_t at = pos;
        auto len = varint(pos, limit);
        if (!len) return len;
        if (*len > limit - pos)
            return fail(ErrorCode::Malformed,
                        "field of " + std::to_string(*len) + " bytes overruns its message (" +
                            std::to_string(limit - pos) + " bytes left)",
                        file_.path(), parameter, at);
        return len;
    }

    Result<std::string> string(uint64_t pos, uint64_t n, const std::string& parameter) {
        if (n > kMaxNameBytes)
            return fail(ErrorCode::Malformed,
                        "string field of " + std::to_string(n) + " bytes is implausibly long", file_.path(),
                        parameter, pos);
        std::string out;
        out.reserve(size_t(n));
        while (n > 0) {
            const size_t take = size_t(std::min<uint64_t>(n, kWindowBytes));
            auto b = bytes(pos, take);
            if (!b) return std::unexpected(b.error());
            out.append(reinterpret_cast<const char*>(*b), take);
            pos += take;
            n -= take;
        }
        return out;
    }

    // Skips a field of wire type `wireType` starting at `pos`.
    Status skip(uint32_t wireType, uint64_t& pos, uint64_t limit, const std::string& parameter) {
        const uint64_t at = pos;
        switch (wireType) {
            case 0: {
                auto v = varint(pos, limit);
                if (!v) return std::unexpected(v.error());
                return {};
            }
            case 1:
            case 5: {
                const uint64_t n = wire::fixedSize(wireType);
                if (n > limit - pos)
                    return fail(ErrorCode::Malformed, "truncated fixed-size field", file_.path(), parameter,
                                at);
                pos += n;
                return {};
            }
            case 2: {
                auto len = length(pos, limit, parameter);
                if (!len) return std::unexpected(len.error());
                pos += *len;
                return {};
            }
            default:
                return fail(ErrorCode::Malformed, "invalid protobuf wire type " + std::to_string(wireType),
                            file_.path(), parameter, at);
        }
    }

private:
    const InputFile& file_;
    std::vector<std::byte> window_;
    uint64_t start_ = 0;
    size_t length_ = 0;
};

// One parsed record: a Checkpoint.Value.
struct Record {
    std::string tag;
    bool hasTensor = false, hasMap = false, hasType = false;
    std::string typeName;
    std::vector<int64_t> dims;
    ByteRange content;
    ByteRange whole;
};

Status parseTensorProto(WindowReader& reader, uint64_t pos, uint64_t end, Record& record,
                        const std::string& path) {
    while (pos < end) {
        auto key = reader.key(pos, end);
        if (!key) return std::unexpected(key.error());
        const auto [field, wire, fieldAt] = *key;
        // One dimension read up to `limit`; dims may come unpacked or packed (proto2 readers accept both).
        const auto appendDim = [&](uint64_t limit) -> Status {
            auto v = reader.varint(pos, limit);
            if (!v) return std::unexpected(v.error());
            if (int64_t(*v) < 0)
                return fail(ErrorCode::Malformed, "negative dimension", path, record.tag, fieldAt);
            if (record.dims.size() >= kMaxDims)
                return fail(ErrorCode::Malformed, "more than 64 dimensions", path, record.tag, fieldAt);
            record.dims.push_back(int64_t(*v));
            return {};
        };
        if (field == 1 && wire == 0) {  // dims, unpacked
            if (auto s = appendDim(end); !s) return s;
        } else if (field == 1 && wire == 2) {  // dims, packed
            auto len = reader.length(pos, end, record.tag);
            if (!len) return std::unexpected(len.error());
            const uint64_t packedEnd = pos + *len;
            while (pos < packedEnd)
                if (auto s = appendDim(packedEnd); !s) return s;
        } else if (field == 2 && wire == 2) {  // tensor_type
            auto len = reader.length(pos, end, record.tag);
            if (!len) return std::unexpected(len.error());
            if (*len > 64)
                return fail(ErrorCode::Malformed, "tensor_type string is too long", path, record.tag,
                            fieldAt);
            auto s = reader.string(pos, *len, record.tag);
            if (!s) return std::unexpected(s.error());
            record.typeName = std::move(*s);
            record.hasType = true;
            pos += *len;
        } else if (field == 3 && wire == 2) {  // tensor_content: note where it is, do not read it
            auto len = reader.length(pos, end, record.tag);
            if (!len) return std::unexpected(len.error());
            record.content = {pos, *len};
            pos += *len;
        } else {
            if (auto st = reader.skip(wire, pos, end, record.tag); !st) return st;
        }
    }
    if (!record.hasType)
        return fail(ErrorCode::Malformed, "tensor has no tensor_type", path, record.tag, end);
    return {};
}

Status parseValue(WindowReader& reader, uint64_t pos, uint64_t end, Record& record, const std::string& path) {
    const uint64_t valueStart = pos;
    uint64_t tensorStart = 0, tensorEnd = 0;
    bool hasTag = false;
    while (pos < end) {
        auto key = reader.key(pos, end);
        if (!key) return std::unexpected(key.error());
        const auto [field, wire, fieldAt] = *key;
        if (wire == 2 && (field == 1 || field == 2 || field == 3)) {
            auto len = reader.length(pos, end, record.tag);
            if (!len) return std::unexpected(len.error());
            if (field == 1) {
                auto s = reader.string(pos, *len, record.tag);
                if (!s) return std::unexpected(s.error());
                record.tag = std::move(*s);
                hasTag = true;
            } else if (field == 2) {
                tensorStart = pos;
                tensorEnd = pos + *len;
                record.hasTensor = true;
            } else {
                record.hasMap = true;
            }
            pos += *len;
        } else {
            if (field == 0)
                return fail(ErrorCode::Malformed, "invalid field number 0", path, record.tag, fieldAt);
            if (auto st = reader.skip(wire, pos, end, record.tag); !st) return st;
        }
    }
    if (!hasTag)
        return fail(ErrorCode::Malformed, "record has no parameter name (tag)", path, {}, valueStart);
    if (record.hasTensor && tensorEnd > tensorStart) {
        // A tag may be written before or after the tensor, so the tensor is parsed once the tag is known.
        return parseTensorProto(reader, tensorStart, tensorEnd, record, path);
    }
    if (record.hasTensor && !record.hasMap) {
        return fail(ErrorCode::Malformed, "record has an empty tensor", path, record.tag, valueStart);
    }
    if (!record.hasMap)
        return fail(ErrorCode::Malformed, "record holds neither a tensor nor a map tensor", path, record.tag,
                    valueStart);
    record.hasTensor = false;
    return {};
}

bool checkedProduct(std::span<const int64_t> dims, uint64_t& out) {
    uint64_t product = 1;
    for (int64_t d : dims)
        if (__builtin_mul_overflow(product, uint64_t(d), &product)) return false;
    out = product;
    return true;
}

// Checks content length against dims × element size (spec §6.2) and flags legacy scalars.
Status validateSize(TensorInfo& info, const std::string& path) {
    if (info.kind != TensorKind::Dense) return {};
    const unsigned bits = dtypeBits(info.dtype);
    if (info.dtype == DType::Unknown || info.dtype == DType::Int4) return {};  // opaque / layout unverified
    if (info.dtype == DType::String) {
        if (info.byteSize % 4 != 0)
            return fail(ErrorCode::Malformed, "string content is not a whole number of UCS-4 characters",
                        path, info.name, info.chunks.front().offset);
        return {};
    }
    uint64_t elements = 0, expected = 0;
    if (!checkedProduct(info.dims, elements) ||
        __builtin_mul_overflow(elements, uint64_t(bits / 8), &expected))
        return fail(ErrorCode::Malformed, "dims overflow a 64-bit size", path, info.name,
                    info.records.front().offset);
    if (info.dims.size() == 1 && info.dims[0] == 0 && info.byteSize == bits / 8) {
        info.legacyScalar = true;  // MindSpore 1.x scalar: dims [0] and one element
        return {};
    }
    if (expected != info.byteSize)
        return fail(ErrorCode::Malformed,
                    "content has " + std::to_string(info.byteSize) + " bytes but dims and " + info.typeName +
                        " need " + std::to_string(expected),
                    path, info.name, info.records.front().offset);
    return {};
}

std::string hexByte(uint8_t b) {
    static const char* digits = "0123456789ABCDEF";
    return std::string("0x") + digits[b >> 4] + digits[b & 15];
}

// The optional "crc_num" trailer: 7 ASCII bytes and a 10-byte big-endian integer at the very end.
Result<CrcInfo> readCrcTrailer(const InputFile& file) {
    const auto& name = file.path();
    if (file.size() < kCrcTrailerBytes) return CrcInfo{};
    std::array<std::byte, kCrcTrailerBytes> trailer{};
    if (auto st = file.readAt(file.size() - kCrcTrailerBytes, trailer); !st)
        return std::unexpected(st.error());
    if (std::memcmp(trailer.data(), "crc_num", 7) != 0) return CrcInfo{};
    uint64_t value = 0;
    for (size_t i = 7; i < kCrcTrailerBytes; ++i) {
        if (value >> 56) return fail(ErrorCode::Malformed, "crc_num trailer value overflows", name);
        value = (value << 8) | uint64_t(trailer[i]);
    }
    if (value > 0xFFFFFFFFull)
        return fail(ErrorCode::Malformed, "crc_num trailer holds a value larger than a CRC-32", name, {},
                    file.size() - kCrcTrailerBytes);
    return CrcInfo{true, uint32_t(value)};
}

}  // namespace

uint64_t TensorInfo::elementCount() const {
    if (legacyScalar) return 1;
    if (dtype == DType::String || dtype == DType::Unknown) {
        const unsigned bits = dtypeBits(dtype);
        return bits ? byteSize * 8 / bits : 0;
    }
    uint64_t n = 1;
    for (int64_t d : dims)
        if (__builtin_mul_overflow(n, uint64_t(d), &n)) return 0;
    return n;
}

std::vector<int64_t> TensorInfo::logicalShape() const {
    return legacyScalar ? std::vector<int64_t>{} : dims;
}

Result<std::shared_ptr<CheckpointFile>> CheckpointFile::open(const std::filesystem::path& path,
                                                             const CancelToken* cancel) {
    auto input = InputFile::open(path);
    if (!input) return std::unexpected(input.error());
    std::shared_ptr<CheckpointFile> file(new CheckpointFile());
    file->file_ = std::move(*input);
    const auto& name = file->file_.path();
    if (file->file_.size() == 0) return fail(ErrorCode::Malformed, "the file is empty", name);

    std::array<std::byte, 9> head{};
    const size_t headBytes = size_t(std::min<uint64_t>(head.size(), file->file_.size()));
    if (auto st = file->file_.readAt(0, std::span(head.data(), headBytes)); !st)
        return std::unexpected(st.error());

    if (headBytes >= 4) {
        uint32_t magic = 0;
        std::memcpy(&magic, head.data(), 4);
        for (size_t i = 0; i < kEncryptedMagics.size(); ++i)
            if (magic == kEncryptedMagics[i])
                return fail(ErrorCode::Unsupported,
                            std::string("encrypted checkpoint (") + kEncryptedModes[i] +
                                "), not supported: load it in MindSpore with its dec_key and save it without "
                                "enc_key first",
                            name);
    }
    if (looksLikeSafetensors(std::span(head.data(), headBytes))) {
        file->format_ = CheckpointFormat::Safetensors;
        if (auto st = file->indexSafetensors(); !st) return std::unexpected(st.error());
    } else {
        const auto first = uint8_t(head[0]);
        if (first == 0x08)
            return fail(
                ErrorCode::Malformed,
                "not a checkpoint: this looks like a parallel strategy file (give it as the strategy, "
                "--src_ckpt_strategy)",
                name, {}, 0);
        if (first != 0x0A)
            return fail(ErrorCode::Malformed,
                        "not a MindSpore checkpoint: it starts with byte " + hexByte(first) +
                            ", a .ckpt file starts with 0x0A",
                        name, {}, 0);
        if (auto st = file->indexCkpt(cancel); !st) return std::unexpected(st.error());
    }
    for (size_t i = 0; i < file->tensors_.size(); ++i) file->byName_.emplace(file->tensors_[i].name, i);
    return file;
}

Status CheckpointFile::indexCkpt(const CancelToken* cancel) {
    const auto& name = file_.path();
    auto trailer = readCrcTrailer(file_);
    if (!trailer) return std::unexpected(trailer.error());
    crc_ = *trailer;
    recordsEnd_ = file_.size() - (crc_.present ? kCrcTrailerBytes : 0);

    WindowReader reader(file_);
    uint64_t pos = 0;
    size_t records = 0;
    while (pos < recordsEnd_) {
        if (cancel && (records & 1023) == 0 && cancel->isCancelled())
            return fail(ErrorCode::Cancelled, "indexing cancelled", name);
        auto key = reader.key(pos, recordsEnd_);
        if (!key) return std::unexpected(key.error());
        const auto [field, wire, recordStart] = *key;
        if (field != 1) {
            // Unknown top-level fields (e.g. the pre-1.0 model_type) are skipped.
            if (field == 0 || wire == 3 || wire == 4 || wire > 5)
                return fail(ErrorCode::Malformed, "invalid top-level field (not a checkpoint record)", name,
                            {}, recordStart);
            if (auto st = reader.skip(wire, pos, recordsEnd_, {}); !st) return st;
            log().warn("{}: skipped unknown top-level field {} at byte {}", name, field, recordStart);
            continue;
        }
        if (wire != 2)
            return fail(ErrorCode::Malformed, "top-level field 1 is not length-delimited: not a checkpoint",
                        name, {}, recordStart);
        auto len = reader.varint(pos, recordsEnd_);
        if (!len) return std::unexpected(len.error());
        if (*len > recordsEnd_ - pos)
            return fail(ErrorCode::Malformed,
                        "the file is truncated: the record here needs " + std::to_string(*len) +
                            " bytes but only " + std::to_string(recordsEnd_ - pos) + " are left",
                        name, {}, recordStart);
        Record record;
        record.whole = {recordStart, pos + *len - recordStart};
        if (auto st = parseValue(reader, pos, pos + *len, record, name); !st) {
            if (!tensors_.empty() || st.error().code != ErrorCode::Malformed) return st;
            // Nothing valid has been read: say what the file is not before what broke.
            auto error = st.error();
            error.message = "not a MindSpore checkpoint: the first record does not hold a parameter (" +
                            error.message + ")";
            return std::unexpected(error);
        }
        pos += *len;
        ++records;

        const auto kind = record.hasTensor ? TensorKind::Dense : TensorKind::MapTensor;
        if (!tensors_.empty() && tensors_.back().name == record.tag) {
            // A further chunk of the same parameter: same dims and type required (spec §1.3).
            auto& info = tensors_.back();
            if (info.kind != kind ||
                (kind == TensorKind::Dense && (info.dims != record.dims || info.typeName != record.typeName)))
                return fail(ErrorCode::Malformed,
                            "chunk records of one parameter disagree on dims or tensor_type", name,
                            record.tag, recordStart);
            if (kind == TensorKind::Dense) {
                info.chunks.push_back(record.content);
                if (__builtin_add_overflow(info.byteSize, record.content.length, &info.byteSize))
                    return fail(ErrorCode::Malformed, "parameter size overflows", name, record.tag,
                                recordStart);
            }
            info.records.push_back(record.whole);
            continue;
        }
        if (auto it = byName_.find(record.tag); it != byName_.end())
            return fail(ErrorCode::Malformed,
                        "parameter appears twice (first at byte " +
                            std::to_string(tensors_[it->second].records.front().offset) + ")",
                        name, record.tag, recordStart);
        if (!tensors_.empty()) {
            if (auto st = validateSize(tensors_.back(), name); !st) return st;
        }
        TensorInfo info;
        info.name = std::move(record.tag);
        info.kind = kind;
        if (kind == TensorKind::Dense) {
            info.typeName = std::move(record.typeName);
            info.dtype = dtypeFromTensorType(info.typeName);
            info.dims = std::move(record.dims);
            info.chunks.push_back(record.content);
            info.byteSize = record.content.length;
        }
        info.records.push_back(record.whole);
        byName_.emplace(info.name, tensors_.size());
        tensors_.push_back(std::move(info));
    }
    if (tensors_.empty()) return fail(ErrorCode::Malformed, "the checkpoint holds no parameters", name);
    if (auto st = validateSize(tensors_.back(), name); !st) return st;
    byName_.clear();  // rebuilt by open() for both formats
    return {};
}

const TensorInfo* CheckpointFile::find(std::string_view name) const {
    auto it = byName_.find(std::string(name));
    return it == byName_.end() ? nullptr : &tensors_[it->second];
}

Status CheckpointFile::readTensor(const TensorInfo& info, std::span<std::byte> out) const {
    if (out.size() != info.byteSize)
        return fail(ErrorCode::InvalidArgument, "buffer size does not match the parameter", path(),
                    info.name);
    size_t done = 0;
    for (const auto& chunk : info.chunks) {
        if (auto st = file_.readAt(chunk.offset, out.subspan(done, size_t(chunk.length))); !st) {
            auto error = st.error();
            error.parameter = info.name;
            return std::unexpected(error);
        }
        done += size_t(chunk.length);
    }
    return {};
}

Status CheckpointFile::readRange(const TensorInfo& info, uint64_t offset, std::span<std::byte> out) const {
    if (offset > info.byteSize || out.size() > info.byteSize - offset)
        return fail(ErrorCode::InvalidArgument, "byte range outside the parameter", path(), info.name);
    uint64_t chunkStart = 0;
    size_t done = 0;
    for (const auto& chunk : info.chunks) {
        if (done == out.size()) break;
        const uint64_t chunkEnd = chunkStart + chunk.length;
        const uint64_t want = offset + done;
        if (want < chunkEnd) {
            const uint64_t inChunk = want - chunkStart;
            const size_t take = size_t(std::min<uint64_t>(chunk.length - inChunk, out.size() - done));
            if (auto st = file_.readAt(chunk.offset + inChunk, out.subspan(done, take)); !st) {
                auto error = st.error();
                error.parameter = info.name;
                return std::unexpected(error);
            }
            done += take;
        }
        chunkStart = chunkEnd;
    }
    return {};
}

Result<std::vector<std::byte>> CheckpointFile::readTensor(const TensorInfo& info) const {
    std::vector<std::byte> out(size_t(info.byteSize));
    if (auto st = readTensor(info, out); !st) return std::unexpected(st.error());
    return out;
}

Status CheckpointFile::verifyCrc(const CancelToken* cancel) const {
    if (!crc_.present) return {};
    std::vector<std::byte> block(4 << 20);
    uint32_t crc = 0;
    for (uint64_t pos = 0; pos < recordsEnd_;) {
        if (cancel && cancel->isCancelled()) return fail(ErrorCode::Cancelled, "CRC check cancelled", path());
        const size_t n = size_t(std::min<uint64_t>(block.size(), recordsEnd_ - pos));
        if (auto st = file_.readAt(pos, std::span(block.data(), n)); !st) return st;
        crc = crc32Update(crc, std::span(block.data(), n));
        pos += n;
    }
    if (crc != crc_.stored)
        return fail(ErrorCode::Malformed,
                    "CRC mismatch: the crc_num trailer says " + std::to_string(crc_.stored) +
                        " but the records hash to " + std::to_string(crc) + "; the file is corrupt",
                    path());
    return {};
}

uint32_t crc32Update(uint32_t crc, std::span<const std::byte> data) {
    // zlib's CRC-32 is the one MindSpore writes into the crc_num trailer (spec §1.6); crc32_z
    // takes a size_t length, so spans beyond 4 GiB need no splitting.
    return uint32_t(crc32_z(crc, reinterpret_cast<const Bytef*>(data.data()), data.size()));
}

}  // namespace lms
