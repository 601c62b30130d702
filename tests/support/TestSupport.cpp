#include "TestSupport.h"

#include "lms/formats/Safetensors.h"

#include <QProcess>
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

void writeCheckpoint(const std::filesystem::path& path, const std::vector<FakeTensor>& tensors,
                     uint64_t chunkBytes) {
    std::vector<std::byte> file;
    for (const auto& t : tensors) {
        uint64_t offset = 0;
        do {
            const uint64_t n =
                chunkBytes ? std::min<uint64_t>(chunkBytes, t.content.size() - offset) : t.content.size();
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

std::map<std::string, std::pair<uint64_t, uint32_t>> treeDigest(const std::filesystem::path& dir) {
    std::map<std::string, std::pair<uint64_t, uint32_t>> out;
    std::vector<char> block(4 << 20);
    for (const auto& name : listFiles(dir)) {
        std::ifstream in(dir / name, std::ios::binary);
        uint64_t size = 0;
        uint32_t crc = 0;
        while (in) {
            in.read(block.data(), std::streamsize(block.size()));
            const auto n = size_t(in.gcount());
            crc = crc32Update(crc, std::as_bytes(std::span(block.data(), n)));
            size += n;
        }
        out[name] = {size, crc};
    }
    return out;
}

QString generateFixtures(const std::filesystem::path& dir, const QStringList& scenarios) {
    const QString script = QString::fromStdString((sharedDir() / "interop" / "msfixtures.py").string());
    if (sharedDir().empty() || !QFile::exists(script)) return QStringLiteral("msfixtures.py not found");
    if (!QFile::exists(QStringLiteral("/usr/bin/python3")))
        return QStringLiteral("/usr/bin/python3 is missing");
    QProcess probe;
    probe.start(QStringLiteral("/usr/bin/python3"), {QStringLiteral("-c"), QStringLiteral("import numpy")});
    if (!probe.waitForFinished(60000) || probe.exitCode() != 0) return QStringLiteral("python3 has no numpy");
    QProcess gen;
    gen.start(QStringLiteral("/usr/bin/python3"),
              QStringList{script, QStringLiteral("generate"), QString::fromStdString(dir.string()),
                          QStringLiteral("--scenario")} +
                  scenarios);
    if (!gen.waitForFinished(120000) || gen.exitCode() != 0)
        return QStringLiteral("msfixtures.py generate failed: ") +
               QString::fromLocal8Bit(gen.readAllStandardError());
    return {};
}

QString cliPath() {
    return QStringLiteral(LMS_BINARY_DIR "/app/loramerge");
}

void writeSafetensors(const std::filesystem::path& path, const std::vector<FakeTensor>& tensors,
                      std::vector<std::pair<std::string, std::string>> metadata) {
    std::vector<SafetensorsTensor> declared;
    for (const auto& t : tensors)
        declared.push_back({t.name, dtypeFromTensorType(t.typeName), t.dims, uint64_t(t.content.size())});
    auto writer = SafetensorsWriter::create(path, {}, std::move(metadata), declared);
    QVERIFY2(writer.has_value(), writer ? "" : writer.error().describe().c_str());
    for (const auto& t : tensors)
        QVERIFY(writer->writeTensor(t.name, t.typeName, t.dims, t.content).has_value());
    QVERIFY(writer->commit().has_value());
}

std::string fetchText(const char* column) {
    return static_cast<QString*>(QTest::qData(column, qMetaTypeId<QString>()))->toStdString();
}

}  // namespace lms::test
