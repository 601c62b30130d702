#pragma once
// Helpers shared by the test binaries: temp folders, building small checkpoints in code,
// locating ../shared, and byte/checksum utilities.

#include "lms/Checkpoint.h"
#include "lms/CheckpointWriter.h"

#include <QString>
#include <filesystem>
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
// SHA-like fingerprint (FNV-1a 64) and size of every regular file under `dir`, sorted by path.
std::vector<std::pair<std::string, uint64_t>> fingerprintTree(const std::filesystem::path& dir);
// Regular files under `dir`, recursively (relative paths, sorted).
std::vector<std::string> listFiles(const std::filesystem::path& dir);

}  // namespace lms::test
