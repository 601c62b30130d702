#include "lms/lora/Yaml.h"

#include <cmath>
#include <cstdlib>
#include <map>
#include <vector>

// The scalar rules are PyYAML 1.1's resolver (pyyaml lib/yaml/resolver.py, Resolver.add_implicit_resolver
// for bool/float/int/null) and constructor (lib/yaml/constructor.py construct_yaml_int / _float), because
// MindFormers reads its configs with yaml.safe_load (mindformers/tools/register/config.py MindFormerConfig).

namespace lms {
namespace {

bool isDigitIn(char c, int base) {
    if (base == 2) return c == '0' || c == '1';
    if (base == 8) return c >= '0' && c <= '7';
    if (base == 10) return c >= '0' && c <= '9';
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// s consists of digits of `base` and '_' only, and holds at least one digit.
bool digitsOnly(std::string_view s, int base) {
    bool any = false;
    for (char c : s) {
        if (c == '_') continue;
        if (!isDigitIn(c, base)) return false;
        any = true;
    }
    return any;
}

std::string withoutUnderscores(std::string_view s) {
    std::string out;
    for (char c : s)
        if (c != '_') out += c;
    return out;
}

JsonValue integerValue(std::string_view digits, int base, bool negative) {
    const std::string clean = withoutUnderscores(digits);
    errno = 0;
    char* end = nullptr;
    const unsigned long long v = std::strtoull(clean.c_str(), &end, base);
    if (errno == 0 && v <= uint64_t(INT64_MAX))
        return negative ? JsonValue(-int64_t(v)) : JsonValue(int64_t(v));
    const double d = std::strtod(clean.c_str(), nullptr);  // beyond int64: Python keeps a big int
    return JsonValue(negative ? -d : d);
}

// "[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+" with an optional "\.[0-9_]*" tail on the last part (floats).
std::optional<double> sexagesimal(std::string_view body, bool allowFraction) {
    double value = 0;
    size_t start = 0;
    bool first = true;
    while (start <= body.size()) {
        size_t colon = body.find(':', start);
        const bool last = colon == std::string_view::npos;
        std::string_view part = body.substr(start, last ? std::string_view::npos : colon - start);
        std::string_view frac;
        if (last && allowFraction) {
            const size_t dot = part.find('.');
            if (dot == std::string_view::npos) return std::nullopt;
            frac = part.substr(dot + 1);
            part = part.substr(0, dot);
            for (char c : frac)
                if (c != '_' && !isDigitIn(c, 10)) return std::nullopt;
        }
        if (!digitsOnly(part, 10)) return std::nullopt;
        if (!first && (part.size() > 2 || (part.size() == 2 && part[0] > '5'))) return std::nullopt;
        if (first && part[0] == '0' && !allowFraction) return std::nullopt;
        std::string number = withoutUnderscores(part);
        if (!frac.empty()) {
            number += '.';
            number += withoutUnderscores(frac);
        }
        value = value * 60 + std::strtod(number.c_str(), nullptr);
        if (last) break;
        if (first && colon == 0) return std::nullopt;
        first = false;
        start = colon + 1;
    }
    return first ? std::nullopt : std::optional<double>(value);
}

std::optional<JsonValue> resolveInt(std::string_view s) {
    const bool negative = !s.empty() && s[0] == '-';
    std::string_view body = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? s.substr(1) : s;
    if (body.empty() || !isDigitIn(body[0], 10)) return std::nullopt;
    if (body.size() > 2 && body.substr(0, 2) == "0b" && digitsOnly(body.substr(2), 2))
        return integerValue(body.substr(2), 2, negative);
    if (body.size() > 2 && body.substr(0, 2) == "0x" && digitsOnly(body.substr(2), 16))
        return integerValue(body.substr(2), 16, negative);
    if (body == "0") return JsonValue(int64_t(0));
    if (body[0] == '0' && digitsOnly(body.substr(1), 8)) return integerValue(body.substr(1), 8, negative);
    if (body[0] != '0' && digitsOnly(body, 10)) return integerValue(body, 10, negative);
    if (body.find(':') != std::string_view::npos)
        if (auto v = sexagesimal(body, false)) return JsonValue(int64_t(negative ? -*v : *v));
    return std::nullopt;
}

// "[0-9][0-9_]*\.[0-9_]*([eE][-+][0-9]+)?" (signed) or "\.[0-9_]+([eE][-+][0-9]+)?" (unsigned).
bool decimalFloat(std::string_view body, bool leadingDot) {
    size_t i = 0;
    if (!leadingDot) {
        if (body.empty() || !isDigitIn(body[0], 10)) return false;
        while (i < body.size() && (isDigitIn(body[i], 10) || body[i] == '_')) ++i;
    }
    if (i >= body.size() || body[i] != '.') return false;
    ++i;
    const size_t fracStart = i;
    while (i < body.size() && (isDigitIn(body[i], 10) || body[i] == '_')) ++i;
    if (leadingDot && i == fracStart) return false;
    if (i == body.size()) return true;
    if (body[i] != 'e' && body[i] != 'E') return false;
    if (++i >= body.size() || (body[i] != '-' && body[i] != '+')) return false;
    if (++i >= body.size()) return false;
    for (; i < body.size(); ++i)
        if (!isDigitIn(body[i], 10)) return false;
    return true;
}

std::optional<JsonValue> resolveFloat(std::string_view s) {
    if (s == ".nan" || s == ".NaN" || s == ".NAN") return JsonValue(std::nan(""));
    const bool negative = !s.empty() && s[0] == '-';
    const bool signedText = !s.empty() && (s[0] == '-' || s[0] == '+');
    std::string_view body = signedText ? s.substr(1) : s;
    if (body == ".inf" || body == ".Inf" || body == ".INF") return JsonValue(negative ? -INFINITY : INFINITY);
    const bool ok = decimalFloat(body, false) || (!signedText && decimalFloat(body, true));
    if (ok) {
        const double v = std::strtod(withoutUnderscores(body).c_str(), nullptr);
        return JsonValue(negative ? -v : v);
    }
    if (body.find(':') != std::string_view::npos)
        if (auto v = sexagesimal(body, true)) return JsonValue(negative ? -*v : *v);
    return std::nullopt;
}

struct Line {
    int indent = 0;
    std::string_view text;  // without indentation, comment and trailing blanks
    int number = 0;         // 1-based
};

bool isBlank(char c) {
    return c == ' ' || c == '\t';
}

// Inside a quoted scalar (`quote` is ' or "): steps over t[i], and over the escaped (\") or doubled
// ('') quote it starts, closing the scalar at its quote. False, doing nothing, outside quotes.
bool skipQuoted(std::string_view t, size_t& i, char& quote) {
    if (!quote) return false;
    const char c = t[i];
    if ((c == '\\' && quote == '"') || (c == '\'' && quote == '\'' && i + 1 < t.size() && t[i + 1] == '\''))
        ++i;
    else if (c == quote)
        quote = 0;
    return true;
}

// Cuts a comment: '#' at the start or after a blank, outside quotes that open a scalar.
std::string_view stripComment(std::string_view t) {
    char quote = 0;
    for (size_t i = 0; i < t.size(); ++i) {
        if (skipQuoted(t, i, quote)) continue;
        const char c = t[i];
        const bool tokenStart =
            i == 0 || std::string_view(" \t[{,:-").find(t[i - 1]) != std::string_view::npos;
        if ((c == '"' || c == '\'') && tokenStart)
            quote = c;
        else if (c == '#' && (i == 0 || isBlank(t[i - 1])))
            return t.substr(0, i);
    }
    return t;
}

std::string_view trim(std::string_view t) {
    while (!t.empty() && isBlank(t.front())) t.remove_prefix(1);
    while (!t.empty() && (isBlank(t.back()) || t.back() == '\r')) t.remove_suffix(1);
    return t;
}

void appendUtf8(std::string& out, uint32_t cp) {
    if (cp < 0x80)
        out += char(cp);
    else if (cp < 0x800)
        out += {char(0xC0 | (cp >> 6)), char(0x80 | (cp & 0x3F))};
    else if (cp < 0x10000)
        out += {char(0xE0 | (cp >> 12)), char(0x80 | ((cp >> 6) & 0x3F)), char(0x80 | (cp & 0x3F))};
    else
        out += {char(0xF0 | (cp >> 18)), char(0x80 | ((cp >> 12) & 0x3F)), char(0x80 | ((cp >> 6) & 0x3F)),
                char(0x80 | (cp & 0x3F))};
}

std::optional<char> simpleEscape(char e) {
    switch (e) {
        case '0':
            return '\0';
        case 'a':
            return '\a';
        case 'b':
            return '\b';
        case 't':
        case '\t':
            return '\t';
        case 'n':
            return '\n';
        case 'v':
            return '\v';
        case 'f':
            return '\f';
        case 'r':
            return '\r';
        case 'e':
            return '\x1b';
        case ' ':
        case '"':
        case '/':
        case '\\':
            return e;
        default:
            return std::nullopt;
    }
}

class Parser {
public:
    Parser(std::string_view file) : file_(file) {}
    Result<JsonValue> document(std::string_view text);

private:
    std::unexpected<Error> error(int line, const std::string& what) const {
        return fail(ErrorCode::Malformed, "line " + std::to_string(line) + ": " + what, file_);
    }
    Result<void> count(int line, size_t n = 1) {
        nodes_ += n;
        if (nodes_ > kMaxYamlNodes)
            return error(line,
                         "the document expands to more than " + std::to_string(kMaxYamlNodes) + " values");
        return {};
    }
    static size_t countValues(const JsonValue& v);
    static bool isSequenceEntry(std::string_view t) {
        return t == "-" || (t.size() > 1 && t[0] == '-' && t[1] == ' ');
    }
    static std::optional<size_t> keyColon(std::string_view t);
    Result<JsonValue> block(int indent, int depth);
    Result<JsonValue> mapping(int indent, int depth);
    Result<JsonValue> sequence(int indent, int depth);
    Result<JsonValue> value(std::string_view rest, int ownIndent, int line, int depth, bool inMapping);
    Result<JsonValue> child(int ownIndent, int depth, bool inMapping);
    Result<JsonValue> flow(std::string_view rest, int line, int depth);
    Result<JsonValue> flowNode(std::string_view t, size_t& i, int& line, int depth);
    Result<std::string> quoted(std::string_view t, size_t& i, int line) const;
    Result<JsonValue> alias(std::string_view name, int line);

    std::string file_;
    std::vector<Line> lines_;
    size_t pos_ = 0;
    size_t nodes_ = 0;
    std::map<std::string, JsonValue, std::less<>> anchors_;
};

size_t Parser::countValues(const JsonValue& v) {
    size_t n = 1;
    if (auto* a = v.asArray())
        for (const auto& e : *a) n += countValues(e);
    if (auto* o = v.asObject())
        for (const auto& m : *o) n += countValues(m.second);
    return n;
}

// Where a "key: value" line's colon is; nullopt when the line is not a mapping entry.
std::optional<size_t> Parser::keyColon(std::string_view t) {
    if (t.empty() || t[0] == '[' || t[0] == '{' || t[0] == '&' || t[0] == '*' || isSequenceEntry(t))
        return std::nullopt;
    size_t i = 0;
    if (t[0] == '"' || t[0] == '\'') {
        const char q = t[0];
        for (i = 1; i < t.size() && t[i] != q; ++i)
            if (q == '"' && t[i] == '\\') ++i;
        if (i >= t.size()) return std::nullopt;
        ++i;
        while (i < t.size() && isBlank(t[i])) ++i;
        if (i < t.size() && t[i] == ':' && (i + 1 == t.size() || isBlank(t[i + 1]))) return i;
        return std::nullopt;
    }
    for (; i < t.size(); ++i)
        if (t[i] == ':' && (i + 1 == t.size() || isBlank(t[i + 1]))) return i;
    return std::nullopt;
}

Result<JsonValue> Parser::document(std::string_view text) {
    if (text.size() > kMaxYamlBytes)
        return fail(ErrorCode::Malformed, "the YAML text is over " + std::to_string(kMaxYamlBytes) + " bytes",
                    file_);
    if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
    if (!isValidUtf8(text)) return fail(ErrorCode::Malformed, "the YAML text is not valid UTF-8", file_);
    int number = 0;
    bool started = false;
    for (size_t start = 0; start <= text.size();) {
        size_t end = text.find('\n', start);
        if (end == std::string_view::npos) end = text.size();
        std::string_view raw = text.substr(start, end - start);
        start = end + 1;
        ++number;
        int indent = 0;
        while (size_t(indent) < raw.size() && raw[size_t(indent)] == ' ') ++indent;
        std::string_view body = trim(stripComment(raw.substr(size_t(indent))));
        if (body.empty()) continue;
        if (raw[size_t(indent)] == '\t') return error(number, "a tab in the indentation");
        if (indent == 0 && (body == "---" || body.substr(0, 4) == "--- ")) {
            if (started) return error(number, "a second YAML document (only one is read)");
            started = true;
            body = trim(body.substr(3));
            if (body.empty()) continue;
        }
        if (indent == 0 && body == "...") break;
        if (indent == 0 && body[0] == '%') return error(number, "YAML directives are not supported");
        started = true;
        lines_.push_back({indent, body, number});
        if (end == text.size()) break;
    }
    if (lines_.empty()) return JsonValue();
    auto root = block(lines_[0].indent, 0);
    if (!root) return root;
    if (pos_ < lines_.size())
        return error(lines_[pos_].number, "unexpected indentation or text after the document");
    return root;
}

Result<JsonValue> Parser::block(int indent, int depth) {
    if (depth > kMaxYamlDepth)
        return error(lines_[pos_].number, "nesting deeper than " + std::to_string(kMaxYamlDepth));
    const Line& line = lines_[pos_];
    if (isSequenceEntry(line.text)) return sequence(indent, depth);
    if (keyColon(line.text)) return mapping(indent, depth);
    ++pos_;
    return value(line.text, indent, line.number, depth, false);
}

Result<JsonValue> Parser::mapping(int indent, int depth) {
    JsonValue out = JsonValue::object();
    while (pos_ < lines_.size() && lines_[pos_].indent == indent) {
        const Line line = lines_[pos_];
        const auto colon = keyColon(line.text);
        if (!colon)
            return error(line.number,
                         "expected \"key: value\" in a mapping, got \"" + std::string(line.text) + "\"");
        std::string_view keyText = trim(line.text.substr(0, *colon));
        std::string key;
        if (keyText[0] == '"' || keyText[0] == '\'') {
            size_t i = 0;
            auto q = quoted(keyText, i, line.number);
            if (!q) return std::unexpected(q.error());
            key = std::move(*q);
        } else {
            if (keyText == "<<") return error(line.number, "\"<<\" merge keys are not supported");
            if (keyText[0] == '?' || keyText[0] == '!' || keyText[0] == '&' || keyText[0] == '*')
                return error(line.number, "unsupported mapping key \"" + std::string(keyText) + "\"");
            key = std::string(keyText);
        }
        ++pos_;
        if (auto st = count(line.number); !st) return std::unexpected(st.error());
        auto v = value(trim(line.text.substr(*colon + 1)), indent, line.number, depth, true);
        if (!v) return v;
        out.set(key, std::move(*v));  // a duplicate key: the later value wins, as in PyYAML
    }
    if (pos_ < lines_.size() && lines_[pos_].indent > indent)
        return error(lines_[pos_].number, "unexpected indentation");
    return out;
}

Result<JsonValue> Parser::sequence(int indent, int depth) {
    JsonValue out = JsonValue::array();
    while (pos_ < lines_.size() && lines_[pos_].indent == indent && isSequenceEntry(lines_[pos_].text)) {
        Line& line = lines_[pos_];
        if (auto st = count(line.number); !st) return std::unexpected(st.error());
        std::string_view rest = line.text.substr(1);
        const size_t blanks = rest.size() - trim(rest).size();
        rest = trim(rest);
        if (!rest.empty() && (keyColon(rest) || isSequenceEntry(rest))) {
            // "- key: value": the entry is a block node whose first line starts after "- ".
            line.indent = indent + 1 + int(blanks);
            line.text = rest;
            auto v = block(line.indent, depth + 1);
            if (!v) return v;
            out.push_back(std::move(*v));
            continue;
        }
        ++pos_;
        auto v = value(rest, indent, line.number, depth, false);
        if (!v) return v;
        out.push_back(std::move(*v));
    }
    if (pos_ < lines_.size() && lines_[pos_].indent > indent)
        return error(lines_[pos_].number, "unexpected indentation");
    return out;
}

// The node below a "key:" or "-" with nothing after it: a more indented block, a sequence at the
// key's own indentation (allowed for mapping values), or null.
Result<JsonValue> Parser::child(int ownIndent, int depth, bool inMapping) {
    if (pos_ >= lines_.size()) return JsonValue();
    const Line& next = lines_[pos_];
    if (next.indent > ownIndent) return block(next.indent, depth + 1);
    if (inMapping && next.indent == ownIndent && isSequenceEntry(next.text))
        return sequence(ownIndent, depth + 1);
    return JsonValue();
}

Result<JsonValue> Parser::alias(std::string_view name, int line) {
    auto it = anchors_.find(name);
    if (it == anchors_.end()) return error(line, "unknown alias \"*" + std::string(name) + "\"");
    if (auto st = count(line, countValues(it->second)); !st) return std::unexpected(st.error());
    return it->second;
}

// The value after "key:" or "- " (already trimmed); a value written on the following lines is read too.
Result<JsonValue> Parser::value(std::string_view rest, int ownIndent, int line, int depth, bool inMapping) {
    std::string anchor;
    if (!rest.empty() && rest[0] == '&') {
        size_t end = 1;
        while (end < rest.size() && !isBlank(rest[end])) ++end;
        anchor = std::string(rest.substr(1, end - 1));
        if (anchor.empty()) return error(line, "an anchor without a name");
        rest = trim(rest.substr(end));
    }
    Result<JsonValue> v = JsonValue();
    if (rest.empty()) {
        v = child(ownIndent, depth, inMapping);
    } else if (rest[0] == '*') {
        if (rest.find_first_of(" \t") != std::string_view::npos) return error(line, "text after an alias");
        v = alias(rest.substr(1), line);
    } else if (rest[0] == '|' || rest[0] == '>') {
        return error(line, "block scalars (\"|\", \">\") are not supported");
    } else if (rest[0] == '!') {
        return error(line, "YAML tags (\"!\") are not supported");
    } else if (rest[0] == '[' || rest[0] == '{') {
        v = flow(rest, line, depth + 1);
    } else if (rest[0] == '"' || rest[0] == '\'') {
        size_t i = 0;
        auto q = quoted(rest, i, line);
        if (!q) return std::unexpected(q.error());
        if (!trim(rest.substr(i)).empty()) return error(line, "text after a quoted scalar");
        v = JsonValue(std::move(*q));
    } else {
        if (keyColon(rest)) return error(line, "a mapping value on the line of its key (\"a: b: c\")");
        if (rest[0] == '@' || rest[0] == '`' || rest[0] == '%')
            return error(line, "a plain scalar cannot start with \"" + std::string(1, rest[0]) + "\"");
        v = resolveYamlScalar(rest);
        if (pos_ < lines_.size() && lines_[pos_].indent > ownIndent)
            return error(lines_[pos_].number,
                         "a plain scalar continued on the next line (multi-line scalars are not supported)");
    }
    if (v && !anchor.empty()) anchors_[anchor] = *v;
    return v;
}

Result<std::string> Parser::quoted(std::string_view t, size_t& i, int line) const {
    const char q = t[i++];
    std::string out;
    while (i < t.size()) {
        const char c = t[i++];
        if (c == '\n') return error(line, "a quoted scalar continued on the next line");
        if (c == q) {
            if (q == '\'' && i < t.size() && t[i] == '\'') {
                out += '\'';
                ++i;
                continue;
            }
            return out;
        }
        if (q == '\'' || c != '\\') {
            out += c;
            continue;
        }
        if (i >= t.size()) break;
        const char e = t[i++];
        if (const auto simple = simpleEscape(e)) {
            out += *simple;
            continue;
        }
        const int digits = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : 0;
        if (digits == 0 || i + size_t(digits) > t.size() || !digitsOnly(t.substr(i, size_t(digits)), 16) ||
            t.substr(i, size_t(digits)).find('_') != std::string_view::npos)
            return error(line,
                         "unsupported escape \"\\" + std::string(1, e) + "\" in a double-quoted scalar");
        const uint32_t cp =
            uint32_t(std::strtoul(std::string(t.substr(i, size_t(digits))).c_str(), nullptr, 16));
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return error(line, "an invalid code point escape");
        appendUtf8(out, cp);
        i += size_t(digits);
    }
    return error(line, "an unclosed quoted scalar");
}

// A flow collection starting at `rest`, continued over the following lines until its brackets close.
Result<JsonValue> Parser::flow(std::string_view rest, int line, int depth) {
    std::string text(rest);
    int open = 0;
    char quote = 0;
    auto scan = [&](std::string_view t) {
        for (size_t i = 0; i < t.size(); ++i) {
            if (skipQuoted(t, i, quote)) continue;
            const char c = t[i];
            if (c == '"' || c == '\'') {
                if (i == 0 || std::string_view(" \t[{,:").find(t[i - 1]) != std::string_view::npos) quote = c;
            } else if (c == '[' || c == '{') {
                ++open;
            } else if (c == ']' || c == '}') {
                --open;
            }
        }
    };
    scan(rest);
    while (open > 0 && !quote && pos_ < lines_.size()) {
        if (text.size() > kMaxYamlBytes) break;
        text += '\n';
        text += lines_[pos_].text;
        scan(lines_[pos_].text);
        ++pos_;
    }
    if (open > 0 || quote) return error(line, "an unclosed flow collection");
    size_t i = 0;
    int at = line;
    auto v = flowNode(text, i, at, depth);
    if (!v) return v;
    while (i < text.size() && (isBlank(text[i]) || text[i] == '\n')) at += text[i++] == '\n';
    if (i != text.size()) return error(at, "text after a flow collection");
    return v;
}

Result<JsonValue> Parser::flowNode(std::string_view t, size_t& i, int& line, int depth) {
    if (depth > kMaxYamlDepth) return error(line, "nesting deeper than " + std::to_string(kMaxYamlDepth));
    auto skip = [&] {
        while (i < t.size() && (isBlank(t[i]) || t[i] == '\n')) line += t[i++] == '\n';
    };
    skip();
    if (auto st = count(line); !st) return std::unexpected(st.error());
    if (i >= t.size()) return error(line, "a value is missing in a flow collection");
    const char c = t[i];
    if (c == '[' || c == '{') {
        const bool isMap = c == '{';
        JsonValue out = isMap ? JsonValue::object() : JsonValue::array();
        ++i;
        for (;;) {
            skip();
            if (i < t.size() && t[i] == (isMap ? '}' : ']')) {
                ++i;
                return out;
            }
            auto item = flowNode(t, i, line, depth + 1);
            if (!item) return item;
            skip();
            if (isMap) {
                JsonValue v;
                if (i < t.size() && t[i] == ':') {
                    ++i;
                    skip();
                    if (i < t.size() && (t[i] == ',' || t[i] == '}'))
                        v = JsonValue();
                    else if (auto r = flowNode(t, i, line, depth + 1); r)
                        v = std::move(*r);
                    else
                        return r;
                    skip();
                }
                const std::string* key = item->asString();
                if (!key) return error(line, "a flow mapping key that is not a plain or quoted string");
                out.set(*key, std::move(v));
            } else {
                if (i < t.size() && t[i] == ':')
                    return error(line, "a mapping inside a flow sequence is not supported");
                out.push_back(std::move(*item));
            }
            if (i < t.size() && t[i] == ',') {
                ++i;
                continue;
            }
            if (i < t.size() && t[i] == (isMap ? '}' : ']')) continue;
            return error(line,
                         std::string("expected ',' or '") + (isMap ? '}' : ']') + "' in a flow collection");
        }
    }
    if (c == '"' || c == '\'') {
        auto q = quoted(t, i, line);
        if (!q) return std::unexpected(q.error());
        return JsonValue(std::move(*q));
    }
    if (c == '*' || c == '&' || c == '!' || c == '|' || c == '>')
        return error(line, std::string("\"") + c + "\" inside a flow collection is not supported");
    const size_t start = i;
    while (i < t.size() && t[i] != '\n' && t[i] != ',' && t[i] != '[' && t[i] != ']' && t[i] != '{' &&
           t[i] != '}' &&
           !(t[i] == ':' &&
             (i + 1 == t.size() || std::string_view(" \t\n,]}").find(t[i + 1]) != std::string_view::npos)))
        ++i;
    const std::string_view plain = trim(t.substr(start, i - start));
    if (plain.empty()) return error(line, "an empty value in a flow collection");
    if (t.substr(i, 1) == "\n") {
        size_t j = i;
        while (j < t.size() && (isBlank(t[j]) || t[j] == '\n')) ++j;
        if (j < t.size() && std::string_view(",]}:").find(t[j]) == std::string_view::npos)
            return error(line,
                         "a plain scalar continued on the next line (multi-line scalars are not supported)");
    }
    return resolveYamlScalar(plain);
}
}  // namespace

JsonValue resolveYamlScalar(std::string_view s) {
    if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return JsonValue();
    static constexpr std::string_view kTrue[] = {"yes",  "Yes", "YES", "true", "True",
                                                 "TRUE", "on",  "On",  "ON"};
    static constexpr std::string_view kFalse[] = {"no",    "No",  "NO",  "false", "False",
                                                  "FALSE", "off", "Off", "OFF"};
    for (auto t : kTrue)
        if (s == t) return JsonValue(true);
    for (auto f : kFalse)
        if (s == f) return JsonValue(false);
    if (auto v = resolveInt(s)) return *v;
    if (auto v = resolveFloat(s)) return *v;
    return JsonValue(std::string(s));
}

Result<JsonValue> parseYaml(std::string_view text, std::string_view fileName) {
    Parser parser(fileName);
    return parser.document(text);
}

}  // namespace lms
