// The reference Circle interpreter of tests/support: operator semantics,
// fake quantization of outputs, constant decoding and graph errors.
//
// Expected values come from a worked FC -> TANH example with known float
// and uint8 results, from hand derivations written next to each case, or from
// numpy 1.x / torch 1.13 in float64 (the snippet is quoted where it is used).
// Valid graphs go through serialize() and read_model() before they run, so
// the interpreter reads what a file contains, and the circle_verify build checks
// each of them with the official verifier.
#include "../circle_verify/sample_models.hpp"
#include "../support/circle_interpreter.hpp"
#include "test_support.hpp"

#include <wrapq/circle.hpp>
#include <wrapq/core/quantize.hpp>

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

using namespace wrapq::circle;
using circle_samples::float_bytes;
using circle_samples::int32_bytes;
using circle_samples::per_tensor;
using wrapq::test::run_circle;
using wrapq::test::run_circle_all;
using wrapq_test::bits;

namespace {

/// Serializes the model of `b` (checked by the official verifier in the
/// circle_verify build) and reads it back, as the export tests will.
model read_back(const model_builder& b) { return read_model(circle_samples::emit(b.get())).m; }

/// Builds a tensor of `shape` from row-major `values`.
wrapq::tensor make(const std::vector<std::size_t>& shape, const std::vector<float>& values) {
    wrapq::tensor t = xt::empty<float>(shape);
    BOOST_TEST_REQUIRE(t.size() == values.size());
    std::copy(values.begin(), values.end(), t.begin());
    return t;
}

/// Little-endian two's complement bytes of `values`, `width` bytes each.
std::vector<std::uint8_t> integer_bytes(const std::vector<std::int64_t>& values, int width) {
    std::vector<std::uint8_t> bytes;
    for (std::int64_t v : values) {
        const auto bits_of_v = static_cast<std::uint64_t>(v);
        for (int b = 0; b < width; ++b) bytes.push_back(static_cast<std::uint8_t>(bits_of_v >> (8 * b)));
    }
    return bytes;
}

void check_shape(const wrapq::tensor& actual, const std::vector<std::size_t>& shape) {
    BOOST_TEST(std::vector<std::size_t>(actual.shape().begin(), actual.shape().end()) == shape,
               boost::test_tools::per_element());
}

/// Demands bit equality of every element.
void check_bits(const wrapq::tensor& actual, const std::vector<float>& expected) {
    BOOST_TEST_REQUIRE(actual.size() == expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
        BOOST_TEST_CONTEXT("element " << i << ": " << actual.data()[i] << " vs expected " << expected[i]) {
            BOOST_TEST(bits(actual.data()[i]) == bits(expected[i]));
        }
    }
}

/// Demands |actual - expected| <= tolerance * max(1, |expected|) for every element.
void check_close(const wrapq::tensor& actual, const std::vector<float>& expected, double tolerance) {
    BOOST_TEST_REQUIRE(actual.size() == expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
        BOOST_TEST_CONTEXT("element " << i << ": " << actual.data()[i] << " vs expected " << expected[i]) {
            const double error = std::abs(static_cast<double>(actual.data()[i]) - expected[i]);
            BOOST_TEST(error <= tolerance * std::max(1.0, std::abs(static_cast<double>(expected[i]))));
        }
    }
}

/// Values (level - zero_point) * scale of integer `levels`, computed in float32 like the grid definition.
std::vector<float> grid_values(const std::vector<int>& levels, float scale, int zero_point) {
    std::vector<float> values;
    for (int level : levels) values.push_back(static_cast<float>(level - zero_point) * scale);
    return values;
}

/// Exception predicate: the message contains every string of `parts`.
auto message_has(std::vector<std::string> parts) {
    return [parts](const std::exception& e) {
        const std::string message = e.what();
        for (const std::string& part : parts) {
            if (message.find(part) == std::string::npos) {
                BOOST_TEST_MESSAGE("message \"" << message << "\" lacks \"" << part << "\"");
                return false;
            }
        }
        return true;
    };
}

// The FC -> TANH example: y = tanh(x W^T + b).
const std::vector<float> example_x = {0.5f, -0.25f, 0.75f, -1.0f};
const std::vector<float> example_w = {0.1f, 0.2f, 0.3f, 0.4f, -0.5f, 0.6f, -0.7f, 0.8f, 1.0f, 0.0f, -1.0f, 0.5f};
const std::vector<float> example_b = {0.01f, -0.02f, 0.03f};

}  // namespace

BOOST_AUTO_TEST_SUITE(circle_interpreter)

// ---------------------------------------------------------------------------
// The FC -> TANH worked example

BOOST_AUTO_TEST_CASE(worked_example_float_fc) {
    // y = x W^T + b with x = [1, 2, 3, 4]:
    // [.1 + .4 + .9 + 1.6 + .01, -.5 + 1.2 - 2.1 + 3.2 - .02, 1 + 0 - 3 + 2 + .03] = [3.01, 1.78, 0.03]
    const model m = read_model(circle_samples::emit(circle_samples::float_fc())).m;
    const auto result = run_circle(m, {make({1, 4}, {1.0f, 2.0f, 3.0f, 4.0f})});
    BOOST_TEST_REQUIRE(result.outputs.size() == 1u);
    check_shape(result.outputs[0], {1, 3});
    check_close(result.outputs[0], {3.01f, 1.78f, 0.03f}, 1e-6);
}

BOOST_AUTO_TEST_CASE(worked_example_uint8_ideal_levels) {
    // The "ideal" of the example: float FC, TANH quantized to uint8 (scale 1/128, zero point 128).
    // fc = [.05 - .05 + .225 - .4 + .01, -.25 - .15 - .525 - .8 - .02, .5 - .75 - .5 + .03] = [-0.165, -1.745, -0.72]
    // tanh(fc) = [-0.16352, -0.94080, -0.61691]; times 128: [-20.93, -120.42, -78.96]
    // -> rounded [-21, -120, -79] -> levels [107, 8, 49].
    model_builder b;
    const auto x = b.add_tensor({.name = "x", .shape = {1, 4}, .type = tensor_type::uint8, .quant = per_tensor(1.0f / 128, 128)});
    const auto w = b.add_constant("W", {3, 4}, tensor_type::float32, float_bytes(example_w));
    const auto bias = b.add_constant("b", {3}, tensor_type::float32, float_bytes(example_b));
    b.tensor_at(w).keep_float = true;
    b.tensor_at(bias).keep_float = true;
    const auto fc = b.add_tensor({.name = "fc", .shape = {1, 3}, .keep_float = true});
    const auto y = b.add_tensor({.name = "y", .shape = {1, 3}, .type = tensor_type::uint8, .quant = per_tensor(1.0f / 128, 128)});
    b.add_operator(ops::fully_connected(), {x, w, bias}, {fc});
    b.add_operator(ops::tanh(), {fc}, {y});
    b.set_inputs({x});
    b.set_outputs({y});

    const auto all = run_circle_all(read_back(b), {make({1, 4}, example_x)});
    BOOST_TEST_REQUIRE(all[static_cast<std::size_t>(fc)].has_value());
    check_close(*all[static_cast<std::size_t>(fc)], {-0.165f, -1.745f, -0.72f}, 1e-6);
    check_bits(*all[static_cast<std::size_t>(y)], grid_values({107, 8, 49}, 1.0f / 128, 128));
}

