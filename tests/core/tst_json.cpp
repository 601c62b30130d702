// Tests for lms::parseJson / lms::toJson: strict grammar, UTF-8 and escape handling, duplicate
// keys, nesting limit, error offsets, accessors and the compact writer.

#include "lms/base/Json.h"

#include <QByteArray>
#include <QtTest>
#include <cmath>
#include <limits>
#include <string>

using lms::JsonValue;

namespace {

std::string_view view(const QByteArray& bytes) {
    return {bytes.constData(), size_t(bytes.size())};
}
QByteArray bytes(const std::string& s) {
    return QByteArray::fromStdString(s);
}

QByteArray nestedArrays(int depth) {
    return QByteArray(depth, '[') + QByteArray(depth, ']');
}

QByteArray nestedObjects(int depth) {
    QByteArray text;
    for (int i = 0; i < depth; ++i) text += "{\"k\":";
    text += "1";
    text += QByteArray(depth, '}');
    return text;
}

}  // namespace

class TestJson : public QObject {
    Q_OBJECT

private slots:
    void parsesValidDocuments_data();
    void parsesValidDocuments();
    void refusesInvalidDocuments_data();
    void refusesInvalidDocuments();
    void decodesEscapesToUtf8();
    void keepsInsertionOrderAndFindsMembers();
    void keepsIntegersExact();
    void asInt64ChecksRange_data();
    void asInt64ChecksRange();
    void indexingIsSafe();
    void detectsDuplicatesInLargeObjects();
    void writerEscapesLikePython();
    void writerRoundTripsBuiltValues();
    void validatesUtf8();
};

void TestJson::parsesValidDocuments_data() {
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<QByteArray>("canonical");  // toJson of the parsed value

    QTest::newRow("null") << QByteArray("null") << QByteArray("null");
    QTest::newRow("true padded") << QByteArray(" \t\r\ntrue\n") << QByteArray("true");
    QTest::newRow("false") << QByteArray("false") << QByteArray("false");
    QTest::newRow("zero") << QByteArray("0") << QByteArray("0");
    QTest::newRow("minus zero") << QByteArray("-0") << QByteArray("0");
    QTest::newRow("integer") << QByteArray("-12345") << QByteArray("-12345");
    QTest::newRow("int64 max") << QByteArray("9223372036854775807") << QByteArray("9223372036854775807");
    QTest::newRow("int64 min") << QByteArray("-9223372036854775808") << QByteArray("-9223372036854775808");
    QTest::newRow("beyond int64 is a double")
        << QByteArray("9223372036854775808") << QByteArray("9.223372036854776e+18");
    QTest::newRow("fraction") << QByteArray("1.5") << QByteArray("1.5");
    QTest::newRow("integral fraction stays a double") << QByteArray("2.0") << QByteArray("2.0");
    QTest::newRow("exponent") << QByteArray("1E2") << QByteArray("100.0");
    QTest::newRow("negative exponent") << QByteArray("-1.25e-3") << QByteArray("-0.00125");
    QTest::newRow("exponent plus") << QByteArray("5e+0") << QByteArray("5.0");
    QTest::newRow("smallest subnormal") << QByteArray("5e-324") << QByteArray("5e-324");
    QTest::newRow("underflow to zero")
        << QByteArray("[1e-400,-2.5e-9999,0.0000e-99999999999999999999]") << QByteArray("[0.0,-0.0,0.0]");
    QTest::newRow("underflow with long fraction") << QByteArray("0.000000001e-330") << QByteArray("0.0");
    QTest::newRow("largest double") << QByteArray("1.7976931348623157e308")
                                    << QByteArray("1.7976931348623157e+308");
    QTest::newRow("empty string") << QByteArray("\"\"") << QByteArray("\"\"");
    QTest::newRow("raw utf8") << QByteArray("\"\xE2\x82\xAC \xF0\x9D\x84\x9E \xC3\xA9\"")
                              << QByteArray("\"\xE2\x82\xAC \xF0\x9D\x84\x9E \xC3\xA9\"");
    QTest::newRow("simple escapes") << QByteArray(R"("\"\\\/\b\f\n\r\t")")
                                    << QByteArray(R"("\"\\/\b\f\n\r\t")");
    QTest::newRow("u escape BMP") << QByteArray(R"("a\u00e9\u20AC")")
                                  << QByteArray("\"a\xC3\xA9\xE2\x82\xAC\"");
    QTest::newRow("u escape pair") << QByteArray(R"("\ud83d\ude00")") << QByteArray("\"\xF0\x9F\x98\x80\"");
    QTest::newRow("u escape NUL") << QByteArray(R"("a\u0000b")") << QByteArray(R"("a\u0000b")");
    QTest::newRow("u escape control") << QByteArray(R"("\u001F")") << QByteArray(R"("\u001f")");
    QTest::newRow("empty array") << QByteArray("[ ]") << QByteArray("[]");
    QTest::newRow("empty object") << QByteArray("{ }") << QByteArray("{}");
    QTest::newRow("array") << QByteArray(" [ 1 , \"x\" , [ ] , { } , null ] ")
                           << QByteArray("[1,\"x\",[],{},null]");
    QTest::newRow("object keeps order")
        << QByteArray("{\"b\":1,\"a\":[true,false,null],\"c\":{\"z\":\"y\"}}")
        << QByteArray("{\"b\":1,\"a\":[true,false,null],\"c\":{\"z\":\"y\"}}");
    QTest::newRow("keys differing in case")
        << QByteArray("{\"a\":1,\"A\":2}") << QByteArray("{\"a\":1,\"A\":2}");
    QTest::newRow("same key in sibling objects")
        << QByteArray("[{\"k\":1},{\"k\":2}]") << QByteArray("[{\"k\":1},{\"k\":2}]");
    QTest::newRow("64 nested arrays") << nestedArrays(64) << nestedArrays(64);
    QTest::newRow("64 nested objects") << nestedObjects(64) << nestedObjects(64);
    QTest::newRow("safetensors header")
        << QByteArray(
               R"({"__metadata__":{"format":"ms"},"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}  )")
        << QByteArray(
               R"({"__metadata__":{"format":"ms"},"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})");
}

