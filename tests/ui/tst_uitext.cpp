// The words and numbers the studio shows: shapes, sizes, durations, natural name order and
// error sentences built from core errors.

#include "UiText.h"

#include <QtTest>
#include <cmath>

using namespace lms;
using namespace lms::ui;

class TestUiText : public QObject {
    Q_OBJECT
private slots:
    void shapesAndSizes();
    void durations_data();
    void durations();
    void numbers();
    void naturalOrder_data();
    void naturalOrder();
    void errorsNameFileParameterAndOffset();
};

void TestUiText::shapesAndSizes() {
    const std::vector<int64_t> dims{32, 64};
    QCOMPARE(shapeText(dims), QStringLiteral("[32, 64]"));
    QCOMPARE(shapeText({}), QStringLiteral("scalar"));
    QCOMPARE(bytesText(512), QStringLiteral("512 B"));
    QCOMPARE(bytesText(1536), QStringLiteral("1.5 KiB"));
    QCOMPARE(bytesText(3ull << 30), QStringLiteral("3.0 GiB"));
    QCOMPARE(roleText(TensorRole::LoraB), QStringLiteral("LoRA B"));
    QCOMPARE(roleText(TensorRole::OptimizerState), QStringLiteral("optimizer state"));
}

void TestUiText::durations_data() {
    QTest::addColumn<double>("seconds");
    QTest::addColumn<QString>("text");
    QTest::newRow("instant") << 0.004 << QStringLiteral("under 0.01 s");
    QTest::newRow("fraction") << 0.256 << QStringLiteral("0.26 s");
    QTest::newRow("seconds") << 7.24 << QStringLiteral("7.2 s");
    QTest::newRow("tens") << 42.4 << QStringLiteral("42 s");
    QTest::newRow("minutes") << 185.0 << QStringLiteral("3 min 05 s");
    QTest::newRow("hours") << 3720.0 << QStringLiteral("1 h 02 min");
    QTest::newRow("unknown") << std::nan("") << QStringLiteral("–");
}

void TestUiText::durations() {
    QFETCH(double, seconds);
    QFETCH(QString, text);
    QCOMPARE(durationText(seconds), text);
}

void TestUiText::numbers() {
    QCOMPARE(numberText(0), QStringLiteral("0"));
    QCOMPARE(numberText(0.125), QStringLiteral("0.125"));
    QCOMPARE(numberText(-2.5e-7), QStringLiteral("-2.5000e-07"));
    QCOMPARE(numberText(std::numeric_limits<double>::infinity()), QStringLiteral("+inf"));
    QCOMPARE(numberText(std::nan("")), QStringLiteral("NaN"));
}

void TestUiText::naturalOrder_data() {
    QTest::addColumn<QString>("a");
    QTest::addColumn<QString>("b");
    QTest::addColumn<int>("sign");
    QTest::newRow("numbers") << QStringLiteral("layers.2.w") << QStringLiteral("layers.10.w") << -1;
    QTest::newRow("leading zeros") << QStringLiteral("x007") << QStringLiteral("x8") << -1;
    QTest::newRow("long numbers") << QStringLiteral("n99999999999999999999")
                                  << QStringLiteral("n100000000000000000000") << -1;
    QTest::newRow("case") << QStringLiteral("Alpha") << QStringLiteral("beta") << -1;
    QTest::newRow("prefix") << QStringLiteral("rank") << QStringLiteral("rank_0") << -1;
    QTest::newRow("equal") << QStringLiteral("same.1") << QStringLiteral("same.1") << 0;
}

void TestUiText::naturalOrder() {
    QFETCH(QString, a);
    QFETCH(QString, b);
    QFETCH(int, sign);
    const int forward = naturalCompare(a, b);
    const int backward = naturalCompare(b, a);
    QCOMPARE((forward > 0) - (forward < 0), sign);
    QCOMPARE((backward > 0) - (backward < 0), -sign);
}

void TestUiText::errorsNameFileParameterAndOffset() {
    Error error{ErrorCode::Malformed, "record length runs past the end of the file", "/data/m.ckpt",
                "w.weight", 4096};
    QCOMPARE(errorText(error),
             QStringLiteral("Record length runs past the end of the file (file /data/m.ckpt, parameter "
                            "w.weight, at byte 4,096)."));
    Error plain{ErrorCode::Io, "disk full.", {}, {}, std::nullopt};
    QCOMPARE(errorText(plain), QStringLiteral("Disk full."));
    Error withFile{ErrorCode::Io, "cannot open the file.", "/x", {}, std::nullopt};
    QCOMPARE(errorText(withFile), QStringLiteral("Cannot open the file (file /x)."));
}

QTEST_MAIN(TestUiText)
#include "tst_uitext.moc"
