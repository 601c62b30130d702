// CheckpointFile::indexSafetensors(): the safetensors half of phase 1 (Checkpoint.h). Accepts
// exactly what MindSpore's reader (_fast_safe_open, spec §1.9) and the msfixtures checker accept:
// entries in data order, gap-free offsets from 0, sizes equal to prod(shape) * itemsize, and a
// file that ends where the last tensor ends.

#include "lms/base/Json.h"
#include "lms/formats/Checkpoint.h"
#include "lms/formats/Safetensors.h"

#include <array>
#include <cstring>
#include <limits>

namespace lms {
namespace {

constexpr size_t kMaxShapeDims = 64;  // as for .ckpt dims; numpy itself stops at 32 (64 in numpy 2)

// Built with append(): GCC 12 reports a false -Wrestrict on "[" + std::to_string(...) at -O3.
std::string describeRange(uint64_t begin, uint64_t end) {
    std::string out = "[";
    out.append(std::to_string(begin)).append(", ").append(std::to_string(end)).append("]");
    return out;
}

std::string describeShape(const std::vector<int64_t>& shape) {
    std::string out = "[";
    for (size_t i = 0; i < shape.size(); ++i) {
        if (i) out += ',';
        out.append(std::to_string(shape[i]));
    }
    out += ']';
    return out;
}

Result<std::vector<int64_t>> parseShape(const JsonValue& shapeValue, const std::string& path,
                                        const std::string& name) {
    if (!shapeValue.isArray())
        return fail(ErrorCode::Malformed, "shape is not an array", path, name, 8 + shapeValue.sourceOffset());
    if (shapeValue.size() > kMaxShapeDims)
        return fail(ErrorCode::Malformed,
                    "shape has more than " + std::to_string(kMaxShapeDims) + " dimensions", path, name,
                    8 + shapeValue.sourceOffset());
    std::vector<int64_t> shape;
    shape.reserve(shapeValue.size());
    for (const auto& dim : *shapeValue.asArray()) {
        auto value = dim.asInt64(0);
        if (!value)
            return fail(ErrorCode::Malformed, "shape dimension: " + value.error().message, path, name,
                        8 + dim.sourceOffset());
        shape.push_back(*value);
    }
    return shape;
}

// __metadata__ may appear anywhere in the object (readers pop it before the entries).
Status parseMetadata(const JsonValue& root, const std::string& path,
                     std::vector<std::pair<std::string, std::string>>& metadata) {
    for (const auto& [key, value] : *root.asObject()) {
        if (key != "__metadata__") continue;
        if (!value.isObject())
            return fail(ErrorCode::Malformed, "__metadata__ is not an object of strings", path, {},
                        8 + value.sourceOffset());
        for (const auto& [metaKey, metaValue] : *value.asObject()) {
            if (!metaValue.isString())
                return fail(ErrorCode::Malformed,
                            "__metadata__ value for \"" + metaKey + "\" is not a string", path, {},
                            8 + metaValue.sourceOffset());
            metadata.emplace_back(metaKey, *metaValue.asString());
        }
    }
    return {};
}

// One header entry checked against the data area: the tensor it describes, which must start at
// `position` (relative to `dataStart`) and end inside the file.
Result<TensorInfo> parseEntry(const std::string& name, const JsonValue& entry, const std::string& path,
                              uint64_t position, uint64_t dataStart, uint64_t fileSize) {
    const uint64_t dataBytes = fileSize - dataStart;
    const uint64_t entryAt = 8 + entry.sourceOffset();
    const auto* fields = entry.asObject();
    if (!fields || fields->size() != 3 || !entry.find("dtype") || !entry.find("shape") ||
        !entry.find("data_offsets"))
        return fail(ErrorCode::Malformed, "entry needs exactly the keys dtype, shape and data_offsets", path,
                    name, entryAt);

    const JsonValue& dtypeValue = *entry.find("dtype");
    const std::string* dtypeName = dtypeValue.asString();
    const auto dtype = dtypeName ? dtypeFromSafetensors(*dtypeName) : std::nullopt;
    if (!dtype)
        return fail(ErrorCode::Malformed,
                    "dtype " + toJson(dtypeValue) +
                        " is not one MindSpore reads (BOOL U8 I8 I16 U16 I32 U32 I64 U64 F16 BF16 F32 F64)",
                    path, name, 8 + dtypeValue.sourceOffset());

    const JsonValue& shapeValue = *entry.find("shape");
    auto parsedShape = parseShape(shapeValue, path, name);
    if (!parsedShape) return std::unexpected(parsedShape.error());
    std::vector<int64_t> shape = std::move(*parsedShape);

    const JsonValue& offsetsValue = *entry.find("data_offsets");
    if (!offsetsValue.isArray() || offsetsValue.size() != 2)
        return fail(ErrorCode::Malformed, "data_offsets is not an array of two integers", path, name,
                    8 + offsetsValue.sourceOffset());
    auto begin = offsetsValue[0].asInt64(0);
    auto end = offsetsValue[1].asInt64(0);
    if (!begin || !end)
        return fail(ErrorCode::Malformed, "data_offsets: " + (!begin ? begin : end).error().message, path,
                    name, 8 + offsetsValue.sourceOffset());
    const uint64_t first = uint64_t(*begin), last = uint64_t(*end);
    if (first != position)
        return fail(ErrorCode::Malformed,
                    "data_offsets " + describeRange(first, last) +
                        " do not start where the previous tensor ends (" + std::to_string(position) +
                        "): a gap, an overlap or a header not in data order",
                    path, name, 8 + offsetsValue.sourceOffset());
    if (last < first)
        return fail(ErrorCode::Malformed,
                    "data_offsets " + describeRange(first, last) + " end before they begin", path, name,
                    8 + offsetsValue.sourceOffset());

    const uint64_t itemBytes = dtypeBits(*dtype) / 8;
    uint64_t expected = itemBytes;
    for (int64_t d : shape) {
        if (__builtin_mul_overflow(expected, uint64_t(d), &expected))
            return fail(ErrorCode::Malformed, "shape " + describeShape(shape) + " overflows a 64-bit size",
                        path, name, 8 + shapeValue.sourceOffset());
    }
    const uint64_t size = last - first;
    if (size != expected)
        return fail(ErrorCode::Malformed,
                    std::to_string(size) + " bytes in data_offsets " + describeRange(first, last) +
                        " do not match " + *dtypeName + " " + describeShape(shape) + " (" +
                        std::to_string(expected) + " bytes)",
                    path, name, 8 + offsetsValue.sourceOffset());
    if (last > dataBytes)
        return fail(ErrorCode::Malformed,
                    "truncated: the tensor ends at byte " + std::to_string(dataStart + last) +
                        " but the file has " + std::to_string(fileSize),
                    path, name, dataStart + first);

    TensorInfo info;
    info.name = name;
    info.dtype = *dtype;
    info.typeName = std::string(tensorTypeName(*dtype));
    info.dims = std::move(shape);
    info.kind = TensorKind::Dense;
    info.byteSize = size;
    info.chunks.push_back({dataStart + first, size});
    return info;
}

}  // namespace

Status CheckpointFile::indexSafetensors() {
    const std::string& path = file_.path();
    const uint64_t fileSize = file_.size();
    format_ = CheckpointFormat::Safetensors;
    tensors_.clear();
    byName_.clear();
    metadata_.clear();

    if (fileSize < 8)
        return fail(ErrorCode::Malformed,
                    "file of " + std::to_string(fileSize) + " bytes is too short for a safetensors header",
                    path, {}, 0);
    std::array<std::byte, 8> lengthBytes{};
    if (auto st = file_.readAt(0, lengthBytes); !st) return st;
    uint64_t headerLength = 0;
    for (int i = 7; i >= 0; --i) headerLength = (headerLength << 8) | uint64_t(lengthBytes[size_t(i)]);
    if (headerLength < 2 || headerLength > kMaxSafetensorsHeaderBytes)
        return fail(ErrorCode::Malformed,
                    "safetensors header length " + std::to_string(headerLength) + " is outside [2, " +
                        std::to_string(kMaxSafetensorsHeaderBytes) + "]",
                    path, {}, 0);
    if (headerLength > fileSize - 8)
        return fail(ErrorCode::Malformed,
                    "safetensors header of " + std::to_string(headerLength) +
                        " bytes runs past the end of the " + std::to_string(fileSize) + "-byte file",
                    path, {}, 0);

    std::string header(size_t(headerLength), '\0');
    if (auto st = file_.readAt(8, std::as_writable_bytes(std::span(header.data(), header.size()))); !st)
        return st;
    auto parsed = parseJson(header);
    if (!parsed) {
        const Error& e = parsed.error();
        std::string_view detail = e.message;
        if (detail.starts_with("JSON: ")) detail.remove_prefix(6);
        return fail(ErrorCode::Malformed, "safetensors header is not valid JSON: " + std::string(detail),
                    path, {}, 8 + e.offset.value_or(0));
    }
    const JsonValue& root = *parsed;
    if (!root.isObject())
        return fail(ErrorCode::Malformed, "safetensors header is not a JSON object", path, {}, 8);

    if (auto st = parseMetadata(root, path, metadata_); !st) return st;

    const uint64_t dataStart = 8 + headerLength;
    const uint64_t dataBytes = fileSize - dataStart;
    uint64_t position = 0;  // where the next tensor must begin, relative to the data area
    tensors_.reserve(root.size());
    for (const auto& [name, entry] : *root.asObject()) {
        if (name == "__metadata__") continue;
        auto info = parseEntry(name, entry, path, position, dataStart, fileSize);
        if (!info) return std::unexpected(info.error());
        position += info->byteSize;  // parseEntry checked that it starts at `position`
        byName_.emplace(info->name, tensors_.size());
        tensors_.push_back(std::move(*info));
    }
    if (position != dataBytes)
        return fail(ErrorCode::Malformed,
                    "file is " + std::to_string(fileSize) + " bytes but the safetensors header describes " +
                        std::to_string(dataStart + position) + " (" + std::to_string(dataBytes - position) +
                        " bytes of trailing data)",
                    path, {}, dataStart + position);

    // MindSpore marks qint4x2 tensors with a metadata entry "<name>": "Int4" and stores their packed
    // bytes as a one-byte integer dtype; the loader re-types them (spec §1.9).
    for (const auto& [key, value] : metadata_) {
        if (value != "Int4") continue;
        const auto it = byName_.find(key);
        if (it == byName_.end()) continue;
        TensorInfo& info = tensors_[it->second];
        if (info.dtype != DType::Int8 && info.dtype != DType::UInt8)
            return fail(ErrorCode::Malformed,
                        "metadata marks the tensor as Int4 but it is stored as " +
                            std::string(safetensorsName(info.dtype)) + ", not as packed bytes (I8/U8)",
                        path, info.name, info.chunks.front().offset);
        info.dtype = DType::Int4;
        info.typeName = std::string(tensorTypeName(DType::Int4));
    }
    return {};
}

}  // namespace lms
