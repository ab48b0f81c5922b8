// tests/support/circle_interpreter.hpp: a float reference interpreter for the Circle graphs wrapq exports.
//
// It runs a graph the way a quantized TFLite/Circle graph is meant, without
// the integer kernels' fixed-point details ("fake-quantized float reference"):
//
// - every tensor contains float32 values;
// - a tensor with quantization parameters holds values on its grid;
// - each operator computes on the dequantized values of its inputs, and when
//   its output tensor has qparams the result is fake-quantized to them:
//   q = clamp(round_half_even(x * (1/scale)) + zero_point, qmin, qmax) with the
//   float32 reciprocal of the scale, value = (q - zero_point) * scale.
//
// Sums (dot products, softmax, means, RMS_NORM) and transcendental functions
// are evaluated in double and rounded to float32 once, so the reference is
// at least as close to the exact result as a float32 kernel. A value that
// lands next to a rounding boundary of a grid may still fall on the other
// side than in wrapq's float32 kernels, which is one quantization step.
//
// The code is written apart from wrapq's exporter, quantizers and kernels on
// purpose: it uses none of wrapq's fake_quantize, quantize or matmul
// functions, so that it can check them.
#pragma once

#include <wrapq/circle/errors.hpp>
#include <wrapq/circle/graph.hpp>
#include <wrapq/circle/schema.hpp>
#include <wrapq/core/errors.hpp>
#include <wrapq/core/tensor.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace wrapq::test {

/// Output values of one run: one float tensor per subgraph output, in order.
struct interpreter_result {
    std::vector<wrapq::tensor> outputs;
};

/// Returns the bytes of buffer `index` of `m`. It is the only place that
/// reads model::buffers, so a change of the buffer type changes only this function.
/// Throws graph_error when the model has no buffer `index`.
///
/// Example: buffer_bytes(m, 0) is empty, because buffer 0 is the no-data sentinel.
inline std::vector<std::uint8_t> buffer_bytes(const circle::model& m, std::uint32_t index) {
    if (index >= m.buffers.size()) {
        throw circle::graph_error("buffer " + std::to_string(index) + " does not exist; the model has " +
                                  std::to_string(m.buffers.size()) + " buffers");
    }
    return m.buffers[index].bytes();
}

namespace interpreter_detail {

using circle::graph_error;
using circle::tensor_type;
using shape_type = std::vector<std::size_t>;

inline std::size_t element_count(const shape_type& shape) {
    std::size_t n = 1;
    for (std::size_t extent : shape) n *= extent;
    return n;
}

inline std::string shape_text(const shape_type& shape) {
    std::string text = "[";
    for (std::size_t d = 0; d < shape.size(); ++d) text += (d == 0 ? "" : ", ") + std::to_string(shape[d]);
    return text + "]";
}

inline std::string type_text(tensor_type type) {
    const auto name = circle::type_name(type);
    return name ? std::string(*name) : "type " + std::to_string(static_cast<int>(type));
}

inline shape_type shape_of(const wrapq::tensor& t) { return shape_type(t.shape().begin(), t.shape().end()); }

/// Row-major strides of `shape`, in elements.
inline shape_type strides_of(const shape_type& shape) {
    shape_type strides(shape.size(), 1);
    for (std::size_t d = shape.size(); d-- > 1;) strides[d - 1] = strides[d] * shape[d];
    return strides;
}

/// Splits the row-major flat index `flat` into one coordinate per axis of `shape`.
inline shape_type unravel(std::size_t flat, const shape_type& shape) {
    shape_type coordinates(shape.size(), 0);
    for (std::size_t d = shape.size(); d-- > 0;) {
        coordinates[d] = flat % shape[d];
        flat /= shape[d];
    }
    return coordinates;
}

inline wrapq::tensor make_tensor(const shape_type& shape) { return xt::zeros<float>(shape); }

/// Declared shape of tensor `t`; Circle extents must be non-negative here
/// because the interpreter has no dynamic shapes.
inline shape_type declared_shape(const circle::tensor& t) {
    shape_type shape;
    for (std::int32_t extent : t.shape) {
        if (extent < 0) {
            throw graph_error("tensor \"" + t.name + "\" has the dynamic extent " + std::to_string(extent) +
                              "; give every extent a fixed value");
        }
        shape.push_back(static_cast<std::size_t>(extent));
    }
    return shape;
}

/// Normalizes `axis` from [-rank, rank) to [0, rank); throws graph_error naming `role` otherwise.
inline std::size_t normalized_axis(std::int64_t axis, std::size_t rank, const std::string& role) {
    const auto r = static_cast<std::int64_t>(rank);
    if (axis < -r || axis >= r) {
        throw graph_error(role + " " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank) +
                          "; use a value in [" + std::to_string(-r) + ", " + std::to_string(r - 1) + "]");
    }
    return static_cast<std::size_t>(axis < 0 ? axis + r : axis);
}

// ---------------------------------------------------------------------------
// Quantization grids

/// Integer range [qmin, qmax] of a storage type.
struct integer_range {
    double qmin;
    double qmax;
};

/// Range of a type that operator outputs may be fake-quantized to; nullopt
/// for types that carry qparams only as constant biases (INT32, INT64) or never.
inline std::optional<integer_range> activation_range(tensor_type type) {
    switch (type) {
        case tensor_type::uint8: return integer_range{0, 255};
        case tensor_type::int8: return integer_range{-128, 127};
        case tensor_type::int16: return integer_range{-32768, 32767};
        case tensor_type::uint4: return integer_range{0, 15};
        default: return std::nullopt;
    }
}

/// Range of a type that a quantized constant may have: the activation types plus INT32 and INT64 biases.
inline std::optional<integer_range> constant_range(tensor_type type) {
    if (type == tensor_type::int32) return integer_range{-2147483648.0, 2147483647.0};
    if (type == tensor_type::int64) return integer_range{-9223372036854775808.0, 9223372036854775807.0};
    return activation_range(type);
}

/// Quantization parameters of `t`, or nullopt when it has none (an empty scale list counts as none).
inline const circle::quantization* qparams_of(const circle::tensor& t) {
    if (!t.quant || t.quant->scale.empty()) return nullptr;
    return &*t.quant;
}

/// Number of elements that share one scale: the product of the extents
/// after the quantized dimension, or the whole tensor for per-tensor qparams.
struct channel_split {
    std::size_t channels = 1;
    std::size_t inner = 1;
};

/// Checks the qparams of `t` against its shape and returns how its elements map to channels.
inline channel_split check_qparams(const circle::tensor& t, const circle::quantization& q, const shape_type& shape,
                                   integer_range range) {
    const std::string where = "tensor \"" + t.name + "\"";
    if (q.scale.size() != q.zero_point.size()) {
        throw graph_error(where + " has " + std::to_string(q.scale.size()) + " scales but " +
                          std::to_string(q.zero_point.size()) + " zero points; give one zero point per scale");
    }
    for (std::size_t c = 0; c < q.scale.size(); ++c) {
        if (!std::isfinite(q.scale[c]) || !(q.scale[c] > 0.0f)) {
            throw graph_error(where + " has scale[" + std::to_string(c) + "] = " + wrapq::to_text(q.scale[c]) +
                              "; a scale must be finite and positive");
        }
        const auto zero_point = static_cast<double>(q.zero_point[c]);
        if (zero_point < range.qmin || zero_point > range.qmax) {
            throw graph_error(where + " has zero_point[" + std::to_string(c) + "] = " + std::to_string(q.zero_point[c]) +
                              ", outside the range of " + type_text(t.type));
        }
    }

    channel_split split;
    if (q.scale.size() == 1) {
        split.inner = element_count(shape);
        return split;
    }
    if (q.quantized_dimension < 0 || static_cast<std::size_t>(q.quantized_dimension) >= shape.size()) {
        throw graph_error(where + " has quantized_dimension " + std::to_string(q.quantized_dimension) +
                          " but rank " + std::to_string(shape.size()));
    }
    const auto axis = static_cast<std::size_t>(q.quantized_dimension);
    if (shape[axis] != q.scale.size()) {
        throw graph_error(where + " has " + std::to_string(q.scale.size()) + " per-channel scales, but extent " +
                          std::to_string(shape[axis]) + " on quantized_dimension " + std::to_string(axis));
    }
    split.channels = shape[axis];
    for (std::size_t d = axis + 1; d < shape.size(); ++d) split.inner *= shape[d];
    return split;
}

