// wrapq/observers/affine_qparams.hpp: scale and zero point from an observed range.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/core/qparams.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace wrapq {

/// Smallest scale an observer produces, so an all-zero range still gives a usable grid.
inline constexpr float min_scale = 1e-12f;

/// Computes affine qparams from per-channel (or one per-tensor) ranges, in float32.
///
/// Symmetric: scale = max(max|min|, |max|, 1e-12) / qmax (divided by qmax, not by
/// (qmax - qmin) / 2), zero point 0.
///
/// Asymmetric, per-tensor with max - min < 1e-8 (a constant tensor C):
/// |C| <= 1e-8 gives scale 1, zero point 0; C > 0 gives scale C, zero point 0;
/// C < 0 gives scale |C|, zero point qmax. Either way C fake-quantizes exactly.
///
/// Asymmetric otherwise: the range is widened to contain 0, then
/// scale = max(range, 1e-12) / (qmax - qmin) and
/// zero point = clamp(round_half_even(qmin - min / scale), qmin, qmax).
///
/// Pre: every min and max is finite and min <= max.
/// Throws calibration_error when a range is so wide that the scale overflows.
///
/// Example:
/// @code
///   float lo = -1, hi = 4;
///   qparams p = affine_qparams_from_range({&lo, 1}, {&hi, 1}, uint4, qscheme::per_tensor_asymm, std::nullopt);
///   // p.scale == {5.0f / 15}, p.zero_point == {3}
/// @endcode
inline qparams affine_qparams_from_range(std::span<const float> mins, std::span<const float> maxs, dtype type,
                                         qscheme scheme, std::optional<int> axis) {
    const std::size_t channels = mins.size();
    const auto qmin = static_cast<float>(type.qmin());
    const auto qmax = static_cast<float>(type.qmax());

    qparams p;
    p.type = type;
    p.axis = axis;
    p.scale.resize(channels);
    p.zero_point.resize(channels);

    if (is_symmetric(scheme)) {
        for (std::size_t c = 0; c < channels; ++c) {
            const float max_abs = std::fmax(std::fabs(maxs[c]), std::fabs(mins[c]));
            p.scale[c] = std::fmax(max_abs, min_scale) / qmax;
            p.zero_point[c] = 0;
        }
    } else if (!axis && std::fabs(maxs[0] - mins[0]) < 1e-8f) {
        const float constant = mins[0];
        if (std::fabs(constant) <= 1e-8f) {
            p.scale[0] = 1.0f;
            p.zero_point[0] = 0;
        } else if (constant > 0.0f) {
            p.scale[0] = std::fmax(constant, min_scale);
            p.zero_point[0] = 0;
        } else {
            p.scale[0] = std::fmax(-constant, min_scale);
            p.zero_point[0] = type.qmax();
        }
    } else {
        for (std::size_t c = 0; c < channels; ++c) {
            float range = maxs[c] - mins[c];
            if (mins[c] > 0.0f) range = maxs[c];
            if (maxs[c] < 0.0f) range = -mins[c];
            const float scale = std::fmax(range, min_scale) / (qmax - qmin);
            float zp = std::nearbyint(qmin - mins[c] / scale);
            zp = zp < qmin ? qmin : (zp > qmax ? qmax : zp);
            p.scale[c] = scale;
            p.zero_point[c] = static_cast<std::int32_t>(zp);
        }
    }

    for (std::size_t c = 0; c < channels; ++c) {
        if (!std::isfinite(p.scale[c])) {
            throw calibration_error("the observed range [" + to_text(mins[c]) + ", " +
                                    to_text(maxs[c]) + "] of channel " + std::to_string(c) +
                                    " overflows a float32 scale; check the calibration data for outliers");
        }
    }
    return p;
}

}  // namespace wrapq
