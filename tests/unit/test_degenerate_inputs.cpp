// Non-finite values, empty batches and observers without data.
#include "test_support.hpp"

#include <wrapq/observers.hpp>

#include <boost/test/unit_test.hpp>

#include <cmath>
#include <limits>

using namespace wrapq;
using wrapq_test::bits;

namespace {
constexpr float inf = std::numeric_limits<float>::infinity();
const float qnan = std::numeric_limits<float>::quiet_NaN();
}  // namespace

BOOST_AUTO_TEST_SUITE(degenerate_inputs)

BOOST_AUTO_TEST_CASE(nonfinite_values_are_skipped_and_counted) {
    minmax_observer<uint8> o;
    tensor x = xt::linspace<float>(-1.0f, 2.0f, 40);
    x(0) = qnan;    // vector body
    x(5) = inf;
    x(39) = -inf;  // scalar tail for any lane count that does not divide 40
    o.observe(x);
    BOOST_TEST(o.nonfinite_count() == 3u);
    BOOST_TEST(o.observed_count() == 37u);
    BOOST_TEST(o.min_val()[0] == x(1));
    BOOST_TEST(o.max_val()[0] == x(38));
}

BOOST_AUTO_TEST_CASE(per_channel_nonfinite_skipped) {
    minmax_observer<int8, qscheme::per_channel_symm> rows({}, 0), columns({}, 1);
    const tensor x = {{1.0f, qnan, -3.0f}, {inf, 2.0f, 0.5f}};
    rows.observe(x);
    columns.observe(x);
    BOOST_TEST((rows.min_val() == std::vector<float>{-3.0f, 0.5f}));
    BOOST_TEST((rows.max_val() == std::vector<float>{1.0f, 2.0f}));
    BOOST_TEST((columns.min_val() == std::vector<float>{1.0f, 2.0f, -3.0f}));
    BOOST_TEST(rows.nonfinite_count() == 2u);
    BOOST_TEST(columns.nonfinite_count() == 2u);
}

BOOST_AUTO_TEST_CASE(all_nonfinite_batch_is_an_error) {
    minmax_observer<uint8> o;
    o.observe(tensor{1.0f, 2.0f});
    BOOST_CHECK_THROW(o.observe(tensor{qnan, inf, -inf}), calibration_error);
    // The rejected batch leaves the statistics as they were.
    BOOST_TEST(o.min_val()[0] == 1.0f);
    BOOST_TEST(o.max_val()[0] == 2.0f);

    ema_observer<int16> e;
    e.observe(tensor{1.0f});
    BOOST_CHECK_THROW(e.observe(tensor{qnan}), calibration_error);
    BOOST_TEST(e.max_val()[0] == 1.0f);

    percentile_observer<uint8> p;
    BOOST_CHECK_THROW(p.observe(tensor{inf, qnan}), calibration_error);
}

BOOST_AUTO_TEST_CASE(empty_batch_is_ignored) {
    minmax_observer<uint8> o;
    o.observe(tensor(xt::zeros<float>({0})));
    BOOST_TEST(o.observed_count() == 0u);
    BOOST_CHECK_THROW(o.compute_qparams(), calibration_error);
}

BOOST_AUTO_TEST_CASE(observer_without_data_raises_not_inf) {
    minmax_observer<int16> symmetric;  // the reference would divide +inf by qmax here
    minmax_observer<uint8> asymmetric;
    ema_observer<int8> ema;
    percentile_observer<uint8> percentile;
    BOOST_CHECK_THROW(symmetric.compute_qparams(), calibration_error);
    BOOST_CHECK_THROW(asymmetric.compute_qparams(), calibration_error);
    BOOST_CHECK_THROW(ema.compute_qparams(), calibration_error);
    BOOST_CHECK_THROW(percentile.compute_qparams(), calibration_error);
    try {
        symmetric.compute_qparams();
    } catch (const calibration_error& e) {
        BOOST_TEST(std::string(e.what()).find("no finite value") != std::string::npos);
    }
}

BOOST_AUTO_TEST_CASE(per_channel_channel_without_data_is_named) {
    minmax_observer<int8, qscheme::per_channel_symm> o({}, 1);
    o.observe(tensor{{1.0f, qnan}, {2.0f, inf}});
    try {
        o.compute_qparams();
        BOOST_FAIL("expected calibration_error");
    } catch (const calibration_error& e) {
        BOOST_TEST(std::string(e.what()).find("channel 1") != std::string::npos);
    }
}

BOOST_AUTO_TEST_CASE(overflowing_range_is_reported) {
    minmax_observer<uint8> o;
    const float big = std::numeric_limits<float>::max();
    o.observe(tensor{-big, big});
    BOOST_CHECK_THROW(o.compute_qparams(), calibration_error);
}

BOOST_AUTO_TEST_CASE(one_sided_ranges_keep_zero_exact) {
    for (const tensor& x : {tensor{0.25f, 3.0f}, tensor{-3.0f, -0.25f}}) {
        minmax_observer<uint8> o;
        o.observe(x);
        o.compute_qparams();
        BOOST_TEST(o.fake_quantize(tensor{0.0f})(0) == 0.0f);
    }
}

BOOST_AUTO_TEST_SUITE_END()
