// DType names and the float conversions the merge relies on (spec §1.4).
#include "lms/base/DType.h"

#include <QtTest>
#include <cmath>
#include <cstring>
#include <limits>

using namespace lms;

namespace {
float fromBits(uint32_t bits) {
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}
}  // namespace

class TestDType : public QObject {
    Q_OBJECT
private slots:
    void tensorTypeNames_data() {
        QTest::addColumn<QString>("name");
        QTest::addColumn<int>("bits");
        QTest::addColumn<bool>("floating");
        QTest::newRow("Float32") << QStringLiteral("Float32") << 32 << true;
        QTest::newRow("BFloat16") << QStringLiteral("BFloat16") << 16 << true;
        QTest::newRow("Float16") << QStringLiteral("Float16") << 16 << true;
        QTest::newRow("Float64") << QStringLiteral("Float64") << 64 << true;
        QTest::newRow("Int64") << QStringLiteral("Int64") << 64 << false;
        QTest::newRow("Int32") << QStringLiteral("Int32") << 32 << false;
        QTest::newRow("UInt8") << QStringLiteral("UInt8") << 8 << false;
        QTest::newRow("Bool") << QStringLiteral("Bool") << 8 << false;
        QTest::newRow("Int4") << QStringLiteral("Int4") << 4 << false;
        QTest::newRow("str") << QStringLiteral("str") << 32 << false;
    }
    void tensorTypeNames() {
        QFETCH(QString, name);
        QFETCH(int, bits);
        QFETCH(bool, floating);
        const auto dtype = dtypeFromTensorType(name.toStdString());
        QVERIFY(dtype != DType::Unknown);
        QCOMPARE(QString::fromStdString(std::string(tensorTypeName(dtype))), name);
        QCOMPARE(int(dtypeBits(dtype)), bits);
        QCOMPARE(isFloatingPoint(dtype), floating);
    }
    void unknownTypeIsOpaque() {
        QCOMPARE(dtypeFromTensorType("random_op"), DType::Unknown);
        QCOMPARE(dtypeFromTensorType("float32"), DType::Unknown);  // case matters: MindSpore writes "Float32"
        QCOMPARE(dtypeBits(DType::Unknown), 0u);
    }
    void safetensorsNames() {
        QCOMPARE(dtypeFromSafetensors("BF16").value(), DType::BFloat16);
        QCOMPARE(std::string(safetensorsName(DType::Float16)), std::string("F16"));
        QVERIFY(!dtypeFromSafetensors("F8_E4M3").has_value());
    }

    // Expected bits computed by hand from the RNE formula of spec §1.4.
    void bf16Rounding_data() {
        QTest::addColumn<uint32_t>("input");
        QTest::addColumn<uint16_t>("expected");
        QTest::newRow("one") << 0x3F800000u << uint16_t(0x3F80);
        QTest::newRow("tie-to-even-down") << 0x3F808000u << uint16_t(0x3F80);  // halfway, even stays
        QTest::newRow("tie-to-even-up") << 0x3F818000u << uint16_t(0x3F82);    // halfway, odd rounds up
        QTest::newRow("above-half") << 0x3F808001u << uint16_t(0x3F81);
        QTest::newRow("below-half") << 0x3F807FFFu << uint16_t(0x3F80);
        QTest::newRow("negative-zero") << 0x80000000u << uint16_t(0x8000);
        QTest::newRow("infinity") << 0x7F800000u << uint16_t(0x7F80);
        QTest::newRow("overflow-to-inf") << 0x7F7FFFFFu << uint16_t(0x7F80);
        QTest::newRow("nan") << 0x7FC00001u << uint16_t(0x7FC0);
        QTest::newRow("signalling-nan") << 0x7F800001u << uint16_t(0x7FC0);
        QTest::newRow("negative-nan") << 0xFFC00000u << uint16_t(0xFFC0);
        QTest::newRow("subnormal") << 0x00010000u << uint16_t(0x0001);
    }
    void bf16Rounding() {
        QFETCH(uint32_t, input);
        QFETCH(uint16_t, expected);
        QCOMPARE(floatToBf16(fromBits(input)), expected);
    }
    void bf16Widening() {
        QCOMPARE(bf16ToFloat(0x3F80), 1.0f);
        QCOMPARE(bf16ToFloat(0xC000), -2.0f);
        QVERIFY(std::isinf(bf16ToFloat(0x7F80)));
    }