BOOST_AUTO_TEST_CASE(worked_example_float_tanh) {
    // The float result of the example to the 4 decimals it gives: tanh(fc) = [-0.1635, -0.9408, -0.6169].
    model_builder b;
    const auto x = b.add_tensor({.name = "x", .shape = {1, 4}});
    const auto w = b.add_constant("W", {3, 4}, tensor_type::float32, float_bytes(example_w));
    const auto bias = b.add_constant("b", {3}, tensor_type::float32, float_bytes(example_b));
    const auto fc = b.add_tensor({.name = "fc", .shape = {1, 3}});
    const auto y = b.add_tensor({.name = "y", .shape = {1, 3}});
    b.add_operator(ops::fully_connected(), {x, w, bias}, {fc});
    b.add_operator(ops::tanh(), {fc}, {y});
    b.set_inputs({x});
    b.set_outputs({y});

    const auto result = run_circle(read_back(b), {make({1, 4}, example_x)});
    check_close(result.outputs[0], {-0.1635f, -0.9408f, -0.6169f}, 5e-5);
}

BOOST_AUTO_TEST_CASE(worked_example_uint8_quantized_fc) {
    // The fully quantized uint8 graph of the example. The fc grid (4/255)
    // moves level 107 to 108, the level that TFLite and Arm NN 20.08 are reported to output.
    //
    // W per-tensor, scale 2/255, zero point 128: level = round(w * 127.49999) + 128, where
    // 127.49999 is the float32 reciprocal of the scale:
    //   row 0: 12.75, 25.499998, 38.25, 51 -> 13, 25, 38, 51 -> [141, 153, 166, 179]
    //   row 1: -63.749996, 76.5 (ties to even 76), -89.25, 102 -> [64, 204, 39, 230]
    //   row 2: 127.49999, 0, -127.49999, 63.749996 -> [255, 128, 1, 192]
    // bias int32, scale (1/128)(2/255) = 1/16320: round(b * 16320) = [163, -326, 490].
    // fc / (4/255), levels with zero point 128:
    //   row 0: (0.5*13 - 0.25*25 + 0.75*38 - 51)(2/255) + 163/16320 = -0.164522 -> -10.49 -> -10 -> 118
    //   row 1: (-32 - 19 - 66.75 - 102)(2/255) - 326/16320 = -1.743505 -> -111.15 -> -111 -> 17
    //   row 2: (63.5 + 0 - 95.25 - 64)(2/255) + 490/16320 = -0.720956 -> -45.96 -> -46 -> 82
    // tanh of the fc grid values, times 128:
    //   tanh(-40/255) = -0.155597 -> -19.92 -> -20 -> 108
    //   tanh(-444/255) = -0.940244 -> -120.35 -> -120 -> 8
    //   tanh(-184/255) = -0.617633 -> -79.06 -> -79 -> 49
    // torch.fake_quantize_per_tensor_affine on the same chain gives the same levels.
    model_builder b;
    const float w_scale = 2.0f / 255;
    const float fc_scale = 4.0f / 255;
    const auto x = b.add_tensor({.name = "x", .shape = {1, 4}, .type = tensor_type::uint8, .quant = per_tensor(1.0f / 128, 128)});
    const auto w = b.add_constant("W", {3, 4}, tensor_type::uint8,
                                  {141, 153, 166, 179, 64, 204, 39, 230, 255, 128, 1, 192}, per_tensor(w_scale, 128));
    const auto bias = b.add_constant("b", {3}, tensor_type::int32, int32_bytes({163, -326, 490}),
                                     per_tensor(1.0f / 128 * w_scale, 0));
    const auto fc = b.add_tensor({.name = "fc", .shape = {1, 3}, .type = tensor_type::uint8, .quant = per_tensor(fc_scale, 128)});
    const auto y = b.add_tensor({.name = "y", .shape = {1, 3}, .type = tensor_type::uint8, .quant = per_tensor(1.0f / 128, 128)});
    b.add_operator(ops::fully_connected(), {x, w, bias}, {fc});
    b.add_operator(ops::tanh(), {fc}, {y});
    b.set_inputs({x});
    b.set_outputs({y});

    const auto all = run_circle_all(read_back(b), {make({1, 4}, example_x)});
    check_bits(*all[static_cast<std::size_t>(w)],
               grid_values({141, 153, 166, 179, 64, 204, 39, 230, 255, 128, 1, 192}, w_scale, 128));
    check_bits(*all[static_cast<std::size_t>(fc)], grid_values({118, 17, 82}, fc_scale, 128));
    check_bits(*all[static_cast<std::size_t>(y)], grid_values({108, 8, 49}, 1.0f / 128, 128));
}

BOOST_AUTO_TEST_CASE(int16_fc_with_int8_per_channel_weights) {
    // The int16 variant of the example: x int16 scale 1/32767; W int8
    // per-channel on dimension 0 with scales max|row| / 127 = [.4, .8, 1] / 127;
    // bias int64 with scales s_x * s_w[c]; fc int16 scale 2/32767; y int16 scale 1/32768.
    //   x levels: round(x * 32767) = [16384 (16383.5 ties to even), -8192 (-8191.75), 24575, -32767]
    //   W levels: [[32, 64, 95, 127], [-79, 95, -111, 127], [127, 0, -127, 64]]
    //   bias levels: round(b / (s_x s_w)) = [104035, -104035, 124842]
    //   fc row 0: (16384*32 - 8192*64 + 24575*95 - 32767*127) / 32767 * (.4/127) + 0.01 = -0.165593
    //             -> / (2/32767) = -2713.0 -> level -2713; tanh(-2713 * 2/32767) * 32768 = -5377.2 -> -5377
    // torch (fake_quantize_per_tensor_affine / _per_channel_affine in float64 sums) gives
    // fc levels [-2713, -28554, -11860] and y levels [-5377, -30820, -20294]. The float graph
    // quantized only at y gives [-5358, -30828, -20215] (numpy), and TFLite is reported to
    // output [-5378, -30820, -20293].
    model_builder b;
    const float x_scale = 1.0f / 32767;
    const std::vector<float> w_scales = {0.4f / 127, 0.8f / 127, 1.0f / 127};
    const auto x = b.add_tensor({.name = "x", .shape = {1, 4}, .type = tensor_type::int16, .quant = per_tensor(x_scale, 0)});
    const auto w_q = wrapq::quantize(make({3, 4}, example_w), wrapq::qparams::per_channel(w_scales, {0, 0, 0}, 0, wrapq::int8));
    const auto w = add_quantized_constant(b, "W", w_q);
    std::vector<float> bias_scales;
    for (float s : w_scales) bias_scales.push_back(x_scale * s);
    const auto bias = b.add_constant("b", {3}, tensor_type::int64, integer_bytes({104035, -104035, 124842}, 8),
                                     quantization{bias_scales, {0, 0, 0}, 0});
    const auto fc = b.add_tensor({.name = "fc", .shape = {1, 3}, .type = tensor_type::int16, .quant = per_tensor(2.0f / 32767, 0)});
    const auto y = b.add_tensor({.name = "y", .shape = {1, 3}, .type = tensor_type::int16, .quant = per_tensor(1.0f / 32768, 0)});
    b.add_operator(ops::fully_connected(), {x, w, bias}, {fc});
    b.add_operator(ops::tanh(), {fc}, {y});
    b.set_inputs({x});
    b.set_outputs({y});

    // The input is passed in float and snapped to its grid, as a caller's quantization would.
    const auto all = run_circle_all(read_back(b), {make({1, 4}, example_x)});
    check_bits(*all[static_cast<std::size_t>(x)], grid_values({16384, -8192, 24575, -32767}, x_scale, 0));

    // Per-channel decoding: row 1 uses scale .8/127, row 2 uses 1/127.
    const wrapq::tensor& weights = *all[static_cast<std::size_t>(w)];
    BOOST_TEST(bits(weights(0, 3)) == bits(127.0f * w_scales[0]));
    BOOST_TEST(bits(weights(1, 0)) == bits(-79.0f * w_scales[1]));
    BOOST_TEST(bits(weights(2, 3)) == bits(64.0f * w_scales[2]));

    check_bits(*all[static_cast<std::size_t>(fc)], grid_values({-2713, -28554, -11860}, 2.0f / 32767, 0));
    check_bits(*all[static_cast<std::size_t>(y)], grid_values({-5377, -30820, -20294}, 1.0f / 32768, 0));
}

