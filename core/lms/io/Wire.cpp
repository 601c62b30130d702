#include "lms/io/Wire.h"

namespace lms::wire {

VarintStatus decodeVarint(std::span<const std::byte> bytes, size_t& pos, uint64_t& value) {
    value = 0;
    for (unsigned i = 0; i < kMaxVarintBytes; ++i) {
        if (pos >= bytes.size()) return VarintStatus::Truncated;
        const auto byte = uint8_t(bytes[pos++]);
        // The 10th byte holds bit 63 only; anything more would be silently lost.
        if (i == kMaxVarintBytes - 1 && byte > 1) return VarintStatus::Overlong;
        value |= uint64_t(byte & 0x7F) << (7 * i);
        if (!(byte & 0x80)) return VarintStatus::Ok;
    }
    return VarintStatus::Overlong;
}

void appendVarint(std::vector<std::byte>& out, uint64_t value) {
    while (value >= 0x80) {
        out.push_back(std::byte(uint8_t(value) | 0x80));
        value >>= 7;
    }
    out.push_back(std::byte(uint8_t(value)));
}

size_t varintSize(uint64_t value) {
    size_t n = 1;
    while (value >= 0x80) {
        value >>= 7;
        ++n;
    }
    return n;
}

}  // namespace lms::wire
