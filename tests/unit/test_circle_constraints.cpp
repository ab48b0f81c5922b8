// Runtime-constraint checks. Data-movement ops keep their input qparams in
// every mode. The TFLite-compatible mode adds fixed TANH, LOGISTIC and
// SOFTMAX output qparams, FULLY_CONNECTED weight rules and no Circle-only
// ops or types. Each rule is shown accepted and rejected.
#include "../circle_verify/sample_models.hpp"
#include "test_support.hpp"

#include <wrapq/circle.hpp>
#include <wrapq/core/quantize.hpp>

#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

using namespace wrapq::circle;
using circle_samples::per_tensor;
using wrapq_test::bits;

namespace {

const constraint_options tflite{.tflite_compatible = true};

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

/// x -> `kind` -> y with extra int32 operands, e.g. a RESHAPE shape. The
/// input and output share `type`; a missing quant makes the tensor float32.
model copy_graph(const op& kind, tensor_type type, const std::optional<quantization>& in_q,
                 const std::optional<quantization>& out_q, const std::vector<std::vector<std::int32_t>>& int32_operands = {}) {
    model_builder b;
    const tensor_type in_type = in_q ? type : tensor_type::float32;
    const tensor_type out_type = out_q ? type : tensor_type::float32;
    const auto x = b.add_tensor({.name = "x", .shape = {1, 6}, .type = in_type, .quant = in_q, .keep_float = !in_q});
    std::vector<std::int32_t> inputs{x};
    for (std::size_t i = 0; i < int32_operands.size(); ++i) {
        inputs.push_back(b.add_int32_constant("operand" + std::to_string(i + 1), int32_operands[i]));
    }
    const auto y = b.add_tensor({.name = "y", .shape = {1, 6}, .type = out_type, .quant = out_q, .keep_float = !out_q});
    b.add_operator(kind, inputs, {y});
    b.set_inputs({x});
    b.set_outputs({y});
    return b.get();
}

/// x -> `kind` -> "act_out" with calibrated input qparams and output qparams `out_q`.
model activation_graph(const op& kind, tensor_type type, const quantization& out_q) {
    model_builder b;
    const quantization in_q = type == tensor_type::uint8 ? per_tensor(0.05f, 120) : per_tensor(0.0003f, 0);
    const auto x = b.add_tensor({.name = "act_in", .shape = {1, 4}, .type = type, .quant = in_q});
    const auto y = b.add_tensor({.name = "act_out", .shape = {1, 4}, .type = type, .quant = out_q});
    b.add_operator(kind, {x}, {y});
    b.set_inputs({x});
    b.set_outputs({y});
    return b.get();
}

/// FULLY_CONNECTED with input type `x_type` and weights of `w_type` with `w_q`.
model fc_graph(tensor_type x_type, tensor_type w_type, const quantization& w_q) {
    model_builder b;
    const quantization x_q = x_type == tensor_type::uint8 ? per_tensor(1.0f / 128, 128) : per_tensor(1.0f / 32767, 0);
    const auto x = b.add_tensor({.name = "x", .shape = {1, 4}, .type = x_type, .quant = x_q});
    const auto w = b.add_constant("W", {3, 4}, w_type, std::vector<std::uint8_t>(buffer_bytes(w_type, 12), 1), w_q);
    const auto y = b.add_tensor({.name = "y", .shape = {1, 3}, .type = x_type, .quant = x_q});
    b.add_operator(ops::fully_connected(), {x, w, -1}, {y});
    b.set_inputs({x});
    b.set_outputs({y});
    return b.get();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(circle_constraints)

BOOST_AUTO_TEST_CASE(reshape_same_qparams_accepted) {
    const quantization q = per_tensor(4.0f / 255, 128);
    const model m = copy_graph(ops::reshape({1, 6}), tensor_type::uint8, q, q, {{1, 6}});
    BOOST_TEST(constraint_violations(m).empty());
    BOOST_TEST(constraint_violations(m, tflite).empty());
    BOOST_CHECK_NO_THROW(check_runtime_constraints(m, tflite));
    circle_samples::emit(m);
}

BOOST_AUTO_TEST_CASE(reshape_mismatched_qparams_rejected) {
    const model m = copy_graph(ops::reshape({1, 6}), tensor_type::uint8, per_tensor(4.0f / 255, 128),
                               per_tensor(4.0f / 255, 127), {{1, 6}});
    for (const bool tflite_mode : {false, true}) {
        BOOST_TEST_CONTEXT("tflite_compatible " << tflite_mode) {
            const constraint_options options{.tflite_compatible = tflite_mode};
            const std::vector<std::string> violations = constraint_violations(m, options);
            BOOST_TEST_REQUIRE(violations.size() == 1u);
            const std::string& v = violations[0];
            BOOST_TEST_INFO(v);
            BOOST_TEST(contains(v, "subgraph \"main\", operator 0 (RESHAPE)"));
            BOOST_TEST(contains(v, "input \"x\" (UINT8) and output \"y\" (UINT8)"));
            BOOST_TEST(contains(v, "the input has scale [0.0156862754] zero point [128]"));
            BOOST_TEST(contains(v, "the output has scale [0.0156862754] zero point [127]"));
            BOOST_TEST(contains(v, "give the output the input's qparams"));
            BOOST_CHECK_THROW(check_runtime_constraints(m, options), graph_error);
        }
    }
}

BOOST_AUTO_TEST_CASE(scale_compared_bit_for_bit) {
    // One ulp apart: 4/255 lies in [2^-6, 2^-5), so the next float is 2^-29 (about 1.9e-9) larger.
    const float scale = 4.0f / 255;
    const model m = copy_graph(ops::transpose(), tensor_type::int16, per_tensor(scale, 0),
                               per_tensor(std::nextafter(scale, 1.0f), 0), {{0, 1}});
    const std::vector<std::string> violations = constraint_violations(m);
    BOOST_TEST_REQUIRE(violations.size() == 1u);
    BOOST_TEST_INFO(violations[0]);
    BOOST_TEST(contains(violations[0], "[0.0156862754]"));
    BOOST_TEST(contains(violations[0], "[0.0156862773]"));
}

BOOST_AUTO_TEST_CASE(float_and_quantized_mixed_rejected) {
    const quantization q = per_tensor(0.1f, 128);

    // A float input feeding a quantized output.
    const model float_in = copy_graph(ops::reshape({1, 6}), tensor_type::uint8, std::nullopt, q, {{1, 6}});
    const std::vector<std::string> a = constraint_violations(float_in);
    BOOST_TEST_REQUIRE(a.size() == 1u);
    BOOST_TEST_INFO(a[0]);
    BOOST_TEST(contains(a[0], "input \"x\" (FLOAT32) and output \"y\" (UINT8) differ in type"));
    BOOST_TEST(contains(a[0], "insert a QUANTIZE or DEQUANTIZE"));

    // A quantized input feeding a float output.
    const model float_out = copy_graph(ops::reshape({1, 6}), tensor_type::uint8, q, std::nullopt, {{1, 6}});
    BOOST_TEST(constraint_violations(float_out).size() == 1u);

    // Same type, but the output has no qparams.
    model_builder b;
    const auto x = b.add_tensor({.name = "x", .shape = {6}, .type = tensor_type::int16, .quant = per_tensor(0.01f, 0)});
    const auto y = b.add_tensor({.name = "y", .shape = {6}, .type = tensor_type::int16, .keep_float = true});
    b.add_operator(ops::expand_dims(), {x, b.add_int32_constant("axis", {0})}, {y});
    const std::vector<std::string> c = constraint_violations(b.get());
    BOOST_TEST_REQUIRE(c.size() == 1u);
    BOOST_TEST_INFO(c[0]);
    BOOST_TEST(contains(c[0], "the output has no qparams (float)"));

    // Both float: nothing to check.
    const model both_float = copy_graph(ops::reshape({1, 6}), tensor_type::uint8, std::nullopt, std::nullopt, {{1, 6}});
    BOOST_TEST(constraint_violations(both_float, tflite).empty());
}

BOOST_AUTO_TEST_CASE(every_data_movement_op_checked) {
    // Each op with its int32 operands (shape, permutation, begin, size, ...), which carry no qparams.
    struct data_movement {
        op kind;
        std::string name;
        std::vector<std::vector<std::int32_t>> operands;
    };
    const std::vector<data_movement> kinds = {
        {ops::reshape({1, 6}), "RESHAPE", {{1, 6}}},
        {ops::transpose(), "TRANSPOSE", {{0, 1}}},
        {ops::slice(), "SLICE", {{0, 0}, {1, 6}}},
        {ops::strided_slice(), "STRIDED_SLICE", {{0, 0}, {1, 6}, {1, 1}}},
        {ops::gather(0), "GATHER", {{0}}},
        {ops::expand_dims(), "EXPAND_DIMS", {{0}}},
        {op{builtin_operator::squeeze, {}}, "SQUEEZE", {}},
        {op{builtin_operator::average_pool_2d, {}}, "AVERAGE_POOL_2D", {}},
        {ops::concatenation(0), "CONCATENATION", {}},
    };
    const quantization q = per_tensor(0.02f, 0);
    for (const tensor_type type : {tensor_type::uint8, tensor_type::int8, tensor_type::int16}) {
        for (const data_movement& d : kinds) {
            BOOST_TEST_CONTEXT(d.name << ", " << *type_name(type)) {
                const model same = copy_graph(d.kind, type, q, q, d.operands);
                BOOST_TEST(constraint_violations(same).empty());
                const model differ = copy_graph(d.kind, type, q, per_tensor(0.04f, 0), d.operands);
                const std::vector<std::string> violations = constraint_violations(differ);
                BOOST_TEST_REQUIRE(violations.size() == 1u);
                BOOST_TEST(contains(violations[0], "operator 0 (" + d.name + ")"));
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(compute_ops_may_change_qparams) {
    const model m = copy_graph(ops::neg(), tensor_type::int16, per_tensor(0.02f, 0), per_tensor(0.04f, 0));
    BOOST_TEST(constraint_violations(m).empty());
    const model add = copy_graph(ops::add(), tensor_type::uint8, per_tensor(0.02f, 100), per_tensor(0.04f, 128), {{1}});
    BOOST_TEST(constraint_violations(add, tflite).empty());
}

BOOST_AUTO_TEST_CASE(gather_checks_params_only) {
    model_builder b;
    const quantization q = per_tensor(0.5f, 0);
    const auto table = b.add_constant("table", {4, 2}, tensor_type::int16, std::vector<std::uint8_t>(16, 0), q);
    const auto ids = b.add_tensor({.name = "ids", .shape = {3}, .type = tensor_type::int32, .keep_float = true});
    const auto rows = b.add_tensor({.name = "rows", .shape = {3, 2}, .type = tensor_type::int16, .quant = q});
    b.add_operator(ops::gather(0), {table, ids}, {rows});
    b.set_inputs({ids});
    b.set_outputs({rows});
    BOOST_TEST(constraint_violations(b.get(), tflite).empty());

    b.tensor_at(rows).quant = per_tensor(0.25f, 0);
    const std::vector<std::string> violations = constraint_violations(b.get());
    BOOST_TEST_REQUIRE(violations.size() == 1u);
    BOOST_TEST(contains(violations[0], "input \"table\""));
}

BOOST_AUTO_TEST_CASE(concatenation_checks_every_input) {
    for (const tensor_type type : {tensor_type::uint8, tensor_type::int16}) {
        BOOST_TEST_CONTEXT(*type_name(type)) {
            model_builder b;
            const std::int64_t zp = type == tensor_type::uint8 ? 128 : 0;
            const quantization q = per_tensor(0.1f, zp);
            const auto a = b.add_tensor({.name = "a", .shape = {1, 2}, .type = type, .quant = q});
            const auto c = b.add_tensor({.name = "c", .shape = {1, 2}, .type = type, .quant = per_tensor(0.2f, zp)});
            const auto d = b.add_tensor({.name = "d", .shape = {1, 2}, .type = type, .quant = per_tensor(0.3f, zp)});
            const auto out = b.add_tensor({.name = "cat", .shape = {1, 6}, .type = type, .quant = q});
            b.add_operator(ops::concatenation(1), {a, c, d}, {out});
            const std::vector<std::string> violations = constraint_violations(b.get());
            BOOST_TEST_REQUIRE(violations.size() == 2u);
            BOOST_TEST(contains(violations[0], "input \"c\""));
            BOOST_TEST(contains(violations[1], "input \"d\""));
        }
    }
}

BOOST_AUTO_TEST_CASE(quantized_dimension_counts_per_channel_only) {
    // Per-tensor qparams whose quantized_dimension differs are still identical.
    const model per_tensor_model = copy_graph(ops::reshape({1, 6}), tensor_type::int8, quantization{{0.1f}, {0}, 0},
                                              quantization{{0.1f}, {0}, 1}, {{1, 6}});
    BOOST_TEST(constraint_violations(per_tensor_model).empty());

    const quantization on_0{{0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f}, {0, 0, 0, 0, 0, 0}, 1};
    quantization on_1 = on_0;
    on_1.quantized_dimension = 0;
    const model per_channel = copy_graph(ops::reshape({1, 6}), tensor_type::int8, on_0, on_1, {{1, 6}});
    const std::vector<std::string> violations = constraint_violations(per_channel);
    BOOST_TEST_REQUIRE(violations.size() == 1u);
    BOOST_TEST(contains(violations[0], "on dimension 1"));
}

BOOST_AUTO_TEST_CASE(tanh_calibrated_qparams) {
    // Calibrated output qparams: scale 2/255 zero point 127 instead of TFLite's 1/128 and 128.
    const model m = activation_graph(ops::tanh(), tensor_type::uint8, per_tensor(2.0f / 255, 127));
    BOOST_TEST(constraint_violations(m).empty());
    BOOST_CHECK_NO_THROW(check_runtime_constraints(m));

    try {
        check_runtime_constraints(m, tflite);
        BOOST_FAIL("a TANH output with calibrated qparams passed the TFLite-compatible check");
    } catch (const runtime_constraint_error& e) {
        const std::string message = e.what();
        BOOST_TEST_INFO(message);
        BOOST_TEST(contains(message, "1 runtime-constraint violation (TFLite-compatible rules):"));
        BOOST_TEST(contains(message, "operator 0 (TANH)"));
        BOOST_TEST(contains(message, "output \"act_out\" (UINT8) has scale [0.00784313772] zero point [127]"));
        BOOST_TEST(contains(message, "requires scale [0.0078125] zero point [128]"));
        BOOST_TEST(contains(message, "fixed_output_qparams()"));
        BOOST_TEST(e.violations().size() == 1u);
    }
}

BOOST_AUTO_TEST_CASE(tanh_int16_needs_pow2_scale) {
    // 1/32767 is the symmetric calibrated scale; TFLite requires 1/32768 = 2^-15.
    const model m = activation_graph(ops::tanh(), tensor_type::int16, per_tensor(1.0f / 32767, 0));
    BOOST_TEST(constraint_violations(m).empty());
    const std::vector<std::string> violations = constraint_violations(m, tflite);
    BOOST_TEST_REQUIRE(violations.size() == 1u);
    BOOST_TEST_INFO(violations[0]);
    BOOST_TEST(contains(violations[0], "requires scale [3.05175781e-05] zero point [0]"));

    const model fixed = activation_graph(ops::tanh(), tensor_type::int16, per_tensor(0x1p-15f, 0));
    BOOST_TEST(constraint_violations(fixed, tflite).empty());
}

BOOST_AUTO_TEST_CASE(logistic_and_softmax_fixed) {
    for (const tensor_type type : {tensor_type::uint8, tensor_type::int16}) {
        for (const auto& kind : {ops::logistic(), ops::softmax()}) {
            BOOST_TEST_CONTEXT(op_name(kind.code) << ", " << *type_name(type)) {
                const model fixed = activation_graph(kind, type, *fixed_output_qparams(kind.code, type));
                BOOST_TEST(constraint_violations(fixed, tflite).empty());
                circle_samples::emit(fixed);

                const quantization calibrated = type == tensor_type::uint8 ? per_tensor(1.0f / 255, 0)
                                                                           : per_tensor(1.0f / 32767, 0);
                const model other = activation_graph(kind, type, calibrated);
                BOOST_TEST(constraint_violations(other).empty());
                BOOST_TEST(constraint_violations(other, tflite).size() == 1u);
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(fixed_output_qparams_values) {
    // Scales as float bits: 2^-7 = 0x3C000000, 2^-8 = 0x3B800000, 2^-15 = 0x38000000.
    struct expected {
        builtin_operator code;
        tensor_type type;
        std::uint32_t scale_bits;
        std::int64_t zero_point;
    };
    const std::vector<expected> table = {
        {builtin_operator::tanh, tensor_type::uint8, 0x3C000000u, 128},
        {builtin_operator::tanh, tensor_type::int8, 0x3C000000u, 0},
        {builtin_operator::tanh, tensor_type::int16, 0x38000000u, 0},
        {builtin_operator::logistic, tensor_type::uint8, 0x3B800000u, 0},
        {builtin_operator::logistic, tensor_type::int8, 0x3B800000u, -128},
        {builtin_operator::logistic, tensor_type::int16, 0x38000000u, 0},
        {builtin_operator::softmax, tensor_type::uint8, 0x3B800000u, 0},
        {builtin_operator::softmax, tensor_type::int8, 0x3B800000u, -128},
        {builtin_operator::softmax, tensor_type::int16, 0x38000000u, 0},
    };
    for (const expected& e : table) {
        BOOST_TEST_CONTEXT(op_name(e.code) << ", " << *type_name(e.type)) {
            const std::optional<quantization> q = fixed_output_qparams(e.code, e.type);
            BOOST_TEST_REQUIRE(q.has_value());
            BOOST_TEST_REQUIRE(q->scale.size() == 1u);
            BOOST_TEST(bits(q->scale[0]) == e.scale_bits);
            BOOST_TEST(q->zero_point == std::vector<std::int64_t>{e.zero_point}, boost::test_tools::per_element());
            BOOST_TEST(q->quantized_dimension == 0);
        }
    }
    BOOST_TEST(!fixed_output_qparams(builtin_operator::add, tensor_type::uint8).has_value());
    BOOST_TEST(!fixed_output_qparams(builtin_operator::gelu, tensor_type::int16).has_value());
    BOOST_TEST(!fixed_output_qparams(builtin_operator::tanh, tensor_type::float32).has_value());
}

BOOST_AUTO_TEST_CASE(fc_uint8_per_channel_weights) {
    const model per_channel = fc_graph(tensor_type::uint8, tensor_type::uint8, {{0.01f, 0.02f, 0.03f}, {128, 128, 128}, 0});
    BOOST_TEST(constraint_violations(per_channel).empty());
    const std::vector<std::string> violations = constraint_violations(per_channel, tflite);
    BOOST_TEST_REQUIRE(violations.size() == 1u);
    BOOST_TEST_INFO(violations[0]);
    BOOST_TEST(contains(violations[0], "operator 0 (FULLY_CONNECTED)"));
    BOOST_TEST(contains(violations[0], "weights \"W\" have 3 per-channel scales"));
    BOOST_TEST(contains(violations[0], "quantize the weights per tensor"));

    const model per_tensor_w = fc_graph(tensor_type::uint8, tensor_type::uint8, per_tensor(0.02f, 128));
    BOOST_TEST(constraint_violations(per_tensor_w, tflite).empty());
}

BOOST_AUTO_TEST_CASE(fc_int16_needs_int8_weights) {
    const model int16_weights = fc_graph(tensor_type::int16, tensor_type::int16, per_tensor(0.001f, 0));
    BOOST_TEST(constraint_violations(int16_weights).empty());
    const std::vector<std::string> violations = constraint_violations(int16_weights, tflite);
    BOOST_TEST_REQUIRE(violations.size() == 1u);
    BOOST_TEST_INFO(violations[0]);
    BOOST_TEST(contains(violations[0], "weights \"W\" are INT16"));
    BOOST_TEST(contains(violations[0], "needs INT8 weights"));

    // Per-channel int8 weights are what TFLite's 16x8 kernel reads.
    const model int8_weights = fc_graph(tensor_type::int16, tensor_type::int8, {{0.01f, 0.02f, 0.03f}, {0, 0, 0}, 0});
    BOOST_TEST(constraint_violations(int8_weights, tflite).empty());
}

BOOST_AUTO_TEST_CASE(circle_only_ops_and_types) {
    model_builder b;
    const auto x = b.add_tensor({.name = "x", .shape = {1, 2, 3}});
    const auto gamma = b.add_constant("gamma", {3}, tensor_type::float32, circle_samples::float_bytes({1, 1, 1}));
    const auto y = b.add_tensor({.name = "y", .shape = {1, 2, 3}});
    b.add_operator(ops::rms_norm(), {x, gamma}, {y});
    b.set_inputs({x});
    b.set_outputs({y});
    BOOST_TEST(constraint_violations(b.get()).empty());
    const std::vector<std::string> op_violations = constraint_violations(b.get(), tflite);
    BOOST_TEST_REQUIRE(op_violations.size() == 1u);
    BOOST_TEST_INFO(op_violations[0]);
    BOOST_TEST(contains(op_violations[0], "operator 0 (RMS_NORM)"));
    BOOST_TEST(contains(op_violations[0], "Circle-only operator"));

    const model uint4_weights = fc_graph(tensor_type::uint8, tensor_type::uint4, per_tensor(0.1f, 8));
    BOOST_TEST(constraint_violations(uint4_weights).empty());
    const std::vector<std::string> type_violations = constraint_violations(uint4_weights, tflite);
    BOOST_TEST_REQUIRE(type_violations.size() == 1u);
    BOOST_TEST_INFO(type_violations[0]);
    BOOST_TEST(contains(type_violations[0], "tensor \"W\": UINT4 (type -1) is a Circle-only type"));
}

BOOST_AUTO_TEST_CASE(worked_example_fc_tanh_uint8) {
    // FC -> TANH from the Circle format's constraint section: x scale 1/128 zp 128,
    // W per-tensor scale 2/255 zp 128, int32 bias, fc scale 4/255 zp 128, y with TANH's fixed 1/128 zp 128.
    model_builder b;
    const auto x = b.add_tensor({.name = "x", .shape = {1, 4}, .type = tensor_type::uint8,
                                 .quant = per_tensor(1.0f / 128, 128)});
    const wrapq::tensor w_values = {{0.1f, 0.2f, 0.3f, 0.4f}, {-0.5f, 0.6f, -0.7f, 0.8f}, {1.0f, 0.0f, -1.0f, 0.5f}};
    const auto w_q = wrapq::quantize(w_values, wrapq::qparams::per_tensor(2.0f / 255, 128, wrapq::uint8));
    const auto w = add_quantized_constant(b, "W", w_q);
    const std::vector<float> bias = {0.01f, -0.02f, 0.03f};
    const std::vector<float> w_scale = {2.0f / 255};
    const auto bias_index = add_quantized_bias(b, "b", bias, 1.0f / 128, w_scale, tensor_type::uint8);
    const auto fc = b.add_tensor({.name = "fc", .shape = {1, 3}, .type = tensor_type::uint8,
                                  .quant = per_tensor(4.0f / 255, 128)});
    b.add_operator(ops::fully_connected(), {x, w, bias_index}, {fc});
    const auto y = b.add_tensor({.name = "y", .shape = {1, 3}, .type = tensor_type::uint8,
                                 .quant = fixed_output_qparams(builtin_operator::tanh, tensor_type::uint8)});
    b.add_operator(ops::tanh(), {fc}, {y});
    b.set_inputs({x});
    b.set_outputs({y});

    BOOST_TEST(constraint_violations(b.get(), tflite).empty());
    BOOST_CHECK_NO_THROW(check_runtime_constraints(b.get(), tflite));
    circle_samples::emit(b.get());

    // With the calibrated TANH output it fails only in the TFLite-compatible mode.
    b.tensor_at(y).quant = per_tensor(2.0f / 255, 128);
    BOOST_TEST(constraint_violations(b.get()).empty());
    BOOST_TEST(constraint_violations(b.get(), tflite).size() == 1u);
}

BOOST_AUTO_TEST_CASE(error_lists_every_violation) {
    model_builder b;
    const quantization q = per_tensor(0.1f, 0);
    const auto x = b.add_tensor({.name = "x", .shape = {1, 6}, .type = tensor_type::int16, .quant = q});
    const auto r = b.add_tensor({.name = "r", .shape = {6}, .type = tensor_type::int16, .quant = per_tensor(0.2f, 0)});
    b.add_operator(ops::reshape({6}), {x, b.add_int32_constant("shape", {6})}, {r});
    const auto t = b.add_tensor({.name = "t", .shape = {6}, .type = tensor_type::int16, .quant = per_tensor(0.001f, 0)});
    b.add_operator(ops::tanh(), {r}, {t});
    b.set_inputs({x});
    b.set_outputs({t});

    try {
        check_runtime_constraints(b.get(), tflite);
        BOOST_FAIL("two violations passed the check");
    } catch (const graph_error& e) {
        const std::string message = e.what();
        BOOST_TEST_INFO(message);
        BOOST_TEST(contains(message, "2 runtime-constraint violations"));
        BOOST_TEST(contains(message, "operator 0 (RESHAPE)"));
        BOOST_TEST(contains(message, "operator 1 (TANH)"));
    }
    // Without the TFLite rules only the RESHAPE remains.
    BOOST_TEST(constraint_violations(b.get()).size() == 1u);
}

BOOST_AUTO_TEST_CASE(invalid_indices_skipped) {
    model_builder b;
    const auto x = b.add_tensor({.name = "x", .shape = {2}, .type = tensor_type::uint8, .quant = per_tensor(0.1f, 0)});
    b.add_operator(ops::reshape({2}), {x, 42}, {99});
    b.add_operator(ops::transpose(), {-1}, {x});
    b.get().subgraphs[0].operators.push_back({77, {x}, {x}, {}});
    BOOST_CHECK_NO_THROW(constraint_violations(b.get(), tflite));
    BOOST_TEST(constraint_violations(b.get(), tflite).empty());
}

BOOST_AUTO_TEST_SUITE_END()
