// wrapq/core/rounding.hpp: the scalar fake-quantization step, exactly as the reference kernel.
#pragma once

#include "wrapq/config.hpp"

#include <cmath>
#include <cstdint>

namespace wrapq {

/// Constants of one affine quantizer, prepared once for a run of values.
///
/// The reciprocal is rounded to float32 before use, and values are multiplied
/// by it instead of divided by the scale. That is what PyTorch's CPU
/// fake-quantize kernel does, and the two differ near ties: with scale 0.3f,
/// 2.25f / 0.3f is 7.4999995 (rounds to 7) but 2.25f * (1 / 0.3f) is exactly
/// 7.5 (rounds to the even 8).
struct affine_step {
    float scale;
    float inv_scale;
    float zero_point;
    float qmin;
    float qmax;

    static affine_step make(float scale, std::int32_t zero_point, std::int32_t qmin, std::int32_t qmax) noexcept {
        return {scale, 1.0f / scale, static_cast<float>(zero_point), static_cast<float>(qmin),
                static_cast<float>(qmax)};
    }

    /// Returns the clamped integer level of `x` as a float:
    /// clamp(nearbyint(x * inv_scale) + zero_point, qmin, qmax).
    ///
    /// Pre: the floating-point environment rounds to nearest even (the default).
    /// Post: the result is an integer in [qmin, qmax], or NaN when x is NaN.
    /// +inf and values beyond the range clamp to qmax, -inf to qmin.
    float level(float x) const noexcept {
        float q = std::nearbyint(x * inv_scale) + zero_point;
        // The comparisons are false for NaN, so NaN passes through unchanged.
        q = q < qmin ? qmin : q;
        q = q > qmax ? qmax : q;
        return q;
    }

    /// Returns (level(x) - zero_point) * scale. The subtraction is exact
    /// because both operands are integers below 2^17.
    float fake_quantize(float x) const noexcept { return (level(x) - zero_point) * scale; }
};

}  // namespace wrapq
