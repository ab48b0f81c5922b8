// prepare -> calibrate -> convert, modes, errors and the report.
#include "test_support.hpp"

#include <wrapq.hpp>

#include <boost/test/unit_test.hpp>

#include <random>
#include <sstream>
#include <string>

using namespace wrapq;
using wrapq_test::bits;
using wrapq_test::random_tensor;

namespace {

struct two_layer {
    nn::linear<6, 5, true> up;
    nn::gelu_tanh_block act;
    nn::linear<5, 3> down;

    static constexpr auto members() {
        return std::tuple{field("up", &two_layer::up), field("act", &two_layer::act), field("down", &two_layer::down)};
    }

    tensor forward(const tensor& x) { return down.forward(act.forward(up.forward(x))); }
};

two_layer make_model() {
    two_layer m;
    m.up.weight.assign(random_tensor({5, 6}, 1, 0.5f));
    m.up.bias.assign(random_tensor({5}, 2, 0.1f));
    m.down.weight.assign(random_tensor({3, 5}, 3, 0.5f));
    return m;
}

template <class M>
std::vector<std::string> modes_of(M& model) {
    std::vector<std::string> modes;
    for_each_observer(model, [&](const std::string&, auto& o) { modes.push_back(std::string(to_string(o.mode))); });
    return modes;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(ptq_lifecycle)

BOOST_AUTO_TEST_CASE(new_model_is_float) {
    two_layer m = make_model();
    const tensor x = random_tensor({2, 6}, 9);
    for (const auto& mode : modes_of(m)) BOOST_TEST(mode == "no_quant");
    // No observer changes anything: a second float model built by hand agrees exactly.
    const tensor y = m.forward(x);
    const tensor h = nn::gelu_tanh(m.up.forward(x));
    BOOST_TEST(bits(y(1, 2)) == bits(m.down.forward(h)(1, 2)));
}

BOOST_AUTO_TEST_CASE(prepare_names_and_switches_modes) {
    two_layer m = make_model();
    prepare(m, ptq_config{});
    BOOST_TEST(m.up.act_in.name == "up.act_in");
    BOOST_TEST(m.down.weight_observer.name == "down.weight");
    for (const auto& mode : modes_of(m)) BOOST_TEST(mode == "calibration");
    // Weights were observed once at prepare, activations not yet.
    BOOST_TEST(m.up.weight_observer.observed_count() == 30u);
    BOOST_TEST(m.up.act_in.observed_count() == 0u);
    BOOST_TEST(m.up.weight_observer.spec().scheme == qscheme::per_channel_asymm);
}

BOOST_AUTO_TEST_CASE(calibration_passes_float_values) {
    two_layer m = make_model();
    two_layer reference = make_model();
    prepare(m, ptq_config{});
    const tensor x = random_tensor({4, 6}, 10);
    const tensor y = m.forward(x);
    const tensor expected = reference.forward(x);
    for (std::size_t i = 0; i < y.size(); ++i) BOOST_TEST(bits(y.data()[i]) == bits(expected.data()[i]));
    BOOST_TEST(m.up.act_in.observed_count() == 24u);
    // act.act_in observes exactly up's float output, the tensor up.act_out observed.
    BOOST_TEST(m.act.act_in.min_val() == m.up.act_out.min_val());
}

BOOST_AUTO_TEST_CASE(quantized_forward_matches_manual_fake_quant) {
    two_layer m = make_model();
    ptq_config config;
    config.activation = quant_spec::affine(int16);
    config.overrides.push_back({"down.weight", quant_spec::affine(uint4)});
    prepare(m, config);
    for (unsigned s = 0; s < 3; ++s) m.forward(random_tensor({4, 6}, 20 + s));
    convert(m);

    const tensor x = random_tensor({3, 6}, 40);
    const tensor y = m.forward(x);

    // The documented sites: fq(x, act_in) -> linear with fq(W) -> fq(y, act_out), per block.
    auto fq = [](const any_observer& o, const tensor& t) { return fake_quantize(t, *o.affine_qparams()); };
    auto dense = [](const tensor& in, const tensor& w, const float* b, std::size_t out_features) {
        tensor out = xt::zeros<float>({in.shape()[0], out_features});
        kernel::linear_forward(in.data(), in.shape()[0], w.data(), out_features, in.shape()[1], b, out.data());
        return out;
    };
    const tensor w_up = fq(m.up.weight_observer, m.up.weight.value);
    const tensor w_down = fq(m.down.weight_observer, m.down.weight.value);
    tensor h = fq(m.up.act_out, dense(fq(m.up.act_in, x), w_up, m.up.bias.value.data(), 5));
    h = fq(m.act.act_out, nn::gelu_tanh(fq(m.act.act_in, h)));
    const tensor expected = fq(m.down.act_out, dense(fq(m.down.act_in, h), w_down, nullptr, 3));

    BOOST_TEST(m.down.weight_observer.spec().type == uint4);
    BOOST_TEST(m.up.act_in.spec().scheme == qscheme::per_tensor_symm);
    for (std::size_t i = 0; i < y.size(); ++i) BOOST_TEST(bits(y.data()[i]) == bits(expected.data()[i]), "i=" << i);
}

BOOST_AUTO_TEST_CASE(weights_quantized_once_at_convert) {
    two_layer m = make_model();
    prepare(m, ptq_config{});
    m.forward(random_tensor({4, 6}, 50));
    convert(m);
    BOOST_TEST(m.up.quantized_weight().value().size() == 30u);
    const tensor x = random_tensor({2, 6}, 51);
    const tensor before = m.forward(x);
    m.up.weight.value.fill(100.0f);  // a later edit of the float weight is not seen
    const tensor after = m.forward(x);
    BOOST_TEST(bits(before(0, 0)) == bits(after(0, 0)));
}

BOOST_AUTO_TEST_CASE(fake_quant_switch_bypasses_a_site) {
    two_layer m = make_model();
    prepare(m, ptq_config{});
    m.forward(random_tensor({4, 6}, 60));
    convert(m);
    const tensor x = random_tensor({1, 6}, 61);
    for_each_observer(m, [](const std::string&, auto& o) { o.fake_quant_enabled = false; });
    two_layer reference = make_model();
    const tensor y = m.forward(x), expected = reference.forward(x);
    for (std::size_t i = 0; i < y.size(); ++i) BOOST_TEST(bits(y.data()[i]) == bits(expected.data()[i]));
}

BOOST_AUTO_TEST_CASE(lifecycle_errors) {
    two_layer m = make_model();
    BOOST_CHECK_THROW(convert(m), invalid_argument);  // not prepared
    prepare(m, ptq_config{});
    BOOST_CHECK_THROW(prepare(m, ptq_config{}), invalid_argument);  // prepared twice
    try {
        convert(m);  // activations saw no data
        BOOST_FAIL("expected calibration_error");
    } catch (const calibration_error& e) {
        BOOST_TEST(std::string(e.what()).find("up.act_in") != std::string::npos);
    }
}

BOOST_AUTO_TEST_CASE(skip_uncalibrated_leaves_float_sites) {
    two_layer m = make_model();
    prepare(m, ptq_config{});
    m.up.forward(random_tensor({2, 6}, 70));  // only the first block runs
    convert(m, {.skip_uncalibrated = true});
    BOOST_TEST(m.up.act_out.mode == ptq_mode::quantized);
    BOOST_TEST(m.down.act_in.mode == ptq_mode::no_quant);
    BOOST_TEST(m.down.weight_observer.mode == ptq_mode::quantized);  // weights were observed at prepare
}

BOOST_AUTO_TEST_CASE(unknown_override_lists_near_names) {
    two_layer m = make_model();
    ptq_config config;
    config.overrides.push_back({"down.act_ot", quant_spec::affine(int16)});
    try {
        prepare(m, config);
        BOOST_FAIL("expected invalid_argument");
    } catch (const invalid_argument& e) {
        const std::string message = e.what();
        BOOST_TEST(message.find("down.act_ot") != std::string::npos);
        BOOST_TEST(message.find("down.act_out") != std::string::npos);
    }
    for (const auto& mode : modes_of(m)) BOOST_TEST(mode == "no_quant");  // nothing changed

    ptq_config glob;
    glob.overrides.push_back({"*.bias", quant_spec::affine(int16)});  // no observer is named bias
    BOOST_CHECK_THROW(prepare(m, glob), invalid_argument);
}

BOOST_AUTO_TEST_CASE(invalid_spec_leaves_model_untouched) {
    two_layer m = make_model();
    ptq_config config;
    config.overrides.push_back({"act.act_in", quant_spec::affine(uint8).with_ema({.momentum = 2.0})});
    BOOST_CHECK_THROW(prepare(m, config), invalid_argument);
    for (const auto& mode : modes_of(m)) BOOST_TEST(mode == "no_quant");
}

BOOST_AUTO_TEST_CASE(report_table_and_json) {
    two_layer m = make_model();
    prepare(m, ptq_config{});
    m.forward(random_tensor({4, 6}, 80));
    convert(m);
    const std::vector<observer_record> records = collect_report(m);
    BOOST_TEST(records.size() == observer_count<two_layer>);
    BOOST_TEST(records[0].name == "up.weight");
    BOOST_TEST(records[0].scale.size() == 5u);  // per-channel
    BOOST_TEST(records[0].channel_axis.value() == 0);
    BOOST_TEST(records[1].scale == m.up.act_in.affine_qparams()->scale);

    std::ostringstream table, json;
    write_report_table(table, records);
    write_report_json(json, records);
    BOOST_TEST(table.str().find("down.act_out") != std::string::npos);
    BOOST_TEST(table.str().find("5 ch:") != std::string::npos);
    BOOST_TEST(json.str().find("\"name\": \"up.weight\"") != std::string::npos);
    BOOST_TEST(json.str().find("\"qscheme\": \"per_channel_asymm\"") != std::string::npos);
    BOOST_TEST(json.str().front() == '[');
}

BOOST_AUTO_TEST_SUITE_END()