/// Fake-quantizes one value: level = clamp(round_half_even(x * (1/scale)) + zero_point, qmin, qmax),
/// returned as (level - zero_point) * scale.
/// Pre: the floating-point environment rounds to nearest even (the default), x is not NaN.
///
/// Example: scale 0.5, zero point 3, uint8: 1.25 * 2 = 2.5 rounds to 2, level 5, value 1.0.
inline float fake_quantize_value(float x, float scale, std::int64_t zero_point, integer_range range) {
    // The float32 reciprocal is part of the definition: x / scale rounds
    // differently near ties (2.25f / 0.3f is 7.4999995, 2.25f * (1 / 0.3f) is 7.5).
    const float reciprocal = 1.0f / scale;
    const float scaled = x * reciprocal;
    double level = static_cast<double>(std::nearbyint(scaled)) + static_cast<double>(zero_point);
    level = std::min(std::max(level, range.qmin), range.qmax);

    // level - zero_point is an integer below 2^17 in magnitude, so the float conversion is exact.
    return static_cast<float>(level - static_cast<double>(zero_point)) * scale;
}

/// Fake-quantizes `values` (the value of tensor `t`) to the qparams of `t`, per channel where they have several scales.
/// Throws value_error at the first NaN, because NaN has no integer level.
inline void fake_quantize_tensor(wrapq::tensor& values, const circle::tensor& t) {
    const circle::quantization* q = qparams_of(t);
    if (q == nullptr) return;
    const std::optional<integer_range> range = activation_range(t.type);
    if (!range) {
        throw graph_error("output tensor \"" + t.name + "\" of type " + type_text(t.type) +
                          " has quantization parameters; only UINT8, INT8, INT16 and UINT4 operator outputs can have them");
    }
    const channel_split split = check_qparams(t, *q, shape_of(values), *range);

    float* data = values.data();
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (std::isnan(data[i])) {
            throw wrapq::value_error("tensor \"" + t.name + "\" element " + std::to_string(i) +
                                     " is NaN and has no level on its grid; find the operator that produced the NaN");
        }
        const std::size_t channel = (i / split.inner) % split.channels;
        data[i] = fake_quantize_value(data[i], q->scale[channel], q->zero_point[channel], *range);
    }
}

// ---------------------------------------------------------------------------
// Constants

/// Reads the little-endian integer of `width` bytes at `bytes[offset]`, sign-extending when `is_signed`.
inline std::int64_t read_integer(const std::vector<std::uint8_t>& bytes, std::size_t offset, std::size_t width,
                                 bool is_signed) {
    std::uint64_t bits = 0;
    for (std::size_t b = 0; b < width; ++b) bits |= static_cast<std::uint64_t>(bytes[offset + b]) << (8 * b);
    if (is_signed && width < 8 && (bits >> (8 * width - 1)) != 0) bits |= ~std::uint64_t{0} << (8 * width);
    return static_cast<std::int64_t>(bits);
}

/// Stored elements of a constant of `type`: raw float32 values, or integers
/// (levels of a quantized constant). UINT4 packs two elements per byte,
/// element 2i in the low nibble.
inline std::vector<double> stored_elements(const circle::tensor& t, const std::vector<std::uint8_t>& bytes,
                                           std::size_t count) {
    const std::uint64_t expected = circle::buffer_bytes(t.type, count);
    if (circle::element_bits(t.type) == 0) {
        throw graph_error("constant \"" + t.name + "\" has " + type_text(t.type) + ", which the interpreter cannot decode");
    }
    if (bytes.size() != expected) {
        throw graph_error("constant \"" + t.name + "\" has " + std::to_string(bytes.size()) + " bytes, but " +
                          std::to_string(count) + " elements of " + type_text(t.type) + " take " +
                          std::to_string(expected));
    }

    std::vector<double> elements(count);
    for (std::size_t i = 0; i < count; ++i) {
        switch (t.type) {
            case tensor_type::float32: {
                float value;
                std::memcpy(&value, bytes.data() + 4 * i, sizeof value);
                elements[i] = value;
                break;
            }
            case tensor_type::uint4: elements[i] = (i % 2 == 0) ? (bytes[i / 2] & 0x0F) : (bytes[i / 2] >> 4); break;
            case tensor_type::uint8: elements[i] = static_cast<double>(read_integer(bytes, i, 1, false)); break;
            case tensor_type::boolean: elements[i] = bytes[i] != 0 ? 1.0 : 0.0; break;
            case tensor_type::int8: elements[i] = static_cast<double>(read_integer(bytes, i, 1, true)); break;
            case tensor_type::int16: elements[i] = static_cast<double>(read_integer(bytes, 2 * i, 2, true)); break;
            case tensor_type::int32: elements[i] = static_cast<double>(read_integer(bytes, 4 * i, 4, true)); break;
            case tensor_type::int64: elements[i] = static_cast<double>(read_integer(bytes, 8 * i, 8, true)); break;
        }
    }
    return elements;
}

/// Float values of constant tensor `t` stored in `bytes`: float32 as stored,
/// quantized levels dequantized as (level - zero_point) * scale per tensor or
/// per channel, unquantized integers as their values.
inline wrapq::tensor decode_constant(const circle::tensor& t, const std::vector<std::uint8_t>& bytes) {
    const shape_type shape = declared_shape(t);
    const std::vector<double> elements = stored_elements(t, bytes, element_count(shape));
    wrapq::tensor values = make_tensor(shape);

    const circle::quantization* q = qparams_of(t);
    if (q == nullptr) {
        for (std::size_t i = 0; i < elements.size(); ++i) values.data()[i] = static_cast<float>(elements[i]);
        return values;
    }

    const std::optional<integer_range> range = constant_range(t.type);
    if (!range) {
        throw graph_error("constant \"" + t.name + "\" of type " + type_text(t.type) +
                          " has quantization parameters; store it as UINT8, INT8, INT16, UINT4, INT32 or INT64");
    }
    const channel_split split = check_qparams(t, *q, shape, *range);
    for (std::size_t i = 0; i < elements.size(); ++i) {
        const std::size_t channel = (i / split.inner) % split.channels;
        // The product of an integer below 2^53 and a float32 scale is rounded
        // to float32 once, so int32 biases above 2^24 lose no precision first.
        const double level = elements[i] - static_cast<double>(q->zero_point[channel]);
        values.data()[i] = static_cast<float>(level * static_cast<double>(q->scale[channel]));
    }
    return values;
}

// ---------------------------------------------------------------------------
// Operator inputs and options

