// MX, fixed-qparams and identity observers.
#include "test_support.hpp"

#include <wrapq.hpp>

#include <boost/test/unit_test.hpp>

#include <cmath>
#include <limits>

using namespace wrapq;
using wrapq_test::bits;

BOOST_AUTO_TEST_SUITE(mx_observers)

BOOST_AUTO_TEST_CASE(int8_elements_in_one_block) {
    // Block max 1.0: shared exponent floor(log2(1)) - 0 = 0, so values keep
    // 6 fractional bits: round(v * 64) / 64, half away from zero, within +-127/64.
    mx_observer<mx_format::int8> o;
    const tensor x = {1.0f, 0.3f, -0.7f, 2.5f / 64.0f, -2.5f / 64.0f, 0.0f};
    const tensor y = o.fake_quantize(x);
    BOOST_TEST(y(0) == 1.0f);
    BOOST_TEST(y(1) == 19.0f / 64.0f);
    BOOST_TEST(y(2) == -45.0f / 64.0f);
    BOOST_TEST(y(3) == 3.0f / 64.0f);   // 2.5 rounds away from zero, not to the even 2
    BOOST_TEST(y(4) == -3.0f / 64.0f);
    BOOST_TEST(y(5) == 0.0f);
}

BOOST_AUTO_TEST_CASE(int8_saturates_at_max_norm) {
    mx_observer<mx_format::int8> o;
    const tensor y = o.fake_quantize(tensor{1.999f, 1.99f});
    BOOST_TEST(y(0) == 127.0f / 64.0f);  // 127.94 rounds to 128, then saturates
    BOOST_TEST(y(1) == 127.0f / 64.0f);  // 127.36 rounds to 127
}

BOOST_AUTO_TEST_CASE(int8_shared_exponent_scales_block) {
    mx_observer<mx_format::int8> o;
    // max 6: exponent 2, so values are multiples of 4 / 64 = 1/16
    const tensor y = o.fake_quantize(tensor{6.0f, 0.01f, 1.03f});
    BOOST_TEST(y(0) == 6.0f);
    BOOST_TEST(y(1) == 0.0f);
    BOOST_TEST(y(2) == 1.0f);  // 1.03 * 16 = 16.48 -> 16
}

BOOST_AUTO_TEST_CASE(blocks_of_32_along_last_axis) {
    tensor x = xt::full_like(tensor(xt::zeros<float>({2, 40})), 0.3f);
    x(0, 35) = 100.0f;  // second block of row 0 only
    mx_observer<mx_format::int8> o(-1);
    const tensor y = o.fake_quantize(x);
    BOOST_TEST(y(0, 0) == 77.0f / 256.0f);  // first block: max 0.3 -> exponent -2: round(0.3 * 256) / 256
    BOOST_TEST(y(0, 0) != 0.0f);
    BOOST_TEST(y(0, 34) == 0.0f);           // same block as 100: exponent 6, step 1: 0.3 -> 0
    BOOST_TEST(y(0, 35) == 100.0f);
    BOOST_TEST(y(1, 35) == y(1, 0));        // row 1 is unaffected by row 0
}

BOOST_AUTO_TEST_CASE(blocks_along_axis_zero) {
    tensor x = xt::full_like(tensor(xt::zeros<float>({33, 2})), 0.3f);
    x(32, 0) = 100.0f;  // the second block along axis 0 holds only row 32
    mx_observer<mx_format::int8> o(0);
    const tensor y = o.fake_quantize(x);
    BOOST_TEST(y(0, 0) == y(0, 1));
    BOOST_TEST(y(31, 0) == y(31, 1));
    BOOST_TEST(y(32, 0) == 100.0f);
}

BOOST_AUTO_TEST_CASE(fp4_element_grid) {
    // Block max 6: shared exponent floor(log2 6) - 2 = 0, so elements map to
    // the e2m1 grid {0, 0.5, 1, 1.5, 2, 3, 4, 6}, rounding half away from zero.
    mx_observer<mx_format::fp4_e2m1> o;
    const tensor y = o.fake_quantize(tensor{6.0f, 2.5f, 5.0f, 0.25f, 0.2f, -1.25f, 3.4f, -0.75f});
    BOOST_TEST(y(0) == 6.0f);
    BOOST_TEST(y(1) == 3.0f);
    BOOST_TEST(y(2) == 6.0f);
    BOOST_TEST(y(3) == 0.5f);
    BOOST_TEST(y(4) == 0.0f);
    BOOST_TEST(y(5) == -1.5f);
    BOOST_TEST(y(6) == 3.0f);
    BOOST_TEST(y(7) == -1.0f);
}

