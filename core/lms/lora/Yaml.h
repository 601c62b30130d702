#pragma once
// A YAML subset reader for training configs (MindFormers finetune YAMLs), into the JSON DOM.
//
// Read: block mappings and sequences (also "- key: value" entries), flow collections "[...]" and
// "{...}" (also spread over several lines), comments, anchors "&a" and aliases "*a", single- and
// double-quoted scalars on one line, and plain scalars resolved as PyYAML 1.1 does:
//   null   ~ null Null NULL and an empty value
//   bool   yes/no/on/off/true/false in the cases Yes YES yes (likewise for the others)
//   int    decimal, 0x hex, 0o-less octal "017", 0b binary, '_' allowed between digits
//   float  only with a dot: "1.5", "1.e-8", ".5", exponent sign required ("1.0e+5"); ".inf",
//          "-.inf", ".nan" in the cases .inf .Inf .INF; "1e-8" stays a string
//   else   a string
// Duplicate keys: the later value wins (at the first key's position), as PyYAML's dict does.
// Refused, with an error naming the line: block scalars ("|", ">"), plain scalars continued on the
// next line, "<<" merge keys, tabs in indentation, sexagesimal numbers ("1:30"), tags ("!!str"),
// several documents, unknown aliases, anything not in the subset above.
// Hostile input: text over kMaxYamlBytes, nesting deeper than kMaxYamlDepth and documents that
// expand (through aliases) to more than kMaxYamlNodes values are refused; nothing crashes.
// Every error is Malformed, carries `fileName` as its file and starts with "line N: ".

#include "lms/base/Json.h"

#include <string_view>

namespace lms {

inline constexpr size_t kMaxYamlBytes = 16u << 20;
inline constexpr int kMaxYamlDepth = 64;
inline constexpr size_t kMaxYamlNodes = 1'000'000;

// The document as a JsonValue (an empty document is null). Mapping keys become strings as written.
[[nodiscard]] Result<JsonValue> parseYaml(std::string_view text, std::string_view fileName = {});

// One plain scalar resolved by the rules above (exposed for tests).
JsonValue resolveYamlScalar(std::string_view plain);

}  // namespace lms
