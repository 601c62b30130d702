#pragma once
// A small JSON DOM (RFC 8259) for hostile input: safetensors headers, strategy JSON files,
// adapter configs. No external library.
//
// Parsing is strict: exactly one value surrounded by optional whitespace (space, tab, CR, LF);
// no comments, trailing commas, NaN/Infinity, leading zeros, '+' signs, BOM or control
// characters inside strings. The text must be valid UTF-8 (no overlong forms, no encoded
// surrogates, nothing above U+10FFFF); \uXXXX escapes are decoded to UTF-8 and surrogate pairs
// are combined, while a lone surrogate is an error. Nesting deeper than kMaxJsonDepth, numbers
// too large for a double (JSON has no infinity; numbers too small round to zero, as in strtod)
// and duplicate keys inside one object are errors. Every error is Malformed and carries the byte
// offset in `text` where the problem was found.
// Memory: about 50 bytes per value plus string contents; callers bound the text size.

#include "lms/base/Error.h"

#include <concepts>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace lms {

inline constexpr int kMaxJsonDepth = 64;  // arrays/objects nested deeper than this are refused

class JsonValue {
public:
    enum class Type { Null, Bool, Number, String, Array, Object };
    using Array = std::vector<JsonValue>;
    using Member = std::pair<std::string, JsonValue>;
    using Object = std::vector<Member>;  // insertion (document) order, keys unique after parsing

    JsonValue() = default;  // null
    JsonValue(std::nullptr_t) {}
    JsonValue(bool value) : value_(value) {}
    // Integers keep their exact value; an unsigned value above INT64_MAX is kept as a double only.
    template <std::integral T>
    requires(!std::same_as<T, bool>) JsonValue(T value) {
        if constexpr (std::is_unsigned_v<T> && sizeof(T) >= sizeof(int64_t)) {
            if (value > uint64_t(std::numeric_limits<int64_t>::max())) {
                value_ = Number{double(value), std::nullopt};
                return;
            }
        }
        value_ = Number{double(value), int64_t(value)};
    }
    JsonValue(double value) : value_(Number{value, std::nullopt}) {}
    JsonValue(float value) : JsonValue(double(value)) {}
    JsonValue(const char* value) : value_(std::string(value)) {}
    JsonValue(std::string_view value) : value_(std::string(value)) {}
    JsonValue(std::string value) : value_(std::move(value)) {}
    JsonValue(Array value) : value_(std::move(value)) {}
    JsonValue(Object value) : value_(std::move(value)) {}

    static JsonValue array() { return JsonValue(Array{}); }
    static JsonValue object() { return JsonValue(Object{}); }
    // A number parsed from text: `exact` is set when the literal is an integer in int64 range.
    static JsonValue number(double value, std::optional<int64_t> exact) {
        JsonValue v;
        v.value_ = Number{value, exact};
        return v;
    }

    Type type() const { return Type(value_.index()); }
    bool isNull() const { return type() == Type::Null; }
    bool isBool() const { return type() == Type::Bool; }
    bool isNumber() const { return type() == Type::Number; }
    // A number written as an integer literal (no fraction, no exponent) that fits int64, or one
    // constructed from an integer. "2.0" and "1e3" are numbers but not integers.
    bool isInteger() const { return isNumber() && std::get<Number>(value_).exact.has_value(); }
    bool isString() const { return type() == Type::String; }
    bool isArray() const { return type() == Type::Array; }
    bool isObject() const { return type() == Type::Object; }

    // Typed access; nullopt / nullptr when the value has another type.
    std::optional<bool> asBool() const;
    std::optional<double> asDouble() const;
    // The exact integer, refused (Malformed, message names the value) when the value is not an
    // integer or lies outside [min, max].
    [[nodiscard]] Result<int64_t> asInt64(int64_t min = std::numeric_limits<int64_t>::min(),
                                          int64_t max = std::numeric_limits<int64_t>::max()) const;
    const std::string* asString() const { return std::get_if<std::string>(&value_); }
    const Array* asArray() const { return std::get_if<Array>(&value_); }
    const Object* asObject() const { return std::get_if<Object>(&value_); }
    Array* asArray() { return std::get_if<Array>(&value_); }
    Object* asObject() { return std::get_if<Object>(&value_); }

    // Elements of an array or members of an object; 0 for anything else.
    size_t size() const;
    // Array element; a shared null value when this is not an array or the index is out of range.
    const JsonValue& operator[](size_t index) const;
    // Object member by key (linear search); nullptr when absent or when this is not an object.
    const JsonValue* find(std::string_view key) const;
    JsonValue* find(std::string_view key);
    bool contains(std::string_view key) const { return find(key) != nullptr; }

    // Building. push_back turns a null into an array; set() turns a null into an object and
    // replaces an existing member's value in place (keeping its position) or appends a new one.
    // Both are no-ops returning *this on values of other types.
    JsonValue& push_back(JsonValue value);
    JsonValue& set(std::string_view key, JsonValue value);

    // Byte offset of this value's first character in the text it was parsed from (0 for values
    // built in code). Lets callers point error messages at the offending value.
    uint64_t sourceOffset() const { return sourceOffset_; }
    void setSourceOffset(uint64_t offset) { sourceOffset_ = offset; }

    // Structural equality; source offsets are ignored.
    friend bool operator==(const JsonValue& a, const JsonValue& b);

private:
    struct Number {
        double value = 0;
        std::optional<int64_t> exact;
        // Integers compare exactly; otherwise by double value.
        friend bool operator==(const Number& a, const Number& b) {
            if (a.exact && b.exact) return *a.exact == *b.exact;
            return a.value == b.value && a.exact.has_value() == b.exact.has_value();
        }
    };
    std::variant<std::nullptr_t, bool, Number, std::string, Array, Object> value_;
    uint64_t sourceOffset_ = 0;
};

// Parses one JSON document (rules at the top of this file). Errors: Malformed with the byte
// offset of the problem inside `text`; the message names what was expected.
[[nodiscard]] Result<JsonValue> parseJson(std::string_view text);

// Compact JSON (no spaces), members in stored order. Strings are escaped like Python's
// json.dumps(ensure_ascii=False): '"', '\\', \b \f \n \r \t, other controls as \u00xx, and
// everything else (including non-ASCII UTF-8) verbatim; invalid UTF-8 bytes become U+FFFD.
// Integers are written exactly; other numbers like Python's repr(float): shortest round-trip
// digits, positional for decimal exponents in [-4, 16) with ".0" on integral values ("1.0",
// "0.0001"), scientific otherwise ("1e+16", "2.5e-08"). NaN and infinities, which JSON cannot
// hold, become null. So toJson matches json.dumps(..., separators=(",", ":"), ensure_ascii=False).
std::string toJson(const JsonValue& value);

// True when `text` is well-formed UTF-8 (the rules parseJson applies to strings).
bool isValidUtf8(std::string_view text);

}  // namespace lms