/// The operator being run, with access to its inputs and options.
struct operator_call {
    const circle::subgraph& graph;
    const circle::operator_node& node;
    const std::vector<std::optional<wrapq::tensor>>& values;

    std::size_t input_count() const { return node.inputs.size(); }

    /// Throws graph_error unless the operator has between `min` and `max` inputs.
    void expect_inputs(std::size_t min, std::size_t max) const {
        if (node.inputs.size() < min || node.inputs.size() > max) {
            const std::string expected = min == max ? std::to_string(min)
                                                    : std::to_string(min) + " to " + std::to_string(max);
            throw graph_error("has " + std::to_string(node.inputs.size()) + " inputs, expected " + expected);
        }
    }

    bool has_input(std::size_t k) const { return k < node.inputs.size() && node.inputs[k] >= 0; }

    const circle::tensor& input_tensor(std::size_t k) const {
        return graph.tensors[static_cast<std::size_t>(node.inputs.at(k))];
    }

    /// Value of input `k`. Throws graph_error when it is absent (-1).
    const wrapq::tensor& input(std::size_t k) const {
        if (!has_input(k)) throw graph_error("input " + std::to_string(k) + " is absent (-1) but required");
        return *values[static_cast<std::size_t>(node.inputs[k])];
    }

    /// Values of input `k` as integers, for shapes, axes and indices.
    /// Throws graph_error naming `role` when a value is not an integer.
    std::vector<std::int64_t> integers(std::size_t k, const std::string& role) const {
        const wrapq::tensor& t = input(k);
        std::vector<std::int64_t> result;
        for (float v : t) {
            // The magnitude bound keeps the conversion to int64 defined; no shape or index comes near it.
            if (!std::isfinite(v) || std::nearbyint(v) != v || std::fabs(v) > 1e15f) {
                throw graph_error(role + " (input " + std::to_string(k) + ", \"" + input_tensor(k).name +
                                  "\") contains " + wrapq::to_text(v) + ", which is not an integer");
            }
            result.push_back(static_cast<std::int64_t>(v));
        }
        return result;
    }

    /// Option `name` of the operator's option table. A missing table or field
    /// throws graph_error, because wrapq's writer always writes the table of
    /// an operator that has one.
    template <class T>
    T option(const std::string& name) const {
        return node.options.get<T>(name);
    }
};

/// Applies the fused activation function `code` (ActivationFunctionType) to `x`.
inline void apply_activation(wrapq::tensor& x, std::int8_t code) {
    using circle::activation;
    const auto kind = static_cast<activation>(code);
    for (float& v : x) {
        switch (kind) {
            case activation::none: break;
            case activation::relu: v = std::max(v, 0.0f); break;
            case activation::relu_n1_to_1: v = std::min(std::max(v, -1.0f), 1.0f); break;
            case activation::relu6: v = std::min(std::max(v, 0.0f), 6.0f); break;
            case activation::tanh: v = static_cast<float>(std::tanh(static_cast<double>(v))); break;
            default:
                throw graph_error("fused activation function " + std::to_string(code) +
                                  " is not supported; use NONE, RELU, RELU_N1_TO_1, RELU6 or TANH");
        }
    }
}

inline std::int8_t fused_activation(const operator_call& call) {
    return call.option<std::int8_t>("fused_activation_function");
}

// ---------------------------------------------------------------------------
// Elementwise operators

/// Applies `f` to every element in double and rounds the result to float32.
inline wrapq::tensor map_unary(const wrapq::tensor& x, const std::function<double(double)>& f) {
    wrapq::tensor y = make_tensor(shape_of(x));
    for (std::size_t i = 0; i < x.size(); ++i) y.data()[i] = static_cast<float>(f(static_cast<double>(x.data()[i])));
    return y;
}

/// Shape of a numpy-style broadcast of `a` and `b`: shapes align on the
/// right, and an extent of 1 stretches to the other extent.
inline shape_type broadcast_shape(const shape_type& a, const shape_type& b) {
    const std::size_t rank = std::max(a.size(), b.size());
    shape_type out(rank, 1);
    for (std::size_t d = 0; d < rank; ++d) {
        const std::size_t ea = d + a.size() >= rank ? a[d + a.size() - rank] : 1;
        const std::size_t eb = d + b.size() >= rank ? b[d + b.size() - rank] : 1;
        if (ea != eb && ea != 1 && eb != 1) {
            throw graph_error("cannot broadcast shapes " + shape_text(a) + " and " + shape_text(b));
        }
        out[d] = ea == 1 ? eb : ea;
    }
    return out;
}

/// Flat offset into a tensor of `shape` for output coordinates `at` of a
/// broadcast whose rank is at.size(): stretched axes read index 0.
inline std::size_t broadcast_offset(const shape_type& at, const shape_type& shape, const shape_type& strides) {
    const std::size_t lead = at.size() - shape.size();
    std::size_t offset = 0;
    for (std::size_t d = 0; d < shape.size(); ++d) {
        if (shape[d] != 1) offset += at[lead + d] * strides[d];
    }
    return offset;
}

/// Applies `f` elementwise to `a` and `b` with numpy broadcasting, in double, rounding once to float32.
inline wrapq::tensor map_binary(const wrapq::tensor& a, const wrapq::tensor& b,
                                const std::function<double(double, double)>& f) {
    const shape_type sa = shape_of(a);
    const shape_type sb = shape_of(b);
    const shape_type out_shape = broadcast_shape(sa, sb);
    const shape_type stride_a = strides_of(sa);
    const shape_type stride_b = strides_of(sb);

    wrapq::tensor y = make_tensor(out_shape);
    for (std::size_t i = 0; i < y.size(); ++i) {
        const shape_type at = unravel(i, out_shape);
        const double va = a.data()[broadcast_offset(at, sa, stride_a)];
        const double vb = b.data()[broadcast_offset(at, sb, stride_b)];
        y.data()[i] = static_cast<float>(f(va, vb));
    }
    return y;
}

inline double gelu_value(double x, bool approximate) {
    constexpr double pi = 3.14159265358979323846;
    if (approximate) return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / pi) * (x + 0.044715 * x * x * x)));
    return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
}

// ---------------------------------------------------------------------------
// Linear algebra and normalization

/// FULLY_CONNECTED: y = x W^T + b over the last axis of x, W of shape (out, in).
inline wrapq::tensor fully_connected(const operator_call& call) {
    call.expect_inputs(2, 3);
    const wrapq::tensor& x = call.input(0);
    const wrapq::tensor& w = call.input(1);
    const shape_type sx = shape_of(x);
    const shape_type sw = shape_of(w);
    if (sw.size() != 2) throw graph_error("weights have shape " + shape_text(sw) + "; expected rank 2 (out, in)");
    const std::size_t out = sw[0];
    const std::size_t in = sw[1];
    if (sx.empty()) throw graph_error("input is a scalar; FULLY_CONNECTED needs rank 1 or more");
    if (in == 0) throw graph_error("weights have shape " + shape_text(sw) + " with no input features");

    const bool keep_num_dims = call.option<bool>("keep_num_dims");
    shape_type out_shape;
    if (keep_num_dims) {
        if (sx.back() != in) {
            throw graph_error("input has shape " + shape_text(sx) + " but weights " + shape_text(sw) +
                              "; the last input extent must equal the weights' second extent");
        }
        out_shape = sx;
        out_shape.back() = out;
    } else {
        // TFLite flattens the input to (size / in, in) when keep_num_dims is false.
        if (element_count(sx) % in != 0) {
            throw graph_error("input has " + std::to_string(element_count(sx)) + " elements, not a multiple of " +
                              std::to_string(in) + " (the weights' second extent)");
        }
        out_shape = {element_count(sx) / in, out};
    }
    const std::size_t rows = element_count(sx) / in;

    const float* bias = nullptr;
    if (call.has_input(2)) {
        const wrapq::tensor& b = call.input(2);
        if (b.size() != out) {
            throw graph_error("bias has shape " + shape_text(shape_of(b)) + "; expected " + std::to_string(out) +
                              " elements, one per output channel");
        }
        bias = b.data();
    }

    wrapq::tensor y = make_tensor(out_shape);
    for (std::size_t r = 0; r < rows; ++r) {
        for (std::size_t o = 0; o < out; ++o) {
            double sum = 0.0;
            for (std::size_t k = 0; k < in; ++k) {
                sum += static_cast<double>(x.data()[r * in + k]) * static_cast<double>(w.data()[o * in + k]);
            }
            if (bias != nullptr) sum += bias[o];
            y.data()[r * out + o] = static_cast<float>(sum);
        }
    }
    apply_activation(y, fused_activation(call));
    return y;
}

