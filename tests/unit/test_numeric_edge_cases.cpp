// Numerical edge cases of the kind reported against other quantizers. Each
// expected value comes from the formulas of ptq-semantics.md (§4.3 qparams,
// §4.4 fake quantization), worked by hand in the comment beside it.
#include "test_support.hpp"

#include <wrapq.hpp>

#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

using namespace wrapq;
using wrapq_test::bits;

namespace {

constexpr float inf = std::numeric_limits<float>::infinity();

template <class Observer>
qparams observe_once(Observer& o, const tensor& x) {
    o.observe(x);
    return o.compute_qparams();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(numeric_edge_cases)

// With scale 1e-30, x * (1 / scale) overflows to +-inf for x = +-3.4e38, and
// +inf stays +inf. nearbyint(+-inf) + zp is +-inf, which the clamp turns into
// qmax 127 or qmin -128 of int8: y = 127 * 1e-30 or -128 * 1e-30 in float32.
// 37 values, so that both the vector loop and the scalar tail run.
BOOST_AUTO_TEST_CASE(overflowing_products_clamp_to_the_range) {
    const float scale = 1e-30f;
    tensor x = tensor::from_shape({37});
    for (std::size_t i = 0; i < x.size(); ++i) x(i) = (i % 3 == 0) ? inf : (i % 3 == 1 ? -3.4e38f : 3.4e38f);
    const float top = 127.0f * scale;
    const float bottom = -128.0f * scale;

    const tensor y = fake_quantize(x, qparams::per_tensor(scale, 0, int8));
    for (std::size_t i = 0; i < x.size(); ++i) {
        BOOST_TEST(bits(y(i)) == bits(x(i) > 0.0f ? top : bottom), "element " << i);
    }

    // The same through per-channel qparams, one tiny scale per row.
    const tensor rows = xt::reshape_view(tensor(xt::concatenate(xt::xtuple(x, x))), {2, 37});
    const tensor z = fake_quantize(tensor(rows), qparams::per_channel({scale, scale}, {0, 0}, 0, int8));
    for (std::size_t i = 0; i < x.size(); ++i) BOOST_TEST(bits(z(1, i)) == bits(y(i)));
}

// [-1, 509] on uint8: rng = 510, scale = 510 / 255 = 2 exactly, and
// zp = round(0 - (-1) / 2) = round(0.5) = 0, because the tie rounds to the
// even 0, not away from zero to 1. Then -1 fake-quantizes to
// (0 + nearbyint(-0.5)) * 2 = 0, and 509 to nearbyint(254.5) = 254 (even),
// 508, while 3 gives level 2 (1.5 ties to 2), 4.
BOOST_AUTO_TEST_CASE(nudged_zero_point_rounds_half_to_even) {
    minmax_observer<uint8> o;
    const qparams p = observe_once(o, tensor{-1.0f, 509.0f});
    BOOST_TEST(bits(p.scale[0]) == bits(2.0f));
    BOOST_TEST(p.zero_point[0] == 0);
    const tensor y = o.fake_quantize(tensor{-1.0f, 509.0f, 3.0f});
    BOOST_TEST(y(0) == 0.0f);
    BOOST_TEST(y(1) == 508.0f);
    BOOST_TEST(y(2) == 4.0f);
}

// Constant tensors get a finite scale (§4.3, constant branch): C = 7 gives
// scale 7 and zp 0, C = -3 gives scale 3 and zp qmax 255, and an int16
// symmetric observer of 0.5 gives 0.5 / 32767 with zp 0. Each constant then
// fake-quantizes to itself: 7 is level 1, -3 is level 254 (255 - 1), 0.5 is
// level 32767.
BOOST_AUTO_TEST_CASE(constant_tensors_get_finite_scales) {
    minmax_observer<uint8> positive, negative;
    const qparams a = observe_once(positive, tensor(xt::ones<float>({3, 3}) * 7.0f));
    BOOST_TEST(bits(a.scale[0]) == bits(7.0f));
    BOOST_TEST(a.zero_point[0] == 0);
    BOOST_TEST(positive.fake_quantize(tensor{7.0f})(0) == 7.0f);

    const qparams b = observe_once(negative, tensor{-3.0f, -3.0f});
    BOOST_TEST(bits(b.scale[0]) == bits(3.0f));
    BOOST_TEST(b.zero_point[0] == 255);
    BOOST_TEST(negative.fake_quantize(tensor{-3.0f})(0) == -3.0f);

    minmax_observer<int16, qscheme::per_tensor_symm> symmetric;
    const qparams c = observe_once(symmetric, tensor{0.5f, 0.5f});
    BOOST_TEST(bits(c.scale[0]) == bits(0.5f / 32767.0f));
    BOOST_TEST(c.zero_point[0] == 0);
    BOOST_TEST(std::isfinite(symmetric.fake_quantize(tensor{0.5f})(0)));
}

// A channel axis of 0 is a value, not "unset": an override with axis 0
// replaces a block default of axis 1, and a (3, 4) tensor then gets 3 scales.
BOOST_AUTO_TEST_CASE(channel_axis_zero_is_honoured) {
    ptq_config config;
    config.overrides.push_back({"x", quant_spec::affine(uint8, qscheme::per_channel_asymm).with_axis(0), false});
    const quant_spec defaults{.scheme = qscheme::per_channel_asymm, .channel_axis = 1};
    const observer_spec spec = config.resolve("x", defaults);
    BOOST_TEST(spec.channel_axis == 0);

    any_observer o(defaults);
    o.configure(spec);
    o.observe(tensor{{0.0f, 1.0f, 2.0f, 3.0f}, {0.0f, -1.0f, -2.0f, -3.0f}, {5.0f, 5.0f, 5.0f, 6.0f}});
    const any_qparams p = o.compute_qparams();
    BOOST_TEST(std::get<qparams>(p).scale.size() == 3u);
    BOOST_TEST(*std::get<qparams>(p).axis == 0);
}

// softcap(124) with cap 30: 30 * tanh(124 / 30) = 29.98459 (float32
// 29.984589). Quantized with int16 activations and the runtime's fixed tanh
// qparams (scale 1/32768), the result stays within a few output steps of it,
// and no input, not even +inf or 3e38, gives more than 30.
BOOST_AUTO_TEST_CASE(softcap_of_large_logits_stays_below_the_cap) {
    nn::softcap<30.0f> cap(true);
    const tensor logits = {-124.0f, -5.0f, 0.0f, 5.0f, 124.0f};
    const tensor exact = cap.forward(logits);
    BOOST_TEST(std::fabs(exact(4) - 29.984589f) <= 1e-5f);

    ptq_config config;
    config.activation = quant_spec::affine(int16);
    prepare(cap, config);
    cap.forward(logits);
    convert(cap);
    const tensor y = cap.forward(tensor{124.0f, 1e4f, 3e38f, inf, -inf});
    BOOST_TEST(std::fabs(y(0) - 29.984589f) <= 2e-3f);
    for (std::size_t i = 0; i < y.size(); ++i) {
        BOOST_TEST(y(i) <= 30.0f, "element " << i);
        BOOST_TEST(y(i) >= -30.0f, "element " << i);
    }
}

BOOST_AUTO_TEST_SUITE_END()
