// wrapq/core/qparams.hpp: scale, zero point and channel axis of an affine quantizer.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/dtype.hpp"
#include "wrapq/core/errors.hpp"
#include "wrapq/core/qscheme.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace wrapq {

/// Affine quantization parameters: real = (q - zero_point) * scale.
///
/// Per-tensor parameters hold one scale and one zero point and no axis.
/// Per-channel parameters hold one of each per index of `axis`.
///
/// Example:
/// @code
///   qparams p = qparams::per_tensor(0.1f, 5, uint8);
///   // p.scale == {0.1f}, p.zero_point == {5}, !p.axis
///   qparams c = qparams::per_channel({0.05f, 0.02f}, {10, 3}, 0, uint8);
/// @endcode
struct qparams {
    std::vector<float> scale;
    std::vector<std::int32_t> zero_point;
    std::optional<int> axis;  ///< Channel axis; empty for per-tensor parameters.
    dtype type = uint8;

    static qparams per_tensor(float scale, std::int32_t zero_point, dtype type) {
        qparams p{{scale}, {zero_point}, std::nullopt, type};
        p.validate();
        return p;
    }

    static qparams per_channel(std::vector<float> scale, std::vector<std::int32_t> zero_point, int axis,
                               dtype type) {
        qparams p{std::move(scale), std::move(zero_point), axis, type};
        p.validate();
        return p;
    }

    bool is_per_channel() const noexcept { return axis.has_value(); }
    std::size_t channels() const noexcept { return scale.size(); }

    /// Checks the invariants the kernels rely on and throws invalid_argument
    /// naming the first offending value.
    /// Post: every scale is finite and > 0, every zero point lies in
    /// [qmin, qmax], and scale and zero point have the same nonzero length.
    void validate() const {
        if (!type.is_valid()) {
            throw invalid_argument("qparams: dtype " + type.name() +
                                   " is not supported; use a width from 2 to 16 bits");
        }
        if (scale.empty() || scale.size() != zero_point.size()) {
            throw invalid_argument("qparams: " + std::to_string(scale.size()) + " scales and " +
                                   std::to_string(zero_point.size()) +
                                   " zero points were given; give the same nonzero number of each");
        }
        if (!axis && scale.size() != 1) {
            throw invalid_argument("qparams: per-tensor parameters need exactly 1 scale, got " +
                                   std::to_string(scale.size()) + "; set an axis for per-channel parameters");
        }
        for (std::size_t c = 0; c < scale.size(); ++c) {
            if (!std::isfinite(scale[c]) || !(scale[c] > 0.0f)) {
                throw invalid_argument("qparams: scale[" + std::to_string(c) + "] = " + to_text(scale[c]) +
                                       " is invalid; a scale must be finite and greater than 0");
            }
            if (zero_point[c] < type.qmin() || zero_point[c] > type.qmax()) {
                throw invalid_argument("qparams: zero_point[" + std::to_string(c) + "] = " +
                                       std::to_string(zero_point[c]) + " lies outside [" +
                                       std::to_string(type.qmin()) + ", " + std::to_string(type.qmax()) +
                                       "] of " + type.name());
            }
        }
    }
};

}  // namespace wrapq
