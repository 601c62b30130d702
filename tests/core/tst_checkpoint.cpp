// The two-phase .ckpt reader (spec §1): index without payloads, payloads on demand, hostile input.
#include "TestSupport.h"
#include "lms/formats/Checkpoint.h"
#include "lms/formats/CheckpointWriter.h"

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>
#include <cstring>

using namespace lms;
using namespace lms::test;

namespace {

std::vector<std::byte> hexBytes(const char* hex) {
    std::vector<std::byte> out;
    for (const char* p = hex; *p;) {
        if (*p == ' ') {
            ++p;
            continue;
        }
        out.push_back(std::byte(std::stoi(std::string(p, 2), nullptr, 16)));
        p += 2;
    }
    return out;
}

void append(std::vector<std::byte>& out, std::string_view text) {
    for (char c : text) out.push_back(std::byte(c));
}

// Spec §1.2: the record of Float32 `w` [2,2] = 1,2,3,4, byte for byte.
const char* kWorkedRecord =
    "0a24 0a0177 121f 08020802 1207466c6f61743332 1a10 0000803f 00000040 00004040 00008040";
// Spec §1.2: scalar epoch_num = 3 (Int64, no dims).
const char* kEpochRecord = "0a1e 0a09 65706f63685f6e756d 1211 1205 496e743634 1a08 0300000000000000";

}  // namespace

class TestCheckpoint : public QObject {
    Q_OBJECT
    QTemporaryDir tmp_;
    std::filesystem::path path(const char* name) {
        return std::filesystem::path(tmp_.path().toStdString()) / name;
    }

    std::shared_ptr<CheckpointFile> openOk(const std::filesystem::path& p) {
        auto file = CheckpointFile::open(p);
        if (!file) qWarning("%s", file.error().describe().c_str());
        return file ? *file : nullptr;
    }

private slots:
    void encodesTheSpecWorkedBytes() {
        const std::vector<int64_t> dims{2, 2};
        auto header = encodeRecordHeader("w", "Float32", dims, 16);
        auto expected = hexBytes(kWorkedRecord);
        expected.resize(expected.size() - 16);
        QCOMPARE(header, expected);
        const auto epoch = encodeRecordHeader("epoch_num", "Int64", {}, 8);
        auto expectedEpoch = hexBytes(kEpochRecord);
        expectedEpoch.resize(expectedEpoch.size() - 8);
        QCOMPARE(epoch, expectedEpoch);
    }

    void indexesTheSpecWorkedBytes() {
        auto bytes = hexBytes(kWorkedRecord);
        const auto epoch = hexBytes(kEpochRecord);
        bytes.insert(bytes.end(), epoch.begin(), epoch.end());
        writeFileBytes(path("worked.ckpt"), bytes);
        auto file = openOk(path("worked.ckpt"));
        QVERIFY(file);
        QCOMPARE(file->tensors().size(), size_t(2));
        const auto& w = file->tensors()[0];
        QCOMPARE(w.name, std::string("w"));
        QCOMPARE(w.typeName, std::string("Float32"));
        QCOMPARE(w.dims, (std::vector<int64_t>{2, 2}));
        QCOMPARE(w.byteSize, uint64_t(16));
        QCOMPARE(w.chunks.size(), size_t(1));
        QCOMPARE(w.chunks[0].offset, uint64_t(22));  // after the 22 header bytes
        QCOMPARE(w.records[0].offset, uint64_t(0));
        QCOMPARE(w.records[0].length, uint64_t(38));
        auto content = file->readTensor(w);
        QVERIFY(content);
        QCOMPARE(bytesToFloats(DType::Float32, *content), (std::vector<float>{1, 2, 3, 4}));
        const auto& e = *file->find("epoch_num");
        QVERIFY(e.dims.empty());
        QCOMPARE(e.dtype, DType::Int64);
        QCOMPARE(e.elementCount(), uint64_t(1));
        auto value = file->readTensor(e);
        int64_t epochValue = 0;
        std::memcpy(&epochValue, value->data(), 8);
        QCOMPARE(epochValue, int64_t(3));
    }

