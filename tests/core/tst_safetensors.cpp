// Tests for MindSpore safetensors support: CheckpointFile's safetensors index (SafetensorsReader.cpp),
// looksLikeSafetensors() and SafetensorsWriter. Byte-exact expectations come from msfixtures.py's
// selftest (the hand-checked two-tensor file) and its list of refusals.

#include "TestSupport.h"
#include "lms/formats/Checkpoint.h"
#include "lms/formats/Safetensors.h"

#include <QByteArray>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

QString qs(const std::string& s) {
    return QString::fromStdString(s);
}
QByteArray qb(const std::string& s) {
    return QByteArray::fromStdString(s);
}

std::vector<std::byte> toBytes(const QByteArray& a) {
    std::vector<std::byte> out(size_t(a.size()));
    if (!out.empty()) std::memcpy(out.data(), a.constData(), out.size());
    return out;
}

QByteArray fromBytes(std::span<const std::byte> b) {
    return QByteArray(reinterpret_cast<const char*>(b.data()), qsizetype(b.size()));
}

QByteArray u64le(uint64_t v) {
    QByteArray out(8, '\0');
    for (int i = 0; i < 8; ++i) out[i] = char(uint8_t(v >> (8 * i)));
    return out;
}

QByteArray readAll(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return QByteArray::fromStdString(std::string(std::istreambuf_iterator<char>(in), {}));
}

void writeAll(const fs::path& path, const QByteArray& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.constData(), bytes.size());
}

// A safetensors file: length prefix, header JSON, `dataBytes` bytes 0x00, 0x01, ...
QByteArray stFile(const QByteArray& header, int dataBytes) {
    QByteArray data(dataBytes, '\0');
    for (int i = 0; i < dataBytes; ++i) data[i] = char(i);
    return u64le(uint64_t(header.size())) + header + data;
}

// One header entry, as msfixtures' selftest builds them.
QByteArray entry(const char* name, const char* dtype, const char* shape, const char* offsets) {
    return QByteArray("\"") + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape +
           ",\"data_offsets\":" + offsets + "}";
}

QByteArray f32(std::initializer_list<float> values) {
    QByteArray out;
    for (float v : values) out.append(reinterpret_cast<const char*>(&v), 4);
    return out;
}

// The hand-checked bytes of msfixtures' selftest: w F32 [2,2] = 1,2,3,4 and s I64 [] = 3,
// header 142 bytes + 2 spaces = 0x90.
QByteArray handCheckedFile() {
    return QByteArray::fromHex("9000000000000000") +
           QByteArray(
               R"({"__metadata__":{"format":"ms"},"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
               R"("s":{"dtype":"I64","shape":[],"data_offsets":[16,24]}}  )") +
           f32({1, 2, 3, 4}) + QByteArray::fromHex("0300000000000000");
}

std::vector<int64_t> dimsOf(std::initializer_list<int64_t> d) {
    return d;
}

}  // namespace

class TestSafetensors : public QObject {
    Q_OBJECT

private slots:
    void initTestCase();
    void init();
    void detectsSafetensorsByContent_data();
    void detectsSafetensorsByContent();
    void readsHandCheckedFile();
    void writesHandCheckedBytes();
    void acceptsValidHeaders_data();
    void acceptsValidHeaders();
    void refusesInvalidFiles_data();
    void refusesInvalidFiles();
    void roundTripsEveryDtype();
    void writerRefusesBadDeclarations_data();
    void writerRefusesBadDeclarations();
    void writerEnforcesStreamingProtocol();
    void writerRefusesToOverwriteInput();
    void msfixturesAcceptsWrittenFile();
    void fixtureMatchesCheckpoint_data();
    void fixtureMatchesCheckpoint();

private:
    fs::path tempPath(const std::string& name) const { return fs::path(dir_->path().toStdString()) / name; }
    std::unique_ptr<QTemporaryDir> dir_;       // per test function
    std::unique_ptr<QTemporaryDir> fixtures_;  // msfixtures scenarios, generated once
    std::string fixtureProblem_;               // why fixture tests skip ("" = they run)
};

void TestSafetensors::init() {
    dir_ = std::make_unique<QTemporaryDir>();
    QVERIFY(dir_->isValid());
}

void TestSafetensors::detectsSafetensorsByContent_data() {
    QTest::addColumn<QByteArray>("head");
    QTest::addColumn<bool>("expected");
    QTest::newRow("minimum length 2") << u64le(2) + "{" << true;
    QTest::newRow("maximum length") << u64le(100'000'000) + "{" << true;
    QTest::newRow("hand-checked file") << handCheckedFile().left(9) << true;
    QTest::newRow("length 1") << u64le(1) + "{" << false;
    QTest::newRow("length 0") << u64le(0) + "{" << false;
    QTest::newRow("length over limit") << u64le(100'000'001) + "{" << false;
    QTest::newRow("huge length") << u64le(~0ull) + "{" << false;
    QTest::newRow("no brace") << u64le(144) + "[" << false;
    QTest::newRow("only 8 bytes") << u64le(144) << false;
    QTest::newRow("empty") << QByteArray() << false;
    QTest::newRow("ckpt record") << QByteArray::fromHex("0a1b0a0177121608020802") << false;
}

void TestSafetensors::detectsSafetensorsByContent() {
    QFETCH(QByteArray, head);
    QFETCH(bool, expected);
    const auto bytes = toBytes(head);
    QCOMPARE(lms::looksLikeSafetensors(bytes), expected);
}

