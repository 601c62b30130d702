#pragma once
// Protobuf wire-format primitives (https://protobuf.dev/programming-guides/encoding/), shared by
// the checkpoint reader and writer, the strategy pre-scan and the tests. Pure functions over
// bytes: no I/O, no allocation beyond the caller's buffer, no error texts (callers word the
// message for their file). Hostile input is expected: every decoder checks the bytes left and
// refuses varints longer than 10 bytes or whose 10th byte carries bits past 64.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace lms::wire {

inline constexpr size_t kMaxVarintBytes = 10;

enum class WireType : uint32_t {
    Varint = 0,
    Fixed64 = 1,
    Len = 2,
    StartGroup = 3,
    EndGroup = 4,
    Fixed32 = 5
};

enum class VarintStatus {
    Ok,
    Truncated,  // the bytes ended before a byte without the continuation bit
    Overlong,   // more than 10 bytes, or a 10th byte above 1 (the value would overflow 64 bits)
};

// Decodes the varint that starts at bytes[pos]. On Ok `value` holds it and pos is advanced past
// it. On Truncated pos is at the end of `bytes`; on Overlong pos is past the byte that made it
// overlong. `value` is unspecified unless Ok.
VarintStatus decodeVarint(std::span<const std::byte> bytes, size_t& pos, uint64_t& value);

// Appends the shortest encoding of `value` (1 to 10 bytes).
void appendVarint(std::vector<std::byte>& out, uint64_t value);
// Bytes appendVarint writes for `value`.
size_t varintSize(uint64_t value);

// A field key: field number and wire type (the number is not range-checked; 0 is invalid).
struct Key {
    uint64_t field = 0;
    uint32_t wireType = 0;
};
constexpr Key splitKey(uint64_t key) {
    return {key >> 3, uint32_t(key & 7)};
}
constexpr uint64_t makeKey(uint64_t field, WireType type) {
    return field << 3 | uint64_t(type);
}

// Byte size of a fixed-width field's value (8 or 4), 0 for the other wire types.
constexpr uint64_t fixedSize(uint32_t wireType) {
    return wireType == 1 ? 8 : wireType == 5 ? 4 : 0;
}

}  // namespace lms::wire