/// BATCH_MATMUL: a (..., M, K) times b (..., K, N), after transposing the
/// last two axes of a when adjoint_lhs and of b when adjoint_rhs. The batch
/// axes broadcast like numpy.
inline wrapq::tensor batch_matmul(const operator_call& call) {
    call.expect_inputs(2, 2);
    const wrapq::tensor& a = call.input(0);
    const wrapq::tensor& b = call.input(1);
    const shape_type sa = shape_of(a);
    const shape_type sb = shape_of(b);
    if (sa.size() < 2 || sb.size() < 2) {
        throw graph_error("operands have shapes " + shape_text(sa) + " and " + shape_text(sb) +
                          "; both need rank 2 or more");
    }
    const bool adjoint_a = call.option<bool>("adjoint_lhs");
    const bool adjoint_b = call.option<bool>("adjoint_rhs");

    const std::size_t ra = sa.size();
    const std::size_t rb = sb.size();
    const std::size_t m = adjoint_a ? sa[ra - 1] : sa[ra - 2];
    const std::size_t k = adjoint_a ? sa[ra - 2] : sa[ra - 1];
    const std::size_t k_b = adjoint_b ? sb[rb - 1] : sb[rb - 2];
    const std::size_t n = adjoint_b ? sb[rb - 2] : sb[rb - 1];
    if (k != k_b) {
        throw graph_error("operands have shapes " + shape_text(sa) + " (adjoint_lhs " + (adjoint_a ? "true" : "false") +
                          ") and " + shape_text(sb) + " (adjoint_rhs " + (adjoint_b ? "true" : "false") +
                          "), whose inner extents " + std::to_string(k) + " and " + std::to_string(k_b) + " differ");
    }

    const shape_type batch_a(sa.begin(), sa.end() - 2);
    const shape_type batch_b(sb.begin(), sb.end() - 2);
    const shape_type batch = broadcast_shape(batch_a, batch_b);
    const shape_type stride_a = strides_of(batch_a);
    const shape_type stride_b = strides_of(batch_b);
    const std::size_t matrix_a = sa[ra - 2] * sa[ra - 1];
    const std::size_t matrix_b = sb[rb - 2] * sb[rb - 1];

    shape_type out_shape = batch;
    out_shape.push_back(m);
    out_shape.push_back(n);
    wrapq::tensor y = make_tensor(out_shape);

    for (std::size_t p = 0; p < element_count(batch); ++p) {
        const shape_type at = unravel(p, batch);
        const float* pa = a.data() + broadcast_offset(at, batch_a, stride_a) * matrix_a;
        const float* pb = b.data() + broadcast_offset(at, batch_b, stride_b) * matrix_b;
        float* py = y.data() + p * m * n;
        for (std::size_t i = 0; i < m; ++i) {
            for (std::size_t j = 0; j < n; ++j) {
                double sum = 0.0;
                for (std::size_t t = 0; t < k; ++t) {
                    const float va = adjoint_a ? pa[t * m + i] : pa[i * k + t];
                    const float vb = adjoint_b ? pb[j * k + t] : pb[t * n + j];
                    sum += static_cast<double>(va) * static_cast<double>(vb);
                }
                py[i * n + j] = static_cast<float>(sum);
            }
        }
    }
    return y;
}

/// SOFTMAX over the last axis: exp(beta x - max) / sum, where max is the
/// largest beta x of the row, so no exponent overflows.
inline wrapq::tensor softmax(const operator_call& call) {
    call.expect_inputs(1, 1);
    const wrapq::tensor& x = call.input(0);
    const shape_type shape = shape_of(x);
    if (shape.empty()) throw graph_error("input is a scalar; SOFTMAX needs rank 1 or more");
    const double beta = call.option<float>("beta");

    const std::size_t row = shape.back();
    wrapq::tensor y = make_tensor(shape);
    for (std::size_t start = 0; start + row <= x.size() && row > 0; start += row) {
        double largest = -std::numeric_limits<double>::infinity();
        for (std::size_t i = start; i < start + row; ++i) largest = std::max(largest, beta * x.data()[i]);
        double sum = 0.0;
        std::vector<double> exponentials(row);
        for (std::size_t i = 0; i < row; ++i) {
            exponentials[i] = std::exp(beta * x.data()[start + i] - largest);
            sum += exponentials[i];
        }
        for (std::size_t i = 0; i < row; ++i) y.data()[start + i] = static_cast<float>(exponentials[i] / sum);
    }
    return y;
}

/// Circle's RMS_NORM: gamma * x / sqrt(mean(x^2 over the last axis) + epsilon),
/// accumulated in double as ONE's luci-interpreter does. gamma has the last
/// extent of x or a single element.
inline wrapq::tensor rms_norm(const operator_call& call) {
    call.expect_inputs(2, 2);
    const wrapq::tensor& x = call.input(0);
    const wrapq::tensor& gamma = call.input(1);
    const shape_type shape = shape_of(x);
    if (shape.empty()) throw graph_error("input is a scalar; RMS_NORM needs rank 1 or more");
    const std::size_t row = shape.back();
    if (gamma.dimension() != 1 || (gamma.size() != row && gamma.size() != 1)) {
        throw graph_error("gamma has shape " + shape_text(shape_of(gamma)) + "; expected [" + std::to_string(row) +
                          "] (the last extent of the input) or [1]");
    }
    const double epsilon = call.option<float>("epsilon");

    wrapq::tensor y = make_tensor(shape);
    for (std::size_t start = 0; start + row <= x.size() && row > 0; start += row) {
        double sum_of_squares = 0.0;
        for (std::size_t i = start; i < start + row; ++i) {
            sum_of_squares += static_cast<double>(x.data()[i]) * static_cast<double>(x.data()[i]);
        }
        const double inverse_rms = 1.0 / std::sqrt(sum_of_squares / static_cast<double>(row) + epsilon);
        for (std::size_t i = 0; i < row; ++i) {
            const double g = gamma.data()[gamma.size() == 1 ? 0 : i];
            y.data()[start + i] = static_cast<float>(g * static_cast<double>(x.data()[start + i]) * inverse_rms);
        }
    }
    return y;
}