void TestJson::parsesValidDocuments() {
    QFETCH(QByteArray, text);
    QFETCH(QByteArray, canonical);
    const auto parsed = lms::parseJson(view(text));
    QVERIFY2(parsed.has_value(), parsed ? "" : parsed.error().describe().c_str());
    QCOMPARE(bytes(lms::toJson(*parsed)), canonical);
    // The canonical form parses to an equal value.
    const auto again = lms::parseJson(view(canonical));
    QVERIFY(again.has_value());
    QVERIFY(*again == *parsed);
}

void TestJson::refusesInvalidDocuments_data() {
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<qulonglong>("offset");
    QTest::addColumn<QByteArray>("messagePart");

    QTest::newRow("empty") << QByteArray("") << 0ull << QByteArray("expected a value");
    QTest::newRow("only whitespace") << QByteArray("   ") << 3ull << QByteArray("end of input");
    QTest::newRow("truncated literal") << QByteArray("nul") << 0ull << QByteArray("'null'");
    QTest::newRow("wrong literal") << QByteArray("True") << 0ull << QByteArray("expected a value");
    QTest::newRow("literal with tail") << QByteArray("truex") << 4ull << QByteArray("after the JSON value");
    QTest::newRow("two values") << QByteArray("{} {}") << 3ull << QByteArray("after the JSON value");
    QTest::newRow("NUL after value") << QByteArray("1\0", 2) << 1ull << QByteArray("byte 0x00");
    QTest::newRow("trailing comma array") << QByteArray("[1,]") << 3ull << QByteArray("expected a value");
    QTest::newRow("trailing comma object") << QByteArray("{\"a\":1,}") << 7ull << QByteArray("string key");
    QTest::newRow("missing comma") << QByteArray("[1 2]") << 3ull << QByteArray("expected ',' or ']'");
    QTest::newRow("missing comma object")
        << QByteArray("{\"a\":1 \"b\":2}") << 7ull << QByteArray("',' or '}'");
    QTest::newRow("unclosed array") << QByteArray("[1") << 2ull << QByteArray("end of input");
    QTest::newRow("unclosed bracket") << QByteArray("[") << 1ull << QByteArray("end of input");
    QTest::newRow("unclosed object") << QByteArray("{\"a\":1") << 6ull << QByteArray("end of input");
    QTest::newRow("missing colon") << QByteArray("{\"a\" 1}") << 5ull << QByteArray("':'");
    QTest::newRow("number key") << QByteArray("{1:2}") << 1ull << QByteArray("string key");
    QTest::newRow("single quotes") << QByteArray("['a']") << 1ull << QByteArray("expected a value");
    QTest::newRow("comment") << QByteArray("[1]//c") << 3ull << QByteArray("after the JSON value");
    QTest::newRow("leading zero") << QByteArray("01") << 1ull << QByteArray("leading zeros");
    QTest::newRow("negative leading zero") << QByteArray("-012") << 2ull << QByteArray("leading zeros");
    QTest::newRow("lone minus") << QByteArray("-") << 1ull << QByteArray("expected a digit");
    QTest::newRow("plus sign") << QByteArray("+1") << 0ull << QByteArray("expected a value");
    QTest::newRow("leading dot") << QByteArray(".5") << 0ull << QByteArray("expected a value");
    QTest::newRow("trailing dot") << QByteArray("1.") << 2ull << QByteArray("decimal point");
    QTest::newRow("empty exponent") << QByteArray("1e") << 2ull << QByteArray("exponent");
    QTest::newRow("signed empty exponent") << QByteArray("1e-") << 3ull << QByteArray("exponent");
    QTest::newRow("NaN") << QByteArray("NaN") << 0ull << QByteArray("expected a value");
    QTest::newRow("Infinity") << QByteArray("[-Infinity]") << 2ull << QByteArray("expected a digit");
    QTest::newRow("huge number") << QByteArray("[1e400]") << 1ull << QByteArray("range of a double");
    QTest::newRow("huge negative number") << QByteArray("-18e307") << 0ull << QByteArray("range of a double");
    QTest::newRow("huge via small mantissa")
        << QByteArray("0.001e312") << 0ull << QByteArray("range of a double");
    QTest::newRow("huge exponent") << QByteArray("1e99999999999999999999") << 0ull
                                   << QByteArray("range of a double");
    QTest::newRow("hex number") << QByteArray("0x10") << 1ull << QByteArray("after the JSON value");
    QTest::newRow("unterminated string") << QByteArray("[\"abc") << 1ull << QByteArray("unterminated");
    QTest::newRow("raw control char") << QByteArray("\"a\x01\"") << 2ull << QByteArray("control character");
    QTest::newRow("raw tab") << QByteArray("\"\t\"") << 1ull << QByteArray("control character");
    QTest::newRow("raw newline") << QByteArray("\"a\nb\"") << 2ull << QByteArray("control character");
    QTest::newRow("bad escape") << QByteArray(R"("\x41")") << 1ull << QByteArray("invalid escape");
    QTest::newRow("escape at end") << QByteArray("\"\\") << 2ull << QByteArray("unterminated");
    QTest::newRow("bad hex digit") << QByteArray(R"("\u12G4")") << 5ull << QByteArray("hexadecimal");
    QTest::newRow("short u escape") << QByteArray(R"(["\u12"])") << 6ull << QByteArray("hexadecimal");
    QTest::newRow("truncated u escape") << QByteArray("\"\\u1") << 3ull << QByteArray("truncated");
    QTest::newRow("lone high surrogate") << QByteArray(R"("\ud800")") << 1ull << QByteArray("surrogate");
    QTest::newRow("lone low surrogate") << QByteArray(R"("x\udc00")") << 2ull << QByteArray("surrogate");
    QTest::newRow("high then non-surrogate")
        << QByteArray(R"("\ud800\u0041")") << 1ull << QByteArray("surrogate");
    QTest::newRow("high then high") << QByteArray(R"("\ud800\ud800")") << 1ull << QByteArray("surrogate");
    QTest::newRow("overlong NUL") << QByteArray("\"\xC0\x80\"") << 1ull << QByteArray("UTF-8");
    QTest::newRow("overlong 3-byte") << QByteArray("\"\xE0\x80\xAF\"") << 1ull << QByteArray("UTF-8");
    QTest::newRow("overlong 4-byte") << QByteArray("\"\xF0\x8F\xBF\xBF\"") << 1ull << QByteArray("UTF-8");
    QTest::newRow("encoded surrogate") << QByteArray("\"ab\xED\xA0\x80\"") << 3ull << QByteArray("UTF-8");
    QTest::newRow("above U+10FFFF") << QByteArray("\"\xF4\x90\x80\x80\"") << 1ull << QByteArray("UTF-8");
    QTest::newRow("F5 lead byte") << QByteArray("\"\xF5\x80\x80\x80\"") << 1ull << QByteArray("UTF-8");
    QTest::newRow("truncated sequence") << QByteArray("\"\xE2\x82\"") << 1ull << QByteArray("UTF-8");
    QTest::newRow("sequence cut by end") << QByteArray("\"\xE2\x82") << 1ull << QByteArray("UTF-8");
    QTest::newRow("lone continuation") << QByteArray("\"\x80\"") << 1ull << QByteArray("UTF-8");
    QTest::newRow("FF byte") << QByteArray("\"\xFF\"") << 1ull << QByteArray("UTF-8");
    QTest::newRow("invalid UTF-8 in key") << QByteArray("{\"\xC3\":1}") << 2ull << QByteArray("UTF-8");
    QTest::newRow("non-ASCII outside string") << QByteArray("\xC3\xA9") << 0ull << QByteArray("byte 0xC3");
    QTest::newRow("byte order mark") << QByteArray("\xEF\xBB\xBF{}") << 0ull << QByteArray("byte 0xEF");
    QTest::newRow("duplicate key") << QByteArray("{\"a\":1,\"a\":2}") << 7ull
                                   << QByteArray("duplicate key \"a\"");
    QTest::newRow("duplicate via escape")
        << QByteArray(R"({"a":1,"\u0061":2})") << 7ull << QByteArray("duplicate key \"a\"");
    QTest::newRow("first repeated key reported")
        << QByteArray(R"({"b":1,"a":2,"a":3,"b":4})") << 13ull << QByteArray("duplicate key \"a\"");
    QTest::newRow("nested duplicate")
        << QByteArray(R"([{"x":{"k":1,"k":2}}])") << 13ull << QByteArray("duplicate key \"k\"");
    QTest::newRow("65 nested arrays") << nestedArrays(65) << 64ull << QByteArray("nested deeper than 64");
    QTest::newRow("65 nested objects") << nestedObjects(65) << 320ull << QByteArray("nested deeper than 64");
}

