#include "lms/io/Hash.h"

#include <bit>
#include <cstring>

namespace lms {
namespace {

// The constants and steps of the xxHash specification (doc/xxhash_spec.md, "XXH64 algorithm").
constexpr uint64_t kPrime1 = 0x9E3779B185EBCA87ull;
constexpr uint64_t kPrime2 = 0xC2B2AE3D27D4EB4Full;
constexpr uint64_t kPrime3 = 0x165667B19E3779F9ull;
constexpr uint64_t kPrime4 = 0x85EBCA77C2B2AE63ull;
constexpr uint64_t kPrime5 = 0x27D4EB2F165667C5ull;

// Little-endian loads whatever the host order, so a hash means the same on every machine.
uint64_t load64(const std::byte* p) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    if constexpr (std::endian::native == std::endian::big) v = std::byteswap(v);
    return v;
}

uint32_t load32(const std::byte* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    if constexpr (std::endian::native == std::endian::big) v = std::byteswap(v);
    return v;
}

uint64_t round(uint64_t acc, uint64_t input) {
    acc += input * kPrime2;
    return std::rotl(acc, 31) * kPrime1;
}

uint64_t mergeRound(uint64_t acc, uint64_t value) {
    acc ^= round(0, value);
    return acc * kPrime1 + kPrime4;
}

}  // namespace

uint64_t xxh64(std::span<const std::byte> bytes, uint64_t seed) {
    const std::byte* p = bytes.data();
    const std::byte* const end = p + bytes.size();
    uint64_t h;
    if (bytes.size() >= 32) {
        uint64_t v1 = seed + kPrime1 + kPrime2, v2 = seed + kPrime2, v3 = seed, v4 = seed - kPrime1;
        for (; end - p >= 32; p += 32) {
            v1 = round(v1, load64(p));
            v2 = round(v2, load64(p + 8));
            v3 = round(v3, load64(p + 16));
            v4 = round(v4, load64(p + 24));
        }
        h = std::rotl(v1, 1) + std::rotl(v2, 7) + std::rotl(v3, 12) + std::rotl(v4, 18);
        h = mergeRound(mergeRound(mergeRound(mergeRound(h, v1), v2), v3), v4);
    } else {
        h = seed + kPrime5;
    }
    h += uint64_t(bytes.size());
    for (; end - p >= 8; p += 8) h = std::rotl(h ^ round(0, load64(p)), 27) * kPrime1 + kPrime4;
    if (end - p >= 4) {
        h = std::rotl(h ^ (uint64_t(load32(p)) * kPrime1), 23) * kPrime2 + kPrime3;
        p += 4;
    }
    for (; p < end; ++p) h = std::rotl(h ^ (uint64_t(std::to_integer<uint8_t>(*p)) * kPrime5), 11) * kPrime1;
    h ^= h >> 33;
    h *= kPrime2;
    h ^= h >> 29;
    h *= kPrime3;
    h ^= h >> 32;
    return h;
}

}  // namespace lms
