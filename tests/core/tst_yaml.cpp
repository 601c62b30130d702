// Tests for lms::parseYaml: the subset MindFormers configs use, PyYAML 1.1 scalar rules, anchors
// and aliases, flow collections over several lines, duplicate keys, and the refusals (each with its
// line), including hostile input (depth, alias expansion).

#include "TestSupport.h"
#include "lms/lora/Yaml.h"

#include <QtTest>
#include <cmath>
#include <string>

using lms::JsonValue;

using lms::test::fetchText;

namespace {
QString Q(const std::string& s) {
    return QString::fromStdString(s);
}
}  // namespace

class TestYaml : public QObject {
    Q_OBJECT

private slots:
    void scalars_data();
    void scalars();
    void documents_data();
    void documents();
    void refusals_data();
    void refusals();
    void hostile();
};

void TestYaml::scalars_data() {
    QTest::addColumn<QString>("plain");
    QTest::addColumn<QString>("json");  // toJson of the resolved value; "nan" for NaN
    QTest::newRow("null ~") << "~"
                            << "null";
    QTest::newRow("null Null") << "Null"
                               << "null";
    QTest::newRow("nULL is text") << "nULL"
                                  << "\"nULL\"";
    QTest::newRow("yes") << "yes"
                         << "true";
    QTest::newRow("On") << "On"
                        << "true";
    QTest::newRow("OFF") << "OFF"
                         << "false";
    QTest::newRow("False") << "False"
                           << "false";
    QTest::newRow("fALSE is text") << "fALSE"
                                   << "\"fALSE\"";
    QTest::newRow("y is text") << "y"
                               << "\"y\"";
    QTest::newRow("int") << "32"
                         << "32";
    QTest::newRow("negative int") << "-8"
                                  << "-8";
    QTest::newRow("underscores") << "1_000"
                                 << "1000";
    QTest::newRow("hex") << "0x1F"
                         << "31";
    QTest::newRow("octal") << "017"
                           << "15";
    QTest::newRow("binary") << "0b101"
                            << "5";
    QTest::newRow("sexagesimal") << "1:30"
                                 << "90";
    QTest::newRow("float with dot") << "0.05"
                                    << "0.05";
    QTest::newRow("1.e-8 is a float") << "1.e-8"
                                      << "1e-08";
    QTest::newRow("1e-8 is text") << "1e-8"
                                  << "\"1e-8\"";
    QTest::newRow("exponent needs a sign") << "1.0e5"
                                           << "\"1.0e5\"";
    QTest::newRow("1. is a float") << "1."
                                   << "1.0";
    QTest::newRow(".5") << ".5"
                        << "0.5";
    QTest::newRow("-.5 is text (PyYAML)") << "-.5"
                                          << "\"-.5\"";
    QTest::newRow("-.inf") << "-.inf"
                           << "-inf";
    QTest::newRow(".NaN") << ".NaN"
                          << "nan";
    QTest::newRow("version text") << "1.2.3"
                                  << "\"1.2.3\"";
    QTest::newRow("path") << "./output"
                          << "\"./output\"";
}

void TestYaml::scalars() {
    const std::string plain = fetchText("plain");
    const std::string json = fetchText("json");
    const JsonValue v = lms::resolveYamlScalar(plain);
    const auto d = v.asDouble();
    if (json == "nan")
        QVERIFY(d && std::isnan(*d));
    else if (json == "-inf")
        QVERIFY(d && std::isinf(*d) && *d < 0);
    else
        QCOMPARE(Q(lms::toJson(v)), Q(json));
}

void TestYaml::documents_data() {
    QTest::addColumn<QString>("yaml");
    QTest::addColumn<QString>("json");
    QTest::newRow("nested map") << "a:\n  b: 1\n  c: x  # comment\n"
                                << R"({"a":{"b":1,"c":"x"}})";
    QTest::newRow("sequence at key indent") << "k:\n- 1\n- two\n"
                                            << R"({"k":[1,"two"]})";
    QTest::newRow("sequence of maps") << "cb:\n  - type: A\n    n: 2\n  - type: B\n"
                                      << R"({"cb":[{"type":"A","n":2},{"type":"B"}]})";
    QTest::newRow("flow") << "b: [0.9, 0.999]\nf: ['*', \"*lora*\"]\n"
                          << R"({"b":[0.9,0.999],"f":["*","*lora*"]})";
    QTest::newRow("multi-line flow") << "m: {a: 1,\n   b: [x,\n y]}\nn: 2\n"
                                     << R"({"m":{"a":1,"b":["x","y"]},"n":2})";
    QTest::newRow("anchor and alias") << "base: &b\n  r: 8\nuse: *b\n"
                                      << R"({"base":{"r":8},"use":{"r":8}})";
    QTest::newRow("scalar anchor") << "a: &x 32\nb: *x\n"
                                   << R"({"a":32,"b":32})";
    QTest::newRow("duplicate key: later wins") << "a: 1\nb: 2\na: 3\n"
                                               << R"({"a":3,"b":2})";
    QTest::newRow("quoted") << "s: 'it''s # not a comment'\nd: \"a\\tb\\u00e9\"\n"
                            << "{\"s\":\"it's # not a comment\",\"d\":\"a\\tb\xC3\xA9\"}";
    QTest::newRow("empty value is null") << "a:\nb: 1\n"
                                         << R"({"a":null,"b":1})";
    QTest::newRow("url keeps its colon") << "u: http://x:80/y\n"
                                         << R"({"u":"http://x:80/y"})";
    QTest::newRow("document marker") << "---\na: 1\n...\n"
                                     << R"({"a":1})";
    QTest::newRow("empty document") << "# only a comment\n"
                                    << "null";
}