void TestJson::refusesInvalidDocuments() {
    QFETCH(QByteArray, text);
    QFETCH(qulonglong, offset);
    QFETCH(QByteArray, messagePart);
    const auto parsed = lms::parseJson(view(text));
    QVERIFY2(!parsed.has_value(), parsed ? lms::toJson(*parsed).c_str() : "");
    const lms::Error& error = parsed.error();
    QCOMPARE(error.code, lms::ErrorCode::Malformed);
    QVERIFY(error.offset.has_value());
    QCOMPARE(qulonglong(*error.offset), offset);
    QVERIFY2(error.message.starts_with("JSON: "), error.message.c_str());
    QVERIFY2(error.message.find(view(messagePart)) != std::string::npos, error.message.c_str());
}

void TestJson::decodesEscapesToUtf8() {
    const auto parsed = lms::parseJson(R"(["\u00e9", "\uD834\uDD1E", "\u0000", "\uFFFF", "\/"])");
    QVERIFY(parsed.has_value());
    QCOMPARE(parsed->size(), size_t(5));
    QCOMPARE(bytes(*(*parsed)[0].asString()), QByteArray("\xC3\xA9"));
    QCOMPARE(bytes(*(*parsed)[1].asString()), QByteArray("\xF0\x9D\x84\x9E"));
    QCOMPARE(bytes(*(*parsed)[2].asString()), QByteArray("\0", 1));
    QCOMPARE(bytes(*(*parsed)[3].asString()), QByteArray("\xEF\xBF\xBF"));
    QCOMPARE(bytes(*(*parsed)[4].asString()), QByteArray("/"));
}