    // IEEE binary16 values from the standard's tables.
    void halfRounding_data() {
        QTest::addColumn<float>("input");
        QTest::addColumn<uint16_t>("expected");
        QTest::newRow("one") << 1.0f << uint16_t(0x3C00);
        QTest::newRow("minus-two") << -2.0f << uint16_t(0xC000);
        QTest::newRow("max") << 65504.0f << uint16_t(0x7BFF);
        QTest::newRow("rounds-to-max") << 65519.0f << uint16_t(0x7BFF);
        QTest::newRow("overflow") << 65520.0f << uint16_t(0x7C00);
        QTest::newRow("smallest-normal") << 6.103515625e-05f << uint16_t(0x0400);
        QTest::newRow("smallest-subnormal") << 5.9604644775390625e-08f << uint16_t(0x0001);
        QTest::newRow("half-smallest-subnormal-ties-to-zero") << 2.98023223876953125e-08f << uint16_t(0x0000);
        QTest::newRow("just-above-half-subnormal") << 2.99e-08f << uint16_t(0x0001);
        QTest::newRow("tie-even-down") << 1.00048828125f << uint16_t(0x3C00);  // 1 + 2^-11: halfway, even
        QTest::newRow("tie-odd-up") << 1.00146484375f << uint16_t(0x3C02);     // 1 + 3*2^-11: halfway, odd
        QTest::newRow("negative-zero") << -0.0f << uint16_t(0x8000);
        QTest::newRow("infinity") << std::numeric_limits<float>::infinity() << uint16_t(0x7C00);
    }
    void halfRounding() {
        QFETCH(float, input);
        QFETCH(uint16_t, expected);
        QCOMPARE(floatToHalf(input), expected);
    }
    void halfNaNStaysNaN() {
        const uint16_t h = floatToHalf(std::numeric_limits<float>::quiet_NaN());
        QCOMPARE(h & 0x7C00, 0x7C00);
        QVERIFY(h & 0x03FF);
        QVERIFY(std::isnan(halfToFloat(h)));
    }
    void halfRoundTripAllValues() {
        // Every finite half widens exactly and narrows back to the same bits.
        for (uint32_t bits = 0; bits < 0x10000; ++bits) {
            const auto h = uint16_t(bits);
            if ((h & 0x7C00) == 0x7C00 && (h & 0x3FF))
                continue;  // NaN payloads are not preserved bit-exactly
            QCOMPARE(floatToHalf(halfToFloat(h)), h);
        }
    }
    void bf16RoundTripAllValues() {
        for (uint32_t bits = 0; bits < 0x10000; ++bits) {
            const auto h = uint16_t(bits);
            if ((h & 0x7F80) == 0x7F80 && (h & 0x7F)) continue;
            QCOMPARE(floatToBf16(bf16ToFloat(h)), h);
        }
    }
    void spanConversions() {
        const std::vector<float> values{1.0f, -0.5f, 3.25f};
        std::vector<std::byte> bytes(values.size() * 2);
        narrowFromFloat(DType::BFloat16, values, bytes);
        std::vector<float> back(values.size());
        widenToFloat(DType::BFloat16, bytes, back);
        QCOMPARE(back, values);
        std::vector<std::byte> f64(values.size() * 8);
        narrowFromFloat(DType::Float64, values, f64);
        double second;
        std::memcpy(&second, f64.data() + 8, 8);
        QCOMPARE(second, -0.5);
    }
};

QTEST_GUILESS_MAIN(TestDType)
#include "tst_dtype.moc"