    void joinsChunkRecords() {
        const auto values = randomValues(300, 7);
        writeCheckpoint(path("chunked.ckpt"),
                        {{"a", "Float32", {300}, floatBytes(DType::Float32, values)},
                         {"b", "BFloat16", {10, 30}, floatBytes(DType::BFloat16, values)}},
                        256);
        auto file = openOk(path("chunked.ckpt"));
        QVERIFY(file);
        QCOMPARE(file->tensors().size(), size_t(2));
        QCOMPARE(file->tensors()[0].chunks.size(), size_t(5));  // 1200 bytes in 256-byte records
        QCOMPARE(file->tensors()[1].chunks.size(), size_t(3));  // 600 bytes
        QCOMPARE(bytesToFloats(DType::Float32, *file->readTensor(file->tensors()[0])), values);
        QCOMPARE(*file->readTensor(file->tensors()[1]), floatBytes(DType::BFloat16, values));
    }

    void legacyScalarsAndStrings() {
        const float lr = 0.01f;
        std::vector<std::byte> lrBytes(4);
        std::memcpy(lrBytes.data(), &lr, 4);
        std::vector<std::byte> text;
        for (char32_t c : std::u32string(U"hi\u00e9")) {
            const auto v = uint32_t(c);
            for (int i = 0; i < 4; ++i) text.push_back(std::byte((v >> (8 * i)) & 0xFF));
        }
        writeCheckpoint(path("scalars.ckpt"),
                        {{"learning_rate", "Float32", {0}, lrBytes}, {"note", "str", {0}, text}});
        auto file = openOk(path("scalars.ckpt"));
        QVERIFY(file);
        const auto& lrInfo = file->tensors()[0];
        QVERIFY(lrInfo.legacyScalar);
        QCOMPARE(lrInfo.dims, std::vector<int64_t>{0});
        QVERIFY(lrInfo.logicalShape().empty());
        const auto& note = file->tensors()[1];
        QCOMPARE(note.dtype, DType::String);
        QCOMPARE(note.elementCount(), uint64_t(3));
        QVERIFY(!note.legacyScalar);
    }

    void acceptsPackedDimsAndSkipsUnknownFields() {
        // Value{tag="p", tensor{dims packed [2,3] ... }} followed by an unknown top-level varint field 2.
        std::vector<std::byte> tensor = hexBytes("0a020203");  // packed dims
        tensor.push_back(std::byte{0x12});
        tensor.push_back(std::byte{5});
        append(tensor, "UInt8");
        tensor.push_back(std::byte{0x1A});
        tensor.push_back(std::byte{6});
        for (int i = 0; i < 6; ++i) tensor.push_back(std::byte(i));
        tensor.push_back(std::byte{0x20});  // unknown TensorProto field 4 (varint)
        tensor.push_back(std::byte{1});
        std::vector<std::byte> value = hexBytes("0a0170");
        value.push_back(std::byte{0x12});
        value.push_back(std::byte(tensor.size()));
        value.insert(value.end(), tensor.begin(), tensor.end());
        std::vector<std::byte> file{std::byte{0x0A}, std::byte(value.size())};
        file.insert(file.end(), value.begin(), value.end());
        const auto unknown =
            hexBytes("1005");  // unknown top-level field 2 (varint 5), e.g. the old model_type slot
        file.insert(file.end(), unknown.begin(), unknown.end());
        writeFileBytes(path("packed.ckpt"), file);
        auto opened = openOk(path("packed.ckpt"));
        QVERIFY(opened);
        QCOMPARE(opened->tensors().size(), size_t(1));
        QCOMPARE(opened->tensors()[0].dims, (std::vector<int64_t>{2, 3}));
        QCOMPARE(opened->tensors()[0].byteSize, uint64_t(6));
    }

    void crcTrailer() {
        writeCheckpoint(path("crc.ckpt"), {{"x", "Float32", {4}, floatBytes(DType::Float32, {1, 2, 3, 4})}});
        auto bytes = readFileBytes(path("crc.ckpt"));
        const uint32_t crc = crc32Update(0, bytes);
        append(bytes, "crc_num");
        for (int i = 9; i >= 0; --i)
            bytes.push_back(i < 4 ? std::byte((crc >> (8 * i)) & 0xFF) : std::byte{0});
        writeFileBytes(path("crc.ckpt"), bytes);
        auto file = openOk(path("crc.ckpt"));
        QVERIFY(file);
        QVERIFY(file->crc().present);
        QCOMPARE(file->crc().stored, crc);
        QVERIFY(file->verifyCrc());
        bytes[30] ^= std::byte{1};  // flip a content bit
        writeFileBytes(path("crc-bad.ckpt"), bytes);
        auto bad = openOk(path("crc-bad.ckpt"));
        QVERIFY(bad);
        const auto st = bad->verifyCrc();
        QVERIFY(!st);
        QVERIFY(st.error().message.find("CRC mismatch") != std::string::npos);
    }

