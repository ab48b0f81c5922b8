// Reading a ptq_config from JSON: both override forms, every observer kind,
// merging with a base config, and the message of each invalid input.
//
// Expected resolutions are derived by hand from the precedence rules of
// ptq_config (override, then block defaults, then role spec) and the default
// qscheme policy: signed -> per_tensor_symm, unsigned weight ->
// per_channel_asymm, unsigned activation -> per_tensor_asymm.
#include "test_errors.hpp"

#include <wrapq.hpp>

#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <typeinfo>

using namespace wrapq;

using wrapq_test::error_message;
using wrapq_test::has;

namespace {

const quant_spec linear_weight_defaults{.scheme = qscheme::per_channel_asymm, .channel_axis = 0};
const quant_spec no_defaults{};

ptq_config read(std::string_view text, ptq_config base = {}) { return read_ptq_config_json(text, "cfg.json", std::move(base)); }

/// Returns the format_error message of reading `text` as cfg.json.
std::string read_error(std::string_view text) {
    return error_message<format_error>([&] { read(text); });
}

/// Returns the message of reading {"overrides": {"x.act_in": <spec>}}. The
/// key contains a dot, so messages give its JSON path as overrides["x.act_in"].
std::string override_error(std::string_view spec) {
    return read_error(R"({"overrides": {"x.act_in": )" + std::string(spec) + "}}");
}

struct two_layer {
    nn::linear<6, 5, true> up;
    nn::gelu_tanh_block act;
    nn::linear<5, 3> down;

    static constexpr auto members() {
        return std::tuple{field("up", &two_layer::up), field("act", &two_layer::act), field("down", &two_layer::down)};
    }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(ptq_config_json)

BOOST_AUTO_TEST_CASE(flat_overrides_resolve) {
    const ptq_config config = read(R"({
      "activation": {"dtype": "int16"},
      "overrides": {
        "*_proj.weight": {"dtype": "uint4"},
        "lm_head.weight": {"dtype": "uint8"},
        "layers.0.mlp.act_in": {"observer": "percentile", "dtype": "uint8", "percentile": 99.9}
      }
    })");
    BOOST_TEST(config.overrides.size() == 3u);

    // The override's unsigned dtype infers per_channel_asymm for a weight; the axis comes from the block.
    const observer_spec proj = config.resolve("layers.0.mlp.up_proj.weight", linear_weight_defaults);
    BOOST_TEST(proj.kind == observer_kind::minmax);
    BOOST_TEST(proj.type == uint4);
    BOOST_TEST(proj.scheme == qscheme::per_channel_asymm);
    BOOST_TEST(proj.channel_axis == 0);

    const observer_spec head = config.resolve("lm_head.weight", linear_weight_defaults);
    BOOST_TEST(head.type == uint8);
    BOOST_TEST(head.scheme == qscheme::per_channel_asymm);

    const observer_spec act_in = config.resolve("layers.0.mlp.act_in", no_defaults);
    BOOST_TEST(act_in.kind == observer_kind::percentile);
    BOOST_TEST(act_in.type == uint8);
    BOOST_TEST(act_in.scheme == qscheme::per_tensor_asymm);
    BOOST_TEST(act_in.percentile.percentile == 99.9);

    // No override: the file's int16 activation role, symmetric because it is signed.
    const observer_spec act_out = config.resolve("layers.1.mlp.act_out", no_defaults);
    BOOST_TEST(act_out.type == int16);
    BOOST_TEST(act_out.scheme == qscheme::per_tensor_symm);

