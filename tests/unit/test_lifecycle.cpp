// prepare -> calibrate -> convert, modes, errors and the report.
#include "test_errors.hpp"
#include "test_support.hpp"

#include <wrapq.hpp>

#include <boost/test/unit_test.hpp>

#include <cmath>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

using namespace wrapq;
using wrapq_test::bits;
using wrapq_test::error_message;
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

constexpr float inf = std::numeric_limits<float>::infinity();
const float qnan = std::numeric_limits<float>::quiet_NaN();

/// Returns the report entry of observer `name`.
observer_record record_named(const std::vector<observer_record>& records, const std::string& name) {
    for (const observer_record& r : records) {
        if (r.name == name) return r;
    }
    BOOST_FAIL("the report has no observer " << name);
    return {};
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

BOOST_AUTO_TEST_CASE(nonfinite_weight_rejected_at_prepare) {
    // up.weight has shape (5, 6), so element (2, 3) has flat index 2 * 6 + 3 = 15.
    const std::vector<std::pair<float, std::string>> cases = {{qnan, "nan"}, {inf, "inf"}, {-inf, "-inf"}};
    for (const auto& [value, text] : cases) {
        BOOST_TEST_CONTEXT("weight value " << text) {
            two_layer m = make_model();
            m.up.weight.value(2, 3) = value;
            const std::string message = error_message<value_error>([&] { prepare(m, ptq_config{}); });
            BOOST_TEST(message == "up.weight: the weight has the non-finite value " + text +
                                      " at flat index 15, which has no quantized level; make the weight finite before "
                                      "prepare(), or keep it in float with quant_spec::no_quant()");

            // Every observer is back in no_quant mode, so prepare() runs again once the weight is fixed.
            for (const auto& mode : modes_of(m)) BOOST_TEST(mode == "no_quant");
            m.up.weight.value(2, 3) = 0.5f;
            BOOST_CHECK_NO_THROW(prepare(m, ptq_config{}));
            BOOST_TEST(m.up.weight_observer.observed_count() == 30u);
        }
    }
}

BOOST_AUTO_TEST_CASE(float_weight_may_be_nonfinite) {
    // An identity observer keeps the weight in float, so a NaN in it needs no level.
    two_layer m = make_model();
    m.down.weight.value(1, 4) = qnan;
    ptq_config config;
    config.overrides.push_back({"down.weight", quant_spec::no_quant()});
    BOOST_CHECK_NO_THROW(prepare(m, config));
    BOOST_TEST(m.down.weight_observer.spec().kind == observer_kind::identity);
}

BOOST_AUTO_TEST_CASE(calibration_without_data_is_explained) {
    // No calibration batch at all, and batches of zero rows (empty
    // sequences), which observers ignore. Either way the convert() error
    // names the first activation site and what to do.
    const std::string expected =
        "up.act_in: compute_qparams: the minmax observer has seen no finite value; run calibration batches through it first";
    for (const std::size_t batches : {0, 3}) {
        BOOST_TEST_CONTEXT(batches << " empty batches") {
            two_layer m = make_model();
            prepare(m, ptq_config{});
            for (std::size_t b = 0; b < batches; ++b) m.forward(tensor(xt::zeros<float>({std::size_t{0}, std::size_t{6}})));
            BOOST_TEST(m.up.act_in.observed_count() == 0u);
            BOOST_TEST(error_message<calibration_error>([&] { convert(m); }) == expected);
        }
    }
}

BOOST_AUTO_TEST_CASE(nonfinite_activations_counted_or_rejected) {
    two_layer m = make_model();
    prepare(m, ptq_config{});

    // A batch with no finite value: the error names the first site that observes it.
    const std::string all_bad = "up.act_in: observe: all 12 values of the batch are NaN or infinite; fix the producer of "
                                "this tensor before calibrating on it";
    tensor nan_batch = xt::zeros<float>({std::size_t{2}, std::size_t{6}});
    nan_batch.fill(qnan);
    BOOST_TEST(error_message<calibration_error>([&] { m.forward(nan_batch); }) == all_bad);
    const tensor infinite_batch = {{inf, -inf, inf, -inf, inf, -inf}, {-inf, inf, -inf, inf, -inf, inf}};
    BOOST_TEST(error_message<calibration_error>([&] { m.forward(infinite_batch); }) == all_bad);

    // One NaN in row 0 of a (2, 6) input, which up.act_in skips. Row 0 of
    // up's output (5 values) is then NaN, and so are row 0 of the GELU
    // output and of down's output (3 values). Every site skips and counts them.
    tensor x = random_tensor({2, 6}, 90);
    x(0, 2) = qnan;
    m.forward(x);
    const std::vector<observer_record> records = collect_report(m);
    BOOST_TEST(record_named(records, "up.act_in").nonfinite == 1u);
    BOOST_TEST(record_named(records, "up.act_in").observed == 11u);
    BOOST_TEST(record_named(records, "up.act_out").nonfinite == 5u);
    BOOST_TEST(record_named(records, "act.act_out").nonfinite == 5u);
    BOOST_TEST(record_named(records, "down.act_in").nonfinite == 5u);
    BOOST_TEST(record_named(records, "down.act_out").nonfinite == 3u);
    BOOST_TEST(record_named(records, "down.act_out").observed == 3u);

    // The finite row calibrated every site, so convert() succeeds and a finite input stays finite.
    convert(m);
    const tensor y = m.forward(random_tensor({2, 6}, 91));
    for (const float v : y) BOOST_TEST(std::isfinite(v));
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
