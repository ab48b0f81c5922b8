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

/// MUL, inputs [a, b], elementwise with broadcasting.
inline op mul(activation act = activation::none) {
    return {builtin_operator::mul, {options::mul.union_type, {detail::byte(act)}}};
}

/// DIV, inputs [a, b], elementwise with broadcasting.
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

/// CONCATENATION of all inputs along `axis`.
inline op concatenation(std::int32_t axis, activation act = activation::none) {
    return {builtin_operator::concatenation, {options::concatenation.union_type, {axis, detail::byte(act)}}};
}

/// TRANSPOSE; the permutation is the second input (an int32 tensor).
inline op transpose() { return {builtin_operator::transpose, {options::transpose.union_type, {}}}; }

/// BATCH_MATMUL, inputs [a, b]. `adjoint_lhs` and `adjoint_rhs` transpose the last two axes of a and b.
inline op batch_matmul(bool adjoint_lhs = false, bool adjoint_rhs = false) {
    return {builtin_operator::batch_matmul, {options::batch_matmul.union_type, {adjoint_lhs, adjoint_rhs, false}}};
}

/// GATHER, inputs [params, indices].
inline op gather(std::int32_t axis, std::int32_t batch_dims = 0) {
    return {builtin_operator::gather, {options::gather.union_type, {axis, batch_dims}}};
}

/// LOGISTIC (sigmoid), input [x], with no option table.
inline op logistic() { return {builtin_operator::logistic, {}}; }

/// SLICE, inputs [x, begin (int32), size (int32)]. A size of -1 takes the rest of that axis.
inline op slice() { return {builtin_operator::slice, {options::slice.union_type, {}}}; }

/// STRIDED_SLICE, inputs [x, begin, end, strides] (int32). ellipsis_mask and
/// new_axis_mask are 0 and `offset` is false, so `end` contains end indices, not lengths.
inline op strided_slice(std::int32_t begin_mask = 0, std::int32_t end_mask = 0, std::int32_t shrink_axis_mask = 0) {
    return {builtin_operator::strided_slice,
            {options::strided_slice.union_type, {begin_mask, end_mask, std::int32_t{0}, std::int32_t{0}, shrink_axis_mask, false}}};
}

/// MEAN, inputs [x, axes (int32)]. With `keep_dims` each reduced axis stays, with extent 1.
inline op mean(bool keep_dims) { return {builtin_operator::mean, {options::reducer.union_type, {keep_dims}}}; }

/// RSQRT (1 / sqrt(x)), input [x], with no option table.
inline op rsqrt() { return {builtin_operator::rsqrt, {}}; }

/// SQRT, input [x], with no option table.
inline op sqrt() { return {builtin_operator::sqrt, {}}; }

/// POW, inputs [base, exponent], elementwise with broadcasting.
inline op pow() { return {builtin_operator::pow, {options::pow.union_type, {}}}; }

/// MINIMUM, inputs [a, b], elementwise with broadcasting. Integer kernels
/// compare levels, so both inputs and the output share one set of qparams.
inline op minimum() { return {builtin_operator::minimum, {options::maximum_minimum.union_type, {}}}; }

/// MAXIMUM, inputs [a, b]; the same rules as MINIMUM.
inline op maximum() { return {builtin_operator::maximum, {options::maximum_minimum.union_type, {}}}; }

/// NEG (-x), input [x].
inline op neg() { return {builtin_operator::neg, {options::neg.union_type, {}}}; }

/// EXPAND_DIMS, inputs [x, axis (int32, one element)]. It inserts an axis of extent 1 at position `axis`.
inline op expand_dims() { return {builtin_operator::expand_dims, {options::expand_dims.union_type, {}}}; }

/// QUANTIZE: float to integer, or a requantization between two integer qparams.
inline op quantize() { return {builtin_operator::quantize, {options::quantize.union_type, {}}}; }

/// DEQUANTIZE, input [q]: integer to float32.
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