    // The file sets no weight role, so base's uint8 stays; a norm has no axis, so per-tensor.
    const observer_spec norm = config.resolve("model.norm.weight", no_defaults);
    BOOST_TEST(norm.type == uint8);
    BOOST_TEST(norm.scheme == qscheme::per_tensor_asymm);
}

BOOST_AUTO_TEST_CASE(nested_form_gives_dotted_pattern) {
    const ptq_config config =
        read(R"({"overrides": {"model": {"layers": {"0": {"mlp": {"down_proj": {"weight": {"dtype": "uint8"}}}}}}}})");
    BOOST_TEST_REQUIRE(config.overrides.size() == 1u);
    BOOST_TEST(config.overrides[0].pattern == "model.layers.0.mlp.down_proj.weight");
    BOOST_TEST(config.overrides[0].must_match);
    BOOST_TEST(config.overrides[0].origin == "cfg.json:1: overrides.model.layers.0.mlp.down_proj.weight");

    const observer_spec s = config.resolve("model.layers.0.mlp.down_proj.weight", linear_weight_defaults);
    BOOST_TEST(s.type == uint8);
    BOOST_TEST(s.scheme == qscheme::per_channel_asymm);
    BOOST_TEST(s.channel_axis == 0);
    // A sibling keeps the role: base's uint8 weight with the block's scheme.
    BOOST_TEST(config.resolve("model.layers.1.mlp.down_proj.weight", linear_weight_defaults).type == uint8);
}

BOOST_AUTO_TEST_CASE(nested_and_flat_forms_agree) {
    const ptq_config nested = read(R"({"overrides": {"layers.*": {"self_attn": {"q_proj": {"weight": {"dtype": "int8"}}}},
                                                     "scale": {"observer": "identity"}}})");
    const ptq_config flat = read(R"({"overrides": {"layers.*.self_attn.q_proj.weight": {"dtype": "int8"},
                                                   "scale": {"observer": "identity"}}})");
    BOOST_TEST_REQUIRE(nested.overrides.size() == 2u);
    BOOST_TEST(nested.overrides[0].pattern == "layers.*.self_attn.q_proj.weight");
    BOOST_TEST(nested.overrides[1].pattern == "scale");
    for (const char* name : {"layers.3.self_attn.q_proj.weight", "layers.3.self_attn.k_proj.weight"}) {
        const observer_spec a = nested.resolve(name, linear_weight_defaults);
        const observer_spec b = flat.resolve(name, linear_weight_defaults);
        BOOST_TEST(a.type == b.type);
        BOOST_TEST(a.scheme == b.scheme);
    }
    // int8 from the override infers per_tensor_symm, which beats the block's per-channel scheme.
    const observer_spec q = nested.resolve("layers.3.self_attn.q_proj.weight", linear_weight_defaults);
    BOOST_TEST(q.type == int8);
    BOOST_TEST(q.scheme == qscheme::per_tensor_symm);
    // A level named "scale" is a name when its value is an object, not the fixed_qparams key.
    BOOST_TEST(nested.resolve("scale", no_defaults).kind == observer_kind::identity);
}

