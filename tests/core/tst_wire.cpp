// The protobuf wire primitives (core/lms/io/Wire.h) on well-formed and hostile bytes.
#include "lms/io/Wire.h"

#include <QtTest>

using namespace lms;

namespace {
std::vector<std::byte> fromHex(const char* hex) {
    const QByteArray raw = QByteArray::fromHex(hex);
    std::vector<std::byte> out;
    for (char c : raw) out.push_back(std::byte(uint8_t(c)));
    return out;
}
QString toHex(std::span<const std::byte> bytes) {
    QByteArray raw;
    for (std::byte b : bytes) raw.append(char(b));
    return QString::fromLatin1(raw.toHex());
}
}  // namespace

Q_DECLARE_METATYPE(lms::wire::VarintStatus)

class TestWire : public QObject {
    Q_OBJECT
private slots:
    // Encoding and decoding agree with the protobuf spec's examples and the 64-bit edges.
    void roundTrip_data() {
        QTest::addColumn<quint64>("value");
        QTest::addColumn<QString>("hex");
        QTest::newRow("0") << quint64(0) << u"00"_qs;
        QTest::newRow("1") << quint64(1) << u"01"_qs;
        QTest::newRow("127") << quint64(127) << u"7f"_qs;
        QTest::newRow("128") << quint64(128) << u"8001"_qs;
        QTest::newRow("150 (protobuf docs)") << quint64(150) << u"9601"_qs;
        QTest::newRow("16383") << quint64(16383) << u"ff7f"_qs;
        QTest::newRow("16384") << quint64(16384) << u"808001"_qs;
        QTest::newRow("2^32-1") << quint64(0xFFFFFFFFu) << u"ffffffff0f"_qs;
        QTest::newRow("2^63-1") << quint64(INT64_MAX) << u"ffffffffffffffff7f"_qs;
        QTest::newRow("2^63") << (quint64(1) << 63) << u"80808080808080808001"_qs;
        QTest::newRow("int32 -1 as int64") << quint64(UINT64_MAX) << u"ffffffffffffffffff01"_qs;
    }
    void roundTrip() {
        QFETCH(quint64, value);
        QFETCH(QString, hex);
        std::vector<std::byte> out{std::byte{0xAA}};  // appends, keeps what is there
        wire::appendVarint(out, value);
        QCOMPARE(toHex(std::span(out).subspan(1)), hex);
        QCOMPARE(out.front(), std::byte{0xAA});
        QCOMPARE(wire::varintSize(value), out.size() - 1);

        // Decoded from the middle of a buffer, followed by a byte that must not be consumed.
        out.push_back(std::byte{0x55});
        size_t pos = 1;
        uint64_t decoded = 42;
        QCOMPARE(wire::decodeVarint(out, pos, decoded), wire::VarintStatus::Ok);
        QCOMPARE(decoded, uint64_t(value));
        QCOMPARE(pos, out.size() - 1);
    }

    // Hostile varints: cut off, longer than 10 bytes, or overflowing 64 bits in the 10th byte.
    void hostile_data() {
        QTest::addColumn<QByteArray>("hex");
        QTest::addColumn<lms::wire::VarintStatus>("status");
        QTest::addColumn<int>("posAfter");
        QTest::newRow("empty") << QByteArray("") << wire::VarintStatus::Truncated << 0;
        QTest::newRow("one continuation byte") << QByteArray("80") << wire::VarintStatus::Truncated << 1;
        QTest::newRow("cut after 9 bytes")
            << QByteArray("ffffffffffffffffff") << wire::VarintStatus::Truncated << 9;
        QTest::newRow("11 bytes") << QByteArray("ffffffffffffffffffff01") << wire::VarintStatus::Overlong
                                  << 10;
        QTest::newRow("10th byte 0x02 (bit 64)")
            << QByteArray("ffffffffffffffffff02") << wire::VarintStatus::Overlong << 10;
        QTest::newRow("10th byte 0x7f")
            << QByteArray("8080808080808080807f") << wire::VarintStatus::Overlong << 10;
        QTest::newRow("padded zero to 10 bytes")
            << QByteArray("80808080808080808000") << wire::VarintStatus::Ok << 10;
        QTest::newRow("20 continuation bytes")
            << QByteArray("8080808080808080808080808080808080808080") << wire::VarintStatus::Overlong << 10;
    }
    void hostile() {
        QFETCH(QByteArray, hex);
        QFETCH(lms::wire::VarintStatus, status);
        QFETCH(int, posAfter);
        const auto bytes = fromHex(hex.constData());
        size_t pos = 0;
        uint64_t value = 0;
        QCOMPARE(wire::decodeVarint(bytes, pos, value), status);
        QCOMPARE(pos, size_t(posAfter));
        if (status == wire::VarintStatus::Ok) QCOMPARE(value, uint64_t(0));
    }

    // A varint that would be complete in the whole buffer but is cut by the span's end.
    void spanLimitIsTheEnd() {
        const auto bytes = fromHex("9601");
        size_t pos = 0;
        uint64_t value = 0;
        QCOMPARE(wire::decodeVarint(std::span(bytes).first(1), pos, value), wire::VarintStatus::Truncated);
        QCOMPARE(pos, size_t(1));
    }

    void keys_data() {
        QTest::addColumn<quint64>("key");
        QTest::addColumn<quint64>("field");
        QTest::addColumn<uint>("wireType");
        QTest::newRow("field 1 len (.ckpt record)") << quint64(0x0A) << quint64(1) << 2u;
        QTest::newRow("field 1 varint (strategy)") << quint64(0x08) << quint64(1) << 0u;
        QTest::newRow("field 3 fixed32") << quint64(0x1D) << quint64(3) << 5u;
        QTest::newRow("field 2 fixed64") << quint64(0x11) << quint64(2) << 1u;
        QTest::newRow("field 0 (invalid)") << quint64(0x02) << quint64(0) << 2u;
        QTest::newRow("field 2^29-1") << quint64(0xFFFFFFF8u) << quint64(0x1FFFFFFF) << 0u;
        QTest::newRow("wire type 7") << quint64(0x0F) << quint64(1) << 7u;
    }
    void keys() {
        QFETCH(quint64, key);
        QFETCH(quint64, field);
        QFETCH(uint, wireType);
        const auto split = wire::splitKey(key);
        QCOMPARE(split.field, uint64_t(field));
        QCOMPARE(split.wireType, uint32_t(wireType));
        if (wireType <= 5) QCOMPARE(wire::makeKey(field, wire::WireType(wireType)), uint64_t(key));
    }

    void fixedSizes() {
        QCOMPARE(wire::fixedSize(1), uint64_t(8));
        QCOMPARE(wire::fixedSize(5), uint64_t(4));
        for (uint32_t t : {0u, 2u, 3u, 4u, 6u, 7u}) QCOMPARE(wire::fixedSize(t), uint64_t(0));
    }
};

QTEST_GUILESS_MAIN(TestWire)
#include "tst_wire.moc"
