// Circle op emitters: each operator kind in a one-op model, in uint8 and int16
// variants, written and read back with its tensors, qparams (as float bits),
// operator code and option values. The expected codes and union indices are
// typed in from the op table of the Circle format (BuiltinOperator and
// BuiltinOptions of circle_schema.fbs), not taken from schema.hpp. In the
// circle_verify build the official verifier checks every file, and the names
// of the codes and tables are also looked up in the flatc-generated enums.
#include "../circle_verify/sample_models.hpp"
#include "test_support.hpp"

#include <wrapq/circle.hpp>

#include <boost/test/unit_test.hpp>

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

using namespace wrapq::circle;
using circle_samples::per_tensor;
using wrapq_test::bits;

namespace {

/// Numbers and names that the Circle schema gives one operator kind.
struct op_spec {
    std::string name;
    std::int32_t code;
    std::uint8_t union_type;  // 0 when the op has no option table
    std::string table;        // BuiltinOptions name, "NONE" when the op has no option table
};

/// One tensor of a one-op model: a constant when `bytes` is non-empty, else a graph input or output.
/// A tensor without qparams is marked keep_float, as int32 operands and float ends of (DE)QUANTIZE are.
struct operand {
    std::string name;
    std::vector<std::int32_t> shape;
    tensor_type type = tensor_type::float32;
    std::optional<quantization> quant = std::nullopt;
    std::vector<std::uint8_t> bytes = {};
};

/// The activation types of the quantized variants.
constexpr std::array<tensor_type, 2> activation_types{tensor_type::uint8, tensor_type::int16};

std::string type_text(tensor_type type) { return std::string(*type_name(type)); }

/// Little-endian bytes of `levels` at the width of `type` (1, 2, 4 or 8 bytes).
std::vector<std::uint8_t> level_bytes(tensor_type type, const std::vector<std::int64_t>& levels) {
    const int width = element_bits(type) / 8;
    std::vector<std::uint8_t> bytes;
    for (std::int64_t level : levels) {
        const auto value = static_cast<std::uint64_t>(level);
        for (int b = 0; b < width; ++b) bytes.push_back(static_cast<std::uint8_t>(value >> (8 * b)));
    }
    return bytes;
}

/// Per-tensor activation qparams covering [-range, range]: asymmetric
/// (zero point 128) for uint8, symmetric (zero point 0) for int16.
quantization activation_qparams(tensor_type type, float range) {
    if (type == tensor_type::uint8) return per_tensor(2.0f * range / 255.0f, 128);
    return per_tensor(range / 32767.0f, 0);
}

operand int32_operand(std::string name, const std::vector<std::int32_t>& values) {
    return {std::move(name), {static_cast<std::int32_t>(values.size())}, tensor_type::int32, std::nullopt,
            circle_samples::int32_bytes(values)};
}

/// Builds a model with the single operator `kind` from `inputs` to `outputs`.
/// Operands without bytes that are not outputs become graph inputs.
model one_op(const op& kind, const std::vector<operand>& inputs, const std::vector<operand>& outputs) {
    model_builder b;
    const auto add = [&b](const operand& o) {
        const bool keep_float = !o.quant.has_value();
        if (o.bytes.empty()) return b.add_tensor({o.name, o.shape, o.type, 0, o.quant, keep_float});
        const std::int32_t index = b.add_constant(o.name, o.shape, o.type, o.bytes, o.quant);
        b.tensor_at(index).keep_float = keep_float;
        return index;
    };

    std::vector<std::int32_t> input_indices;
    std::vector<std::int32_t> graph_inputs;
    for (const operand& o : inputs) {
        input_indices.push_back(add(o));
        if (o.bytes.empty()) graph_inputs.push_back(input_indices.back());
    }
    std::vector<std::int32_t> output_indices;
    for (const operand& o : outputs) output_indices.push_back(add(o));

    b.add_operator(kind, input_indices, output_indices);
    b.set_inputs(graph_inputs);
    b.set_outputs(output_indices);
    b.add_signature("serving_default");
    return b.get();
}

void check_qparams(const std::optional<quantization>& got, const std::optional<quantization>& want) {
    BOOST_TEST_REQUIRE(got.has_value() == want.has_value());
    if (!want) return;
    BOOST_TEST_REQUIRE(got->scale.size() == want->scale.size());
    for (std::size_t c = 0; c < want->scale.size(); ++c) BOOST_TEST(bits(got->scale[c]) == bits(want->scale[c]));
    BOOST_TEST(got->zero_point == want->zero_point, boost::test_tools::per_element());
    BOOST_TEST(got->quantized_dimension == want->quantized_dimension);
}

/// Names of the operator code and option table as the flatc-generated code
/// of the official schema spells them; checked only in the circle_verify build.
void check_official_names(const std::vector<std::uint8_t>& bytes, const op_spec& spec) {
#ifdef WRAPQ_CIRCLE_OFFICIAL_VERIFIER
    const ::circle::Model* m = ::circle::GetModel(bytes.data());
    BOOST_TEST(std::string(::circle::EnumNameBuiltinOperator(m->operator_codes()->Get(0)->builtin_code())) == spec.name);
    const auto* node = m->subgraphs()->Get(0)->operators()->Get(0);
    BOOST_TEST(std::string(::circle::EnumNameBuiltinOptions(node->builtin_options_type())) == spec.table);
    for (const auto* t : *m->subgraphs()->Get(0)->tensors()) {
        BOOST_TEST_CONTEXT("tensor " << t->name()->str()) {
            const auto type = static_cast<tensor_type>(t->type());
            BOOST_TEST(std::string(::circle::EnumNameTensorType(t->type())) == type_text(type));
        }
    }
#else
    (void)bytes;
    (void)spec;
#endif
}

/// Writes `m`, reads it back and checks the operator code against `spec`,
/// every tensor (qparams as float bits) and buffer, and the operator's wiring
/// and options. Returns the options read back for op-specific checks.
builtin_options check_round_trip(const model& m, const op_spec& spec) {
    const std::vector<std::uint8_t> bytes = circle_samples::emit(m);
    const read_model_result file = read_model(bytes);
    check_official_names(bytes, spec);

    BOOST_TEST_REQUIRE(file.opcode_names.size() == 1u);
    BOOST_TEST(file.opcode_names[0] == spec.name);
    BOOST_TEST(file.builtin_codes[0] == spec.code);
    BOOST_TEST(static_cast<int>(file.deprecated_builtin_codes[0]) == (spec.code < 127 ? spec.code : 127));
    BOOST_TEST(file.m.operator_codes[0].version == 1);

    BOOST_TEST_REQUIRE(file.m.subgraphs.size() == 1u);
    const subgraph& got = file.m.subgraphs[0];
    const subgraph& want = m.subgraphs[0];
    BOOST_TEST_REQUIRE(got.tensors.size() == want.tensors.size());
    for (std::size_t i = 0; i < want.tensors.size(); ++i) {
        const tensor& g = got.tensors[i];
        const tensor& w = want.tensors[i];
        BOOST_TEST_CONTEXT("tensor " << i << " \"" << w.name << "\"") {
            BOOST_TEST(g.name == w.name);
            BOOST_TEST(g.shape == w.shape, boost::test_tools::per_element());
            BOOST_TEST(type_text(g.type) == type_text(w.type));
            BOOST_TEST_REQUIRE(g.buffer == w.buffer);
            BOOST_TEST_REQUIRE(g.buffer < file.m.buffers.size());
            BOOST_TEST((file.m.buffers[g.buffer] == m.buffers[w.buffer]));
            check_qparams(g.quant, w.quant);
        }
    }
    BOOST_TEST(got.inputs == want.inputs, boost::test_tools::per_element());
    BOOST_TEST(got.outputs == want.outputs, boost::test_tools::per_element());

    BOOST_TEST_REQUIRE(got.operators.size() == 1u);
    const operator_node& node = got.operators[0];
    BOOST_TEST(node.inputs == want.operators[0].inputs, boost::test_tools::per_element());
    BOOST_TEST(node.outputs == want.operators[0].outputs, boost::test_tools::per_element());
    BOOST_TEST(static_cast<int>(node.options.union_type) == static_cast<int>(spec.union_type));
    BOOST_TEST((node.options == want.operators[0].options));
    return node.options;
}

/// Round trip of a one-input, one-output op with the same shape, in uint8 and
/// int16. `output_q` gives the output qparams for each activation type.
void check_unary(const op& kind, const op_spec& spec, const std::function<quantization(tensor_type)>& output_q) {
    for (const tensor_type type : activation_types) {
        BOOST_TEST_CONTEXT(type_text(type)) {
            const model m = one_op(kind, {{"x", {1, 2, 3}, type, activation_qparams(type, 4.0f)}},
                                   {{"y", {1, 2, 3}, type, output_q(type)}});
            check_round_trip(m, spec);
        }
    }
}

/// Round trip of an elementwise binary op with a constant second operand.
builtin_options check_binary(const op& kind, const op_spec& spec, tensor_type type) {
    const quantization q = activation_qparams(type, 2.0f);
    const std::int64_t zp = q.zero_point[0];
    const model m = one_op(kind,
                           {{"a", {1, 3}, type, q},
                            {"b", {1, 3}, type, q, level_bytes(type, {zp + 10, zp - 20, zp + 30})}},
                           {{"c", {1, 3}, type, activation_qparams(type, 4.0f)}});
    return check_round_trip(m, spec);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(circle_ops)

BOOST_AUTO_TEST_CASE(fully_connected_uint8) {
    // x scale 1/128 zp 128, W per-tensor scale 2/255 zp 128, bias int32 with scale x * W.
    const float w_scale = 2.0f / 255;
    const model m = one_op(ops::fully_connected(),
                           {{"x", {1, 4}, tensor_type::uint8, per_tensor(1.0f / 128, 128)},
                            {"W", {3, 4}, tensor_type::uint8, per_tensor(w_scale, 128),
                             level_bytes(tensor_type::uint8, {141, 153, 166, 179, 64, 166, 39, 179, 255, 128, 1, 192})},
                            {"bias", {3}, tensor_type::int32, per_tensor(w_scale / 128, 0),
                             level_bytes(tensor_type::int32, {163, -326, 490})}},
                           {{"fc", {1, 3}, tensor_type::uint8, per_tensor(4.0f / 255, 128)}});
    const builtin_options options = check_round_trip(m, {"FULLY_CONNECTED", 9, 8, "FullyConnectedOptions"});
    BOOST_TEST(static_cast<int>(options.get<std::int8_t>("fused_activation_function")) == 0);
    BOOST_TEST(static_cast<int>(options.get<std::int8_t>("weights_format")) == 0);
    BOOST_TEST(options.get<bool>("keep_num_dims") == true);
    BOOST_TEST(options.get<bool>("asymmetric_quantize_inputs") == false);
    BOOST_TEST(static_cast<int>(options.get<std::int8_t>("quantized_bias_type")) == 0);
}

BOOST_AUTO_TEST_CASE(fully_connected_int16) {
    // int16 activations, int8 per-channel weights (dimension 0), int64 per-channel bias.
    const quantization w_q{{0.01f, 0.02f, 0.04f}, {0, 0, 0}, 0};
    const float x_scale = 1.0f / 32767;
    const quantization bias_q{{x_scale * 0.01f, x_scale * 0.02f, x_scale * 0.04f}, {0, 0, 0}, 0};
    const model m = one_op(ops::fully_connected(activation::relu, false),
                           {{"x", {1, 4}, tensor_type::int16, per_tensor(x_scale, 0)},
                            {"W", {3, 4}, tensor_type::int8, w_q,
                             level_bytes(tensor_type::int8, {10, 20, 30, 40, -25, 30, -35, 40, 25, 0, -25, 13})},
                            {"bias", {3}, tensor_type::int64, bias_q,
                             level_bytes(tensor_type::int64, {32767, -32767, 24575})}},
                           {{"fc", {1, 3}, tensor_type::int16, per_tensor(2.0f / 32767, 0)}});
    const builtin_options options = check_round_trip(m, {"FULLY_CONNECTED", 9, 8, "FullyConnectedOptions"});
    BOOST_TEST(static_cast<int>(options.get<std::int8_t>("fused_activation_function")) == 1);  // RELU
    BOOST_TEST(options.get<bool>("keep_num_dims") == false);
}

BOOST_AUTO_TEST_CASE(batch_matmul_both_types) {
    for (const tensor_type type : activation_types) {
        BOOST_TEST_CONTEXT(type_text(type)) {
            // b is [1, 2, 3] and adjoint_rhs transposes it to [1, 3, 2].
            const model m = one_op(ops::batch_matmul(false, true),
                                   {{"a", {1, 2, 3}, type, activation_qparams(type, 1.0f)},
                                    {"b", {1, 2, 3}, type, activation_qparams(type, 1.0f)}},
                                   {{"ab", {1, 2, 2}, type, activation_qparams(type, 3.0f)}});
            const builtin_options options = check_round_trip(m, {"BATCH_MATMUL", 126, 101, "BatchMatMulOptions"});
            BOOST_TEST(options.get<bool>("adjoint_lhs") == false);
            BOOST_TEST(options.get<bool>("adjoint_rhs") == true);
            BOOST_TEST(options.get<bool>("asymmetric_quantize_inputs") == false);
        }
    }
}

BOOST_AUTO_TEST_CASE(add_sub_mul_div) {
    for (const tensor_type type : activation_types) {
        BOOST_TEST_CONTEXT(type_text(type)) {
            const builtin_options add = check_binary(ops::add(activation::relu6), {"ADD", 0, 11, "AddOptions"}, type);
            BOOST_TEST(static_cast<int>(add.get<std::int8_t>("fused_activation_function")) == 3);  // RELU6
            BOOST_TEST(add.get<bool>("pot_scale_int16") == true);

            const builtin_options sub = check_binary(ops::sub(), {"SUB", 41, 28, "SubOptions"}, type);
            BOOST_TEST(static_cast<int>(sub.get<std::int8_t>("fused_activation_function")) == 0);
            BOOST_TEST(sub.get<bool>("pot_scale_int16") == true);

            const builtin_options mul = check_binary(ops::mul(activation::relu), {"MUL", 18, 21, "MulOptions"}, type);
            BOOST_TEST(static_cast<int>(mul.get<std::int8_t>("fused_activation_function")) == 1);

            const builtin_options div = check_binary(ops::div(), {"DIV", 42, 29, "DivOptions"}, type);
            BOOST_TEST(static_cast<int>(div.get<std::int8_t>("fused_activation_function")) == 0);
        }
    }
}

BOOST_AUTO_TEST_CASE(pow_with_float_exponent) {
    for (const tensor_type type : activation_types) {
        BOOST_TEST_CONTEXT(type_text(type)) {
            // The exponent is a float32 scalar constant without qparams, as TICO writes scalar operands.
            const model m = one_op(ops::pow(),
                                   {{"x", {1, 3}, type, activation_qparams(type, 2.0f)},
                                    {"exponent", {}, tensor_type::float32, std::nullopt, circle_samples::float_bytes({2.0f})}},
                                   {{"y", {1, 3}, type, activation_qparams(type, 4.0f)}});
            const builtin_options options = check_round_trip(m, {"POW", 78, 56, "PowOptions"});
            BOOST_TEST(options.values.empty());
        }
    }
}

BOOST_AUTO_TEST_CASE(activations_without_options) {
    const auto fixed = [](builtin_operator code) {
        return [code](tensor_type type) { return *fixed_output_qparams(code, type); };
    };
    check_unary(ops::tanh(), {"TANH", 28, 0, "NONE"}, fixed(builtin_operator::tanh));
    check_unary(ops::logistic(), {"LOGISTIC", 14, 0, "NONE"}, fixed(builtin_operator::logistic));
    const auto positive = [](tensor_type type) { return activation_qparams(type, 8.0f); };
    check_unary(ops::rsqrt(), {"RSQRT", 76, 0, "NONE"}, positive);
    check_unary(ops::sqrt(), {"SQRT", 75, 0, "NONE"}, positive);
}

BOOST_AUTO_TEST_CASE(fixed_qparams_bits_round_trip) {
    // TANH uint8 output: scale 2^-7 (bits 0x3C000000), zero point 128.
    const model tanh8 = one_op(ops::tanh(), {{"x", {4}, tensor_type::uint8, per_tensor(0.05f, 128)}},
                               {{"y", {4}, tensor_type::uint8, per_tensor(0x1p-7f, 128)}});
    const read_model_result file = read_model(circle_samples::emit(tanh8));
    BOOST_TEST(bits(file.m.subgraphs[0].tensors[1].quant->scale[0]) == 0x3C000000u);
    BOOST_TEST(file.m.subgraphs[0].tensors[1].quant->zero_point[0] == 128);

    // LOGISTIC int16 output: scale 2^-15 (bits 0x38000000), zero point 0.
    const model logistic16 = one_op(ops::logistic(), {{"x", {4}, tensor_type::int16, per_tensor(0.001f, 0)}},
                                    {{"y", {4}, tensor_type::int16, per_tensor(0x1p-15f, 0)}});
    const read_model_result file16 = read_model(circle_samples::emit(logistic16));
    BOOST_TEST(bits(file16.m.subgraphs[0].tensors[1].quant->scale[0]) == 0x38000000u);
    BOOST_TEST(file16.m.subgraphs[0].tensors[1].quant->zero_point[0] == 0);
}

BOOST_AUTO_TEST_CASE(neg_round_trip) {
    const auto same = [](tensor_type type) { return activation_qparams(type, 4.0f); };
    check_unary(ops::neg(), {"NEG", 59, 42, "NegOptions"}, same);
}

BOOST_AUTO_TEST_CASE(gelu_approximate_flag) {
    const auto out = [](tensor_type type) { return activation_qparams(type, 4.0f); };
    for (const bool approximate : {true, false}) {
        BOOST_TEST_CONTEXT("approximate " << approximate) {
            for (const tensor_type type : activation_types) {
                BOOST_TEST_CONTEXT(type_text(type)) {
                    const model m = one_op(ops::gelu(approximate), {{"x", {1, 3}, type, activation_qparams(type, 4.0f)}},
                                           {{"y", {1, 3}, type, out(type)}});
                    const builtin_options options = check_round_trip(m, {"GELU", 150, 116, "GeluOptions"});
                    BOOST_TEST(options.get<bool>("approximate") == approximate);
                }
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(softmax_beta_bits) {
    for (const tensor_type type : activation_types) {
        BOOST_TEST_CONTEXT(type_text(type)) {
            const model m = one_op(ops::softmax(0.125f), {{"x", {1, 4}, type, activation_qparams(type, 8.0f)}},
                                   {{"p", {1, 4}, type, *fixed_output_qparams(builtin_operator::softmax, type)}});
            const builtin_options options = check_round_trip(m, {"SOFTMAX", 25, 9, "SoftmaxOptions"});
            BOOST_TEST(bits(options.get<float>("beta")) == 0x3E000000u);  // 0.125
        }
    }
}

BOOST_AUTO_TEST_CASE(rms_norm_float_and_quantized) {
    // luci-interpreter runs RMS_NORM in float32 only, but the file format accepts quantized tensors too.
    const std::vector<std::uint8_t> gamma = circle_samples::float_bytes({1.0f, 0.5f, 2.0f});
    const model f = one_op(ops::rms_norm(1e-5f),
                           {{"x", {1, 2, 3}}, {"gamma", {3}, tensor_type::float32, std::nullopt, gamma}},
                           {{"y", {1, 2, 3}}});
    const builtin_options float_options = check_round_trip(f, {"RMS_NORM", -6, 250, "RmsNormOptions"});
    BOOST_TEST(bits(float_options.get<float>("epsilon")) == bits(1e-5f));

    for (const tensor_type type : activation_types) {
        BOOST_TEST_CONTEXT(type_text(type)) {
            const model m = one_op(ops::rms_norm(),
                                   {{"x", {1, 2, 3}, type, activation_qparams(type, 4.0f)},
                                    {"gamma", {3}, tensor_type::float32, std::nullopt, gamma}},
                                   {{"y", {1, 2, 3}, type, activation_qparams(type, 8.0f)}});
            const builtin_options options = check_round_trip(m, {"RMS_NORM", -6, 250, "RmsNormOptions"});
            BOOST_TEST(bits(options.get<float>("epsilon")) == bits(1e-6f));
        }
    }
}

BOOST_AUTO_TEST_CASE(reshape_and_transpose) {
    for (const tensor_type type : activation_types) {
        BOOST_TEST_CONTEXT(type_text(type)) {
            const quantization q = activation_qparams(type, 4.0f);
            const model r = one_op(ops::reshape({1, 6}), {{"x", {1, 2, 3}, type, q}, int32_operand("shape", {1, 6})},
                                   {{"y", {1, 6}, type, q}});
            const builtin_options reshape = check_round_trip(r, {"RESHAPE", 22, 17, "ReshapeOptions"});
            BOOST_TEST(reshape.get<std::vector<std::int32_t>>("new_shape") == (std::vector<std::int32_t>{1, 6}),
                       boost::test_tools::per_element());

            const model t = one_op(ops::transpose(), {{"x", {1, 2, 3}, type, q}, int32_operand("perm", {0, 2, 1})},
                                   {{"y", {1, 3, 2}, type, q}});
            const builtin_options transpose = check_round_trip(t, {"TRANSPOSE", 39, 26, "TransposeOptions"});
            BOOST_TEST(transpose.values.empty());
        }
    }
}

BOOST_AUTO_TEST_CASE(concatenation_axis) {
    for (const tensor_type type : activation_types) {
        BOOST_TEST_CONTEXT(type_text(type)) {
            const quantization q = activation_qparams(type, 4.0f);
            const model m = one_op(ops::concatenation(-1), {{"a", {1, 2}, type, q}, {"b", {1, 3}, type, q}},
                                   {{"ab", {1, 5}, type, q}});
            const builtin_options options = check_round_trip(m, {"CONCATENATION", 2, 10, "ConcatenationOptions"});
            BOOST_TEST(options.get<std::int32_t>("axis") == -1);
            BOOST_TEST(static_cast<int>(options.get<std::int8_t>("fused_activation_function")) == 0);
        }
    }
}

BOOST_AUTO_TEST_CASE(slice_inputs) {
    for (const tensor_type type : activation_types) {
        BOOST_TEST_CONTEXT(type_text(type)) {
            const quantization q = activation_qparams(type, 4.0f);
            const model m = one_op(ops::slice(),
                                   {{"x", {1, 4, 6}, type, q}, int32_operand("begin", {0, 1, 2}),
                                    int32_operand("size", {1, 2, -1})},
                                   {{"y", {1, 2, 4}, type, q}});
            const builtin_options options = check_round_trip(m, {"SLICE", 65, 48, "SliceOptions"});
            BOOST_TEST(options.values.empty());
            BOOST_TEST(m.subgraphs[0].operators[0].inputs.size() == 3u);
        }
    }
}

BOOST_AUTO_TEST_CASE(strided_slice_masks) {
    for (const tensor_type type : activation_types) {
        BOOST_TEST_CONTEXT(type_text(type)) {
            const quantization q = activation_qparams(type, 4.0f);
            // begin_mask 1 ignores begin[0], end_mask 2 ignores end[1], shrink_axis_mask 4 drops axis 2.
            const model m = one_op(ops::strided_slice(1, 2, 4),
                                   {{"x", {2, 4, 6}, type, q}, int32_operand("begin", {1, 0, 3}),
                                    int32_operand("end", {2, 3, 4}), int32_operand("strides", {1, 2, 1})},
                                   {{"y", {2, 2}, type, q}});
            const builtin_options options = check_round_trip(m, {"STRIDED_SLICE", 45, 32, "StridedSliceOptions"});
            BOOST_TEST(options.get<std::int32_t>("begin_mask") == 1);
            BOOST_TEST(options.get<std::int32_t>("end_mask") == 2);
            BOOST_TEST(options.get<std::int32_t>("ellipsis_mask") == 0);
            BOOST_TEST(options.get<std::int32_t>("new_axis_mask") == 0);
            BOOST_TEST(options.get<std::int32_t>("shrink_axis_mask") == 4);
            BOOST_TEST(options.get<bool>("offset") == false);
        }
    }
}

BOOST_AUTO_TEST_CASE(strided_slice_defaults) {
    const quantization q = activation_qparams(tensor_type::uint8, 1.0f);
    const model m = one_op(ops::strided_slice(),
                           {{"x", {4}, tensor_type::uint8, q}, int32_operand("begin", {1}), int32_operand("end", {3}),
                            int32_operand("strides", {1})},
                           {{"y", {2}, tensor_type::uint8, q}});
    const builtin_options options = check_round_trip(m, {"STRIDED_SLICE", 45, 32, "StridedSliceOptions"});
    BOOST_TEST(options.get<std::int32_t>("begin_mask") == 0);
    BOOST_TEST(options.get<std::int32_t>("end_mask") == 0);
    BOOST_TEST(options.get<std::int32_t>("shrink_axis_mask") == 0);
}

BOOST_AUTO_TEST_CASE(gather_params_and_indices) {
    for (const tensor_type type : activation_types) {
        BOOST_TEST_CONTEXT(type_text(type)) {
            const quantization q = activation_qparams(type, 4.0f);
            const std::int64_t zp = q.zero_point[0];
            const model m = one_op(ops::gather(0),
                                   {{"table", {3, 2}, type, q, level_bytes(type, {zp, zp + 1, zp - 2, zp + 3, zp + 4, zp - 5})},
                                    {"ids", {1, 2}, tensor_type::int32}},
                                   {{"rows", {1, 2, 2}, type, q}});
            const builtin_options options = check_round_trip(m, {"GATHER", 36, 23, "GatherOptions"});
            BOOST_TEST(options.get<std::int32_t>("axis") == 0);
            BOOST_TEST(options.get<std::int32_t>("batch_dims") == 0);
        }
    }
}

BOOST_AUTO_TEST_CASE(mean_keep_dims) {
    for (const bool keep_dims : {true, false}) {
        for (const tensor_type type : activation_types) {
            BOOST_TEST_CONTEXT(type_text(type) << ", keep_dims " << keep_dims) {
                const std::vector<std::int32_t> out_shape = keep_dims ? std::vector<std::int32_t>{1, 2, 1}
                                                                      : std::vector<std::int32_t>{1, 2};
                const model m = one_op(ops::mean(keep_dims),
                                       {{"x", {1, 2, 3}, type, activation_qparams(type, 4.0f)}, int32_operand("axes", {-1})},
                                       {{"y", out_shape, type, activation_qparams(type, 2.0f)}});
                const builtin_options options = check_round_trip(m, {"MEAN", 40, 27, "ReducerOptions"});
                BOOST_TEST(options.get<bool>("keep_dims") == keep_dims);
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(expand_dims_axis) {
    for (const tensor_type type : activation_types) {
        BOOST_TEST_CONTEXT(type_text(type)) {
            const quantization q = activation_qparams(type, 4.0f);
            const model m = one_op(ops::expand_dims(), {{"x", {2, 3}, type, q}, int32_operand("axis", {1})},
                                   {{"y", {2, 1, 3}, type, q}});
            const builtin_options options = check_round_trip(m, {"EXPAND_DIMS", 70, 52, "ExpandDimsOptions"});
            BOOST_TEST(options.values.empty());
        }
    }
}

BOOST_AUTO_TEST_CASE(quantize_and_dequantize) {
    for (const tensor_type type : activation_types) {
        BOOST_TEST_CONTEXT(type_text(type)) {
            const quantization q = activation_qparams(type, 4.0f);
            const model quant = one_op(ops::quantize(), {{"x", {1, 3}}}, {{"q", {1, 3}, type, q}});
            BOOST_TEST(check_round_trip(quant, {"QUANTIZE", 114, 89, "QuantizeOptions"}).values.empty());

            const model dequant = one_op(ops::dequantize(), {{"q", {1, 3}, type, q}}, {{"x", {1, 3}}});
            BOOST_TEST(check_round_trip(dequant, {"DEQUANTIZE", 6, 38, "DequantizeOptions"}).values.empty());
        }
    }
    // Requantization from uint8 to int16 is also a QUANTIZE.
    const model requant = one_op(ops::quantize(), {{"a", {1, 3}, tensor_type::uint8, activation_qparams(tensor_type::uint8, 4.0f)}},
                                 {{"b", {1, 3}, tensor_type::int16, activation_qparams(tensor_type::int16, 4.0f)}});
    check_round_trip(requant, {"QUANTIZE", 114, 89, "QuantizeOptions"});
}

#ifdef WRAPQ_CIRCLE_OFFICIAL_VERIFIER
// The option values of the new tables, read through the generated accessors instead of wrapq's reader.
BOOST_AUTO_TEST_CASE(new_options_through_official_accessors) {
    const quantization q = activation_qparams(tensor_type::int16, 4.0f);
    const model ss = one_op(ops::strided_slice(5, 3, 2),
                            {{"x", {2, 4, 6}, tensor_type::int16, q}, int32_operand("begin", {0, 0, 0}),
                             int32_operand("end", {2, 4, 1}), int32_operand("strides", {1, 1, 1})},
                            {{"y", {2, 4}, tensor_type::int16, q}});
    const std::vector<std::uint8_t> ss_bytes = circle_samples::emit(ss);
    const auto* ss_node = ::circle::GetModel(ss_bytes.data())->subgraphs()->Get(0)->operators()->Get(0);
    const auto* ss_options = ss_node->builtin_options_as_StridedSliceOptions();
    BOOST_TEST_REQUIRE(ss_options != nullptr);
    BOOST_TEST(ss_options->begin_mask() == 5);
    BOOST_TEST(ss_options->end_mask() == 3);
    BOOST_TEST(ss_options->ellipsis_mask() == 0);
    BOOST_TEST(ss_options->new_axis_mask() == 0);
    BOOST_TEST(ss_options->shrink_axis_mask() == 2);
    BOOST_TEST(!ss_options->offset());

    const model mean = one_op(ops::mean(true), {{"x", {1, 2, 3}, tensor_type::int16, q}, int32_operand("axes", {2})},
                              {{"y", {1, 2, 1}, tensor_type::int16, q}});
    const std::vector<std::uint8_t> mean_bytes = circle_samples::emit(mean);
    const auto* mean_node = ::circle::GetModel(mean_bytes.data())->subgraphs()->Get(0)->operators()->Get(0);
    BOOST_TEST_REQUIRE(mean_node->builtin_options_as_ReducerOptions() != nullptr);
    BOOST_TEST(mean_node->builtin_options_as_ReducerOptions()->keep_dims());

    for (const auto& [kind, type] : {std::pair{ops::slice(), ::circle::BuiltinOptions_SliceOptions},
                                     std::pair{ops::pow(), ::circle::BuiltinOptions_PowOptions},
                                     std::pair{ops::neg(), ::circle::BuiltinOptions_NegOptions},
                                     std::pair{ops::expand_dims(), ::circle::BuiltinOptions_ExpandDimsOptions}}) {
        BOOST_TEST(static_cast<int>(kind.options.union_type) == static_cast<int>(type));
    }
}
#endif

BOOST_AUTO_TEST_SUITE_END()
