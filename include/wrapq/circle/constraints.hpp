// wrapq/circle/constraints.hpp: the qparams rules that quantized kernels of Circle and TFLite runtimes impose.
//
// validate() checks that a model can be written. The rules here check that
// its quantized kernels compute the intended values. Ops that copy bytes
// keep their input's qparams. For TFLite-compatible runtimes (TFLite and
// Arm NN 20.08), TANH, LOGISTIC and SOFTMAX outputs also need the fixed
// qparams those kernels assume. The rule that INT16 zero points are 0 is
// one of validate()'s checks and is not repeated here.
#pragma once

#include "wrapq/config.hpp"
#include "wrapq/circle/errors.hpp"
#include "wrapq/circle/graph.hpp"
#include "wrapq/circle/schema.hpp"
#include "wrapq/core/errors.hpp"

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace wrapq::circle {

/// Options of constraint_violations() and check_runtime_constraints().
struct constraint_options {
    /// Also apply the rules of TFLite-compatible runtimes: fixed TANH,
    /// LOGISTIC and SOFTMAX output qparams, per-tensor weights for uint8
    /// FULLY_CONNECTED, int8 weights for int16 FULLY_CONNECTED, and no
    /// Circle-only ops or tensor types. The file identifier and version stay
    /// Circle's ("CIR0", 0); converting them for TFLite tools is a separate step.
    bool tflite_compatible = false;
};

/// A model that breaks runtime constraints. violations() lists one message
/// per problem, in the order of constraint_violations().
class runtime_constraint_error : public graph_error {
public:
    runtime_constraint_error(const std::string& message, std::vector<std::string> violations)
        : graph_error(message), violations_(std::move(violations)) {}

    const std::vector<std::string>& violations() const noexcept { return violations_; }

private:
    std::vector<std::string> violations_;
};

/// Output qparams that TFLite's integer kernel of `code` assumes for an
/// output of `type`, or nullopt when that kernel accepts any qparams. The
/// scales are powers of two, so comparing them with == is exact.
///
/// | op              | UINT8           | INT8             | INT16         |
/// |-----------------|-----------------|------------------|---------------|
/// | TANH            | 2^-7, zp 128    | 2^-7, zp 0       | 2^-15, zp 0   |
/// | LOGISTIC, SOFTMAX | 2^-8, zp 0    | 2^-8, zp -128    | 2^-15, zp 0   |
///
/// The uint8 and int16 values are those that Arm NN 20.08 checks and that
/// TFLite's fixed-point kernels assume; TFLite's int16 kernels check them too.
/// For int8, TFLite's LOGISTIC and SOFTMAX kernels check the values above,
/// and its 8-bit quantization specification gives the TANH values.
///
/// Example:
/// @code
///   auto q = wrapq::circle::fixed_output_qparams(builtin_operator::tanh, tensor_type::uint8);
///   // q->scale == {0.0078125f}, q->zero_point == {128}
///   wrapq::circle::fixed_output_qparams(builtin_operator::add, tensor_type::uint8);  // nullopt
/// @endcode
inline std::optional<quantization> fixed_output_qparams(builtin_operator code, tensor_type type) {
    const bool squashing = code == builtin_operator::logistic || code == builtin_operator::softmax;
    if (code != builtin_operator::tanh && !squashing) return std::nullopt;

    // TANH covers [-1, 1], so it needs one more bit of range than LOGISTIC and SOFTMAX, which cover [0, 1].
    switch (type) {
        case tensor_type::uint8:
            return squashing ? quantization{{0x1p-8f}, {0}, 0} : quantization{{0x1p-7f}, {128}, 0};
        case tensor_type::int8:
            return squashing ? quantization{{0x1p-8f}, {-128}, 0} : quantization{{0x1p-7f}, {0}, 0};
        case tensor_type::int16: return quantization{{0x1p-15f}, {0}, 0};
        default: return std::nullopt;
    }
}

namespace detail {

/// Ops whose integer kernels give the output the levels of their data
/// inputs unchanged, so the output must have the inputs' qparams: input 0
/// for most, every input for CONCATENATION, MINIMUM and MAXIMUM. GATHER's indices and the shape,
/// permutation, begin, size, stride and axis inputs of the others are int32
/// operands without qparams.
inline bool is_data_movement(std::int32_t code) {
    switch (static_cast<builtin_operator>(code)) {
        case builtin_operator::reshape:
        case builtin_operator::transpose:
        case builtin_operator::slice:
        case builtin_operator::strided_slice:
        case builtin_operator::gather:
        case builtin_operator::expand_dims:
        case builtin_operator::squeeze:
        case builtin_operator::average_pool_2d:
        case builtin_operator::minimum:
        case builtin_operator::maximum:
        case builtin_operator::concatenation: return true;
        default: return false;
    }
}

/// True when `a` and `b` have the same scales (bit for bit, so -0.0 differs
/// from 0.0) and zero points. quantized_dimension counts only for
/// per-channel qparams, since readers ignore it for a single scale.
inline bool same_qparams(const quantization& a, const quantization& b) {
    if (a.scale.size() != b.scale.size() || a.zero_point != b.zero_point) return false;
    for (std::size_t i = 0; i < a.scale.size(); ++i) {
        if (std::bit_cast<std::uint32_t>(a.scale[i]) != std::bit_cast<std::uint32_t>(b.scale[i])) return false;
    }
    return a.scale.size() <= 1 || a.quantized_dimension == b.quantized_dimension;
}

template <class T>
std::string list_text(const std::vector<T>& values) {
    std::string text = "[";
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (i > 0) text += ", ";
        if constexpr (std::is_integral_v<T>) {
            text += std::to_string(values[i]);
        } else {
            text += to_text(values[i]);
        }
    }
    return text + "]";
}

/// Describes why `code` needs equal qparams, for the messages.
inline std::string copy_reason(std::int32_t code) {
    if (static_cast<builtin_operator>(code) == builtin_operator::average_pool_2d) {
        return "its integer kernel averages levels without rescaling";
    }
    return "it copies bytes";
}

/// Qparams as a message shows them, for example "scale [0.0078125] zero point [128]".
inline std::string qparams_text(const std::optional<quantization>& q) {
    if (!q) return "no qparams (float)";
    std::string text = "scale " + list_text(q->scale) + " zero point " + list_text(q->zero_point);
    if (q->scale.size() > 1) text += " on dimension " + std::to_string(q->quantized_dimension);
    return text;
}

inline std::string type_text(tensor_type type) {
    const auto name = type_name(type);
    return name ? std::string(*name) : "type " + std::to_string(static_cast<int>(type));
}

/// Tensor `index` of `g`, or nullptr for -1 or an index out of range, which validate() reports.
inline const tensor* tensor_or_null(const subgraph& g, std::int32_t index) {
    if (index < 0 || static_cast<std::size_t>(index) >= g.tensors.size()) return nullptr;
    return &g.tensors[static_cast<std::size_t>(index)];
}

/// Checks one data input of a data-movement op against its output.
inline void check_copy(const std::string& at, std::int32_t code, const tensor& in, const tensor& out,
                       std::vector<std::string>& violations) {
    if (!in.quant && !out.quant) return;
    const std::string names = "input \"" + in.name + "\" (" + type_text(in.type) + ") and output \"" + out.name +
                              "\" (" + type_text(out.type) + ")";
    if (in.type != out.type) {
        violations.push_back(at + ": " + names + " differ in type, but " + copy_reason(code) +
                             ", so it cannot convert between types; insert a QUANTIZE or DEQUANTIZE to change the type");
        return;
    }
    if (in.quant.has_value() != out.quant.has_value() || !same_qparams(*in.quant, *out.quant)) {
        violations.push_back(at + ": " + names + " need identical qparams because " + copy_reason(code) +
                             ", but the input has " + qparams_text(in.quant) + " and the output has " +
                             qparams_text(out.quant) + "; give the output the input's qparams, or insert a QUANTIZE "
                             "to requantize");
    }
}

/// Appends the violations of the rules that apply to every runtime.
inline void check_data_movement(const std::string& at, const subgraph& g,
                                const operator_node& node, std::int32_t code, std::vector<std::string>& violations) {
    if (!is_data_movement(code) || node.outputs.empty()) return;
    const tensor* out = tensor_or_null(g, node.outputs[0]);
    if (out == nullptr) return;

    // CONCATENATION copies every input, and MINIMUM / MAXIMUM pick levels from
    // both; the others copy input 0 only.
    const auto op = static_cast<builtin_operator>(code);
    const bool every_input =
        op == builtin_operator::concatenation || op == builtin_operator::minimum || op == builtin_operator::maximum;
    const std::size_t data_inputs = every_input ? node.inputs.size() : std::min<std::size_t>(node.inputs.size(), 1);
    for (std::size_t i = 0; i < data_inputs; ++i) {
        const tensor* in = tensor_or_null(g, node.inputs[i]);
        if (in != nullptr) check_copy(at, code, *in, *out, violations);
    }
}

/// Appends the violations of the TFLite-only rules for one operator.
inline void check_tflite_operator(const std::string& at, const std::string& op, const subgraph& g,
                                  const operator_node& node, std::int32_t code, std::vector<std::string>& violations) {
    if (code < 0) {
        violations.push_back(at + ": " + op + " (code " + std::to_string(code) +
                             ") is a Circle-only operator that TFLite and Arm NN cannot run; express it with builtin "
                             "TFLite ops, or turn off tflite_compatible to target ONE runtimes");
    }

    const auto kind = static_cast<builtin_operator>(code);
    if (!node.outputs.empty()) {
        const tensor* out = tensor_or_null(g, node.outputs[0]);
        const auto fixed = out != nullptr ? fixed_output_qparams(kind, out->type) : std::nullopt;
        if (fixed && out->quant && !same_qparams(*out->quant, *fixed)) {
            violations.push_back(at + ": output \"" + out->name + "\" (" + type_text(out->type) + ") has " +
                                 qparams_text(out->quant) + ", but TFLite's " + op + " kernel requires " +
                                 qparams_text(fixed) + "; set the output's qparams to fixed_output_qparams(), or "
                                 "turn off tflite_compatible to keep the calibrated ones");
        }
    }

    if (kind != builtin_operator::fully_connected || node.inputs.size() < 2) return;
    const tensor* x = tensor_or_null(g, node.inputs[0]);
    const tensor* w = tensor_or_null(g, node.inputs[1]);
    if (x == nullptr || w == nullptr || !w->quant) return;
    if (x->type == tensor_type::uint8 && w->quant->scale.size() > 1) {
        violations.push_back(at + ": weights \"" + w->name + "\" have " + std::to_string(w->quant->scale.size()) +
                             " per-channel scales, but TFLite's uint8 FULLY_CONNECTED (input \"" + x->name +
                             "\") needs per-tensor weights; quantize the weights per tensor, or turn off "
                             "tflite_compatible");
    }
    if (x->type == tensor_type::int16 && w->type != tensor_type::int8) {
        violations.push_back(at + ": weights \"" + w->name + "\" are " + type_text(w->type) +
                             ", but TFLite's int16 FULLY_CONNECTED (input \"" + x->name +
                             "\") needs INT8 weights; quantize the weights to int8, or turn off tflite_compatible");
    }
}

/// Appends a violation for each tensor of a Circle-only type (negative TensorType, such as UINT4).
inline void check_tflite_types(const std::string& where, const subgraph& g, std::vector<std::string>& violations) {
    for (const tensor& t : g.tensors) {
        if (static_cast<int>(t.type) >= 0) continue;
        violations.push_back(where + ", tensor \"" + t.name + "\": " + type_text(t.type) + " (type " +
                             std::to_string(static_cast<int>(t.type)) +
                             ") is a Circle-only type that TFLite and Arm NN cannot read; store it as UINT8 or "
                             "INT8, or turn off tflite_compatible");
    }
}

}  // namespace detail