BOOST_AUTO_TEST_CASE(uint4_per_channel_weights_unpack_low_nibble_first) {
    // W uint4 per-channel on dimension 0. Row 0: scale 0.5, zero point 8, levels [9, 7, 12] = [0.5, -0.5, 2].
    // Row 1: scale 0.25, zero point 3, levels [0, 15, 8] = [-0.75, 3, 1.25].
    // Flat levels 9, 7, 12, 0, 15, 8 pack as 0x79, 0x0C, 0x8F (element 2i in the low nibble).
    // y = [1, 2, 4] W^T = [0.5 - 1 + 8, -0.75 + 6 + 5] = [7.5, 10.25].
    model_builder b;
    const auto x = b.add_tensor({.name = "x", .shape = {1, 3}, .keep_float = true});
    const auto w = b.add_constant("W", {2, 3}, tensor_type::uint4, {0x79, 0x0C, 0x8F}, quantization{{0.5f, 0.25f}, {8, 3}, 0});
    const auto y = b.add_tensor({.name = "y", .shape = {1, 2}, .keep_float = true});
    b.add_operator(ops::fully_connected(), {x, w, -1}, {y});
    b.set_inputs({x});
    b.set_outputs({y});

    const auto all = run_circle_all(read_back(b), {make({1, 3}, {1.0f, 2.0f, 4.0f})});
    check_bits(*all[static_cast<std::size_t>(w)], {0.5f, -0.5f, 2.0f, -0.75f, 3.0f, 1.25f});
    check_bits(*all[static_cast<std::size_t>(y)], {7.5f, 10.25f});
}

BOOST_AUTO_TEST_CASE(fully_connected_flattens_without_keep_num_dims) {
    // x [2, 2, 2] with keep_num_dims false is read as 4 rows of 2: y has shape [4, 1].
    // W = [[1, -1]]: y = [1 - 2, 3 - 4, 5 - 6, 7 - 8] = [-1, -1, -1, -1] plus bias 0.5.
    model_builder b;
    const auto x = b.add_tensor({.name = "x", .shape = {2, 2, 2}});
    const auto w = b.add_constant("W", {1, 2}, tensor_type::float32, float_bytes({1.0f, -1.0f}));
    const auto bias = b.add_constant("b", {1}, tensor_type::float32, float_bytes({0.5f}));
    const auto y = b.add_tensor({.name = "y", .shape = {4, 1}});
    b.add_operator(ops::fully_connected(activation::none, false), {x, w, bias}, {y});
    b.set_inputs({x});
    b.set_outputs({y});

    const auto result = run_circle(read_back(b), {make({2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8})});
    check_shape(result.outputs[0], {4, 1});
    check_bits(result.outputs[0], {-0.5f, -0.5f, -0.5f, -0.5f});
}

// ---------------------------------------------------------------------------
// BATCH_MATMUL

BOOST_AUTO_TEST_CASE(batch_matmul_adjoint_rhs_broadcasts_batch) {
    // a [1, 2, 3] times b [2, 4, 3] transposed: the batch extent 1 of a
    // stretches to 2, giving [2, 2, 4]. out[0, 0, 0] = [1, 2, 3] . [1, 0, 1] = 4,
    // out[1, 1, 3] = [-1, 0, 2] . [-1, 0, 2] = 5. All values from numpy
    // np.matmul(a, np.swapaxes(b, -1, -2)).
    model_builder b;
    const auto a = b.add_tensor({.name = "a", .shape = {1, 2, 3}});
    const auto rhs = b.add_constant("b", {2, 4, 3}, tensor_type::float32,
                                    float_bytes({1, 0, 1, 2, 1, 0, 0, -1, 1, 1, 1, 1, 0, 0, 1, 1, -2, 0, 3, 1, 1, -1, 0, 2}));
    const auto out = b.add_tensor({.name = "out", .shape = {2, 2, 4}});
    b.add_operator(ops::batch_matmul(false, true), {a, rhs}, {out});
    b.set_inputs({a});
    b.set_outputs({out});

    const auto result = run_circle(read_back(b), {make({1, 2, 3}, {1, 2, 3, -1, 0, 2})});
    check_shape(result.outputs[0], {2, 2, 4});
    check_bits(result.outputs[0], {4, 4, 1, 6, 1, -2, 2, 1, 3, -3, 8, 5, 2, -1, -1, 5});
}

BOOST_AUTO_TEST_CASE(batch_matmul_adjoint_lhs_rank4) {
    // a [1, 2, 3, 2] = arange(12) - 5 used transposed (2 x 3 matrices), b [2, 1, 3, 4]:
    // batch axes [1, 2] and [2, 1] broadcast to [2, 2]. out[0, 0, 0, 0] = [-5, -3, -1] . [1, 0, 3] = -8.
    // All values from numpy np.matmul(np.swapaxes(a, -1, -2), b).
    model_builder b;
    const auto a = b.add_tensor({.name = "a", .shape = {1, 2, 3, 2}});
    const auto rhs = b.add_tensor({.name = "b", .shape = {2, 1, 3, 4}});
    const auto out = b.add_tensor({.name = "out", .shape = {2, 2, 2, 4}});
    b.add_operator(ops::batch_matmul(true, false), {a, rhs}, {out});
    b.set_inputs({a, rhs});
    b.set_outputs({out});

    std::vector<float> a_values;
    for (int i = 0; i < 12; ++i) a_values.push_back(static_cast<float>(i - 5));
    const auto result = run_circle(read_back(b), {make({1, 2, 3, 2}, a_values),
                                                  make({2, 1, 3, 4}, {1, -1, 2, 0, 0, 1, 1, -2, 3, 0, -1, 1,
                                                                      2, 2, 0, 1, -1, 0, 1, 1, 0, 3, -2, 1})});
    check_shape(result.outputs[0], {2, 2, 2, 4});
    check_bits(result.outputs[0], {-8, 2, -12, 5, -4, 2, -10, 4, 16, 2, 0, -1, 20, 2, 2, -2,
                                   -7, -13, -1, -9, -6, -8, -2, -6, -1, 17, -7, 9, 0, 22, -8, 12});
}

