#include "lms/formats/Safetensors.h"

#include "lms/base/Json.h"
#include "lms/base/Log.h"

#include <algorithm>
#include <array>
#include <limits>
#include <unordered_map>
#include <unordered_set>

namespace lms {
namespace {

constexpr std::string_view kInt4Marker = "Int4";

// The safetensors dtype a tensor is stored with: Int4 goes as packed bytes (I8), spec §1.9.
std::string_view storedDtypeName(DType dtype) {
    return dtype == DType::Int4 ? safetensorsName(DType::Int8) : safetensorsName(dtype);
}

bool isLegacyScalar(const SafetensorsTensor& t) {
    return t.dims.size() == 1 && t.dims[0] == 0 && t.dtype != DType::Int4 && dtypeBits(t.dtype) >= 8 &&
           t.byteSize == dtypeBits(t.dtype) / 8;
}

// The shape written to the header: [] for a legacy dims-[0] scalar (MindSpore loads it as a scalar).
std::vector<int64_t> writtenShape(const SafetensorsTensor& t) {
    return isLegacyScalar(t) ? std::vector<int64_t>{} : t.dims;
}

}  // namespace

bool looksLikeSafetensors(std::span<const std::byte> first9Bytes) {
    if (first9Bytes.size() < 9) return false;
    uint64_t headerLength = 0;
    for (int i = 7; i >= 0; --i) headerLength = (headerLength << 8) | uint64_t(first9Bytes[size_t(i)]);
    return headerLength >= 2 && headerLength <= kMaxSafetensorsHeaderBytes &&
           first9Bytes[8] == std::byte{'{'};
}

std::string encodeSafetensorsHeader(const std::vector<SafetensorsTensor>& tensors,
                                    const std::vector<std::pair<std::string, std::string>>& metadata) {
    JsonValue::Object root;
    root.reserve(tensors.size() + 1);
    JsonValue::Object meta;
    for (const auto& [key, value] : metadata) meta.emplace_back(key, JsonValue(value));
    root.emplace_back("__metadata__", JsonValue(std::move(meta)));
    uint64_t offset = 0;
    for (const auto& t : tensors) {
        JsonValue::Array shape;
        for (int64_t d : writtenShape(t)) shape.emplace_back(d);
        JsonValue::Object entry;
        entry.emplace_back("dtype", JsonValue(storedDtypeName(t.dtype)));
        entry.emplace_back("shape", JsonValue(std::move(shape)));
        entry.emplace_back("data_offsets",
                           JsonValue(JsonValue::Array{JsonValue(offset), JsonValue(offset + t.byteSize)}));
        root.emplace_back(t.name, JsonValue(std::move(entry)));
        offset += t.byteSize;
    }
    std::string header = toJson(JsonValue(std::move(root)));
    header.append((8 - header.size() % 8) % 8, ' ');
    return header;
}

namespace {

// Metadata: unique valid-UTF-8 keys and values, "format": `format` (first when it was missing), no
// stale crc_num (it would describe other data, spec §1.6).
Result<std::vector<std::pair<std::string, std::string>>> normaliseMetadata(
    std::vector<std::pair<std::string, std::string>> metadata, const std::string& file,
    std::string_view format) {
    std::vector<std::pair<std::string, std::string>> normalised;
    std::unordered_set<std::string> metaKeys;
    bool hasFormat = false;
    for (auto& [key, value] : metadata) {
        if (!isValidUtf8(key) || !isValidUtf8(value))
            return fail(ErrorCode::InvalidArgument, "metadata entry is not valid UTF-8", file, key);
        if (!metaKeys.insert(key).second)
            return fail(ErrorCode::InvalidArgument, "metadata key given twice", file, key);
        if (key == "crc_num") {
            log().info("{}: not writing the input's crc_num metadata; it would not match the new data", file);
            continue;
        }
        if (key == "format") {
            hasFormat = true;
            if (value != format) {
                log().warn("{}: metadata format '{}' replaced by '{}'", file, value, format);
                value = std::string(format);
            }
        }
        normalised.emplace_back(std::move(key), std::move(value));
    }
    if (!hasFormat) normalised.insert(normalised.begin(), {"format", std::string(format)});
    return normalised;
}

}  // namespace

Result<SafetensorsWriter> SafetensorsWriter::create(const std::filesystem::path& finalPath,
                                                    const std::vector<std::filesystem::path>& inputs,
                                                    std::vector<std::pair<std::string, std::string>> metadata,
                                                    std::vector<SafetensorsTensor> tensors, Publish mode,
                                                    std::string_view format) {
    const std::string file = finalPath.string();
    for (const auto& input : inputs) {
        if (sameFile(input, finalPath))
            return fail(ErrorCode::InvalidArgument,
                        "refusing to overwrite an input file; choose another output", file);
    }

    auto normalisedOk = normaliseMetadata(std::move(metadata), file, format);
    if (!normalisedOk) return std::unexpected(normalisedOk.error());
    auto normalised = std::move(*normalisedOk);

    std::unordered_map<std::string, size_t> metaIndex;  // key -> position in `normalised`
    for (size_t i = 0; i < normalised.size(); ++i) metaIndex.emplace(normalised[i].first, i);

    // Tensors: unique names, a storable dtype, sizes consistent with the dims, no overflow.
    std::unordered_map<std::string_view, DType> dtypeByName;
    uint64_t dataBytes = 0;
    for (const auto& t : tensors) {
        if (t.name == "__metadata__")
            return fail(ErrorCode::InvalidArgument, "a parameter cannot be named __metadata__ in safetensors",
                        file, t.name);
        if (!isValidUtf8(t.name))
            return fail(ErrorCode::InvalidArgument, "parameter name is not valid UTF-8", file, t.name);
        if (!dtypeByName.emplace(t.name, t.dtype).second)
            return fail(ErrorCode::InvalidArgument, "parameter declared twice", file, t.name);
        if (storedDtypeName(t.dtype).empty()) {
            const std::string_view type = tensorTypeName(t.dtype);
            return fail(ErrorCode::Unsupported,
                        "tensor_type '" + std::string(type.empty() ? "unknown" : type) +
                            "' has no safetensors dtype; write a .ckpt instead",
                        file, t.name);
        }
        const uint64_t itemBytes = t.dtype == DType::Int4 ? 1 : dtypeBits(t.dtype) / 8;
        uint64_t expected = itemBytes;
        for (int64_t d : writtenShape(t)) {
            if (d < 0) return fail(ErrorCode::InvalidArgument, "negative dimension", file, t.name);
            if (__builtin_mul_overflow(expected, uint64_t(d), &expected))
                return fail(ErrorCode::InvalidArgument, "dims overflow a 64-bit size", file, t.name);
        }
        if (expected != t.byteSize)
            return fail(
                ErrorCode::InvalidArgument,
                std::to_string(t.byteSize) + " bytes do not match " + std::string(storedDtypeName(t.dtype)) +
                    " dims (" + std::to_string(expected) + " bytes)" +
                    (t.dtype == DType::Int4 ? "; Int4 is stored as packed I8 bytes with these dims" : ""),
                file, t.name);
        if (__builtin_add_overflow(dataBytes, t.byteSize, &dataBytes) ||
            dataBytes > uint64_t(std::numeric_limits<int64_t>::max()))
            return fail(ErrorCode::InvalidArgument, "total data size overflows", file, t.name);
        if (t.dtype == DType::Int4) {
            const auto it = metaIndex.find(t.name);
            if (it == metaIndex.end()) {
                metaIndex.emplace(t.name, normalised.size());
                normalised.emplace_back(t.name, std::string(kInt4Marker));
            } else if (normalised[it->second].second != kInt4Marker) {
                return fail(ErrorCode::InvalidArgument,
                            "metadata entry with this Int4 parameter's name must be \"Int4\"", file, t.name);
            }
        }
    }
    // A metadata "Int4" marker on a tensor that is not Int4 would make MindSpore re-type it.
    for (const auto& [key, value] : normalised) {
        if (value != kInt4Marker) continue;
        const auto it = dtypeByName.find(key);
        if (it != dtypeByName.end() && it->second != DType::Int4)
            return fail(ErrorCode::InvalidArgument, "metadata marks this parameter as Int4 but it is not",
                        file, key);
    }

    const std::string header = encodeSafetensorsHeader(tensors, normalised);
    if (header.size() > kMaxSafetensorsHeaderBytes)
        return fail(ErrorCode::Unsupported,
                    "safetensors header of " + std::to_string(header.size()) +
                        " bytes exceeds the 100,000,000-byte limit of MindSpore's reader",
                    file);

    auto out = AtomicOutputFile::create(finalPath, mode);
    if (!out) return std::unexpected(out.error());
    SafetensorsWriter writer;
    writer.out_ = std::move(*out);
    writer.tensors_ = std::move(tensors);
    writer.metadata_ = std::move(normalised);
    writer.headerBytes_ = header.size();

    std::array<std::byte, 8> length{};
    for (size_t i = 0; i < 8; ++i) length[i] = std::byte(uint8_t(header.size() >> (8 * i)));
    if (auto st = writer.out_.write(length); !st) return std::unexpected(st.error());
    if (auto st = writer.out_.write(std::as_bytes(std::span(header.data(), header.size()))); !st)
        return std::unexpected(st.error());
    return writer;
}

Status SafetensorsWriter::beginTensor(std::string_view name, std::string_view typeName,
                                      std::span<const int64_t> dims, uint64_t totalBytes) {
    const std::string file = out_.finalPath().string();
    if (open_ && remainingInTensor_ > 0)
        return fail(ErrorCode::InvalidArgument, "previous parameter was not completely written", file,
                    tensors_[next_ - 1].name);
    if (next_ >= tensors_.size())
        return fail(ErrorCode::InvalidArgument, "parameter was not declared when the file was created", file,
                    std::string(name));
    const SafetensorsTensor& t = tensors_[next_];
    if (name != t.name)
        return fail(ErrorCode::InvalidArgument,
                    "parameters must be written in the declared order; expected '" + t.name + "' next", file,
                    std::string(name));
    if (typeName != tensorTypeName(t.dtype))
        return fail(ErrorCode::InvalidArgument,
                    "tensor_type '" + std::string(typeName) + "' differs from the declared '" +
                        std::string(tensorTypeName(t.dtype)) + "'",
                    file, t.name);
    const std::vector<int64_t> shape = writtenShape(t);
    const bool dimsMatch = std::ranges::equal(dims, t.dims) || std::ranges::equal(dims, shape);
    if (!dimsMatch)
        return fail(ErrorCode::InvalidArgument, "dims differ from the declared ones", file, t.name);
    if (totalBytes != t.byteSize)
        return fail(
            ErrorCode::InvalidArgument,
            std::to_string(totalBytes) + " bytes differ from the declared " + std::to_string(t.byteSize),
            file, t.name);
    ++next_;
    remainingInTensor_ = totalBytes;
    open_ = true;
    return {};
}

Status SafetensorsWriter::append(std::span<const std::byte> data) {
    if (!open_ || data.size() > remainingInTensor_)
        return fail(ErrorCode::InvalidArgument, "more bytes than the parameter's declared size",
                    out_.finalPath().string(), next_ > 0 ? tensors_[next_ - 1].name : std::string());
    if (auto st = out_.write(data); !st) return st;
    remainingInTensor_ -= data.size();
    return {};
}

Status SafetensorsWriter::writeTensor(std::string_view name, std::string_view typeName,
                                      std::span<const int64_t> dims, std::span<const std::byte> content) {
    if (auto st = beginTensor(name, typeName, dims, content.size()); !st) return st;
    return append(content);
}

Status SafetensorsWriter::commit() {
    if (auto st = finish(); !st) return st;
    return out_.publish();
}

Status SafetensorsWriter::finish() {
    const std::string file = out_.finalPath().string();
    if (open_ && remainingInTensor_ > 0)
        return fail(ErrorCode::InvalidArgument, "last parameter was not completely written", file,
                    tensors_[next_ - 1].name);
    if (next_ < tensors_.size())
        return fail(ErrorCode::InvalidArgument,
                    std::to_string(tensors_.size() - next_) + " declared parameter(s) were not written", file,
                    tensors_[next_].name);
    return out_.finish();
}

}  // namespace lms