void TestYaml::documents() {
    const std::string yaml = fetchText("yaml");
    const std::string json = fetchText("json");
    auto v = lms::parseYaml(yaml, "t.yaml");
    QVERIFY2(v.has_value(), v ? "" : v.error().message.c_str());
    QCOMPARE(Q(lms::toJson(*v)), Q(json));
}

void TestYaml::refusals_data() {
    QTest::addColumn<QString>("yaml");
    QTest::addColumn<QString>("message");
    QTest::newRow("block scalar |") << "a: 1\nb: |\n  text\n"
                                    << "line 2: block scalars (\"|\", \">\") are not supported";
    QTest::newRow("block scalar >") << "b: >-\n  text\n"
                                    << "line 1: block scalars (\"|\", \">\") are not supported";
    QTest::newRow("multi-line plain")
        << "a: one\n  two\n"
        << "line 2: a plain scalar continued on the next line (multi-line scalars are not supported)";
    QTest::newRow("merge key") << "a: &a {x: 1}\nb:\n  <<: *a\n"
                               << "line 3: \"<<\" merge keys are not supported";
    QTest::newRow("tab indent") << "a:\n\tb: 1\n"
                                << "line 2: a tab in the indentation";
    QTest::newRow("unknown alias") << "a: *nope\n"
                                   << "line 1: unknown alias \"*nope\"";
    QTest::newRow("unclosed flow") << "a: [1, 2\nb: 3\n"
                                   << "line 1: an unclosed flow collection";
    QTest::newRow("bad indentation") << "a:\n    b: 1\n  c: 2\n"
                                     << "line 3: unexpected indentation";
    QTest::newRow("two documents") << "a: 1\n---\nb: 2\n"
                                   << "line 2: a second YAML document (only one is read)";
    QTest::newRow("tag") << "a: !!str 1\n"
                         << "line 1: YAML tags (\"!\") are not supported";
    QTest::newRow("a: b: c") << "a: b: c\n"
                             << "line 1: a mapping value on the line of its key (\"a: b: c\")";
    QTest::newRow("unclosed quote") << "a: 'x\n"
                                    << "line 1: an unclosed quoted scalar";
}

void TestYaml::refusals() {
    const std::string yaml = fetchText("yaml");
    const std::string message = fetchText("message");
    auto v = lms::parseYaml(yaml, "dir/finetune.yaml");
    QVERIFY(!v.has_value());
    QCOMPARE(Q(v.error().message), Q(message));
    QCOMPARE(Q(v.error().file), Q("dir/finetune.yaml"));
}

void TestYaml::hostile() {
    std::string deep;
    for (int i = 0; i < 200; ++i) deep += std::string(size_t(i), ' ') + "k:\n";
    auto v = lms::parseYaml(deep, "deep.yaml");
    QVERIFY(!v);
    QVERIFY(v.error().message.find("nesting deeper than 64") != std::string::npos);
    auto flow = lms::parseYaml("a: " + std::string(5000, '[') + std::string(5000, ']'), "f.yaml");
    QVERIFY(!flow);
    QVERIFY(flow.error().message.find("nesting deeper than 64") != std::string::npos);
    // Billion laughs: each level doubles the values.
    std::string laughs = "l0: &l0 [x, x]\n";
    for (int i = 1; i < 30; ++i) {
        const std::string prev = "*l" + std::to_string(i - 1);
        laughs += "l" + std::to_string(i) + ": &l" + std::to_string(i) + "\n- " + prev + "\n- " + prev + "\n";
    }
    auto bomb = lms::parseYaml(laughs, "bomb.yaml");
    QVERIFY(!bomb);
    QVERIFY(bomb.error().message.find("expands to more than 1000000 values") != std::string::npos);
}

QTEST_GUILESS_MAIN(TestYaml)
#include "tst_yaml.moc"
