// Sample Circle models and the emit() helper shared by the Circle tests.
//
// tests/unit/test_circle_*.cpp are compiled twice: into the unit test
// executable, and into wrapq_circle_verify (tests/circle_verify), which
// defines WRAPQ_CIRCLE_OFFICIAL_VERIFIER and includes the verifier that flatc
// generates from the official Circle schema. The tests serialize every
// model that should be valid through emit() or check_file(), so in that
// second build the official verifier checks every model the tests produce.
#pragma once

#include <wrapq/circle.hpp>
#include <wrapq/core/quantize.hpp>

#include <bit>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#ifdef WRAPQ_CIRCLE_OFFICIAL_VERIFIER
#include <boost/test/unit_test.hpp>

#include "circle_schema_generated.h"
#endif

namespace circle_samples {

using namespace wrapq::circle;

/// Little-endian bytes of float32 values.
inline std::vector<std::uint8_t> float_bytes(const std::vector<float>& values) {
    std::vector<std::uint8_t> bytes;
    for (float v : values) {
        const auto bits = std::bit_cast<std::uint32_t>(v);
        for (int b = 0; b < 4; ++b) bytes.push_back(static_cast<std::uint8_t>(bits >> (8 * b)));
    }
    return bytes;
}

/// Little-endian bytes of int32 values.
inline std::vector<std::uint8_t> int32_bytes(const std::vector<std::int32_t>& values) {
    std::vector<std::uint8_t> bytes;
    for (std::int32_t v : values) {
        const auto bits = static_cast<std::uint32_t>(v);
        for (int b = 0; b < 4; ++b) bytes.push_back(static_cast<std::uint8_t>(bits >> (8 * b)));
    }
    return bytes;
}

inline quantization per_tensor(float scale, std::int64_t zero_point) { return {{scale}, {zero_point}, 0}; }

/// y[1,3] = FULLY_CONNECTED(x[1,4], W[3,4], b[3]) in float32, with a
/// signature "serving_default" and two metadata entries.
/// Buffers: 0 sentinel, 1 W (48 bytes), 2 b (12 bytes), 3 producer, 4 config.
inline model float_fc() {
    model_builder b;
    const auto x = b.add_tensor({.name = "x", .shape = {1, 4}});
    const auto w = b.add_constant("W", {3, 4}, tensor_type::float32,
                                  float_bytes({0.1f, 0.2f, 0.3f, 0.4f, -0.5f, 0.6f, -0.7f, 0.8f, 1.0f, 0.0f, -1.0f, 0.5f}));
    const auto bias = b.add_constant("b", {3}, tensor_type::float32, float_bytes({0.01f, -0.02f, 0.03f}));
    const auto y = b.add_tensor({.name = "y", .shape = {1, 3}});
    b.add_operator(ops::fully_connected(), {x, w, bias}, {y});
    b.set_inputs({x});
    b.set_outputs({y});
    b.add_signature("serving_default");
    b.add_metadata("producer", "wrapq 0.1.0");
    b.add_metadata("wrapq_config", R"({"default_dtype":"uint8"})");
    return b.get();
}

/// A uint8/int16 graph that uses every operator function of ops.hpp once,
/// with quantized weights from wrapq::quantize and a uint4 per-channel
/// weight. Tensor names and indices are listed as they are added.
inline model all_ops() {
    model_builder b;
    const auto q8 = [](float s, std::int64_t zp) { return per_tensor(s, zp); };

    // 0: x, 1: W (uint4 per-channel), 2: bias (int32), 3: fc
    const auto x = b.add_tensor({.name = "x", .shape = {1, 4}, .type = tensor_type::uint8, .quant = q8(1.0f / 128, 128)});
    const wrapq::tensor w_values = {{0.1f, 0.2f, 0.3f, 0.4f}, {-0.5f, 0.6f, -0.7f, 0.8f}, {1.0f, 0.0f, -1.0f, 0.5f}};
    const auto w_q = wrapq::quantize(w_values, wrapq::qparams::per_channel({0.0625f, 0.125f, 0.25f}, {8, 8, 8}, 0, wrapq::uint4));
    const auto w = add_quantized_constant(b, "W", w_q);
    const auto bias = b.add_constant("bias", {3}, tensor_type::int32, int32_bytes({1, -2, 3}),
                                     quantization{{0.0078125f * 0.0625f, 0.0078125f * 0.125f, 0.0078125f * 0.25f}, {0, 0, 0}, 0});
    const auto fc = b.add_tensor({.name = "fc", .shape = {1, 3}, .type = tensor_type::uint8, .quant = q8(4.0f / 255, 128)});
    b.add_operator(ops::fully_connected(), {x, w, bias}, {fc});

    // RESHAPE to [1,1,3] with an int32 shape constant marked keep_float.
    const auto shape = b.add_int32_constant("reshape_shape", {1, 1, 3});
    const auto r = b.add_tensor({.name = "reshaped", .shape = {1, 1, 3}, .type = tensor_type::uint8, .quant = q8(4.0f / 255, 128)});
    b.add_operator(ops::reshape({1, 1, 3}), {fc, shape}, {r});

    // DEQUANTIZE, RMS_NORM in float (Circle-only op), QUANTIZE back to int16.
    const auto f = b.add_tensor({.name = "dequantized", .shape = {1, 1, 3}, .keep_float = true});
    b.add_operator(ops::dequantize(), {r}, {f});
    const auto gamma = b.add_constant("gamma", {3}, tensor_type::float32, float_bytes({1.0f, 0.5f, 2.0f}));
    b.tensor_at(gamma).keep_float = true;
    const auto n = b.add_tensor({.name = "normed", .shape = {1, 1, 3}, .keep_float = true});
    b.add_operator(ops::rms_norm(1e-6f), {f, gamma}, {n});
    const auto s16 = b.add_tensor({.name = "normed_q", .shape = {1, 1, 3}, .type = tensor_type::int16, .quant = q8(1.0f / 8192, 0)});
    b.add_operator(ops::quantize(), {n}, {s16});

    // Elementwise ops on int16 with int16 constants.
    const auto c = b.add_constant("scale_const", {3}, tensor_type::int16, {0x00, 0x10, 0x00, 0x20, 0x00, 0xF0},
                                  q8(1.0f / 4096, 0));
    const auto added = b.add_tensor({.name = "added", .shape = {1, 1, 3}, .type = tensor_type::int16, .quant = q8(1.0f / 4096, 0)});
    b.add_operator(ops::add(), {s16, c}, {added});
    const auto mul = b.add_tensor({.name = "mul", .shape = {1, 1, 3}, .type = tensor_type::int16, .quant = q8(1.0f / 2048, 0)});
    b.add_operator(ops::mul(), {added, c}, {mul});
    const auto sub = b.add_tensor({.name = "sub", .shape = {1, 1, 3}, .type = tensor_type::int16, .quant = q8(1.0f / 2048, 0)});
    b.add_operator(ops::sub(), {mul, c}, {sub});
    const auto div = b.add_tensor({.name = "div", .shape = {1, 1, 3}, .type = tensor_type::int16, .quant = q8(1.0f / 1024, 0)});
    b.add_operator(ops::div(), {sub, c}, {div});
    const auto tanh = b.add_tensor({.name = "tanh", .shape = {1, 1, 3}, .type = tensor_type::int16, .quant = q8(1.0f / 32768, 0)});
    b.add_operator(ops::tanh(), {div}, {tanh});
    const auto gelu = b.add_tensor({.name = "gelu", .shape = {1, 1, 3}, .type = tensor_type::int16, .quant = q8(1.0f / 32768, 0)});
    b.add_operator(ops::gelu(true), {tanh}, {gelu});
    const auto soft = b.add_tensor({.name = "softmax", .shape = {1, 1, 3}, .type = tensor_type::int16, .quant = q8(1.0f / 32768, 0)});
    b.add_operator(ops::softmax(0.5f), {gelu}, {soft});

    // TRANSPOSE, CONCATENATION, BATCH_MATMUL, GATHER.
    const auto perm = b.add_int32_constant("perm", {0, 2, 1});
    const auto t = b.add_tensor({.name = "transposed", .shape = {1, 3, 1}, .type = tensor_type::int16, .quant = q8(1.0f / 32768, 0)});
    b.add_operator(ops::transpose(), {soft, perm}, {t});
    const auto cat = b.add_tensor({.name = "concat", .shape = {1, 3, 2}, .type = tensor_type::int16, .quant = q8(1.0f / 32768, 0)});
    b.add_operator(ops::concatenation(2), {t, t}, {cat});
    const auto bmm = b.add_tensor({.name = "bmm", .shape = {1, 3, 3}, .type = tensor_type::int16, .quant = q8(1.0f / 16384, 0)});
    b.add_operator(ops::batch_matmul(false, true), {cat, cat}, {bmm});
    const auto ids = b.add_tensor({.name = "ids", .shape = {2}, .type = tensor_type::int32, .keep_float = true});
    const auto gathered = b.add_tensor({.name = "gathered", .shape = {1, 2, 3}, .type = tensor_type::int16, .quant = q8(1.0f / 16384, 0)});
    b.add_operator(ops::gather(1), {bmm, ids}, {gathered});

    b.set_inputs({x, ids});
    b.set_outputs({gathered});
    b.add_signature("decode");
    b.add_metadata("producer", "wrapq 0.1.0");
    return b.get();
}

/// Two subgraphs ("prefill" and "decode"), one signature per entry point
/// with explicit names, INT64 and BOOL tensors and an odd-sized UINT8
/// constant so buffer alignment padding is exercised.
inline model two_entry_points() {
    model_builder b("prefill");
    const auto a = b.add_tensor({.name = "tokens", .shape = {1, 5}, .type = tensor_type::int64});
    const auto m = b.add_tensor({.name = "mask", .shape = {1, 5}, .type = tensor_type::boolean});
    const auto table = b.add_constant("table", {7, 1}, tensor_type::uint8, {1, 2, 3, 4, 5, 6, 7});
    const auto e = b.add_tensor({.name = "embedded", .shape = {1, 5, 1}, .type = tensor_type::uint8});
    b.add_operator(ops::gather(0), {table, a}, {e});
    b.set_inputs({a, m});
    b.set_outputs({e});

    const auto decode = b.add_subgraph("decode");
    const auto t = b.add_tensor({.name = "token", .shape = {1, 1}, .type = tensor_type::int64}, decode);
    const auto table2 = b.add_constant("table", {7, 1}, tensor_type::uint8, {7, 6, 5, 4, 3, 2, 1}, std::nullopt, decode);
    const auto out = b.add_tensor({.name = "embedded", .shape = {1, 1, 1}, .type = tensor_type::uint8}, decode);
    b.add_operator(ops::gather(0), {table2, t}, {out}, decode);
    b.set_inputs({t}, decode);
    b.set_outputs({out}, decode);

    b.add_signature(signature_def{"prefill", 0, {{"input_ids", static_cast<std::uint32_t>(a)}, {"attention_mask", static_cast<std::uint32_t>(m)}},
                                  {{"hidden", static_cast<std::uint32_t>(e)}}});
    b.add_signature(signature_def{"decode", decode, {{"input_ids", static_cast<std::uint32_t>(t)}},
                                  {{"hidden", static_cast<std::uint32_t>(out)}}});
    b.add_metadata("producer", "wrapq 0.1.0");
    return b.get();
}

/// Checks `bytes` with the verifier generated from the official schema in
/// the circle_verify build; does nothing in the unit test build.
inline void check_official(const std::vector<std::uint8_t>& bytes) {
#ifdef WRAPQ_CIRCLE_OFFICIAL_VERIFIER
    BOOST_TEST_REQUIRE(bytes.size() > 8u);
    BOOST_TEST(::circle::ModelBufferHasIdentifier(bytes.data()));
    flatbuffers::Verifier verifier(bytes.data(), bytes.size());
    BOOST_TEST(::circle::VerifyModelBuffer(verifier), "the official Circle verifier rejects the emitted model");
#else
    (void)bytes;
#endif
}

/// Serializes `m` and checks the bytes with check_official().
inline std::vector<std::uint8_t> emit(const model& m, const write_options& options = {}) {
    std::vector<std::uint8_t> bytes = serialize(m, options);
    check_official(bytes);
    return bytes;
}

/// Reads the file at `path` and checks it with check_official().
inline std::vector<std::uint8_t> check_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    check_official(bytes);
    return bytes;
}

/// Write options that force the layout with data after the FlatBuffer.
inline write_options extended_layout() { return write_options{.max_flatbuffer_bytes = 64}; }

}  // namespace circle_samples
