// Norm, embedding and softcap blocks through calibration and conversion.
#include "test_support.hpp"

#include <wrapq.hpp>

#include <boost/test/unit_test.hpp>

#include <cmath>
#include <random>

using namespace wrapq;
using wrapq_test::bits;
using wrapq_test::random_tensor;

namespace {

tensor fq(const any_observer& o, const tensor& t) { return fake_quantize(t, *o.affine_qparams()); }

ptq_config int16_config() {
    ptq_config c;
    c.activation = quant_spec::affine(int16);
    c.weight = quant_spec::affine(int16);
    return c;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(quantized_blocks)

BOOST_AUTO_TEST_CASE(rms_norm_quantized_sites) {
    nn::rms_norm<16> norm;
    norm.weight.assign(xt::linspace<float>(-0.5f, 1.0f, 16));
    prepare(norm, int16_config());
    norm.forward(random_tensor({4, 7, 16}, 1));
    convert(norm);

    const tensor x = random_tensor({2, 16}, 2);
    const tensor y = norm.forward(x);
    const tensor expected = fq(norm.act_out, nn::rms_normalize(fq(norm.act_in, x), fq(norm.weight_observer, norm.weight.value), 1e-6f));
    for (std::size_t i = 0; i < y.size(); ++i) BOOST_TEST(bits(y.data()[i]) == bits(expected.data()[i]));
}

BOOST_AUTO_TEST_CASE(rms_norm_weight_multiplies_directly) {
    nn::rms_norm<4> norm;
    norm.weight.assign(tensor{0.0f, 1.0f, 2.0f, -1.0f});
    const tensor y = norm.forward(tensor{{1.0f, 1.0f, 1.0f, 1.0f}});
    // rms of ones is 1 (up to eps), so y is the weight itself, not 1 + w.
    BOOST_TEST(y(0, 0) == 0.0f);
    BOOST_TEST(std::fabs(y(0, 2) - 2.0f) < 1e-5f);
    BOOST_TEST(std::fabs(y(0, 3) + 1.0f) < 1e-5f);
}

BOOST_AUTO_TEST_CASE(weightless_norm_quantizes_ones_exactly) {
    for (const ptq_config& config : {ptq_config{}, int16_config()}) {
        nn::rms_norm<8, false> norm;
        prepare(norm, config);
        BOOST_TEST(norm.weight_observer.min_val()[0] == 1.0f);
        BOOST_TEST(norm.weight_observer.max_val()[0] == 1.0f);
        norm.forward(random_tensor({3, 8}, 3));
        convert(norm);
        const tensor q = fq(norm.weight_observer, norm.weight.value);
        for (float v : q) BOOST_TEST(v == 1.0f);
    }
}

BOOST_AUTO_TEST_CASE(rms_norm_shape_error_names_block) {
    nn::rms_norm<8> norm;
    prepare(norm, ptq_config{});
    try {
        norm.forward(xt::zeros<float>({2, 7}));
        BOOST_FAIL("expected shape_error");
    } catch (const shape_error& e) {
        BOOST_TEST(std::string(e.what()).find("act_in") != std::string::npos);
        BOOST_TEST(std::string(e.what()).find("(2, 7)") != std::string::npos);
    }
}

BOOST_AUTO_TEST_CASE(scaled_embedding_sites_and_order) {
    nn::scaled_embedding<100, 32> embed(0.125f);
    embed.weight.assign(random_tensor({100, 32}, 4));
    std::vector<std::string> names;
    for_each_observer(embed, [&](const std::string& name, auto&) { names.push_back(name); });
    BOOST_TEST((names == std::vector<std::string>{"weight", "embedding", "embed_scale", "act_out"}));

    prepare(embed, ptq_config{});
    BOOST_TEST(embed.weight_observer.observed_count() == 3200u);  // weight and scale collected once
    BOOST_TEST(embed.embed_scale_observer.observed_count() == 1u);
    BOOST_TEST(embed.weight_observer.spec().scheme == qscheme::per_channel_asymm);
    const nn::token_ids ids = {{1, 5, 7, 99}};
    embed.forward(ids);
    convert(embed);

    const tensor y = embed.forward(ids);
    const tensor w_q = fq(embed.weight_observer, embed.weight.value);
    const float scale_q = fq(embed.embed_scale_observer, tensor{0.125f})(0);
    const tensor expected = fq(embed.act_out, fq(embed.embedding_observer, nn::gather_rows(w_q, ids, "")) * scale_q);
    BOOST_TEST(y.shape()[2] == 32u);
    for (std::size_t i = 0; i < y.size(); ++i) BOOST_TEST(bits(y.data()[i]) == bits(expected.data()[i]));
}

BOOST_AUTO_TEST_CASE(embedding_rejects_bad_ids) {
    nn::embedding<10, 4> embed;
    BOOST_CHECK_THROW(embed.forward(nn::token_ids{3, 10}), value_error);
    BOOST_CHECK_THROW(embed.forward(nn::token_ids{-1}), value_error);
    nn::token_ids last = xt::zeros<std::int64_t>({1, 1});
    last(0, 0) = 9;
    BOOST_TEST(embed.forward(last).shape()[2] == 4u);
}

BOOST_AUTO_TEST_CASE(embed_scale_rounds_to_bf16) {
    BOOST_TEST(round_to_bf16(std::sqrt(1536.0f)) == 39.25f);
    BOOST_TEST(round_to_bf16(std::sqrt(2560.0f)) == 50.5f);
    BOOST_TEST(round_to_bf16(1.0f) == 1.0f);
    const nn::scaled_embedding<4, 1536> rounded(std::sqrt(1536.0f), true), exact(std::sqrt(1536.0f));
    BOOST_TEST(rounded.embed_scale() == 39.25f);
    BOOST_TEST(exact.embed_scale() == std::sqrt(1536.0f));
}

BOOST_AUTO_TEST_CASE(softcap_bounds_and_observer_inputs) {
    nn::softcap<30.0f> cap;
    const tensor x = xt::linspace<float>(-1e4f, 1e4f, 2001);
    const tensor y_float = cap.forward(x);
    for (float v : y_float) BOOST_TEST(std::fabs(v) <= 30.0f);

    prepare(cap, int16_config());
    cap.forward(x);
    // Each observer saw its own stage: x / 30, tanh of that, 30 * tanh.
    BOOST_TEST(cap.div_observer.max_val()[0] == 1e4f / 30.0f);
    BOOST_TEST(cap.div_observer.min_val()[0] == -1e4f / 30.0f);
    BOOST_TEST(cap.tanh_observer.max_val()[0] == std::tanh(1e4f / 30.0f));
    BOOST_TEST(cap.logits_observer.max_val()[0] == std::tanh(1e4f / 30.0f) * 30.0f);
    convert(cap);
    for (float v : cap.forward(x)) BOOST_TEST(std::fabs(v) <= 30.0f);
    const tensor mid = cap.forward(tensor{3.0f});
    const tensor expected = fq(cap.logits_observer, fq(cap.tanh_observer, xt::tanh(fq(cap.div_observer, tensor{3.0f} / 30.0f))) * 30.0f);
    BOOST_TEST(bits(mid(0)) == bits(expected(0)));
}

BOOST_AUTO_TEST_CASE(softcap_disabled_is_identity) {
    nn::softcap<0.0f> none;
    const tensor x = {-1e4f, 0.5f, 1234.5f};
    const tensor y = none.forward(x);
    for (std::size_t i = 0; i < 3; ++i) BOOST_TEST(bits(y(i)) == bits(x(i)));
    static_assert(!nn::softcap<0.0f>::enabled);
}

BOOST_AUTO_TEST_CASE(softcap_fixed_tanh_qparams) {
    nn::softcap<30.0f> cap(true);
    prepare(cap, int16_config());
    BOOST_TEST(cap.tanh_observer.spec().kind == observer_kind::fixed_qparams);
    cap.forward(tensor{-5.0f, 5.0f});
    convert(cap);
    const qparams* p = cap.tanh_observer.affine_qparams();
    BOOST_TEST(bits(p->scale[0]) == bits(1.0f / 32768.0f));
    BOOST_TEST(p->zero_point[0] == 0);
}

BOOST_AUTO_TEST_CASE(elementwise_quantized_sites) {
    const tensor a = random_tensor({3, 4}, 30, 2.0f);
    const tensor b = random_tensor({4}, 31, 2.0f);

    nn::tanh_block tanh_block;
    nn::add adder;
    nn::mul multiplier;
    nn::div_scalar divider(3.0f);
    nn::softmax soft;
    prepare(tanh_block, int16_config());
    prepare(adder, int16_config());
    prepare(multiplier, int16_config());
    prepare(divider, int16_config());
    prepare(soft, int16_config());
    tanh_block.forward(a);
    adder.forward(a, b);
    multiplier.forward(a, b);
    divider.forward(a);
    soft.forward(a);
    convert(tanh_block);
    convert(adder);
    convert(multiplier);
    convert(divider);
    convert(soft);

    const tensor x = random_tensor({3, 4}, 32, 2.0f);
    auto check = [](const tensor& got, const tensor& expected, const char* what) {
        BOOST_TEST_REQUIRE(got.size() == expected.size());
        for (std::size_t i = 0; i < got.size(); ++i) BOOST_TEST(bits(got.data()[i]) == bits(expected.data()[i]), what << " i=" << i);
    };
    check(tanh_block.forward(x), fq(tanh_block.act_out, xt::tanh(fq(tanh_block.act_in, x))), "tanh");
    check(adder.forward(x, b), fq(adder.act_out, x + b), "add");
    check(multiplier.forward(x, b), fq(multiplier.act_out, x * b), "mul");
    check(divider.forward(x), fq(divider.act_out, x / 3.0f), "div");
    check(soft.forward(x), fq(soft.act_out, nn::softmax_last_axis(x)), "softmax");
    BOOST_CHECK_THROW(nn::div_scalar(0.0f), invalid_argument);
}

BOOST_AUTO_TEST_CASE(plain_embedding_quantized_sites) {
    nn::embedding<20, 6> embed;
    embed.weight.assign(random_tensor({20, 6}, 33));
    prepare(embed, ptq_config{});
    const nn::token_ids ids = {{0, 19, 4}};
    embed.forward(ids);
    convert(embed);
    const tensor expected = fq(embed.act_out, nn::gather_rows(fq(embed.weight_observer, embed.weight.value), ids, ""));
    const tensor y = embed.forward(ids);
    for (std::size_t i = 0; i < y.size(); ++i) BOOST_TEST(bits(y.data()[i]) == bits(expected.data()[i]));
}

BOOST_AUTO_TEST_CASE(forward_in_unready_mode_names_site) {
    nn::linear<4, 2> proj;
    prepare(proj, ptq_config{});
    proj.act_in.mode = ptq_mode::quantized;  // switched by hand, without convert()
    try {
        proj.forward(xt::ones<float>({1, 4}));
        BOOST_FAIL("expected calibration_error");
    } catch (const calibration_error& e) {
        BOOST_TEST(std::string(e.what()).find("act_in") != std::string::npos);
    }
    proj.act_in.mode = ptq_mode::calibration;
    proj.weight_observer.mode = ptq_mode::quantized;
    BOOST_CHECK_THROW(proj.forward(xt::ones<float>({1, 4})), invalid_argument);
}

BOOST_AUTO_TEST_CASE(mask_values) {
    const tensor causal = nn::causal_mask(3);
    BOOST_TEST(causal(0, 0) == 0.0f);
    BOOST_TEST(causal(0, 1) == -120.0f);
    BOOST_TEST(causal(2, 2) == 0.0f);
    const tensor sliding = nn::sliding_window_mask(5, 2);
    // Query 4 attends to keys 3 and 4 only: a window of 2 including itself.
    BOOST_TEST(sliding(4, 2) == -120.0f);
    BOOST_TEST(sliding(4, 3) == 0.0f);
    BOOST_TEST(sliding(4, 4) == 0.0f);
    const tensor decode = nn::sliding_window_mask(1, 2, 4);  // one query at position 4 after 4 cached keys
    BOOST_TEST(decode.shape()[1] == 5u);
    BOOST_TEST(decode(0, 2) == -120.0f);
    BOOST_TEST(decode(0, 3) == 0.0f);
}

BOOST_AUTO_TEST_SUITE_END()
