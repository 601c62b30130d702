#pragma once
// A fast non-cryptographic 64-bit checksum for comparing copies of tensor bytes (replicated
// slices of a distributed checkpoint). Not for security: anyone can make two inputs collide.

#include <cstddef>
#include <cstdint>
#include <span>

namespace lms {

// XXH64 of `bytes` with `seed` (Yann Collet's xxHash, 64-bit variant, bit-exact with the
// reference implementation: xxh64("", 0) = 0xEF46DB3751D8E999).
uint64_t xxh64(std::span<const std::byte> bytes, uint64_t seed = 0);

}  // namespace lms
