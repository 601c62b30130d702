#pragma once
// Helpers shared by the test binaries: temp folders, building small checkpoints in code,
// locating ../shared, and byte/checksum utilities.

#include "lms/formats/Checkpoint.h"
#include "lms/formats/CheckpointWriter.h"
#include "lms/io/Wire.h"

#include <QString>
#include <QStringList>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace lms::test {

// ../shared beside the checkout ("" if it is not there).
std::filesystem::path sharedDir();

// A tensor to put into a generated checkpoint.
struct FakeTensor {
    std::string name;
    std::string typeName;
    std::vector<int64_t> dims;
    std::vector<std::byte> content;
};

// Float32/BFloat16/Float16 content from float values.
std::vector<std::byte> floatBytes(DType dtype, const std::vector<float>& values);
std::vector<float> bytesToFloats(DType dtype, std::span<const std::byte> bytes);
// Deterministic pseudo-random values in [-1, 1).
std::vector<float> randomValues(size_t count, uint32_t seed);

// Writes a .ckpt with one record per tensor (content split into `chunkBytes` records if > 0).
void writeCheckpoint(const std::filesystem::path& path, const std::vector<FakeTensor>& tensors,
                     uint64_t chunkBytes = 0);
std::vector<std::byte> readFileBytes(const std::filesystem::path& path);
void writeFileBytes(const std::filesystem::path& path, std::span<const std::byte> bytes);
// Size and CRC-32 of every regular file under `dir`, by relative path: what "the inputs never
// change" compares before and after each run (reads in 4 MiB blocks, so large inputs are cheap).
std::map<std::string, std::pair<uint64_t, uint32_t>> treeDigest(const std::filesystem::path& dir);
// The `loramerge` binary of this build.
QString cliPath();
// Runs `msfixtures.py generate DIR --scenario ...` (needs /usr/bin/python3 with numpy). Returns an
// empty string on success, otherwise why the fixtures could not be made (for QSKIP).
QString generateFixtures(const std::filesystem::path& dir, const QStringList& scenarios);

// A minimal protobuf encoder, independent of libprotobuf, to build test files byte by byte.
struct ProtoBuilder {
    std::string bytes;
    ProtoBuilder& varint(uint64_t value) {
        std::vector<std::byte> encoded;
        wire::appendVarint(encoded, value);  // pinned byte for byte by tst_wire
        for (std::byte b : encoded) bytes += char(b);
        return *this;
    }
    ProtoBuilder& integer(int field, int64_t value) {
        return varint(uint64_t(field) << 3).varint(uint64_t(value));
    }
    ProtoBuilder& message(int field, const std::string& payload) {
        varint(uint64_t(field) << 3 | 2).varint(payload.size());
        bytes += payload;
        return *this;
    }
    ProtoBuilder& message(int field, const ProtoBuilder& inner) { return message(field, inner.bytes); }
};
// Regular files under `dir`, recursively (relative paths, sorted).
std::vector<std::string> listFiles(const std::filesystem::path& dir);

// A QString column of the current data row as UTF-8 (what QFETCH would give, converted).
std::string fetchText(const char* column);

}  // namespace lms::test

namespace lms::test {

// Writes a MindSpore safetensors file ({"format": "ms"}) holding `tensors` in order.
// `metadata` replaces the default {"format": "ms"} when given.
void writeSafetensors(const std::filesystem::path& path, const std::vector<FakeTensor>& tensors,
                      std::vector<std::pair<std::string, std::string>> metadata = {{"format", "ms"}});

}  // namespace lms::test
