// Bias quantization for integer FULLY_CONNECTED kernels: hand-computed
// levels and bias scales (as float bits), int32 and int64 storage, ties,
// clamping at the type limits and the input checks.
#include "../circle_verify/sample_models.hpp"
#include "test_support.hpp"

#include <wrapq/circle.hpp>

#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

using namespace wrapq::circle;
using wrapq_test::bits;

namespace {

/// Element type of model::buffers, built from plain bytes for comparisons.
using buffer_type = std::decay_t<decltype(model{}.buffers[0])>;

std::vector<std::uint8_t> int32_le(const std::vector<std::int32_t>& values) { return circle_samples::int32_bytes(values); }

std::vector<std::uint8_t> int64_le(const std::vector<std::int64_t>& values) {
    std::vector<std::uint8_t> bytes;
    for (std::int64_t v : values) {
        const auto u = static_cast<std::uint64_t>(v);
        for (int b = 0; b < 8; ++b) bytes.push_back(static_cast<std::uint8_t>(u >> (8 * b)));
    }
    return bytes;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

/// Message of the exception of type Error that `f` throws, or "" when it throws nothing.
template <class Error, class F>
std::string message_of(F&& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(circle_bias)

BOOST_AUTO_TEST_CASE(worked_example_uint8_int32) {
    // x scale 1/128 = 2^-7 and per-tensor W scale 2/255 for a uint8 input.
    // 2/255 = 2^-7 * 1.0039215686...; the fraction 0.0039215686 * 2^23 =
    // 32896.502 rounds to 32897 = 0x8081, so float(2/255) is 0x3C008081.
    // Multiplying by 2^-7 only lowers the exponent: the bias scale is
    // 0x38808081 (about 6.1276e-5), one scale for all channels.
    // b / bias_scale = b * 128 * 255 / 2 = b * 16320 (float error near 1e-5):
    //   0.01 -> 163.2 -> 163,  -0.02 -> -326.4 -> -326,  0.03 -> 489.6 -> 490.
    const std::vector<float> bias = {0.01f, -0.02f, 0.03f};
    const std::vector<float> weight_scale = {2.0f / 255};
    const quantized_bias q = quantize_bias(bias, 1.0f / 128, weight_scale, tensor_type::uint8);

    BOOST_TEST((q.type == tensor_type::int32));
    BOOST_TEST(q.bytes == int32_le({163, -326, 490}), boost::test_tools::per_element());
    // The same levels as bytes: 163 = 0xA3, -326 = 0xFFFFFEBA, 490 = 0x1EA.
    BOOST_TEST(q.bytes == (std::vector<std::uint8_t>{0xA3, 0, 0, 0, 0xBA, 0xFE, 0xFF, 0xFF, 0xEA, 0x01, 0, 0}),
               boost::test_tools::per_element());
    BOOST_TEST_REQUIRE(q.quant.scale.size() == 1u);
    BOOST_TEST(bits(q.quant.scale[0]) == 0x38808081u);
    BOOST_TEST(q.quant.zero_point == (std::vector<std::int64_t>{0}), boost::test_tools::per_element());
    BOOST_TEST(q.quant.quantized_dimension == 0);
}

BOOST_AUTO_TEST_CASE(int8_input_gives_int32) {
    // x scale 2^-4, W scale 2^-6: bias scale 2^-10; 0.5 * 1024 = 512, -0.25 * 1024 = -256.
    const std::vector<float> bias = {0.5f, -0.25f};
    const std::vector<float> weight_scale = {0x1p-6f};
    const quantized_bias q = quantize_bias(bias, 0x1p-4f, weight_scale, tensor_type::int8);
    BOOST_TEST((q.type == tensor_type::int32));
    BOOST_TEST(q.bytes == int32_le({512, -256}), boost::test_tools::per_element());
    BOOST_TEST(bits(q.quant.scale[0]) == 0x3A800000u);  // 2^-10
}

BOOST_AUTO_TEST_CASE(int16_per_channel_int64) {
    // x scale 2^-15 and per-channel W scales give bias scales
    // 2^-22 (bits 0x34800000), 2^-23 (0x34000000) and 2^-30 (0x30800000).
    //   1.5 / 2^-22 = 6291456;  -0.25 / 2^-23 = -2097152;
    //   1000 / 2^-30 = 1073741824000, beyond int32, so int64 storage matters;
    //   ties round to even: 2.5 -> 2, 3.5 -> 4, -2.5 -> -2.
    const std::vector<float> bias = {1.5f, -0.25f, 1000.0f, 2.5f * 0x1p-30f, 3.5f * 0x1p-30f, -2.5f * 0x1p-30f};
    const std::vector<float> weight_scales = {0x1p-7f, 0x1p-8f, 0x1p-15f, 0x1p-15f, 0x1p-15f, 0x1p-15f};
    const quantized_bias q = quantize_bias(bias, 0x1p-15f, weight_scales, tensor_type::int16);

    BOOST_TEST((q.type == tensor_type::int64));
    BOOST_TEST(q.bytes == int64_le({6291456, -2097152, 1073741824000, 2, 4, -2}), boost::test_tools::per_element());
    BOOST_TEST_REQUIRE(q.quant.scale.size() == 6u);
    BOOST_TEST(bits(q.quant.scale[0]) == 0x34800000u);
    BOOST_TEST(bits(q.quant.scale[1]) == 0x34000000u);
    for (std::size_t c = 2; c < 6; ++c) BOOST_TEST(bits(q.quant.scale[c]) == 0x30800000u);
    BOOST_TEST(q.quant.zero_point == std::vector<std::int64_t>(6, 0), boost::test_tools::per_element());
    BOOST_TEST(q.quant.quantized_dimension == 0);
}

BOOST_AUTO_TEST_CASE(divides_like_tico) {
    // x scale 0.5 and W scale 0.6f give bias scale 0.3f exactly (0.6f halved).
    // 2.25f / 0.3f = 7.4999995 rounds to 7, as torch.round(bias / bias_scale)
    // in TICO does; 2.25f * float(1 / 0.3f) would be exactly 7.5 and round to 8.
    const std::vector<float> bias = {2.25f};
    const std::vector<float> weight_scale = {0.6f};
    const quantized_bias q = quantize_bias(bias, 0.5f, weight_scale, tensor_type::uint8);
    BOOST_TEST(bits(q.quant.scale[0]) == bits(0.3f));
    BOOST_TEST(q.bytes == int32_le({7}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(int32_overflow_clamps) {
    // Bias scale 2^-7 * 2^-8 = 2^-15, so b maps to b * 32768:
    //   1e6 -> 3.2768e10 and 65536 -> 2^31 clamp to 2^31 - 1;
    //   -1e6 clamps to -2^31; -65536 -> -2^31 is the minimum itself.
    const std::vector<float> bias = {1e6f, 65536.0f, -1e6f, -65536.0f, 65535.0f};
    const std::vector<float> weight_scale = {0x1p-8f};
    const quantized_bias q = quantize_bias(bias, 0x1p-7f, weight_scale, tensor_type::uint8);
    const std::int32_t max = std::numeric_limits<std::int32_t>::max();
    const std::int32_t min = std::numeric_limits<std::int32_t>::min();
    BOOST_TEST(q.bytes == int32_le({max, max, min, min, 65535 * 32768}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(int64_overflow_clamps) {
    // Bias scale 2^-20 * 2^-20 = 2^-40: 1e30 * 2^40 is about 1.1e42 and 2^23 * 2^40 = 2^63,
    // both above 2^63 - 1; -3e38 * 2^40 overflows float32 to -inf and
    // clamps to -2^63; -2^23 maps to -2^63 exactly.
    const std::vector<float> bias = {1e30f, 0x1p23f, -3e38f, -0x1p23f};
    const std::vector<float> weight_scale = {0x1p-20f};
    const quantized_bias q = quantize_bias(bias, 0x1p-20f, weight_scale, tensor_type::int16);
    const std::int64_t max = std::numeric_limits<std::int64_t>::max();
    const std::int64_t min = std::numeric_limits<std::int64_t>::min();
    BOOST_TEST(q.bytes == int64_le({max, max, min, min}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(rejects_unsupported_input_type) {
    const std::vector<float> bias = {0.1f};
    const std::vector<float> weight_scale = {0.01f};
    for (const tensor_type type : {tensor_type::float32, tensor_type::uint4, tensor_type::int32}) {
        const std::string message = message_of<wrapq::invalid_argument>(
            [&] { quantize_bias(bias, 0.01f, weight_scale, type); });
        BOOST_TEST_INFO(message);
        BOOST_TEST(contains(message, "input type " + std::string(*type_name(type))));
        BOOST_TEST(contains(message, "UINT8, INT8 or INT16"));
    }
}

BOOST_AUTO_TEST_CASE(rejects_length_mismatch) {
    const std::vector<float> bias = {0.1f, 0.2f, 0.3f};
    const std::vector<float> two_scales = {0.01f, 0.02f};
    const std::string message = message_of<wrapq::invalid_argument>(
        [&] { quantize_bias(bias, 0.01f, two_scales, tensor_type::uint8); });
    BOOST_TEST_INFO(message);
    BOOST_TEST(contains(message, "2 weight scales do not fit 3 bias values"));

    const std::vector<float> empty;
    BOOST_CHECK_THROW(quantize_bias(empty, 0.01f, two_scales, tensor_type::uint8), wrapq::invalid_argument);
}

BOOST_AUTO_TEST_CASE(rejects_non_finite_bias) {
    const std::vector<float> weight_scale = {0.01f};
    for (const float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity()}) {
        const std::vector<float> bias = {0.1f, bad};
        const std::string message = message_of<wrapq::value_error>(
            [&] { quantize_bias(bias, 0.01f, weight_scale, tensor_type::int16); });
        BOOST_TEST_INFO(message);
        BOOST_TEST(contains(message, "bias[1] = "));
        BOOST_TEST(contains(message, "no integer level"));
    }
}

BOOST_AUTO_TEST_CASE(rejects_invalid_scales) {
    const std::vector<float> bias = {0.1f, 0.2f};
    const std::vector<float> good = {0.01f, 0.02f};
    const float nan = std::numeric_limits<float>::quiet_NaN();
    for (const float input_scale : {0.0f, -0.5f, nan, std::numeric_limits<float>::infinity()}) {
        const std::string message = message_of<wrapq::invalid_argument>(
            [&] { quantize_bias(bias, input_scale, good, tensor_type::uint8); });
        BOOST_TEST_INFO(message);
        BOOST_TEST(contains(message, "input scale"));
    }
    const std::vector<float> negative = {0.01f, -0.02f};
    const std::string negative_message = message_of<wrapq::invalid_argument>(
        [&] { quantize_bias(bias, 0.01f, negative, tensor_type::uint8); });
    BOOST_TEST_INFO(negative_message);
    BOOST_TEST(contains(negative_message, "weight scale[1] = -0.0199999996"));

    // 1e-30 * 1e-30 underflows to 0 in float32, which is no valid scale.
    const std::vector<float> tiny = {1e-30f};
    const std::string underflow = message_of<wrapq::invalid_argument>(
        [&] { quantize_bias(bias, 1e-30f, tiny, tensor_type::uint8); });
    BOOST_TEST_INFO(underflow);
    BOOST_TEST(contains(underflow, "bias scale[0]"));
}

BOOST_AUTO_TEST_CASE(add_quantized_bias_round_trip) {
    // The worked example: FULLY_CONNECTED with a uint8 input and an int32 bias constant.
    model_builder b;
    const auto x = b.add_tensor({.name = "x", .shape = {1, 4}, .type = tensor_type::uint8,
                                 .quant = circle_samples::per_tensor(1.0f / 128, 128)});
    const auto w = b.add_constant("W", {3, 4}, tensor_type::uint8, std::vector<std::uint8_t>(12, 128),
                                  circle_samples::per_tensor(2.0f / 255, 128));
    const std::vector<float> bias = {0.01f, -0.02f, 0.03f};
    const std::vector<float> weight_scale = {2.0f / 255};
    const std::int32_t index = add_quantized_bias(b, "fc.bias", bias, 1.0f / 128, weight_scale, tensor_type::uint8);
    const auto y = b.add_tensor({.name = "y", .shape = {1, 3}, .type = tensor_type::uint8,
                                 .quant = circle_samples::per_tensor(4.0f / 255, 128)});
    b.add_operator(ops::fully_connected(), {x, w, index}, {y});
    b.set_inputs({x});
    b.set_outputs({y});

    BOOST_TEST(index == 2);
    const read_model_result file = read_model(circle_samples::emit(b.get()));
    const tensor& t = file.m.subgraphs[0].tensors[2];
    BOOST_TEST(t.name == "fc.bias");
    BOOST_TEST(t.shape == (std::vector<std::int32_t>{3}), boost::test_tools::per_element());
    BOOST_TEST((t.type == tensor_type::int32));
    BOOST_TEST((file.m.buffers[t.buffer] == buffer_type(int32_le({163, -326, 490}))));
    BOOST_TEST_REQUIRE(t.quant.has_value());
    BOOST_TEST(bits(t.quant->scale[0]) == 0x38808081u);
    BOOST_TEST(t.quant->zero_point == (std::vector<std::int64_t>{0}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(add_quantized_bias_int64) {
    model_builder b;
    const std::vector<float> bias = {1000.0f, -1.5f};
    const std::vector<float> weight_scales = {0x1p-15f, 0x1p-7f};
    const std::int32_t index = add_quantized_bias(b, "bias", bias, 0x1p-15f, weight_scales, tensor_type::int16);
    b.set_outputs({index});
    // 1000 / 2^-30 = 1073741824000 and -1.5 / 2^-22 = -6291456.
    const read_model_result file = read_model(circle_samples::emit(b.get()));
    const tensor& t = file.m.subgraphs[0].tensors[0];
    BOOST_TEST((t.type == tensor_type::int64));
    BOOST_TEST((file.m.buffers[t.buffer] == buffer_type(int64_le({1073741824000, -6291456}))));
    BOOST_TEST_REQUIRE(t.quant->scale.size() == 2u);
    BOOST_TEST(bits(t.quant->scale[0]) == 0x30800000u);
    BOOST_TEST(bits(t.quant->scale[1]) == 0x34800000u);
    BOOST_TEST(t.quant->quantized_dimension == 0);
}

BOOST_AUTO_TEST_SUITE_END()