    void crcOfKnownString() {
        QCOMPARE(crc32Update(0, std::as_bytes(std::span("123456789", 9))), 0xCBF43926u);
    }

    void rejectsBadInput_data() {
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<int>("code");
        QTest::addColumn<QString>("messagePart");
        auto raw = [](const std::vector<std::byte>& v) {
            return QByteArray(reinterpret_cast<const char*>(v.data()), qsizetype(v.size()));
        };
        auto worked = hexBytes(kWorkedRecord);
        QTest::newRow("empty") << QByteArray() << int(ErrorCode::Malformed) << QStringLiteral("empty");
        QTest::newRow("encrypted-gcm") << raw(hexBytes("d85e3a7f00112233")) << int(ErrorCode::Unsupported)
                                       << QStringLiteral("encrypted checkpoint (AES-GCM)");
        QTest::newRow("encrypted-sm4")
            << raw(hexBytes("da5e3a7f00112233")) << int(ErrorCode::Unsupported) << QStringLiteral("SM4-CBC");
        QTest::newRow("strategy") << raw(hexBytes("0801 1a02 0a00")) << int(ErrorCode::Malformed)
                                  << QStringLiteral("parallel strategy file");
        QTest::newRow("text") << QByteArray("hello world") << int(ErrorCode::Malformed)
                              << QStringLiteral("starts with byte 0x68");
        auto truncated = worked;
        truncated.resize(30);
        QTest::newRow("truncated") << raw(truncated) << int(ErrorCode::Malformed)
                                   << QStringLiteral("the file is truncated");
        auto shortContent =
            hexBytes("0a20 0a0177 121b 08020802 1207466c6f61743332 1a0c 0000803f 00000040 00004040");
        QTest::newRow("content-length")
            << raw(shortContent) << int(ErrorCode::Malformed)
            << QStringLiteral("content has 12 bytes but dims and Float32 need 16");
        auto overflow =
            hexBytes("0a24 0a0177 121f 08ffffffffffffffff7f 08ffffffffffffffff7f 1207466c6f61743332 1a00");
        QTest::newRow("dims-overflow")
            << raw(overflow) << int(ErrorCode::Malformed) << QStringLiteral("overflow");
        auto twice = worked;
        const auto epochRecord = hexBytes(kEpochRecord);
        twice.insert(twice.end(), epochRecord.begin(), epochRecord.end());
        twice.insert(twice.end(), worked.begin(), worked.end());
        QTest::newRow("duplicate") << raw(twice) << int(ErrorCode::Malformed)
                                   << QStringLiteral("appears twice");
        auto noType = hexBytes("0a0d 0a0177 1208 0802 1a0400000000");
        QTest::newRow("no-tensor-type")
            << raw(noType) << int(ErrorCode::Malformed) << QStringLiteral("no tensor_type");
        auto groupWire = hexBytes("0a05 0a0177 1300");
        QTest::newRow("bad-wire-type")
            << raw(groupWire) << int(ErrorCode::Malformed) << QStringLiteral("wire type");
        QTest::newRow("huge-length") << raw(hexBytes("0affffffffffffffff7f")) << int(ErrorCode::Malformed)
                                     << QStringLiteral("the file is truncated");
        // Hostile varints (Wire.h): 11 bytes, cut off by the end of the file, a 10th byte past bit 63.
        QTest::newRow("length-varint-11-bytes")
            << raw(hexBytes("0affffffffffffffffffff01")) << int(ErrorCode::Malformed)
            << QStringLiteral("at byte 1: varint longer than 10 bytes");
        QTest::newRow("length-varint-cut") << raw(hexBytes("0affff")) << int(ErrorCode::Malformed)
                                           << QStringLiteral("at byte 3: truncated varint");
        QTest::newRow("dim-varint-bit-64")
            << raw(hexBytes("0a1b 0a0177 1216 08ffffffffffffffffff02 1207466c6f61743332 1a00"))
            << int(ErrorCode::Malformed)
            << QStringLiteral(
                   "at byte 8: not a MindSpore checkpoint: the first record does not hold a parameter "
                   "(varint longer than 10 bytes)");
        QTest::newRow("chunks-disagree") << raw([&] {
            auto a = encodeRecordHeader("w", "Float32", std::vector<int64_t>{2}, 4);
            a.resize(a.size() + 4);
            auto b = encodeRecordHeader("w", "Float16", std::vector<int64_t>{2}, 4);
            a.insert(a.end(), b.begin(), b.end());
            a.resize(a.size() + 4);
            return a;
        }()) << int(ErrorCode::Malformed) << QStringLiteral("disagree");
    }
    void rejectsBadInput() {
        QFETCH(QByteArray, bytes);
        QFETCH(int, code);
        QFETCH(QString, messagePart);
        const auto p = path("bad.ckpt");
        writeFileBytes(p, std::as_bytes(std::span(bytes.constData(), size_t(bytes.size()))));
        auto file = CheckpointFile::open(p);
        QVERIFY(!file);
        QCOMPARE(int(file.error().code), code);
        QCOMPARE(file.error().file, p.string());
        const auto text = QString::fromStdString(file.error().describe());
        QVERIFY2(text.contains(messagePart), qPrintable(text));
    }

