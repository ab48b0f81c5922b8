// wrapq/core/bf16.hpp: rounding float32 to bfloat16 precision.
#pragma once

#include "wrapq/config.hpp"

#include <bit>
#include <cmath>
#include <cstdint>

namespace wrapq {

/// Rounds `x` to the nearest bfloat16 value (ties to even) and returns it as
/// a float32. NaN stays NaN. Hugging Face casts Gemma's embedding scale to
/// the weight dtype, so bf16 checkpoints multiply by this rounded value.
///
/// Example:
/// @code
///   round_to_bf16(std::sqrt(1536.0f)) == 39.25f      // 39.1918 in float32
/// @endcode
inline float round_to_bf16(float x) noexcept {
    if (std::isnan(x)) return x;
    std::uint32_t bits = std::bit_cast<std::uint32_t>(x);
    const std::uint32_t lsb = (bits >> 16) & 1u;
    bits += 0x7FFFu + lsb;
    return std::bit_cast<float>(bits & 0xFFFF0000u);
}

}  // namespace wrapq