void TestJson::keepsInsertionOrderAndFindsMembers() {
    const auto parsed = lms::parseJson(R"({"zeta":1,"alpha":"two","mid":[3,4.5],"t":true,"n":null})");
    QVERIFY(parsed.has_value());
    const JsonValue& root = *parsed;
    QVERIFY(root.isObject());
    QVERIFY(!root.isArray());
    QCOMPARE(root.size(), size_t(5));
    const auto& members = *root.asObject();
    QCOMPARE(bytes(members[0].first), QByteArray("zeta"));
    QCOMPARE(bytes(members[1].first), QByteArray("alpha"));
    QCOMPARE(bytes(members[2].first), QByteArray("mid"));
    QCOMPARE(bytes(members[4].first), QByteArray("n"));

    QVERIFY(root.find("zeta") && root.find("zeta")->isInteger());
    QCOMPARE(*root.find("zeta")->asInt64(), int64_t(1));
    QCOMPARE(bytes(*root.find("alpha")->asString()), QByteArray("two"));
    QVERIFY(!root.find("alpha")->asDouble().has_value());
    const JsonValue* mid = root.find("mid");
    QVERIFY(mid && mid->isArray());
    QCOMPARE(mid->size(), size_t(2));
    QVERIFY((*mid)[1].isNumber() && !(*mid)[1].isInteger());
    QCOMPARE(*(*mid)[1].asDouble(), 4.5);
    QCOMPARE(*root.find("t")->asBool(), true);
    QVERIFY(root.find("n")->isNull());
    QVERIFY(root.contains("n"));
    QVERIFY(root.find("missing") == nullptr);
    QVERIFY(root.find("Zeta") == nullptr);
    QVERIFY(mid->find("zeta") == nullptr);  // not an object

    // Source offsets point at each value's first byte.
    QCOMPARE(root.sourceOffset(), uint64_t(0));
    QCOMPARE(root.find("alpha")->sourceOffset(), uint64_t(18));
    QCOMPARE(mid->sourceOffset(), uint64_t(30));
    QCOMPARE((*mid)[1].sourceOffset(), uint64_t(33));
    const auto padded = lms::parseJson("  [ 1]");
    QVERIFY(padded.has_value());
    QCOMPARE(padded->sourceOffset(), uint64_t(2));
    QCOMPARE((*padded)[0].sourceOffset(), uint64_t(4));
    // Offsets do not take part in equality.
    QVERIFY(*padded == *lms::parseJson("[1]"));
}

