// Quantized constants in Circle files: uint4 nibble order and per-channel qparams.
#include "../circle_verify/sample_models.hpp"
#include "test_support.hpp"

#include <wrapq/circle.hpp>
#include <wrapq/core/quantize.hpp>

#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <vector>

using namespace wrapq::circle;
using wrapq_test::bits;

BOOST_AUTO_TEST_SUITE(circle_quantized_constant)

BOOST_AUTO_TEST_CASE(uint4_odd_count_nibbles) {
    // levels: 1.0 / 0.5 + 8 = 10, -0.5 / 0.25 + 8 = 6, 7 / 1 + 0 = 7
    const wrapq::tensor w = wrapq_test::column({1.0f, -0.5f, 7.0f});
    const auto q = wrapq::quantize(w, wrapq::qparams::per_channel({0.5f, 0.25f, 1.0f}, {8, 8, 0}, 0, wrapq::uint4));
    model_builder b;
    const auto index = add_quantized_constant(b, "w", q);
    b.set_outputs({index});

    const read_model_result file = read_model(circle_samples::emit(b.get()));
    const tensor& t = file.m.subgraphs[0].tensors[0];
    BOOST_TEST((t.type == tensor_type::uint4));
    BOOST_TEST(static_cast<int>(t.type) == -1);
    BOOST_TEST((t.shape == std::vector<std::int32_t>{3, 1}));
    // element 0 in the low nibble of byte 0, element 2 alone in byte 1 with a zero high nibble
    BOOST_TEST((file.m.buffers[t.buffer] == std::vector<std::uint8_t>{0x6A, 0x07}));
    BOOST_TEST_REQUIRE(t.quant.has_value());
    BOOST_TEST(t.quant->quantized_dimension == 0);
    BOOST_TEST(bits(t.quant->scale[0]) == bits(0.5f));
    BOOST_TEST(bits(t.quant->scale[1]) == bits(0.25f));
    BOOST_TEST(bits(t.quant->scale[2]) == bits(1.0f));
    BOOST_TEST((t.quant->zero_point == std::vector<std::int64_t>{8, 8, 0}));
}

BOOST_AUTO_TEST_CASE(uint4_rows_per_channel) {
    // Rows use scales 0.25 and 0.1 with zero points 8 and 3:
    // row 0: -4+8, 2+8, 1+8 = 4, 10, 9; row 1: 1+3, -2+3, 3+3 = 4, 1, 6
    const wrapq::tensor w = {{-1.0f, 0.5f, 0.25f}, {0.1f, -0.2f, 0.3f}};
    const auto q = wrapq::quantize(w, wrapq::qparams::per_channel({0.25f, 0.1f}, {8, 3}, 0, wrapq::uint4));
    model_builder b;
    b.set_outputs({add_quantized_constant(b, "w", q)});
    const read_model_result file = read_model(circle_samples::emit(b.get()));
    const tensor& t = file.m.subgraphs[0].tensors[0];
    BOOST_TEST((file.m.buffers[t.buffer] == std::vector<std::uint8_t>{0xA4, 0x49, 0x61}));
    BOOST_TEST((t.quant->zero_point == std::vector<std::int64_t>{8, 3}));
}

BOOST_AUTO_TEST_CASE(uint8_channels_on_dimension_1) {
    // scales 1, 2, 4 along dimension 1: [[1, 2, 4], [3, 4, 8]] -> levels [[1, 1, 1], [3, 2, 2]]
    const wrapq::tensor w = {{1.0f, 2.0f, 4.0f}, {3.0f, 4.0f, 8.0f}};
    const auto q = wrapq::quantize(w, wrapq::qparams::per_channel({1.0f, 2.0f, 4.0f}, {0, 0, 0}, 1, wrapq::uint8));
    model_builder b;
    b.set_outputs({add_quantized_constant(b, "w", q)});
    const read_model_result file = read_model(circle_samples::emit(b.get()));
    const tensor& t = file.m.subgraphs[0].tensors[0];
    BOOST_TEST((t.type == tensor_type::uint8));
    BOOST_TEST((file.m.buffers[t.buffer] == std::vector<std::uint8_t>{1, 1, 1, 3, 2, 2}));
    BOOST_TEST(t.quant->quantized_dimension == 1);
    BOOST_TEST(t.quant->scale.size() == 3u);
}

BOOST_AUTO_TEST_CASE(negative_axis_counts_from_end) {
    // Channels on axis -1 of a (2, 3) tensor are Circle's quantized_dimension 1.
    const wrapq::tensor w = {{0.1f, 0.2f, 0.3f}, {0.4f, 0.5f, 0.6f}};
    const auto q = wrapq::quantize(w, wrapq::qparams::per_channel({0.1f, 0.1f, 0.1f}, {0, 0, 0}, -1, wrapq::uint8));
    model_builder b;
    const auto index = add_quantized_constant(b, "w", q);
    b.set_outputs({index});
    const read_model_result file = read_model(circle_samples::emit(b.get()));
    BOOST_TEST(file.m.subgraphs[0].tensors[0].quant->quantized_dimension == 1);
}

BOOST_AUTO_TEST_CASE(int16_per_tensor_bytes) {
    // -2 / 2^-8 = -512 = 0xFE00, 1 / 2^-8 = 256 = 0x0100, low byte first
    const auto q = wrapq::quantize(wrapq::tensor{-2.0f, 1.0f}, wrapq::qparams::per_tensor(1.0f / 256, 0, wrapq::int16));
    model_builder b;
    b.set_outputs({add_quantized_constant(b, "c", q)});
    const read_model_result file = read_model(circle_samples::emit(b.get()));
    const tensor& t = file.m.subgraphs[0].tensors[0];
    BOOST_TEST((t.type == tensor_type::int16));
    BOOST_TEST((file.m.buffers[t.buffer] == std::vector<std::uint8_t>{0x00, 0xFE, 0x00, 0x01}));
    BOOST_TEST(bits(t.quant->scale[0]) == 0x3B800000u);  // 2^-8
}

BOOST_AUTO_TEST_CASE(int4_has_no_circle_type) {
    const auto q = wrapq::quantize(wrapq::tensor{1.0f}, wrapq::qparams::per_tensor(1.0f, 0, wrapq::int4));
    model_builder b;
    BOOST_CHECK_THROW(add_quantized_constant(b, "c", q), graph_error);
}

BOOST_AUTO_TEST_SUITE_END()