void TestSafetensors::readsHandCheckedFile() {
    const auto path = tempPath("hand.safetensors");
    writeAll(path, handCheckedFile());
    auto file = lms::CheckpointFile::open(path);
    QVERIFY2(file.has_value(), file ? "" : file.error().describe().c_str());
    const auto& ckpt = **file;
    QCOMPARE(ckpt.format(), lms::CheckpointFormat::Safetensors);
    QCOMPARE(ckpt.metadata().size(), size_t(1));
    QCOMPARE(qb(ckpt.metadata()[0].first), QByteArray("format"));
    QCOMPARE(qb(ckpt.metadata()[0].second), QByteArray("ms"));
    QCOMPARE(ckpt.tensors().size(), size_t(2));

    const auto& w = ckpt.tensors()[0];
    QCOMPARE(qb(w.name), QByteArray("w"));
    QCOMPARE(qb(w.typeName), QByteArray("Float32"));
    QCOMPARE(w.dtype, lms::DType::Float32);
    QVERIFY(w.dims == dimsOf({2, 2}));
    QCOMPARE(w.byteSize, uint64_t(16));
    QCOMPARE(w.chunks.size(), size_t(1));
    QCOMPARE(w.chunks[0].offset, uint64_t(8 + 0x90));
    QCOMPARE(w.chunks[0].length, uint64_t(16));
    QVERIFY(w.records.empty());
    QCOMPARE(w.kind, lms::TensorKind::Dense);
    QVERIFY(!w.legacyScalar);

    const auto& s = ckpt.tensors()[1];
    QCOMPARE(qb(s.name), QByteArray("s"));
    QCOMPARE(qb(s.typeName), QByteArray("Int64"));
    QCOMPARE(s.dtype, lms::DType::Int64);
    QVERIFY(s.dims.empty());
    QCOMPARE(s.elementCount(), uint64_t(1));
    QCOMPARE(s.chunks[0].offset, uint64_t(8 + 0x90 + 16));
    QCOMPARE(s.chunks[0].length, uint64_t(8));

    QVERIFY(ckpt.find("w") == &ckpt.tensors()[0]);
    QVERIFY(ckpt.find("s") == &ckpt.tensors()[1]);
    QVERIFY(ckpt.find("__metadata__") == nullptr);
    auto wBytes = ckpt.readTensor(w);
    QVERIFY(wBytes.has_value());
    QCOMPARE(fromBytes(*wBytes), f32({1, 2, 3, 4}));
    auto sBytes = ckpt.readTensor(s);
    QVERIFY(sBytes.has_value());
    QCOMPARE(fromBytes(*sBytes), QByteArray::fromHex("0300000000000000"));
}

void TestSafetensors::writesHandCheckedBytes() {
    const auto path = tempPath("written.safetensors");
    const QByteArray wContent = f32({1, 2, 3, 4});
    const QByteArray sContent = QByteArray::fromHex("0300000000000000");
    auto writer = lms::SafetensorsWriter::create(
        path, {}, {}, {{"w", lms::DType::Float32, {2, 2}, 16}, {"s", lms::DType::Int64, {}, 8}});
    QVERIFY2(writer.has_value(), writer ? "" : writer.error().describe().c_str());
    QCOMPARE(writer->headerBytes(), uint64_t(0x90));
    QCOMPARE(writer->bytesWritten(), uint64_t(8 + 0x90));
    QVERIFY(!fs::exists(path));  // nothing under the final name before commit
    const std::vector<int64_t> wDims{2, 2};
    const auto wBytes = toBytes(wContent);
    // Streamed in uneven pieces.
    QVERIFY(writer->beginTensor("w", "Float32", wDims, 16).has_value());
    QVERIFY(writer->append(std::span(wBytes).first(3)).has_value());
    QVERIFY(writer->append(std::span(wBytes).subspan(3)).has_value());
    QVERIFY(writer->writeTensor("s", "Int64", {}, toBytes(sContent)).has_value());
    QCOMPARE(writer->bytesWritten(), uint64_t(8 + 0x90 + 24));
    QVERIFY(writer->commit().has_value());
    QCOMPARE(readAll(path), handCheckedFile());
    QVERIFY(!fs::exists(path.string() + ".tmp"));
    QCOMPARE(
        qb(lms::encodeSafetensorsHeader(
            {{"w", lms::DType::Float32, {2, 2}, 16}, {"s", lms::DType::Int64, {}, 8}}, {{"format", "ms"}})),
        handCheckedFile().mid(8, 0x90));
}