void TestJson::keepsIntegersExact() {
    // 2^53 + 1 is not representable as a double but is kept exactly as an integer.
    const auto parsed = lms::parseJson("[9007199254740993, -9007199254740993, 1e3, 2.0, 1.5]");
    QVERIFY(parsed.has_value());
    QCOMPARE(*(*parsed)[0].asInt64(), int64_t(9007199254740993));
    QCOMPARE(*(*parsed)[1].asInt64(), int64_t(-9007199254740993));
    QCOMPARE(*(*parsed)[0].asDouble(), 9007199254740992.0);
    QVERIFY(!(*parsed)[2].isInteger());
    QCOMPARE(*(*parsed)[2].asDouble(), 1000.0);
    QVERIFY(!(*parsed)[3].isInteger());
    QVERIFY(!(*parsed)[4].asInt64().has_value());
    QCOMPARE(bytes(lms::toJson(*parsed)), QByteArray("[9007199254740993,-9007199254740993,1000.0,2.0,1.5]"));
}

void TestJson::asInt64ChecksRange_data() {
    QTest::addColumn<QByteArray>("text");
    QTest::addColumn<qlonglong>("min");
    QTest::addColumn<qlonglong>("max");
    QTest::addColumn<bool>("ok");
    QTest::addColumn<qlonglong>("value");
    const qlonglong lo = std::numeric_limits<qlonglong>::min(), hi = std::numeric_limits<qlonglong>::max();
    QTest::newRow("in default range") << QByteArray("-7") << lo << hi << true << -7ll;
    QTest::newRow("at min") << QByteArray("0") << 0ll << 10ll << true << 0ll;
    QTest::newRow("at max") << QByteArray("10") << 0ll << 10ll << true << 10ll;
    QTest::newRow("below min") << QByteArray("-1") << 0ll << 10ll << false << 0ll;
    QTest::newRow("above max") << QByteArray("11") << 0ll << 10ll << false << 0ll;
    QTest::newRow("int64 max") << QByteArray("9223372036854775807") << lo << hi << true << hi;
    QTest::newRow("beyond int64") << QByteArray("9223372036854775808") << lo << hi << false << 0ll;
    QTest::newRow("fraction") << QByteArray("1.5") << lo << hi << false << 0ll;
    QTest::newRow("integral fraction") << QByteArray("3.0") << lo << hi << false << 0ll;
    QTest::newRow("exponent") << QByteArray("1e2") << lo << hi << false << 0ll;
    QTest::newRow("string") << QByteArray("\"5\"") << lo << hi << false << 0ll;
    QTest::newRow("bool") << QByteArray("true") << lo << hi << false << 0ll;
    QTest::newRow("null") << QByteArray("null") << lo << hi << false << 0ll;
}

