// wrapq/models/gemma4/clippable_linear.hpp: a linear layer that clamps its input and output to stored bounds.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/core/tensor.hpp"
#include "wrapq/module/member.hpp"
#include "wrapq/module/parameter.hpp"
#include "wrapq/nn/linear.hpp"

#include <cstddef>
#include <limits>
#include <tuple>

namespace wrapq::gemma4 {

/// Gemma4ClippableLinear: `linear` (an nn::linear with its three observers)
/// and, when `Clipped`, four scalar bounds read from the checkpoint:
///
///   y = clamp(linear(clamp(x, input_min, input_max)), output_min, output_max)
///
/// The clamps run in float and have no observers of their own, as in the
/// reference: the inner `act_in` observes the clamped input, and the
/// clamped output is observed by whatever consumes it. Bounds may be infinite, and
/// they start infinite so that an unloaded model computes a plain linear.
///
/// Example:
/// @code
///   gemma4::clippable_linear<768, 768, true> q_proj;     // E2B vision attention
///   q_proj.input_max.value() = 4.0f;                     // normally from the checkpoint
///   tensor y = q_proj.forward(x);                        // x (..., 768) -> (..., 768)
/// @endcode
template <std::size_t In, std::size_t Out, bool Clipped>
class clippable_linear {
    static constexpr float inf = std::numeric_limits<float>::infinity();

public:
    static constexpr std::size_t in_features = In;
    static constexpr std::size_t out_features = Out;
    static constexpr bool clipped = Clipped;

    nn::linear<In, Out> linear;
    parameter<> input_min{tensor(-inf)};  ///< Members only when Clipped.
    parameter<> input_max{tensor(inf)};
    parameter<> output_min{tensor(-inf)};
    parameter<> output_max{tensor(inf)};

    static constexpr auto members() {
        using self = clippable_linear;
        constexpr auto inner = std::tuple{field("linear", &self::linear)};
        if constexpr (Clipped) {
            return std::tuple_cat(inner, std::tuple{field("input_min", &self::input_min), field("input_max", &self::input_max),
                                                    field("output_min", &self::output_min),
                                                    field("output_max", &self::output_max)});
        } else {
            return inner;
        }
    }

    /// Pre: x's last axis has In elements. Post: the result has x's shape with Out on the last axis.
    tensor forward(const tensor& x) {
        if constexpr (!Clipped) {
            return linear.forward(x);
        } else {
            return clamp(linear.forward(clamp(x, input_min, input_max)), output_min, output_max);
        }
    }

private:
    static tensor clamp(const tensor& x, const parameter<>& lo, const parameter<>& hi) {
        const float low = lo.value(), high = hi.value();
        tensor out = x;
        // Both comparisons are false for NaN, so a NaN input stays NaN instead of becoming a bound.
        for (float& v : out) v = v < low ? low : (v > high ? high : v);
        return out;
    }
};

}  // namespace wrapq::gemma4
