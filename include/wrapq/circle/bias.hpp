// wrapq/circle/bias.hpp: quantizing a float bias to the int32 or int64 constant of FULLY_CONNECTED.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/circle/graph.hpp"
#include "wrapq/circle/schema.hpp"
#include "wrapq/core/errors.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace wrapq::circle {

/// A bias quantized for an integer kernel: its little-endian bytes, its
/// tensor type (INT32 or INT64) and its qparams (zero points 0, quantized_dimension 0).
struct quantized_bias {
    std::vector<std::uint8_t> bytes;
    tensor_type type = tensor_type::int32;
    quantization quant;
};

namespace detail {

/// Bias type that an integer kernel with `input_type` activations reads:
/// INT32 for 8-bit inputs, INT64 for INT16 inputs (TFLite's 16x8 kernels).
inline tensor_type bias_type_for(tensor_type input_type) {
    switch (input_type) {
        case tensor_type::uint8:
        case tensor_type::int8: return tensor_type::int32;
        case tensor_type::int16: return tensor_type::int64;
        default: break;
    }
    const auto name = type_name(input_type);
    throw invalid_argument("quantize_bias: input type " +
                           (name ? std::string(*name) : std::to_string(static_cast<int>(input_type))) +
                           " has no integer bias; the input must be UINT8, INT8 or INT16, and a float input keeps a "
                           "FLOAT32 bias");
}

/// Clamps an integer-valued float (or an infinity) to [min, max] of `Int`.
/// The bounds are compared as doubles because float32 cannot hold
/// 2^31 - 1 or 2^63 - 1: the float 2^31 must clamp, not wrap around.
template <class Int>
Int clamp_level(float level) {
    const double value = level;
    const double upper = -static_cast<double>(std::numeric_limits<Int>::min());  // 2^31 or 2^63
    if (value >= upper) return std::numeric_limits<Int>::max();
    if (value <= -upper) return std::numeric_limits<Int>::min();
    return static_cast<Int>(value);
}

template <class Int>
void append_little_endian(std::vector<std::uint8_t>& bytes, Int value) {
    using Unsigned = std::make_unsigned_t<Int>;
    const auto bits = static_cast<Unsigned>(value);
    for (std::size_t b = 0; b < sizeof(Int); ++b) bytes.push_back(static_cast<std::uint8_t>(bits >> (8 * b)));
}

}  // namespace detail

