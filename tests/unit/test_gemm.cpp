// The blocked GEMM against its one-loop reference (bit for bit), against a
// float64 product (within the error bound of a float32 sum), and across thread counts.
#include "test_support.hpp"

#include <wrapq/io/half_float.hpp>
#include <wrapq/kernels/bf16_word.hpp>
#include <wrapq/kernels/gemm.hpp>
#include <wrapq/kernels/matmul.hpp>
#include <wrapq/kernels/row_fake_quant.hpp>
#include <wrapq/core/fake_quantize.hpp>

#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstddef>
#include <cstring>
#include <limits>
#include <vector>

namespace {

namespace kernel = wrapq::kernel;
using wrapq_test::random_tensor;

/// Restores the library's thread count when a test ends.
struct thread_count_guard {
    std::size_t saved = wrapq::parallel::num_threads();
    ~thread_count_guard() { wrapq::parallel::set_num_threads(saved); }
};

std::vector<float> run_gemm(const kernel::matrix_ref<float>& x, const kernel::matrix_ref<float>& w, const float* bias) {
    std::vector<float> y(x.rows * w.rows, std::numeric_limits<float>::quiet_NaN());
    kernel::gemm(x, w, bias, y.data(), w.rows);
    return y;
}

std::vector<float> run_reference(const kernel::matrix_ref<float>& x, const kernel::matrix_ref<float>& w,
                                 const float* bias) {
    std::vector<float> y(x.rows * w.rows);
    kernel::gemm_reference(x, w, bias, y.data(), w.rows);
    return y;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(gemm)

// A product small enough to do by hand: x (2, 3), W (4, 3), bias (4).
BOOST_AUTO_TEST_CASE(hand_example) {
    const float x[6] = {1, 2, 3, -1, 0, 2};
    const float w[12] = {1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1};
    const float bias[4] = {0.5f, 0, 0, -1};
    float y[8];
    kernel::gemm(kernel::row_major(x, 2, 3), kernel::row_major(w, 4, 3), bias, y, 4);
    const float expected[8] = {1.5f, 2, 3, 5, -0.5f, 0, 2, 0};
    BOOST_TEST(std::vector<float>(y, y + 8) == std::vector<float>(expected, expected + 8), boost::test_tools::per_element());
}

// Shapes on both sides of every blocking edge (mr, nr, kc, mc), with and
// without bias: the blocked kernel equals the one-loop reference bit for bit.
BOOST_AUTO_TEST_CASE(equals_reference_bit_for_bit) {
    using namespace kernel::gemm_detail;
    const std::vector<std::size_t> ms{1, mr - 1, mr, mr + 1, mc + 3};
    const std::vector<std::size_t> ns{1, nr - 1, nr, nr + 5, 3 * nr};
    const std::vector<std::size_t> ks{0, 1, 17, kc, kc + 9};
    unsigned seed = 1;
    for (std::size_t m : ms) {
        for (std::size_t n : ns) {
            for (std::size_t k : ks) {
                const wrapq::tensor x = random_tensor({m, k}, seed++);
                const wrapq::tensor w = random_tensor({n, k}, seed++);
                const wrapq::tensor b = random_tensor({n}, seed++);
                const auto xr = kernel::row_major(x.data(), m, k);
                const auto wr = kernel::row_major(w.data(), n, k);
                BOOST_TEST_CONTEXT("m " << m << ", n " << n << ", k " << k) {
                    BOOST_TEST(same_bits(run_gemm(xr, wr, nullptr), run_reference(xr, wr, nullptr)));
                    BOOST_TEST(same_bits(run_gemm(xr, wr, b.data()), run_reference(xr, wr, b.data())));
                }
            }
        }
    }
}

// An empty sum is zero, whatever y held before.
BOOST_AUTO_TEST_CASE(empty_inner_dimension_gives_zeros) {
    const auto y = run_gemm(kernel::row_major<float>(nullptr, 3, 0), kernel::row_major<float>(nullptr, 5, 0), nullptr);
    for (float v : y) BOOST_TEST(v == 0.0f);
}

// Strided views: W^T given by swapped strides, as attention passes V, and
// rows of x and W taken from wider buffers, as it passes one head.
BOOST_AUTO_TEST_CASE(strided_views_equal_dense_copies) {
    const std::size_t m = 37, n = 45, k = 70;
    const wrapq::tensor x_wide = random_tensor({m, 3 * k}, 41);   // use columns [k, 2k)
    const wrapq::tensor w_t = random_tensor({k, n}, 42);          // W^T stored row-major
    const kernel::matrix_ref<float> x_view{x_wide.data() + k, m, k, 3 * k, 1};
    const kernel::matrix_ref<float> w_view{w_t.data(), n, k, 1, n};

    std::vector<float> x_dense(m * k), w_dense(n * k);
    for (std::size_t i = 0; i < m; ++i)
        for (std::size_t j = 0; j < k; ++j) x_dense[i * k + j] = x_wide(i, k + j);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < k; ++j) w_dense[i * k + j] = w_t(j, i);

    BOOST_TEST(same_bits(run_gemm(x_view, w_view, nullptr),
                         run_gemm(kernel::row_major(x_dense.data(), m, k), kernel::row_major(w_dense.data(), n, k),
                                  nullptr)));
}

// The float32 sum of K products differs from the exact value by at most
// gamma_K * sum |x||w| with gamma_K = K u / (1 - K u), u = 2^-24 (each
// multiply-add rounds once). A float64 product serves as the exact value.
BOOST_AUTO_TEST_CASE(within_float32_error_bound_of_float64) {
    const std::size_t m = 64, n = 96, k = 1536;
    const wrapq::tensor x = random_tensor({m, k}, 7);
    const wrapq::tensor w = random_tensor({n, k}, 8, 0.05f);
    const auto y = run_gemm(kernel::row_major(x.data(), m, k), kernel::row_major(w.data(), n, k), nullptr);

    const double u = std::ldexp(1.0, -24);
    const double gamma = k * u / (1.0 - k * u);
    double worst_ratio = 0.0;
    for (std::size_t i = 0; i < m; ++i) {
        for (std::size_t j = 0; j < n; ++j) {
            double exact = 0.0, magnitude = 0.0;
            for (std::size_t p = 0; p < k; ++p) {
                exact += double(x(i, p)) * double(w(j, p));
                magnitude += std::abs(double(x(i, p)) * double(w(j, p)));
            }
            worst_ratio = std::max(worst_ratio, std::abs(y[i * n + j] - exact) / (gamma * magnitude));
        }
    }
    BOOST_TEST_MESSAGE("largest error as a share of the bound: " << worst_ratio);
    BOOST_TEST(worst_ratio <= 1.0);
}

// Splitting over columns or rows leaves each sum to one thread in one order,
// so 1, 2 and 3 threads give the same bits, for shapes that take each split.
BOOST_AUTO_TEST_CASE(identical_results_for_any_thread_count) {
    thread_count_guard guard;
    struct shape {
        std::size_t m, n, k;
    };
    for (const shape s : {shape{300, 700, 300}, shape{500, 40, 600}, shape{1, 2000, 64}}) {
        const wrapq::tensor x = random_tensor({s.m, s.k}, 11);
        const wrapq::tensor w = random_tensor({s.n, s.k}, 12);
        const auto xr = kernel::row_major(x.data(), s.m, s.k);
        const auto wr = kernel::row_major(w.data(), s.n, s.k);

        wrapq::parallel::set_num_threads(1);
        const auto one_thread = run_gemm(xr, wr, nullptr);
        for (std::size_t threads : {2, 3}) {
            wrapq::parallel::set_num_threads(threads);
            BOOST_TEST_CONTEXT("m " << s.m << ", n " << s.n << ", threads " << threads) {
                BOOST_TEST(same_bits(run_gemm(xr, wr, nullptr), one_thread));
            }
        }
        BOOST_TEST(same_bits(one_thread, run_reference(xr, wr, nullptr)));
    }
}

// bf16 weights, read as stored words: the same bits as a float32 copy of
// the same values, for row-major W (the register-transpose path and its
// edges) and for a transposed view, and the same as the reference.
BOOST_AUTO_TEST_CASE(bf16_weights_equal_their_float_copy) {
    using namespace kernel::gemm_detail;
    unsigned seed = 300;
    for (const std::size_t n : {nr, 3 * nr + 7}) {
        for (const std::size_t k : {std::size_t{16}, kc + 21}) {
            const std::size_t m = mr + 3;
            const wrapq::tensor x = random_tensor({m, k}, seed++);
            const wrapq::tensor w_random = random_tensor({n, k}, seed++);
            std::vector<kernel::bf16_word> words(n * k);
            std::vector<float> widened(n * k);
            for (std::size_t i = 0; i < n * k; ++i) {
                words[i] = {wrapq::io::float_to_bf16(w_random.data()[i])};
                widened[i] = wrapq::io::bf16_to_float(words[i].bits);
            }
            const auto xr = kernel::row_major(x.data(), m, k);
            std::vector<float> y_words(m * n), y_floats(m * n), y_reference(m * n);
            kernel::gemm(xr, kernel::row_major(words.data(), n, k), nullptr, y_words.data(), n);
            kernel::gemm(xr, kernel::row_major(widened.data(), n, k), nullptr, y_floats.data(), n);
            kernel::gemm_reference(xr, kernel::row_major(words.data(), n, k), nullptr, y_reference.data(), n);
            BOOST_TEST_CONTEXT("n " << n << ", k " << k) {
                BOOST_TEST(same_bits(y_words, y_floats));
                BOOST_TEST(same_bits(y_words, y_reference));
            }

            // The same words seen as W^T (k, n) through swapped strides.
            std::vector<kernel::bf16_word> words_t(n * k);
            for (std::size_t i = 0; i < n; ++i)
                for (std::size_t j = 0; j < k; ++j) words_t[j * n + i] = words[i * k + j];
            std::vector<float> y_view(m * n);
            kernel::gemm(xr, kernel::matrix_ref<kernel::bf16_word>{words_t.data(), n, k, 1, n}, nullptr, y_view.data(), n);
            BOOST_TEST(same_bits(y_view, y_floats));
        }
    }
}

// Fake quantization of W while packing. The product with row steps equals,
// bit for bit, the product with a fake-quantized float32 copy of W, made by
// the library's fake_quantize as a float weight's convert does. Cases:
// per-channel and per-tensor qparams, full and partial panels, the reference. One row gets a scale so small that its values clamp to qmin/qmax.
BOOST_AUTO_TEST_CASE(row_fake_quant_equals_fake_quantized_copy) {
    using namespace kernel::gemm_detail;
    unsigned seed = 500;
    for (const std::size_t n : {nr, 3 * nr + 7}) {
        const std::size_t k = kc + 21, m = mr + 3;
        const wrapq::tensor x = random_tensor({m, k}, seed++);
        const wrapq::tensor w_random = random_tensor({n, k}, seed++);
        std::vector<kernel::bf16_word> words(n * k);
        wrapq::tensor widened = wrapq::tensor::from_shape({n, k});
        for (std::size_t i = 0; i < n * k; ++i) {
            words[i] = {wrapq::io::float_to_bf16(w_random.data()[i])};
            widened.data()[i] = wrapq::io::bf16_to_float(words[i].bits);
        }
        std::vector<float> scales(n);
        std::vector<std::int32_t> zero_points(n);
        for (std::size_t r = 0; r < n; ++r) {
            scales[r] = r == 1 ? 1e-6f : 0.05f + 0.01f * static_cast<float>(r % 7);
            zero_points[r] = static_cast<std::int32_t>(r % 16);
        }
        const std::vector<wrapq::qparams> cases = {wrapq::qparams::per_channel(scales, zero_points, 0, wrapq::uint4),
                                                   wrapq::qparams::per_tensor(0.02f, 3, wrapq::uint8)};
        for (const wrapq::qparams& p : cases) {
            const kernel::row_fake_quant steps(p, n);
            const wrapq::tensor copy = wrapq::fake_quantize(widened, p);
            const auto xr = kernel::row_major(x.data(), m, k);
            std::vector<float> y_steps(m * n), y_copy(m * n), y_reference(m * n);
            kernel::gemm(xr, kernel::row_major(words.data(), n, k), nullptr, y_steps.data(), n, &steps);
            kernel::gemm(xr, kernel::row_major(copy.data(), n, k), nullptr, y_copy.data(), n);
            kernel::gemm_reference(xr, kernel::row_major(words.data(), n, k), nullptr, y_reference.data(), n, &steps);
            BOOST_TEST_CONTEXT("n " << n << (p.is_per_channel() ? ", per-channel" : ", per-tensor")) {
                BOOST_TEST(same_bits(y_steps, y_copy));
                BOOST_TEST(same_bits(y_steps, y_reference));
            }
        }
    }
}

// supports_rows accepts per-tensor qparams and channels along the row axis only.
BOOST_AUTO_TEST_CASE(row_fake_quant_accepts_row_channels_only) {
    const auto rows = wrapq::qparams::per_channel({1.0f, 2.0f}, {0, 0}, 0, wrapq::int8);
    const auto columns = wrapq::qparams::per_channel({1.0f, 2.0f, 3.0f}, {0, 0, 0}, 1, wrapq::int8);
    BOOST_TEST(kernel::row_fake_quant::supports_rows(rows, 2));
    BOOST_TEST(!kernel::row_fake_quant::supports_rows(rows, 3));
    BOOST_TEST(!kernel::row_fake_quant::supports_rows(columns, 2));
    BOOST_TEST(kernel::row_fake_quant::supports_rows(wrapq::qparams::per_tensor(1.0f, 0, wrapq::int8), 5));
    // Level 1 of row 1 (scale 2): 2.6 rounds to level 1.
    BOOST_TEST(kernel::row_fake_quant(rows, 2).apply(1, 2.6f) == 2.0f);
}

// Widening is exact: 1.0 and -2.5 in bf16 are 0x3F80 and 0xC020.
BOOST_AUTO_TEST_CASE(bf16_word_widens_exactly) {
    BOOST_TEST(kernel::convert_element(kernel::bf16_word{0x3F80}) == 1.0f);
    BOOST_TEST(kernel::convert_element(kernel::bf16_word{0xC020}) == -2.5f);
}

// linear_forward is the layer's entry point: the same product with W (out, in).
BOOST_AUTO_TEST_CASE(linear_forward_is_gemm) {
    const float x[3] = {1, 2, 3}, w[6] = {1, 0, 0, 0, 1, 1};
    float y[2];
    kernel::linear_forward(x, 1, w, 2, 3, nullptr, y);
    BOOST_TEST(y[0] == 1.0f);
    BOOST_TEST(y[1] == 5.0f);
}

BOOST_AUTO_TEST_SUITE_END()
