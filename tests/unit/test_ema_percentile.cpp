// Moving-average and percentile observers.
#include "test_support.hpp"

#include <wrapq.hpp>

#include <boost/test/unit_test.hpp>

#include <cmath>
#include <limits>

using namespace wrapq;
using wrapq_test::bits;

BOOST_AUTO_TEST_SUITE(ema_observers)

BOOST_AUTO_TEST_CASE(two_batches_per_tensor) {
    ema_observer<int8> o({.momentum = 0.5});
    o.observe(tensor{-1.0f, 2.0f, 3.0f});
    BOOST_TEST(o.min_val()[0] == -1.0f);  // the first batch sets the values
    BOOST_TEST(o.max_val()[0] == 3.0f);
    o.observe(tensor{-9.0f, 9.0f});
    BOOST_TEST(o.min_val()[0] == -5.0f);
    BOOST_TEST(o.max_val()[0] == 6.0f);
}

BOOST_AUTO_TEST_CASE(two_batches_per_channel) {
    ema_observer<int8, qscheme::per_channel_symm> o({.momentum = 0.5}, 0);
    o.observe(tensor{{1.0f, -2.0f}, {3.0f, -4.0f}});
    o.observe(tensor{{10.0f, -10.0f}, {5.0f, -5.0f}});
    BOOST_TEST(o.min_val()[0] == 0.5f * -2.0f + 0.5f * -10.0f);
    BOOST_TEST(o.min_val()[1] == 0.5f * -4.0f + 0.5f * -5.0f);
    BOOST_TEST(o.max_val()[0] == 0.5f * 1.0f + 0.5f * 10.0f);
    BOOST_TEST(o.max_val()[1] == 0.5f * 3.0f + 0.5f * 5.0f);
}

BOOST_AUTO_TEST_CASE(tico_form_rounding) {
    // v = float(m) * v + float(1 - m) * batch, with 1 - m taken in float64.
    ema_observer<int16> o({.momentum = 0.9});
    o.observe(tensor{-1.0f, 1.0f});
    o.observe(tensor{-0.3f, 0.7f});
    const float keep = static_cast<float>(0.9), step = static_cast<float>(1.0 - 0.9);
    const float expected_max = keep * 1.0f + step * 0.7f;
    BOOST_TEST(bits(o.max_val()[0]) == bits(expected_max));
}

BOOST_AUTO_TEST_CASE(pytorch_form_rounding) {
    // v = v + float(1 - m) * (batch - v), as torch's MovingAverageMinMaxObserver.
    ema_observer<int16> o({.momentum = 0.99, .form = ema_form::pytorch});
    o.observe(tensor{-1.0f, 1.0f});
    o.observe(tensor{-0.3f, 0.7f});
    const float step = static_cast<float>(1.0 - 0.99);
    BOOST_TEST(bits(o.max_val()[0]) == bits(1.0f + step * (0.7f - 1.0f)));
    BOOST_TEST(bits(o.min_val()[0]) == bits(-1.0f + step * (-0.3f - -1.0f)));
}

BOOST_AUTO_TEST_CASE(momentum_must_be_inside_unit_interval) {
    BOOST_CHECK_THROW(ema_observer<int8>({.momentum = 0.0}), invalid_argument);
    BOOST_CHECK_THROW(ema_observer<int8>({.momentum = 1.0}), invalid_argument);
    BOOST_CHECK_THROW(ema_observer<int8>({.momentum = -0.5}), invalid_argument);
    BOOST_CHECK_THROW(ema_observer<int8>({.momentum = std::nan("")}), invalid_argument);
}

BOOST_AUTO_TEST_CASE(channel_without_data_keeps_value) {
    ema_observer<int8, qscheme::per_channel_symm> o({.momentum = 0.5}, 1);
    const float qnan = std::numeric_limits<float>::quiet_NaN();
    o.observe(tensor{{1.0f, qnan}});
    o.observe(tensor{{3.0f, 4.0f}});  // channel 1 starts here
    o.observe(tensor{{5.0f, qnan}});  // channel 1 has no value in this batch
    BOOST_TEST(o.max_val()[0] == 0.5f * (0.5f * 1.0f + 0.5f * 3.0f) + 0.5f * 5.0f);
    BOOST_TEST(o.max_val()[1] == 4.0f);
}