    // Every truncation of a valid file either fails cleanly or ends exactly at a record boundary.
    void everyTruncationIsHandled() {
        writeCheckpoint(path("full.ckpt"),
                        {{"alpha", "Float32", {3}, floatBytes(DType::Float32, {1, 2, 3})},
                         {"beta", "Float16", {2, 2}, floatBytes(DType::Float16, {1, 2, 3, 4})}});
        const auto bytes = readFileBytes(path("full.ckpt"));
        auto full = openOk(path("full.ckpt"));
        QVERIFY(full);
        const auto boundary = full->tensors()[1].records[0].offset;
        for (size_t n = 1; n < bytes.size(); ++n) {
            writeFileBytes(path("cut.ckpt"), std::span(bytes.data(), n));
            auto file = CheckpointFile::open(path("cut.ckpt"));
            if (n == boundary) {
                QVERIFY(file);
                QCOMPARE((*file)->tensors().size(), size_t(1));
            } else {
                QVERIFY2(!file, qPrintable(QString::number(n)));
                QCOMPARE(file.error().code, ErrorCode::Malformed);
            }
        }
    }

    void missingFileIsNotFound() {
        auto file = CheckpointFile::open(path("does-not-exist.ckpt"));
        QVERIFY(!file);
        QCOMPARE(file.error().code, ErrorCode::NotFound);
        auto dir = CheckpointFile::open(tmp_.path().toStdString());
        QVERIFY(!dir);
        QVERIFY(dir.error().message.find("folder") != std::string::npos);
    }

    // Files MindSpore wrote itself (shared/real/README.md).
    void realFiles_data() {
        QTest::addColumn<QString>("file");
        QTest::addColumn<int>("count");
        QTest::addColumn<QString>("name");
        QTest::addColumn<QString>("dtype");
        QTest::addColumn<QString>("shape");
        QTest::addColumn<bool>("legacyScalar");
        QTest::newRow("lenet-lossscale-weight")
            << "ckpt/lenet_momentum_lossscale.ckpt" << 21 << "conv1.weight"
            << "Float32"
            << "[6,1,5,5]" << false;
        QTest::newRow("lenet-lossscale-scale_sense")
            << "ckpt/lenet_momentum_lossscale.ckpt" << 21 << "scale_sense"
            << "Float32"
            << "[0]" << true;
        QTest::newRow("lenet-lossscale-learning_rate")
            << "ckpt/lenet_momentum_lossscale.ckpt" << 21 << "learning_rate"
            << "Float32"
            << "[0]" << true;
        QTest::newRow("lenet-lossscale-momentum") << "ckpt/lenet_momentum_lossscale.ckpt" << 21 << "momentum"
                                                  << "Float32"
                                                  << "[0]" << true;
        QTest::newRow("lenet-fc-global_step") << "ckpt/lenet_fc_momentum.ckpt" << 23 << "global_step"
                                              << "Int32"
                                              << "[1]" << false;
        QTest::newRow("lenet-fc-fc1") << "ckpt/lenet_fc_momentum.ckpt" << 23 << "fc1.weight"
                                      << "Float32"
                                      << "[120,400]" << false;
        QTest::newRow("moe-experts") << "ckpt/moe_experts_3d.ckpt" << 4 << "feed_forward.ffn.w1.weight"
                                     << "Float32"
                                     << "[4,64,16]" << false;
        QTest::newRow("moe-router") << "ckpt/moe_experts_3d.ckpt" << 4 << "feed_forward.router.dense.weight"
                                    << "Float32"
                                    << "[4,16]" << false;
        QTest::newRow("digit-names") << "ckpt/sequential_mlp_digit_names.ckpt" << 12 << "0.w1.weight"
                                     << "Float32"
                                     << "[16,4]" << false;
        QTest::newRow("llama-rank0-wq")
            << "dist/llama-tiny-fp16-mp2/rank_0/fp16.ckpt" << 12 << "model.layers.0.attention.wq.weight"
            << "Float16"
            << "[20,40]" << false;
        QTest::newRow("llama-rank1-wo")
            << "dist/llama-tiny-fp16-mp2/rank_1/fp16.ckpt" << 12 << "model.layers.0.attention.wo.weight"
            << "Float16"
            << "[40,20]" << false;
        QTest::newRow("llama-rank0-embedding")
            << "dist/llama-tiny-fp16-mp2/rank_0/fp16.ckpt" << 12 << "model.tok_embeddings.embedding_weight"
            << "Float16"
            << "[32000,40]" << false;
        QTest::newRow("llama-rank1-norm")
            << "dist/llama-tiny-fp16-mp2/rank_1/fp16.ckpt" << 12 << "model.layers.0.ffn_norm.weight"
            << "Float32"
            << "[40]" << false;
    }
    void realFiles() {
        QFETCH(QString, file);
        QFETCH(int, count);
        QFETCH(QString, name);
        QFETCH(QString, dtype);
        QFETCH(QString, shape);
        QFETCH(bool, legacyScalar);
        if (sharedDir().empty()) QSKIP("../shared is not beside the checkout");
        auto opened = openOk(sharedDir() / "real" / file.toStdString());
        QVERIFY(opened);
        QCOMPARE(int(opened->tensors().size()), count);
        const auto* info = opened->find(name.toStdString());
        QVERIFY2(info, qPrintable(name));
        QCOMPARE(QString::fromStdString(info->typeName), dtype);
        QCOMPARE(QString::fromStdString(formatDimsForTest(info->dims)), shape);
        QCOMPARE(info->legacyScalar, legacyScalar);
        auto bytes = opened->readTensor(*info);
        QVERIFY(bytes);
        QCOMPARE(uint64_t(bytes->size()), info->byteSize);
    }