/// Quantizes the float bias of a FULLY_CONNECTED (or convolution) whose input
/// has scale `input_scale` and type `input_type` and whose weights have
/// `weight_scales` (1 entry for per-tensor weights, else one per output channel).
///
/// Per channel c, in float32 as TICO's QuantizeBias pass computes it:
///   bias_scale[c] = input_scale * weight_scales[c]
///   q[c] = clamp(round_half_even(bias[c] / bias_scale[c]), type min, type max)
/// The result is INT32 for UINT8 and INT8 inputs and INT64 for INT16 inputs,
/// with zero points 0 and quantized_dimension 0. Per-tensor weights give one
/// bias scale; per-channel weights give one per channel.
///
/// Throws invalid_argument for another input type or an empty bias. It also
/// throws invalid_argument for a weight_scales length other than 1 or
/// bias.size(), a scale that is not finite and positive, and a bias scale
/// that underflows to 0 or overflows. A bias value that is NaN or infinite
/// throws value_error. A finite quotient beyond the type's range clamps to
/// its min or max.
/// Pre: the floating-point environment rounds to nearest even (the default).
///
/// Example (x scale 1/128, per-tensor W scale 2/255, uint8 input):
/// @code
///   const std::vector<float> b = {0.01f, -0.02f, 0.03f};
///   const std::vector<float> w_scale = {2.0f / 255};
///   auto q = wrapq::circle::quantize_bias(b, 1.0f / 128, w_scale, tensor_type::uint8);
///   // q.type == tensor_type::int32, levels {163, -326, 490} (12 bytes),
///   // q.quant.scale == {(1.0f / 128) * (2.0f / 255)}, q.quant.zero_point == {0}
/// @endcode
inline quantized_bias quantize_bias(std::span<const float> bias, float input_scale, std::span<const float> weight_scales,
                                    tensor_type input_type) {
    quantized_bias result;
    result.type = detail::bias_type_for(input_type);

    if (bias.empty()) throw invalid_argument("quantize_bias: the bias is empty; pass no bias tensor (input -1) instead");
    if (weight_scales.size() != 1 && weight_scales.size() != bias.size()) {
        throw invalid_argument("quantize_bias: " + std::to_string(weight_scales.size()) + " weight scales do not fit " +
                               std::to_string(bias.size()) + " bias values; give 1 scale for per-tensor weights or " +
                               std::to_string(bias.size()) + " for per-channel weights");
    }
    if (!std::isfinite(input_scale) || !(input_scale > 0.0f)) {
        throw invalid_argument("quantize_bias: input scale " + to_text(input_scale) +
                               " is invalid; a scale must be finite and greater than 0");
    }

    // One bias scale per weight scale, multiplied in float32 like TICO's
    // torch.tensor(i_scale) * torch.tensor(w_scale).
    std::vector<float> bias_scales;
    for (std::size_t c = 0; c < weight_scales.size(); ++c) {
        const float w = weight_scales[c];
        if (!std::isfinite(w) || !(w > 0.0f)) {
            throw invalid_argument("quantize_bias: weight scale[" + std::to_string(c) + "] = " + to_text(w) +
                                   " is invalid; a scale must be finite and greater than 0");
        }
        const float s = input_scale * w;
        if (!std::isfinite(s) || !(s > 0.0f)) {
            throw invalid_argument("quantize_bias: bias scale[" + std::to_string(c) + "] = " + to_text(input_scale) +
                                   " * " + to_text(w) + " is " + to_text(s) +
                                   " in float32, which Circle cannot store as a scale; check the input and weight "
                                   "scales");
        }
        bias_scales.push_back(s);
    }

    const std::size_t width = result.type == tensor_type::int64 ? 8 : 4;
    result.bytes.reserve(bias.size() * width);
    for (std::size_t c = 0; c < bias.size(); ++c) {
        if (!std::isfinite(bias[c])) {
            throw value_error("quantize_bias: bias[" + std::to_string(c) + "] = " + to_text(bias[c]) +
                              " has no integer level; find where the non-finite value was produced upstream");
        }
        const float s = bias_scales.size() == 1 ? bias_scales[0] : bias_scales[c];

        // Divide rather than multiply by the float32 reciprocal (the rule of
        // wrapq's activation quantizers), because TICO's QuantizeBias computes
        // torch.round(bias / bias_scale). The two differ near ties: 2.25f /
        // 0.3f is 7.4999995 and rounds to 7, but 2.25f * (1 / 0.3f) is 7.5
        // and rounds to 8. A finite bias over a tiny scale can overflow to
        // infinity, which clamps like any other value out of range.
        const float level = std::nearbyint(bias[c] / s);
        if (result.type == tensor_type::int64) {
            detail::append_little_endian(result.bytes, detail::clamp_level<std::int64_t>(level));
        } else {
            detail::append_little_endian(result.bytes, detail::clamp_level<std::int32_t>(level));
        }
    }

    result.quant.scale = std::move(bias_scales);
    result.quant.zero_point.assign(result.quant.scale.size(), 0);
    result.quant.quantized_dimension = 0;
    return result;
}

/// Quantizes `bias` with quantize_bias() and adds it to subgraph `graph` as
/// a constant of shape [bias.size()] named `name`. Returns its tensor index,
/// which is input 2 of FULLY_CONNECTED.
///
/// Example:
/// @code
///   const auto b = wrapq::circle::add_quantized_bias(builder, "fc.bias", bias, x_scale, w_scales,
///                                                    tensor_type::int16);   // an INT64 constant
///   builder.add_operator(wrapq::circle::ops::fully_connected(), {x, w, b}, {y});
/// @endcode
inline std::int32_t add_quantized_bias(model_builder& builder, std::string name, std::span<const float> bias,
                                       float input_scale, std::span<const float> weight_scales, tensor_type input_type,
                                       std::uint32_t graph = 0) {
    quantized_bias q = quantize_bias(bias, input_scale, weight_scales, input_type);
    if (bias.size() > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
        throw invalid_argument("add_quantized_bias: bias \"" + name + "\" has " + std::to_string(bias.size()) +
                               " values, above the int32 limit of Circle shapes");
    }
    const auto extent = static_cast<std::int32_t>(bias.size());
    return builder.add_constant(std::move(name), {extent}, q.type, std::move(q.bytes), std::move(q.quant), graph);
}

}  // namespace wrapq::circle