/// MEAN over the axes listed in input 1 (negative allowed, repeats ignored),
/// keeping each reduced axis with extent 1 when keep_dims.
inline wrapq::tensor mean(const operator_call& call) {
    call.expect_inputs(2, 2);
    const wrapq::tensor& x = call.input(0);
    const shape_type shape = shape_of(x);
    std::vector<bool> reduced(shape.size(), false);
    for (std::int64_t axis : call.integers(1, "axes")) reduced[normalized_axis(axis, shape.size(), "axis")] = true;
    const bool keep_dims = call.option<bool>("keep_dims");

    // Sum into an output of the kept shape (reduced axes of extent 1), then
    // drop those axes from the shape when keep_dims is false.
    shape_type kept = shape;
    std::size_t reduced_count = 1;
    for (std::size_t d = 0; d < shape.size(); ++d) {
        if (reduced[d]) {
            kept[d] = 1;
            reduced_count *= shape[d];
        }
    }
    const shape_type kept_strides = strides_of(kept);
    std::vector<double> sums(element_count(kept), 0.0);
    for (std::size_t i = 0; i < x.size(); ++i) {
        const shape_type at = unravel(i, shape);
        std::size_t offset = 0;
        for (std::size_t d = 0; d < shape.size(); ++d) offset += reduced[d] ? 0 : at[d] * kept_strides[d];
        sums[offset] += x.data()[i];
    }

    shape_type out_shape;
    for (std::size_t d = 0; d < shape.size(); ++d) {
        if (!reduced[d]) out_shape.push_back(shape[d]);
        else if (keep_dims) out_shape.push_back(1);
    }
    wrapq::tensor y = make_tensor(out_shape);
    for (std::size_t i = 0; i < sums.size(); ++i) {
        // An empty reduction (an extent of 0) gives NaN, as 0/0 does in TFLite's float kernel.
        y.data()[i] = static_cast<float>(sums[i] / static_cast<double>(reduced_count));
    }
    return y;
}

// ---------------------------------------------------------------------------
// Data movement

/// RESHAPE to the shape in input 1 when it is present, else to the option
/// new_shape. One extent of -1 is inferred from the element count.
inline wrapq::tensor reshape(const operator_call& call) {
    call.expect_inputs(1, 2);
    const wrapq::tensor& x = call.input(0);
    std::vector<std::int64_t> requested;
    if (call.has_input(1)) {
        requested = call.integers(1, "shape");
    } else {
        for (std::int32_t extent : call.node.options.get<std::vector<std::int32_t>>("new_shape")) {
            requested.push_back(extent);
        }
    }

    shape_type out_shape;
    std::optional<std::size_t> inferred;
    std::size_t known = 1;
    for (std::size_t d = 0; d < requested.size(); ++d) {
        if (requested[d] == -1 && !inferred) {
            inferred = d;
            out_shape.push_back(1);
        } else if (requested[d] < 0) {
            throw graph_error("new shape has extent " + std::to_string(requested[d]) + " at axis " + std::to_string(d) +
                              "; only one extent may be -1 and none may be below it");
        } else {
            out_shape.push_back(static_cast<std::size_t>(requested[d]));
            known *= static_cast<std::size_t>(requested[d]);
        }
    }
    if (inferred) {
        if (known == 0 || x.size() % known != 0) {
            throw graph_error("cannot infer the -1 extent of new shape for " + std::to_string(x.size()) + " elements");
        }
        out_shape[*inferred] = x.size() / known;
    }
    if (element_count(out_shape) != x.size()) {
        throw graph_error("new shape " + shape_text(out_shape) + " has " + std::to_string(element_count(out_shape)) +
                          " elements, but the input " + shape_text(shape_of(x)) + " has " + std::to_string(x.size()));
    }

    wrapq::tensor y = make_tensor(out_shape);
    std::copy(x.data(), x.data() + x.size(), y.data());
    return y;
}

/// TRANSPOSE by the permutation in input 1: output axis i is input axis perm[i].
inline wrapq::tensor transpose(const operator_call& call) {
    call.expect_inputs(2, 2);
    const wrapq::tensor& x = call.input(0);
    const shape_type shape = shape_of(x);
    const std::vector<std::int64_t> perm = call.integers(1, "permutation");
    if (perm.size() != shape.size()) {
        throw graph_error("permutation has " + std::to_string(perm.size()) + " entries for an input of rank " +
                          std::to_string(shape.size()));
    }
    std::vector<bool> seen(shape.size(), false);
    shape_type axes;
    for (std::int64_t p : perm) {
        const std::size_t axis = normalized_axis(p, shape.size(), "permutation entry");
        if (seen[axis]) throw graph_error("permutation lists axis " + std::to_string(axis) + " twice");
        seen[axis] = true;
        axes.push_back(axis);
    }

    shape_type out_shape;
    for (std::size_t axis : axes) out_shape.push_back(shape[axis]);
    const shape_type in_strides = strides_of(shape);
    wrapq::tensor y = make_tensor(out_shape);
    for (std::size_t i = 0; i < y.size(); ++i) {
        const shape_type at = unravel(i, out_shape);
        std::size_t offset = 0;
        for (std::size_t d = 0; d < at.size(); ++d) offset += at[d] * in_strides[axes[d]];
        y.data()[i] = x.data()[offset];
    }
    return y;
}

/// CONCATENATION of all inputs along the option axis (negative allowed).
inline wrapq::tensor concatenation(const operator_call& call) {
    if (call.input_count() == 0) throw graph_error("has no inputs, expected 1 or more");
    const shape_type first = shape_of(call.input(0));
    if (first.empty()) throw graph_error("input 0 is a scalar; CONCATENATION needs rank 1 or more");
    const std::size_t axis = normalized_axis(call.option<std::int32_t>("axis"), first.size(), "axis");

    shape_type out_shape = first;
    out_shape[axis] = 0;
    for (std::size_t k = 0; k < call.input_count(); ++k) {
        const shape_type s = shape_of(call.input(k));
        bool fits = s.size() == first.size();
        for (std::size_t d = 0; fits && d < s.size(); ++d) fits = d == axis || s[d] == first[d];
        if (!fits) {
            throw graph_error("input " + std::to_string(k) + " has shape " + shape_text(s) + ", which does not match input 0 " +
                              shape_text(first) + " outside axis " + std::to_string(axis));
        }
        out_shape[axis] += s[axis];
    }

    // Each input contributes a block of extent[axis] * inner values to every outer index.
    std::size_t outer = 1;
    std::size_t inner = 1;
    for (std::size_t d = 0; d < axis; ++d) outer *= first[d];
    for (std::size_t d = axis + 1; d < first.size(); ++d) inner *= first[d];
    wrapq::tensor y = make_tensor(out_shape);
    float* out = y.data();
    for (std::size_t o = 0; o < outer; ++o) {
        for (std::size_t k = 0; k < call.input_count(); ++k) {
            const wrapq::tensor& x = call.input(k);
            const std::size_t block = x.shape()[axis] * inner;
            out = std::copy(x.data() + o * block, x.data() + (o + 1) * block, out);
        }
    }
    apply_activation(y, fused_activation(call));
    return y;
}

/// Copies the elements of `x` at start[d] + i * step[d] for i < extent[d] on every axis d.
inline wrapq::tensor gather_strided(const wrapq::tensor& x, const std::vector<std::int64_t>& start,
                                    const std::vector<std::int64_t>& step, const shape_type& extent) {
    const shape_type strides = strides_of(shape_of(x));
    wrapq::tensor y = make_tensor(extent);
    for (std::size_t i = 0; i < y.size(); ++i) {
        const shape_type at = unravel(i, extent);
        std::int64_t offset = 0;
        for (std::size_t d = 0; d < at.size(); ++d) {
            offset += (start[d] + static_cast<std::int64_t>(at[d]) * step[d]) * static_cast<std::int64_t>(strides[d]);
        }
        y.data()[i] = x.data()[offset];
    }
    return y;
}

