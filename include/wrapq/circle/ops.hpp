// wrapq/circle/ops.hpp: one function per operator kind, returning its code and options.
//
// Adding an operator takes one function here: its BuiltinOperator code in
// schema.hpp and, when it has options, an options_table there, whose field
// list fixes the order of the values below.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/circle/graph.hpp"
#include "wrapq/circle/schema.hpp"

#include <cstdint>
#include <utility>
#include <vector>

namespace wrapq::circle::ops {

namespace detail {
inline std::int8_t byte(activation a) { return static_cast<std::int8_t>(a); }
}  // namespace detail

/// FULLY_CONNECTED, inputs [x, W, bias or -1]. Weights format DEFAULT,
/// asymmetric_quantize_inputs false; keep_num_dims defaults to true as TICO writes it.
inline op fully_connected(activation act = activation::none, bool keep_num_dims = true) {
    return {builtin_operator::fully_connected,
            {options::fully_connected.union_type,
             {detail::byte(act), std::int8_t{0}, keep_num_dims, false, std::int8_t{0}}}};
}

/// ADD; pot_scale_int16 keeps its schema default true.
inline op add(activation act = activation::none) {
    return {builtin_operator::add, {options::add.union_type, {detail::byte(act), true}}};
}

/// SUB; pot_scale_int16 keeps its schema default true.
inline op sub(activation act = activation::none) {
    return {builtin_operator::sub, {options::sub.union_type, {detail::byte(act), true}}};
}

inline op mul(activation act = activation::none) {
    return {builtin_operator::mul, {options::mul.union_type, {detail::byte(act)}}};
}

inline op div(activation act = activation::none) {
    return {builtin_operator::div, {options::div.union_type, {detail::byte(act)}}};
}

/// TANH has no option table.
inline op tanh() { return {builtin_operator::tanh, {}}; }

/// SOFTMAX of exp(beta * x) over the last axis.
inline op softmax(float beta = 1.0f) {
    return {builtin_operator::softmax, {options::softmax.union_type, {beta}}};
}

/// RESHAPE; TFLite also reads the shape from the second input (an int32 tensor).
inline op reshape(std::vector<std::int32_t> new_shape) {
    return {builtin_operator::reshape, {options::reshape.union_type, {std::move(new_shape)}}};
}

inline op concatenation(std::int32_t axis, activation act = activation::none) {
    return {builtin_operator::concatenation, {options::concatenation.union_type, {axis, detail::byte(act)}}};
}

/// TRANSPOSE; the permutation is the second input (an int32 tensor).
inline op transpose() { return {builtin_operator::transpose, {options::transpose.union_type, {}}}; }

inline op batch_matmul(bool adjoint_lhs = false, bool adjoint_rhs = false) {
    return {builtin_operator::batch_matmul, {options::batch_matmul.union_type, {adjoint_lhs, adjoint_rhs, false}}};
}

/// GATHER, inputs [params, indices].
inline op gather(std::int32_t axis, std::int32_t batch_dims = 0) {
    return {builtin_operator::gather, {options::gather.union_type, {axis, batch_dims}}};
}

/// QUANTIZE: float to integer, or a requantization between two integer qparams.
inline op quantize() { return {builtin_operator::quantize, {options::quantize.union_type, {}}}; }

inline op dequantize() { return {builtin_operator::dequantize, {options::dequantize.union_type, {}}}; }

/// GELU, tanh approximation when `approximate`. Its code 150 is above 127,
/// so its OperatorCode stores deprecated_builtin_code 127.
inline op gelu(bool approximate = true) {
    return {builtin_operator::gelu, {options::gelu.union_type, {approximate}}};
}

/// Circle-only RMS_NORM (code -6), inputs [x, gamma]:
/// out = gamma * x / sqrt(mean(x^2 over the last axis) + epsilon).
inline op rms_norm(float epsilon = 1e-6f) {
    return {builtin_operator::rms_norm, {options::rms_norm.union_type, {epsilon}}};
}

}  // namespace wrapq::circle::ops
