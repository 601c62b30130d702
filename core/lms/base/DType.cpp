#include "lms/base/DType.h"

#include <array>
#include <cmath>
#include <cstring>
#include <limits>

namespace lms {
namespace {

struct DTypeInfo {
    DType dtype;
    std::string_view tensorType;
    std::string_view safetensors;
    unsigned bits;
};

constexpr std::array<DTypeInfo, 15> kTable{{
    {DType::Bool, "Bool", "BOOL", 8},
    {DType::Int8, "Int8", "I8", 8},
    {DType::UInt8, "UInt8", "U8", 8},
    {DType::Int16, "Int16", "I16", 16},
    {DType::UInt16, "UInt16", "U16", 16},
    {DType::Int32, "Int32", "I32", 32},
    {DType::UInt32, "UInt32", "U32", 32},
    {DType::Int64, "Int64", "I64", 64},
    {DType::UInt64, "UInt64", "U64", 64},
    {DType::Float16, "Float16", "F16", 16},
    {DType::Float32, "Float32", "F32", 32},
    {DType::Float64, "Float64", "F64", 64},
    {DType::BFloat16, "BFloat16", "BF16", 16},
    {DType::Int4, "Int4", "", 4},
    {DType::String, "str", "", 32},
}};

const DTypeInfo* info(DType dtype) {
    for (const auto& entry : kTable)
        if (entry.dtype == dtype) return &entry;
    return nullptr;
}

}  // namespace

DType dtypeFromTensorType(std::string_view tensorType) {
    for (const auto& entry : kTable)
        if (entry.tensorType == tensorType) return entry.dtype;
    return DType::Unknown;
}

std::string_view tensorTypeName(DType dtype) {
    const auto* entry = info(dtype);
    return entry ? entry->tensorType : std::string_view{};
}

std::optional<DType> dtypeFromSafetensors(std::string_view name) {
    for (const auto& entry : kTable)
        if (!entry.safetensors.empty() && entry.safetensors == name) return entry.dtype;
    return std::nullopt;
}

std::string_view safetensorsName(DType dtype) {
    const auto* entry = info(dtype);
    return entry ? entry->safetensors : std::string_view{};
}

unsigned dtypeBits(DType dtype) {
    const auto* entry = info(dtype);
    return entry ? entry->bits : 0;
}

bool isFloatingPoint(DType dtype) {
    return dtype == DType::Float16 || dtype == DType::Float32 || dtype == DType::Float64 ||
           dtype == DType::BFloat16;
}

int significandBits(DType dtype) {
    switch (dtype) {
        case DType::Float16:
            return 11;
        case DType::BFloat16:
            return 8;
        case DType::Float32:
            return 24;
        case DType::Float64:
            return 53;
        default:
            return 0;
    }
}

double largestFinite(DType dtype) {
    switch (dtype) {
        case DType::Float16:
            return 65504.0;
        case DType::BFloat16:
            return double(bf16ToFloat(0x7F7F));
        case DType::Float32:
            return double(std::numeric_limits<float>::max());
        case DType::Float64:
            return std::numeric_limits<double>::max();
        default:
            return 0;
    }
}

double subnormalSpacing(DType dtype) {
    switch (dtype) {
        case DType::Float16:
            return std::ldexp(1.0, -24);
        case DType::BFloat16:
            return std::ldexp(1.0, -133);
        case DType::Float32:
            return std::ldexp(1.0, -149);
        case DType::Float64:
            return std::numeric_limits<double>::denorm_min();
        default:
            return 0;
    }
}

std::optional<uint64_t> firstNonFinite(std::span<const std::byte> bytes, DType dtype) {
    auto scan = [&](auto zero, auto exponentMask) -> std::optional<uint64_t> {
        using Bits = decltype(zero);
        const uint64_t count = bytes.size() / sizeof(Bits);
        for (uint64_t i = 0; i < count; ++i) {
            Bits v;
            std::memcpy(&v, bytes.data() + i * sizeof(Bits), sizeof(Bits));
            if ((v & exponentMask) == exponentMask) return i;
        }
        return std::nullopt;
    };
    switch (dtype) {
        case DType::BFloat16:
            return scan(uint16_t(0), uint16_t(0x7F80));
        case DType::Float16:
            return scan(uint16_t(0), uint16_t(0x7C00));
        case DType::Float32:
            return scan(uint32_t(0), uint32_t(0x7F800000u));
        case DType::Float64:
            return scan(uint64_t(0), uint64_t(0x7FF0000000000000ull));
        default:
            return std::nullopt;
    }
}

uint16_t floatToBf16(float value) {
    uint32_t bits;
    std::memcpy(&bits, &value, 4);
    if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return uint16_t(0x7FC0u | ((bits >> 16) & 0x8000u));
    return uint16_t((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
}

float halfToFloat(uint16_t h) {
    const uint32_t sign = uint32_t(h & 0x8000u) << 16;
    const uint32_t exponent = (h >> 10) & 0x1Fu;
    uint32_t mantissa = h & 0x3FFu;
    uint32_t bits;
    if (exponent == 0x1F) {
        bits = sign | 0x7F800000u | (mantissa << 13) | (mantissa ? 0x00400000u : 0u);
    } else if (exponent != 0) {
        bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
    } else if (mantissa == 0) {
        bits = sign;
    } else {
        // Subnormal half: normalise into a float32 normal.
        int shift = 0;
        while (!(mantissa & 0x400u)) {
            mantissa <<= 1;
            ++shift;
        }
        mantissa &= 0x3FFu;
        bits = sign | (uint32_t(113 - shift) << 23) | (mantissa << 13);
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

uint16_t floatToHalf(float value) {
    uint32_t bits;
    std::memcpy(&bits, &value, 4);
    const uint16_t sign = uint16_t((bits >> 16) & 0x8000u);
    const uint32_t absBits = bits & 0x7FFFFFFFu;
    if (absBits > 0x7F800000u) return uint16_t(sign | 0x7E00u | ((absBits >> 13) & 0x3FFu));  // NaN
    if (absBits >= 0x477FF000u) return uint16_t(sign | 0x7C00u);  // rounds to >= 65520: infinity
    if (absBits < 0x38800000u) {
        // Result is subnormal or zero: scale so the integer part is the half mantissa, RNE.
        if (absBits < 0x33000000u) return sign;  // below half the smallest subnormal: zero
        const uint32_t exponent = absBits >> 23;
        const uint32_t mantissa = (absBits & 0x7FFFFFu) | 0x800000u;
        const uint32_t shift = 126 - exponent;  // 14 + (127 - 1 - exponent) - 10 + 10
        const uint32_t truncated = mantissa >> shift;
        const uint32_t remainder = mantissa & ((1u << shift) - 1u);
        const uint32_t halfway = 1u << (shift - 1);
        uint32_t rounded = truncated;
        if (remainder > halfway || (remainder == halfway && (truncated & 1u))) ++rounded;
        return uint16_t(sign | rounded);
    }
    // Normal: rebias the exponent, round the 13 dropped mantissa bits to nearest even.
    uint32_t half = ((absBits - 0x38000000u) >> 13);
    const uint32_t remainder = absBits & 0x1FFFu;
    if (remainder > 0x1000u || (remainder == 0x1000u && (half & 1u))) ++half;
    return uint16_t(sign | half);
}

void widenToFloat(DType dtype, std::span<const std::byte> in, std::span<float> out) {
    const size_t count = out.size();
    if (count == 0) return;
    const auto* src = in.data();
    switch (dtype) {
        case DType::Float32:
            std::memcpy(out.data(), src, count * 4);
            break;
        case DType::BFloat16:
            for (size_t i = 0; i < count; ++i) {
                uint16_t v;
                std::memcpy(&v, src + 2 * i, 2);
                out[i] = bf16ToFloat(v);
            }
            break;
        case DType::Float16:
            for (size_t i = 0; i < count; ++i) {
                uint16_t v;
                std::memcpy(&v, src + 2 * i, 2);
                out[i] = halfToFloat(v);
            }
            break;
        case DType::Float64:
            for (size_t i = 0; i < count; ++i) {
                double v;
                std::memcpy(&v, src + 8 * i, 8);
                out[i] = float(v);
            }
            break;
        default:
            break;
    }
}

void narrowFromFloat(DType dtype, std::span<const float> in, std::span<std::byte> out) {
    const size_t count = in.size();
    if (count == 0) return;
    auto* dst = out.data();
    switch (dtype) {
        case DType::Float32:
            std::memcpy(dst, in.data(), count * 4);
            break;
        case DType::BFloat16:
            for (size_t i = 0; i < count; ++i) {
                const uint16_t v = floatToBf16(in[i]);
                std::memcpy(dst + 2 * i, &v, 2);
            }
            break;
        case DType::Float16:
            for (size_t i = 0; i < count; ++i) {
                const uint16_t v = floatToHalf(in[i]);
                std::memcpy(dst + 2 * i, &v, 2);
            }
            break;
        case DType::Float64:
            for (size_t i = 0; i < count; ++i) {
                const double v = in[i];
                std::memcpy(dst + 8 * i, &v, 8);
            }
            break;
        default:
            break;
    }
}

}  // namespace lms
