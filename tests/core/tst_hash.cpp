// XXH64 (core/lms/io/Hash.h), which the replica check of distributed checkpoints relies on: the
// published reference values, every tail length, and that single-bit changes move the hash.
#include "lms/io/Hash.h"

#include <QTest>

#include <set>
#include <string>
#include <vector>

using namespace lms;

namespace {

std::span<const std::byte> bytesOf(const std::string& text) {
    return std::as_bytes(std::span(text.data(), text.size()));
}

}  // namespace

class TestHash : public QObject {
    Q_OBJECT

private slots:
    void referenceValues_data() {
        QTest::addColumn<QByteArray>("input");
        QTest::addColumn<quint64>("seed");
        QTest::addColumn<quint64>("expected");
        // Values of the xxHash reference implementation (XXH64, seed 0 unless noted).
        QTest::newRow("empty") << QByteArray() << quint64(0) << quint64(0xEF46DB3751D8E999ull);
        QTest::newRow("a") << QByteArray("a") << quint64(0) << quint64(0xD24EC4F1A98C6E5Bull);
        QTest::newRow("abc") << QByteArray("abc") << quint64(0) << quint64(0x44BC2CF5AD770999ull);
        QTest::newRow("39 bytes (stripes, 4-byte and 1-byte tails)")
            << QByteArray("Nobody inspects the spammish repetition") << quint64(0)
            << quint64(0xFBCEA83C8A378BF1ull);
    }
    void referenceValues() {
        QFETCH(QByteArray, input);
        QFETCH(quint64, seed);
        QFETCH(quint64, expected);
        const auto bytes = std::as_bytes(std::span(input.constData(), size_t(input.size())));
        QCOMPARE(quint64(xxh64(bytes, seed)), expected);
    }

    // Every length 0..100 (all tail paths) gives a distinct hash, and flipping any one bit of a
    // 100-byte input changes it: what "one copy differs" detection needs.
    void sensitivity() {
        std::string text;
        for (int i = 0; i < 100; ++i) text += char('A' + i % 26);
        std::set<uint64_t> byLength;
        for (size_t n = 0; n <= text.size(); ++n) byLength.insert(xxh64(bytesOf(text.substr(0, n))));
        QCOMPARE(byLength.size(), text.size() + 1);
        const uint64_t original = xxh64(bytesOf(text));
        for (size_t i = 0; i < text.size(); ++i)
            for (int bit = 0; bit < 8; ++bit) {
                std::string changed = text;
                changed[i] = char(changed[i] ^ (1 << bit));
                QVERIFY(xxh64(bytesOf(changed)) != original);
            }
        QVERIFY(xxh64(bytesOf(text), 1) != original);  // the seed matters
    }
};

QTEST_GUILESS_MAIN(TestHash)
#include "tst_hash.moc"
