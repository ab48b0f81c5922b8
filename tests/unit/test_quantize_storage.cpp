// Quantization to integer storage, nibble packing and dequantization.
#include "test_support.hpp"

#include <wrapq/core/fake_quantize.hpp>
#include <wrapq/core/quantize.hpp>

#include <boost/test/unit_test.hpp>

#include <limits>
#include <random>

using namespace wrapq;
using wrapq_test::bits;

BOOST_AUTO_TEST_SUITE(integer_storage)

BOOST_AUTO_TEST_CASE(pack_low_nibble_first) {
    const std::vector<std::int32_t> levels = {1, 2, 15};
    const auto bytes = pack_nibbles(levels);
    BOOST_TEST(bytes.size() == 2u);
    BOOST_TEST(bytes[0] == 0x21);
    BOOST_TEST(bytes[1] == 0x0F);
}

BOOST_AUTO_TEST_CASE(pack_signed_nibbles) {
    const std::vector<std::int32_t> levels = {-1, 7, -8, 0};
    const auto bytes = pack_nibbles(levels);
    BOOST_TEST(bytes[0] == 0x7F);
    BOOST_TEST(bytes[1] == 0x08);
    const auto back = unpack_nibbles(bytes, 4, true);
    BOOST_TEST(back == levels);
}

BOOST_AUTO_TEST_CASE(unpack_rejects_short_buffer) {
    const std::vector<std::uint8_t> bytes = {0x21};
    BOOST_CHECK_THROW(unpack_nibbles(bytes, 3, false), shape_error);
}

BOOST_AUTO_TEST_CASE(uint4_worked_example) {
    const tensor w = {{-1.0f, 0.5f}, {0.25f, 1.0f}};
    const quantized_tensor q = quantize(w, qparams::per_tensor(0.125f, 8, uint4));
    // levels: -8 + 8 = 0, 4 + 8 = 12, 2 + 8 = 10, 8 + 8 = 16 clamped to 15
    BOOST_TEST(q.bytes.size() == 2u);
    BOOST_TEST(q.bytes[0] == 0xC0);
    BOOST_TEST(q.bytes[1] == 0xFA);
    BOOST_TEST((q.shape == std::vector<std::size_t>{2, 2}));
}

BOOST_AUTO_TEST_CASE(int16_little_endian) {
    const quantized_tensor q = quantize(tensor{-2.0f, 1.0f}, qparams::per_tensor(1.0f / 256.0f, 0, int16));
    // -512 = 0xFE00 and 256 = 0x0100, low byte first
    BOOST_TEST(q.bytes.size() == 4u);
    BOOST_TEST(q.bytes[0] == 0x00);
    BOOST_TEST(q.bytes[1] == 0xFE);
    BOOST_TEST(q.bytes[2] == 0x00);
    BOOST_TEST(q.bytes[3] == 0x01);
}

BOOST_AUTO_TEST_CASE(dequantize_equals_fake_quantize) {
    std::mt19937 rng(3);
    std::normal_distribution<float> normal(0.0f, 2.0f);
    for (dtype d : {uint4, int4, uint8, int8, int16}) {
        for (bool per_channel : {false, true}) {
            tensor x = xt::empty<float>({5, 7});  // odd count exercises the last half-byte
            for (auto& v : x) v = normal(rng);
            const std::int32_t zp = d.is_signed ? 0 : (d.qmax() + 1) / 2;
            const qparams p = per_channel
                                  ? qparams::per_channel({0.1f, 0.2f, 0.3f, 0.05f, 0.5f}, {zp, zp, zp, zp, zp}, 0, d)
                                  : qparams::per_tensor(0.07f, zp, d);
            const quantized_tensor q = quantize(x, p);
            const tensor back = dequantize(q);
            const tensor fq = fake_quantize(x, p);
            for (std::size_t i = 0; i < x.size(); ++i) {
                BOOST_TEST(bits(back.data()[i]) == bits(fq.data()[i]), d.name() << " per_channel=" << per_channel << " i=" << i);
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(levels_stay_in_range) {
    const tensor x = {-1e9f, 1e9f, std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()};
    const auto levels = quantize_levels(x, qparams::per_tensor(0.01f, 0, int16));
    BOOST_TEST(levels[0] == -32768);
    BOOST_TEST(levels[1] == 32767);
    BOOST_TEST(levels[2] == 32767);
    BOOST_TEST(levels[3] == -32768);
}

BOOST_AUTO_TEST_CASE(nan_cannot_be_stored) {
    const tensor x = {1.0f, std::numeric_limits<float>::quiet_NaN()};
    try {
        quantize(x, qparams::per_tensor(0.1f, 0, int8));
        BOOST_FAIL("expected value_error");
    } catch (const value_error& e) {
        BOOST_TEST(std::string(e.what()).find("element 1") != std::string::npos);
    }
}

BOOST_AUTO_TEST_SUITE_END()