    // The whole index of every real file equals what the independent Python reader prints.
    void realFilesMatchIndependentReader() {
        if (sharedDir().empty()) QSKIP("../shared is not beside the checkout");
        const QString script = QString::fromStdString((sharedDir() / "interop" / "msfixtures.py").string());
        for (const char* rel :
             {"ckpt/lenet_momentum_lossscale.ckpt", "ckpt/lenet_fc_momentum.ckpt", "ckpt/moe_experts_3d.ckpt",
              "ckpt/sequential_mlp_digit_names.ckpt", "dist/llama-tiny-fp16-mp2/rank_0/fp16.ckpt",
              "dist/llama-tiny-fp16-mp2/rank_1/fp16.ckpt"}) {
            const auto p = sharedDir() / "real" / rel;
            QProcess dump;
            dump.start(QStringLiteral("/usr/bin/python3"),
                       {script, QStringLiteral("dump"), QString::fromStdString(p.string())});
            if (!dump.waitForFinished(60000) || dump.exitCode() != 0)
                QSKIP("msfixtures.py dump is not runnable here");
            const auto lines =
                QString::fromUtf8(dump.readAllStandardOutput()).split(u'\n', Qt::SkipEmptyParts);
            auto file = openOk(p);
            QVERIFY(file);
            QCOMPARE(qsizetype(file->tensors().size()), lines.size() - 1);
            for (size_t i = 0; i < file->tensors().size(); ++i) {
                const auto& t = file->tensors()[i];
                const auto fields = lines[qsizetype(i) + 1].trimmed().split(QStringLiteral("  "));
                QCOMPARE(fields.value(0), QString::fromStdString(t.name));
                QCOMPARE(fields.value(1),
                         QString::fromStdString(t.typeName + " " + formatDimsForTest(t.dims, ", ")));
                QVERIFY2(fields.value(2).startsWith(QString::number(t.byteSize) + QStringLiteral(" bytes")),
                         qPrintable(lines[qsizetype(i) + 1]));
            }
        }
    }

private:
    static std::string formatDimsForTest(const std::vector<int64_t>& dims, const char* sep = ",") {
        std::string out = "[";
        for (size_t i = 0; i < dims.size(); ++i) {
            if (i) out += sep;
            out += std::to_string(dims[i]);
        }
        return out + "]";
    }
};

QTEST_GUILESS_MAIN(TestCheckpoint)
#include "tst_checkpoint.moc"