void TestSafetensors::acceptsValidHeaders_data() {
    QTest::addColumn<QByteArray>("header");
    QTest::addColumn<int>("dataBytes");
    QTest::addColumn<QByteArray>("names");      // comma-separated, in order
    QTest::addColumn<QByteArray>("typeNames");  // comma-separated
    QTest::addColumn<QByteArray>("metadata");   // k=v comma-separated

    QTest::newRow("msfixtures accepted entry") << "{" + entry("a", "F32", "[4]", "[0,16]") + "}" << 16
                                               << QByteArray("a") << QByteArray("Float32") << QByteArray();
    QTest::newRow("metadata last") << "{" + entry("a", "BF16", "[2,1]", "[0,4]") +
                                          ",\"__metadata__\":{\"format\":\"ms\",\"x\":\"\"}}"
                                   << 4 << QByteArray("a") << QByteArray("BFloat16")
                                   << QByteArray("format=ms,x=");
    QTest::newRow("no tensors") << QByteArray("{}") << 0 << QByteArray() << QByteArray() << QByteArray();
    QTest::newRow("only metadata, padded") << QByteArray("{\"__metadata__\":{\"format\":\"ms\"}}      ") << 0
                                           << QByteArray() << QByteArray() << QByteArray("format=ms");
    QTest::newRow("whitespace inside") << "{\n  " + entry("a", "I32", "[ 1 ]", "[ 0 , 4 ]") + " ,\n  " +
                                              entry("b", "U8", "[]", "[4,5]") + "\n}"
                                       << 5 << QByteArray("a,b") << QByteArray("Int32,UInt8") << QByteArray();
    QTest::newRow("zero-size tensors")
        << "{" + entry("e", "F16", "[0]", "[0,0]") + "," + entry("f", "F64", "[3,0,2]", "[0,0]") + "," +
               entry("g", "BOOL", "[1]", "[0,1]") + "," + entry("h", "F16", "[0]", "[1,1]") + "}"
        << 1 << QByteArray("e,f,g,h") << QByteArray("Float16,Float64,Bool,Float16") << QByteArray();
    QTest::newRow("every dtype")
        << "{" + entry("a", "BOOL", "[1]", "[0,1]") + "," + entry("b", "U8", "[1]", "[1,2]") + "," +
               entry("c", "I8", "[1]", "[2,3]") + "," + entry("d", "I16", "[1]", "[3,5]") + "," +
               entry("e", "U16", "[1]", "[5,7]") + "," + entry("f", "I32", "[1]", "[7,11]") + "," +
               entry("g", "U32", "[1]", "[11,15]") + "," + entry("h", "I64", "[1]", "[15,23]") + "," +
               entry("i", "U64", "[1]", "[23,31]") + "," + entry("j", "F16", "[1]", "[31,33]") + "," +
               entry("k", "BF16", "[1]", "[33,35]") + "," + entry("l", "F32", "[1]", "[35,39]") + "," +
               entry("m", "F64", "[1]", "[39,47]") + "}"
        << 47 << QByteArray("a,b,c,d,e,f,g,h,i,j,k,l,m")
        << QByteArray(
               "Bool,UInt8,Int8,Int16,UInt16,Int32,UInt32,Int64,UInt64,Float16,BFloat16,Float32,Float64")
        << QByteArray();
    QTest::newRow("Int4 marker retypes packed bytes")
        << "{\"__metadata__\":{\"format\":\"ms\",\"q\":\"Int4\",\"missing\":\"Int4\"}," +
               entry("q", "I8", "[2,3]", "[0,6]") + "," + entry("r", "I8", "[2]", "[6,8]") + "}"
        << 8 << QByteArray("q,r") << QByteArray("Int4,Int8") << QByteArray("format=ms,q=Int4,missing=Int4");
    QTest::newRow("unicode names") << "{" + entry("\xE6\x9D\x83\xE9\x87\x8D", "F32", "[1]", "[0,4]") + "," +
                                          entry("\\u00e9t\\u00e9", "F32", "[1]", "[4,8]") + "}"
                                   << 8 << QByteArray("\xE6\x9D\x83\xE9\x87\x8D,\xC3\xA9t\xC3\xA9")
                                   << QByteArray("Float32,Float32") << QByteArray();
}

void TestSafetensors::acceptsValidHeaders() {
    QFETCH(QByteArray, header);
    QFETCH(int, dataBytes);
    QFETCH(QByteArray, names);
    QFETCH(QByteArray, typeNames);
    QFETCH(QByteArray, metadata);
    const auto path = tempPath("valid.safetensors");
    writeAll(path, stFile(header, dataBytes));
    auto file = lms::CheckpointFile::open(path);
    QVERIFY2(file.has_value(), file ? "" : file.error().describe().c_str());
    const auto& tensors = (*file)->tensors();
    const auto expectedNames = names.isEmpty() ? QList<QByteArray>() : names.split(',');
    const auto expectedTypes = typeNames.isEmpty() ? QList<QByteArray>() : typeNames.split(',');
    QCOMPARE(qsizetype(tensors.size()), expectedNames.size());
    const uint64_t dataStart = 8 + uint64_t(header.size());
    uint64_t offset = dataStart;
    for (size_t i = 0; i < tensors.size(); ++i) {
        QCOMPARE(qb(tensors[i].name), expectedNames[qsizetype(i)]);
        QCOMPARE(qb(tensors[i].typeName), expectedTypes[qsizetype(i)]);
        QCOMPARE(tensors[i].dtype, lms::dtypeFromTensorType(tensors[i].typeName));
        QCOMPARE(tensors[i].chunks.size(), size_t(1));
        QCOMPARE(tensors[i].chunks[0].offset, offset);  // data order, gap-free
        QCOMPARE(tensors[i].chunks[0].length, tensors[i].byteSize);
        QVERIFY((*file)->find(tensors[i].name) == &tensors[i]);
        auto bytes = (*file)->readTensor(tensors[i]);
        QVERIFY(bytes.has_value());
        for (size_t b = 0; b < bytes->size(); ++b)
            QCOMPARE(uint8_t((*bytes)[b]), uint8_t(offset - dataStart + b));
        offset += tensors[i].byteSize;
    }
    QCOMPARE(offset, uint64_t(8 + header.size() + dataBytes));
    QByteArray gotMetadata;
    for (const auto& [k, v] : (*file)->metadata())
        gotMetadata += (gotMetadata.isEmpty() ? "" : ",") + qb(k) + "=" + qb(v);
    QCOMPARE(gotMetadata, metadata);
}

