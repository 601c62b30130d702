#include "lms/base/Json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <tuple>
#include <unordered_set>

namespace lms {
namespace {

// Length of the well-formed UTF-8 sequence starting at text[pos] (1-4), or 0 when the bytes there
// are not one (Unicode Table 3-7: no overlong forms, no surrogates, nothing above U+10FFFF).
size_t utf8SequenceLength(std::string_view text, size_t pos) {
    const auto byte = [&](size_t i) { return uint8_t(text[pos + i]); };
    const size_t left = text.size() - pos;
    const uint8_t b0 = byte(0);
    if (b0 < 0x80) return 1;
    const auto inRange = [](uint8_t b, uint8_t lo, uint8_t hi) { return b >= lo && b <= hi; };
    if (inRange(b0, 0xC2, 0xDF)) return left >= 2 && inRange(byte(1), 0x80, 0xBF) ? 2 : 0;
    if (inRange(b0, 0xE0, 0xEF)) {
        if (left < 3) return 0;
        const uint8_t lo = b0 == 0xE0 ? 0xA0 : 0x80;
        const uint8_t hi = b0 == 0xED ? 0x9F : 0xBF;
        return inRange(byte(1), lo, hi) && inRange(byte(2), 0x80, 0xBF) ? 3 : 0;
    }
    if (inRange(b0, 0xF0, 0xF4)) {
        if (left < 4) return 0;
        const uint8_t lo = b0 == 0xF0 ? 0x90 : 0x80;
        const uint8_t hi = b0 == 0xF4 ? 0x8F : 0xBF;
        return inRange(byte(1), lo, hi) && inRange(byte(2), 0x80, 0xBF) && inRange(byte(3), 0x80, 0xBF) ? 4
                                                                                                        : 0;
    }
    return 0;
}

void appendUtf8(std::string& out, uint32_t codePoint) {
    if (codePoint < 0x80) {
        out += char(codePoint);
    } else if (codePoint < 0x800) {
        out += char(0xC0 | (codePoint >> 6));
        out += char(0x80 | (codePoint & 0x3F));
    } else if (codePoint < 0x10000) {
        out += char(0xE0 | (codePoint >> 12));
        out += char(0x80 | ((codePoint >> 6) & 0x3F));
        out += char(0x80 | (codePoint & 0x3F));
    } else {
        out += char(0xF0 | (codePoint >> 18));
        out += char(0x80 | ((codePoint >> 12) & 0x3F));
        out += char(0x80 | ((codePoint >> 6) & 0x3F));
        out += char(0x80 | (codePoint & 0x3F));
    }
}

std::string describeByte(char c) {
    const auto b = uint8_t(c);
    char buf[16];
    if (b >= 0x20 && b < 0x7F)
        std::snprintf(buf, sizeof buf, "'%c'", c);
    else
        std::snprintf(buf, sizeof buf, "byte 0x%02X", unsigned(b));
    return buf;
}

// Recursive descent over the text; the first error is kept in error_ and every parse function
// returns false from then on. Recursion depth is bounded by kMaxJsonDepth.
class Parser {
public:
    explicit Parser(std::string_view text) : text_(text) {}

    Result<JsonValue> parseDocument() {
        JsonValue value;
        if (parseValue(value, 0)) {
            skipWhitespace();
            if (pos_ != text_.size())
                fail("unexpected " + describeByte(text_[pos_]) + " after the JSON value");
        }
        if (error_) return std::unexpected(std::move(*error_));
        return value;
    }

private:
    bool fail(std::string message) { return failAt(pos_, std::move(message)); }
    bool failAt(size_t offset, std::string message) {
        if (!error_) error_ = Error{ErrorCode::Malformed, "JSON: " + std::move(message), {}, {}, offset};
        return false;
    }
    bool atEnd() const { return pos_ >= text_.size(); }

    void skipWhitespace() {
        while (pos_ < text_.size()) {
            const char c = text_[pos_];
            if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
            ++pos_;
        }
    }

    bool parseValue(JsonValue& out, int depth) {
        skipWhitespace();
        if (atEnd()) return fail("unexpected end of input, expected a value");
        const size_t start = pos_;
        if (!parseValueAt(out, depth)) return false;
        out.setSourceOffset(start);
        return true;
    }