/// SLICE with begin (input 1) and size (input 2); a size of -1 takes the rest of the axis.
inline wrapq::tensor slice(const operator_call& call) {
    call.expect_inputs(3, 3);
    const wrapq::tensor& x = call.input(0);
    const shape_type shape = shape_of(x);
    const std::vector<std::int64_t> begin = call.integers(1, "begin");
    const std::vector<std::int64_t> size = call.integers(2, "size");
    if (begin.size() != shape.size() || size.size() != shape.size()) {
        throw graph_error("begin has " + std::to_string(begin.size()) + " and size " + std::to_string(size.size()) +
                          " entries for an input of rank " + std::to_string(shape.size()));
    }

    shape_type extent(shape.size());
    for (std::size_t d = 0; d < shape.size(); ++d) {
        const auto dim = static_cast<std::int64_t>(shape[d]);
        const std::int64_t length = size[d] == -1 ? dim - begin[d] : size[d];
        if (begin[d] < 0 || length < 0 || begin[d] + length > dim) {
            throw graph_error("axis " + std::to_string(d) + ": begin " + std::to_string(begin[d]) + " and size " +
                              std::to_string(size[d]) + " do not fit extent " + std::to_string(dim));
        }
        extent[d] = static_cast<std::size_t>(length);
    }
    return gather_strided(x, begin, std::vector<std::int64_t>(shape.size(), 1), extent);
}

/// STRIDED_SLICE with begin, end and strides (inputs 1 to 3), by TensorFlow's rules:
/// - a negative begin or end counts from the end of the axis;
/// - a begin_mask or end_mask bit takes the whole axis in the stride's direction;
/// - a shrink_axis_mask bit takes the single index begin (its masks ignored) and drops the axis;
/// - axes beyond the length of begin are taken whole.
///
/// Example: x of shape [2, 3, 4], begin [0, -2, -1], end [0, 3, -5], strides [1, 1, -2],
/// begin_mask and end_mask 0b001 take numpy's x[:, -2:3, -1:-5:-2]. That is
/// rows 1 and 2 and columns 3 and 1, shape [2, 2, 2].
inline wrapq::tensor strided_slice(const operator_call& call) {
    call.expect_inputs(4, 4);
    const wrapq::tensor& x = call.input(0);
    const shape_type shape = shape_of(x);
    const std::vector<std::int64_t> begin = call.integers(1, "begin");
    const std::vector<std::int64_t> end = call.integers(2, "end");
    const std::vector<std::int64_t> strides = call.integers(3, "strides");
    if (begin.size() != end.size() || begin.size() != strides.size() || begin.size() > shape.size()) {
        throw graph_error("begin, end and strides have " + std::to_string(begin.size()) + ", " +
                          std::to_string(end.size()) + " and " + std::to_string(strides.size()) +
                          " entries; they need the same length, at most the input rank " + std::to_string(shape.size()));
    }
    const std::int32_t begin_mask = call.option<std::int32_t>("begin_mask");
    const std::int32_t end_mask = call.option<std::int32_t>("end_mask");
    const std::int32_t shrink_mask = call.option<std::int32_t>("shrink_axis_mask");
    if (call.option<std::int32_t>("ellipsis_mask") != 0 || call.option<std::int32_t>("new_axis_mask") != 0 ||
        call.option<bool>("offset")) {
        // TODO: ellipsis_mask, new_axis_mask and offset; wrapq's ops.hpp always writes 0 and false.
        throw graph_error("ellipsis_mask, new_axis_mask and offset are not supported; set them to 0 and false");
    }

    std::vector<std::int64_t> start(shape.size(), 0);
    std::vector<std::int64_t> step(shape.size(), 1);
    shape_type extent = shape;
    shape_type out_shape;
    for (std::size_t d = 0; d < shape.size(); ++d) {
        const auto dim = static_cast<std::int64_t>(shape[d]);
        const bool sliced = d < begin.size();
        const std::int64_t s = sliced ? strides[d] : 1;
        if (s == 0) throw graph_error("strides[" + std::to_string(d) + "] is 0");

        if (sliced && ((shrink_mask >> d) & 1) != 0) {
            const std::int64_t index = begin[d] < 0 ? begin[d] + dim : begin[d];
            if (index < 0 || index >= dim || s < 0) {
                throw graph_error("axis " + std::to_string(d) + " shrinks to index " + std::to_string(begin[d]) +
                                  " with stride " + std::to_string(s) + "; it needs an index in [" +
                                  std::to_string(-dim) + ", " + std::to_string(dim - 1) + "] and a positive stride");
            }
            start[d] = index;
            extent[d] = 1;
            continue;
        }

        // Clamp to [0, dim] for forward strides and to [-1, dim - 1] for backward ones.
        const std::int64_t low = s > 0 ? 0 : -1;
        const std::int64_t high = s > 0 ? dim : dim - 1;
        auto bound = [&](std::int64_t value, bool masked, std::int64_t masked_value) {
            if (masked) return masked_value;
            const std::int64_t v = value < 0 ? value + dim : value;
            return std::min(std::max(v, low), high);
        };
        const std::int64_t b = bound(sliced ? begin[d] : 0, !sliced || ((begin_mask >> d) & 1) != 0, s > 0 ? 0 : dim - 1);
        const std::int64_t e = bound(sliced ? end[d] : 0, !sliced || ((end_mask >> d) & 1) != 0, s > 0 ? dim : -1);

        const std::int64_t span = s > 0 ? e - b : b - e;
        const std::int64_t magnitude = s > 0 ? s : -s;
        const std::int64_t length = span <= 0 ? 0 : (span + magnitude - 1) / magnitude;
        start[d] = b;
        step[d] = s;
        extent[d] = static_cast<std::size_t>(length);
        out_shape.push_back(extent[d]);
    }

    wrapq::tensor y = gather_strided(x, start, step, extent);
    y.reshape(out_shape);
    return y;
}

/// GATHER: out[outer, indices..., inner] = params[outer, indices[...], inner] along the option axis.
/// Output shape params[:axis] + indices.shape + params[axis+1:].
inline wrapq::tensor gather(const operator_call& call) {
    call.expect_inputs(2, 2);
    const wrapq::tensor& params = call.input(0);
    const shape_type shape = shape_of(params);
    if (shape.empty()) throw graph_error("params is a scalar; GATHER needs rank 1 or more");
    if (call.option<std::int32_t>("batch_dims") != 0) {
        // TODO: batch_dims other than 0; wrapq's exporter gathers with batch_dims 0 only.
        throw graph_error("batch_dims other than 0 is not supported");
    }
    const std::size_t axis = normalized_axis(call.option<std::int32_t>("axis"), shape.size(), "axis");
    const std::vector<std::int64_t> indices = call.integers(1, "indices");
    for (std::size_t i = 0; i < indices.size(); ++i) {
        if (indices[i] < 0 || indices[i] >= static_cast<std::int64_t>(shape[axis])) {
            throw graph_error("indices[" + std::to_string(i) + "] = " + std::to_string(indices[i]) +
                              " is out of range for extent " + std::to_string(shape[axis]) + " on axis " +
                              std::to_string(axis));
        }
    }

    std::size_t outer = 1;
    std::size_t inner = 1;
    for (std::size_t d = 0; d < axis; ++d) outer *= shape[d];
    for (std::size_t d = axis + 1; d < shape.size(); ++d) inner *= shape[d];
    shape_type out_shape(shape.begin(), shape.begin() + static_cast<std::ptrdiff_t>(axis));
    for (std::size_t extent : shape_of(call.input(1))) out_shape.push_back(extent);
    out_shape.insert(out_shape.end(), shape.begin() + static_cast<std::ptrdiff_t>(axis) + 1, shape.end());

    wrapq::tensor y = make_tensor(out_shape);
    float* out = y.data();
    for (std::size_t o = 0; o < outer; ++o) {
        for (std::int64_t index : indices) {
            const float* row = params.data() + (o * shape[axis] + static_cast<std::size_t>(index)) * inner;
            out = std::copy(row, row + inner, out);
        }
    }
    return y;
}