void TestSafetensors::refusesInvalidFiles_data() {
    QTest::addColumn<QByteArray>("fileBytes");
    QTest::addColumn<QByteArray>("parameter");  // tensor named in the error ("" = none)
    QTest::addColumn<qlonglong>("offset");      // byte offset named in the error
    QTest::addColumn<QByteArray>("messagePart");

    const QByteArray a8 = entry("a", "F32", "[2]", "[0,8]");
    const QByteArray a16 = entry("a", "F32", "[4]", "[0,16]");
    // Offset of `marker` (first occurrence) inside the file of `header`.
    const auto at = [](const QByteArray& header, const char* marker) {
        return qlonglong(8 + header.indexOf(marker));
    };
    const auto row = [](const char* name, const QByteArray& header, int dataBytes, const char* parameter,
                        qlonglong offset, const char* message) {
        QTest::newRow(name) << stFile(header, dataBytes) << QByteArray(parameter) << offset
                            << QByteArray(message);
    };

    // The refusals of msfixtures' selftest.
    QByteArray h = "{" + a8 + "," + entry("b", "F32", "[1]", "[12,16]") + "}";
    row("gap", h, 16, "b", at(h, "[12,16]"), "do not start where the previous tensor ends (8)");
    h = "{" + entry("b", "F32", "[2]", "[8,16]") + "," + a8 + "}";
    row("not in data order", h, 16, "b", at(h, "[8,16]"), "do not start where the previous tensor ends (0)");
    h = "{" + entry("a", "F32", "[3]", "[0,16]") + "}";
    row("size mismatch", h, 16, "a", at(h, "[0,16]"),
        "16 bytes in data_offsets [0, 16] do not match F32 [3] (12 bytes)");
    h = "{" + entry("a", "F8_E4M3", "[16]", "[0,16]") + "}";
    row("unknown dtype", h, 16, "a", at(h, "\"F8_E4M3\""), "dtype \"F8_E4M3\" is not one MindSpore reads");
    h = "{" + a8 + "," + entry("a", "F32", "[2]", "[8,16]") + "}";
    row("duplicate name", h, 16, "", qlonglong(8 + h.lastIndexOf("\"a\"")), "duplicate key \"a\"");
    h = "{" + a8 + "}";
    row("trailing bytes", h, 16, "", qlonglong(8 + h.size() + 8), "8 bytes of trailing data");
    h = "{\"__metadata__\":{\"format\":1}," + a16 + "}";
    row("metadata value not a string", h, 16, "", at(h, "1}"),
        "__metadata__ value for \"format\" is not a string");
    QTest::newRow("header past end of file")
        << u64le(1000) + "{}" << QByteArray() << 0ll << QByteArray("runs past the end of the 10-byte file");

    // Further refusals of MindSpore's reader / msfixtures.
    QTest::newRow("header one byte short")
        << u64le(20) + QByteArray("{\"__metadata__\":{}}") << QByteArray() << 0ll
        << QByteArray("header of 20 bytes runs past the end of the 27-byte file");
    h = "{\"__metadata__\":\"ms\"," + a16 + "}";
    row("metadata not an object", h, 16, "", at(h, "\"ms\""), "__metadata__ is not an object");
    h = "{\"__metadata__\":{\"n\":{\"x\":\"y\"}}," + a16 + "}";
    row("metadata nested object", h, 16, "", at(h, "{\"x\""), "is not a string");
    h = "{\"a\":5}";
    row("entry not an object", h, 0, "a", at(h, "5"), "exactly the keys dtype, shape and data_offsets");
    h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[4]}}";
    row("entry without data_offsets", h, 16, "a", at(h, "{\"dtype\""), "exactly the keys");
    h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16],\"extra\":1}}";
    row("entry with extra key", h, 16, "a", at(h, "{\"dtype\""), "exactly the keys");
    h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"offsets\":[0,16]}}";
    row("entry with misspelt key", h, 16, "a", at(h, "{\"dtype\""), "exactly the keys");
    h = "{\"a\":{\"dtype\":5,\"shape\":[4],\"data_offsets\":[0,16]}}";
    row("dtype not a string", h, 16, "a", at(h, "5,"), "dtype 5 is not one MindSpore reads");
    h = "{" + entry("a", "f32", "[4]", "[0,16]") + "}";
    row("lower-case dtype", h, 16, "a", at(h, "\"f32\""), "is not one MindSpore reads");
    h = "{" + entry("a", "F32", "4", "[0,16]") + "}";
    row("shape not an array", h, 16, "a", at(h, "4,"), "shape is not an array");
    h = "{" + entry("a", "F32", "[-4]", "[0,16]") + "}";
    row("negative dimension", h, 16, "a", at(h, "-4"), "shape dimension: integer -4 is outside");
    h = "{" + entry("a", "F32", "[4.0]", "[0,16]") + "}";
    row("fractional dimension", h, 16, "a", at(h, "4.0"), "shape dimension: expected an integer");
    h = "{" + entry("a", "F32", "[\"4\"]", "[0,16]") + "}";
    row("string dimension", h, 16, "a", at(h, "\"4\""), "shape dimension: expected an integer");
    QByteArray manyDims = "[";
    for (int i = 0; i < 65; ++i) manyDims += i ? ",1" : "1";
    manyDims += "]";
    h = "{" + entry("a", "F32", manyDims.constData(), "[0,4]") + "}";
    row("65 dimensions", h, 4, "a", at(h, "[1,1"), "more than 64 dimensions");
    h = "{" + entry("a", "F32", "[4294967296,4294967296,4]", "[0,16]") + "}";
    row("shape overflows", h, 16, "a", at(h, "[4294967296"), "overflows a 64-bit size");
    h = "{" + entry("a", "F32", "[4]", "[0,8,16]") + "}";
    row("three offsets", h, 16, "a", at(h, "[0,8,16]"), "not an array of two integers");
    h = "{" + entry("a", "F32", "[4]", "{\"b\":0}") + "}";
    row("offsets not an array", h, 16, "a", at(h, "{\"b\""), "not an array of two integers");
    h = "{" + entry("a", "F32", "[0]", "[-1,-1]") + "}";
    row("negative offsets", h, 0, "a", at(h, "[-1"), "integer -1 is outside");
    h = "{" + entry("a", "F32", "[4]", "[0,18446744073709551616]") + "}";
    row("offset beyond int64", h, 16, "a", at(h, "[0,1844"), "expected an integer");
    h = "{" + a8 + "," + entry("b", "F32", "[0]", "[8,4]") + "}";
    row("end before begin", h, 8, "b", at(h, "[8,4]"), "end before they begin");
    h = "{" + a16 + "}";
    row("data truncated", h, 8, "a", qlonglong(8 + h.size()), "truncated: the tensor ends at byte");
    h = "{" + entry("a", "F32", "[1073741824,1073741824]", "[0,4611686018427387904]") + "}";
    row("huge tensor past end", h, 16, "a", qlonglong(8 + h.size()), "truncated");
    h = "{\"__metadata__\":{\"a\":\"Int4\"}," + a16 + "}";
    row("Int4 marker on a float tensor", h, 16, "a", qlonglong(8 + h.size()), "marks the tensor as Int4");
    h = "{\"a\xFF\":{}}";
    row("invalid UTF-8 name", h, 0, "", 8 + 3, "invalid UTF-8");
    h = "{" + entry("\\ud800", "F32", "[4]", "[0,16]") + "}";
    row("lone surrogate name", h, 16, "", 8 + 2, "surrogate");
    h = "{" + a16 + "}" + QByteArray(2, '\0');
    row("NUL padding", h, 16, "", qlonglong(8 + h.size() - 2), "after the JSON value");
    h = "{\"a\":";
    row("truncated JSON", h, 0, "", qlonglong(8 + h.size()), "end of input");
    h = "{" + a16 + ",}";
    row("trailing comma", h, 16, "", qlonglong(8 + h.size() - 1), "expected a string key");
    h = "{\"__metadata__\":" + QByteArray(70, '[') + QByteArray(70, ']') + "}";
    row("nesting too deep", h, 0, "", qlonglong(8 + 16 + 63), "nested deeper than 64");
}