void TestJson::asInt64ChecksRange() {
    QFETCH(QByteArray, text);
    QFETCH(qlonglong, min);
    QFETCH(qlonglong, max);
    QFETCH(bool, ok);
    QFETCH(qlonglong, value);
    const auto parsed = lms::parseJson(view(text));
    QVERIFY(parsed.has_value());
    const auto result = parsed->asInt64(min, max);
    QCOMPARE(result.has_value(), ok);
    if (ok)
        QCOMPARE(qlonglong(*result), value);
    else
        QCOMPARE(result.error().code, lms::ErrorCode::Malformed);
}

void TestJson::indexingIsSafe() {
    const auto parsed = lms::parseJson("[1,[2]]");
    QVERIFY(parsed.has_value());
    QVERIFY((*parsed)[2].isNull());
    QVERIFY((*parsed)[size_t(-1)].isNull());
    QVERIFY((*parsed)[0][0].isNull());  // indexing a number
    QCOMPARE(*(*parsed)[1][0].asInt64(), int64_t(2));
    const JsonValue text("x");
    QVERIFY(text[0].isNull());
    QCOMPARE(text.size(), size_t(0));
    QVERIFY(text.asArray() == nullptr);
    QVERIFY(text.asObject() == nullptr);
}

void TestJson::detectsDuplicatesInLargeObjects() {
    std::string text = "{";
    for (int i = 0; i < 200000; ++i) text += "\"key" + std::to_string(i) + "\":" + std::to_string(i) + ",";
    const size_t duplicateOffset = text.size();
    text += "\"key123456\":0}";
    const auto parsed = lms::parseJson(text);
    QVERIFY(!parsed.has_value());
    QCOMPARE(*parsed.error().offset, uint64_t(duplicateOffset));
    QVERIFY(parsed.error().message.find("key123456") != std::string::npos);

    text.resize(duplicateOffset - 1);
    text += "}";
    const auto unique = lms::parseJson(text);
    QVERIFY(unique.has_value());
    QCOMPARE(unique->size(), size_t(200000));
    QCOMPARE(*unique->find("key199999")->asInt64(), int64_t(199999));
}

