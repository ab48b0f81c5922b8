// MinMax observers and the qparams formula, against TICO's observer test vectors.
#include "test_support.hpp"

#include <wrapq.hpp>

#include <xtensor/xadapt.hpp>

#include <boost/test/unit_test.hpp>

#include <limits>

using namespace wrapq;
using wrapq_test::bits;
using wrapq_test::column;

namespace {

constexpr dtype int5{5, true};

template <class Observer>
qparams calibrate(Observer& o, std::initializer_list<tensor> batches) {
    for (const tensor& b : batches) o.observe(b);
    return o.compute_qparams();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(affine_observers)

BOOST_AUTO_TEST_CASE(uint4_range_with_negative_min) {
    minmax_observer<uint4> o;
    const qparams p = calibrate(o, {tensor{-2.0f, 1.0f, 7.0f, -8.0f}});
    BOOST_TEST(o.min_val()[0] == -8.0f);
    BOOST_TEST(o.max_val()[0] == 7.0f);
    BOOST_TEST(bits(p.scale[0]) == bits(1.0f));
    BOOST_TEST(p.zero_point[0] == 8);
    BOOST_TEST(!p.axis.has_value());
}

BOOST_AUTO_TEST_CASE(uint4_two_batches) {
    minmax_observer<uint4> o;
    const qparams p = calibrate(o, {tensor{-1.0f, 2.0f, 3.0f}, tensor{4.0f}});
    BOOST_TEST(bits(p.scale[0]) == bits(0.33333334f));
    BOOST_TEST(bits(p.scale[0]) == bits(5.0f / 15.0f));
    BOOST_TEST(p.zero_point[0] == 3);
}

BOOST_AUTO_TEST_CASE(int8_symmetric) {
    minmax_observer<int8> o;
    BOOST_TEST(o.scheme() == qscheme::per_tensor_symm);
    const qparams p = calibrate(o, {tensor{-3.0f, 4.0f}});
    BOOST_TEST(bits(p.scale[0]) == bits(0.031496063f));
    BOOST_TEST(bits(p.scale[0]) == bits(4.0f / 127.0f));
    BOOST_TEST(p.zero_point[0] == 0);
}

BOOST_AUTO_TEST_CASE(int5_per_channel_mixed_signs) {
    minmax_observer<int5, qscheme::per_channel_asymm> o({}, 0);
    const qparams p = calibrate(o, {tensor{{1.0f, 3.0f, -2.0f}, {4.0f, -5.0f, 0.5f}}});
    BOOST_TEST((o.min_val() == std::vector<float>{-2.0f, -5.0f}));
    BOOST_TEST((o.max_val() == std::vector<float>{3.0f, 4.0f}));
    BOOST_TEST(bits(p.scale[0]) == bits(0.16129032f));
    BOOST_TEST(bits(p.scale[1]) == bits(0.29032257f));
    BOOST_TEST(bits(p.scale[0]) == bits(5.0f / 31.0f));
    BOOST_TEST(bits(p.scale[1]) == bits(9.0f / 31.0f));
    BOOST_TEST((p.zero_point == std::vector<std::int32_t>{-4, 1}));
    BOOST_TEST(p.axis.value() == 0);
}

BOOST_AUTO_TEST_CASE(uint4_all_positive_range_contains_zero) {
    minmax_observer<uint4> o;
    const qparams p = calibrate(o, {tensor{1.0f, 2.0f, 3.0f}, tensor{4.0f}});
    BOOST_TEST(bits(p.scale[0]) == bits(0.26666668f));
    BOOST_TEST(p.zero_point[0] == 0);
}

BOOST_AUTO_TEST_CASE(uint4_all_negative_range_contains_zero) {
    minmax_observer<uint4> o;
    const qparams p = calibrate(o, {tensor{-4.0f, -3.0f, -2.0f}, tensor{-1.0f}});
    BOOST_TEST(bits(p.scale[0]) == bits(4.0f / 15.0f));
    BOOST_TEST(p.zero_point[0] == 15);
}

BOOST_AUTO_TEST_CASE(int5_per_channel_one_sided) {
    minmax_observer<int5, qscheme::per_channel_asymm> positive({}, 0);
    const qparams p = calibrate(positive, {tensor{{1.0f, 3.0f, 2.0f}, {4.0f, 5.0f, 0.5f}}});
    BOOST_TEST(bits(p.scale[0]) == bits(3.0f / 31.0f));
    BOOST_TEST(bits(p.scale[1]) == bits(5.0f / 31.0f));
    BOOST_TEST(bits(p.scale[0]) == bits(0.09677419f));
    BOOST_TEST((p.zero_point == std::vector<std::int32_t>{-16, -16}));

    minmax_observer<int5, qscheme::per_channel_asymm> negative({}, 0);
    const qparams n = calibrate(negative, {tensor{{-1.0f, -3.0f, -2.0f}, {-4.0f, -5.0f, -0.5f}}});
    BOOST_TEST(bits(n.scale[0]) == bits(3.0f / 31.0f));
    BOOST_TEST(bits(n.scale[1]) == bits(0.16129032f));
    BOOST_TEST((n.zero_point == std::vector<std::int32_t>{15, 15}));
}

BOOST_AUTO_TEST_CASE(constant_tensors) {
    minmax_observer<uint8> positive;
    const qparams p = calibrate(positive, {tensor(xt::ones<float>({4, 5}) * 0.5f)});
    BOOST_TEST(bits(p.scale[0]) == bits(0.5f));
    BOOST_TEST(p.zero_point[0] == 0);
    BOOST_TEST(positive.fake_quantize(tensor{0.5f})(0) == 0.5f);

    minmax_observer<uint8> negative;
    const qparams n = calibrate(negative, {tensor{-0.3f, -0.3f}});
    BOOST_TEST(bits(n.scale[0]) == bits(0.3f));
    BOOST_TEST(n.zero_point[0] == 255);
    BOOST_TEST(negative.fake_quantize(tensor{-0.3f})(0) == -0.3f);

    minmax_observer<uint8> zero;
    const qparams z = calibrate(zero, {tensor(xt::zeros<float>({3, 3}))});
    BOOST_TEST(bits(z.scale[0]) == bits(1.0f));
    BOOST_TEST(z.zero_point[0] == 0);
    BOOST_TEST(zero.fake_quantize(tensor{0.0f})(0) == 0.0f);
}

BOOST_AUTO_TEST_CASE(per_channel_zero_channel_has_no_special_case) {
    minmax_observer<uint8, qscheme::per_channel_asymm> o({}, 0);
    const qparams p = calibrate(o, {tensor{{0.0f, 0.0f}, {-1.0f, 1.0f}}});
    BOOST_TEST(bits(p.scale[0]) == bits(1e-12f / 255.0f));
    BOOST_TEST(p.zero_point[0] == 0);
}

BOOST_AUTO_TEST_CASE(fake_quantize_uint4_vector) {
    // range [-1, 4]: scale 1/3, zero point 3
    minmax_observer<uint4> o;
    calibrate(o, {tensor{-1.0f, 4.0f}});
    const tensor y = o.fake_quantize(tensor{-1.0f, -0.5f, 0.0f, 0.2f, 1.0f, 4.0f, 5.0f});
    const std::vector<float> expected = {-1.0f, -0.6666667f, 0.0f, 0.33333334f, 1.0f, 4.0f, 4.0f};
    for (std::size_t i = 0; i < expected.size(); ++i) BOOST_TEST(bits(y(i)) == bits(expected[i]), "i=" << i);
}

BOOST_AUTO_TEST_CASE(uint8_asymmetric_minus_one_to_two) {
    minmax_observer<uint8> o;
    const qparams p = calibrate(o, {tensor{-1.0f, 2.0f}});
    BOOST_TEST(bits(p.scale[0]) == bits(0.011764706f));
    BOOST_TEST(p.zero_point[0] == 85);
}

BOOST_AUTO_TEST_CASE(int16_symmetric_vectors) {
    minmax_observer<int16> a;
    const qparams pa = calibrate(a, {tensor{-120.0f, 0.0f}});
    BOOST_TEST(bits(pa.scale[0]) == bits(0.0036622211f));
    BOOST_TEST(a.fake_quantize(tensor{-120.0f})(0) == -120.0f);

    minmax_observer<int16> b;
    const qparams pb = calibrate(b, {tensor{-1.0f, 1.0f}});
    BOOST_TEST(bits(pb.scale[0]) == bits(3.0518509e-05f));
}

BOOST_AUTO_TEST_CASE(int16_signed_asymmetric) {
    minmax_observer<int16, qscheme::per_tensor_asymm> o;
    const qparams p = calibrate(o, {tensor{-0.5f, 1.5f}});
    BOOST_TEST(bits(p.scale[0]) == bits(3.0518044e-05f));
    BOOST_TEST(p.zero_point[0] == -16384);
}

BOOST_AUTO_TEST_CASE(int16_symmetric_never_reaches_qmin) {
    // Symmetric scales divide by qmax = 32767, so the most negative observed
    // value lands on -32767 and the level -32768 is never used.
    minmax_observer<int16> o;
    calibrate(o, {tensor{-7.25f, 3.0f, -0.001f}, tensor{6.5f}});
    const qparams p = o.compute_qparams();
    const auto levels = quantize_levels(tensor{-7.25f, -7.2499995f, 3.0f, 6.5f}, p);
    BOOST_TEST(levels[0] == -32767);
    for (std::int32_t level : levels) BOOST_TEST(level > -32768);
}

BOOST_AUTO_TEST_CASE(per_channel_min_max_axis_zero_and_negative) {
    minmax_observer<int8, qscheme::per_channel_symm> o({}, 0);
    o.observe(tensor{{1.0f, -2.0f}, {3.0f, 4.0f}, {-5.0f, 0.5f}});
    BOOST_TEST((o.min_val() == std::vector<float>{-2.0f, 3.0f, -5.0f}));
    BOOST_TEST((o.max_val() == std::vector<float>{1.0f, 4.0f, 0.5f}));

    minmax_observer<int8, qscheme::per_channel_symm> last({}, -1);
    last.observe(tensor{{1.0f, 2.0f, -3.0f}, {4.0f, -5.0f, 0.5f}});
    BOOST_TEST((last.min_val() == std::vector<float>{1.0f, -5.0f, -3.0f}));
    BOOST_TEST((last.max_val() == std::vector<float>{4.0f, 2.0f, 0.5f}));
    BOOST_TEST(last.compute_qparams().axis.value() == 1);  // stored normalized
}

BOOST_AUTO_TEST_CASE(channelwise_reduction_vector) {
    const tensor x = {{1.0f, 2.0f, -3.0f}, {4.0f, -5.0f, 0.5f}};
    minmax_observer<int8, qscheme::per_channel_symm> positive({}, 0), negative({}, -2);
    positive.observe(x);
    negative.observe(x);
    BOOST_TEST((positive.min_val() == std::vector<float>{-3.0f, -5.0f}));
    BOOST_TEST((positive.max_val() == std::vector<float>{2.0f, 4.0f}));
    BOOST_TEST(negative.min_val() == positive.min_val());
    BOOST_TEST(negative.max_val() == positive.max_val());
}

BOOST_AUTO_TEST_CASE(unit_weight_is_exact) {
    // A norm weight of ones must come back as exactly 1.0: through the
    // constant rule for uint8, and as level 32767 for int16 symmetric.
    const tensor ones = xt::ones<float>({16});
    minmax_observer<uint8> u8;
    minmax_observer<int16> i16;
    u8.observe(ones);
    i16.observe(ones);
    BOOST_TEST(bits(u8.compute_qparams().scale[0]) == bits(1.0f));
    BOOST_TEST(bits(i16.compute_qparams().scale[0]) == bits(1.0f / 32767.0f));
    for (float v : u8.fake_quantize(ones)) BOOST_TEST(v == 1.0f);
    for (float v : i16.fake_quantize(ones)) BOOST_TEST(v == 1.0f);
    BOOST_TEST(quantize_levels(ones, *i16.cached_qparams())[0] == 32767);
}

BOOST_AUTO_TEST_CASE(rank_one_per_channel_is_elementwise) {
    minmax_observer<int8, qscheme::per_channel_symm> o({}, 0);
    o.observe(tensor{1.0f, -2.0f, 3.0f});
    BOOST_TEST((o.min_val() == std::vector<float>{1.0f, -2.0f, 3.0f}));
    BOOST_TEST((o.max_val() == std::vector<float>{1.0f, -2.0f, 3.0f}));
}

BOOST_AUTO_TEST_CASE(reset_forgets_everything) {
    minmax_observer<uint8> o;
    calibrate(o, {tensor{1.0f, 2.0f}});
    o.reset();
    BOOST_TEST(o.min_val().empty());
    BOOST_TEST(!o.has_qparams());
    BOOST_TEST(o.observed_count() == 0u);
    BOOST_CHECK_THROW(o.compute_qparams(), calibration_error);
}

BOOST_AUTO_TEST_CASE(disabled_observer_collects_nothing) {
    minmax_observer<uint8> o;
    o.enabled = false;
    o.observe(tensor{1.0f, 2.0f});
    BOOST_TEST(o.observed_count() == 0u);
}

BOOST_AUTO_TEST_CASE(fake_quant_switch_returns_input) {
    minmax_observer<uint4> o;
    calibrate(o, {tensor{-1.0f, 4.0f}});
    o.fake_quant_enabled = false;
    BOOST_TEST(o.fake_quantize(tensor{0.2f})(0) == 0.2f);
}

BOOST_AUTO_TEST_CASE(fake_quantize_needs_qparams) {
    minmax_observer<uint8> o;
    o.observe(tensor{1.0f});
    BOOST_CHECK_THROW(o.fake_quantize(tensor{1.0f}), calibration_error);
}

BOOST_AUTO_TEST_CASE(channel_count_change_is_rejected) {
    minmax_observer<int8, qscheme::per_channel_symm> o({}, 0);
    o.observe(column({1.0f, 2.0f}));
    BOOST_CHECK_THROW(o.observe(column({1.0f, 2.0f, 3.0f})), shape_error);
    BOOST_TEST(o.min_val().size() == 2u);
}

BOOST_AUTO_TEST_CASE(axis_out_of_range_is_rejected) {
    minmax_observer<int8, qscheme::per_channel_symm> o({}, 2);
    BOOST_CHECK_THROW(o.observe(column({1.0f, 2.0f})), shape_error);
}

BOOST_AUTO_TEST_CASE(observes_xtensor_expressions_and_adaptors) {
    std::vector<float> buffer = {-1.0f, 2.0f, 3.0f};
    minmax_observer<uint4> o;
    o.observe(xt::adapt(buffer, std::vector<std::size_t>{3}));
    o.observe(tensor{2.0f} * 2.0f);  // an unevaluated expression
    const qparams p = o.compute_qparams();
    BOOST_TEST(bits(p.scale[0]) == bits(5.0f / 15.0f));
}

BOOST_AUTO_TEST_CASE(load_qparams_lock_and_reset) {
    minmax_observer<uint8> o;
    o.load_qparams(qparams::per_tensor(0.1f, 5, uint8));
    BOOST_TEST(o.is_locked());
    BOOST_TEST(!o.enabled);
    o.enabled = true;
    o.observe(tensor{-100.0f, 100.0f});
    BOOST_TEST(o.compute_qparams().scale[0] == 0.1f);  // locked values survive

    o.reset();
    BOOST_TEST(!o.is_locked());
    BOOST_CHECK_THROW(o.compute_qparams(), calibration_error);

    o.load_qparams(qparams::per_tensor(0.1f, 5, uint8), false);
    o.observe(tensor{-1.0f, 2.0f});
    BOOST_TEST(o.compute_qparams().zero_point[0] == 85);  // unlocked values are recomputed

    BOOST_CHECK_THROW(o.load_qparams(qparams::per_tensor(0.1f, 0, int8)), invalid_argument);
}

BOOST_AUTO_TEST_CASE(load_qparams_must_fit_the_observer) {
    minmax_observer<int8> symmetric;
    BOOST_CHECK_THROW(symmetric.load_qparams(qparams::per_tensor(0.1f, 5, int8)), invalid_argument);
    BOOST_CHECK_NO_THROW(symmetric.load_qparams(qparams::per_tensor(0.1f, 0, int8)));

    minmax_observer<uint8, qscheme::per_channel_asymm> rows({}, 0);
    BOOST_CHECK_THROW(rows.load_qparams(qparams::per_channel({0.1f, 0.2f}, {0, 0}, 1, uint8)), invalid_argument);
    BOOST_CHECK_NO_THROW(rows.load_qparams(qparams::per_channel({0.1f, 0.2f}, {0, 0}, 0, uint8)));
}

BOOST_AUTO_TEST_CASE(merge_errors_name_the_difference) {
    ema_observer<int8> a({.momentum = 0.9}), b({.momentum = 0.5});
    try {
        a.merge(b);
        BOOST_FAIL("expected invalid_argument");
    } catch (const invalid_argument& e) {
        BOOST_TEST(std::string(e.what()).find("settings differ") != std::string::npos);
    }
    minmax_observer<int8, qscheme::per_channel_symm> axis0({}, 0), axis1({}, 1);
    try {
        axis0.merge(axis1);
        BOOST_FAIL("expected invalid_argument");
    } catch (const invalid_argument& e) {
        BOOST_TEST(std::string(e.what()).find("channel axis 1") != std::string::npos);
    }
}

BOOST_AUTO_TEST_CASE(merge_equals_single_pass) {
    minmax_observer<uint8, qscheme::per_channel_asymm> a({}, 1), b({}, 1), whole({}, 1);
    const tensor first = {{1.0f, -2.0f, 0.5f}, {3.0f, 9.0f, -1.0f}};
    const tensor second = {{-4.0f, 2.0f, 0.25f}, {0.0f, 1.0f, 7.0f}};
    a.observe(first);
    b.observe(second);
    whole.observe(first);
    whole.observe(second);
    a.merge(b);
    BOOST_TEST(a.min_val() == whole.min_val());
    BOOST_TEST(a.max_val() == whole.max_val());
    const qparams pa = a.compute_qparams(), pw = whole.compute_qparams();
    BOOST_TEST(pa.scale == pw.scale);
    BOOST_TEST(pa.zero_point == pw.zero_point);
    BOOST_TEST(a.observed_count() == whole.observed_count());
}

BOOST_AUTO_TEST_CASE(merge_rejects_other_layouts) {
    minmax_observer<uint8, qscheme::per_channel_asymm> a({}, 0), b({}, 1), c({}, 0);
    a.observe(tensor{{1.0f, 2.0f}});
    b.observe(tensor{{1.0f, 2.0f}});
    c.observe(column({1.0f, 2.0f}));
    BOOST_CHECK_THROW(a.merge(b), invalid_argument);
    BOOST_CHECK_THROW(a.merge(c), shape_error);
}

BOOST_AUTO_TEST_CASE(observers_satisfy_the_concept) {
    static_assert(Observer<minmax_observer<uint8>>);
    static_assert(Observer<minmax_observer<int8, qscheme::per_channel_symm>>);
    static_assert(Observer<ema_observer<int16>>);
    static_assert(Observer<percentile_observer<uint8>>);
    static_assert(Observer<fixed_qparams_observer<int16>>);
    static_assert(Observer<identity_observer>);
    static_assert(Observer<mx_observer<mx_format::fp4_e2m1>>);
    static_assert(!Observer<int>);
    BOOST_TEST(minmax_observer<uint8>::kind == "minmax");
}

BOOST_AUTO_TEST_SUITE_END()