BOOST_AUTO_TEST_CASE(every_observer_kind_reads) {
    const ptq_config config = read(R"({"overrides": {
      "a.act_in": {"observer": "ema", "dtype": "int8", "momentum": 0.95, "ema_form": "pytorch", "channel_axis": -1},
      "b.act_in": {"observer": "percentile", "dtype": "uint8", "qscheme": "per_tensor_asymm",
                   "lower_percentile": 0.5, "upper_percentile": 99.5, "max_samples": 1000,
                   "samples_per_batch": 100, "seed": 18446744073709551615},
      "c.weight": {"observer": "mx", "elem_format": "fp4", "axis": 1, "shared_exp_method": "max", "round": "nearest"},
      "d.act_out": {"observer": "identity"},
      "e.act_out": {"observer": "fixed_qparams", "dtype": "uint8", "scale": 0.0078125, "zero_point": 128},
      "f.act_out": {"observer": "minmax", "dtype": "int4", "qscheme": "per_channel_asymm", "channel_axis": 2}
    }})");

    const observer_spec ema = config.resolve("a.act_in", no_defaults);
    BOOST_TEST(ema.kind == observer_kind::ema);
    BOOST_TEST(ema.type == int8);
    BOOST_TEST(ema.scheme == qscheme::per_tensor_symm);
    BOOST_TEST(ema.ema.momentum == 0.95);
    BOOST_TEST((ema.ema.form == ema_form::pytorch));

    const observer_spec pct = config.resolve("b.act_in", no_defaults);
    BOOST_TEST(pct.kind == observer_kind::percentile);
    BOOST_TEST(pct.percentile.lower_percentile.value() == 0.5);
    BOOST_TEST(pct.percentile.upper_percentile.value() == 99.5);
    BOOST_TEST(pct.percentile.percentile == 99.99);  // the default, not given
    BOOST_TEST(pct.percentile.max_samples == 1000u);
    BOOST_TEST(pct.percentile.samples_per_batch == 100u);
    BOOST_TEST(pct.percentile.seed == 18446744073709551615ull);

    const observer_spec mx = config.resolve("c.weight", linear_weight_defaults);
    BOOST_TEST(mx.kind == observer_kind::mx);
    BOOST_TEST(mx.mx_element == mx_format::fp4_e2m1);
    BOOST_TEST(mx.mx_axis == 1);

    BOOST_TEST(config.resolve("d.act_out", no_defaults).kind == observer_kind::identity);

    const observer_spec fixed = config.resolve("e.act_out", no_defaults);
    BOOST_TEST(fixed.kind == observer_kind::fixed_qparams);
    BOOST_TEST(fixed.type == uint8);
    BOOST_TEST(fixed.scheme == qscheme::per_tensor_asymm);
    BOOST_TEST(fixed.fixed_scale == 0.0078125f);
    BOOST_TEST(fixed.fixed_zero_point == 128);

    // An explicit signed asymmetric per-channel scheme is kept, with the file's axis.
    const observer_spec minmax = config.resolve("f.act_out", no_defaults);
    BOOST_TEST(minmax.type == int4);
    BOOST_TEST(minmax.scheme == qscheme::per_channel_asymm);
    BOOST_TEST(minmax.channel_axis == 2);
}

BOOST_AUTO_TEST_CASE(role_specs_replace_base) {
    ptq_config base;
    base.activation = quant_spec::affine(int16);
    base.weight = quant_spec::affine(int16);
    const ptq_config config = read(R"({"weight": {"observer": "ema", "dtype": "uint8", "momentum": 0.5}})", base);
    BOOST_TEST(config.activation.type.value() == int16);  // untouched
    const observer_spec w = config.resolve("fc.weight", linear_weight_defaults);
    BOOST_TEST(w.kind == observer_kind::ema);
    BOOST_TEST(w.type == uint8);
    BOOST_TEST(w.scheme == qscheme::per_channel_asymm);
    BOOST_TEST(w.ema.momentum == 0.5);
}

BOOST_AUTO_TEST_CASE(empty_object_keeps_base) {
    const ptq_config base = gemma4::e2b_ptq_config();
    const ptq_config config = read("{}", base);
    BOOST_TEST(config.overrides.size() == base.overrides.size());
    BOOST_TEST(config.activation.type.value() == int16);
}

BOOST_AUTO_TEST_CASE(file_rules_follow_and_replace_base) {
    // The E2B base has six rules with the default arguments: *_proj.weight,
    // *_proj.linear.weight (vision), *projection.weight, *per_layer_input_gate.weight,
    // lm_head.weight and *patch_embedder.input_proj.weight (vision), all int16.
    const ptq_config base = gemma4::e2b_ptq_config();
    BOOST_TEST_REQUIRE(base.overrides.size() == 6u);
    const ptq_config config = read(R"({"overrides": {"*_proj.weight": {"dtype": "uint4"}, "*.weight": {"dtype": "uint8"}}})", base);

    // The base's "*_proj.weight" is replaced, so 5 base rules and 2 file rules remain, file rules last.
    BOOST_TEST_REQUIRE(config.overrides.size() == 7u);
    BOOST_TEST(config.overrides[0].pattern == "*_proj.linear.weight");
    BOOST_TEST(config.overrides[1].pattern == "*projection.weight");
    BOOST_TEST(!config.overrides[1].must_match);
    BOOST_TEST(config.overrides[5].pattern == "*_proj.weight");
    BOOST_TEST(config.overrides[5].must_match);
    BOOST_TEST(config.overrides[6].pattern == "*.weight");

    // Among globs the last rule wins, so the file's "*.weight" beats every glob before it.
    BOOST_TEST(config.resolve("layers.0.mlp.up_proj.weight", linear_weight_defaults).type == uint8);
    // An exact name beats any glob: the base's lm_head rule keeps int16, inferred symmetric.
    const observer_spec head = config.resolve("lm_head.weight", linear_weight_defaults);
    BOOST_TEST(head.type == int16);
    BOOST_TEST(head.scheme == qscheme::per_tensor_symm);
}

