#include "lms/formats/CheckpointWriter.h"

#include "lms/io/Wire.h"

namespace lms {
namespace {

// The wire encoding lives in Wire.h; these names keep the record layout below readable.
void putVarint(std::vector<std::byte>& out, uint64_t value) {
    wire::appendVarint(out, value);
}
using wire::varintSize;

void putBytes(std::vector<std::byte>& out, std::string_view text) {
    for (char c : text) out.push_back(std::byte(c));
}

}  // namespace

std::vector<std::byte> encodeRecordHeader(std::string_view name, std::string_view typeName,
                                          std::span<const int64_t> dims, uint64_t contentBytes) {
    // TensorProto fields in field-number order, as protobuf serialises them: dims (unpacked),
    // tensor_type, tensor_content.
    uint64_t tensorLen = 0;
    for (int64_t d : dims) tensorLen += 1 + varintSize(uint64_t(d));
    tensorLen += 1 + varintSize(typeName.size()) + typeName.size();
    tensorLen += 1 + varintSize(contentBytes) + contentBytes;
    const uint64_t valueLen =
        1 + varintSize(name.size()) + name.size() + 1 + varintSize(tensorLen) + tensorLen;

    std::vector<std::byte> out;
    out.reserve(32 + name.size() + typeName.size() + dims.size() * 4);
    out.push_back(std::byte{0x0A});  // Checkpoint.value
    putVarint(out, valueLen);
    out.push_back(std::byte{0x0A});  // Value.tag
    putVarint(out, name.size());
    putBytes(out, name);
    out.push_back(std::byte{0x12});  // Value.tensor
    putVarint(out, tensorLen);
    for (int64_t d : dims) {
        out.push_back(std::byte{0x08});
        putVarint(out, uint64_t(d));
    }
    out.push_back(std::byte{0x12});
    putVarint(out, typeName.size());
    putBytes(out, typeName);
    out.push_back(std::byte{0x1A});
    putVarint(out, contentBytes);
    return out;
}

Result<CheckpointWriter> CheckpointWriter::create(const std::filesystem::path& finalPath,
                                                  const std::vector<std::filesystem::path>& inputs,
                                                  Publish mode) {
    for (const auto& input : inputs) {
        if (sameFile(input, finalPath))
            return fail(ErrorCode::InvalidArgument,
                        "refusing to overwrite an input file; choose another output", finalPath.string());
    }
    auto out = AtomicOutputFile::create(finalPath, mode);
    if (!out) return std::unexpected(out.error());
    CheckpointWriter writer;
    writer.out_ = std::move(*out);
    return writer;
}

Status CheckpointWriter::writeTensor(std::string_view name, std::string_view typeName,
                                     std::span<const int64_t> dims, std::span<const std::byte> content) {
    if (auto st = beginTensor(name, typeName, dims, content.size()); !st) return st;
    return append(content);
}

Status CheckpointWriter::beginTensor(std::string_view name, std::string_view typeName,
                                     std::span<const int64_t> dims, uint64_t totalBytes) {
    if (open_ && remainingInTensor_ > 0)
        return fail(ErrorCode::InvalidArgument, "previous parameter was not completely written",
                    out_.finalPath().string(), name_);
    name_ = name;
    typeName_ = typeName;
    dims_.assign(dims.begin(), dims.end());
    remainingInTensor_ = totalBytes;
    remainingInChunk_ = 0;
    open_ = true;
    if (totalBytes == 0) return startChunk();  // an empty tensor is still one record
    return {};
}

Status CheckpointWriter::startChunk() {
    const uint64_t chunk = std::min(remainingInTensor_, maxChunkBytes_);
    const auto header = encodeRecordHeader(name_, typeName_, dims_, chunk);
    remainingInChunk_ = chunk;
    return out_.write(header);
}

Status CheckpointWriter::append(std::span<const std::byte> data) {
    if (!open_ || data.size() > remainingInTensor_)
        return fail(ErrorCode::InvalidArgument, "more bytes than the parameter's declared size",
                    out_.finalPath().string(), name_);
    while (!data.empty()) {
        if (remainingInChunk_ == 0)
            if (auto st = startChunk(); !st) return st;
        const size_t take = size_t(std::min<uint64_t>(remainingInChunk_, data.size()));
        if (auto st = out_.write(data.first(take)); !st) return st;
        data = data.subspan(take);
        remainingInChunk_ -= take;
        remainingInTensor_ -= take;
    }
    return {};
}

Status CheckpointWriter::copyRecords(const CheckpointFile& source, const TensorInfo& info) {
    if (open_ && remainingInTensor_ > 0)
        return fail(ErrorCode::InvalidArgument, "previous parameter was not completely written",
                    out_.finalPath().string(), name_);
    for (const auto& record : info.records)
        if (auto st = out_.copyFrom(source.input(), record.offset, record.length); !st) {
            auto error = st.error();
            if (error.parameter.empty()) error.parameter = info.name;
            return std::unexpected(error);
        }
    return {};
}

Status CheckpointWriter::finish() {
    if (open_ && remainingInTensor_ > 0)
        return fail(ErrorCode::InvalidArgument, "last parameter was not completely written",
                    out_.finalPath().string(), name_);
    return out_.finish();
}

Status CheckpointWriter::commit() {
    if (auto st = finish(); !st) return st;
    return out_.publish();
}

}  // namespace lms
