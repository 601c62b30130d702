#include "TestSupport.h"

#include <QtTest>
#include <algorithm>
#include <fstream>
#include <random>

namespace lms::test {

std::filesystem::path sharedDir() {
    std::filesystem::path dir = LMS_SHARED_DIR;
    return std::filesystem::is_directory(dir) ? dir : std::filesystem::path();
}

std::vector<std::byte> floatBytes(DType dtype, const std::vector<float>& values) {
    std::vector<std::byte> out(values.size() * dtypeBits(dtype) / 8);
    narrowFromFloat(dtype, values, out);
    return out;
}

std::vector<float> bytesToFloats(DType dtype, std::span<const std::byte> bytes) {
    std::vector<float> out(bytes.size() * 8 / dtypeBits(dtype));
    widenToFloat(dtype, bytes, out);
    return out;
}

std::vector<float> randomValues(size_t count, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    std::vector<float> out(count);
    for (auto& v : out) v = dist(rng);
    return out;
}

void writeCheckpoint(const std::filesystem::path& path, const std::vector<FakeTensor>& tensors, uint64_t chunkBytes) {
    std::vector<std::byte> file;
    for (const auto& t : tensors) {
        uint64_t offset = 0;
        do {
            const uint64_t n = chunkBytes ? std::min<uint64_t>(chunkBytes, t.content.size() - offset) : t.content.size();
            const auto header = encodeRecordHeader(t.name, t.typeName, t.dims, n);
            file.insert(file.end(), header.begin(), header.end());
            file.insert(file.end(), t.content.begin() + long(offset), t.content.begin() + long(offset + n));
            offset += n;
        } while (offset < t.content.size());
    }
    writeFileBytes(path, file);
}

std::vector<std::byte> readFileBytes(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::vector<char> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::byte> out(data.size());
    if (!data.empty()) std::memcpy(out.data(), data.data(), data.size());
    return out;
}

void writeFileBytes(const std::filesystem::path& path, std::span<const std::byte> bytes) {
    std::filesystem::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    QVERIFY2(out.good(), path.c_str());
}

std::vector<std::string> listFiles(const std::filesystem::path& dir) {
    std::vector<std::string> out;
    std::error_code ec;
    if (!std::filesystem::exists(dir, ec)) return out;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(dir))
        if (entry.is_regular_file()) out.push_back(std::filesystem::relative(entry.path(), dir).string());
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<std::pair<std::string, uint64_t>> fingerprintTree(const std::filesystem::path& dir) {
    std::vector<std::pair<std::string, uint64_t>> out;
    for (const auto& name : listFiles(dir)) {
        const auto bytes = readFileBytes(dir / name);
        uint64_t hash = 1469598103934665603ull;
        for (auto b : bytes) hash = (hash ^ uint64_t(b)) * 1099511628211ull;
        out.emplace_back(name + ":" + std::to_string(bytes.size()), hash);
    }
    return out;
}

}  // namespace lms::test
