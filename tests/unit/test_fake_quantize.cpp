// Fake quantization: rounding, clamping, per-channel axes and the vector/scalar paths.
#include "test_support.hpp"

#include <wrapq/core/fake_quantize.hpp>
#include <wrapq/core/rounding.hpp>

#include <boost/test/unit_test.hpp>

#include <cmath>
#include <limits>
#include <random>

using namespace wrapq;
using wrapq_test::bits;

namespace {

constexpr float inf = std::numeric_limits<float>::infinity();

/// Reference fake quantization written out from the formula, one value at a time.
float reference_fake_quantize(float x, float scale, std::int32_t zp, std::int32_t qmin, std::int32_t qmax) {
    const float inv = 1.0f / scale;
    float q = std::nearbyint(x * inv) + static_cast<float>(zp);
    if (q < static_cast<float>(qmin)) q = static_cast<float>(qmin);
    if (q > static_cast<float>(qmax)) q = static_cast<float>(qmax);
    return (q - static_cast<float>(zp)) * scale;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(fake_quantization)

BOOST_AUTO_TEST_CASE(ties_round_half_to_even) {
    // scale 1: x * 1 is exact, so each .5 is a true tie.
    const tensor x = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 3.5f};
    const tensor y = fake_quantize(x, qparams::per_tensor(1.0f, 0, int8));
    const std::vector<float> expected = {0.0f, 2.0f, 2.0f, -0.0f, -2.0f, -2.0f, 4.0f};
    for (std::size_t i = 0; i < expected.size(); ++i) BOOST_TEST(y(i) == expected[i]);
}

BOOST_AUTO_TEST_CASE(loaded_qparams_ties) {
    // scale 0.1, zero point 5: 0.05 * 10 = 0.5 rounds to 0 and 0.15 * 10 = 1.5 to 2.
    const tensor y = fake_quantize(tensor{0.0f, 0.05f, 0.15f}, qparams::per_tensor(0.1f, 5, uint8));
    BOOST_TEST(bits(y(0)) == bits(0.0f));
    BOOST_TEST(bits(y(1)) == bits(0.0f));
    BOOST_TEST(bits(y(2)) == bits(2.0f * 0.1f));
}

BOOST_AUTO_TEST_CASE(reciprocal_multiply_not_division) {
    // 2.25f / 0.3f is 7.4999995 (to 7) but 2.25f * (1 / 0.3f) is exactly 7.5,
    // a tie that rounds to the even 8. wrapq multiplies, as PyTorch's CPU kernel does.
    const float x = 2.25f, scale = 0.3f;
    BOOST_TEST(std::nearbyint(x / scale) == 7.0f);
    BOOST_TEST(std::nearbyint(x * (1.0f / scale)) == 8.0f);
    const tensor y = fake_quantize(tensor{x}, qparams::per_tensor(scale, 0, int8));
    BOOST_TEST(bits(y(0)) == bits(8.0f * scale));
}

BOOST_AUTO_TEST_CASE(infinities_and_large_values_clamp) {
    const float big = std::numeric_limits<float>::max();
    const tensor x = {inf, -inf, big, -big, 1e30f, -1e30f};
    const qparams p = qparams::per_tensor(0.5f, 3, uint8);
    const tensor y = fake_quantize(x, p);
    const float top = (255.0f - 3.0f) * 0.5f;
    const float bottom = (0.0f - 3.0f) * 0.5f;
    BOOST_TEST(y(0) == top);
    BOOST_TEST(y(1) == bottom);
    BOOST_TEST(y(2) == top);
    BOOST_TEST(y(3) == bottom);
    BOOST_TEST(y(4) == top);
    BOOST_TEST(y(5) == bottom);
}

BOOST_AUTO_TEST_CASE(nan_passes_through) {
    tensor x = xt::zeros<float>({37});
    x(3) = std::numeric_limits<float>::quiet_NaN();   // in the vector body
    x(36) = std::numeric_limits<float>::quiet_NaN();  // in the scalar tail
    const tensor y = fake_quantize(x, qparams::per_tensor(0.1f, 0, int16));
    BOOST_TEST(std::isnan(y(3)));
    BOOST_TEST(std::isnan(y(36)));
    BOOST_TEST(y(0) == 0.0f);
}

BOOST_AUTO_TEST_CASE(int16_symmetric_exact_endpoint) {
    // range [-120, 0], int16 symmetric: scale 120 / 32767 and -120 is exact.
    const float scale = 120.0f / 32767.0f;
    BOOST_TEST(bits(scale) == bits(0.0036622211f));
    const tensor y = fake_quantize(tensor{-120.0f}, qparams::per_tensor(scale, 0, int16));
    BOOST_TEST(bits(y(0)) == bits(-32767.0f * scale));
    BOOST_TEST(y(0) == -120.0f);
}

BOOST_AUTO_TEST_CASE(vector_body_and_tail_agree_with_scalar) {
    std::mt19937 rng(7);
    std::normal_distribution<float> normal(0.0f, 3.0f);
    for (std::size_t n : {1u, 7u, 15u, 16u, 17u, 31u, 33u, 1000u}) {
        tensor x = xt::empty<float>({n});
        for (auto& v : x) v = normal(rng);
        const float scale = 0.037f;
        const tensor y = fake_quantize(x, qparams::per_tensor(scale, -7, int8));
        for (std::size_t i = 0; i < n; ++i) {
            BOOST_TEST(bits(y(i)) == bits(reference_fake_quantize(x(i), scale, -7, -128, 127)), "n=" << n << " i=" << i);
        }
    }
}

BOOST_AUTO_TEST_CASE(per_channel_axis_zero) {
    // TICO's vector: per-channel scale [0.05, 0.02], zero point [10, 3], uint8, axis 0.
    const tensor x = {{0.1f, -0.26f, 3.0f}, {0.1f, -0.26f, 6.0f}};
    const qparams p = qparams::per_channel({0.05f, 0.02f}, {10, 3}, 0, uint8);
    const tensor y = fake_quantize(x, p);
    for (std::size_t c = 0; c < 2; ++c) {
        for (std::size_t j = 0; j < 3; ++j) {
            const float expected = reference_fake_quantize(x(c, j), p.scale[c], p.zero_point[c], 0, 255);
            BOOST_TEST(bits(y(c, j)) == bits(expected), "c=" << c << " j=" << j);
        }
    }
    // Row 0 (scale 0.05, zero point 10): 3.0 is level 60 + 10, inside [0, 255].
    // Row 1 (scale 0.02, zero point 3): -0.26 is level -13 + 3 < 0, so it clamps
    // to level 0, and 6.0 is level 300 + 3 > 255, so it clamps to 255.
    BOOST_TEST(y(0, 2) == static_cast<float>(60) * 0.05f);
    BOOST_TEST(y(1, 1) == static_cast<float>(0 - 3) * 0.02f);
    BOOST_TEST(y(1, 2) == static_cast<float>(255 - 3) * 0.02f);
}

BOOST_AUTO_TEST_CASE(per_channel_every_axis) {
    std::mt19937 rng(11);
    std::uniform_real_distribution<float> uniform(-4.0f, 4.0f);
    tensor x = xt::empty<float>({3, 5, 19});
    for (auto& v : x) v = uniform(rng);

    for (int axis : {0, 1, 2, -1}) {
        const std::size_t a = axis < 0 ? 2 : static_cast<std::size_t>(axis);
        const std::size_t channels = x.shape()[a];
        std::vector<float> scale(channels);
        std::vector<std::int32_t> zp(channels);
        for (std::size_t c = 0; c < channels; ++c) {
            scale[c] = 0.01f + 0.013f * static_cast<float>(c);
            zp[c] = static_cast<std::int32_t>(c % 7) - 3;
        }
        const tensor y = fake_quantize(x, qparams::per_channel(scale, zp, axis, int8));
        for (std::size_t i = 0; i < 3; ++i) {
            for (std::size_t j = 0; j < 5; ++j) {
                for (std::size_t k = 0; k < 19; ++k) {
                    const std::size_t c = a == 0 ? i : (a == 1 ? j : k);
                    const float expected = reference_fake_quantize(x(i, j, k), scale[c], zp[c], -128, 127);
                    BOOST_TEST(bits(y(i, j, k)) == bits(expected), "axis " << axis << " at " << i << "," << j << "," << k);
                }
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(per_channel_count_mismatch_is_shape_error) {
    const tensor x = xt::zeros<float>({2, 3});
    BOOST_CHECK_THROW(fake_quantize(x, qparams::per_channel({0.1f, 0.1f, 0.1f}, {0, 0, 0}, 0, int8)), shape_error);
    BOOST_CHECK_THROW(fake_quantize(x, qparams::per_channel({0.1f, 0.1f}, {0, 0}, 2, int8)), shape_error);
}

BOOST_AUTO_TEST_CASE(hand_built_invalid_qparams_raise) {
    const tensor x = {1.0f, -2.0f, 0.0f};
    qparams empty{};
    BOOST_CHECK_THROW(fake_quantize(x, empty), invalid_argument);
    qparams missing_zero_points{{0.1f, 0.2f}, {}, 0, uint8};
    BOOST_CHECK_THROW(fake_quantize(xt::ones<float>({2, 1}), missing_zero_points), invalid_argument);
    qparams zero_scale{{0.0f}, {0}, std::nullopt, uint8};
    BOOST_CHECK_THROW(fake_quantize(x, zero_scale), invalid_argument);
    qparams zero_point_out_of_range{{0.1f}, {1000}, std::nullopt, uint8};
    BOOST_CHECK_THROW(fake_quantize(x, zero_point_out_of_range), invalid_argument);
    tensor y = x;
    BOOST_CHECK_THROW(fake_quantize_inplace(y, zero_scale), invalid_argument);
}

BOOST_AUTO_TEST_CASE(rank_zero_axis_message) {
    const tensor scalar = 3.0f;
    try {
        fake_quantize(scalar, qparams::per_channel({0.1f}, {0}, 0, int8));
        BOOST_FAIL("expected shape_error");
    } catch (const shape_error& e) {
        BOOST_TEST(std::string(e.what()).find("rank-0") != std::string::npos);
    }
}

BOOST_AUTO_TEST_CASE(into_reuses_and_resizes_output) {
    const qparams p = qparams::per_tensor(0.25f, 0, int8);
    const tensor x = {0.3f, -0.9f, 7.0f};
    tensor out = xt::zeros<float>({3});
    const float* storage = out.data();
    fake_quantize_into(x, &p, out);
    BOOST_TEST(out.data() == storage);
    BOOST_TEST(out(0) == 0.25f);
    BOOST_TEST(out(1) == -1.0f);
    BOOST_TEST(out(2) == 7.0f);

    tensor other_shape = xt::zeros<float>({2, 2});
    fake_quantize_into(x, &p, other_shape);
    BOOST_TEST(other_shape.dimension() == 1u);
    BOOST_TEST(other_shape(1) == -1.0f);

    fake_quantize_into(x, nullptr, out);  // no qparams: a plain copy
    BOOST_TEST(out(0) == 0.3f);
}

BOOST_AUTO_TEST_SUITE_END()