// ---------------------------------------------------------------------------
// Data movement

BOOST_AUTO_TEST_CASE(gather_rows_with_id_input) {
    // params [4, 3] = row r contains 10r, 10r + 1, 10r + 2; ids [[3, 0], [1, 3]] on axis 0 -> [2, 2, 3].
    model_builder b;
    const auto table = b.add_constant("table", {4, 3}, tensor_type::float32,
                                      float_bytes({0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32}));
    const auto ids = b.add_tensor({.name = "ids", .shape = {2, 2}, .type = tensor_type::int32});
    const auto out = b.add_tensor({.name = "rows", .shape = {2, 2, 3}});
    b.add_operator(ops::gather(0), {table, ids}, {out});
    b.set_inputs({ids});
    b.set_outputs({out});

    const auto result = run_circle(read_back(b), {make({2, 2}, {3, 0, 1, 3})});
    check_shape(result.outputs[0], {2, 2, 3});
    check_bits(result.outputs[0], {30, 31, 32, 0, 1, 2, 10, 11, 12, 30, 31, 32});
}

BOOST_AUTO_TEST_CASE(gather_negative_axis) {
    // params [2, 3] = [[0, 1, 2], [3, 4, 5]], indices [2, 0, 2] on axis -1 -> [[2, 0, 2], [5, 3, 5]].
    model_builder b;
    const auto params = b.add_tensor({.name = "params", .shape = {2, 3}});
    const auto indices = b.add_int32_constant("indices", {2, 0, 2});
    const auto out = b.add_tensor({.name = "out", .shape = {2, 3}});
    b.add_operator(ops::gather(-1), {params, indices}, {out});
    b.set_inputs({params});
    b.set_outputs({out});

    const auto result = run_circle(read_back(b), {make({2, 3}, {0, 1, 2, 3, 4, 5})});
    check_bits(result.outputs[0], {2, 0, 2, 5, 3, 5});
}

/// A graph y = STRIDED_SLICE(x [2, 3, 4]) with the given bounds and masks.
model strided_slice_graph(const std::vector<std::int32_t>& begin, const std::vector<std::int32_t>& end,
                          const std::vector<std::int32_t>& strides, std::int32_t begin_mask, std::int32_t end_mask,
                          std::int32_t shrink_mask, const std::vector<std::int32_t>& out_shape) {
    model_builder b;
    const auto x = b.add_tensor({.name = "x", .shape = {2, 3, 4}});
    const auto bt = b.add_int32_constant("begin", begin);
    const auto et = b.add_int32_constant("end", end);
    const auto st = b.add_int32_constant("strides", strides);
    const auto y = b.add_tensor({.name = "y", .shape = out_shape});
    b.add_operator(ops::strided_slice(begin_mask, end_mask, shrink_mask), {x, bt, et, st}, {y});
    b.set_inputs({x});
    b.set_outputs({y});
    return read_back(b);
}

wrapq::tensor arange_2x3x4() {
    std::vector<float> values;
    for (int i = 0; i < 24; ++i) values.push_back(static_cast<float>(i));
    return make({2, 3, 4}, values);
}

BOOST_AUTO_TEST_CASE(strided_slice_masks_and_negative_indices) {
    // numpy x[:, -2:3, -1:-5:-2] of x = arange(24).reshape(2, 3, 4):
    // axis 0 masked (whole), axis 1 rows 1..2, axis 2 from 3 down past 0 by 2 -> columns 3, 1.
    // x[0, 1, 3] = 7, x[0, 1, 1] = 5, x[0, 2, 3] = 11, x[0, 2, 1] = 9, then +12 for x[1].
    const model m = strided_slice_graph({0, -2, -1}, {0, 3, -5}, {1, 1, -2}, 0b001, 0b001, 0, {2, 2, 2});
    const auto result = run_circle(m, {arange_2x3x4()});
    check_shape(result.outputs[0], {2, 2, 2});
    check_bits(result.outputs[0], {7, 5, 11, 9, 19, 17, 23, 21});
}

BOOST_AUTO_TEST_CASE(strided_slice_shrink_axes) {
    // numpy x[1, :, -1]: axes 0 and 2 shrink (mask 0b101), axis 1 whole (begin and end mask 0b010).
    // x[1, r, 3] = 12 + 4r + 3 = [15, 19, 23].
    const model m = strided_slice_graph({1, 0, -1}, {2, 0, 0}, {1, 1, 1}, 0b010, 0b010, 0b101, {3});
    const auto result = run_circle(m, {arange_2x3x4()});
    check_shape(result.outputs[0], {3});
    check_bits(result.outputs[0], {15, 19, 23});
}

BOOST_AUTO_TEST_CASE(strided_slice_short_bounds_reverse) {
    // numpy x[-1:-3:-1]: begin has one entry, so axes 1 and 2 are whole.
    // Axis 0 runs from 1 down to 0, which swaps the two halves.
    const model m = strided_slice_graph({-1}, {-3}, {-1}, 0, 0, 0, {2, 3, 4});
    const auto result = run_circle(m, {arange_2x3x4()});
    std::vector<float> expected;
    for (int i = 12; i < 24; ++i) expected.push_back(static_cast<float>(i));
    for (int i = 0; i < 12; ++i) expected.push_back(static_cast<float>(i));
    check_bits(result.outputs[0], expected);
}

BOOST_AUTO_TEST_CASE(concatenation_negative_axis) {
    // a [2, 1, 2] and b [2, 1, 3] along axis -1 -> [2, 1, 5]: each row is a's row then b's row.
    model_builder b;
    const auto a = b.add_tensor({.name = "a", .shape = {2, 1, 2}});
    const auto c = b.add_tensor({.name = "b", .shape = {2, 1, 3}});
    const auto out = b.add_tensor({.name = "out", .shape = {2, 1, 5}});
    b.add_operator(ops::concatenation(-1), {a, c}, {out});
    b.set_inputs({a, c});
    b.set_outputs({out});

    const auto result = run_circle(read_back(b), {make({2, 1, 2}, {1, 2, 3, 4}), make({2, 1, 3}, {5, 6, 7, 8, 9, 10})});
    check_shape(result.outputs[0], {2, 1, 5});
    check_bits(result.outputs[0], {1, 2, 5, 6, 7, 3, 4, 8, 9, 10});
}

BOOST_AUTO_TEST_CASE(transpose_permutation) {
    // perm [2, 0, 1] of x [2, 3, 4] gives [4, 2, 3] with out[k, i, j] = x[i, j, k] = 12i + 4j + k.
    // Values from numpy np.transpose(x, (2, 0, 1)).
    model_builder b;
    const auto x = b.add_tensor({.name = "x", .shape = {2, 3, 4}});
    const auto perm = b.add_int32_constant("perm", {2, 0, 1});
    const auto y = b.add_tensor({.name = "y", .shape = {4, 2, 3}});
    b.add_operator(ops::transpose(), {x, perm}, {y});
    b.set_inputs({x});
    b.set_outputs({y});

    const auto result = run_circle(read_back(b), {arange_2x3x4()});
    check_shape(result.outputs[0], {4, 2, 3});
    check_bits(result.outputs[0], {0, 4, 8, 12, 16, 20, 1, 5, 9, 13, 17, 21, 2, 6, 10, 14, 18, 22, 3, 7, 11, 15, 19, 23});
}