/// EXPAND_DIMS: inserts an axis of extent 1 at the position in input 1, in [-rank - 1, rank].
inline wrapq::tensor expand_dims(const operator_call& call) {
    call.expect_inputs(2, 2);
    const wrapq::tensor& x = call.input(0);
    const std::vector<std::int64_t> axis = call.integers(1, "axis");
    if (axis.size() != 1) throw graph_error("axis has " + std::to_string(axis.size()) + " elements, expected 1");
    shape_type out_shape = shape_of(x);
    const std::size_t position = normalized_axis(axis[0], out_shape.size() + 1, "axis");
    out_shape.insert(out_shape.begin() + static_cast<std::ptrdiff_t>(position), 1);

    wrapq::tensor y = make_tensor(out_shape);
    std::copy(x.data(), x.data() + x.size(), y.data());
    return y;
}

// ---------------------------------------------------------------------------
// Dispatch

/// Computes the output value of one operator, before fake quantization to the output's qparams.
inline wrapq::tensor compute_operator(std::int32_t code, const operator_call& call) {
    using circle::builtin_operator;
    const auto unary = [&](const std::function<double(double)>& f) {
        call.expect_inputs(1, 1);
        return map_unary(call.input(0), f);
    };
    const auto binary = [&](const std::function<double(double, double)>& f, bool fused) {
        call.expect_inputs(2, 2);
        wrapq::tensor y = map_binary(call.input(0), call.input(1), f);
        if (fused) apply_activation(y, fused_activation(call));
        return y;
    };

    switch (static_cast<builtin_operator>(code)) {
        case builtin_operator::fully_connected: return fully_connected(call);
        case builtin_operator::batch_matmul: return batch_matmul(call);
        case builtin_operator::add: return binary([](double a, double b) { return a + b; }, true);
        case builtin_operator::sub: return binary([](double a, double b) { return a - b; }, true);
        case builtin_operator::mul: return binary([](double a, double b) { return a * b; }, true);
        case builtin_operator::div: return binary([](double a, double b) { return a / b; }, true);
        case builtin_operator::minimum: return binary([](double a, double b) { return std::min(a, b); }, false);
        case builtin_operator::maximum: return binary([](double a, double b) { return std::max(a, b); }, false);
        case builtin_operator::pow: return binary([](double a, double b) { return std::pow(a, b); }, false);
        case builtin_operator::neg: return unary([](double x) { return -x; });
        case builtin_operator::tanh: return unary([](double x) { return std::tanh(x); });
        case builtin_operator::logistic: return unary([](double x) { return 1.0 / (1.0 + std::exp(-x)); });
        case builtin_operator::sqrt: return unary([](double x) { return std::sqrt(x); });
        case builtin_operator::rsqrt: return unary([](double x) { return 1.0 / std::sqrt(x); });
        case builtin_operator::gelu: {
            const bool approximate = call.option<bool>("approximate");
            return unary([approximate](double x) { return gelu_value(x, approximate); });
        }
        case builtin_operator::softmax: return softmax(call);
        case builtin_operator::rms_norm: return rms_norm(call);
        case builtin_operator::mean: return mean(call);
        case builtin_operator::reshape: return reshape(call);
        case builtin_operator::transpose: return transpose(call);
        case builtin_operator::concatenation: return concatenation(call);
        case builtin_operator::slice: return slice(call);
        case builtin_operator::strided_slice: return strided_slice(call);
        case builtin_operator::gather: return gather(call);
        case builtin_operator::expand_dims: return expand_dims(call);
        case builtin_operator::quantize: {
            call.expect_inputs(1, 1);
            const circle::tensor& out = call.graph.tensors[static_cast<std::size_t>(call.node.outputs[0])];
            if (qparams_of(out) == nullptr) {
                throw graph_error("output \"" + out.name + "\" has no quantization parameters; QUANTIZE needs them");
            }
            return call.input(0);  // the output's qparams are applied after the operator runs
        }
        case builtin_operator::dequantize: {
            call.expect_inputs(1, 1);
            const circle::tensor& out = call.graph.tensors[static_cast<std::size_t>(call.node.outputs[0])];
            if (qparams_of(call.input_tensor(0)) == nullptr) {
                throw graph_error("input \"" + call.input_tensor(0).name +
                                  "\" has no quantization parameters; DEQUANTIZE needs a quantized input");
            }
            if (qparams_of(out) != nullptr) {
                throw graph_error("output \"" + out.name + "\" has quantization parameters; DEQUANTIZE outputs float32");
            }
            return call.input(0);
        }
        default: break;
    }
    throw graph_error("the operator is not supported by the reference interpreter; add it to "
                      "tests/support/circle_interpreter.hpp or leave it out of the graph");
}

/// Checks that every input of `node` is a valid index whose value is known, because operators run in file order.
inline void check_inputs_ready(const circle::subgraph& g, const circle::operator_node& node,
                               const std::vector<std::optional<wrapq::tensor>>& values) {
    for (std::size_t k = 0; k < node.inputs.size(); ++k) {
        const std::int32_t index = node.inputs[k];
        if (index == -1) continue;
        if (index < 0 || static_cast<std::size_t>(index) >= g.tensors.size()) {
            throw graph_error("input " + std::to_string(k) + " refers to tensor " + std::to_string(index) +
                              ", but the subgraph has " + std::to_string(g.tensors.size()) + " tensors");
        }
        if (!values[static_cast<std::size_t>(index)]) {
            throw graph_error("input " + std::to_string(k) + " (\"" + g.tensors[static_cast<std::size_t>(index)].name +
                              "\") has no value yet; it is not a graph input or constant, and no earlier operator produces it");
        }
    }
}

/// Checks the single output of `node` and returns its tensor index: it must be a new tensor that no graph
/// input, constant or earlier operator has set.
inline std::size_t check_output(const circle::subgraph& g, const circle::operator_node& node,
                                const std::vector<std::optional<wrapq::tensor>>& values) {
    if (node.outputs.size() != 1) {
        throw graph_error("has " + std::to_string(node.outputs.size()) + " outputs, expected 1");
    }
    const std::int32_t index = node.outputs[0];
    if (index < 0 || static_cast<std::size_t>(index) >= g.tensors.size()) {
        throw graph_error("output refers to tensor " + std::to_string(index) + ", but the subgraph has " +
                          std::to_string(g.tensors.size()) + " tensors");
    }
    if (values[static_cast<std::size_t>(index)]) {
        throw graph_error("output \"" + g.tensors[static_cast<std::size_t>(index)].name +
                          "\" already has a value from a graph input, a constant or an earlier operator; "
                          "each tensor may be written once");
    }
    return static_cast<std::size_t>(index);
}