void TestSafetensors::refusesInvalidFiles() {
    QFETCH(QByteArray, fileBytes);
    QFETCH(QByteArray, parameter);
    QFETCH(qlonglong, offset);
    QFETCH(QByteArray, messagePart);
    const auto path = tempPath("bad.safetensors");
    writeAll(path, fileBytes);
    QVERIFY(lms::looksLikeSafetensors(toBytes(fileBytes.left(9))));
    auto file = lms::CheckpointFile::open(path);
    QVERIFY2(!file.has_value(), "a malformed file was accepted");
    const lms::Error& error = file.error();
    QCOMPARE(error.code, lms::ErrorCode::Malformed);
    QCOMPARE(qs(error.file), qs(path.string()));
    QCOMPARE(qb(error.parameter), parameter);
    QVERIFY2(error.offset.has_value(), error.describe().c_str());
    QCOMPARE(qlonglong(*error.offset), offset);
    QVERIFY2(error.message.find(messagePart.toStdString()) != std::string::npos, error.describe().c_str());
}

void TestSafetensors::roundTripsEveryDtype() {
    struct Case {
        std::string name;
        lms::DType dtype;
        std::vector<int64_t> dims;
        std::vector<int64_t> expectedDims;  // as read back
        uint64_t bytes;
    };
    const std::vector<Case> cases{
        {"model.embedding", lms::DType::BFloat16, {8, 4}, {8, 4}, 64},
        {"norm", lms::DType::Float32, {4}, {4}, 16},
        {"half", lms::DType::Float16, {2, 3}, {2, 3}, 12},
        {"double", lms::DType::Float64, {1}, {1}, 8},
        {"flags", lms::DType::Bool, {3}, {3}, 3},
        {"global_step", lms::DType::Int32, {1}, {1}, 4},
        {"learning_rate", lms::DType::Float32, {0}, {}, 4},  // legacy dims [0] scalar -> shape []
        {"epoch_num", lms::DType::Int64, {}, {}, 8},
        {"u", lms::DType::UInt64, {2}, {2}, 16},
        {"i8", lms::DType::Int8, {5}, {5}, 5},
        {"u8", lms::DType::UInt8, {1, 1, 1}, {1, 1, 1}, 1},
        {"i16", lms::DType::Int16, {2}, {2}, 4},
        {"u16", lms::DType::UInt16, {2}, {2}, 4},
        {"u32", lms::DType::UInt32, {2}, {2}, 8},
        {"empty", lms::DType::Float32, {0, 7}, {0, 7}, 0},
        {"quant.weight", lms::DType::Int4, {2, 4}, {2, 4}, 8},  // packed bytes, marker in metadata
        {"\xE2\x82\xAC \"quoted\\\" \n", lms::DType::Float16, {1}, {1}, 2},
    };
    std::vector<lms::SafetensorsTensor> declared;
    for (const auto& c : cases) declared.push_back({c.name, c.dtype, c.dims, c.bytes});
    const auto path = tempPath("roundtrip.safetensors");
    auto writer = lms::SafetensorsWriter::create(
        path, {}, {{"remove_redundancy", "False"}, {"crc_num", "12345"}, {"note", "caf\xC3\xA9"}}, declared);
    QVERIFY2(writer.has_value(), writer ? "" : writer.error().describe().c_str());
    QCOMPARE(writer->headerBytes() % 8, uint64_t(0));
    std::vector<std::vector<std::byte>> contents;
    uint32_t seed = 7;
    for (const auto& c : cases) {
        std::vector<std::byte> content(size_t(c.bytes));
        for (auto& b : content) b = std::byte((seed = seed * 1103515245u + 12345u) >> 24);
        // Legacy scalars may be begun with either their stored dims or their written shape.
        QVERIFY2(writer->beginTensor(c.name, lms::tensorTypeName(c.dtype), c.dims, c.bytes).has_value(),
                 c.name.c_str());
        for (size_t at = 0; at < content.size(); at += 5) {
            const size_t n = std::min<size_t>(5, content.size() - at);
            QVERIFY(writer->append(std::span(content).subspan(at, n)).has_value());
        }
        contents.push_back(std::move(content));
    }
    QVERIFY(writer->commit().has_value());

    // Metadata: format first (added), crc_num dropped, Int4 marker appended.
    const std::vector<std::pair<std::string, std::string>> expectedMetadata{
        {"format", "ms"}, {"remove_redundancy", "False"}, {"note", "caf\xC3\xA9"}, {"quant.weight", "Int4"}};
    QVERIFY(writer->metadata() == expectedMetadata);

    auto file = lms::CheckpointFile::open(path);
    QVERIFY2(file.has_value(), file ? "" : file.error().describe().c_str());
    QVERIFY((*file)->metadata() == expectedMetadata);
    const auto& tensors = (*file)->tensors();
    QCOMPARE(tensors.size(), cases.size());
    for (size_t i = 0; i < cases.size(); ++i) {
        QCOMPARE(qb(tensors[i].name), qb(cases[i].name));
        QCOMPARE(tensors[i].dtype, cases[i].dtype);
        QCOMPARE(qb(tensors[i].typeName), qb(std::string(lms::tensorTypeName(cases[i].dtype))));
        QVERIFY2(tensors[i].dims == cases[i].expectedDims, cases[i].name.c_str());
        auto bytes = (*file)->readTensor(tensors[i]);
        QVERIFY(bytes.has_value());
        QVERIFY2(*bytes == contents[i], cases[i].name.c_str());
    }
    // The file size is exactly 8 + header + data.
    uint64_t data = 0;
    for (const auto& c : cases) data += c.bytes;
    QCOMPARE(uint64_t(fs::file_size(path)), 8 + writer->headerBytes() + data);
}