BOOST_AUTO_TEST_CASE(reshape_slice_expand_dims) {
    // RESHAPE x [2, 3, 4] to [6, -1] from a shape input (-1 -> 4), SLICE
    // begin [1, 2] size [-1, 2] -> rows 1..5, columns 2..3 ([5, 2]),
    // EXPAND_DIMS at axis -1 -> [5, 2, 1], then RESHAPE by the option only to [10].
    model_builder b;
    const auto x = b.add_tensor({.name = "x", .shape = {2, 3, 4}});
    const auto shape = b.add_int32_constant("shape", {6, -1});
    const auto r = b.add_tensor({.name = "r", .shape = {6, 4}});
    b.add_operator(ops::reshape({6, -1}), {x, shape}, {r});
    const auto begin = b.add_int32_constant("begin", {1, 2});
    const auto size = b.add_int32_constant("size", {-1, 2});
    const auto s = b.add_tensor({.name = "s", .shape = {5, 2}});
    b.add_operator(ops::slice(), {r, begin, size}, {s});
    const auto axis = b.add_int32_constant("axis", {-1});
    const auto e = b.add_tensor({.name = "e", .shape = {5, 2, 1}});
    b.add_operator(ops::expand_dims(), {s, axis}, {e});
    const auto flat = b.add_tensor({.name = "flat", .shape = {10}});
    b.add_operator(ops::reshape({10}), {e}, {flat});
    b.set_inputs({x});
    b.set_outputs({e, flat});

    const auto result = run_circle(read_back(b), {arange_2x3x4()});
    check_shape(result.outputs[0], {5, 2, 1});
    // row k of r contains 4k .. 4k + 3, so columns 2 and 3 are 4k + 2 and 4k + 3 for k = 1..5.
    check_bits(result.outputs[1], {6, 7, 10, 11, 14, 15, 18, 19, 22, 23});
}

// ---------------------------------------------------------------------------
// Normalization and reductions

BOOST_AUTO_TEST_CASE(rms_norm_last_axis) {
    // Row 0: mean(x^2) = (1 + 4 + 9 + 0.25) / 4 = 3.5625, rms = 1.887459;
    //   gamma * x / rms = [0.5/1.887459, -2/1.887459, 6/1.887459, -0.5/1.887459] = [0.264906, -1.059626, 3.178877, -0.264906].
    // Row 1: mean(x^2) = 1.5625e-6, so epsilon 1e-6 matters: rms = sqrt(2.5625e-6) = 0.00160078.
    // Values from numpy in float64: gamma * x / sqrt(mean(x**2, -1) + float32(1e-6)), rounded to float32.
    model_builder b;
    const auto x = b.add_tensor({.name = "x", .shape = {1, 2, 4}});
    const auto gamma = b.add_constant("gamma", {4}, tensor_type::float32, float_bytes({0.5f, 1.0f, 2.0f, -1.0f}));
    const auto y = b.add_tensor({.name = "y", .shape = {1, 2, 4}});
    b.add_operator(ops::rms_norm(1e-6f), {x, gamma}, {y});
    b.set_inputs({x});
    b.set_outputs({y});

    const auto result = run_circle(read_back(b), {make({1, 2, 4}, {1.0f, -2.0f, 3.0f, 0.5f, 0.001f, -0.002f, 0.0005f, 0.001f})});
    check_close(result.outputs[0],
                {0.2649064362049103f, -1.0596257448196411f, 3.178877115249634f, -0.2649064362049103f,
                 0.31234753131866455f, -1.2493901252746582f, 0.6246950626373291f, -0.6246950626373291f},
                2e-7);
}

BOOST_AUTO_TEST_CASE(softmax_beta_float_and_uint8) {
    // softmax(0.5 x) per row; torch.softmax(0.5 * x, -1) in float64 gives
    // [0.186324, 0.307196, 0.506480] and [0.065362, 0.138371, 0.796268].
    // uint8 output (scale 1/256, zero point 0): times 256 = [47.70, 78.64, 129.66], [16.73, 35.42, 203.84]
    // -> levels [48, 79, 130], [17, 35, 204].
    model_builder b;
    const auto x = b.add_tensor({.name = "x", .shape = {2, 3}, .keep_float = true});
    const auto f = b.add_tensor({.name = "float", .shape = {2, 3}, .keep_float = true});
    const auto q = b.add_tensor({.name = "quantized", .shape = {2, 3}, .type = tensor_type::uint8, .quant = per_tensor(1.0f / 256, 0)});
    b.add_operator(ops::softmax(0.5f), {x}, {f});
    b.add_operator(ops::softmax(0.5f), {x}, {q});
    b.set_inputs({x});
    b.set_outputs({f, q});

    const auto result = run_circle(read_back(b), {make({2, 3}, {1.0f, 2.0f, 3.0f, -1.0f, 0.5f, 4.0f})});
    check_close(result.outputs[0],
                {0.18632371723651886f, 0.30719587206840515f, 0.5064803957939148f, 0.0653616413474083f,
                 0.1383705884218216f, 0.7962677478790283f},
                2e-7);
    check_bits(result.outputs[1], grid_values({48, 79, 130, 17, 35, 204}, 1.0f / 256, 0));
}

BOOST_AUTO_TEST_CASE(mean_axes_keep_dims) {
    // x = arange(24).reshape(2, 3, 4). numpy x.mean(-1, keepdims=True) = 1.5 + 4k, shape [2, 3, 1];
    // x.mean((0, 2)) = [7.5, 11.5, 15.5], shape [3].
    model_builder b;
    const auto x = b.add_tensor({.name = "x", .shape = {2, 3, 4}});
    const auto last = b.add_int32_constant("last", {-1});
    const auto outer = b.add_int32_constant("outer", {0, 2, -1});  // -1 repeats axis 2
    const auto kept = b.add_tensor({.name = "kept", .shape = {2, 3, 1}});
    const auto dropped = b.add_tensor({.name = "dropped", .shape = {3}});
    b.add_operator(ops::mean(true), {x, last}, {kept});
    b.add_operator(ops::mean(false), {x, outer}, {dropped});
    b.set_inputs({x});
    b.set_outputs({kept, dropped});

    const auto result = run_circle(read_back(b), {arange_2x3x4()});
    check_shape(result.outputs[0], {2, 3, 1});
    check_bits(result.outputs[0], {1.5f, 5.5f, 9.5f, 13.5f, 17.5f, 21.5f});
    check_bits(result.outputs[1], {7.5f, 11.5f, 15.5f});
}

// ---------------------------------------------------------------------------
// Elementwise operators

