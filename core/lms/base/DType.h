#pragma once
// Element types of MindSpore checkpoints (spec §1.4) and the float conversions the merge needs.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace lms {

enum class DType {
    Bool,
    Int8,
    UInt8,
    Int16,
    UInt16,
    Int32,
    UInt32,
    Int64,
    UInt64,
    Float16,
    Float32,
    Float64,
    BFloat16,
    Int4,     // qint4x2: two values per byte
    String,   // "str": UCS-4, dims [0]
    Unknown,  // any other tensor_type string: kept as opaque bytes
};

// Maps a checkpoint tensor_type string ("Float32", "BFloat16", "str", ...) to a DType.
// Unknown strings map to DType::Unknown (the bytes are still copied faithfully).
DType dtypeFromTensorType(std::string_view tensorType);
// The exact tensor_type string MindSpore writes; "" for Unknown.
std::string_view tensorTypeName(DType dtype);
// Safetensors dtype string ("BF16", "F32", ...) <-> DType. nullopt when there is none.
std::optional<DType> dtypeFromSafetensors(std::string_view name);
std::string_view safetensorsName(DType dtype);

// Bits per element: 4 for Int4, 32 for String (UCS-4), 0 for Unknown.
unsigned dtypeBits(DType dtype);
bool isFloatingPoint(DType dtype);  // Float16, Float32, Float64, BFloat16

// Limits of a floating dtype (0 for any other): significand bits including the implicit one
// (11 for Float16, 8 BFloat16, 24 Float32, 53 Float64), the largest finite value (65504 for
// Float16) and the subnormal spacing (the smallest positive value, 2^-24 for Float16).
int significandBits(DType dtype);
double largestFinite(DType dtype);
double subnormalSpacing(DType dtype);
// Index of the first NaN or infinity among the elements of `bytes` (judged by the exponent bits);
// nullopt when all are finite or the dtype is not floating-point.
std::optional<uint64_t> firstNonFinite(std::span<const std::byte> bytes, DType dtype);

// bfloat16 <-> float32 exactly as MindSpore (spec §1.4): widen = bits << 16;
// narrow = NaN -> 0x7FC0 (sign kept), otherwise round to nearest even.
inline float bf16ToFloat(uint16_t bits) {
    uint32_t wide = uint32_t(bits) << 16;
    float f;
    __builtin_memcpy(&f, &wide, 4);
    return f;
}
uint16_t floatToBf16(float value);
// IEEE binary16 <-> float32, round to nearest even, overflow to infinity, NaN kept quiet.
float halfToFloat(uint16_t bits);
uint16_t floatToHalf(float value);

// Widens `count` elements of a floating dtype (little-endian bytes) to float32.
// Precondition: isFloatingPoint(dtype); in.size() >= count * element size; out.size() >= count.
void widenToFloat(DType dtype, std::span<const std::byte> in, std::span<float> out);
// Narrows float32 to `dtype` with one rounding (RNE). Same preconditions, reversed.
void narrowFromFloat(DType dtype, std::span<const float> in, std::span<std::byte> out);

}  // namespace lms