    bool parseValueAt(JsonValue& out, int depth) {
        switch (text_[pos_]) {
            case '{':
                return parseObject(out, depth + 1);
            case '[':
                return parseArray(out, depth + 1);
            case '"': {
                std::string s;
                if (!parseString(s)) return false;
                out = JsonValue(std::move(s));
                return true;
            }
            case 't':
                return parseLiteral("true", JsonValue(true), out);
            case 'f':
                return parseLiteral("false", JsonValue(false), out);
            case 'n':
                return parseLiteral("null", JsonValue(), out);
            default:
                if (text_[pos_] == '-' || (text_[pos_] >= '0' && text_[pos_] <= '9')) return parseNumber(out);
                return fail("unexpected " + describeByte(text_[pos_]) + ", expected a value");
        }
    }

    bool parseLiteral(std::string_view word, JsonValue value, JsonValue& out) {
        if (text_.substr(pos_, word.size()) != word)
            return fail("invalid literal, expected '" + std::string(word) + "'");
        pos_ += word.size();
        out = std::move(value);
        return true;
    }

    bool enter(int depth) {
        if (depth > kMaxJsonDepth)
            return fail("arrays and objects are nested deeper than " + std::to_string(kMaxJsonDepth) +
                        " levels");
        return true;
    }

    bool parseArray(JsonValue& out, int depth) {
        if (!enter(depth)) return false;
        ++pos_;  // '['
        JsonValue::Array elements;
        skipWhitespace();
        if (!atEnd() && text_[pos_] == ']') {
            ++pos_;
            out = JsonValue(std::move(elements));
            return true;
        }
        for (;;) {
            elements.emplace_back();
            if (!parseValue(elements.back(), depth)) return false;
            skipWhitespace();
            if (atEnd()) return fail("unexpected end of input inside an array");
            const char c = text_[pos_++];
            if (c == ']') break;
            if (c != ',') {
                --pos_;
                return fail("unexpected " + describeByte(c) + ", expected ',' or ']'");
            }
        }
        out = JsonValue(std::move(elements));
        return true;
    }

    bool parseObject(JsonValue& out, int depth) {
        if (!enter(depth)) return false;
        ++pos_;  // '{'
        JsonValue::Object members;
        // Key offsets live on a stack shared by all objects being parsed (nested objects finish
        // before their parent's next key), so parsing an object allocates nothing extra.
        const size_t keyOffsetBase = keyOffsets_.size();
        skipWhitespace();
        if (!atEnd() && text_[pos_] == '}') {
            ++pos_;
            out = JsonValue(std::move(members));
            return true;
        }
        for (;;) {
            skipWhitespace();
            if (atEnd()) return fail("unexpected end of input, expected an object key");
            if (text_[pos_] != '"')
                return fail("unexpected " + describeByte(text_[pos_]) + ", expected a string key");
            keyOffsets_.push_back(pos_);
            std::string key;
            if (!parseString(key)) return false;
            skipWhitespace();
            if (atEnd() || text_[pos_] != ':') return fail("expected ':' after the object key");
            ++pos_;
            // Constructed in place: moving a null JsonValue here trips GCC 12's -Wmaybe-uninitialized.
            members.emplace_back(std::piecewise_construct, std::forward_as_tuple(std::move(key)),
                                 std::forward_as_tuple());
            if (!parseValue(members.back().second, depth)) return false;
            skipWhitespace();
            if (atEnd()) return fail("unexpected end of input inside an object");
            const char c = text_[pos_++];
            if (c == '}') break;
            if (c != ',') {
                --pos_;
                return fail("unexpected " + describeByte(c) + ", expected ',' or '}'");
            }
        }
        if (!checkDuplicateKeys(members, keyOffsetBase)) return false;
        keyOffsets_.resize(keyOffsetBase);
        out = JsonValue(std::move(members));
        return true;
    }

    // Reports the first key (in document order) that repeats an earlier one. Small objects (the
    // common case: safetensors entries, configs) compare pairwise without allocating; large ones
    // use a hash set, so a header with hundreds of thousands of entries stays linear.
    bool checkDuplicateKeys(const JsonValue::Object& members, size_t keyOffsetBase) {
        const size_t n = members.size();
        if (n < 2) return true;
        std::optional<size_t> duplicate;
        if (n <= 16) {
            for (size_t i = 1; i < n && !duplicate; ++i)
                for (size_t j = 0; j < i; ++j)
                    if (members[i].first == members[j].first) {
                        duplicate = i;
                        break;
                    }
        } else {
            // Views into `members`, which no longer changes size.
            std::unordered_set<std::string_view> seen;
            seen.reserve(n);
            for (size_t i = 0; i < n; ++i)
                if (!seen.insert(members[i].first).second) {
                    duplicate = i;
                    break;
                }
        }
        if (!duplicate) return true;
        return failAt(keyOffsets_[keyOffsetBase + *duplicate],
                      "duplicate key \"" + members[*duplicate].first + "\"");
    }