BOOST_AUTO_TEST_CASE(binary_ops_broadcast) {
    // a [2, 3] with the constant c [3] = [2, -4, 0.5] broadcast over rows.
    const std::vector<float> a = {1, 2, 3, -1, 8, 0.25f};
    struct binary_case {
        op kind;
        std::vector<float> expected;
    };
    const std::vector<binary_case> cases = {
        {ops::add(), {3, -2, 3.5f, 1, 4, 0.75f}},
        {ops::sub(), {-1, 6, 2.5f, -3, 12, -0.25f}},
        {ops::mul(), {2, -8, 1.5f, -2, -32, 0.125f}},
        {ops::div(), {0.5f, -0.5f, 6, -0.5f, -2, 0.5f}},
        {ops::pow(), {1, 0.0625f, 1.7320508075688772f, 1, 0.000244140625f, 0.5f}},  // c = [2, -4, 0.5]: 2^-4, 3^0.5, 8^-4
    };
    for (const binary_case& c : cases) {
        BOOST_TEST_CONTEXT("operator " << op_name(c.kind.code)) {
            model_builder b;
            const auto x = b.add_tensor({.name = "a", .shape = {2, 3}});
            const auto k = b.add_constant("c", {3}, tensor_type::float32, float_bytes({2.0f, -4.0f, 0.5f}));
            const auto y = b.add_tensor({.name = "y", .shape = {2, 3}});
            b.add_operator(c.kind, {x, k}, {y});
            b.set_inputs({x});
            b.set_outputs({y});
            check_bits(run_circle(read_back(b), {make({2, 3}, a)}).outputs[0], c.expected);
        }
    }
}

BOOST_AUTO_TEST_CASE(fused_relu6_on_add) {
    // ADD with fused RELU6: [-3 + 1, 2 + 1, 9 + 1] = [-2, 3, 10] -> [0, 3, 6].
    model_builder b;
    const auto x = b.add_tensor({.name = "x", .shape = {3}});
    const auto one = b.add_constant("one", {1}, tensor_type::float32, float_bytes({1.0f}));
    const auto y = b.add_tensor({.name = "y", .shape = {3}});
    b.add_operator(ops::add(activation::relu6), {x, one}, {y});
    b.set_inputs({x});
    b.set_outputs({y});
    check_bits(run_circle(read_back(b), {make({3}, {-3, 2, 9})}).outputs[0], {0, 3, 6});
}

BOOST_AUTO_TEST_CASE(unary_ops_match_torch) {
    // x = [[-3, -0.5, 0], [0.25, 1, 2.5]]; expected values from torch 1.13 in float64
    // (torch.tanh, torch.sigmoid, F.gelu(approximate='tanh'), F.gelu), rounded to float32.
    const std::vector<float> x = {-3.0f, -0.5f, 0.0f, 0.25f, 1.0f, 2.5f};
    struct unary_case {
        std::string name;
        op kind;
        std::vector<float> expected;
    };
    const std::vector<unary_case> cases = {
        {"tanh", ops::tanh(), {-0.9950547814369202f, -0.46211716532707214f, 0.0f, 0.24491865932941437f, 0.7615941762924194f, 0.9866142868995667f}},
        {"logistic", ops::logistic(), {0.04742587357759476f, 0.3775406777858734f, 0.5f, 0.562176525592804f, 0.7310585975646973f, 0.9241418242454529f}},
        {"gelu tanh", ops::gelu(true), {-0.003637392073869705f, -0.1542859971523285f, 0.0f, 0.14967535436153412f, 0.8411920070648193f, 2.4849157333374023f}},
        {"gelu erf", ops::gelu(false), {-0.004049694165587425f, -0.1542687714099884f, 0.0f, 0.14967657625675201f, 0.8413447737693787f, 2.48447585105896f}},
        {"neg", ops::neg(), {3.0f, 0.5f, -0.0f, -0.25f, -1.0f, -2.5f}},
    };
    for (const unary_case& c : cases) {
        BOOST_TEST_CONTEXT("operator " << c.name) {
            model_builder b;
            const auto in = b.add_tensor({.name = "x", .shape = {2, 3}});
            const auto y = b.add_tensor({.name = "y", .shape = {2, 3}});
            b.add_operator(c.kind, {in}, {y});
            b.set_inputs({in});
            b.set_outputs({y});
            check_close(run_circle(read_back(b), {make({2, 3}, x)}).outputs[0], c.expected, 2e-7);
        }
    }
}

BOOST_AUTO_TEST_CASE(sqrt_and_rsqrt) {
    // x = [0.25, 1, 4, 2, 9, 0.5]: sqrt = [0.5, 1, 2, 1.4142135, 3, 0.70710677], rsqrt the reciprocals.
    const std::vector<float> x = {0.25f, 1.0f, 4.0f, 2.0f, 9.0f, 0.5f};
    model_builder b;
    const auto in = b.add_tensor({.name = "x", .shape = {6}});
    const auto root = b.add_tensor({.name = "sqrt", .shape = {6}});
    const auto inverse = b.add_tensor({.name = "rsqrt", .shape = {6}});
    b.add_operator(ops::sqrt(), {in}, {root});
    b.add_operator(ops::rsqrt(), {in}, {inverse});
    b.set_inputs({in});
    b.set_outputs({root, inverse});

    const auto result = run_circle(read_back(b), {make({6}, x)});
    check_bits(result.outputs[0], {0.5f, 1.0f, 2.0f, 1.4142135381698608f, 3.0f, 0.7071067690849304f});
    check_bits(result.outputs[1], {2.0f, 1.0f, 0.5f, 0.7071067690849304f, 0.3333333432674408f, 1.4142135381698608f});
}

// ---------------------------------------------------------------------------
// QUANTIZE and DEQUANTIZE

BOOST_AUTO_TEST_CASE(quantize_requantizes_int16_to_uint8) {
    // Input int16 scale 1/8192; output uint8 scale 1/16, zero point 50: level = round(16 x) + 50.
    //   0.09375 * 16 = 1.5 -> 2 (tie to even) -> 52;    0.15625 * 16 = 2.5 -> 2 (tie to even) -> 52
    //   -0.03125 * 16 = -0.5 -> -0 -> 50;               -4 * 16 = -64 -> -14, clamps to 0 (value -3.125)
    //   32767/8192 * 16 = 63.998 -> 64 -> 114;          10/8192 * 16 = 0.0195 -> 0 -> 50
    // torch.fake_quantize_per_tensor_affine(x, 1/16, 50, 0, 255) gives the same levels.
    model_builder b;
    const auto x = b.add_tensor({.name = "x", .shape = {6}, .type = tensor_type::int16, .quant = per_tensor(1.0f / 8192, 0)});
    const auto y = b.add_tensor({.name = "y", .shape = {6}, .type = tensor_type::uint8, .quant = per_tensor(1.0f / 16, 50)});
    const auto f = b.add_tensor({.name = "f", .shape = {6}, .keep_float = true});
    b.add_operator(ops::quantize(), {x}, {y});
    b.add_operator(ops::dequantize(), {y}, {f});
    b.set_inputs({x});
    b.set_outputs({y, f});

    const auto result = run_circle(read_back(b), {make({6}, {0.09375f, 0.15625f, -0.03125f, -4.0f, 32767.0f / 8192, 10.0f / 8192})});
    const std::vector<float> expected = grid_values({52, 52, 50, 0, 114, 50}, 1.0f / 16, 50);
    check_bits(result.outputs[0], expected);
    check_bits(result.outputs[1], expected);
}