/// Checks graph input `k` against its tensor `t` and returns the value the interpreter stores.
/// Integer types must contain integers. Quantized inputs are fake-quantized to their grid,
/// which leaves values already on the grid unchanged.
inline wrapq::tensor prepare_input(std::size_t k, const circle::tensor& t, const wrapq::tensor& given) {
    const shape_type expected = declared_shape(t);
    if (shape_of(given) != expected) {
        throw graph_error("graph input " + std::to_string(k) + " (\"" + t.name + "\") has shape " +
                          shape_text(shape_of(given)) + ", but the tensor declares " + shape_text(expected));
    }
    wrapq::tensor value = given;
    const bool integral = t.type == tensor_type::int32 || t.type == tensor_type::int64;
    if (integral && qparams_of(t) == nullptr) {
        for (std::size_t i = 0; i < value.size(); ++i) {
            const float v = value.data()[i];
            if (!std::isfinite(v) || std::nearbyint(v) != v) {
                throw graph_error("graph input " + std::to_string(k) + " (\"" + t.name + "\", " + type_text(t.type) +
                                  ") element " + std::to_string(i) + " is " + wrapq::to_text(v) +
                                  ", not an integer; pass ids as floats with integer values");
            }
        }
    }
    fake_quantize_tensor(value, t);
    return value;
}

/// Runs subgraph 0 and returns the value of every tensor that a graph input, constant or operator set.
inline std::vector<std::optional<wrapq::tensor>> run(const circle::model& m, const std::vector<wrapq::tensor>& inputs) {
    if (m.subgraphs.empty()) throw graph_error("the model has no subgraphs");
    const circle::subgraph& g = m.subgraphs[0];
    std::vector<std::optional<wrapq::tensor>> values(g.tensors.size());

    // Constants: tensors whose buffer contains bytes.
    for (std::size_t i = 0; i < g.tensors.size(); ++i) {
        const circle::tensor& t = g.tensors[i];
        if (t.buffer == 0) continue;
        const std::vector<std::uint8_t> bytes = buffer_bytes(m, t.buffer);
        if (!bytes.empty()) values[i] = decode_constant(t, bytes);
    }

    // Graph inputs, in subgraph order.
    if (inputs.size() != g.inputs.size()) {
        throw graph_error("subgraph \"" + g.name + "\" has " + std::to_string(g.inputs.size()) + " inputs, but " +
                          std::to_string(inputs.size()) + " values were given");
    }
    for (std::size_t k = 0; k < g.inputs.size(); ++k) {
        const std::int32_t index = g.inputs[k];
        if (index < 0 || static_cast<std::size_t>(index) >= g.tensors.size()) {
            throw graph_error("graph input " + std::to_string(k) + " refers to tensor " + std::to_string(index) +
                              ", but the subgraph has " + std::to_string(g.tensors.size()) + " tensors");
        }
        const circle::tensor& t = g.tensors[static_cast<std::size_t>(index)];
        if (values[static_cast<std::size_t>(index)]) {
            throw graph_error("graph input " + std::to_string(k) + " (\"" + t.name + "\") is a constant or is listed twice");
        }
        values[static_cast<std::size_t>(index)] = prepare_input(k, t, inputs[k]);
    }

    // Operators, in file order, as TFLite runs them.
    for (std::size_t o = 0; o < g.operators.size(); ++o) {
        const circle::operator_node& node = g.operators[o];
        if (node.opcode_index >= m.operator_codes.size()) {
            throw graph_error("operator " + std::to_string(o) + " has opcode index " + std::to_string(node.opcode_index) +
                              ", but the model has " + std::to_string(m.operator_codes.size()) + " operator codes");
        }
        const std::int32_t code = m.operator_codes[node.opcode_index].code;
        std::string where = "operator " + std::to_string(o) + " (" + circle::op_name(code) + ")";
        try {
            check_inputs_ready(g, node, values);
            const std::size_t out_index = check_output(g, node, values);
            const circle::tensor& out = g.tensors[out_index];
            where = "operator " + std::to_string(o) + " (" + circle::op_name(code) + ", output \"" + out.name + "\")";

            wrapq::tensor y = compute_operator(code, operator_call{g, node, values});
            const shape_type expected = declared_shape(out);
            if (shape_of(y) != expected) {
                throw graph_error("computes shape " + shape_text(shape_of(y)) + ", but the output tensor declares " +
                                  shape_text(expected) + "; check the operator's inputs and options");
            }
            fake_quantize_tensor(y, out);
            values[out_index] = std::move(y);
        } catch (const wrapq::value_error& e) {
            throw wrapq::value_error(where + ": " + e.what());
        } catch (const graph_error& e) {
            throw graph_error(where + ": " + e.what());
        }
    }
    return values;
}

}  // namespace interpreter_detail

/// Runs subgraph 0 of `m` on `inputs` (one per subgraph input, in order)
/// and returns the values of all tensors: nullopt for a tensor that no graph
/// input, constant or operator sets. Meant for finding the first tensor where
/// two runs differ.
///
/// Example:
/// @code
///   auto all = wrapq::test::run_circle_all(m, {x});
///   const wrapq::tensor& fc = *all[3];   // tensor 3 of subgraph 0
/// @endcode
inline std::vector<std::optional<wrapq::tensor>> run_circle_all(const circle::model& m,
                                                                 const std::vector<wrapq::tensor>& inputs) {
    return interpreter_detail::run(m, inputs);
}

/// Runs subgraph 0 of `m` on `inputs` (one per subgraph input, in order):
/// float values, already on their grid for quantized inputs, and int32 ids
/// as floats with integer values. Operators run in file order, and each output is
/// fake-quantized to its tensor's qparams.
///
/// Throws circle::graph_error naming the operator index, its op name and the
/// problem for an unsupported operator, a wrong input or output count, or a
/// computed shape that differs from the output tensor's declared shape.
/// Throws wrapq::value_error for a NaN that would have to be quantized.
///
/// Example, the float FULLY_CONNECTED y = x W^T + b with x = [1, 2, 3, 4],
/// W = [[.1, .2, .3, .4], [-.5, .6, -.7, .8], [1, 0, -1, .5]], b = [.01, -.02, .03]:
/// @code
///   wrapq::tensor x = {{1.0f, 2.0f, 3.0f, 4.0f}};
///   auto result = wrapq::test::run_circle(m, {x});
///   // result.outputs[0] == {{3.01f, 1.78f, 0.03f}} to float32 rounding
/// @endcode
inline interpreter_result run_circle(const circle::model& m, const std::vector<wrapq::tensor>& inputs) {
    const std::vector<std::optional<wrapq::tensor>> values = interpreter_detail::run(m, inputs);
    const circle::subgraph& g = m.subgraphs[0];

    interpreter_result result;
    for (std::size_t k = 0; k < g.outputs.size(); ++k) {
        const std::int32_t index = g.outputs[k];
        if (index < 0 || static_cast<std::size_t>(index) >= values.size() || !values[static_cast<std::size_t>(index)]) {
            throw circle::graph_error("graph output " + std::to_string(k) + " (tensor " + std::to_string(index) +
                                      ") has no value after the run; no graph input, constant or operator sets it");
        }
        result.outputs.push_back(*values[static_cast<std::size_t>(index)]);
    }
    return result;
}

}  // namespace wrapq::test
