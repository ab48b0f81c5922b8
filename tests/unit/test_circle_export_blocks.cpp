// Export of single blocks: bias quantization, exact scalar constants, and how sites fold into tensors.
#include "../circle_verify/sample_models.hpp"
#include "test_errors.hpp"
#include "test_support.hpp"

#include <wrapq.hpp>

#include <boost/test/unit_test.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

using namespace wrapq;
using circle_samples::emit;
using exporter::value;
using wrapq_test::error_message;

namespace {

/// FULLY_CONNECTED with bias, then TANH: the worked example of the Circle
/// runtime notes (x = [0.5, -0.25, 0.75, -1], three output channels).
struct fc_tanh {
    nn::linear<4, 3, true> fc;
    nn::tanh_block act;
    static constexpr auto members() { return std::tuple{field("fc", &fc_tanh::fc), field("act", &fc_tanh::act)}; }
};

const tensor example_x = {{0.5f, -0.25f, 0.75f, -1.0f}};

fc_tanh calibrated_fc_tanh(const ptq_config& config) {
    fc_tanh m;
    m.fc.weight.assign(tensor{{0.1f, 0.2f, 0.3f, 0.4f}, {-0.5f, 0.6f, -0.7f, 0.8f}, {1.0f, 0.0f, -1.0f, 0.5f}});
    m.fc.bias.assign(tensor{0.01f, -0.02f, 0.03f});
    prepare(m, config);
    m.act.forward(m.fc.forward(example_x));
    m.act.forward(m.fc.forward(tensor{{1.0f, 2.0f, 3.0f, 4.0f}}));
    convert(m);
    return m;
}

const wrapq::circle::tensor& tensor_named(const wrapq::circle::model& m, const std::string& name) {
    for (const auto& t : m.subgraphs[0].tensors) {
        if (t.name == name) return t;
    }
    throw std::runtime_error("no tensor named " + name);
}

std::vector<std::string> op_names(const wrapq::circle::model& m) {
    std::vector<std::string> names;
    for (const auto& node : m.subgraphs[0].operators) names.push_back(wrapq::circle::op_name(m.operator_codes[node.opcode_index].code));
    return names;
}

/// Little-endian signed integers of `width` bytes.
std::vector<std::int64_t> levels_of(const std::vector<std::uint8_t>& bytes, std::size_t width) {
    std::vector<std::int64_t> out;
    for (std::size_t i = 0; i + width <= bytes.size(); i += width) {
        std::uint64_t bits = 0;
        for (std::size_t b = 0; b < width; ++b) bits |= static_cast<std::uint64_t>(bytes[i + b]) << (8 * b);
        if (width < 8 && (bits >> (8 * width - 1)) != 0) bits |= ~std::uint64_t{0} << (8 * width);
        out.push_back(static_cast<std::int64_t>(bits));
    }
    return out;
}

wrapq::circle::model export_fc_tanh(fc_tanh& m) {
    wrapq::circle::model_builder b;
    exporter::graph_emitter e(b);
    const value x = e.input("x", {1, 4});
    const value y = exporter::emit_linear(e, m.fc, x);
    const value t = e.site(e.compute(wrapq::circle::ops::tanh(), {e.site(y, m.act.act_in)}, "act", y.shape), m.act.act_out);
    e.output(t);
    e.finish("serving_default");
    return b.get();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(circle_export_blocks)

BOOST_AUTO_TEST_CASE(uint8_bias_is_int32_with_product_scales) {
    ptq_config config;  // uint8: per-tensor activations, per-channel weights along axis 0
    fc_tanh m = calibrated_fc_tanh(config);
    const wrapq::circle::model model = export_fc_tanh(m);
    emit(model);
    BOOST_TEST(op_names(model) == (std::vector<std::string>{"FULLY_CONNECTED", "TANH"}), boost::test_tools::per_element());

    const wrapq::circle::tensor& bias = tensor_named(model, "fc.bias");
    BOOST_TEST((bias.type == wrapq::circle::tensor_type::int32));
    const float s_in = m.fc.act_in.affine_qparams()->scale[0];
    const std::vector<float>& s_w = m.fc.weight_observer.affine_qparams()->scale;
    BOOST_TEST_REQUIRE(s_w.size() == 3u);
    const std::vector<float> b{0.01f, -0.02f, 0.03f};
    const std::vector<std::int64_t> levels = levels_of(model.buffers[bias.buffer].bytes(), 4);
    BOOST_TEST_REQUIRE(levels.size() == 3u);
    for (std::size_t c = 0; c < 3; ++c) {
        const float scale = s_in * s_w[c];  // float32 product, as the converter computes it
        BOOST_TEST(std::bit_cast<std::uint32_t>(bias.quant->scale[c]) == std::bit_cast<std::uint32_t>(scale));
        BOOST_TEST(bias.quant->zero_point[c] == 0);
        BOOST_TEST(levels[c] == static_cast<std::int64_t>(std::nearbyint(b[c] / scale)));
    }
    // The inputs of FULLY_CONNECTED are x, W, bias, in that order.
    const auto& fc = model.subgraphs[0].operators[0];
    BOOST_TEST(model.subgraphs[0].tensors[static_cast<std::size_t>(fc.inputs[2])].name == "fc.bias");
}

BOOST_AUTO_TEST_CASE(int16_bias_is_int64) {
    ptq_config config;
    config.activation = quant_spec::affine(int16);
    config.overrides.push_back({"fc.weight", quant_spec::affine(int8, qscheme::per_channel_symm), true});
    fc_tanh m = calibrated_fc_tanh(config);
    const wrapq::circle::model model = export_fc_tanh(m);
    emit(model);
    const wrapq::circle::tensor& bias = tensor_named(model, "fc.bias");
    BOOST_TEST((bias.type == wrapq::circle::tensor_type::int64));
    BOOST_TEST(model.buffers[bias.buffer].size() == 3u * 8u);
    const float s_in = m.fc.act_in.affine_qparams()->scale[0];
    const float s_w0 = m.fc.weight_observer.affine_qparams()->scale[0];
    BOOST_TEST(levels_of(model.buffers[bias.buffer].bytes(), 8)[0] == static_cast<std::int64_t>(std::nearbyint(0.01f / (s_in * s_w0))));
}

/// fc_tanh with int16 activations and `weight` as the spec of fc.weight.
fc_tanh int16_fc_tanh(const quant_spec& weight) {
    ptq_config config;
    config.activation = quant_spec::affine(int16);
    config.overrides.push_back({"fc.weight", weight, true});
    return calibrated_fc_tanh(config);
}

BOOST_AUTO_TEST_CASE(int16_weights_export_with_zero_point_zero) {
    // The weight rows are [0.1, 0.2, 0.3, 0.4], [-0.5, 0.6, -0.7, 0.8] and
    // [1, 0, -1, 0.5]. Symmetric int16 scales are max|w| / 32767: 1 / 32767
    // per tensor, and 0.4, 0.8 and 1 over 32767 per row.
    struct symmetric_case {
        std::string label;
        quant_spec spec;
        std::vector<float> scales;  // empty where the observer's statistic is not a plain max
    };
    const std::vector<symmetric_case> cases = {
        {"inferred scheme", quant_spec::affine(int16), {1.0f / 32767}},
        {"per_tensor_symm", quant_spec::affine(int16, qscheme::per_tensor_symm), {1.0f / 32767}},
        {"per_channel_symm", quant_spec::affine(int16, qscheme::per_channel_symm), {0.4f / 32767, 0.8f / 32767, 1.0f / 32767}},
        {"ema", quant_spec::affine(int16).with_ema({.momentum = 0.5}), {1.0f / 32767}},
        {"percentile", quant_spec::affine(int16).with_percentile({.percentile = 99.0}), {}},
        {"fixed zero point 0", quant_spec::fixed(int16, qscheme::per_tensor_symm, 0.01f, 0), {0.01f}},
    };
    for (const symmetric_case& c : cases) {
        BOOST_TEST_CONTEXT(c.label) {
            fc_tanh m = int16_fc_tanh(c.spec);
            const wrapq::circle::model model = export_fc_tanh(m);
            emit(model);

            const wrapq::circle::tensor& weight = tensor_named(model, "fc.weight");
            BOOST_TEST((weight.type == wrapq::circle::tensor_type::int16));
            BOOST_TEST_REQUIRE(weight.quant.has_value());
            if (!c.scales.empty()) BOOST_TEST(weight.quant->scale == c.scales, boost::test_tools::per_element());
            for (const std::int64_t zero_point : weight.quant->zero_point) BOOST_TEST(zero_point == 0);

            // Every other int16 tensor of the graph, activations included, has zero point 0 too.
            for (const wrapq::circle::tensor& t : model.subgraphs[0].tensors) {
                if (t.type != wrapq::circle::tensor_type::int16 || !t.quant) continue;
                for (const std::int64_t zero_point : t.quant->zero_point) BOOST_TEST(zero_point == 0, t.name);
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(int16_asymmetric_weight_rejected_at_export) {
    // The config accepts signed asymmetric int16 weights, as the reference
    // does (its linear wrapper keeps per_channel_asymm for an int16 weight
    // role), and fake quantization uses them. Circle int16 tensors need zero
    // point 0, so export names the observer instead of writing the tensor.
    // Row 0, [0.1, 0.4], widens to [0, 0.4], so its zero point is qmin = -32768.
    ptq_config role_only;
    role_only.activation = quant_spec::affine(int16);
    role_only.weight = quant_spec::affine(int16);
    struct asymmetric_case {
        std::string label;
        fc_tanh model;
        std::int32_t zero_point;
    };
    std::vector<asymmetric_case> cases;
    cases.push_back({"int16 weight role", calibrated_fc_tanh(role_only), -32768});
    cases.push_back({"per_channel_asymm", int16_fc_tanh(quant_spec::affine(int16, qscheme::per_channel_asymm)), -32768});
    cases.push_back({"fixed zero point 7", int16_fc_tanh(quant_spec::fixed(int16, qscheme::per_tensor_symm, 0.01f, 7)), 7});
    for (asymmetric_case& c : cases) {
        BOOST_TEST_CONTEXT(c.label) {
            BOOST_TEST(c.model.fc.weight_observer.affine_qparams()->zero_point[0] == c.zero_point);
            const std::string message = error_message<wrapq::circle::graph_error>([&] { (void)export_fc_tanh(c.model); });
            BOOST_TEST(message == "export: observer fc.weight has int16 zero point " + std::to_string(c.zero_point) +
                                      ", but int16 Circle tensors need zero point 0; override it with a symmetric scheme "
                                      "(per_tensor_symm or per_channel_symm) or an unsigned dtype");
        }
    }
}

BOOST_AUTO_TEST_CASE(exact_scalars_dequantize_to_their_value) {
    wrapq::circle::model_builder b;
    exporter::graph_emitter e(b);
    const value u8 = e.input("u8", {2});
    const value i16 = e.input("i16", {2});
    wrapq::circle::tensor& a = b.tensor_at(u8.index);
    a.type = wrapq::circle::tensor_type::uint8;
    a.quant = wrapq::circle::quantization{{0.5f}, {128}, 0};
    wrapq::circle::tensor& c = b.tensor_at(i16.index);
    c.type = wrapq::circle::tensor_type::int16;
    c.quant = wrapq::circle::quantization{{0.25f}, {0}, 0};

    // uint8 cannot hold -1, so -30 is level 0 with zero point 1: (0 - 1) * 30.
    const wrapq::circle::tensor& negative_u8 = b.tensor_at(e.exact_scalar("neg_u8", -30.0f, u8).index);
    BOOST_TEST(negative_u8.quant->scale == std::vector<float>{30.0f});
    BOOST_TEST(negative_u8.quant->zero_point == std::vector<std::int64_t>{1});
    BOOST_TEST((b.get().buffers[negative_u8.buffer].bytes() == std::vector<std::uint8_t>{0}));

    // int16: level -1 with scale 0.70710677, two bytes 0xFFFF.
    const float half_sqrt2 = static_cast<float>(1.0 / std::sqrt(2.0));
    const wrapq::circle::tensor& negative_i16 = b.tensor_at(e.exact_scalar("neg_i16", -half_sqrt2, i16).index);
    BOOST_TEST(negative_i16.quant->scale == std::vector<float>{half_sqrt2});
    BOOST_TEST(negative_i16.quant->zero_point == std::vector<std::int64_t>{0});
    BOOST_TEST((b.get().buffers[negative_i16.buffer].bytes() == (std::vector<std::uint8_t>{0xFF, 0xFF})));

    const wrapq::circle::tensor& zero = b.tensor_at(e.exact_scalar("zero", 0.0f, u8).index);
    BOOST_TEST((b.get().buffers[zero.buffer].bytes() == std::vector<std::uint8_t>{0}));
    BOOST_TEST(zero.quant->zero_point == std::vector<std::int64_t>{0});
}

BOOST_AUTO_TEST_CASE(sites_fold_requantize_and_follow_moves) {
    // Observers configured by hand: uint8 per-tensor over [-1, 1] (twice) and [-2, 2], and one identity.
    const ptq_config config;
    auto make = [&](const std::string& name, const quant_spec& spec, std::optional<tensor> data) {
        any_observer o;
        o.configure(config.resolve(name, spec, false));
        o.name = name;
        if (data) {
            o.observe(*data);
            o.compute_qparams();
        }
        o.mode = ptq_mode::quantized;
        return o;
    };
    const any_observer first = make("first", quant_spec::affine(uint8), tensor{-1.0f, 1.0f});
    const any_observer same = make("same", quant_spec::affine(uint8), tensor{-1.0f, 1.0f});
    const any_observer second = make("second", quant_spec::affine(uint8), tensor{-2.0f, 2.0f});
    const any_observer float_site = make("float_site", quant_spec::no_quant(), std::nullopt);

    wrapq::circle::model_builder b;
    exporter::graph_emitter e(b);
    const value x = e.input("x", {2, 2});
    const value t = e.compute(wrapq::circle::ops::tanh(), {x}, "t", {2, 2});
    const value r = e.reshape(t, {4}, "r");
    const value r_site = e.site(r, first);
    BOOST_TEST(r_site.index == r.index);                    // a tensor without qparams takes the site's
    BOOST_TEST((b.tensor_at(t.index).quant == b.tensor_at(r.index).quant));  // and so does the reshape's input
    BOOST_TEST(e.site(r, same).index == r.index);           // identical qparams fold into one tensor
    const value requantized = e.site(r, second);
    BOOST_TEST(requantized.index != r.index);               // different ones add a QUANTIZE
    BOOST_TEST(b.get().subgraphs[0].operators.back().inputs == std::vector<std::int32_t>{r.index});

    const value f = e.compute(wrapq::circle::ops::tanh(), {x}, "f", {2, 2});
    BOOST_TEST(e.site(f, float_site).index == f.index);
    BOOST_TEST(b.tensor_at(f.index).keep_float);            // float on purpose, not missing

    const value joined = e.concatenate({r_site, requantized}, 0, second, "joined", {8});
    const auto& concat = b.get().subgraphs[0].operators.back();
    for (std::int32_t input : concat.inputs) BOOST_TEST((b.tensor_at(input).quant == b.tensor_at(joined.index).quant));
}

BOOST_AUTO_TEST_SUITE_END()