BOOST_AUTO_TEST_CASE(quantize_float_to_int16_per_channel_output) {
    // A float input quantized to int16 with per-channel scales on dimension 1 of [2, 2, 2]:
    // channel 0 (scale 0.5) contains elements 0, 1, 4, 5 and channel 1 (scale 0.25) elements 2, 3, 6, 7.
    //   channel 0: 1.3 * 2 = 2.6 -> 3 -> 1.5;  -0.7 * 2 = -1.4 -> -1 -> -0.5;  40000 * 2 clamps to 32767 -> 16383.5;  0.3 * 2 = 0.6 -> 1 -> 0.5
    //   channel 1: 1.3 * 4 = 5.2 -> 5 -> 1.25; -0.7 * 4 = -2.8 -> -3 -> -0.75; 40000 * 4 clamps to 32767 -> 8191.75; 0.3 * 4 = 1.2 -> 1 -> 0.25
    // torch.fake_quantize_per_channel_affine(x, [0.5, 0.25], [0, 0], 1, -32768, 32767) gives the same values.
    model_builder b;
    const auto x = b.add_tensor({.name = "x", .shape = {2, 2, 2}, .keep_float = true});
    const auto y = b.add_tensor({.name = "y", .shape = {2, 2, 2}, .type = tensor_type::int16,
                                 .quant = quantization{{0.5f, 0.25f}, {0, 0}, 1}});
    b.add_operator(ops::quantize(), {x}, {y});
    b.set_inputs({x});
    b.set_outputs({y});

    const auto result = run_circle(read_back(b), {make({2, 2, 2}, {1.3f, -0.7f, 1.3f, -0.7f, 40000.0f, 0.3f, 40000.0f, 0.3f})});
    check_bits(result.outputs[0], {1.5f, -0.5f, 1.25f, -0.75f, 16383.5f, 0.5f, 8191.75f, 0.25f});
}

BOOST_AUTO_TEST_CASE(quantize_multiplies_by_float32_reciprocal) {
    // Scale 0.3: 2.25f / 0.3f = 7.4999995 would round to 7, but the grid uses
    // the float32 reciprocal, and 2.25f * (1 / 0.3f) = 7.5 ties to the even 8.
    // Level 8 is 8 * 0.3f = 2.4000001, as torch.fake_quantize_per_tensor_affine(2.25, 0.3, 0, 0, 255) gives.
    model_builder b;
    const auto x = b.add_tensor({.name = "x", .shape = {1}, .keep_float = true});
    const auto y = b.add_tensor({.name = "y", .shape = {1}, .type = tensor_type::uint8, .quant = per_tensor(0.3f, 0)});
    b.add_operator(ops::quantize(), {x}, {y});
    b.set_inputs({x});
    b.set_outputs({y});

    const auto result = run_circle(read_back(b), {make({1}, {2.25f})});
    check_bits(result.outputs[0], {8.0f * 0.3f});
}

// ---------------------------------------------------------------------------
// Graph inputs and debugging access

BOOST_AUTO_TEST_CASE(run_all_returns_constants_and_intermediates) {
    const model m = read_model(circle_samples::emit(circle_samples::float_fc())).m;
    const auto all = run_circle_all(m, {make({1, 4}, {1.0f, 2.0f, 3.0f, 4.0f})});
    BOOST_TEST_REQUIRE(all.size() == m.subgraphs[0].tensors.size());
    for (std::size_t i = 0; i < all.size(); ++i) {
        BOOST_TEST_CONTEXT("tensor " << m.subgraphs[0].tensors[i].name) { BOOST_TEST(all[i].has_value()); }
    }
    check_bits(*all[2], {0.01f, -0.02f, 0.03f});  // the bias constant, decoded from its float32 bytes
}

BOOST_AUTO_TEST_CASE(unused_tensor_has_no_value) {
    model_builder b;
    const auto x = b.add_tensor({.name = "x", .shape = {1}});
    b.add_tensor({.name = "unused", .shape = {1}});
    const auto y = b.add_tensor({.name = "y", .shape = {1}});
    b.add_operator(ops::neg(), {x}, {y});
    b.set_inputs({x});
    b.set_outputs({y});
    const auto all = run_circle_all(b.get(), {make({1}, {2.0f})});
    BOOST_TEST(!all[1].has_value());
    check_bits(*all[2], {-2.0f});
}

// ---------------------------------------------------------------------------
// Errors

BOOST_AUTO_TEST_CASE(unsupported_operator_is_rejected) {
    // SQUEEZE has a code in schema.hpp but no interpreter support; code 999 has no name at all.
    for (const std::int32_t code : {static_cast<std::int32_t>(builtin_operator::squeeze), 999}) {
        model_builder b;
        const auto x = b.add_tensor({.name = "x", .shape = {1, 2}});
        const auto y = b.add_tensor({.name = "y", .shape = {2}});
        b.add_operator(op{static_cast<builtin_operator>(code), {}}, {x}, {y});
        b.set_inputs({x});
        b.set_outputs({y});
        BOOST_CHECK_EXCEPTION(run_circle(b.get(), {make({1, 2}, {1, 2})}), graph_error,
                              message_has({"operator 0", op_name(code), "not supported"}));
    }
}

BOOST_AUTO_TEST_CASE(declared_shape_mismatch_is_rejected) {
    // FC of x [1, 4] with W [3, 4] computes [1, 3]; the output declares [1, 4].
    model_builder b;
    const auto x = b.add_tensor({.name = "x", .shape = {1, 4}});
    const auto w = b.add_constant("W", {3, 4}, tensor_type::float32, float_bytes(example_w));
    const auto ok = b.add_tensor({.name = "ok", .shape = {1, 4}});
    const auto y = b.add_tensor({.name = "y", .shape = {1, 4}});
    b.add_operator(ops::neg(), {x}, {ok});
    b.add_operator(ops::fully_connected(), {ok, w, -1}, {y});
    b.set_inputs({x});
    b.set_outputs({y});
    BOOST_CHECK_EXCEPTION(run_circle(b.get(), {make({1, 4}, example_x)}), graph_error,
                          message_has({"operator 1", "FULLY_CONNECTED", "\"y\"", "[1, 3]", "[1, 4]"}));
}

BOOST_AUTO_TEST_CASE(wrong_input_count_is_rejected) {
    model_builder b;
    const auto x = b.add_tensor({.name = "x", .shape = {2}});
    const auto y = b.add_tensor({.name = "y", .shape = {2}});
    b.add_operator(ops::add(), {x, x, x}, {y});
    b.set_inputs({x});
    b.set_outputs({y});
    BOOST_CHECK_EXCEPTION(run_circle(b.get(), {make({2}, {1, 2})}), graph_error,
                          message_has({"operator 0", "ADD", "3 inputs", "expected 2"}));

    model_builder fc;
    const auto fx = fc.add_tensor({.name = "x", .shape = {1, 4}});
    const auto fy = fc.add_tensor({.name = "y", .shape = {1, 3}});
    fc.add_operator(ops::fully_connected(), {fx}, {fy});
    fc.set_inputs({fx});
    fc.set_outputs({fy});
    BOOST_CHECK_EXCEPTION(run_circle(fc.get(), {make({1, 4}, example_x)}), graph_error,
                          message_has({"operator 0", "FULLY_CONNECTED", "1 inputs", "expected 2 to 3"}));
}