BOOST_AUTO_TEST_CASE(origin_names_file_and_line) {
    const ptq_config config = read("{\n  \"overrides\": {\n    \"a\": {\"dtype\": \"int8\"},\n    \"*.weight\": {\"dtype\": \"uint4\"}\n  }\n}");
    BOOST_TEST_REQUIRE(config.overrides.size() == 2u);
    BOOST_TEST(config.overrides[0].origin == "cfg.json:3: overrides.a");
    BOOST_TEST(config.overrides[1].origin == "cfg.json:4: overrides[\"*.weight\"]");
}

BOOST_AUTO_TEST_CASE(prepare_names_unmatched_file_rule) {
    two_layer model;
    const ptq_config config = read("{\"overrides\": {\n\"down.act_ot\": {\"dtype\": \"int16\"}}}");
    const std::string message = error_message<invalid_argument>([&] { prepare(model, config); });
    BOOST_TEST(has(message, "\"down.act_ot\""), message);
    BOOST_TEST(has(message, "from cfg.json:2: overrides[\"down.act_ot\"]"), message);
    BOOST_TEST(has(message, "down.act_out"), message);  // the nearest name
}

BOOST_AUTO_TEST_CASE(prepare_names_shadowed_file_rule) {
    two_layer model;
    // "*" comes last, so it wins over "*.weight" for every weight.
    const ptq_config config = read(R"({"overrides": {"*.weight": {"dtype": "uint4"}, "*": {"dtype": "int16"}}})");
    const std::string message = error_message<invalid_argument>([&] { prepare(model, config); });
    BOOST_TEST(has(message, "\"*.weight\" (from cfg.json:1: overrides[\"*.weight\"])"), message);
    BOOST_TEST(has(message, "matches observers such as up.weight, but other rules win"), message);
}