    bool parseHex4(uint32_t& out) {
        if (text_.size() - pos_ < 4) return fail("truncated \\u escape");
        out = 0;
        for (int i = 0; i < 4; ++i) {
            const char c = text_[pos_ + i];
            uint32_t digit;
            if (c >= '0' && c <= '9')
                digit = uint32_t(c - '0');
            else if (c >= 'a' && c <= 'f')
                digit = uint32_t(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F')
                digit = uint32_t(c - 'A' + 10);
            else
                return failAt(pos_ + i, "invalid hexadecimal digit in a \\u escape");
            out = out * 16 + digit;
        }
        pos_ += 4;
        return true;
    }

    // pos_ is just past the backslash.
    bool parseEscape(std::string& out) {
        if (atEnd()) return fail("unterminated string");
        const size_t escapeStart = pos_ - 1;
        const char c = text_[pos_++];
        switch (c) {
            case '"':
                out += '"';
                return true;
            case '\\':
                out += '\\';
                return true;
            case '/':
                out += '/';
                return true;
            case 'b':
                out += '\b';
                return true;
            case 'f':
                out += '\f';
                return true;
            case 'n':
                out += '\n';
                return true;
            case 'r':
                out += '\r';
                return true;
            case 't':
                out += '\t';
                return true;
            case 'u':
                break;
            default:
                return failAt(escapeStart, "invalid escape \\" + std::string(1, c));
        }
        uint32_t unit;
        if (!parseHex4(unit)) return false;
        if (unit >= 0xDC00 && unit <= 0xDFFF)
            return failAt(escapeStart, "lone low surrogate in a \\u escape");
        if (unit >= 0xD800 && unit <= 0xDBFF) {
            if (text_.substr(pos_, 2) != "\\u")
                return failAt(escapeStart, "high surrogate without a low surrogate");
            pos_ += 2;
            uint32_t low;
            if (!parseHex4(low)) return false;
            if (low < 0xDC00 || low > 0xDFFF)
                return failAt(escapeStart, "high surrogate without a low surrogate");
            unit = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
        }
        appendUtf8(out, unit);
        return true;
    }

    bool parseString(std::string& out) {
        const size_t start = pos_;
        ++pos_;  // opening quote
        for (;;) {
            // Copy the longest run of bytes that need no attention in one go.
            size_t run = pos_;
            while (run < text_.size()) {
                const auto b = uint8_t(text_[run]);
                if (b == '"' || b == '\\' || b < 0x20 || b >= 0x80) break;
                ++run;
            }
            out.append(text_.data() + pos_, run - pos_);
            pos_ = run;
            if (atEnd()) return failAt(start, "unterminated string");
            const auto b = uint8_t(text_[pos_]);
            if (b == '"') {
                ++pos_;
                return true;
            }
            if (b == '\\') {
                ++pos_;
                if (!parseEscape(out)) return false;
            } else if (b < 0x20) {
                return fail("unescaped control character " + describeByte(char(b)) + " in a string");
            } else {
                const size_t length = utf8SequenceLength(text_, pos_);
                if (length == 0) return fail("invalid UTF-8 in a string");
                out.append(text_.data() + pos_, length);
                pos_ += length;
            }
        }
    }

    static bool isDigit(char c) { return c >= '0' && c <= '9'; }

    // For a grammatical number that from_chars found out of range: true when its magnitude is
    // below 1 (so it underflowed), false when it is at least 1 (it overflowed). The decimal
    // exponent of the leading significant digit decides; a literal without one is zero.
    static bool underflowsToZero(std::string_view number) {
        size_t i = number.front() == '-' ? 1 : 0;
        int64_t leadExponent = 0;  // power of ten of the first non-zero digit, before the exponent
        bool found = false;
        int64_t integerDigits = 0;
        for (; i < number.size() && isDigit(number[i]); ++i) {
            if (!found && number[i] != '0') found = true;
            if (found) ++integerDigits;
        }
        if (found) {
            leadExponent = integerDigits - 1;
        } else if (i < number.size() && number[i] == '.') {
            int64_t position = -1;
            for (++i; i < number.size() && isDigit(number[i]); ++i, --position) {
                if (number[i] != '0') {
                    found = true;
                    leadExponent = position;
                    break;
                }
            }
        }
        if (!found) return true;
        const size_t e = number.find_first_of("eE");
        int64_t exponent = 0;
        if (e != std::string_view::npos) {
            size_t j = e + 1;
            const bool negative = number[j] == '-';
            if (number[j] == '+' || number[j] == '-') ++j;
            for (; j < number.size(); ++j) {
                exponent = std::min<int64_t>(exponent * 10 + (number[j] - '0'), int64_t(1) << 40);
            }
            if (negative) exponent = -exponent;
        }
        return leadExponent + exponent < 0;
    }

    bool parseNumber(JsonValue& out) {
        const size_t start = pos_;
        bool integral = true;
        if (text_[pos_] == '-') ++pos_;
        if (atEnd() || !isDigit(text_[pos_])) return fail("expected a digit");
        if (text_[pos_] == '0') {
            ++pos_;
            if (!atEnd() && isDigit(text_[pos_])) return fail("leading zeros are not allowed in numbers");
        } else {
            while (!atEnd() && isDigit(text_[pos_])) ++pos_;
        }
        if (!atEnd() && text_[pos_] == '.') {
            integral = false;
            ++pos_;
            if (atEnd() || !isDigit(text_[pos_])) return fail("expected a digit after the decimal point");
            while (!atEnd() && isDigit(text_[pos_])) ++pos_;
        }
        if (!atEnd() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
            integral = false;
            ++pos_;
            if (!atEnd() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
            if (atEnd() || !isDigit(text_[pos_])) return fail("expected a digit in the exponent");
            while (!atEnd() && isDigit(text_[pos_])) ++pos_;
        }
        const char* first = text_.data() + start;
        const char* last = text_.data() + pos_;
        double value = 0;
        const auto [end, ec] = std::from_chars(first, last, value);
        if (ec == std::errc::result_out_of_range &&
            underflowsToZero(std::string_view(first, size_t(last - first)))) {
            value = *first == '-' ? -0.0 : 0.0;  // like strtod and Python: too small rounds to zero
        } else if (ec != std::errc() || end != last || !std::isfinite(value)) {
            return failAt(start, "number is outside the range of a double");
        }
        std::optional<int64_t> exact;
        if (integral) {
            int64_t i = 0;
            const auto [iend, iec] = std::from_chars(first, last, i);
            if (iec == std::errc() && iend == last) exact = i;
        }
        out = JsonValue::number(value, exact);
        return true;
    }

    std::string_view text_;
    size_t pos_ = 0;
    std::optional<Error> error_;
    std::vector<size_t> keyOffsets_;  // offsets of the keys of the objects being parsed
};

void writeString(std::string& out, std::string_view s) {
    out += '"';
    size_t pos = 0;
    while (pos < s.size()) {
        const auto b = uint8_t(s[pos]);
        if (b >= 0x80) {
            const size_t length = utf8SequenceLength(s, pos);
            if (length == 0) {
                out += "\xEF\xBF\xBD";  // U+FFFD for a byte that starts no valid sequence
                ++pos;
            } else {
                out.append(s.data() + pos, length);
                pos += length;
            }
            continue;
        }
        switch (b) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\b':
                out += "\\b";
                break;
            case '\f':
                out += "\\f";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (b < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", unsigned(b));
                    out += buf;
                } else {
                    out += char(b);
                }
        }
        ++pos;
    }
    out += '"';
}

// Python's repr(float): the shortest digits that round-trip, in positional notation when the
// decimal exponent is in [-4, 16) (with ".0" on integral values), otherwise scientific
// ("1e+16", "2.5e-08"). Keeps our output byte-identical to json.dumps for the same value.
void writeDouble(std::string& out, double d) {
    char buf[40];
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
    const std::string_view scientific(buf, size_t(end - buf));
    const size_t ePos = scientific.find('e');
    int exponent = 0;
    std::from_chars(scientific.data() + ePos + (scientific[ePos + 1] == '+' ? 2 : 1),
                    scientific.data() + scientific.size(), exponent);
    if (exponent < -4 || exponent >= 16) {
        out += scientific;
        return;
    }
    std::string_view mantissa = scientific.substr(0, ePos);
    if (mantissa.front() == '-') {
        out += '-';
        mantissa.remove_prefix(1);
    }
    std::string digits;
    for (char c : mantissa)
        if (c != '.') digits += c;
    if (exponent < 0) {
        out += "0.";
        out.append(size_t(-exponent - 1), '0');
        out += digits;
        return;
    }
    const size_t integerDigits = size_t(exponent) + 1;
    if (digits.size() <= integerDigits) {
        out += digits;
        out.append(integerDigits - digits.size(), '0');
        out += ".0";
    } else {
        out.append(digits, 0, integerDigits);
        out += '.';
        out.append(digits, integerDigits);
    }
}

void writeValue(std::string& out, const JsonValue& value) {
    switch (value.type()) {
        case JsonValue::Type::Null:
            out += "null";
            break;
        case JsonValue::Type::Bool:
            out += *value.asBool() ? "true" : "false";
            break;
        case JsonValue::Type::Number: {
            char buf[40];
            if (value.isInteger()) {
                const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, *value.asInt64());
                out.append(buf, end);
                break;
            }
            const double d = *value.asDouble();
            if (!std::isfinite(d)) {
                out += "null";
                break;
            }
            writeDouble(out, d);
            break;
        }
        case JsonValue::Type::String:
            writeString(out, *value.asString());
            break;
        case JsonValue::Type::Array: {
            out += '[';
            bool first = true;
            for (const auto& element : *value.asArray()) {
                if (!first) out += ',';
                first = false;
                writeValue(out, element);
            }
            out += ']';
            break;
        }
        case JsonValue::Type::Object: {
            out += '{';
            bool first = true;
            for (const auto& [key, member] : *value.asObject()) {
                if (!first) out += ',';
                first = false;
                writeString(out, key);
                out += ':';
                writeValue(out, member);
            }
            out += '}';
            break;
        }
    }
}

const JsonValue& sharedNull() {
    static const JsonValue null;
    return null;
}

}  // namespace

std::optional<bool> JsonValue::asBool() const {
    if (const bool* b = std::get_if<bool>(&value_)) return *b;
    return std::nullopt;
}

std::optional<double> JsonValue::asDouble() const {
    if (const Number* n = std::get_if<Number>(&value_)) return n->value;
    return std::nullopt;
}

Result<int64_t> JsonValue::asInt64(int64_t min, int64_t max) const {
    static constexpr const char* kTypeNames[] = {"null",     "a boolean", "a number",
                                                 "a string", "an array",  "an object"};
    const Number* n = std::get_if<Number>(&value_);
    if (!n)
        return fail(ErrorCode::Malformed,
                    std::string("expected an integer, found ") + kTypeNames[value_.index()]);
    if (!n->exact) return fail(ErrorCode::Malformed, "expected an integer, found " + toJson(*this));
    if (*n->exact < min || *n->exact > max)
        return fail(ErrorCode::Malformed, "integer " + std::to_string(*n->exact) + " is outside [" +
                                              std::to_string(min) + ", " + std::to_string(max) + "]");
    return *n->exact;
}

size_t JsonValue::size() const {
    if (const Array* a = asArray()) return a->size();
    if (const Object* o = asObject()) return o->size();
    return 0;
}

const JsonValue& JsonValue::operator[](size_t index) const {
    const Array* a = asArray();
    if (!a || index >= a->size()) return sharedNull();
    return (*a)[index];
}

const JsonValue* JsonValue::find(std::string_view key) const {
    const Object* o = asObject();
    if (!o) return nullptr;
    for (const auto& [k, v] : *o)
        if (k == key) return &v;
    return nullptr;
}

JsonValue* JsonValue::find(std::string_view key) {
    return const_cast<JsonValue*>(std::as_const(*this).find(key));
}

JsonValue& JsonValue::push_back(JsonValue value) {
    if (isNull()) value_ = Array{};
    if (Array* a = asArray()) a->push_back(std::move(value));
    return *this;
}

JsonValue& JsonValue::set(std::string_view key, JsonValue value) {
    if (isNull()) value_ = Object{};
    Object* o = asObject();
    if (!o) return *this;
    if (JsonValue* existing = find(key))
        *existing = std::move(value);
    else
        o->emplace_back(std::string(key), std::move(value));
    return *this;
}

bool operator==(const JsonValue& a, const JsonValue& b) {
    return a.value_ == b.value_;
}

Result<JsonValue> parseJson(std::string_view text) {
    return Parser(text).parseDocument();
}

std::string toJson(const JsonValue& value) {
    std::string out;
    writeValue(out, value);
    return out;
}

bool isValidUtf8(std::string_view text) {
    size_t pos = 0;
    while (pos < text.size()) {
        const size_t length = utf8SequenceLength(text, pos);
        if (length == 0) return false;
        pos += length;
    }
    return true;
}

}  // namespace lms