BOOST_AUTO_TEST_CASE(fp4_saturates_and_scales) {
    mx_observer<mx_format::fp4_e2m1> o;
    const tensor y = o.fake_quantize(tensor{7.0f, 1.0f});
    BOOST_TEST(y(0) == 6.0f);  // exponent 0: 7 rounds to 8, saturates at 6
    const tensor z = o.fake_quantize(tensor{12.0f, 5.0f, 0.9f});
    BOOST_TEST(z(0) == 12.0f);  // exponent 1: 12 / 2 = 6
    BOOST_TEST(z(1) == 6.0f);   // 2.5 -> 3 -> 6
    BOOST_TEST(z(2) == 1.0f);   // 0.45 -> 0.5 -> 1
}

BOOST_AUTO_TEST_CASE(zero_block_and_nonfinite_values) {
    mx_observer<mx_format::int8> o;
    const float inf = std::numeric_limits<float>::infinity();
    const tensor zeros = o.fake_quantize(tensor(xt::zeros<float>({5})));
    for (float v : zeros) BOOST_TEST(v == 0.0f);
    const tensor y = o.fake_quantize(tensor{inf, 0.3f, std::numeric_limits<float>::quiet_NaN()});
    BOOST_TEST(y(0) == inf);
    BOOST_TEST(y(1) == 77.0f / 256.0f);  // the block max ignores the infinity: exponent -2
    BOOST_TEST(std::isnan(y(2)));
}

BOOST_AUTO_TEST_CASE(params_and_switches) {
    mx_observer<mx_format::fp4_e2m1> o(1);
    const mx_qparams p = o.compute_qparams();
    BOOST_TEST(to_string(p.format) == "mxfp4");
    BOOST_TEST(p.block_size == 32);
    BOOST_TEST(p.axis == 1);
    BOOST_TEST(to_string(mx_format::int8) == "mxint8");
    o.fake_quant_enabled = false;
    BOOST_TEST(o.fake_quantize(wrapq_test::column({0.3f}))(0, 0) == 0.3f);
    BOOST_CHECK_THROW(mx_observer<mx_format::int8>(3).fake_quantize(tensor{1.0f}), shape_error);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(fixed_and_identity_observers)

BOOST_AUTO_TEST_CASE(int16_tanh_output) {
    fixed_qparams_observer<int16> o(1.0f / 32768.0f, 0);
    o.observe(tensor{-0.25f, 0.5f});
    const qparams p = o.compute_qparams();
    BOOST_TEST(bits(p.scale[0]) == bits(1.0f / 32768.0f));
    BOOST_TEST(p.zero_point[0] == 0);
    const tensor y = o.fake_quantize(tensor{1.0f, -1.0f, 0.5f});
    BOOST_TEST(y(0) == 32767.0f / 32768.0f);
    BOOST_TEST(y(1) == -1.0f);
    BOOST_TEST(y(2) == 0.5f);
    BOOST_TEST(o.max_val()[0] == 0.5f);  // recorded for reports only
}

BOOST_AUTO_TEST_CASE(invalid_fixed_qparams) {
    BOOST_CHECK_THROW((fixed_qparams_observer<int16>(0.0f, 0)), invalid_argument);
    BOOST_CHECK_THROW((fixed_qparams_observer<int16>(0.1f, 3)), invalid_argument);
    BOOST_CHECK_THROW((fixed_qparams_observer<uint8, qscheme::per_tensor_asymm>(0.1f, 300)), invalid_argument);
    BOOST_CHECK_NO_THROW((fixed_qparams_observer<uint8, qscheme::per_tensor_asymm>(1.0f / 256.0f, 128)));
}

BOOST_AUTO_TEST_CASE(identity_leaves_tensors_alone) {
    identity_observer o;
    const tensor x = {0.123456f, -7.0f};
    o.observe(x);
    const tensor y = o.fake_quantize(x);
    BOOST_TEST(bits(y(0)) == bits(x(0)));
    BOOST_TEST(y(1) == -7.0f);
    BOOST_TEST(!o.enabled);
    BOOST_TEST(float_passthrough::scale == 1.0f);
    BOOST_TEST(float_passthrough::zero_point == 0);
}

BOOST_AUTO_TEST_SUITE_END()