void TestSafetensors::writerRefusesBadDeclarations_data() {
    QTest::addColumn<int>("caseIndex");
    QTest::addColumn<int>("code");
    QTest::addColumn<QByteArray>("parameter");
    QTest::addColumn<QByteArray>("messagePart");
    QTest::newRow("string tensor") << 0 << int(lms::ErrorCode::Unsupported) << QByteArray("name")
                                   << QByteArray("'str' has no safetensors dtype");
    QTest::newRow("unknown tensor_type") << 1 << int(lms::ErrorCode::Unsupported) << QByteArray("x")
                                         << QByteArray("'unknown' has no safetensors dtype");
    QTest::newRow("duplicate name") << 2 << int(lms::ErrorCode::InvalidArgument) << QByteArray("a")
                                    << QByteArray("declared twice");
    QTest::newRow("size mismatch") << 3 << int(lms::ErrorCode::InvalidArgument) << QByteArray("a")
                                   << QByteArray("12 bytes do not match F32 dims (16 bytes)");
    QTest::newRow("negative dim") << 4 << int(lms::ErrorCode::InvalidArgument) << QByteArray("a")
                                  << QByteArray("negative dimension");
    QTest::newRow("overflowing dims")
        << 5 << int(lms::ErrorCode::InvalidArgument) << QByteArray("a") << QByteArray("overflow");
    QTest::newRow("reserved name") << 6 << int(lms::ErrorCode::InvalidArgument) << QByteArray("__metadata__")
                                   << QByteArray("cannot be named __metadata__");
    QTest::newRow("invalid UTF-8 name")
        << 7 << int(lms::ErrorCode::InvalidArgument) << QByteArray("a\xFF") << QByteArray("not valid UTF-8");
    QTest::newRow("Int4 with logical dims")
        << 8 << int(lms::ErrorCode::InvalidArgument) << QByteArray("q") << QByteArray("packed I8 bytes");
    QTest::newRow("dims [0] with two elements")
        << 9 << int(lms::ErrorCode::InvalidArgument) << QByteArray("a")
        << QByteArray("8 bytes do not match F32 dims (0 bytes)");
    QTest::newRow("Int4 marker on float") << 10 << int(lms::ErrorCode::InvalidArgument) << QByteArray("a")
                                          << QByteArray("marks this parameter as Int4");
    QTest::newRow("metadata key twice") << 11 << int(lms::ErrorCode::InvalidArgument) << QByteArray("k")
                                        << QByteArray("metadata key given twice");
    QTest::newRow("Int4 with a conflicting metadata entry")
        << 12 << int(lms::ErrorCode::InvalidArgument) << QByteArray("q") << QByteArray("must be \"Int4\"");
}

void TestSafetensors::writerRefusesBadDeclarations() {
    QFETCH(int, caseIndex);
    QFETCH(int, code);
    QFETCH(QByteArray, parameter);
    QFETCH(QByteArray, messagePart);
    using lms::DType;
    using Meta = std::vector<std::pair<std::string, std::string>>;
    const std::vector<std::pair<Meta, std::vector<lms::SafetensorsTensor>>> cases{
        {{}, {{"name", DType::String, {0}, 16}}},
        {{}, {{"x", DType::Unknown, {4}, 4}}},
        {{}, {{"a", DType::Float32, {1}, 4}, {"a", DType::Float32, {1}, 4}}},
        {{}, {{"a", DType::Float32, {4}, 12}}},
        {{}, {{"a", DType::Float32, {-4}, 16}}},
        {{}, {{"a", DType::Float32, {int64_t(1) << 40, int64_t(1) << 40}, 0}}},
        {{}, {{"__metadata__", DType::Float32, {1}, 4}}},
        {{}, {{"a\xFF", DType::Float32, {1}, 4}}},
        {{}, {{"q", DType::Int4, {2, 8}, 8}}},
        {{}, {{"a", DType::Float32, {0}, 8}}},
        {{{"a", "Int4"}}, {{"a", DType::Float32, {1}, 4}}},
        {{{"k", "1"}, {"k", "2"}}, {{"a", DType::Float32, {1}, 4}}},
        {{{"q", "Int8"}}, {{"q", DType::Int4, {4}, 4}}},
    };
    const auto& [meta, tensors] = cases[size_t(caseIndex)];
    const auto path = tempPath("refused.safetensors");
    auto writer = lms::SafetensorsWriter::create(path, {}, meta, tensors);
    QVERIFY(!writer.has_value());
    QCOMPARE(int(writer.error().code), code);
    QCOMPARE(qb(writer.error().parameter), parameter);
    QCOMPARE(qs(writer.error().file), qs(path.string()));
    QVERIFY2(writer.error().message.find(messagePart.toStdString()) != std::string::npos,
             writer.error().describe().c_str());
    QVERIFY(!fs::exists(path));
    QVERIFY(!fs::exists(path.string() + ".tmp"));
}