/// Lists every runtime-constraint violation of `m`, one message each, in
/// subgraph and operator order; an empty list means the model passes.
///
/// Rules for every runtime:
/// - RESHAPE, TRANSPOSE, SLICE, STRIDED_SLICE, GATHER (params input 0 only),
///   EXPAND_DIMS, SQUEEZE and CONCATENATION copy bytes, and AVERAGE_POOL_2D
///   averages levels without rescaling. So each data input and the output
///   have the same type and bit-identical qparams, and are either both
///   quantized or both float.
/// - For CONCATENATION this covers uint8 too, although TFLite's uint8 kernel
///   rescales inputs whose qparams differ. An exporter that copies qparams
///   through concatenations, as TICO's propagation does, never needs that
///   rescaling, so a difference points to a quantization error. TFLite's
///   int8 kernel rejects a difference, and its int16 kernel copies the
///   levels unchanged, which gives wrong values.
/// - INT16 zero points of 0 are checked by validate(), not here.
///
/// With `options.tflite_compatible`, also:
/// - TANH, LOGISTIC and SOFTMAX outputs have fixed_output_qparams();
/// - FULLY_CONNECTED with a uint8 input has per-tensor weights, and with an
///   int16 input has INT8 weights;
/// - no Circle-only ops (negative codes: RMS_NORM, ROPE, ...) and no
///   Circle-only tensor types (negative types: UINT4, ...).
///
/// Operators whose opcode index or tensor indices do not exist are skipped,
/// because validate() rejects them.
///
/// Example:
/// @code
///   for (const std::string& v : wrapq::circle::constraint_violations(m, {.tflite_compatible = true})) {
///       std::cerr << v << '\n';
///   }
/// @endcode
// TODO: the TFLite rules leave out kernels that do not exist for a type,
// such as int16 DIV or GELU, uint8 BATCH_MATMUL and quantized SQRT, RSQRT or POW.
inline std::vector<std::string> constraint_violations(const model& m, const constraint_options& options = {}) {
    std::vector<std::string> violations;
    for (const subgraph& g : m.subgraphs) {
        const std::string where = "subgraph \"" + g.name + "\"";
        for (std::size_t o = 0; o < g.operators.size(); ++o) {
            const operator_node& node = g.operators[o];
            if (node.opcode_index >= m.operator_codes.size()) continue;
            const std::int32_t code = m.operator_codes[node.opcode_index].code;
            const std::string op = op_name(code);
            const std::string at = where + ", operator " + std::to_string(o) + " (" + op + ")";

            detail::check_data_movement(at, g, node, code, violations);
            if (options.tflite_compatible) detail::check_tflite_operator(at, op, g, node, code, violations);
        }
        if (options.tflite_compatible) detail::check_tflite_types(where, g, violations);
    }
    return violations;
}

/// Throws runtime_constraint_error (a graph_error) whose message lists every
/// violation that constraint_violations() finds; returns when there are none.
///
/// Example:
/// @code
///   wrapq::circle::check_runtime_constraints(builder.get(), {.tflite_compatible = true});
///   wrapq::circle::write_model(builder.get(), "model.circle");
/// @endcode
inline void check_runtime_constraints(const model& m, const constraint_options& options = {}) {
    std::vector<std::string> violations = constraint_violations(m, options);
    if (violations.empty()) return;

    std::string message = std::to_string(violations.size()) + " runtime-constraint violation" +
                          (violations.size() == 1 ? "" : "s") +
                          (options.tflite_compatible ? " (TFLite-compatible rules)" : "") + ":";
    for (const std::string& v : violations) message += "\n  " + v;
    throw runtime_constraint_error(message, std::move(violations));
}

}  // namespace wrapq::circle