BOOST_AUTO_TEST_CASE(merge_blends_other_shard) {
    ema_observer<int8> a({.momentum = 0.5}), b({.momentum = 0.5}), empty({.momentum = 0.5});
    b.observe(tensor{-4.0f, 8.0f});
    empty.merge(b);
    BOOST_TEST(empty.max_val()[0] == 8.0f);
    a.observe(tensor{-2.0f, 2.0f});
    a.merge(b);
    BOOST_TEST(a.max_val()[0] == 5.0f);
    BOOST_TEST(a.min_val()[0] == -3.0f);
    ema_observer<int8> other_momentum({.momentum = 0.25});
    BOOST_CHECK_THROW(a.merge(other_momentum), invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(percentile_observers)

BOOST_AUTO_TEST_CASE(one_sided_positive) {
    percentile_observer<uint8> o({.percentile = 80.0});
    o.observe(tensor{0.0f, 1.0f, 2.0f, 3.0f, 100.0f});
    const observed_range clip = o.statistic().range(false);
    BOOST_TEST(clip.mins[0] == 0.0f);
    BOOST_TEST(bits(clip.maxs[0]) == bits(static_cast<float>(22.4)));
    const qparams p = o.compute_qparams();
    BOOST_TEST(p.zero_point[0] == 0);
    BOOST_TEST(bits(p.scale[0]) == bits(0.087843135f));
    // compute_qparams must not replace the observed range with the clip range
    BOOST_TEST(o.max_val()[0] == 100.0f);
}

BOOST_AUTO_TEST_CASE(two_tails) {
    percentile_observer<uint8> o({.percentile = 80.0});
    o.observe(tensor{-100.0f, -3.0f, -2.0f, 0.0f, 2.0f, 4.0f, 80.0f});
    const observed_range clip = o.statistic().range(false);
    BOOST_TEST(bits(clip.mins[0]) == bits(static_cast<float>(-41.8)));
    BOOST_TEST(bits(clip.maxs[0]) == bits(static_cast<float>(34.4)));
}

BOOST_AUTO_TEST_CASE(explicit_lower_and_upper) {
    percentile_observer<uint8> o({.lower_percentile = 10.0, .upper_percentile = 80.0});
    o.observe(xt::arange<float>(-10.0f, 11.0f));
    const observed_range clip = o.statistic().range(false);
    BOOST_TEST(clip.mins[0] == -8.0f);
    BOOST_TEST(clip.maxs[0] == 6.0f);
}

BOOST_AUTO_TEST_CASE(symmetric_threshold) {
    percentile_observer<int16> o({.percentile = 80.0});
    o.observe(tensor{-100.0f, -2.0f, -1.0f, 0.0f, 1.0f, 3.0f});
    const qparams p = o.compute_qparams();
    BOOST_TEST(bits(p.scale[0]) == bits(3.0f / 32767.0f));
    BOOST_TEST(p.zero_point[0] == 0);
}

BOOST_AUTO_TEST_CASE(one_sided_negative) {
    percentile_observer<uint8> o({.percentile = 75.0});
    o.observe(tensor{-8.0f, -4.0f, -2.0f, -1.0f, 0.0f});
    // quantile at 0.25 of [-8, -4, -2, -1, 0]: rank 1 -> -4
    const observed_range clip = o.statistic().range(false);
    BOOST_TEST(clip.mins[0] == -4.0f);
    BOOST_TEST(clip.maxs[0] == 0.0f);
}

BOOST_AUTO_TEST_CASE(hundred_percent_uses_observed_bounds) {
    percentile_observer<uint8> o({.percentile = 100.0, .max_samples = 2});
    o.observe(tensor{-100.0f, -3.0f, 5.0f, 80.0f});
    const observed_range clip = o.statistic().range(false);
    BOOST_TEST(clip.mins[0] == -100.0f);
    BOOST_TEST(clip.maxs[0] == 80.0f);
    BOOST_TEST(o.statistic().retained_samples() == 2u);
}

BOOST_AUTO_TEST_CASE(bounded_reservoir) {
    percentile_observer<uint8> o({.max_samples = 17});
    for (int b = 0; b < 20; ++b) o.observe(xt::arange<float>(0.0f, 100.0f) + static_cast<float>(b));
    BOOST_TEST(o.statistic().retained_samples() == 17u);
    BOOST_TEST(o.min_val()[0] == 0.0f);
    BOOST_TEST(o.max_val()[0] == 118.0f);
}

BOOST_AUTO_TEST_CASE(batch_subsampling) {
    percentile_observer<uint8> o({.samples_per_batch = 100});
    o.observe(xt::arange<float>(0.0f, 10000.0f));
    BOOST_TEST(o.statistic().retained_samples() == 100u);
    BOOST_TEST(o.max_val()[0] == 9999.0f);  // exact bounds still see every value
}

BOOST_AUTO_TEST_CASE(same_seed_same_result) {
    auto run = [] {
        percentile_observer<uint8> o({.percentile = 99.0, .max_samples = 50, .samples_per_batch = 64, .seed = 42});
        for (int b = 0; b < 10; ++b) o.observe(xt::sin(xt::arange<float>(0.0f, 500.0f) * (0.1f + b)));
        return o.compute_qparams();
    };
    const qparams a = run(), b = run();
    BOOST_TEST(bits(a.scale[0]) == bits(b.scale[0]));
    BOOST_TEST(a.zero_point[0] == b.zero_point[0]);
}

BOOST_AUTO_TEST_CASE(merge_equals_single_pass_when_everything_fits) {
    percentile_observer<uint8> a({.percentile = 90.0}), b({.percentile = 90.0}), whole({.percentile = 90.0});
    const tensor first = xt::arange<float>(-20.0f, 30.0f);
    const tensor second = xt::arange<float>(5.0f, 90.0f) * 0.5f;
    a.observe(first);
    b.observe(second);
    whole.observe(first);
    whole.observe(second);
    a.merge(b);
    const observed_range merged = a.statistic().range(false), single = whole.statistic().range(false);
    BOOST_TEST(bits(merged.mins[0]) == bits(single.mins[0]));
    BOOST_TEST(bits(merged.maxs[0]) == bits(single.maxs[0]));
}

BOOST_AUTO_TEST_CASE(nonfinite_values_never_enter_reservoir) {
    const float qnan = std::numeric_limits<float>::quiet_NaN();
    const float inf = std::numeric_limits<float>::infinity();
    percentile_observer<uint8> clean({.percentile = 80.0}), dirty({.percentile = 80.0});
    clean.observe(tensor{-100.0f, -3.0f, -2.0f, 0.0f, 2.0f, 4.0f, 80.0f});
    dirty.observe(tensor{-100.0f, qnan, -3.0f, -2.0f, inf, 0.0f, 2.0f, -inf, 4.0f, 80.0f});
    BOOST_TEST(dirty.statistic().retained_samples() == 7u);
    BOOST_TEST(dirty.nonfinite_count() == 3u);
    const observed_range a = clean.statistic().range(false), b = dirty.statistic().range(false);
    BOOST_TEST(bits(a.mins[0]) == bits(b.mins[0]));
    BOOST_TEST(bits(a.maxs[0]) == bits(b.maxs[0]));
}

BOOST_AUTO_TEST_CASE(invalid_settings) {
    BOOST_CHECK_THROW(percentile_observer<uint8>({.percentile = 0.0}), invalid_argument);
    BOOST_CHECK_THROW(percentile_observer<uint8>({.percentile = 100.5}), invalid_argument);
    BOOST_CHECK_THROW(percentile_observer<uint8>({.lower_percentile = 10.0}), invalid_argument);
    BOOST_CHECK_THROW(percentile_observer<uint8>({.lower_percentile = 50.0, .upper_percentile = 40.0}),
                      invalid_argument);
    BOOST_CHECK_THROW(percentile_observer<int8>({.lower_percentile = 1.0, .upper_percentile = 99.0}),
                      invalid_argument);  // int8 defaults to a symmetric scheme
    BOOST_CHECK_THROW(percentile_observer<uint8>({.max_samples = 0}), invalid_argument);
}

BOOST_AUTO_TEST_CASE(quantile_interpolates_linearly) {
    BOOST_TEST(quantile_sorted({0.0, 1.0, 2.0, 3.0, 100.0}, 0.8) == 22.4, boost::test_tools::tolerance(1e-12));
    BOOST_TEST(quantile_sorted({5.0}, 0.3) == 5.0);
    BOOST_TEST(quantile_sorted({1.0, 3.0}, 0.0) == 1.0);
    BOOST_TEST(quantile_sorted({1.0, 3.0}, 1.0) == 3.0);
    BOOST_TEST(quantile_sorted({1.0, 3.0}, 0.5) == 2.0);
}

BOOST_AUTO_TEST_SUITE_END()