BOOST_AUTO_TEST_CASE(file_overload_reads_path) {
    const std::filesystem::path dir = std::filesystem::temp_directory_path() / "wrapq_ptq_config_json_test";
    std::filesystem::create_directories(dir);
    const std::filesystem::path path = dir / "ptq.json";
    {
        std::ofstream out(path);
        out << R"({"overrides": {"lm_head.weight": {"dtype": "uint8"}}})";
    }
    const ptq_config config = read_ptq_config_json(path, ptq_config{});
    BOOST_TEST_REQUIRE(config.overrides.size() == 1u);
    BOOST_TEST(config.overrides[0].origin == path.string() + ":1: overrides[\"lm_head.weight\"]");

    const std::filesystem::path missing = dir / "missing.json";
    const std::string message = error_message<io_error>([&] { read_ptq_config_json(missing); });
    BOOST_TEST(has(message, missing.string()), message);
    std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(invalid_json_names_file) {
    const std::string message = read_error(R"({"overrides": {,}})");
    BOOST_TEST(has(message, "cfg.json: invalid JSON at byte 15"), message);
}

BOOST_AUTO_TEST_CASE(top_level_must_be_object) {
    const std::string message = read_error("[1]");
    BOOST_TEST(has(message, "cfg.json:1"), message);
    BOOST_TEST(has(message, "expected a JSON object"), message);
    BOOST_TEST(has(message, "found an array"), message);
}

BOOST_AUTO_TEST_CASE(unknown_top_level_key) {
    const std::string message = read_error(R"({"overide": {}})");
    BOOST_TEST(has(message, "cfg.json:1: overide: unknown key \"overide\""), message);
    BOOST_TEST(has(message, "activation, weight and overrides"), message);
}

BOOST_AUTO_TEST_CASE(unknown_spec_key) {
    const std::string message = read_error("{\"overrides\": {\n\"*.weight\": {\"dtyp\": \"uint4\"}}}");
    BOOST_TEST(has(message, "cfg.json:2: overrides[\"*.weight\"].dtyp: unknown key \"dtyp\""), message);
    BOOST_TEST(has(message, "valid keys are observer, dtype, qscheme, channel_axis"), message);
}

BOOST_AUTO_TEST_CASE(unknown_dtype) {
    const std::string message = override_error(R"({"dtype": "uint32"})");
    BOOST_TEST(has(message, "cfg.json:1: overrides[\"x.act_in\"].dtype: unknown dtype \"uint32\""), message);
    BOOST_TEST(has(message, "int2 to int16 or uint2 to uint16"), message);
}

BOOST_AUTO_TEST_CASE(unknown_qscheme) {
    const std::string message = override_error(R"({"dtype": "int8", "qscheme": "per_tensor"})");
    BOOST_TEST(has(message, "overrides[\"x.act_in\"].qscheme: unknown qscheme \"per_tensor\""), message);
    BOOST_TEST(has(message, "per_tensor_symm, per_tensor_asymm, per_channel_symm or per_channel_asymm"), message);
}

BOOST_AUTO_TEST_CASE(unknown_observer) {
    const std::string message = override_error(R"({"observer": "MinMaxObserver"})");
    BOOST_TEST(has(message, "overrides[\"x.act_in\"].observer: unknown observer \"MinMaxObserver\""), message);
    BOOST_TEST(has(message, "minmax, ema, percentile, mx, identity or fixed_qparams"), message);
}

BOOST_AUTO_TEST_CASE(unknown_mx_format) {
    const std::string message = override_error(R"({"observer": "mx", "elem_format": "fp16"})");
    BOOST_TEST(has(message, ".elem_format: unknown MX element format \"fp16\""), message);
    BOOST_TEST(has(message, "fp8_e5m2"), message);
}

BOOST_AUTO_TEST_CASE(unsupported_mx_options) {
    BOOST_TEST(has(override_error(R"({"observer": "mx", "shared_exp_method": "none"})"), "only \"max\""));
    BOOST_TEST(has(override_error(R"({"observer": "mx", "round": "floor"})"), "round \"floor\" is not supported"));
}

BOOST_AUTO_TEST_CASE(wrong_json_types) {
    std::string message = override_error(R"({"dtype": 8})");
    BOOST_TEST(has(message, ".dtype: expected a string, found the number 8"), message);
    message = override_error(R"({"observer": "ema", "momentum": "0.9"})");
    BOOST_TEST(has(message, ".momentum: expected a number, found the string \"0.9\""), message);
    message = override_error(R"({"channel_axis": 1.5})");
    BOOST_TEST(has(message, ".channel_axis: expected an integer, found the number 1.5"), message);
    message = override_error(R"("uint4")");
    BOOST_TEST(has(message, "overrides[\"x.act_in\"]: expected an object"), message);
    BOOST_TEST(has(message, "found the string \"uint4\""), message);
    message = read_error(R"({"overrides": [1]})");
    BOOST_TEST(has(message, "cfg.json:1: overrides: expected an object of name patterns"), message);
    message = read_error(R"({"activation": "int16"})");
    BOOST_TEST(has(message, "activation: expected a spec object"), message);
}

BOOST_AUTO_TEST_CASE(unsigned_symmetric_rejected) {
    const std::string message = override_error(R"({"dtype": "uint8", "qscheme": "per_tensor_symm"})");
    BOOST_TEST(has(message, ".qscheme: the unsigned dtype uint8 cannot use the symmetric qscheme per_tensor_symm"), message);
    BOOST_TEST(has(message, "use an asymmetric qscheme or a signed dtype"), message);
}

BOOST_AUTO_TEST_CASE(parameter_without_its_observer) {
    const std::string message = override_error(R"({"dtype": "int8", "momentum": 0.9})");
    BOOST_TEST(has(message, ".momentum: momentum is a parameter of the ema observer; add \"observer\": \"ema\""), message);
}

BOOST_AUTO_TEST_CASE(parameter_of_other_observer) {
    std::string message = override_error(R"({"observer": "minmax", "dtype": "int8", "percentile": 99})");
    BOOST_TEST(has(message, ".percentile: percentile does not apply to the minmax observer"), message);
    BOOST_TEST(has(message, "it belongs to the percentile observer"), message);
    message = override_error(R"({"observer": "mx", "dtype": "int8"})");
    BOOST_TEST(has(message, ".dtype: dtype does not apply to the mx observer"), message);
    BOOST_TEST(has(message, "the minmax, ema, percentile and fixed_qparams observers"), message);
    message = override_error(R"({"observer": "percentile", "channel_axis": 0})");
    BOOST_TEST(has(message, "channel_axis does not apply to the percentile observer"), message);
    message = override_error(R"({"observer": "identity", "qscheme": "per_tensor_asymm"})");
    BOOST_TEST(has(message, "qscheme does not apply to the identity observer"), message);
}

BOOST_AUTO_TEST_CASE(per_tensor_only_observers) {
    std::string message = override_error(R"({"observer": "percentile", "qscheme": "per_channel_asymm"})");
    BOOST_TEST(has(message, "the percentile observer is per-tensor only, so the qscheme per_channel_asymm is invalid"), message);
    message = override_error(R"({"observer": "fixed_qparams", "qscheme": "per_channel_symm"})");
    BOOST_TEST(has(message, "the fixed_qparams observer is per-tensor only"), message);
}

BOOST_AUTO_TEST_CASE(momentum_out_of_range) {
    for (const char* momentum : {"0", "1.0", "-0.5", "1.5"}) {
        const std::string message = override_error(std::string(R"({"observer": "ema", "momentum": )") + momentum + "}");
        BOOST_TEST(has(message, std::string("momentum ") + momentum + " is out of range"), message);
        BOOST_TEST(has(message, "strictly between 0 and 1"), message);
    }
    const std::string message = override_error(R"({"observer": "ema", "momentum": 1e400})");
    BOOST_TEST(has(message, "1e400 is outside the range of a double"), message);
}

BOOST_AUTO_TEST_CASE(percentile_values_out_of_range) {
    std::string message = override_error(R"({"observer": "percentile", "percentile": 0})");
    BOOST_TEST(has(message, "percentile 0 is out of range; use a value in (0, 100]"), message);
    message = override_error(R"({"observer": "percentile", "percentile": 100.5})");
    BOOST_TEST(has(message, "percentile 100.5 is out of range"), message);
    message = override_error(R"({"observer": "percentile", "lower_percentile": 50, "upper_percentile": 40})");
    BOOST_TEST(has(message, "lower_percentile 50 and upper_percentile 40 must satisfy 0 <= lower < upper <= 100"), message);
    message = override_error(R"({"observer": "percentile", "upper_percentile": 99})");
    BOOST_TEST(has(message, ".upper_percentile: lower_percentile and upper_percentile must be given together"), message);
    message = override_error(R"({"observer": "percentile", "dtype": "int8", "lower_percentile": 1, "upper_percentile": 99})");
    BOOST_TEST(has(message, "need an asymmetric qscheme, but the signed dtype int8 defaults to per_tensor_symm"), message);
    message = override_error(R"({"observer": "percentile", "max_samples": 0})");
    BOOST_TEST(has(message, "max_samples 0 is out of range; use an integer from 1 to"), message);
    message = override_error(R"({"observer": "percentile", "seed": -1})");
    BOOST_TEST(has(message, "seed -1 is invalid; use an integer from 0 to 2^64 - 1"), message);
}

BOOST_AUTO_TEST_CASE(fixed_qparams_values_out_of_range) {
    std::string message = override_error(R"({"observer": "fixed_qparams", "dtype": "uint8", "zero_point": 256})");
    BOOST_TEST(has(message, "zero_point 256 is out of range; use an integer from 0 to 255"), message);
    message = override_error(R"({"observer": "fixed_qparams", "scale": 0})");
    BOOST_TEST(has(message, "scale 0 is invalid"), message);
    message = override_error(R"({"observer": "fixed_qparams", "scale": 1e39})");  // infinite in float32
    BOOST_TEST(has(message, "scale 1e39 is invalid"), message);
    message = override_error(R"({"observer": "fixed_qparams", "dtype": "int8", "qscheme": "per_tensor_symm", "zero_point": 3})");
    BOOST_TEST(has(message, "zero_point 3 is invalid with the symmetric qscheme per_tensor_symm"), message);
}

BOOST_AUTO_TEST_CASE(channel_axis_out_of_int_range) {
    const std::string message = override_error(R"({"channel_axis": 4294967296})");
    BOOST_TEST(has(message, "channel_axis 4294967296 is out of range"), message);
}

BOOST_AUTO_TEST_CASE(role_spec_needs_dtype) {
    const std::string message = read_error(R"({"activation": {"observer": "ema", "momentum": 0.9}})");
    BOOST_TEST(has(message, "cfg.json:1: activation: the activation role spec has no dtype"), message);
    // mx and identity roles need none.
    BOOST_TEST(read(R"({"weight": {"observer": "identity"}})").weight.kind.value() == observer_kind::identity);
}

BOOST_AUTO_TEST_CASE(empty_spec_rejected) {
    std::string message = override_error("{}");
    BOOST_TEST(has(message, "overrides[\"x.act_in\"]: the object is empty"), message);
    message = read_error(R"({"weight": {}})");
    BOOST_TEST(has(message, "weight: the spec object is empty"), message);
}

BOOST_AUTO_TEST_CASE(mixed_level_rejected) {
    const std::string message = read_error(R"({"overrides": {"mlp": {"dtype": "int8", "down_proj": {"dtype": "int8"}}}})");
    BOOST_TEST(has(message, "overrides.mlp: the object mixes the spec key \"dtype\" with the nested name \"down_proj\""), message);
}

BOOST_AUTO_TEST_CASE(empty_name_segment_rejected) {
    for (const char* key : {"a..b", ".a", "a.", ""}) {
        const std::string message = read_error(std::string(R"({"overrides": {")") + key + R"(": {"dtype": "int8"}}})");
        BOOST_TEST(has(message, std::string("the name \"") + key + "\" has an empty segment"), message);
    }
}

BOOST_AUTO_TEST_CASE(duplicate_pattern_rejected) {
    const std::string message = read_error("{\"overrides\": {\"a.b\": {\"dtype\": \"int8\"},\n\"a\": {\"b\": {\"dtype\": \"int4\"}}}}");
    BOOST_TEST(has(message, "cfg.json:2: overrides.a.b: the pattern \"a.b\" is set a second time"), message);
    BOOST_TEST(has(message, "first at cfg.json:1: overrides[\"a.b\"]"), message);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(spec_names)

BOOST_AUTO_TEST_CASE(dtype_names) {
    BOOST_TEST(parse_dtype("uint4").value() == uint4);
    BOOST_TEST(parse_dtype("int16").value() == int16);
    BOOST_TEST(parse_dtype("int2").value() == (dtype{2, true}));
    BOOST_TEST(parse_dtype("uint12").value() == (dtype{12, false}));
    for (const char* bad : {"int1", "int17", "int32", "uint08", "int", "uint", "float8", "Int8", "int8 ", "int-8"}) {
        BOOST_TEST(!parse_dtype(bad).has_value(), bad);
    }
}

BOOST_AUTO_TEST_CASE(other_names) {
    BOOST_TEST(parse_qscheme("per_channel_symm").value() == qscheme::per_channel_symm);
    BOOST_TEST(!parse_qscheme("per_channel").has_value());
    BOOST_TEST(parse_observer_kind("fixed_qparams").value() == observer_kind::fixed_qparams);
    BOOST_TEST(parse_mx_format("mxfp4").value() == mx_format::fp4_e2m1);
    BOOST_TEST(parse_mx_format("int8").value() == mx_format::int8);
    BOOST_TEST(!parse_mx_format("fp16").has_value());
    BOOST_TEST((parse_ema_form("pytorch").value() == ema_form::pytorch));
}

BOOST_AUTO_TEST_SUITE_END()
