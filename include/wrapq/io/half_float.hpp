// wrapq/io/half_float.hpp: exact conversions between float32 and the 16-bit formats bfloat16 and IEEE binary16.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/bf16.hpp"

#include <bit>
#include <cmath>
#include <cstdint>

namespace wrapq::io {

/// Widens a bfloat16 bit pattern to float32. bfloat16 is the upper half of a
/// float32, so the conversion is exact for every pattern, NaN payloads included.
///
/// Example:
/// @code
///   bf16_to_float(0x3F80) == 1.0f
///   bf16_to_float(0xC020) == -2.5f
/// @endcode
inline float bf16_to_float(std::uint16_t bits) noexcept {
    return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16);
}

/// Rounds `x` to the nearest bfloat16 (ties to even) and returns its bit
/// pattern. Values beyond the largest bfloat16 round to infinity. A NaN stays
/// a NaN with its sign and the upper 7 bits of its payload, and it is made
/// quiet, because truncating a payload that sits in the low bits would
/// otherwise turn the NaN into an infinity.
///
/// Example:
/// @code
///   float_to_bf16(1.0f) == 0x3F80
///   float_to_bf16(65504.0f) == 0x4780      // 65536: 65504 is 0x477FE000, above the tie
/// @endcode
inline std::uint16_t float_to_bf16(float x) noexcept {
    const std::uint32_t bits = std::bit_cast<std::uint32_t>(x);
    if (std::isnan(x)) return static_cast<std::uint16_t>((bits >> 16) | 0x0040u);
    return static_cast<std::uint16_t>(std::bit_cast<std::uint32_t>(round_to_bf16(x)) >> 16);
}

/// Widens an IEEE binary16 (F16) bit pattern to float32, exactly: every
/// binary16 value, subnormals included, is a float32 value. Infinities stay
/// infinities and a NaN keeps its sign and payload.
///
/// Example:
/// @code
///   f16_to_float(0x3C00) == 1.0f
///   f16_to_float(0x7BFF) == 65504.0f       // largest finite binary16
///   f16_to_float(0x0001) == 0x1p-24f       // smallest subnormal
/// @endcode
inline float f16_to_float(std::uint16_t bits) noexcept {
    const std::uint32_t sign = static_cast<std::uint32_t>(bits & 0x8000u) << 16;
    const std::uint32_t exponent = (bits >> 10) & 0x1Fu;
    const std::uint32_t mantissa = bits & 0x3FFu;

    if (exponent == 0x1F) {
        return std::bit_cast<float>(sign | 0x7F800000u | (mantissa << 13));
    }
    if (exponent == 0) {
        // Zero or subnormal: mantissa * 2^-24. Both factors and the product
        // are exact in float32, where 2^-24 is still a normal number.
        const float magnitude = static_cast<float>(mantissa) * 0x1p-24f;
        return std::bit_cast<float>(sign | std::bit_cast<std::uint32_t>(magnitude));
    }
    // Normal: rebias the exponent from 15 to 127 and widen the mantissa from 10 to 23 bits.
    return std::bit_cast<float>(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

/// Rounds `x` to the nearest IEEE binary16 (ties to even) and returns its bit
/// pattern. Magnitudes from 65520 up round to infinity, because 65520 is the
/// tie between 65504 (odd mantissa) and the next step 65536. Results below
/// 2^-14 become subnormals, and magnitudes up to 2^-25 round to zero. A NaN
/// stays a quiet NaN with its sign and the upper 9 bits of its payload.
///
/// Example:
/// @code
///   float_to_f16(-2.5f) == 0xC100
///   float_to_f16(65520.0f) == 0x7C00       // infinity
///   float_to_f16(0x1p-24f) == 0x0001       // smallest subnormal
/// @endcode
inline std::uint16_t float_to_f16(float x) noexcept {
    const std::uint32_t bits = std::bit_cast<std::uint32_t>(x);
    const auto sign = static_cast<std::uint16_t>((bits >> 16) & 0x8000u);
    const std::uint32_t magnitude = bits & 0x7FFFFFFFu;

    if (magnitude > 0x7F800000u) {
        return static_cast<std::uint16_t>(sign | 0x7E00u | ((magnitude >> 13) & 0x3FFu));
    }
    if (magnitude >= 0x477FF000u) {  // 65520 and above, infinity included
        return static_cast<std::uint16_t>(sign | 0x7C00u);
    }
    if (magnitude >= 0x38800000u) {  // 2^-14 and above: a normal binary16
        // Subtracting 112 << 23 rebiases the exponent from 127 to 15. A carry
        // out of the mantissa while rounding correctly increments the exponent.
        const std::uint32_t rebiased = magnitude - 0x38000000u;
        std::uint32_t result = rebiased >> 13;
        const std::uint32_t remainder = rebiased & 0x1FFFu;
        if (remainder > 0x1000u || (remainder == 0x1000u && (result & 1u) != 0)) ++result;
        return static_cast<std::uint16_t>(sign | result);
    }
    if (magnitude <= 0x33000000u) {  // up to 2^-25: the tie with 2^-24 goes to the even zero
        return sign;
    }
    // Subnormal: the result is round(value / 2^-24). With value = m * 2^(e - 150)
    // for the 24-bit significand m, that is m shifted right by 126 - e, which
    // lies in [14, 24] for the exponents left here.
    const std::uint32_t exponent = magnitude >> 23;
    const std::uint32_t significand = (magnitude & 0x7FFFFFu) | 0x800000u;
    const std::uint32_t shift = 126u - exponent;
    std::uint32_t result = significand >> shift;
    const std::uint32_t remainder = significand & ((1u << shift) - 1u);
    const std::uint32_t half = 1u << (shift - 1u);
    if (remainder > half || (remainder == half && (result & 1u) != 0)) ++result;
    return static_cast<std::uint16_t>(sign | result);
}

}  // namespace wrapq::io