void TestJson::writerEscapesLikePython() {
    // Expected strings are what Python's json.dumps(..., ensure_ascii=False) produces.
    std::string controls = "q\"b\\s/\b\f\n\r\t\x01\x1f\x7f";
    controls += '\0';
    QCOMPARE(bytes(lms::toJson(JsonValue(controls))), QByteArray(R"("q\"b\\s/\b\f\n\r\t\u0001\u001f)"
                                                                 "\x7f"
                                                                 R"(\u0000")"));
    QCOMPARE(bytes(lms::toJson(JsonValue("\xC3\xA9\xF0\x9F\x98\x80"))),
             QByteArray("\"\xC3\xA9\xF0\x9F\x98\x80\""));
    // Invalid UTF-8 cannot be written as JSON: each offending byte becomes U+FFFD.
    QCOMPARE(bytes(lms::toJson(JsonValue("a\xFF"
                                         "b\xC3"))),
             QByteArray("\"a\xEF\xBF\xBD"
                        "b\xEF\xBF\xBD\""));
    QCOMPARE(bytes(lms::toJson(JsonValue(1.0))), QByteArray("1.0"));
    QCOMPARE(bytes(lms::toJson(JsonValue(0.1))), QByteArray("0.1"));
    QCOMPARE(bytes(lms::toJson(JsonValue(-2.5e-8))), QByteArray("-2.5e-08"));
    QCOMPARE(bytes(lms::toJson(JsonValue(1e20))), QByteArray("1e+20"));
    QCOMPARE(bytes(lms::toJson(JsonValue(1e16))), QByteArray("1e+16"));
    QCOMPARE(bytes(lms::toJson(JsonValue(1e15))), QByteArray("1000000000000000.0"));
    QCOMPARE(bytes(lms::toJson(JsonValue(123456.75))), QByteArray("123456.75"));
    QCOMPARE(bytes(lms::toJson(JsonValue(-0.0))), QByteArray("-0.0"));
    QCOMPARE(bytes(lms::toJson(JsonValue(0.0001))), QByteArray("0.0001"));
    QCOMPARE(bytes(lms::toJson(JsonValue(0.00001234))), QByteArray("1.234e-05"));
    QCOMPARE(bytes(lms::toJson(JsonValue(5e-324))), QByteArray("5e-324"));
    QCOMPARE(bytes(lms::toJson(JsonValue(1.7976931348623157e308))), QByteArray("1.7976931348623157e+308"));
    QCOMPARE(bytes(lms::toJson(JsonValue(std::nan("")))), QByteArray("null"));
    QCOMPARE(bytes(lms::toJson(JsonValue(-std::numeric_limits<double>::infinity()))), QByteArray("null"));
    QCOMPARE(bytes(lms::toJson(JsonValue(uint64_t(18446744073709551615ull)))),
             QByteArray("1.8446744073709552e+19"));
    QCOMPARE(bytes(lms::toJson(JsonValue(uint64_t(42)))), QByteArray("42"));
    QCOMPARE(bytes(lms::toJson(JsonValue(int64_t(-9223372036854775807ll - 1)))),
             QByteArray("-9223372036854775808"));
    QCOMPARE(bytes(lms::toJson(JsonValue(nullptr))), QByteArray("null"));
    QCOMPARE(bytes(lms::toJson(JsonValue(false))), QByteArray("false"));
}

void TestJson::writerRoundTripsBuiltValues() {
    JsonValue root;
    JsonValue metadata;
    metadata.set("format", "ms").set("note", "line\nbreak \xE2\x82\xAC");
    root.set("__metadata__", metadata);
    JsonValue entry;
    entry.set("dtype", "BF16").set("shape", JsonValue::Array{JsonValue(128), JsonValue(32)});
    entry.set("data_offsets", JsonValue::Array{JsonValue(0), JsonValue(uint64_t(8192))});
    root.set("model.w", entry);
    root.set("flags", JsonValue::array().push_back(true).push_back(nullptr).push_back(0.25));
    root.set("__metadata__", JsonValue::object());  // replaces in place, keeps position

    const std::string text = lms::toJson(root);
    QCOMPARE(bytes(text), QByteArray(R"({"__metadata__":{},"model.w":{"dtype":"BF16","shape":[128,32],)"
                                     R"("data_offsets":[0,8192]},"flags":[true,null,0.25]})"));
    const auto parsed = lms::parseJson(text);
    QVERIFY(parsed.has_value());
    QVERIFY(*parsed == root);
    QVERIFY(!(*parsed == JsonValue(JsonValue::Object{})));

    // Python-style metadata with escapes survives a round trip.
    const auto meta = lms::parseJson(lms::toJson(metadata));
    QVERIFY(meta.has_value());
    QCOMPARE(bytes(*meta->find("note")->asString()), QByteArray("line\nbreak \xE2\x82\xAC"));

    // push_back/set on a value of another type change nothing.
    JsonValue number(3);
    number.push_back(1).set("k", 2);
    QCOMPARE(bytes(lms::toJson(number)), QByteArray("3"));
}

void TestJson::validatesUtf8() {
    QVERIFY(lms::isValidUtf8(""));
    QVERIFY(lms::isValidUtf8("plain ascii"));
    QVERIFY(lms::isValidUtf8("\xC2\x80\xDF\xBF\xE0\xA0\x80\xEF\xBF\xBF\xF0\x90\x80\x80\xF4\x8F\xBF\xBF"));
    QVERIFY(lms::isValidUtf8(std::string_view("a\0b", 3)));
    QVERIFY(!lms::isValidUtf8("\xC1\xBF"));
    QVERIFY(!lms::isValidUtf8("\xED\xBF\xBF"));
    QVERIFY(!lms::isValidUtf8("\xF4\x90\x80\x80"));
    QVERIFY(!lms::isValidUtf8("ok\xE2\x82"));
    QVERIFY(!lms::isValidUtf8("\xBF"));
}

QTEST_GUILESS_MAIN(TestJson)
#include "tst_json.moc"
