// Error metrics between a reference and a quantized tensor.
#include <wrapq/core/metrics.hpp>

#include <boost/test/unit_test.hpp>

#include <cmath>
#include <limits>

using namespace wrapq;

BOOST_AUTO_TEST_SUITE(metrics)

BOOST_AUTO_TEST_CASE(hand_derived_values) {
    const tensor base = {0.0f, 1.0f, 2.0f, 4.0f};
    const tensor target = {0.0f, 1.0f, 2.5f, 4.0f};
    const error_metrics m = compare(base, target);
    BOOST_TEST(m.max_abs_diff == 0.5f);
    BOOST_TEST(m.mean_abs_diff == 0.125);
    BOOST_TEST(m.peir == 0.125f);  // 0.5 / (4 - 0)
    // signal 0 + 1 + 4 + 16 = 21, noise 0.25
    BOOST_TEST(m.sqnr_db == 10.0 * std::log10(21.0 / 0.25), boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(peir_uses_reference_interval_only) {
    const tensor base = {-1.0f, 1.0f};
    const tensor target = {-1.0f, 2.0f};
    BOOST_TEST(compare(base, target).peir == 0.5f);
}

BOOST_AUTO_TEST_CASE(constant_reference_interval_counts_as_one) {
    const tensor base = {3.0f, 3.0f};
    const tensor target = {3.0f, 3.25f};
    BOOST_TEST(compare(base, target).peir == 0.25f);
}

BOOST_AUTO_TEST_CASE(identical_tensors) {
    const tensor base = {1.0f, -2.0f};
    const error_metrics m = compare(base, base);
    BOOST_TEST(m.max_abs_diff == 0.0f);
    BOOST_TEST(m.peir == 0.0f);
    BOOST_TEST(std::isinf(m.sqnr_db));
    BOOST_TEST(m.sqnr_db > 0.0);
}

BOOST_AUTO_TEST_CASE(zero_signal_gives_negative_infinity) {
    const tensor base = {0.0f, 0.0f};
    const tensor target = {0.0f, 1.0f};
    const double sqnr = compare(base, target).sqnr_db;
    BOOST_TEST(std::isinf(sqnr));
    BOOST_TEST(sqnr < 0.0);
}

BOOST_AUTO_TEST_CASE(nan_poisons_every_metric) {
    const tensor base = {1.0f, 2.0f};
    const tensor target = {1.0f, std::numeric_limits<float>::quiet_NaN()};
    const error_metrics m = compare(base, target);
    BOOST_TEST(std::isnan(m.max_abs_diff));
    BOOST_TEST(std::isnan(m.mean_abs_diff));
    BOOST_TEST(std::isnan(m.peir));
    BOOST_TEST(std::isnan(m.sqnr_db));
}

BOOST_AUTO_TEST_CASE(shape_mismatch_and_empty) {
    const tensor a = {1.0f, 2.0f};
    const tensor b = {{1.0f, 2.0f}};
    const tensor empty = xt::zeros<float>({0});
    BOOST_CHECK_THROW(compare(a, b), shape_error);
    try {
        compare(a, b);
    } catch (const shape_error& e) {
        BOOST_TEST(std::string(e.what()).find("(2)") != std::string::npos);
        BOOST_TEST(std::string(e.what()).find("(1, 2)") != std::string::npos);
    }
    BOOST_CHECK_THROW(compare(empty, empty), invalid_argument);
}

BOOST_AUTO_TEST_CASE(accepts_expressions) {
    const tensor base = {1.0f, 2.0f, 3.0f};
    const error_metrics m = compare(base, base + 1.0f);
    BOOST_TEST(m.max_abs_diff == 1.0f);
    BOOST_TEST(m.mean_abs_diff == 1.0);
}

BOOST_AUTO_TEST_SUITE_END()