void TestSafetensors::writerEnforcesStreamingProtocol() {
    const auto path = tempPath("protocol.safetensors");
    const std::vector<lms::SafetensorsTensor> declared{{"a", lms::DType::Float32, {2}, 8},
                                                       {"b", lms::DType::BFloat16, {1}, 2}};
    const std::vector<std::byte> eight(8), two(2);
    const std::vector<int64_t> dimsA{2}, dimsB{1}, wrong{4};
    {
        auto writer = lms::SafetensorsWriter::create(path, {}, {{"format", "pt"}}, declared);
        QVERIFY(writer.has_value());
        QCOMPARE(qb(writer->metadata()[0].second), QByteArray("ms"));          // format forced to ms
        QVERIFY(!writer->append(two).has_value());                             // nothing begun
        QVERIFY(!writer->beginTensor("b", "BFloat16", dimsB, 2).has_value());  // out of order
        QVERIFY(!writer->beginTensor("a", "Float16", dimsA, 8).has_value());   // wrong type
        QVERIFY(!writer->beginTensor("a", "Float32", wrong, 8).has_value());   // wrong dims
        QVERIFY(!writer->beginTensor("a", "Float32", dimsA, 4).has_value());   // wrong size
        QVERIFY(writer->beginTensor("a", "Float32", dimsA, 8).has_value());
        QVERIFY(writer->append(std::span(eight).first(6)).has_value());
        QVERIFY(!writer->append(std::span(eight).first(3)).has_value());  // beyond the declared size
        const auto early = writer->beginTensor("b", "BFloat16", dimsB, 2);
        QVERIFY(!early.has_value());
        QCOMPARE(qb(early.error().parameter), QByteArray("a"));
        QVERIFY(writer->append(std::span(eight).first(2)).has_value());
        const auto incomplete = writer->commit();  // b missing
        QVERIFY(!incomplete.has_value());
        QCOMPARE(qb(incomplete.error().parameter), QByteArray("b"));
        QVERIFY(fs::exists(writer->tempPath()));
        QVERIFY(!fs::exists(path));
        QVERIFY(writer->writeTensor("b", "BFloat16", dimsB, two).has_value());
        QVERIFY(!writer->beginTensor("c", "Float32", dimsA, 8).has_value());  // not declared
        // Destroyed without commit: the temp file goes, nothing appears under the final name.
    }
    QVERIFY(!fs::exists(path.string() + ".tmp"));
    QVERIFY(!fs::exists(path));

    auto writer = lms::SafetensorsWriter::create(path, {}, {}, declared);
    QVERIFY(writer.has_value());
    QVERIFY(writer->writeTensor("a", "Float32", dimsA, eight).has_value());
    QVERIFY(writer->beginTensor("b", "BFloat16", dimsB, 2).has_value());
    QVERIFY(writer->append(std::span(two).first(1)).has_value());
    QVERIFY(!writer->commit().has_value());  // b incomplete
    writer->abandon();
    QVERIFY(!fs::exists(path.string() + ".tmp"));
    QVERIFY(!fs::exists(path));
}

void TestSafetensors::writerRefusesToOverwriteInput() {
    const auto input = tempPath("input.safetensors");
    writeAll(input, handCheckedFile());
    const auto before = readAll(input);
    const std::vector<lms::SafetensorsTensor> declared{{"w", lms::DType::Float32, {2, 2}, 16}};
    auto same = lms::SafetensorsWriter::create(input, {input}, {}, declared);
    QVERIFY(!same.has_value());
    QCOMPARE(same.error().code, lms::ErrorCode::InvalidArgument);
    // The same file reached through another name (a hard link) is refused too.
    const auto link = tempPath("link.safetensors");
    fs::create_hard_link(input, link);
    auto linked = lms::SafetensorsWriter::create(link, {input}, {}, declared);
    QVERIFY(!linked.has_value());
    QCOMPARE(readAll(input), before);
}

void TestSafetensors::msfixturesAcceptsWrittenFile() {
    const QString script = QStringLiteral(LMS_SHARED_DIR "/interop/msfixtures.py");
    if (!QFileInfo::exists(script)) QSKIP("msfixtures.py not found beside the checkout");
    const auto path = tempPath("dump.safetensors");
    const std::vector<lms::SafetensorsTensor> declared{{"w", lms::DType::BFloat16, {2, 3}, 12},
                                                       {"lr", lms::DType::Float32, {0}, 4},
                                                       {"step", lms::DType::Int64, {}, 8}};
    auto writer = lms::SafetensorsWriter::create(path, {}, {}, declared);
    QVERIFY(writer.has_value());
    const std::vector<std::byte> twelve(12, std::byte{0x3F}), four(4), eight(8);
    QVERIFY(writer->writeTensor("w", "BFloat16", dimsOf({2, 3}), twelve).has_value());
    QVERIFY(writer->writeTensor("lr", "Float32", dimsOf({0}), four).has_value());
    QVERIFY(writer->writeTensor("step", "Int64", {}, eight).has_value());
    QVERIFY(writer->commit().has_value());

    QProcess python;
    python.start(QStringLiteral("/usr/bin/python3"), {script, QStringLiteral("dump"), qs(path.string())});
    if (!python.waitForStarted(10000)) QSKIP("/usr/bin/python3 is not available");
    QVERIFY(python.waitForFinished(60000));
    const QByteArray out = python.readAllStandardOutput();
    QVERIFY2(python.exitStatus() == QProcess::NormalExit && python.exitCode() == 0,
             (out + python.readAllStandardError()).constData());
    QVERIFY2(out.contains("safetensors"), out.constData());
    QVERIFY2(out.contains("3 tensors"), out.constData());
    QVERIFY2(out.contains("BF16"), out.constData());
}

