// Resolution of observers from a ptq_config: precedence, inferred schemes and errors.
#include <wrapq.hpp>

#include <boost/test/unit_test.hpp>

#include <string>

using namespace wrapq;

namespace {

const quant_spec linear_weight_defaults{.scheme = qscheme::per_channel_asymm, .channel_axis = 0};
const quant_spec no_defaults{};

/// Builds a config with the E2B builder's weight override. The override has an
/// explicit dtype, so its inferred scheme wins.
ptq_config with_weight_override(dtype d, const std::string& pattern) {
    ptq_config c;
    c.activation = quant_spec::affine(int16);
    c.weight = quant_spec::affine(int16);
    c.overrides.push_back({pattern, quant_spec::affine(d)});
    return c;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(ptq_config_resolution)

BOOST_AUTO_TEST_CASE(default_activation_is_uint8_asymmetric) {
    const observer_spec s = ptq_config{}.resolve("layers.0.act_in", no_defaults);
    BOOST_TEST(s.kind == observer_kind::minmax);
    BOOST_TEST(s.type == uint8);
    BOOST_TEST(s.scheme == qscheme::per_tensor_asymm);
}

BOOST_AUTO_TEST_CASE(default_linear_weight_is_per_channel_axis_zero) {
    const observer_spec s = ptq_config{}.resolve("q_proj.weight", linear_weight_defaults);
    BOOST_TEST(s.type == uint8);
    BOOST_TEST(s.scheme == qscheme::per_channel_asymm);
    BOOST_TEST(s.channel_axis == 0);
}

BOOST_AUTO_TEST_CASE(norm_weight_without_axis_is_per_tensor) {
    // The unsigned weight role infers per-channel, but the norm gives no axis.
    const observer_spec s = ptq_config{}.resolve("input_layernorm.weight", no_defaults);
    BOOST_TEST(s.type == uint8);
    BOOST_TEST(s.scheme == qscheme::per_tensor_asymm);
}

BOOST_AUTO_TEST_CASE(int16_activation_role_is_symmetric) {
    ptq_config c;
    c.activation = quant_spec::affine(int16);
    const observer_spec s = c.resolve("mlp.act_out", no_defaults);
    BOOST_TEST(s.type == int16);
    BOOST_TEST(s.scheme == qscheme::per_tensor_symm);
}

BOOST_AUTO_TEST_CASE(int16_weight_role_keeps_block_scheme) {
    ptq_config c;
    c.weight = quant_spec::affine(int16);
    const observer_spec s = c.resolve("q_proj.weight", linear_weight_defaults);
    BOOST_TEST(s.type == int16);
    BOOST_TEST(s.scheme == qscheme::per_channel_asymm);  // signed asymmetric, from the block
    BOOST_TEST(s.channel_axis == 0);
}

BOOST_AUTO_TEST_CASE(int16_weight_override_infers_symmetric) {
    const observer_spec s = with_weight_override(int16, "q_proj.weight").resolve("q_proj.weight", linear_weight_defaults);
    BOOST_TEST(s.type == int16);
    BOOST_TEST(s.scheme == qscheme::per_tensor_symm);
}

BOOST_AUTO_TEST_CASE(uint4_weight_override_is_per_channel) {
    const observer_spec s = with_weight_override(uint4, "*.weight").resolve("q_proj.weight", linear_weight_defaults);
    BOOST_TEST(s.type == uint4);
    BOOST_TEST(s.scheme == qscheme::per_channel_asymm);
    BOOST_TEST(s.channel_axis == 0);
}

BOOST_AUTO_TEST_CASE(explicit_user_scheme_beats_block) {
    ptq_config c;
    c.overrides.push_back({"q_proj.weight", quant_spec::affine(int16, qscheme::per_channel_symm).with_axis(1)});
    const observer_spec s = c.resolve("q_proj.weight", linear_weight_defaults);
    BOOST_TEST(s.scheme == qscheme::per_channel_symm);
    BOOST_TEST(s.channel_axis == 1);
}

BOOST_AUTO_TEST_CASE(block_scheme_beats_role_scheme) {
    ptq_config c;
    c.weight = quant_spec::affine(uint8, qscheme::per_tensor_asymm);
    const quant_spec defaults{.scheme = qscheme::per_channel_asymm, .channel_axis = 1};
    const observer_spec s = c.resolve("proj.weight", defaults);
    BOOST_TEST(s.scheme == qscheme::per_channel_asymm);
    BOOST_TEST(s.channel_axis == 1);
}

BOOST_AUTO_TEST_CASE(exact_name_beats_glob_and_last_glob_wins) {
    ptq_config c;
    c.overrides.push_back({"layers.0.act_in", quant_spec::affine(int8)});
    c.overrides.push_back({"*.act_in", quant_spec::affine(uint4)});
    c.overrides.push_back({"layers.*", quant_spec::affine(int16)});
    BOOST_TEST(c.resolve("layers.0.act_in", no_defaults).type == int8);
    BOOST_TEST(c.resolve("layers.1.act_in", no_defaults).type == int16);
    BOOST_TEST(c.resolve("norm.act_in", no_defaults).type == uint4);
    BOOST_TEST(c.resolve("norm.act_out", no_defaults).type == uint8);
}

BOOST_AUTO_TEST_CASE(override_without_dtype_refines_role) {
    ptq_config c;
    c.activation = quant_spec::affine(int16);
    quant_spec refine;
    refine = refine.with_percentile({.percentile = 99.0});
    c.overrides.push_back({"*.act_out", refine});
    const observer_spec s = c.resolve("mlp.act_out", no_defaults);
    BOOST_TEST(s.kind == observer_kind::percentile);
    BOOST_TEST(s.type == int16);  // kept from the role
    BOOST_TEST(s.percentile.percentile == 99.0);
}

BOOST_AUTO_TEST_CASE(other_kinds) {
    ptq_config c;
    c.overrides.push_back({"a", quant_spec::no_quant()});
    c.overrides.push_back({"b", quant_spec::mx(mx_format::fp4_e2m1)});
    c.overrides.push_back({"c", quant_spec::affine(int8).with_ema({.momentum = 0.5})});
    BOOST_TEST(c.resolve("a", no_defaults).kind == observer_kind::identity);
    const observer_spec b = c.resolve("b", no_defaults);
    BOOST_TEST(b.kind == observer_kind::mx);
    BOOST_TEST(b.mx_element == mx_format::fp4_e2m1);
    BOOST_TEST(b.mx_axis == -1);
    const observer_spec e = c.resolve("c", no_defaults);
    BOOST_TEST(e.kind == observer_kind::ema);
    BOOST_TEST(e.ema.momentum == 0.5);
    BOOST_TEST(e.scheme == qscheme::per_tensor_symm);
}

BOOST_AUTO_TEST_CASE(fixed_tanh_defaults_follow_dtype) {
    const quant_spec tanh_defaults{.kind = observer_kind::fixed_qparams};
    ptq_config c;
    c.activation = quant_spec::affine(int16);
    const observer_spec s16 = c.resolve("logit_softcapping_tanh", tanh_defaults);
    BOOST_TEST(s16.kind == observer_kind::fixed_qparams);
    BOOST_TEST(s16.fixed_scale == 1.0f / 32768.0f);
    BOOST_TEST(s16.fixed_zero_point == 0);
    c.activation = quant_spec::affine(uint8);
    const observer_spec s8 = c.resolve("logit_softcapping_tanh", tanh_defaults);
    BOOST_TEST(s8.fixed_scale == 1.0f / 128.0f);
    BOOST_TEST(s8.fixed_zero_point == 128);
    BOOST_TEST(s8.scheme == qscheme::per_tensor_asymm);
}

BOOST_AUTO_TEST_CASE(forced_defaults_beat_user) {
    ptq_config c;
    c.overrides.push_back({"*", quant_spec::affine(uint8)});
    const quant_spec table_defaults{.type = int16, .scheme = qscheme::per_tensor_symm};
    const observer_spec s = c.resolve("position_embedding_table", table_defaults, true);
    BOOST_TEST(s.type == int16);
    BOOST_TEST(s.scheme == qscheme::per_tensor_symm);
}

BOOST_AUTO_TEST_CASE(unsigned_symmetric_names_the_observer) {
    ptq_config c;
    c.overrides.push_back({"x.act_in", quant_spec::affine(uint8, qscheme::per_tensor_symm)});
    try {
        c.resolve("x.act_in", no_defaults);
        BOOST_FAIL("expected invalid_argument");
    } catch (const invalid_argument& e) {
        BOOST_TEST(std::string(e.what()).find("x.act_in") != std::string::npos);
    }
}

BOOST_AUTO_TEST_CASE(leaf_names) {
    BOOST_TEST(leaf_name("a.b.weight") == "weight");
    BOOST_TEST(leaf_name("act_in") == "act_in");
}

BOOST_AUTO_TEST_SUITE_END()