BOOST_AUTO_TEST_CASE(mismatched_operands_are_rejected) {
    // BATCH_MATMUL with inner extents 3 and 2, and CONCATENATION of [1, 2] and [2, 2] on axis 1.
    model_builder b;
    const auto a = b.add_tensor({.name = "a", .shape = {1, 2, 3}});
    const auto c = b.add_tensor({.name = "c", .shape = {1, 2, 2}});
    const auto y = b.add_tensor({.name = "y", .shape = {1, 2, 2}});
    b.add_operator(ops::batch_matmul(), {a, c}, {y});
    b.set_inputs({a, c});
    b.set_outputs({y});
    BOOST_CHECK_EXCEPTION(run_circle(b.get(), {make({1, 2, 3}, {1, 2, 3, 4, 5, 6}), make({1, 2, 2}, {1, 2, 3, 4})}),
                          graph_error, message_has({"operator 0", "BATCH_MATMUL", "inner extents 3 and 2"}));

    model_builder cat;
    const auto p = cat.add_tensor({.name = "p", .shape = {1, 2}});
    const auto q = cat.add_tensor({.name = "q", .shape = {2, 2}});
    const auto out = cat.add_tensor({.name = "out", .shape = {1, 4}});
    cat.add_operator(ops::concatenation(1), {p, q}, {out});
    cat.set_inputs({p, q});
    cat.set_outputs({out});
    BOOST_CHECK_EXCEPTION(run_circle(cat.get(), {make({1, 2}, {1, 2}), make({2, 2}, {1, 2, 3, 4})}), graph_error,
                          message_has({"operator 0", "CONCATENATION", "input 1"}));
}

BOOST_AUTO_TEST_CASE(gather_index_out_of_range_is_rejected) {
    model_builder b;
    const auto table = b.add_constant("table", {2, 1}, tensor_type::float32, float_bytes({1, 2}));
    const auto ids = b.add_tensor({.name = "ids", .shape = {1}, .type = tensor_type::int32});
    const auto y = b.add_tensor({.name = "y", .shape = {1, 1}});
    b.add_operator(ops::gather(0), {table, ids}, {y});
    b.set_inputs({ids});
    b.set_outputs({y});
    BOOST_CHECK_EXCEPTION(run_circle(b.get(), {make({1}, {2})}), graph_error,
                          message_has({"operator 0", "GATHER", "indices[0] = 2"}));
    BOOST_CHECK_EXCEPTION(run_circle(b.get(), {make({1}, {0.5f})}), graph_error,
                          message_has({"graph input 0", "\"ids\"", "not an integer"}));
}

BOOST_AUTO_TEST_CASE(input_order_errors_are_rejected) {
    // Operator 0 reads "later", which only operator 1 produces. The second graph writes into its own input.
    model_builder b;
    const auto x = b.add_tensor({.name = "x", .shape = {2}});
    const auto later = b.add_tensor({.name = "later", .shape = {2}});
    const auto y = b.add_tensor({.name = "y", .shape = {2}});
    b.add_operator(ops::neg(), {later}, {y});
    b.add_operator(ops::neg(), {x}, {later});
    b.set_inputs({x});
    b.set_outputs({y});
    BOOST_CHECK_EXCEPTION(run_circle(b.get(), {make({2}, {1, 2})}), graph_error,
                          message_has({"operator 0", "NEG", "\"later\"", "no value yet"}));

    model_builder twice;
    const auto in = twice.add_tensor({.name = "x", .shape = {2}});
    twice.add_operator(ops::neg(), {in}, {in});
    twice.set_inputs({in});
    twice.set_outputs({in});
    BOOST_CHECK_EXCEPTION(run_circle(twice.get(), {make({2}, {1, 2})}), graph_error,
                          message_has({"operator 0", "already has a value"}));
}

BOOST_AUTO_TEST_CASE(graph_input_mismatch_is_rejected) {
    const model m = circle_samples::float_fc();
    BOOST_CHECK_EXCEPTION(run_circle(m, {}), graph_error, message_has({"1 inputs", "0 values"}));
    BOOST_CHECK_EXCEPTION(run_circle(m, {make({4}, {1, 2, 3, 4})}), graph_error,
                          message_has({"graph input 0", "\"x\"", "[4]", "[1, 4]"}));
}

BOOST_AUTO_TEST_CASE(constant_size_mismatch_is_rejected) {
    // A [3] float32 constant needs 12 bytes; 8 are given.
    model_builder b;
    const auto x = b.add_tensor({.name = "x", .shape = {3}});
    const auto c = b.add_constant("c", {3}, tensor_type::float32, float_bytes({1, 2}));
    const auto y = b.add_tensor({.name = "y", .shape = {3}});
    b.add_operator(ops::add(), {x, c}, {y});
    b.set_inputs({x});
    b.set_outputs({y});
    BOOST_CHECK_EXCEPTION(run_circle(b.get(), {make({3}, {1, 2, 3})}), graph_error,
                          message_has({"\"c\"", "8 bytes", "take 12"}));
}

BOOST_AUTO_TEST_CASE(nan_into_quantized_output_is_rejected) {
    // sqrt(-1) is NaN, which has no uint8 level.
    model_builder b;
    const auto x = b.add_tensor({.name = "x", .shape = {1}});
    const auto y = b.add_tensor({.name = "y", .shape = {1}, .type = tensor_type::uint8, .quant = per_tensor(0.1f, 0)});
    b.add_operator(ops::sqrt(), {x}, {y});
    b.set_inputs({x});
    b.set_outputs({y});
    BOOST_CHECK_EXCEPTION(run_circle(b.get(), {make({1}, {-1.0f})}), wrapq::value_error,
                          message_has({"operator 0", "SQRT", "NaN"}));
}

BOOST_AUTO_TEST_CASE(missing_option_table_is_rejected) {
    // A SOFTMAX without SoftmaxOptions has no beta; the interpreter reports it instead of guessing.
    model_builder b;
    const auto x = b.add_tensor({.name = "x", .shape = {2}});
    const auto y = b.add_tensor({.name = "y", .shape = {2}});
    b.add_operator(op{builtin_operator::softmax, {}}, {x}, {y});
    b.set_inputs({x});
    b.set_outputs({y});
    BOOST_CHECK_EXCEPTION(run_circle(b.get(), {make({2}, {1, 2})}), graph_error,
                          message_has({"operator 0", "SOFTMAX", "beta"}));
}

// ---------------------------------------------------------------------------
// Run time

BOOST_AUTO_TEST_CASE(thousands_of_small_ops_run_fast) {
    // A chain of 3000 ADDs of 1 to an [1, 8] tensor: y = x + 3000. Release
    // builds take a few milliseconds; the limit of 1 s leaves room for
    // debug builds and a loaded machine.
    constexpr int count = 3000;
    model_builder b;
    const auto x = b.add_tensor({.name = "x", .shape = {1, 8}});
    const auto one = b.add_constant("one", {1}, tensor_type::float32, float_bytes({1.0f}));
    std::int32_t previous = x;
    for (int i = 0; i < count; ++i) {
        std::string name = "t";
        name += std::to_string(i);
        const auto next = b.add_tensor({.name = name, .shape = {1, 8}});
        b.add_operator(ops::add(), {previous, one}, {next});
        previous = next;
    }
    b.set_inputs({x});
    b.set_outputs({previous});

    const auto start = std::chrono::steady_clock::now();
    const auto result = run_circle(b.get(), {make({1, 8}, {0, 1, 2, 3, 4, 5, 6, 7})});
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    BOOST_TEST_MESSAGE("3000 ADD operators ran in " << seconds << " s");
    BOOST_TEST(seconds < 1.0);
    check_bits(result.outputs[0], {3000, 3001, 3002, 3003, 3004, 3005, 3006, 3007});
}

BOOST_AUTO_TEST_SUITE_END()