void TestSafetensors::initTestCase() {
    fixtures_ = std::make_unique<QTemporaryDir>();
    const QString problem = lms::test::generateFixtures(
        fixtures_->path().toStdString(), {QStringLiteral("st_full_bf16"), QStringLiteral("full_bf16"),
                                          QStringLiteral("st_dist_tp2"), QStringLiteral("dist_tp2")});
    if (!problem.isEmpty()) fixtureProblem_ = problem.toStdString();
}

void TestSafetensors::fixtureMatchesCheckpoint_data() {
    QTest::addColumn<QString>("safetensors");
    QTest::addColumn<QString>("checkpoint");
    QTest::newRow("st_full_bf16 input") << QStringLiteral("st_full_bf16/input/model.safetensors")
                                        << QStringLiteral("full_bf16/input/model.ckpt");
    QTest::newRow("st_full_bf16 expected") << QStringLiteral("st_full_bf16/expected/merged.safetensors")
                                           << QStringLiteral("full_bf16/expected/merged.ckpt");
    QTest::newRow("st_dist_tp2 rank 0")
        << QStringLiteral("st_dist_tp2/input/ckpt/rank_0/checkpoint_0.safetensors")
        << QStringLiteral("dist_tp2/input/ckpt/rank_0/checkpoint_0.ckpt");
    QTest::newRow("st_dist_tp2 rank 1")
        << QStringLiteral("st_dist_tp2/input/ckpt/rank_1/checkpoint_1.safetensors")
        << QStringLiteral("dist_tp2/input/ckpt/rank_1/checkpoint_1.ckpt");
    QTest::newRow("st_dist_tp2 expected") << QStringLiteral("st_dist_tp2/expected/merged.safetensors")
                                          << QStringLiteral("dist_tp2/expected/merged.ckpt");
}

// Every tensor of the safetensors fixture equals the same tensor of the .ckpt fixture (names,
// order, tensor_type, bytes; the ckpt's legacy dims-[0] scalar is shape [] in safetensors), and
// SafetensorsWriter reproduces the Python writer's file byte for byte.
void TestSafetensors::fixtureMatchesCheckpoint() {
    if (!fixtureProblem_.empty()) QSKIP(fixtureProblem_.c_str());
    QFETCH(QString, safetensors);
    QFETCH(QString, checkpoint);
    const fs::path root = fixtures_->path().toStdString();
    const auto stPath = root / safetensors.toStdString();
    const auto ckptPath = root / checkpoint.toStdString();
    auto st = lms::CheckpointFile::open(stPath);
    QVERIFY2(st.has_value(), st ? "" : st.error().describe().c_str());
    auto ckpt = lms::CheckpointFile::open(ckptPath);
    QVERIFY2(ckpt.has_value(), ckpt ? "" : ckpt.error().describe().c_str());
    QCOMPARE((*st)->format(), lms::CheckpointFormat::Safetensors);
    QCOMPARE((*ckpt)->format(), lms::CheckpointFormat::Ckpt);
    QVERIFY((*st)->metadata() == (std::vector<std::pair<std::string, std::string>>{{"format", "ms"}}));

    const auto& stTensors = (*st)->tensors();
    const auto& ckptTensors = (*ckpt)->tensors();
    QCOMPARE(stTensors.size(), ckptTensors.size());
    QVERIFY(stTensors.size() >= 26);  // the tiny model: 21 weights + 5 scalars, plus LoRA in inputs
    bool sawLegacyScalar = false;
    for (size_t i = 0; i < stTensors.size(); ++i) {
        const auto& s = stTensors[i];
        const auto& c = ckptTensors[i];  // same (save) order
        QCOMPARE(qb(s.name), qb(c.name));
        QCOMPARE(qb(s.typeName), qb(c.typeName));
        QCOMPARE(s.dtype, c.dtype);
        QVERIFY2(s.dims == c.logicalShape(), s.name.c_str());
        QCOMPARE(s.byteSize, c.byteSize);
        sawLegacyScalar |= c.legacyScalar;
        auto sBytes = (*st)->readTensor(s);
        auto cBytes = (*ckpt)->readTensor(c);
        QVERIFY(sBytes.has_value() && cBytes.has_value());
        QVERIFY2(*sBytes == *cBytes, s.name.c_str());
    }
    QVERIFY(sawLegacyScalar);  // learning_rate: ckpt dims [0], safetensors shape []

    std::vector<lms::SafetensorsTensor> declared;
    for (const auto& t : ckptTensors) declared.push_back({t.name, t.dtype, t.dims, t.byteSize});
    const auto rewritten = tempPath("rewritten.safetensors");
    auto writer = lms::SafetensorsWriter::create(rewritten, {ckptPath, stPath}, (*st)->metadata(), declared);
    QVERIFY2(writer.has_value(), writer ? "" : writer.error().describe().c_str());
    for (const auto& t : ckptTensors) {
        auto bytes = (*ckpt)->readTensor(t);
        QVERIFY(bytes.has_value());
        QVERIFY(writer->writeTensor(t.name, t.typeName, t.dims, *bytes).has_value());
    }
    QVERIFY(writer->commit().has_value());
    QCOMPARE(readAll(rewritten), readAll(stPath));
}

QTEST_GUILESS_MAIN(TestSafetensors)
#include "tst_safetensors.moc"
